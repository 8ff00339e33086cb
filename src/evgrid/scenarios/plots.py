"""Matplotlib figures of one family: real vs generated mean profile with quantile bands, histograms,
sample paths, and GAN loss curves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def profile_figure(real: dict[str, np.ndarray], gen: dict[str, np.ndarray], units: dict[str, str],
                   title: str, quantiles: tuple[float, float] = (0.05, 0.95), n_paths: int = 5,
                   step_hours: float = 0.25) -> plt.Figure:
    """Per variable: mean profile and quantile band of real and generated days, plus a few sample paths."""
    names = list(gen)
    fig, axes = plt.subplots(len(names), 2, figsize=(12, 3.2 * len(names)), squeeze=False)
    for i, name in enumerate(names):
        ax, ax2 = axes[i]
        hours = np.arange(gen[name].shape[1]) * step_hours
        for arr, lab, col in ((real[name], "real", "tab:blue"), (gen[name], "generated", "tab:orange")):
            lo, hi = np.quantile(arr, quantiles, axis=0)
            ax.fill_between(hours, lo, hi, color=col, alpha=0.2,
                            label=f"{lab} {int(quantiles[0] * 100)}-{int(quantiles[1] * 100)} %")
            ax.plot(hours, arr.mean(axis=0), color=col, label=f"{lab} mean")
        ax.set_ylabel(f"{name} [{units.get(name, '')}]")
        ax.set_xlabel("hour of day")
        ax.legend(fontsize=7)
        for j in range(min(n_paths, gen[name].shape[0])):
            ax2.plot(hours, gen[name][j], lw=0.8, color="tab:orange", alpha=0.8)
        for j in range(min(n_paths, real[name].shape[0])):
            ax2.plot(hours, real[name][j], lw=0.8, color="tab:blue", alpha=0.5)
        ax2.set_title("sample paths (orange generated, blue real)", fontsize=8)
        ax2.set_xlabel("hour of day")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def histogram_figure(real: dict[str, np.ndarray], gen: dict[str, np.ndarray], units: dict[str, str],
                     title: str, bins: int = 48) -> plt.Figure:
    """Histograms (density) of real vs generated values, one panel per variable (all steps pooled)."""
    names = list(gen)
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        r, g = np.ravel(real[name]), np.ravel(gen[name])
        edges = np.histogram_bin_edges(np.concatenate([r, g]), bins=bins)
        ax.hist(r, bins=edges, density=True, alpha=0.5, label="real")
        ax.hist(g, bins=edges, density=True, alpha=0.5, label="generated")
        ax.set_xlabel(f"{name} [{units.get(name, '')}]")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def joint_figure(real: np.ndarray, gen: np.ndarray, title: str) -> plt.Figure:
    """Scatter of (arrival, departure) pairs, real vs generated."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharex=True, sharey=True)
    for ax, arr, lab in ((axes[0], real, "real"), (axes[1], gen, "generated")):
        ax.scatter(arr[:, 0], arr[:, 1], s=4, alpha=0.4)
        ax.set_title(lab)
        ax.set_xlabel("arrival_h")
    axes[0].set_ylabel("departure_h")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def loss_figure(history: dict[str, list[float]], title: str) -> plt.Figure:
    """Discriminator and generator losses against training iteration."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(history["iteration"], history["d_loss"], label="discriminator / critic")
    ax.plot(history["iteration"], history["g_loss"], label="generator")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    return fig


def ecdf_figure(real: dict[str, np.ndarray], gen: dict[str, np.ndarray], units: dict[str, str],
                title: str) -> plt.Figure:
    """Empirical CDFs of real vs generated values, one panel per variable (scalar families)."""
    names = list(gen)
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for arr, lab in ((real[name], "real"), (gen[name], "generated")):
            x = np.sort(np.ravel(arr))
            ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", label=f"{lab} ({len(x)})")
        ax.set_xlabel(f"{name} [{units.get(name, '')}]")
        ax.set_ylabel("share <= x")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def note_figure(text: str) -> plt.Figure:
    """A small figure that says why a plot is empty (kedro-viz and MLflow still show one image per kind)."""
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


PLOT_KINDS = ("histograms", "scenarios", "loss_curves")
"""One figure per family and kind (catalog ``{family}.gan_plot_{kind}``): value histograms; the scenarios'
shape (profiles: mean and 5-95 % band + sample paths; ev_times: the (arrival, departure) joint;
ev_distance: empirical CDFs); the GAN's training losses."""


def family_figures(data, bundle, scenarios) -> dict[str, plt.Figure]:
    """The gan pipeline's figures of one family, ``{kind: figure}`` for every kind of ``PLOT_KINDS``: real
    training days/sessions of the sampled label vs the scenarios, and the GAN's loss curves (a note when
    the GAN is not among the fitted generators)."""
    from evgrid.scenarios.calendar import label_strings
    from evgrid.scenarios.families import score_views, variable_units

    label = str(scenarios["label"].iloc[0])
    tr = bundle.train_data
    sel = label_strings(tr.months, tr.is_weekend, bundle.fitted.label_cfg) == label
    real = score_views(tr, tr.values[sel], tr.months[sel], None if tr.dates is None else tr.dates[sel])
    units = variable_units(data)
    if data.kind == "profile":
        gen = {v: g.pivot(index="scenario_id", columns="step", values="value").to_numpy()
               for v, g in scenarios.groupby("variable", sort=False)}
    else:
        gen = {c: scenarios[[c]].to_numpy() for c in scenarios.columns if c not in ("scenario_id", "label")}
    real = {k: real[k] for k in gen}
    title = (f"{data.family}: real ({int(sel.sum())}) vs {bundle.selected} ({len(next(iter(gen.values())))}), "
             f"{label}")
    figs = {"histograms": histogram_figure(real, gen, units, title)}
    if data.kind == "profile":
        figs["scenarios"] = profile_figure(real, gen, units, title, step_hours=data.info.get("step_minutes", 15) / 60)
    elif "departure_h" in gen:
        figs["scenarios"] = joint_figure(np.column_stack([real["arrival_h"], real["departure_h"]]),
                                         np.column_stack([gen["arrival_h"], gen["departure_h"]]), title)
    else:
        figs["scenarios"] = ecdf_figure(real, gen, units, title)
    if "gan" in bundle.fitted.models:
        figs["loss_curves"] = loss_figure(bundle.fitted.models["gan"].history, f"{data.family}: GAN training losses")
    else:
        figs["loss_curves"] = note_figure(f"{data.family}: no GAN fitted (gan.holdout.models)")
    return figs

"""Cross-validation summary (mean and std over folds, GAN vs baselines, paper Table IV beside ours) and
its markdown report."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Paper 004 Table IV: (family, variable) -> (R-squared, NRMSE %, training run time s)
PAPER_TABLE_IV = {
    ("pv", "pv_kw_per_kwp"): (0.98, 4.74, 1809.54),
    ("ev_times", "arrival_h"): (0.95, 4.73, 2971.95),
    ("ev_times", "departure_h"): (0.90, 8.27, 2971.95),
    ("ev_distance", "distance_km"): (0.91, 9.4, 4899.03),
}
HIGHER_IS_BETTER = {"r2_paper"}
MODELS = ("gan", "bootstrap", "gaussian")


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (family, variable, metric): mean/std over folds per model, paper value, best model."""
    g = scores.groupby(["family", "variable", "metric", "model"])["value"].agg(["mean", "std", "count"])
    wide = g.unstack("model")
    out = pd.DataFrame(index=wide.index)
    for m in MODELS:
        if ("mean", m) in wide.columns:
            out[f"{m}_mean"] = wide[("mean", m)]
            out[f"{m}_std"] = wide[("std", m)]
    out["n_folds"] = wide[("count", "gan")] if ("count", "gan") in wide.columns else np.nan
    out = out.reset_index()
    paper = []
    for fam, var, met in zip(out["family"], out["variable"], out["metric"], strict=True):
        ref = PAPER_TABLE_IV.get((fam, var))
        paper.append(np.nan if ref is None or met not in ("r2_paper", "nrmse_paper_pct")
                     else ref[0] if met == "r2_paper" else ref[1])
    out["paper_table_iv"] = paper
    means = out[[f"{m}_mean" for m in MODELS if f"{m}_mean" in out]]
    best = []
    for i, met in enumerate(out["metric"]):
        row = means.iloc[i]
        best.append((row.idxmax() if met in HIGHER_IS_BETTER else row.idxmin()).removesuffix("_mean"))
    out["best_model"] = best
    return out


def _fmt(mean: float, std: float, metric: str) -> str:
    if pd.isna(mean):
        return ""
    digits = 3 if metric == "r2_paper" or abs(mean) < 10 else 1
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_report(summary: pd.DataFrame, timings: pd.DataFrame, n_folds: int) -> str:
    """Readable report: one table per family plus the decisive distributional comparison."""
    lines = [
        "# GAN scenario models: cross-validation report",
        "",
        f"{n_folds}-fold cross-validation by whole day (profiles) or whole session (EV). Every model is fitted",
        "on the training folds only; scores are mean ± std over folds. `r2_paper` / `nrmse_paper_pct` are",
        "paper 004 eqs. 23-24 (on the mean daily profile, or on the percentage distribution over bins for",
        "EV variables) next to the paper's Table IV. They are nearly saturated by trivial models; the",
        "energy score, Wasserstein-1, autocorrelation error and KS statistic (lower is better) decide.",
        "",
    ]
    for fam, block in summary.groupby("family", sort=False):
        lines += [f"## {fam}", "", "| variable | metric | GAN | bootstrap | Gaussian | paper | best |",
                  "|---|---|---|---|---|---|---|"]
        for _, r in block.iterrows():
            paper = "" if pd.isna(r["paper_table_iv"]) else f"{r['paper_table_iv']:g}"
            lines.append(
                f"| {r['variable']} | {r['metric']} | {_fmt(r['gan_mean'], r['gan_std'], r['metric'])} | "
                f"{_fmt(r['bootstrap_mean'], r['bootstrap_std'], r['metric'])} | "
                f"{_fmt(r['gaussian_mean'], r['gaussian_std'], r['metric'])} | {paper} | {r['best_model']} |"
            )
        es = block[block["metric"] == "energy_score"]
        verdicts = []
        for _, r in es.iterrows():
            ratio_g = r["gan_mean"] / r["gaussian_mean"]
            ratio_b = r["gan_mean"] / r["bootstrap_mean"]
            verdicts.append(
                f"- `{r['variable']}` energy score: GAN {'beats' if ratio_g < 1 else 'LOSES TO'} the Gaussian "
                f"baseline ({ratio_g:.2f}x) and {'beats' if ratio_b < 1 else 'loses to'} bootstrap "
                f"resampling ({ratio_b:.2f}x)."
            )
        t = timings[timings["family"] == fam]
        if len(t):
            r = t.iloc[0]
            verdicts.append(
                f"- training: loss `{r['loss']}`, {int(r['iterations'])} iterations, "
                f"{r['iterations_per_s']:.0f} it/s, {r['train_seconds_mean']:.1f} s per fold "
                f"({r['n_units']} units)."
            )
        lines += ["", *verdicts, ""]
    return "\n".join(lines) + "\n"


def _ci(r: dict) -> str:
    if "rel_diff_pct" not in r or pd.isna(r.get("rel_diff_pct")):
        return "(selected)"
    return f"{r['rel_diff_pct']:+.1f} % [{r['ci_lo_pct']:+.1f}, {r['ci_hi_pct']:+.1f}]"


def holdout_report(infos: list[dict]) -> str:
    """Markdown of the temporal holdout: per family and view, each model's mean test score per day and the
    paired difference (other - selected) / other in % with its 95 % block-bootstrap CI (positive: the
    selected generator is better), the validation choice and the spread-vs-condition check."""
    lines = ["# Scenario generators: temporal-holdout report", "",
             "Dated split (`split` in parameters.yml): models fitted on the training days only; the generator",
             "is chosen on the last part of the training days (validation), never on the test days. Scores per",
             "test day, lower is better (coverage: share of steps inside the central 90 % interval, ideal",
             "0.90). `vs selected`: paired (other - selected) / other in %, 95 % moving-block bootstrap CI; a",
             "positive value means the selected generator is better.", ""]
    for info in infos:
        paired = pd.DataFrame(info["paired"])
        lines += [f"## {info['family']}", "",
                  f"Train {info['train_days'][0]}..{info['train_days'][1]} (validation from "
                  f"{info['validation_days'][0]}), test {info['test_days'][0]}..{info['test_days'][1]} "
                  f"({info['n_units']['test']} units); {info['no_previous_day_removed']} units without a "
                  f"previous day removed. Chosen by validation: **{info['chosen_by_validation']}**; serving "
                  f"**{info['selected']}**.", "",
                  "| variable | model | ES | ES vs selected | VS (p=0.5) | VS vs selected | CRPS/step | cov. 90 |",
                  "|---|---|---|---|---|---|---|---|"]
        cov = [m for m in paired.metric.unique() if m.startswith("coverage")]
        for view, g in paired.groupby("variable", sort=False):
            for model in g.model.unique():
                r = {m: g[(g.model == model) & (g.metric == m)] for m in g.metric.unique()}
                es = r["energy_score"].iloc[0].to_dict()
                vs = r["variogram_score"].iloc[0].to_dict() if "variogram_score" in r else None
                crps = r["crps_mean_step"].iloc[0]["mean"]
                cv = r[cov[0]].iloc[0]["mean"] if cov else float("nan")
                lines.append(f"| {view} | {model} | {es['mean']:.4g} | {_ci(es)} | "
                             f"{_num(vs)} | "
                             f"{'' if vs is None else _ci(vs)} | {crps:.4g} | {cv:.2f} |")
        lines += ["", "Validation (mean energy score / label bootstrap's, over views): " + ", ".join(
            f"{r['model']} {r['val_es_ratio_to_bootstrap']:.3f}" for r in info["validation"]), ""]
        lose = []
        for metric in ("energy_score", "variogram_score"):
            sub = paired[(paired.metric == metric) & paired.get("ci_lo_pct", pd.Series(dtype=float)).notna()]
            for _, r in sub.iterrows():
                if not r["ci_lo_pct"] > 0:
                    what = "loses to" if r["ci_hi_pct"] < 0 else "does not beat (CI includes 0)"
                    lose.append(f"{r['variable']} {metric}: {what} {r['model']} ({r['rel_diff_pct']:+.1f} %, "
                                f"CI [{r['ci_lo_pct']:+.1f}, {r['ci_hi_pct']:+.1f}])")
        lines.append(f"Where **{info['selected']}** does not beat a model with a CI excluding 0: "
                     + ("; ".join(lose) if lose else "nowhere") + ".")
        sp = pd.DataFrame(info["spread"])
        if len(sp):
            lines += ["", "Spread vs condition (test days in bins of day type x tercile of "
                      f"`{info['condition_features'][0]}`): CV of the spread across bins, data vs model, and "
                      "their correlation.", "", "| variable | model | CV data | CV model | corr |", "|---|---|---|---|---|"]
            for _, r in sp.iterrows():
                lines.append(f"| {r['variable']} | {r['model']} | {r['cv_spread_data']:.3f} | "
                             f"{r['cv_spread_model']:.3f} | {r['corr_spread']:.2f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _num(r: dict | None) -> str:
    return "" if r is None else f"{r['mean']:.4g}"

"""Thin Kedro nodes of the ``gan`` pipeline; the logic lives in ``evgrid.scenarios``.

MLflow: kedro-mlflow opens the parent run of ``kedro run``; ``cross_validate_family`` opens a nested run
per family (``gan/<family>``) with one nested run per fold, and later nodes re-open the family run to log
the final generator and the plots. Without an active run (e.g. a bare SequentialRunner in tests) nothing
is logged to MLflow.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.entities import Metric

from evgrid.scenarios.calendar import ConditioningConfig, label_strings, requested_label
from evgrid.scenarios.cv import CVConfig, cross_validate
from evgrid.scenarios.data import FamilyData, validate_family_data
from evgrid.scenarios.families import build_family_data, score_views, variable_units
from evgrid.scenarios.gan import GanScenarioModel
from evgrid.scenarios.plots import histogram_figure, joint_figure, loss_figure, profile_figure
from evgrid.scenarios.report import markdown_report, summarise
from evgrid.scenarios.sampling import sample_label, scenarios_frame
from evgrid.scenarios.training import TrainConfig
from evgrid.scenarios.transforms import FamilyTransform

log = logging.getLogger(__name__)


# -- helpers -----------------------------------------------------------------------------------------------
def _merge(base: dict, override: dict | None) -> dict:
    out = dict(base)
    for k, v in (override or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _settings(family_params: dict, gan_params: dict) -> dict:
    """Family settings: the common ``gan`` blocks (training, cv, sampling) overridden by the family's."""
    return {
        "training": _merge(gan_params["training"], family_params.get("training")),
        "cv": _merge(gan_params["cv"], family_params.get("cv")),
        "sampling": _merge(gan_params["sampling"], family_params.get("sampling")),
    }


def _family_seed(gan_params: dict, family: str) -> int:
    """A per-family seed derived from ``gan.seed`` and the family name (stable across runs)."""
    return int(gan_params["seed"]) * 1000 + sum(ord(ch) for ch in family)


def _make_model(data: FamilyData, family_params: dict, gan_params: dict, seed: int) -> GanScenarioModel:
    s = _settings(family_params, gan_params)
    night = tuple(family_params.get("night_variables", ()))
    transform = FamilyTransform(representation=family_params.get("representation", "identity"),
                                margin=float(gan_params.get("scale_margin", 0.05)),
                                night_variables=night, scaling=family_params.get("scaling", "channel"))
    return GanScenarioModel(data.family, TrainConfig.from_params(s["training"]), transform,
                            ConditioningConfig.from_params(gan_params.get("conditioning")), seed)


def _tracking() -> bool:
    return mlflow.active_run() is not None


def _log_history(run_id: str, history: dict, prefix: str = "") -> None:
    """Loss curves as step metrics, in batches (one round trip per 1000 values)."""
    ts = int(time.time() * 1000)
    metrics = [Metric(f"{prefix}{key}", float(v), ts, int(it))
               for key in ("d_loss", "g_loss") for it, v in zip(history["iteration"], history[key], strict=True)]
    client = mlflow.tracking.MlflowClient()
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i:i + 1000])


def _metric_dict(scores: pd.DataFrame, model: str | None = None) -> dict[str, float]:
    df = scores if model is None else scores[scores["model"] == model]
    return {f"{r.model}.{r.variable}.{r.metric}": float(r.value) for r in df.itertuples()}


@contextlib.contextmanager
def _family_run(info: dict):
    """Re-open the family's nested MLflow run (no-op without tracking)."""
    if not info.get("run_id") or not _tracking():
        yield None
        return
    with mlflow.start_run(run_id=info["run_id"], nested=True) as run:
        yield run


# -- nodes -------------------------------------------------------------------------------------------------
def build_training_data(features: pd.DataFrame, family_params: dict, gan_params: dict, step_minutes: int,
                        family: str) -> FamilyData:
    """Training matrix of one family from its feature dataset, checked for NaNs and size for K folds."""
    data = build_family_data(family, features, family_params, step_minutes)
    validate_family_data(data, int(gan_params["cv"]["n_folds"]), int(gan_params["min_units_per_fold"]))
    removed = {k: v for k, v in data.info.get("removed", {}).items() if v}
    log.info("family %s: %d %s, %d features%s", family, data.n_units,
             "days" if data.kind == "profile" else "sessions", data.values.shape[1],
             f", removed {removed}" if removed else "")
    return data


def cross_validate_family(data: FamilyData, family_params: dict, gan_params: dict) -> tuple[pd.DataFrame, dict]:
    """K-fold CV of the GAN and both baselines; nested MLflow runs per family and fold."""
    torch.set_num_threads(int(gan_params["torch_threads"]))
    s = _settings(family_params, gan_params)
    cv_cfg = CVConfig.from_params(s["cv"])
    cond = ConditioningConfig.from_params(gan_params.get("conditioning"))
    seed = _family_seed(gan_params, data.family)
    progress = bool(gan_params.get("progress_bar", True))
    tracking = _tracking()
    info: dict[str, Any] = {"family": data.family, "run_id": None, "folds": []}
    with contextlib.ExitStack() as stack:
        if tracking:
            run = stack.enter_context(mlflow.start_run(run_name=f"gan/{data.family}", nested=True))
            info["run_id"] = run.info.run_id
            mlflow.log_params({f"training.{k}": v for k, v in s["training"].items()})
            mlflow.log_params({"family": data.family, "n_units": data.n_units, "n_folds": cv_cfg.n_folds,
                               "representation": family_params.get("representation", "identity"),
                               "conditioning": str(cond), "seed": seed})

        def on_fold(res) -> None:
            fold_info = {"fold": res.fold, "n_train": res.n_train, "n_test": res.n_test,
                         "train_seconds": res.gan.train_seconds, "iterations_per_s": res.gan.iterations_per_s,
                         "baseline_label_fallbacks": res.fallback_labels}
            info["folds"].append(fold_info)
            log.info("family %s fold %d: GAN %.1f s (%.0f it/s)", data.family, res.fold + 1,
                     res.gan.train_seconds, res.gan.iterations_per_s)
            if tracking:
                with mlflow.start_run(run_name=f"gan/{data.family}/fold{res.fold}", nested=True) as fr:
                    mlflow.log_params({"fold": res.fold, "n_train": res.n_train, "n_test": res.n_test})
                    mlflow.log_metrics({**_metric_dict(res.scores), "train_seconds": res.gan.train_seconds,
                                        "iterations_per_s": res.gan.iterations_per_s})
                    _log_history(fr.info.run_id, res.gan.history)

        results = cross_validate(data, lambda k: _make_model(data, family_params, gan_params, seed + 1 + k),
                                 cond, cv_cfg, seed, on_fold=on_fold, progress=progress)
        scores = pd.concat([r.scores for r in results], ignore_index=True)
        if tracking:
            means = scores.groupby(["model", "variable", "metric"], as_index=False)["value"].mean()
            mlflow.log_metrics({f"mean.{k}": v for k, v in _metric_dict(means).items()})
    info["loss"] = s["training"]["loss"]
    info["iterations"] = int(s["training"]["iterations"])
    info["n_units"] = data.n_units
    return scores, info


def fit_final_model(data: FamilyData, family_params: dict, gan_params: dict, cv_info: dict) -> GanScenarioModel:
    """The family's GAN refitted on all data; logged to the family run (state dict + scaler bundle)."""
    torch.set_num_threads(int(gan_params["torch_threads"]))
    model = _make_model(data, family_params, gan_params, _family_seed(gan_params, data.family))
    model.fit(data, progress=bool(gan_params.get("progress_bar", True)), desc=f"{data.family} final")
    log.info("family %s final model: %.1f s (%.0f it/s)", data.family, model.train_seconds,
             model.iterations_per_s)
    with _family_run(cv_info) as run:
        if run is not None:
            mlflow.log_metrics({"final.train_seconds": model.train_seconds,
                                "final.iterations_per_s": model.iterations_per_s})
            _log_history(run.info.run_id, model.history, prefix="final.")
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{data.family}_generator.pt"
                torch.save(model.torch_bundle(), path)
                mlflow.log_artifact(str(path), artifact_path="model")
    return model


def sample_scenarios(model: GanScenarioModel, data: FamilyData, family_params: dict,
                     gan_params: dict) -> pd.DataFrame:
    """``n_scenarios`` equally probable scenarios for the requested calendar label (architecture schema)."""
    s = _settings(family_params, gan_params)["sampling"]
    cond = ConditioningConfig.from_params(gan_params.get("conditioning"))
    label = requested_label(s.get("month"), s.get("is_weekend"), cond)
    samples = sample_label(model, data, label, int(s["n_scenarios"]), int(s["seed"]))
    df = scenarios_frame(samples, data, label)
    log.info("family %s: %d scenarios for %s", data.family, int(s["n_scenarios"]), label)
    return df


def plot_family(data: FamilyData, model: GanScenarioModel, scenarios: pd.DataFrame,
                cv_info: dict) -> dict[str, plt.Figure]:
    """Real days/sessions of the sampled label vs the scenarios: profiles with bands, histograms, paths."""
    label = str(scenarios["label"].iloc[0])
    cond = model.conditioning
    labels = label_strings(data.months, data.is_weekend, cond)
    sel = labels == label
    real = score_views(data, data.values[sel], data.months[sel], None if data.dates is None else data.dates[sel])
    units = variable_units(data)
    if data.kind == "profile":
        gen = {v: g.pivot(index="scenario_id", columns="step", values="value").to_numpy()
               for v, g in scenarios.groupby("variable", sort=False)}
        real = {k: real[k] for k in gen}
    else:
        cols = [c for c in scenarios.columns if c not in ("scenario_id", "label")]
        gen = {c: scenarios[[c]].to_numpy() for c in cols}
        real = {c: real[c] for c in cols}
    title = f"{data.family}: real ({int(sel.sum())} units) vs generated ({len(next(iter(gen.values())))}), {label}"
    figs = {f"{data.family}_histograms.png": histogram_figure(real, gen, units, title),
            f"{data.family}_loss_curves.png": loss_figure(model.history, f"{data.family}: final GAN training losses")}
    if data.kind == "profile":
        step_h = data.info.get("step_minutes", 15) / 60.0
        figs[f"{data.family}_profiles.png"] = profile_figure(real, gen, units, title, step_hours=step_h)
    elif "departure_h" in gen:
        figs[f"{data.family}_joint.png"] = joint_figure(np.column_stack([real["arrival_h"], real["departure_h"]]),
                                                    np.column_stack([gen["arrival_h"], gen["departure_h"]]),
                                                    title)
    with _family_run(cv_info) as run:
        if run is not None:
            for name, fig in figs.items():
                mlflow.log_figure(fig, f"plots/{name}")
    return figs


def summarise_cv(gan_params: dict, *family_outputs) -> tuple[pd.DataFrame, str]:
    """Summary table over families (GAN vs baselines vs paper Table IV) and the markdown report.

    ``family_outputs`` alternates each family's CV scores and CV info.
    """
    scores = pd.concat(family_outputs[0::2], ignore_index=True)
    infos = family_outputs[1::2]
    summary = summarise(scores)
    timings = pd.DataFrame([{
        "family": i["family"], "loss": i["loss"], "iterations": i["iterations"], "n_units": i["n_units"],
        "train_seconds_mean": float(np.mean([f["train_seconds"] for f in i["folds"]])),
        "iterations_per_s": float(np.mean([f["iterations_per_s"] for f in i["folds"]])),
    } for i in infos])
    report = markdown_report(summary, timings, int(gan_params["cv"]["n_folds"]))
    if _tracking():
        mlflow.log_text(report, "gan/gan_cv_report.md")
    return summary, report

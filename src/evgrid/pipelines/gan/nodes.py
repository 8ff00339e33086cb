"""Thin Kedro nodes of the ``gan`` pipeline; the logic lives in ``evgrid.scenarios``.

MLflow: kedro-mlflow opens the parent run of ``kedro run``; ``evaluate_generators`` opens a nested run per
family (``gan/<family>``) with the validation choice, test scores and the GAN's loss curves; later nodes
re-open it to log the plots. Without an active run (a bare SequentialRunner in tests) nothing is logged.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.entities import Metric

from evgrid import compute
from evgrid.scenarios.calendar import ConditioningConfig, label_strings, requested_label
from evgrid.scenarios.data import FamilyData, validate_family_data
from evgrid.scenarios.dayahead import DayAheadConfig, family_conditions
from evgrid.scenarios.families import build_family_data
from evgrid.scenarios.gan import GanScenarioModel
from evgrid.scenarios.generators import FlowConfig
from evgrid.scenarios.holdout import (
    FitSpec,
    HoldoutConfig,
    Phase,
    choose,
    cv_phases,
    paired_table,
    run_holdout,
)
from evgrid.scenarios.mlflow_model import register_family
from evgrid.scenarios.plots import PLOT_KINDS, family_figures
from evgrid.scenarios.report import holdout_report
from evgrid.scenarios.sampling import ScenarioBundle, sample_label, scenarios_frame
from evgrid.scenarios.split import SplitConfig, first_test_day, temporal_split, validation_mask
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
    """Family settings: the common ``gan`` blocks overridden by the family's."""
    return {k: _merge(gan_params.get(k) or {}, family_params.get(k))
            for k in ("training", "sampling", "holdout", "flow")}


def _family_seed(gan_params: dict, family: str) -> int:
    """A per-family seed derived from ``gan.seed`` and the family name (stable across runs)."""
    return int(gan_params["seed"]) * 1000 + sum(ord(ch) for ch in family)


def _transform_kwargs(family_params: dict, gan_params: dict) -> dict:
    return {"representation": family_params.get("representation", "identity"),
            "margin": float(gan_params.get("scale_margin", 0.05)),
            "night_variables": tuple(family_params.get("night_variables", ())),
            "scaling": family_params.get("scaling", "channel")}


def _make_transform(family_params: dict, gan_params: dict):
    return lambda: FamilyTransform(**_transform_kwargs(family_params, gan_params))


def _make_gan(family: str, family_params: dict, gan_params: dict, seed: int):
    cfg = TrainConfig.from_params(_settings(family_params, gan_params)["training"])
    label_cfg = ConditioningConfig.from_params(gan_params.get("calendar_labels"))
    return lambda transform: GanScenarioModel(family, cfg, transform, label_cfg, seed)


def _tracking() -> bool:
    return mlflow.active_run() is not None


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
                        pv_system: dict, family: str) -> FamilyData:
    """Matrix of one family from its feature dataset (PV through the shared ``pv_system`` block where the
    family has ``derive_pv``), checked for NaNs and size."""
    data = build_family_data(family, features, family_params, step_minutes, pv_system)
    validate_family_data(data, int(gan_params["min_folds"]), int(gan_params["min_units_per_fold"]))
    removed = {k: v for k, v in data.info.get("removed", {}).items() if v}
    log.info("family %s: %d %s, %d features%s", family, data.n_units,
             "days" if data.kind == "profile" else "sessions", data.values.shape[1],
             f", removed {removed}" if removed else "")
    return data


def evaluate_generators(data: FamilyData, family_params: dict, gan_params: dict, split_params: dict,
                        compute_params: dict | None = None) -> tuple[pd.DataFrame, dict, ScenarioBundle]:
    """Day-ahead conditions, dated split, validation choice, test-period scores; returns the per-day
    scores, the info (choice, paired table with CIs, spread check, split dates) and every generator fitted
    on the training days (the bundle that feeds the studies). Every (phase, generator) fit is one task on
    ``evgrid.compute`` (``compute`` parameters; docs/scale-out.md)."""
    torch.set_num_threads(int(gan_params["torch_threads"]))
    s = _settings(family_params, gan_params)
    cfg, flow_cfg = HoldoutConfig.from_params(s["holdout"]), FlowConfig.from_params(s["flow"])
    label_cfg = ConditioningConfig.from_params(gan_params.get("calendar_labels"))
    seed = _family_seed(gan_params, data.family)
    cond = family_conditions(data, DayAheadConfig.from_params(gan_params.get("conditioning")))
    n_before = data.n_units
    record, split = family_params["dataset"], SplitConfig.from_params(split_params)
    # the cut-off comes from the record's own days, before days without a previous day are dropped, so gan
    # and dro (which splits the full record) hold out the same test days
    cut = first_test_day(data.dates, split, record)
    split = SplitConfig(split.test_fraction, {**split.test_start, record: str(cut)})
    data = data.subset(np.flatnonzero(cond.keep))
    train, test = temporal_split(data.dates, split, record)
    val = validation_mask(data.dates, train, cfg.val_fraction)
    ti, te = np.flatnonzero(train), np.flatnonzero(test)
    phases = [Phase("validation", np.flatnonzero(train & ~val), np.flatnonzero(val), seed),
              Phase("test", ti, te, seed, keep_model=True)]
    if cfg.cv_folds > 1:  # K-fold CV over the training days only (never the test days)
        phases += [Phase(p.name, ti[p.fit_idx], ti[p.score_idx], p.score_seed)
                   for p in cv_phases(data.subset(ti), cfg.cv_folds, seed)]
    settings = compute.ComputeSettings.from_params(compute_params or {"scheduler": "sync"})
    spec = FitSpec(data.family, cfg, TrainConfig.from_params(s["training"]), flow_cfg, label_cfg,
                   _transform_kwargs(family_params, gan_params), seed,
                   progress=bool(gan_params.get("progress_bar", True)) and settings.scheduler == "sync")
    t0 = time.perf_counter()
    res = run_holdout(data, cond, spec, phases, settings)
    scores, fitted = res.scores, res.fitted
    chosen, val_table = choose(scores[scores.phase == "validation"], cfg.models)
    selected = chosen if cfg.generator == "auto" else cfg.generator
    paired = paired_table(scores, selected, cfg, seed)
    dates = np.asarray(data.dates).astype("datetime64[D]")

    def span(mask: np.ndarray) -> list[str]:
        return [str(dates[mask].min()), str(dates[mask].max())]

    info: dict[str, Any] = {
        "family": data.family, "record": record, "chosen_by_validation": chosen, "selected": selected,
        "test_start": str(cut),
        "train_days": span(train), "validation_days": span(val), "test_days": span(test),
        "n_units": {"before_conditioning": n_before,
        "train": int(train.sum()), "validation": int(val.sum()), "test": int(test.sum())},
        "no_previous_day_removed": int(n_before - data.n_units), "condition_features": cond.names,
        "validation": val_table.to_dict("records"), "paired": paired.to_dict("records"),
        "spread": res.spread.to_dict("records"), "fit_seconds": fitted.seconds,
        "paper_metrics": res.paper.to_dict("records"),
        "cv_energy_score": scores[scores.phase.str.startswith("cv") & (scores.metric == "energy_score")]
        .groupby(["variable", "model"])["value"].mean().reset_index().to_dict("records"),
        "seconds": time.perf_counter() - t0, "run_id": None,
    }
    if _tracking():
        with mlflow.start_run(run_name=f"gan/{data.family}", nested=True) as run:
            info["run_id"] = run.info.run_id
            mlflow.log_params({"family": data.family, "selected": selected, "chosen_by_validation": chosen,
                               "test_start": info["test_start"], "seed": seed, "conditions": ",".join(cond.names)})
            mlflow.log_metrics({f"test.{r['model']}.{r['variable']}.{r['metric']}": r["mean"]
                                for r in info["paired"]})
            if "gan" in fitted.models:
                h, ts = fitted.models["gan"].history, int(time.time() * 1000)
                mlflow.tracking.MlflowClient().log_batch(run.info.run_id, metrics=[
                    Metric(k, float(v), ts, int(it)) for k in ("d_loss", "g_loss")
                    for it, v in zip(h["iteration"], h[k], strict=True)][:1000])
    log.info("family %s: validation chose %s; serving %s", data.family, chosen, selected)
    labels = label_strings(data.months[ti], data.is_weekend[ti], label_cfg)
    uniq, counts = np.unique(labels, return_counts=True)
    bundle = ScenarioBundle(data.family, fitted, selected, data.subset(ti), cond.subset(ti),
                            {str(k): int(v) for k, v in zip(uniq, counts, strict=True)})
    return scores, info, bundle


def sample_scenarios(bundle: ScenarioBundle, data: FamilyData, family_params: dict,
                     gan_params: dict) -> pd.DataFrame:
    """``n_scenarios`` equally probable scenarios of the selected generator (architecture schema)."""
    s = _settings(family_params, gan_params)["sampling"]
    label = requested_label(s.get("month"), s.get("is_weekend"),
                            ConditioningConfig.from_params(gan_params.get("calendar_labels")))
    samples = sample_label(bundle, data, label, int(s["n_scenarios"]), int(s["seed"]))
    log.info("family %s: %d scenarios of %s for %s", data.family, int(s["n_scenarios"]), bundle.selected, label)
    return scenarios_frame(samples, data, label)


def register_generators(bundle: ScenarioBundle, data: FamilyData, scenarios: pd.DataFrame, info: dict,
                        family_params: dict, gan_params: dict) -> dict:
    """The selected generator (and the GAN) as MLflow models registered as ``evgrid-<family>``
    (``evgrid.scenarios.mlflow_model``); returns which model version made ``<family>.scenarios``."""
    seed = int(_settings(family_params, gan_params)["sampling"]["seed"])
    with _family_run(info) as run:
        if run is None:
            return {"family": data.family, "made_by": None, "reason": "no active MLflow run (models not logged)"}
        return register_family(bundle, data, scenarios, DayAheadConfig.from_params(gan_params.get("conditioning")),
                               seed, {"test_start": info["test_start"], "run_id": run.info.run_id})


def plot_family(data: FamilyData, bundle: ScenarioBundle, scenarios: pd.DataFrame,
                info: dict) -> tuple:
    """Real training days/sessions of the sampled label vs the scenarios (histograms, shape) and the GAN's
    loss curves: one figure per kind (``scenarios.plots.PLOT_KINDS``), so kedro-viz previews each."""
    figs = family_figures(data, bundle, scenarios)
    with _family_run(info) as run:
        if run is not None:
            for kind, fig in figs.items():
                mlflow.log_figure(fig, f"plots/{data.family}_{kind}.png")
    return tuple(figs[k] for k in PLOT_KINDS)


def summarise_holdout(*infos: dict) -> tuple[pd.DataFrame, str]:
    """Paired temporal-holdout table over families and the markdown report."""
    summary = pd.concat([pd.DataFrame(i["paired"]).assign(family=i["family"], selected=i["selected"])
                         for i in infos], ignore_index=True)
    report = holdout_report(list(infos))
    if _tracking():
        mlflow.log_text(report, "gan/gan_holdout_report.md")
    return summary, report

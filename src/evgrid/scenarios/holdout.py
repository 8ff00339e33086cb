"""Temporal-holdout evaluation of every generator on the dated split (issue 18).

Phases (``split.py``): *validation* = fit on the training days before the validation cut-off, score on the
last ``val_fraction`` of the training days (chooses the generator); *test* = fit on all training days,
score on the held-out test days (reported only; never chooses anything). For each scored day the model
draws ``samples_per_day`` scenarios from that day's day-ahead condition; scores per day (a session family
averages its sessions of the day): energy score, variogram score p = 0.5 (multi-step views), CRPS averaged
over steps, and the share of steps inside the central ``interval`` (scoringrules, ``scores.py``).
Comparisons are paired per day; CIs are moving-block bootstrap percentile intervals over days
(block ``block_days``, Kuensch 1989), which keeps the day-to-day autocorrelation of the differences.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evgrid.scenarios import scores as S
from evgrid.scenarios.calendar import ConditioningConfig, label_strings
from evgrid.scenarios.data import FamilyData
from evgrid.scenarios.dayahead import Conditions
from evgrid.scenarios.families import score_views
from evgrid.scenarios.generators import (
    AnalogSampler,
    ConditionalCopulaSampler,
    FlowConfig,
    FlowSampler,
    LabelBaseline,
    Query,
)

log = logging.getLogger(__name__)

MODELS = ("gan", "flow", "analog", "copula", "bootstrap", "gaussian")


@dataclass(frozen=True)
class HoldoutConfig:
    """``gan.holdout`` parameters."""

    val_fraction: float = 0.2
    samples_per_day: int = 100
    interval: float = 0.9
    variogram_p: float = 0.5
    block_days: int = 7
    n_boot: int = 1000
    analog_k: int = 30
    baseline_min_units: int = 5
    models: tuple[str, ...] = MODELS
    generator: str = "auto"  # which generator feeds the studies: auto = lowest validation energy score
    cv_folds: int = 0  # > 1: also K-fold cross-validation by whole day over the training days (paper env)
    cv_models: tuple[str, ...] | None = None  # the generators the CV folds fit and score (None = all ``models``)
    bins: dict = field(default_factory=lambda: {"arrival_h": [0, 24, 1], "departure_h": [0, 48, 1],
                                                "duration_h": [0, 48, 1], "distance_km": [0, 600, 20]})

    def __post_init__(self) -> None:
        bad = set(self.models) - set(MODELS)
        if bad:
            raise ValueError(f"gan.holdout.models: unknown {sorted(bad)}; known {list(MODELS)}")
        if self.generator != "auto" and self.generator not in self.models:
            raise ValueError(f"gan.holdout.generator must be 'auto' or one of {list(self.models)}, "
                             f"got {self.generator!r}")
        if self.cv_models is not None and not set(self.cv_models) <= set(self.models):
            raise ValueError(f"gan.holdout.cv_models must be among gan.holdout.models {list(self.models)}, "
                             f"got {list(self.cv_models)}")
        if not 0 < self.val_fraction < 1 or self.samples_per_day < 2 or self.block_days < 1:
            raise ValueError("gan.holdout: val_fraction in (0, 1), samples_per_day >= 2, block_days >= 1")

    @classmethod
    def from_params(cls, params: dict | None) -> HoldoutConfig:
        params = dict(params or {})
        unknown = set(params) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown gan.holdout parameters {sorted(unknown)}; "
                             f"known: {sorted(cls.__dataclass_fields__)}")
        for key in ("models", "cv_models"):
            if params.get(key) is not None:
                params[key] = tuple(params[key])
        return cls(**params)


@dataclass
class FittedSet:
    """Every generator fitted on one training period, with the shared transform (bounds)."""

    models: dict
    transform: object
    label_cfg: ConditioningConfig
    seconds: dict = field(default_factory=dict)


def make_query(data: FamilyData, cond: Conditions, label_cfg: ConditioningConfig) -> Query:
    return Query(cond.values, cond.offday, label_strings(data.months, data.is_weekend, label_cfg), data.months)


def fit_all(train: FamilyData, cond: Conditions, cfg: HoldoutConfig, make_gan, make_transform,
            flow_cfg: FlowConfig, label_cfg: ConditioningConfig, seed: int, progress: bool = False,
            desc: str = "") -> FittedSet:
    """Fit the transform on ``train`` and every configured model on it."""
    transform = make_transform().fit(train)
    labels = label_strings(train.months, train.is_weekend, label_cfg)
    models, secs = {}, {}
    for name in cfg.models:
        t0 = time.perf_counter()
        if name == "gan":
            m = make_gan(transform).fit(train, cond, progress=progress, desc=f"{desc} gan")
        elif name == "flow":
            m = FlowSampler(transform, flow_cfg, seed + 17).fit(train, cond, progress=progress, desc=desc)
        elif name == "analog":
            m = AnalogSampler(cfg.analog_k).fit(train, cond)
        elif name == "copula":
            m = ConditionalCopulaSampler(transform).fit(train, cond)
        else:
            m = LabelBaseline(name, cfg.baseline_min_units).fit(train, labels)
        models[name] = m
        secs[name] = time.perf_counter() - t0
        # DEBUG: the phase's line (every generator's fit time and score) follows; a long node says it is
        # still running (evgrid.runtime.progress), a terminal shows the bars
        log.debug("family %s %s: %s fitted in %.1f s", train.family, desc, name, secs[name])
    return FittedSet(models, transform, label_cfg, secs)


def draw(fitted: FittedSet, name: str, q: Query, n: int, rng: np.random.Generator) -> np.ndarray:
    """(k, n, d) bounded physical samples of model ``name`` for the k queries."""
    x = fitted.models[name].sample_many(q, n, rng)
    k, _, d = x.shape
    flat = fitted.transform.enforce_bounds(x.reshape(k * n, d), np.repeat(q.months, n))
    return flat.reshape(k, n, d)


def _day_index(data: FamilyData) -> tuple[np.ndarray, np.ndarray]:
    """Unique days (sorted) and each unit's day position."""
    days = np.asarray(data.dates).astype("datetime64[D]")
    uniq, inv = np.unique(days, return_inverse=True)
    return uniq, inv


def score_phase(fitted: FittedSet, data: FamilyData, cond: Conditions, cfg: HoldoutConfig, seed: int,
                phase: str, model_index: int | None = None) -> tuple[pd.DataFrame, dict]:
    """Per-day scores of every model on ``data`` (the scored days) and per-day spread statistics. Model j
    draws from ``default_rng([seed, j, test])``; ``model_index`` gives j when ``fitted`` holds one model."""
    uniq, inv = _day_index(data)
    first = np.array([np.flatnonzero(inv == i)[0] for i in range(len(uniq))])
    q = make_query(data.subset(first), cond.subset(first), fitted.label_cfg)
    day_dates = np.asarray(data.dates)[first]
    real = score_views(data, data.values, data.months, data.dates)
    rows, spread = [], {}
    n = cfg.samples_per_day
    for pos, name in enumerate(fitted.models):
        j = pos if model_index is None else model_index
        ens = draw(fitted, name, q, n, np.random.default_rng([seed, j, 1 if phase == "test" else 0]))
        k, _, d = ens.shape
        flat = ens.reshape(k * n, d)
        gen = score_views(data, flat, np.repeat(q.months, n), np.repeat(day_dates, n))
        for view, obs in real.items():
            e = gen[view].reshape(k, n, -1)[inv]  # each unit against its day's ensemble
            per_unit = {"energy_score": S.es_per_day(obs, e), "crps_mean_step": S.crps_per_day(obs, e),
                        f"coverage_{int(round(100 * cfg.interval))}": S.coverage_per_day(obs, e, cfg.interval)}
            if obs.shape[1] > 2 and phase == "test":  # validation chooses on the energy score only
                per_unit["variogram_score"] = S.vs_per_day(obs, e, cfg.variogram_p)
            for metric, v in per_unit.items():
                per_day = np.bincount(inv, weights=v, minlength=len(uniq)) / np.bincount(inv, minlength=len(uniq))
                rows.append(pd.DataFrame({"phase": phase, "date": uniq, "model": name, "variable": view,
                                          "metric": metric, "value": per_day}))
            g = gen[view].reshape(k, n, -1)
            spread[(name, view)] = g
    return pd.concat(rows, ignore_index=True), {"spread_ens": spread, "query": q, "inv": inv, "real": real}


def choose(val_scores: pd.DataFrame, candidates) -> tuple[str, pd.DataFrame]:
    """The model with the lowest mean validation energy score relative to the label bootstrap's, averaged
    over the family's score views (each view weighs the same whatever its unit)."""
    es = val_scores[val_scores.metric == "energy_score"]
    means = es.groupby(["variable", "model"])["value"].mean().unstack("model")
    ref = means["bootstrap"] if "bootstrap" in means else means.min(axis=1)
    ratio = means.div(ref, axis=0)
    table = ratio.mean(axis=0).rename("val_es_ratio_to_bootstrap").reset_index()
    table = table[table.model.isin(candidates)].sort_values("val_es_ratio_to_bootstrap")
    return str(table.iloc[0]["model"]), table


def block_bootstrap_ci(diff: np.ndarray, ref: np.ndarray, block: int, n_boot: int, seed: int,
                       level: float = 0.95) -> tuple[float, float, float, float]:
    """Mean paired difference, its relative value mean(diff)/mean(ref) in %, and the moving-block bootstrap
    percentile CI of the relative difference (%). ``diff`` and ``ref`` are per-day series in date order."""
    diff, ref = np.asarray(diff, float), np.asarray(ref, float)
    n = len(diff)
    rng = np.random.default_rng(seed)
    b = min(block, n)
    n_blocks = int(np.ceil(n / b))
    starts = rng.integers(0, n - b + 1, size=(n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(b)[None, None, :]).reshape(n_boot, -1)[:, :n]
    rel = 100.0 * diff[idx].mean(axis=1) / ref[idx].mean(axis=1)
    a = (1 - level) / 2
    lo, hi = np.quantile(rel, [a, 1 - a])
    return float(diff.mean()), float(100.0 * diff.mean() / ref.mean()), float(lo), float(hi)


def paired_table(scores: pd.DataFrame, chosen: str, cfg: HoldoutConfig, seed: int) -> pd.DataFrame:
    """Per view and metric: each model's mean test score and its paired difference to the chosen model
    (other - chosen: positive = the chosen model is better) with block-bootstrap CIs."""
    rows = []
    test = scores[scores.phase == "test"]
    for (view, metric), g in test.groupby(["variable", "metric"], sort=False):
        wide = g.pivot(index="date", columns="model", values="value").sort_index()
        for model in wide.columns:
            row = {"variable": view, "metric": metric, "model": model, "mean": float(wide[model].mean()),
                   "n_days": int(wide[model].notna().sum())}
            if metric in ("energy_score", "variogram_score", "crps_mean_step") and model != chosen:
                d, rel, lo, hi = block_bootstrap_ci(wide[model] - wide[chosen], wide[model], cfg.block_days,
                                                    cfg.n_boot, seed)
                row.update(diff_vs_chosen=d, rel_diff_pct=rel, ci_lo_pct=lo, ci_hi_pct=hi)
            rows.append(row)
    return pd.DataFrame(rows)


def spread_check(extra: dict, cond: Conditions, data: FamilyData, first_cond_col: int = 0) -> pd.DataFrame:
    """Does each model's spread follow the condition as the data's does?

    Test days are binned by day type (workday / weekend-or-holiday) x tercile of the first previous-day
    feature (e.g. the previous day's mean). Per bin: data spread = mean over steps of the std of the real
    units; model spread = mean over steps of the std of the pooled scenarios of the bin's days. Reported:
    the coefficient of variation of the spread across bins (data and model) and their correlation.
    """
    inv, real, q = extra["inv"], extra["real"], extra["query"]
    x = q.cond[:, first_cond_col]
    terc = np.quantile(x, [1 / 3, 2 / 3])
    day_bin = 3 * q.offday.astype(int) + np.searchsorted(terc, x)
    rows = []
    for (model, view), ens in extra["spread_ens"].items():
        obs = real[view]
        sd_data, sd_gen = [], []
        for b in np.unique(day_bin):
            days = np.flatnonzero(day_bin == b)
            units = np.isin(inv, days)
            if units.sum() < 3:
                continue
            sd_data.append(obs[units].std(axis=0, ddof=1).mean())
            sd_gen.append(ens[days].reshape(-1, ens.shape[2]).std(axis=0, ddof=1).mean())
        sd_data, sd_gen = np.array(sd_data), np.array(sd_gen)
        corr = float(np.corrcoef(sd_data, sd_gen)[0, 1]) if len(sd_data) > 2 else float("nan")
        rows.append({"model": model, "variable": view, "n_bins": len(sd_data),
                     "cv_spread_data": float(sd_data.std() / sd_data.mean()),
                     "cv_spread_model": float(sd_gen.std() / sd_gen.mean()), "corr_spread": corr})
    return pd.DataFrame(rows)


def cross_validate_days(data: FamilyData, cond: Conditions, cfg: HoldoutConfig, fit_args: tuple, seed: int,
                        ) -> pd.DataFrame:
    """K-fold cross-validation by whole day over ``data`` (the training days only; sessions of one day stay
    in one fold; folds of ``cv_phases``), every model fitted on K-1 folds and scored per day on the
    held-out fold (phase ``cv<k>``, k from 1), in this process. Days are shuffled with the seed;
    neighbouring days land in different folds, so CV is optimistic for day-ahead use compared with the
    dated holdout. The pipeline runs the same folds as tasks (``run_holdout``)."""
    out = []
    for ph in cv_phases(data, cfg.cv_folds, seed):
        fitted = fit_all(data.subset(ph.fit_idx), cond.subset(ph.fit_idx), *fit_args,
                         desc=f"cv fold {ph.name[2:]}/{cfg.cv_folds}")
        out.append(score_phase(fitted, data.subset(ph.score_idx), cond.subset(ph.score_idx), cfg, ph.score_seed,
                               ph.name)[0])
    return pd.concat(out, ignore_index=True)


def paper_metrics(extra: dict, cfg: HoldoutConfig) -> pd.DataFrame:
    """Paper 004 eqs. 23-24 for the scalar EV variables on the test period: R2 and NRMSE (%) of the
    percentage distribution over ``bins`` of all generated samples (each test session's day ensemble,
    pooled) against that of the real test sessions."""
    rows = []
    inv = extra["inv"]
    for (model, view), ens in extra["spread_ens"].items():
        if view not in cfg.bins or ens.shape[2] != 1:
            continue
        start, stop, width = cfg.bins[view]
        edges = np.arange(start, stop + 0.5 * width, width)
        k_real = S.percentage_distribution(extra["real"][view][:, 0], edges)
        k_gen = S.percentage_distribution(ens[inv].reshape(-1), edges)
        rows.append({"model": model, "variable": view, "r2_paper": S.paper_r2(k_real, k_gen),
                     "nrmse_paper_pct": 100.0 * S.paper_nrmse(k_real, k_gen)})
    return pd.DataFrame(rows)


# -- fan-out: (phase, generator) tasks on evgrid.compute ---------------------------------------------------
@dataclass(frozen=True)
class FitSpec:
    """Everything a worker needs to build a family's generators (plain data; ``evgrid.compute`` ships it).

    Seeds follow the task's key only: the GAN trains with ``seed + 1``, the flow with ``seed + 17``, and a
    phase scores model ``j`` (its position in ``holdout.models``) with ``default_rng([score_seed, j, t])``
    where ``score_seed`` = ``seed`` (validation, test; t = 0 / 1) or ``seed + k - 1`` (CV fold k, t = 0)."""

    family: str
    holdout: HoldoutConfig
    train: object  # training.TrainConfig
    flow: FlowConfig
    labels: ConditioningConfig
    transform: dict  # FamilyTransform keyword arguments
    seed: int
    progress: bool = False

    def make_transform(self):
        from evgrid.scenarios.transforms import FamilyTransform

        return FamilyTransform(**self.transform)

    def make_gan(self, transform):
        from evgrid.scenarios.gan import GanScenarioModel

        return GanScenarioModel(self.family, self.train, transform, self.labels, self.seed + 1)


@dataclass(frozen=True)
class Phase:
    """A fit on ``fit_idx`` scored on ``score_idx`` (positions in the family's conditioned units)."""

    name: str  # validation | test | cv<k> (k from 1)
    fit_idx: np.ndarray
    score_idx: np.ndarray
    score_seed: int
    keep_model: bool = False  # the test phase's fits are the bundle's generators


def fit_score_task(task: dict, shared: dict) -> dict:
    """One (phase, generator): fit the generator on the phase's training units, score it per day on the
    phase's scored units; on the test phase also its spread check and paper metrics (small tables, so no
    ensemble crosses a process boundary). Module level for ``evgrid.compute.map_tasks``."""
    spec: FitSpec = shared["spec"]
    phase: Phase = shared["phases"][task["phase"]]
    data, cond, name = shared["data"], shared["cond"], task["model"]
    one = dataclasses.replace(spec.holdout, models=(name,), generator="auto", cv_models=None)
    tr, sc = phase.fit_idx, phase.score_idx
    desc = "final" if phase.name == "test" else phase.name
    fitted = fit_all(data.subset(tr), cond.subset(tr), one, spec.make_gan, spec.make_transform, spec.flow,
                     spec.labels, spec.seed, progress=spec.progress, desc=desc)
    scores, extra = score_phase(fitted, data.subset(sc), cond.subset(sc), spec.holdout, phase.score_seed,
                                phase.name, model_index=spec.holdout.models.index(name))
    out = {"model": name, "phase": phase.name, "scores": scores, "seconds": fitted.seconds[name],
           "fitted": fitted.models[name] if phase.keep_model else None}
    if phase.name == "test":
        out["spread"] = spread_check(extra, cond.subset(sc), data.subset(sc))
        out["paper"] = paper_metrics(extra, spec.holdout)
    return out


def cv_phases(data: FamilyData, n_folds: int, seed: int) -> list[Phase]:
    """K-fold CV by whole day over ``data`` (days shuffled with ``seed``; sessions of a day stay together)."""
    from sklearn.model_selection import GroupKFold

    days = np.asarray(data.dates).astype("datetime64[D]")
    uniq, groups = np.unique(days, return_inverse=True)
    perm = np.random.default_rng(seed).permutation(len(uniq))
    return [Phase(f"cv{k + 1}", tr, te, seed + k)
            for k, (tr, te) in enumerate(GroupKFold(n_splits=n_folds).split(days, groups=perm[groups]))]


@dataclass
class HoldoutResult:
    scores: pd.DataFrame  # validation, test and cv<k> rows
    fitted: FittedSet  # the generators fitted on every training day (test phase)
    spread: pd.DataFrame
    paper: pd.DataFrame


def run_holdout(data: FamilyData, cond: Conditions, spec: FitSpec, phases: list[Phase], settings=None
                ) -> HoldoutResult:
    """Every (phase, generator) of a family as one task on ``evgrid.compute`` (``settings``: the ``compute``
    parameters; ``sync`` runs in-process). Tasks go out longest first (GAN, flow, then the cheap
    generators); results are assembled in ``holdout.models`` order, so any scheduler gives identical
    tables. ``phases`` must contain one ``test`` phase (its fits become ``fitted``)."""
    from evgrid import compute

    models = spec.holdout.models
    cv_models = models if spec.holdout.cv_models is None else spec.holdout.cv_models
    order = sorted(models, key=lambda m: (m != "gan", m != "flow", models.index(m)))

    def fitted_in(ph: Phase) -> list[str]:  # CV folds fit only ``cv_models``; validation and test fit all
        return [m for m in models if not ph.name.startswith("cv") or m in cv_models]

    tasks = [{"phase": i, "model": m} for m in order for i in range(len(phases)) if m in fitted_in(phases[i])]
    keys = [(spec.family, phases[t["phase"]].name, t["model"]) for t in tasks]
    shared = {"spec": spec, "phases": phases, "data": data, "cond": cond}
    results = compute.map_tasks(fit_score_task, tasks, settings, keys=keys, shared=shared,
                                desc=f"gan {spec.family}: {len(phases)} phases x {len(models)} generators")
    by = {(r["phase"], r["model"]): r for r in results}
    for ph in phases:
        es = {m: by[(ph.name, m)]["scores"].query("metric == 'energy_score'")["value"].mean() for m in fitted_in(ph)}
        log.info("family %s %s: fitted %s; mean energy score %s", spec.family, ph.name,
                 ", ".join(f"{m} {by[(ph.name, m)]['seconds']:.1f} s" for m in fitted_in(ph)),
                 ", ".join(f"{m} {v:.4g}" for m, v in es.items()))
    scores = pd.concat([by[(ph.name, m)]["scores"] for ph in phases for m in fitted_in(ph)], ignore_index=True)
    test = next(ph for ph in phases if ph.name == "test")
    transform = spec.make_transform().fit(data.subset(test.fit_idx))
    fitted = FittedSet({m: by[("test", m)]["fitted"] for m in models}, transform, spec.labels,
                       {m: by[("test", m)]["seconds"] for m in models})
    spread = pd.concat([by[("test", m)]["spread"] for m in models], ignore_index=True)
    paper = pd.concat([by[("test", m)]["paper"] for m in models], ignore_index=True)
    return HoldoutResult(scores, fitted, spread, paper)

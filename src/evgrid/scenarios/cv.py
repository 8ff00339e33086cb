"""K-fold cross-validation of the GAN and the two baselines by whole unit (day or session).

Folds are drawn with a seed over units (never over time steps), stratified by calendar label when every
label has at least ``n_folds`` units. For each fold every model is fitted on the training units and, for
each calendar label present in the test fold with n_L units, draws ``samples_per_test_unit * n_L``
samples of that label; the pooled samples therefore follow the test fold's label mix. Scores (see
``evgrid.scenarios.scores``) are computed per score view and collected in a long table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

from evgrid.scenarios import scores as S
from evgrid.scenarios.baselines import BootstrapSampler, GaussianSampler
from evgrid.scenarios.calendar import ConditioningConfig, label_strings
from evgrid.scenarios.data import FamilyData
from evgrid.scenarios.errors import ScenarioDataError
from evgrid.scenarios.families import score_views

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CVConfig:
    n_folds: int = 5
    samples_per_test_unit: int = 10
    max_lag: int = 8  # autocorrelation lags (steps)
    bins: dict = field(default_factory=dict)  # variable -> [start, stop, width] for the paper's percentages
    baseline_min_units: int = 5

    @classmethod
    def from_params(cls, params: dict) -> CVConfig:
        return cls(**params)


def make_folds(data: FamilyData, labels: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_idx, test_idx) per fold over whole units; stratified by label where every label can be."""
    uniq, counts = np.unique(data.unit_ids, return_counts=True)
    if np.any(counts > 1):
        raise ScenarioDataError(
            f"family {data.family!r}: unit {uniq[counts > 1][0]!r} appears {counts.max()} times; each day or "
            "session must be one row so that it lands in exactly one fold"
        )
    _, lab_counts = np.unique(labels, return_counts=True)
    if lab_counts.min() >= n_folds:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        return [(tr, te) for tr, te in splitter.split(np.zeros(len(labels)), labels)]
    log.info("family %s: a calendar label has < %d units, folds are not stratified", data.family, n_folds)
    splitter = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in splitter.split(np.zeros(len(labels)))]


def _edges(spec: list[float]) -> np.ndarray:
    start, stop, width = spec
    return np.arange(start, stop + 0.5 * width, width)


def score_samples(data: FamilyData, test: FamilyData, test_labels: np.ndarray, gen: np.ndarray,
                  gen_months: np.ndarray, gen_labels: np.ndarray, cfg: CVConfig) -> list[dict]:
    """All scores of one model's samples against one test fold, as rows (variable, metric, value)."""
    real_v = score_views(data, test.values, test.months, test.dates)
    gen_v = score_views(data, gen, gen_months, None)
    rows: list[dict] = []
    for name, real in real_v.items():
        g = gen_v[name]
        es = np.concatenate([S.energy_score(g[gen_labels == lab], real[test_labels == lab])
                             for lab in np.unique(test_labels)])
        rows.append({"variable": name, "metric": "energy_score", "value": float(es.mean())})
        if real.shape[1] > 1 and data.kind == "scalar":
            continue  # joint (arrival, departure): energy score only
        if real.shape[1] > 1:
            k_real, k_gen = real.mean(axis=0), g.mean(axis=0)
            rows.append({"variable": name, "metric": "wasserstein_per_step",
                         "value": S.per_step_wasserstein(real, g)})
            rows.append({"variable": name, "metric": "acf_error",
                         "value": S.autocorrelation_error(real, g, cfg.max_lag)})
        else:
            if name not in cfg.bins:
                raise ValueError(f"family {data.family!r}: no histogram bins configured for {name!r} (cv.bins)")
            edges = _edges(cfg.bins[name])
            k_real = S.percentage_distribution(real[:, 0], edges)
            k_gen = S.percentage_distribution(g[:, 0], edges)
            rows.append({"variable": name, "metric": "wasserstein", "value": S.per_step_wasserstein(real, g)})
            rows.append({"variable": name, "metric": "ks", "value": S.ks_statistic(real, g)})
        rows.append({"variable": name, "metric": "r2_paper", "value": S.paper_r2(k_real, k_gen)})
        rows.append({"variable": name, "metric": "nrmse_paper_pct", "value": 100.0 * S.paper_nrmse(k_real, k_gen)})
    return rows


def draw_for_labels(model, test: FamilyData, test_labels: np.ndarray, per_unit: int,
                    rng: np.random.Generator, bounds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Samples for each test label (per_unit x its unit count), with months and labels of each sample."""
    vals, months, labs = [], [], []
    for lab in np.unique(test_labels):
        sel = test_labels == lab
        n = per_unit * int(sel.sum())
        m = np.repeat(test.months[sel], per_unit)
        vals.append(bounds(model.sample(lab, n, rng), m))
        months.append(m)
        labs.append(np.full(n, lab, dtype=object))
    return np.concatenate(vals), np.concatenate(months), np.concatenate(labs)


@dataclass
class FoldResult:
    fold: int
    scores: pd.DataFrame
    gan: object
    n_train: int
    n_test: int
    fallback_labels: dict[str, int]


def cross_validate(data: FamilyData, make_gan: Callable[[int], object], cond: ConditioningConfig,
                   cfg: CVConfig, seed: int, on_fold: Callable[[FoldResult], None] | None = None,
                   progress: bool = True) -> list[FoldResult]:
    """Run the K-fold CV of the GAN (built by ``make_gan(fold)``) and both baselines."""
    labels = label_strings(data.months, data.is_weekend, cond)
    results = []
    for k, (tr, te) in enumerate(make_folds(data, labels, cfg.n_folds, seed)):
        train, test = data.subset(tr), data.subset(te)
        gan = make_gan(k).fit(train, progress=progress, desc=f"{data.family} fold {k + 1}/{cfg.n_folds}")
        models = {
            "gan": gan,
            "bootstrap": BootstrapSampler(1).fit(train.values, labels[tr]),
            "gaussian": GaussianSampler(cfg.baseline_min_units).fit(train.values, labels[tr]),
        }
        rows = []
        for j, (name, model) in enumerate(models.items()):
            rng = np.random.default_rng([seed, k, j])
            gen, gm, gl = draw_for_labels(model, test, labels[te], cfg.samples_per_test_unit, rng,
                                          gan.transform.enforce_bounds)
            for r in score_samples(data, test, labels[te], gen, gm, gl, cfg):
                rows.append({"family": data.family, "fold": k, "model": name, **r})
        fallbacks = {n: m.pools_.fallbacks for n, m in models.items() if hasattr(m, "pools_")}
        unseen = sorted(set(labels[te]) - set(labels[tr]))
        if unseen:
            log.warning("family %s fold %d: test labels without training data %s (baselines fall back)",
                        data.family, k, unseen)
        res = FoldResult(k, pd.DataFrame(rows), gan, len(tr), len(te), fallbacks)
        if on_fold is not None:
            on_fold(res)
        results.append(res)
    return results

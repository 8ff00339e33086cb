"""The atoms x shift experiment of the dro study (issue 28; docs/dro.md "Where does DRO pay?").

For each condition (``same``, ``season``, ``generated``; :class:`~evgrid.studies.dro.config.ExperimentConfig`)
and each number of training atoms ``n``, four first stages are solved on the same ``n`` training days and
scored on the SAME held-out real days of the condition (paired):

* ``deterministic`` -- the mean of the ``n`` atoms;
* ``saa``           -- the empirical distribution of the ``n`` atoms (equal weights);
* ``moment``        -- the moment-based baseline: the two-point distribution ``mean +- SD`` per step and channel
                       (probability 1/2 each; it matches the first two moments of the ``n`` atoms, the
                       moment-matching scenario construction of Hoyland & Wallace, Manag. Sci. 47(2), 2001);
                       non-negative channels are clipped at 0;
* ``dro``           -- Wasserstein DRO on the ``n`` atoms (plus the generator's support atoms in the ``same``
                       and ``season`` conditions, as in the study's main model), radius by K-fold
                       cross-validation on the ``n`` training days only.

The ``n`` atoms are the first ``n`` days of one seeded permutation of the condition's training pool
(nested: every day of a small set is in the larger ones), so the curve over ``n`` is not confounded with a
new draw. Held-out days never shape a decision (the dated split of :mod:`evgrid.studies.dro.scenarios`).
Per point: mean cost with a t interval, CVaR95 with a seeded percentile-bootstrap interval over the days,
and the paired difference to SAA (mean: t interval; CVaR95: paired bootstrap).
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd

from evgrid.optim.robust import cvar
from evgrid.scenarios.split import SplitConfig
from evgrid.studies.dro.config import DroConfig, ExperimentConfig
from evgrid.studies.dro.scenarios import prepare_scenarios
from evgrid.studies.dro.system import ScenarioData

METHODS = ("deterministic", "saa", "moment", "dro")


def _months(labels: list[str]) -> np.ndarray:
    """Month of each scenario label (``date=YYYY-MM-DD,...`` of a real day, ``month=7,...`` of a generated one)."""
    out = []
    for lab in labels:
        m = re.search(r"date=(\d{4})-(\d{2})-", lab) or re.search(r"month=(\d+)", lab)
        if m is None:
            raise ValueError(f"scenario label {lab!r} names no date or month")
        out.append(int(m.group(2) if m.re.pattern.startswith("date") else m.group(1)))
    return np.asarray(out, dtype=int)


def plan_experiment(features: dict, scenario_frames: dict, cfg: DroConfig, pv_system: dict, step_minutes: int,
                    split: SplitConfig, generator_info: dict | None = None) -> tuple[dict, dict]:
    """Training pools and held-out test days per condition (raw 96-step channels), from the study's dated split
    with every training and every held-out day kept (``n_train_days`` / ``max_test_days`` lifted)."""
    exp: ExperimentConfig = cfg.experiment
    big = replace(cfg, scenarios=replace(cfg.scenarios, n_train_days=100_000, max_test_days=100_000,
                                         n_nominal=1))
    sets, info = prepare_scenarios(features["traffic_daily"], features["weather_daily"], features["price_daily"],
                                   features["load_daily"], scenario_frames.get("traffic"), scenario_frames.get("pv"),
                                   scenario_frames.get("price"), big, pv_system, step_minutes, split,
                                   joint_daily=features.get("joint_daily"), joint_scenarios=scenario_frames.get("joint"),
                                   generator_info=generator_info)
    train, test = sets["real_train"], sets["real_test"]
    m_train, m_test = _months(train.labels), _months(test.labels)
    conditions, counts = {}, {}
    gen = sets.get("gan_support")
    for cond in exp.conditions:
        if cond == "same":
            pool, tmask = train, np.ones(test.n, bool)
        elif cond == "season":
            pool, tmask = train.subset(np.flatnonzero(np.isin(m_train, exp.train_months))), np.isin(m_test, exp.test_months)
        else:
            if gen is None:
                raise ValueError("dro.experiment.conditions 'generated' needs dro.scenarios.generator: joint or gan")
            pool, tmask = gen, np.isin(m_test, np.unique(_months(gen.labels)))
        t_idx = np.flatnonzero(tmask)
        rng = np.random.default_rng(int(cfg.seed) + 28)  # per condition: a condition's days do not depend on the others
        if len(t_idx) > exp.max_test_days:
            t_idx = np.sort(rng.choice(t_idx, size=exp.max_test_days, replace=False))
        order = np.random.default_rng([int(cfg.seed), len(cond)]).permutation(pool.n)
        conditions[cond] = {"pool": pool.subset(order), "test": test.subset(t_idx),
                            "extra_support": gen if cond != "generated" else None}
        counts[cond] = {"train_pool_days": pool.n, "test_days": len(t_idx),
                        "train_months": sorted(set(_months(pool.labels).tolist())),
                        "test_months": sorted(set(m_test[t_idx].tolist())),
                        "sizes_run": sizes_run(exp, pool.n)}
    return {"conditions": conditions, "load_profile": sets["load_profile"]}, {"split": info, "conditions": counts}


def sizes_run(exp: ExperimentConfig, pool_days: int) -> list[int]:
    """The sizes of ``exp.sizes`` a pool of ``pool_days`` training days supports, capped by ``exp.max_size``."""
    return [n for n in exp.sizes if n <= pool_days and (exp.max_size <= 0 or n <= exp.max_size)]


def moment_two_point(atoms: ScenarioData) -> ScenarioData:
    """Two-point distribution ``mean +- SD`` per step and channel (equal weights): the first two moments of
    the atoms (before clipping the non-negative channels at 0)."""
    def two(a, clip):
        mu, sd = a.mean(axis=0), a.std(axis=0)
        lo, hi = mu - sd, mu + sd
        if clip:
            lo = np.clip(lo, 0.0, None)
        return np.stack([lo, hi])

    return ScenarioData(two(atoms.lane_demand_kw, True), two(atoms.pv_pu, True), two(atoms.wind_pu, True),
                        two(atoms.price_usd_per_kwh, False))


def _ci_t(x: np.ndarray, level: float) -> tuple[float, float, float]:
    from scipy import stats

    m = float(np.mean(x))
    if len(x) < 2:
        return m, np.nan, np.nan
    h = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * np.std(x, ddof=1) / np.sqrt(len(x)))
    return m, m - h, m + h


def _boot_cvar(a: np.ndarray, b: np.ndarray | None, alpha: float, level: float, n_boot: int, seed) -> tuple:
    """CVaR_alpha of ``a`` (or of ``a`` minus CVaR of ``b``, paired resampling of the same days) with a
    percentile bootstrap interval."""
    rng = np.random.default_rng(seed)
    point = cvar(a, alpha) - (cvar(b, alpha) if b is not None else 0.0)
    idx = rng.integers(0, len(a), size=(n_boot, len(a)))
    vals = np.array([cvar(a[i], alpha) - (cvar(b[i], alpha) if b is not None else 0.0) for i in idx])
    lo, hi = np.quantile(vals, [(1 - level) / 2, (1 + level) / 2])
    return float(point), float(lo), float(hi)


def summarise_experiment(days: pd.DataFrame, cfg: DroConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Per (condition, n, method): mean cost and CVaR95 with 95 % intervals, certified gap; per (condition, n,
    method != saa): paired difference to SAA (mean: t; CVaR95: paired bootstrap); and, per condition, where
    DRO's curve crosses SAA's (the sizes at which the paired interval excludes 0, with its sign)."""
    exp = cfg.experiment
    alpha, level = float(cfg.robust.cvar_alpha), float(exp.confidence)
    points, paired, verdict = [], [], {}
    for (cond, n), d in days.groupby(["condition", "n_atoms"], sort=True):
        wide = d.pivot(index="day", columns="method", values="total_cost_usd")
        meta = d.groupby("method").first()
        for method in wide.columns:
            x = wide[method].to_numpy()
            m, lo, hi = _ci_t(x, level)
            cv, clo, chi = _boot_cvar(x, None, alpha, level, exp.bootstrap, [int(cfg.seed), n, len(cond), 1])
            points.append({"condition": cond, "n_atoms": n, "method": method, "n_days": len(x),
                           "mean_cost_usd": m, "mean_ci_lo": lo, "mean_ci_hi": hi,
                           "cvar95_usd": cv, "cvar95_ci_lo": clo, "cvar95_ci_hi": chi,
                           "radius": meta.loc[method, "radius"], "mip_gap": meta.loc[method, "mip_gap"],
                           "solver_status": meta.loc[method, "solver_status"]})
            if method == "saa" or "saa" not in wide.columns:
                continue
            diff = x - wide["saa"].to_numpy()
            dm, dlo, dhi = _ci_t(diff, level)
            dc, dclo, dchi = _boot_cvar(x, wide["saa"].to_numpy(), alpha, level, exp.bootstrap,
                                        [int(cfg.seed), n, len(cond), 2])
            paired.append({"condition": cond, "n_atoms": n, "method": method, "vs": "saa",
                           "diff_mean_usd": dm, "diff_ci_lo": dlo, "diff_ci_hi": dhi,
                           "diff_cvar95_usd": dc, "diff_cvar95_ci_lo": dclo, "diff_cvar95_ci_hi": dchi,
                           "share_days_cheaper": float((diff < 0).mean()),
                           "significant": bool(dlo > 0 or dhi < 0)})
    paired_df = pd.DataFrame(paired)
    for cond, d in paired_df[paired_df["method"] == "dro"].groupby("condition") if len(paired_df) else []:
        better = d[d["diff_ci_hi"] < 0]["n_atoms"].tolist()
        worse = d[d["diff_ci_lo"] > 0]["n_atoms"].tolist()
        if not better and not worse:
            text = "no significant difference between DRO and SAA at any size"
        else:
            text = (f"DRO significantly cheaper than SAA at n = {better}" if better else "") + \
                   ("; " if better and worse else "") + (f"DRO significantly dearer at n = {worse}" if worse else "")
        verdict[cond] = {"dro_cheaper_at": better, "dro_dearer_at": worse, "verdict": text}
    return pd.DataFrame(points), paired_df, verdict


__all__ = ["METHODS", "moment_two_point", "sizes_run", "plan_experiment", "summarise_experiment"]

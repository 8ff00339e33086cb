"""Day-by-day backtest of the ``dro`` policy over real held-out days (issue 17; Kedro-free).

For every test date ``d`` (a held-out joint day of the shared dated split: traffic and weather of the SAME
date, on/after both records' cut-offs) each method makes its day-ahead decision from training days only and
is scored on the real day ``d``:

1. **Scenarios conditioned on d's calendar**: ``n_train_days`` joint training days (before both cut-offs)
   of the same day type (weekday / weekend) and a month window ``|month - month(d)| <= month_window``
   (circular) are drawn with the day's seed; each takes a training-side price day (before the price
   cut-off) of the same day type and month where there is one (as :func:`evgrid.studies.dro.scenarios.
   dated_real_days` does). The base-load shape is the mean of the load training days of that day type and
   month window. The training days are reduced to ``dro.scenarios.n_nominal`` k-medoids atoms with the
   dro ground metric; its channel scales are those of the whole training pool of the day type (one
   metric for every day, so the CV radius means the same on each day).
2. **First stages** (integer commitment by relax-round-fix when ``dro.conventional.integer_commitment``),
   the same definitions as :func:`evgrid.studies.dro.model.solve_methods`: ``deterministic`` (the
   probability-weighted mean of the atoms), ``saa`` (the atoms), ``saa_all_days`` (every drawn training
   day, equal weights), ``dro_cv`` (Wasserstein DRO on the atoms at the radius the ``dro`` pipeline's
   cross-validation chose on its training days, or ``backtest.radius`` when a number).
3. **Evaluation on the real day**: each first stage is fixed and the recourse is solved on d's real traffic
   and weather with a real price day of the same calendar type from the held-out side of the price record
   (:class:`evgrid.studies.dro.evaluate.RecourseEvaluator`, the dro out-of-sample evaluation; AC losses
   charged ex post), then checked by the AC power flow (pandapower) for voltage and thermal violations.
   No price data overlap 2012-2017 (prices: NYISO 2019-2020), so the price day is from another year:
   its correlation with that day's traffic and weather is lost.

Days are independent tasks, fanned out with :func:`evgrid.compute.map_tasks` (seeds from the day's key,
one solver thread per task). Costs $ per day, energies kWh.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from evgrid import compute
from evgrid.data.features import daily_matrix
from evgrid.grid.ac_validation import validate_schedule_ac
from evgrid.grid.network import Network
from evgrid.optim.robust import (
    WassersteinBall,
    cvar,
)
from evgrid.runtime.summary import row
from evgrid.scenarios.pv import PVSystem, pv_kw_per_kwp
from evgrid.scenarios.split import SplitConfig, first_test_day
from evgrid.studies.dro.config import DroConfig, radius_or_keyword
from evgrid.studies.dro.evaluate import RecourseEvaluator
from evgrid.studies.dro.model import build_two_stage, solve_stats
from evgrid.studies.dro.scenarios import CHANNELS, RECORDS, ScenarioInputError
from evgrid.studies.dro.system import (
    DroSystem,
    FirstStage,
    ScenarioData,
    feature_blocks,
    make_system,
    to_model_data,
)
from evgrid.timeseries import block_mean
from evgrid.typed_params import typed

log = logging.getLogger(__name__)

METHODS = ("deterministic", "saa", "saa_all_days", "dro_cv")
# paired comparisons reported (method, baseline): d_i = cost_i(method) - cost_i(baseline) on the same day
COMPARISONS = (("dro_cv", "saa"), ("dro_cv", "saa_all_days"), ("dro_cv", "deterministic"),
               ("saa_all_days", "saa"))


@dataclass(frozen=True)
class BacktestConfig:
    """The ``backtest`` parameter block (sources and assumptions: conf/base/parameters_backtest.yml)."""

    seed: int = 42
    start_date: str | None = None
    n_days: int = 15
    weekend: bool | None = False
    month_window: int = 1
    n_train_days: int = 20
    radius: float | str = "dro_cv"
    ac_check: bool = True
    cvar_alpha: float = 0.95
    confidence: float = 0.95
    bootstrap_samples: int = 2000
    min_load_days: int = 4

    def __post_init__(self) -> None:
        if self.start_date is not None:
            try:
                object.__setattr__(self, "start_date", date.fromisoformat(str(self.start_date)[:10]).isoformat())
            except ValueError as e:
                raise ValueError(f"start_date must be a date (YYYY-MM-DD) or null, got {self.start_date!r}") from e
        for key, lo in (("n_days", 0), ("month_window", 0), ("n_train_days", 2), ("bootstrap_samples", 0),
                        ("min_load_days", 1)):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
                raise ValueError(f"{key} must be an integer >= {lo}, got {v!r}")
        if self.month_window > 6:
            raise ValueError(f"month_window must be <= 6 (6 = every month), got {self.month_window}")
        if self.weekend not in (None, True, False):
            raise ValueError(f"weekend must be true, false or null (both), got {self.weekend!r}")
        object.__setattr__(self, "radius", radius_or_keyword(
            self.radius, "dro_cv", "backtest.radius",
            "radius must be 'dro_cv' (the dro pipeline's CV radius) or a number >= 0"))
        for key in ("cvar_alpha", "confidence"):
            if not 0 < float(getattr(self, key)) < 1:
                raise ValueError(f"{key} must lie in (0, 1), got {getattr(self, key)}")

    @classmethod
    def from_params(cls, params: dict | None) -> BacktestConfig:
        return typed(cls, params, "backtest")


# ----------------------------------------------------------------------------------------------- plan
def _days(values) -> np.ndarray:
    return pd.to_datetime(np.asarray(values)).to_numpy("datetime64[D]")


def _month(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[M]").astype(int) % 12 + 1


def _weekend(days: np.ndarray) -> np.ndarray:
    return pd.DatetimeIndex(days).dayofweek.to_numpy() >= 5


def _in_window(months: np.ndarray, month: int, window: int) -> np.ndarray:
    """Months within ``window`` of ``month`` on the circle (December and January are neighbours)."""
    d = np.abs(months - month) % 12
    return np.minimum(d, 12 - d) <= window


def _sorted_finite(df: pd.DataFrame, name: str, channels: tuple[str, ...]) -> pd.DataFrame:
    if "date" not in df.columns:
        raise ScenarioInputError(f"feature matrix {name!r}: missing key column 'date'")
    out = df.sort_values("date").reset_index(drop=True)
    ok = np.ones(len(out), bool)
    for ch in channels:
        ok &= np.isfinite(daily_matrix(out, ch)).all(axis=1)
    return out[ok].reset_index(drop=True)


def _pick_price(rng, pool: np.ndarray, pool_month: np.ndarray, months: np.ndarray) -> tuple[np.ndarray, int]:
    """One price day per wanted month: same month where the pool has one (seeded), else any pool day."""
    out, matched = [], 0
    for mth in months:
        same = pool[pool_month == mth]
        matched += bool(len(same))
        out.append(rng.choice(same if len(same) else pool))
    return np.asarray(out, int), matched


@dataclass(frozen=True)
class _DayPool:
    """Sorted finite days of the four records for one plan: the joint traffic + weather days (``common``, their
    rows ``i_tr`` / ``i_we`` in the feature matrices, weekend flag, month), the price and load days with their
    training / test rows, and the channel matrices (day x 96 steps; PV per kWp only on the joint days used)."""

    common: np.ndarray
    i_tr: np.ndarray
    i_we: np.ndarray
    wk: np.ndarray
    mo: np.ndarray
    pr_d: np.ndarray
    pr_wk: np.ndarray
    pr_mo: np.ndarray
    pr_train: np.ndarray
    pr_test: np.ndarray
    ld_d: np.ndarray
    ld_wk: np.ndarray
    ld_mo: np.ndarray
    ld_train: np.ndarray
    flow: np.ndarray
    pv: np.ndarray
    wind: np.ndarray
    lbmp: np.ndarray
    load_mw: np.ndarray

    def channels(self, joint: np.ndarray, price_rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"flow_veh_per_h": self.flow[self.i_tr[joint]], "pv_kw_per_kwp": self.pv[self.i_we[joint]],
                "wind_speed_m_per_s": self.wind[self.i_we[joint]], "lbmp_usd_per_mwh": self.lbmp[price_rows]}

    def price_pool(self, side: np.ndarray, weekend: bool) -> np.ndarray:
        """Price rows of ``side`` of the day type (all of ``side`` when it has none)."""
        same = side[self.pr_wk[side] == weekend]
        return same if len(same) else side

    def date_rows(self, set_name: str, test_date, joint: np.ndarray, price_rows: np.ndarray) -> list[dict]:
        rows = []
        for j, c in zip(joint, price_rows, strict=True):
            day = self.common[j]
            for ch, src, dd in (("flow_veh_per_h", "traffic", day), ("pv_kw_per_kwp", "weather", day),
                                ("wind_speed_m_per_s", "weather", day), ("lbmp_usd_per_mwh", "price", self.pr_d[c])):
                rows.append({"set": set_name, "test_date": test_date, "channel": ch, "record": RECORDS[src],
                             "date": pd.Timestamp(dd)})
        return rows


def _cutoffs(traffic_daily, weather_daily, price_daily, load_daily, split: SplitConfig) -> dict:
    """First test day of each full record (:func:`evgrid.scenarios.split.first_test_day`, as gan and dro)."""
    cut = {src: first_test_day(df["date"], split, RECORDS[src])
           for src, df in (("traffic", traffic_daily), ("weather", weather_daily), ("price", price_daily))}
    cut["load"] = first_test_day(load_daily["date"], split, "load_daily")
    return cut


def _joint_split(common: np.ndarray, wk: np.ndarray, cut: dict, cfg: BacktestConfig) -> tuple:
    """Training pool (joint days before both cut-offs) and test days (on/after both, from ``start_date``, the
    first ``n_days``) of the day type; also the number of test days available."""
    lo, hi = min(cut["traffic"], cut["weather"]), max(cut["traffic"], cut["weather"])
    type_ok = np.ones(len(common), bool) if cfg.weekend is None else wk == bool(cfg.weekend)
    train_pool = np.flatnonzero((common < lo) & type_ok)
    test = np.flatnonzero((common >= hi) & type_ok)
    if cfg.start_date is not None:
        test = test[common[test] >= np.datetime64(cfg.start_date, "D")]
    n_avail = len(test)
    if cfg.n_days:
        test = test[: cfg.n_days]
    if len(test) == 0:
        raise ScenarioInputError(
            f"no held-out joint traffic+weather day on/after {max(hi, np.datetime64(cfg.start_date or hi, 'D'))} "
            f"with weekend={cfg.weekend}: change parameter 'backtest.start_date' or 'backtest.weekend'")
    return train_pool, test, n_avail


def _day_pool(tr: pd.DataFrame, we: pd.DataFrame, pr: pd.DataFrame, ld: pd.DataFrame, cut: dict,
              cfg: BacktestConfig, pv_system: dict) -> tuple[_DayPool, np.ndarray, np.ndarray, int]:
    """The :class:`_DayPool` of the sorted finite records with the training pool, test days and test days
    available."""
    tr_d, we_d, pr_d, ld_d = (_days(df["date"]) for df in (tr, we, pr, ld))
    common, i_tr, i_we = np.intersect1d(tr_d, we_d, return_indices=True)
    wk = _weekend(common)
    train_pool, test, n_avail = _joint_split(common, wk, cut, cfg)
    pr_train = np.flatnonzero(pr_d < cut["price"])
    pr_test = np.flatnonzero(pr_d >= cut["price"])
    ld_train = np.flatnonzero(ld_d < cut["load"])
    if not len(pr_train) or not len(pr_test) or not len(ld_train):
        raise ScenarioInputError("the dated split leaves no price training / price test / load training day: "
                                 "change parameter 'split'")
    ghi = daily_matrix(we, "ghi_w_per_m2")
    pv = np.full(ghi.shape, np.nan)  # PV per kWp (the gan pipeline's pvlib chain) of the joint days used
    rows_we = i_we[np.union1d(train_pool, test)]
    pv[rows_we] = pv_kw_per_kwp(ghi[rows_we], daily_matrix(we, "temp_air_c")[rows_we], we["date"].to_numpy()[rows_we],
                                PVSystem(**pv_system))
    pool = _DayPool(common=common, i_tr=i_tr, i_we=i_we, wk=wk, mo=_month(common), pr_d=pr_d, pr_wk=_weekend(pr_d),
                    pr_mo=_month(pr_d), pr_train=pr_train, pr_test=pr_test, ld_d=ld_d, ld_wk=_weekend(ld_d),
                    ld_mo=_month(ld_d), ld_train=ld_train, flow=daily_matrix(tr, "flow_veh_per_h"), pv=pv,
                    wind=daily_matrix(we, "wind_speed_m_per_s"), lbmp=daily_matrix(pr, "lbmp_usd_per_mwh"),
                    load_mw=daily_matrix(ld, "load_mw"))
    return pool, train_pool, test, n_avail


def _reference(pool: _DayPool, train_pool: np.ndarray, cfg: BacktestConfig) -> tuple[dict, list[dict]]:
    """Channels (and date rows) of every training joint day of the day type, each with a training-side price
    day of its type and month: the scales of the ground metric."""
    if len(train_pool) < 2:
        raise ScenarioInputError(f"the dated split leaves {len(train_pool)} joint training days with "
                                 f"weekend={cfg.weekend}: change parameter 'split' or 'backtest.weekend'")
    rng = np.random.default_rng(compute.task_seed(cfg.seed, "reference"))
    ref_price = np.zeros(len(train_pool), int)
    for w in (False, True):
        sel = pool.wk[train_pool] == w
        if sel.any():
            pp = pool.price_pool(pool.pr_train, w)
            ref_price[sel] = _pick_price(rng, pp, pool.pr_mo[pp], pool.mo[train_pool[sel]])[0]
    return pool.channels(train_pool, ref_price), pool.date_rows("reference", pd.NaT, train_pool, ref_price)


def _day_task(pool: _DayPool, j: int, train_pool: np.ndarray, cfg: BacktestConfig, n_nominal: int,
              aggregate_steps: int) -> tuple[dict, list[dict], int, bool]:
    """Task of test day ``common[j]`` (seeded by its date): ``n_train_days`` training days of its type and month
    window with price days, a held-out price day, the load shape; its date rows; whether the test price day is
    of the same month; whether the load shape fell back to the whole day type (< ``min_load_days`` days)."""
    day = pool.common[j]
    key = str(day)
    rng = np.random.default_rng(compute.task_seed(cfg.seed, key))
    weekend, month = bool(pool.wk[j]), int(pool.mo[j])
    cand = train_pool[(pool.wk[train_pool] == weekend) & _in_window(pool.mo[train_pool], month, cfg.month_window)]
    if len(cand) < max(2, n_nominal):
        raise ScenarioInputError(
            f"test date {key}: only {len(cand)} training days of the day type within "
            f"{cfg.month_window} month(s) (need >= {max(2, n_nominal)}): widen parameter 'backtest.month_window'")
    pick = np.sort(rng.choice(cand, size=min(cfg.n_train_days, len(cand)), replace=False))
    tp = pool.price_pool(pool.pr_train, weekend)
    train_price, _ = _pick_price(rng, tp, pool.pr_mo[tp], pool.mo[pick])
    sp = pool.price_pool(pool.pr_test, weekend)
    test_price, same = _pick_price(rng, sp, pool.pr_mo[sp], np.array([month]))
    ld_train = pool.ld_train
    lrows = ld_train[(pool.ld_wk[ld_train] == weekend) & _in_window(pool.ld_mo[ld_train], month, cfg.month_window)]
    fallback = len(lrows) < cfg.min_load_days
    if fallback:
        lrows = ld_train[pool.ld_wk[ld_train] == weekend]
    load_mw = pool.load_mw
    shape = block_mean(load_mw[lrows].mean(axis=0), load_mw.shape[1] // aggregate_steps, "dro.aggregate_steps")
    task = {
        "date": key, "weekend": weekend, "month": month,
        "train": pool.channels(pick, train_price), "test": pool.channels(np.array([j]), test_price),
        "load_profile": shape / shape.max(), "load_dates": [str(d) for d in pool.ld_d[lrows]],
        "train_dates": [str(d) for d in pool.common[pick]], "train_price_dates": [str(d) for d in pool.pr_d[train_price]],
        "test_price_date": str(pool.pr_d[test_price[0]]), "pool_days": int(len(cand)),
    }
    rows = pool.date_rows("train", pd.Timestamp(day), pick, train_price)
    rows += pool.date_rows("test", pd.Timestamp(day), np.array([j]), test_price)
    rows += [{"set": "train", "test_date": pd.Timestamp(day), "channel": "load_mw", "record": "load_daily",
              "date": pd.Timestamp(d)} for d in pool.ld_d[lrows]]
    return task, rows, same, fallback


def plan_backtest(traffic_daily: pd.DataFrame, weather_daily: pd.DataFrame, price_daily: pd.DataFrame,
                  load_daily: pd.DataFrame, dro: DroConfig, cfg: BacktestConfig, split: SplitConfig,
                  pv_system: dict) -> tuple[dict, pd.DataFrame, dict]:
    """Test dates and, per date, the training days, price days and load shape its decision may use.

    Returns ``plan`` (``tasks``: one plain-data task per test date with the raw 96-step channels of its
    training days and of the real test day, its load shape and dates; ``reference``: the channels of the
    whole training pool of the day type, for the ground metric's scales), ``dates`` (every date used:
    ``set`` in train / reference / test, ``test_date``, ``channel``, ``record``, ``date``) and counts.
    The cut-offs are :func:`evgrid.scenarios.split.first_test_day` of each full record, the same call as
    the ``gan`` and ``dro`` pipelines make.
    """
    tr = _sorted_finite(traffic_daily, "traffic_daily", ("flow_veh_per_h",))
    we = _sorted_finite(weather_daily, "weather_daily", ("ghi_w_per_m2", "temp_air_c", "wind_speed_m_per_s"))
    pr = _sorted_finite(price_daily, "price_daily", ("lbmp_usd_per_mwh",))
    ld = _sorted_finite(load_daily, "load_daily", ("load_mw",))
    cut = _cutoffs(traffic_daily, weather_daily, price_daily, load_daily, split)
    pool, train_pool, test, n_avail = _day_pool(tr, we, pr, ld, cut, cfg, pv_system)
    reference, rows = _reference(pool, train_pool, cfg)
    tasks, n_same_month, fallback_load = [], 0, 0
    n_nominal, k = int(dro.scenarios.n_nominal), int(dro.aggregate_steps)
    for j in test:
        task, day_rows, same, fallback = _day_task(pool, j, train_pool, cfg, n_nominal, k)
        tasks.append(task)
        rows += day_rows
        n_same_month += same
        fallback_load += fallback
    info = {f"cutoff_{RECORDS.get(k_, 'load_daily')}": str(v) for k_, v in cut.items()}
    info.update({"test_days": len(tasks), "test_days_available": int(n_avail),
                 "first_test_date": tasks[0]["date"], "last_test_date": tasks[-1]["date"],
                 "training_pool_days": int(len(train_pool)), "test_price_same_month": int(n_same_month),
                 "load_shape_fallback_days": int(fallback_load), "weekend": cfg.weekend,
                 "month_window": cfg.month_window, "n_train_days": cfg.n_train_days})
    log.info("backtest plan: %s", info)
    return {"tasks": tasks, "reference": reference}, pd.DataFrame(rows), info


# ------------------------------------------------------------------------------------------ one day
def solve_first_stages(sysm: DroSystem, train: ScenarioData, nominal: ScenarioData, p: np.ndarray,
                       distances: np.ndarray, radius: float, cfg: DroConfig, threads: int | None = None) -> dict:
    """First stage of every method (definitions of :func:`evgrid.studies.dro.model.solve_methods`), each with
    its solver outcome: integer commitment by :meth:`TwoStageModel.solve_integer` when configured."""
    lp = {**cfg.solver.options(), "threads": threads}
    mip = {**cfg.solver.mip_options(), "threads": threads}
    robust = cfg.robust
    models = {
        "deterministic": (build_two_stage(sysm, nominal.mean(p), name="deterministic"), np.nan),
        "saa": (build_two_stage(sysm, nominal, probabilities=p, name="saa"), np.nan),
        "saa_all_days": (build_two_stage(sysm, train, name="saa_all_days"), np.nan),
        "dro_cv": (build_two_stage(sysm, nominal, method="dro", ball=WassersteinBall(p, distances, radius),
                                   worst_case_weight=float(robust.worst_case_weight), name="dro",
                                   lambda_max=float(robust.lambda_max_usd)), float(radius)),
    }
    out = {}
    for name, (tsm, r) in models.items():
        if sysm.integer_commitment:
            tsm.solve_integer(lp, mip)
        else:
            tsm.solve(lp)
        out[name] = {"first_stage": tsm.first_stage(), "radius": r, "objective": float(tsm.result.objective),
                     **solve_stats(tsm.result)}
    return out


def evaluate_on_day(evaluator: RecourseEvaluator, fs: FirstStage, day: ScenarioData, sysm: DroSystem,
                    ac_check: bool = True) -> dict:
    """Recourse of the fixed first stage ``fs`` on one real day (the dro out-of-sample evaluation) and, with
    ``ac_check``, the AC power flow of the resulting operating point (voltage / thermal violations)."""
    res = evaluator.evaluate(fs, day, detail=ac_check)
    tab = res["table"].iloc[0]
    out = {k: float(tab[k]) for k in (
        "total_cost_usd", "first_stage_cost_usd", "recourse_cost_usd", "loss_cost_usd", "loss_kwh",
        "import_cost_usd", "lane_demand_kwh", "lane_served_kwh", "lane_unserved_kwh", "load_shed_kwh",
        "curtailed_kwh", "renewable_used_kwh", "conventional_kwh", "import_kwh", "renewable_shortfall_kwh",
        "v_min_pu", "v_max_pu")}
    gen = out["renewable_used_kwh"] + out["conventional_kwh"] + out["import_kwh"]
    out["renewable_share_paper"] = out["renewable_used_kwh"] / max(gen, 1e-9)
    out["shed_steps"] = np.nan
    out.update({"ac_v_min_pu": np.nan, "ac_v_max_pu": np.nan, "n_voltage_violations": np.nan,
                "n_thermal_violations": np.nan})
    if ac_check:
        steps = res["steps"]
        out["shed_steps"] = float((steps["load_shed_kw"] > 1e-6).sum())
        ac = validate_schedule_ac(sysm.network, res["p_net_kw"], res["q_net_kvar"], v_linear_pu=res["v_lin_pu"])
        s = ac.summary()
        out.update({"ac_v_min_pu": s["ac_v_min_pu"], "ac_v_max_pu": s["ac_v_max_pu"],
                    "n_voltage_violations": float(s["n_voltage_violations"]),
                    "n_thermal_violations": float(s["n_thermal_violations"])})
    return out


def reference_blocks(network: Network, plan: dict, cfg: DroConfig, step_minutes: int) -> dict[str, np.ndarray]:
    """Feature channels (:func:`feature_blocks`) of the whole training pool: the ground metric's scales."""
    n = 24 * 60 // int(step_minutes) // int(cfg.aggregate_steps)
    sysm = make_system(network, cfg, np.ones(n), step_minutes)
    return feature_blocks(to_model_data(plan["reference"], sysm, cfg)[0])


# ------------------------------------------------------------------------------------------- report
def paired_difference(a: np.ndarray, b: np.ndarray, confidence: float, n_boot: int, seed: int) -> dict:
    """Paired per-day difference ``d = a - b``: mean, SD, SE, t confidence interval and a seeded percentile
    bootstrap interval of the mean (``n_boot`` resamples of the days; 0 = none)."""
    from scipy import stats

    d = np.asarray(a, float) - np.asarray(b, float)
    n = len(d)
    mean = float(d.mean()) if n else np.nan
    sd = float(d.std(ddof=1)) if n > 1 else np.nan
    se = sd / np.sqrt(n) if n > 1 else np.nan
    h = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se if n > 1 else np.nan
    out = {"n_days": n, "mean_diff_usd": mean, "sd_diff_usd": sd, "se_diff_usd": se,
           "t_ci_lo_usd": mean - h, "t_ci_hi_usd": mean + h, "boot_ci_lo_usd": np.nan, "boot_ci_hi_usd": np.nan,
           "share_days_cheaper": float((d < 0).mean()) if n else np.nan}
    if n > 1 and n_boot > 0:
        rng = np.random.default_rng(seed)
        means = d[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
        tail = (1 - confidence) / 2
        out["boot_ci_lo_usd"], out["boot_ci_hi_usd"] = (float(x) for x in np.quantile(means, [tail, 1 - tail]))
    return out


def summarise(daily: pd.DataFrame, bt: BacktestConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Per method the distribution over days; paired per-day differences with t and bootstrap CIs; the
    flat MLflow metrics."""
    rows = []
    for method in METHODS:
        d = daily[daily["method"] == method].sort_values("date")
        if d.empty:
            continue
        c = d["total_cost_usd"].to_numpy()
        viol = d[["n_voltage_violations", "n_thermal_violations"]].fillna(0).sum(axis=1)
        rows.append({
            "method": method, "radius": float(d["radius"].iloc[0]), "n_days": len(d),
            "mean_cost_usd": float(c.mean()), "se_cost_usd": float(c.std(ddof=1) / np.sqrt(len(c))) if len(c) > 1
            else np.nan, "sd_cost_usd": float(c.std(ddof=1)) if len(c) > 1 else np.nan,
            "median_cost_usd": float(np.median(c)), "p05_cost_usd": float(np.quantile(c, 0.05)),
            "p95_cost_usd": float(np.quantile(c, 0.95)), "max_cost_usd": float(c.max()),
            f"cvar{round(bt.cvar_alpha * 100)}_cost_usd": cvar(c, bt.cvar_alpha),
            "mean_lane_unserved_kwh": float(d["lane_unserved_kwh"].mean()),
            "p95_lane_unserved_kwh": float(np.quantile(d["lane_unserved_kwh"], 0.95)),
            "lane_served_share": float(d["lane_served_kwh"].sum() / max(d["lane_demand_kwh"].sum(), 1e-9)),
            "days_with_load_shed": int((d["load_shed_kwh"] > 1e-6).sum()),
            "total_load_shed_kwh": float(d["load_shed_kwh"].sum()),
            # NaN (not 0) when the AC check is off (backtest.ac_check: false)
            "voltage_violations": float(d["n_voltage_violations"].sum(min_count=1)),
            "thermal_violations": float(d["n_thermal_violations"].sum(min_count=1)),
            "days_with_ac_violation": float((viol > 0).sum()) if d["n_voltage_violations"].notna().any() else np.nan,
            "ac_v_min_pu": float(d["ac_v_min_pu"].min()), "ac_v_max_pu": float(d["ac_v_max_pu"].max()),
            "mean_loss_cost_usd": float(d["loss_cost_usd"].mean()),
            "mean_renewable_share_paper": float(d["renewable_share_paper"].mean()),
            "mean_mip_gap": float(d["mip_gap"].mean()), "all_integer": bool(d["integer_commitment"].all()),
        })
    summary = pd.DataFrame(rows)
    wide = daily.pivot_table(index="date", columns="method", values="total_cost_usd")
    paired = []
    for i, (a, b) in enumerate(COMPARISONS):
        if a in wide and b in wide:
            both = wide[[a, b]].dropna()
            paired.append({"method": a, "baseline": b, **paired_difference(
                both[a].to_numpy(), both[b].to_numpy(), bt.confidence, bt.bootstrap_samples,
                compute.task_seed(bt.seed, ["bootstrap", a, b, i]))})
    paired = pd.DataFrame(paired)
    metrics: dict = {}
    cv_col = f"cvar{round(bt.cvar_alpha * 100)}_cost_usd"
    for _, r in summary.iterrows():
        for col in ("mean_cost_usd", cv_col, "mean_lane_unserved_kwh", "days_with_load_shed", "voltage_violations",
                    "thermal_violations"):
            metrics[f"{r['method']}_{col}"] = float(r[col])
    for _, r in paired.iterrows():
        for col in ("mean_diff_usd", "t_ci_lo_usd", "t_ci_hi_usd", "boot_ci_lo_usd", "boot_ci_hi_usd"):
            metrics[f"diff_{r['method']}_vs_{r['baseline']}_{col}"] = float(r[col])
    metrics["days"] = float(daily["date"].nunique())
    return summary, paired, {k: {"value": v, "step": 0} for k, v in metrics.items() if np.isfinite(v)}


def plot_backtest(daily: pd.DataFrame, paired: pd.DataFrame):
    """Left: daily cost per method (box + days); right: per-day DRO - SAA difference with the mean and its t
    confidence interval."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55],
                        subplot_titles=("Daily cost on the real held-out days ($/day)",
                                        "Paired per-day difference DRO (CV radius) - SAA ($/day)"))
    for method in METHODS:
        d = daily[daily["method"] == method]
        fig.add_trace(go.Box(y=d["total_cost_usd"], name=method, boxpoints="all", jitter=0.4,
                             text=d["date"].dt.strftime("%Y-%m-%d"), showlegend=False), row=1, col=1)
    wide = daily.pivot_table(index="date", columns="method", values="total_cost_usd").sort_index()
    for base, colour in (("saa", "#1f77b4"), ("saa_all_days", "#ff7f0e")):
        if "dro_cv" not in wide or base not in wide:
            continue
        diff = wide["dro_cv"] - wide[base]
        fig.add_trace(go.Bar(x=wide.index, y=diff, name=f"dro_cv - {base}", marker_color=colour, opacity=0.6),
                      row=1, col=2)
        p = paired[(paired["method"] == "dro_cv") & (paired["baseline"] == base)]
        if len(p):
            r = p.iloc[0]
            for y, dash in ((r["mean_diff_usd"], "solid"), (r["t_ci_lo_usd"], "dot"), (r["t_ci_hi_usd"], "dot")):
                fig.add_trace(go.Scatter(x=[wide.index.min(), wide.index.max()], y=[y, y], mode="lines",
                                         line={"color": colour, "dash": dash}, showlegend=False,
                                         hovertext=f"dro_cv - {base}: mean {r['mean_diff_usd']:.0f} $, 95 % t CI "
                                                   f"[{r['t_ci_lo_usd']:.0f}, {r['t_ci_hi_usd']:.0f}]"), row=1, col=2)
    fig.update_yaxes(title_text="$ per day", row=1, col=1)
    fig.update_yaxes(title_text="$ per day (negative: DRO cheaper)", row=1, col=2)
    fig.update_layout(title="Backtest of the dro policy on real held-out days (integer commitment)", barmode="group")
    return fig


def summary_rows(load) -> list[dict]:
    """End-of-run summary rows (:mod:`evgrid.runtime.summary`): mean daily cost per method over the backtest
    days and the paired DRO - SAA difference with its confidence interval (the paper reports none)."""
    summary, paired = load("backtest_summary"), load("backtest_paired")
    if summary is None or paired is None or summary.empty:
        return []
    out = [row(f"mean daily cost, {r['method']} ({int(r['n_days'])} real held-out days)", r["mean_cost_usd"], None,
               "$/day") for _, r in summary.iterrows()]
    for _, r in paired.iterrows():
        if r["method"] == "dro_cv":
            out.append(row(f"{r['method']} - {r['baseline']} per day [95 % t CI {r['t_ci_lo_usd']:.0f}, "
                           f"{r['t_ci_hi_usd']:.0f}]", r["mean_diff_usd"], None, "$/day"))
    return out


__all__ = ["BacktestConfig", "CHANNELS", "METHODS", "evaluate_on_day", "paired_difference",
           "plan_backtest", "plot_backtest", "reference_blocks", "solve_first_stages", "summarise", "summary_rows"]

"""Planning study entry points and result tables (one function per catalogued output)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from evgrid.grid.ac_validation import validate_schedule_ac
from evgrid.studies.planning import runs
from evgrid.studies.planning.model import Evaluation
from evgrid.studies.planning.runs import cost_row
from evgrid.studies.planning.search import METHODS
from evgrid.studies.planning.system import PlanningSystem


def _t_ci(d: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % t confidence interval of paired differences."""
    d = np.asarray(d, float)
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return float(np.mean(d)) if len(d) else float("nan"), float("nan"), float("nan")
    h = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean()), float(d.mean() - h), float(d.mean() + h)


def capacity_plan(system: PlanningSystem, result: dict) -> pd.DataFrame:
    """Per method and station: unit power beside its corridor's traffic (peak-period road flow and v/c of the
    station's link, charges per day and peak utilisation of the station)."""
    rows = []
    w = system.periods["duration_h"].to_numpy()
    links = system.stations["road_link"].to_numpy()
    cap = system.roads.capacity[links]
    for method, ev in result["best"].items():
        peak = max(ev.periods, key=lambda pr: float(pr.road_flow.sum()))
        charges = np.array([pr.station_flow_veh_per_h for pr in ev.periods]).T @ w
        for k, s in enumerate(system.stations.itertuples()):
            rows.append({"method": method, "station": s.station, "init_node": s.init_node, "term_node": s.term_node,
                         "bus": s.bus, "capacity_kw": round(float(ev.capacity_kw[k]), 2),
                         "corridor_peak_flow_veh_per_h": float(peak.road_flow[links[k]]),
                         "corridor_peak_v_over_c": float(peak.road_flow[links[k]] / cap[k]),
                         "charges_per_day": float(charges[k]),
                         "peak_utilisation": float(peak.station_kw[k] / (system.config.station.units * ev.capacity_kw[k]))})
    return pd.DataFrame(rows)


def social_cost(result: dict) -> pd.DataFrame:
    """Headline seed, each method's best plan and the uniform plan (Case 2), final UE gap: cost components
    ($/day), their breakdown and the revenue check."""
    rows = []
    for method, ev in result["best"].items():
        rows.append({"method": method, **cost_row(ev), "revenue_covers_grid_cost": ev.revenue_ok,
                     "max_voltage_deviation_pct": float(max(100 * abs(pr.opf.v_pu - 1.0).max() for pr in ev.periods))})
    return pd.DataFrame(rows)


def convergence(result: dict) -> pd.DataFrame:
    """Objective and best-so-far vs number of exact evaluations, per method and seed (inf = OPF-infeasible)."""
    frames = []
    for (method, seed), sr in result["searches"].items():
        obj = np.asarray(sr.objectives, dtype=float)
        frames.append(pd.DataFrame({"method": method, "seed": seed, "evaluation": np.arange(1, len(obj) + 1),
                                    "objective_usd": obj, "best_usd": np.minimum.accumulate(obj)}))
    return pd.concat(frames, ignore_index=True)


def search_comparison(result: dict) -> pd.DataFrame:
    """Paired (by seed) differences of the best objective found, with 95 % t CIs; ``uniform`` = each seed's
    Case 2 plan (all stations at the mean power of that seed's surrogate plan)."""
    seeds = result["seeds"]
    best = {m: np.array([result["searches"][(m, s)].best_objective for s in seeds]) for m in METHODS}
    best["uniform"] = np.array([objective_or_nan(result["uniform"][s]) for s in seeds])
    rows = []
    for a, b in (("surrogate_gp", "uniform"), ("surrogate_gp", "random"), ("surrogate_gp", "local_search"),
                 ("local_search", "random"), ("random", "uniform")):
        d = best[a] - best[b]
        m, lo, hi = _t_ci(d)
        rows.append({"comparison": f"{a} - {b}", "n_seeds": int(np.isfinite(d).sum()), "mean_usd_per_day": m,
                     "ci95_lo": lo, "ci95_hi": hi, "mean_pct": 100 * m / float(np.nanmean(best[b])),
                     "a_better_in": int((d < -1e-6).sum()), "tie_in": int((np.abs(d) <= 1e-6).sum()),
                     "significant": bool(np.isfinite(lo) and (hi < 0 or lo > 0))})
    for m, v in best.items():
        rows.append({"comparison": f"{m} (mean best)", "n_seeds": len(v), "mean_usd_per_day": float(np.nanmean(v)),
                     "ci95_lo": _t_ci(v)[1], "ci95_hi": _t_ci(v)[2]})
    return pd.DataFrame(rows)


def objective_or_nan(ev: Evaluation | None) -> float:
    return float("nan") if ev is None else ev.total_usd_per_day


def landscape(system: PlanningSystem, result: dict) -> pd.DataFrame:
    """Cost of every one-station change around the optimised plan (search gap), with the budget check."""
    best = result["searches"][("surrogate_gp", result["seeds"][0])]
    rows = []
    budget = system.config.upper.budget_usd
    for name, lv, plan, ev in result["landscape"]:
        k = list(system.stations["station"]).index(name)
        tot = objective_or_nan(ev)
        rows.append({"station": name, "from_kw": float(best.best_plan[k]), "to_kw": lv, "total_usd_per_day": tot,
                     "delta_vs_optimum_usd": tot - best.best_objective,
                     "within_budget": bool(system.capex_usd(plan).sum() <= budget + 1e-6)})
    return pd.DataFrame(rows)


def period_tables(system: PlanningSystem, ev: Evaluation) -> dict[str, pd.DataFrame]:
    """Link flows, station loads/prices, voltages, nodal prices and the fixed-point log of one plan."""
    links, stations, volt, price, fp = [], [], [], [], []
    rl = system.roads.links
    for pr in ev.periods:
        links.append(pd.DataFrame({"period": pr.period, "init_node": rl["init_node"], "term_node": rl["term_node"],
                                   "flow_veh_per_h": pr.road_flow, "time_h": pr.road_time_h,
                                   "v_over_c": pr.road_flow / system.roads.capacity}))
        st = system.stations
        stations.append(pd.DataFrame({
            "period": pr.period, "station": st["station"], "bus": st["bus"], "capacity_kw": ev.capacity_kw,
            "flow_veh_per_h": pr.station_flow_veh_per_h, "load_kw": pr.station_kw,
            "utilisation": pr.station_kw / (system.config.station.units * ev.capacity_kw),
            "price_usd_per_mwh": pr.station_price_usd_per_kwh * 1000.0,
        }))
        volt.append(pd.DataFrame({"period": pr.period, "bus": pr.opf.v_pu.index, "v_socp_pu": pr.opf.v_pu.to_numpy()}))
        price.append(pd.DataFrame({"period": pr.period, "bus": pr.opf.lmp_usd_per_mwh.index,
                                   "nodal_price_usd_per_mwh": pr.opf.lmp_usd_per_mwh.to_numpy()}))
        fp.append({"period": pr.period, "fixed_point_iterations": pr.fixed_point_iterations,
                   "price_residual_usd_per_mwh": pr.residual_usd_per_mwh, "ue_relative_gap": pr.ue_gap,
                   "socp_relaxation_gap_pu": pr.opf.relaxation_gap_pu,
                   "socp_relaxation_gap_rel": pr.opf.relaxation_gap_rel, "loss_kw": pr.opf.loss_kw,
                   "import_kw": pr.opf.import_kw, "v_min_pu": float(pr.opf.v_pu.min())})
    return {"link_flows": pd.concat(links, ignore_index=True), "station_loads": pd.concat(stations, ignore_index=True),
            "voltages": pd.concat(volt, ignore_index=True), "nodal_prices": pd.concat(price, ignore_index=True),
            "fixed_point": pd.DataFrame(fp)}


def ac_check(system: PlanningSystem, ev: Evaluation, voltages: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """pandapower AC power flow of every period's bus loads; adds ``v_ac_pu`` to ``voltages``."""
    periods = [pr.period for pr in ev.periods]
    p = pd.DataFrame([pr.p_load_kw for pr in ev.periods], index=periods)
    q = pd.DataFrame([pr.q_load_kvar for pr in ev.periods], index=periods)
    v_lin = voltages.pivot(index="period", columns="bus", values="v_socp_pu").loc[periods]
    rep = validate_schedule_ac(system.grid, p, q, v_linear_pu=v_lin)
    v_ac = rep.v_ac_pu.copy()
    v_ac.index = periods
    long = v_ac.stack().rename("v_ac_pu").reset_index()
    long.columns = ["period", "bus", "v_ac_pu"]
    out = voltages.merge(long, on=["period", "bus"], how="left")
    summary = rep.summary()
    summary["max_abs_dv_socp_vs_ac_pu"] = float((out["v_socp_pu"] - out["v_ac_pu"]).abs().max())
    summary["max_voltage_deviation_pct"] = float(100 * (out["v_ac_pu"] - 1.0).abs().max())
    return out, summary


def ev_share_sweep(system: PlanningSystem, capacity_kw: np.ndarray) -> pd.DataFrame:
    """Mean nodal price (duration-weighted, over buses) and station energy vs EV share, for one plan
    (evaluations: :func:`evgrid.studies.planning.runs.ev_share_evaluations`; NaN where the OPF is infeasible)."""
    rows = []
    w = system.periods["duration_h"]
    for share, ev in runs.ev_share_evaluations(system, capacity_kw).items():
        if ev is None:
            rows.append({"ev_share": share, "mean_nodal_price_usd_per_mwh": np.nan,
                         "station_energy_mwh_per_day": np.nan, "total_usd_per_day": np.nan, "opf_feasible": False})
            continue
        lmp = np.array([pr.opf.lmp_usd_per_mwh.mean() for pr in ev.periods])
        st = np.array([float(pr.station_kw.sum()) for pr in ev.periods])
        rows.append({"ev_share": share, "mean_nodal_price_usd_per_mwh": float(np.average(lmp, weights=w)),
                     "station_energy_mwh_per_day": float(st @ w.to_numpy() / 1000.0),
                     "total_usd_per_day": ev.total_usd_per_day, "opf_feasible": True})
    return pd.DataFrame(rows)


def metrics(result: dict, costs: pd.DataFrame, fixed_point: pd.DataFrame, ac_summary: dict,
            comparison: pd.DataFrame | None = None) -> dict:
    """Flat key numbers for MLflow (incl. the paired search comparison over seeds)."""
    c = costs.set_index("method")["total_usd_per_day"]
    sur = [m for m in c.index if m.startswith("surrogate")][0]
    out = {f"total_usd_per_day_{m}": float(v) for m, v in c.items()}
    out["saving_vs_uniform_pct"] = float(100 * (c["uniform"] - c[sur]) / c["uniform"])
    out["upper_level_wall_s"] = float(result["wall_s"])
    out["max_fixed_point_iterations"] = float(fixed_point["fixed_point_iterations"].max())
    out["max_socp_relaxation_gap_rel"] = float(fixed_point["socp_relaxation_gap_rel"].max())
    out.update({f"ac_{k}" if not k.startswith("ac_") else k: float(v) for k, v in ac_summary.items()})
    if comparison is not None:
        for r in comparison[comparison["comparison"].str.contains(" - ")].itertuples():
            key = r.comparison.replace(" - ", "_minus_")
            out[f"{key}_mean_usd"], out[f"{key}_ci_lo_usd"], out[f"{key}_ci_hi_usd"] = (
                r.mean_usd_per_day, r.ci95_lo, r.ci95_hi)
    return out


def v2g_variant(system: PlanningSystem, ev: Evaluation) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The plan's lower-level equilibrium with and without V2G at the stations (one multi-period SOCP each,
    :func:`evgrid.studies.planning.runs.v2g_solves`): daily grid cost, peak import, mean nodal price and V2G
    energy per variant, and the V2G schedule. The nodal prices' feedback on routing is not iterated for the
    variant (limit stated in docs/planning.md).
    """
    per = system.periods
    w = per["duration_h"].to_numpy()
    rows, sched = [], []
    for variant, (limit_kw, out) in runs.v2g_solves(system, ev).items():
        rows.append({"variant": variant, "grid_usd_per_day": out["cost_usd"],
                     "peak_import_kw": float(out["import_kw"].max()),
                     "mean_nodal_price_usd_per_mwh": float(np.average(out["lmp_usd_per_mwh"].mean(axis=1), weights=w)),
                     "v2g_discharged_kwh_per_day": float(out["discharge_kw"].sum(axis=1) @ w)})
        if variant == "v2g":
            for t, period in enumerate(per.index):
                for s, name in enumerate(system.stations["station"]):
                    sched.append({"period": period, "station": name, "charge_kw": out["charge_kw"][t, s],
                                  "discharge_kw": out["discharge_kw"][t, s], "limit_kw": limit_kw[t, s]})
    return pd.DataFrame(rows), pd.DataFrame(sched)


def summary_rows(load) -> list[dict]:
    """End-of-run summary rows (:mod:`evgrid.runtime.summary`): social cost per method beside the press article."""
    from evgrid.runtime.summary import row

    cost = load("planning_social_cost")
    if cost is None:
        return []
    by = cost.set_index("method")["total_usd_per_day"]
    paper = {"surrogate_gp": 444_140.0, "uniform": 448_090.0}  # seed 003: optimised vs uniform (Case 2)
    out = [row(f"social cost, {m}", float(v), paper.get(m), "$/day") for m, v in by.items()]
    if {"surrogate_gp", "uniform"} <= set(by.index):
        out.append(row("surrogate vs uniform", 100.0 * (by["surrogate_gp"] / by["uniform"] - 1.0),
                       100.0 * (444_140.0 / 448_090.0 - 1.0), "%"))
    return out

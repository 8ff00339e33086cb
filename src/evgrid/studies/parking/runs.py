"""The study's runs: paper scenarios (Table V), PV sweep (Table VII), stochastic day-ahead on held-out days.

Each returns plain DataFrames / dicts (the pipeline nodes only pass them on). Every schedule is evaluated by
the exact evaluator of :mod:`.report`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evgrid.grid.network import Network
from evgrid.studies.parking import model as M
from evgrid.studies.parking import report as R
from evgrid.studies.parking.config import ParkingConfig
from evgrid.studies.parking.system import (
    ParkingSystem,
    build_system,
    check_lot_feasibility,
    gan_days,
    prepare_day,
    real_days,
    workplace_sessions,
)

log = logging.getLogger(__name__)


@dataclass
class ParkingInputs:
    system: ParkingSystem
    scenario_day: object
    stochastic_days: list
    heldout_days: list


def prepare_inputs(network: Network, prices: pd.DataFrame, load_daily: pd.DataFrame, ev_features: pd.DataFrame,
                   weather_daily: pd.DataFrame, ev_times: pd.DataFrame, pv: pd.DataFrame, cfg: ParkingConfig,
                   pv_system) -> tuple[ParkingInputs, pd.DataFrame]:
    """System, the prepared GAN days (scenario day + stochastic days) and held-out real days, with the
    up-front lot feasibility check of every day; returns the inputs and a per-day summary (counts)."""
    system = build_system(network, prices, load_daily, cfg)
    sessions = workplace_sessions(ev_features, cfg)
    st = cfg.study
    n_gan = max(st.scenario_day + 1, st.stochastic_days)
    days = gan_days(ev_times, pv, sessions, cfg, n_gan)
    preps = [prepare_day(d, cfg) for d in days]
    held = [prepare_day(d, cfg) for d in real_days(sessions, weather_daily, cfg, pv_system)]
    rows = []
    for prep in preps + held:
        feas = check_lot_feasibility(system, prep, pv_scale=min(st.pv_sweep_pct) / 100.0)
        rows.append({"day": prep.day.name, "kind": prep.day.kind, **prep.counts,
                     "pv_kwh_per_kwp": float(prep.day.pv_kw_per_kwp.sum()),
                     "ambient_max_c": float(prep.day.ambient_c.max()),
                     "min_lot_margin_kwh": float(feas["min_margin_kwh"].min())})
    summary = pd.DataFrame(rows)
    log.info("parking inputs: %s", summary.to_dict("records"))
    return ParkingInputs(system=system, scenario_day=preps[st.scenario_day],
                         stochastic_days=preps[:st.stochastic_days], heldout_days=held), summary


def _row(sched: dict, costs: pd.DataFrame, check: dict, wall: float) -> dict:
    solve = sched.get("solve", {})
    row = costs.drop(columns=["day"]).mean(numeric_only=True).to_dict()
    terms = sched.get("model_terms")
    if terms:
        model_obj = sum(terms.values())
        row["model_objective_usd"] = model_obj
        row["model_vs_exact_objective"] = (model_obj - row["objective_usd"]) / row["objective_usd"]
        row["model_vs_exact_loss_cost"] = (terms["c_loss"] - row["loss_cost_usd"]) / row["loss_cost_usd"]
    plan = sched["branch_status"]
    actions = M.switching_actions(plan, None)
    row |= {"solve_status": solve.get("status"), "mip_gap": solve.get("mip_gap"), "plan_source": solve.get("source"),
            "milp_status": solve.get("milp_status"), "max_switch_actions_per_day": int(actions.max()),
            "wall_s": wall} | {f"check_{k}": v for k, v in check.items()}
    return row


def run_scenarios(inputs: ParkingInputs, cfg: ParkingConfig) -> dict:
    """base, s1..s4 on the scenario day (Table V); returns costs, schedules (long), switching, details."""
    system, prep = inputs.system, inputs.scenario_day
    scen = cfg.study.scenarios
    t0 = time.perf_counter()
    pm = M.build_model(system, [prep])
    results = {}
    if "base" in scen:
        results["base"] = R.base_schedule(system, prep)
    for sc in ("s1", "s2", "s3"):
        if sc in scen or (sc == "s3" and "s4" in scen):
            t = time.perf_counter()
            results[sc] = M.solve_scenario(pm, sc, cfg.solver)
            results[sc]["wall_s"] = time.perf_counter() - t
    if "s4" in scen:
        t = time.perf_counter()
        results["s4"] = M.solve_s4(pm, cfg.solver, start_from=results["s3"],
                                   milp_time_limit_s=cfg.model.milp_time_limit_s)
        results["s4"]["wall_s"] = time.perf_counter() - t
    rows, details, schedules = [], [], []
    for sc in scen:
        sched = results[sc]
        costs, det, check = R.evaluate_schedule(system, [prep], sched)
        rows.append({"scenario": sc} | _row(sched, costs, check, sched.get("wall_s", 0.0)))
        details.append(det.assign(scenario=sc))
        schedules.append(_long_schedule(sched, system).assign(scenario=sc))
    costs = pd.DataFrame(rows)
    plan = results["s4"]["branch_status"] if "s4" in results else None
    log.info("parking scenarios done in %.0f s", time.perf_counter() - t0)
    return {"costs": costs, "details": pd.concat(details, ignore_index=True),
            "schedules": pd.concat(schedules, ignore_index=True),
            "switching": switching_table(plan, system) if plan is not None else pd.DataFrame(),
            "s4": results.get("s4"), "pm": pm}


def _long_schedule(sched: dict, system: ParkingSystem) -> pd.DataFrame:
    day = sched["days"][0]
    out = []
    for n in system.lots.index:
        out.append(pd.DataFrame({"hour": np.arange(24), "lot": n, "p_ev_kw": day["p_ev_kw"][n].to_numpy(),
                                 "q_ev_kvar": day["q_ev_kvar"][n].to_numpy()}))
    return pd.concat(out, ignore_index=True)


def switching_table(plan: pd.DataFrame, system: ParkingSystem) -> pd.DataFrame:
    """Open switches per hour (paper Table VI shape): hour, open branch ids and their bus pairs."""
    br = system.network.branches
    rows = []
    for h, st in plan.iterrows():
        off = [int(i) for i in st.index[~st.to_numpy(bool)]]
        rows.append({"hour": int(h) + 1, "open_branch_ids": " ".join(map(str, off)),
                     "open_switches": " ".join(f"{br.at[i, 'from_bus']}-{br.at[i, 'to_bus']}" for i in off)})
    return pd.DataFrame(rows)


def run_pv_sweep(inputs: ParkingInputs, scenario_results: dict, cfg: ParkingConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scenario 4 at each PV penetration (Table VII), on the scenario day's model (PV is a mutable Param);
    returns the cost table and the hourly EV / PV / feeder power per level (Fig. 11)."""
    pm = scenario_results["pm"]
    s4 = scenario_results["s4"]
    rows, profiles = [], []
    for pct in cfg.study.pv_sweep_pct:
        t = time.perf_counter()
        if pct == 100 and s4 is not None:
            sched = s4
        else:
            # plan screened on the 100 % schedule's EV loads with this level's PV (one LP per level)
            sched = M.solve_s4(pm, cfg.solver, pv_scale=pct / 100.0, start_from=s4,
                               milp_time_limit_s=cfg.model.milp_time_limit_s if cfg.model.milp_in_sweep else None)
        costs, det, check = R.evaluate_schedule(inputs.system, [inputs.scenario_day], sched)
        rows.append({"pv_penetration_pct": pct} | _row(sched, costs, check, time.perf_counter() - t))
        hourly = det.groupby("hour")[["p_ev_kw", "pv_kw"]].sum()
        hourly["feeder_load_kw"] = inputs.system.load_p_kw.sum(axis=1).to_numpy() + hourly["p_ev_kw"] - hourly["pv_kw"]
        profiles.append(hourly.reset_index().assign(pv_penetration_pct=pct))
    return pd.DataFrame(rows), pd.concat(profiles, ignore_index=True)


def run_stochastic(inputs: ParkingInputs, cfg: ParkingConfig, scenario_results: dict
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stochastic day-ahead switching plan on several GAN days, evaluated on real held-out days.

    First stage: the hourly switch plan (shared by all GAN days); second stage: each day's P/Q dispatch.
    On each held-out day the EV dispatch is re-optimised with that day's EVs and PV (the lots' own
    scheduling) under (a) the stochastic plan, (b) the deterministic plan of the single scenario day, and
    compared with (c) uncoordinated charging, paired by day. Held-out days never enter the plan. Returns the
    per-day table, the paired summary and the stochastic plan's open switches per hour.
    """
    system = inputs.system
    t0 = time.perf_counter()
    pm = M.build_model(system, inputs.stochastic_days)
    # first stage screened on every GAN day's scenario-3 dispatch (expected loss cost), then the 2nd-stage LP
    start = M.solve_scenario(pm, "s3", cfg.solver)
    stoch = M.solve_s4(pm, cfg.solver, start_from=start,
                       milp_time_limit_s=cfg.model.milp_time_limit_s if cfg.model.milp_in_stochastic else None)
    plans = {"stochastic": stoch["branch_status"], "deterministic": scenario_results["s4"]["branch_status"]}
    rows = []
    for prep in inputs.heldout_days:
        base = R.base_schedule(system, prep)
        costs, _, _ = R.evaluate_schedule(system, [prep], base)
        rows.append({"day": prep.day.name, "policy": "uncoordinated"} | costs.iloc[0].drop("day").to_dict())
        pmh = M.build_model(system, [prep])
        done = {}
        for name, plan in plans.items():
            key = plan.to_numpy(bool).tobytes()
            if key not in done:  # identical plans: one solve
                sched = M.solve_scenario(pmh, "s4", cfg.solver, switch_plan=plan)
                done[key] = R.evaluate_schedule(system, [prep], sched)
            costs, _, check = done[key]
            rows.append({"day": prep.day.name, "policy": f"{name}_plan"} | costs.iloc[0].drop("day").to_dict()
                        | {f"check_{k}": v for k, v in check.items()})
    per_day = pd.DataFrame(rows)
    summary = []
    piv = per_day.pivot(index="day", columns="policy", values="objective_usd")
    for a, b in (("stochastic_plan", "uncoordinated"), ("stochastic_plan", "deterministic_plan"),
                 ("deterministic_plan", "uncoordinated")):
        if a in piv and b in piv:
            mean, lo, hi = R.paired_ci((piv[a] - piv[b]).to_numpy())
            summary.append({"comparison": f"{a} - {b}", "metric": "objective_usd", "n_days": len(piv),
                            "mean_diff_usd": mean, "ci95_low_usd": lo, "ci95_high_usd": hi,
                            "mean_rel": float(((piv[a] - piv[b]) / piv[b]).mean())})
    log.info("parking stochastic day-ahead + held-out evaluation in %.0f s", time.perf_counter() - t0)
    stoch_row = {"comparison": "stochastic plan solve", "metric": "model_objective_usd",
                 "n_days": len(inputs.stochastic_days), "mean_diff_usd": stoch["solve"]["objective_model_usd"],
                 "ci95_low_usd": np.nan, "ci95_high_usd": np.nan, "mean_rel": np.nan}
    return per_day, pd.DataFrame(summary + [stoch_row]), switching_table(plans["stochastic"], system)

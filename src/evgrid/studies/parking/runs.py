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
    representative_pv_day,
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
    k = representative_pv_day(pv) if st.scenario_day == "representative" else int(st.scenario_day)
    n_gan = max(k + 1, st.stochastic_days)
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
    return ParkingInputs(system=system, scenario_day=preps[k],
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
    row |= {"solve_status": solve.get("status"), "mip_gap": solve.get("mip_gap"),
            "milp_bound_usd": solve.get("milp_bound_usd"), "plan_source": solve.get("source"),
            "milp_status": solve.get("milp_status"), "max_switch_actions_per_day": int(actions.max())} \
        | {f"check_{k}": v for k, v in check.items()}
    log.info("parking %s: solved in %.1f s", sched.get("scenario"), wall)  # wall clock: logged, not in the tables
    return row


def _solver(cfg: ParkingConfig) -> dict:
    """The study's solver options with the task's thread budget (evgrid.compute: 1 per task)."""
    from evgrid import compute

    opts = dict(cfg.solver)
    threads = compute.solver_threads(opts.get("threads"))
    if threads is not None:
        opts["threads"] = threads
    return opts


def _scenario_task(task: str, shared: tuple) -> dict:
    """One evgrid.compute task of :func:`run_scenarios`: ``base``, ``s1``, ``s2`` or ``s3`` (+ ``s4`` started
    from it) on its own model of the scenario day, each schedule evaluated exactly. Plain data in and out."""
    system, prep, cfg, want = shared
    solver = _solver(cfg)
    out = {}
    if task == "base":
        out["base"] = R.base_schedule(system, prep)
    else:
        pm = M.build_model(system, [prep])
        t = time.perf_counter()
        out[task] = M.solve_scenario(pm, task, solver)
        out[task]["wall_s"] = time.perf_counter() - t
        if task == "s3" and "s4" in want:
            t = time.perf_counter()
            out["s4"] = M.solve_s4(pm, solver, start_from=out["s3"], run_milp=cfg.model.milp)
            out["s4"]["wall_s"] = time.perf_counter() - t
    return {sc: (sched, R.evaluate_schedule(system, [prep], sched)) for sc, sched in out.items() if sc in want}


def run_scenarios(inputs: ParkingInputs, cfg: ParkingConfig, compute_settings=None) -> dict:
    """base, s1..s4 on the scenario day (Table V); returns costs, schedules (long), switching, details.

    One :func:`evgrid.compute.map_tasks` task each for base, s1, s2 and s3 -> s4 (s4 starts from s3's schedule),
    each on its own model of the day."""
    from evgrid import compute

    system, prep = inputs.system, inputs.scenario_day
    scen = list(cfg.study.scenarios)
    t0 = time.perf_counter()
    tasks = [sc for sc in ("base", "s1", "s2") if sc in scen] + (["s3"] if {"s3", "s4"} & set(scen) else [])
    done = compute.map_tasks(_scenario_task, tasks, compute_settings, keys=tasks,
                             shared=(system, prep, cfg, tuple(scen)), desc="parking scenarios")
    results = {sc: v for d in done for sc, v in d.items()}
    rows, details, schedules = [], [], []
    for sc in scen:
        sched, (costs, det, check) = results[sc]
        rows.append({"scenario": sc} | _row(sched, costs, check, sched.get("wall_s", 0.0)))
        details.append(det.assign(scenario=sc))
        schedules.append(_long_schedule(sched, system).assign(scenario=sc))
    costs = pd.DataFrame(rows)
    costs["n_evs"] = float(len(prep.evs))
    # root cause of the loss level: the base load's own losses under each row's plan, mean over charging hours
    charging = {sc: results[sc][1][1].groupby("hour")["p_ev_kw"].sum().to_numpy() > 1e-6 for sc in scen}
    no_ev = {}
    for sc in scen:
        plan = results[sc][0]["branch_status"]
        key = plan.to_numpy(bool).tobytes()
        if key not in no_ev:
            no_ev[key] = R.base_load_loss_kw(system, plan)
        costs.loc[costs["scenario"] == sc, "feeder_loss_kw_no_ev_charging"] = float(no_ev[key][charging[sc]].mean())
    s4 = results["s4"][0] if "s4" in results else None
    if s4 is not None and s4["solve"].get("milp_status") == "time_limit_machine_dependent":
        from evgrid.runtime.sanity import safety_net_fired

        safety_net_fired("parking.s4", f"MILP stopped at milp_safety_time_limit_s={cfg.model.milp_safety_time_limit_s}"
                         f" (gap {s4['solve'].get('mip_gap')})")
    log.info("parking scenarios done in %.0f s", time.perf_counter() - t0)
    return {"costs": costs, "details": pd.concat(details, ignore_index=True),
            "schedules": pd.concat(schedules, ignore_index=True),
            "switching": switching_table(s4["branch_status"], system) if s4 is not None else pd.DataFrame(),
            "s4": s4}


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


def _pv_task(levels: list, shared: tuple) -> list:
    """PV sweep levels on one model of the scenario day (PV is a mutable Param; each level is configured and
    solved from scratch, so which task holds a level does not change its result)."""
    system, prep, cfg, s4 = shared
    solver = _solver(cfg)
    pm = M.build_model(system, [prep])
    out = []
    for pct in levels:
        t = time.perf_counter()
        # plan screened on the 100 % schedule's EV loads with this level's PV (one LP per level)
        sched = M.solve_s4(pm, solver, pv_scale=pct / 100.0, start_from=s4,
                           run_milp=cfg.model.milp and cfg.model.milp_in_sweep)
        out.append((pct, sched, R.evaluate_schedule(system, [prep], sched), time.perf_counter() - t))
    return out


def run_pv_sweep(inputs: ParkingInputs, scenario_results: dict, cfg: ParkingConfig, compute_settings=None
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scenario 4 at each PV penetration (Table VII); returns the cost table and the hourly EV / PV / feeder
    power per level (Fig. 11). The levels other than 100 % (= scenario 4 itself) are split over
    ``compute.slots()`` evgrid.compute tasks, one model build each."""
    from evgrid import compute

    s4 = scenario_results["s4"]
    system, prep = inputs.system, inputs.scenario_day
    levels = [pct for pct in cfg.study.pv_sweep_pct if not (pct == 100 and s4 is not None)]
    n = max(1, min(len(levels), compute.slots(compute_settings)))
    chunks = [c for c in (levels[k::n] for k in range(n)) if c]
    solved = {}
    for part in compute.map_tasks(_pv_task, chunks, compute_settings, keys=[("pv", k) for k in range(len(chunks))],
                                  shared=(system, prep, cfg, s4), desc="parking PV sweep"):
        solved.update({pct: rest for pct, *rest in part})
    rows, profiles = [], []
    for pct in cfg.study.pv_sweep_pct:
        if pct in solved:
            sched, (costs, det, check), wall = solved[pct]
        else:
            t = time.perf_counter()
            sched = s4
            costs, det, check = R.evaluate_schedule(system, [prep], sched)
            wall = time.perf_counter() - t
        rows.append({"pv_penetration_pct": pct} | _row(sched, costs, check, wall))
        hourly = det.groupby("hour")[["p_ev_kw", "pv_kw"]].sum()
        hourly["feeder_load_kw"] = system.load_p_kw.sum(axis=1).to_numpy() + hourly["p_ev_kw"] - hourly["pv_kw"]
        profiles.append(hourly.reset_index().assign(pv_penetration_pct=pct))
    return pd.DataFrame(rows), pd.concat(profiles, ignore_index=True)


def _heldout_task(prep, shared: tuple) -> list[dict]:
    """One held-out real day (evgrid.compute task): uncoordinated charging and each day-ahead plan with the
    day's own EV dispatch re-optimised; rows of the per-day table."""
    system, cfg, plans = shared
    solver = _solver(cfg)
    base = R.base_schedule(system, prep)
    costs, _, _ = R.evaluate_schedule(system, [prep], base)
    rows = [{"day": prep.day.name, "policy": "uncoordinated"} | costs.iloc[0].drop("day").to_dict()]
    pmh = M.build_model(system, [prep])
    done = {}
    for name, plan in plans.items():
        key = plan.to_numpy(bool).tobytes()
        if key not in done:  # identical plans: one solve
            sched = M.solve_scenario(pmh, "s4", solver, switch_plan=plan)
            done[key] = R.evaluate_schedule(system, [prep], sched)
        costs, _, check = done[key]
        rows.append({"day": prep.day.name, "policy": f"{name}_plan"} | costs.iloc[0].drop("day").to_dict()
                    | {f"check_{k}": v for k, v in check.items()})
    return rows


def run_stochastic(inputs: ParkingInputs, cfg: ParkingConfig, scenario_results: dict, compute_settings=None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stochastic day-ahead switching plan on several GAN days, evaluated on real held-out days.

    First stage: the hourly switch plan (shared by all GAN days); second stage: each day's P/Q dispatch.
    On each held-out day the EV dispatch is re-optimised with that day's EVs and PV (the lots' own
    scheduling) under (a) the stochastic plan, (b) the deterministic plan of the single scenario day, and
    compared with (c) uncoordinated charging, paired by day. Held-out days never enter the plan; each is one
    evgrid.compute task. Returns the per-day table, the paired summary and the stochastic plan's open switches
    per hour.
    """
    from evgrid import compute

    system = inputs.system
    t0 = time.perf_counter()
    pm = M.build_model(system, inputs.stochastic_days)
    # first stage screened on every GAN day's scenario-3 dispatch (expected loss cost), then the 2nd-stage LP
    start = M.solve_scenario(pm, "s3", cfg.solver)
    stoch = M.solve_s4(pm, cfg.solver, start_from=start, run_milp=cfg.model.milp and cfg.model.milp_in_stochastic)
    plans = {"stochastic": stoch["branch_status"], "deterministic": scenario_results["s4"]["branch_status"]}
    days = inputs.heldout_days
    per_day = pd.DataFrame([r for rows in compute.map_tasks(
        _heldout_task, days, compute_settings, keys=[str(p.day.name) for p in days], shared=(system, cfg, plans),
        desc="parking held-out days") for r in rows])
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

"""Every fan-out of the planning study (on :func:`evgrid.compute.map_tasks`).

* the searches: one task per (method, seed) runs a whole search in-process (its exact evaluations start from
  the shared reference equilibria, so a task's numbers do not depend on the worker or the order);
* the uniform plan of each seed (paper's Case 2: every station at the mean power of that seed's optimised plan)
  and the landscape (every one-station change around the optimised plan): one task per plan
  (:class:`~evgrid.studies.planning.model.Evaluator`);
* the reported plans re-evaluated at ``traffic.final_rel_gap``;
* the chosen plan's EV-share sweep and its V2G variant (two multi-period SOCPs).
"""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np

from evgrid.optim.solver import InfeasibleModelError
from evgrid.studies.planning.lower import base_grid_cost, references
from evgrid.studies.planning.model import Evaluation, Evaluator, evaluate_plan, objective
from evgrid.studies.planning.opf import solve_v2g_opf
from evgrid.studies.planning.search import METHODS, SearchResult, Space, run_search
from evgrid.studies.planning.system import PlanningSystem

log = logging.getLogger(__name__)


def cost_row(ev: Evaluation | None) -> dict:
    """The costs of one evaluation as plain numbers (NaN for an OPF-infeasible plan)."""
    if ev is None:
        return {"total_usd_per_day": float("nan")}
    return {**ev.costs(), **ev.breakdown, "station_revenue_usd": ev.station_revenue_usd,
            "station_added_grid_cost_usd": ev.station_grid_cost_usd, "capex_usd": ev.capex_usd}


def _search_task(task: tuple, shared: tuple) -> SearchResult:
    """``task = (method, seed)``; ``shared = (system, base grid cost, reference flows)``."""
    method, seed = task
    system, base, reference = shared
    ev = Evaluator(system, "inline", base=base, reference=reference)
    up = system.config.upper

    def evaluate(plan: np.ndarray) -> tuple[float, dict]:
        e = ev(plan[None])[0]
        return objective(system, e), cost_row(e)

    return run_search(method, Space(system), evaluate, up.n_evaluations, up.n_initial, seed, up.gp_restarts)


def final_system(system: PlanningSystem) -> PlanningSystem:
    """The system with the loop's UE gap set to ``traffic.final_rel_gap`` (for the reported plans)."""
    tc = system.config.traffic
    cfg = dataclasses.replace(system.config, traffic=dataclasses.replace(tc, rel_gap=tc.final_rel_gap))
    return dataclasses.replace(system, config=cfg)


def landscape_plans(system: PlanningSystem, plan_kw: np.ndarray) -> list[tuple[str, float, np.ndarray]]:
    """Every one-station change of ``plan_kw`` to another level: ``(station, new level, plan)``."""
    out = []
    for s, name in enumerate(system.stations["station"]):
        for lv in system.config.upper.levels_kw:
            if lv != plan_kw[s]:
                p = np.array(plan_kw, dtype=float)
                p[s] = lv
                out.append((name, float(lv), p))
    return out


def run_planning(system: PlanningSystem, compute_settings=None) -> dict:
    """Searches over seeds, uniform plans, the landscape and the final evaluations (module docstring).

    Returns ``{"searches": {(method, seed): SearchResult}, "uniform": {seed: Evaluation}, "best": {method:
    Evaluation} (headline seed, final gap), "landscape": [(station, level, plan, Evaluation)], "wall_s"}``.
    """
    from evgrid import compute

    t0 = time.perf_counter()
    Space(system)  # fails early, naming the budget, when no plan fits
    up = system.config.upper
    base, reference = base_grid_cost(system), references(system)
    seeds = [system.config.seed + k for k in range(up.n_seeds)]
    tasks = [(m, s) for m in METHODS for s in seeds]
    out = compute.map_tasks(_search_task, tasks, compute_settings, keys=tasks, shared=(system, base, reference),
                            desc="planning searches")
    searches = dict(zip(tasks, out, strict=True))
    ev = Evaluator(system, compute_settings, base=base, reference=reference)
    sur = [searches[("surrogate_gp", s)] for s in seeds]
    uni = ev(np.array([np.full(system.n_stations, r.best_plan.mean()) for r in sur]))
    head = seeds[0]
    fin = final_system(system)
    best_plans = {m: searches[(m, head)].best_plan for m in METHODS} | {"uniform": np.full(
        system.n_stations, searches[("surrogate_gp", head)].best_plan.mean())}
    best = {m: evaluate_plan(fin, p, base_cost=base, reference=reference) for m, p in best_plans.items()}
    land = []
    if up.landscape:
        lp = landscape_plans(system, best_plans["surrogate_gp"])
        land = [(n, lv, p, e) for (n, lv, p), e in zip(lp, ev(np.array([p for _, _, p in lp])), strict=True)]
    return {"searches": searches, "seeds": seeds, "uniform": dict(zip(seeds, uni, strict=True)), "best": best,
            "landscape": land, "wall_s": time.perf_counter() - t0}


def ev_share_evaluations(system: PlanningSystem, capacity_kw: np.ndarray) -> dict:
    """``{ev_share: Evaluation or None}`` of one plan for ``ev_share_sweep`` and the base share, in increasing
    order (None: station loads beyond what the feeder can carry at Vmin, the OPF is infeasible)."""
    shares = sorted(set(system.config.ev_share_sweep) | {system.config.traffic.ev_share})
    out = {}
    for share in shares:
        try:
            out[share] = evaluate_plan(system, capacity_kw, ev_share=share)
        except InfeasibleModelError as err:  # station loads beyond what the feeder can carry at Vmin
            log.warning("EV share %.2f: OPF infeasible (%s)", share, err)
            out[share] = None
    return out


def v2g_solves(system: PlanningSystem, ev: Evaluation) -> dict:
    """``{"no_v2g" | "v2g": (limit_kw (T x S), solve_v2g_opf output)}`` for the plan of ``ev``: its EV flows
    and station loads, parked EVs at idle chargers (``availability x (units P - load)``) discharging with V2G."""
    cfg = system.config
    per = system.periods
    loads = [(pr.p_load_kw, pr.q_load_kvar) for pr in ev.periods]
    idle = np.array([np.maximum(cfg.station.units * ev.capacity_kw - pr.station_kw, 0.0) for pr in ev.periods])
    out = {}
    for variant, avail in (("no_v2g", 0.0), ("v2g", cfg.v2g.availability)):
        out[variant] = (avail * idle, solve_v2g_opf(
            system.opf, loads, per["tou_usd_per_kwh"].to_numpy(), per["duration_h"].to_numpy(),
            system.stations["bus"].to_numpy(), avail * idle, cfg.v2g.efficiency, cfg.v2g.degradation_usd_per_kwh,
            cfg.solver.options()))
    return out

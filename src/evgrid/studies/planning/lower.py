"""Planning lower level (paper 003) of one period: the UE <-> OPF fixed point for a plan.

Per period ``t`` (a plan ``P`` = unit power per station):

1. multi-class UE (:func:`evgrid.transport.assignment.assign`) with station prices ``pi_s`` (EVs pay
   ``pi_s E`` per charge);
2. station loads ``p_s = x_qs E`` [kW] (``x_qs`` veh/h through the station's queue);
3. branch-flow OPF with the SOC relaxation (:mod:`evgrid.studies.planning.opf` on
   :mod:`evgrid.optim.branchflow`); nodal prices ``lambda_i = d cost / d p_i``;
4. ``pi <- pi + omega (lambda_bus(s) - pi)`` until ``max |lambda - pi| <= tol`` (the fixed point).

No module state: the OPF matrices live on the system, the reference equilibria are passed in explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evgrid.optim.solver import InfeasibleModelError
from evgrid.studies.planning.opf import OpfResult, solve_opf
from evgrid.studies.planning.system import PlanningSystem
from evgrid.transport.assignment import assign


@dataclass
class PeriodResult:
    period: str
    fixed_point_iterations: int
    residual_usd_per_mwh: float
    ue_gap: float
    ue_iterations: int
    opf: OpfResult
    station_kw: np.ndarray
    station_price_usd_per_kwh: np.ndarray
    station_flow_veh_per_h: np.ndarray
    road_flow: np.ndarray
    road_time_h: np.ndarray
    class_time_veh_h: dict
    class_vkm: dict
    p_load_kw: pd.Series
    q_load_kvar: pd.Series


def bus_loads(system: PlanningSystem, period: str, station_kw: np.ndarray) -> tuple[pd.Series, pd.Series]:
    """Bus loads [kW, kVAr] of ``period``: base loads x the period's load factor + the station loads."""
    lf = float(system.periods.loc[period, "load_factor"])
    p = system.grid.buses["p_load_kw"] * lf
    q = system.grid.buses["q_load_kvar"] * lf
    add = pd.Series(station_kw, index=system.stations["bus"].to_numpy()).groupby(level=0).sum()
    p = p.add(add, fill_value=0.0)  # chargers at unity power factor (DC fast chargers, pf ~ 0.99)
    return p, q


def base_grid_cost(system: PlanningSystem) -> pd.Series:
    """Feeder import cost [$/h] per period without any station load (for the revenue constraint)."""
    out = {}
    for period in system.periods.index:
        p, q = bus_loads(system, period, np.zeros(system.n_stations))
        out[period] = solve_opf(system.opf, p, q, float(system.periods.loc[period, "tou_usd_per_kwh"]),
                                system.config.solver.options()).cost_usd_per_h
    return pd.Series(out)


def reference_flows(system: PlanningSystem, period: str, ev_share: float | None = None) -> dict:
    """Common warm start of every plan's UE in ``period``: the equilibrium of the uniform mid plan at TOU
    prices, solved to ``traffic.reference_rel_gap`` (1e-6). Every evaluation starts from it, so a plan's result
    does not depend on which plans a process evaluated before (reproducible in parallel), and the background
    traffic (which the stations barely move) stays near-exact while each plan's UE drives every class's own gap
    below ``traffic.rel_gap``: differences between plans are then far more accurate than the gap alone allows.
    No cache: callers that evaluate many plans compute it once (:func:`references`) and pass it on."""
    cfg = system.config
    mid = np.full(system.n_stations, 0.5 * (cfg.upper.p_min_kw + cfg.upper.p_max_kw))
    tou = float(system.periods.loc[period, "tou_usd_per_kwh"])
    ue = assign(system.resources(mid), system.classes(period, np.full(system.n_stations, tou), ev_share),
                algorithm=cfg.traffic.algorithm, rel_gap=cfg.traffic.reference_rel_gap,
                max_iter=20 * cfg.traffic.max_iter)
    return ue.class_flows


def references(system: PlanningSystem, ev_share: float | None = None) -> dict:
    """``{period: reference class flows}`` (:func:`reference_flows`) for every period."""
    return {p: reference_flows(system, p, ev_share) for p in system.periods.index}


def _block_ue(res, classes: list, start: dict, tc) -> object:
    """Joint multi-class UE from ``start`` by one block Gauss-Seidel round, then joint BFW to the gap.

    1. ``ev_charging`` alone, the other classes' flows held as background, to its own gap ``rel_gap``
       (cheap: one small class; the stations' capacities and prices act almost only here);
    2. all classes jointly from there until the total gap is ``<= rel_gap`` (usually 0-few iterations).
    The background traffic therefore stays at the common reference unless the plan really moves it.
    """
    small = [c for c in classes if c.name == "ev_charging"]
    others = [c for c in classes if c.name != "ev_charging"]
    bg = sum(c.resource_map @ start[c.name] for c in others)
    sub = assign(res, small, algorithm=tc.algorithm, rel_gap=tc.rel_gap, max_iter=20 * tc.max_iter,
                 initial={c.name: start[c.name] for c in small}, background=bg)
    init = dict(start) | sub.class_flows
    return assign(res, classes, algorithm=tc.algorithm, rel_gap=tc.rel_gap, max_iter=tc.max_iter, initial=init)


def _station_opf(system: PlanningSystem, period: str, station_kw: np.ndarray, tou: float) -> tuple:
    """``(OpfResult, p, q)`` of the period with the station loads; an infeasible OPF names the loads."""
    p, q = bus_loads(system, period, station_kw)
    try:
        return solve_opf(system.opf, p, q, tou, system.config.solver.options()), p, q
    except InfeasibleModelError as err:
        loads = ", ".join(f"{n} (bus {b}) {kw:.0f} kW" for n, b, kw in
                          zip(system.stations["station"], system.stations["bus"], station_kw, strict=True))
        raise InfeasibleModelError(f"period {period!r} (hours {system.periods.loc[period, 'hours']}): the feeder "
                                   f"cannot carry the station loads {loads} within its voltage limits; {err}") from err


def _class_totals(system: PlanningSystem, classes: list, ue) -> tuple[dict, dict]:
    """Per class: vehicle-hours ``sum_a t_a x_a`` and vehicle-km (``ev_charging`` on its road links)."""
    t = ue.resource_time_h
    ctime, vkm = {}, {}
    for c in classes:
        time_cost = c.resource_map.T @ t
        ctime[c.name] = float(time_cost @ ue.class_flows[c.name])
        if c.name == "ev_charging":
            rl = system.ev_graph.links["road_link"].to_numpy()
            vkm[c.name] = float(system.roads.col("length_km")[rl] @ ue.class_flows[c.name])
        else:
            vkm[c.name] = float(system.roads.col("length_km") @ ue.class_flows[c.name])
    return ctime, vkm


def solve_period(system: PlanningSystem, period: str, capacity_kw: np.ndarray, reference: dict,
                 ev_share: float | None = None) -> PeriodResult:
    """UE <-> OPF fixed point of one period (each UE warm-started: the common reference, then the previous
    fixed-point iterate)."""
    cfg = system.config
    tou = float(system.periods.loc[period, "tou_usd_per_kwh"])
    res = system.resources(capacity_kw)
    price = np.full(system.n_stations, tou)
    start = reference
    residual = np.inf
    E = cfg.station.energy_per_charge_kwh
    for it in range(1, cfg.fixed_point.max_iter + 1):  # noqa: B007 (it = iterations used, read below)
        classes = system.classes(period, price, ev_share)
        ue = _block_ue(res, classes, start, cfg.traffic)
        start = ue.class_flows
        flow_q = ue.resource_flow[system.roads.n_links :]
        station_kw = flow_q * E
        opf, p, q = _station_opf(system, period, station_kw, tou)
        lmp = opf.lmp_usd_per_mwh.loc[system.stations["bus"].to_numpy()].to_numpy() / 1000.0
        residual = float(np.max(np.abs(lmp - price))) * 1000.0
        if residual <= cfg.fixed_point.tol_usd_per_mwh:
            price = lmp
            break
        price = price + cfg.fixed_point.damping * (lmp - price)
    L = system.roads.n_links
    ctime, vkm = _class_totals(system, classes, ue)
    return PeriodResult(period, it, residual, ue.relative_gap, ue.iterations, opf, station_kw, price,
                        flow_q, ue.resource_flow[:L], ue.resource_time_h[:L], ctime, vkm, p, q)

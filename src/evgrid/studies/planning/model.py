"""Planning model (paper 003), lower level: UE <-> OPF fixed point per period and the social cost of a plan.

Lower level per period ``t`` (a plan ``P`` = unit power per station):

1. multi-class UE (:func:`evgrid.transport.assignment.assign`) with station prices ``pi_s`` (EVs pay
   ``pi_s E`` per charge);
2. station loads ``p_s = x_qs E`` [kW] (``x_qs`` veh/h through the station's queue);
3. branch-flow OPF with the SOC relaxation (:mod:`evgrid.studies.planning.opf`); nodal prices
   ``lambda_i = d cost / d p_i``;
4. ``pi <- pi + omega (lambda_bus(s) - pi)`` until ``max |lambda - pi| <= tol`` (the fixed point).

Social cost per day = sum_t duration_t x (VOT x travel time + energy + grid import cost) + CRF x capex / 365.
No module state: the OPF matrices live on the system, the reference equilibria are passed in explicitly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evgrid.optim.solver import InfeasibleModelError
from evgrid.studies.planning.opf import OpfResult, solve_opf
from evgrid.studies.planning.system import PlanningSystem
from evgrid.transport.assignment import assign

log = logging.getLogger(__name__)


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


@dataclass
class Evaluation:
    """One exact lower-level evaluation of a plan (all periods) and its social cost per day."""

    capacity_kw: np.ndarray
    periods: list[PeriodResult]
    travel_time_usd: float
    energy_usd: float
    investment_usd: float
    grid_usd: float
    station_revenue_usd: float
    station_grid_cost_usd: float
    capex_usd: float
    wall_s: float
    breakdown: dict = field(default_factory=dict)

    @property
    def total_usd_per_day(self) -> float:
        return self.travel_time_usd + self.energy_usd + self.investment_usd + self.grid_usd

    @property
    def revenue_ok(self) -> bool:
        return self.station_revenue_usd >= self.station_grid_cost_usd - 1e-6

    def costs(self) -> dict:
        return {"travel_time_usd": self.travel_time_usd, "energy_usd": self.energy_usd,
                "investment_usd": self.investment_usd, "grid_usd": self.grid_usd,
                "total_usd_per_day": self.total_usd_per_day}


def _bus_loads(system: PlanningSystem, period: str, station_kw: np.ndarray) -> tuple[pd.Series, pd.Series]:
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
        p, q = _bus_loads(system, period, np.zeros(system.n_stations))
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
        p, q = _bus_loads(system, period, station_kw)
        try:
            opf = solve_opf(system.opf, p, q, tou, cfg.solver.options())
        except InfeasibleModelError as err:
            loads = ", ".join(f"{n} (bus {b}) {kw:.0f} kW" for n, b, kw in
                              zip(system.stations["station"], system.stations["bus"], station_kw, strict=True))
            raise InfeasibleModelError(f"period {period!r} (hours {system.periods.loc[period, 'hours']}): the feeder "
                                       f"cannot carry the station loads {loads} within its voltage limits; {err}") from err
        lmp = opf.lmp_usd_per_mwh.loc[system.stations["bus"].to_numpy()].to_numpy() / 1000.0
        residual = float(np.max(np.abs(lmp - price))) * 1000.0
        if residual <= cfg.fixed_point.tol_usd_per_mwh:
            price = lmp
            break
        price = price + cfg.fixed_point.damping * (lmp - price)
    L = system.roads.n_links
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
    return PeriodResult(period, it, residual, ue.relative_gap, ue.iterations, opf, station_kw, price,
                        flow_q, ue.resource_flow[:L], t[:L], ctime, vkm, p, q)


def evaluate_plan(system: PlanningSystem, capacity_kw, ev_share: float | None = None,
                  base_cost: pd.Series | None = None, reference: dict | None = None) -> Evaluation:
    """Exact lower level for all periods and the social cost per day (module docstring); ``reference``
    (:func:`references`, same ``ev_share``) and ``base_cost`` are computed here when not given."""
    t0 = time.perf_counter()
    cap = np.asarray(capacity_kw, dtype=float)
    cfg = system.config
    tc = cfg.traffic
    base_cost = base_grid_cost(system) if base_cost is None else base_cost
    reference = references(system, ev_share) if reference is None else reference
    periods, tt, en, grid, rev, extra = [], 0.0, 0.0, 0.0, 0.0, 0.0
    parts = dict.fromkeys(("icev_time_usd", "ev_time_usd", "ev_charging_travel_usd", "charging_queue_usd",
                           "charging_energy_paid_usd", "vehicle_hours", "charges"), 0.0)
    L = system.roads.n_links
    for period in system.periods.index:
        pr = solve_period(system, period, cap, reference[period], ev_share)
        d = float(system.periods.loc[period, "duration_h"])
        tt += d * (tc.vot_icev_usd_per_h * pr.class_time_veh_h["icev"]
                   + tc.vot_ev_usd_per_h * (pr.class_time_veh_h["ev"] + pr.class_time_veh_h["ev_charging"]))
        en += d * (tc.icev_fuel_usd_per_km * pr.class_vkm["icev"]
                   + tc.ev_energy_kwh_per_km * tc.ev_home_price_usd_per_kwh * pr.class_vkm["ev"])
        grid += d * pr.opf.cost_usd_per_h
        rev += d * float(pr.station_price_usd_per_kwh @ pr.station_kw)
        extra += d * (pr.opf.cost_usd_per_h - float(base_cost[period]))
        t_st = system.resources(cap).time(np.r_[pr.road_flow, pr.station_flow_veh_per_h])[L:]
        at_station = float(t_st @ pr.station_flow_veh_per_h)
        parts["icev_time_usd"] += d * tc.vot_icev_usd_per_h * pr.class_time_veh_h["icev"]
        parts["ev_time_usd"] += d * tc.vot_ev_usd_per_h * pr.class_time_veh_h["ev"]
        parts["charging_queue_usd"] += d * tc.vot_ev_usd_per_h * at_station
        parts["ev_charging_travel_usd"] += d * tc.vot_ev_usd_per_h * (pr.class_time_veh_h["ev_charging"] - at_station)
        parts["charging_energy_paid_usd"] += d * float(pr.station_price_usd_per_kwh @ pr.station_kw)
        parts["vehicle_hours"] += d * sum(pr.class_time_veh_h.values())
        parts["charges"] += d * float(pr.station_flow_veh_per_h.sum())
        periods.append(pr)
    capex = float(system.capex_usd(cap).sum())
    inv = cfg.investment.crf * capex / 365.0
    return Evaluation(cap, periods, tt, en, inv, grid, rev, extra, capex, time.perf_counter() - t0, parts)




# ============================================================================ exact evaluations
def _safe_eval(system: PlanningSystem, cap: np.ndarray, base: pd.Series, reference: dict) -> Evaluation | None:
    """Exact evaluation; a plan whose station loads make a period's OPF infeasible returns None."""
    try:
        return evaluate_plan(system, cap, base_cost=base, reference=reference)
    except InfeasibleModelError as err:
        log.warning("plan %s infeasible: %s", np.round(cap, 1).tolist(), err)
        return None


def _eval_task(cap: np.ndarray, shared: tuple) -> Evaluation | None:
    """One exact evaluation on an evgrid.compute worker: ``shared = (system, base grid cost, reference flows)``.
    Every plan's UE starts from the shared reference equilibria, so the result does not depend on the worker
    or on what it evaluated before."""
    system, base, reference = shared
    return _safe_eval(system, np.asarray(cap, dtype=float), base, reference)


class Evaluator:
    """Exact evaluations of plans: in-process (``compute_settings='inline'``) or one
    :func:`evgrid.compute.map_tasks` task per plan; the reference equilibria and base grid cost are computed
    once here and passed explicitly to every evaluation. ``n_evaluations`` counts the exact evaluations made."""

    def __init__(self, system: PlanningSystem, compute_settings=None, *, base: pd.Series | None = None,
                 reference: dict | None = None):
        self.system = system
        self.inline = compute_settings == "inline"
        if not self.inline:
            from evgrid import compute

            self.settings = compute.ComputeSettings.coerce(compute_settings)
        self.base = base_grid_cost(system) if base is None else base
        self.reference = references(system) if reference is None else reference
        self.n_calls = 0
        self.n_evaluations = 0

    def __call__(self, plans: np.ndarray) -> list[Evaluation | None]:
        plans = np.atleast_2d(np.asarray(plans, dtype=float))
        self.n_calls += 1
        self.n_evaluations += len(plans)
        if self.inline:
            return [_safe_eval(self.system, p, self.base, self.reference) for p in plans]
        from evgrid import compute

        return compute.map_tasks(_eval_task, list(plans), self.settings,
                                 keys=[(self.n_calls, i) for i in range(len(plans))],
                                 shared=(self.system, self.base, self.reference), desc="planning evaluations")

    def close(self) -> None:
        """Nothing to release (the Dask cluster belongs to evgrid.compute); kept for callers."""


def objective(system: PlanningSystem, ev: Evaluation | None) -> float:
    """Upper-level objective: social cost + penalty when station revenue misses the added grid cost
    (``inf`` for a plan whose OPF is infeasible in some period)."""
    if ev is None:
        return float("inf")
    if ev.revenue_ok:
        return ev.total_usd_per_day
    shortfall = ev.station_grid_cost_usd - ev.station_revenue_usd
    return ev.total_usd_per_day + system.config.upper.revenue_penalty_usd + shortfall

"""Planning model (paper 003): the exact evaluation of a plan (all periods) and the upper level's objective.

Social cost per day = sum_t duration_t x (VOT x travel time + energy + grid import cost) + CRF x capex / 365,
each period solved by the lower level (:mod:`evgrid.studies.planning.lower`: UE <-> OPF fixed point).
:class:`Evaluator` runs many exact evaluations (in-process or one task per plan); :func:`objective` adds the
revenue penalty. No module state: the reference equilibria and the base grid cost are passed in explicitly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evgrid.optim.solver import InfeasibleModelError
from evgrid.studies.planning.lower import PeriodResult, base_grid_cost, references, solve_period
from evgrid.studies.planning.system import PlanningSystem

log = logging.getLogger(__name__)


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


PARTS = ("icev_time_usd", "ev_time_usd", "ev_charging_travel_usd", "charging_queue_usd",
         "charging_energy_paid_usd", "vehicle_hours", "charges")


def _period_costs(system: PlanningSystem, cap: np.ndarray, pr: PeriodResult, base_cost: float) -> dict:
    """One period's contributions [$ per day] (weighted by its duration ``d``) to the cost totals
    (``travel``, ``energy``, ``grid``, ``revenue``, ``extra`` = grid cost the stations add) and to the
    breakdown :data:`PARTS`."""
    tc = system.config.traffic
    L = system.roads.n_links
    d = float(system.periods.loc[pr.period, "duration_h"])
    t_st = system.resources(cap).time(np.r_[pr.road_flow, pr.station_flow_veh_per_h])[L:]
    at_station = float(t_st @ pr.station_flow_veh_per_h)
    ct = pr.class_time_veh_h
    return {
        "travel": d * (tc.vot_icev_usd_per_h * ct["icev"] + tc.vot_ev_usd_per_h * (ct["ev"] + ct["ev_charging"])),
        "energy": d * (tc.icev_fuel_usd_per_km * pr.class_vkm["icev"]
                       + tc.ev_energy_kwh_per_km * tc.ev_home_price_usd_per_kwh * pr.class_vkm["ev"]),
        "grid": d * pr.opf.cost_usd_per_h,
        "revenue": d * float(pr.station_price_usd_per_kwh @ pr.station_kw),
        "extra": d * (pr.opf.cost_usd_per_h - base_cost),
        "icev_time_usd": d * tc.vot_icev_usd_per_h * ct["icev"],
        "ev_time_usd": d * tc.vot_ev_usd_per_h * ct["ev"],
        "charging_queue_usd": d * tc.vot_ev_usd_per_h * at_station,
        "ev_charging_travel_usd": d * tc.vot_ev_usd_per_h * (ct["ev_charging"] - at_station),
        "charging_energy_paid_usd": d * float(pr.station_price_usd_per_kwh @ pr.station_kw),
        "vehicle_hours": d * sum(ct.values()),
        "charges": d * float(pr.station_flow_veh_per_h.sum()),
    }


def evaluate_plan(system: PlanningSystem, capacity_kw, ev_share: float | None = None,
                  base_cost: pd.Series | None = None, reference: dict | None = None) -> Evaluation:
    """Exact lower level for all periods and the social cost per day (module docstring); ``reference``
    (:func:`~evgrid.studies.planning.lower.references`, same ``ev_share``) and ``base_cost`` are computed here
    when not given. Period contributions are summed in period order (:func:`_period_costs`)."""
    t0 = time.perf_counter()
    cap = np.asarray(capacity_kw, dtype=float)
    cfg = system.config
    base_cost = base_grid_cost(system) if base_cost is None else base_cost
    reference = references(system, ev_share) if reference is None else reference
    periods = []
    total = dict.fromkeys(("travel", "energy", "grid", "revenue", "extra", *PARTS), 0.0)
    for period in system.periods.index:
        pr = solve_period(system, period, cap, reference[period], ev_share)
        for key, value in _period_costs(system, cap, pr, float(base_cost[period])).items():
            total[key] += value
        periods.append(pr)
    parts = {k: total[k] for k in PARTS}
    capex = float(system.capex_usd(cap).sum())
    inv = cfg.investment.crf * capex / 365.0
    return Evaluation(cap, periods, total["travel"], total["energy"], inv, total["grid"], total["revenue"],
                      total["extra"], capex, time.perf_counter() - t0, parts)


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

"""Planning model (paper 003): branch-flow SOCP OPF, UE <-> OPF fixed point, social cost, upper level.

Lower level per period ``t`` (a plan ``P`` = unit power per station):

1. multi-class UE (:func:`evgrid.transport.assignment.assign`) with station prices ``pi_s`` (EVs pay
   ``pi_s E`` per charge);
2. station loads ``p_s = x_qs E`` [kW] (``x_qs`` veh/h through the station's queue);
3. branch-flow OPF with the SOC relaxation (Farivar & Low 2013), solved by Clarabel
   (:func:`evgrid.optim.solver.solve_conic`); nodal prices ``lambda_i = d cost / d p_i``;
4. ``pi <- pi + omega (lambda_bus(s) - pi)`` until ``max |lambda - pi| <= tol`` (the fixed point).

Social cost per day = sum_t duration_t x (VOT x travel time + energy + grid import cost) + CRF x capex / 365.
Upper level: min social cost s.t. ``P in [p_min, p_max]^S``, ``capex(P) <= budget`` and station revenue
``sum_t d_t sum_s lambda_s p_s >= `` the grid cost the stations add; GP/RBF surrogate + expected
improvement vs random search vs uniform capacity, same number of exact evaluations.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import norm, qmc

from evgrid.grid.network import Network
from evgrid.optim.solver import ConicProblem, InfeasibleModelError, solve_conic
from evgrid.studies.planning.config import PlanningConfigError
from evgrid.studies.planning.system import PlanningSystem
from evgrid.transport.assignment import assign

log = logging.getLogger(__name__)


# ============================================================================ branch-flow SOCP
@dataclass
class BranchFlowOPF:
    """Matrices of the SOC-relaxed branch-flow OPF of a radial feeder (loads enter only through ``b``).

    Variables ``z = [P_k, Q_k, l_k (branches, parent->child), v_i (buses), p0, q0]`` in p.u.; ``v`` and
    ``l`` are squared voltage and current magnitudes.
    """

    grid: Network
    buses: list
    br_from: np.ndarray
    br_to: np.ndarray
    r: np.ndarray
    x: np.ndarray
    A: sparse.csc_matrix
    n_zero: int
    n_nonneg: int
    n_soc: int
    b_static: np.ndarray
    balance_rows_p: np.ndarray  # row of bus i's active balance (bus order)
    balance_rows_q: np.ndarray
    n_var: int
    row_names: list = field(default_factory=list)

    @property
    def nb(self) -> int:
        return len(self.r)


def build_branch_flow(grid: Network) -> BranchFlowOPF:
    """Assemble the constraint families (Clarabel form ``A z + s = b``):

    * balance (zero cone), bus ``j`` with parent branch ``k`` and children ``C(j)``:
      ``P_k - r_k l_k - sum_{c in C(j)} P_c = p_j``, ``Q_k - x_k l_k - sum_c Q_c = q_j``;
      slack bus: ``p0 - sum_c P_c = p_0``, ``q0 - sum_c Q_c = q_0``;
    * voltage drop (zero cone): ``v_j - v_i + 2 (r_k P_k + x_k Q_k) - (r_k^2 + x_k^2) l_k = 0``;
    * slack voltage (zero cone): ``v_0 = V_set^2``;
    * voltage limits (nonneg): ``v_min^2 <= v_j <= v_max^2``;
    * SOC relaxation of ``P^2 + Q^2 = v_i l``: ``||(2P_k, 2Q_k, v_i - l_k)|| <= v_i + l_k``.
    """
    tree = grid.tree()
    buses = [b for b in tree["order"]]
    pos = {b: i for i, b in enumerate(buses)}
    slack = grid.slack_bus
    children = [b for b in buses if b != slack]
    br = [tree["parent_branch"][b] for b in children]
    nb, n = len(br), len(buses)
    br_from = np.array([pos[tree["parent_bus"][b]] for b in children])
    br_to = np.array([pos[b] for b in children])
    r = grid.branches.loc[br, "r_pu"].to_numpy(float)
    x = grid.branches.loc[br, "x_pu"].to_numpy(float)
    iP, iQ, iL, iV = 0, nb, 2 * nb, 3 * nb
    ip0, iq0 = 3 * nb + n, 3 * nb + n + 1
    n_var = 3 * nb + n + 2
    rows, cols, vals = [], [], []

    def add(row, col, val):
        rows.append(row)
        cols.append(col)
        vals.append(val)

    # balance rows: 0..n-1 (P), n..2n-1 (Q), by bus position
    k_of_bus = {int(br_to[k]): k for k in range(nb)}
    for j in range(n):
        if j == pos[slack]:
            add(j, ip0, 1.0)
            add(n + j, iq0, 1.0)
        else:
            k = k_of_bus[j]
            add(j, iP + k, 1.0)
            add(j, iL + k, -r[k])
            add(n + j, iQ + k, 1.0)
            add(n + j, iL + k, -x[k])
    for k in range(nb):
        i = int(br_from[k])
        add(i, iP + k, -1.0)
        add(n + i, iQ + k, -1.0)
    row = 2 * n
    for k in range(nb):  # voltage drop
        add(row, iV + br_to[k], 1.0)
        add(row, iV + br_from[k], -1.0)
        add(row, iP + k, 2 * r[k])
        add(row, iQ + k, 2 * x[k])
        add(row, iL + k, -(r[k] ** 2 + x[k] ** 2))
        row += 1
    add(row, iV + pos[slack], 1.0)
    row += 1
    n_zero = row
    vmin = grid.buses.loc[buses, "v_min_pu"].to_numpy(float) ** 2
    vmax = grid.buses.loc[buses, "v_max_pu"].to_numpy(float) ** 2
    b = np.zeros(n_zero)
    b[2 * n + nb] = grid.v_slack_pu**2
    lim_b = []
    for j in range(n):
        if j == pos[slack]:
            continue
        add(row, iV + j, 1.0)
        lim_b.append(vmax[j])
        row += 1
        add(row, iV + j, -1.0)
        lim_b.append(-vmin[j])
        row += 1
    n_nonneg = row - n_zero
    for k in range(nb):  # s = b - A z = (v_i + l, 2P, 2Q, v_i - l)
        i = int(br_from[k])
        add(row, iV + i, -1.0)
        add(row, iL + k, -1.0)
        add(row + 1, iP + k, -2.0)
        add(row + 2, iQ + k, -2.0)
        add(row + 3, iV + i, -1.0)
        add(row + 3, iL + k, 1.0)
        row += 4
    A = sparse.csc_matrix((vals, (rows, cols)), shape=(row, n_var))
    b_static = np.concatenate([b, lim_b, np.zeros(4 * nb)])
    bus_ids = [buses[j] for j in range(n)]
    to_bus = [buses[int(j)] for j in br_to]
    names = ([f"balance_p[bus {b}]" for b in bus_ids] + [f"balance_q[bus {b}]" for b in bus_ids]
             + [f"voltage_drop[branch to bus {b}]" for b in to_bus] + ["slack_voltage"])
    for b in bus_ids:
        if b != slack:
            names += [f"v_max[bus {b}]", f"v_min[bus {b}]"]
    for b in to_bus:
        names += [f"soc[branch to bus {b}]"] * 4
    return BranchFlowOPF(grid, buses, br_from, br_to, r, x, A, n_zero, n_nonneg, nb, b_static,
                         np.arange(n), n + np.arange(n), n_var, names)


@dataclass
class OpfResult:
    v_pu: pd.Series
    lmp_usd_per_mwh: pd.Series
    import_kw: float
    loss_kw: float
    cost_usd_per_h: float
    relaxation_gap_pu: float
    relaxation_gap_rel: float
    solve_s: float


def solve_opf(model: BranchFlowOPF, p_kw: pd.Series, q_kvar: pd.Series, price_usd_per_kwh: float) -> OpfResult:
    """Solve the SOCP for bus loads ``p_kw``/``q_kvar`` (by bus id) at import price ``price`` [$/kWh].

    Objective: ``price x p0`` [$/h]. Nodal price ``lambda_i = -z_i / s_base`` (Clarabel dual of bus ``i``'s
    active balance, ``d cost / d p_i``) in $/MWh. Relaxation gap: ``max_k (v_i l_k - P_k^2 - Q_k^2)`` (p.u.)
    and relative to ``v_i l_k``.
    """
    g = model.grid
    s_base = g.s_base_kva
    n, nb = len(model.buses), model.nb
    b = model.b_static.copy()
    b[model.balance_rows_p] = p_kw.reindex(model.buses).fillna(0.0).to_numpy(float) / s_base
    b[model.balance_rows_q] = q_kvar.reindex(model.buses).fillna(0.0).to_numpy(float) / s_base
    q = np.zeros(model.n_var)
    price_mwh = price_usd_per_kwh * 1000.0
    q[3 * nb + n] = price_mwh * g.base_mva  # $/h per p.u. of import
    res = solve_conic(ConicProblem(q=q, A=model.A, b=b, zero=model.n_zero, nonneg=model.n_nonneg,
                                   soc=[4] * nb, row_names=model.row_names or None),
                      {"time_limit_s": 60.0})
    z = res.x
    P, Q, L = z[:nb], z[nb : 2 * nb], z[2 * nb : 3 * nb]
    v = z[3 * nb : 3 * nb + n]
    gap = v[model.br_from] * L - P**2 - Q**2
    rel = gap / np.maximum(v[model.br_from] * L, 1e-12)
    lmp = -res.z[model.balance_rows_p] / g.base_mva
    return OpfResult(
        v_pu=pd.Series(np.sqrt(np.maximum(v, 0)), index=model.buses, name="v_pu"),
        lmp_usd_per_mwh=pd.Series(lmp, index=model.buses, name="lmp_usd_per_mwh"),
        import_kw=float(z[3 * nb + n] * s_base),
        loss_kw=float(model.r @ L * s_base),
        cost_usd_per_h=float(q @ z),
        relaxation_gap_pu=float(np.max(np.abs(gap))),
        relaxation_gap_rel=float(np.max(np.abs(rel[L > 1e-9]))) if (L > 1e-9).any() else 0.0,
        solve_s=res.wall_s,
    )


# ============================================================================ lower level
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


_WARM: dict = {}
_OPF: dict = {}


def _opf_model(system: PlanningSystem) -> BranchFlowOPF:
    key = id(system.grid)
    if key not in _OPF:
        _OPF.clear()
        _OPF[key] = build_branch_flow(system.grid)
    return _OPF[key]


def _bus_loads(system: PlanningSystem, period: str, station_kw: np.ndarray) -> tuple[pd.Series, pd.Series]:
    lf = float(system.periods.loc[period, "load_factor"])
    p = system.grid.buses["p_load_kw"] * lf
    q = system.grid.buses["q_load_kvar"] * lf
    add = pd.Series(station_kw, index=system.stations["bus"].to_numpy()).groupby(level=0).sum()
    p = p.add(add, fill_value=0.0)  # chargers at unity power factor (DC fast chargers, pf ~ 0.99)
    return p, q


def base_grid_cost(system: PlanningSystem) -> pd.Series:
    """Feeder import cost [$/h] per period without any station load (for the revenue constraint)."""
    m = _opf_model(system)
    out = {}
    for period in system.periods.index:
        p, q = _bus_loads(system, period, np.zeros(system.n_stations))
        out[period] = solve_opf(m, p, q, float(system.periods.loc[period, "tou_usd_per_kwh"])).cost_usd_per_h
    return pd.Series(out)


def _warm_key(system: PlanningSystem, period: str, ev_share: float | None) -> tuple:
    """Cache key of a period's reference equilibrium: everything that fixes its demand (content, not ids, so
    the key is the same in worker processes)."""
    tc = system.config.traffic
    return (system.roads.name, float(system.trips.to_numpy().sum()), period,
            float(system.periods.loc[period, "demand_factor"]), float(tc.ev_share if ev_share is None else ev_share),
            float(tc.charging_trip_share), float(tc.reference_rel_gap))


def reference_flows(system: PlanningSystem, period: str, ev_share: float | None = None) -> dict:
    """Common warm start of every plan's UE in ``period``: the equilibrium of the uniform mid plan at TOU
    prices, solved to ``traffic.reference_rel_gap`` (1e-6). Every evaluation starts from it, so a plan's result
    does not depend on which plans a process evaluated before (reproducible in parallel), and the background
    traffic (which the stations barely move) stays near-exact while each plan's UE drives every class's own gap
    below ``traffic.rel_gap``: differences between plans are then far more accurate than the gap alone allows."""
    key = _warm_key(system, period, ev_share)
    if key not in _WARM:
        cfg = system.config
        mid = np.full(system.n_stations, 0.5 * (cfg.upper.p_min_kw + cfg.upper.p_max_kw))
        tou = float(system.periods.loc[period, "tou_usd_per_kwh"])
        ue = assign(system.resources(mid), system.classes(period, np.full(system.n_stations, tou), ev_share),
                    algorithm=cfg.traffic.algorithm, rel_gap=cfg.traffic.reference_rel_gap,
                    max_iter=20 * cfg.traffic.max_iter)
        _WARM[key] = ue.class_flows
    return _WARM[key]


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


def solve_period(system: PlanningSystem, period: str, capacity_kw: np.ndarray, ev_share: float | None = None) -> PeriodResult:
    """UE <-> OPF fixed point of one period (each UE warm-started: the common reference, then the previous
    fixed-point iterate)."""
    cfg = system.config
    tou = float(system.periods.loc[period, "tou_usd_per_kwh"])
    res = system.resources(capacity_kw)
    model = _opf_model(system)
    price = np.full(system.n_stations, tou)
    start = reference_flows(system, period, ev_share)
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
            opf = solve_opf(model, p, q, tou)
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
                  base_cost: pd.Series | None = None) -> Evaluation:
    """Exact lower level for all periods and the social cost per day (module docstring)."""
    t0 = time.perf_counter()
    cap = np.asarray(capacity_kw, dtype=float)
    cfg = system.config
    tc = cfg.traffic
    base_cost = base_grid_cost(system) if base_cost is None else base_cost
    periods, tt, en, grid, rev, extra = [], 0.0, 0.0, 0.0, 0.0, 0.0
    for period in system.periods.index:
        pr = solve_period(system, period, cap, ev_share)
        d = float(system.periods.loc[period, "duration_h"])
        tt += d * (tc.vot_icev_usd_per_h * pr.class_time_veh_h["icev"]
                   + tc.vot_ev_usd_per_h * (pr.class_time_veh_h["ev"] + pr.class_time_veh_h["ev_charging"]))
        en += d * (tc.icev_fuel_usd_per_km * pr.class_vkm["icev"]
                   + tc.ev_energy_kwh_per_km * tc.ev_home_price_usd_per_kwh * pr.class_vkm["ev"])
        grid += d * pr.opf.cost_usd_per_h
        rev += d * float(pr.station_price_usd_per_kwh @ pr.station_kw)
        extra += d * (pr.opf.cost_usd_per_h - float(base_cost[period]))
        periods.append(pr)
    capex = float(system.capex_usd(cap).sum())
    inv = cfg.investment.crf * capex / 365.0
    return Evaluation(cap, periods, tt, en, inv, grid, rev, extra, capex, time.perf_counter() - t0)


# ============================================================================ upper level
def check_budget(system: PlanningSystem) -> None:
    """The cheapest plan (all stations at ``p_min``) must fit the budget, else name the parameter."""
    up = system.config.upper
    cheapest = float(system.capex_usd(np.full(system.n_stations, up.p_min_kw)).sum())
    if cheapest > up.budget_usd:
        raise PlanningConfigError(
            f"planning.upper.budget_usd = {up.budget_usd:,.0f} $ is infeasible: the cheapest plan (all "
            f"{system.n_stations} stations at p_min_kw = {up.p_min_kw} kW) costs {cheapest:,.0f} $"
        )


def _feasible_samples(system: PlanningSystem, rng: np.random.Generator, n: int, lhs: bool = False) -> np.ndarray:
    up = system.config.upper
    S = system.n_stations
    out = np.empty((0, S))
    tries = 0
    while len(out) < n:
        m = max(4 * n, 64)
        u = qmc.LatinHypercube(d=S, seed=rng).random(m) if lhs else rng.random((m, S))
        x = up.p_min_kw + u * (up.p_max_kw - up.p_min_kw)
        ok = system.capex_usd(x).sum(axis=1) <= up.budget_usd
        out = np.vstack([out, x[ok]])
        tries += 1
        if tries > 200:
            raise PlanningConfigError("planning.upper.budget_usd leaves (almost) no feasible plan to sample")
    return out[:n]


def project_to_budget(system: PlanningSystem, plans: np.ndarray) -> np.ndarray:
    """Scale each plan's capacity above ``p_min`` by the largest factor keeping ``capex <= budget`` and
    ``P <= p_max`` (the budget-exhausting ray through the plan): ``P' = p_min + alpha (P - p_min)``."""
    up, inv, sc = system.config.upper, system.config.investment, system.config.station
    S = system.n_stations
    room_kw = (up.budget_usd / sc.units - S * inv.unit_fixed_usd) / max(inv.unit_usd_per_kw, 1e-12) - S * up.p_min_kw
    extra = np.maximum(np.asarray(plans, float) - up.p_min_kw, 0.0)
    alpha = room_kw / np.maximum(extra.sum(axis=1, keepdims=True), 1e-12)
    return np.clip(up.p_min_kw + alpha * extra, up.p_min_kw, up.p_max_kw)


def _safe_eval(system: PlanningSystem, cap: np.ndarray, base: pd.Series) -> Evaluation | None:
    """Exact evaluation; a plan whose station loads make a period's OPF infeasible returns None."""
    try:
        return evaluate_plan(system, cap, base_cost=base)
    except InfeasibleModelError as err:
        log.warning("plan %s infeasible: %s", np.round(cap, 1).tolist(), err)
        return None


def _eval_task(cap: np.ndarray, shared: tuple) -> Evaluation | None:
    """One exact evaluation on an evgrid.compute worker: ``shared = (system, base grid cost, reference flows)``.
    Every plan's UE starts from the shared reference equilibria, so the result does not depend on the worker
    or on what it evaluated before."""
    system, base, warm = shared
    _WARM.update(warm)
    return _safe_eval(system, np.asarray(cap, dtype=float), base)


class Evaluator:
    """Exact evaluations of plans, one :func:`evgrid.compute.map_tasks` task per plan (the reference
    equilibria and the base grid cost computed once here and shared with every worker)."""

    def __init__(self, system: PlanningSystem, compute_settings=None):
        from evgrid import compute

        self.system = system
        self.settings = compute.ComputeSettings.coerce(compute_settings)
        self.base = base_grid_cost(system)
        self.warm = {_warm_key(system, p, None): reference_flows(system, p) for p in system.periods.index}
        self.n_calls = 0

    def __call__(self, plans: np.ndarray) -> list[Evaluation]:
        from evgrid import compute

        plans = np.atleast_2d(np.asarray(plans, dtype=float))
        self.n_calls += 1
        return compute.map_tasks(_eval_task, list(plans), self.settings,
                                 keys=[(self.n_calls, i) for i in range(len(plans))],
                                 shared=(self.system, self.base, self.warm), desc="planning evaluations")

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


@dataclass
class SearchResult:
    method: str
    evaluations: list[Evaluation]
    objectives: list[float]
    wall_s: float
    plans: list = field(default_factory=list)

    @property
    def best(self) -> Evaluation:
        if not np.isfinite(np.min(self.objectives)):
            raise PlanningConfigError(f"{self.method}: no feasible plan among {len(self.objectives)} evaluations")
        return self.evaluations[int(np.argmin(self.objectives))]



def random_search(system: PlanningSystem, evaluator: Evaluator, n_eval: int, seed: int) -> SearchResult:
    """``n_eval`` uniformly random plans inside the box and the budget."""
    t0 = time.perf_counter()
    plans = _feasible_samples(system, np.random.default_rng(seed), n_eval)
    evs = evaluator(plans)
    return SearchResult("random", evs, [objective(system, e) for e in evs], time.perf_counter() - t0, list(plans))


def _fit_surrogate(kind: str, X: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    if kind == "rbf":
        from scipy.interpolate import RBFInterpolator

        f = RBFInterpolator(X, y, kernel="thin_plate_spline", smoothing=1e-9)
        return lambda Z: (f(Z), None)
    d = X.shape[1]
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(np.ones(d), (1e-2, 1e3), nu=2.5) + WhiteKernel(1e-4, (1e-8, 1e-1))
    gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=seed, n_restarts_optimizer=2)
    with warnings.catch_warnings():  # few points in 8-D: length scales often sit on a bound (irrelevant input)
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(X, y)
    return lambda Z: gp.predict(Z, return_std=True)


def surrogate_search(system: PlanningSystem, evaluator: Evaluator, n_eval: int, n_init: int, seed: int) -> SearchResult:
    """Surrogate-based optimisation: Latin-hypercube start (+ the uniform mid plan), then batches of
    ``upper.batch_size`` points maximising expected improvement ``EI = (f* - mu) Phi(z) + sigma phi(z)``
    (GP, Matern 5/2 ARD) over random feasible candidates; batch points by the kriging believer
    (fantasise ``f = mu`` at a chosen point, refit). Half of the candidates are projected onto the budget
    surface (:func:`project_to_budget`). RBF surrogate: minimise the interpolant plus a
    distance-based exploration term. Plans are scaled to [0, 1] for the surrogate.
    """
    t0 = time.perf_counter()
    up = system.config.upper
    rng = np.random.default_rng(seed)
    S = system.n_stations
    lo, hi = up.p_min_kw, up.p_max_kw
    mid = np.full(S, min(0.5 * (lo + hi), _uniform_max(system)))
    init = np.vstack([mid, _feasible_samples(system, rng, n_init - 1, lhs=True)]) if n_init > 1 else mid[None]
    evs = evaluator(init)
    plans = list(init)
    objs = [objective(system, e) for e in evs]
    scale = lambda P: (P - lo) / max(hi - lo, 1e-9)  # noqa: E731
    batch = system.config.upper.batch_size
    while len(evs) < n_eval:
        ok = [i for i, o in enumerate(objs) if np.isfinite(o)]
        if len(ok) < 2:
            raise PlanningConfigError("fewer than 2 feasible plans in the initial design: widen planning.upper or "
                                      "lower the station loads (planning.traffic.charging_trip_share)")
        X = scale(np.array([plans[i] for i in ok]))
        y = np.asarray([objs[i] for i in ok])
        cand = _feasible_samples(system, rng, up.n_candidates)
        half = len(cand) // 2  # half the candidates on the budget surface (more capacity rarely hurts)
        cand[:half] = project_to_budget(system, cand[:half])
        chosen = []
        Xf, yf = X.copy(), y.copy()
        for _ in range(min(batch, n_eval - len(evs))):
            pred = _fit_surrogate(up.surrogate, Xf, yf, seed)
            mu, sd = pred(scale(cand))
            best = yf.min()
            if sd is None:  # RBF: interpolant minus an exploration bonus on the distance to the data
                dist = np.min(np.linalg.norm(scale(cand)[:, None, :] - Xf[None], axis=2), axis=1)
                score = -(mu - 0.1 * np.std(yf) * dist / max(dist.max(), 1e-12))
            else:
                sd = np.maximum(sd, 1e-12)
                zz = (best - mu) / sd
                score = (best - mu) * norm.cdf(zz) + sd * norm.pdf(zz)
            k = int(np.argmax(score))
            chosen.append(cand[k])
            Xf = np.vstack([Xf, scale(cand[k])[None]])
            yf = np.append(yf, mu[k])
            cand = np.delete(cand, k, axis=0)
        new = evaluator(np.array(chosen))
        plans += chosen
        evs += new
        objs += [objective(system, e) for e in new]
    return SearchResult(f"surrogate_{up.surrogate}", evs, objs, time.perf_counter() - t0, plans)


def _uniform_max(system: PlanningSystem) -> float:
    """Largest common unit power the budget allows."""
    up, inv, sc = system.config.upper, system.config.investment, system.config.station
    per_station = up.budget_usd / system.n_stations / sc.units
    return float(min(up.p_max_kw, (per_station - inv.unit_fixed_usd) / max(inv.unit_usd_per_kw, 1e-12)))


def uniform_plan(system: PlanningSystem, reference_kw: np.ndarray) -> np.ndarray:
    """The paper's Case 2: every station at the mean capacity of ``reference_kw`` (the optimised plan)."""
    return np.full(system.n_stations, float(np.mean(reference_kw)))


# ============================================================================ V2G variant
def solve_v2g_opf(model: BranchFlowOPF, loads: list[tuple[pd.Series, pd.Series]], prices_usd_per_kwh: np.ndarray,
                  durations_h: np.ndarray, station_bus: np.ndarray, limit_kw: np.ndarray, efficiency: float,
                  degradation_usd_per_kwh: float) -> dict:
    """Multi-period SOCP OPF with V2G at the stations (all periods in one conic problem).

    Per period ``t`` the branch-flow block of :func:`build_branch_flow` with bus loads ``p_t``; at station
    ``s`` (bus ``j_s``) the parked EVs charge ``c_ts`` or discharge ``d_ts`` (``0 <= c, d <= limit_ts`` kW,
    ``limit`` = idle charger power x availability) so the bus load is ``p_t,j + c - d``; daily energy
    neutrality ``sum_t D_t (eta c_ts - d_ts / eta) = 0``; objective
    ``sum_t D_t (price_t p0_t + deg d_ts)``. Returns cost, schedule, nodal prices ($/MWh) per period.
    """
    T, S = len(loads), len(station_bus)
    g = model.grid
    s_base = g.s_base_kva
    n, nb = len(model.buses), model.nb
    nz, nn = model.n_zero, model.n_nonneg
    A = model.A.tocsr()
    Z, N, C = A[:nz], A[nz : nz + nn], A[nz + nn :]
    nv = model.n_var
    ncd = 2 * T * S  # c then d, index t * S + s
    bus_pos = {b: i for i, b in enumerate(model.buses)}
    rows_bal = np.array([model.balance_rows_p[bus_pos[b]] for b in station_bus])
    # zero rows: T balance/voltage blocks + S energy rows
    cz = sparse.lil_matrix((T * nz + S, ncd))
    for t in range(T):
        for s in range(S):
            cz[t * nz + rows_bal[s], t * S + s] = -1.0  # charging adds load
            cz[t * nz + rows_bal[s], T * S + t * S + s] = 1.0
            cz[T * nz + s, t * S + s] = durations_h[t] * efficiency
            cz[T * nz + s, T * S + t * S + s] = -durations_h[t] / efficiency
    Az = sparse.hstack([sparse.vstack([sparse.block_diag([Z] * T), sparse.csr_matrix((S, T * nv))]), cz.tocsr()])
    An = sparse.vstack([
        sparse.hstack([sparse.block_diag([N] * T), sparse.csr_matrix((T * nn, ncd))]),
        sparse.hstack([sparse.csr_matrix((2 * ncd, T * nv)), sparse.vstack([-sparse.eye(ncd), sparse.eye(ncd)])]),
    ])
    Ac = sparse.hstack([sparse.block_diag([C] * T), sparse.csr_matrix((T * C.shape[0], ncd))])
    bz, bn, bc = [], [], []
    for p, q in loads:
        b = model.b_static.copy()
        b[model.balance_rows_p] = p.reindex(model.buses).fillna(0.0).to_numpy(float) / s_base
        b[model.balance_rows_q] = q.reindex(model.buses).fillna(0.0).to_numpy(float) / s_base
        bz.append(b[:nz])
        bn.append(b[nz : nz + nn])
        bc.append(b[nz + nn :])
    lim = np.tile(np.asarray(limit_kw, float).reshape(T * S), 2) / s_base
    b_all = np.concatenate(bz + [np.zeros(S)] + bn + [np.zeros(ncd), lim] + bc)
    qv = np.zeros(T * nv + ncd)
    for t in range(T):
        qv[t * nv + 3 * nb + n] = durations_h[t] * prices_usd_per_kwh[t] * 1000.0 * g.base_mva
    qv[T * nv + T * S :] = np.repeat(durations_h, S) * degradation_usd_per_kwh * s_base
    res = solve_conic(ConicProblem(q=qv, A=sparse.vstack([Az, An, Ac]).tocsc(), b=b_all, zero=T * nz + S,
                                   nonneg=T * nn + 2 * ncd, soc=[4] * (T * nb)), {"time_limit_s": 120.0})
    x = res.x
    c = x[T * nv : T * nv + T * S].reshape(T, S) * s_base
    d = x[T * nv + T * S :].reshape(T, S) * s_base
    lmp = np.array([-res.z[t * nz + model.balance_rows_p] / (g.base_mva * durations_h[t]) for t in range(T)])
    imports = np.array([x[t * nv + 3 * nb + n] * s_base for t in range(T)])
    return {"cost_usd": float(qv @ x), "charge_kw": c, "discharge_kw": d, "lmp_usd_per_mwh": lmp,
            "import_kw": imports}

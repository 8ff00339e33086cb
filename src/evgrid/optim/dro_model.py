"""Two-stage (stochastic / Wasserstein-DRO) day-ahead model of a feeder with dynamic charging lanes.

Built on the shared grid core: :func:`evgrid.optim.lindistflow.build_lindistflow` (one LinDistFlow per
scenario and step) and :func:`evgrid.optim.solver.solve`. Math: docs/dro.md.

First stage ``x`` (day-ahead, before the scenario is known), per step ``t``:
    commitment ``u[g,t]``, output ``pg[g,t]`` of the conventional units, energised lane power
    ``alloc[l,t]`` (kW made available on each lane).
Second stage per support scenario ``s``:
    renewable use ``pr[r,s,t] <= avail[r,s,t]`` (the rest is curtailed), downward redispatch of the
    conventional units ``pg_down[g,s,t] <= pg[g,t]``, lane power delivered
    ``served[l,s,t] <= min(alloc[l,t], demand[l,s,t])``, load shedding ``shed[b,s,t] <= load[b,t]``,
    substation import at the scenario price, the LinDistFlow limits (0.95-1.05 p.u., thermal polygon),
    and a soft daily renewable-share target.
Costs (per day, $):
    ``c1(x) = dt * sum_t [ sum_g (c_f u + c_v pg) + c_op sum_l alloc ] + lane installation + maintenance``
    ``Q_s(x) = dt * sum_t [ price_s import + c_ren pr + c_rd pg_down + c_deg served
                             + v_lane (demand - served) + VOLL shed ] + c_share shortfall_s``
Objectives:
    expected (SAA / deterministic): ``c1 + sum_s p_s Q_s``
    dro: ``E_P[C] + w * max_{Q: W1(Q,P) <= eps} E_Q[C]`` with ``C = c1 + Q_s``, the worst case by the
    finite reformulation of :func:`evgrid.optim.robust.add_wasserstein_dro`.
The recourse is complete (shedding, curtailment and redispatch can always restore the limits), so every
fixed first stage can be evaluated on any scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from evgrid.ev.lanes import LaneSet
from evgrid.grid.network import Network
from evgrid.optim.lindistflow import Injection, LinDistFlowHandles, LinDistFlowOptions, build_lindistflow
from evgrid.optim.persistent import PersistentLP
from evgrid.optim.robust import WassersteinBall, add_wasserstein_dro
from evgrid.optim.solver import SolveResult, SolverOptions, solve


@dataclass
class CostParams:
    """Cost coefficients (see conf/base/parameters_dro.yml for sources and assumptions)."""

    lane_operation_usd_per_kwh: float = 0.05
    battery_degradation_usd_per_kwh: float = 0.02
    unserved_lane_usd_per_kwh: float = 0.10 / 0.18
    load_shedding_usd_per_kwh: float = 5.0
    redispatch_penalty_usd_per_kwh: float = 0.03
    renewable_share_target: float = 0.6
    renewable_shortfall_usd_per_kwh: float = 0.05
    lane_fixed_usd_per_day: float = 0.0
    lane_maintenance_usd_per_day: float = 0.0


@dataclass
class DroSystem:
    """Static system: feeder, lanes, units, base-load profile and costs."""

    network: Network
    lanes: LaneSet
    conventional: pd.DataFrame  # index unit: bus, p_max_kw, p_min_kw, fixed_usd_per_h, var_usd_per_kwh, co2_kg_per_kwh
    renewables: pd.DataFrame    # index unit: bus, kind ('pv' | 'wind'), p_max_kw, var_usd_per_kwh
    load_profile: np.ndarray    # (T,) multiplier of the case's (peak) bus loads
    step_h: float
    costs: CostParams = field(default_factory=CostParams)
    grid_options: LinDistFlowOptions = field(default_factory=LinDistFlowOptions)
    integer_commitment: bool = False

    @property
    def n_steps(self) -> int:
        return len(self.load_profile)

    def bus_load_kw(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(T x bus) active and reactive loads."""
        prof = np.asarray(self.load_profile, float)
        b = self.network.buses
        idx = pd.RangeIndex(len(prof), name="step")
        return (pd.DataFrame(np.outer(prof, b["p_load_kw"]), index=idx, columns=b.index),
                pd.DataFrame(np.outer(prof, b["q_load_kvar"]), index=idx, columns=b.index))


@dataclass
class ScenarioData:
    """Uncertain inputs per support atom, at the model's steps."""

    lane_demand_kw: np.ndarray   # (S, L, T)
    pv_pu: np.ndarray            # (S, T) available PV per kWp
    wind_pu: np.ndarray          # (S, T) available wind per unit of rating
    price_usd_per_kwh: np.ndarray  # (S, T) substation energy price incl. carbon cost of imports

    def __post_init__(self) -> None:
        s, _, t = self.lane_demand_kw.shape
        for name in ("pv_pu", "wind_pu", "price_usd_per_kwh"):
            arr = getattr(self, name)
            if arr.shape != (s, t):
                raise ValueError(f"scenario array {name!r} has shape {arr.shape}, expected {(s, t)} "
                                 "(scenarios x steps, same as the lane demand)")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"scenario array {name!r} has non-finite values")
        if np.any(self.lane_demand_kw < 0) or np.any(self.pv_pu < 0) or np.any(self.wind_pu < 0):
            raise ValueError("lane demand and renewable availability must be >= 0")

    @property
    def n_scenarios(self) -> int:
        return self.lane_demand_kw.shape[0]

    def subset(self, idx) -> ScenarioData:
        idx = np.asarray(idx)
        return ScenarioData(self.lane_demand_kw[idx], self.pv_pu[idx], self.wind_pu[idx],
                            self.price_usd_per_kwh[idx])

    def concat(self, other: ScenarioData) -> ScenarioData:
        return ScenarioData(*(np.concatenate([a, b]) for a, b in zip(
            (self.lane_demand_kw, self.pv_pu, self.wind_pu, self.price_usd_per_kwh),
            (other.lane_demand_kw, other.pv_pu, other.wind_pu, other.price_usd_per_kwh), strict=True)))

    def mean(self, probabilities: np.ndarray | None = None) -> ScenarioData:
        p = np.full(self.n_scenarios, 1 / self.n_scenarios) if probabilities is None else np.asarray(probabilities)
        return ScenarioData(*(np.tensordot(p, a, axes=1)[None] for a in (
            self.lane_demand_kw, self.pv_pu, self.wind_pu, self.price_usd_per_kwh)))


@dataclass
class FirstStage:
    """A first-stage decision (the day-ahead schedule)."""

    commitment: np.ndarray  # (G, T)
    p_conv_kw: np.ndarray   # (G, T)
    alloc_kw: np.ndarray    # (L, T)


@dataclass
class TwoStageModel:
    model: pyo.ConcreteModel
    grid: LinDistFlowHandles
    system: DroSystem
    n_support: int
    method: str
    result: SolveResult | None = None

    # ------------------------------------------------------------------ data updates (persistent)
    def set_scenarios(self, data: ScenarioData) -> None:
        """Overwrite the mutable scenario Params (same number of atoms as built)."""
        m, sysm = self.model, self.system
        if data.n_scenarios != self.n_support:
            raise ValueError(f"model has {self.n_support} scenario slots, got {data.n_scenarios} scenarios")
        avail = _availability(sysm, data)
        for (li, lane) in enumerate(sysm.lanes.names):
            for s in range(self.n_support):
                for t in range(sysm.n_steps):
                    m.demand[lane, s, t] = float(data.lane_demand_kw[s, li, t])
        for ri, r in enumerate(sysm.renewables.index):
            for s in range(self.n_support):
                for t in range(sysm.n_steps):
                    m.avail[r, s, t] = float(avail[s, ri, t])
        for s in range(self.n_support):
            for t in range(sysm.n_steps):
                m.price[s, t] = float(data.price_usd_per_kwh[s, t])

    def fix_first_stage(self, fs: FirstStage) -> None:
        """Fix the first-stage variables; solver round-off is projected back onto the unit limits."""
        m, sysm = self.model, self.system
        conv = sysm.conventional
        u = np.clip(np.asarray(fs.commitment, float), 0.0, 1.0)
        if sysm.integer_commitment:
            u = np.round(u)
        pmax = conv["p_max_kw"].to_numpy(float)[:, None] * u
        pmin = conv["p_min_kw"].to_numpy(float)[:, None] * u
        pg = np.clip(np.asarray(fs.p_conv_kw, float), pmin, pmax)
        alloc = np.clip(np.asarray(fs.alloc_kw, float), 0.0, sysm.lanes.rating_kw[:, None])
        for gi, g in enumerate(conv.index):
            for t in range(sysm.n_steps):
                m.u[g, t].fix(float(u[gi, t]))
                m.pg[g, t].fix(float(pg[gi, t]))
        for li, lane in enumerate(sysm.lanes.names):
            for t in range(sysm.n_steps):
                m.alloc[lane, t].fix(float(alloc[li, t]))

    def solve(self, options: SolverOptions | dict | None = None) -> SolveResult:
        self.result = solve(self.model, options)
        return self.result

    # ------------------------------------------------------------------ results
    def first_stage(self) -> FirstStage:
        m, sysm = self.model, self.system
        g, lanes, t = sysm.conventional.index, sysm.lanes.names, range(sysm.n_steps)
        return FirstStage(
            commitment=np.array([[pyo.value(m.u[i, k]) for k in t] for i in g]).reshape(len(g), -1),
            p_conv_kw=np.array([[pyo.value(m.pg[i, k]) for k in t] for i in g]).reshape(len(g), -1),
            alloc_kw=np.array([[pyo.value(m.alloc[i, k]) for k in t] for i in lanes]).reshape(len(lanes), -1),
        )

    def first_stage_cost(self) -> float:
        return float(pyo.value(self.model.c1))

    def scenario_costs(self) -> np.ndarray:
        return np.array([pyo.value(self.model.Q[s]) for s in range(self.n_support)])

    def step_detail(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Per (atom, step): supply mix and lane totals; per (atom, lane, step): demand and delivery (kW)."""
        m, sysm = self.model, self.system
        ren = sysm.renewables
        pv = [r for r in ren.index if ren.at[r, "kind"] == "pv"]
        wind = [r for r in ren.index if ren.at[r, "kind"] == "wind"]
        v = self.grid.voltage_pu()
        rows, lane_rows = [], []
        for s in range(self.n_support):
            for t in range(sysm.n_steps):
                served = {lane: pyo.value(m.served[lane, s, t]) for lane in sysm.lanes.names}
                dem = {lane: pyo.value(m.demand[lane, s, t]) for lane in sysm.lanes.names}
                rows.append({
                    "atom": s, "step": t,
                    "pv_kw": sum(pyo.value(m.pr[r, s, t]) for r in pv),
                    "wind_kw": sum(pyo.value(m.pr[r, s, t]) for r in wind),
                    "conventional_kw": sum(pyo.value(m.pg[g, t]) - pyo.value(m.pg_down[g, s, t])
                                           for g in sysm.conventional.index),
                    "import_kw": pyo.value(self.grid.p_import_kw[s, t]),
                    "lane_served_kw": sum(served.values()), "lane_demand_kw": sum(dem.values()),
                    "load_shed_kw": sum(pyo.value(m.shed[b, s, t]) for b in m.SHED_B),
                    "v_min_pu": float(v.loc[(s, t)].min()), "v_max_pu": float(v.loc[(s, t)].max()),
                })
                for lane in sysm.lanes.names:
                    lane_rows.append({"atom": s, "step": t, "lane": lane, "demand_kw": dem[lane],
                                      "served_kw": served[lane], "alloc_kw": pyo.value(m.alloc[lane, t])})
        return pd.DataFrame(rows), pd.DataFrame(lane_rows)

    def recourse_table(self) -> pd.DataFrame:
        """Per support atom: cost terms and energies (kWh) of the solved second stage."""
        m, sysm = self.model, self.system
        dt = sysm.step_h
        T = range(sysm.n_steps)
        rows = []
        pv_units = [r for r in sysm.renewables.index if sysm.renewables.at[r, "kind"] == "pv"]
        for s in range(self.n_support):
            imp = np.array([pyo.value(self.grid.p_import_kw[s, t]) for t in T])
            price = np.array([pyo.value(m.price[s, t]) for t in T])
            served = sum(pyo.value(m.served[lane, s, t]) for lane in sysm.lanes.names for t in T) * dt
            demand = sum(pyo.value(m.demand[lane, s, t]) for lane in sysm.lanes.names for t in T) * dt
            ren = sum(pyo.value(m.pr[r, s, t]) for r in sysm.renewables.index for t in T) * dt
            avail = sum(pyo.value(m.avail[r, s, t]) for r in sysm.renewables.index for t in T) * dt
            pv = sum(pyo.value(m.pr[r, s, t]) for r in pv_units for t in T) * dt
            conv = sum(pyo.value(m.pg[g, t]) - pyo.value(m.pg_down[g, s, t])
                       for g in sysm.conventional.index for t in T) * dt
            shed = sum(pyo.value(m.shed[b, s, t]) for b in m.SHED_B for t in T) * dt
            rows.append({
                "atom": s, "recourse_cost_usd": pyo.value(m.Q[s]),
                "import_cost_usd": float((price * imp).sum() * dt),
                "import_kwh": float(imp.clip(min=0).sum() * dt), "export_kwh": float((-imp).clip(min=0).sum() * dt),
                "lane_demand_kwh": demand, "lane_served_kwh": served, "lane_unserved_kwh": demand - served,
                "renewable_used_kwh": ren, "pv_used_kwh": pv, "wind_used_kwh": ren - pv,
                "curtailed_kwh": avail - ren, "conventional_kwh": conv, "load_shed_kwh": shed,
                "renewable_shortfall_kwh": pyo.value(m.shortfall[s]),
            })
        return pd.DataFrame(rows)


def radius_sweep(tsm: TwoStageModel, radii, worst_case_weight: float, solver: dict | None = None):
    """Solve a ``dro`` model for each radius on one persistent LP (only the cost of ``lambda`` changes:
    ``w * radius``); yields the radius after loading each solution into the Pyomo model."""
    if tsm.method != "dro":
        raise ValueError("radius_sweep needs a model built with method='dro'")
    m = tsm.model
    if tsm.system.integer_commitment:  # MILP: no persistent LP, a full solve per radius
        for r in radii:
            m.dro.dro_radius = float(r)
            tsm.solve(solver)
            yield float(r)
        return
    lp = PersistentLP(m, time_limit_s=(solver or {}).get("time_limit_s"))
    lam = lp.columns([m.dro.dro_lambda])
    for r in radii:
        m.dro.dro_radius = float(r)
        lp.set_costs(lam, [worst_case_weight * float(r)])
        lp.solve()
        yield float(r)


def _availability(sysm: DroSystem, data: ScenarioData) -> np.ndarray:
    """(S, R, T) available renewable power in kW."""
    ren = sysm.renewables
    is_pv = (ren["kind"] == "pv").to_numpy()
    pmax = ren["p_max_kw"].to_numpy(float)
    pu = np.where(is_pv[None, :, None], data.pv_pu[:, None, :], data.wind_pu[:, None, :])
    return pu * pmax[None, :, None]


def build_two_stage(sysm: DroSystem, data: ScenarioData, probabilities: np.ndarray | None = None,
                    method: str = "expected", ball: WassersteinBall | None = None,
                    worst_case_weight: float = 0.1, name: str = "dro", lambda_max: float = 1e5) -> TwoStageModel:
    """Build the two-stage model over the ``data`` atoms.

    ``method='expected'``: minimise ``c1 + sum_s p_s Q_s`` (``probabilities`` default uniform).
    ``method='dro'``: the first ``len(ball.nominal_probs)`` atoms carry the nominal distribution, all
    atoms form the support; minimise ``E_P[C] + w * max_Q E_Q[C]``. ``lambda_max`` ($ per unit of
    distance) bounds the dual multiplier of the transport budget: exact whenever the optimal multiplier
    is below it (it is a cost per unit of W1 distance; without a bound HiGHS can report radius-0
    instances as unbounded); :attr:`lambda_at_bound` flags a binding bound.
    """
    n_s = data.n_scenarios
    lanes, conv, ren = sysm.lanes, sysm.conventional, sysm.renewables
    if data.lane_demand_kw.shape[1:] != (len(lanes.names), sysm.n_steps):
        raise ValueError(f"lane demand has shape {data.lane_demand_kw.shape[1:]} per scenario, expected "
                         f"(lanes={len(lanes.names)}, steps={sysm.n_steps})")
    known = set(sysm.network.bus_ids)
    for what, frame in (("lanes", lanes.table), ("conventional", conv), ("renewables", ren)):
        bad = sorted(set(frame["bus"]) - known)
        if bad:
            raise ValueError(f"parameter {what!r}: buses {bad} are not in network '{sysm.network.name}'")
    dt = sysm.step_h
    c = sysm.costs
    T = list(range(sysm.n_steps))
    S = list(range(n_s))
    m = pyo.ConcreteModel(name=name)
    m.T = pyo.Set(initialize=T, ordered=True)
    m.S = pyo.Set(initialize=S, ordered=True)
    m.G = pyo.Set(initialize=list(conv.index), ordered=True)
    m.R = pyo.Set(initialize=list(ren.index), ordered=True)
    m.L = pyo.Set(initialize=lanes.names, ordered=True)

    # ---- scenario parameters (mutable: persistent re-solves on new scenarios)
    avail = _availability(sysm, data)
    m.demand = pyo.Param(m.L, m.S, m.T, mutable=True, within=pyo.NonNegativeReals, initialize={
        (lane, s, t): float(data.lane_demand_kw[s, li, t]) for li, lane in enumerate(lanes.names) for s in S for t in T})
    m.avail = pyo.Param(m.R, m.S, m.T, mutable=True, within=pyo.NonNegativeReals, initialize={
        (r, s, t): float(avail[s, ri, t]) for ri, r in enumerate(ren.index) for s in S for t in T})
    m.price = pyo.Param(m.S, m.T, mutable=True, within=pyo.Reals, initialize={
        (s, t): float(data.price_usd_per_kwh[s, t]) for s in S for t in T})

    # ---- first stage
    pmax = conv["p_max_kw"].to_dict()
    pmin = conv["p_min_kw"].to_dict()
    m.u = pyo.Var(m.G, m.T, within=pyo.Binary if sysm.integer_commitment else pyo.UnitInterval)
    m.pg = pyo.Var(m.G, m.T, within=pyo.NonNegativeReals)
    m.pg_hi = pyo.Constraint(m.G, m.T, rule=lambda m, g, t: m.pg[g, t] <= pmax[g] * m.u[g, t])
    m.pg_lo = pyo.Constraint(m.G, m.T, rule=lambda m, g, t: m.pg[g, t] >= pmin[g] * m.u[g, t])
    rating = dict(zip(lanes.names, lanes.rating_kw, strict=True))
    m.alloc = pyo.Var(m.L, m.T, bounds=lambda m, lane, t: (0.0, rating[lane]))

    # ---- second stage
    # scenario data enter as variable bounds (served <= demand, pr <= avail) and as the import price
    # (objective coefficient): a persistent LP updates exactly these numbers between scenarios
    m.pr = pyo.Var(m.R, m.S, m.T, bounds=lambda m, r, s, t: (0.0, m.avail[r, s, t]))
    m.pg_down = pyo.Var(m.G, m.S, m.T, within=pyo.NonNegativeReals)
    m.pg_down_max = pyo.Constraint(m.G, m.S, m.T, rule=lambda m, g, s, t: m.pg_down[g, s, t] <= m.pg[g, t])
    m.served = pyo.Var(m.L, m.S, m.T, bounds=lambda m, lane, s, t: (0.0, m.demand[lane, s, t]))
    m.served_alloc = pyo.Constraint(m.L, m.S, m.T, rule=lambda m, lane, s, t: m.served[lane, s, t] <= m.alloc[lane, t])
    p_load, q_load = sysm.bus_load_kw()
    loaded = [int(b) for b in sysm.network.bus_ids if p_load[b].max() > 0]
    m.SHED_B = pyo.Set(initialize=loaded, ordered=True)
    m.shed = pyo.Var(m.SHED_B, m.S, m.T, bounds=lambda m, b, s, t: (0.0, float(p_load.at[t, b])))
    pf_ratio = {b: float(q_load[b].max() / p_load[b].max()) for b in loaded}

    conv_at: dict[int, list] = {}
    for g, bus in conv["bus"].items():
        conv_at.setdefault(int(bus), []).append(g)
    ren_at: dict[int, list] = {}
    for r, bus in ren["bus"].items():
        ren_at.setdefault(int(bus), []).append(r)
    lane_at: dict[int, list] = {}
    for lane, bus in lanes.table["bus"].items():
        lane_at.setdefault(int(bus), []).append(str(lane))

    injections = {
        "conventional": Injection(list(conv_at), p_kw=lambda b, s, t: sum(
            m.pg[g, t] - m.pg_down[g, s, t] for g in conv_at[b])),
        "renewables": Injection(list(ren_at), p_kw=lambda b, s, t: sum(m.pr[r, s, t] for r in ren_at[b])),
        "lanes": Injection(list(lane_at), p_kw=lambda b, s, t: sum(m.served[lane, s, t] for lane in lane_at[b]),
                           sign=-1.0),
        "shedding": Injection(loaded, p_kw=lambda b, s, t: m.shed[b, s, t],
                              q_kvar=lambda b, s, t: pf_ratio[b] * m.shed[b, s, t]),
    }
    m.grid = pyo.Block()
    grid = build_lindistflow(m.grid, sysm.network, T, scenario_index=S, injections=injections,
                             options=sysm.grid_options, p_load_kw=p_load, q_load_kvar=q_load)

    # renewable share (soft, daily energy): renewables >= target x local consumption
    total_load = p_load.sum(axis=1).to_dict()
    m.shortfall = pyo.Var(m.S, within=pyo.NonNegativeReals)
    m.share = pyo.Constraint(m.S, rule=lambda m, s: m.shortfall[s] >= dt * (
        c.renewable_share_target * sum(total_load[t] - sum(m.shed[b, s, t] for b in m.SHED_B)
                                       + sum(m.served[lane, s, t] for lane in m.L) for t in m.T)
        - sum(m.pr[r, s, t] for r in m.R for t in m.T)))

    # ---- costs
    fixed = conv["fixed_usd_per_h"].to_dict()
    var = conv["var_usd_per_kwh"].to_dict()
    rvar = ren["var_usd_per_kwh"].to_dict()
    m.c1 = pyo.Expression(expr=dt * sum(
        sum(fixed[g] * m.u[g, t] + var[g] * m.pg[g, t] for g in m.G)
        + c.lane_operation_usd_per_kwh * sum(m.alloc[lane, t] for lane in m.L) for t in m.T)
        + c.lane_fixed_usd_per_day + c.lane_maintenance_usd_per_day)

    def recourse(m, s):
        return dt * sum(
            m.price[s, t] * grid.p_import_kw[s, t]
            + sum(rvar[r] * m.pr[r, s, t] for r in m.R)
            + c.redispatch_penalty_usd_per_kwh * sum(m.pg_down[g, s, t] for g in m.G)
            + c.battery_degradation_usd_per_kwh * sum(m.served[lane, s, t] for lane in m.L)
            + c.unserved_lane_usd_per_kwh * sum(m.demand[lane, s, t] - m.served[lane, s, t] for lane in m.L)
            + c.load_shedding_usd_per_kwh * sum(m.shed[b, s, t] for b in m.SHED_B)
            for t in m.T) + c.renewable_shortfall_usd_per_kwh * m.shortfall[s]

    m.Q = pyo.Expression(m.S, rule=recourse)
    if method == "expected":
        p = np.full(n_s, 1.0 / n_s) if probabilities is None else np.asarray(probabilities, float)
        if len(p) != n_s or abs(p.sum() - 1) > 1e-6:
            raise ValueError(f"need {n_s} probabilities summing to 1, got {p}")
        m.obj = pyo.Objective(expr=m.c1 + sum(float(p[s]) * m.Q[s] for s in S))
    elif method == "dro":
        if ball is None:
            raise ValueError("method='dro' needs a WassersteinBall")
        if ball.distances.shape[1] != n_s:
            raise ValueError(f"the ball's support has {ball.distances.shape[1]} atoms, the data {n_s}")
        if worst_case_weight < 0:
            raise ValueError(f"parameter 'worst_case_weight' must be >= 0, got {worst_case_weight}")
        n_nom = len(ball.nominal_probs)
        m.dro = pyo.Block()
        wc = add_wasserstein_dro(m.dro, ball, lambda j: m.Q[j], lambda_max=lambda_max)
        m.obj = pyo.Objective(expr=(1.0 + worst_case_weight) * m.c1 + sum(
            float(ball.nominal_probs[i]) * m.Q[i] for i in range(n_nom)) + worst_case_weight * wc)
    else:
        raise ValueError(f"unknown method {method!r} (expected 'expected' or 'dro')")
    return TwoStageModel(m, grid, sysm, n_s, method)


class RecourseEvaluator:
    """Out-of-sample evaluation: one persistent LP with ``batch`` scenario slots and a fixed first stage.

    Built and compiled once (:class:`evgrid.optim.persistent.PersistentLP`); per batch only the numbers
    that carry scenario data change -- upper bounds of ``pr`` (availability) and ``served`` (demand), the
    import price (objective coefficient) -- plus the first-stage columns (``lb = ub = value``), and HiGHS
    re-solves warm instead of the Pyomo model being rebuilt per scenario.
    """

    def __init__(self, sysm: DroSystem, batch: int, template: ScenarioData, solver: dict | None = None):
        self.batch = int(batch)
        if self.batch < 1:
            raise ValueError(f"parameter 'oos_batch' must be >= 1, got {batch}")
        idx = np.resize(np.arange(template.n_scenarios), self.batch)
        lp_sys = replace(sysm, integer_commitment=False)  # the first stage is fixed: an LP
        self.tsm = build_two_stage(lp_sys, template.subset(idx), method="expected", name="dro_recourse")
        m = self.tsm.model
        opts = solver or {}
        self.lp = PersistentLP(m, time_limit_s=opts.get("time_limit_s"))
        G, L, R = list(m.G), list(m.L), list(m.R)
        S, T = range(self.batch), range(sysm.n_steps)
        self.c_u = self.lp.columns([m.u[g, t] for g in G for t in T])
        self.c_pg = self.lp.columns([m.pg[g, t] for g in G for t in T])
        self.c_alloc = self.lp.columns([m.alloc[lane, t] for lane in L for t in T])
        self.c_pr = self.lp.columns([m.pr[r, s, t] for s in S for r in R for t in T])
        self.c_served = self.lp.columns([m.served[lane, s, t] for s in S for lane in L for t in T])
        self.c_import = self.lp.columns([self.tsm.grid.p_import_kw[s, t] for s in S for t in T])
        self.sysm = lp_sys

    def _load(self, fs: FirstStage, data: ScenarioData) -> None:
        sysm, conv = self.sysm, self.sysm.conventional
        u = np.clip(np.asarray(fs.commitment, float), 0.0, 1.0)
        if sysm.integer_commitment:
            u = np.round(u)
        pg = np.clip(np.asarray(fs.p_conv_kw, float), conv["p_min_kw"].to_numpy(float)[:, None] * u,
                     conv["p_max_kw"].to_numpy(float)[:, None] * u)
        alloc = np.clip(np.asarray(fs.alloc_kw, float), 0.0, sysm.lanes.rating_kw[:, None])
        for cols, val in ((self.c_u, u), (self.c_pg, pg), (self.c_alloc, alloc)):
            self.lp.set_bounds(cols, val.ravel(), val.ravel())
        self.tsm.set_scenarios(data)  # Pyomo Params: keeps pyo.value(Q) etc. consistent for the reports
        avail = _availability(sysm, data)  # (S, R, T)
        self.lp.set_bounds(self.c_pr, np.zeros(avail.size), avail.ravel())
        self.lp.set_bounds(self.c_served, np.zeros(data.lane_demand_kw.size), data.lane_demand_kw.ravel())
        self.lp.set_costs(self.c_import, (sysm.step_h / self.batch) * data.price_usd_per_kwh.ravel())

    def evaluate(self, fs: FirstStage, data: ScenarioData, detail: bool = False) -> dict:
        """Recourse of ``fs`` on every scenario of ``data``.

        Returns ``{"table": per-scenario recourse table}`` and, with ``detail=True``, also ``steps``,
        ``lanes`` (see :meth:`TwoStageModel.step_detail`) and the net bus loads ``p_net_kw``/``q_net_kvar``
        ((scenario, step) x bus) and LinDistFlow voltages ``v_lin_pu`` for the AC check.
        """
        parts: dict[str, list] = {"table": [], "steps": [], "lanes": [], "p_net_kw": [], "q_net_kvar": [],
                                  "v_lin_pu": []}
        for start in range(0, data.n_scenarios, self.batch):
            idx = np.arange(start, min(start + self.batch, data.n_scenarios))
            self._load(fs, data.subset(np.resize(idx, self.batch)))
            self.lp.solve()
            n = len(idx)
            tab = self.tsm.recourse_table().iloc[:n].copy()
            v = self.tsm.grid.voltage_pu()
            tab["v_min_pu"] = v.groupby(level="scenario").min().min(axis=1).to_numpy()[:n]
            tab["v_max_pu"] = v.groupby(level="scenario").max().max(axis=1).to_numpy()[:n]
            tab["atom"] = idx
            parts["table"].append(tab)
            if detail:
                st, ln = self.tsm.step_detail()
                st, ln = st[st["atom"] < n].copy(), ln[ln["atom"] < n].copy()
                st["atom"] = idx[st["atom"]]
                ln["atom"] = idx[ln["atom"]]
                parts["steps"].append(st)
                parts["lanes"].append(ln)
                p, q = self.tsm.grid.net_load()
                keep = p.index.get_level_values("scenario") < n
                remap = pd.MultiIndex.from_arrays([idx[p.index.get_level_values("scenario")[keep]],
                                                   p.index.get_level_values("step")[keep]], names=["scenario", "step"])
                for key, frame in (("p_net_kw", p), ("q_net_kvar", q), ("v_lin_pu", v)):
                    f = frame[keep].copy()
                    f.index = remap
                    parts[key].append(f)
        out = {"table": pd.concat(parts["table"], ignore_index=True)}
        out["table"]["first_stage_cost_usd"] = float(pyo.value(self.tsm.model.c1))
        out["table"]["total_cost_usd"] = out["table"]["first_stage_cost_usd"] + out["table"]["recourse_cost_usd"]
        if detail:
            for key in ("steps", "lanes"):
                out[key] = pd.concat(parts[key], ignore_index=True)
            for key in ("p_net_kw", "q_net_kvar", "v_lin_pu"):
                out[key] = pd.concat(parts[key])
        return out


def build_system(params: dict, network: Network, lanes: LaneSet, load_profile: np.ndarray, step_h: float,
                 lane_fixed_usd_per_day: float = 0.0, lane_maintenance_usd_per_day: float = 0.0) -> DroSystem:
    """Assemble a :class:`DroSystem` from the ``dro`` parameters (fleet scaled by ``capacity_scale``)."""
    scale = float(params["capacity_scale"])
    if scale <= 0:
        raise ValueError(f"parameter 'capacity_scale' must be > 0, got {scale}")
    cp = params["conventional"]
    carbon = float(params.get("carbon_price_usd_per_t", 0.0)) / 1000.0  # $/kg
    conv = pd.DataFrame({"bus": [int(b) for b in cp["buses"]]})
    conv.index = [f"conv_{i + 1}" for i in range(len(conv))]
    conv["p_max_kw"] = float(cp["unit_mw_paper"]) * 1000.0 * scale
    conv["p_min_kw"] = conv["p_max_kw"] * float(cp["p_min_fraction"])
    conv["fixed_usd_per_h"] = float(cp["fixed_cost_usd_per_h"])
    conv["co2_kg_per_kwh"] = float(cp["co2_kg_per_kwh"])
    conv["var_usd_per_kwh"] = float(cp["variable_cost_usd_per_kwh"]) + carbon * conv["co2_kg_per_kwh"]
    rp = params["renewables"]
    ren_rows = [{"bus": int(b), "kind": "pv", "p_max_kw": float(rp["pv_unit_mw_paper"]) * 1000.0 * scale}
                for b in rp["pv_buses"]]
    ren_rows += [{"bus": int(b), "kind": "wind", "p_max_kw": float(rp["wind_unit_mw_paper"]) * 1000.0 * scale}
                 for b in rp["wind_buses"]]
    ren = pd.DataFrame(ren_rows)
    ren.index = [f"{k}_{i + 1}" for i, k in enumerate(ren["kind"])]
    ren["var_usd_per_kwh"] = float(rp["variable_cost_usd_per_kwh"])
    cost = params["costs"]
    ev = params["ev"]
    costs = CostParams(
        lane_operation_usd_per_kwh=float(cost["lane_operation_usd_per_kwh"]),
        battery_degradation_usd_per_kwh=float(cost["battery_degradation_usd_per_kwh"]),
        unserved_lane_usd_per_kwh=float(cost["driver_saving_usd_per_km"]) / float(ev["consumption_kwh_per_km"]),
        load_shedding_usd_per_kwh=float(cost["load_shedding_usd_per_kwh"]),
        redispatch_penalty_usd_per_kwh=float(cp["redispatch_penalty_usd_per_kwh"]),
        renewable_share_target=float(cost["renewable_share_target"]),
        renewable_shortfall_usd_per_kwh=float(cost["renewable_shortfall_usd_per_kwh"]),
        lane_fixed_usd_per_day=lane_fixed_usd_per_day,
        lane_maintenance_usd_per_day=lane_maintenance_usd_per_day,
    )
    npar = params["network"]
    margin = float(npar.get("linearisation_margin_pu", 0.0))
    if not 0 <= margin < 0.5 * (float(npar["v_max_pu"]) - float(npar["v_min_pu"])):
        raise ValueError(f"parameter 'network.linearisation_margin_pu' must be >= 0 and leave a voltage band, "
                         f"got {margin}")
    opts = LinDistFlowOptions(thermal_sides=int(npar["thermal_sides"]), v_min_pu=float(npar["v_min_pu"]) + margin,
                              v_max_pu=float(npar["v_max_pu"]) - margin, import_limit_kw=npar.get("import_limit_kw"))
    return DroSystem(network=network, lanes=lanes, conventional=conv, renewables=ren,
                     load_profile=np.asarray(load_profile, float), step_h=step_h, costs=costs,
                     grid_options=opts, integer_commitment=bool(cp.get("integer_commitment", False)))


def drop_nonbinding_ratings(network: Network, p_bound_kw: pd.Series, q_bound_kvar: pd.Series,
                            thermal_sides: int) -> tuple[Network, list[int]]:
    """Remove thermal limits that no feasible operating point can reach (an exact model reduction).

    ``p_bound_kw[b]`` / ``q_bound_kvar[b]`` bound ``|net injection|`` at bus ``b`` over all steps and
    scenarios (max of withdrawal and generation). A radial branch carries at most the sum of the bounds
    of the buses downstream of it; where ``hypot(sum P, sum Q)`` stays below the polygon's inscribed radius
    ``rating * cos(pi / n)`` the limit can never bind, so it is dropped (rating set to NaN). Returns the
    reduced network and the ids of the branches whose limits are kept.
    """
    net = network.copy()
    if not thermal_sides:
        return net, []
    tree = net.tree()
    parent = tree["parent_bus"]
    pb = p_bound_kw.reindex(net.bus_ids).fillna(0.0).abs()
    qb = q_bound_kvar.reindex(net.bus_ids).fillna(0.0).abs()
    down_p = pb.copy()
    down_q = qb.copy()
    for bus in reversed(tree["order"]):  # leaves first
        up = parent.get(bus)
        if up is not None:
            down_p[up] += down_p[bus]
            down_q[up] += down_q[bus]
    kept = []
    shrink = np.cos(np.pi / thermal_sides)
    for bus, bid in tree["parent_branch"].items():
        if bid is None:
            continue
        rating = net.branches.at[bid, "rating_kva"]
        if pd.isna(rating):
            continue
        if np.hypot(down_p[bus], down_q[bus]) <= rating * shrink:
            net.branches.at[bid, "rating_kva"] = np.nan
        else:
            kept.append(int(bid))
    return net, sorted(kept)

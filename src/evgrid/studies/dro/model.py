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
    finite reformulation of :func:`evgrid.optim.robust.define_wasserstein_dro`.
The recourse is complete (shedding, curtailment and redispatch can always restore the limits), so every
fixed first stage can be evaluated on any scenario.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from evgrid.optim.lindistflow import Injection, LinDistFlowHandles, build_lindistflow
from evgrid.optim.persistent import PersistentProblem
from evgrid.optim.robust import WassersteinBall, define_wasserstein_dro
from evgrid.optim.solver import SolveResult, SolverOptions, solve
from evgrid.optim.unit_commitment import CommitmentResult, solve_commitment
from evgrid.studies.dro.system import DroSystem, FirstStage, ScenarioData

log = logging.getLogger(__name__)


@dataclass
class TwoStageModel:
    """What :func:`build_two_stage` returns: the Pyomo model, its LinDistFlow handles and the solve state."""

    model: pyo.ConcreteModel
    grid: LinDistFlowHandles
    system: DroSystem
    n_support: int
    method: str
    result: SolveResult | None = None
    commitment: CommitmentResult | None = field(default=None, repr=False)
    """Details of the last :meth:`solve_integer` (LP and Lagrangian bounds, incumbent, seconds)."""
    component_cache: dict | None = field(default=None, init=False, repr=False)
    """The recourse table's component data, built once by :meth:`_components`."""

    # ------------------------------------------------------------------ data updates (persistent)
    def set_scenarios(self, data: ScenarioData) -> None:
        """Overwrite the mutable scenario Params (same number of atoms as built)."""
        sysm = self.system
        if data.n_scenarios != self.n_support:
            raise ValueError(f"model has {self.n_support} scenario slots, got {data.n_scenarios} scenarios")
        avail = availability_kw(sysm, data)
        c = self._components()  # (S, L|R, T) nested component data, same order as the arrays
        for name, arr in (("demand", data.lane_demand_kw), ("avail", avail), ("price", data.price_usd_per_kwh)):
            flat = [d for rows in c[name] for row in (rows if name != "price" else [rows]) for d in row]
            for d, v in zip(flat, np.asarray(arr, dtype=float).ravel().tolist(), strict=True):
                d.set_value(v)

    def fix_first_stage(self, fs: FirstStage) -> None:
        """Fix the first-stage variables; solver round-off is projected back onto the unit limits."""
        m, sysm = self.model, self.system
        f = fs.clipped(sysm)
        for gi, g in enumerate(sysm.conventional.index):
            for t in range(sysm.n_steps):
                m.u[g, t].fix(float(f.commitment[gi, t]))
                m.pg[g, t].fix(float(f.p_conv_kw[gi, t]))
        for li, lane in enumerate(sysm.lanes.names):
            for t in range(sysm.n_steps):
                m.alloc[lane, t].fix(float(f.alloc_kw[li, t]))

    def solve(self, options: SolverOptions | dict | None = None) -> SolveResult:
        self.result = solve(self.model, options)
        return self.result

    def solve_integer(self, lp_options: dict, mip_options: dict) -> SolveResult:
        """Integer commitment, certified (:func:`evgrid.optim.unit_commitment.solve_commitment`): LP
        relaxation, Lagrangian bound by time step (per-step MILPs priced by the relaxation's duals of the
        daily / worst-case rows) whose commitments are the incumbent (the relaxation rounded up is the other
        candidate), then HiGHS branch and bound from the incumbent only while the gap exceeds
        ``mip_options['mip_gap']``, stopped by ``mip_options['mip_max_nodes']`` (a work limit; 0 = none);
        ``mip_options['time_limit_s']`` is a safety net that is flagged in the log, never the intended stop.
        ``self.result.bound`` = the certified bound, ``status`` = ``optimal`` when the gap is met;
        ``self.commitment`` keeps the details (LP and Lagrangian bounds, which incumbent won, seconds)."""
        res = solve_commitment(self.model, time_index, lp_options,
                               gap_target=float(mip_options.get("mip_gap") or 0.0),
                               max_nodes=int(mip_options.get("mip_max_nodes") or 0),
                               safety_time_limit_s=float(mip_options.get("time_limit_s") or 3600.0))
        self.commitment = res
        self.result = res.as_solve_result()
        return self.result

    # ------------------------------------------------------------------ results
    def first_stage(self) -> FirstStage:
        c, sysm = self._components(), self.system
        n_g, n_l = len(sysm.conventional.index), len(sysm.lanes.names)
        return FirstStage(
            commitment=np.array(_flat(c["u"])).reshape(n_g, -1),
            p_conv_kw=np.array(_flat(c["pg"])).reshape(n_g, -1),
            alloc_kw=np.array(_flat(c["alloc"])).reshape(n_l, -1),
        )

    def first_stage_cost(self) -> float:
        return float(pyo.value(self.model.c1))

    def scenario_costs(self) -> np.ndarray:
        return np.array([pyo.value(self.model.Q[s]) for s in range(self.n_support)])

    def step_detail(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Per (atom, step): supply mix and lane totals; per (atom, lane, step): demand and delivery (kW)."""
        sysm, c = self.system, self._components()
        lanes = sysm.lanes.names
        kind = [sysm.renewables.at[r, "kind"] for r in sysm.renewables.index]
        v = self.grid.voltage_pu()
        rows, lane_rows = [], []
        for s in range(self.n_support):
            served_s, dem_s, pr_s, down_s, shed_s = (c[k][s] for k in ("served", "demand", "pr", "pg_down", "shed"))
            for t in range(sysm.n_steps):
                served = {lane: served_s[li][t].value for li, lane in enumerate(lanes)}
                dem = {lane: dem_s[li][t].value for li, lane in enumerate(lanes)}
                rows.append({
                    "atom": s, "step": t,
                    "pv_kw": sum(row[t].value for row, k in zip(pr_s, kind, strict=True) if k == "pv"),
                    "wind_kw": sum(row[t].value for row, k in zip(pr_s, kind, strict=True) if k == "wind"),
                    "conventional_kw": sum(g[t].value - d[t].value for g, d in zip(c["pg"], down_s, strict=True)),
                    "import_kw": c["import"][s][t].value,
                    "lane_served_kw": sum(served.values()), "lane_demand_kw": sum(dem.values()),
                    "load_shed_kw": sum(row[t].value for row in shed_s),
                    "v_min_pu": float(v.loc[(s, t)].min()), "v_max_pu": float(v.loc[(s, t)].max()),
                })
                for li, lane in enumerate(lanes):
                    lane_rows.append({"atom": s, "step": t, "lane": lane, "demand_kw": dem[lane],
                                      "served_kw": served[lane], "alloc_kw": c["alloc"][li][t].value})
        return pd.DataFrame(rows), pd.DataFrame(lane_rows)

    def _components(self) -> dict:
        """Component data (VarData / ParamData) of the solution as nested lists in a fixed index order
        (``[s][x][t]`` per atom, ``[x][t]`` first stage), built once per model (Pyomo indexing is the slow part
        of reading a solution); :func:`_flat` reads their values."""
        cache = self.component_cache
        if cache is None:
            m, sysm = self.model, self.system
            T, S = range(sysm.n_steps), range(self.n_support)
            L, R, G, B = list(sysm.lanes.names), list(sysm.renewables.index), list(sysm.conventional.index), \
                list(m.SHED_B)
            cache = {
                "served": [[[m.served[x, s, t] for t in T] for x in L] for s in S],
                "demand": [[[m.demand[x, s, t] for t in T] for x in L] for s in S],
                "pr": [[[m.pr[x, s, t] for t in T] for x in R] for s in S],
                "avail": [[[m.avail[x, s, t] for t in T] for x in R] for s in S],
                "pg_down": [[[m.pg_down[x, s, t] for t in T] for x in G] for s in S],
                "shed": [[[m.shed[x, s, t] for t in T] for x in B] for s in S],
                "u": [[m.u[x, t] for t in T] for x in G],
                "pg": [[m.pg[x, t] for t in T] for x in G],
                "alloc": [[m.alloc[x, t] for t in T] for x in L],
                "import": [[self.grid.p_import_kw[s, t] for t in T] for s in S],
                "price": [[m.price[s, t] for t in T] for s in S],
                "is_pv": [sysm.renewables.at[r, "kind"] == "pv" for r in R],
            }
            self.component_cache = cache
        return cache

    def recourse_table(self) -> pd.DataFrame:
        """Per support atom: cost terms and energies (kWh) of the solved second stage.

        Sums run in the same order and with the same floats as a term-by-term ``pyo.value`` loop (Python's
        left-to-right ``sum``), so the numbers do not depend on how they are read."""
        m, sysm = self.model, self.system
        dt = sysm.step_h
        c = self._components()
        pg = _flat(c["pg"])
        rows = []
        for s in range(self.n_support):
            imp = np.array([d.value for d in c["import"][s]], dtype=float)
            price = np.array([d.value for d in c["price"][s]], dtype=float)
            served = sum(_flat(c["served"][s])) * dt
            demand = sum(_flat(c["demand"][s])) * dt
            pr_rows = c["pr"][s]
            ren = sum(_flat(pr_rows)) * dt
            avail = sum(_flat(c["avail"][s])) * dt
            pv = sum(_flat([row for row, is_pv in zip(pr_rows, c["is_pv"], strict=True) if is_pv])) * dt
            conv = sum([a - b for a, b in zip(pg, _flat(c["pg_down"][s]), strict=True)]) * dt
            shed = sum(_flat(c["shed"][s])) * dt
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


def _flat(rows) -> list:
    """The one reader of a solved :class:`TwoStageModel`: values of nested lists of component data (the
    :meth:`TwoStageModel._components` layout), flat, in order."""
    return [d.value for row in rows for d in row]


STAT_KEYS = ("solver_status", "mip_gap", "bound_usd", "solve_s", "integer")


def time_index(v) -> int | None:
    """Step of a model column: the last index of every per-step variable (``u[g,t]``, ``pr[r,s,t]``, the
    grid's ``w[b,(s,t)]`` ...); None for daily or step-free ones (``shortfall[s]``, the DRO multipliers)."""
    idx = v.index()
    return idx[-1] if isinstance(idx, tuple) else None


def solve_stats(res: SolveResult | None) -> dict:
    """Solver outcome reported beside every first stage: status (``optimal`` = certified gap <= target,
    ``feasible`` = work limit reached first), relative gap to the certified bound, the bound ($/day of the
    model's objective), seconds, integer commitment or not."""
    if res is None:  # persistent LP re-solve (relaxed commitment)
        return {"solver_status": "optimal", "mip_gap": 0.0, "bound_usd": np.nan, "solve_s": np.nan, "integer": False}
    gap = res.mip_gap if res.is_mip else 0.0
    return {"solver_status": res.status, "mip_gap": float(gap) if gap is not None else np.nan,
            "bound_usd": float(res.bound) if res.bound is not None else np.nan,
            "solve_s": float(res.wall_s), "integer": bool(res.is_mip)}


def radius_sweep(tsm: TwoStageModel, radii, worst_case_weight: float, solver: dict | None = None,
                 mip: dict | None = None):
    """Solve a ``dro`` model for each radius on one persistent LP (only the cost of ``lambda`` changes:
    ``w * radius``); yields the radius after loading each solution into the Pyomo model. ``solver``: LP options
    (:class:`evgrid.optim.solver.SolverOptions` keys); ``mip``: the integer commitment's gap target, node limit
    and safety time limit (:meth:`DroConfig.solver.mip_options`), required when the commitment is integer."""
    if tsm.method != "dro":
        raise ValueError("radius_sweep needs a model built with method='dro'")
    m = tsm.model
    if tsm.system.integer_commitment:  # integer: relax, round, fix, re-solve per radius
        if mip is None:
            raise ValueError("radius_sweep: an integer commitment needs mip options (mip_gap, mip_max_nodes, "
                             "time_limit_s: dro.solver)")
        for r in radii:
            m.dro.dro_radius = float(r)
            tsm.solve_integer(dict(solver or {}), mip)
            yield float(r)
        return
    opts = solver or {}
    cold = (opts.get("highs_options") or {}).get("solver", "choose")
    # with ipm every radius starts afresh: measured faster than a warm simplex after the cost change
    lp = PersistentProblem(m, opts, always_cold=cold == "ipm")
    lam = lp.columns([m.dro.dro_lambda])
    for r in radii:
        m.dro.dro_radius = float(r)
        lp.set_costs(lam, [worst_case_weight * float(r)])
        lp.solve()
        yield float(r)


def availability_kw(sysm: DroSystem, data: ScenarioData) -> np.ndarray:
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

    Assembled family by family (the order fixes the LP's row/column order)::

        define_sets -> define_scenario_params -> define_first_stage -> define_second_stage -> define_grid
        -> define_renewable_share -> define_costs -> define_objective
    """
    check_inputs(sysm, data)
    p_load, q_load = sysm.bus_load_kw()
    m = pyo.ConcreteModel(name=name)
    define_sets(m, sysm, data.n_scenarios)
    define_scenario_params(m, sysm, data)
    define_first_stage(m, sysm)
    define_second_stage(m, sysm, p_load)
    grid = define_grid(m, sysm, p_load, q_load)
    define_renewable_share(m, sysm, p_load)
    define_costs(m, sysm, grid)
    define_objective(m, method, data.n_scenarios, probabilities, ball, worst_case_weight, lambda_max)
    return TwoStageModel(m, grid, sysm, data.n_scenarios, method)


def check_inputs(sysm: DroSystem, data: ScenarioData) -> None:
    """Lane demand of shape (lanes, steps) per atom; lanes and units at buses of the network."""
    lanes, conv, ren = sysm.lanes, sysm.conventional, sysm.renewables
    if data.lane_demand_kw.shape[1:] != (len(lanes.names), sysm.n_steps):
        raise ValueError(f"lane demand has shape {data.lane_demand_kw.shape[1:]} per scenario, expected "
                         f"(lanes={len(lanes.names)}, steps={sysm.n_steps})")
    known = set(sysm.network.bus_ids)
    for what, frame in (("lanes", lanes.table), ("conventional", conv), ("renewables", ren)):
        bad = sorted(set(frame["bus"]) - known)
        if bad:
            raise ValueError(f"parameter {what!r}: buses {bad} are not in network '{sysm.network.name}'")


def define_sets(m, sysm: DroSystem, n_scenarios: int) -> None:
    """Steps ``T``, support atoms ``S``, conventional units ``G``, renewables ``R``, lanes ``L`` (ordered)."""
    m.T = pyo.Set(initialize=list(range(sysm.n_steps)), ordered=True)
    m.S = pyo.Set(initialize=list(range(n_scenarios)), ordered=True)
    m.G = pyo.Set(initialize=list(sysm.conventional.index), ordered=True)
    m.R = pyo.Set(initialize=list(sysm.renewables.index), ordered=True)
    m.L = pyo.Set(initialize=sysm.lanes.names, ordered=True)


def define_scenario_params(m, sysm: DroSystem, data: ScenarioData) -> None:
    """Mutable scenario Params (persistent re-solves on new scenarios): ``demand[l,s,t]`` kW,
    ``avail[r,s,t]`` kW (:func:`availability_kw`), ``price[s,t]`` $/kWh."""
    S, T = list(m.S), list(m.T)
    avail = availability_kw(sysm, data)
    m.demand = pyo.Param(m.L, m.S, m.T, mutable=True, within=pyo.NonNegativeReals, initialize={
        (lane, s, t): float(data.lane_demand_kw[s, li, t]) for li, lane in enumerate(sysm.lanes.names)
        for s in S for t in T})
    m.avail = pyo.Param(m.R, m.S, m.T, mutable=True, within=pyo.NonNegativeReals, initialize={
        (r, s, t): float(avail[s, ri, t]) for ri, r in enumerate(sysm.renewables.index) for s in S for t in T})
    m.price = pyo.Param(m.S, m.T, mutable=True, within=pyo.Reals, initialize={
        (s, t): float(data.price_usd_per_kwh[s, t]) for s in S for t in T})


def define_first_stage(m, sysm: DroSystem) -> None:
    """Commitment ``u[g,t]`` (binary, or in [0, 1] relaxed), ``pmin u <= pg[g,t] <= pmax u``, energised lane
    power ``0 <= alloc[l,t] <= rating_l``."""
    conv = sysm.conventional
    pmax = conv["p_max_kw"].to_dict()
    pmin = conv["p_min_kw"].to_dict()
    m.u = pyo.Var(m.G, m.T, within=pyo.Binary if sysm.integer_commitment else pyo.UnitInterval)
    m.pg = pyo.Var(m.G, m.T, within=pyo.NonNegativeReals)
    m.pg_hi = pyo.Constraint(m.G, m.T, rule=lambda m, g, t: m.pg[g, t] <= pmax[g] * m.u[g, t])
    m.pg_lo = pyo.Constraint(m.G, m.T, rule=lambda m, g, t: m.pg[g, t] >= pmin[g] * m.u[g, t])
    rating = dict(zip(sysm.lanes.names, sysm.lanes.rating_kw, strict=True))
    m.alloc = pyo.Var(m.L, m.T, bounds=lambda m, lane, t: (0.0, rating[lane]))


def define_second_stage(m, sysm: DroSystem, p_load: pd.DataFrame) -> None:
    """Recourse per atom: ``0 <= pr[r,s,t] <= avail``, ``0 <= pg_down[g,s,t] <= pg[g,t]``,
    ``0 <= served[l,s,t] <= demand``, ``served <= alloc[l,t]``, ``0 <= shed[b,s,t] <= load[b,t]`` on the loaded
    buses ``SHED_B``. Scenario data enter as bounds and the import price only: a persistent LP updates exactly
    these numbers between scenarios."""
    m.pr = pyo.Var(m.R, m.S, m.T, bounds=lambda m, r, s, t: (0.0, m.avail[r, s, t]))
    m.pg_down = pyo.Var(m.G, m.S, m.T, within=pyo.NonNegativeReals)
    m.pg_down_max = pyo.Constraint(m.G, m.S, m.T, rule=lambda m, g, s, t: m.pg_down[g, s, t] <= m.pg[g, t])
    m.served = pyo.Var(m.L, m.S, m.T, bounds=lambda m, lane, s, t: (0.0, m.demand[lane, s, t]))
    m.served_alloc = pyo.Constraint(m.L, m.S, m.T, rule=lambda m, lane, s, t: m.served[lane, s, t] <= m.alloc[lane, t])
    loaded = [int(b) for b in sysm.network.bus_ids if p_load[b].max() > 0]
    m.SHED_B = pyo.Set(initialize=loaded, ordered=True)
    m.shed = pyo.Var(m.SHED_B, m.S, m.T, bounds=lambda m, b, s, t: (0.0, float(p_load.at[t, b])))


def _by_bus(frame_bus: pd.Series, key=lambda x: x) -> dict[int, list]:
    out: dict[int, list] = {}
    for x, bus in frame_bus.items():
        out.setdefault(int(bus), []).append(key(x))
    return out


def define_grid(m, sysm: DroSystem, p_load: pd.DataFrame, q_load: pd.DataFrame) -> LinDistFlowHandles:
    """LinDistFlow per (atom, step) on block ``m.grid`` (:func:`evgrid.optim.lindistflow.build_lindistflow`)
    with the injections ``pg - pg_down``, ``pr``, ``-served`` and ``shed`` (reactive at the bus' load ratio)."""
    conv_at = _by_bus(sysm.conventional["bus"])
    ren_at = _by_bus(sysm.renewables["bus"])
    lane_at = _by_bus(sysm.lanes.table["bus"], str)
    loaded = list(m.SHED_B)
    pf_ratio = {b: float(q_load[b].max() / p_load[b].max()) for b in loaded}
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
    return build_lindistflow(m.grid, sysm.network, list(m.T), scenario_index=list(m.S), injections=injections,
                             options=sysm.grid_options, p_load_kw=p_load, q_load_kvar=q_load)


def define_renewable_share(m, sysm: DroSystem, p_load: pd.DataFrame) -> None:
    """Soft daily renewable share: ``shortfall_s >= dt (target sum_t (load - shed + served) - sum_r,t pr)``."""
    dt, target = sysm.step_h, sysm.costs.renewable_share_target
    total_load = p_load.sum(axis=1).to_dict()
    m.shortfall = pyo.Var(m.S, within=pyo.NonNegativeReals)
    m.share = pyo.Constraint(m.S, rule=lambda m, s: m.shortfall[s] >= dt * (
        target * sum(total_load[t] - sum(m.shed[b, s, t] for b in m.SHED_B)
                     + sum(m.served[lane, s, t] for lane in m.L) for t in m.T)
        - sum(m.pr[r, s, t] for r in m.R for t in m.T)))


def define_costs(m, sysm: DroSystem, grid: LinDistFlowHandles) -> None:
    """First-stage cost ``c1`` and recourse cost ``Q[s]`` ($ per day, module docstring) as Expressions."""
    dt, c = sysm.step_h, sysm.costs
    fixed = sysm.conventional["fixed_usd_per_h"].to_dict()
    var = sysm.conventional["var_usd_per_kwh"].to_dict()
    rvar = sysm.renewables["var_usd_per_kwh"].to_dict()
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


def define_objective(m, method: str, n_s: int, probabilities: np.ndarray | None, ball: WassersteinBall | None,
                     worst_case_weight: float, lambda_max: float) -> None:
    """``expected``: ``min c1 + sum_s p_s Q_s``; ``dro``: ``min (1 + w) c1 + sum_i p_i Q_i + w WC`` with the
    worst case ``WC`` of :func:`evgrid.optim.robust.define_wasserstein_dro` on block ``m.dro``."""
    if method == "expected":
        p = np.full(n_s, 1.0 / n_s) if probabilities is None else np.asarray(probabilities, float)
        if len(p) != n_s or abs(p.sum() - 1) > 1e-6:
            raise ValueError(f"need {n_s} probabilities summing to 1, got {p}")
        m.obj = pyo.Objective(expr=m.c1 + sum(float(p[s]) * m.Q[s] for s in range(n_s)))
    elif method == "dro":
        if ball is None:
            raise ValueError("method='dro' needs a WassersteinBall")
        if ball.distances.shape[1] != n_s:
            raise ValueError(f"the ball's support has {ball.distances.shape[1]} atoms, the data {n_s}")
        if worst_case_weight < 0:
            raise ValueError(f"parameter 'worst_case_weight' must be >= 0, got {worst_case_weight}")
        n_nom = len(ball.nominal_probs)
        m.dro = pyo.Block()
        wc = define_wasserstein_dro(m.dro, ball, lambda j: m.Q[j], lambda_max=lambda_max)
        m.obj = pyo.Objective(expr=(1.0 + worst_case_weight) * m.c1 + sum(
            float(ball.nominal_probs[i]) * m.Q[i] for i in range(n_nom)) + worst_case_weight * wc)
    else:
        raise ValueError(f"unknown method {method!r} (expected 'expected' or 'dro')")


def first_stage_radii(robust, radius: float) -> list[float]:
    """Radii of the final DRO first stages: the CV (or given) ``radius`` plus ``robust.report_radii``
    (None: every radius of the grid ``robust.radii``; []: none beyond ``radius``), sorted, no repeats."""
    fixed = robust.radii if robust.report_radii is None else robust.report_radii
    return sorted({float(r) for r in fixed} | {float(radius)})



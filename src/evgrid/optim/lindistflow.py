"""Baran-Wu LinDistFlow on indexed Pyomo sets: the ONE network model every optimisation pipeline uses.

Equations (per branch ``l = (i -> j)``, case ``k`` = time step ``t`` or ``(scenario s, t)``)::

    balance_p[b,k]:  sum_{l into b} P[l,k] - sum_{l out of b} (P[l,k] + loss_p[l,k])
                     + [b == slack] * p_import_kw[k] + sum_n sign_n * inj_n_p[b,k] - p_load_kw[b,k] == 0
    balance_q[b,k]:  same with Q / q terms
    vdrop[l,k]:      w[j,k] == w[i,k] - 2 * (r_pu * P[l,k] + x_pu * Q[l,k]) / s_base_kva
    v_lim[b,k]:      v_min_pu[b]**2 <= w[b,k] <= v_max_pu[b]**2       (ranged row, every non-slack bus)
    slack_v[k]:      w[slack,k] == v_slack_pu**2
    thermal[l,m,k]:  -S cos(pi/n) <= cos(a_m) P + sin(a_m) Q <= S cos(pi/n),  a_m = 2 pi m / n,
                     m = 0..n/2-1, S = rating_kva   (opposite sides of the polygon share one ranged row)

``w = |V|^2`` in p.u.; flows ``P, Q`` in kW / kVAr at the sending end of each branch, positive from
``from_bus`` to ``to_bus``. The thermal polygon has ``n = options.thermal_sides`` (even) sides and lies *inside*
the circle ``P^2 + Q^2 <= S^2`` (an inner approximation: a feasible schedule never exceeds the rating;
the worst-case loss of capacity is ``1 - cos(pi/n)``, 3.4 % for n = 12). Losses are neglected unless
``options.loss_params`` is set, in which case the mutable Params ``block.loss_p_kw[l,k]`` /
``block.loss_q_kvar[l,k]`` (default 0) are withdrawn at the sending bus: set them from an AC run
(:func:`set_losses_from_ac`) and re-solve to iterate with the AC check.

Branch outages and islands
    ``branch_in_service`` is a bool Series by branch id (one status for all cases), or a DataFrame of bools
    with columns = branch ids indexed by scenario (one status per scenario) or by time step (time-varying).
    An out-of-service branch carries no flow and imposes no voltage coupling. Buses cut off from the slack
    form *islands* that must balance on their own local injections (generators, storage, shedding...) --
    the builder adds no import there. Voltage reference in an island: there is no substation, so the island's
    voltage level is a free variable (the grid-forming DG of the island sets it); it is only bounded by the
    bus voltage limits, and, if ``options.island_v_ref_pu = (lo, hi)`` is given, the island's root bus
    (smallest bus id) is held within ``[lo, hi]``. An island without controllable injections and with load
    is infeasible: pass a shedding injection, or use the solver's diagnosis.

Reconfiguration (``options.reconfigure=True``)
    Binary ``block.y[l]`` for each switchable branch (``options.switchable``; default: every branch in the
    network that is not forced out by ``branch_in_service``), one configuration for the whole horizon and
    all scenarios. Big-M on flows and on vdrop; radiality (ONE family, :func:`define_radiality`) by spanning
    tree (``sum y = |B| - 1``), parent-child orientation and a single-commodity flow from the slack (every bus
    energised, hence connected and radial);
    ``options.max_switching`` limits the number of status changes vs ``branch_in_service``.
    With ``options.reconfigure_per_step=True`` the binaries are ``block.y[l, t]`` (one configuration per time
    step, shared by all scenarios: a day-ahead switching plan), radial and connected at every step, and
    ``options.max_switching_per_branch`` bounds each switch's status changes over the horizon (paper 004
    eq. 22); ``handles.branch_status_by_step()`` reads the plan back.

Injections (attached by the caller)
    ``injections`` maps a name to an :class:`Injection` ``(buses, p_kw, q_kvar, sign)`` or to a plain tuple
    ``(p_kw, q_kvar)`` (then every bus is probed). ``p_kw``/``q_kvar`` are either

    * a Pyomo component (Var/Param/Expression) indexed by ``(bus, t)`` or ``(bus, s, t)`` -- keys absent
      from the component contribute nothing -- or
    * a callable ``f(bus, t)`` / ``f(bus, s, t)`` returning an expression, a number or ``None``.

    ``sign=+1`` (default) injects into the grid (DG, PV, discharge, shedding); ``sign=-1`` withdraws
    (EV charging, battery charging, DWPT lane load). Units kW / kVAr.

Usage (plain time horizon)::

    import pyomo.environ as pyo
    from evgrid.grid.matpower import load_matpower_case
    from evgrid.optim.lindistflow import build_lindistflow, Injection, LinDistFlowOptions, loads_from_profile
    from evgrid.optim.solver import solve, SolverOptions

    net = load_matpower_case("data/01_raw/grids/case33bw.m").with_ratings(default_kva=6000)
    T = list(range(96))
    m = pyo.ConcreteModel()
    m.T = pyo.Set(initialize=T, ordered=True)
    dg_buses = [18, 22, 25, 33]
    m.pg = pyo.Var(dg_buses, m.T, bounds=(0, 500))                  # kW, indexed (bus, t)
    p_kw, q_kvar = loads_from_profile(net, profile)                 # (T x bus) DataFrames
    m.grid = pyo.Block()
    h = build_lindistflow(m.grid, net, T, p_load_kw=p_kw, q_load_kvar=q_kvar,
                          injections={"dg": Injection(dg_buses, p_kw=m.pg)},
                          options=LinDistFlowOptions(thermal_sides=12))
    m.obj = pyo.Objective(expr=sum(price[t] * h.p_import_kw[t] + 30 * sum(m.pg[b, t] for b in dg_buses)
                                   for t in T) * 0.25 / 1000)
    res = solve(m, SolverOptions(time_limit_s=60))   # raises InfeasibleModelError with a diagnosis
    v = h.voltage_pu()        # DataFrame (case x bus);  h.flows_kw(), h.import_kw()

Scenarios: pass ``scenario_index=[0, 1, ...]``; every indexed handle is then keyed ``[b, s, t]`` /
``[l, s, t]`` / ``[s, t]`` and loads may be a dict ``{s: DataFrame}`` or a DataFrame with a
``(scenario, time)`` MultiIndex. Re-solving a persistent model: change ``h.p_load_kw[b, t] = value`` (mutable
Params) and call :func:`evgrid.optim.solver.solve` again; the cached HiGHS instance only updates the RHS.

Duals: ``h.balance_p`` (nodal active-power price), ``h.thermal``, ``h.v_lim`` -- see
:mod:`evgrid.optim.prices` for the decomposition and the sign convention.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC
from pyomo.core.base.component import Component
from pyomo.core.expr.numeric_expr import LinearExpression

from evgrid.grid.network import Network, NetworkError


@dataclass
class Injection:
    """A named injection term at ``buses``: ``sign * p_kw[b, *k]`` enters the active balance (kW)."""

    buses: Sequence[int]
    p_kw: Any = None
    q_kvar: Any = None
    sign: float = 1.0


@dataclass
class LinDistFlowOptions:
    """Options of :func:`build_lindistflow` (all numbers in the units of their names)."""

    thermal_sides: int = 12
    """Sides of the polygon approximating the apparent-power circle (even, >= 4); 0 disables thermal limits."""
    enforce_voltage_limits: bool = True
    v_min_pu: float | None = None
    """Override the bus table's lower voltage limit for every non-slack bus."""
    v_max_pu: float | None = None
    import_limit_kw: float | None = None
    """``|p_import_kw| <=`` this at the slack (None = unlimited)."""
    allow_export: bool = True
    """If False, ``p_import_kw >= 0`` (no reverse flow into the upstream grid)."""
    island_v_ref_pu: tuple[float, float] | None = None
    reconfigure: bool = False
    switchable: Sequence[int] | None = None
    max_switching: int | None = None
    reconfigure_per_step: bool = False
    """With ``reconfigure``: one switch state per time step ``y[l,t]`` (shared by all scenarios), radial and
    connected at every step (:func:`define_step_switching`)."""
    max_switching_per_branch: int | None = None
    """Per-step reconfiguration: at most this many status changes of each switch over the horizon (paper 004
    eq. 22); the first step is compared with ``initial_status``."""
    initial_status: str = "fixed"
    """``fixed``: the state before the first step is the network's (or ``branch_in_service``'s) status;
    ``free``: the first step's changes are not counted."""
    big_m_kw: float | None = None
    """Flow big-M for switchable branches; default 2 x total load (kVA) or the rating."""
    loss_params: bool = False


@dataclass
class LinDistFlowTopology:
    """Index sets and fixed data of one LinDistFlow block, computed once by :func:`define_sets`.

    Every ``define_*`` family reads what it needs from here (no hidden attributes on the block).
    """

    network: Network
    time_index: list
    scenario_index: list | None
    cases: list
    """Case keys ``k``: ``t`` (no scenarios) or ``(s, t)``; ``case_key(k)`` is the index tail ``(*k)``."""
    buses: list
    slack: int
    branch_ids: list
    """Modelled branches: in service in at least one case, or switchable."""
    status_by_case: dict
    """``{k: bool Series by branch id}`` (the fixed status; with reconfiguration the initial one)."""
    fixed_status: pd.Series
    switchable: list
    islands: dict
    """``{k: Series bus -> island id}`` from the fixed status (all 0 with reconfiguration)."""
    into: dict
    """``{bus: [branch ids ending at bus]}``."""
    out_of: dict
    """``{bus: [branch ids starting at bus]}``."""
    v_min_pu: pd.Series
    v_max_pu: pd.Series
    p_load_kw: dict
    """``{(bus, *case_key(k)): kW}``, the initial values of the mutable load Params."""
    q_load_kvar: dict


@dataclass
class LinDistFlowHandles:
    """What :func:`build_lindistflow` returns: the block, its index sets, named components and readers."""

    block: Any
    network: Network
    time_index: list
    scenario_index: list | None
    cases: list
    """All case keys ``k``: ``t`` (no scenarios) or ``(s, t)``."""
    branch_ids: list
    islands: dict
    """Island map per case (``{k: Series bus -> island id}``), computed from the fixed branch status."""
    options: LinDistFlowOptions
    status_by_case: dict = field(default_factory=dict)
    """``{k: bool Series by branch id}``: the fixed (or, with reconfiguration, initial) branch status."""
    fixed_status: pd.Series | None = None
    """Branch status the model starts from (the caller's mask; first case)."""
    switchable: list = field(default_factory=list)
    """Branch ids with a switching binary ``y`` (reconfiguration), else empty."""
    thermal_dirs: list = field(default_factory=list)
    """``[(cos a_m, sin a_m)]`` of the thermal-polygon rows ``m`` (empty without thermal limits)."""
    injection_terms: dict = field(default_factory=dict)
    """``{name: ({bus: (p_term, q_term)}, sign)}`` as attached to the nodal balances."""

    # component shortcuts --------------------------------------------------------
    @property
    def w(self):
        return self.block.w

    @property
    def p_flow_kw(self):
        return self.block.p_flow_kw

    @property
    def q_flow_kvar(self):
        return self.block.q_flow_kvar

    @property
    def p_import_kw(self):
        return self.block.p_import_kw

    @property
    def q_import_kvar(self):
        return self.block.q_import_kvar

    @property
    def p_load_kw(self):
        return self.block.p_load_kw

    @property
    def q_load_kvar(self):
        return self.block.q_load_kvar

    @property
    def balance_p(self):
        return self.block.balance_p

    @property
    def balance_q(self):
        return self.block.balance_q

    @property
    def v_lim(self):
        """Ranged voltage-limit rows (dual >= 0 when the lower limit binds, <= 0 at the upper limit)."""
        return self.block.component("v_lim")

    @property
    def thermal(self):
        return self.block.component("thermal")

    @property
    def y(self):
        return self.block.component("y")

    # result readers (one pass over a component's values, reshaped) ------------------
    def _case_index(self):
        return _case_index(self.cases, self.scenario_index)

    def _by_case(self, comp, n_keys: int) -> np.ndarray:
        """(case x key) array of a component declared over ``(keys, K)``: its values in declaration order."""
        return _values(comp).reshape(n_keys, len(self.cases)).T

    def voltage_pu(self) -> pd.DataFrame:
        """Solved voltage magnitude sqrt(w), DataFrame (case x bus)."""
        buses = self.network.bus_ids
        w = self._by_case(self.block.w, len(buses))
        return pd.DataFrame(np.sqrt(np.clip(w, 0.0, None)), index=self._case_index(), columns=pd.Index(buses))

    def _flows(self, comp) -> pd.DataFrame:
        all_ids = [int(i) for i in self.network.branches.index]
        out = np.zeros((len(self.cases), len(all_ids)))
        pos = {lid: j for j, lid in enumerate(all_ids)}
        vals = np.nan_to_num(self._by_case(comp, len(self.branch_ids)), nan=0.0)
        out[:, [pos[lid] for lid in self.branch_ids]] = vals
        return pd.DataFrame(out, index=self._case_index(), columns=pd.Index(all_ids))

    def flows_kw(self) -> pd.DataFrame:
        """Sending-end active flow (case x every network branch id; 0 where the branch is not modelled)."""
        return self._flows(self.block.p_flow_kw)

    def flows_kvar(self) -> pd.DataFrame:
        """Sending-end reactive flow (case x every network branch id; 0 where the branch is not modelled)."""
        return self._flows(self.block.q_flow_kvar)

    def import_kw(self) -> pd.Series:
        """Active import at the slack bus by case (kW)."""
        return pd.Series(_values(self.block.p_import_kw), index=self._case_index())

    def branch_status(self) -> pd.Series:
        """Solved (reconfiguration) or fixed branch status of the first case, by branch id."""
        if self.y is not None:
            if self.options.reconfigure_per_step:
                return self.branch_status_by_step().iloc[0].rename(None)
            st = self.fixed_status.copy()
            st.loc[list(self.block.SW)] = _values(self.block.y) > 0.5
            return st
        return self.status_by_case[self.cases[0]].copy()

    def branch_status_by_step(self) -> pd.DataFrame:
        """Branch status per time step (step x every network branch id, bool): the solved switching plan with
        per-step reconfiguration, else the (fixed or whole-horizon) status repeated."""
        all_ids = [int(i) for i in self.network.branches.index]
        steps = list(self.time_index)
        if self.y is not None and self.options.reconfigure_per_step:
            base = self.fixed_status.reindex(all_ids).to_numpy(bool)
            out = np.repeat(base[None, :], len(steps), axis=0)
            vals = _values(self.block.y).reshape(len(self.switchable), len(steps)) > 0.5
            pos = {lid: j for j, lid in enumerate(all_ids)}
            out[:, [pos[lid] for lid in self.switchable]] = vals.T
        else:
            st = self.branch_status().reindex(all_ids).to_numpy(bool)
            out = np.repeat(st[None, :], len(steps), axis=0)
        return pd.DataFrame(out, index=pd.Index(steps, name="step"), columns=pd.Index(all_ids, name="branch_id"))

    def net_load(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Net nodal consumption (load - sign * injections) of the solution, kW and kVAr, (case x bus).

        This is what :func:`evgrid.grid.ac_validation.validate_schedule_ac` needs: the branch-loss Params
        (``loss_params``) are *not* included, the AC power flow computes its own losses.
        """
        buses = self.network.bus_ids
        bpos = {bb: j for j, bb in enumerate(buses)}
        cpos = {case_key(k): i for i, k in enumerate(self.cases)}
        p = self._by_case(self.block.p_load_kw, len(buses)).copy()
        q = self._by_case(self.block.q_load_kvar, len(buses)).copy()
        for inj, sign in self.injection_terms.values():
            for which, target in ((0, p), (1, q)):
                terms = {bb: tq[which] for bb, tq in inj.items() if tq[which] is not None}
                for term in {id(t): t for t in terms.values()}.values():
                    tbuses = [bb for bb, t in terms.items() if t is term]
                    if isinstance(term, Component) and term.is_indexed():
                        _subtract_indexed(target, term, set(tbuses), sign, bpos, cpos)
                        continue
                    for bb in tbuses:
                        for kt, i in cpos.items():
                            v = _eval_term(term, bb, kt)
                            if v is not None:
                                target[i, bpos[bb]] -= sign * pyo.value(v)
        idx = self._case_index()
        return pd.DataFrame(p, index=idx, columns=buses), pd.DataFrame(q, index=idx, columns=buses)


# ---------------------------------------------------------------------------- helpers


def case_key(k) -> tuple:
    """Index tail of case ``k``: ``(t,)`` for a time step, ``(s, t)`` for a scenario case.

    Every LinDistFlow component is indexed ``(head, *case_key(k))``, e.g. ``w[(bus, *case_key(k))]``.
    """
    return k if isinstance(k, tuple) else (k,)


def _values(comp) -> np.ndarray:
    """Values of an indexed component in declaration order, one pass; NaN where unset."""
    if comp.ctype is pyo.Var:
        it = (d.value for d in comp.values())
    else:
        it = (pyo.value(d, exception=False) for d in comp.values())
    return np.fromiter((np.nan if v is None else v for v in it), dtype=float, count=len(comp))


def _subtract_indexed(target: np.ndarray, term, buses: set, sign: float, bpos: dict, cpos: dict) -> None:
    """``target[case, bus] -= sign * term[bus, *case]`` for every key of an indexed component, one pass."""
    keys = list(term.keys())
    vals = _values(term)
    rows, cols, sel = [], [], []
    for n, idx in enumerate(keys):
        if isinstance(idx, tuple) and idx[0] in buses:
            i = cpos.get(tuple(idx[1:]))
            if i is not None:
                rows.append(i)
                cols.append(bpos[idx[0]])
                sel.append(n)
    if sel:
        np.subtract.at(target, (np.asarray(rows), np.asarray(cols)), sign * vals[np.asarray(sel)])


def _case_index(cases, scenario_index):
    if scenario_index is None:
        return pd.Index(cases, name="step")
    return pd.MultiIndex.from_tuples(cases, names=["scenario", "step"])


def _eval_term(term, bus, kt):
    if term is None:
        return None
    if isinstance(term, Component):
        key = (bus, *kt)
        if term.is_indexed():
            return term[key] if key in term else None
        return term
    if callable(term):
        return term(bus, *kt)
    return term  # a constant


def loads_from_profile(
    network: Network, profile: Sequence[float] | pd.Series, time_index: Sequence | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scale every bus's base load by a per-step multiplier: returns (p_kw, q_kvar) DataFrames (time x bus)."""
    prof = np.asarray(profile, dtype=float)
    idx = pd.Index(time_index if time_index is not None else range(len(prof)), name="step")
    p = pd.DataFrame(np.outer(prof, network.buses["p_load_kw"].to_numpy()), index=idx, columns=network.bus_ids)
    q = pd.DataFrame(np.outer(prof, network.buses["q_load_kvar"].to_numpy()), index=idx, columns=network.bus_ids)
    return p, q


def _load_table(network: Network, values, cases, scenario_index, col: str, what: str) -> dict:
    """Normalise a load input into {(bus, *kt): value}."""
    buses = network.bus_ids
    base = network.buses[col]
    if values is None:
        return {(b, *case_key(k)): float(base.loc[b]) for k in cases for b in buses}

    def frame_for(df: pd.DataFrame, s=None):
        unknown = sorted(set(df.columns) - set(buses))
        if unknown:
            raise NetworkError(f"{what}: columns {unknown} are not buses of network '{network.name}'")
        return df.reindex(columns=buses).fillna(base)

    out = {}
    if isinstance(values, Mapping):
        if scenario_index is None:
            raise ValueError(f"{what}: a per-scenario dict needs scenario_index")
        for s in scenario_index:
            if s not in values:
                raise ValueError(f"{what}: no load table for scenario {s!r}")
            df = frame_for(values[s])
            arr = df.to_numpy(float)
            pos = {t: i for i, t in enumerate(df.index)}
            for k in cases:
                if k[0] != s:
                    continue
                if k[1] not in pos:
                    raise ValueError(f"{what}: scenario {s!r} has no row for time step {k[1]!r}")
                row = arr[pos[k[1]]]
                for j, b in enumerate(buses):
                    out[(b, *k)] = float(row[j])
        return out
    df = frame_for(pd.DataFrame(values))
    arr = df.to_numpy(float)
    pos = {t: i for i, t in enumerate(df.index)}
    for k in cases:
        key = k if (isinstance(df.index, pd.MultiIndex) and isinstance(k, tuple)) else case_key(k)[-1]
        if key not in pos:
            raise ValueError(f"{what}: no row for case {k!r}")
        row = arr[pos[key]]
        for j, b in enumerate(buses):
            out[(b, *case_key(k))] = float(row[j])
    return out


def _status_by_case(network: Network, branch_in_service, cases, scenario_index) -> dict:
    """{case: bool Series by branch id}."""
    if branch_in_service is None or not isinstance(branch_in_service, pd.DataFrame):
        st = network.branch_mask(branch_in_service)
        return {k: st for k in cases}
    df = branch_in_service
    out = {}
    by_scenario = scenario_index is not None and set(df.index) >= set(scenario_index)
    for k in cases:
        key = k[0] if by_scenario else case_key(k)[-1]
        if key not in df.index:
            raise ValueError(f"branch_in_service: no row for {'scenario' if by_scenario else 'time step'} {key!r}")
        out[k] = network.branch_mask(df.loc[key].astype(bool))
    return out


# ---------------------------------------------------------------------------- builder
# ---------------------------------------------------------------------------- builder


def build_lindistflow(
    block,
    network: Network,
    time_index: Sequence,
    scenario_index: Sequence | None = None,
    injections: Mapping[str, Injection | tuple] | None = None,
    options: LinDistFlowOptions | Mapping | None = None,
    *,
    p_load_kw=None,
    q_load_kvar=None,
    branch_in_service=None,
) -> LinDistFlowHandles:
    """Add LinDistFlow sets, variables and constraints to ``block`` (see module docstring); return handles.

    ``p_load_kw``/``q_load_kvar``: None (the network's bus loads at every step), a DataFrame (time x bus, or
    (scenario, time) MultiIndex x bus), or ``{scenario: DataFrame}``. Buses missing in a frame keep the base
    load. They become mutable Params ``block.p_load_kw[b, *k]`` for re-solves.

    The model is assembled family by family (the order fixes the LP's row/column order)::

        define_sets -> define_variables -> define_outages -> define_loss_term -> define_nodal_balance
        -> define_voltage -> define_reconfiguration -> define_thermal_polygon -> define_island_voltage_reference
    """
    options = _check_options(options)
    with PauseGC():  # tens of thousands of small objects: cyclic GC passes would double the build time
        topo = define_sets(block, network, time_index, scenario_index, options, branch_in_service,
                           p_load_kw, q_load_kvar)
        define_variables(block, topo, options)
        define_outages(block, topo, options)
        define_loss_term(block, topo, options)
        inj_terms = define_nodal_balance(block, topo, injections, options)
        define_voltage(block, topo, options)
        define_reconfiguration(block, topo, options)
        dirs = define_thermal_polygon(block, topo, options)
        define_island_voltage_reference(block, topo, options)
    return LinDistFlowHandles(
        block=block,
        network=network,
        time_index=topo.time_index,
        scenario_index=topo.scenario_index,
        cases=topo.cases,
        branch_ids=topo.branch_ids,
        islands=topo.islands,
        options=options,
        status_by_case=topo.status_by_case,
        fixed_status=topo.fixed_status,
        switchable=topo.switchable,
        thermal_dirs=dirs,
        injection_terms=inj_terms,
    )


def _check_options(options) -> LinDistFlowOptions:
    if options is None:
        options = LinDistFlowOptions()
    elif isinstance(options, Mapping):
        options = LinDistFlowOptions(**options)
    if options.thermal_sides and (options.thermal_sides < 4 or options.thermal_sides % 2):
        raise ValueError(f"thermal_sides must be 0 or an even number >= 4, got {options.thermal_sides}")
    return options


def _modelled_branches(network: Network, status: dict, cases: list, branch_in_service,
                       options: LinDistFlowOptions) -> tuple[list, list, pd.Series | None]:
    """``(branch_ids, switchable ids, fixed status)``: branches in service in some case (each distinct status
    checked radial, islands allowed; fixed status None) or, with reconfiguration, the switchable branches
    (less those the caller forces out) plus those fixed on."""
    br = network.branches
    if not options.reconfigure:
        on_any = np.zeros(len(br), dtype=bool)
        for st in {id(v): v for v in status.values()}.values():
            on_any |= st.to_numpy()
        branch_ids = [int(lid) for lid in br.index[on_any]]
        for st in {id(v): v for v in status.values()}.values():
            network.check_radial(st, allow_islands=True)
        return branch_ids, [], None
    if isinstance(branch_in_service, pd.DataFrame):
        raise ValueError("reconfiguration needs one static branch_in_service (a Series), not a per-case table")
    fixed = status[cases[0]]
    if options.switchable is None:
        sw_ids = [int(lid) for lid in br.index]
    else:
        unknown = sorted(set(options.switchable) - set(br.index))
        if unknown:
            raise NetworkError(f"switchable branches {unknown} are not in network '{network.name}'")
        sw_ids = [int(lid) for lid in options.switchable]
    # a branch explicitly forced out by the caller's mask while in service in the network = outage
    forced_out = set(br.index[br["in_service"] & ~fixed])
    sw_ids = [lid for lid in sw_ids if lid not in forced_out]
    return sorted(set(sw_ids) | set(br.index[fixed])), sw_ids, fixed


def _islands_by_case(network: Network, status: dict, cases: list, reconfigure: bool) -> dict:
    """``{k: Series bus -> island id}``, computed once per distinct status (all 0 with reconfiguration)."""
    islands_by_status: dict[int, pd.Series] = {}
    islands = {}
    for k in cases:
        key = id(status[k])
        if key not in islands_by_status:
            islands_by_status[key] = network.islands(status[k]) if not reconfigure else pd.Series(
                0, index=network.buses.index
            )
        islands[k] = islands_by_status[key]
    return islands


def _adjacency(network: Network, buses: list, branch_ids: list) -> tuple[dict, dict]:
    """``(into, out_of)``: ``{bus: [modelled branch ids ending / starting at bus]}``."""
    fb = network.branches["from_bus"].to_dict()
    tb = network.branches["to_bus"].to_dict()
    out_of: dict[int, list[int]] = {bb: [] for bb in buses}
    into: dict[int, list[int]] = {bb: [] for bb in buses}
    for lid in branch_ids:
        out_of[fb[lid]].append(lid)
        into[tb[lid]].append(lid)
    return into, out_of


def _voltage_limits(network: Network, options: LinDistFlowOptions) -> tuple[pd.Series, pd.Series]:
    """Bus voltage limits [p.u.], overridden for every bus by ``options.v_min_pu`` / ``v_max_pu``."""
    v_min = network.buses["v_min_pu"].copy()
    v_max = network.buses["v_max_pu"].copy()
    if options.v_min_pu is not None:
        v_min[:] = options.v_min_pu
    if options.v_max_pu is not None:
        v_max[:] = options.v_max_pu
    return v_min, v_max


def define_sets(block, network: Network, time_index, scenario_index, options: LinDistFlowOptions,
                branch_in_service=None, p_load_kw=None, q_load_kvar=None) -> LinDistFlowTopology:
    """Index sets ``B`` (buses), ``L`` (modelled branches), ``T``, ``S``, ``K`` (cases) and the topology.

    ``K = T`` or ``K = S x T``. ``L`` = branches in service in some case (fixed status; every in-service
    configuration must be radial, islands allowed) or, with reconfiguration, the switchable branches plus
    those fixed on (:func:`_modelled_branches`). Islands (buses cut off from the slack) are computed per
    distinct status.
    """
    time_index = list(time_index)
    if not time_index:
        raise ValueError("time_index is empty")
    scen = list(scenario_index) if scenario_index is not None else None
    cases = [(s, t) for s in scen for t in time_index] if scen is not None else list(time_index)
    buses = network.bus_ids
    status = _status_by_case(network, branch_in_service, cases, scen)
    branch_ids, sw_ids, fixed = _modelled_branches(network, status, cases, branch_in_service, options)
    islands = _islands_by_case(network, status, cases, options.reconfigure)

    b = block
    b.B = pyo.Set(initialize=buses, ordered=True)
    b.L = pyo.Set(initialize=branch_ids, ordered=True)
    b.T = pyo.Set(initialize=time_index, ordered=True)
    if scen is not None:
        b.S = pyo.Set(initialize=scen, ordered=True)
        b.K = pyo.Set(initialize=cases, dimen=2, ordered=True)
    else:
        b.K = pyo.Set(initialize=cases, ordered=True)

    into, out_of = _adjacency(network, buses, branch_ids)
    v_min, v_max = _voltage_limits(network, options)
    return LinDistFlowTopology(
        network=network, time_index=time_index, scenario_index=scen, cases=cases, buses=buses,
        slack=network.slack_bus, branch_ids=branch_ids, status_by_case=status,
        fixed_status=fixed if fixed is not None else status[cases[0]], switchable=sw_ids, islands=islands,
        into=into, out_of=out_of, v_min_pu=v_min, v_max_pu=v_max,
        p_load_kw=_load_table(network, p_load_kw, cases, scen, "p_load_kw", "p_load_kw"),
        q_load_kvar=_load_table(network, q_load_kvar, cases, scen, "q_load_kvar", "q_load_kvar"),
    )


def define_variables(block, topo: LinDistFlowTopology, options: LinDistFlowOptions) -> None:
    """State variables: ``w[b,k] = |V_b|^2 >= 0`` (p.u.), flows ``P[l,k]`` kW / ``Q[l,k]`` kVAr, import at the slack.

    ``-import_limit_kw <= p_import_kw[k] <= import_limit_kw`` (lower bound 0 when ``allow_export`` is False).
    """
    b = block
    b.w = pyo.Var(b.B, b.K, within=pyo.NonNegativeReals, initialize=topo.network.v_slack_pu**2)
    b.p_flow_kw = pyo.Var(b.L, b.K, within=pyo.Reals, initialize=0.0)
    b.q_flow_kvar = pyo.Var(b.L, b.K, within=pyo.Reals, initialize=0.0)
    if options.import_limit_kw is not None:
        lo = 0.0 if not options.allow_export else -options.import_limit_kw
        imp_bounds = (lo, options.import_limit_kw)
    else:
        imp_bounds = (0.0 if not options.allow_export else None, None)
    b.p_import_kw = pyo.Var(b.K, bounds=imp_bounds, initialize=0.0)
    b.q_import_kvar = pyo.Var(b.K, within=pyo.Reals, initialize=0.0)


def define_outages(block, topo: LinDistFlowTopology, options: LinDistFlowOptions) -> None:
    """Branch out of service in case ``k`` (fixed status): ``P[l,k] = Q[l,k] = 0`` (variables fixed at zero).

    Its voltage coupling is dropped by :func:`define_voltage` (no ``vdrop`` row); the buses it cuts off form
    islands that balance on local injections only (no import outside the slack island).
    """
    if options.reconfigure:
        return
    for k in topo.cases:
        st = topo.status_by_case[k]
        for lid in topo.branch_ids:
            if not st.at[lid]:
                key = (lid, *case_key(k))
                block.p_flow_kw[key].fix(0.0)
                block.q_flow_kvar[key].fix(0.0)


def define_loss_term(block, topo: LinDistFlowTopology, options: LinDistFlowOptions) -> None:
    """Mutable loss Params ``loss_p_kw[l,k]``, ``loss_q_kvar[l,k]`` (default 0), withdrawn at the sending bus.

    Only with ``options.loss_params``; :func:`set_losses_from_ac` fills them from an AC run (iterate, re-solve).
    """
    if not options.loss_params:
        return
    block.loss_p_kw = pyo.Param(block.L, block.K, initialize=0.0, mutable=True)
    block.loss_q_kvar = pyo.Param(block.L, block.K, initialize=0.0, mutable=True)


def _injection_terms(injections, buses, network_name: str) -> dict:
    """``{name: ({bus: (p_term, q_term)}, sign)}``, validating buses."""
    inj_terms: dict[str, tuple[dict, float]] = {}
    for name, spec in (injections or {}).items():
        if isinstance(spec, Injection):
            ibuses, tp, tq, sign = list(spec.buses), spec.p_kw, spec.q_kvar, float(spec.sign)
        elif isinstance(spec, tuple) and len(spec) in (2, 3):
            tp, tq = spec[0], spec[1]
            sign = float(spec[2]) if len(spec) == 3 else 1.0
            ibuses = buses
        else:
            raise TypeError(f"injection '{name}': expected Injection or (p, q[, sign]) tuple, got {type(spec).__name__}")
        unknown = sorted(set(ibuses) - set(buses))
        if unknown:
            raise NetworkError(f"injection '{name}' at unknown buses {unknown} of network '{network_name}'")
        inj_terms[name] = ({bb: (tp, tq) for bb in ibuses}, sign)
    return inj_terms


def define_nodal_balance(block, topo: LinDistFlowTopology, injections, options: LinDistFlowOptions) -> dict:
    """Mutable load Params and the nodal balances (their duals are the nodal prices, see ``optim.prices``)::

        balance_p[b,k]: sum_{l into b} P[l,k] - sum_{l out of b} (P[l,k] + loss_p[l,k])
                        + [b == slack] p_import_kw[k] + sum_n sign_n inj_n_p[b,k] - p_load_kw[b,k] == 0
        balance_q[b,k]: the same with Q, q_import_kvar, inj_n_q, q_load_kvar

    Returns the injection terms ``{name: ({bus: (p, q)}, sign)}`` (kept on the handles for ``net_load``).
    """
    b = block
    buses, slack, into, out_of = topo.buses, topo.slack, topo.into, topo.out_of
    b.p_load_kw = pyo.Param(b.B, b.K, initialize=topo.p_load_kw, mutable=True, within=pyo.Reals)
    b.q_load_kvar = pyo.Param(b.B, b.K, initialize=topo.q_load_kvar, mutable=True, within=pyo.Reals)

    inj_terms = _injection_terms(injections, buses, topo.network.name)
    per_bus: dict[int, list[tuple[Any, Any, float]]] = {bb: [] for bb in buses}
    for terms, sign in inj_terms.values():
        for bb, (tp, tq) in terms.items():
            per_bus[bb].append((tp, tq, sign))

    def _sum_inj(bb, kt, which):
        total = 0
        for tp, tq, sign in per_bus[bb]:
            term = _eval_term(tp if which == 0 else tq, bb, kt)
            if term is not None:
                total = total + sign * term
        return total

    has_loss = options.loss_params

    def _flow_sum(var, bb, kt, extra=None):
        vars_ = [var[(lid, *kt)] for lid in into[bb]] + [var[(lid, *kt)] for lid in out_of[bb]]
        coefs = [1.0] * len(into[bb]) + [-1.0] * len(out_of[bb])
        if extra is not None:
            vars_.append(extra)
            coefs.append(1.0)
        return LinearExpression(constant=0.0, linear_coefs=coefs, linear_vars=vars_)

    def bal_p(blk, bb, *kt):
        k = kt if len(kt) > 1 else kt[0]
        e = _flow_sum(blk.p_flow_kw, bb, kt, blk.p_import_kw[k] if bb == slack else None)
        if has_loss:
            e = e - sum(blk.loss_p_kw[(lid, *kt)] for lid in out_of[bb])
        return e + _sum_inj(bb, kt, 0) - blk.p_load_kw[(bb, *kt)] == 0

    def bal_q(blk, bb, *kt):
        k = kt if len(kt) > 1 else kt[0]
        e = _flow_sum(blk.q_flow_kvar, bb, kt, blk.q_import_kvar[k] if bb == slack else None)
        if has_loss:
            e = e - sum(blk.loss_q_kvar[(lid, *kt)] for lid in out_of[bb])
        return e + _sum_inj(bb, kt, 1) - blk.q_load_kvar[(bb, *kt)] == 0

    b.balance_p = pyo.Constraint(b.B, b.K, rule=bal_p)
    b.balance_q = pyo.Constraint(b.B, b.K, rule=bal_q)
    return inj_terms


def _drop_rule(topo: LinDistFlowTopology):
    """``drop(blk, l, kt) = w[j,k] - w[i,k] + 2 (r_pu P[l,k] + x_pu Q[l,k]) / s_base_kva`` for ``l = (i -> j)``."""
    br = topo.network.branches
    s_base = topo.network.s_base_kva
    fb = br["from_bus"].to_dict()
    tb = br["to_bus"].to_dict()
    coef_r = {lid: 2.0 * br.at[lid, "r_pu"] / s_base for lid in topo.branch_ids}
    coef_x = {lid: 2.0 * br.at[lid, "x_pu"] / s_base for lid in topo.branch_ids}

    def drop(blk, lid, kt):
        return LinearExpression(
            constant=0.0,
            linear_coefs=[1.0, -1.0, coef_r[lid], coef_x[lid]],
            linear_vars=[blk.w[(tb[lid], *kt)], blk.w[(fb[lid], *kt)], blk.p_flow_kw[(lid, *kt)],
                         blk.q_flow_kvar[(lid, *kt)]],
        )

    return drop


def define_voltage(block, topo: LinDistFlowTopology, options: LinDistFlowOptions) -> None:
    """Slack voltage, voltage limits and (fixed status) the voltage drop along every branch in service::

        slack_v[k]:  w[slack,k] == v_slack_pu^2
        v_lim[b,k]:  v_min_pu[b]^2 <= w[b,k] <= v_max_pu[b]^2        (ranged row, every non-slack bus)
        vdrop[l,k]:  w[j,k] == w[i,k] - 2 (r_pu P[l,k] + x_pu Q[l,k]) / s_base_kva   (l = i -> j in service)

    With reconfiguration the drop rows are big-M relaxed by :func:`define_reconfiguration` instead.
    """
    b = block
    net = topo.network
    slack = topo.slack
    b.slack_v = pyo.Constraint(b.K, rule=lambda blk, *kt: blk.w[(slack, *kt)] == net.v_slack_pu**2)
    non_slack = [bb for bb in topo.buses if bb != slack]
    if options.enforce_voltage_limits:
        vmin2 = {bb: float(topo.v_min_pu[bb]) ** 2 for bb in non_slack}
        vmax2 = {bb: float(topo.v_max_pu[bb]) ** 2 for bb in non_slack}
        b.BV = pyo.Set(initialize=non_slack, ordered=True)
        b.v_lim = pyo.Constraint(b.BV, b.K, rule=lambda blk, bb, *kt: (vmin2[bb], blk.w[(bb, *kt)], vmax2[bb]))
    if options.reconfigure:
        return
    on_keys = [(lid, *case_key(k)) for k in topo.cases for lid in topo.branch_ids if topo.status_by_case[k].at[lid]]
    drop = _drop_rule(topo)
    b.LK_on = pyo.Set(initialize=on_keys, dimen=None, ordered=True)
    b.vdrop = pyo.Constraint(b.LK_on, rule=lambda blk, lid, *kt: drop(blk, lid, kt) == 0)


def _big_m_kw(topo: LinDistFlowTopology, options: LinDistFlowOptions) -> dict:
    """Flow big-M per switchable branch: ``options.big_m_kw``, else its rating, else 2 x peak total load (kVA)."""
    br = topo.network.branches
    tot = float(np.hypot(topo.network.total_load_kw, topo.network.total_load_kvar))
    big_m = {}
    for lid in topo.switchable:
        rating = br.at[lid, "rating_kva"]
        big_m[lid] = options.big_m_kw or (float(rating) if pd.notna(rating) else 2.0 * max(tot, 1.0))
    if options.big_m_kw is None:
        # unrated branches: twice the largest total load (kVA) over all cases
        peak = max(
            math.hypot(
                sum(topo.p_load_kw[(bb, *case_key(k))] for bb in topo.buses),
                sum(topo.q_load_kvar[(bb, *case_key(k))] for bb in topo.buses),
            )
            for k in topo.cases
        )
        for lid in topo.switchable:
            if pd.isna(br.at[lid, "rating_kva"]):
                big_m[lid] = max(big_m[lid], 2.0 * peak)
    return big_m


def define_reconfiguration(block, topo: LinDistFlowTopology, options: LinDistFlowOptions) -> None:
    """Switch binaries ``y[l]`` (one configuration for all cases) or ``y[l,t]`` (one per time step), big-M flows
    and drops; radiality by :func:`define_radiality` (ONE family for both modes)::

        |P[l,k]|, |Q[l,k]| <= M_l y[l(,t)]                         (switchable l)
        |w[j,k] - w[i,k] + 2 (r P + x Q) / s_base| <= M_v (1 - y[l(,t)]);   == 0 for branches fixed on
        sum_l |y[l] - y0[l]| <= max_switching                           (optional, whole-horizon mode)

    ``M_v = max w - min w`` over the voltage limits (the exact range of ``w_j - w_i`` of an open branch, whose
    flows are zero); without voltage limits 0.1 is added to the band's width.
    """
    if not options.reconfigure:
        return
    b = block
    sw_ids, fixed = topo.switchable, topo.fixed_status
    sw_set = set(sw_ids)
    fixed_on = [lid for lid in topo.branch_ids if lid not in sw_set]
    per_step = bool(options.reconfigure_per_step)
    b.SW = pyo.Set(initialize=sw_ids, ordered=True)
    if per_step:
        b.y = pyo.Var(b.SW, b.T, within=pyo.Binary, initialize=lambda blk, lid, t: 1 if fixed.at[lid] else 0)

        def yk(blk, lid, kt):
            return blk.y[lid, kt[-1]]
    else:
        b.y = pyo.Var(b.SW, within=pyo.Binary, initialize=lambda blk, lid: 1 if fixed.at[lid] else 0)

        def yk(blk, lid, kt):
            return blk.y[lid]
    v_slack2 = float(topo.network.v_slack_pu) ** 2
    w_hi = max(float(topo.v_max_pu.max()) ** 2, v_slack2)
    w_lo = min(float(topo.v_min_pu.min()) ** 2, v_slack2)
    big_v = float(w_hi - w_lo + (0.0 if options.enforce_voltage_limits else 0.1))
    big_m = _big_m_kw(topo, options)
    drop = _drop_rule(topo)
    b.LK_fixed = pyo.Set(initialize=[(lid, *case_key(k)) for k in topo.cases for lid in fixed_on], dimen=None)
    b.LK_sw = pyo.Set(initialize=[(lid, *case_key(k)) for k in topo.cases for lid in sw_ids], dimen=None)
    b.vdrop = pyo.Constraint(b.LK_fixed, rule=lambda blk, lid, *kt: drop(blk, lid, kt) == 0)
    b.vdrop_sw_lo = pyo.Constraint(
        b.LK_sw, rule=lambda blk, lid, *kt: drop(blk, lid, kt) >= -big_v * (1 - yk(blk, lid, kt))
    )
    b.vdrop_sw_hi = pyo.Constraint(
        b.LK_sw, rule=lambda blk, lid, *kt: drop(blk, lid, kt) <= big_v * (1 - yk(blk, lid, kt))
    )
    b.p_sw_lo = pyo.Constraint(
        b.LK_sw, rule=lambda blk, lid, *kt: blk.p_flow_kw[(lid, *kt)] >= -big_m[lid] * yk(blk, lid, kt))
    b.p_sw_hi = pyo.Constraint(
        b.LK_sw, rule=lambda blk, lid, *kt: blk.p_flow_kw[(lid, *kt)] <= big_m[lid] * yk(blk, lid, kt))
    b.q_sw_lo = pyo.Constraint(
        b.LK_sw, rule=lambda blk, lid, *kt: blk.q_flow_kvar[(lid, *kt)] >= -big_m[lid] * yk(blk, lid, kt)
    )
    b.q_sw_hi = pyo.Constraint(
        b.LK_sw, rule=lambda blk, lid, *kt: blk.q_flow_kvar[(lid, *kt)] <= big_m[lid] * yk(blk, lid, kt)
    )
    define_radiality(b, topo, fixed_on, per_step)
    if per_step:
        define_step_switching(b, topo, options)
    elif options.max_switching is not None:
        b.switching = pyo.Constraint(
            expr=sum((1 - b.y[lid]) if fixed.at[lid] else b.y[lid] for lid in sw_ids) <= options.max_switching
        )


def define_radiality(block, topo: LinDistFlowTopology, fixed_on: list, per_step: bool) -> None:
    """Radial and connected configuration ``r`` (every step ``t`` with per-step switching, else the one
    configuration): spanning tree + parent-child orientation + single-commodity flow (paper 004 eq. 21)::

        sum_l y[l,r] + |fixed on| == |B| - 1                                   (spanning tree)
        a[l,r] + a'[l,r] == y[l,r]   (== 1 if l is fixed on)                   (l = i -> j: a = i parent of j)
        sum_{l into j} a[l,r] + sum_{l out of j} a'[l,r] == 1  (j != slack),  == 0 at the slack (one parent)
        -(|B| - 1) a'[l,r] <= f[l,r] <= (|B| - 1) a[l,r]                       (flow only parent -> child)
        sum_in f[.,r] - sum_out f[.,r] == 1 (j != slack),  == -(|B| - 1) at the slack

    The commodity flow from the slack reaches every bus (connected), which with ``|B| - 1`` branches is a
    spanning tree. The orientation rows (Jabr, Singh & Pal, IEEE TPWRS 27(2) 2012) are redundant for integer
    ``y`` but cut fractional loops out of the LP relaxation, and bound the flow by the oriented variables
    instead of the big-M alone.
    """
    b = block
    buses, slack, into, out_of = topo.buses, topo.slack, topo.into, topo.out_of
    n_b = len(buses)
    fixed_set = set(fixed_on)
    b.R = pyo.Set(initialize=list(topo.time_index) if per_step else [0], ordered=True)

    def y_of(blk, lid, r):
        if lid in fixed_set:
            return 1
        return blk.y[lid, r] if per_step else blk.y[lid]

    b.radial_count = pyo.Constraint(
        b.R, rule=lambda blk, r: sum(blk.y[(lid, r) if per_step else lid] for lid in topo.switchable)
        + len(fixed_on) == n_b - 1)
    b.parent_fwd = pyo.Var(b.L, b.R, bounds=(0.0, 1.0), initialize=0.0)
    b.parent_bwd = pyo.Var(b.L, b.R, bounds=(0.0, 1.0), initialize=0.0)
    b.orientation = pyo.Constraint(
        b.L, b.R, rule=lambda blk, lid, r: blk.parent_fwd[lid, r] + blk.parent_bwd[lid, r] == y_of(blk, lid, r))

    def one_parent(blk, bb, r):
        n_par = sum(blk.parent_fwd[lid, r] for lid in into[bb]) + sum(blk.parent_bwd[lid, r] for lid in out_of[bb])
        if isinstance(n_par, int):
            return pyo.Constraint.Skip if bb == slack else pyo.Constraint.Infeasible
        return n_par == (0 if bb == slack else 1)

    b.one_parent = pyo.Constraint(b.B, b.R, rule=one_parent)
    b.f_comm = pyo.Var(b.L, b.R, bounds=(-(n_b - 1), n_b - 1), initialize=0.0)
    b.comm_lo = pyo.Constraint(b.L, b.R, rule=lambda blk, lid, r: blk.f_comm[lid, r] >= -(n_b - 1)
                               * blk.parent_bwd[lid, r])
    b.comm_hi = pyo.Constraint(b.L, b.R, rule=lambda blk, lid, r: blk.f_comm[lid, r] <= (n_b - 1)
                               * blk.parent_fwd[lid, r])

    def comm_bal(blk, bb, r):
        net_in = sum(blk.f_comm[lid, r] for lid in into[bb]) - sum(blk.f_comm[lid, r] for lid in out_of[bb])
        return net_in == (-(n_b - 1) if bb == slack else 1)

    b.comm_balance = pyo.Constraint(b.B, b.R, rule=comm_bal)


def define_step_switching(block, topo: LinDistFlowTopology, options: LinDistFlowOptions) -> None:
    """Daily switching limit of each switch (paper 004 eq. 22); radiality per step is :func:`define_radiality`::

        a[l,t] >= y[l,t] - y[l,t-1],  a[l,t] >= y[l,t-1] - y[l,t]             (switching action, a >= 0)
        sum_t a[l,t] <= max_switching_per_branch                              (eq. 22)

    ``y[l, t_0 - 1]`` is the fixed status (``initial_status='fixed'``) or free (``'free'``: no action counted at
    the first step).
    """
    b = block
    fixed = topo.fixed_status
    steps = list(topo.time_index)
    if options.initial_status not in ("fixed", "free"):
        raise ValueError(f"initial_status must be 'fixed' or 'free', got {options.initial_status!r}")
    if options.max_switching_per_branch is None:
        return
    prev = {t: steps[i - 1] for i, t in enumerate(steps) if i > 0}
    first = steps[0]
    b.switch_action = pyo.Var(b.SW, b.T, bounds=(0.0, 1.0), initialize=0.0)

    def before(blk, lid, t):
        if t != first:
            return blk.y[lid, prev[t]]
        if options.initial_status == "fixed":
            return 1.0 if fixed.at[lid] else 0.0
        return None

    def act_up(blk, lid, t):
        y0 = before(blk, lid, t)
        return pyo.Constraint.Skip if y0 is None else blk.switch_action[lid, t] >= blk.y[lid, t] - y0

    def act_down(blk, lid, t):
        y0 = before(blk, lid, t)
        return pyo.Constraint.Skip if y0 is None else blk.switch_action[lid, t] >= y0 - blk.y[lid, t]

    b.switch_action_up = pyo.Constraint(b.SW, b.T, rule=act_up)
    b.switch_action_down = pyo.Constraint(b.SW, b.T, rule=act_down)
    n_max = int(options.max_switching_per_branch)
    b.switching_per_branch = pyo.Constraint(
        b.SW, rule=lambda blk, lid: sum(blk.switch_action[lid, t] for t in steps) <= n_max)


def polygon_normals(n_sides: int, half_step: bool = False) -> list[tuple[float, float]]:
    """Half the side normals ``(cos a_m, sin a_m)`` of a regular n-gon, ``a_m = 2 pi (m + h) / n``,
    ``m = 0..n/2-1`` (``h = 0``: a side faces the P axis; ``h = 1/2`` with ``half_step``: a vertex on it).

    The other half are their opposites, so one ranged row ``|cos a_m P + sin a_m Q| <= S cos(pi/n)`` per pair
    of sides keeps ``(P, Q)`` in the n-gon inscribed in the circle of radius ``S`` (the one N-gon of the
    project: LinDistFlow's thermal limits, :func:`define_thermal_polygon`; any other apparent-power polygon).
    """
    shift = 0.5 if half_step else 0.0
    return [(math.cos(2.0 * math.pi * (m + shift) / n_sides), math.sin(2.0 * math.pi * (m + shift) / n_sides))
            for m in range(n_sides // 2)]


def define_thermal_polygon(block, topo: LinDistFlowTopology, options: LinDistFlowOptions) -> list:
    """Inner n-gon of the apparent-power circle for every rated branch in service::

        thermal[l,m,k]: -S cos(pi/n) <= cos(a_m) P[l,k] + sin(a_m) Q[l,k] <= S cos(pi/n),
                        a_m = 2 pi m / n,  m = 0..n/2-1,  S = rating_kva

    (opposite sides share one ranged row). Returns the directions ``[(cos a_m, sin a_m)]`` (empty if none).
    """
    n_sides = int(options.thermal_sides or 0)
    br = topo.network.branches
    rated = [lid for lid in topo.branch_ids if pd.notna(br.at[lid, "rating_kva"])]
    if not (n_sides and rated):
        return []
    b = block
    half = n_sides // 2
    cs = polygon_normals(n_sides)
    shrink = math.cos(math.pi / n_sides)
    cap = {lid: float(br.at[lid, "rating_kva"]) * shrink for lid in rated}
    b.M_SIDES = pyo.RangeSet(0, half - 1)
    if options.reconfigure:
        keys = [(lid, m, *case_key(k)) for k in topo.cases for lid in rated for m in range(half)]
    else:
        keys = [(lid, m, *case_key(k)) for k in topo.cases for lid in rated if topo.status_by_case[k].at[lid]
                for m in range(half)]
    b.LMK_th = pyo.Set(initialize=keys, dimen=None, ordered=True)
    b.thermal = pyo.Constraint(
        b.LMK_th,
        rule=lambda blk, lid, m, *kt: (
            -cap[lid],
            LinearExpression(
                constant=0.0,
                linear_coefs=list(cs[m]),
                linear_vars=[blk.p_flow_kw[(lid, *kt)], blk.q_flow_kvar[(lid, *kt)]],
            ),
            cap[lid],
        ),
    )
    return cs


def define_island_voltage_reference(block, topo: LinDistFlowTopology, options: LinDistFlowOptions) -> None:
    """Voltage reference of each island (no substation there): its root bus r (smallest id) is held in a band::

        island_v_ref[r,k]: lo^2 <= w[r,k] <= hi^2,   (lo, hi) = options.island_v_ref_pu

    Only with ``island_v_ref_pu`` and a fixed status; otherwise island voltages float within the bus limits.
    """
    if options.island_v_ref_pu is None or options.reconfigure:
        return
    lo, hi = options.island_v_ref_pu
    ref_keys = []
    for k in topo.cases:
        isl = topo.islands[k]
        for i in range(1, int(isl.max()) + 1):
            ref_keys.append((int(isl.index[isl == i].min()), *case_key(k)))
    if ref_keys:
        block.ISL_REF = pyo.Set(initialize=ref_keys, dimen=None, ordered=True)
        block.island_v_ref = pyo.Constraint(
            block.ISL_REF, rule=lambda blk, bb, *kt: pyo.inequality(lo**2, blk.w[(bb, *kt)], hi**2)
        )


def set_losses_from_ac(handles: LinDistFlowHandles, loss_p_kw: pd.DataFrame, loss_q_kvar: pd.DataFrame) -> None:
    """Load per-branch AC losses (case x branch id, kW/kVAr) into the mutable loss Params for a re-solve."""
    blk = handles.block
    if not handles.options.loss_params:
        raise ValueError("build the model with LinDistFlowOptions(loss_params=True) to iterate on losses")
    for k in handles.cases:
        kt = case_key(k)
        for lid in handles.branch_ids:
            blk.loss_p_kw[(lid, *kt)] = float(loss_p_kw.loc[k, lid]) if lid in loss_p_kw.columns else 0.0
            blk.loss_q_kvar[(lid, *kt)] = float(loss_q_kvar.loc[k, lid]) if lid in loss_q_kvar.columns else 0.0


def set_loads(handles: LinDistFlowHandles, p_load_kw: pd.DataFrame, q_load_kvar: pd.DataFrame | None = None) -> None:
    """Overwrite the mutable load Params from (case x bus) frames (persistent re-solve)."""
    blk = handles.block
    for frame, par in ((p_load_kw, blk.p_load_kw), (q_load_kvar, blk.q_load_kvar)):
        if frame is None:
            continue
        unknown = sorted(set(frame.columns) - set(handles.network.bus_ids))
        if unknown:
            raise NetworkError(f"set_loads: columns {unknown} are not buses")
        for k in handles.cases:
            row = frame.loc[k]
            for bb, v in row.items():
                par[(bb, *case_key(k))] = float(v)

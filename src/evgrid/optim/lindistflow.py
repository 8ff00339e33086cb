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
    all scenarios. Big-M on flows and on vdrop; radiality by spanning tree (``sum y = |B| - 1``) plus a
    single-commodity flow from the slack (every bus energised, hence connected and radial);
    ``options.max_switching`` limits the number of status changes vs ``branch_in_service``.

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
    big_m_kw: float | None = None
    """Flow big-M for switchable branches; default 2 x total load (kVA) or the rating."""
    loss_params: bool = False


@dataclass
class LinDistFlowHandles:
    """What :func:`build_lindistflow` returns: the block, its index sets and named components."""

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
    extras: dict = field(default_factory=dict)

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
        return getattr(self.block, "v_lim", None)

    @property
    def thermal(self):
        return getattr(self.block, "thermal", None)

    @property
    def y(self):
        return getattr(self.block, "y", None)

    # result readers --------------------------------------------------------------
    def _positions(self):
        if "_case_pos" not in self.extras:
            self.extras["_case_pos"] = {_kt(k): i for i, k in enumerate(self.cases)}
        return self.extras["_case_pos"]

    def _array(self, comp, keys) -> np.ndarray:
        """(case x key) array of values of a component indexed ``(key, *case)``; NaN where absent/None."""
        cpos = self._positions()
        kpos = {c: j for j, c in enumerate(keys)}
        out = np.full((len(self.cases), len(keys)), np.nan)
        for idx, data in comp.items():
            if not isinstance(idx, tuple):
                continue
            j = kpos.get(idx[0])
            i = cpos.get(tuple(idx[1:]))
            if i is not None and j is not None:
                val = data.value
                if val is not None:
                    out[i, j] = val
        return out

    def _frame(self, comp, keys, cols) -> pd.DataFrame:
        idx = _case_index(self.cases, self.scenario_index)
        return pd.DataFrame(self._array(comp, keys), index=idx, columns=pd.Index(cols))

    def voltage_pu(self) -> pd.DataFrame:
        """Solved voltage magnitude sqrt(w), DataFrame (case x bus)."""
        df = self._frame(self.block.w, self.network.bus_ids, self.network.bus_ids)
        return np.sqrt(df.clip(lower=0.0))

    def flows_kw(self) -> pd.DataFrame:
        """Sending-end active flow (case x every network branch id; 0 where the branch is not modelled)."""
        all_ids = [int(i) for i in self.network.branches.index]
        return self._frame(self.block.p_flow_kw, all_ids, all_ids).fillna(0.0)

    def flows_kvar(self) -> pd.DataFrame:
        all_ids = [int(i) for i in self.network.branches.index]
        return self._frame(self.block.q_flow_kvar, all_ids, all_ids).fillna(0.0)

    def import_kw(self) -> pd.Series:
        return pd.Series(
            [pyo.value(self.block.p_import_kw[k]) for k in self.cases], index=_case_index(self.cases, self.scenario_index)
        )

    def branch_status(self) -> pd.Series:
        """Solved (reconfiguration) or fixed branch status of the first case, by branch id."""
        if self.y is not None:
            st = self.extras["fixed_status"].copy()
            for lid in self.block.SW:
                st.loc[lid] = pyo.value(self.block.y[lid]) > 0.5
            return st
        return self.extras["status_by_case"][self.cases[0]].copy()

    def net_load(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Net nodal consumption (load - sign * injections) of the solution, kW and kVAr, (case x bus).

        This is what :func:`evgrid.grid.ac_validation.validate_schedule_ac` needs: the branch-loss Params
        (``loss_params``) are *not* included, the AC power flow computes its own losses.
        """
        b = self.block
        buses = self.network.bus_ids
        bpos = {bb: j for j, bb in enumerate(buses)}
        cpos = self._positions()
        p = self._array(b.p_load_kw, buses)
        q = self._array(b.q_load_kvar, buses)
        for inj, sign in self.extras["injection_terms"].values():
            for which, target in ((0, p), (1, q)):
                terms = {bb: tq[which] for bb, tq in inj.items() if tq[which] is not None}
                if not terms:
                    continue
                comps = {id(t): t for t in terms.values()}
                for term in comps.values():
                    tbuses = [bb for bb, t in terms.items() if t is term]
                    if isinstance(term, Component) and term.is_indexed():
                        tb = set(tbuses)
                        for idx, data in term.items():
                            if isinstance(idx, tuple) and idx[0] in tb:
                                i = cpos.get(tuple(idx[1:]))
                                if i is not None:
                                    target[i, bpos[idx[0]]] -= sign * pyo.value(data)
                    else:
                        for bb in tbuses:
                            for k in self.cases:
                                v = _eval_term(term, bb, _kt(k))
                                if v is not None:
                                    target[cpos[_kt(k)], bpos[bb]] -= sign * pyo.value(v)
        idx = _case_index(self.cases, self.scenario_index)
        return pd.DataFrame(p, index=idx, columns=buses), pd.DataFrame(q, index=idx, columns=buses)


# ---------------------------------------------------------------------------- helpers


def _kt(k) -> tuple:
    return k if isinstance(k, tuple) else (k,)


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
        return {(b, *_kt(k)): float(base.loc[b]) for k in cases for b in buses}

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
        key = k if (isinstance(df.index, pd.MultiIndex) and isinstance(k, tuple)) else _kt(k)[-1]
        if key not in pos:
            raise ValueError(f"{what}: no row for case {k!r}")
        row = arr[pos[key]]
        for j, b in enumerate(buses):
            out[(b, *_kt(k))] = float(row[j])
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
        key = k[0] if by_scenario else _kt(k)[-1]
        if key not in df.index:
            raise ValueError(f"branch_in_service: no row for {'scenario' if by_scenario else 'time step'} {key!r}")
        out[k] = network.branch_mask(df.loc[key].astype(bool))
    return out


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
    """
    with PauseGC():  # tens of thousands of small objects: cyclic GC passes would double the build time
        return _build(block, network, time_index, scenario_index, injections, options, p_load_kw, q_load_kvar,
                      branch_in_service)


def _build(block, network, time_index, scenario_index, injections, options, p_load_kw, q_load_kvar,
           branch_in_service) -> LinDistFlowHandles:
    if options is None:
        options = LinDistFlowOptions()
    elif isinstance(options, Mapping):
        options = LinDistFlowOptions(**options)
    if options.thermal_sides and (options.thermal_sides < 4 or options.thermal_sides % 2):
        raise ValueError(f"thermal_sides must be 0 or an even number >= 4, got {options.thermal_sides}")
    time_index = list(time_index)
    if not time_index:
        raise ValueError("time_index is empty")
    scen = list(scenario_index) if scenario_index is not None else None
    cases = [(s, t) for s in scen for t in time_index] if scen is not None else list(time_index)
    buses = network.bus_ids
    br = network.branches
    s_base = network.s_base_kva
    slack = network.slack_bus

    status = _status_by_case(network, branch_in_service, cases, scen)
    if options.reconfigure:
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
        branch_ids = sorted(set(sw_ids) | set(br.index[fixed]))
    else:
        fixed = None
        sw_ids = []
        on_any = np.zeros(len(br), dtype=bool)
        for st in {id(v): v for v in status.values()}.values():
            on_any |= st.to_numpy()
        branch_ids = [int(lid) for lid in br.index[on_any]]
        for st in {id(v): v for v in status.values()}.values():
            network.check_radial(st, allow_islands=True)

    # islands per distinct status
    islands_by_status: dict[int, pd.Series] = {}
    islands = {}
    for k in cases:
        key = id(status[k])
        if key not in islands_by_status:
            islands_by_status[key] = network.islands(status[k]) if not options.reconfigure else pd.Series(
                0, index=network.buses.index
            )
        islands[k] = islands_by_status[key]

    b = block
    b.B = pyo.Set(initialize=buses, ordered=True)
    b.L = pyo.Set(initialize=branch_ids, ordered=True)
    b.T = pyo.Set(initialize=time_index, ordered=True)
    if scen is not None:
        b.S = pyo.Set(initialize=scen, ordered=True)
        b.K = pyo.Set(initialize=cases, dimen=2, ordered=True)
    else:
        b.K = pyo.Set(initialize=cases, ordered=True)

    fb = br["from_bus"].to_dict()
    tb = br["to_bus"].to_dict()
    r_pu = br["r_pu"].to_dict()
    x_pu = br["x_pu"].to_dict()
    out_of: dict[int, list[int]] = {bb: [] for bb in buses}
    into: dict[int, list[int]] = {bb: [] for bb in buses}
    for lid in branch_ids:
        out_of[fb[lid]].append(lid)
        into[tb[lid]].append(lid)

    # parameters
    p_tab = _load_table(network, p_load_kw, cases, scen, "p_load_kw", "p_load_kw")
    q_tab = _load_table(network, q_load_kvar, cases, scen, "q_load_kvar", "q_load_kvar")
    b.p_load_kw = pyo.Param(b.B, b.K, initialize=p_tab, mutable=True, within=pyo.Reals)
    b.q_load_kvar = pyo.Param(b.B, b.K, initialize=q_tab, mutable=True, within=pyo.Reals)

    v_min = network.buses["v_min_pu"].copy()
    v_max = network.buses["v_max_pu"].copy()
    if options.v_min_pu is not None:
        v_min[:] = options.v_min_pu
    if options.v_max_pu is not None:
        v_max[:] = options.v_max_pu

    # variables
    b.w = pyo.Var(b.B, b.K, within=pyo.NonNegativeReals, initialize=network.v_slack_pu**2)
    b.p_flow_kw = pyo.Var(b.L, b.K, within=pyo.Reals, initialize=0.0)
    b.q_flow_kvar = pyo.Var(b.L, b.K, within=pyo.Reals, initialize=0.0)
    if options.import_limit_kw is not None:
        lo = 0.0 if not options.allow_export else -options.import_limit_kw
        imp_bounds = (lo, options.import_limit_kw)
    else:
        imp_bounds = (0.0 if not options.allow_export else None, None)
    b.p_import_kw = pyo.Var(b.K, bounds=imp_bounds, initialize=0.0)
    b.q_import_kvar = pyo.Var(b.K, within=pyo.Reals, initialize=0.0)

    # flows of branches out of service in a case are fixed at zero (fixed-status mode)
    off_keys = []
    if not options.reconfigure:
        for k in cases:
            st = status[k]
            for lid in branch_ids:
                if not st.at[lid]:
                    off_keys.append((lid, *_kt(k)))
        for key in off_keys:
            b.p_flow_kw[key].fix(0.0)
            b.q_flow_kvar[key].fix(0.0)

    if options.loss_params:
        b.loss_p_kw = pyo.Param(b.L, b.K, initialize=0.0, mutable=True)
        b.loss_q_kvar = pyo.Param(b.L, b.K, initialize=0.0, mutable=True)

    # injections
    inj_terms: dict[str, tuple[dict, float]] = {}
    per_bus: dict[int, list[tuple[Any, Any, float]]] = {bb: [] for bb in buses}
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
            raise NetworkError(f"injection '{name}' at unknown buses {unknown} of network '{network.name}'")
        inj_terms[name] = ({bb: (tp, tq) for bb in ibuses}, sign)
        for bb in ibuses:
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

    # voltage
    b.slack_v = pyo.Constraint(b.K, rule=lambda blk, *kt: blk.w[(slack, *kt)] == network.v_slack_pu**2)
    non_slack = [bb for bb in buses if bb != slack]
    if options.enforce_voltage_limits:
        vmin2 = {bb: float(v_min[bb]) ** 2 for bb in non_slack}
        vmax2 = {bb: float(v_max[bb]) ** 2 for bb in non_slack}
        b.BV = pyo.Set(initialize=non_slack, ordered=True)
        b.v_lim = pyo.Constraint(b.BV, b.K, rule=lambda blk, bb, *kt: (vmin2[bb], blk.w[(bb, *kt)], vmax2[bb]))

    coef_r = {lid: 2.0 * r_pu[lid] / s_base for lid in branch_ids}
    coef_x = {lid: 2.0 * x_pu[lid] / s_base for lid in branch_ids}

    def drop_expr(blk, lid, kt):
        return LinearExpression(
            constant=0.0,
            linear_coefs=[1.0, -1.0, coef_r[lid], coef_x[lid]],
            linear_vars=[blk.w[(tb[lid], *kt)], blk.w[(fb[lid], *kt)], blk.p_flow_kw[(lid, *kt)], blk.q_flow_kvar[(lid, *kt)]],
        )

    sw_set = set(sw_ids)
    if not options.reconfigure:
        on_keys = [(lid, *_kt(k)) for k in cases for lid in branch_ids if status[k].at[lid]]
        b.LK_on = pyo.Set(initialize=on_keys, dimen=None, ordered=True)
        b.vdrop = pyo.Constraint(b.LK_on, rule=lambda blk, lid, *kt: drop_expr(blk, lid, kt) == 0)
    else:
        fixed_on = [lid for lid in branch_ids if lid not in sw_set]
        b.SW = pyo.Set(initialize=sw_ids, ordered=True)
        b.y = pyo.Var(b.SW, within=pyo.Binary, initialize=lambda blk, lid: 1 if fixed.at[lid] else 0)
        big_v = float((v_max.max() ** 2 - v_min.min() ** 2) + 0.1)
        tot = float(np.hypot(network.total_load_kw, network.total_load_kvar))
        big_m = {}
        for lid in sw_ids:
            rating = br.at[lid, "rating_kva"]
            big_m[lid] = options.big_m_kw or (float(rating) if pd.notna(rating) else 2.0 * max(tot, 1.0))
        if options.big_m_kw is None:
            # unrated branches: twice the largest total load (kVA) over all cases
            peak = max(
                math.hypot(
                    sum(p_tab[(bb, *_kt(k))] for bb in buses), sum(q_tab[(bb, *_kt(k))] for bb in buses)
                )
                for k in cases
            )
            for lid in sw_ids:
                if pd.isna(br.at[lid, "rating_kva"]):
                    big_m[lid] = max(big_m[lid], 2.0 * peak)
        b.LK_fixed = pyo.Set(initialize=[(lid, *_kt(k)) for k in cases for lid in fixed_on], dimen=None)
        b.LK_sw = pyo.Set(initialize=[(lid, *_kt(k)) for k in cases for lid in sw_ids], dimen=None)
        b.vdrop = pyo.Constraint(b.LK_fixed, rule=lambda blk, lid, *kt: drop_expr(blk, lid, kt) == 0)
        b.vdrop_sw_lo = pyo.Constraint(
            b.LK_sw, rule=lambda blk, lid, *kt: drop_expr(blk, lid, kt) >= -big_v * (1 - blk.y[lid])
        )
        b.vdrop_sw_hi = pyo.Constraint(
            b.LK_sw, rule=lambda blk, lid, *kt: drop_expr(blk, lid, kt) <= big_v * (1 - blk.y[lid])
        )
        b.p_sw_lo = pyo.Constraint(b.LK_sw, rule=lambda blk, lid, *kt: blk.p_flow_kw[(lid, *kt)] >= -big_m[lid] * blk.y[lid])
        b.p_sw_hi = pyo.Constraint(b.LK_sw, rule=lambda blk, lid, *kt: blk.p_flow_kw[(lid, *kt)] <= big_m[lid] * blk.y[lid])
        b.q_sw_lo = pyo.Constraint(
            b.LK_sw, rule=lambda blk, lid, *kt: blk.q_flow_kvar[(lid, *kt)] >= -big_m[lid] * blk.y[lid]
        )
        b.q_sw_hi = pyo.Constraint(
            b.LK_sw, rule=lambda blk, lid, *kt: blk.q_flow_kvar[(lid, *kt)] <= big_m[lid] * blk.y[lid]
        )
        # radiality: spanning tree + single-commodity flow from the slack
        n_b = len(buses)
        b.radial_count = pyo.Constraint(expr=sum(b.y[lid] for lid in sw_ids) + len(fixed_on) == n_b - 1)
        b.f_comm = pyo.Var(b.L, bounds=(-(n_b - 1), n_b - 1), initialize=0.0)

        def comm_cap_lo(blk, lid):
            return blk.f_comm[lid] >= -(n_b - 1) * blk.y[lid]

        def comm_cap_hi(blk, lid):
            return blk.f_comm[lid] <= (n_b - 1) * blk.y[lid]

        b.comm_lo = pyo.Constraint(b.SW, rule=comm_cap_lo)
        b.comm_hi = pyo.Constraint(b.SW, rule=comm_cap_hi)

        def comm_bal(blk, bb):
            net_in = sum(blk.f_comm[lid] for lid in into[bb]) - sum(blk.f_comm[lid] for lid in out_of[bb])
            return net_in == (-(n_b - 1) if bb == slack else 1)

        b.comm_balance = pyo.Constraint(b.B, rule=comm_bal)
        if options.max_switching is not None:
            b.switching = pyo.Constraint(
                expr=sum((1 - b.y[lid]) if fixed.at[lid] else b.y[lid] for lid in sw_ids) <= options.max_switching
            )

    # thermal polygon
    n_sides = int(options.thermal_sides or 0)
    rated = [lid for lid in branch_ids if pd.notna(br.at[lid, "rating_kva"])]
    if n_sides and rated:
        half = n_sides // 2
        cs = [(math.cos(2.0 * math.pi * m / n_sides), math.sin(2.0 * math.pi * m / n_sides)) for m in range(half)]
        shrink = math.cos(math.pi / n_sides)
        cap = {lid: float(br.at[lid, "rating_kva"]) * shrink for lid in rated}
        b.M_SIDES = pyo.RangeSet(0, half - 1)
        if options.reconfigure:
            keys = [(lid, m, *_kt(k)) for k in cases for lid in rated for m in range(half)]
        else:
            keys = [(lid, m, *_kt(k)) for k in cases for lid in rated if status[k].at[lid] for m in range(half)]
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
        block._evgrid_thermal_dirs = cs

    # island voltage reference
    if options.island_v_ref_pu is not None and not options.reconfigure:
        lo, hi = options.island_v_ref_pu
        ref_keys = []
        for k in cases:
            isl = islands[k]
            for i in range(1, int(isl.max()) + 1):
                ref_keys.append((int(isl.index[isl == i].min()), *_kt(k)))
        if ref_keys:
            b.ISL_REF = pyo.Set(initialize=ref_keys, dimen=None, ordered=True)
            b.island_v_ref = pyo.Constraint(
                b.ISL_REF, rule=lambda blk, bb, *kt: pyo.inequality(lo**2, blk.w[(bb, *kt)], hi**2)
            )

    block._evgrid_time_index = time_index
    return LinDistFlowHandles(
        block=b,
        network=network,
        time_index=time_index,
        scenario_index=scen,
        cases=cases,
        branch_ids=branch_ids,
        islands=islands,
        options=options,
        extras={
            "status_by_case": status,
            "fixed_status": fixed if fixed is not None else status[cases[0]],
            "switchable": sw_ids,
            "injection_terms": inj_terms,
        },
    )


def set_losses_from_ac(handles: LinDistFlowHandles, loss_p_kw: pd.DataFrame, loss_q_kvar: pd.DataFrame) -> None:
    """Load per-branch AC losses (case x branch id, kW/kVAr) into the mutable loss Params for a re-solve."""
    blk = handles.block
    if not handles.options.loss_params:
        raise ValueError("build the model with LinDistFlowOptions(loss_params=True) to iterate on losses")
    for k in handles.cases:
        kt = _kt(k)
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
                par[(bb, *_kt(k))] = float(v)


"""Day-ahead MILP of a distribution feeder with a DWPT road, PV and a battery (paper 002, II-C).

Objective (eq. 8), all powers in kW, ``dt`` in h::

    min  sum_t dt/1000 * ( sum_g c_g P_g,t + price_t (P_buy,t - P_sell,t)
                           + VOLL sum_b LS_b,t + pen_emg sum_b LSX_b,t )

subject to
* DG limits (eq. 18-19), optionally with on/off commitment ``u_g,t``: ``Pmin u <= P <= Pmax u``;
* upstream trade (eq. 15-17): ``P_buy <= Pbar eps``, ``P_sell <= Pbar (1 - eps)``, eps binary;
* shedding (eq. 20): ``LS_b,t <= r (P^D_b,t + P^EV_b,t)``; the reactive load is shed at the bus'
  power factor. Where an island cannot be balanced even with ``r`` shed, the extra "emergency"
  shedding ``LSX`` (up to the full load, priced at ``pen_emg`` > VOLL) keeps the model feasible and is
  reported per bus and hour. Buses of an island without any DG are de-energised and fully shed;
* PV (eq. 1, 13) with curtailment ``P_PV,used <= P_PV,avail``; battery (eq. 2-7) from
  :mod:`evgrid.der.battery`, charging only from the PV surplus: ``P_PV,used >= P_ch + P_EV x_ch``;
* EV supply (eq. 11, 14): the EV load, PV and battery sit at one bus, so the split of PV and battery
  power between the EV and the conventional load is pure bookkeeping; it is reported EV-first
  (:func:`split_der_power`);
* nodal balance and linearised power flow (eq. 10, 12, 21-24): the shared LinDistFlow builder
  :func:`evgrid.optim.lindistflow.build_lindistflow` with the bus net injections of this model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from evgrid.der.battery import define_battery_block
from evgrid.grid.network import Network
from evgrid.optim.lindistflow import Injection, LinDistFlowHandles, LinDistFlowOptions, build_lindistflow
from evgrid.studies.dwpt.system import DGUnit, DwptCase, DwptDay, MarketParams


@dataclass
class DwptResult:
    """Solved schedules of one case (tables in kW / kVAr / p.u.) and its cost breakdown."""

    case: DwptCase
    system: pd.DataFrame
    dg: pd.DataFrame
    bus: pd.DataFrame
    costs: dict
    islands: pd.Series
    branch_in_service: pd.Series
    solve: dict = field(default_factory=dict)


def split_der_power(pv_used_kw, p_ch_kw, p_dis_kw, ev_served_kw) -> dict[str, np.ndarray]:
    """EV-first split of PV and battery power (paper eq. 11, 13, 14).

    PV net of charging serves the EV first, then the conventional load; battery discharge serves
    what the PV left of the EV load, then the conventional load; the grid supplies the rest of the EV.
    """
    pv_net = np.asarray(pv_used_kw) - np.asarray(p_ch_kw)
    ev = np.asarray(ev_served_kw)
    pv_to_ev = np.minimum(pv_net, ev)
    dis_to_ev = np.minimum(np.asarray(p_dis_kw), ev - pv_to_ev)
    return {
        "pv_to_ev_kw": pv_to_ev,
        "pv_to_conv_kw": pv_net - pv_to_ev,
        "pv_to_battery_kw": np.asarray(p_ch_kw, dtype=float),
        "dis_to_ev_kw": dis_to_ev,
        "dis_to_conv_kw": np.asarray(p_dis_kw) - dis_to_ev,
        "grid_to_ev_kw": ev - pv_to_ev - dis_to_ev,
    }


def case_topology(network: Network, case: DwptCase, dgs: list[DGUnit]) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Branch status, island id per bus and whether each bus is energised (slack island or has a DG)."""
    mask = network.outage_mask(list(case.outages))
    islands = network.islands(mask)
    dg_islands = {int(islands.loc[g.bus]) for g in dgs}
    energised = islands.map(lambda k: k == 0 or k in dg_islands).astype(bool)
    return mask, islands, energised


@dataclass(frozen=True, slots=True)
class DwptCaseData:
    """The numbers one case is built from (:func:`case_data`): steps ``T``, buses ``B``, loads (step x bus, kW /
    kVAr, the EV load at the DER bus included), EV and usable PV per step (kW), topology of the case."""

    steps: list
    buses: list
    load_p_kw: np.ndarray
    load_q_kvar: np.ndarray
    q_ratio: np.ndarray
    """Reactive / active load per (step, bus): reactive shedding follows the bus' power factor."""
    ev_kw: np.ndarray
    pv_kw: np.ndarray
    branch_in_service: pd.Series
    islands: pd.Series
    energised: pd.Series
    live: dict
    """``{bus: energised}`` as plain bools (the rules look it up per bus)."""
    battery: bool
    """The battery is modelled: the case has one, the DER bus is energised and the capacity is positive."""


@dataclass(frozen=True, slots=True)
class DwptModel:
    """What :func:`build_dwpt_model` returns: the Pyomo model, its LinDistFlow handles and the case data."""

    model: pyo.ConcreteModel
    pf: LinDistFlowHandles
    data: DwptCaseData


def case_data(network: Network, day: DwptDay, case: DwptCase, dgs: list[DGUnit], market: MarketParams) -> DwptCaseData:
    """Checked inputs of one case: loads with the EV at the DER bus (reactive at ``ev_power_factor``), no PV
    or battery where the DER bus is de-energised."""
    unknown = sorted({g.bus for g in dgs} - set(network.buses.index))
    if unknown:
        raise ValueError(f"DGs placed at unknown buses {unknown}")
    T = list(range(len(day.load_p_kw)))
    buses = [int(b) for b in network.buses.index]
    missing = sorted(set(buses) - set(day.load_p_kw.columns))
    if missing:
        raise ValueError(f"load table lacks columns for buses {missing}")
    mask, islands, energised = case_topology(network, case, dgs)
    ev = day.ev_kw if case.ev else np.zeros(len(T))
    pv = day.pv_kw if case.pv else np.zeros(len(T))
    der_on = bool(energised.loc[day.der_bus])
    if not der_on:
        pv = np.zeros(len(T))
    load_p = day.load_p_kw[buses].to_numpy(float).copy()
    load_q = day.load_q_kvar[buses].to_numpy(float).copy()
    k_der = buses.index(day.der_bus)
    load_p[:, k_der] += ev
    tan_ev = np.tan(np.arccos(market.ev_power_factor))
    load_q[:, k_der] += ev * tan_ev
    with np.errstate(divide="ignore", invalid="ignore"):
        q_ratio = np.where(load_p > 0, load_q / np.where(load_p > 0, load_p, 1.0), 0.0)
    use_batt = case.battery and der_on and day.battery is not None and day.battery.capacity_kwh > 0
    return DwptCaseData(steps=T, buses=buses, load_p_kw=load_p, load_q_kvar=load_q, q_ratio=q_ratio, ev_kw=ev,
                        pv_kw=pv, branch_in_service=mask, islands=islands, energised=energised,
                        live={b: bool(energised.loc[b]) for b in buses}, battery=bool(use_batt))


def build_dwpt_model(network: Network, day: DwptDay, case: DwptCase, dgs: list[DGUnit],
                     market: MarketParams, pf_options: LinDistFlowOptions | None = None) -> DwptModel:
    """Pyomo model of one case (module docstring), family by family (the order fixes the LP's row/column order)::

        define_sets -> define_dg -> define_trade -> define_shedding -> define_der -> define_power_flow
        -> define_objective
    """
    data = case_data(network, day, case, dgs, market)
    m = pyo.ConcreteModel(name=f"dwpt_{case.name}")
    define_sets(m, data, dgs)
    define_dg(m, dgs, market)
    define_trade(m, market)
    define_shedding(m, data, market.shed_max_frac)
    define_der(m, data, day)
    pf = define_power_flow(m, network, data, dgs, day.der_bus, pf_options)
    define_objective(m, data, dgs, day, market)
    return DwptModel(model=m, pf=pf, data=data)


def define_sets(m, data: DwptCaseData, dgs: list[DGUnit]) -> None:
    """Steps ``T``, buses ``B``, DG names ``G`` (ordered)."""
    m.T = pyo.Set(initialize=data.steps, ordered=True)
    m.B = pyo.Set(initialize=data.buses, ordered=True)
    m.G = pyo.Set(initialize=[g.name for g in dgs], ordered=True)


def define_dg(m, dgs: list[DGUnit], market: MarketParams) -> None:
    """DG limits (eq. 18-19): ``Pmin u <= P_g,t <= Pmax u``, ``Qmin u <= Q_g,t <= Qmax u``; ``u = 1`` fixed
    without commitment."""
    dg_by = {g.name: g for g in dgs}
    m.u = pyo.Var(m.G, m.T, domain=pyo.Binary)
    if not market.dg_commitment:
        for g in m.G:
            for t in m.T:
                m.u[g, t].fix(1)
    m.pg = pyo.Var(m.G, m.T, bounds=lambda _, g, t: (0.0, dg_by[g].p_max_kw))
    m.qg = pyo.Var(m.G, m.T, bounds=lambda _, g, t: (min(dg_by[g].q_min_kvar, 0.0), max(dg_by[g].q_max_kvar, 0.0)))
    m.pg_min = pyo.Constraint(m.G, m.T, rule=lambda m, g, t: m.pg[g, t] >= dg_by[g].p_min_kw * m.u[g, t])
    m.pg_max = pyo.Constraint(m.G, m.T, rule=lambda m, g, t: m.pg[g, t] <= dg_by[g].p_max_kw * m.u[g, t])
    m.qg_min = pyo.Constraint(m.G, m.T, rule=lambda m, g, t: m.qg[g, t] >= dg_by[g].q_min_kvar * m.u[g, t])
    m.qg_max = pyo.Constraint(m.G, m.T, rule=lambda m, g, t: m.qg[g, t] <= dg_by[g].q_max_kvar * m.u[g, t])


def define_trade(m, market: MarketParams) -> None:
    """Upstream trade (eq. 15-17): ``P_buy,t <= Pbar_buy eps_t``, ``P_sell,t <= Pbar_sell (1 - eps_t)``."""
    m.p_buy = pyo.Var(m.T, bounds=(0.0, market.p_buy_max_kw))
    m.p_sell = pyo.Var(m.T, bounds=(0.0, market.p_sell_max_kw))
    m.eps = pyo.Var(m.T, domain=pyo.Binary)
    m.buy_limit = pyo.Constraint(m.T, rule=lambda m, t: m.p_buy[t] <= market.p_buy_max_kw * m.eps[t])
    m.sell_limit = pyo.Constraint(m.T, rule=lambda m, t: m.p_sell[t] <= market.p_sell_max_kw * (1 - m.eps[t]))


def define_shedding(m, data: DwptCaseData, r: float) -> None:
    """Shedding (eq. 20) ``0 <= LS_b,t <= r P_b,t`` and emergency shedding ``0 <= LSX_b,t <= (1 - r) P_b,t``;
    on a de-energised bus both sit at their upper bound (fully shed)."""
    bidx = {b: i for i, b in enumerate(data.buses)}
    load_p, live = data.load_p_kw, data.live

    def ls_bounds(_, b, t):
        p = load_p[t, bidx[b]]
        return (p * r, p * r) if not live[b] else (0.0, p * r)

    def lsx_bounds(_, b, t):
        p = load_p[t, bidx[b]]
        return (p * (1 - r), p * (1 - r)) if not live[b] else (0.0, p * (1 - r))

    m.ls = pyo.Var(m.B, m.T, bounds=ls_bounds)
    m.lsx = pyo.Var(m.B, m.T, bounds=lsx_bounds)


def define_der(m, data: DwptCaseData, day: DwptDay) -> None:
    """PV with curtailment ``0 <= P_PV,used <= P_PV,avail`` (eq. 1, 13) and, when modelled, the battery (eq. 2-7,
    :func:`evgrid.der.battery.define_battery_block`) charging from the PV surplus only:
    ``P_ch <= max(P_PV - P_EV, 0)``, ``P_PV,used >= P_ch + P_EV x_ch``."""
    pv, ev = data.pv_kw, data.ev_kw
    m.pv_used = pyo.Var(m.T, bounds=lambda _, t: (0.0, float(pv[t])))
    if data.battery:
        m.batt = pyo.Block()
        define_battery_block(m.batt, data.steps, day.battery, day.step_h, charge_limit_kw=np.clip(pv - ev, 0.0, None))
        m.pv_only_charging = pyo.Constraint(
            m.T, rule=lambda m, t: m.pv_used[t] >= m.batt.p_ch_kw[t] + float(ev[t]) * m.batt.x_ch[t])


def define_power_flow(m, network: Network, data: DwptCaseData, dgs: list[DGUnit], der_bus: int,
                      pf_options: LinDistFlowOptions | None) -> LinDistFlowHandles:
    """Nodal balance and LinDistFlow (eq. 10, 12, 21-24) on block ``m.grid`` with the injections DG, shedding
    (reactive at the bus' ratio), PV and battery; ``P_import,t = P_buy,t - P_sell,t`` at the slack."""
    T, buses = data.steps, data.buses
    bidx = {b: i for i, b in enumerate(buses)}
    q_ratio = data.q_ratio
    dg_at = {b: [g.name for g in dgs if g.bus == b] for b in buses}
    dg_buses = sorted(b for b in buses if dg_at[b])
    der = [der_bus]
    injections = {
        "dg": Injection(dg_buses, p_kw=lambda b, t: sum(m.pg[g, t] for g in dg_at[b]),
                        q_kvar=lambda b, t: sum(m.qg[g, t] for g in dg_at[b])),
        "shedding": Injection(buses, p_kw=lambda b, t: m.ls[b, t] + m.lsx[b, t],
                              q_kvar=lambda b, t: float(q_ratio[t, bidx[b]]) * (m.ls[b, t] + m.lsx[b, t])),
        "pv": Injection(der, p_kw=lambda b, t: m.pv_used[t]),
    }
    if data.battery:
        injections["battery"] = Injection(der, p_kw=lambda b, t: m.batt.p_dis_kw[t] - m.batt.p_ch_kw[t])
    m.grid = pyo.Block()
    p_df = pd.DataFrame(data.load_p_kw, index=T, columns=buses)
    q_df = pd.DataFrame(data.load_q_kvar, index=T, columns=buses)
    pf = build_lindistflow(m.grid, network, T, injections=injections, options=pf_options or LinDistFlowOptions(),
                           p_load_kw=p_df, q_load_kvar=q_df, branch_in_service=data.branch_in_service)
    m.upstream_p = pyo.Constraint(m.T, rule=lambda m, t: m.grid.p_import_kw[t] == m.p_buy[t] - m.p_sell[t])
    m.q_up = pyo.Reference(m.grid.q_import_kvar)
    return pf


def define_objective(m, data: DwptCaseData, dgs: list[DGUnit], day: DwptDay, market: MarketParams) -> None:
    """Cost (eq. 8), $ per day: ``dt/1000 sum_t [sum_g c_g P_g,t + price_t (P_buy - P_sell) + VOLL sum_b LS_b,t
    + pen_emg sum_b LSX_b,t]``; emergency shedding of a de-energised bus is priced at VOLL."""
    T, live, dt, price = data.steps, data.live, day.step_h, day.price_usd_per_mwh
    dg_by = {g.name: g for g in dgs}
    m.cost_dg = pyo.Expression(expr=dt / 1000 * sum(dg_by[g].cost_usd_per_mwh * m.pg[g, t] for g in m.G for t in T))
    m.cost_upstream = pyo.Expression(expr=dt / 1000 * sum(float(price[t]) * (m.p_buy[t] - m.p_sell[t]) for t in T))
    m.cost_shed = pyo.Expression(expr=dt / 1000 * market.voll_usd_per_mwh * sum(m.ls[b, t] for b in m.B for t in T)
                                 + dt / 1000 * market.voll_usd_per_mwh * sum(m.lsx[b, t] for b in m.B for t in T
                                                                             if not live[b]))
    m.cost_emergency = pyo.Expression(expr=dt / 1000 * market.emergency_shed_penalty_usd_per_mwh
                                      * sum(m.lsx[b, t] for b in m.B for t in T if live[b]))
    m.obj = pyo.Objective(expr=m.cost_dg + m.cost_upstream + m.cost_shed + m.cost_emergency, sense=pyo.minimize)


def read_values(comp, *shape: int) -> np.ndarray:
    """Solved values of an indexed Var (or Reference) in declaration order, one pass, reshaped to ``shape``."""
    vals = np.fromiter((pyo.value(d) for d in comp.values()), dtype=float, count=len(comp))
    return vals.reshape(shape) if shape else vals


def extract_results(built: DwptModel, case: DwptCase, dgs: list[DGUnit], day: DwptDay,
                    voltage_pu: pd.DataFrame) -> DwptResult:
    """Tables of a solved model: system-level series, DG schedule, per-bus shedding and voltage."""
    m, d = built.model, built.data
    T, buses = d.steps, d.buses
    ls = read_values(m.ls, len(buses), len(T)).T
    lsx = read_values(m.lsx, len(buses), len(T)).T
    shed = ls + lsx
    k_der = buses.index(day.der_bus)
    der_load = d.load_p_kw[:, k_der]
    ev = d.ev_kw
    # shedding at the DER bus is shared pro rata between conventional and EV load
    with np.errstate(divide="ignore", invalid="ignore"):
        ev_frac = np.where(der_load > 0, ev / np.where(der_load > 0, der_load, 1.0), 0.0)
    ev_shed = shed[:, k_der] * ev_frac
    if d.battery:
        p_ch, p_dis, soc = (read_values(v) for v in (m.batt.p_ch_kw, m.batt.p_dis_kw, m.batt.soc_kwh))
    else:
        p_ch = p_dis = np.zeros(len(T))
        soc = np.full(len(T), np.nan)
    pv_used = read_values(m.pv_used)
    split = split_der_power(pv_used, p_ch, p_dis, ev - ev_shed)
    p_buy, p_sell = read_values(m.p_buy), read_values(m.p_sell)
    pg, qg, u = (read_values(v, len(dgs), len(T)) for v in (m.pg, m.qg, m.u))
    system = pd.DataFrame({
        "case": case.name, "step": T, "hour": np.asarray(T) * day.step_h,
        "price_usd_per_mwh": day.price_usd_per_mwh,
        "conv_load_kw": d.load_p_kw.sum(axis=1) - ev, "ev_load_kw": ev, "ev_shed_kw": ev_shed,
        "p_buy_kw": p_buy, "p_sell_kw": p_sell, "p_upstream_kw": p_buy - p_sell, "q_upstream_kvar": read_values(m.q_up),
        "dg_p_kw": np.ascontiguousarray(pg.T).sum(axis=1),
        "pv_avail_kw": d.pv_kw, "pv_used_kw": pv_used, "pv_curtailed_kw": d.pv_kw - pv_used,
        **split, "batt_ch_kw": p_ch, "batt_dis_kw": p_dis, "soc_kwh": soc,
        "shed_kw": ls.sum(axis=1), "emergency_shed_kw": lsx.sum(axis=1),
    })
    dg = pd.DataFrame({
        "case": case.name, "step": np.tile(T, len(dgs)), "dg": [g.name for g in dgs for _ in T],
        "bus": np.repeat([g.bus for g in dgs], len(T)), "p_kw": pg.ravel(), "q_kvar": qg.ravel(),
        "on": np.round(u.ravel()).astype(bool)}) if dgs else pd.DataFrame()
    bus = pd.DataFrame({
        "case": case.name, "step": np.tile(T, len(buses)), "bus": np.repeat(buses, len(T)),
        "p_load_kw": d.load_p_kw.T.ravel(), "q_load_kvar": d.load_q_kvar.T.ravel(),
        "shed_kw": ls.T.ravel(), "emergency_shed_kw": lsx.T.ravel(),
        "v_pu": voltage_pu.reindex(index=T, columns=buses).to_numpy().T.ravel(),
        "island": np.repeat(d.islands.loc[buses].to_numpy(), len(T)),
        "energised": np.repeat(d.energised.loc[buses].to_numpy(), len(T)),
    })
    dt = day.step_h
    costs = {
        "case": case.name, "ev": case.ev, "pv": case.pv, "battery": case.battery,
        "outage": "+".join(f"{a}-{b}" for a, b in case.outages) or "none",
        "dg_cost_usd": pyo.value(m.cost_dg), "upstream_cost_usd": pyo.value(m.cost_upstream),
        "shedding_cost_usd": pyo.value(m.cost_shed), "emergency_shedding_cost_usd": pyo.value(m.cost_emergency),
        "total_cost_usd": pyo.value(m.obj),
        "shed_mwh": float(shed.sum() * dt / 1000), "emergency_shed_mwh": float(lsx[:, [d.live[b] for b in buses]].sum() * dt / 1000),
        "ev_energy_mwh": float(ev.sum() * dt / 1000), "pv_energy_mwh": float(pv_used.sum() * dt / 1000),
        "bought_mwh": float(p_buy.sum() * dt / 1000), "sold_mwh": float(p_sell.sum() * dt / 1000),
        "n_islands": int(d.islands.max()) + 1, "dead_buses": int((~d.energised).sum()),
    }
    return DwptResult(case=case, system=system, dg=dg, bus=bus, costs=costs, islands=d.islands,
                      branch_in_service=d.branch_in_service)


def solve_case(network: Network, day: DwptDay, case: DwptCase, dgs: list[DGUnit], market: MarketParams,
               pf_options: LinDistFlowOptions | None = None, solver_options=None) -> DwptResult:
    """Build, solve (shared HiGHS wrapper, proven optimum within the MIP gap) and extract one case."""
    from evgrid.optim.solver import solve

    t0 = time.perf_counter()
    built = build_dwpt_model(network, day, case, dgs, market, pf_options)
    t_build = time.perf_counter() - t0
    res = solve(built.model, solver_options)
    result = extract_results(built, case, dgs, day, built.pf.voltage_pu())
    p_net, q_net = built.pf.net_load()
    result.solve = {"case": case.name, "build_s": t_build, "solve_s": getattr(res, "wall_s", np.nan),
                    "status": str(getattr(res, "status", "")), "mip_gap": getattr(res, "mip_gap", np.nan),
                    "p_net_load_kw": p_net, "q_net_load_kvar": q_net}
    return result


def _timed_solve(case: DwptCase, shared) -> DwptResult:
    """One case on an evgrid.compute worker: ``shared = (network, day, dgs, market, pf_options, solver_options)``."""
    from evgrid import compute

    network, day, dgs, market, pf_options, solver_options = shared
    opts = dict(solver_options or {})
    opts["threads"] = compute.solver_threads(opts.get("threads"))
    t0 = time.perf_counter()
    r = solve_case(network, day, case, dgs, market, pf_options, opts)
    r.solve["total_s"] = time.perf_counter() - t0
    return r


def run_cases(network: Network, day: DwptDay, cases: list[DwptCase], dgs: list[DGUnit], market: MarketParams,
              pf_options: LinDistFlowOptions | None = None, solver_options=None,
              compute_settings=None) -> dict[str, pd.DataFrame]:
    """Solve every case (one :func:`evgrid.compute.map_tasks` task each, keyed by the case name); return long
    tables (a ``case`` column each) for schedules, costs and net loads."""
    from evgrid import compute

    names = [c.name for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"case names must be unique, repeated: {dup}")
    systems, dgs_t, buses_t, costs, net = [], [], [], [], []
    results = compute.map_tasks(_timed_solve, list(cases), compute_settings, keys=names,
                                shared=(network, day, list(dgs), market, pf_options, solver_options),
                                desc="dwpt cases")
    for case, r in zip(cases, results, strict=True):
        info = r.solve
        costs.append({**r.costs, "build_s": info["build_s"], "solve_s": info["solve_s"],
                      "total_s": info["total_s"], "status": info["status"], "mip_gap": info["mip_gap"]})
        systems.append(r.system)
        dgs_t.append(r.dg)
        buses_t.append(r.bus)
        p_net, q_net = info["p_net_load_kw"], info["q_net_load_kvar"]
        net.append(pd.DataFrame({
            "case": case.name, "step": np.repeat(p_net.index.to_numpy(), p_net.shape[1]),
            "bus": np.tile(p_net.columns.to_numpy(), len(p_net)),
            "p_net_load_kw": p_net.to_numpy().ravel(), "q_net_load_kvar": q_net.to_numpy().ravel(),
        }))
    return {
        "system": pd.concat(systems, ignore_index=True),
        "dg": pd.concat(dgs_t, ignore_index=True),
        "bus": pd.concat(buses_t, ignore_index=True),
        "costs": pd.DataFrame(costs),
        "net_load": pd.concat(net, ignore_index=True),
    }


def define_ac_voltage_margin(m, vbuses: list, steps: list, vmin_pu: pd.Series) -> None:
    """AC-corrected lower voltage limit ``w_b,t >= w_min_ac[b,t]`` (mutable, initially ``v_min^2``) on the
    energised non-slack buses; :func:`solve_case_ac_corrected` raises it by the AC margin between solves."""
    m.w_min_ac = pyo.Param(vbuses, steps, mutable=True, initialize=lambda _, b, t: float(vmin_pu[b]) ** 2)
    m.v_min_ac = pyo.Constraint(vbuses, steps, rule=lambda m, b, t: m.grid.w[b, t] >= m.w_min_ac[b, t])


def solve_case_ac_corrected(network: Network, day: DwptDay, case: DwptCase, dgs: list[DGUnit],
                            market: MarketParams, pf_options: LinDistFlowOptions | None = None,
                            solver_options=None, iterations: int = 2) -> tuple[DwptResult, pd.DataFrame, list]:
    """AC-corrected schedule: iterate MILP <-> pandapower (an extension of the paper's lossless model).

    Iteration 0 is the paper's lossless LinDistFlow MILP. After each solve the AC power flow of the
    schedule (:func:`evgrid.grid.ac_validation.validate_schedule_ac`) gives (a) the branch losses, which
    are loaded into the LinDistFlow loss parameters (the shared builder's ``loss_params``), and (b) the
    linearisation error ``e_b,t = V_lin - V_AC``; the lower voltage limit of the next solve becomes
    ``V_lin >= v_min + margin_b,t`` with ``margin = max(margin, e) + max(v_min - V_AC, 0)`` (monotone, and
    a residual AC violation raises it further). Returns the
    cheapest iterate without AC voltage violations (else the last one), the per-iteration history and the
    AC reports.
    """
    from dataclasses import replace

    from evgrid.grid.ac_validation import validate_schedule_ac
    from evgrid.optim.lindistflow import set_losses_from_ac
    from evgrid.optim.solver import solve

    opts = replace(pf_options or LinDistFlowOptions(), loss_params=True)
    built = build_dwpt_model(network, day, case, dgs, market, opts)
    m, pf, d = built.model, built.pf, built.data
    T = d.steps
    vbuses = [b for b in d.buses if b != network.slack_bus and d.live[b]]
    vmin = network.buses["v_min_pu"].astype(float)
    if opts.v_min_pu is not None:
        vmin[:] = opts.v_min_pu
    define_ac_voltage_margin(m, vbuses, T, vmin)
    margin = pd.DataFrame(0.0, index=T, columns=vbuses)
    history, reports, best, best_obj, last = [], [], None, np.inf, None
    for k in range(iterations + 1):
        res = solve(m, solver_options)
        v_lin = pf.voltage_pu()
        p_net, q_net = pf.net_load()
        rep = validate_schedule_ac(network, p_net, q_net, v_linear_pu=v_lin, branch_in_service=d.branch_in_service)
        summ = rep.summary()
        reports.append(rep)
        result = extract_results(built, case, dgs, day, v_lin)
        result.costs["ac_loss_mwh"] = float(rep.steps["loss_kw"].sum() * day.step_h / 1000)
        history.append({"case": case.name, "iteration": k, "objective_usd": float(res.objective),
                        "status": res.status, "mip_gap": res.mip_gap, "solve_s": res.wall_s,
                        "shed_mwh": result.costs["shed_mwh"], **summ})
        last = result
        if summ["n_voltage_violations"] == 0 and res.objective < best_obj:
            best, best_obj = result, float(res.objective)
        if k == iterations:
            break
        set_losses_from_ac(pf, rep.branch_loss_kw, rep.branch_loss_kvar)
        err = (v_lin[vbuses] - rep.v_ac_pu[vbuses]).clip(lower=0.0).fillna(0.0)
        residual = (vmin[vbuses].to_numpy() - rep.v_ac_pu[vbuses]).clip(lower=0.0).fillna(0.0)
        margin = np.maximum(margin, err.to_numpy()) + residual.to_numpy()
        for b in vbuses:
            for t in T:
                m.w_min_ac[b, t] = (float(vmin[b]) + float(margin.at[t, b])) ** 2
    hist = pd.DataFrame(history)
    chosen = best if best is not None else last
    hist["chosen"] = False
    hist.loc[hist["objective_usd"].sub(chosen.costs["total_cost_usd"]).abs().idxmin(), "chosen"] = True
    return chosen, hist, reports


def case_flags(day: DwptDay, cases: list[DwptCase], dgs: list[DGUnit], costs: pd.DataFrame,
               max_shed_share: float) -> list[str]:
    """:func:`evgrid.runtime.sanity.flag_result` per solved case (in the parent process): load energy =
    base load + EV energy, shed = shed + emergency shed, supply = DG capacity, mean import and mean PV."""
    from evgrid.runtime.sanity import flag_result

    base_kwh = float(day.load_p_kw.to_numpy().sum() * day.step_h)
    dg_kw = float(sum(g.p_max_kw for g in dgs))
    out = []
    for case, (_, r) in zip(cases, costs.iterrows(), strict=True):
        hours = len(day.ev_kw) * day.step_h
        flags = flag_result(
            case.name, load_kwh=base_kwh + 1000 * float(r["ev_energy_mwh"]),
            shed_kwh=1000 * float(r["shed_mwh"] + r.get("emergency_shed_mwh", 0.0)), max_shed_share=max_shed_share,
            supply_kw={"dg_capacity_kw": dg_kw, "mean_import_kw": 1000 * float(r["bought_mwh"]) / hours,
                       "mean_pv_kw": 1000 * float(r["pv_energy_mwh"]) / hours},
            objective=float(r["total_cost_usd"]))
        flags.log_to_mlflow()
        out.append(flags.text())
    return out


def solve_cases(network: Network, day: DwptDay, cfg, compute_settings=None) -> tuple[pd.DataFrame, ...]:
    """Solve every case of ``dwpt.cases`` (paper II-C) on the shared LinDistFlow + HiGHS wrapper.

    Returns the system, DG, bus schedules, the cost table and the net loads (long tables, ``case`` column);
    raises if a case did not reach the configured MIP gap.
    """
    import logging

    out = run_cases(network, day, list(cfg.cases), list(cfg.dgs), cfg.market, cfg.power_flow, cfg.solver,
                    compute_settings=compute_settings)
    gap = cfg.solver["mip_gap"]
    bad = out["costs"][out["costs"]["mip_gap"].fillna(0) > gap + 1e-12]
    if len(bad):
        raise RuntimeError(f"cases {bad['case'].tolist()} did not reach the MIP gap {gap}")
    log = logging.getLogger(__name__)
    out["costs"]["flags"] = case_flags(day, list(cfg.cases), list(cfg.dgs), out["costs"], cfg.max_shed_share)
    for _, r in out["costs"].iterrows():
        log.info("case %-24s total %9.0f $  shed %6.2f MWh  solve %.2f s%s", r["case"], r["total_cost_usd"],
                 r["shed_mwh"], r["solve_s"], f"  FLAGGED: {r['flags']}" if r["flags"] else "")
    return out["system"], out["dg"], out["bus"], out["costs"], out["net_load"]

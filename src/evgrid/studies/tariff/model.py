"""Models of the tariff study: DSO robust convex QP, tariffs from duals, EV aggregators' response, feeder checks.

DSO (paper 001, eq. for ``min sum_m C_T^m + C_C&D^m``)::

    min  w * vehicle_hours + sum_{y,t} (c_t + beta * p[y,t]) * p[y,t] * dt
    s.t. time-expanded EV flow (evgrid.transport.dynamic), LinDistFlow (evgrid.optim.lindistflow) with the
         station loads p[y,t] withdrawn at the station buses, the robust net loads, line and voltage limits

Robust counterpart: ``box`` (paper) puts loads at forecast + Gamma xi and renewables at forecast - Gamma xi
in the nodal balance (:meth:`TariffSystem.net_load`); ``budget`` keeps the forecast and tightens every
station-line and voltage row by its Bertsimas-Sim protection (:class:`evgrid.optim.robust.BudgetSet`) over the
uncertain injections of that hour.

Tariff (paper ``R_t = (lambda+ - lambda-) + (gamma+ - gamma-)``) = congestion + voltage components of the
station bus's nodal price (:func:`evgrid.optim.prices.nodal_prices`), $/kWh. The grid import has no cost in
the DSO objective (energy is paid through ``c_t``), so the energy component is 0 and the tariff is the whole
nodal price. EV aggregator (one per station, joint routing)::

    min  w * vehicle_hours + sum_{y,t} (c_t + beta * p[y,t] + R[y,t]) * p[y,t] * dt      (no grid constraints)

With the DSO's duals the response reproduces the DSO's station powers (the QP is strictly convex in ``p``:
Lagrangian relaxation of the grid rows); the feeder is then checked with the LinDistFlow and pandapower, and
the tariff is raised where a line is still overloaded (``aggregators.max_iterations``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from evgrid.grid.ac_validation import validate_schedule_ac
from evgrid.optim.lindistflow import Injection, LinDistFlowOptions, build_lindistflow
from evgrid.optim.prices import nodal_prices
from evgrid.optim.robust import BudgetSet
from evgrid.optim.solver import SolverOptions, solve
from evgrid.studies.tariff.system import THERMAL_SIDES, TariffSystem, radial_sensitivities
from evgrid.transport.dynamic import build_ev_flow, enumerate_paths, prune_paths

log = logging.getLogger(__name__)


@dataclass
class CaseResult:
    """One solved DSO case (or an aggregator response)."""

    name: str
    gamma: float
    perturbation_pct: float
    objective_usd: float
    travel_time_cost_usd: float
    charging_cost_usd: float
    station_kw: pd.DataFrame
    """hour x station, kW."""
    tariffs: pd.DataFrame | None = None
    """long: step, station, tariff_usd_per_kwh, congestion_usd_per_kwh, voltage_usd_per_kwh, line_dual_usd_per_kwh."""
    line_flow_kw: pd.DataFrame | None = None
    """hour x station (limited stations), LinDistFlow flow at the case's robust net load."""
    link_flows: pd.DataFrame | None = None
    station_energy: pd.DataFrame | None = None
    voltage_pu: pd.DataFrame | None = None
    solve_s: float = 0.0
    info: dict = field(default_factory=dict)


def solver_options(system: TariffSystem) -> SolverOptions:
    return SolverOptions.coerce(dict(system.cfg.solver))


def paths_for(system: TariffSystem) -> list:
    """Candidate paths (one via each station + direct), pruned by energy and ``transport.max_detour_h``."""
    paths = enumerate_paths(system.traffic, system.demands, list(system.stations.values()))
    kept, table = prune_paths(system.traffic, paths, system.demands, system.fleet, system.cfg.transport.max_detour_h)
    system.info["paths"] = table
    return kept


def _ev_block(m, system: TariffSystem, paths, demands=None, capacity_veh=None, plugs_veh=None):
    m.ev = pyo.Block()
    return build_ev_flow(m.ev, system.traffic, paths, demands if demands is not None else system.demands,
                         system.stations, system.fleet, system.steps, system.cfg.dt_h, capacity_veh, plugs_veh)


def _costs(m, system: TariffSystem, tariff: pd.DataFrame | None = None):
    """Travel-time cost, charging cost ``(c_t + beta p) p dt`` and (optionally) tariff payments ``R p dt``."""
    cfg = system.cfg
    c = system.price_usd_per_kwh
    beta = cfg.price_sensitivity_usd_per_kwh_per_kw
    dt = cfg.dt_h
    p = m.ev.p_station_kw
    m.travel_cost = pyo.Expression(expr=cfg.travel_cost_usd_per_veh_h * m.ev.vehicle_hours)
    m.charging_cost = pyo.Expression(expr=sum((float(c[t]) + beta * p[y, t]) * p[y, t] * dt
                                              for y in m.ev.Y for t in m.ev.T))
    if tariff is not None:
        m.tariff_cost = pyo.Expression(expr=sum(float(tariff.at[t, y]) * p[y, t] * dt
                                                for y in m.ev.Y for t in m.ev.T if y in tariff.columns))
    else:
        m.tariff_cost = pyo.Expression(expr=0.0)


def _grid_block(m, system: TariffSystem, p_net: pd.DataFrame, q_net: pd.DataFrame, ev_p, limits: bool = True):
    """LinDistFlow with the EV stations withdrawing ``ev_p(bus, t)`` (kW) at their buses."""
    bus_station = {b: y for y, b in system.station_bus.items()}
    m.grid = pyo.Block()
    opts = LinDistFlowOptions(thermal_sides=THERMAL_SIDES if limits else 0, enforce_voltage_limits=limits)
    inj = {"ev": Injection(list(bus_station), p_kw=lambda b, t: ev_p(bus_station[b], t), sign=-1.0)}
    return build_lindistflow(m.grid, system.feeder, system.steps, injections=inj, options=opts,
                             p_load_kw=p_net, q_load_kvar=q_net)


def budget_tightening(system: TariffSystem, h, gamma: float, pct: float) -> None:
    """Tighten station-line thermal rows and voltage rows by the Bertsimas-Sim protection (per hour).

    Uncertain injections at hour t: every (bus, kind) with a non-zero forecast; budget
    ``Gamma_B = gamma * budget_gamma_per_hour`` (capped at their number). Flow sensitivity of a line to a
    net load = 1 if the bus is downstream; ``w`` sensitivity = ``-2 sum_{common path} r / S_base``.
    """
    net = system.feeder
    buses = net.bus_ids
    bpos, A, rsens, _x = radial_sensitivities(net)
    lpos = {lid: i for i, lid in enumerate(net.branches.index)}
    dev = system.deviations(pct)
    blk = h.block
    g_per_h = system.cfg.uncertainty.budget_gamma_per_hour
    cs = h.thermal_dirs
    for t in system.steps:
        d = np.concatenate([dev[k].loc[t].to_numpy() for k in ("load", "pv", "wind")])
        keep = d > 0
        if not keep.any():
            continue
        cols = np.tile(np.arange(len(buses)), 3)[keep]
        bset = BudgetSet(nominal=np.zeros(int(keep.sum())), deviation=d[keep],
                         gamma=min(gamma * g_per_h, float(keep.sum())))
        line_coef = A[cols].T  # (branch x uncertain)
        prot_l = bset.protection(line_coef)
        prot_v = bset.protection(rsens[:, cols])
        for _y, lid in system.station_line.items():
            for mm, (cm, _sm) in enumerate(cs):
                key = (lid, mm, t)
                if key in blk.thermal:
                    con = blk.thermal[key]
                    pr = abs(cm) * prot_l[lpos[lid]]
                    con.set_value((con.lower + pr, con.body, con.upper - pr))
        if h.v_lim is not None:
            for b in buses:
                key = (b, t)
                if key in blk.v_lim:
                    con = blk.v_lim[key]
                    con.set_value((con.lower + prot_v[bpos[b]], con.body, con.upper - prot_v[bpos[b]]))


class DsoModel:
    """The DSO's QP built once; robust box cases re-solve it along one load-shift direction (no rebuild).

    Box robust counterpart: ``p_net(s) = forecast + s * (|load| + |PV| + |wind|)`` with ``s = Gamma * pct / 100``
    (loads up, renewables down), which is linear in ``s``: the model is compiled at ``s = 0`` and at ``s = 1``
    once (:class:`evgrid.optim.persistent.PersistentProblem`) and every (Gamma, pct) is one interior-point solve.
    The budget set tightens rows non-linearly in Gamma and rebuilds per case.
    """

    def __init__(self, system: TariffSystem, paths=None, uncertainty_set: str | None = None):
        from evgrid.optim.lindistflow import set_loads
        from evgrid.optim.persistent import PersistentProblem

        self.system = system
        self.uset = uncertainty_set or system.cfg.uncertainty.set
        self.paths = paths if paths is not None else paths_for(system)
        if self.uset != "box":
            return
        m = pyo.ConcreteModel(name="tariff_dso")
        self.h_ev = _ev_block(m, system, self.paths)
        p0, q0 = system.net_load(0.0)
        self.h = _grid_block(m, system, p0, q0, lambda y, t: m.ev.p_station_kw[y, t])
        _costs(m, system)
        m.obj = pyo.Objective(expr=m.travel_cost + m.charging_cost, sense=pyo.minimize)
        self.m = m
        self.pp = PersistentProblem(m, solver_options(system), warm=False)
        p1, _q = system.net_load(1.0, 100.0)
        set_loads(self.h, p1)
        self.pp.add_direction("shift")
        set_loads(self.h, p0)

    def solve(self, gamma: float, pct: float | None = None, name: str = "dso", details: bool = True) -> CaseResult:
        """One (Gamma, pct) case; ``details=False`` skips the per-arc EV flows and station energies."""
        import time

        cfg = self.system.cfg
        pct = cfg.uncertainty.perturbation_pct if pct is None else float(pct)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"parameter 'gamma' must be in [0, 1] (paper 001's Gamma), got {gamma}")
        t0 = time.perf_counter()
        if self.uset == "box":
            m, h, h_ev = self.m, self.h, self.h_ev
            self.pp.solve({"shift": gamma * pct / 100.0}, duals=True)
        else:
            m, h, h_ev = self._build_budget(gamma, pct)
        wall = time.perf_counter() - t0
        system = self.system
        prices = nodal_prices(m, h, dt_h=cfg.dt_h)
        tariffs = _station_tariffs(m, system, h, prices)
        flows = h.flows_kw()
        line_flow = pd.DataFrame({y: flows[system.station_line[y]] for y in system.line_limit_kw})
        return CaseResult(
            name=name, gamma=gamma, perturbation_pct=pct, objective_usd=float(pyo.value(m.obj)),
            travel_time_cost_usd=float(pyo.value(m.travel_cost)), charging_cost_usd=float(pyo.value(m.charging_cost)),
            station_kw=h_ev.station_power_kw(), tariffs=tariffs, line_flow_kw=line_flow,
            link_flows=h_ev.link_flows() if details else None,
            station_energy=h_ev.station_energy_kwh() if details else None, voltage_pu=h.voltage_pu(),
            solve_s=wall, info={"uncertainty_set": self.uset, "n_paths": len(self.paths),
                                "usage_by_od": h_ev.usage_by_od() if details else None},
        )

    def _build_budget(self, gamma: float, pct: float):
        system = self.system
        m = pyo.ConcreteModel(name="tariff_dso_budget")
        h_ev = _ev_block(m, system, self.paths)
        p0, q0 = system.net_load(0.0, pct)
        h = _grid_block(m, system, p0, q0, lambda y, t: m.ev.p_station_kw[y, t])
        if gamma > 0:
            budget_tightening(system, h, gamma, pct)
        _costs(m, system)
        m.obj = pyo.Objective(expr=m.travel_cost + m.charging_cost, sense=pyo.minimize)
        solve(m, solver_options(system), duals=True)
        return m, h, h_ev


def solve_dso(system: TariffSystem, gamma: float, pct: float | None = None, name: str = "dso",
              uncertainty_set: str | None = None, paths=None) -> CaseResult:
    """Build and solve the DSO's robust convex QP once; read tariffs from the duals."""
    return DsoModel(system, paths, uncertainty_set).solve(gamma, pct, name)


def _station_tariffs(m, system: TariffSystem, h, prices: pd.DataFrame) -> pd.DataFrame:
    """Per station and hour: tariff = congestion + voltage component of the station bus's nodal price."""
    bus_station = {b: y for y, b in system.station_bus.items()}
    df = prices[prices["bus"].isin(list(bus_station))].copy()
    df["station"] = df["bus"].map(bus_station)
    df["congestion_usd_per_kwh"] = df["congestion_usd_per_mwh"] / 1000.0
    df["voltage_usd_per_kwh"] = df["voltage_usd_per_mwh"] / 1000.0
    df["energy_usd_per_kwh"] = df["energy_usd_per_mwh"] / 1000.0
    df["tariff_usd_per_kwh"] = df["congestion_usd_per_kwh"] + df["voltage_usd_per_kwh"]
    df["nodal_price_usd_per_kwh"] = df["lmp_usd_per_mwh"] / 1000.0
    # the paper's (lambda+ - lambda-) of the station's own line: -dual of its P row (ranged: one row)
    blk = h.block
    line_dual = []
    for y, t in zip(df["station"], df["step"], strict=True):
        key = (system.station_line[y], 0, t)
        mu = float(m.dual.get(blk.thermal[key], 0.0)) if (h.thermal is not None and key in blk.thermal) else 0.0
        line_dual.append(-mu / system.cfg.dt_h)
    df["line_dual_usd_per_kwh"] = line_dual
    cols = ["step", "station", "bus", "tariff_usd_per_kwh", "congestion_usd_per_kwh", "voltage_usd_per_kwh",
            "energy_usd_per_kwh", "nodal_price_usd_per_kwh", "line_dual_usd_per_kwh"]
    return df[cols].reset_index(drop=True)


def tariff_matrix(tariffs: pd.DataFrame) -> pd.DataFrame:
    """(hour x station) tariff in $/kWh."""
    return tariffs.pivot(index="step", columns="station", values="tariff_usd_per_kwh")


def solve_response(system: TariffSystem, tariff: pd.DataFrame | None, name: str = "response", paths=None
                   ) -> CaseResult:
    """EV aggregators' response to a tariff (hour x station, $/kWh; None = no tariff): no grid constraints."""
    import time

    paths = paths if paths is not None else paths_for(system)
    m = pyo.ConcreteModel(name=f"tariff_{name}")
    h_ev = _ev_block(m, system, paths)
    _costs(m, system, tariff)
    m.obj = pyo.Objective(expr=m.travel_cost + m.charging_cost + m.tariff_cost, sense=pyo.minimize)
    t0 = time.perf_counter()
    res = solve(m, solver_options(system))
    return CaseResult(
        name=name, gamma=float("nan"), perturbation_pct=float("nan"), objective_usd=float(res.objective),
        travel_time_cost_usd=float(pyo.value(m.travel_cost)), charging_cost_usd=float(pyo.value(m.charging_cost)),
        station_kw=h_ev.station_power_kw(), link_flows=h_ev.link_flows(), station_energy=h_ev.station_energy_kwh(),
        solve_s=time.perf_counter() - t0, info={"tariff_payments_usd": float(pyo.value(m.tariff_cost))},
    )


def solve_response_by_od(system: TariffSystem, tariff: pd.DataFrame, dso: CaseResult, name: str = "response_od",
                         paths=None, current_kw: dict | None = None, damping: float = 1.0) -> CaseResult:
    """Grouping ``od``: one EV aggregator per O-D pair, each with its own ``(c_t + beta p_m + R) p_m`` and a share
    of every link and station: what it used in the DSO's plan plus an equal part of the capacity nobody used.
    The sum of the responses need not equal the DSO's plan (the beta term and the shares differ): the gap is
    reported by :func:`respond_and_iterate`.

    ``current_kw`` (O-D name -> hour x station kW, updated in place): adds the price coupling ``2 beta p_-m``
    (``p_-m`` = the other aggregators' current load) to EVA m's price, so its marginal price
    ``c + 2 beta (p_m + p_-m) + R`` is the DSO's ``c + 2 beta P + R`` (the DSO's charging cost
    ``(c + beta P) P`` couples the EVAs; without the term each EVA sees the station 2 beta p_-m cheaper than the
    DSO does). The EVAs answer in turn (Gauss-Seidel: the next one sees ``p_m <- (1 - damping) p_m + damping
    x response``): the DSO objective is the game's potential, so each turn lowers it. Payments count ``R`` only."""
    import time

    paths = paths if paths is not None else paths_for(system)
    usage = dso.info.get("usage_by_od")
    if not usage:
        raise ValueError("grouping 'od' needs the DSO case solved with details=True (per-O-D usage)")
    dt = system.cfg.dt_h
    n = len(system.demands)
    total_links: dict = {}
    total_plugs: dict = {}
    for links, plugs in usage.values():
        for key, v in links.items():
            total_links[key] = total_links.get(key, 0.0) + v
        for key, v in plugs.items():
            total_plugs[key] = total_plugs.get(key, 0.0) + v
    cap = system.traffic.capacity
    station_kw = None
    travel = charging = objective = payments = 0.0
    by_od: dict = {}
    t0 = time.perf_counter()
    for d in system.demands:
        links, plugs = usage.get(d.name, ({}, {}))
        cap_share = {key: links.get(key, 0.0) + max(float(cap[key[0]]) * dt - used, 0.0) / n
                     for key, used in total_links.items()}
        plug_share = {key: plugs.get(key, 0.0) + max(float(system.stations[key[0]].plugs) - used, 0.0) / n
                      for key, used in total_plugs.items()}
        mine = [p for p in paths if p.od == d.name]
        m = pyo.ConcreteModel(name=f"tariff_{name}_{d.name}")
        h_ev = _ev_block(m, system, mine, [d], cap_share, plug_share)
        price = tariff
        if current_kw is not None:
            beta = system.cfg.price_sensitivity_usd_per_kwh_per_kw
            others = sum(v for k, v in current_kw.items() if k != d.name)
            price = tariff + 2.0 * beta * others[tariff.columns].reindex(tariff.index).fillna(0.0)
        _costs(m, system, price)
        m.obj = pyo.Objective(expr=m.travel_cost + m.charging_cost + m.tariff_cost, sense=pyo.minimize)
        res = solve(m, solver_options(system))
        kw = h_ev.station_power_kw()
        by_od[d.name] = kw
        if current_kw is not None:
            current_kw[d.name] = (1.0 - damping) * current_kw[d.name] + damping * kw
        station_kw = kw if station_kw is None else station_kw + kw
        travel += float(pyo.value(m.travel_cost))
        charging += float(pyo.value(m.charging_cost))
        payments += float((tariff * kw[tariff.columns]).to_numpy().sum() * dt)
        objective += float(res.objective)
    return CaseResult(name=name, gamma=float("nan"), perturbation_pct=float("nan"), objective_usd=objective,
                      travel_time_cost_usd=travel, charging_cost_usd=charging, station_kw=station_kw,
                      solve_s=time.perf_counter() - t0, info={"tariff_payments_usd": payments, "grouping": "od",
                                                              "station_kw_by_od": by_od})


def feeder_check(system: TariffSystem, station_kw: pd.DataFrame, gamma: float = 0.0, pct: float | None = None,
                 ac: bool = True) -> dict:
    """Line flows and voltages of a fixed EV schedule at the (robust) net load: LinDistFlow and pandapower AC."""
    p_net, q_net = system.net_load(gamma, pct)
    p_tot = p_net.copy()
    for y, b in system.station_bus.items():
        p_tot[b] = p_tot[b] + station_kw[y].to_numpy()
    m = pyo.ConcreteModel(name="tariff_feeder_check")
    m.grid = pyo.Block()
    h = build_lindistflow(m.grid, system.feeder, system.steps,
                          options=LinDistFlowOptions(thermal_sides=0, enforce_voltage_limits=False),
                          p_load_kw=p_tot, q_load_kvar=q_net)
    m.obj = pyo.Objective(expr=0.0 * h.p_import_kw[system.steps[0]])
    solve(m, solver_options(system))
    flows = h.flows_kw()
    line = pd.DataFrame({y: flows[system.station_line[y]] for y in system.line_limit_kw})
    lim = pd.Series(system.line_limit_kw)
    loading = line.abs() / lim * 100.0
    v = h.voltage_pu()
    out = {"line_flow_kw": line, "loading_pct": loading, "voltage_pu": v,
           "max_loading_pct": float(loading.to_numpy().max()),
           "overload_kw": (line.abs() - lim).clip(lower=0.0),
           "v_min_pu": float(v.to_numpy().min())}
    if ac:
        rep = validate_schedule_ac(system.feeder, p_tot, q_net, v_linear_pu=v)
        sb = rep.branch_s_kva
        ac_line = pd.DataFrame({y: sb[system.station_line[y]] for y in system.line_limit_kw})
        out["ac_line_kva"] = ac_line
        out["ac_max_loading_pct"] = float((ac_line / lim * 100.0).to_numpy().max())
        out["ac_v_min_pu"] = float(rep.steps["v_min_pu"].min())
        out["ac_summary"] = rep.summary()
    return out


def respond_and_iterate(system: TariffSystem, dso: CaseResult, paths=None) -> tuple[CaseResult, pd.DataFrame, list]:
    """Aggregators respond to the DSO tariff; where the LinDistFlow check (at the case's robust net load) still
    shows an overload above ``tolerance_pct`` of a line limit, raise that station's tariff at those hours by
    ``step * overload`` and respond again, up to ``max_iterations``. Returns the best response (smallest
    overload), its tariff (hour x station) and the log of every iteration (the gap is reported, not hidden)."""
    ag = system.cfg.aggregators
    lim = pd.Series(system.line_limit_kw)
    tariff = tariff_matrix(dso.tariffs)
    history = []
    best = None
    coupled = ag.grouping == "od" and ag.od_price_coupling
    share = None  # per-O-D station kW behind the price coupling (Gauss-Seidel), start: equal split of the plan
    if coupled:
        names = [d.name for d in system.demands]
        share = {n: dso.station_kw / len(names) for n in names}
    for it in range(int(ag.max_iterations) + 1):
        if coupled:
            resp = solve_response_by_od(system, tariff, dso, name=f"{dso.name}_response_od_{it}", paths=paths,
                                        current_kw=share, damping=ag.damping)
        elif ag.grouping == "od":
            resp = solve_response_by_od(system, tariff, dso, name=f"{dso.name}_response_od_{it}", paths=paths)
        else:
            resp = solve_response(system, tariff, name=f"{dso.name}_response_{it}", paths=paths)
        chk = feeder_check(system, resp.station_kw, dso.gamma, dso.perturbation_pct, ac=False)
        over = chk["overload_kw"]
        over_pct = float((over / lim).to_numpy().max() * 100.0)
        gap = float(np.abs(resp.station_kw.to_numpy() - dso.station_kw.to_numpy()).max())
        history.append({"case": dso.name, "iteration": it, "max_loading_pct": chk["max_loading_pct"],
                        "max_overload_kw": float(over.to_numpy().max()), "max_overload_pct_of_limit": over_pct,
                        "max_gap_to_dso_kw": gap, "objective_usd": resp.objective_usd})
        if best is None or over_pct < best[0]:
            best = (over_pct, resp, tariff.copy(), it)
        if over_pct <= ag.tolerance_pct and (not coupled or gap <= ag.tolerance_pct / 100.0 * float(lim.min())):
            break
        if it == int(ag.max_iterations):
            break
        if coupled:  # the coupling, not a tariff raise, moves the iterate
            continue
        for y in over.columns:
            tariff[y] = tariff[y] + ag.step_usd_per_kwh_per_kw * over[y].to_numpy()
    over_pct, resp, final, it = best
    if over_pct > ag.tolerance_pct:
        log.warning("case %s: the aggregators' best response (iteration %d) still overloads a station line by "
                    "%.2f %% of its limit", dso.name, it, over_pct)
    for h in history:
        h["chosen"] = h["iteration"] == it
    return resp, final, history


def station_line_loading(system: TariffSystem, station_kw: pd.DataFrame, p_net: pd.DataFrame) -> pd.DataFrame:
    """Flow on each limited station line (hour x station) = EV power + net load at the station bus (lossless)."""
    return pd.DataFrame({y: station_kw[y].to_numpy() + p_net[system.station_bus[y]].to_numpy()
                         for y in system.line_limit_kw}, index=station_kw.index)

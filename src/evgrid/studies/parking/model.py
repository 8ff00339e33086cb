"""Day-ahead MILP of the parking study (paper 004 eq. 7-22), one constraint family per function.

Index: day ``d`` (GAN or real day; several days = a stochastic day-ahead problem with the hourly switch plan
as the shared first stage), hour ``t``, EV class ``c`` (identical arrival, departure and need: exact
aggregation), lot ``n``, branch ``l``. Powers in kW / kVAr, hourly means; energies in kWh.

Approximations (each inner or outer as stated, error measured ex post by :mod:`.report`):

* capability circles (eq. 16, 18) -> inscribed ``N``-gons with a vertex on the P axis (inner: never above the
  rating; at most ``1 - cos(pi/N)`` of the rating lost in the worst direction);
* feeder losses ``r (P^2 + Q^2) / V^2`` (eq. 8) -> ``r (u + v)`` with ``u, v`` above tangents of ``P^2, Q^2``
  (outer: losses underestimated by at most ``r (h/2)^2`` per axis, ``h`` the tangent spacing), ``V = 1``;
* transformer load factor ``K >= |S| / S_r`` from the same ``N`` directions (conservative: K exact on the
  P axis, at most ``1/cos(pi/N) - 1`` above), losses ``P_NLL + P_LL K^2`` and steady-state IEC ageing rate
  ``V(K, theta_a)`` by tangents (outer, convex), hot-spot limit (eq. 17) as ``K <= K_lim(theta_a)``;
* cable ageing (Arrhenius, :mod:`.report`) is left to the ex-post evaluator: negligible at the loadings met
  (see :func:`define_feeder_losses`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from evgrid.der.transformer import tangent_cuts
from evgrid.grid.network import Network
from evgrid.optim.lindistflow import (
    Injection,
    LinDistFlowHandles,
    LinDistFlowOptions,
    build_lindistflow,
    polygon_normals,
)
from evgrid.optim.solver import SolverOptions, solve
from evgrid.studies.parking.system import STEP_H, T_STEPS, ParkingSystem, PreparedDay, uncoordinated_kw

log = logging.getLogger(__name__)

OBJECTIVES = ("full", "dso_ev")


@dataclass
class ParkingModel:
    """The built MILP and every table its readers need (declared here; nothing is hung on ``m``)."""

    m: pyo.ConcreteModel
    system: ParkingSystem
    preps: list
    grid: LinDistFlowHandles
    class_keys: list
    """(d, c, t) keys of the class-hour variables, in declaration order."""
    lot_of: dict
    """(d, c, t) -> lot of the class."""
    klim_pu: dict
    """(n, d, t) -> transformer load-factor limit K_lim (p.u., eq. 17)."""
    reach_kva: dict
    """branch -> tangent range X_l of the loss term (kVA, :func:`flow_reach_kva`)."""


# ------------------------------------------------------------------------------------ constraint families


def define_ev_classes(m, system: ParkingSystem, preps: list) -> tuple[list, dict]:
    """EV class power (eq. 13-16): ``sum_t p[d,c,t] dt = n_c e_c`` (full at departure, eq. 15);
    ``(p, q)`` in the inscribed N-gon of radius ``n_c S_ev a_{c,t}`` (eq. 16, ``a`` = hours present);
    ``p >= 0`` (G2V only: the paper finds no V2G with degradation costs). SOC bounds (eq. 14) hold because the
    SOC rises monotonically from the arrival SOC to SOC_U. Returns the (d, c, t) keys and their lots."""
    s_ev = system.cfg.ev.charger_kva
    keys, radius, lot_of = [], {}, {}
    for d, prep in enumerate(preps):
        cls = prep.classes
        for c, (n, lot) in enumerate(zip(cls["n"].to_numpy(), cls["lot"].to_numpy(), strict=True)):
            for t in np.flatnonzero(prep.avail_h[c] > 1e-9):
                keys.append((d, c, int(t)))
                radius[(d, c, int(t))] = float(n) * s_ev * float(prep.avail_h[c, t])
                lot_of[(d, c, int(t))] = lot
    m.CT = pyo.Set(initialize=keys, dimen=3, ordered=True)
    m.p_ev = pyo.Var(m.CT, bounds=lambda _m, d, c, t: (0.0, radius[(d, c, t)]))
    m.q_ev = pyo.Var(m.CT, bounds=lambda _m, d, c, t: (-radius[(d, c, t)], radius[(d, c, t)]))
    n_sides = system.cfg.model.polygon_sides
    dirs = polygon_normals(n_sides, half_step=True)
    shrink = math.cos(math.pi / n_sides)
    m.SIDES = pyo.RangeSet(0, len(dirs) - 1)
    m.ev_polygon = pyo.Constraint(
        m.CT, m.SIDES,
        rule=lambda _m, d, c, t, k: (-radius[(d, c, t)] * shrink,
                                     dirs[k][0] * _m.p_ev[d, c, t] + dirs[k][1] * _m.q_ev[d, c, t],
                                     radius[(d, c, t)] * shrink))
    by_class: dict = {}
    for d, c, t in keys:
        by_class.setdefault((d, c), []).append(t)
    need = {(d, c): float(prep.classes["n"].iloc[c] * prep.classes["energy_kwh"].iloc[c])
            for d, prep in enumerate(preps) for c in range(len(prep.classes))}
    m.DC = pyo.Set(initialize=list(by_class), dimen=2, ordered=True)
    m.ev_energy = pyo.Constraint(
        m.DC, rule=lambda _m, d, c: sum(_m.p_ev[d, c, t] for t in by_class[(d, c)]) * STEP_H == need[(d, c)])
    return keys, lot_of


def define_lot_balance(m, system: ParkingSystem, preps: list, lot_of: dict) -> None:
    """Lot power behind each transformer (eq. 11): ``P_tr = sum_c p + P_fixed - pv_scale * PV``,
    ``Q_tr = -sum_c q`` (EVs inject reactive power); grid withdrawal at the lot bus adds transformer losses."""
    lots = list(system.lots.index)
    m.N = pyo.Set(initialize=lots, ordered=True)
    m.D = pyo.Set(initialize=list(range(len(preps))), ordered=True)
    m.T = pyo.Set(initialize=list(range(T_STEPS)), ordered=True)
    m.pv_scale = pyo.Param(initialize=1.0, mutable=True)
    pv_kw = {(n, d, t): float(system.lots.at[n, "pv_kwp"] * prep.day.pv_kw_per_kwp[t])
             for n in lots for d, prep in enumerate(preps) for t in range(T_STEPS)}
    fixed = {(n, d, t): float(prep.fixed_kw[n].iloc[t]) for n in lots for d, prep in enumerate(preps)
             for t in range(T_STEPS)}
    m.pv_kw = pyo.Param(m.N, m.D, m.T, initialize=pv_kw)
    members: dict = {}
    for (d, c, t) in m.CT:
        members.setdefault((lot_of[(d, c, t)], d, t), []).append((d, c, t))
    m.p_tr = pyo.Var(m.N, m.D, m.T)
    m.q_tr = pyo.Var(m.N, m.D, m.T)
    m.lot_p_balance = pyo.Constraint(m.N, m.D, m.T, rule=lambda _m, n, d, t: _m.p_tr[n, d, t] == sum(
        _m.p_ev[k] for k in members.get((n, d, t), [])) + fixed[(n, d, t)] - _m.pv_scale * _m.pv_kw[n, d, t])
    m.lot_q_balance = pyo.Constraint(m.N, m.D, m.T, rule=lambda _m, n, d, t: _m.q_tr[n, d, t] == -sum(
        _m.q_ev[k] for k in members.get((n, d, t), [])))
    # grid-side energy used by the EVs (for their emissions): g >= P_ev - PV, g >= 0
    m.g_ev = pyo.Var(m.N, m.D, m.T, bounds=(0.0, None))
    m.grid_energy_ev = pyo.Constraint(m.N, m.D, m.T, rule=lambda _m, n, d, t: _m.g_ev[n, d, t] >= sum(
        _m.p_ev[k] for k in members.get((n, d, t), [])) + fixed[(n, d, t)] - _m.pv_scale * _m.pv_kw[n, d, t])


def _ageing_rate(k, th, ambient_c):
    """Steady-state IEC relative ageing rate V(theta_h(K, theta_a)) (hours of life per hour)."""
    return th.relative_ageing(th.steady_hot_spot_c(k, ambient_c))


def _ageing_slope(k, th, ambient_c, eps: float = 1e-6):
    """dV/dK by a central difference (one-sided at K = 0)."""
    lo = np.maximum(np.asarray(k, float) - eps, 0.0)
    hi = np.asarray(k, float) + eps
    return (_ageing_rate(hi, th, ambient_c) - _ageing_rate(lo, th, ambient_c)) / (hi - lo)


def define_transformers(m, system: ParkingSystem, preps: list) -> dict:
    """Transformer loading, hot spot, losses, ageing (eq. 17-18, Table II, IEC 60076-7).

    ``|proj_k(P_tr, Q_tr)| <= K_lim,t S_r cos(pi/N)`` (inscribed N-gon of radius ``K_lim S_r``, ``K_lim`` = min of
    1.5 p.u. and the load factor whose steady hot spot is 120 C at the hour's ambient);
    ``K >= |proj_k| / (S_r cos(pi/N))``; ``loss_tr >= P_NLL + P_LL (2 k_j K - k_j^2)``;
    ``age >= tangents of V_ss(K, theta_a,t)`` (relative ageing rate, hours of life per hour). Returns ``K_lim``."""
    cfg = system.cfg
    n_sides = cfg.model.polygon_sides
    dirs = polygon_normals(n_sides, half_step=True)
    shrink = math.cos(math.pi / n_sides)
    klim, loss_cuts, age_cuts = {}, {}, {}
    pts = np.linspace(0.0, cfg.transformer.loading_limit_pu, cfg.model.transformer_tangents)
    for n in system.lots.index:
        th = system.thermal[n]
        a_l, b_l = tangent_cuts(lambda k: k**2, lambda k: 2 * k, pts)
        loss_cuts[n] = (th.load_loss_kw * a_l, th.no_load_loss_kw + th.load_loss_kw * b_l)
        for d, prep in enumerate(preps):
            for t in range(T_STEPS):
                amb = float(prep.day.ambient_c[t])
                kl = th.max_load_factor(amb, cfg.transformer.hot_spot_limit_c, cfg.transformer.loading_limit_pu)
                klim[(n, d, t)] = kl
                apts = np.linspace(0.0, max(kl, 1e-3), cfg.model.transformer_tangents)
                age_cuts[(n, d, t)] = tangent_cuts(partial(_ageing_rate, th=th, ambient_c=amb),
                                                   partial(_ageing_slope, th=th, ambient_c=amb), apts)
    s_r = system.lots["transformer_kva"].to_dict()
    m.SIDES_TR = pyo.RangeSet(0, len(dirs) - 1)
    m.K = pyo.Var(m.N, m.D, m.T, bounds=(0.0, cfg.transformer.loading_limit_pu / shrink))

    def proj(_m, n, d, t, k):
        return dirs[k][0] * _m.p_tr[n, d, t] + dirs[k][1] * _m.q_tr[n, d, t]

    m.tr_limit = pyo.Constraint(m.N, m.D, m.T, m.SIDES_TR, rule=lambda _m, n, d, t, k: (
        -klim[(n, d, t)] * s_r[n] * shrink, proj(_m, n, d, t, k), klim[(n, d, t)] * s_r[n] * shrink))
    m.tr_k_pos = pyo.Constraint(m.N, m.D, m.T, m.SIDES_TR, rule=lambda _m, n, d, t, k:
                                _m.K[n, d, t] * s_r[n] * shrink >= proj(_m, n, d, t, k))
    m.tr_k_neg = pyo.Constraint(m.N, m.D, m.T, m.SIDES_TR, rule=lambda _m, n, d, t, k:
                                _m.K[n, d, t] * s_r[n] * shrink >= -proj(_m, n, d, t, k))
    n_cuts = cfg.model.transformer_tangents
    m.CUTS_TR = pyo.RangeSet(0, n_cuts - 1)
    m.loss_tr = pyo.Var(m.N, m.D, m.T, bounds=(0.0, None))
    m.age_tr = pyo.Var(m.N, m.D, m.T, bounds=(0.0, None))
    m.tr_loss_cut = pyo.Constraint(m.N, m.D, m.T, m.CUTS_TR, rule=lambda _m, n, d, t, j: _m.loss_tr[n, d, t] >= float(
        loss_cuts[n][0][j]) * _m.K[n, d, t] + float(loss_cuts[n][1][j]))
    m.tr_age_cut = pyo.Constraint(m.N, m.D, m.T, m.CUTS_TR, rule=lambda _m, n, d, t, j: _m.age_tr[n, d, t] >= float(
        age_cuts[(n, d, t)][0][j]) * _m.K[n, d, t] + float(age_cuts[(n, d, t)][1][j]))
    return klim


def define_grid(m, system: ParkingSystem, preps: list, hourly_switching: bool) -> LinDistFlowHandles:
    """LinDistFlow of the feeder (eq. 9-12, 19-22) from the ONE builder, lots withdrawing ``P_tr + loss_tr`` and
    ``Q_tr`` at their buses; switchable branches with binaries (per hour if ``hourly_switching``)."""
    cfg = system.cfg
    bus_of = system.lots["bus"].to_dict()
    lots_at: dict = {}
    for n, b in bus_of.items():
        lots_at.setdefault(int(b), []).append(n)
    m.LB = pyo.Set(initialize=sorted(lots_at), ordered=True)
    m.w_p = pyo.Var(m.LB, m.D, m.T)
    m.w_q = pyo.Var(m.LB, m.D, m.T)
    m.w_p_def = pyo.Constraint(m.LB, m.D, m.T, rule=lambda _m, b, d, t: _m.w_p[b, d, t] == sum(
        _m.p_tr[n, d, t] + _m.loss_tr[n, d, t] for n in lots_at[b]))
    m.w_q_def = pyo.Constraint(m.LB, m.D, m.T, rule=lambda _m, b, d, t: _m.w_q[b, d, t] == sum(
        _m.q_tr[n, d, t] for n in lots_at[b]))
    days = list(range(len(preps)))
    p_load = {d: system.load_p_kw for d in days}
    q_load = {d: system.load_q_kvar for d in days}
    opts = LinDistFlowOptions(thermal_sides=cfg.model.polygon_sides, reconfigure=True,
                              switchable=list(system.switchable), reconfigure_per_step=hourly_switching,
                              max_switching_per_branch=cfg.model.max_switching_per_day if hourly_switching else None,
                              initial_status="fixed" if cfg.model.initial_state == "network" else "free")
    m.grid = pyo.Block()
    h = build_lindistflow(m.grid, system.network, list(range(T_STEPS)), scenario_index=days,
                          injections={"lots": Injection(sorted(lots_at), p_kw=m.w_p, q_kvar=m.w_q, sign=-1.0)},
                          options=opts, p_load_kw=p_load, q_load_kvar=q_load)
    return h


def define_feeder_losses(m, system: ParkingSystem, handles: LinDistFlowHandles) -> dict:
    """Feeder losses ``loss_l = r_l X_l^2 (u + v) / S_base`` (kW) with scaled flows ``P / X_l``, ``Q / X_l`` and
    ``u >= 2 z_j P / X_l - z_j^2``, ``v >= 2 z_j Q / X_l - z_j^2`` for ``z_j`` evenly in [-1, 1]
    (``X_l`` = :func:`flow_reach_kva`; the scaling keeps the matrix coefficients within [1e-4, 2]), times the
    AC correction of :func:`loss_correction`.

    Cable ageing is *not* in the optimisation: at the measured conductor temperatures (< 65 C against the
    90 C design point, Arrhenius B = 12430 K) it costs well under a cent a day (ex-post evaluator), and its
    tangents would put 1e-6-size coefficients into the LP. Returns ``X_l`` (kVA by branch)."""
    cfg = system.cfg
    net = system.network
    br = net.branches.loc[handles.branch_ids]
    m.L = pyo.Set(initialize=[int(i) for i in br.index], ordered=True)
    n_t = cfg.model.loss_tangents
    m.CUTS_L = pyo.RangeSet(0, n_t - 1)
    z = np.linspace(-1.0, 1.0, n_t)
    reach = flow_reach_kva(system)
    m.u = pyo.Var(m.L, m.D, m.T, bounds=(0.0, None))
    m.v = pyo.Var(m.L, m.D, m.T, bounds=(0.0, None))
    pf, qf = handles.p_flow_kw, handles.q_flow_kvar
    on = _on_factor(handles)
    m.loss_u = pyo.Constraint(m.L, m.D, m.T, m.CUTS_L, rule=lambda _m, lid, d, t, j: _m.u[lid, d, t] >= float(
        2 * z[j] / reach[lid]) * pf[lid, d, t] - float(z[j] ** 2) * on(lid, t))
    m.loss_v = pyo.Constraint(m.L, m.D, m.T, m.CUTS_L, rule=lambda _m, lid, d, t, j: _m.v[lid, d, t] >= float(
        2 * z[j] / reach[lid]) * qf[lid, d, t] - float(z[j] ** 2) * on(lid, t))
    m.loss_refine = pyo.ConstraintList()
    corr = loss_correction(system)
    coef = {lid: corr[lid] * float(br.at[lid, "r_pu"]) * reach[lid] ** 2 / net.s_base_kva for lid in m.L}
    m.loss_line = pyo.Expression(m.L, m.D, m.T, rule=lambda _m, lid, d, t: coef[lid] * (_m.u[lid, d, t]
                                                                                        + _m.v[lid, d, t]))
    return reach


def _on_factor(handles):
    """``on(l, t)``: 1 for a branch fixed on, the switch binary ``y[l(,t)]`` for a switchable one. Multiplying the
    tangent's constant by it gives the perspective cut ``u >= 2 z P / X - z^2 y`` (Frangioni & Gentile 2006):
    the same tangent when the branch is closed, ``u >= 0`` when open (then ``P = 0``), and in the LP relaxation
    ``u >= (P / X)^2 / y`` roughly: a flow through a half-open branch costs twice its losses, which closes most
    of the weak big-M relaxation of the reconfiguration MILP (meshed flows at fractional ``y`` are priced)."""
    sw = set(handles.switchable)
    y = handles.y if sw else None
    per_step = bool(handles.options.reconfigure_per_step)

    def on(lid, t):
        if lid not in sw:
            return 1.0
        return y[lid, t] if per_step else y[lid]

    return on


def refine_losses(pm: ParkingModel, tol: float = 0.01) -> int:
    """Iterated loss term: add the tangent (perspective) cuts of ``(P/X)^2`` and ``(Q/X)^2`` at the solved flows of
    every branch-hour whose modelled loss is more than ``tol`` below the quadratic of its flows (Kelley's cutting
    planes on the convex loss); returns the number of cuts added. Cuts are valid for every configuration, so they
    stay for the following solves of the same model (the scenario-4 MILP inherits those of s3 and the plan)."""
    m, h = pm.m, pm.grid
    on = _on_factor(h)
    pf, qf = h.p_flow_kw, h.q_flow_kvar
    keys = list(m.u.keys())
    x = np.array([pm.reach_kva[lid] for lid, _, _ in keys], dtype=float)
    cuts = []
    for var, flow in ((m.u, pf), (m.v, qf)):
        z = (read_values(flow, keys) + 0.0) / x  # + 0.0: an unset or -0.0 flow reads as 0.0
        cuts.append((var, flow, z.tolist(), z * z - read_values(var, keys) > tol * np.maximum(z * z, 1e-4)))
    n_added = 0
    for i, (lid, d, t) in enumerate(keys):  # u then v per branch-hour: the order of the added rows
        for var, flow, z, short in cuts:
            if short[i]:
                m.loss_refine.add(var[lid, d, t] >= 2 * z[i] / x[i].item() * flow[lid, d, t]
                                  - z[i] * z[i] * on(lid, t))
                n_added += 1
    return n_added


def loss_correction(system: ParkingSystem) -> dict:
    """Per-branch factor ``AC loss / (r (P^2 + Q^2) / S_base)`` from one AC power flow of the feeder at its peak
    base load (normal configuration): corrects the ``V = 1`` of the loss term by ``~1/V^2`` and the
    sending-end flows that carry the downstream losses. Branches out of service there get the median factor."""
    from evgrid.grid.ac_validation import base_case_ac

    net = system.network
    ac = base_case_ac(net)
    s2 = ac.branch_s_kva.iloc[0].to_numpy(float) ** 2
    lin = net.branches["r_pu"].to_numpy(float) * s2 / net.s_base_kva
    loss = ac.branch_loss_kw.iloc[0].to_numpy(float)
    ok = lin > 1e-9
    fac = np.where(ok, loss / np.where(ok, lin, 1.0), np.nan)
    med = float(np.nanmedian(fac))
    return {int(lid): (float(f) if np.isfinite(f) else med) for lid, f in zip(net.branches.index, fac, strict=True)}


def flow_reach_kva(system: ParkingSystem) -> dict:
    """Tangent range X_l per branch: 1.2 x the downstream peak apparent power (base load + lots at their
    loading limit) in the normal configuration; switchable branches: the whole feeder's. Flows beyond X_l
    keep the outermost tangent (losses underestimated there; measured ex post)."""
    net = system.network
    tree = net.tree()
    extra = pd.Series(0.0, index=net.bus_ids)
    for _, lot in system.lots.iterrows():
        extra[lot.bus] += lot.transformer_kva * system.cfg.transformer.loading_limit_pu
    down = Network.downstream_sum(tree, np.hypot(net.buses["p_load_kw"], net.buses["q_load_kvar"]) + extra)
    total = float(down[net.slack_bus])
    out = {}
    for lid, row in net.branches.iterrows():
        child = Network.child_bus(tree, row["from_bus"], row["to_bus"])
        on_tree = tree["parent_branch"].get(child) == lid
        out[int(lid)] = 1.2 * (float(down[child]) if on_tree and lid not in set(system.switchable) else total)
    return out


def define_objective(m, system: ParkingSystem, preps: list) -> None:
    """Eq. 7-8 per day, averaged over days: DSO (losses at the energy price + transformer and cable ageing),
    environment (GHG of loss energy, of equipment life consumed and of EV grid energy + battery wear, at
    pi_emi), EV users (battery wear, constant under G2V). Two objectives: ``full`` and ``dso_ev`` (scenario 2)."""
    cfg = system.cfg
    price = system.price_usd_per_mwh / 1000.0
    tc, ev, co = cfg.transformer, cfg.ev, cfg.costs
    s_r = system.lots["transformer_kva"].to_dict()
    n_d = len(preps)
    pe, ef = co.emission_price_usd_per_kg, co.grid_kgco2e_per_kwh
    wear = ev.battery_price_usd_per_kwh / ev.cycle_life_full_cycles
    batt_kg = ev.battery_embodied_kgco2e_per_kwh / ev.cycle_life_full_cycles
    ev_energy = sum(float(delivered_kwh(p, ev.charger_kva).sum()) for p in preps) / n_d

    def loss_energy(_m, d, t):
        return sum(_m.loss_line[lid, d, t] for lid in _m.L) + sum(_m.loss_tr[n, d, t] for n in _m.N)

    m.c_loss = pyo.Expression(expr=sum(price[t] * loss_energy(m, d, t) * STEP_H for d in m.D for t in m.T) / n_d)
    m.c_equipment = pyo.Expression(expr=sum(tc.price_usd_per_kva * s_r[n] * m.age_tr[n, d, t] * STEP_H
                                            / tc.normal_life_h for n in m.N for d in m.D for t in m.T) / n_d)
    m.c_emission_equipment = pyo.Expression(expr=pe * (
        ef * sum(loss_energy(m, d, t) * STEP_H for d in m.D for t in m.T)
        + sum(tc.embodied_kgco2e_per_kva * s_r[n] * m.age_tr[n, d, t] * STEP_H / tc.normal_life_h
              for n in m.N for d in m.D for t in m.T)) / n_d)
    m.c_emission_ev = pyo.Expression(expr=pe * (
        ef * sum(m.g_ev[n, d, t] * STEP_H for n in m.N for d in m.D for t in m.T) / n_d + batt_kg * ev_energy))
    m.c_degradation = pyo.Expression(expr=wear * ev_energy)
    m.obj_full = pyo.Objective(expr=m.c_loss + m.c_equipment + m.c_emission_equipment + m.c_emission_ev
                               + m.c_degradation)
    m.obj_dso_ev = pyo.Objective(expr=m.c_loss + m.c_equipment + m.c_degradation)
    m.obj_dso_ev.deactivate()


def delivered_kwh(prep: PreparedDay, charger_kva: float) -> np.ndarray:
    """Energy delivered per EV: the full need if controllable, else rated power until full or departure."""
    ev = prep.evs
    unc = uncoordinated_kw(ev["arrival_h"], ev["departure_h"], ev["energy_kwh"], charger_kva).sum(axis=1) * STEP_H
    return np.where(ev["controllable"].to_numpy(), ev["energy_kwh"].to_numpy(float), unc)


# ------------------------------------------------------------------------------------ assembly and solve


def build_model(system: ParkingSystem, preps: list, hourly_switching: bool = True) -> ParkingModel:
    """The whole MILP for the given days (one day: a deterministic day-ahead problem)."""
    t0 = time.perf_counter()
    m = pyo.ConcreteModel(name="parking")
    keys, lot_of = define_ev_classes(m, system, preps)
    define_lot_balance(m, system, preps, lot_of)
    klim = define_transformers(m, system, preps)
    h = define_grid(m, system, preps, hourly_switching)
    reach = define_feeder_losses(m, system, h)
    define_objective(m, system, preps)
    log.info("parking model: %d days, %d class-hours, built in %.1f s", len(preps), len(keys), time.perf_counter() - t0)
    return ParkingModel(m=m, system=system, preps=preps, grid=h, class_keys=keys, lot_of=lot_of, klim_pu=klim,
                        reach_kva=reach)


def configure(pm: ParkingModel, scenario: str, pv_scale: float = 1.0, switch_plan: pd.DataFrame | None = None) -> None:
    """Set the model up for scenario s1..s4 (paper V-C) at a PV scale; ``switch_plan`` (hour x switch, bool)
    fixes the switches (held-out evaluation of a day-ahead plan)."""
    m = pm.m
    m.pv_scale = float(pv_scale)
    use_q = scenario in ("s2", "s3", "s4")
    for k in m.CT:
        if use_q:
            m.q_ev[k].unfix()
        else:
            m.q_ev[k].fix(0.0)
    full = scenario != "s2"
    m.obj_full.activate() if full else m.obj_full.deactivate()
    m.obj_dso_ev.deactivate() if full else m.obj_dso_ev.activate()
    y = pm.grid.y
    normal = pm.system.network.branches["in_service"]
    for idx in y:
        lid, t = (idx if isinstance(idx, tuple) else (idx, 0))
        if switch_plan is not None:
            y[idx].fix(1.0 if bool(switch_plan.loc[t, lid]) else 0.0)
        elif scenario == "s4":
            y[idx].unfix()
        else:
            y[idx].fix(1.0 if bool(normal.loc[lid]) else 0.0)


def solve_scenario(pm: ParkingModel, scenario: str, solver: dict, pv_scale: float = 1.0,
                   switch_plan: pd.DataFrame | None = None, refine: bool = True) -> dict:
    """Configure, solve (ONE solver wrapper) and read the schedule back (vectorised). With ``refine`` the loss
    term is iterated (:func:`refine_losses`, ``model.loss_refine_rounds`` re-solves at most)."""
    configure(pm, scenario, pv_scale, switch_plan)
    mc = pm.system.cfg.model
    res = solve(pm.m, SolverOptions.coerce(solver))
    wall, rounds = res.wall_s, 0
    while refine and rounds < mc.loss_refine_rounds and refine_losses(pm, mc.loss_refine_tol):
        res = solve(pm.m, SolverOptions.coerce(solver))
        wall += res.wall_s
        rounds += 1
    return read_schedule(pm, scenario, pv_scale) | {"solve": {
        "status": res.status, "termination": res.termination, "objective_model_usd": res.objective,
        "bound_model_usd": res.bound, "mip_gap": res.mip_gap if res.is_mip else 0.0, "solve_s": wall,
        "build_s": res.build_s, "is_mip": res.is_mip, "loss_refine_rounds": rounds}}


def read_values(var, keys: list) -> np.ndarray:
    """Solved values of ``var`` at ``keys`` as one array (0 where unset: a variable no constraint touched)."""
    return np.fromiter((0.0 if var[k].value is None else var[k].value for k in keys), dtype=float, count=len(keys))


def read_schedule(pm: ParkingModel, scenario: str, pv_scale: float) -> dict:
    """Per day: lot P/Q (EV side, kW/kVAr, 24 x lot), class schedules, hourly branch status; model cost terms."""
    m = pm.m
    lots = list(pm.system.lots.index)
    key = np.array(pm.class_keys, dtype=int).reshape(-1, 3)
    pv = read_values(m.p_ev, pm.class_keys)
    qv = read_values(m.q_ev, pm.class_keys)
    days = []
    for d, prep in enumerate(pm.preps):
        p_cls = np.zeros((len(prep.classes), T_STEPS))
        q_cls = np.zeros_like(p_cls)
        on_d = key[:, 0] == d
        p_cls[key[on_d, 1], key[on_d, 2]] = pv[on_d]
        q_cls[key[on_d, 1], key[on_d, 2]] = qv[on_d]
        lot_idx = prep.classes["lot"].map({n: j for j, n in enumerate(lots)}).to_numpy()
        p_lot = np.zeros((T_STEPS, len(lots)))
        q_lot = np.zeros_like(p_lot)
        np.add.at(p_lot.T, lot_idx, p_cls)
        np.add.at(q_lot.T, lot_idx, q_cls)
        p_lot += prep.fixed_kw[lots].to_numpy()
        days.append({"p_ev_kw": pd.DataFrame(p_lot, columns=lots), "q_ev_kvar": pd.DataFrame(q_lot, columns=lots),
                     "p_class_kw": p_cls, "q_class_kvar": q_cls})
    status = switch_status(pm)
    terms = {name: float(pyo.value(getattr(m, name))) for name in
             ("c_loss", "c_equipment", "c_emission_equipment", "c_emission_ev", "c_degradation")}
    return {"scenario": scenario, "pv_scale": pv_scale, "days": days, "branch_status": status, "model_terms": terms}


def switch_status(pm: ParkingModel) -> pd.DataFrame:
    """Branch in-service status per hour (hour x branch id, bool), from the solved (or fixed) binaries."""
    out = pm.grid.branch_status_by_step()
    out.index.name = "hour"
    return out


# ------------------------------------------------------------------------------------ S4 candidate plan


def radial_configurations(system: ParkingSystem) -> list[pd.Series]:
    """Every radial, connected configuration reachable with the switchable branches (bool Series by branch)."""
    from itertools import combinations

    net = system.network
    br = net.branches
    sw = list(system.switchable)
    fixed_on = [lid for lid in br.index if lid not in set(sw) and bool(br.at[lid, "in_service"])]
    n_on = len(net.buses) - 1 - len(fixed_on)
    out = []
    for on in combinations(sw, n_on):
        mask = pd.Series(False, index=br.index)
        mask.loc[fixed_on] = True
        mask.loc[list(on)] = True
        if net.islands(mask).max() == 0:
            out.append(mask)
    return out


def distflow_losses_kw(system: ParkingSystem, mask: pd.Series, p_kw: np.ndarray, q_kvar: np.ndarray) -> np.ndarray:
    """Feeder losses per hour ``sum_l r_l (P_l^2 + Q_l^2) / S_base`` (kW) of a radial configuration, flows =
    downstream sums of the net loads (hours x bus arrays): a fast screening estimate (V = 1, no loss flows)."""
    net = system.network
    tree = net.tree(mask)
    p = Network.downstream_sum(tree, pd.DataFrame(np.asarray(p_kw, float), columns=net.bus_ids))
    q = Network.downstream_sum(tree, pd.DataFrame(np.asarray(q_kvar, float), columns=net.bus_ids))
    loss = np.zeros(p.shape[0])
    r = net.branches["r_pu"].to_dict()
    for b in reversed(tree["order"]):  # the summation order of the loss terms is kept (same floats)
        if tree["parent_bus"][b] is not None:
            loss += r[tree["parent_branch"][b]] * (p[b].to_numpy() ** 2 + q[b].to_numpy() ** 2) / net.s_base_kva
    return loss


def screened_plan(pm: ParkingModel, schedule: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly switching plan screened on a schedule's net loads (all days): every radial configuration's
    price-weighted DistFlow loss per hour, then a dynamic programme over hours that picks one configuration
    per hour with at most ``max_switching_per_day - 1`` configuration changes after the first hour (so no
    switch changes more than ``max_switching_per_day`` times a day, eq. 22, counting the change from the
    normal configuration at hour 0). Returns (plan hour x branch, screening table)."""
    system = pm.system
    price = system.price_usd_per_mwh
    bus_of = system.lots["bus"].to_dict()
    pos = {b: j for j, b in enumerate(system.network.bus_ids)}
    loads = []
    for d, day in enumerate(schedule["days"]):
        p = system.load_p_kw.to_numpy(float).copy()
        q = system.load_q_kvar.to_numpy(float).copy()
        pv = np.array([pm.preps[d].day.pv_kw_per_kwp * system.lots.at[n, "pv_kwp"] for n in system.lots.index]).T
        for j, n in enumerate(system.lots.index):
            p[:, pos[bus_of[n]]] += day["p_ev_kw"][n].to_numpy() - schedule["pv_scale"] * pv[:, j]
            q[:, pos[bus_of[n]]] -= day["q_ev_kvar"][n].to_numpy()
        loads.append((p, q))
    masks = radial_configurations(system)
    cost = np.array([sum(price / 1000.0 * distflow_losses_kw(system, mk, p, q) for p, q in loads) / len(loads)
                     for mk in masks])  # (config, hour) USD
    n_c = len(masks)
    budget = max(system.cfg.model.max_switching_per_day - 1, 0)
    # DP: best[c, u] = min cost up to hour t ending in config c having used u changes
    best = np.full((n_c, budget + 1), np.inf)
    best[:, 0] = cost[:, 0]
    back = np.zeros((T_STEPS, n_c, budget + 1, 2), dtype=int)
    for t in range(1, T_STEPS):
        new = np.full_like(best, np.inf)
        stay = best + cost[:, t][:, None]
        new[:] = stay
        back[t, :, :, 0] = np.arange(n_c)[:, None]
        back[t, :, :, 1] = np.arange(budget + 1)[None, :]
        for u in range(1, budget + 1):
            prev = int(np.argmin(best[:, u - 1]))
            cand = best[prev, u - 1] + cost[:, t]
            better = cand < new[:, u]
            new[better, u] = cand[better]
            back[t, better, u, 0] = prev
            back[t, better, u, 1] = u - 1
        best = new
    c, u = np.unravel_index(int(np.argmin(best)), best.shape)
    seq = [0] * T_STEPS
    for t in range(T_STEPS - 1, -1, -1):
        seq[t] = int(c)
        if t > 0:
            c, u = back[t, c, u]
    plan = pd.DataFrame([masks[i].to_numpy() for i in seq], columns=masks[0].index)
    plan.index.name = "hour"
    table = pd.DataFrame({"open_switches": [",".join(str(i) for i in mk.index[~mk]) for mk in masks],
                          "loss_cost_usd": cost.sum(axis=1)}).sort_values("loss_cost_usd").reset_index(drop=True)
    return plan, table


def switching_actions(plan: pd.DataFrame, initial: pd.Series | None) -> pd.Series:
    """Status changes per branch over the day (hour 0 compared with ``initial`` if given)."""
    arr = plan.to_numpy(bool)
    changes = (arr[1:] != arr[:-1]).sum(axis=0)
    if initial is not None:
        changes = changes + (arr[0] != initial.reindex(plan.columns).to_numpy(bool))
    return pd.Series(changes, index=plan.columns)


def solve_s4(pm: ParkingModel, solver: dict, pv_scale: float = 1.0, start_from: dict | None = None,
             plan: pd.DataFrame | None = None, run_milp: bool = True) -> dict:
    """Scenario 4: a screened hourly plan (:func:`screened_plan` on ``start_from``'s loads, re-dispatched as an
    LP with the plan fixed) and, with ``run_milp``, the hourly-switching MILP started from that plan (MIP start).

    The MILP stops on work, never on the clock: the gap target ``model.milp_gap`` (HiGHS ``mip_rel_gap``) or
    the node limit ``model.milp_max_nodes`` (``mip_max_nodes``), single-threaded, so its incumbent, bound and gap
    are the same on any machine and load. ``model.milp_safety_time_limit_s`` is only a safety net: if it ends
    the search, ``milp_status`` says ``time_limit_machine_dependent``. The MILP's plan is then polished (plan
    fixed, loss term iterated, LP) like the screened one, the better of the two by the model objective is
    returned with the MILP's dual bound (``milp_bound_usd``, valid for the polished model too: refinement only
    adds valid cuts) and the returned plan's gap."""
    from evgrid.optim.solver import SolverError

    mc = pm.system.cfg.model
    cand = None
    if plan is None and start_from is not None:
        plan, _ = screened_plan(pm, dict(start_from, pv_scale=pv_scale))
    if plan is not None:
        cand = solve_scenario(pm, "s4", solver, pv_scale, switch_plan=plan)
        cand["solve"]["source"] = "screened_plan"
    milp, bound, milp_status = None, None, "skipped"
    if run_milp:
        try:
            opts = dict(solver, time_limit_s=mc.milp_safety_time_limit_s, mip_gap=mc.milp_gap,
                        warm_start=cand is not None)
            opts["highs_options"] = {**solver.get("highs_options", {}), "mip_max_nodes": int(mc.milp_max_nodes)}
            raw = solve_scenario(pm, "s4", opts, pv_scale, refine=False)
            bound = raw["solve"]["bound_model_usd"]
            term = raw["solve"]["termination"]
            milp_status = {"optimal": "gap_target_reached", "solution_limit": "node_limit",
                           "time_limit": "time_limit_machine_dependent"}.get(term, term)
            milp = solve_scenario(pm, "s4", solver, pv_scale, switch_plan=raw["branch_status"])
            milp["solve"]["source"] = "milp"
        except SolverError as exc:
            if cand is None:
                raise
            log.warning("scenario 4 MILP: %s; keeping the screened plan", exc)
            milp_status = "no_incumbent"
    options = [r for r in (cand, milp) if r is not None]
    best = min(options, key=lambda r: r["solve"]["objective_model_usd"])
    obj = best["solve"]["objective_model_usd"]
    best["solve"]["milp_status"] = milp_status
    best["solve"]["milp_bound_usd"] = bound
    best["solve"]["mip_gap"] = max(0.0, (obj - bound) / max(abs(obj), 1e-9)) if bound is not None else None
    best["solve"]["is_mip"] = True
    return best

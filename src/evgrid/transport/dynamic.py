"""Time-expanded EV flow on a :class:`~evgrid.transport.network.TrafficNetwork` (paper 001, section 2), Kedro-free.

Path-based, aggregate (fluid) model on a step ``dt_h``; every quantity is a number of vehicles (veh) or an
aggregate battery energy (kWh). For path ``j`` of O-D pair ``i``, its ``k``-th link ``a = a(j, k)`` with
free-flow time ``t0_a`` steps, and step ``t``:

    demand[i,t]        sum_{j in P_i} u[j,0,t] = f[i,t]                                   (path inflow)
    arc_queue[j,k,t]   xq[j,k,t] - xq[j,k,t-1] = u[j,k,t-t0_a] - v[j,k,t]                  (free-flow delay,
                                                                                           then a queue)
    arc_capacity[a,t]  sum_{(j,k): a(j,k)=a} v[j,k,t] <= N_a * dt                          (exit capacity)
    chain[j,k,t]       u[j,k+1,t] = v[j,k,t]                      (consecutive links, no station between)
    station_in[j,t]    v[j,ks-1,t] = u_fcs[j,t] + u_free[j,t]     (paper: v_{a+} = u_fcs + u_free)
    station_out[j,t]   u[j,ks,t]   = v_cd[j,t]  + u_free[j,t]     (paper: u_{a-} = v_cd + u_free)
    station_queue[j,t] xc[j,t] - xc[j,t-1] = u_fcs[j,t] - v_cd[j,t];  sum_l n[j,l,t] = xc[j,t]
    plugs[y,t]         sum_{j at y} xc[j,t] <= plugs_y
    arrivals[i]        sum_{j in P_i, t} v[j,last,t] = sum_t f[i,t]          (everyone arrives in the horizon)
    soc_arc[j,k,t]     ex[j,k,t] - ex[j,k,t-1] = eu[j,k,t-t0_a] - ev[j,k,t] - c_km * len_a * u[j,k,t-t0_a]
    soc_station[j,t]   ec[j,t] - ec[j,t-1] = e_fcs[j,t] - e_cd[j,t] + sum_l p_l eta_l dt n[j,l,t]
    soc_bounds         E_min * (veh) <= (energy) <= E_max * (veh) for xq/ex, v/ev, xc/ec, u_fcs/e_fcs,
                       u_free/e_free, v_cd/e_cd;  eu[j,0,t] = soc0_i * B * u[j,0,t];  E = soc * B
    station_power[y,t] p_station[y,t] = sum_{j at y} sum_l p_l n[j,l,t]             (kW, charging > 0)

``ks`` is the position of the first link after the station node on path ``j``; ``n[j,l,t]`` are the vehicles
of path ``j`` at virtual charger ``l`` (charge ``+p_c`` with ``eta_l = eta``, idle ``0``, optional
discharge ``-p_d`` with ``eta_l = 1/eta``). Travel time (paper's ``C_T / w``)::

    vehicle_hours = dt * sum_t [ sum_{j,k} (sum_{tau=t-t0+1..t} u[j,k,tau] + xq[j,k,t]) + sum_j xc[j,t] ]

Every EV on a path drives the same links, so before its charging stop its energy is known per vehicle
(``soc0 B - c_km * km so far``): :func:`prune_paths` drops paths where that falls below ``E_min``, and the arc
SOC family is written from the station on (and on paths without a station), where pooled energies differ;
the energy entering the station is ``(soc0 B - c_km len_before) * v[j,ks-1,t]``. Steps before the first
departure hold no EV and their variables are fixed at 0 (the compiler drops them).
The SOC model is the aggregate relaxation of the paper (energy is pooled within a queue; bounds hold on
the pooled energy per vehicle). Paths: for each O-D pair, the free-flow shortest path through each station
(origin -> station -> destination) plus the shortest path without a station (:func:`enumerate_paths`).

Example::

    paths = enumerate_paths(net, demands, stations)
    m.ev = pyo.Block()
    h = build_ev_flow(m.ev, net, paths, demands, stations, fleet, T, dt_h=1.0)
    m.obj = pyo.Objective(expr=w * h.vehicle_hours + ...)      # h.p_station_kw[y, t] is a Var
    solve(m); h.station_power_kw(); h.link_flows(); h.station_energy_kwh()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC

from evgrid.transport.network import TrafficNetwork


class EvFlowError(ValueError):
    """Bad input to the time-expanded EV flow (names the parameter / O-D pair / node)."""


@dataclass(frozen=True)
class EvFleet:
    """Per-vehicle technology shared by every EV (units in the names; fractions of ``battery_kwh``)."""

    battery_kwh: float
    soc_min: float
    soc_max: float
    consumption_kwh_per_km: float
    charge_kw: float
    discharge_kw: float = 0.0
    efficiency: float = 0.95

    def __post_init__(self) -> None:
        for name in ("battery_kwh", "consumption_kwh_per_km", "charge_kw"):
            if not getattr(self, name) > 0:
                raise EvFlowError(f"parameter 'fleet.{name}' must be > 0, got {getattr(self, name)}")
        if not 0 <= self.soc_min < self.soc_max <= 1:
            raise EvFlowError(f"parameters 'fleet.soc_min' < 'fleet.soc_max' in [0, 1] expected, got "
                              f"{self.soc_min}, {self.soc_max}")
        if self.discharge_kw < 0:
            raise EvFlowError(f"parameter 'fleet.discharge_kw' must be >= 0, got {self.discharge_kw}")
        if not 0 < self.efficiency <= 1:
            raise EvFlowError(f"parameter 'fleet.efficiency' must be in (0, 1], got {self.efficiency}")

    def chargers(self) -> dict[str, tuple[float, float]]:
        """Virtual chargers ``l -> (p_l kW, eta_l)``: battery energy changes by ``p_l * eta_l * dt``."""
        out = {"charge": (self.charge_kw, self.efficiency), "idle": (0.0, 1.0)}
        if self.discharge_kw > 0:
            out["discharge"] = (-self.discharge_kw, 1.0 / self.efficiency)
        return out


@dataclass(frozen=True)
class OdDemand:
    """EVs of one O-D pair: departures per step (veh) and their initial SOC (fraction of the battery)."""

    name: str
    origin: str
    destination: str
    departures: tuple
    soc0: float


@dataclass(frozen=True)
class Station:
    """A charging station node of the traffic network and how many EVs it holds at once."""

    node: str
    plugs: float


@dataclass(frozen=True)
class EvPath:
    od: str
    links: tuple
    station: str | None
    station_pos: int | None
    """Position ``ks`` of the first link after the station node (``None`` without a station)."""

    @property
    def name(self) -> str:
        return f"{self.od}|{self.station or 'direct'}"


def free_flow_steps(net: TrafficNetwork, dt_h: float) -> np.ndarray:
    """Free-flow time of every link in steps (rounded, >= 1); raises when a time is not a whole step."""
    t = net.free_flow_time_h / dt_h
    steps = np.rint(t).astype(int)
    bad = np.flatnonzero((np.abs(t - steps) > 1e-6) | (steps < 1))
    if bad.size:
        a = int(bad[0])
        raise EvFlowError(f"link {net.links.at[a, 'init_node']}->{net.links.at[a, 'term_node']}: free-flow time "
                          f"{net.free_flow_time_h[a]} h is not a positive multiple of the step dt_h={dt_h} h")
    return steps


def _path_links(pred_link: np.ndarray, net: TrafficNetwork, dest: int) -> list[int]:
    links = []
    v = dest
    while pred_link[v] >= 0:
        a = int(pred_link[v])
        links.append(a)
        v = int(net.tail[a])
    return links[::-1]


def enumerate_paths(net: TrafficNetwork, demands: Sequence[OdDemand], stations: Sequence[Station],
                    include_direct: bool = True) -> list[EvPath]:
    """Per O-D pair: the free-flow shortest path via each reachable station, plus the direct shortest path.

    Raises :class:`EvFlowError` naming the O-D pair when a node is unknown or the destination is
    unreachable. Stations not reachable from an origin (or not reaching its destination) are skipped.
    """
    known = set(net.nodes)
    for d in demands:
        for role, node in (("origin", d.origin), ("destination", d.destination)):
            if node not in known:
                raise EvFlowError(f"O-D pair '{d.name}': {role} {node!r} is not a node of the traffic network")
    for s in stations:
        if s.node not in known:
            raise EvFlowError(f"station {s.node!r} is not a node of the traffic network")
    w = net.free_flow_time_h
    pos = {n: i for i, n in enumerate(net.nodes)}
    sources = sorted({pos[d.origin] for d in demands} | {pos[s.node] for s in stations})
    dist, pred = net.shortest_path_tree(w, sources)
    row = {src: r for r, src in enumerate(sources)}
    paths: list[EvPath] = []
    for d in demands:
        o, dst = pos[d.origin], pos[d.destination]
        if not np.isfinite(dist[row[o], dst]):
            raise EvFlowError(f"O-D pair '{d.name}': destination {d.destination!r} cannot be reached from "
                              f"{d.origin!r} in the traffic network")
        if include_direct:
            paths.append(EvPath(d.name, tuple(_path_links(pred[row[o]], net, dst)), None, None))
        for s in stations:
            y = pos[s.node]
            if not (np.isfinite(dist[row[o], y]) and np.isfinite(dist[row[y], dst])):
                continue
            first = _path_links(pred[row[o]], net, y)
            second = _path_links(pred[row[y]], net, dst)
            if not first or not second:
                continue
            paths.append(EvPath(d.name, tuple(first + second), s.node, len(first)))
    return paths


def prune_paths(net: TrafficNetwork, paths: Sequence[EvPath], demands: Sequence[OdDemand], fleet: EvFleet,
                max_detour_h: float | None = None) -> tuple[list[EvPath], pd.DataFrame]:
    """Drop paths no EV can drive (energy) or that are longer than the O-D's fastest usable path + ``max_detour_h``.

    Energy per vehicle (the consumption along a fixed path is the same for every EV on it)::

        before the station: soc0 B - c_km len(before) >= soc_min B
        after the station:  soc_max B - c_km len(after) >= soc_min B     (direct path: soc0 B - c_km len >= soc_min B)

    Returns the kept paths and a table of every path with its free-flow time, length and why it was dropped.
    """
    length = net.col("length_km")
    tff = net.free_flow_time_h
    soc0 = {d.name: d.soc0 for d in demands}
    b, c = fleet.battery_kwh, fleet.consumption_kwh_per_km
    rows = []
    for p in paths:
        links = list(p.links)
        k = p.station_pos if p.station is not None else len(links)
        before = float(length[links[:k]].sum())
        after = float(length[links[k:]].sum())
        ok_before = soc0[p.od] * b - c * before >= fleet.soc_min * b - 1e-9
        ok_after = fleet.soc_max * b - c * after >= fleet.soc_min * b - 1e-9 if p.station is not None else True
        rows.append({"path": p.name, "od": p.od, "station": p.station, "free_flow_h": float(tff[links].sum()),
                     "length_km": before + after, "energy_ok": bool(ok_before and ok_after)})
    table = pd.DataFrame(rows)
    fastest = table[table["energy_ok"]].groupby("od")["free_flow_h"].min()
    for d in demands:
        if d.name not in fastest.index:
            raise EvFlowError(f"O-D pair '{d.name}': no path can be driven with an initial SOC of {d.soc0:.2f} "
                              f"(battery {b} kWh, {c} kWh/km, soc_min {fleet.soc_min}): check parameters 'fleet' "
                              "and the O-D's initial SOC")
    detour = table["free_flow_h"] - table["od"].map(fastest)
    keep = table["energy_ok"] & ((detour <= max_detour_h + 1e-9) if max_detour_h is not None else True)
    table["detour_h"] = detour
    table["kept"] = keep
    table["reason"] = np.where(~table["energy_ok"], "battery cannot cover it",
                               np.where(~keep, "detour above max_detour_h", ""))
    return [p for p, k in zip(paths, keep, strict=True) if k], table


def check_horizon(net: TrafficNetwork, paths: Sequence[EvPath], demands: Sequence[OdDemand], n_steps: int,
                  dt_h: float) -> None:
    """Every departing EV must be able to arrive within the horizon on at least one path (else a clear error)."""
    t0 = free_flow_steps(net, dt_h)
    for d in demands:
        dep = np.asarray(d.departures, dtype=float)
        if dep.shape != (n_steps,):
            raise EvFlowError(f"O-D pair '{d.name}': departures have {dep.size} steps, expected {n_steps}")
        if (dep < 0).any() or not np.isfinite(dep).all():
            raise EvFlowError(f"O-D pair '{d.name}': departures must be finite and >= 0 (parameter 'demand')")
        mine = [p for p in paths if p.od == d.name]
        if not mine:
            raise EvFlowError(f"O-D pair '{d.name}' has no path")
        fastest = min(int(t0[list(p.links)].sum()) for p in mine)
        late = np.flatnonzero((dep > 0) & (np.arange(n_steps) + fastest > n_steps - 1))
        if late.size:
            raise EvFlowError(
                f"O-D pair '{d.name}': EVs departing at step {int(late[0])} cannot reach {d.destination!r} within "
                f"the horizon of {n_steps} steps (fastest path {fastest} steps); shorten parameter 'demand' "
                f"departures or extend 'horizon_h'")


@dataclass
class EvFlowHandles:
    block: object
    paths: list
    pk: list
    """``(j, k, link id)`` of every path-link position."""
    time_index: list
    stations: list
    dt_h: float
    net: TrafficNetwork
    extras: dict = field(default_factory=dict)

    @property
    def p_station_kw(self):
        return self.block.p_station_kw

    @property
    def vehicle_hours(self):
        return self.block.vehicle_hours

    def _values(self, comp, keys) -> np.ndarray:
        return np.array([comp[k].value if comp[k].value is not None else np.nan for k in keys], dtype=float)

    def station_power_kw(self) -> pd.DataFrame:
        """Net station power (step x station), kW (charging > 0)."""
        keys = [(y, t) for t in self.time_index for y in self.stations]
        vals = self._values(self.block.p_station_kw, keys).reshape(len(self.time_index), len(self.stations))
        return pd.DataFrame(vals, index=pd.Index(self.time_index, name="step"), columns=self.stations)

    def link_flows(self) -> pd.DataFrame:
        """Per link and step: inflow, outflow, queue and vehicles on the link (all paths summed), veh."""
        b = self.block
        T = self.time_index
        n_t = len(T)
        t0 = self.extras["t0"]
        rows = []
        for comp, name in ((b.u, "inflow_veh"), (b.v, "outflow_veh"), (b.xq, "queue_veh")):
            keys = [(j, k, t) for (j, k, _a) in self.pk for t in T]
            vals = self._values(comp, keys).reshape(len(self.pk), n_t)
            rows.append((name, vals))
        data = dict(rows)
        on_link = np.zeros((len(self.pk), n_t))
        for r, (_j, _k, a) in enumerate(self.pk):
            c = np.cumsum(np.r_[0.0, data["inflow_veh"][r]])
            lo = np.maximum(np.arange(n_t) - t0[a] + 1, 0)
            on_link[r] = c[np.arange(n_t) + 1] - c[lo] + data["queue_veh"][r]
        data["on_link_veh"] = on_link
        link_of = np.array([a for (_j, _k, a) in self.pk])
        out = []
        for a in np.unique(link_of):
            sel = link_of == a
            frame = pd.DataFrame({name: arr[sel].sum(axis=0) for name, arr in data.items()})
            frame.insert(0, "step", T)
            frame.insert(0, "link", f"{self.net.links.at[a, 'init_node']}->{self.net.links.at[a, 'term_node']}")
            frame["capacity_veh"] = float(self.net.capacity[a]) * self.dt_h
            out.append(frame)
        return pd.concat(out, ignore_index=True)

    def station_energy_kwh(self) -> pd.DataFrame:
        """Per station and step: EVs at the station, energy charged into batteries (kWh), net power (kW)."""
        b = self.block
        T = self.time_index
        p = self.station_power_kw()
        rows = []
        for y in self.stations:
            js = [j for j, pth in enumerate(self.paths) if pth.station == y]
            xc = np.zeros(len(T))
            e_in = np.zeros(len(T))
            for j in js:
                xc += self._values(b.xc, [(j, t) for t in T])
                for name, (pl, eta) in self.extras["chargers"].items():
                    e_in += pl * eta * self.dt_h * self._values(b.n, [(j, name, t) for t in T])
            rows.append(pd.DataFrame({"station": y, "step": T, "evs_at_station": xc,
                                      "energy_to_batteries_kwh": e_in, "p_kw": p[y].to_numpy()}))
        return pd.concat(rows, ignore_index=True)

    def usage_by_od(self) -> dict:
        """Per O-D pair: link exits ``{(link, t): veh}`` and station occupancy ``{(station, t): veh}``."""
        b = self.block
        out: dict = {}
        for j, k, a in self.pk:
            od = self.paths[j].od
            links = out.setdefault(od, ({}, {}))[0]
            for t in self.time_index:
                links[(a, t)] = links.get((a, t), 0.0) + float(b.v[j, k, t].value or 0.0)
        for j in b.JS:
            p = self.paths[j]
            plugs = out.setdefault(p.od, ({}, {}))[1]
            for t in self.time_index:
                plugs[(p.station, t)] = plugs.get((p.station, t), 0.0) + float(b.xc[j, t].value or 0.0)
        return out

    def path_flows(self) -> pd.DataFrame:
        """Departures per path and step (veh)."""
        keys = [(j, 0, t) for j in range(len(self.paths)) for t in self.time_index]
        vals = self._values(self.block.u, keys).reshape(len(self.paths), len(self.time_index))
        return pd.DataFrame(vals.T, index=pd.Index(self.time_index, name="step"),
                            columns=[p.name for p in self.paths])


# ------------------------------------------------------------------------------------------- builders


def define_variables(b, paths, pk, T, stations, chargers) -> None:
    """Flows ``u, v, xq`` and energies ``eu, ev, ex`` per (path, link position, step); station queue
    ``u_fcs, u_free, v_cd, xc, n[l]`` and energies ``e_fcs, e_free, e_cd, ec`` per (station path, step);
    ``p_station_kw[y, t]`` (free sign)."""
    b.PKT = pyo.Set(initialize=[(j, k, t) for (j, k, _a) in pk for t in T], dimen=3, ordered=True)
    sp = [j for j, p in enumerate(paths) if p.station is not None]
    b.JS = pyo.Set(initialize=sp, ordered=True)
    b.JST = pyo.Set(initialize=[(j, t) for j in sp for t in T], dimen=2, ordered=True)
    b.LC = pyo.Set(initialize=list(chargers), ordered=True)
    b.Y = pyo.Set(initialize=list(stations), ordered=True)
    b.T = pyo.Set(initialize=T, ordered=True)
    nn = pyo.NonNegativeReals
    for name in ("u", "v", "xq", "eu", "ev", "ex"):
        setattr(b, name, pyo.Var(b.PKT, within=nn, initialize=0.0))
    for name in ("u_fcs", "u_free", "v_cd", "xc", "e_fcs", "e_free", "e_cd", "ec"):
        setattr(b, name, pyo.Var(b.JST, within=nn, initialize=0.0))
    b.n = pyo.Var(b.JS, b.LC, b.T, within=nn, initialize=0.0)
    b.p_station_kw = pyo.Var(b.Y, b.T, within=pyo.Reals, initialize=0.0)


def define_demand(b, paths, demands, T) -> None:
    """``sum_{j in P_i} u[j,0,t] = f[i,t]`` (path inflow meets the O-D departures)."""
    by_od = {d.name: [j for j, p in enumerate(paths) if p.od == d.name] for d in demands}
    f = {d.name: np.asarray(d.departures, dtype=float) for d in demands}
    tpos = {t: i for i, t in enumerate(T)}
    b.demand = pyo.Constraint([d.name for d in demands], b.T, rule=lambda blk, i, t: (
        sum(blk.u[j, 0, t] for j in by_od[i]) == float(f[i][tpos[t]])))


def define_arc_queues(b, pk, T, t0) -> None:
    """``xq[j,k,t] - xq[j,k,t-1] = u[j,k,t-t0_a] - v[j,k,t]`` (free-flow delay then an exit queue)."""
    link = {(j, k): a for (j, k, a) in pk}

    def rule(blk, j, k, t):
        i = T.index(t)
        prev = blk.xq[j, k, T[i - 1]] if i > 0 else 0.0
        s = i - int(t0[link[j, k]])
        inflow = blk.u[j, k, T[s]] if s >= 0 else 0.0
        return blk.xq[j, k, t] - prev == inflow - blk.v[j, k, t]

    b.arc_queue = pyo.Constraint(b.PKT, rule=rule)


def define_arc_capacity(b, pk, T, net, dt_h, capacity_veh: Mapping | None = None) -> None:
    """``sum_{(j,k): a(j,k)=a} v[j,k,t] <= N_a * dt`` on every used link (``capacity_veh[(a, t)]`` overrides
    ``N_a * dt``, e.g. an aggregator's share of a link)."""
    users: dict[int, list] = {}
    for j, k, a in pk:
        users.setdefault(a, []).append((j, k))
    cap = net.capacity
    over = dict(capacity_veh or {})
    b.A_USED = pyo.Set(initialize=sorted(users), ordered=True)
    b.arc_capacity = pyo.Constraint(b.A_USED, b.T, rule=lambda blk, a, t: (
        sum(blk.v[j, k, t] for j, k in users[a]) <= float(over.get((a, t), float(cap[a]) * dt_h))))


def define_chaining(b, paths, pk, T) -> None:
    """``u[j,k+1,t] = v[j,k,t]`` and ``eu[j,k+1,t] = ev[j,k,t]`` between consecutive links (no station)."""
    keys = [(j, k, t) for (j, k, _a) in pk for t in T
            if k + 1 < len(paths[j].links) and k + 1 != paths[j].station_pos]
    b.CH = pyo.Set(initialize=keys, dimen=3, ordered=True)
    b.chain = pyo.Constraint(b.CH, rule=lambda blk, j, k, t: blk.u[j, k + 1, t] == blk.v[j, k, t])
    b.chain_e = pyo.Constraint(b.CH, rule=lambda blk, j, k, t: blk.eu[j, k + 1, t] == blk.ev[j, k, t])


def define_station_queues(b, paths, T, stations, plugs_veh: Mapping | None = None) -> None:
    """Station split ``v[j,ks-1,t] = u_fcs + u_free``, ``u[j,ks,t] = v_cd + u_free``; queue
    ``xc[t] - xc[t-1] = u_fcs[t] - v_cd[t]``; chargers ``sum_l n[j,l,t] = xc[j,t]``; plugs
    ``sum_{j at y} xc[j,t] <= plugs_y``."""
    ks = {j: paths[j].station_pos for j in b.JS}
    b.station_in = pyo.Constraint(b.JST, rule=lambda blk, j, t: (
        blk.v[j, ks[j] - 1, t] == blk.u_fcs[j, t] + blk.u_free[j, t]))
    b.station_out = pyo.Constraint(b.JST, rule=lambda blk, j, t: (
        blk.u[j, ks[j], t] == blk.v_cd[j, t] + blk.u_free[j, t]))

    def queue(blk, j, t):
        i = T.index(t)
        prev = blk.xc[j, T[i - 1]] if i > 0 else 0.0
        return blk.xc[j, t] - prev == blk.u_fcs[j, t] - blk.v_cd[j, t]

    b.station_queue = pyo.Constraint(b.JST, rule=queue)
    b.chargers = pyo.Constraint(b.JST, rule=lambda blk, j, t: sum(blk.n[j, lc, t] for lc in blk.LC) == blk.xc[j, t])
    at = {y: [j for j in b.JS if paths[j].station == y] for y in stations}
    plugs = {y: float(s.plugs) for y, s in stations.items()}
    over = dict(plugs_veh or {})
    b.plugs = pyo.Constraint(b.Y, b.T, rule=lambda blk, y, t: (
        sum(blk.xc[j, t] for j in at[y]) <= float(over.get((y, t), plugs[y])) if at[y] else pyo.Constraint.Skip))


def define_arrivals(b, paths, demands, T) -> None:
    """``sum_{j in P_i, t} v[j,last,t] = sum_t f[i,t]``: every EV reaches its destination in the horizon."""
    total = {d.name: float(np.sum(d.departures)) for d in demands}
    b.arrivals = pyo.Constraint([d.name for d in demands], rule=lambda blk, i: sum(
        blk.v[j, len(p.links) - 1, t] for j, p in enumerate(paths) if p.od == i for t in T) == total[i])


def _soc_keys(b, paths):
    """(j, k, t) where pooled arc energies are modelled: from the station on, or every link without one."""
    return [(j, k, t) for (j, k, t) in b.PKT if paths[j].station_pos is None or k >= paths[j].station_pos]


def define_soc_arcs(b, paths, pk, T, t0, net, fleet, demands) -> None:
    """``ex[t] - ex[t-1] = eu[t-t0] - ev[t] - c_km * len_a * u[t-t0]``; departures ``eu[j,0,t] = soc0 B u``
    (paths without a station); bounds ``E_min xq <= ex <= E_max xq``, ``E_min v <= ev <= E_max v``."""
    link = {(j, k): a for (j, k, a) in pk}
    length = net.col("length_km")
    c = fleet.consumption_kwh_per_km
    soc0 = {d.name: d.soc0 for d in demands}
    e_min, e_max = fleet.soc_min * fleet.battery_kwh, fleet.soc_max * fleet.battery_kwh

    def energy(blk, j, k, t):
        i = T.index(t)
        prev = blk.ex[j, k, T[i - 1]] if i > 0 else 0.0
        a = link[j, k]
        s = i - int(t0[a])
        if s < 0:
            return blk.ex[j, k, t] - prev == -blk.ev[j, k, t]
        tt = T[s]
        return blk.ex[j, k, t] - prev == blk.eu[j, k, tt] - blk.ev[j, k, t] - c * float(length[a]) * blk.u[j, k, tt]

    b.PKT_SOC = pyo.Set(initialize=_soc_keys(b, paths), dimen=3, ordered=True)
    b.soc_arc = pyo.Constraint(b.PKT_SOC, rule=energy)
    direct = [(j, t) for j, p in enumerate(paths) if p.station_pos is None for t in T]
    b.JT = pyo.Set(initialize=direct, dimen=2, ordered=True)
    b.soc_depart = pyo.Constraint(b.JT, rule=lambda blk, j, t: (
        blk.eu[j, 0, t] == soc0[paths[j].od] * fleet.battery_kwh * blk.u[j, 0, t]))
    b.soc_queue_lo = pyo.Constraint(b.PKT_SOC, rule=lambda blk, j, k, t: blk.ex[j, k, t] >= e_min * blk.xq[j, k, t])
    b.soc_queue_hi = pyo.Constraint(b.PKT_SOC, rule=lambda blk, j, k, t: blk.ex[j, k, t] <= e_max * blk.xq[j, k, t])
    b.soc_out_lo = pyo.Constraint(b.PKT_SOC, rule=lambda blk, j, k, t: blk.ev[j, k, t] >= e_min * blk.v[j, k, t])
    b.soc_out_hi = pyo.Constraint(b.PKT_SOC, rule=lambda blk, j, k, t: blk.ev[j, k, t] <= e_max * blk.v[j, k, t])


def arrival_energy_kwh(paths, net, fleet, demands) -> tuple[dict, dict]:
    """Per station path: energy per EV on reaching the station ``soc0 B - c_km len(before)`` and the energy
    the rest of the trip needs ``c_km len(after)`` (kWh)."""
    length = net.col("length_km")
    soc0 = {d.name: d.soc0 for d in demands}
    c = fleet.consumption_kwh_per_km
    arrive, after = {}, {}
    for j, p in enumerate(paths):
        if p.station_pos is None:
            continue
        arrive[j] = soc0[p.od] * fleet.battery_kwh - c * float(length[list(p.links[:p.station_pos])].sum())
        after[j] = c * float(length[list(p.links[p.station_pos:])].sum())
    return arrive, after


def define_soc_stations(b, paths, T, fleet, chargers, dt_h, e_arrive, e_after) -> None:
    """``ec[t] - ec[t-1] = e_fcs[t] - e_cd[t] + sum_l p_l eta_l dt n[l,t]``; energy split at the station
    (``e_arrive_j v[j,ks-1] = e_fcs + e_free`` with ``e_free = e_arrive_j u_free``: passing EVs keep their own
    energy, ``eu[j,ks] = e_cd + e_free``), pooled SOC bounds, and every EV leaving the station able to finish
    its trip: ``e_cd >= (E_min + c_km len_after) v_cd``; ``u_free = 0`` where ``e_arrive < E_min + c_km len_after``."""
    ks = {j: paths[j].station_pos for j in b.JS}
    e_min, e_max = fleet.soc_min * fleet.battery_kwh, fleet.soc_max * fleet.battery_kwh
    b.soc_free = pyo.Constraint(b.JST, rule=lambda blk, j, t: blk.e_free[j, t] == e_arrive[j] * blk.u_free[j, t])
    b.soc_leave = pyo.Constraint(b.JST, rule=lambda blk, j, t: blk.e_cd[j, t] >= (e_min + e_after[j]) * blk.v_cd[j, t])
    for j in b.JS:
        if e_arrive[j] < e_min + e_after[j] - 1e-9:
            for t in T:
                b.u_free[j, t].fix(0.0)

    def energy(blk, j, t):
        i = T.index(t)
        prev = blk.ec[j, T[i - 1]] if i > 0 else 0.0
        charge = sum(pl * eta * dt_h * blk.n[j, lc, t] for lc, (pl, eta) in chargers.items() if pl != 0)
        return blk.ec[j, t] - prev == blk.e_fcs[j, t] - blk.e_cd[j, t] + charge

    b.soc_station = pyo.Constraint(b.JST, rule=energy)
    b.soc_split_in = pyo.Constraint(b.JST, rule=lambda blk, j, t: (
        e_arrive[j] * blk.v[j, ks[j] - 1, t] == blk.e_fcs[j, t] + blk.e_free[j, t]))
    b.soc_split_out = pyo.Constraint(b.JST, rule=lambda blk, j, t: (
        blk.eu[j, ks[j], t] == blk.e_cd[j, t] + blk.e_free[j, t]))
    pairs = (("ec", "xc"), ("e_fcs", "u_fcs"), ("e_free", "u_free"), ("e_cd", "v_cd"))
    keys = [(p, j, t) for p in range(len(pairs)) for (j, t) in b.JST]
    b.SOCB = pyo.Set(initialize=keys, dimen=3, ordered=True)
    b.soc_station_lo = pyo.Constraint(b.SOCB, rule=lambda blk, p, j, t: (
        getattr(blk, pairs[p][0])[j, t] >= e_min * getattr(blk, pairs[p][1])[j, t]))
    b.soc_station_hi = pyo.Constraint(b.SOCB, rule=lambda blk, p, j, t: (
        getattr(blk, pairs[p][0])[j, t] <= e_max * getattr(blk, pairs[p][1])[j, t]))


def define_station_power(b, paths, chargers) -> None:
    """``p_station[y,t] = sum_{j at y} sum_l p_l n[j,l,t]`` (kW, net of discharge)."""
    at = {y: [j for j in b.JS if paths[j].station == y] for y in b.Y}
    b.station_power = pyo.Constraint(b.Y, b.T, rule=lambda blk, y, t: blk.p_station_kw[y, t] == sum(
        pl * blk.n[j, lc, t] for j in at[y] for lc, (pl, _eta) in chargers.items() if pl != 0))


def define_travel_time(b, pk, T, t0, dt_h) -> None:
    """``vehicle_hours = dt * (sum u[j,k,tau] * min(t0_a, T - tau) + sum xq + sum xc)`` (Expression)."""
    n_t = len(T)
    link = {(j, k): a for (j, k, a) in pk}
    b.vehicle_hours = pyo.Expression(expr=dt_h * (
        sum(min(int(t0[link[j, k]]), n_t - T.index(t)) * b.u[j, k, t] for (j, k, t) in b.PKT)
        + sum(b.xq[key] for key in b.PKT) + sum(b.xc[key] for key in b.JST)))


def fix_empty_steps(b, demands, T) -> None:
    """Fix every flow, queue and energy at 0 before the first departure (no EV is on the road yet)."""
    first = min((int(np.flatnonzero(np.asarray(d.departures) > 0)[0]) for d in demands
                 if np.any(np.asarray(d.departures) > 0)), default=len(T))
    early = set(T[:first])
    if not early:
        return
    for name in ("u", "v", "xq", "eu", "ev", "ex"):
        var = getattr(b, name)
        for key in b.PKT:
            if key[2] in early:
                var[key].fix(0.0)
    for name in ("u_fcs", "u_free", "v_cd", "xc", "e_fcs", "e_free", "e_cd", "ec"):
        var = getattr(b, name)
        for key in b.JST:
            if key[1] in early:
                var[key].fix(0.0)
    for j in b.JS:
        for lc in b.LC:
            for t in early:
                b.n[j, lc, t].fix(0.0)


def build_ev_flow(block, net: TrafficNetwork, paths: Sequence[EvPath], demands: Sequence[OdDemand],
                  stations: Sequence[Station] | Mapping[str, Station], fleet: EvFleet, time_index: Sequence,
                  dt_h: float = 1.0, capacity_veh: Mapping | None = None, plugs_veh: Mapping | None = None
                  ) -> EvFlowHandles:
    """Add the time-expanded EV flow (module docstring) to ``block``; return :class:`EvFlowHandles`.

    ``capacity_veh[(link, t)]`` / ``plugs_veh[(station, t)]`` override link exit capacities (veh per step)
    and station plugs, e.g. the share of one aggregator when several share the network."""
    T = list(time_index)
    if isinstance(stations, Mapping):
        stations = dict(stations)
    else:
        stations = {s.node: s for s in stations}
    if any(s.plugs < 0 for s in stations.values()):
        bad = [y for y, s in stations.items() if s.plugs < 0]
        raise EvFlowError(f"stations {bad}: parameter 'plugs' must be >= 0")
    if (net.capacity < 0).any():
        raise EvFlowError("negative link capacity in the traffic network (parameter 'links')")
    unknown = sorted({p.station for p in paths if p.station is not None} - set(stations))
    if unknown:
        raise EvFlowError(f"paths use stations {unknown} that are not in 'stations'")
    check_horizon(net, paths, demands, len(T), dt_h)
    t0 = free_flow_steps(net, dt_h)
    chargers = fleet.chargers()
    pk = [(j, k, int(a)) for j, p in enumerate(paths) for k, a in enumerate(p.links)]
    with PauseGC():
        define_variables(block, paths, pk, T, list(stations), chargers)
        define_demand(block, paths, demands, T)
        define_arc_queues(block, pk, T, t0)
        define_arc_capacity(block, pk, T, net, dt_h, capacity_veh)
        define_chaining(block, paths, pk, T)
        define_station_queues(block, paths, T, stations, plugs_veh)
        define_arrivals(block, paths, demands, T)
        define_soc_arcs(block, paths, pk, T, t0, net, fleet, demands)
        e_arrive, e_after = arrival_energy_kwh(paths, net, fleet, demands)
        define_soc_stations(block, paths, T, fleet, chargers, dt_h, e_arrive, e_after)
        define_station_power(block, paths, chargers)
        define_travel_time(block, pk, T, t0, dt_h)
        fix_empty_steps(block, demands, T)
    return EvFlowHandles(block=block, paths=list(paths), pk=pk, time_index=T, stations=list(stations), dt_h=dt_h,
                         net=net, extras={"t0": t0, "chargers": chargers})

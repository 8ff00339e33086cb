"""The coupled test system: roads + 8 candidate station links + IEEE 33-bus feeder + periods.

* Roads (``planning.case``): ``ring`` (default, the paper's kind of case: ring + spokes city network and
  gravity demand, :mod:`evgrid.transport.ring`) or ``sioux_falls`` (TNTP, :func:`evgrid.transport.tntp.read_net`);
  demand per period = the peak-hour O-D table x ``demand_factor`` (I-94 weekday profile / its peak hour).
* Classes: ``icev`` (share ``1 - ev_share``), ``ev`` (EVs not charging en route) and ``ev_charging``
  (share ``ev_share x charging_trip_share``) which routes on a two-layer graph: layer 0 (not yet
  charged) -> station link -> layer 1 (charged); each station link uses its road link *and* the
  station's queue resource ``t_q(x) = (E/P) (1 + b_q (x / (units P / E))^p_q)``.
* Grid: the MATPOWER 33-bus feeder, bus loads x NYISO weekday load shape per period; station loads
  at the buses named in the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from evgrid.grid.matpower import load_matpower_case
from evgrid.grid.network import Network
from evgrid.optim.branchflow import BranchFlowModel, build_branch_flow
from evgrid.studies.planning.config import PlanningConfig, PlanningConfigError
from evgrid.transport.assignment import Resources, UserClass
from evgrid.transport.network import TrafficNetwork
from evgrid.transport.ring import ring_demand, ring_network
from evgrid.transport.tntp import demand_matrix, read_net, read_nodes, read_trips

CLASSES = ("icev", "ev", "ev_charging")


def hourly_profile(daily: pd.DataFrame, prefix: str, *, weekdays_only: bool = True) -> np.ndarray:
    """Mean weekday profile (24 hourly values) from an ingest daily wide table (columns ``<prefix>_tNNN``)."""
    cols = [c for c in daily.columns if c.startswith(prefix + "_t")]
    if not cols or 24 * (len(cols) // 24) != len(cols):
        raise PlanningConfigError(f"daily table lacks {prefix}_tNNN columns (a multiple of 24 expected), got {len(cols)}")
    rows = daily[~daily["is_weekend"].astype(bool)] if weekdays_only and "is_weekend" in daily else daily
    mat = rows[cols].to_numpy(dtype=float)
    prof = np.nanmean(mat, axis=0)
    per_hour = len(cols) // 24
    return prof.reshape(24, per_hour).mean(axis=1)


@dataclass
class PlanningSystem:
    """Everything the lower level needs, picklable (sent once to worker processes)."""

    config: PlanningConfig
    roads: TrafficNetwork
    trips: pd.DataFrame
    ev_graph: TrafficNetwork
    stations: pd.DataFrame
    grid: Network
    periods: pd.DataFrame
    nodes_xy: pd.DataFrame | None = None
    opf: BranchFlowModel | None = None  # the feeder's SOCP matrices, built once with the system

    @property
    def n_stations(self) -> int:
        return len(self.stations)

    # ------------------------------------------------------------------ resources and classes
    def resources(self, capacity_kw: np.ndarray) -> Resources:
        """Road BPR resources + one queue resource per station at the given unit power [kW]."""
        p = np.asarray(capacity_kw, dtype=float)
        sc = self.config.station
        t_charge_h = sc.energy_per_charge_kwh / p
        throughput = sc.units * p / sc.energy_per_charge_kwh
        n = self.n_stations
        return Resources.from_network(self.roads).extend(
            t_charge_h, np.full(n, sc.queue_b), throughput, np.full(n, sc.queue_power),
            [f"queue:{s}" for s in self.stations["station"]],
        )

    def classes(self, period: str, station_price_usd_per_kwh: np.ndarray, ev_share: float | None = None) -> list[UserClass]:
        """The three user classes of ``period`` with station prices (fixed costs in hours = money / VOT)."""
        tc = self.config.traffic
        share = tc.ev_share if ev_share is None else ev_share
        factor = float(self.periods.loc[period, "demand_factor"])
        base = demand_matrix(self.roads, self.trips) * factor
        origins = self.roads.node_positions(list(self.trips.index))
        n_res = self.roads.n_links + self.n_stations
        L = self.roads.n_links
        ident = csr_matrix((np.ones(L), (np.arange(L), np.arange(L))), shape=(n_res, L))
        length = self.roads.col("length_km")
        icev = UserClass("icev", self.roads, origins, base * (1 - share), ident,
                         tc.icev_fuel_usd_per_km * length / tc.vot_icev_usd_per_h)
        ev_cost = tc.ev_energy_kwh_per_km * tc.ev_home_price_usd_per_kwh * length / tc.vot_ev_usd_per_h
        ev = UserClass("ev", self.roads, origins, base * share * (1 - tc.charging_trip_share), ident, ev_cost)
        g = self.ev_graph
        o2 = g.node_positions([f"0:{z}" for z in self.trips.index])
        d2 = np.zeros((len(o2), g.n_nodes))
        d2[:, g.node_positions([f"1:{z}" for z in self.trips.columns])] = (
            self.trips.to_numpy(dtype=float) * factor * share * tc.charging_trip_share
        )
        fixed = np.zeros(g.n_links)
        st = g.links["station_pos"].to_numpy()
        is_st = st >= 0
        price = np.asarray(station_price_usd_per_kwh, dtype=float) + self.config.station.service_fee_usd_per_kwh
        fixed[is_st] = price[st[is_st]] * self.config.station.energy_per_charge_kwh / tc.vot_ev_usd_per_h
        return [icev, ev, UserClass("ev_charging", g, o2, d2, g.meta["resource_map"], fixed)]

    def capex_usd(self, capacity_kw: np.ndarray) -> np.ndarray:
        """Installed cost per station: ``units x (fixed + per_kw x P)`` [$]."""
        inv = self.config.investment
        return self.config.station.units * (inv.unit_fixed_usd + inv.unit_usd_per_kw * np.asarray(capacity_kw, float))


def _ev_graph(roads: TrafficNetwork, stations: pd.DataFrame) -> TrafficNetwork:
    """Two-layer EV graph: ``0:n`` (not charged) and ``1:n`` (charged); station links ``0:i -> 1:j``.

    ``meta['resource_map']`` (resources x links) maps layer links to their road link and station links
    to their road link + their queue resource (resource ``n_road_links + station position``).
    """
    L = roads.n_links
    rl = roads.links
    layers = []
    for k in (0, 1):
        df = rl[["capacity_veh_per_h", "length_km", "free_flow_time_h", "b", "power"]].copy()
        df["init_node"] = [f"{k}:{n}" for n in rl["init_node"]]
        df["term_node"] = [f"{k}:{n}" for n in rl["term_node"]]
        df["road_link"] = np.arange(L)
        df["station_pos"] = -1
        layers.append(df)
    st = stations.reset_index(drop=True)
    sl = rl.loc[st["road_link"], ["capacity_veh_per_h", "length_km", "free_flow_time_h", "b", "power"]].reset_index(drop=True)
    sl["init_node"] = [f"0:{n}" for n in st["init_node"]]
    sl["term_node"] = [f"1:{n}" for n in st["term_node"]]
    sl["road_link"] = st["road_link"].to_numpy()
    sl["station_pos"] = np.arange(len(st))
    links = pd.concat(layers + [sl], ignore_index=True)
    nodes = [f"{k}:{n}" for k in (0, 1) for n in roads.nodes]
    g = TrafficNetwork.from_links(links, nodes, name=f"{roads.name}-ev2layer", source=roads.source)
    n_res = L + len(st)
    rows = np.concatenate([g.links["road_link"].to_numpy(), L + np.arange(len(st))])
    cols = np.concatenate([np.arange(g.n_links), np.flatnonzero(g.links["station_pos"].to_numpy() >= 0)])
    g.meta["resource_map"] = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_res, g.n_links))
    return g


def _roads(config: PlanningConfig) -> tuple[TrafficNetwork, pd.DataFrame, pd.DataFrame | None, str]:
    """Road network, peak-hour O-D table, node coordinates and a source name of the chosen case."""
    net = config.case.network
    if config.case.kind == "ring":
        keys = ("n_ring", "radius_km", "ring_capacity_veh_per_h", "ring_speed_kmh", "spoke_every",
                "spoke_capacity_veh_per_h", "spoke_speed_kmh", "bpr_b", "bpr_power")
        roads, xy = ring_network(**{k: net[k] for k in keys})
        trips = ring_demand(roads, net["peak_trips_veh_per_h"], net["cbd_weight"], net["decay_km"])
        return roads, trips, xy, "the ring network (planning.cases.ring.network)"
    roads = read_net(net["net_path"], time_unit_h=net["time_unit_h"], length_unit_km=net["length_unit_km"])
    trips = read_trips(net["trips_path"], zones=roads.n_zones or None)
    return roads, trips, read_nodes(net["node_path"]) if net.get("node_path") else None, net["net_path"]


def build_system(
    config: PlanningConfig, traffic_daily: pd.DataFrame, load_daily: pd.DataFrame
) -> PlanningSystem:
    """Read the TNTP files and the feeder, check the station mapping, derive the period table."""
    roads, trips, nodes_xy, source = _roads(config)
    grid = load_matpower_case(config.grid.path)
    if config.grid.v_slack_pu != grid.v_slack_pu:
        grid.v_slack_pu = float(config.grid.v_slack_pu)
    grid.buses["v_min_pu"] = np.maximum(grid.buses["v_min_pu"].to_numpy(float), config.grid.v_min_pu)
    rows = []
    pair = {(i, j): a for a, (i, j) in enumerate(zip(roads.links["init_node"], roads.links["term_node"], strict=True))}
    for k, s in enumerate(config.stations):
        where = f"planning.cases.{config.case.kind}.stations[{k}] ({s.name})"
        if (s.init_node, s.term_node) not in pair:
            raise PlanningConfigError(
                f"{where}: station on unknown link {s.init_node}->{s.term_node}; expected a link of {source}"
            )
        if s.bus not in grid.buses.index:
            raise PlanningConfigError(f"{where}: unknown bus {s.bus}; expected one of {grid.bus_ids} ({config.grid.path})")
        rows.append({"station": s.name, "init_node": s.init_node, "term_node": s.term_node, "bus": s.bus,
                     "road_link": pair[(s.init_node, s.term_node)]})
    stations = pd.DataFrame(rows)
    traffic = hourly_profile(traffic_daily, "flow_veh_per_h")
    load = hourly_profile(load_daily, "load_mw")
    rate = config.tou.rate_of_hour()
    prow = []
    for name, hours in config.periods.items():
        h = np.asarray(hours)
        prow.append({
            "period": name,
            "hours": ",".join(str(x) for x in hours),
            "duration_h": float(len(hours)),
            "demand_factor": float(traffic[h].mean() / traffic.max()),
            "load_factor": float(load[h].mean() / load.max() * config.grid.load_scale),
            "tou_usd_per_kwh": float(np.mean([rate[int(x)] for x in hours])),
        })
    periods = pd.DataFrame(prow).set_index("period")
    return PlanningSystem(config, roads, trips, _ev_graph(roads, stations), stations, grid, periods, nodes_xy,
                          build_branch_flow(grid))

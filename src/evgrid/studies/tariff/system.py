"""The coupled system of the tariff study: completed 20-node traffic network + case17me feeder with stations.

``build_system(cfg, load_paths, weather_paths, price_paths) -> TariffSystem`` turns the typed config and the
raw files into everything the models need: the :class:`TrafficNetwork` (paper arcs + documented completion,
two-way, lengths = free-flow time x speed), the O-D demands (scaled, initial SOC as a fraction), the feeder
:class:`Network` with one bus per station (F1..F4 behind E5 = bus 5 through L1..L4 with the paper's limits),
hourly forecasts of conventional load, PV and wind per bus, the held-out real days for the out-of-sample
test, and the energy price ``c_t``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evgrid.data.load import parse_nyiso_5min
from evgrid.data.prices import parse_nyiso_zonal_csv, select_zone
from evgrid.data.weather import parse_nsrdb_psm3
from evgrid.grid.matpower import load_matpower_case
from evgrid.grid.network import Network, make_network
from evgrid.studies.tariff.config import TariffConfig, TariffConfigError
from evgrid.transport.dynamic import EvFleet, OdDemand, Station
from evgrid.transport.network import TrafficNetwork

THERMAL_SIDES = 4
"""Polygon sides of the LinDistFlow thermal limit; with 4 sides and ``rating = limit / cos(pi/4)`` the
station lines get exactly ``|P| <= limit`` (and a non-binding ``|Q| <= limit``: stations draw no Q)."""


@dataclass
class TariffSystem:
    cfg: TariffConfig
    traffic: TrafficNetwork
    demands: list
    stations: dict
    fleet: EvFleet
    feeder: Network
    station_bus: dict
    """station -> feeder bus id."""
    station_line: dict
    """station -> feeder branch id of its service line."""
    line_limit_kw: dict
    """station -> active-power limit of its line (only limited stations)."""
    load_p_kw: pd.DataFrame
    """Forecast conventional load (hour x bus), incl. the stations' auxiliary load."""
    load_q_kvar: pd.DataFrame
    pv_kw: pd.DataFrame
    wind_kw: pd.DataFrame
    price_usd_per_kwh: np.ndarray
    heldout_load_multiplier: pd.DataFrame
    """Held-out days (date x hour): real load / forecast load (same shape as the forecast profile)."""
    heldout_pv_per_kwp: pd.DataFrame
    """Held-out days (date x hour): real PV kW per kWp."""
    load_error_rel: pd.DataFrame | None = None
    """Day-ahead load forecast errors (date x hour), relative: actual / weekly-persistence forecast - 1."""
    pv_error_per_kwp: pd.DataFrame | None = None
    """Day-ahead PV forecast errors (date x hour), kW per kWp: actual - previous day (persistence)."""
    train_days: pd.DatetimeIndex | None = None
    """Days before ``out_of_sample.forecast_days_before``: the only days that shape the uncertainty set."""
    info: dict = field(default_factory=dict)

    @property
    def steps(self) -> list:
        return list(range(self.cfg.n_steps))

    def net_load(self, gamma: float = 0.0, pct: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Paper 001's robust counterpart of the nodal balance (box, Gamma): loads at forecast + Gamma xi,
        renewables at forecast - Gamma xi (:meth:`deviations` gives xi); returns net (P, Q) (hour x bus)."""
        from evgrid.optim.robust import BoxSet

        dev = self.deviations(pct)
        parts = []
        for frame, kind, direction in ((self.load_p_kw, "load", 1.0), (self.pv_kw, "pv", -1.0),
                                       (self.wind_kw, "wind", -1.0)):
            box = BoxSet(nominal=frame.to_numpy(), deviation=dev[kind].to_numpy(), gamma=gamma)
            parts.append(direction * box.worst_case_point(direction))
        p = pd.DataFrame(parts[0] + parts[1] + parts[2], index=self.load_p_kw.index, columns=self.load_p_kw.columns)
        return p, self.load_q_kvar.copy()

    def deviations(self, pct: float | None = None) -> dict[str, pd.DataFrame]:
        """Box half-widths xi (hour x bus, kW) of conventional load, PV and wind, scaled by ``pct`` %.

        ``uncertainty.xi_source: percent`` (paper): ``xi = pct % of the forecast``. ``data``: ``pct`` % of the
        data box (100 = the box itself): load ``xi_t = q_cov(|load error_t|) x forecast_t`` and PV
        ``xi_t = min(q_cov(|PV error_t|) x kWp, forecast_t)`` from the day-ahead forecast errors of the training
        days (:func:`data_box`); wind (no real wind data) ``wind_perturbation_pct`` % of its forecast."""
        u = self.cfg.uncertainty
        pct = u.perturbation_pct if pct is None else pct
        frac = pct / 100.0
        if u.xi_source == "percent":
            return {k: frac * f.abs() for k, f in
                    (("load", self.load_p_kw), ("pv", self.pv_kw), ("wind", self.wind_kw))}
        xi = self.data_box()
        load = self.load_p_kw.abs().mul(xi["load_rel"].to_numpy(), axis=0)
        pv = pd.DataFrame(np.minimum(np.outer(xi["pv_per_kwp"].to_numpy(), self.pv_kwp_by_bus()),
                                     self.pv_kw.to_numpy()), index=self.pv_kw.index, columns=self.pv_kw.columns)
        wind = (u.wind_perturbation_pct / 100.0) * self.wind_kw.abs()
        return {"load": frac * load, "pv": frac * pv, "wind": frac * wind}

    def pv_kwp_by_bus(self) -> np.ndarray:
        """Installed PV (kWp) per feeder bus, in ``feeder.bus_ids`` order."""
        bpos = {b: i for i, b in enumerate(self.feeder.bus_ids)}
        kwp = np.zeros(len(bpos))
        for key, v in self.cfg.feeder.pv_kwp.items():
            kwp[bpos[_bus_of(key, self.station_bus, self.feeder, "pv_kwp")]] += float(v)
        return kwp

    def data_box(self) -> pd.DataFrame:
        """Per hour: ``load_rel`` and ``pv_per_kwp`` half-widths at ``uncertainty.coverage`` (training days)."""
        if "data_box" not in self.info:
            if self.train_days is None or len(self.train_days) == 0:
                raise TariffConfigError("parameter 'tariff.uncertainty.xi_source' is data but there are no training "
                                        "days with forecast errors (tariff.out_of_sample.forecast_days_before)")
            self.info["data_box"] = data_box(self.load_error_rel.loc[self.train_days],
                                             self.pv_error_per_kwp.loc[self.train_days], self.cfg.uncertainty.coverage)
        return self.info["data_box"]


def data_box(load_err: pd.DataFrame, pv_err: pd.DataFrame, coverage: float) -> pd.DataFrame:
    """Box half-widths per hour = the ``coverage`` quantile of the absolute day-ahead forecast errors
    (``method='higher'``: an observed error, so at least ``coverage`` of the training errors lie inside)."""
    q = {k: np.quantile(np.abs(e.to_numpy()), coverage, axis=0, method="higher")
         for k, e in (("load_rel", load_err), ("pv_per_kwp", pv_err))}
    return pd.DataFrame(q, index=pd.Index(range(load_err.shape[1]), name="step"))


def radial_sensitivities(net: Network) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """Lossless LinDistFlow sensitivities of a radial feeder: ``A[b, l] = 1`` if branch ``l`` is on the path
    root -> ``b`` (a net load at ``b`` flows through every such branch), and the ``w = V^2`` drop per kW /
    kVAr of net load ``R[b, k] = 2 sum_{l on both paths} r_l / S_base`` (``X`` likewise with ``x``).
    Returns ``(bus position, A, R, X)``."""
    bpos = {b: i for i, b in enumerate(net.bus_ids)}
    br = net.branches
    a = net.path_incidence()
    r = (a * (2.0 * br["r_pu"].to_numpy() / net.s_base_kva)) @ a.T
    x = (a * (2.0 * br["x_pu"].to_numpy() / net.s_base_kva)) @ a.T
    return bpos, a, r, x


# ---------------------------------------------------------------------------------------- transport


def traffic_network(cfg: TariffConfig) -> TrafficNetwork:
    """Two-way links from ``tariff.transport.links``; ``length_km = free_flow_h x speed``."""
    rows = []
    for frm, to, cap, tff, *src in cfg.transport.links:
        for a, b in ((frm, to), (to, frm)):
            rows.append({"init_node": str(a), "term_node": str(b), "capacity_veh_per_h": float(cap),
                         "free_flow_time_h": float(tff), "length_km": float(tff) * cfg.transport.speed_km_per_h,
                         "source_line": src[0] if src else "paper"})
    links = pd.DataFrame(rows)
    nodes = sorted(set(links["init_node"]) | set(links["term_node"]), key=lambda s: (s[0], int(s[1:]) if s[1:].isdigit() else 0))
    return TrafficNetwork.from_links(links, nodes=nodes, source="parameters_tariff.yml:tariff.transport.links")


def od_demands(cfg: TariffConfig, nodes) -> list[OdDemand]:
    prof = np.asarray(cfg.transport.departure_profile, dtype=float)
    prof = prof / prof.sum()
    out = []
    known = set(nodes)
    for i, od in enumerate(cfg.transport.od):
        for role in ("origin", "destination"):
            if str(od[role]) not in known:
                raise TariffConfigError(f"parameter 'tariff.transport.od[{i}].{role}' ({od['name']}): unknown node "
                                        f"{od[role]!r}; known: {sorted(known)}")
        evs = float(od["evs"]) * cfg.transport.demand_scale
        soc0 = float(od["initial_soc_aggregate"]) / float(od["evs"]) if float(od["evs"]) > 0 else 0.5
        out.append(OdDemand(str(od["name"]), str(od["origin"]), str(od["destination"]), tuple(evs * prof), soc0))
    return out


# ------------------------------------------------------------------------------------------- feeder


def feeder_with_stations(cfg: TariffConfig, base: Network) -> tuple[Network, dict, dict, dict]:
    """case17me (loads x ``load_scale``) + one bus per station hung off its feeder bus by a service line."""
    buses = base.buses.copy()
    buses[["p_load_kw", "q_load_kvar"]] *= cfg.feeder.load_scale
    br = base.branches.copy()
    nxt = int(buses.index.max()) + 1
    station_bus, station_line, limits = {}, {}, {}
    new_br = []
    for k, (name, st) in enumerate(cfg.stations.items()):
        if int(st.feeder_bus) not in buses.index:
            raise TariffConfigError(f"parameter 'tariff.stations.{name}.feeder_bus': bus {st.feeder_bus} is not in "
                                    f"{cfg.feeder.case_path} (buses {buses.index.min()}..{buses.index.max()})")
        b = nxt + k
        station_bus[name] = b
        buses.loc[b] = {"p_load_kw": 0.0, "q_load_kvar": 0.0, "v_min_pu": buses["v_min_pu"].iloc[1],
                        "v_max_pu": buses["v_max_pu"].iloc[1]}
        rating = np.nan
        if st.line_limit_kw is not None:
            limits[name] = float(st.line_limit_kw)
            rating = float(st.line_limit_kw) / math.cos(math.pi / THERMAL_SIDES)
        new_br.append({"from_bus": int(st.feeder_bus), "to_bus": b, "r_pu": cfg.feeder.station_line_r_pu,
                       "x_pu": cfg.feeder.station_line_x_pu, "rating_kva": rating})
    branches = pd.concat([br[["from_bus", "to_bus", "r_pu", "x_pu", "rating_kva"]], pd.DataFrame(new_br)],
                         ignore_index=True)
    branches["rating_kva"] = branches["rating_kva"].where(branches.index >= len(br), np.nan)
    for k, name in enumerate(cfg.stations):
        station_line[name] = len(br) + k
    net = make_network(f"{base.name}+stations", base.base_kv, base.base_mva, buses, branches, base.slack_bus,
                       source=cfg.feeder.case_path)
    return net, station_bus, station_line, limits


def _bus_of(key, station_bus: dict, net: Network, what: str) -> int:
    if str(key) in station_bus:
        return station_bus[str(key)]
    try:
        b = int(key)
    except (TypeError, ValueError) as exc:
        raise TariffConfigError(f"parameter 'tariff.feeder.{what}': {key!r} is neither a station nor a bus id") from exc
    if b not in net.buses.index:
        raise TariffConfigError(f"parameter 'tariff.feeder.{what}': bus {b} is not in the feeder")
    return b


# ------------------------------------------------------------------------------------------ profiles


def _hourly_by_day(ts: pd.Series, values: pd.Series, n_steps: int) -> pd.DataFrame:
    local = pd.DatetimeIndex(ts)
    df = pd.DataFrame({"date": local.date, "hour": local.hour, "v": values.to_numpy(float)})
    wide = df.groupby(["date", "hour"])["v"].mean().unstack("hour")
    wide = wide.reindex(columns=range(24)).dropna()  # incomplete days (DST change, gaps) are dropped
    if n_steps != 24:
        raise TariffConfigError("the real-day profiles need an hourly step (tariff.dt_h = 1, horizon_h = 24)")
    wide.index = pd.to_datetime(wide.index)
    return wide


def real_day_profiles(cfg: TariffConfig, load_paths, weather_paths) -> dict:
    """Hourly NYISO load and NSRDB PV-per-kWp by day; forecast = mean of the days before the cut-off."""
    oos = cfg.out_of_sample
    load = parse_nyiso_5min([str(p) for p in load_paths])
    lw = _hourly_by_day(load["timestamp_local"], load["load_mw"], cfg.n_steps)
    wpaths = [p for p in weather_paths if f"_{oos.pv_year}" in Path(str(p)).name]
    if not wpaths:
        raise TariffConfigError(f"parameter 'tariff.out_of_sample.pv_year': no NSRDB file of {oos.pv_year} among "
                                f"{[Path(str(p)).name for p in weather_paths]}")
    wx = parse_nsrdb_psm3(wpaths)
    pw = _hourly_by_day(wx["timestamp_local"], wx["ghi_w_per_m2"], cfg.n_steps) / 1000.0 * cfg.feeder.pv_performance_ratio
    months = set(int(m) for m in oos.months)
    days = lw.index.intersection(pw.index)
    days = days[days.month.isin(list(months))]
    if len(days) < 4:
        raise TariffConfigError(f"parameter 'tariff.out_of_sample.months': only {len(days)} days with both load and PV")
    cut = pd.Timestamp(oos.forecast_days_before)
    fc_days, ho_days = days[days < cut], days[days >= cut]
    if len(fc_days) == 0 or len(ho_days) == 0:
        raise TariffConfigError(f"parameter 'tariff.out_of_sample.forecast_days_before' ({oos.forecast_days_before}) "
                                "leaves no forecast or no held-out day")
    load_fc = lw.loc[fc_days].mean()
    pv_fc = pw.loc[fc_days].mean()
    mult = lw.loc[fc_days].mean() / load_fc.max()
    load_err, pv_err = forecast_errors(lw, pw, days)
    return {
        "load_profile": mult.to_numpy(),
        "pv_per_kwp": pv_fc.to_numpy(),
        "heldout_load_multiplier": lw.loc[ho_days].div(load_fc, axis=1),
        "heldout_pv_per_kwp": pw.loc[ho_days],
        "load_error_rel": load_err,
        "pv_error_per_kwp": pv_err,
        "train_days": load_err.index[load_err.index < cut],
        "n_forecast_days": int(len(fc_days)),
        "n_heldout_days": int(len(ho_days)),
    }


def forecast_errors(load_by_day: pd.DataFrame, pv_by_day: pd.DataFrame, days: pd.DatetimeIndex
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Day-ahead forecast errors of ``days`` (date x hour) from two naive public-data forecasts:
    load: weekly persistence (same hour, 7 days before: keeps the weekday/weekend pattern), relative error
    ``actual / forecast - 1``; PV: persistence (same hour of the previous day), error in kW per kWp.
    Days whose reference day is missing are dropped (listed nowhere else: the count is in ``system.info``)."""
    lag_l = load_by_day.reindex(days - pd.Timedelta(days=7)).to_numpy()
    lag_p = pv_by_day.reindex(days - pd.Timedelta(days=1)).to_numpy()
    le = pd.DataFrame(load_by_day.loc[days].to_numpy() / lag_l - 1.0, index=days, columns=load_by_day.columns)
    pe = pd.DataFrame(pv_by_day.loc[days].to_numpy() - lag_p, index=days, columns=pv_by_day.columns)
    ok = le.notna().all(axis=1) & pe.notna().all(axis=1)
    return le[ok], pe[ok]


def energy_price(cfg: TariffConfig, price_paths) -> np.ndarray:
    df = parse_nyiso_zonal_csv([str(p) for p in price_paths], market="DAM")
    z = select_zone(df, cfg.energy_price.zone)
    hours = pd.DatetimeIndex(z["timestamp_local"]).hour
    by_hour = pd.Series(z["lbmp_usd_per_mwh"].to_numpy(float), index=hours).groupby(level=0).mean()
    by_hour = by_hour.reindex(range(24))
    if by_hour.isna().any():
        raise TariffConfigError(f"energy price file: zone {cfg.energy_price.zone} lacks hours "
                                f"{by_hour.index[by_hour.isna()].tolist()}")
    return by_hour.to_numpy() / 1000.0 + cfg.energy_price.adder_usd_per_kwh


def build_system(cfg: TariffConfig, load_paths, weather_paths, price_paths) -> TariffSystem:
    """Parse the raw files (NYISO load, NSRDB weather, NYISO DAM prices) and assemble the system."""
    prof = real_day_profiles(cfg, load_paths, weather_paths)
    return assemble_system(cfg, load_matpower_case(cfg.feeder.case_path), prof, energy_price(cfg, price_paths))


def assemble_system(cfg: TariffConfig, base: Network, prof: dict, price_usd_per_kwh: np.ndarray) -> TariffSystem:
    """The coupled system from a base feeder, hourly profiles (``load_profile``, ``pv_per_kwp``, held-out
    frames) and the energy price; validates names, buses and the O-D pairs."""
    traffic = traffic_network(cfg)
    demands = od_demands(cfg, traffic.nodes)
    known = set(traffic.nodes)
    for name in cfg.stations:
        if name not in known:
            raise TariffConfigError(f"parameter 'tariff.stations.{name}': {name!r} is not a node of the traffic network")
    stations = {n: Station(n, float(s.plugs)) for n, s in cfg.stations.items()}
    f = cfg.fleet
    fleet = EvFleet(f.battery_kwh, f.soc_min, f.soc_max, f.consumption_kwh_per_km, f.charge_kw, f.discharge_kw,
                    f.efficiency)
    net, station_bus, station_line, limits = feeder_with_stations(cfg, base)
    T = list(range(cfg.n_steps))
    m = np.asarray(prof["load_profile"], float) if cfg.feeder.load_profile == "nyiso" else np.ones(cfg.n_steps)
    price = np.asarray(price_usd_per_kwh, dtype=float)
    if price.shape != (cfg.n_steps,):
        raise TariffConfigError(f"energy price has {price.size} hourly values, expected {cfg.n_steps}")
    buses = net.bus_ids
    p = np.outer(m, net.buses["p_load_kw"].to_numpy())
    q = np.outer(m, net.buses["q_load_kvar"].to_numpy())
    bpos = {b: i for i, b in enumerate(buses)}
    for name in cfg.stations:
        p[:, bpos[station_bus[name]]] += cfg.feeder.station_aux_load_kw * m
    pv = np.zeros_like(p)
    for key, kwp in cfg.feeder.pv_kwp.items():
        pv[:, bpos[_bus_of(key, station_bus, net, 'pv_kwp')]] += float(kwp) * np.asarray(prof["pv_per_kwp"], float)
    wind = np.zeros_like(p)
    avail = np.asarray(cfg.feeder.wind_availability, dtype=float)
    for key, kw in cfg.feeder.wind_kw.items():
        wind[:, bpos[_bus_of(key, station_bus, net, 'wind_kw')]] += float(kw) * avail
    idx = pd.Index(T, name="step")

    def frame(a):
        return pd.DataFrame(a, index=idx, columns=buses)

    return TariffSystem(
        cfg=cfg, traffic=traffic, demands=demands, stations=stations, fleet=fleet, feeder=net,
        station_bus=station_bus, station_line=station_line, line_limit_kw=limits,
        load_p_kw=frame(p), load_q_kvar=frame(q), pv_kw=frame(pv), wind_kw=frame(wind),
        price_usd_per_kwh=price,
        heldout_load_multiplier=prof["heldout_load_multiplier"], heldout_pv_per_kwp=prof["heldout_pv_per_kwp"],
        load_error_rel=prof.get("load_error_rel"), pv_error_per_kwp=prof.get("pv_error_per_kwp"),
        train_days=prof.get("train_days"),
        info={"n_forecast_days": prof.get("n_forecast_days", 0), "n_heldout_days": prof.get("n_heldout_days", 0),
              "n_links": int(traffic.n_links), "n_nodes": int(traffic.n_nodes),
              "evs_total": float(sum(sum(d.departures) for d in demands))},
    )

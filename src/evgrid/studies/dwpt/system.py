"""The DWPT study's system (paper 002, II-A/B): the feeder, one day of inputs, the in-motion EV load, PV
and battery sizing, the DGs and the study cases, assembled into a :class:`DwptDay` at the model step.

Units: powers kW, energies kWh, prices $/MWh, irradiance W/m2; ``step_h`` = model step in hours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evgrid.der.battery import BatteryParams, size_battery
from evgrid.der.pv import pv_area_for_energy_m2, pv_power_kw
from evgrid.ev.inmotion import inmotion_load_profile
from evgrid.grid.matpower import load_matpower_case
from evgrid.grid.network import Network
from evgrid.optim.lindistflow import loads_from_profile
from evgrid.timeseries import block_mean

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DGUnit:
    """A dispatchable distributed generator (paper Table I)."""

    name: str
    bus: int
    p_max_kw: float
    p_min_kw: float
    q_max_kvar: float
    q_min_kvar: float
    cost_usd_per_mwh: float

    def __post_init__(self) -> None:
        if not (0 <= self.p_min_kw <= self.p_max_kw and self.q_min_kvar <= self.q_max_kvar):
            raise ValueError(f"DG {self.name}: need 0 <= p_min_kw <= p_max_kw and q_min_kvar <= q_max_kvar, got {self}")


@dataclass(frozen=True)
class DwptCase:
    """One study case: which of EV / PV / battery are present and which lines are out."""

    name: str
    ev: bool = True
    pv: bool = False
    battery: bool = False
    outages: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.battery and not self.pv:
            raise ValueError(f"case {self.name}: the battery charges only from PV, so battery=True needs pv=True")


@dataclass(frozen=True)
class MarketParams:
    """Upstream trade, shedding and commitment settings (paper eq. 16-20)."""

    p_buy_max_kw: float = 5000.0
    p_sell_max_kw: float = 5000.0
    voll_usd_per_mwh: float = 200.0
    shed_max_frac: float = 0.5
    emergency_shed_penalty_usd_per_mwh: float = 2000.0
    dg_commitment: bool = False
    ev_power_factor: float = 1.0


@dataclass
class DwptDay:
    """Time series of one day at the model step: loads (step x bus), EV, PV availability, price."""

    step_h: float
    load_p_kw: pd.DataFrame
    load_q_kvar: pd.DataFrame
    ev_kw: np.ndarray
    pv_kw: np.ndarray
    price_usd_per_mwh: np.ndarray
    der_bus: int
    battery: BatteryParams | None = None

    def __post_init__(self) -> None:
        n = len(self.load_p_kw)
        for name in ("ev_kw", "pv_kw", "price_usd_per_mwh"):
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.shape != (n,):
                raise ValueError(f"DwptDay.{name} needs {n} values (one per step), got shape {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"DwptDay.{name} has non-finite values at steps {np.flatnonzero(~np.isfinite(arr)).tolist()}")
            setattr(self, name, arr)
        if not self.load_q_kvar.shape == self.load_p_kw.shape:
            raise ValueError("DwptDay.load_q_kvar must have the shape of load_p_kw")
        if self.der_bus not in self.load_p_kw.columns:
            raise ValueError(f"DwptDay.der_bus {self.der_bus} is not a bus of the load table")


# --------------------------------------------------------------------------------------- feeder
def load_network(cfg) -> Network:
    """The feeder (MATPOWER case, ``dwpt.network``) with optional default branch ratings; made once."""
    net = load_matpower_case(cfg.path)
    if cfg.default_rating_kva:
        net = net.with_ratings(default_kva=cfg.default_rating_kva)
    return net


# --------------------------------------------------------------------------------------- inputs
def day_channel(df: pd.DataFrame, date: str, channel: str, dataset: str) -> np.ndarray:
    """One day's ``<channel>_tNNN`` row of a wide daily feature matrix; clear error if absent."""
    cols = sorted(c for c in df.columns if c.startswith(f"{channel}_t"))
    if not cols:
        raise ValueError(f"{dataset}: no columns '{channel}_t000...' (has {list(df.columns)[:8]}...)")
    day = pd.Timestamp(date)
    rows = df[pd.to_datetime(df["date"]) == day]
    if rows.empty:
        dates = pd.to_datetime(df["date"])
        raise ValueError(f"{dataset}: no complete day {day.date()} (available {dates.min().date()} .. "
                         f"{dates.max().date()}, {len(dates)} days); set params dwpt.dates")
    values = rows.iloc[0][cols].to_numpy(float)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{dataset}: day {day.date()} has missing '{channel}' steps")
    return values


def day_prices(prices: pd.DataFrame, date: str, market: str, zone: str, n_steps: int) -> np.ndarray:
    """Hourly LBMP of one zone, market and local day from ``prices_primary``, held over the model steps."""
    from evgrid.data.prices import zone_key

    local = pd.to_datetime(prices["timestamp_local"])
    if getattr(local.dt, "tz", None) is not None:
        local = local.dt.tz_localize(None)
    sel = prices[(local.dt.normalize() == pd.Timestamp(date)) & (prices["market"] == market)
                 & (prices["zone"].map(zone_key) == zone_key(zone))]
    if len(sel) != 24:
        avail = prices.loc[prices["market"] == market, "zone"].unique().tolist()
        raise ValueError(f"prices_primary: expected 24 hourly {market} prices for zone {zone} on {date}, found "
                         f"{len(sel)} (zones of {market}: {avail[:20]}); set params dwpt.price")
    hourly = sel.sort_values("timestamp_utc")["lbmp_usd_per_mwh"].to_numpy(float)
    if n_steps % 24 == 0:
        return np.repeat(hourly, n_steps // 24)
    return block_mean(hourly, n_steps)


def select_day_inputs(traffic_daily: pd.DataFrame, weather_daily: pd.DataFrame, load_daily: pd.DataFrame,
                      prices_primary: pd.DataFrame, cfg) -> pd.DataFrame:
    """The chosen day of every input at the feature step: flow, GHI, system load and price."""
    d = cfg.dates
    flow = day_channel(traffic_daily, d.traffic, "flow_veh_per_h", "traffic_daily")
    ghi = day_channel(weather_daily, d.weather, "ghi_w_per_m2", "weather_daily")
    load = day_channel(load_daily, d.load, "load_mw", "load_daily")
    n = len(flow)
    if not len(ghi) == len(load) == n:
        raise ValueError(f"daily matrices disagree on steps per day: traffic {n}, weather {len(ghi)}, load {len(load)}")
    pr = cfg.price
    price = day_prices(prices_primary, pr.date, pr.market, pr.zone, n)
    step_h = 24.0 / n
    return pd.DataFrame({"step": np.arange(n), "hour": np.arange(n) * step_h, "flow_veh_per_h": flow,
                         "ghi_w_per_m2": ghi, "load_mw": load, "price_usd_per_mwh": price})


def simulate_ev_load(day_inputs: pd.DataFrame, cfg) -> tuple[pd.DataFrame, pd.DataFrame]:
    """DWPT load at the EV bus from the day's traffic (paper II-A) at the model step; also the simulated fleet.

    With ``ev.band_draws`` > 0, independent re-draws (seeds spawned from ``seed``) give the p05/p50/p95 band.
    """
    ev = cfg.ev
    n_model = cfg.n_model_steps
    flow = day_inputs["flow_veh_per_h"].to_numpy()
    load, fleet = inmotion_load_profile(flow, ev.inmotion, cfg.seed, n_model)
    step_h = 24.0 / n_model
    out = pd.DataFrame({"step": np.arange(n_model), "hour": np.arange(n_model) * step_h, "ev_kw": load,
                        "n_ev_entering": np.histogram(fleet["entry_h"], bins=n_model, range=(0, 24))[0]})
    if ev.band_draws:
        seeds = np.random.SeedSequence(cfg.seed).spawn(ev.band_draws)
        draws = np.array([inmotion_load_profile(flow, ev.inmotion, int(sq.generate_state(1)[0]), n_model)[0]
                          for sq in seeds])
        for q in (5, 50, 95):
            out[f"ev_kw_p{q:02d}"] = np.percentile(draws, q, axis=0)
    log.info("DWPT load: %d EVs, %.1f MWh, peak %.2f MW at hour %d", len(fleet), load.sum() * step_h / 1e3,
             load.max() / 1e3, int(np.argmax(load) * step_h))
    return out, fleet


def size_der(day_inputs: pd.DataFrame, ev_load: pd.DataFrame, pv_cfg, battery_cfg) -> tuple[pd.DataFrame, dict]:
    """PV output (eq. 1) with the area sized to ``energy_ratio`` x the EV's daily energy; battery sizing (II-B)."""
    n_model = len(ev_load)
    step_h = 24.0 / n_model
    ghi = block_mean(day_inputs["ghi_w_per_m2"].to_numpy(), n_model)
    b = battery_cfg
    ev_kwh = float(ev_load["ev_kw"].sum() * step_h)
    area = pv_area_for_energy_m2(ghi, step_h, pv_cfg.efficiency, pv_cfg.energy_ratio * ev_kwh)
    pv = pv_power_kw(ghi, pv_cfg.efficiency, area)
    cap, power = size_battery(pv, ev_load["ev_kw"].to_numpy(), step_h, b.eta_charge, b.soc_min_frac, b.soc_max_frac)
    cap *= b.capacity_scale
    power *= b.power_scale
    sizing = {"pv_area_m2": area, "pv_peak_kw": float(pv.max()), "pv_energy_kwh": float(pv.sum() * step_h),
              "ev_energy_kwh": ev_kwh, "battery_capacity_kwh": cap, "battery_power_kw": power,
              "pv_efficiency": pv_cfg.efficiency}
    profile = pd.DataFrame({"step": ev_load["step"], "hour": ev_load["hour"], "ghi_w_per_m2": ghi, "pv_kw": pv})
    return profile, sizing


def build_day(network: Network, day_inputs: pd.DataFrame, ev_load: pd.DataFrame, der_profile: pd.DataFrame,
              der_sizing: dict, cfg) -> DwptDay:
    """Bus loads = base loads x (NYISO profile / its daily peak) x load_scale; EV, PV, price at model steps."""
    n_model = len(ev_load)
    load = block_mean(day_inputs["load_mw"].to_numpy(), n_model)
    profile = load / load.max() * cfg.load.scale
    p, q = loads_from_profile(network, profile)
    b = cfg.battery
    batt = BatteryParams(capacity_kwh=der_sizing["battery_capacity_kwh"], power_kw=der_sizing["battery_power_kw"],
                         eta_charge=b.eta_charge, eta_discharge=b.eta_discharge, soc_min_frac=b.soc_min_frac,
                         soc_max_frac=b.soc_max_frac, soc_initial_frac=b.soc_initial_frac,
                         end_soc_at_least_initial=b.end_soc_at_least_initial)
    price = block_mean(day_inputs["price_usd_per_mwh"].to_numpy(), n_model)
    return DwptDay(step_h=24.0 / n_model, load_p_kw=p, load_q_kvar=q, ev_kw=ev_load["ev_kw"].to_numpy(),
                   pv_kw=der_profile["pv_kw"].to_numpy(), price_usd_per_mwh=price, der_bus=cfg.ev.bus, battery=batt)

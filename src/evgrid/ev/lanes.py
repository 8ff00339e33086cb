"""Dynamic (in-motion) charging lanes: power demand from traffic flow (paper 000, eqs. 15, 17, 23).

For lane ``l`` at step ``t`` with vehicle flow ``F`` (veh/h, all vehicles on the carriageway section):

* EVs on the lane (Little's law on a segment):  ``N = share_ev * F * length_km / speed_km_per_h``
* congestion level ``rho = F / capacity_veh_per_h``; derating of the lane's deliverable power (eq. 23):
  ``derate = 1 - clip((rho - rho_free) / (rho_max - rho_free), 0, 1)``, i.e. eq. 23's
  ``C = C * (1 - Congestion / MaxCongestion)`` with ``Congestion = max(0, rho - rho_free)`` and
  ``MaxCongestion = rho_max - rho_free``
* per-EV rate cap (eq. 17): every EV on the coil takes at most ``max_rate_per_ev_kw``
* demand seen by the feeder: ``D = min(N * max_rate_per_ev_kw, rating_kw * derate)``

The value of a kWh delivered to a driver follows from the paper's driver saving versus static charging
(``saving_usd_per_km``) and the EV consumption (``consumption_kwh_per_km``): one kWh delivered in motion
replaces ``1 / consumption_kwh_per_km`` km of range that would otherwise be bought at a static charger,
so ``value_usd_per_kwh = saving_usd_per_km / consumption_kwh_per_km``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LaneSet:
    """Static description of the charging lanes (one row per lane)."""

    table: pd.DataFrame  # index lane name; columns bus, length_km, rating_kw, flow_share, speed_km_per_h

    @property
    def names(self) -> list[str]:
        return [str(n) for n in self.table.index]

    @property
    def buses(self) -> np.ndarray:
        return self.table["bus"].to_numpy()

    @property
    def rating_kw(self) -> np.ndarray:
        return self.table["rating_kw"].to_numpy(dtype=float)

    @property
    def length_km(self) -> np.ndarray:
        return self.table["length_km"].to_numpy(dtype=float)


def lanes_from_params(lanes: Iterable[dict], known_buses: Iterable | None = None) -> LaneSet:
    """Build a :class:`LaneSet` from the ``lanes`` parameter list; validate buses and values.

    Each entry needs ``name, bus, length_km, rating_kw``; optional ``flow_share`` (share of the section
    flow that passes over this lane, default 1) and ``speed_km_per_h`` (default 100).
    """
    rows = list(lanes)
    if not rows:
        raise ValueError("parameter 'lanes' is empty: at least one charging lane is needed")
    table = pd.DataFrame(rows)
    for col in ("name", "bus", "length_km", "rating_kw"):
        if col not in table:
            raise ValueError(f"parameter 'lanes': every lane needs key {col!r} (got keys {list(table.columns)})")
    table = table.set_index("name")
    if table.index.duplicated().any():
        raise ValueError(f"parameter 'lanes': duplicate lane names {list(table.index[table.index.duplicated()])}")
    table["flow_share"] = table.get("flow_share", pd.Series(1.0, index=table.index)).fillna(1.0)
    table["speed_km_per_h"] = table.get("speed_km_per_h", pd.Series(100.0, index=table.index)).fillna(100.0)
    for col in ("length_km", "rating_kw", "speed_km_per_h"):
        bad = table.index[~(table[col].astype(float) > 0)]
        if len(bad):
            raise ValueError(f"parameter 'lanes': {col} must be > 0 (lanes {list(bad)})")
    bad = table.index[(table["flow_share"] < 0) | (table["flow_share"] > 1)]
    if len(bad):
        raise ValueError(f"parameter 'lanes': flow_share must be in [0, 1] (lanes {list(bad)})")
    if known_buses is not None:
        known = set(known_buses)
        unknown = table.loc[~table["bus"].isin(known), "bus"]
        if len(unknown):
            raise ValueError(
                f"parameter 'lanes': lanes {list(unknown.index)} are attached to buses {list(unknown)} "
                f"that are not in the network (known buses: {sorted(known)})"
            )
    return LaneSet(table=table)


def lane_demand_kw(
    flow_veh_per_h: np.ndarray,
    lanes: LaneSet,
    ev_share: float,
    max_rate_per_ev_kw: float,
    capacity_veh_per_h: float,
    rho_free: float,
    rho_max: float,
) -> dict[str, np.ndarray]:
    """Lane demand from section flow.

    ``flow_veh_per_h``: (..., T) section flow (any leading scenario axes). Returns arrays shaped
    (..., L, T): ``evs_on_lane``, ``derate``, ``capacity_kw`` (= rating * derate), ``demand_kw``.
    """
    if not 0 <= ev_share <= 1:
        raise ValueError(f"parameter 'ev_share' must be in [0, 1], got {ev_share}")
    if max_rate_per_ev_kw <= 0:
        raise ValueError(f"parameter 'max_rate_per_ev_kw' must be > 0, got {max_rate_per_ev_kw}")
    if not 0 <= rho_free < rho_max:
        raise ValueError(f"parameters need 0 <= congestion rho_free < rho_max, got {rho_free}, {rho_max}")
    flow = np.asarray(flow_veh_per_h, dtype=float)
    if np.any(flow < 0) or not np.all(np.isfinite(flow)):
        raise ValueError("traffic flow_veh_per_h must be finite and >= 0")
    t = lanes.table
    share = t["flow_share"].to_numpy(float)[:, None]
    length = t["length_km"].to_numpy(float)[:, None]
    speed = t["speed_km_per_h"].to_numpy(float)[:, None]
    rating = t["rating_kw"].to_numpy(float)[:, None]
    lane_flow = flow[..., None, :] * share  # (..., L, T)
    evs = ev_share * lane_flow * length / speed
    rho = lane_flow / capacity_veh_per_h
    derate = 1.0 - np.clip((rho - rho_free) / (rho_max - rho_free), 0.0, 1.0)
    capacity = rating * derate
    demand = np.minimum(evs * max_rate_per_ev_kw, capacity)
    return {"evs_on_lane": evs, "derate": derate, "capacity_kw": capacity, "demand_kw": demand,
            "lane_flow_veh_per_h": lane_flow}


def served_value_usd_per_kwh(saving_usd_per_km: float, consumption_kwh_per_km: float) -> float:
    """Driver value of one kWh delivered in motion: saving per km / consumption per km."""
    if consumption_kwh_per_km <= 0:
        raise ValueError(f"parameter 'consumption_kwh_per_km' must be > 0, got {consumption_kwh_per_km}")
    return float(saving_usd_per_km) / float(consumption_kwh_per_km)


def driver_savings_usd_per_km(
    delivered_kwh: float, ev_km: float, saving_usd_per_km: float, consumption_kwh_per_km: float
) -> float:
    """Driver saving per km driven on a lane: range-km delivered per km driven x saving per range-km."""
    if ev_km <= 0:
        return 0.0
    return saving_usd_per_km * delivered_kwh / consumption_kwh_per_km / ev_km


def annualised_cost_per_day(capex_usd: float, rate: float, years: int) -> float:
    """Capital recovery: ``capex * r (1+r)^n / ((1+r)^n - 1) / 365`` (``r = 0`` -> straight line)."""
    if years <= 0:
        raise ValueError(f"parameter 'lifetime_years' must be > 0, got {years}")
    crf = 1.0 / years if rate == 0 else rate * (1 + rate) ** years / ((1 + rate) ** years - 1)
    return capex_usd * crf / 365.0

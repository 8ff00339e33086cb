"""Typed configuration of the planning study (paper 003), parsed once from ``parameters_planning.yml``.

Every section rejects unknown keys and checks units/ranges; errors name the parameter
(``planning.stations[2].bus``, ``planning.upper.budget_usd`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from evgrid.typed_params import ParameterError, build, number


class PlanningConfigError(ParameterError):
    """A planning parameter is missing, unknown or out of range (the message names it)."""


def _build(cls, params: Any, where: str):
    """The shared typed-config builder (:func:`evgrid.typed_params.build`): unknown keys rejected, ``check``."""
    return build(cls, params, where, error=PlanningConfigError)


def _positive(where: str, **values: float) -> None:
    for name, v in values.items():
        number(f"{where}.{name}", v, 0.0, lo_open=True, error=PlanningConfigError)


def _range(where: str, name: str, v: float, lo: float, hi: float) -> None:
    number(f"{where}.{name}", v, lo, hi, error=PlanningConfigError)


@dataclass
class TransportConfig:
    net_path: str
    trips_path: str
    node_path: str | None = None
    time_unit_h: float = 0.01
    length_unit_km: float = 1.0

    def check(self, where: str) -> None:
        _positive(where, time_unit_h=self.time_unit_h, length_unit_km=self.length_unit_km)


@dataclass
class Station:
    name: str
    init_node: int
    term_node: int
    bus: int

    def check(self, where: str) -> None:
        if not str(self.name):
            raise PlanningConfigError(f"{where}.name must be a non-empty string")


@dataclass
class StationConfig:
    units: int = 4
    energy_per_charge_kwh: float = 30.0
    queue_b: float = 1.0
    queue_power: float = 4.0
    service_fee_usd_per_kwh: float = 0.0

    def check(self, where: str) -> None:
        _positive(where, units=self.units, energy_per_charge_kwh=self.energy_per_charge_kwh)
        _range(where, "queue_b", self.queue_b, 0.0, 100.0)
        _range(where, "queue_power", self.queue_power, 0.0, 10.0)
        _range(where, "service_fee_usd_per_kwh", self.service_fee_usd_per_kwh, 0.0, 10.0)


@dataclass
class TrafficConfig:
    ev_share: float = 0.2
    charging_trip_share: float = 0.003
    vot_icev_usd_per_h: float = 15.0
    vot_ev_usd_per_h: float = 15.0
    icev_fuel_usd_per_km: float = 0.08
    ev_energy_kwh_per_km: float = 0.18
    ev_home_price_usd_per_kwh: float = 0.09
    rel_gap: float = 1e-4
    reference_rel_gap: float = 1e-5
    final_rel_gap: float = 1e-5
    max_iter: int = 400
    algorithm: str = "bfw"

    def check(self, where: str) -> None:
        _range(where, "ev_share", self.ev_share, 0.0, 1.0)
        _range(where, "charging_trip_share", self.charging_trip_share, 0.0, 1.0)
        _positive(where, vot_icev_usd_per_h=self.vot_icev_usd_per_h, vot_ev_usd_per_h=self.vot_ev_usd_per_h,
                  rel_gap=self.rel_gap, reference_rel_gap=self.reference_rel_gap, final_rel_gap=self.final_rel_gap,
                  max_iter=self.max_iter)
        _range(where, "icev_fuel_usd_per_km", self.icev_fuel_usd_per_km, 0.0, 10.0)
        _range(where, "ev_energy_kwh_per_km", self.ev_energy_kwh_per_km, 0.0, 5.0)
        _range(where, "ev_home_price_usd_per_kwh", self.ev_home_price_usd_per_kwh, 0.0, 10.0)
        if self.algorithm not in ("fw", "cfw", "bfw"):
            raise PlanningConfigError(f"{where}.algorithm must be fw, cfw or bfw, got {self.algorithm!r}")


@dataclass
class TouConfig:
    rates_usd_per_kwh: dict
    hours: dict

    def check(self, where: str) -> None:
        if set(self.rates_usd_per_kwh) != set(self.hours):
            raise PlanningConfigError(f"{where}: rates_usd_per_kwh and hours must name the same tiers")
        seen: list[int] = []
        for tier, hrs in self.hours.items():
            _range(where, f"rates_usd_per_kwh.{tier}", self.rates_usd_per_kwh[tier], 0.0, 10.0)
            seen += [int(h) for h in hrs]
        if sorted(seen) != list(range(24)):
            raise PlanningConfigError(f"{where}.hours must cover each hour 0..23 exactly once, got {sorted(seen)}")

    def rate_of_hour(self) -> dict[int, float]:
        return {int(h): float(self.rates_usd_per_kwh[t]) for t, hrs in self.hours.items() for h in hrs}


@dataclass
class GridConfig:
    path: str
    v_slack_pu: float = 1.0
    load_scale: float = 1.0

    def check(self, where: str) -> None:
        _range(where, "v_slack_pu", self.v_slack_pu, 0.9, 1.1)
        _positive(where, load_scale=self.load_scale)


@dataclass
class FixedPointConfig:
    max_iter: int = 8
    tol_usd_per_mwh: float = 0.5
    damping: float = 0.7

    def check(self, where: str) -> None:
        _positive(where, max_iter=self.max_iter, tol_usd_per_mwh=self.tol_usd_per_mwh)
        _range(where, "damping", self.damping, 0.01, 1.0)


@dataclass
class InvestmentConfig:
    unit_fixed_usd: float = 20000.0
    unit_usd_per_kw: float = 400.0
    discount_rate: float = 0.08
    lifetime_years: int = 10

    def check(self, where: str) -> None:
        _range(where, "unit_fixed_usd", self.unit_fixed_usd, 0.0, 1e9)
        _range(where, "unit_usd_per_kw", self.unit_usd_per_kw, 0.0, 1e6)
        _range(where, "discount_rate", self.discount_rate, 0.0, 1.0)
        _positive(where, lifetime_years=self.lifetime_years)

    @property
    def crf(self) -> float:
        """Capital recovery factor ``r (1+r)^n / ((1+r)^n - 1)`` (1/n when r = 0)."""
        r, n = self.discount_rate, self.lifetime_years
        return 1.0 / n if r == 0 else r * (1 + r) ** n / ((1 + r) ** n - 1)


@dataclass
class UpperConfig:
    p_min_kw: float = 120.0
    p_max_kw: float = 350.0
    budget_usd: float = 6.0e6
    n_evaluations: int = 10
    n_initial: int = 5
    n_candidates: int = 2000
    surrogate: str = "gp"
    revenue_penalty_usd: float = 1.0e5
    batch_size: int = 2

    def check(self, where: str) -> None:
        _positive(where, p_min_kw=self.p_min_kw, budget_usd=self.budget_usd, n_evaluations=self.n_evaluations,
                  n_initial=self.n_initial, n_candidates=self.n_candidates, batch_size=self.batch_size)
        if self.p_max_kw < self.p_min_kw:
            raise PlanningConfigError(f"{where}.p_max_kw ({self.p_max_kw}) must be >= p_min_kw ({self.p_min_kw})")
        if self.n_initial > self.n_evaluations:
            raise PlanningConfigError(f"{where}.n_initial must be <= n_evaluations")
        if self.surrogate not in ("gp", "rbf"):
            raise PlanningConfigError(f"{where}.surrogate must be 'gp' or 'rbf', got {self.surrogate!r}")


@dataclass
class V2GConfig:
    availability: float = 0.5
    efficiency: float = 0.92
    degradation_usd_per_kwh: float = 0.05

    def check(self, where: str) -> None:
        _range(where, "availability", self.availability, 0.0, 1.0)
        _range(where, "efficiency", self.efficiency, 0.5, 1.0)
        _range(where, "degradation_usd_per_kwh", self.degradation_usd_per_kwh, 0.0, 10.0)


@dataclass
class PlanningConfig:
    seed: int
    transport: TransportConfig
    stations: list[Station]
    station: StationConfig
    traffic: TrafficConfig
    periods: dict
    tou: TouConfig
    grid: GridConfig
    fixed_point: FixedPointConfig
    investment: InvestmentConfig
    upper: UpperConfig
    ev_share_sweep: list = field(default_factory=list)
    v2g: V2GConfig = field(default_factory=V2GConfig)

    @classmethod
    def from_params(cls, params: dict) -> PlanningConfig:
        w = "planning"
        if not isinstance(params, dict):
            raise PlanningConfigError(f"{w}: expected a mapping")
        known = {f.name for f in fields(cls)}
        unknown = set(params) - known - {"n_jobs"}
        if unknown:
            raise PlanningConfigError(f"unknown parameters {sorted(f'{w}.{k}' for k in unknown)}; known: {sorted(known)}")
        missing = known - set(params) - {"ev_share_sweep", "v2g"}
        if missing:
            raise PlanningConfigError(f"missing parameters {sorted(f'{w}.{k}' for k in missing)}")
        stations = [_build(Station, s, f"{w}.stations[{i}]") for i, s in enumerate(params["stations"])]
        names = [s.name for s in stations]
        if len(set(names)) != len(names) or not stations:
            raise PlanningConfigError(f"{w}.stations: need at least one station and unique names, got {names}")
        raw = params["periods"]  # a list (not a mapping) so that a conf/paper override replaces it whole
        if not isinstance(raw, list) or not raw or not all(isinstance(r, dict) and set(r) == {"name", "hours"} for r in raw):
            raise PlanningConfigError(f"{w}.periods: expected a list of {{name: ..., hours: [...]}} entries")
        periods = {str(r["name"]): list(r["hours"]) for r in raw}
        if len(periods) != len(raw):
            raise PlanningConfigError(f"{w}.periods: period names must be unique")
        hours = sorted(int(h) for hrs in periods.values() for h in hrs)
        if len(hours) != len(set(hours)) or any(not 0 <= h <= 23 for h in hours):
            raise PlanningConfigError(f"{w}.periods: hours must be distinct values in 0..23, got {hours}")
        sweep = [float(s) for s in params.get("ev_share_sweep", [])]
        for s in sweep:
            _range(w, "ev_share_sweep[]", s, 0.0, 1.0)
        if "n_jobs" in params:
            raise PlanningConfigError(f"{w}.n_jobs is gone: evaluations run on evgrid.compute (compute.n_workers); "
                                      f"the surrogate's batch is {w}.upper.batch_size")
        return cls(
            seed=int(params["seed"]),
            transport=_build(TransportConfig, params["transport"], f"{w}.transport"),
            stations=stations,
            station=_build(StationConfig, params["station"], f"{w}.station"),
            traffic=_build(TrafficConfig, params["traffic"], f"{w}.traffic"),
            periods={str(k): [int(h) for h in v] for k, v in periods.items()},
            tou=_build(TouConfig, params["tou"], f"{w}.tou"),
            grid=_build(GridConfig, params["grid"], f"{w}.grid"),
            fixed_point=_build(FixedPointConfig, params["fixed_point"], f"{w}.fixed_point"),
            investment=_build(InvestmentConfig, params["investment"], f"{w}.investment"),
            upper=_build(UpperConfig, params["upper"], f"{w}.upper"),
            ev_share_sweep=sweep,
            v2g=_build(V2GConfig, params.get("v2g", {}), f"{w}.v2g"),
        )

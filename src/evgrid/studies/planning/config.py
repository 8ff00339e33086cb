"""Typed configuration of the planning study (paper 003), parsed once from ``parameters_planning.yml``.

:class:`PlanningParams` mirrors the YAML block: frozen dataclasses built by :func:`evgrid.typed_params.build`,
each with the ranges and rules of its keys in ``check``; :meth:`PlanningConfig.from_params` parses it and raises
one :class:`PlanningConfigError` (a :class:`~evgrid.runtime.validation.ConfigError`) listing every problem by
its dotted path, then assembles the study's view of the chosen case. Defaults live only in the YAML: no field
has one. ``case`` selects one block of ``cases`` (``ring``: the paper's kind of case, built by
:mod:`evgrid.transport.ring`; ``sioux_falls``: the TNTP network); both blocks are checked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from evgrid.runtime.validation import ConfigError, Problems
from evgrid.typed_params import build_into


class PlanningConfigError(ConfigError):
    """A planning parameter is missing, unknown or out of range, or an input is inconsistent with the data
    (unknown link or bus, infeasible budget...); the message names the parameter."""


class _Ranged:
    """``RANGES``: field -> (lo, hi) (None = open); a list field is checked entry by entry (``name[i]``)."""

    RANGES: ClassVar[dict[str, tuple[float | None, float | None]]] = {}

    def check(self, p: Problems) -> None:
        for name, (lo, hi) in self.RANGES.items():
            value = getattr(self, name)
            for i, v in enumerate(value) if isinstance(value, tuple) else [(None, value)]:
                p.in_range(name if i is None else f"{name}[{i}]", v, lo, hi)


def _text(p: Problems, name: str, value: str, choices: tuple[str, ...] | None = None) -> None:
    if not value:
        p.add(name, f"expected a non-empty string, got {value!r}")
    elif choices is not None:
        p.choice(name, value, choices)


def _unique(p: Problems, name: str, names: list, what: str) -> None:
    if len(set(names)) != len(names):
        p.add(name, f"{what} names must be unique, got {names}")


# --------------------------------------------------------------------------- the YAML block
@dataclass(frozen=True)
class RingNetwork(_Ranged):
    """Arguments of :func:`evgrid.transport.ring.build_ring_case`."""

    n_ring: int
    radius_km: float
    ring_capacity_veh_per_h: float
    ring_speed_kmh: float
    spoke_every: int
    spoke_capacity_veh_per_h: float
    spoke_speed_kmh: float
    bpr_b: float
    bpr_power: float
    peak_trips_veh_per_h: float
    cbd_weight: float
    decay_km: float
    RANGES = {"n_ring": (3, 200), "radius_km": (0.1, 100), "ring_capacity_veh_per_h": (1, 1e5),
              "ring_speed_kmh": (1, 200), "spoke_every": (1, 200), "spoke_capacity_veh_per_h": (1, 1e5),
              "spoke_speed_kmh": (1, 200), "bpr_b": (0, 10), "bpr_power": (0, 10),
              "peak_trips_veh_per_h": (1, 1e7), "cbd_weight": (0, 1e3), "decay_km": (0.01, 1e4)}


@dataclass(frozen=True)
class TntpNetwork(_Ranged):
    """TNTP files of the Sioux Falls network and their units."""

    net_path: str
    trips_path: str
    node_path: str
    time_unit_h: float
    length_unit_km: float
    RANGES = {"time_unit_h": (1e-6, 10), "length_unit_km": (1e-6, 10)}

    def check(self, p: Problems) -> None:
        for name in ("net_path", "trips_path", "node_path"):
            _text(p, name, getattr(self, name))
        super().check(p)


@dataclass(frozen=True)
class Station:
    name: str
    init_node: int
    term_node: int
    bus: int

    def check(self, p: Problems) -> None:
        _text(p, "name", self.name)
        p.in_range("bus", self.bus, 1)


@dataclass(frozen=True)
class _Case(_Ranged):
    """What every case block gives besides its network: stations (``init_node -> term_node`` links on the road
    network, feeder ``bus``), EV shares and the OPF voltage floor."""

    stations: tuple[Station, ...]
    ev_share: float
    charging_trip_share: float
    v_min_pu: float
    RANGES = {"ev_share": (0, 1), "charging_trip_share": (0, 1), "v_min_pu": (0.5, 1.0)}

    def check(self, p: Problems) -> None:
        if not self.stations:
            p.add("stations", "expected a non-empty list of entries with keys ['bus', 'init_node', 'name', "
                              "'term_node'], got []")
        _unique(p, "stations", [s.name for s in self.stations], "station")
        super().check(p)


@dataclass(frozen=True)
class RingCase(_Case):
    network: RingNetwork


@dataclass(frozen=True)
class SiouxFallsCase(_Case):
    network: TntpNetwork


@dataclass(frozen=True)
class Cases:
    ring: RingCase
    sioux_falls: SiouxFallsCase


@dataclass(frozen=True)
class TrafficParams(_Ranged):
    """The ``traffic`` block (the case gives ``ev_share`` and ``charging_trip_share``; see TrafficConfig)."""

    vot_icev_usd_per_h: float
    vot_ev_usd_per_h: float
    icev_fuel_usd_per_km: float
    ev_energy_kwh_per_km: float
    ev_home_price_usd_per_kwh: float
    rel_gap: float
    reference_rel_gap: float
    final_rel_gap: float
    max_iter: int
    algorithm: str
    RANGES = {"vot_icev_usd_per_h": (0.01, 1000), "vot_ev_usd_per_h": (0.01, 1000), "icev_fuel_usd_per_km": (0, 10),
              "ev_energy_kwh_per_km": (0, 5), "ev_home_price_usd_per_kwh": (0, 10), "rel_gap": (1e-12, 0.1),
              "reference_rel_gap": (1e-12, 0.1), "final_rel_gap": (1e-12, 0.1), "max_iter": (1, 10**6)}

    def check(self, p: Problems) -> None:
        super().check(p)
        _text(p, "algorithm", self.algorithm, ("fw", "cfw", "bfw"))


@dataclass(frozen=True)
class Period(_Ranged):
    name: str
    hours: tuple[int, ...]
    RANGES = {"hours": (0, 23)}

    def check(self, p: Problems) -> None:
        _text(p, "name", self.name)
        super().check(p)


@dataclass(frozen=True)
class GridParams(_Ranged):
    """The ``grid`` block (the case gives ``v_min_pu``; see GridConfig)."""

    path: str
    v_slack_pu: float
    load_scale: float
    RANGES = {"v_slack_pu": (0.9, 1.1), "load_scale": (1e-3, 100)}

    def check(self, p: Problems) -> None:
        _text(p, "path", self.path)
        super().check(p)


# --------------------------------------------------------------------------- the study's view
@dataclass(frozen=True)
class CaseConfig:
    """The road network of the chosen case: ``kind`` ring (``network`` = ring builder arguments) or
    sioux_falls (``network`` = TNTP paths and units)."""

    kind: str
    network: dict


@dataclass(frozen=True)
class StationConfig(_Ranged):
    units: int
    energy_per_charge_kwh: float
    queue_b: float
    queue_power: float
    service_fee_usd_per_kwh: float
    RANGES = {"units": (1, 1000), "energy_per_charge_kwh": (0.1, 1000), "queue_b": (0, 100), "queue_power": (0, 10),
              "service_fee_usd_per_kwh": (0, 10)}


@dataclass(frozen=True)
class TrafficConfig(TrafficParams):
    """The ``traffic`` block with the chosen case's EV shares."""

    ev_share: float
    charging_trip_share: float


@dataclass(frozen=True)
class TouConfig:
    rates_usd_per_kwh: dict
    """tier -> $/kWh."""
    hours: dict
    """tier -> hours 0..23 (together each hour exactly once)."""

    def check(self, p: Problems) -> None:
        before = len(p.items)
        for name, table in (("rates_usd_per_kwh", self.rates_usd_per_kwh), ("hours", self.hours)):
            if not table:
                p.add(name, f"expected a non-empty mapping tier -> value, got {table!r}")
        for k, v in self.rates_usd_per_kwh.items():
            p.in_range(f"rates_usd_per_kwh.{k}", v, 0, 10)
        for k, hrs in self.hours.items():
            if not isinstance(hrs, list):
                p.add(f"hours.{k}", f"expected a list of numbers, got {hrs!r}")
            for i, h in enumerate(hrs if isinstance(hrs, list) else []):
                if isinstance(h, bool) or not isinstance(h, int | float):
                    p.add(f"hours.{k}[{i}]", f"expected an integer, got {h!r}")
                elif not float(h).is_integer():
                    p.add(f"hours.{k}[{i}]", f"expected a whole number, got {h!r}")
                else:
                    p.in_range(f"hours.{k}[{i}]", h, 0, 23)
        if len(p.items) > before:
            return  # the tiers' rules need well-formed tables
        if set(self.rates_usd_per_kwh) != set(self.hours):
            p.add("", "rates_usd_per_kwh and hours must name the same tiers")
        hours = sorted(int(h) for hrs in self.hours.values() for h in hrs)
        if hours != list(range(24)):
            p.add("hours", f"must cover each hour 0..23 exactly once, got {hours}")

    def rate_of_hour(self) -> dict[int, float]:
        return {int(h): float(self.rates_usd_per_kwh[t]) for t, hrs in self.hours.items() for h in hrs}


@dataclass(frozen=True)
class GridConfig(GridParams):
    """The ``grid`` block with the chosen case's voltage floor."""

    v_min_pu: float


@dataclass(frozen=True)
class FixedPointConfig(_Ranged):
    max_iter: int
    tol_usd_per_mwh: float
    damping: float
    RANGES = {"max_iter": (1, 1000), "tol_usd_per_mwh": (1e-9, 1e3), "damping": (0.01, 1)}


@dataclass(frozen=True)
class InvestmentConfig(_Ranged):
    unit_fixed_usd: float
    unit_usd_per_kw: float
    discount_rate: float
    lifetime_years: int
    RANGES = {"unit_fixed_usd": (0, 1e9), "unit_usd_per_kw": (0, 1e6), "discount_rate": (0, 1),
              "lifetime_years": (1, 100)}

    @property
    def crf(self) -> float:
        """Capital recovery factor ``r (1+r)^n / ((1+r)^n - 1)`` (1/n when r = 0)."""
        r, n = self.discount_rate, self.lifetime_years
        return 1.0 / n if r == 0 else r * (1 + r) ** n / ((1 + r) ** n - 1)


@dataclass(frozen=True)
class UpperConfig(_Ranged):
    levels_kw: tuple[float, ...]
    budget_usd: float
    n_evaluations: int
    n_initial: int
    n_seeds: int
    surrogate: str
    gp_restarts: int
    revenue_penalty_usd: float
    landscape: bool
    RANGES = {"levels_kw": (1, 1e4), "budget_usd": (1, 1e12), "n_evaluations": (2, 10**5), "n_initial": (1, 10**5),
              "n_seeds": (1, 1000), "gp_restarts": (0, 50), "revenue_penalty_usd": (0, 1e12)}

    def check(self, p: Problems) -> None:
        super().check(p)
        _text(p, "surrogate", self.surrogate, ("gp",))
        if self.levels_kw and sorted(set(self.levels_kw)) != list(self.levels_kw):
            p.add("levels_kw", f"must be strictly increasing, got {list(self.levels_kw)}")
        p.less("n_initial", self.n_initial, "n_evaluations", self.n_evaluations, strict=False)

    @property
    def p_min_kw(self) -> float:
        return float(self.levels_kw[0])

    @property
    def p_max_kw(self) -> float:
        return float(self.levels_kw[-1])


@dataclass(frozen=True)
class SolverConfig(_Ranged):
    """Clarabel work limit (iterations) and the wall-clock safety net (a run that hits it fails)."""

    max_iter: int
    time_limit_s: float
    RANGES = {"max_iter": (1, 10**5), "time_limit_s": (1, 1e6)}

    def options(self) -> dict:
        return {"time_limit_s": self.time_limit_s, "highs_options": {"max_iter": self.max_iter}}


@dataclass(frozen=True)
class V2GConfig(_Ranged):
    availability: float
    efficiency: float
    degradation_usd_per_kwh: float
    RANGES = {"availability": (0, 1), "efficiency": (0.5, 1), "degradation_usd_per_kwh": (0, 10)}


@dataclass(frozen=True)
class PlanningConfig:
    seed: int
    case: CaseConfig
    stations: tuple
    station: StationConfig
    traffic: TrafficConfig
    periods: dict
    tou: TouConfig
    grid: GridConfig
    fixed_point: FixedPointConfig
    investment: InvestmentConfig
    upper: UpperConfig
    solver: SolverConfig
    ev_share_sweep: tuple
    v2g: V2GConfig

    @classmethod
    def from_params(cls, params: Any) -> PlanningConfig:
        """Parse the ``planning`` block (:class:`PlanningParams`; one :class:`PlanningConfigError` listing every
        problem), then the study's view of the chosen case."""
        return PlanningParams.from_params(params).config()


@dataclass(frozen=True)
class PlanningParams:
    """The ``planning`` block as written in the YAML."""

    seed: int
    case: str
    cases: Cases
    station: StationConfig
    traffic: TrafficParams
    periods: tuple[Period, ...]
    tou: TouConfig
    grid: GridParams
    fixed_point: FixedPointConfig
    investment: InvestmentConfig
    upper: UpperConfig
    solver: SolverConfig
    ev_share_sweep: tuple[float, ...]
    v2g: V2GConfig

    def check(self, p: Problems) -> None:
        p.in_range("seed", self.seed, 0)
        _text(p, "case", self.case, ("ring", "sioux_falls"))
        for i, share in enumerate(self.ev_share_sweep):
            p.in_range(f"ev_share_sweep[{i}]", share, 0, 1)
        if not self.periods:
            p.add("periods", "expected a non-empty list of entries with keys ['hours', 'name'], got []")
        _unique(p, "periods", [r.name for r in self.periods], "period")
        hours = [h for r in self.periods for h in r.hours]
        if len(set(hours)) != len(hours):
            p.add("periods", f"hours must be distinct across periods, got {sorted(hours)}")

    @classmethod
    def from_params(cls, params: Any) -> PlanningParams:
        p = Problems("planning")
        if isinstance(params, Mapping) and "n_jobs" in params:
            p.add("n_jobs", "is gone: evaluations run on evgrid.compute (compute.n_workers)")
            params = {k: v for k, v in params.items() if k != "n_jobs"}
        parsed = build_into(cls, params, p)
        if p.items:
            raise PlanningConfigError(list(p.items))
        return parsed

    def config(self) -> PlanningConfig:
        """The study's view: the chosen case's network, stations, shares and voltage floor merged in."""
        cb = getattr(self.cases, self.case)
        return PlanningConfig(
            seed=int(self.seed),
            case=CaseConfig(self.case, dataclasses.asdict(cb.network)),
            stations=cb.stations,
            station=self.station,
            traffic=TrafficConfig(ev_share=float(cb.ev_share), charging_trip_share=float(cb.charging_trip_share),
                                  **dataclasses.asdict(self.traffic)),
            periods={str(r.name): [int(h) for h in r.hours] for r in self.periods},
            tou=self.tou,
            grid=GridConfig(v_min_pu=float(cb.v_min_pu), **dataclasses.asdict(self.grid)),
            fixed_point=self.fixed_point,
            investment=self.investment,
            upper=dataclasses.replace(self.upper, levels_kw=tuple(float(v) for v in self.upper.levels_kw)),
            solver=self.solver,
            ev_share_sweep=tuple(float(s) for s in self.ev_share_sweep),
            v2g=self.v2g,
        )


def validate_params(params: Any) -> None:
    """Parse the whole ``planning`` block once: one :class:`PlanningConfigError` listing every problem."""
    PlanningParams.from_params(params)


__all__ = ["ConfigError", "PlanningConfig", "PlanningConfigError", "PlanningParams", "validate_params"]

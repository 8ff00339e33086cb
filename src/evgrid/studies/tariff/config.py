"""Typed configuration of the ``tariff`` study (``conf/base/parameters_tariff.yml``), parsed once.

``TariffConfig.from_params(params["tariff"])`` rejects unknown keys and out-of-range values with an error
that names the parameter (``tariff.<section>.<key>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evgrid.typed_params import ParameterError, build, number


class TariffConfigError(ParameterError):
    """A parameter of the tariff study is missing, unknown or out of range (names it)."""


def _take(cls, params: dict | None, where: str):
    """The shared typed-config builder (:func:`evgrid.typed_params.build`: unknown keys rejected, errors name
    ``where``)."""
    return build(cls, params, where, error=TariffConfigError)


def _positive(where: str, value, allow_zero: bool = False) -> float:
    return number(where, value, 0.0, lo_open=not allow_zero, error=TariffConfigError)


def _gamma(where: str, value) -> float:
    return number(where, value, 0.0, 1.0, unit="(paper 001's Gamma)", error=TariffConfigError)


@dataclass
class EnergyPriceConfig:
    zone: str = "N.Y.C."
    adder_usd_per_kwh: float = 0.0


@dataclass
class TransportConfig:
    speed_km_per_h: float = 30.0
    demand_scale: float = 0.05
    max_detour_h: float = 4.0
    links: list = field(default_factory=list)
    od: list = field(default_factory=list)
    departure_profile: list = field(default_factory=list)

    def __post_init__(self) -> None:
        _positive("tariff.transport.speed_km_per_h", self.speed_km_per_h)
        _positive("tariff.transport.demand_scale", self.demand_scale)
        for i, row in enumerate(self.links):
            if not (isinstance(row, list | tuple) and len(row) in (4, 5)):
                raise TariffConfigError(f"parameter 'tariff.transport.links[{i}]': expected [from, to, capacity_veh_per_h,"
                                        f" free_flow_h(, source)], got {row!r}")
            if float(row[2]) < 0:
                raise TariffConfigError(f"parameter 'tariff.transport.links[{i}]' ({row[0]}-{row[1]}): negative "
                                        f"capacity {row[2]}")
            if not float(row[3]) > 0:
                raise TariffConfigError(f"parameter 'tariff.transport.links[{i}]' ({row[0]}-{row[1]}): free-flow "
                                        f"time must be > 0, got {row[3]}")
        for i, od in enumerate(self.od):
            missing = {"name", "origin", "destination", "evs", "initial_soc_aggregate"} - set(od)
            if missing:
                raise TariffConfigError(f"parameter 'tariff.transport.od[{i}]' lacks {sorted(missing)}")
            if float(od["evs"]) < 0:
                raise TariffConfigError(f"parameter 'tariff.transport.od[{i}].evs' ({od['name']}): negative demand "
                                        f"{od['evs']}")
            soc = float(od["initial_soc_aggregate"]) / max(float(od["evs"]), 1e-9)
            if not 0 <= soc <= 1:
                raise TariffConfigError(f"parameter 'tariff.transport.od[{i}].initial_soc_aggregate' ({od['name']}): "
                                        f"{od['initial_soc_aggregate']} full batteries for {od['evs']} EVs is not a "
                                        "SOC in [0, 1]")
        prof = [float(x) for x in self.departure_profile]
        if any(x < 0 for x in prof) or not sum(prof) > 0:
            raise TariffConfigError("parameter 'tariff.transport.departure_profile' must be >= 0 with a positive sum")


@dataclass
class FleetConfig:
    battery_kwh: float = 60.0
    soc_min: float = 0.1
    soc_max: float = 0.9
    consumption_kwh_per_km: float = 0.18
    charge_kw: float = 50.0
    discharge_kw: float = 0.0
    efficiency: float = 0.95


@dataclass
class StationConfig:
    feeder_bus: int
    line_limit_kw: float | None = None
    plugs: float = 40.0


@dataclass
class FeederConfig:
    case_path: str = "data/01_raw/grids/case17me.m"
    load_scale: float = 0.5
    station_line_r_pu: float = 0.001
    station_line_x_pu: float = 0.001
    station_aux_load_kw: float = 30.0
    load_profile: str = "nyiso"
    pv_kwp: dict = field(default_factory=dict)
    wind_kw: dict = field(default_factory=dict)
    wind_availability: list = field(default_factory=list)
    pv_performance_ratio: float = 0.8

    def __post_init__(self) -> None:
        _positive("tariff.feeder.load_scale", self.load_scale)
        _positive("tariff.feeder.station_aux_load_kw", self.station_aux_load_kw, allow_zero=True)
        for name, table in (("pv_kwp", self.pv_kwp), ("wind_kw", self.wind_kw)):
            for k, v in table.items():
                _positive(f"tariff.feeder.{name}.{k}", v, allow_zero=True)
        if any(not 0 <= float(a) <= 1 for a in self.wind_availability):
            raise TariffConfigError("parameter 'tariff.feeder.wind_availability' must lie in [0, 1]")
        if self.load_profile not in ("nyiso", "flat"):
            raise TariffConfigError(f"parameter 'tariff.feeder.load_profile' must be nyiso or flat, got "
                                    f"{self.load_profile!r}")


@dataclass
class UncertaintyConfig:
    set: str = "box"
    perturbation_pct: float = 10.0
    gamma_robust: float = 1.0
    gamma_sweep: list = field(default_factory=lambda: [0.0, 0.5, 1.0])
    perturbation_sweep_pct: list = field(default_factory=lambda: [5, 10, 20])
    budget_gamma_per_hour: float = 3.0
    xi_source: str = "percent"
    coverage: float = 0.9
    wind_perturbation_pct: float = 10.0

    def __post_init__(self) -> None:
        if self.set not in ("box", "budget"):
            raise TariffConfigError(f"parameter 'tariff.uncertainty.set' must be box or budget, got {self.set!r}")
        if self.xi_source not in ("percent", "data"):
            raise TariffConfigError(f"parameter 'tariff.uncertainty.xi_source' must be percent or data, got "
                                    f"{self.xi_source!r}")
        self.coverage = number("tariff.uncertainty.coverage", self.coverage, 0.0, 1.0, lo_open=True,
                               error=TariffConfigError)
        _positive("tariff.uncertainty.wind_perturbation_pct", self.wind_perturbation_pct, allow_zero=True)
        if self.xi_source == "data":  # the data box already reaches PV = 0 where its error quantile >= forecast
            for key, vals in (("perturbation_pct", [self.perturbation_pct]),
                              ("perturbation_sweep_pct", self.perturbation_sweep_pct)):
                if any(float(v) > 100.0 for v in vals):
                    raise TariffConfigError(f"parameter 'tariff.uncertainty.{key}': with xi_source: data it is the % of "
                                            f"the data box and must be <= 100 (widen the box with "
                                            f"'tariff.uncertainty.coverage'), got {vals}")
        _positive("tariff.uncertainty.perturbation_pct", self.perturbation_pct, allow_zero=True)
        self.gamma_robust = _gamma("tariff.uncertainty.gamma_robust", self.gamma_robust)
        self.gamma_sweep = [_gamma("tariff.uncertainty.gamma_sweep", g) for g in self.gamma_sweep]
        for p in self.perturbation_sweep_pct:
            _positive("tariff.uncertainty.perturbation_sweep_pct", p, allow_zero=True)
        _positive("tariff.uncertainty.budget_gamma_per_hour", self.budget_gamma_per_hour, allow_zero=True)


@dataclass
class AggregatorConfig:
    grouping: str = "station"
    max_iterations: int = 5
    step_usd_per_kwh_per_kw: float = 0.002
    tolerance_pct: float = 1.0
    od_price_coupling: bool = True
    damping: float = 1.0

    def __post_init__(self) -> None:
        self.damping = number("tariff.aggregators.damping", self.damping, 0.0, 1.0, lo_open=True,
                              error=TariffConfigError)
        if self.grouping not in ("station", "od"):
            raise TariffConfigError(f"parameter 'tariff.aggregators.grouping' must be station or od, got "
                                    f"{self.grouping!r}")
        if int(self.max_iterations) < 0:
            raise TariffConfigError("parameter 'tariff.aggregators.max_iterations' must be >= 0")


@dataclass
class OutOfSampleConfig:
    n_box_samples: int = 200
    seed: int = 42
    months: list = field(default_factory=lambda: [6, 7, 8])
    forecast_days_before: str = "2016-07-01"
    pv_year: int = 2016
    curtailment_cost_usd_per_kwh: float = 1.0
    ci_level: float = 0.95
    target_violation_risk: float = 0.1

    def __post_init__(self) -> None:
        self.target_violation_risk = number("tariff.out_of_sample.target_violation_risk", self.target_violation_risk,
                                            0.0, 1.0, error=TariffConfigError)


@dataclass
class TariffConfig:
    horizon_h: int = 24
    dt_h: float = 1.0
    travel_cost_usd_per_veh_h: float = 14.1
    price_sensitivity_usd_per_kwh_per_kw: float = 2e-5
    energy_price: EnergyPriceConfig = field(default_factory=EnergyPriceConfig)
    transport: TransportConfig = field(default_factory=TransportConfig)
    fleet: FleetConfig = field(default_factory=FleetConfig)
    stations: dict[str, StationConfig] = field(default_factory=dict)
    feeder: FeederConfig = field(default_factory=FeederConfig)
    uncertainty: UncertaintyConfig = field(default_factory=UncertaintyConfig)
    aggregators: AggregatorConfig = field(default_factory=AggregatorConfig)
    out_of_sample: OutOfSampleConfig = field(default_factory=OutOfSampleConfig)
    solver: dict = field(default_factory=dict)
    w_sensitivity_usd_per_veh_h: list = field(default_factory=list)

    @property
    def n_steps(self) -> int:
        return int(round(self.horizon_h / self.dt_h))

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TariffConfig:
        cfg = _take(cls, params, "tariff")
        cfg.validate()
        return cfg

    def validate(self) -> None:
        _positive("tariff.horizon_h", self.horizon_h)
        _positive("tariff.dt_h", self.dt_h)
        _positive("tariff.travel_cost_usd_per_veh_h", self.travel_cost_usd_per_veh_h, allow_zero=True)
        for w in self.w_sensitivity_usd_per_veh_h:
            _positive("tariff.w_sensitivity_usd_per_veh_h", w, allow_zero=True)
        _positive("tariff.price_sensitivity_usd_per_kwh_per_kw", self.price_sensitivity_usd_per_kwh_per_kw)
        if abs(self.n_steps * self.dt_h - self.horizon_h) > 1e-9:
            raise TariffConfigError("parameter 'tariff.horizon_h' must be a multiple of 'tariff.dt_h'")
        if len(self.transport.departure_profile) != self.n_steps:
            raise TariffConfigError(f"parameter 'tariff.transport.departure_profile' has "
                                    f"{len(self.transport.departure_profile)} values, expected {self.n_steps}")
        if len(self.feeder.wind_availability) != self.n_steps:
            raise TariffConfigError(f"parameter 'tariff.feeder.wind_availability' has "
                                    f"{len(self.feeder.wind_availability)} values, expected {self.n_steps}")
        for name, st in self.stations.items():
            if st.line_limit_kw is not None:
                _positive(f"tariff.stations.{name}.line_limit_kw", st.line_limit_kw)
            _positive(f"tariff.stations.{name}.plugs", st.plugs, allow_zero=True)
        if not self.stations:
            raise TariffConfigError("parameter 'tariff.stations' is empty")


def validate_params(params: dict) -> None:
    """Check the ``tariff`` parameter block before any node runs (raises :class:`TariffConfigError`)."""
    TariffConfig.from_params(params)

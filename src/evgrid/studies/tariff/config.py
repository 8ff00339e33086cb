"""Typed configuration of the ``tariff`` study (``conf/base/parameters_tariff.yml``), parsed once.

``TariffConfig.from_params(params["tariff"])`` builds the frozen blocks with :func:`evgrid.typed_params.build`
and raises one :class:`TariffConfigError` listing every problem by its path (``tariff.<section>.<key>``). No
field has a default: the YAML gives every value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from evgrid.runtime.validation import ConfigError, Problems
from evgrid.typed_params import build


class TariffConfigError(ConfigError):
    """A parameter of the tariff study is missing, unknown or out of range (each problem names it)."""


def _gamma(p: Problems, name: str, value) -> bool:
    return p.number(name, value, 0.0, 1.0, unit="(paper 001's Gamma)")


@dataclass(frozen=True)
class EnergyPriceConfig:
    zone: str
    adder_usd_per_kwh: float


@dataclass(frozen=True)
class TransportConfig:
    speed_km_per_h: float
    demand_scale: float
    max_detour_h: float
    links: list
    """Rows ``[from, to, capacity_veh_per_h, free_flow_h(, source)]``."""
    od: list
    """O-D pairs ``{name, origin, destination, evs, initial_soc_aggregate}``."""
    departure_profile: list

    def check(self, p: Problems) -> None:
        p.number("speed_km_per_h", self.speed_km_per_h, 0.0, lo_open=True)
        p.number("demand_scale", self.demand_scale, 0.0, lo_open=True)
        for i, row in enumerate(self.links):
            if not (isinstance(row, list | tuple) and len(row) in (4, 5)
                    and p.number(f"links[{i}][2]", row[2]) and p.number(f"links[{i}][3]", row[3])):
                p.add(f"links[{i}]", f"expected [from, to, capacity_veh_per_h, free_flow_h(, source)], got {row!r}")
            elif float(row[2]) < 0:
                p.add(f"links[{i}]", f"({row[0]}-{row[1]}): negative capacity {row[2]}")
            elif not float(row[3]) > 0:
                p.add(f"links[{i}]", f"({row[0]}-{row[1]}): free-flow time must be > 0, got {row[3]}")
        for i, od in enumerate(self.od):
            self._check_od(p.sub(f"od[{i}]"), od)
        prof = self.departure_profile
        numbers = [p.number(f"departure_profile[{i}]", x) for i, x in enumerate(prof)]
        if all(numbers) and (any(float(x) < 0 for x in prof) or not sum(float(x) for x in prof) > 0):
            p.add("departure_profile", "must be >= 0 with a positive sum")

    @staticmethod
    def _check_od(p: Problems, od) -> None:
        keys = {"name", "origin", "destination", "evs", "initial_soc_aggregate"}
        missing = keys - set(od if isinstance(od, dict) else ())
        if missing:
            p.add("", f"lacks {sorted(missing)}")
        elif not all([p.number("evs", od["evs"]), p.number("initial_soc_aggregate", od["initial_soc_aggregate"])]):
            pass
        elif float(od["evs"]) < 0:
            p.add("evs", f"({od['name']}): negative demand {od['evs']}")
        elif not 0 <= float(od["initial_soc_aggregate"]) / max(float(od["evs"]), 1e-9) <= 1:
            p.add("initial_soc_aggregate", f"({od['name']}): {od['initial_soc_aggregate']} full batteries for "
                                           f"{od['evs']} EVs is not a SOC in [0, 1]")


@dataclass(frozen=True)
class FleetConfig:
    battery_kwh: float
    soc_min: float
    soc_max: float
    consumption_kwh_per_km: float
    charge_kw: float
    discharge_kw: float
    efficiency: float


@dataclass(frozen=True)
class StationConfig:
    feeder_bus: int
    line_limit_kw: float | None
    """The station line's active-power limit; ``null`` (or left out) = no limit."""
    plugs: float

    def check(self, p: Problems) -> None:
        if self.line_limit_kw is not None:
            p.number("line_limit_kw", self.line_limit_kw, 0.0, lo_open=True)
        p.number("plugs", self.plugs, 0.0)


@dataclass(frozen=True)
class FeederConfig:
    case_path: str
    load_scale: float
    station_line_r_pu: float
    station_line_x_pu: float
    station_aux_load_kw: float
    load_profile: str
    pv_kwp: dict
    wind_kw: dict
    wind_availability: list
    pv_performance_ratio: float

    def check(self, p: Problems) -> None:
        p.number("load_scale", self.load_scale, 0.0, lo_open=True)
        p.number("station_aux_load_kw", self.station_aux_load_kw, 0.0)
        for name, table in (("pv_kwp", self.pv_kwp), ("wind_kw", self.wind_kw)):
            for k, v in table.items():
                p.number(f"{name}.{k}", v, 0.0)
        numbers = [p.number(f"wind_availability[{i}]", a) for i, a in enumerate(self.wind_availability)]
        if all(numbers) and any(not 0 <= float(a) <= 1 for a in self.wind_availability):
            p.add("wind_availability", "must lie in [0, 1]")
        if self.load_profile not in ("nyiso", "flat"):
            p.add("load_profile", f"must be nyiso or flat, got {self.load_profile!r}")


@dataclass(frozen=True)
class UncertaintyConfig:
    set: str
    perturbation_pct: float
    gamma_robust: float
    gamma_sweep: list
    perturbation_sweep_pct: list
    budget_gamma_per_hour: float
    xi_source: str
    coverage: float
    wind_perturbation_pct: float

    def check(self, p: Problems) -> None:
        if self.set not in ("box", "budget"):
            p.add("set", f"must be box or budget, got {self.set!r}")
        if self.xi_source not in ("percent", "data"):
            p.add("xi_source", f"must be percent or data, got {self.xi_source!r}")
        p.number("coverage", self.coverage, 0.0, 1.0, lo_open=True)
        p.number("wind_perturbation_pct", self.wind_perturbation_pct, 0.0)
        sweep_ok = all([p.number("perturbation_sweep_pct", v, 0.0) for v in self.perturbation_sweep_pct])
        if p.number("perturbation_pct", self.perturbation_pct, 0.0) and sweep_ok and self.xi_source == "data":
            # the data box already reaches PV = 0 where its error quantile >= forecast
            for key, vals in (("perturbation_pct", [self.perturbation_pct]),
                              ("perturbation_sweep_pct", self.perturbation_sweep_pct)):
                if any(float(v) > 100.0 for v in vals):
                    p.add(key, f"with xi_source: data it is the % of the data box and must be <= 100 (widen the "
                               f"box with 'tariff.uncertainty.coverage'), got {vals}")
        _gamma(p, "gamma_robust", self.gamma_robust)
        for g in self.gamma_sweep:
            _gamma(p, "gamma_sweep", g)
        p.number("budget_gamma_per_hour", self.budget_gamma_per_hour, 0.0)


@dataclass(frozen=True)
class AggregatorConfig:
    grouping: str
    max_iterations: int
    step_usd_per_kwh_per_kw: float
    tolerance_pct: float
    od_price_coupling: bool
    damping: float

    def check(self, p: Problems) -> None:
        p.number("damping", self.damping, 0.0, 1.0, lo_open=True)
        if self.grouping not in ("station", "od"):
            p.add("grouping", f"must be station or od, got {self.grouping!r}")
        p.need(self.max_iterations >= 0, "max_iterations", ">= 0", self.max_iterations)


@dataclass(frozen=True)
class OutOfSampleConfig:
    n_box_samples: int
    seed: int
    months: list
    forecast_days_before: str
    pv_year: int
    curtailment_cost_usd_per_kwh: float
    ci_level: float
    target_violation_risk: float

    def check(self, p: Problems) -> None:
        p.number("target_violation_risk", self.target_violation_risk, 0.0, 1.0)


@dataclass(frozen=True)
class TariffConfig:
    horizon_h: int
    dt_h: float
    travel_cost_usd_per_veh_h: float
    price_sensitivity_usd_per_kwh_per_kw: float
    energy_price: EnergyPriceConfig
    transport: TransportConfig
    fleet: FleetConfig
    stations: dict[str, StationConfig]
    feeder: FeederConfig
    uncertainty: UncertaintyConfig
    aggregators: AggregatorConfig
    out_of_sample: OutOfSampleConfig
    solver: dict
    w_sensitivity_usd_per_veh_h: list

    @property
    def n_steps(self) -> int:
        return int(round(self.horizon_h / self.dt_h))

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TariffConfig:
        """The ``tariff`` block, or one :class:`TariffConfigError` listing every problem. Gamma, coverage,
        damping and the violation risk are read as floats (the model's own types)."""
        cfg = build(cls, params, "tariff", error=TariffConfigError)
        u, a, o = cfg.uncertainty, cfg.aggregators, cfg.out_of_sample
        return replace(
            cfg, uncertainty=replace(u, coverage=float(u.coverage), gamma_robust=float(u.gamma_robust),
                                     gamma_sweep=[float(g) for g in u.gamma_sweep]),
            aggregators=replace(a, damping=float(a.damping)),
            out_of_sample=replace(o, target_violation_risk=float(o.target_violation_risk)))

    def check(self, p: Problems) -> None:
        steps_ok = all([p.number("horizon_h", self.horizon_h, 0.0, lo_open=True),
                        p.number("dt_h", self.dt_h, 0.0, lo_open=True)])
        p.number("travel_cost_usd_per_veh_h", self.travel_cost_usd_per_veh_h, 0.0)
        for w in self.w_sensitivity_usd_per_veh_h:
            p.number("w_sensitivity_usd_per_veh_h", w, 0.0)
        p.number("price_sensitivity_usd_per_kwh_per_kw", self.price_sensitivity_usd_per_kwh_per_kw, 0.0,
                 lo_open=True)
        if steps_ok and abs(self.n_steps * self.dt_h - self.horizon_h) > 1e-9:
            p.add("horizon_h", "must be a multiple of 'tariff.dt_h'")
        elif steps_ok:
            for name, values in (("transport.departure_profile", self.transport.departure_profile),
                                 ("feeder.wind_availability", self.feeder.wind_availability)):
                if len(values) != self.n_steps:
                    p.add(name, f"has {len(values)} values, expected {self.n_steps}")
        if not self.stations:
            p.add("stations", "is empty")


def validate_params(params: dict) -> None:
    """Parse the ``tariff`` block before any node runs: one :class:`TariffConfigError` listing every problem."""
    TariffConfig.from_params(params)

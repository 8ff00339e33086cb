"""Typed configuration of the ``parking`` study (parameters ``parking`` in conf/base/parameters_parking.yml).

``ParkingConfig.from_params(params)`` rejects unknown keys and out-of-range values with an error naming
the parameter (``parking.lots[1].transformer_kva`` ...). Every number's source is written beside it in the
yaml file and in docs/parking.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from evgrid.der.transformer import TransformerThermal
from evgrid.typed_params import ParameterError, build, need, typed

SCENARIOS = ("base", "s1", "s2", "s3", "s4")
"""Paper 004 section V-C: base = uncoordinated; s1 = P only, full objective; s2 = P + Q, DSO + EV users;
s3 = P + Q, full objective; s4 = s3 + hourly reconfiguration."""


class ParkingConfigError(ParameterError):
    """A ``parking`` parameter is missing, unknown or out of range (the message names it)."""


def _build(cls, params: Any, where: str):
    """The shared typed-config builder (:func:`evgrid.typed_params.build`): nested blocks and lists of blocks
    recurse (``_NESTED``), plain lists become tuples, unknown keys rejected, errors name ``where``."""
    return build(cls, params, where, error=ParkingConfigError, nested=_NESTED, tuples=True)


def _need(cond: bool, where: str, name: str, what: str, value) -> None:
    need(cond, f"{where}.{name}", what, value, ParkingConfigError)


@dataclass(frozen=True)
class LotConfig:
    """One parking lot (paper 004 Table I)."""

    name: str
    bus: int
    n_evs: int
    transformer_kva: float
    no_load_loss_kw: float
    load_loss_kw: float
    pv_kwp: float

    def check(self, where: str) -> None:
        _need(self.n_evs >= 0, where, "n_evs", ">= 0", self.n_evs)
        _need(self.transformer_kva > 0, where, "transformer_kva", "> 0 kVA", self.transformer_kva)
        _need(self.no_load_loss_kw > 0, where, "no_load_loss_kw", "> 0 kW", self.no_load_loss_kw)
        _need(self.load_loss_kw >= 0, where, "load_loss_kw", ">= 0 kW", self.load_loss_kw)
        _need(self.pv_kwp >= 0, where, "pv_kwp", ">= 0 kWp", self.pv_kwp)


@dataclass(frozen=True)
class TransformerConfig:
    """The lot transformers: IEC 60076-7 thermal constants (``thermal``: any field of the core
    :class:`evgrid.der.transformer.TransformerThermal` but the ratings, which come from each lot; its defaults
    are paper 004 Table II) and the study's limits and economic/environmental data."""

    thermal: dict = field(default_factory=dict)
    normal_life_h: float = 180000.0
    hot_spot_limit_c: float = 120.0
    loading_limit_pu: float = 1.5
    price_usd_per_kva: float = 166.1
    embodied_kgco2e_per_kva: float = 12.0

    def check(self, where: str) -> None:
        self.thermal_model(1.0, 1.0, 1.0, f"{where}.thermal")  # unknown keys and bad values, named
        _need(self.normal_life_h > 0, where, "normal_life_h", "> 0 h", self.normal_life_h)
        _need(self.loading_limit_pu > 0, where, "loading_limit_pu", "> 0 p.u.", self.loading_limit_pu)
        _need(self.hot_spot_limit_c > 0, where, "hot_spot_limit_c", "> 0 C", self.hot_spot_limit_c)

    def thermal_model(self, rated_kva: float, no_load_loss_kw: float, load_loss_kw: float,
                      where: str = "parking.transformer.thermal") -> TransformerThermal:
        """The core thermal model of one lot transformer with these ratings and the configured constants."""
        ratings = {"rated_kva": rated_kva, "no_load_loss_kw": no_load_loss_kw, "load_loss_kw": load_loss_kw}
        clash = sorted(set(self.thermal) & set(ratings))
        if clash:
            raise ParkingConfigError(f"{where}: {clash} come from each lot (parking.lots[i]), not from here")
        try:
            return typed(TransformerThermal, dict(self.thermal), where, **ratings)
        except ParameterError as e:
            raise ParkingConfigError(str(e)) from None


@dataclass(frozen=True)
class CableType:
    """XLPE aluminium MV cable (paper 004 section V-A: 150, 70, 50 mm2)."""

    section_mm2: float
    ampacity_a: float
    r_ohm_per_km: float
    price_usd_per_km: float
    embodied_kgco2e_per_km: float

    def check(self, where: str) -> None:
        for name in ("section_mm2", "ampacity_a", "r_ohm_per_km", "price_usd_per_km"):
            _need(getattr(self, name) > 0, where, name, "> 0", getattr(self, name))


@dataclass(frozen=True)
class CableConfig:
    types: tuple = ()
    theta_max_c: float = 90.0
    theta_soil_c: float = 20.0
    activation_b_k: float = 12430.0
    design_life_h: float = 262800.0
    sizing_margin: float = 1.5

    def check(self, where: str) -> None:
        _need(len(self.types) > 0, where, "types", "at least one cable type", self.types)
        _need(self.theta_max_c > self.theta_soil_c, where, "theta_max_c", "> theta_soil_c", self.theta_max_c)


@dataclass(frozen=True)
class EvConfig:
    charger_kva: float = 7.4
    battery_kwh: float = 60.0
    soc_lower: float = 0.1
    soc_upper: float = 0.8
    energy_neighbours: int = 25
    energy_quantum_kwh: float = 0.5
    arrival_quantum_min: int = 15
    battery_price_usd_per_kwh: float = 176.0
    cycle_life_full_cycles: float = 1500.0
    battery_embodied_kgco2e_per_kwh: float = 75.0

    def check(self, where: str) -> None:
        _need(self.charger_kva > 0, where, "charger_kva", "> 0 kVA", self.charger_kva)
        _need(self.battery_kwh > 0, where, "battery_kwh", "> 0 kWh", self.battery_kwh)
        _need(0 <= self.soc_lower < self.soc_upper <= 1, where, "soc_lower/soc_upper", "0 <= lower < upper <= 1",
              (self.soc_lower, self.soc_upper))
        _need(self.energy_neighbours >= 1, where, "energy_neighbours", ">= 1", self.energy_neighbours)
        _need(self.energy_quantum_kwh > 0, where, "energy_quantum_kwh", "> 0 kWh", self.energy_quantum_kwh)
        _need(60 % self.arrival_quantum_min == 0, where, "arrival_quantum_min", "a divisor of 60",
              self.arrival_quantum_min)


@dataclass(frozen=True)
class CostConfig:
    emission_price_usd_per_kg: float = 0.156
    grid_kgco2e_per_kwh: float = 0.49

    def check(self, where: str) -> None:
        _need(self.emission_price_usd_per_kg >= 0, where, "emission_price_usd_per_kg", ">= 0",
              self.emission_price_usd_per_kg)
        _need(self.grid_kgco2e_per_kwh >= 0, where, "grid_kgco2e_per_kwh", ">= 0", self.grid_kgco2e_per_kwh)


@dataclass(frozen=True)
class InputConfig:
    price_market: str = "DAM"
    price_date: str = "2022-07-18"
    price_zone: str = "N.Y.C."
    load_month: int = 7
    load_scale: float = 1.0
    acn_source: str = "acn"

    def check(self, where: str) -> None:
        _need(1 <= self.load_month <= 12, where, "load_month", "1..12", self.load_month)
        _need(self.load_scale > 0, where, "load_scale", "> 0", self.load_scale)


@dataclass(frozen=True)
class ModelConfig:
    polygon_sides: int = 16
    loss_tangents: int = 17
    transformer_tangents: int = 12
    lot_v_min_pu: float = 0.95
    lot_v_max_pu: float = 1.05
    switchable: tuple = ()
    max_switching_per_day: int = 4
    initial_state: str = "network"
    milp: bool = True
    """Scenario 4: solve the hourly-switching MILP (started from the screened plan); False = screened plan only."""
    milp_max_nodes: int = 2000
    """Branch-and-bound node limit (HiGHS ``mip_max_nodes``): the deterministic work limit."""
    milp_gap: float = 0.01
    """Relative gap target of the MILP (HiGHS ``mip_rel_gap``)."""
    milp_safety_time_limit_s: float = 1800.0
    """Wall-clock safety net only: hitting it flags the row (``milp_status`` = time_limit_machine_dependent)."""
    loss_refine_rounds: int = 2
    """Iterated loss term: rounds of tangent cuts added at the solved flows, each followed by a re-solve."""
    loss_refine_tol: float = 0.01
    """A branch-hour gets a cut when its modelled loss is this fraction below the quadratic of its flows."""
    milp_in_sweep: bool = False
    milp_in_stochastic: bool = False

    def check(self, where: str) -> None:
        _need(self.milp_max_nodes >= 1, where, "milp_max_nodes", ">= 1 (a work limit is required)",
              self.milp_max_nodes)
        _need(0 <= self.milp_gap < 1, where, "milp_gap", "a fraction in [0, 1)", self.milp_gap)
        _need(self.milp_safety_time_limit_s > 0, where, "milp_safety_time_limit_s", "> 0 s",
              self.milp_safety_time_limit_s)
        _need(self.loss_refine_rounds >= 0, where, "loss_refine_rounds", ">= 0", self.loss_refine_rounds)
        _need(self.loss_refine_tol > 0, where, "loss_refine_tol", "> 0", self.loss_refine_tol)
        _need(self.polygon_sides >= 16 and self.polygon_sides % 2 == 0, where, "polygon_sides",
              "an even number >= 16 (issue: at least 16 sides)", self.polygon_sides)
        for name in ("loss_tangents", "transformer_tangents"):
            _need(getattr(self, name) >= 3, where, name, ">= 3", getattr(self, name))
        _need(self.max_switching_per_day >= 0, where, "max_switching_per_day", ">= 0", self.max_switching_per_day)
        _need(self.initial_state in ("network", "free"), where, "initial_state", "network|free", self.initial_state)


@dataclass(frozen=True)
class StudyConfig:
    scenarios: tuple = SCENARIOS
    pv_sweep_pct: tuple = (60, 80, 100, 120, 140)
    scenario_day: int | str = "representative"
    """GAN day of Tables V-VII: an index, or ``representative`` (the day of median daily PV energy)."""
    stochastic_days: int = 3
    heldout_dates: tuple = ()
    heldout_pv_dates: tuple = ()

    def check(self, where: str) -> None:
        bad = sorted(set(self.scenarios) - set(SCENARIOS))
        _need(not bad, where, "scenarios", f"a subset of {SCENARIOS}", self.scenarios)
        _need(all(p > 0 for p in self.pv_sweep_pct), where, "pv_sweep_pct", "positive percentages", self.pv_sweep_pct)
        _need(self.scenario_day == "representative" or (isinstance(self.scenario_day, int) and self.scenario_day >= 0),
              where, "scenario_day", "a GAN day index >= 0 or 'representative'", self.scenario_day)
        _need(self.stochastic_days >= 1, where, "stochastic_days", ">= 1", self.stochastic_days)
        _need(len(self.heldout_dates) == len(self.heldout_pv_dates), where, "heldout_pv_dates",
              "one weather date per held-out EV date", self.heldout_pv_dates)


@dataclass(frozen=True)
class ParkingConfig:
    """The whole ``parking`` parameter block."""

    seed: int
    lots: tuple
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    cables: CableConfig = field(default_factory=CableConfig)
    ev: EvConfig = field(default_factory=EvConfig)
    costs: CostConfig = field(default_factory=CostConfig)
    inputs: InputConfig = field(default_factory=InputConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
    solver: dict = field(default_factory=dict)

    def check(self, where: str) -> None:
        _need(len(self.lots) >= 1, where, "lots", "at least one lot", self.lots)
        names = [lot.name for lot in self.lots]
        _need(len(set(names)) == len(names), where, "lots", "unique lot names", names)

    @classmethod
    def from_params(cls, params: dict) -> ParkingConfig:
        if not isinstance(params, dict):
            raise ParkingConfigError("parking: expected the parameter mapping 'parking'")
        solver = dict(params.get("solver") or {})
        rest = {k: v for k, v in params.items() if k != "solver"}
        cfg = _build(cls, rest, "parking")
        return dataclasses.replace(cfg, solver=solver)


_NESTED = {
    ("ParkingConfig", "lots"): LotConfig,
    ("ParkingConfig", "transformer"): TransformerConfig,
    ("ParkingConfig", "cables"): CableConfig,
    ("ParkingConfig", "ev"): EvConfig,
    ("ParkingConfig", "costs"): CostConfig,
    ("ParkingConfig", "inputs"): InputConfig,
    ("ParkingConfig", "model"): ModelConfig,
    ("ParkingConfig", "study"): StudyConfig,
    ("CableConfig", "types"): CableType,
}


def validate_params(params: dict) -> None:
    """Parse the ``parking`` block before any node runs (the error names the parameter)."""
    if "parking" in params:
        ParkingConfig.from_params(params["parking"])

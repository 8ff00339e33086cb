"""Typed configuration of the ``parking`` study (parameters ``parking`` in conf/base/parameters_parking.yml).

``ParkingConfig.from_params(params)`` builds the frozen blocks with :func:`evgrid.typed_params.build` and
raises one :class:`ParkingConfigError` listing every problem by its path (``parking.lots[1].transformer_kva``
...). No field has a default: the YAML gives every value, with its source beside it (and in docs/parking.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from evgrid.der.transformer import TransformerThermal
from evgrid.runtime.validation import ConfigError, Problems
from evgrid.typed_params import build

SCENARIOS = ("base", "s1", "s2", "s3", "s4")
"""Paper 004 section V-C: base = uncoordinated; s1 = P only, full objective; s2 = P + Q, DSO + EV users;
s3 = P + Q, full objective; s4 = s3 + hourly reconfiguration."""


class ParkingConfigError(ConfigError):
    """A ``parking`` parameter is missing, unknown or out of range (each problem names it)."""


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

    def check(self, p: Problems) -> None:
        p.need(self.n_evs >= 0, "n_evs", ">= 0", self.n_evs)
        p.need(self.transformer_kva > 0, "transformer_kva", "> 0 kVA", self.transformer_kva)
        p.need(self.no_load_loss_kw > 0, "no_load_loss_kw", "> 0 kW", self.no_load_loss_kw)
        p.need(self.load_loss_kw >= 0, "load_loss_kw", ">= 0 kW", self.load_loss_kw)
        p.need(self.pv_kwp >= 0, "pv_kwp", ">= 0 kWp", self.pv_kwp)


@dataclass(frozen=True)
class TransformerConfig:
    """The lot transformers: IEC 60076-7 thermal constants (``thermal``: any field of the core
    :class:`evgrid.der.transformer.TransformerThermal` but the ratings, which come from each lot; its defaults
    are paper 004 Table II) and the study's limits and economic/environmental data."""

    thermal: dict
    """Fields of :class:`~evgrid.der.transformer.TransformerThermal` but the ratings (a key left out takes the
    core model's paper 004 Table II value; conf/base lists them all)."""
    normal_life_h: float
    hot_spot_limit_c: float
    loading_limit_pu: float
    price_usd_per_kva: float
    embodied_kgco2e_per_kva: float

    def check(self, p: Problems) -> None:
        ratings = {"rated_kva", "no_load_loss_kw", "load_loss_kw"}
        clash = sorted(set(self.thermal) & ratings)
        if clash:
            p.add("thermal", f"{clash} come from each lot (parking.lots[i]), not from here")
        elif p.known_keys(self.thermal, {f.name for f in fields(TransformerThermal)} - ratings, "thermal"):
            try:
                self.thermal_model(1.0, 1.0, 1.0)
            except (TypeError, ValueError) as e:  # the core model's own rules
                p.add("thermal", str(e).removeprefix("parking.transformer.thermal: "))
        p.need(self.normal_life_h > 0, "normal_life_h", "> 0 h", self.normal_life_h)
        p.need(self.loading_limit_pu > 0, "loading_limit_pu", "> 0 p.u.", self.loading_limit_pu)
        p.need(self.hot_spot_limit_c > 0, "hot_spot_limit_c", "> 0 C", self.hot_spot_limit_c)

    def thermal_model(self, rated_kva: float, no_load_loss_kw: float, load_loss_kw: float,
                      where: str = "parking.transformer.thermal") -> TransformerThermal:
        """The core thermal model of one lot transformer with these ratings and the configured constants."""
        try:
            return TransformerThermal(**self.thermal, rated_kva=rated_kva, no_load_loss_kw=no_load_loss_kw,
                                      load_loss_kw=load_loss_kw)
        except (TypeError, ValueError) as e:
            raise ParkingConfigError(f"{where}: {e}") from None


@dataclass(frozen=True)
class CableType:
    """XLPE aluminium MV cable (paper 004 section V-A: 150, 70, 50 mm2)."""

    section_mm2: float
    ampacity_a: float
    r_ohm_per_km: float
    price_usd_per_km: float
    embodied_kgco2e_per_km: float

    def check(self, p: Problems) -> None:
        for name in ("section_mm2", "ampacity_a", "r_ohm_per_km", "price_usd_per_km"):
            p.need(getattr(self, name) > 0, name, "> 0", getattr(self, name))


@dataclass(frozen=True)
class CableConfig:
    types: tuple[CableType, ...]
    theta_max_c: float
    theta_soil_c: float
    activation_b_k: float
    design_life_h: float
    sizing_margin: float

    def check(self, p: Problems) -> None:
        p.need(len(self.types) > 0, "types", "at least one cable type", self.types)
        p.need(self.theta_max_c > self.theta_soil_c, "theta_max_c", "> theta_soil_c", self.theta_max_c)


@dataclass(frozen=True)
class EvConfig:
    charger_kva: float
    battery_kwh: float
    soc_lower: float
    soc_upper: float
    energy_neighbours: int
    energy_quantum_kwh: float
    arrival_quantum_min: int
    battery_price_usd_per_kwh: float
    cycle_life_full_cycles: float
    battery_embodied_kgco2e_per_kwh: float

    def check(self, p: Problems) -> None:
        p.need(self.charger_kva > 0, "charger_kva", "> 0 kVA", self.charger_kva)
        p.need(self.battery_kwh > 0, "battery_kwh", "> 0 kWh", self.battery_kwh)
        p.need(0 <= self.soc_lower < self.soc_upper <= 1, "soc_lower/soc_upper", "0 <= lower < upper <= 1",
               (self.soc_lower, self.soc_upper))
        p.need(self.energy_neighbours >= 1, "energy_neighbours", ">= 1", self.energy_neighbours)
        p.need(self.energy_quantum_kwh > 0, "energy_quantum_kwh", "> 0 kWh", self.energy_quantum_kwh)
        p.need(60 % self.arrival_quantum_min == 0, "arrival_quantum_min", "a divisor of 60",
               self.arrival_quantum_min)


@dataclass(frozen=True)
class CostConfig:
    emission_price_usd_per_kg: float
    grid_kgco2e_per_kwh: float

    def check(self, p: Problems) -> None:
        p.need(self.emission_price_usd_per_kg >= 0, "emission_price_usd_per_kg", ">= 0",
               self.emission_price_usd_per_kg)
        p.need(self.grid_kgco2e_per_kwh >= 0, "grid_kgco2e_per_kwh", ">= 0", self.grid_kgco2e_per_kwh)


@dataclass(frozen=True)
class InputConfig:
    price_market: str
    price_date: str
    price_zone: str
    load_month: int
    load_scale: float
    acn_source: str

    def check(self, p: Problems) -> None:
        p.need(1 <= self.load_month <= 12, "load_month", "1..12", self.load_month)
        p.need(self.load_scale > 0, "load_scale", "> 0", self.load_scale)


@dataclass(frozen=True)
class ModelConfig:
    polygon_sides: int
    loss_tangents: int
    transformer_tangents: int
    lot_v_min_pu: float
    lot_v_max_pu: float
    switchable: tuple[int, ...]
    max_switching_per_day: int
    initial_state: str
    milp: bool
    """Scenario 4: solve the hourly-switching MILP (started from the screened plan); False = screened plan only."""
    milp_max_nodes: int
    """Branch-and-bound node limit (HiGHS ``mip_max_nodes``): the deterministic work limit."""
    milp_gap: float
    """Relative gap target of the MILP (HiGHS ``mip_rel_gap``)."""
    milp_safety_time_limit_s: float
    """Wall-clock safety net only: hitting it flags the row (``milp_status`` = time_limit_machine_dependent)."""
    loss_refine_rounds: int
    """Iterated loss term: rounds of tangent cuts added at the solved flows, each followed by a re-solve."""
    loss_refine_tol: float
    """A branch-hour gets a cut when its modelled loss is this fraction below the quadratic of its flows."""
    milp_in_sweep: bool
    milp_in_stochastic: bool

    def check(self, p: Problems) -> None:
        p.need(self.milp_max_nodes >= 1, "milp_max_nodes", ">= 1 (a work limit is required)",
               self.milp_max_nodes)
        p.need(0 <= self.milp_gap < 1, "milp_gap", "a fraction in [0, 1)", self.milp_gap)
        p.need(self.milp_safety_time_limit_s > 0, "milp_safety_time_limit_s", "> 0 s",
               self.milp_safety_time_limit_s)
        p.need(self.loss_refine_rounds >= 0, "loss_refine_rounds", ">= 0", self.loss_refine_rounds)
        p.need(self.loss_refine_tol > 0, "loss_refine_tol", "> 0", self.loss_refine_tol)
        p.need(self.polygon_sides >= 16 and self.polygon_sides % 2 == 0, "polygon_sides",
               "an even number >= 16 (issue: at least 16 sides)", self.polygon_sides)
        for name in ("loss_tangents", "transformer_tangents"):
            p.need(getattr(self, name) >= 3, name, ">= 3", getattr(self, name))
        p.need(self.max_switching_per_day >= 0, "max_switching_per_day", ">= 0", self.max_switching_per_day)
        p.need(self.initial_state in ("network", "free"), "initial_state", "network|free", self.initial_state)


@dataclass(frozen=True)
class StudyConfig:
    scenarios: tuple[str, ...]
    pv_sweep_pct: tuple[float, ...]
    scenario_day: int | str
    """GAN day of Tables V-VII: an index, or ``representative`` (the day of median daily PV energy)."""
    stochastic_days: int
    heldout_dates: tuple[str, ...]
    heldout_pv_dates: tuple[str, ...]

    def check(self, p: Problems) -> None:
        bad = sorted(set(self.scenarios) - set(SCENARIOS))
        p.need(not bad, "scenarios", f"a subset of {SCENARIOS}", self.scenarios)
        p.need(all(v > 0 for v in self.pv_sweep_pct), "pv_sweep_pct", "positive percentages", self.pv_sweep_pct)
        p.need(self.scenario_day == "representative" or (isinstance(self.scenario_day, int) and self.scenario_day >= 0),
               "scenario_day", "a GAN day index >= 0 or 'representative'", self.scenario_day)
        p.need(self.stochastic_days >= 1, "stochastic_days", ">= 1", self.stochastic_days)
        p.need(len(self.heldout_dates) == len(self.heldout_pv_dates), "heldout_pv_dates",
               "one weather date per held-out EV date", self.heldout_pv_dates)


@dataclass(frozen=True)
class ParkingConfig:
    """The whole ``parking`` parameter block."""

    seed: int
    lots: tuple[LotConfig, ...]
    transformer: TransformerConfig
    cables: CableConfig
    ev: EvConfig
    costs: CostConfig
    inputs: InputConfig
    model: ModelConfig
    study: StudyConfig
    solver: dict

    def check(self, p: Problems) -> None:
        p.need(len(self.lots) >= 1, "lots", "at least one lot", self.lots)
        names = [lot.name for lot in self.lots]
        p.need(len(set(names)) == len(names), "lots", "unique lot names", names)

    @classmethod
    def from_params(cls, params: Mapping) -> ParkingConfig:
        """The ``parking`` block, or one :class:`ParkingConfigError` listing every problem."""
        return build(cls, params, "parking", error=ParkingConfigError)


def validate_params(params: dict) -> None:
    """Parse the ``parking`` block (of ALL parameters) before any node runs: one error listing every problem."""
    if "parking" in params:
        ParkingConfig.from_params(params["parking"])

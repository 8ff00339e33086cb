"""Typed configuration of the DRO study, parsed once from the ``dro`` parameter block.

``DroConfig.from_params(params)`` builds the frozen blocks with :func:`evgrid.typed_params.build` and raises
one :class:`DroConfigError` listing every problem by its path (``dro.<block>.<key>``). No field has a
default: conf/base/parameters_dro.yml gives every value, with its source and assumptions beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evgrid.optim.robust import check_radius
from evgrid.runtime.validation import ConfigError, Problems
from evgrid.scenarios.pv import PVSystem
from evgrid.typed_params import build, build_into


class DroConfigError(ConfigError):
    """A ``dro`` parameter is missing, unknown or out of range (each problem names it)."""


def _at_least(p: Problems, obj: Any, names: tuple[str, ...], lo: float = 0.0, strict: bool = False) -> None:
    """Each field ``name`` of ``obj`` is ``>= lo`` (``> lo`` with ``strict``)."""
    for n in names:
        v = getattr(obj, n)
        p.need(v > lo if strict else v >= lo, n, f"{'>' if strict else '>='} {lo:g}", v)


def _months(p: Problems, obj: Any, name: str) -> None:
    months = getattr(obj, name)
    p.need(bool(months) and all(1 <= m <= 12 for m in months), name, "a non-empty list of months 1..12",
           list(months))


@dataclass(frozen=True)
class DayTypeConfig:
    """Calendar day type of the study: ``months`` (1-12) and ``weekend`` (null or absent = both)."""

    months: tuple[int, ...]
    weekend: bool | None

    def check(self, p: Problems) -> None:
        _months(p, self, "months")


@dataclass(frozen=True)
class NetworkConfig:
    """Feeder file, default branch rating (kVA), voltage band (p.u.), polygon sides, import limit (kW; null =
    none)."""

    case_path: str
    default_rating_kva: float
    v_min_pu: float
    v_max_pu: float
    linearisation_margin_pu: float
    thermal_sides: int
    import_limit_kw: float | None

    def check(self, p: Problems) -> None:
        _at_least(p, self, ("default_rating_kva", "v_min_pu"), strict=True)
        if p.less("v_min_pu", self.v_min_pu, "v_max_pu", self.v_max_pu, unit="p.u."):
            band = 0.5 * (self.v_max_pu - self.v_min_pu)
            p.need(0 <= self.linearisation_margin_pu < band, "linearisation_margin_pu",
                   f">= 0 and < half the voltage band ({band:g} p.u.)", self.linearisation_margin_pu)
        p.need(self.import_limit_kw is None or self.import_limit_kw > 0, "import_limit_kw", "> 0 kW or null",
               self.import_limit_kw)

    @classmethod
    def from_params(cls, params: Any) -> NetworkConfig:
        """The ``dro.network`` block alone (the feeder node's input)."""
        return build(cls, params, "dro.network", error=DroConfigError)


@dataclass(frozen=True)
class EvConfig:
    """Lane EV fleet: share of EVs, charging rate (kW), consumption (kWh/km), lane capacity and congestion."""

    ev_share: float
    max_rate_per_ev_kw: float
    consumption_kwh_per_km: float
    capacity_veh_per_h: float
    congestion_rho_free: float
    congestion_rho_max: float

    def check(self, p: Problems) -> None:
        p.need(0 <= self.ev_share <= 1, "ev_share", "a share in [0, 1]", self.ev_share)
        _at_least(p, self, ("max_rate_per_ev_kw", "consumption_kwh_per_km", "capacity_veh_per_h"), strict=True)
        _at_least(p, self, ("congestion_rho_free",))
        p.less("congestion_rho_free", self.congestion_rho_free, "congestion_rho_max", self.congestion_rho_max)


@dataclass(frozen=True)
class WindConfig:
    """Wind turbine: heights (m), shear (``power``: ``shear_exponent``; ``log``: ``roughness_length_m``),
    power-curve speeds (m/s), availability ``model`` (``paper_band``: band and speeds; ``power_curve``)."""

    ref_height_m: float
    hub_height_m: float
    shear_exponent: float
    cut_in_m_per_s: float
    rated_m_per_s: float
    cut_out_m_per_s: float
    model: str
    band_min_pu: float
    band_max_pu: float
    speed_low_m_per_s: float
    speed_high_m_per_s: float
    shear_model: str
    roughness_length_m: float

    def check(self, p: Problems) -> None:
        _at_least(p, self, ("ref_height_m", "hub_height_m", "roughness_length_m"), strict=True)
        p.choice("shear_model", self.shear_model, ("power", "log"))
        p.choice("model", self.model, ("paper_band", "power_curve"))
        p.need(0 <= self.band_min_pu <= self.band_max_pu <= 1, "band_min_pu",
               f"0 <= band_min_pu <= band_max_pu ({self.band_max_pu!r}) <= 1", self.band_min_pu)
        _at_least(p, self, ("speed_low_m_per_s", "cut_in_m_per_s"))
        p.less("speed_low_m_per_s", self.speed_low_m_per_s, "speed_high_m_per_s", self.speed_high_m_per_s)
        p.less("cut_in_m_per_s", self.cut_in_m_per_s, "rated_m_per_s", self.rated_m_per_s)
        p.less("rated_m_per_s", self.rated_m_per_s, "cut_out_m_per_s", self.cut_out_m_per_s)


@dataclass(frozen=True)
class RenewablesConfig:
    """PV and wind units (buses, the paper's unit sizes in MW before ``capacity_scale``), O&M cost ($/kWh)."""

    pv_buses: tuple[int, ...]
    pv_unit_mw_paper: float
    wind_buses: tuple[int, ...]
    wind_unit_mw_paper: float
    variable_cost_usd_per_kwh: float
    wind: WindConfig

    def check(self, p: Problems) -> None:
        _at_least(p, self, ("pv_unit_mw_paper", "wind_unit_mw_paper", "variable_cost_usd_per_kwh"))


@dataclass(frozen=True)
class ConventionalConfig:
    """Conventional units: buses, size (MW, paper), min load (fraction), costs ($/h, $/kWh), CO2 (kg/kWh),
    binary (true) or relaxed commitment."""

    buses: tuple[int, ...]
    unit_mw_paper: float
    p_min_fraction: float
    fixed_cost_usd_per_h: float
    variable_cost_usd_per_kwh: float
    co2_kg_per_kwh: float
    redispatch_penalty_usd_per_kwh: float
    integer_commitment: bool

    def check(self, p: Problems) -> None:
        _at_least(p, self, ("unit_mw_paper",), strict=True)
        p.need(0 <= self.p_min_fraction <= 1, "p_min_fraction", "a fraction in [0, 1]", self.p_min_fraction)
        _at_least(p, self, ("fixed_cost_usd_per_h", "variable_cost_usd_per_kwh", "co2_kg_per_kwh",
                            "redispatch_penalty_usd_per_kwh"))


@dataclass(frozen=True)
class CostsConfig:
    """Lane investment and operation, penalties (see parameters_dro.yml for sources)."""

    installation_usd_per_km: float
    lifetime_years: int
    discount_rate: float
    maintenance_fraction_per_year: float
    maintenance_weight: float
    lane_operation_usd_per_kwh: float
    battery_degradation_usd_per_kwh: float
    driver_saving_usd_per_km: float
    load_shedding_usd_per_kwh: float
    renewable_share_target: float
    renewable_shortfall_usd_per_kwh: float

    def check(self, p: Problems) -> None:
        _at_least(p, self, ("lifetime_years",), strict=True)
        _at_least(p, self, ("installation_usd_per_km", "discount_rate", "maintenance_fraction_per_year",
                            "maintenance_weight", "lane_operation_usd_per_kwh", "battery_degradation_usd_per_kwh",
                            "driver_saving_usd_per_km", "load_shedding_usd_per_kwh",
                            "renewable_shortfall_usd_per_kwh"))
        p.need(0 <= self.renewable_share_target <= 1, "renewable_share_target", "a share in [0, 1]",
               self.renewable_share_target)


# none: the ball is supported on the nominal atoms; gan: the separate traffic / pv / price families paired by
# scenario_id; joint: the co-temporal traffic + weather family `joint` with the price family
GENERATORS = ("none", "gan", "joint")


@dataclass(frozen=True)
class ScenariosConfig:
    """Real-day and GAN scenario counts and splits; ``generator`` (:data:`GENERATORS`); ``generated_day_year``:
    a generated joint day has the solar geometry of the 15th of its label's month in this year."""

    n_train_days: int
    max_test_days: int
    gan_support_fraction: float
    max_gan_support: int
    max_gan_test: int
    n_nominal: int
    n_gan_atoms: int
    generator: str
    generated_day_year: int

    def check(self, p: Problems) -> None:
        _at_least(p, self, ("n_nominal", "n_gan_atoms", "n_train_days", "max_test_days"), lo=1)
        p.less("n_nominal", self.n_nominal, "n_train_days", self.n_train_days, strict=False)
        p.choice("generator", self.generator, GENERATORS)
        p.need(0 < self.gan_support_fraction <= 1, "gan_support_fraction", "a fraction in (0, 1]",
               self.gan_support_fraction)


def radius_or_keyword(value, keyword: str, where: str, expected: str):
    """``keyword`` (any case) or a radius >= 0 (:func:`check_radius`); otherwise ``ValueError(expected, got)``."""
    if isinstance(value, str):
        if value.strip().lower() != keyword:
            raise ValueError(f"{expected}, got {value!r}")
        return keyword
    return check_radius(value, where)


def _radius_ok(r: Any) -> bool:
    return r == r and 0 <= r < float("inf")  # r == r: not NaN


@dataclass(frozen=True)
class RobustConfig:
    """Wasserstein DRO: worst-case weight, radius grid, radius (``auto`` = CV), CV folds and score (``mean`` |
    ``cvar``). ``report_radii``: fixed radii solved (integer) and tested beside the CV radius; null = every
    radius of ``radii``, [] = the CV radius only."""

    worst_case_weight: float
    radii: tuple[float, ...]
    radius: float | str
    cv_folds: int
    cv_score: str
    cvar_alpha: float
    lambda_max_usd: float
    report_radii: tuple[float, ...] | None
    cv_one_se: bool
    saa_all_days: bool

    def __post_init__(self) -> None:
        """Radii as floats and the keyword in lower case (never raises: :func:`build` typed the values)."""
        object.__setattr__(self, "radii", tuple(float(r) for r in self.radii))
        if self.report_radii is not None:
            object.__setattr__(self, "report_radii", tuple(float(r) for r in self.report_radii))
        radius = self.radius.strip().lower() if isinstance(self.radius, str) else float(self.radius)
        object.__setattr__(self, "radius", radius)

    def check(self, p: Problems) -> None:
        for name in ("radii", "report_radii"):
            radii = getattr(self, name) or ()
            p.need(all(_radius_ok(r) for r in radii), name, "finite radii >= 0", list(radii))
        p.need(self.radius == "auto" or (not isinstance(self.radius, str) and _radius_ok(self.radius)), "radius",
               "'auto' or a number >= 0", self.radius)
        _at_least(p, self, ("worst_case_weight",))
        p.choice("cv_score", self.cv_score, ("mean", "cvar"))
        p.need(0 < self.cvar_alpha < 1, "cvar_alpha", "a level in (0, 1)", self.cvar_alpha)
        _at_least(p, self, ("cv_folds",), lo=2)
        _at_least(p, self, ("lambda_max_usd",), strict=True)


@dataclass(frozen=True)
class EvaluationConfig:
    """Out-of-sample evaluation: scenario slots of the persistent recourse LP, days per compute task (0 = a
    whole test set per task)."""

    oos_batch: int
    days_per_task: int

    def check(self, p: Problems) -> None:
        _at_least(p, self, ("oos_batch",), lo=1)
        p.need(self.days_per_task == 0 or (self.days_per_task > 0 and self.days_per_task % max(self.oos_batch, 1) == 0),
               "days_per_task", f"0 (a whole test set per task) or a multiple of oos_batch={self.oos_batch}",
               self.days_per_task)


@dataclass(frozen=True)
class SolverConfig:
    """HiGHS settings: the certified gap target of the integer commitment, its work limit (branch-and-bound
    nodes, only used while the Lagrangian-certified gap is above target), a safety time limit (s) and the
    algorithm of every cold LP solve, ``lp_solver``: ``choose`` (dual simplex), ``simplex`` or ``ipm`` (interior
    point + crossover); warm re-solves of a persistent LP always use the simplex from the previous basis."""

    mip_rel_gap: float
    time_limit_s: float
    mip_max_nodes: int
    lp_solver: str

    def check(self, p: Problems) -> None:
        _at_least(p, self, ("mip_rel_gap", "mip_max_nodes"))
        _at_least(p, self, ("time_limit_s",), strict=True)
        p.choice("lp_solver", self.lp_solver, ("choose", "simplex", "ipm"))

    def options(self) -> dict:
        """Options of :func:`evgrid.optim.solver.solve` for LPs (and the persistent recourse LPs)."""
        opts = {"time_limit_s": float(self.time_limit_s), "mip_gap": float(self.mip_rel_gap)}
        if self.lp_solver != "choose":
            opts["highs_options"] = {"solver": self.lp_solver}
        return opts

    def mip_options(self) -> dict:
        """Options of the integer first stages (:meth:`TwoStageModel.solve_integer`): gap target, node limit
        (work limit) and the safety time limit (flagged, never the intended stop)."""
        return {"time_limit_s": float(self.time_limit_s), "mip_gap": float(self.mip_rel_gap),
                "mip_max_nodes": int(self.mip_max_nodes)}


CONDITIONS = ("same", "season", "generated")


@dataclass(frozen=True)
class ExperimentConfig:
    """The atoms x shift experiment (issue 28; docs/dro.md): methods trained on ``sizes`` training atoms
    under each condition of ``conditions`` and scored paired on the same held-out real days.

    Conditions: ``same`` (training days of every month before the cut-off, test days of every month after
    it), ``season`` (train on ``train_months``, operate on held-out days of ``test_months``), ``generated``
    (train on the generator's scenarios, operate on held-out real days of the generator's label months).
    ``max_size``: skip sizes above this (0 = none), a reduced grid from the command line
    (``--params dro.experiment.max_size=24``)."""

    enabled: bool
    sizes: tuple[int, ...]
    conditions: tuple[str, ...]
    train_months: tuple[int, ...]
    test_months: tuple[int, ...]
    max_test_days: int
    max_size: int
    cv_folds: int
    bootstrap: int
    confidence: float

    def check(self, p: Problems) -> None:
        p.need(bool(self.sizes) and min(self.sizes) >= 2, "sizes", "sizes >= 2", list(self.sizes))
        bad = sorted(set(self.conditions) - set(CONDITIONS))
        p.need(not bad, "conditions", f"conditions among {list(CONDITIONS)}", list(self.conditions))
        _months(p, self, "train_months")
        _months(p, self, "test_months")
        _at_least(p, self, ("max_test_days",), lo=5)
        _at_least(p, self, ("cv_folds",), lo=2)
        _at_least(p, self, ("bootstrap",), lo=100)
        p.need(0.5 < self.confidence < 1, "confidence", "a level in (0.5, 1)", self.confidence)


@dataclass(frozen=True)
class DroConfig:
    """The whole ``dro`` block, typed. ``lanes``: rows (``name, bus, length_km, rating_kw, flow_share,
    speed_km_per_h``), checked by :func:`evgrid.ev.lanes.lanes_from_params` against the feeder's buses."""

    seed: int
    aggregate_steps: int
    day_type: DayTypeConfig
    network: NetworkConfig
    lanes: tuple[dict, ...]
    ev: EvConfig
    capacity_scale: float
    renewables: RenewablesConfig
    conventional: ConventionalConfig
    grid_co2_kg_per_kwh: float
    costs: CostsConfig
    scenarios: ScenariosConfig
    robust: RobustConfig
    evaluation: EvaluationConfig
    solver: SolverConfig
    carbon_price_usd_per_t: float
    experiment: ExperimentConfig

    def check(self, p: Problems) -> None:
        p.need(len(self.lanes) > 0, "lanes", "a non-empty list of lanes", list(self.lanes))
        _at_least(p, self, ("capacity_scale",), strict=True)
        p.need(self.aggregate_steps >= 1 and 96 % self.aggregate_steps == 0, "aggregate_steps",
               "a divisor of 96 (steps per day)", self.aggregate_steps)
        _at_least(p, self, ("grid_co2_kg_per_kwh", "carbon_price_usd_per_t"))

    @property
    def import_carbon_usd_per_kwh(self) -> float:
        """Carbon cost of one kWh imported at the substation ($/kWh)."""
        return self.carbon_price_usd_per_t * self.grid_co2_kg_per_kwh / 1000.0

    @classmethod
    def from_params(cls, params: Any) -> DroConfig:
        """Parse the ``dro`` parameter block (see module docstring)."""
        return build(cls, params, "dro", error=DroConfigError)


def validate_params(params: dict) -> None:
    """Check the ``dro`` block of the run's parameters, and the shared ``pv_system`` block its scenario nodes
    read, before any node runs (the project hook calls it with ALL parameters): one :class:`DroConfigError`
    listing every problem by its full path (``dro.network.v_min_pu`` ...). Beyond the parser: the CV grid
    ``dro.robust.radii`` needs >= 3 radii."""
    params = params if isinstance(params, dict) else {}
    p = Problems("dro")
    block = params.get("dro")
    if block is None:
        p.add("", "missing: the dro parameter block (conf/base/parameters_dro.yml)")
    else:
        build_into(DroConfig, block, p)
        rob = block.get("robust") if isinstance(block, dict) else None
        if isinstance(rob, dict) and isinstance(rob.get("radii"), list) and len(rob["radii"]) < 3:
            p.add("robust.radii", f"needs >= 3 radii so the CV grid can bracket its optimum, got {rob['radii']}")
    if "pv_system" in params:  # the shared PV-system block the scenario nodes read (conf/base/parameters_pv.yml)
        pv = Problems("pv_system")
        pv.items = p.items
        PVSystem.check_params(params["pv_system"], pv)
    if p.items:
        raise DroConfigError(list(p.items))

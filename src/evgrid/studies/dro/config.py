"""Typed configuration of the DRO study, parsed once from the ``dro`` parameter block.

``DroConfig.from_params(params)`` rejects unknown keys, checks units and ranges and names the parameter
(``dro.<block>.<key>``) in every error. Sources and assumptions of each value: conf/base/parameters_dro.yml.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evgrid.optim.robust import check_radius
from evgrid.scenarios.pv import PVSystem
from evgrid.typed_params import ParameterError, require, typed


def _positive(obj, names: tuple[str, ...], strict: bool = True) -> None:
    for n in names:
        v = getattr(obj, n)
        if (v <= 0) if strict else (v < 0):
            raise ValueError(f"{n} must be {'>' if strict else '>='} 0, got {v}")


@dataclass(frozen=True)
class DayTypeConfig:
    """Calendar day type of the study: ``months`` (1-12) and ``weekend`` (None = both)."""

    months: tuple[int, ...]
    weekend: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "months", tuple(int(m) for m in self.months))
        if not self.months or not all(1 <= m <= 12 for m in self.months):
            raise ValueError(f"months must be a non-empty list of 1..12, got {list(self.months)}")


@dataclass(frozen=True)
class NetworkConfig:
    """Feeder file, default branch rating (kVA), voltage band (p.u.), polygon sides, import limit (kW)."""

    case_path: str
    default_rating_kva: float
    v_min_pu: float = 0.95
    v_max_pu: float = 1.05
    linearisation_margin_pu: float = 0.0
    thermal_sides: int = 8
    import_limit_kw: float | None = None

    def __post_init__(self) -> None:
        _positive(self, ("default_rating_kva",))
        if not 0 < self.v_min_pu < self.v_max_pu:
            raise ValueError(f"need 0 < v_min_pu < v_max_pu, got {self.v_min_pu}, {self.v_max_pu}")
        if not 0 <= self.linearisation_margin_pu < 0.5 * (self.v_max_pu - self.v_min_pu):
            raise ValueError(f"linearisation_margin_pu must be >= 0 and leave a voltage band, got "
                             f"{self.linearisation_margin_pu}")
        if self.import_limit_kw is not None and self.import_limit_kw <= 0:
            raise ValueError(f"import_limit_kw must be > 0 kW or null, got {self.import_limit_kw}")


@dataclass(frozen=True)
class EvConfig:
    """Lane EV fleet: share of EVs, charging rate (kW), consumption (kWh/km), lane capacity and congestion."""

    ev_share: float
    max_rate_per_ev_kw: float
    consumption_kwh_per_km: float
    capacity_veh_per_h: float
    congestion_rho_free: float
    congestion_rho_max: float

    def __post_init__(self) -> None:
        if not 0 <= self.ev_share <= 1:
            raise ValueError(f"ev_share must lie in [0, 1], got {self.ev_share}")
        _positive(self, ("max_rate_per_ev_kw", "consumption_kwh_per_km", "capacity_veh_per_h"))
        if not 0 <= self.congestion_rho_free < self.congestion_rho_max:
            raise ValueError("need 0 <= congestion_rho_free < congestion_rho_max")


@dataclass(frozen=True)
class WindConfig:
    """Wind turbine: heights (m), shear exponent, power-curve speeds (m/s)."""

    ref_height_m: float
    hub_height_m: float
    shear_exponent: float
    cut_in_m_per_s: float
    rated_m_per_s: float
    cut_out_m_per_s: float
    model: str = "paper_band"
    band_min_pu: float = 0.4
    band_max_pu: float = 0.8
    speed_low_m_per_s: float = 0.2
    speed_high_m_per_s: float = 2.0
    shear_model: str = "power"
    """``power`` (``shear_exponent``) or ``log`` (``roughness_length_m``): hub-height extrapolation of
    ``model: power_curve``."""
    roughness_length_m: float = 0.1

    def __post_init__(self) -> None:
        _positive(self, ("ref_height_m", "hub_height_m", "roughness_length_m"))
        if self.shear_model not in ("power", "log"):
            raise ValueError(f"shear_model must be 'power' or 'log', got {self.shear_model!r}")
        if self.model not in ("paper_band", "power_curve"):
            raise ValueError(f"model must be 'paper_band' or 'power_curve', got {self.model!r}")
        if not 0 <= self.band_min_pu <= self.band_max_pu <= 1:
            raise ValueError(f"need 0 <= band_min_pu <= band_max_pu <= 1, got {self.band_min_pu}, {self.band_max_pu}")
        if not 0 <= self.speed_low_m_per_s < self.speed_high_m_per_s:
            raise ValueError("need 0 <= speed_low_m_per_s < speed_high_m_per_s")
        if not 0 <= self.cut_in_m_per_s < self.rated_m_per_s < self.cut_out_m_per_s:
            raise ValueError("need 0 <= cut_in_m_per_s < rated_m_per_s < cut_out_m_per_s")


@dataclass(frozen=True)
class RenewablesConfig:
    """PV and wind units (buses, the paper's unit sizes in MW before ``capacity_scale``), O&M cost ($/kWh)."""

    pv_buses: tuple[int, ...]
    pv_unit_mw_paper: float
    wind_buses: tuple[int, ...]
    wind_unit_mw_paper: float
    variable_cost_usd_per_kwh: float
    wind: WindConfig

    def __post_init__(self) -> None:
        object.__setattr__(self, "pv_buses", tuple(int(b) for b in self.pv_buses))
        object.__setattr__(self, "wind_buses", tuple(int(b) for b in self.wind_buses))
        _positive(self, ("pv_unit_mw_paper", "wind_unit_mw_paper"), strict=False)
        _positive(self, ("variable_cost_usd_per_kwh",), strict=False)


@dataclass(frozen=True)
class ConventionalConfig:
    """Conventional units: buses, size (MW, paper), min load (fraction), costs ($/h, $/kWh), CO2 (kg/kWh)."""

    buses: tuple[int, ...]
    unit_mw_paper: float
    p_min_fraction: float
    fixed_cost_usd_per_h: float
    variable_cost_usd_per_kwh: float
    co2_kg_per_kwh: float
    redispatch_penalty_usd_per_kwh: float
    integer_commitment: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "buses", tuple(int(b) for b in self.buses))
        _positive(self, ("unit_mw_paper",))
        if not 0 <= self.p_min_fraction <= 1:
            raise ValueError(f"p_min_fraction must lie in [0, 1], got {self.p_min_fraction}")
        _positive(self, ("fixed_cost_usd_per_h", "variable_cost_usd_per_kwh", "co2_kg_per_kwh",
                         "redispatch_penalty_usd_per_kwh"), strict=False)


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

    def __post_init__(self) -> None:
        _positive(self, ("lifetime_years",))
        _positive(self, ("installation_usd_per_km", "discount_rate", "maintenance_fraction_per_year",
                         "maintenance_weight", "lane_operation_usd_per_kwh", "battery_degradation_usd_per_kwh",
                         "driver_saving_usd_per_km", "load_shedding_usd_per_kwh",
                         "renewable_shortfall_usd_per_kwh"), strict=False)
        if not 0 <= self.renewable_share_target <= 1:
            raise ValueError(f"renewable_share_target must lie in [0, 1], got {self.renewable_share_target}")


# none: the ball is supported on the nominal atoms; gan: the separate traffic / pv / price families paired by
# scenario_id; joint: the co-temporal traffic + weather family `joint` with the price family
GENERATORS = ("none", "gan", "joint")


@dataclass(frozen=True)
class ScenariosConfig:
    """Real-day and GAN scenario counts and splits."""

    n_train_days: int
    max_test_days: int
    gan_support_fraction: float
    max_gan_support: int
    max_gan_test: int
    n_nominal: int
    n_gan_atoms: int
    generator: str = "none"
    # joint generator: the solar geometry of a generated day is that of the 15th of its label's month in
    # this year (as gan.families.pv.representative_year does for the pv family)
    generated_day_year: int = 2015

    def __post_init__(self) -> None:
        for key in ("n_nominal", "n_gan_atoms", "n_train_days", "max_test_days"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"parameter 'dro.scenarios.{key}' must be >= 1, got {getattr(self, key)}")
        if self.n_nominal > self.n_train_days:
            raise ValueError(f"parameter 'dro.scenarios.n_nominal' ({self.n_nominal}) must be <= n_train_days "
                             f"({self.n_train_days})")
        if self.generator not in GENERATORS:
            raise ValueError(f"parameter 'dro.scenarios.generator' must be one of {list(GENERATORS)}, "
                             f"got {self.generator!r}")
        if not 0 < self.gan_support_fraction <= 1:
            raise ValueError(f"gan_support_fraction must lie in (0, 1], got {self.gan_support_fraction}")


def radius_or_keyword(value, keyword: str, where: str, expected: str):
    """``keyword`` (any case) or a radius >= 0 (:func:`check_radius`); otherwise ``ValueError(expected, got)``."""
    if isinstance(value, str):
        if value.strip().lower() != keyword:
            raise ValueError(f"{expected}, got {value!r}")
        return keyword
    return check_radius(value, where)


@dataclass(frozen=True)
class RobustConfig:
    """Wasserstein DRO: worst-case weight, radius grid, radius (``auto`` = CV), CV folds and score."""

    worst_case_weight: float
    radii: tuple[float, ...]
    radius: float | str = "auto"
    cv_folds: int = 3
    cv_score: str = "mean"
    cvar_alpha: float = 0.95
    lambda_max_usd: float = 1e5
    report_radii: tuple[float, ...] | None = None
    """Fixed radii solved (integer) and tested beside the CV radius; None = every radius of ``radii``,
    [] = the CV radius only."""
    cv_one_se: bool = True
    saa_all_days: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "radii", tuple(check_radius(r, "dro.robust.radii") for r in self.radii))
        if self.report_radii is not None:
            object.__setattr__(self, "report_radii",
                               tuple(check_radius(r, "dro.robust.report_radii") for r in self.report_radii))
        object.__setattr__(self, "radius", radius_or_keyword(
            self.radius, "auto", "dro.robust.radius", "parameter 'dro.robust.radius' must be 'auto' or a number >= 0"))
        if float(self.worst_case_weight) < 0:
            raise ValueError(f"parameter 'dro.robust.worst_case_weight' must be >= 0, got {self.worst_case_weight}")
        if self.cv_score not in ("mean", "cvar"):
            raise ValueError(f"parameter 'dro.robust.cv_score' must be 'mean' or 'cvar', got {self.cv_score!r}")
        if not 0 < self.cvar_alpha < 1:
            raise ValueError(f"cvar_alpha must lie in (0, 1), got {self.cvar_alpha}")
        if self.cv_folds < 2 or self.lambda_max_usd <= 0:
            raise ValueError("need cv_folds >= 2 and lambda_max_usd > 0")


@dataclass(frozen=True)
class EvaluationConfig:
    """Out-of-sample evaluation: scenario slots of the persistent recourse LP, days per compute task."""

    oos_batch: int = 10
    days_per_task: int = 0

    def __post_init__(self) -> None:
        if self.oos_batch < 1:
            raise ValueError(f"parameter 'oos_batch' must be >= 1, got {self.oos_batch}")
        if self.days_per_task < 0 or (self.days_per_task and self.days_per_task % self.oos_batch):
            raise ValueError(f"parameter 'days_per_task' must be 0 (a whole test set per task) or a multiple of "
                             f"oos_batch={self.oos_batch}, got {self.days_per_task}")


@dataclass(frozen=True)
class SolverConfig:
    """HiGHS settings: the certified gap target of the integer commitment, its work limit (branch-and-bound
    nodes, only used while the Lagrangian-certified gap is above target) and a safety time limit (s)."""

    mip_rel_gap: float = 5e-3
    time_limit_s: float = 600.0
    mip_max_nodes: int = 0
    lp_solver: str = "choose"
    """HiGHS algorithm of every cold LP solve: ``choose`` (dual simplex), ``simplex`` or ``ipm`` (interior point
    + crossover); warm re-solves of a persistent LP always use the simplex from the previous basis."""

    def __post_init__(self) -> None:
        if self.mip_rel_gap < 0 or self.time_limit_s <= 0 or self.mip_max_nodes < 0:
            raise ValueError("need mip_rel_gap >= 0, time_limit_s > 0 and mip_max_nodes >= 0")
        if self.lp_solver not in ("choose", "simplex", "ipm"):
            raise ValueError(f"dro.solver.lp_solver must be choose, simplex or ipm, got {self.lp_solver!r}")

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


@dataclass(frozen=True)
class ExperimentConfig:
    """The atoms x shift experiment (issue 28; docs/dro.md): methods trained on ``sizes`` training atoms
    under each condition of ``conditions`` and scored paired on the same held-out real days.

    Conditions: ``same`` (training days of every month before the cut-off, test days of every month after
    it), ``season`` (train on ``train_months``, operate on held-out days of ``test_months``), ``generated``
    (train on the generator's scenarios, operate on held-out real days of the generator's label months)."""

    enabled: bool = False
    sizes: tuple[int, ...] = (3, 6, 12, 24)
    conditions: tuple[str, ...] = ("same", "season", "generated")
    train_months: tuple[int, ...] = (11, 12, 1, 2, 3)
    test_months: tuple[int, ...] = (5, 6, 7, 8, 9)
    max_test_days: int = 60
    max_size: int = 0
    """Skip sizes above this (0 = none): a reduced grid from the command line (``--params dro.experiment.max_size=24``)."""
    cv_folds: int = 3
    bootstrap: int = 2000
    confidence: float = 0.95

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(int(n) for n in self.sizes))
        object.__setattr__(self, "conditions", tuple(str(c) for c in self.conditions))
        if not self.sizes or min(self.sizes) < 2:
            raise ValueError(f"parameter 'dro.experiment.sizes' needs sizes >= 2, got {list(self.sizes)}")
        bad = sorted(set(self.conditions) - {"same", "season", "generated"})
        if bad:
            raise ValueError(f"parameter 'dro.experiment.conditions': unknown {bad} (expected same, season, generated)")
        for key in ("train_months", "test_months"):
            months = [int(m) for m in getattr(self, key)]
            if not months or any(m < 1 or m > 12 for m in months):
                raise ValueError(f"parameter 'dro.experiment.{key}' must list months 1-12, got {months}")
            object.__setattr__(self, key, tuple(months))
        if self.max_test_days < 5 or self.cv_folds < 2 or self.bootstrap < 100 or not 0.5 < self.confidence < 1:
            raise ValueError("dro.experiment: need max_test_days >= 5, cv_folds >= 2, bootstrap >= 100 and "
                             "0.5 < confidence < 1")


_BLOCKS = {"day_type": DayTypeConfig, "network": NetworkConfig, "ev": EvConfig, "conventional": ConventionalConfig,
           "costs": CostsConfig, "scenarios": ScenariosConfig, "robust": RobustConfig, "evaluation": EvaluationConfig,
           "solver": SolverConfig, "experiment": ExperimentConfig}


@dataclass(frozen=True)
class DroConfig:
    """The whole ``dro`` block, typed."""

    seed: int
    aggregate_steps: int
    day_type: DayTypeConfig
    network: NetworkConfig
    lanes: tuple[dict, ...]
    """Lane rows (``name, bus, length_km, rating_kw, flow_share, speed_km_per_h``), checked by
    :func:`evgrid.ev.lanes.lanes_from_params` against the feeder's buses."""
    ev: EvConfig
    capacity_scale: float
    renewables: RenewablesConfig
    conventional: ConventionalConfig
    grid_co2_kg_per_kwh: float
    costs: CostsConfig
    scenarios: ScenariosConfig
    robust: RobustConfig
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    carbon_price_usd_per_t: float = 0.0
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lanes", tuple(dict(r) for r in self.lanes))
        if self.capacity_scale <= 0:
            raise ValueError(f"parameter 'capacity_scale' must be > 0, got {self.capacity_scale}")
        if self.aggregate_steps < 1 or 96 % self.aggregate_steps:
            raise ValueError(f"parameter 'aggregate_steps' must divide 96, got {self.aggregate_steps}")
        if self.grid_co2_kg_per_kwh < 0 or self.carbon_price_usd_per_t < 0:
            raise ValueError("grid_co2_kg_per_kwh and carbon_price_usd_per_t must be >= 0")

    @property
    def import_carbon_usd_per_kwh(self) -> float:
        """Carbon cost of one kWh imported at the substation ($/kWh)."""
        return self.carbon_price_usd_per_t * self.grid_co2_kg_per_kwh / 1000.0

    @classmethod
    def from_params(cls, params: dict) -> DroConfig:
        """Parse the ``dro`` parameter block (see module docstring)."""
        w = "dro"
        p = dict(params)
        for key in ("day_type", "network", "lanes", "ev", "renewables", "conventional", "costs", "scenarios",
                    "robust"):
            require(p, key, w)
        sub = {k: typed(c, p.get(k), f"{w}.{k}") for k, c in _BLOCKS.items() if k in p}
        ren = dict(p["renewables"])
        require(ren, "wind", f"{w}.renewables")
        sub["renewables"] = typed(RenewablesConfig, ren, f"{w}.renewables",
                                  wind=typed(WindConfig, ren["wind"], f"{w}.renewables.wind"))
        if not isinstance(p["lanes"], list | tuple) or not p["lanes"]:
            raise ParameterError(f"{w}.lanes: expected a non-empty list of lanes")
        return typed(cls, {k: v for k, v in p.items() if k not in sub}, w, **sub)


def validate_params(params: dict) -> None:
    """Check the ``dro`` block of the run's parameters before any node runs (the project hook calls it
    with ALL parameters). Every problem names its full parameter path (``dro.network.v_min_pu`` ...);
    raises :class:`evgrid.runtime.validation.ConfigError`."""
    from evgrid.runtime.validation import Problems

    p = Problems("dro")
    block = params.get("dro") if isinstance(params, dict) else None
    if not isinstance(block, dict):
        p.add("", "missing: the dro parameter block (conf/base/parameters_dro.yml)")
        p.raise_if_any()
    net = block.get("network") or {}
    if isinstance(net, dict) and "v_min_pu" in net and "v_max_pu" in net:
        p.less("network.v_min_pu", net["v_min_pu"], "network.v_max_pu", net["v_max_pu"], unit="p.u.")
    rob = block.get("robust") or {}
    if isinstance(rob, dict) and isinstance(rob.get("radii"), list) and len(rob["radii"]) < 3:
        p.add("robust.radii", f"needs >= 3 radii so the CV grid can bracket its optimum, got {rob['radii']}")
    if not p.items:
        p.check("", lambda: DroConfig.from_params(block))
    if "pv_system" in params:  # the shared PV-system block the scenario nodes read (conf/base/parameters_pv.yml)
        pv = Problems("pv_system")
        pv.items = p.items
        PVSystem.check_params(params["pv_system"], pv)
    p.raise_if_any()

"""Typed configuration of the DWPT study, parsed once from the ``dwpt`` parameter block.

``DwptConfig.from_params(params)`` rejects unknown keys, checks units and ranges, and names the parameter
(``dwpt.<block>.<key>``) in every error; see ``conf/base/parameters_dwpt.yml`` for the meaning and source of
each value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from evgrid.ev.inmotion import InMotionParams
from evgrid.optim.lindistflow import LinDistFlowOptions
from evgrid.optim.solver import SolverOptions
from evgrid.studies.dwpt.system import DGUnit, DwptCase, MarketParams
from evgrid.typed_params import ParameterError, require, typed


def _date(value, where: str) -> str:
    try:
        pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise ParameterError(f"{where}: expected a date 'YYYY-MM-DD', got {value!r}") from e
    return str(value)


@dataclass(frozen=True)
class DatesConfig:
    """Calendar day taken from each daily feature matrix (``dwpt.dates``)."""

    traffic: str
    weather: str
    load: str

    def __post_init__(self) -> None:
        for k in ("traffic", "weather", "load"):
            _date(getattr(self, k), f"dwpt.dates.{k}")


@dataclass(frozen=True)
class PriceConfig:
    """LBMP series from ``prices_primary`` (``dwpt.price``)."""

    market: str
    date: str
    zone: str

    def __post_init__(self) -> None:
        if self.market not in ("DAM", "RT"):
            raise ValueError(f"market must be 'DAM' or 'RT', got {self.market!r}")
        _date(self.date, "dwpt.price.date")


@dataclass(frozen=True)
class NetworkConfig:
    """The feeder file and optional default branch rating (kVA)."""

    path: str
    default_rating_kva: float | None = None

    def __post_init__(self) -> None:
        if self.default_rating_kva is not None and self.default_rating_kva <= 0:
            raise ValueError(f"default_rating_kva must be > 0 kVA or null, got {self.default_rating_kva}")


@dataclass(frozen=True)
class LoadConfig:
    """Bus load = base load x (NYISO profile / daily peak) x ``scale``."""

    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError(f"scale must be > 0, got {self.scale}")


@dataclass(frozen=True)
class EvConfig:
    """DWPT road at ``bus``; ``inmotion`` = the fleet/road parameters; ``band_draws`` re-draws for the band."""

    bus: int
    inmotion: InMotionParams = field(default_factory=InMotionParams)
    band_draws: int = 0

    def __post_init__(self) -> None:
        if self.band_draws < 0:
            raise ValueError(f"band_draws must be >= 0, got {self.band_draws}")

    @classmethod
    def from_params(cls, params: dict, where: str = "dwpt.ev") -> EvConfig:
        own = {k: params[k] for k in ("bus", "band_draws") if k in params}
        rest = {k: v for k, v in params.items() if k not in ("bus", "band_draws")}
        require(params, "bus", where)
        return typed(cls, own, where, inmotion=typed(InMotionParams, rest, where))


@dataclass(frozen=True)
class PvConfig:
    """Eq. 1 panel ``efficiency`` (0-1); area sized so PV energy = ``energy_ratio`` x EV energy."""

    efficiency: float = 0.20
    energy_ratio: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.efficiency <= 1 or self.energy_ratio < 0:
            raise ValueError(f"need 0 < efficiency <= 1 and energy_ratio >= 0, got {self}")


@dataclass(frozen=True)
class BatteryConfig:
    """Battery sizing scales and ratings (fractions of capacity, efficiencies 0-1)."""

    capacity_scale: float = 1.0
    power_scale: float = 1.0
    eta_charge: float = 0.95
    eta_discharge: float = 0.95
    soc_min_frac: float = 0.10
    soc_max_frac: float = 1.0
    soc_initial_frac: float = 0.10
    end_soc_at_least_initial: bool = True

    def __post_init__(self) -> None:
        if self.capacity_scale < 0 or self.power_scale < 0:
            raise ValueError("capacity_scale and power_scale must be >= 0")
        if not (0 < self.eta_charge <= 1 and 0 < self.eta_discharge <= 1):
            raise ValueError("eta_charge and eta_discharge must lie in (0, 1]")
        if not 0 <= self.soc_min_frac <= self.soc_initial_frac <= self.soc_max_frac <= 1:
            raise ValueError("need 0 <= soc_min_frac <= soc_initial_frac <= soc_max_frac <= 1")


@dataclass(frozen=True)
class AcValidationConfig:
    """Cases checked by the AC power flow and the number of AC-corrected re-solves."""

    cases: tuple[str, ...] = ()
    iterations: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "cases", tuple(self.cases))
        if self.iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {self.iterations}")


@dataclass(frozen=True)
class PlotsConfig:
    """Cases shown in the paper's figures."""

    reference_case: str
    upstream_cases: tuple[str, ...]
    battery_case: str
    shedding_cases: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "upstream_cases", tuple(self.upstream_cases))
        object.__setattr__(self, "shedding_cases", tuple(self.shedding_cases))


def _case(c: dict, where: str) -> DwptCase:
    c = dict(c)
    c["outages"] = tuple(tuple(o) for o in c.get("outages", []))
    return typed(DwptCase, c, where)


@dataclass(frozen=True)
class DwptConfig:
    """The whole ``dwpt`` block, typed."""

    dates: DatesConfig
    price: PriceConfig
    network: NetworkConfig
    ev: EvConfig
    dgs: tuple[DGUnit, ...]
    cases: tuple[DwptCase, ...]
    seed: int = 42
    max_shed_share: float = 0.5
    """Sanity flag (evgrid.runtime.sanity): a case shedding more than this share of its load energy is
    optimal but meaningless and compares to nothing (reductions NaN)."""
    model_step_minutes: int = 60
    load: LoadConfig = field(default_factory=LoadConfig)
    pv: PvConfig = field(default_factory=PvConfig)
    battery: BatteryConfig = field(default_factory=BatteryConfig)
    market: MarketParams = field(default_factory=MarketParams)
    power_flow: LinDistFlowOptions = field(default_factory=LinDistFlowOptions)
    solver: dict = field(default_factory=dict)
    """Options of :class:`evgrid.optim.solver.SolverOptions` (kept as the mapping the wrapper accepts)."""
    ac_validation: AcValidationConfig = field(default_factory=AcValidationConfig)
    plots: PlotsConfig | None = None
    paper: dict = field(default_factory=dict)
    """The paper's numbers shown beside ours (``normal``, ``outages``, ``shedding`` rows)."""

    def __post_init__(self) -> None:
        if self.model_step_minutes < 1 or 1440 % self.model_step_minutes:
            raise ValueError(f"model_step_minutes={self.model_step_minutes} does not divide a day")
        if not 0.0 < self.max_shed_share <= 1.0:
            raise ValueError(f"max_shed_share must be in (0, 1], got {self.max_shed_share}")
        names = [c.name for c in self.cases]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"case names must be unique, repeated: {dup}")

    @property
    def n_model_steps(self) -> int:
        """Model steps per day (24 for hourly)."""
        return 1440 // self.model_step_minutes

    @classmethod
    def from_params(cls, params: dict) -> DwptConfig:
        """Parse the ``dwpt`` parameter block (see module docstring)."""
        w = "dwpt"
        p = dict(params)
        for key in ("dates", "price", "network", "ev", "dgs", "cases"):
            require(p, key, w)
        solver = dict(p.get("solver") or {})
        try:
            SolverOptions.coerce(solver)
        except (TypeError, ValueError) as e:
            raise ParameterError(f"{w}.solver: {e}") from e
        sub = {
            "dates": typed(DatesConfig, p["dates"], f"{w}.dates"),
            "price": typed(PriceConfig, p["price"], f"{w}.price"),
            "network": typed(NetworkConfig, p["network"], f"{w}.network"),
            "load": typed(LoadConfig, p.get("load"), f"{w}.load"),
            "ev": EvConfig.from_params(p["ev"], f"{w}.ev"),
            "pv": typed(PvConfig, p.get("pv"), f"{w}.pv"),
            "battery": typed(BatteryConfig, p.get("battery"), f"{w}.battery"),
            "dgs": tuple(typed(DGUnit, g, f"{w}.dgs[{i}]") for i, g in enumerate(p["dgs"])),
            "cases": tuple(_case(c, f"{w}.cases[{i}]") for i, c in enumerate(p["cases"])),
            "market": typed(MarketParams, p.get("market"), f"{w}.market"),
            "power_flow": typed(LinDistFlowOptions, p.get("power_flow"), f"{w}.power_flow"),
            "solver": solver,
            "ac_validation": typed(AcValidationConfig, p.get("ac_validation"), f"{w}.ac_validation"),
            "plots": typed(PlotsConfig, p["plots"], f"{w}.plots") if p.get("plots") else None,
            "paper": dict(p.get("paper") or {}),
        }
        return typed(cls, {k: v for k, v in p.items() if k not in sub}, w, **sub)


def validate_params(params: dict) -> None:
    """Check the ``dwpt`` parameter block before any node runs (raises :class:`ParameterError`)."""
    DwptConfig.from_params(params)

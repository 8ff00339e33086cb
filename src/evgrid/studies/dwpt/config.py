"""Typed configuration of the DWPT study, parsed once from the ``dwpt`` parameter block.

``DwptConfig.from_params(params)`` builds the frozen blocks with :func:`evgrid.typed_params.build` and raises
one :class:`DwptConfigError` listing every problem by its path (``dwpt.<block>.<key>``). No field of these
blocks has a default: ``conf/base/parameters_dwpt.yml`` gives every value, with its meaning and source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from evgrid.ev.inmotion import InMotionParams
from evgrid.optim.lindistflow import LinDistFlowOptions
from evgrid.optim.solver import SolverOptions
from evgrid.runtime.validation import ConfigError, Problems
from evgrid.studies.dwpt.system import DGUnit, DwptCase, MarketParams
from evgrid.typed_params import build, build_into


class DwptConfigError(ConfigError):
    """A ``dwpt`` parameter is missing, unknown or out of range (each problem names it)."""


def _date(p: Problems, name: str, value: str) -> None:
    try:
        pd.Timestamp(value)
    except (ValueError, TypeError):
        p.add(name, f"expected a date 'YYYY-MM-DD', got {value!r}")


@dataclass(frozen=True)
class DatesConfig:
    """Calendar day taken from each daily feature matrix (``dwpt.dates``)."""

    traffic: str
    weather: str
    load: str

    def check(self, p: Problems) -> None:
        for k in ("traffic", "weather", "load"):
            _date(p, k, getattr(self, k))


@dataclass(frozen=True)
class PriceConfig:
    """LBMP series from ``prices_primary`` (``dwpt.price``): market ``DAM`` | ``RT``, date, zone."""

    market: str
    date: str
    zone: str

    def check(self, p: Problems) -> None:
        p.choice("market", self.market, ("DAM", "RT"))
        _date(p, "date", self.date)


@dataclass(frozen=True)
class NetworkConfig:
    """The feeder file and the default branch rating (kVA; null = the case's ratings only)."""

    path: str
    default_rating_kva: float | None

    def check(self, p: Problems) -> None:
        p.need(self.default_rating_kva is None or self.default_rating_kva > 0, "default_rating_kva",
               "> 0 kVA or null", self.default_rating_kva)

    @classmethod
    def from_params(cls, params: Any) -> NetworkConfig:
        """The ``dwpt.network`` block alone (the feeder node's input)."""
        return build(cls, params, "dwpt.network", error=DwptConfigError)


@dataclass(frozen=True)
class LoadConfig:
    """Bus load = base load x (NYISO profile / daily peak) x ``scale``."""

    scale: float

    def check(self, p: Problems) -> None:
        p.need(self.scale > 0, "scale", "> 0", self.scale)


EV_OWN = ("bus", "band_draws")
"""``dwpt.ev`` keys of :class:`EvConfig` itself; the block's other keys are the :class:`InMotionParams`."""


@dataclass(frozen=True)
class EvConfig:
    """DWPT road at ``bus``; ``inmotion`` = the fleet/road parameters (the other keys of the flat ``dwpt.ev``
    block); ``band_draws`` re-draws for the band (0 = off)."""

    bus: int
    inmotion: InMotionParams
    band_draws: int

    def check(self, p: Problems) -> None:
        p.need(self.band_draws >= 0, "band_draws", ">= 0", self.band_draws)

    @staticmethod
    def nest(block: Mapping) -> dict:
        """The flat YAML block as the dataclass tree: ``{bus, band_draws, inmotion: {<the other keys>}}``."""
        return {**{k: v for k, v in block.items() if k in EV_OWN},
                "inmotion": {k: v for k, v in block.items() if k not in EV_OWN}}


@dataclass(frozen=True)
class PvConfig:
    """Eq. 1 panel ``efficiency`` (0-1); area sized so PV energy = ``energy_ratio`` x EV energy."""

    efficiency: float
    energy_ratio: float

    def check(self, p: Problems) -> None:
        p.need(0 < self.efficiency <= 1, "efficiency", "an efficiency in (0, 1]", self.efficiency)
        p.need(self.energy_ratio >= 0, "energy_ratio", ">= 0", self.energy_ratio)


@dataclass(frozen=True)
class BatteryConfig:
    """Battery sizing scales and ratings (fractions of capacity, efficiencies 0-1)."""

    capacity_scale: float
    power_scale: float
    eta_charge: float
    eta_discharge: float
    soc_min_frac: float
    soc_max_frac: float
    soc_initial_frac: float
    end_soc_at_least_initial: bool

    def check(self, p: Problems) -> None:
        for name in ("capacity_scale", "power_scale"):
            p.need(getattr(self, name) >= 0, name, ">= 0", getattr(self, name))
        for name in ("eta_charge", "eta_discharge"):
            p.need(0 < getattr(self, name) <= 1, name, "an efficiency in (0, 1]", getattr(self, name))
        p.need(0 <= self.soc_min_frac <= self.soc_initial_frac <= self.soc_max_frac <= 1, "soc_initial_frac",
               f"0 <= soc_min_frac ({self.soc_min_frac!r}) <= soc_initial_frac <= soc_max_frac "
               f"({self.soc_max_frac!r}) <= 1", self.soc_initial_frac)


@dataclass(frozen=True)
class AcValidationConfig:
    """Cases checked by the AC power flow and the number of AC-corrected re-solves."""

    cases: tuple[str, ...]
    iterations: int

    def check(self, p: Problems) -> None:
        p.need(self.iterations >= 0, "iterations", ">= 0", self.iterations)


@dataclass(frozen=True)
class PlotsConfig:
    """Cases shown in the paper's figures."""

    reference_case: str
    upstream_cases: tuple[str, ...]
    battery_case: str
    shedding_cases: tuple[str, ...]


@dataclass(frozen=True)
class DwptConfig:
    """The whole ``dwpt`` block, typed. ``max_shed_share``: sanity flag (evgrid.runtime.sanity), a case shedding
    more than this share of its load energy is optimal but meaningless and compares to nothing (reductions
    NaN). ``solver``: options of :class:`evgrid.optim.solver.SolverOptions` (kept as the mapping the wrapper
    accepts). ``plots``: null = no figures. ``paper``: the paper's numbers shown beside ours (``normal``,
    ``outages``, ``shedding`` rows). ``market``, ``power_flow``, ``dgs``, ``cases`` are the model's own
    classes (:mod:`evgrid.studies.dwpt.system`, :class:`~evgrid.optim.lindistflow.LinDistFlowOptions`)."""

    dates: DatesConfig
    price: PriceConfig
    network: NetworkConfig
    ev: EvConfig
    dgs: tuple[DGUnit, ...]
    cases: tuple[DwptCase, ...]
    seed: int
    max_shed_share: float
    model_step_minutes: int
    load: LoadConfig
    pv: PvConfig
    battery: BatteryConfig
    market: MarketParams
    power_flow: LinDistFlowOptions
    solver: dict
    ac_validation: AcValidationConfig
    plots: PlotsConfig | None
    paper: dict

    def check(self, p: Problems) -> None:
        p.need(self.model_step_minutes >= 1 and 1440 % self.model_step_minutes == 0, "model_step_minutes",
               "a divisor of a day (1440 min)", self.model_step_minutes)
        p.need(0.0 < self.max_shed_share <= 1.0, "max_shed_share", "a share in (0, 1]", self.max_shed_share)
        names = [c.name for c in self.cases]
        dup = sorted({n for n in names if names.count(n) > 1})
        p.need(not dup, "cases", f"unique case names (repeated: {dup})", names)
        try:
            SolverOptions.coerce(dict(self.solver))
        except (TypeError, ValueError) as e:
            p.add("solver", str(e))

    @property
    def n_model_steps(self) -> int:
        """Model steps per day (24 for hourly)."""
        return 1440 // self.model_step_minutes

    @classmethod
    def from_params(cls, params: Any) -> DwptConfig:
        """Parse the ``dwpt`` parameter block (see module docstring); the flat ``dwpt.ev`` block is nested by
        :meth:`EvConfig.nest` and its problems keep their YAML paths (``dwpt.ev.pad_power_kw``)."""
        raw = params
        if isinstance(params, Mapping) and isinstance(params.get("ev"), Mapping):
            raw = {**params, "ev": EvConfig.nest(params["ev"])}
        p = Problems("dwpt")
        cfg = build_into(cls, raw, p)
        if p.items:
            inner = "dwpt.ev.inmotion"
            raise DwptConfigError([("dwpt.ev" + path[len(inner):] if path.startswith(inner) else path, msg)
                                   for path, msg in p.items])
        return cfg


def validate_params(params: dict) -> None:
    """Check the ``dwpt`` parameter block before any node runs (raises one :class:`DwptConfigError`)."""
    DwptConfig.from_params(params)

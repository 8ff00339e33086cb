"""Typed configuration of the planning study (paper 003), parsed once from ``parameters_planning.yml``.

:func:`validate_params` checks the whole ``planning`` block against :data:`SCHEMA` (unknown keys at every
level, types, ranges, cross-field rules) and raises :class:`evgrid.runtime.validation.ConfigError` listing every
problem by its dotted path. Defaults live only in the YAML: the dataclasses below require every field.
``case`` selects one block of ``cases`` (``ring``: the paper's kind of case, built by
:mod:`evgrid.transport.ring`; ``sioux_falls``: the TNTP network).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evgrid.runtime.validation import ConfigError, Problems
from evgrid.typed_params import ParameterError


class PlanningConfigError(ParameterError):
    """A planning input is inconsistent with the data (unknown link or bus, infeasible budget...)."""


# --------------------------------------------------------------------------- schema
# leaf: (kind, lo, hi) with kind in float|int|str|bool|floats|ints; str leaves give choices (None = any)
F = lambda lo=None, hi=None: ("float", lo, hi)  # noqa: E731
I = lambda lo=None, hi=None: ("int", lo, hi)  # noqa: E731, E741
STATION = {"name": ("str", None, None), "init_node": I(), "term_node": I(), "bus": I(1)}
RING = {"n_ring": I(3, 200), "radius_km": F(0.1, 100), "ring_capacity_veh_per_h": F(1, 1e5),
        "ring_speed_kmh": F(1, 200), "spoke_every": I(1, 200), "spoke_capacity_veh_per_h": F(1, 1e5),
        "spoke_speed_kmh": F(1, 200), "bpr_b": F(0, 10), "bpr_power": F(0, 10),
        "peak_trips_veh_per_h": F(1, 1e7), "cbd_weight": F(0, 1e3), "decay_km": F(0.01, 1e4)}
TNTP = {"net_path": ("str", None, None), "trips_path": ("str", None, None), "node_path": ("str", None, None),
        "time_unit_h": F(1e-6, 10), "length_unit_km": F(1e-6, 10)}
CASE_TRAFFIC = {"ev_share": F(0, 1), "charging_trip_share": F(0, 1), "v_min_pu": F(0.5, 1.0)}
SCHEMA: dict = {
    "seed": I(0),
    "case": ("str", ("ring", "sioux_falls"), None),
    "cases": {"ring": {"network": RING, "stations": [STATION], **CASE_TRAFFIC},
              "sioux_falls": {"network": TNTP, "stations": [STATION], **CASE_TRAFFIC}},
    "station": {"units": I(1, 1000), "energy_per_charge_kwh": F(0.1, 1000), "queue_b": F(0, 100),
                "queue_power": F(0, 10), "service_fee_usd_per_kwh": F(0, 10)},
    "traffic": {"vot_icev_usd_per_h": F(0.01, 1000), "vot_ev_usd_per_h": F(0.01, 1000),
                "icev_fuel_usd_per_km": F(0, 10), "ev_energy_kwh_per_km": F(0, 5),
                "ev_home_price_usd_per_kwh": F(0, 10), "rel_gap": F(1e-12, 0.1), "reference_rel_gap": F(1e-12, 0.1),
                "final_rel_gap": F(1e-12, 0.1), "max_iter": I(1, 10**6), "algorithm": ("str", ("fw", "cfw", "bfw"), None)},
    "periods": [{"name": ("str", None, None), "hours": ("ints", 0, 23)}],
    "tou": {"rates_usd_per_kwh": ("map_float", 0, 10), "hours": ("map_ints", 0, 23)},
    "grid": {"path": ("str", None, None), "v_slack_pu": F(0.9, 1.1), "load_scale": F(1e-3, 100)},
    "fixed_point": {"max_iter": I(1, 1000), "tol_usd_per_mwh": F(1e-9, 1e3), "damping": F(0.01, 1)},
    "investment": {"unit_fixed_usd": F(0, 1e9), "unit_usd_per_kw": F(0, 1e6), "discount_rate": F(0, 1),
                   "lifetime_years": I(1, 100)},
    "upper": {"levels_kw": ("floats", 1, 1e4), "budget_usd": F(1, 1e12), "n_evaluations": I(2, 10**5),
              "n_initial": I(1, 10**5), "n_seeds": I(1, 1000), "surrogate": ("str", ("gp",), None),
              "gp_restarts": I(0, 50), "revenue_penalty_usd": F(0, 1e12),
              "landscape": ("bool", None, None)},
    "solver": {"max_iter": I(1, 10**5), "time_limit_s": F(1, 1e6)},
    "ev_share_sweep": ("floats", 0, 1),
    "v2g": {"availability": F(0, 1), "efficiency": F(0.5, 1), "degradation_usd_per_kwh": F(0, 10)},
}


def _leaf(p: Problems, name: str, value: Any, spec: tuple) -> None:
    kind, lo, hi = spec
    if kind in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            p.add(name, f"expected a{'n integer' if kind == 'int' else ' number'}, got {value!r}")
        elif kind == "int" and not float(value).is_integer():
            p.add(name, f"expected a whole number, got {value!r}")
        else:
            p.in_range(name, value, lo, hi)
    elif kind == "str":
        if not isinstance(value, str) or not value:
            p.add(name, f"expected a non-empty string, got {value!r}")
        elif lo is not None:
            p.choice(name, value, lo)
    elif kind == "bool":
        if not isinstance(value, bool):
            p.add(name, f"expected true or false, got {value!r}")
    elif kind in ("floats", "ints"):
        if not isinstance(value, list):
            p.add(name, f"expected a list of numbers, got {value!r}")
            return
        for i, v in enumerate(value):
            _leaf(p, f"{name}[{i}]", v, ("int" if kind == "ints" else "float", lo, hi))
    elif kind in ("map_float", "map_ints"):
        if not isinstance(value, Mapping) or not value:
            p.add(name, f"expected a non-empty mapping tier -> value, got {value!r}")
            return
        for k, v in value.items():
            _leaf(p, f"{name}.{k}", v, ("float", lo, hi) if kind == "map_float" else ("ints", lo, hi))


def _walk(p: Problems, name: str, value: Any, spec: Any) -> None:
    if isinstance(spec, dict):
        if not isinstance(value, Mapping):
            p.add(name, f"expected a mapping with keys {sorted(spec)}, got {value!r}")
            return
        p.known_keys(value, spec, name)
        p.required(value, spec, name)
        for k, sub in spec.items():
            if k in value:
                _walk(p, f"{name}.{k}" if name else k, value[k], sub)
    elif isinstance(spec, list):
        if not isinstance(value, list) or not value:
            p.add(name, f"expected a non-empty list of entries with keys {sorted(spec[0])}, got {value!r}")
            return
        for i, v in enumerate(value):
            _walk(p, f"{name}[{i}]", v, spec[0])
    else:
        _leaf(p, name, value, spec)


def _cross_checks(p: Problems, params: Mapping) -> None:
    """Rules between fields (only reached when the block's shape is right)."""
    up, tou, per = params["upper"], params["tou"], params["periods"]
    if isinstance(up.get("levels_kw"), list) and up["levels_kw"]:
        lv = up["levels_kw"]
        if sorted(set(lv)) != lv:
            p.add("upper.levels_kw", f"must be strictly increasing, got {lv}")
    if isinstance(up.get("n_initial"), int) and isinstance(up.get("n_evaluations"), int):
        p.less("upper.n_initial", up["n_initial"], "upper.n_evaluations", up["n_evaluations"], strict=False)
    if isinstance(tou.get("rates_usd_per_kwh"), Mapping) and isinstance(tou.get("hours"), Mapping):
        if set(tou["rates_usd_per_kwh"]) != set(tou["hours"]):
            p.add("tou", "rates_usd_per_kwh and hours must name the same tiers")
        hours = sorted(int(h) for hrs in tou["hours"].values() if isinstance(hrs, list) for h in hrs)
        if hours != list(range(24)):
            p.add("tou.hours", f"must cover each hour 0..23 exactly once, got {hours}")
    if isinstance(per, list) and all(isinstance(r, Mapping) for r in per):
        names = [r.get("name") for r in per]
        if len(set(names)) != len(names):
            p.add("periods", f"period names must be unique, got {names}")
        hours = [h for r in per if isinstance(r.get("hours"), list) for h in r["hours"]]
        if len(set(hours)) != len(hours):
            p.add("periods", f"hours must be distinct across periods, got {sorted(hours)}")
    for case, block in params["cases"].items():
        st = block.get("stations") if isinstance(block, Mapping) else None
        if isinstance(st, list):
            names = [s.get("name") for s in st if isinstance(s, Mapping)]
            if len(set(names)) != len(names):
                p.add(f"cases.{case}.stations", f"station names must be unique, got {names}")


def validate_params(params: Any) -> None:
    """Check the whole ``planning`` block; raise :class:`ConfigError` listing every problem (path: expected)."""
    p = Problems("planning")
    if isinstance(params, Mapping) and "n_jobs" in params:
        p.add("n_jobs", "is gone: evaluations run on evgrid.compute (compute.n_workers)")
        params = {k: v for k, v in params.items() if k != "n_jobs"}
    _walk(p, "", params, SCHEMA)
    if not p.items:
        _cross_checks(p, params)
    p.raise_if_any()


# --------------------------------------------------------------------------- typed config
@dataclass(frozen=True)
class Station:
    name: str
    init_node: int
    term_node: int
    bus: int


@dataclass(frozen=True)
class CaseConfig:
    """The road network of the chosen case: ``kind`` ring (``network`` = ring builder arguments) or
    sioux_falls (``network`` = TNTP paths and units)."""

    kind: str
    network: dict


@dataclass(frozen=True)
class StationConfig:
    units: int
    energy_per_charge_kwh: float
    queue_b: float
    queue_power: float
    service_fee_usd_per_kwh: float


@dataclass(frozen=True)
class TrafficConfig:
    ev_share: float
    charging_trip_share: float
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


@dataclass(frozen=True)
class TouConfig:
    rates_usd_per_kwh: dict
    hours: dict

    def rate_of_hour(self) -> dict[int, float]:
        return {int(h): float(self.rates_usd_per_kwh[t]) for t, hrs in self.hours.items() for h in hrs}


@dataclass(frozen=True)
class GridConfig:
    path: str
    v_slack_pu: float
    v_min_pu: float
    load_scale: float


@dataclass(frozen=True)
class FixedPointConfig:
    max_iter: int
    tol_usd_per_mwh: float
    damping: float


@dataclass(frozen=True)
class InvestmentConfig:
    unit_fixed_usd: float
    unit_usd_per_kw: float
    discount_rate: float
    lifetime_years: int

    @property
    def crf(self) -> float:
        """Capital recovery factor ``r (1+r)^n / ((1+r)^n - 1)`` (1/n when r = 0)."""
        r, n = self.discount_rate, self.lifetime_years
        return 1.0 / n if r == 0 else r * (1 + r) ** n / ((1 + r) ** n - 1)


@dataclass(frozen=True)
class UpperConfig:
    levels_kw: tuple
    budget_usd: float
    n_evaluations: int
    n_initial: int
    n_seeds: int
    surrogate: str
    gp_restarts: int
    revenue_penalty_usd: float
    landscape: bool

    @property
    def p_min_kw(self) -> float:
        return float(self.levels_kw[0])

    @property
    def p_max_kw(self) -> float:
        return float(self.levels_kw[-1])


@dataclass(frozen=True)
class SolverConfig:
    """Clarabel work limit (iterations) and the wall-clock safety net (a run that hits it fails)."""

    max_iter: int
    time_limit_s: float

    def options(self) -> dict:
        return {"time_limit_s": self.time_limit_s, "highs_options": {"max_iter": self.max_iter}}


@dataclass(frozen=True)
class V2GConfig:
    availability: float
    efficiency: float
    degradation_usd_per_kwh: float


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
    def from_params(cls, params: dict) -> PlanningConfig:
        """:func:`validate_params`, then the typed config of the chosen case."""
        validate_params(params)
        case = params["case"]
        cb = params["cases"][case]
        up = dict(params["upper"])
        up["levels_kw"] = tuple(float(v) for v in up["levels_kw"])
        return cls(
            seed=int(params["seed"]),
            case=CaseConfig(case, dict(cb["network"])),
            stations=tuple(Station(**s) for s in cb["stations"]),
            station=StationConfig(**params["station"]),
            traffic=TrafficConfig(ev_share=float(cb["ev_share"]), charging_trip_share=float(cb["charging_trip_share"]),
                                  **params["traffic"]),
            periods={str(r["name"]): [int(h) for h in r["hours"]] for r in params["periods"]},
            tou=TouConfig(dict(params["tou"]["rates_usd_per_kwh"]), dict(params["tou"]["hours"])),
            grid=GridConfig(v_min_pu=float(cb["v_min_pu"]), **params["grid"]),
            fixed_point=FixedPointConfig(**params["fixed_point"]),
            investment=InvestmentConfig(**params["investment"]),
            upper=UpperConfig(**up),
            solver=SolverConfig(**params["solver"]),
            ev_share_sweep=tuple(float(s) for s in params["ev_share_sweep"]),
            v2g=V2GConfig(**params["v2g"]),
        )


__all__ = ["ConfigError", "PlanningConfig", "PlanningConfigError", "validate_params"]

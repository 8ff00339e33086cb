"""Family definitions: how each family's training matrix is built from the feature layer, which physical
bounds and representation it uses, and which *score views* it is validated on.

Kinds (parameter ``kind`` of each family):
* ``profile``: wide daily matrices (``weather_daily``, ``traffic_daily``, ``price_daily``), one unit per
  day, the listed channels side by side; ``pv`` adds the derived variable ``pv_kw_per_kwp`` (pvlib).
* ``ev_times``: joint (arrival_h, departure_h) per session from ``ev_session_features``.
* ``ev_distance``: distance_km per session (sessions with unknown distance are counted and left out).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from evgrid.scenarios.data import FamilyData, Variable, calendar_columns, wide_channel
from evgrid.scenarios.errors import ScenarioDataError
from evgrid.scenarios.pv import PVSystem, pv_kw_per_kwp, representative_dates

log = logging.getLogger(__name__)

KINDS = ("profile", "ev_times", "ev_distance")


def build_family_data(family: str, features: pd.DataFrame, params: dict, step_minutes: int = 15,
                      pv_system: dict | None = None) -> FamilyData:
    """Training matrix of ``family`` from its feature dataset, following the family's parameters; a family
    with ``derive_pv: true`` derives ``pv_kw_per_kwp`` through ``pv_system`` (the shared parameter block)."""
    kind = params.get("kind")
    if kind not in KINDS:
        raise ScenarioDataError(f"family {family!r}: parameter 'kind' must be one of {KINDS}, got {kind!r}")
    if features is None or len(features) == 0:
        raise ScenarioDataError(f"family {family!r}: feature dataset {params.get('dataset')!r} is empty")
    if kind == "profile":
        return _profile_data(family, features, params, step_minutes, pv_system)
    return _session_data(family, features, params, kind)


def _profile_data(family: str, df: pd.DataFrame, params: dict, step_minutes: int,
                  pv_system: dict | None) -> FamilyData:
    n_steps = 24 * 60 // step_minutes
    df = df.sort_values("date").reset_index(drop=True)
    filters = params.get("filters") or {}
    removed = {}
    for col, value in filters.items():
        if col not in df.columns:
            raise ScenarioDataError(f"family {family!r}: filter column {col!r} not in {params.get('dataset')!r}")
        keep = df[col] == value
        removed[f"{col}!={value}"] = int((~keep).sum())
        df = df[keep].reset_index(drop=True)
    if len(df) == 0:
        raise ScenarioDataError(f"family {family!r}: no days left after filters {filters}")
    variables = [Variable(v["name"], v["unit"], n_steps, v.get("lower"), v.get("upper"))
                 for v in params["variables"]]
    blocks = [wide_channel(df, v.name, n_steps, family) for v in variables]
    dates, months, weekend = calendar_columns(df, family, params.get("dataset", "?"))
    info = {"removed": removed, "step_minutes": step_minutes}
    if params.get("derive_pv"):
        info["pv_system"] = PVSystem.from_params(pv_system, step_minutes)
        info["pv_max_kw_per_kwp"] = float(params.get("pv_max_kw_per_kwp", 1.2))
        info["representative_year"] = int(params.get("representative_year", 2015))
    return FamilyData(
        family=family, kind="profile", values=np.concatenate(blocks, axis=1), variables=variables,
        months=months, is_weekend=weekend,
        unit_ids=pd.to_datetime(df["date"]).dt.strftime("%Y-%m-%d").to_numpy(dtype=object),
        dates=dates, info=info,
    )


def _session_data(family: str, df: pd.DataFrame, params: dict, kind: str) -> FamilyData:
    need = ["session_id", "source", "month", "is_weekend"]
    cols = ["arrival_h", "departure_h"] if kind == "ev_times" else ["distance_km"]
    missing = [c for c in need + cols if c not in df.columns]
    if missing:
        raise ScenarioDataError(f"family {family!r}: ev_session_features lacks columns {missing}")
    removed: dict[str, int] = {}
    sources = params.get("sources")
    if sources:
        keep = df["source"].isin(sources)
        removed["source not in " + ",".join(sources)] = int((~keep).sum())
        df = df[keep]
    unknown = df[cols].isna().any(axis=1)
    if unknown.any():
        removed[f"unknown {'/'.join(cols)}"] = int(unknown.sum())
        df = df[~unknown]
    values = df[cols].to_numpy(dtype=np.float64)
    if kind == "ev_times":
        bad = values[:, 1] <= values[:, 0]
        if bad.any():
            removed["departure_h <= arrival_h"] = int(bad.sum())
            df, values = df[~bad], values[~bad]
        variables = [Variable("arrival_h", "h", 1, 0.0, 24.0), Variable("departure_h", "h", 1, 0.0, None)]
    else:
        lo, hi = params.get("min_km", 0.0), params.get("max_km")
        bad = (values[:, 0] < lo) | ((values[:, 0] > hi) if hi is not None else False)
        if np.any(bad):
            removed[f"distance_km outside [{lo}, {hi}]"] = int(np.sum(bad))
            df, values = df[~bad], values[~bad]
        variables = [Variable("distance_km", "km", 1, 0.0, hi)]
    for reason, count in removed.items():
        if count:
            log.info("family %s: removed %d sessions (%s)", family, count, reason)
    if len(df) == 0:
        raise ScenarioDataError(f"family {family!r}: no sessions left after removing {removed}")
    dates = pd.to_datetime(df["date"]).to_numpy(dtype="datetime64[ns]") if "date" in df else None
    return FamilyData(
        family=family, kind="scalar", values=values, variables=variables,
        months=df["month"].to_numpy(dtype=int), is_weekend=df["is_weekend"].to_numpy(dtype=bool),
        unit_ids=df["session_id"].astype(str).to_numpy(dtype=object), dates=dates,
        info={"removed": removed, "ev_kind": kind},
    )


def derived_variables(data: FamilyData, values: np.ndarray, months: np.ndarray,
                      dates: np.ndarray | None) -> dict[str, np.ndarray]:
    """Variables computed from the modelled ones: ``pv_kw_per_kwp`` (pvlib) for families with a PV system.

    ``dates`` are the real days (real data) or None for generated days, which use the mid-month date.
    """
    system: PVSystem | None = data.info.get("pv_system")
    if system is None:
        return {}
    sl = data.slices()
    if dates is None:
        dates = representative_dates(months, data.info["representative_year"])
    p = pv_kw_per_kwp(values[:, sl["ghi_w_per_m2"]], values[:, sl["temp_air_c"]], dates, system)
    return {"pv_kw_per_kwp": np.minimum(p, data.info["pv_max_kw_per_kwp"])}


def score_views(data: FamilyData, values: np.ndarray, months: np.ndarray,
                dates: np.ndarray | None) -> dict[str, np.ndarray]:
    """Named 2-D arrays the scores are computed on: each profile variable (+ derived), or for sessions
    each scalar (+ duration) and the joint (arrival, departure) pair."""
    views: dict[str, np.ndarray] = {}
    sl = data.slices()
    for v in data.variables:
        views[v.name] = values[:, sl[v.name]]
    if data.kind == "profile":
        views.update(derived_variables(data, values, months, dates))
    elif data.info.get("ev_kind") == "ev_times":
        views["duration_h"] = values[:, 1:2] - values[:, 0:1]
        views["arrival_departure"] = values[:, 0:2]
    return views


def variable_units(data: FamilyData) -> dict[str, str]:
    """Unit of each modelled or derived variable."""
    units = {v.name: v.unit for v in data.variables}
    if data.info.get("pv_system") is not None:
        units["pv_kw_per_kwp"] = "kW/kWp"
    return units

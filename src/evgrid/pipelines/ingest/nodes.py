"""Thin Kedro nodes of the ``ingest`` pipeline; the work is done in :mod:`evgrid.data`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from evgrid.data import ev, load, prices, schemas, traffic, weather
from evgrid.data.errors import IngestError
from evgrid.data.features import build_daily, ev_session_features, joint_daily
from evgrid.data.options import resolve_format, validate_ingest_params
from evgrid.data.quality import QualityLog, merge_quality

log = logging.getLogger(__name__)

_PARSERS = {"prices": prices.PARSERS, "load": load.PARSERS, "ev_sessions": ev.PARSERS,
            "traffic": traffic.PARSERS, "weather": weather.PARSERS}


def validate_params(params: dict[str, Any]) -> None:
    """Every ``ingest`` format and daily block checked before any node runs (unknown format or option,
    resampling settings); one :class:`IngestError` lists every problem by parameter path."""
    validate_ingest_params(params.get("ingest"), _PARSERS)


def _parse(kind: str, paths: list[Path], options: dict[str, Any], qlog: QualityLog, where: str) -> pd.DataFrame:
    """Parse with the block's ``format``: only that format's options (nested under its name) are passed."""
    _fmt, parser, kwargs = resolve_format(_PARSERS[kind], options, where, paths)
    return parser(paths, log=qlog, **kwargs)


def ingest_prices(rt_paths: list[Path], dam_paths: list[Path], params: dict[str, Any]
                  ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Parse the real-time and day-ahead price files into one validated ``prices_primary`` table."""
    qlog = QualityLog("prices")
    df = pd.concat([_parse("prices", rt_paths, params["rt"], qlog, "ingest.prices.rt"),
                    _parse("prices", dam_paths, params["dam"], qlog, "ingest.prices.dam")], ignore_index=True)
    prices.select_zone(df, params["zone"], ", ".join(map(str, rt_paths + dam_paths)))
    df = schemas.validate(df, "prices", qlog.files)
    qlog.wrote(len(df))
    return df, qlog.as_dict()


def _ingest_single(kind: str, paths: list[Path], params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    qlog = QualityLog(kind)
    df = schemas.validate(_parse(kind, paths, params["parser"], qlog, f"ingest.{kind}.parser"), kind, qlog.files)
    qlog.wrote(len(df))
    return df, qlog.as_dict()


def ingest_load(paths: list[Path], params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Parse the system-load file(s) with the configured format into a validated ``load_primary``."""
    return _ingest_single("load", paths, params)


def ingest_traffic(paths: list[Path], params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Parse the traffic-count file(s) with the configured format into a validated ``traffic_primary``."""
    return _ingest_single("traffic", paths, params)


def ingest_weather(paths: list[Path], params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Parse the irradiance/weather file(s) with the configured format into a validated ``weather_primary``."""
    return _ingest_single("weather", paths, params)


def ingest_ev_sessions(acn_paths: list[Path], council_paths: list[Path], params: dict[str, Any]
                       ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Parse both EV-session sources (ACN JSON, council CSV) into one validated ``ev_sessions_primary``."""
    qlog = QualityLog("ev_sessions")
    df = pd.concat([_parse("ev_sessions", acn_paths, params["acn"], qlog, "ingest.ev_sessions.acn"),
                    _parse("ev_sessions", council_paths, params["council"], qlog, "ingest.ev_sessions.council")],
                   ignore_index=True)
    df = schemas.validate(df.sort_values("arrival_utc", kind="stable").reset_index(drop=True), "ev_sessions",
                          qlog.files)
    qlog.wrote(len(df))
    return df, qlog.as_dict()


def _daily(kind: str, df: pd.DataFrame, channels: list[str], params: dict[str, Any], step_minutes: int
           ) -> tuple[pd.DataFrame, dict[str, Any]]:
    qlog = QualityLog(kind)
    native = params["native_minutes"]
    out = build_daily(df, channels, step_minutes=step_minutes, native_minutes=native if native == "auto" else int(native),
                      method=params["resample_method"], max_gap_steps=int(params["max_gap_steps"]), log=qlog)
    log.info("%s: %d complete days, %d dropped", kind, len(out), sum(qlog.days_dropped.values()))
    return schemas.validate_daily(out, channels, 1440 // step_minutes, f"{kind} daily"), qlog.as_dict()


def price_features(df: pd.DataFrame, params: dict[str, Any], step_minutes: int
                   ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``price_daily``: LBMP of the configured zone and market on the local (Eastern) wall-clock grid."""
    markets = sorted(df["market"].unique())
    if params["daily_market"] not in markets:
        raise IngestError(None, f"prices_primary has no {params['daily_market']!r} prices", column="market",
                          expected=f"ingest.prices.daily_market among {markets}")
    sel = prices.select_zone(df[df["market"] == params["daily_market"]], params["zone"])
    out, q = _daily("prices", sel, ["lbmp_usd_per_mwh"], params["daily"], step_minutes)
    out.insert(4, "zone", prices.canonical_zone(params["zone"]))
    return out, q


def load_features(df: pd.DataFrame, params: dict[str, Any], step_minutes: int):
    """``load_daily``: NYISO system load (MW) on the Eastern wall-clock grid."""
    return _daily("load", df, ["load_mw"], params["daily"], step_minutes)


def traffic_features(df: pd.DataFrame, params: dict[str, Any], step_minutes: int):
    """``traffic_daily``: vehicle flow (veh/h) of the configured station on its local wall-clock grid."""
    station = params["daily"].get("station")
    if station is not None:
        if str(station) not in set(df["station"]):
            raise IngestError(None, f"station {station!r} not in traffic_primary", column="station",
                              expected=f"ingest.traffic.daily.station among {sorted(df['station'].unique())[:20]}")
        df = df[df["station"] == str(station)]
    elif df["station"].nunique() > 1:
        raise IngestError(None, "several traffic stations in traffic_primary", column="station",
                          expected="parameter ingest.traffic.daily.station naming one of "
                          f"{sorted(df['station'].unique())}")
    return _daily("traffic", df, ["flow_veh_per_h"], params["daily"], step_minutes)


WEATHER_CHANNELS = ["ghi_w_per_m2", "dni_w_per_m2", "dhi_w_per_m2", "temp_air_c", "wind_speed_m_per_s"]


def weather_features(df: pd.DataFrame, params: dict[str, Any], step_minutes: int):
    """``weather_daily``: irradiance, temperature and wind on the site's local *standard* time grid."""
    return _daily("weather", df, WEATHER_CHANNELS, params["daily"], step_minutes)


def joint_features(traffic_daily: pd.DataFrame, weather_daily: pd.DataFrame, params: dict[str, Any],
                   step_minutes: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``joint_daily``: the dates with a complete traffic AND weather day, their chosen channels side by
    side (``ingest.joint``); every day of the overlap span that one record lacks is counted as dropped."""
    qlog = QualityLog("joint")
    chosen = params.get("channels") or {}
    frames = {"traffic_daily": traffic_daily, "weather_daily": weather_daily}
    unknown = sorted(set(chosen) - set(frames))
    if unknown or not chosen:
        raise IngestError(None, f"ingest.joint.channels: records {unknown or '(none)'} not available",
                          expected=f"a mapping of records among {sorted(frames)} to channel lists")
    try:
        out = joint_daily({rec: (frames[rec], list(chs)) for rec, chs in chosen.items()}, step_minutes, log=qlog)
    except (KeyError, ValueError) as exc:
        raise IngestError(None, f"ingest.joint.channels: {exc}") from exc
    channels = [c for chs in chosen.values() for c in chs]
    log.info("joint: %d co-temporal days, dropped %s", len(out), dict(qlog.days_dropped))
    return schemas.validate_daily(out, channels, 1440 // step_minutes, "joint daily"), qlog.as_dict()


def ev_features(df: pd.DataFrame) -> pd.DataFrame:
    """``ev_session_features``: one row per session, local arrival/departure hours, energy, distance."""
    return schemas.validate_features(ev_session_features(df))


def data_quality_report(*records: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge the per-step quality records by source; also return a few headline counts as MLflow metrics."""
    by_source: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_source.setdefault(r["source"], []).append(r)
    report = {src: merge_quality(*recs) for src, recs in by_source.items()}
    metrics: dict[str, Any] = {}
    for src, r in report.items():
        metrics[f"ingest.{src}.rows_read"] = {"value": float(r["rows_read"]), "step": 0}
        metrics[f"ingest.{src}.rows_removed"] = {"value": float(r["rows_removed_total"]), "step": 0}
        metrics[f"ingest.{src}.days_dropped"] = {"value": float(r["days_dropped_total"]), "step": 0}
        metrics[f"ingest.{src}.days_kept"] = {"value": float(r["days_kept"]), "step": 0}
    return report, metrics

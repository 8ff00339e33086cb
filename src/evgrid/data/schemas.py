"""pandera schemas of the primary and feature datasets; ``validate`` turns a failure into an IngestError."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError

from evgrid.data.errors import IngestError

UTC = pd.DatetimeTZDtype(tz="UTC")


def _utc() -> pa.Column:
    return pa.Column(UTC, nullable=False)


def _local() -> pa.Column:
    return pa.Column(checks=pa.Check(lambda s: getattr(s.dtype, "tz", None) is not None,
                                     error="tz-aware local timestamps"), nullable=False)


prices_schema = pa.DataFrameSchema(
    {
        "timestamp_utc": _utc(),
        "timestamp_local": _local(),
        "market": pa.Column(str, pa.Check.isin(["DAM", "HAM", "RT", "RTC", "RTD"])),
        "zone": pa.Column(str),
        "ptid": pa.Column("Int64", nullable=True),
        "lbmp_usd_per_mwh": pa.Column(float, pa.Check.in_range(-2000.0, 10000.0)),
        "losses_usd_per_mwh": pa.Column(float, nullable=True),
        "congestion_usd_per_mwh": pa.Column(float, nullable=True),
        "energy_usd_per_mwh": pa.Column(float, nullable=True),
    },
    unique=["market", "zone", "timestamp_utc"],
    strict=True,
    name="prices_primary",
)

load_schema = pa.DataFrameSchema(
    {
        "timestamp_utc": _utc(),
        "timestamp_local": _local(),
        "load_mw": pa.Column(float, pa.Check.gt(0.0)),
    },
    unique=["timestamp_utc"],
    strict=True,
    name="load_primary",
)

ev_sessions_schema = pa.DataFrameSchema(
    {
        "session_id": pa.Column(str, unique=True),
        "source": pa.Column(str),
        "site": pa.Column(str),
        "station_id": pa.Column(str),
        "timezone": pa.Column(str),
        "arrival_utc": _utc(),
        "departure_utc": _utc(),
        "done_charging_utc": pa.Column(UTC, nullable=True),
        "arrival_local": pa.Column("datetime64[ns]"),
        "departure_local": pa.Column("datetime64[ns]"),
        "energy_kwh": pa.Column(float, pa.Check.gt(0.0)),
        "kwh_requested": pa.Column(float, nullable=True),
        "miles_requested": pa.Column(float, nullable=True),
        "wh_per_mile": pa.Column(float, nullable=True),
        "requested_departure_utc": pa.Column(UTC, nullable=True),
        "distance_km": pa.Column(float, pa.Check.ge(0.0), nullable=True),
        "charger_model": pa.Column(str, nullable=True),
    },
    checks=pa.Check(lambda d: d["departure_utc"] > d["arrival_utc"], error="departure after arrival"),
    strict=True,
    name="ev_sessions_primary",
)

traffic_schema = pa.DataFrameSchema(
    {
        "timestamp_utc": _utc(),
        "timestamp_local": _local(),
        "station": pa.Column(str),
        "interval_minutes": pa.Column("int64", pa.Check.gt(0)),
        "flow_veh_per_h": pa.Column(float, pa.Check.ge(0.0)),
    },
    unique=["station", "timestamp_utc"],
    strict=True,
    name="traffic_primary",
)

weather_schema = pa.DataFrameSchema(
    {
        "timestamp_utc": _utc(),
        "timestamp_local": _local(),
        "site": pa.Column(str),
        "latitude": pa.Column(float, nullable=True),
        "longitude": pa.Column(float, nullable=True),
        "interval_minutes": pa.Column("int64", pa.Check.gt(0)),
        "ghi_w_per_m2": pa.Column(float, pa.Check.in_range(0.0, 1500.0)),
        "dni_w_per_m2": pa.Column(float, pa.Check.in_range(0.0, 1500.0)),
        "dhi_w_per_m2": pa.Column(float, pa.Check.in_range(0.0, 1000.0)),
        "temp_air_c": pa.Column(float, pa.Check.in_range(-60.0, 60.0)),
        "wind_speed_m_per_s": pa.Column(float, pa.Check.in_range(0.0, 75.0)),
    },
    unique=["site", "timestamp_utc"],
    strict=True,
    name="weather_primary",
)

SCHEMAS = {
    "prices": prices_schema,
    "load": load_schema,
    "ev_sessions": ev_sessions_schema,
    "traffic": traffic_schema,
    "weather": weather_schema,
}


ev_session_features_schema = pa.DataFrameSchema(
    {
        "session_id": pa.Column(str, unique=True),
        "source": pa.Column(str),
        "site": pa.Column(str),
        "date": pa.Column("datetime64[ns]"),
        "month": pa.Column("int64", pa.Check.in_range(1, 12)),
        "day_of_week": pa.Column("int64", pa.Check.in_range(0, 6)),
        "is_weekend": pa.Column(bool),
        "arrival_h": pa.Column(float, pa.Check.in_range(0.0, 24.0, include_max=False)),
        "departure_h": pa.Column(float),
        "duration_h": pa.Column(float, pa.Check.gt(0.0)),
        "energy_kwh": pa.Column(float, pa.Check.gt(0.0)),
        "distance_km": pa.Column(float, pa.Check.ge(0.0), nullable=True),
    },
    checks=pa.Check(lambda d: d["departure_h"] > d["arrival_h"], error="departure after arrival"),
    strict=True,
    name="ev_session_features",
)


def daily_schema(channels: list[str], n_steps: int, name: str = "daily matrix") -> pa.DataFrameSchema:
    """Schema of a wide daily matrix: key columns, then ``<channel>_tNNN`` finite floats, unique dates."""
    cols: dict[str, pa.Column] = {
        "date": pa.Column("datetime64[ns]", unique=True),
        "month": pa.Column("int64", pa.Check.in_range(1, 12)),
        "day_of_week": pa.Column("int64", pa.Check.in_range(0, 6)),
        "is_weekend": pa.Column(bool),
    }
    for ch in channels:
        for i in range(n_steps):
            cols[f"{ch}_t{i:03d}"] = pa.Column(float, nullable=False)
    return pa.DataFrameSchema(cols, strict=False, name=name)


MAX_CASES_SHOWN = 5


def _raise(exc: SchemaError, name: str, files: list[str] | None) -> None:
    """Re-raise a pandera failure naming the column and check, the number of failing values and the first
    few of them (pandera's own message lists every failure case: thousands on a real file)."""
    cases = exc.failure_cases
    if isinstance(cases, pd.DataFrame):
        n = len(cases)
        cols = [c for c in ("index", "failure_case") if c in cases.columns] or list(cases.columns)
        sample = cases[cols].head(MAX_CASES_SHOWN).to_dict("records")
    elif isinstance(cases, pd.Series):
        n, sample = len(cases), cases.head(MAX_CASES_SHOWN).tolist()
    else:
        n, sample = (1 if cases is not None else 0), cases
    column = getattr(exc, "column_name", None) or None
    check = str(exc.check) if exc.check is not None else "the documented schema"
    reason = getattr(exc.reason_code, "name", str(exc.reason_code))
    raise IngestError(
        ", ".join(files or []) or None,
        f"{name} failed validation ({reason}): {n} failing value(s)"
        + (f", first {min(n, MAX_CASES_SHOWN)} shown" if n > MAX_CASES_SHOWN else ""),
        column=column, expected=check, got=sample,
    ) from exc


def validate_daily(df: pd.DataFrame, channels: list[str], n_steps: int, name: str) -> pd.DataFrame:
    try:
        return daily_schema(channels, n_steps, name).validate(df, lazy=False)
    except SchemaError as exc:
        _raise(exc, name, None)
    raise AssertionError("unreachable")


def validate_features(df: pd.DataFrame) -> pd.DataFrame:
    try:
        return ev_session_features_schema.validate(df, lazy=False)
    except SchemaError as exc:
        _raise(exc, "ev_session_features", None)
    raise AssertionError("unreachable")


def validate(df: pd.DataFrame, source: str, files: list[str] | None = None) -> pd.DataFrame:
    """Validate a primary table; the error names the input file(s), the column and failing rows."""
    schema = SCHEMAS[source]
    try:
        return schema.validate(df, lazy=False)
    except SchemaError as exc:
        _raise(exc, schema.name, files)
    raise AssertionError("unreachable")

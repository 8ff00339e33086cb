"""Traffic-count parsers -> ``traffic_primary``: ``timestamp_utc, timestamp_local, station,
interval_minutes, flow_veh_per_h``.

- ``i94_hourly``: UCI "Metro Interstate Traffic Volume" (``holiday, temp, ..., date_time, traffic_volume``),
  hourly westbound I-94 counts at MnDOT ATR 301, local prevailing time America/Chicago. An hour repeats
  once per weather condition with the same count: such rows are collapsed (counted); the same hour with
  different counts raises. The autumn repeated hour cannot be told apart and is read as CDT (the first).
  Stamps must not go backwards.
- ``pems_5min``: Caltrans PeMS station 5-minute files (no header: ``Timestamp, Station, District,
  Freeway, Direction, Lane Type, Station Length, Samples, % Observed, Total Flow, Avg Occupancy,
  Avg Speed``, then per-lane groups), ``MM/DD/YYYY HH:MM:SS`` Pacific prevailing time. ``Total Flow`` is
  vehicles per 5 minutes, so ``flow_veh_per_h = 12 * Total Flow``. Rows below ``min_observed_pct``
  (imputed by PeMS) are kept but counted.

Interval convention (``interval``): both default to ``start`` - the UCI file stamps the hour a count was
collected in, PeMS stamps the beginning of its 5-min summary interval. ``end`` moves stamps to the start
of their interval (``interval_minutes``); ``instant`` keeps them. ``time_format`` (a format or a list),
``encoding`` and, for the I-94 layout, ``columns`` (format column -> file column) are options.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from evgrid.data.errors import IngestError
from evgrid.data.quality import QualityLog
from evgrid.data.readers import (
    check_increasing,
    check_increasing_by_group,
    localize_prevailing,
    read_csv_checked,
    read_text_checked,
    to_datetime,
    to_numeric,
)
from evgrid.data.timestamps import date_check, resolve_interval, to_interval_start

TRAFFIC_COLUMNS = ["timestamp_utc", "timestamp_local", "station", "interval_minutes", "flow_veh_per_h"]
PEMS_NAMES = ["Timestamp", "Station", "District", "Freeway", "Direction", "Lane Type", "Station Length",
              "Samples", "% Observed", "Total Flow", "Avg Occupancy", "Avg Speed"]


def _finish(df: pd.DataFrame, tz: str) -> pd.DataFrame:
    df = df.sort_values(["station", "timestamp_utc"], kind="stable").reset_index(drop=True)
    df["timestamp_local"] = df["timestamp_utc"].dt.tz_convert(tz)
    df["interval_minutes"] = df["interval_minutes"].astype("int64")
    return df[TRAFFIC_COLUMNS]


def _interval(utc: pd.Series, station: pd.Series | None, path: str | Path, log: QualityLog, interval: str,
              interval_minutes: float | str) -> pd.Series:
    conv, minutes = resolve_interval(interval, interval_minutes, utc, station, path)
    log.note(f"{Path(path).name}: stamps read as {conv}" + ("" if conv == "instant" else f" ({minutes:g} min)"))
    return to_interval_start(utc, conv, minutes, station)


def parse_i94_hourly(paths: Sequence[str | Path], log: QualityLog | None = None,
                     timezone: str = "America/Chicago", station: str = "MnDOT ATR 301 I-94 WB",
                     time_format: str | Sequence[str] = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"),
                     interval: str = "start", interval_minutes: float | str = 60, encoding: str = "utf-8-sig",
                     columns: dict[str, str] | None = None, date_span: Sequence[object] | None = None
                     ) -> pd.DataFrame:
    """UCI I-94 hourly volume file(s); see the module docstring."""
    log = log or QualityLog("traffic")
    frames = []
    for path in paths:
        raw = read_csv_checked(path, ["date_time", "traffic_volume"], what="I-94 traffic volume",
                               encoding=encoding, columns=columns)
        log.read(path, len(raw))
        naive = to_datetime(raw, "date_time", path, time_format, log=log)
        check_increasing(naive, raw, path, "date_time", allow_equal=True)
        vol = to_numeric(raw, "traffic_volume", path)
        df = pd.DataFrame({"naive": naive, "flow": vol, "_line": raw["_line"]})
        first = df.groupby("naive")["flow"].transform("first")
        conflict = (df["flow"] != first) & df["flow"].notna()
        if conflict.any():
            i = int(np.flatnonzero(conflict.to_numpy())[0])
            raise IngestError(path, f"hour {naive.iloc[i]} repeated with different counts", column="traffic_volume",
                              line=int(raw["_line"].iloc[i]), expected="repeated hours (one per weather "
                              "condition) to carry the same count")
        dup = df["naive"].duplicated()
        log.remove("repeated_hour_weather_rows", int(dup.sum()))
        df = df[~dup]
        miss = df["flow"].isna()
        log.remove("missing_volume", int(miss.sum()))
        df = df[~miss]
        neg = df["flow"] < 0
        log.remove("negative_volume", int(neg.sum()))
        df = df[~neg]
        idx = pd.DatetimeIndex(df["naive"])
        local = idx.tz_localize(timezone, ambiguous=np.ones(len(idx), bool), nonexistent="NaT")
        gap = local.isna()
        log.remove("dst_nonexistent_hour", int(gap.sum()))
        utc = pd.Series(local[~gap].tz_convert("UTC"))
        date_check(log, "timestamp", utc, path, date_span)
        utc = _interval(utc, None, path, log, interval, interval_minutes)
        frames.append(pd.DataFrame({"timestamp_utc": utc.to_numpy(), "station": station,
                                    "interval_minutes": 60, "flow_veh_per_h": df["flow"].to_numpy()[~gap]}))
    return _finish(pd.concat(frames, ignore_index=True), timezone)


def parse_pems_5min(paths: Sequence[str | Path], log: QualityLog | None = None,
                    timezone: str = "America/Los_Angeles", station: str | int | None = None,
                    min_observed_pct: float = 50.0,
                    time_format: str | Sequence[str] = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"),
                    interval: str = "start", interval_minutes: float | str = 5, encoding: str = "utf-8-sig",
                    date_span: Sequence[object] | None = None) -> pd.DataFrame:
    """Caltrans PeMS station 5-minute file(s); see the module docstring."""
    log = log or QualityLog("traffic")
    frames = []
    for path in paths:
        path = Path(path)
        if path.exists() and path.stat().st_size > 0:
            first = read_text_checked(path, encoding, "PeMS station 5-minute").split("\n", 1)[0]
            n = len(first.rstrip("\n").split(","))
        else:
            n = len(PEMS_NAMES)
        if n < len(PEMS_NAMES):
            raise IngestError(path, "too few fields on line 1 for a PeMS station 5-minute file", line=1,
                              expected=f"at least {len(PEMS_NAMES)} fields ({', '.join(PEMS_NAMES)})", got=n)
        names = PEMS_NAMES + [f"lane_field_{i}" for i in range(n - len(PEMS_NAMES))]
        raw = read_csv_checked(path, ["Timestamp", "Station", "Total Flow", "% Observed"], header=None,
                               names=names, what="PeMS station 5-minute", encoding=encoding)
        log.read(path, len(raw))
        naive = to_datetime(raw, "Timestamp", path, time_format, log=log)
        st = raw["Station"].str.strip()
        if station is not None:
            keep = st == str(station)
            if not keep.any():
                raise IngestError(path, f"unknown station {station!r}", column="Station",
                                  expected=f"one of {sorted(st.unique())[:20]}")
            log.remove("other_stations", int((~keep).sum()))
            raw, naive, st = raw[keep], naive[keep], st[keep]
        utc = localize_prevailing(naive, timezone, path, raw, "Timestamp", group=st, nonexistent="raise")
        check_increasing_by_group(utc, st, raw, path, "Timestamp")
        date_check(log, "timestamp", utc, path, date_span)
        utc = _interval(utc, st, path, log, interval, interval_minutes)
        flow = to_numeric(raw, "Total Flow", path)
        obs = to_numeric(raw, "% Observed", path)
        log.repair(f"observed_below_{min_observed_pct:g}_pct_kept", int((obs < min_observed_pct).sum()))
        df = pd.DataFrame({"timestamp_utc": utc, "station": st, "interval_minutes": 5, "flow_veh_per_h": 12 * flow})
        miss = df["flow_veh_per_h"].isna()
        log.remove("missing_flow", int(miss.sum()))
        frames.append(df[~miss])
    return _finish(pd.concat(frames, ignore_index=True), timezone)


PARSERS = {"i94_hourly": parse_i94_hourly, "pems_5min": parse_pems_5min}

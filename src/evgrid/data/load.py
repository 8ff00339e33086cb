"""NYISO system load parsers -> ``load_primary``: ``timestamp_utc, timestamp_local, load_mw``.

Formats:
- ``nyiso_5min``: two columns ``time_5min, mw`` (``M/D/YYYY H:MM``). The embedded 2016 file is Eastern
  *standard* time all year: it has the 02:00-02:55 stamps of 2016-03-13 (which do not exist in prevailing
  time) and only one 01:00 hour on 2016-11-06, so ``timezone`` defaults to ``Etc/GMT+5`` (UTC-5).
  Exact duplicate stamps are averaged (counted); stamps off the 5-min grid are kept (they fall into their
  modelling step when resampled; counted); stamps going backwards raise. With a DST zone
  (``timezone: America/New_York``) the autumn hour may appear twice (first pass daylight time); any other
  repeated stamp or a stamp in the spring-forward gap then raises.
- ``nyiso_pal``: NYISO real-time actual load (``Time Stamp, Time Zone, Name, PTID, Load``), one row per
  zone and 5-min stamp with an EST/EDT column; system load is the sum over zones (or one zone via
  ``zone``).

Interval convention (``interval``): both default to ``instant`` - a load value is a sample at its stamp,
averaged per modelling step (``resample_method: mean``). ``interval: end`` (interval-ending averages)
moves each stamp to the start of its interval; ``start`` keeps it. Both formats take ``time_format`` (a
format or a list tried in order), ``encoding`` and ``columns`` (file column names for the format's).
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
    localize_prevailing,
    read_csv_checked,
    to_datetime,
    to_numeric,
)
from evgrid.data.timestamps import (
    date_check,
    off_grid,
    resolve_interval,
    to_interval_start,
    utc_from_tz_labels,
)

NYISO_TZ = "America/New_York"
LOAD_COLUMNS = ["timestamp_utc", "timestamp_local", "load_mw"]


def _finish(df: pd.DataFrame, local_tz: str) -> pd.DataFrame:
    df = df.sort_values("timestamp_utc", kind="stable").reset_index(drop=True)
    df["timestamp_local"] = df["timestamp_utc"].dt.tz_convert(local_tz)
    return df[LOAD_COLUMNS]


def _observes_dst(tz: str) -> bool:
    """True if the zone's UTC offset changes during a year (e.g. America/New_York, not Etc/GMT+5)."""
    probe = pd.date_range("2001-01-01", periods=12, freq="MS", tz=tz)
    return len({t.utcoffset() for t in probe}) > 1


def _apply_interval(df: pd.DataFrame, naive: pd.Series, path: str | Path, log: QualityLog, interval: str,
                    interval_minutes: float | str, date_span: Sequence[object] | None = None) -> pd.DataFrame:
    """Count off-grid stamps (``naive``: the kept rows' wall-clock stamps before duplicates were merged), and
    move interval-ending stamps to their interval start."""
    date_check(log, "timestamp", df["timestamp_utc"], path, date_span)
    conv, minutes = resolve_interval(interval, interval_minutes, df["timestamp_utc"], None, path)
    log.repair("off_5min_grid_stamps_kept" if minutes == 5 else "off_grid_stamps_kept",
               int(off_grid(naive, minutes).sum()))
    log.note(f"{Path(path).name}: load stamps read as {conv}" + ("" if conv == "instant" else f" ({minutes:g} min)"))
    df = df.copy()
    df["timestamp_utc"] = to_interval_start(df["timestamp_utc"], conv, minutes)
    return df


def parse_nyiso_5min(paths: Sequence[str | Path], log: QualityLog | None = None,
                     timezone: str = "Etc/GMT+5", local_timezone: str = NYISO_TZ,
                     time_format: str | Sequence[str] = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S"),
                     interval: str = "instant", interval_minutes: float | str = 5,
                     encoding: str = "utf-8-sig", columns: dict[str, str] | None = None,
                     date_span: Sequence[object] | None = None) -> pd.DataFrame:
    """``time_5min, mw`` file(s); see the module docstring for the time zone and cleaning rules."""
    log = log or QualityLog("load")
    frames = []
    for path in paths:
        raw = read_csv_checked(path, ["time_5min", "mw"], what="NYISO 5-min load", encoding=encoding,
                               columns=columns)
        log.read(path, len(raw))
        naive = to_datetime(raw, "time_5min", path, time_format, log=log)
        if _observes_dst(timezone):
            # prevailing time: the autumn hour repeats (first pass daylight time), other repeats raise
            utc = localize_prevailing(naive, timezone, path, raw, "time_5min")
            check_increasing(utc, raw, path, "time_5min", allow_equal=False)
        else:
            check_increasing(naive, raw, path, "time_5min", allow_equal=True)
            utc = pd.Series(pd.DatetimeIndex(naive).tz_localize(timezone).tz_convert("UTC"), index=naive.index)
        mw = to_numeric(raw, "mw", path)
        df = pd.DataFrame({"timestamp_utc": utc, "naive": naive, "load_mw": mw})
        miss = df["load_mw"].isna()
        log.remove("missing_load", int(miss.sum()))
        df = df[~miss]
        nonpos = df["load_mw"] <= 0
        log.remove("non_positive_load", int(nonpos.sum()))
        df = df[~nonpos]
        kept_naive = df["naive"]
        n_before = len(df)
        df = df.groupby("timestamp_utc", as_index=False, sort=True)["load_mw"].mean()
        log.remove("duplicate_stamp_averaged", n_before - len(df))
        frames.append(_apply_interval(df, kept_naive, path, log, interval, interval_minutes, date_span))
    return _finish(pd.concat(frames, ignore_index=True), local_timezone)


def parse_nyiso_pal(paths: Sequence[str | Path], log: QualityLog | None = None, zone: str | None = None,
                    local_timezone: str = NYISO_TZ,
                    time_format: str | Sequence[str] = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"),
                    interval: str = "instant", interval_minutes: float | str = 5,
                    encoding: str = "utf-8-sig", columns: dict[str, str] | None = None,
                    date_span: Sequence[object] | None = None) -> pd.DataFrame:
    """NYISO ``pal`` real-time load (``Time Stamp, Time Zone, Name, PTID, Load``); EST/EDT column."""
    log = log or QualityLog("load")
    frames = []
    for path in paths:
        raw = read_csv_checked(path, ["Time Stamp", "Time Zone", "Name", "PTID", "Load"], what="NYISO pal load",
                               encoding=encoding, columns=columns)
        log.read(path, len(raw))
        naive = to_datetime(raw, "Time Stamp", path, time_format, log=log)
        utc, tzc = utc_from_tz_labels(naive, raw["Time Zone"], path, raw, "Time Zone")
        df = pd.DataFrame({"timestamp_utc": utc, "zone": raw["Name"].str.strip(),
                           "load_mw": to_numeric(raw, "Load", path), "_line": raw["_line"]})
        dup = df.duplicated(["zone", "timestamp_utc"])
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            raise IngestError(path, f"zone {df['zone'].iloc[i]} stamp {raw['Time Stamp'].iloc[i]} "
                              f"{tzc.iloc[i]} duplicated", column="Time Stamp", line=int(df["_line"].iloc[i]),
                              expected="one row per zone, stamp and time-zone label")
        if zone is not None:
            from evgrid.data.prices import zone_key

            keep = df["zone"].map(zone_key) == zone_key(zone)
            if not keep.any():
                raise IngestError(path, f"unknown zone {zone!r}", column="Name",
                                  expected=f"one of {sorted(df['zone'].unique())}")
            df = df[keep]
        miss = df["load_mw"].isna()
        log.remove("missing_load", int(miss.sum()))
        df = df[~miss]
        n_zones = df["zone"].nunique()
        counts = df.groupby("timestamp_utc")["zone"].transform("nunique")
        partial = counts < n_zones
        log.remove("stamps_missing_some_zones", int(partial.sum()))
        df = df[~partial]
        kept_naive = naive.loc[df.index].drop_duplicates()
        df = df.groupby("timestamp_utc", as_index=False)["load_mw"].sum()
        frames.append(_apply_interval(df, kept_naive, path, log, interval, interval_minutes, date_span))
    return _finish(pd.concat(frames, ignore_index=True), local_timezone)


PARSERS = {"nyiso_5min": parse_nyiso_5min, "nyiso_pal": parse_nyiso_pal}

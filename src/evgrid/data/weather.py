"""Irradiance / weather parsers (through pvlib.iotools) -> ``weather_primary``:
``timestamp_utc, timestamp_local, site, latitude, longitude, interval_minutes, ghi_w_per_m2,
dni_w_per_m2, dhi_w_per_m2, temp_air_c, wind_speed_m_per_s``.

- ``nsrdb_psm3``: NREL NSRDB PSM v3 CSV (2 metadata lines, then the header). pvlib 0.16 reads it with
  ``pvlib.iotools.read_nsrdb_psm4`` (the same SAM-CSV layout). Stamps are *local standard time*
  (``Time Zone`` metadata, UTC-5 for Syracuse) without DST, so ``timestamp_local`` uses the fixed-offset
  zone ``Etc/GMT+5`` and the daily matrices have no DST days. Interval convention: ``interval: instant``
  (default; values at the stamp, resampled linearly); ``start`` / ``end`` for files of interval averages
  (``end`` moves stamps to the interval start).
- ``tmy3``: NREL TMY3 CSV via ``pvlib.iotools.read_tmy3``: hour-*ending* local standard time (the row
  stamped 01:00 covers 00:00-01:00; 24:00 is the last hour of the same date), stored at the hour start.

Both take ``encoding`` (a byte that does not decode raises naming its line).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pvlib import iotools

from evgrid.data.errors import IngestError
from evgrid.data.quality import QualityLog
from evgrid.data.readers import read_text_checked
from evgrid.data.timestamps import date_check, resolve_interval, to_interval_start

WEATHER_COLUMNS = [
    "timestamp_utc", "timestamp_local", "site", "latitude", "longitude", "interval_minutes",
    "ghi_w_per_m2", "dni_w_per_m2", "dhi_w_per_m2", "temp_air_c", "wind_speed_m_per_s",
]
CHANNEL_MAP = {"ghi": "ghi_w_per_m2", "dni": "dni_w_per_m2", "dhi": "dhi_w_per_m2", "temp_air": "temp_air_c",
               "wind_speed": "wind_speed_m_per_s"}


def fixed_offset_tz(hours: float) -> str:
    """IANA fixed-offset zone for a UTC offset in whole hours (note the inverted sign: UTC-5 = Etc/GMT+5)."""
    h = int(round(hours))
    if h != hours:
        raise ValueError(f"non-integer UTC offset {hours} h has no Etc/GMT zone")
    return "Etc/GMT" + (f"+{-h}" if h < 0 else f"-{h}" if h > 0 else "")


def _tidy(data: pd.DataFrame, meta: dict, path: Path, log: QualityLog, site_key: str, tz_key: str,
          shift: pd.Timedelta, first_line: int) -> pd.DataFrame:
    """pvlib frame -> tidy weather rows; ``first_line`` is the file line of the first data row."""
    missing = [c for c in CHANNEL_MAP if c not in data.columns]
    if missing:
        raise IngestError(path, f"missing column(s) {missing} after pvlib parsing", column=missing[0],
                          expected=f"columns {list(CHANNEL_MAP)} (pvlib names)", got=list(data.columns))
    if data.empty:
        raise IngestError(path, "no data rows", expected="at least one row")
    idx = data.index
    tz = fixed_offset_tz(float(meta[tz_key]))
    idx = idx.tz_localize(tz) if idx.tz is None else idx.tz_convert(tz)
    idx = idx - shift
    d = pd.Series(idx).diff()
    bad = d <= pd.Timedelta(0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise IngestError(path, f"timestamp {'out of order' if d.iloc[i] < pd.Timedelta(0) else 'duplicated'} "
                          f"({idx[i]})", line=i + first_line, expected="strictly increasing timestamps")
    interval = int(pd.Series(idx).diff().median().total_seconds() // 60)
    out = pd.DataFrame({
        "timestamp_utc": idx.tz_convert("UTC"),
        "timestamp_local": idx,
        "site": str(meta.get(site_key, path.stem)),
        "latitude": float(meta.get("latitude", np.nan)),
        "longitude": float(meta.get("longitude", np.nan)),
        "interval_minutes": interval,
    })
    for src, dst in CHANNEL_MAP.items():
        col = pd.to_numeric(data[src], errors="coerce")
        if col.isna().any():
            i = int(np.flatnonzero(col.isna().to_numpy())[0])
            hint = " - truncated file?" if i == len(col) - 1 else ""
            raise IngestError(path, f"missing or non-numeric value ({int(col.isna().sum())} such rows{hint})",
                              column=src, line=i + first_line, expected="a number", got=data[src].iloc[i])
        out[dst] = col.to_numpy(dtype=float)
    neg = (out[["ghi_w_per_m2", "dni_w_per_m2", "dhi_w_per_m2"]] < 0).any(axis=1)
    log.remove("negative_irradiance", int(neg.sum()))
    return out[~neg]


def parse_nsrdb_psm3(paths: Sequence[str | Path], log: QualityLog | None = None, interval: str = "instant",
                     interval_minutes: float | str = "auto", encoding: str = "utf-8-sig",
                     date_span: Sequence[object] | None = None) -> pd.DataFrame:
    """NSRDB PSM3 CSV file(s) (e.g. one per year); see the module docstring."""
    log = log or QualityLog("weather")
    frames = []
    for path in paths:
        path = Path(path)
        if not path.exists() or path.stat().st_size == 0:
            raise IngestError(path, "NSRDB file missing or empty", expected="an NSRDB PSM3 CSV")
        text = read_text_checked(path, encoding, "NSRDB")
        try:
            data, meta = iotools.read_nsrdb_psm4(io.StringIO(text), map_variables=True)
        except ValueError as exc:
            _locate_bad_cell(path, skiprows=2, first_line=4, text=text)
            raise IngestError(path, f"not a readable NSRDB PSM3 file ({exc})",
                              expected="2 metadata lines then Year,Month,Day,Hour,Minute,... columns") from exc
        except (KeyError, IndexError, pd.errors.ParserError) as exc:
            raise IngestError(path, f"not a readable NSRDB PSM3 file ({type(exc).__name__}: {exc})",
                              expected="2 metadata lines then Year,Month,Day,Hour,Minute,... columns") from exc
        log.read(path, len(data))
        tidy = _tidy(data, meta, path, log, "Location ID", "Time Zone", pd.Timedelta(0), 4)
        date_check(log, "timestamp", tidy["timestamp_utc"], path, date_span)
        conv, minutes = resolve_interval(interval, interval_minutes, tidy["timestamp_utc"], None, path)
        if conv == "end":
            tidy["timestamp_utc"] = to_interval_start(tidy["timestamp_utc"], conv, minutes)
            tidy["timestamp_local"] = tidy["timestamp_utc"].dt.tz_convert(tidy["timestamp_local"].dt.tz)
        log.note(f"{path.name}: stamps read as {conv}")
        frames.append(tidy)
    return _finish(frames, paths)


def parse_tmy3(paths: Sequence[str | Path], log: QualityLog | None = None, coerce_year: int | str | None = 1990,
               encoding: str = "utf-8-sig") -> pd.DataFrame:
    """TMY3 CSV file(s) through ``pvlib.iotools.read_tmy3``; see the module docstring."""
    log = log or QualityLog("weather")
    frames = []
    for path in paths:
        path = Path(path)
        if not path.exists() or path.stat().st_size == 0:
            raise IngestError(path, "TMY3 file missing or empty", expected="a TMY3 CSV")
        text = read_text_checked(path, encoding, "TMY3")
        if coerce_year in ("keep", False):
            coerce_year = None
        try:
            data, meta = iotools.read_tmy3(io.StringIO(text), coerce_year=None, map_variables=True)
        except ValueError as exc:
            _locate_bad_cell(path, skiprows=1, first_line=3, skip_columns=("Date (MM/DD/YYYY)", "Time (HH:MM)"),
                             text=text)
            raise IngestError(path, f"not a readable TMY3 file ({exc})",
                              expected="a TMY3 metadata line, then Date (MM/DD/YYYY),Time (HH:MM),... ") from exc
        except (KeyError, IndexError, pd.errors.ParserError) as exc:
            raise IngestError(path, f"not a readable TMY3 file ({type(exc).__name__}: {exc})",
                              expected="a TMY3 metadata line, then Date (MM/DD/YYYY),Time (HH:MM),... ") from exc
        log.read(path, len(data))
        # Stamps are hour-ending 01:00..24:00 local standard time: rebuild hour-beginning stamps from the
        # Date and Time strings (24:00 is the last hour of that same date), then (optionally) put every row
        # in one year, as TMY months come from different years.
        date = pd.to_datetime(data["Date (MM/DD/YYYY)"], format="%m/%d/%Y")
        hour = data["Time (HH:MM)"].str.slice(0, 2).astype(int) - 1
        if coerce_year is not None:
            date = pd.to_datetime(pd.DataFrame({"year": coerce_year, "month": date.dt.month, "day": date.dt.day}))
        idx = pd.DatetimeIndex(date + pd.to_timedelta(hour, unit="h")).tz_localize(data.index.tz)
        data = data.set_axis(idx)
        frames.append(_tidy(data, meta, path, log, "USAF", "TZ", pd.Timedelta(0), 3))
    return _finish(frames, paths)


def _locate_bad_cell(path: Path, skiprows: int, first_line: int, skip_columns: tuple[str, ...] = (),
                     text: str | None = None) -> None:
    """Raise an IngestError naming the first non-numeric cell of a pvlib-read CSV, if there is one."""
    raw = pd.read_csv(io.StringIO(text) if text is not None else path, skiprows=skiprows, dtype=str)
    for col in raw.columns:
        if col in skip_columns or str(col).startswith("Unnamed") or "source" in str(col) or "uncert" in str(col):
            continue
        vals = raw[col]
        bad = pd.to_numeric(vals, errors="coerce").isna() & vals.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise IngestError(path, "non-numeric value", column=str(col), line=i + first_line,
                              expected="a number", got=vals.iloc[i])


def _finish(frames: list[pd.DataFrame], paths: Sequence[str | Path]) -> pd.DataFrame:
    tzs = {str(f["timestamp_local"].dt.tz) for f in frames}
    df = pd.concat(frames, ignore_index=True)
    dup = df.duplicated(["site", "timestamp_utc"])
    if dup.any():
        t = df.loc[dup, "timestamp_utc"].iloc[0]
        raise IngestError(", ".join(map(str, paths)), f"site {df.loc[dup, 'site'].iloc[0]} has stamp {t} in more than one file "
                          "(the same year given twice?)", column="timestamp", expected="each stamp once")
    if len(tzs) == 1:
        df["timestamp_local"] = df["timestamp_utc"].dt.tz_convert(tzs.pop())
    df = df.sort_values("timestamp_utc", kind="stable").reset_index(drop=True)
    return df[WEATHER_COLUMNS]


PARSERS = {"nsrdb_psm3": parse_nsrdb_psm3, "tmy3": parse_tmy3}

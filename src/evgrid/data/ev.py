"""EV charging-session parsers -> ``ev_sessions_primary``.

Columns: ``session_id, source, site, station_id, timezone, arrival_utc, departure_utc,
done_charging_utc, arrival_local, departure_local`` (naive wall-clock times in the session's
``timezone``, since sources in different zones share the table), ``energy_kwh, kwh_requested,
miles_requested, wh_per_mile, requested_departure_utc, distance_km, charger_model``.

- ``acn_json``: ACN-Data API JSON (a list of sessions or ``{"_items": [...]}``). Times are RFC-1123 GMT
  strings; each session carries its site ``timezone``. ``userInputs`` (if present) holds the driver's
  request; the last entry (latest ``modifiedAt``) is used. ``distance_km = milesRequested * 1.609344``.
- ``council_csv`` (``dundee_csv`` is the same parser with ``source: dundee``): a council charge-point
  session export. Default columns are Dundee City Council's (``Charging event``, ``CP ID``, ``Start Date``
  dd/mm/yyyy, ``Start Time`` HH:MM, ``End Date``, ``End Time``, ``Total kWh``, ``Site``, ``Model``); another
  council's file is read by mapping its columns (option ``columns``: field -> file column, see
  ``COUNCIL_FIELDS``) and giving its ``date_format`` / ``time_format`` (or ``timestamp_format`` for one
  column holding date and time), without code. Times are local wall clock (``timezone``, default
  Europe/London). Day/month order is checked from the data (``day_month: auto``, see
  :func:`evgrid.data.timestamps.resolve_day_month`): a file mixing dd/mm and mm/dd rows is repaired from
  the neighbouring dates and the session's own start (counted) or refused. There is no distance:
  ``distance_km`` is NaN unless ``kwh_per_km`` is given, then ``energy_kwh / kwh_per_km``.

Sessions are events with their own start and end, so these formats have no interval convention.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from evgrid.data.errors import IngestError
from evgrid.data.quality import QualityLog
from evgrid.data.readers import read_csv_checked, read_text_checked, to_numeric
from evgrid.data.timestamps import date_check, formats_of, parse_stamps, resolve_day_month

KM_PER_MILE = 1.609344
EV_COLUMNS = [
    "session_id", "source", "site", "station_id", "timezone", "arrival_utc", "departure_utc",
    "done_charging_utc", "arrival_local", "departure_local", "energy_kwh", "kwh_requested",
    "miles_requested", "wh_per_mile", "requested_departure_utc", "distance_km", "charger_model",
]
RFC1123 = "%a, %d %b %Y %H:%M:%S GMT"


def _clean_sessions(df: pd.DataFrame, log: QualityLog, max_energy_kwh: float, max_duration_h: float
                    ) -> pd.DataFrame:
    """Remove (and count) sessions that cannot be used: open, non-positive or implausible."""
    open_ = df["departure_utc"].isna() | df["energy_kwh"].isna()
    log.remove("in_progress_or_missing_end_or_energy", int(open_.sum()))
    df = df[~open_]
    dur_h = (df["departure_utc"] - df["arrival_utc"]).dt.total_seconds() / 3600.0
    prev = log.dates.get("duration_h", {})
    log.dates["duration_h"] = {  # plausibility of the session durations (the rows are removed below, counted)
        "sessions": prev.get("sessions", 0) + len(dur_h),
        "non_positive": prev.get("non_positive", 0) + int((dur_h <= 0).sum()),
        f"over_{max_duration_h:g}": prev.get(f"over_{max_duration_h:g}", 0) + int((dur_h > max_duration_h).sum()),
        "max": max(prev.get("max", float("-inf")), float(dur_h.max()) if len(dur_h) else float("-inf")),
    }
    bad = dur_h <= 0
    log.remove("non_positive_duration", int(bad.sum()))
    df, dur_h = df[~bad], dur_h[~bad]
    long_ = dur_h > max_duration_h
    log.remove(f"duration_over_{max_duration_h:g}_h", int(long_.sum()))
    df = df[~long_]
    nonpos = df["energy_kwh"] <= 0
    log.remove("non_positive_energy", int(nonpos.sum()))
    df = df[~nonpos]
    big = df["energy_kwh"] > max_energy_kwh
    log.remove(f"energy_over_{max_energy_kwh:g}_kwh", int(big.sum()))
    return df[~big]


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    for c in EV_COLUMNS:
        if c not in df:
            df[c] = np.nan
    for c in ("arrival_utc", "departure_utc", "done_charging_utc", "requested_departure_utc"):
        df[c] = pd.to_datetime(df[c], utc=True)
    local_a, local_d = [], []
    for tz, g in df.groupby("timezone", sort=False):
        local_a.append(g["arrival_utc"].dt.tz_convert(tz).dt.tz_localize(None))
        local_d.append(g["departure_utc"].dt.tz_convert(tz).dt.tz_localize(None))
    if local_a:
        df["arrival_local"] = pd.concat(local_a)
        df["departure_local"] = pd.concat(local_d)
    else:
        df["arrival_local"] = pd.Series(dtype="datetime64[ns]")
        df["departure_local"] = pd.Series(dtype="datetime64[ns]")
    for c in ("energy_kwh", "kwh_requested", "miles_requested", "wh_per_mile", "distance_km"):
        df[c] = df[c].astype(float)
    for c in ("session_id", "source", "site", "station_id", "timezone", "charger_model"):
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df[EV_COLUMNS].sort_values("arrival_utc", kind="stable").reset_index(drop=True)


def _is_zone(name: object) -> bool:
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _latest_user_input(entries: object) -> dict:
    """The driver's latest request: the ``userInputs`` entry with the latest ``modifiedAt`` (ties and
    missing stamps: the later entry in the list)."""
    if not isinstance(entries, list) or not entries:
        return {}
    if len(entries) == 1:
        return entries[0]

    def stamp(e: dict) -> datetime:
        try:
            return datetime.strptime(str(e.get("modifiedAt")), RFC1123)
        except ValueError:
            return datetime.min

    order = sorted(range(len(entries)), key=lambda i: (stamp(entries[i]), i))
    return entries[order[-1]]


ACN_REQUIRED = ["sessionID", "connectionTime", "disconnectTime", "kWhDelivered", "stationID", "timezone"]


def _acn_records(path: Path, encoding: str, log: QualityLog) -> list:
    """One ACN JSON file read and checked: a non-empty list of sessions (or ``{'_items': [...]}``), each with the
    required fields; the count of read sessions goes to ``log``."""
    if not path.exists():
        raise IngestError(path, "ACN JSON file not found")
    text = read_text_checked(path, encoding, "ACN JSON")
    if not text.strip():
        raise IngestError(path, "ACN JSON file is empty", expected="a JSON list of sessions")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(path, f"invalid or truncated JSON ({exc.msg})", line=exc.lineno,
                          expected="a complete JSON list of sessions") from exc
    if isinstance(data, dict):
        data = data.get("_items")
    if not isinstance(data, list) or not data:
        raise IngestError(path, "no sessions found", expected="a non-empty JSON list or {'_items': [...]}")
    log.read(path, len(data))
    for i, rec in enumerate(data):
        missing = [k for k in ACN_REQUIRED if k not in rec]
        if missing:
            raise IngestError(path, f"session #{i} ({rec.get('sessionID', '?')}) lacks field(s) {missing}",
                              column=missing[0], expected=f"fields {ACN_REQUIRED}")
    return data


def _acn_where(sid: pd.Series, i: int) -> str:
    return f"session #{i} (sessionID {sid.iloc[i]!r})"


def _acn_time(col: pd.Series, name: str, path: Path, sid: pd.Series) -> pd.Series:
    """RFC-1123 GMT stamps -> UTC (NaT where absent); an unparseable one raises naming the session."""
    present = col.notna()
    out = pd.to_datetime(col.where(present), format=RFC1123, errors="coerce", utc=True)
    bad = out.isna() & present
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise IngestError(path, f"unparseable time in {_acn_where(sid, i)}", column=name,
                          expected="RFC-1123 GMT like 'Sat, 01 May 2021 20:42:47 GMT'", got=col.iloc[i])
    return out


def _acn_number(col: pd.Series, name: str, path: Path, sid: pd.Series) -> pd.Series:
    """Numbers as float (NaN where absent); a non-numeric one raises naming the session."""
    out = pd.to_numeric(col, errors="coerce")
    bad = out.isna() & col.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise IngestError(path, f"non-numeric value in {_acn_where(sid, i)}", column=name, expected="a number",
                          got=col.iloc[i])
    return out.astype(float)


def _acn_sessions(data: list, path: Path, site: str, log: QualityLog) -> pd.DataFrame:
    """The sessions of one file in the common schema (UTC stamps, kWh, user inputs; ``distance_km`` from the
    requested miles); unknown time zones and repeated session IDs raise."""
    df = pd.DataFrame.from_records(data)
    ui = [_latest_user_input(u) for u in df.get("userInputs", pd.Series([None] * len(df)))]
    n_no_ui = sum(1 for u in ui if not u)
    log.note(f"{path.name}: {n_no_ui} sessions without userInputs (distance_km NaN)")
    uid = pd.DataFrame.from_records(ui, index=df.index)
    for k in ("WhPerMile", "kWhRequested", "milesRequested", "requestedDeparture"):
        if k not in uid:
            uid[k] = np.nan
    sid = df["sessionID"].astype(str)
    known = {tz for tz in df["timezone"].dropna().unique() if _is_zone(tz)}
    bad_tz = ~df["timezone"].isin(known)
    if bad_tz.any():
        i = int(np.flatnonzero(bad_tz.to_numpy())[0])
        raise IngestError(path, f"unknown time zone in {_acn_where(sid, i)}", column="timezone",
                          expected="an IANA zone such as 'America/Los_Angeles'", got=df["timezone"].iloc[i])
    out = pd.DataFrame({
        "session_id": "acn-" + df["sessionID"].astype(str),
        "source": "acn",
        "site": site,
        "station_id": df["stationID"].astype(str),
        "timezone": df["timezone"].astype(str),
        "arrival_utc": _acn_time(df["connectionTime"], "connectionTime", path, sid),
        "departure_utc": _acn_time(df["disconnectTime"], "disconnectTime", path, sid),
        "done_charging_utc": _acn_time(df.get("doneChargingTime", pd.Series([None] * len(df))), "doneChargingTime",
                                       path, sid),
        "energy_kwh": _acn_number(df["kWhDelivered"], "kWhDelivered", path, sid),
        "kwh_requested": _acn_number(uid["kWhRequested"], "userInputs.kWhRequested", path, sid),
        "miles_requested": _acn_number(uid["milesRequested"], "userInputs.milesRequested", path, sid),
        "wh_per_mile": _acn_number(uid["WhPerMile"], "userInputs.WhPerMile", path, sid),
        "requested_departure_utc": _acn_time(uid["requestedDeparture"], "userInputs.requestedDeparture", path, sid),
        "charger_model": None,
    })
    dup = out["session_id"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise IngestError(path, f"sessionID {df['sessionID'].iloc[i]} appears twice", column="sessionID",
                          expected="unique session IDs")
    out["distance_km"] = out["miles_requested"] * KM_PER_MILE
    return out


def parse_acn_json(paths: Sequence[str | Path], log: QualityLog | None = None, site: str = "caltech",
                   max_energy_kwh: float = 150.0, max_duration_h: float = 72.0, encoding: str = "utf-8-sig",
                   date_span: Sequence[object] | None = None) -> pd.DataFrame:
    """ACN-Data sessions JSON; see the module docstring. Per file: read and check, convert, date check, clean."""
    log = log or QualityLog("ev_sessions")
    frames = []
    for path in paths:
        path = Path(path)
        out = _acn_sessions(_acn_records(path, encoding, log), path, site, log)
        date_check(log, "arrival", out["arrival_utc"], path, date_span)
        frames.append(_clean_sessions(out, log, max_energy_kwh, max_duration_h))
    return _finish(pd.concat(frames, ignore_index=True))


# Fields of a council session CSV (keys of the ``columns`` option) and Dundee's column names for them.
COUNCIL_FIELDS = ("session_id", "station_id", "start", "start_date", "start_time", "end", "end_date", "end_time",
                  "energy_kwh", "site", "charger_model")
DUNDEE_COLUMNS = {"session_id": "Charging event", "station_id": "CP ID", "start_date": "Start Date",
                  "start_time": "Start Time", "end_date": "End Date", "end_time": "End Time",
                  "energy_kwh": "Total kWh", "site": "Site", "charger_model": "Model"}


def _council_columns(columns: dict[str, str | None] | None, path: str | Path) -> dict[str, str]:
    """Dundee's columns updated with the user's mapping; ``start`` / ``end`` (one column holding date and
    time) replace the date + time pair; a field mapped to null is absent from the file."""
    user = dict(columns or {})
    unknown = [k for k in user if k not in COUNCIL_FIELDS]
    if unknown:
        raise IngestError(path, f"option columns names unknown field(s) {unknown}", column="columns",
                          expected=f"fields among {list(COUNCIL_FIELDS)}")
    cols: dict[str, str | None] = dict(DUNDEE_COLUMNS)
    for end in ("start", "end"):
        if user.get(end):
            cols.pop(f"{end}_date"), cols.pop(f"{end}_time")
    cols.update(user)
    out = {k: str(v).strip() for k, v in cols.items() if v is not None}
    for end in ("start", "end"):
        if end not in out and f"{end}_date" not in out:
            raise IngestError(path, f"no column for the session {end}", column="columns",
                              expected=f"columns.{end} (date and time in one column) or columns.{end}_date "
                              f"[+ columns.{end}_time]")
    if "energy_kwh" not in out:
        raise IngestError(path, "no column for the energy delivered", column="columns",
                          expected="columns.energy_kwh naming the kWh column")
    return out


class _StampOptions(NamedTuple):
    """How a council file writes its session start and end (the ``parse_council_csv`` options of the same names)."""

    date_format: str | Sequence[str]
    time_format: str | Sequence[str]
    timestamp_format: str | Sequence[str]
    day_month: str
    max_duration_h: float


def _council_stamps(raw: pd.DataFrame, cols: dict[str, str], end: str, anchor: pd.Series | None, path: Path,
                    log: QualityLog, opts: _StampOptions) -> pd.Series:
    """Naive local stamps of the session start / end (NaT where the end is empty): one timestamp column, or a
    date column (day/month order resolved from the data) plus an optional time-of-day column."""
    window = pd.Timedelta(hours=opts.max_duration_h)
    allow = end == "end"
    if end in cols:
        label = cols[end]
        return resolve_day_month(raw[cols[end]], formats_of(opts.timestamp_format), path, raw, label, log,
                                 mode=opts.day_month, anchor=anchor, window=window, allow_missing=allow)
    dcol, tcol = cols[f"{end}_date"], cols.get(f"{end}_time")
    has = raw[dcol].notna() if tcol is None else raw[dcol].notna() & raw[tcol].notna()
    day_anchor = None if anchor is None else anchor.dt.normalize()
    day_window = pd.Timedelta(days=int(np.ceil(opts.max_duration_h / 24.0)))
    day = resolve_day_month(raw[dcol].where(has), formats_of(opts.date_format), path, raw, dcol, log,
                            mode=opts.day_month, anchor=day_anchor, window=day_window,
                            allow_missing=allow).dt.normalize()
    if tcol is None:
        return day
    tod = parse_stamps(raw[tcol].where(has), formats_of(opts.time_format), path, raw, tcol, allow_missing=allow)
    return day + (tod - tod.dt.normalize())


def _localize(naive: pd.Series, col: str, timezone: str, path: Path, raw: pd.DataFrame,
              log: QualityLog) -> pd.Series:
    """Naive local stamps -> UTC: a spring-forward time raises; an autumn repeated hour is read as summer time
    (the first occurrence) and counted."""
    idx = pd.DatetimeIndex(naive)
    nonexist = idx.notna() & pd.DatetimeIndex(naive).tz_localize(
        timezone, ambiguous=np.ones(len(idx), bool), nonexistent="NaT").isna()
    if nonexist.any():
        i = int(np.flatnonzero(nonexist)[0])
        raise IngestError(path, f"time {naive.iloc[i]} does not exist in {timezone} (clocks went "
                          "forward)", column=col, line=int(raw["_line"].iloc[i]),
                          expected=f"a valid local time in {timezone}")
    amb = idx.notna() & idx.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").isna()
    log.repair(f"{col}_ambiguous_autumn_hour_read_as_summer_time", int(amb.sum()))
    return pd.Series(idx.tz_localize(timezone, ambiguous=np.ones(len(idx), bool)).tz_convert("UTC"),
                     index=naive.index)


def _council_event_ids(raw: pd.DataFrame, cols: dict[str, str], path: str | Path) -> pd.Series:
    """The file's event IDs (a repeated one raises), or ``<file stem>-line<n>`` when the file has none."""
    if "session_id" in cols:
        event = raw[cols["session_id"]].astype(str).str.strip()
        dup = event.duplicated()
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            raise IngestError(path, f"charging event {event.iloc[i]} appears twice", column=cols["session_id"],
                              line=int(raw["_line"].iloc[i]), expected="unique event IDs")
        return event
    return Path(path).stem + "-line" + raw["_line"].astype(str)


def parse_council_csv(paths: Sequence[str | Path], log: QualityLog | None = None,
                      timezone: str = "Europe/London", kwh_per_km: float | None = None,
                      max_energy_kwh: float = 150.0, max_duration_h: float = 72.0, source: str = "council",
                      site: str | None = None, columns: dict[str, str | None] | None = None,
                      date_format: str | Sequence[str] = "%d/%m/%Y",
                      time_format: str | Sequence[str] = ("%H:%M", "%H:%M:%S"),
                      timestamp_format: str | Sequence[str] = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S"),
                      day_month: str = "auto", encoding: str = "utf-8-sig",
                      date_span: Sequence[object] | None = None) -> pd.DataFrame:
    """Council charge-point session CSV(s); see the module docstring.

    Spring-forward stamps (01:00-01:59 on the last Sunday of March in the UK) cannot occur and raise; an
    autumn repeated-hour stamp is read as the first (summer-time) occurrence and counted.
    """
    log = log or QualityLog("ev_sessions")
    frames = []
    opts = _StampOptions(date_format, time_format, timestamp_format, day_month, max_duration_h)
    for path in paths:
        cols = _council_columns(columns, path)
        raw = read_csv_checked(path, list(cols.values()), what=f"{source} charge-point sessions", encoding=encoding)
        log.read(path, len(raw))
        start_label = cols.get("start") or f"{cols['start_date']}/{cols.get('start_time', '')}".rstrip("/")
        end_label = cols.get("end") or f"{cols['end_date']}/{cols.get('end_time', '')}".rstrip("/")
        start_naive = _council_stamps(raw, cols, "start", None, Path(path), log, opts)
        end_naive = _council_stamps(raw, cols, "end", start_naive, Path(path), log, opts)
        event = _council_event_ids(raw, cols, path)
        energy = to_numeric(raw, cols["energy_kwh"], path)
        arrival = _localize(start_naive, start_label, timezone, path, raw, log)
        date_check(log, "arrival", arrival, path, date_span, raw)
        out = pd.DataFrame({
            "session_id": f"{source}-" + event,
            "source": source,
            "site": raw[cols["site"]].str.strip() if "site" in cols else (site or source),
            "station_id": raw[cols["station_id"]].astype(str).str.strip() if "station_id" in cols else "unknown",
            "timezone": timezone,
            "arrival_utc": arrival,
            "departure_utc": _localize(end_naive, end_label, timezone, path, raw, log),
            "energy_kwh": energy,
            "distance_km": energy / kwh_per_km if kwh_per_km else np.nan,
            "charger_model": raw[cols["charger_model"]].str.strip() if "charger_model" in cols else None,
        })
        frames.append(out)
    df = pd.concat(frames, ignore_index=True)
    dup = df["session_id"].duplicated()
    log.remove("duplicate_event_across_files", int(dup.sum()))
    df = df[~dup]
    return _finish(_clean_sessions(df, log, max_energy_kwh, max_duration_h))


parse_dundee_csv = functools.partial(parse_council_csv, source="dundee")
"""Dundee City Council sessions: :func:`parse_council_csv` with ``source: dundee`` (same options)."""


PARSERS = {"acn_json": parse_acn_json, "dundee_csv": parse_dundee_csv, "council_csv": parse_council_csv}

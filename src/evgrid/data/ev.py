"""EV charging-session parsers -> ``ev_sessions_primary``.

Columns: ``session_id, source, site, station_id, timezone, arrival_utc, departure_utc,
done_charging_utc, arrival_local, departure_local`` (naive wall-clock times in the session's
``timezone``, since sources in different zones share the table), ``energy_kwh, kwh_requested,
miles_requested, wh_per_mile, requested_departure_utc, distance_km, charger_model``.

- ``acn_json``: ACN-Data API JSON (a list of sessions or ``{"_items": [...]}``). Times are RFC-1123 GMT
  strings; each session carries its site ``timezone``. ``userInputs`` (if present) holds the driver's
  request; the last entry (latest ``modifiedAt``) is used. ``distance_km = milesRequested * 1.609344``.
- ``dundee_csv``: Dundee City Council charge-point export (``Start Date`` dd/mm/yyyy, ``Start Time``
  HH:MM, ``End Date``, ``End Time``, ``Total kWh``, ``CP ID``, ``Site``, ``Model``), UK local time
  (Europe/London). There is no distance: ``distance_km`` is NaN unless ``kwh_per_km`` is given, then
  ``energy_kwh / kwh_per_km`` (the energy charged covers that many km of driving).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from evgrid.data.errors import IngestError
from evgrid.data.quality import QualityLog
from evgrid.data.readers import read_csv_checked, to_datetime, to_numeric

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


def parse_acn_json(paths: Sequence[str | Path], log: QualityLog | None = None, site: str = "caltech",
                   max_energy_kwh: float = 150.0, max_duration_h: float = 72.0) -> pd.DataFrame:
    """ACN-Data sessions JSON; see the module docstring."""
    log = log or QualityLog("ev_sessions")
    frames = []
    required = ["sessionID", "connectionTime", "disconnectTime", "kWhDelivered", "stationID", "timezone"]
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise IngestError(path, "ACN JSON file not found")
        text = path.read_text(encoding="utf-8")
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
            missing = [k for k in required if k not in rec]
            if missing:
                raise IngestError(path, f"session #{i} ({rec.get('sessionID', '?')}) lacks field(s) {missing}",
                                  column=missing[0], expected=f"fields {required}")
        df = pd.DataFrame.from_records(data)
        ui = [_latest_user_input(u) for u in df.get("userInputs", pd.Series([None] * len(df)))]
        n_no_ui = sum(1 for u in ui if not u)
        log.note(f"{path.name}: {n_no_ui} sessions without userInputs (distance_km NaN)")
        uid = pd.DataFrame.from_records(ui, index=df.index)
        for k in ("WhPerMile", "kWhRequested", "milesRequested", "requestedDeparture"):
            if k not in uid:
                uid[k] = np.nan
        sid = df["sessionID"].astype(str)

        def where(i: int, sid: pd.Series = sid) -> str:
            return f"session #{i} (sessionID {sid.iloc[i]!r})"

        def ts(col: pd.Series, name: str, path: Path = path) -> pd.Series:
            present = col.notna()
            out = pd.to_datetime(col.where(present), format=RFC1123, errors="coerce", utc=True)
            bad = out.isna() & present
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise IngestError(path, f"unparseable time in {where(i)}", column=name,
                                  expected="RFC-1123 GMT like 'Sat, 01 May 2021 20:42:47 GMT'", got=col.iloc[i])
            return out

        def number(col: pd.Series, name: str, path: Path = path) -> pd.Series:
            out = pd.to_numeric(col, errors="coerce")
            bad = out.isna() & col.notna()
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise IngestError(path, f"non-numeric value in {where(i)}", column=name, expected="a number",
                                  got=col.iloc[i])
            return out.astype(float)

        known = {tz for tz in df["timezone"].dropna().unique() if _is_zone(tz)}
        bad_tz = ~df["timezone"].isin(known)
        if bad_tz.any():
            i = int(np.flatnonzero(bad_tz.to_numpy())[0])
            raise IngestError(path, f"unknown time zone in {where(i)}", column="timezone",
                              expected="an IANA zone such as 'America/Los_Angeles'", got=df["timezone"].iloc[i])
        out = pd.DataFrame({
            "session_id": "acn-" + df["sessionID"].astype(str),
            "source": "acn",
            "site": site,
            "station_id": df["stationID"].astype(str),
            "timezone": df["timezone"].astype(str),
            "arrival_utc": ts(df["connectionTime"], "connectionTime"),
            "departure_utc": ts(df["disconnectTime"], "disconnectTime"),
            "done_charging_utc": ts(df.get("doneChargingTime", pd.Series([None] * len(df))), "doneChargingTime"),
            "energy_kwh": number(df["kWhDelivered"], "kWhDelivered"),
            "kwh_requested": number(uid["kWhRequested"], "userInputs.kWhRequested"),
            "miles_requested": number(uid["milesRequested"], "userInputs.milesRequested"),
            "wh_per_mile": number(uid["WhPerMile"], "userInputs.WhPerMile"),
            "requested_departure_utc": ts(uid["requestedDeparture"], "userInputs.requestedDeparture"),
            "charger_model": None,
        })
        dup = out["session_id"].duplicated()
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            raise IngestError(path, f"sessionID {df['sessionID'].iloc[i]} appears twice", column="sessionID",
                              expected="unique session IDs")
        out["distance_km"] = out["miles_requested"] * KM_PER_MILE
        frames.append(_clean_sessions(out, log, max_energy_kwh, max_duration_h))
    return _finish(pd.concat(frames, ignore_index=True))


def parse_dundee_csv(paths: Sequence[str | Path], log: QualityLog | None = None,
                     timezone: str = "Europe/London", kwh_per_km: float | None = None,
                     max_energy_kwh: float = 150.0, max_duration_h: float = 72.0) -> pd.DataFrame:
    """Dundee City Council charge-point sessions CSV(s); see the module docstring.

    Spring-forward stamps (01:00-01:59 on the last Sunday of March) cannot occur and raise; an autumn
    repeated-hour stamp is read as the first (BST) occurrence and counted.
    """
    log = log or QualityLog("ev_sessions")
    cols = ["Charging event", "CP ID", "Start Date", "Start Time", "End Date", "End Time", "Total kWh",
            "Site", "Model"]
    frames = []
    for path in paths:
        raw = read_csv_checked(path, cols, what="Dundee charge-point sessions")
        log.read(path, len(raw))
        start_naive = to_datetime(raw, raw["Start Date"].str.strip() + " " + raw["Start Time"].str.strip(),
                                  path, "%d/%m/%Y %H:%M", label="Start Date/Start Time")
        has_end = raw["End Date"].notna() & raw["End Time"].notna()
        end_str = (raw["End Date"].str.strip() + " " + raw["End Time"].str.strip()).where(has_end)
        end_naive = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
        if has_end.any():
            end_naive[has_end] = to_datetime(raw[has_end], end_str[has_end], path, "%d/%m/%Y %H:%M",
                                             label="End Date/End Time")

        def localize(naive: pd.Series, col: str, path: Path = path, raw: pd.DataFrame = raw) -> pd.Series:
            idx = pd.DatetimeIndex(naive)
            nonexist = idx.notna() & pd.DatetimeIndex(naive).tz_localize(
                timezone, ambiguous=np.ones(len(idx), bool), nonexistent="NaT").isna()
            if nonexist.any():
                i = int(np.flatnonzero(nonexist)[0])
                raise IngestError(path, f"time {naive.iloc[i]} does not exist in {timezone} (clocks went "
                                  "forward)", column=col, line=int(raw["_line"].iloc[i]),
                                  expected="a valid UK local time")
            amb = idx.notna() & idx.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").isna()
            log.repair(f"{col}_ambiguous_autumn_hour_read_as_bst", int(amb.sum()))
            return pd.Series(idx.tz_localize(timezone, ambiguous=np.ones(len(idx), bool)).tz_convert("UTC"),
                             index=naive.index)

        event = raw["Charging event"].str.strip()
        dup = event.duplicated()
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            raise IngestError(path, f"charging event {event.iloc[i]} appears twice", column="Charging event",
                              line=int(raw["_line"].iloc[i]), expected="unique event IDs")
        energy = to_numeric(raw, "Total kWh", path)
        out = pd.DataFrame({
            "session_id": "dundee-" + event,
            "source": "dundee",
            "site": raw["Site"].str.strip(),
            "station_id": raw["CP ID"].str.strip(),
            "timezone": timezone,
            "arrival_utc": localize(start_naive, "Start Date/Start Time"),
            "departure_utc": localize(end_naive, "End Date/End Time"),
            "energy_kwh": energy,
            "distance_km": energy / kwh_per_km if kwh_per_km else np.nan,
            "charger_model": raw["Model"].str.strip(),
        })
        frames.append(out)
    df = pd.concat(frames, ignore_index=True)
    dup = df["session_id"].duplicated()
    log.remove("duplicate_event_across_files", int(dup.sum()))
    df = df[~dup]
    return _finish(_clean_sessions(df, log, max_energy_kwh, max_duration_h))


PARSERS = {"acn_json": parse_acn_json, "dundee_csv": parse_dundee_csv}

"""NYISO zonal LBMP parsers: raw zonal CSV, wide daily he01..he24 file, OASIS exports of any market run.

All return the tidy ``prices_primary`` layout (one row per zone and interval, stamped at the interval
*start*): ``timestamp_utc, timestamp_local, market, zone, ptid, lbmp_usd_per_mwh, losses_usd_per_mwh,
congestion_usd_per_mwh, energy_usd_per_mwh``.

Interval conventions (``interval`` option, see :mod:`evgrid.data.timestamps`): NYISO stamps hourly
day-ahead (and hour-ahead / integrated real-time) prices at the hour *beginning* (the DAM file runs
00:00..23:00) and sub-hourly real-time prices at the interval *end* (5-min RTD 00:05..24:00, the RTC
export's ``RTC End Time Stamp``). ``interval: auto`` (the default) applies exactly this rule from the
file's stamp spacing (or the ``End`` in the OASIS time column's name); set ``start`` / ``end`` to force.

NYISO sign convention: ``LBMP = energy + losses - congestion`` (the published congestion component is
negative when congestion raises the price), so ``energy = LBMP - losses + congestion``; the energy
component is the same for every zone in an hour (checked in the tests on the real DAM file).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from evgrid.data.errors import IngestError
from evgrid.data.quality import QualityLog
from evgrid.data.readers import (
    check_increasing_by_group,
    localize_prevailing,
    read_csv_checked,
    read_text_checked,
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

# NYISO files write "07/18/2022 00:00" (DAM), "07/18/2022 00:05:00" (5-min RT) or "6/1/24 0:00" (OASIS
# exports opened and saved by a spreadsheet): these formats are tried in this order.
NYISO_TIME_FORMATS = ["%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%y %H:%M", "%m/%d/%y %H:%M:%S"]
MARKETS = ("DAM", "HAM", "RT", "RTC", "RTD")

NYISO_TZ = "America/New_York"
PRICE_COLUMNS = [
    "timestamp_utc", "timestamp_local", "market", "zone", "ptid",
    "lbmp_usd_per_mwh", "losses_usd_per_mwh", "congestion_usd_per_mwh", "energy_usd_per_mwh",
]
# Official NYISO zone names (as in the raw zonal files) by canonical key (upper case, alphanumerics only).
NYISO_ZONES = {
    "CAPITL": "CAPITL", "CENTRL": "CENTRL", "DUNWOD": "DUNWOD", "GENESE": "GENESE", "HQ": "H Q",
    "HUDVL": "HUD VL", "LONGIL": "LONGIL", "MHKVL": "MHK VL", "MILLWD": "MILLWD", "NYC": "N.Y.C.",
    "NORTH": "NORTH", "NPX": "NPX", "OH": "O H", "PJM": "PJM", "WEST": "WEST",
}


def zone_key(name: str) -> str:
    """Canonical zone key: ``"N.Y.C."``, ``"NYC"`` and ``"nyc"`` all give ``"NYC"``."""
    return re.sub(r"[^A-Z0-9]", "", str(name).upper())


def canonical_zone(name: str) -> str:
    """Official NYISO spelling of a zone name where known, else the name as given (stripped)."""
    return NYISO_ZONES.get(zone_key(name), str(name).strip())


def select_zone(df: pd.DataFrame, zone: str, path: str | Path | None = None) -> pd.DataFrame:
    """Rows of one zone (spelling-insensitive); an unknown zone raises listing the zones available."""
    keys = df["zone"].map(zone_key)
    out = df[keys == zone_key(zone)]
    if out.empty:
        raise IngestError(path, f"unknown zone {zone!r}", column="zone",
                          expected=f"one of {sorted(df['zone'].unique())}")
    return out


def _finish(df: pd.DataFrame, market: str) -> pd.DataFrame:
    df = df.copy()
    df["market"] = market
    df["zone"] = df["zone"].map(canonical_zone)
    df["energy_usd_per_mwh"] = df["lbmp_usd_per_mwh"] - df["losses_usd_per_mwh"] + df["congestion_usd_per_mwh"]
    df["timestamp_local"] = df["timestamp_utc"].dt.tz_convert(NYISO_TZ)
    df["ptid"] = df["ptid"].astype("Int64")
    return df[PRICE_COLUMNS].sort_values(["zone", "timestamp_utc"], kind="stable").reset_index(drop=True)


def _drop_missing_lbmp(df: pd.DataFrame, log: QualityLog) -> pd.DataFrame:
    miss = df["lbmp_usd_per_mwh"].isna()
    log.remove("missing_lbmp", int(miss.sum()))
    return df[~miss]


def _check_market(market: str, path: str | Path, option: str = "market") -> str:
    m = str(market).strip().upper()
    if m not in MARKETS:
        raise IngestError(path, f"unknown market {market!r}", column=option, expected=f"one of {list(MARKETS)}")
    return m


def _to_start(df: pd.DataFrame, naive: pd.Series, path: str | Path, log: QualityLog, interval: str,
              interval_minutes: float | str | None, date_span: Sequence[object] | None = None) -> pd.DataFrame:
    """Check the dates, apply the interval convention per zone (stamps -> interval starts) and count
    off-grid stamps."""
    date_check(log, "timestamp", df["timestamp_utc"], path, date_span)
    conv, minutes = resolve_interval(interval, interval_minutes, df["timestamp_utc"], df["zone"], path,
                                     auto_end_below_minutes=60.0)
    n_off = int(off_grid(naive, minutes).sum())
    log.repair("off_grid_interval_stamps_kept", n_off)
    log.note(f"{Path(path).name}: stamps read as interval-{conv}" + (f" ({minutes:g}-min intervals)" if minutes == minutes else "")
             + (f"; {n_off} off-grid stamps (their intervals keep their true length)" if n_off else ""))
    df = df.copy()
    df["timestamp_utc"] = to_interval_start(df["timestamp_utc"], conv, minutes, df["zone"])
    return df


def parse_nyiso_zonal_csv(paths: Sequence[str | Path], market: str = "DAM", log: QualityLog | None = None,
                          timezone: str = NYISO_TZ, time_format: str | Sequence[str] = tuple(NYISO_TIME_FORMATS),
                          interval: str = "auto", interval_minutes: float | str = "auto",
                          encoding: str = "utf-8-sig", columns: dict[str, str] | None = None,
                          date_span: Sequence[object] | None = None) -> pd.DataFrame:
    """Raw NYISO zonal LBMP CSV (``Time Stamp, Name, PTID, LBMP ($/MWHr), Marginal Cost Losses ($/MWHr),
    Marginal Cost Congestion ($/MWHr)``): the day-ahead hourly file and the real-time 5-min file share this
    layout. Eastern prevailing time, no tz column; stamps with or without seconds; ``24:00`` = next midnight.

    ``interval: auto``: hourly stamps are hour-beginning, sub-hourly ones interval-ending (NYISO's
    convention); off-grid real-time stamps (``00:15:12``) are kept and counted. The autumn repeated hour
    appears twice per zone: first EDT, then EST.
    """
    log = log or QualityLog("prices")
    market = _check_market(market, paths[0] if paths else None)
    cols = ["Time Stamp", "Name", "PTID", "LBMP ($/MWHr)", "Marginal Cost Losses ($/MWHr)",
            "Marginal Cost Congestion ($/MWHr)"]
    frames = []
    for path in paths:
        raw = read_csv_checked(path, cols, what="NYISO zonal LBMP", encoding=encoding, columns=columns)
        log.read(path, len(raw))
        naive = to_datetime(raw, "Time Stamp", path, time_format, log=log)
        df = pd.DataFrame({
            "zone": raw["Name"].str.strip(),
            "ptid": to_numeric(raw, "PTID", path),
            "lbmp_usd_per_mwh": to_numeric(raw, "LBMP ($/MWHr)", path),
            "losses_usd_per_mwh": to_numeric(raw, "Marginal Cost Losses ($/MWHr)", path),
            "congestion_usd_per_mwh": to_numeric(raw, "Marginal Cost Congestion ($/MWHr)", path),
        })
        df["timestamp_utc"] = localize_prevailing(naive, timezone, path, raw, "Time Stamp", group=df["zone"])
        check_increasing_by_group(df["timestamp_utc"], df["zone"], raw, path, "Time Stamp")
        df = _to_start(df, naive, path, log, interval, interval_minutes, date_span)
        frames.append(_drop_missing_lbmp(df, log))
    return _finish(pd.concat(frames, ignore_index=True), market)


OASIS_ROLES = ("time", "time_zone", "zone", "ptid", "lbmp", "losses", "congestion")


def _oasis_columns(head: list[str], columns: dict[str, str] | None, path: str | Path) -> dict[str, str | None]:
    """Column of each OASIS role: ``time`` (``Eastern Date Hour`` or ``<run> End Time Stamp`` ...), its
    ``time_zone`` label column if any, ``zone``, ``ptid``, ``<run> Zonal LBMP / Losses / Congestion``."""
    user = dict(columns or {})
    unknown = [k for k in user if k not in OASIS_ROLES]
    if unknown:
        raise IngestError(path, f"option columns names unknown role(s) {unknown}", column="columns",
                          expected=f"keys among {list(OASIS_ROLES)}")

    def first(pred) -> str | None:
        hits = [c for c in head if pred(c)]
        return hits[0] if hits else None

    time = user.get("time") or first(lambda c: c == "Eastern Date Hour") or first(
        lambda c: c.endswith("Time Stamp") or c.endswith("Date Hour"))
    out: dict[str, str | None] = {
        "time": time,
        "time_zone": user.get("time_zone") or (first(lambda c: c == f"{time} Time Zone") if time else None),
        "zone": user.get("zone") or first(lambda c: c in ("Zone Name", "Name")),
        "ptid": user.get("ptid") or first(lambda c: c in ("Zone PTID", "PTID")),
        "lbmp": user.get("lbmp") or first(lambda c: c.endswith("Zonal LBMP") or c.endswith(" LBMP")),
        "losses": user.get("losses") or first(lambda c: c.endswith("Zonal Losses") or c.endswith(" Losses")),
        "congestion": user.get("congestion") or first(lambda c: c.endswith("Zonal Congestion")
                                                      or c.endswith(" Congestion")),
    }
    missing = [k for k in ("time", "zone", "ptid", "lbmp", "losses", "congestion") if not out[k]]
    if missing:
        raise IngestError(path, f"NYISO OASIS export lacks the {missing[0]} column", column=missing[0],
                          expected="'Eastern Date Hour' or '<run> End Time Stamp', 'Zone Name', 'Zone PTID', "
                          "'<run> Zonal LBMP', '... Losses', '... Congestion' (or map them with the option "
                          "columns: {time: ..., zone: ..., ...})", got=head)
    return out


def parse_nyiso_oasis(paths: Sequence[str | Path], market: str = "auto", log: QualityLog | None = None,
                      time_format: str | Sequence[str] = tuple(NYISO_TIME_FORMATS), interval: str = "auto",
                      interval_minutes: float | str = "auto", timezone: str = NYISO_TZ,
                      encoding: str = "utf-8-sig", columns: dict[str, str] | None = None,
                      date_span: Sequence[object] | None = None) -> pd.DataFrame:
    """NYISO OASIS zonal LBMP export of any market run: ``Eastern Date Hour[, Eastern Date Hour Time Zone]``
    (DAM, HAM, hourly RT) or ``<run> End Time Stamp`` (RTC 15-min, RTD 5-min), ``Zone Name, Zone PTID,
    <run> Zonal LBMP, <run> Zonal Losses, <run> Zonal Congestion[, ...]``.

    ``market: auto`` takes the run from the LBMP column (``RTC Zonal LBMP`` -> RTC). ``interval: auto``:
    an ``End`` time column is interval-ending, else hourly stamps are hour-beginning and sub-hourly ones
    interval-ending. A time-zone column (EST / EDT) makes the autumn repeated hour unambiguous; without one
    the stamps are Eastern prevailing time and the repeated hour is taken in file order (EDT first).
    Two-digit years (``6/1/24 0:00``) are read.
    """
    log = log or QualityLog("prices")
    frames = []
    for path in paths:
        text = read_text_checked(path, encoding, "NYISO OASIS LBMP") if Path(path).exists() else ""
        head = [c.strip() for c in next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])] if text else []
        role = _oasis_columns(head, columns, path) if head else dict.fromkeys(OASIS_ROLES, "Eastern Date Hour")
        req = [role[k] for k in OASIS_ROLES if role[k]]
        raw = read_csv_checked(path, req, what="NYISO OASIS LBMP", encoding=encoding)
        log.read(path, len(raw))
        mkt = market
        if str(market).lower() == "auto":
            mkt = role["lbmp"].replace("Zonal LBMP", "").replace("LBMP", "").strip() or "?"
        mkt = _check_market(mkt, path)
        tcol = role["time"]
        naive = to_datetime(raw, tcol, path, time_format, log=log)
        df = pd.DataFrame({
            "zone": raw[role["zone"]].str.strip(),
            "ptid": to_numeric(raw, role["ptid"], path),
            "lbmp_usd_per_mwh": to_numeric(raw, role["lbmp"], path),
            "losses_usd_per_mwh": to_numeric(raw, role["losses"], path),
            "congestion_usd_per_mwh": to_numeric(raw, role["congestion"], path),
        })
        if role["time_zone"]:
            df["timestamp_utc"], tzc = utc_from_tz_labels(naive, raw[role["time_zone"]], path, raw, role["time_zone"])
            dup = df.duplicated(["zone", "timestamp_utc"])
            if dup.any():
                i = int(np.flatnonzero(dup.to_numpy())[0])
                raise IngestError(path, f"zone {df['zone'].iloc[i]} stamp {naive.iloc[i]} {tzc.iloc[i]} duplicated",
                                  column=tcol, line=int(raw["_line"].iloc[i]),
                                  expected="one row per zone, stamp and time-zone label")
        else:
            df["timestamp_utc"] = localize_prevailing(naive, timezone, path, raw, tcol, group=df["zone"])
        check_increasing_by_group(df["timestamp_utc"], df["zone"], raw, path, tcol)
        conv = interval
        if interval == "auto" and " End " in f" {tcol} ":
            conv = "end"
        df = _to_start(df, naive, path, log, conv, interval_minutes, date_span)
        frames.append(_finish(_drop_missing_lbmp(df, log), mkt))
    return pd.concat(frames, ignore_index=True)[PRICE_COLUMNS]


def parse_nyiso_wide(paths: Sequence[str | Path], market: str = "RT", log: QualityLog | None = None,
                     timezone: str = NYISO_TZ, isos: Sequence[str] | str = ("NYISO",),
                     encoding: str = "utf-8-sig", columns: dict[str, str] | None = None,
                     date_span: Sequence[object] | None = None) -> pd.DataFrame:
    """Wide daily file ``date, iso, zone, he01..he24`` ($/MWh, hour ending 01..24, Eastern prevailing).

    Interval convention: ``heNN`` is the hour *ending* at ``NN:00`` (so beginning at ``NN-1:00``) local
    wall-clock time, stored at its start. Every day has 24 columns, DST days included: on the
    spring-forward day ``he03`` (02:00) does not exist (the file repeats he02 there) and is dropped and
    counted; on the autumn day the repeated 01:00 hour is not in the file and ``he02`` is taken as the
    first (EDT) occurrence. Rows of other ISOs (the file mixes in ISO-NE zones) are removed and counted
    unless ``isos: all``. Rows may come in any order; a zone-day twice raises.
    """
    log = log or QualityLog("prices")
    market = _check_market(market, paths[0] if paths else None)
    he = [f"he{h:02d}" for h in range(1, 25)]
    frames = []
    for path in paths:
        raw = read_csv_checked(path, ["date", "iso", "zone", *he], what="NYISO wide LBMP", encoding=encoding,
                               columns=columns)
        log.read(path, len(raw))
        day = to_datetime(raw, "date", path, "%Y-%m-%d")
        if isos is not None and isos != "all":
            keep = raw["iso"].str.strip().isin([isos] if isinstance(isos, str) else list(isos))
            log.remove("other_iso_zone_day_rows", int((~keep).sum()))
            raw, day = raw[keep], day[keep]
        dup = pd.DataFrame({"d": day, "z": raw["zone"]}).duplicated()
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            raise IngestError(path, f"zone {raw['zone'].iloc[i]} on {raw['date'].iloc[i]} appears twice",
                              column="date", line=int(raw["_line"].iloc[i]), expected="one row per zone and day")
        values = np.column_stack([to_numeric(raw, c, path).to_numpy() for c in he])
        n = len(raw)
        naive = (np.repeat(day.to_numpy(), 24) + np.tile(np.arange(24) * np.timedelta64(1, "h"), n))
        zone = np.repeat(raw["zone"].str.strip().to_numpy(), 24)
        local = pd.DatetimeIndex(naive).tz_localize(timezone, ambiguous=np.ones(len(naive), bool),
                                                    nonexistent="NaT")
        df = pd.DataFrame({
            "timestamp_utc": local.tz_convert("UTC"), "zone": zone, "ptid": np.nan,
            "lbmp_usd_per_mwh": values.ravel(), "losses_usd_per_mwh": np.nan, "congestion_usd_per_mwh": np.nan,
        })
        gap = df["timestamp_utc"].isna()
        log.remove("dst_nonexistent_hour_values", int(gap.sum()))
        date_check(log, "timestamp", df["timestamp_utc"], path, date_span)
        log.note(f"{Path(path).name}: heNN read as the hour ending NN:00 (interval-end, stored at its start)")
        frames.append(_drop_missing_lbmp(df[~gap], log))
    return _finish(pd.concat(frames, ignore_index=True), market)


PARSERS = {
    "nyiso_zonal_csv": parse_nyiso_zonal_csv,
    "nyiso_wide": parse_nyiso_wide,
    "nyiso_oasis": parse_nyiso_oasis,
}

"""NYISO zonal LBMP parsers: raw zonal CSV, wide daily he01..he24 file, OASIS export with a tz column.

All return the tidy ``prices_primary`` layout (one row per zone and hour, hour-beginning stamps):
``timestamp_utc, timestamp_local, market, zone, ptid, lbmp_usd_per_mwh, losses_usd_per_mwh,
congestion_usd_per_mwh, energy_usd_per_mwh``.

NYISO sign convention: ``LBMP = energy + losses - congestion`` (the published congestion component is
negative when congestion raises the price), so ``energy = LBMP - losses + congestion``; the energy
component is the same for every zone in an hour (checked in the tests on the real DAM file).
"""

from __future__ import annotations

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
    to_datetime,
    to_numeric,
)

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


def parse_nyiso_zonal_csv(paths: Sequence[str | Path], market: str = "DAM", log: QualityLog | None = None,
                          timezone: str = NYISO_TZ) -> pd.DataFrame:
    """Raw NYISO zonal LBMP CSV (``Time Stamp, Name, PTID, LBMP ($/MWHr), Marginal Cost Losses ($/MWHr),
    Marginal Cost Congestion ($/MWHr)``), hour-beginning Eastern prevailing time, no tz column.

    The autumn repeated 01:00 hour appears twice per zone: first EDT, then EST.
    """
    log = log or QualityLog("prices")
    cols = ["Time Stamp", "Name", "PTID", "LBMP ($/MWHr)", "Marginal Cost Losses ($/MWHr)",
            "Marginal Cost Congestion ($/MWHr)"]
    frames = []
    for path in paths:
        raw = read_csv_checked(path, cols, what="NYISO zonal LBMP")
        log.read(path, len(raw))
        naive = to_datetime(raw, "Time Stamp", path, "%m/%d/%Y %H:%M")
        df = pd.DataFrame({
            "zone": raw["Name"].str.strip(),
            "ptid": to_numeric(raw, "PTID", path),
            "lbmp_usd_per_mwh": to_numeric(raw, "LBMP ($/MWHr)", path),
            "losses_usd_per_mwh": to_numeric(raw, "Marginal Cost Losses ($/MWHr)", path),
            "congestion_usd_per_mwh": to_numeric(raw, "Marginal Cost Congestion ($/MWHr)", path),
        })
        df["timestamp_utc"] = localize_prevailing(naive, timezone, path, raw, "Time Stamp", group=df["zone"])
        check_increasing_by_group(df["timestamp_utc"], df["zone"], raw, path, "Time Stamp")
        frames.append(_drop_missing_lbmp(df, log))
    return _finish(pd.concat(frames, ignore_index=True), market)


def parse_nyiso_oasis(paths: Sequence[str | Path], market: str = "DAM", log: QualityLog | None = None,
                      time_format: str = "%m/%d/%Y %H:%M") -> pd.DataFrame:
    """NYISO OASIS LBMP export: ``Eastern Date Hour, Eastern Date Hour Time Zone, Zone Name, Zone PTID,
    <...> Zonal LBMP, <...> Zonal Losses, <...> Zonal Congestion[, ...]``. The tz column (EST / EDT)
    makes the autumn repeated hour unambiguous.
    """
    log = log or QualityLog("prices")
    offsets = {"EST": -5, "EDT": -4}
    frames = []
    for path in paths:
        head = pd.read_csv(path, nrows=0).columns if Path(path).exists() and Path(path).stat().st_size else []
        head = [str(c).strip() for c in head]

        def pick(suffix: str, head: list[str] = head) -> str:
            hits = [c for c in head if c.endswith(suffix)]
            return hits[0] if hits else f"<...> {suffix}"

        cols = ["Eastern Date Hour", "Eastern Date Hour Time Zone", "Zone Name", "Zone PTID",
                pick("Zonal LBMP"), pick("Zonal Losses"), pick("Zonal Congestion")]
        raw = read_csv_checked(path, cols, what="NYISO OASIS LBMP")
        log.read(path, len(raw))
        naive = to_datetime(raw, "Eastern Date Hour", path, time_format)
        tzc = raw["Eastern Date Hour Time Zone"].str.strip().str.upper()
        bad = ~tzc.isin(offsets.keys())
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise IngestError(path, "unknown time zone label", column="Eastern Date Hour Time Zone",
                              line=int(raw["_line"].iloc[i]), expected="EST or EDT", got=tzc.iloc[i])
        off = pd.to_timedelta(tzc.map(offsets), unit="h")
        utc = (naive - off).dt.tz_localize("UTC")
        df = pd.DataFrame({
            "timestamp_utc": utc,
            "zone": raw["Zone Name"].str.strip(),
            "ptid": to_numeric(raw, "Zone PTID", path),
            "lbmp_usd_per_mwh": to_numeric(raw, cols[4], path),
            "losses_usd_per_mwh": to_numeric(raw, cols[5], path),
            "congestion_usd_per_mwh": to_numeric(raw, cols[6], path),
        })
        dup = df.duplicated(["zone", "timestamp_utc"])
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            raise IngestError(path, f"zone {df['zone'].iloc[i]} hour {naive.iloc[i]} {tzc.iloc[i]} duplicated",
                              column="Eastern Date Hour", line=int(raw["_line"].iloc[i]),
                              expected="one row per zone, hour and time-zone label")
        check_increasing_by_group(df["timestamp_utc"], df["zone"], raw, path, "Eastern Date Hour")
        frames.append(_drop_missing_lbmp(df, log))
    return _finish(pd.concat(frames, ignore_index=True), market)


def parse_nyiso_wide(paths: Sequence[str | Path], market: str = "RT", log: QualityLog | None = None,
                     timezone: str = NYISO_TZ, isos: Sequence[str] | None = ("NYISO",)) -> pd.DataFrame:
    """Wide daily file ``date, iso, zone, he01..he24`` ($/MWh, hour ending 01..24, Eastern prevailing).

    Column ``heNN`` is the hour beginning at ``NN-1:00`` local wall-clock time. Every day has 24 columns,
    DST days included: on the spring-forward day ``he03`` (02:00) does not exist (the file repeats he02
    there) and is dropped and counted; on the autumn day the repeated 01:00 hour is not in the file and
    ``he02`` is taken as the first (EDT) occurrence. Rows of other ISOs (the file mixes in ISO-NE zones)
    are removed and counted unless ``isos`` is None. Rows may come in any order; a zone-day twice raises.
    """
    log = log or QualityLog("prices")
    he = [f"he{h:02d}" for h in range(1, 25)]
    frames = []
    for path in paths:
        raw = read_csv_checked(path, ["date", "iso", "zone", *he], what="NYISO wide LBMP")
        log.read(path, len(raw))
        day = to_datetime(raw, "date", path, "%Y-%m-%d")
        if isos is not None:
            keep = raw["iso"].str.strip().isin(list(isos))
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
        frames.append(_drop_missing_lbmp(df[~gap], log))
    return _finish(pd.concat(frames, ignore_index=True), market)


PARSERS = {
    "nyiso_zonal_csv": parse_nyiso_zonal_csv,
    "nyiso_wide": parse_nyiso_wide,
    "nyiso_oasis": parse_nyiso_oasis,
}

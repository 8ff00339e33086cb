"""Resampling to the modelling step and the feature layer (daily wide matrices, per-session table).

Daily matrices are built on the *local wall-clock* grid: one row per local calendar day, ``96`` steps
(15 min) from 00:00 to 23:45 local time. Each record covers ``[t, t + native interval)``:

1. records are binned to the step grid (mean of the records starting in a step: downsampling, duplicate
   averaging; on the autumn fall-back day the two 01:00 hours share wall-clock bins and are averaged,
   counted as ``dst_repeated_hour_steps_averaged``);
2. upsampling fills the remaining steps of each record's interval: ``hold`` (interval averages such as
   hourly prices and counts: the value holds for the whole hour) or ``linear`` (instantaneous samples
   such as NSRDB irradiance: linear between samples, held over the last interval);
3. gaps of at most ``max_gap_steps`` steps are linearly interpolated (counted; the spring-forward hour,
   which does not exist on the wall clock, is such a 4-step gap at 15 min);
4. days still holding a missing step (including partial first/last days) are dropped and counted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evgrid.data.quality import QualityLog

KEY_COLUMNS = ["date", "month", "day_of_week", "is_weekend"]


def step_columns(channel: str, n_steps: int) -> list[str]:
    return [f"{channel}_t{i:03d}" for i in range(n_steps)]


def _fill_short_gaps(values: np.ndarray, max_gap: int) -> tuple[np.ndarray, int]:
    """Linearly interpolate interior NaN runs of length <= max_gap (1-D); returns (values, n filled)."""
    v = values.copy()
    isnan = np.isnan(v)
    if not isnan.any() or max_gap <= 0:
        return v, 0
    edges = np.diff(np.concatenate([[0], isnan.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    ok = (ends - starts <= max_gap) & (starts > 0) & (ends < len(v))
    if not ok.any():
        return v, 0
    lengths = (ends - starts)[ok]
    pos = np.repeat(starts[ok], lengths) + (np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths))
    valid = np.flatnonzero(~isnan)
    v[pos] = np.interp(pos, valid, v[valid])
    return v, int(len(pos))


def to_step_grid(
    timestamp_local: pd.Series,
    values: pd.DataFrame,
    *,
    step_minutes: int,
    native_minutes: int,
    method: str = "hold",
    max_gap_steps: int = 4,
    log: QualityLog | None = None,
) -> pd.DataFrame:
    """Values on the complete local wall-clock step grid (naive index), gaps left as NaN beyond limits."""
    if method not in ("hold", "linear"):
        raise ValueError(f"resampling method {method!r}: expected 'hold' or 'linear'")
    if 1440 % step_minutes:
        raise ValueError(f"step_minutes={step_minutes} does not divide a day")
    log = log or QualityLog("resample")
    if len(timestamp_local) == 0:
        raise ValueError(f"{log.source}: no records to resample (empty primary table after selection)")
    step = pd.Timedelta(minutes=step_minutes)
    ts = pd.Series(timestamp_local).reset_index(drop=True)
    wall = ts.dt.tz_localize(None) if ts.dt.tz is not None else ts
    bins = wall.dt.floor(step)
    frame = values.reset_index(drop=True).copy()
    frame["_bin"] = bins.to_numpy()
    if ts.dt.tz is not None:
        frame["_off"] = (wall - ts.dt.tz_convert("UTC").dt.tz_localize(None)).to_numpy()
        n_off = frame.groupby("_bin")["_off"].nunique()
        log.repair("dst_repeated_hour_steps_averaged", int((n_off > 1).sum()))
        frame = frame.drop(columns="_off")
    binned = frame.groupby("_bin").mean()
    start = binned.index.min().normalize()
    end = binned.index.max().normalize() + pd.Timedelta(days=1)
    grid = pd.date_range(start, end, freq=step, inclusive="left")
    out = binned.reindex(grid)
    k = max(1, native_minutes // step_minutes)
    if k > 1:
        if method == "hold":
            out = out.ffill(limit=k - 1)
        else:
            present = out.notna()
            lin = out.interpolate(method="linear", limit=k - 1, limit_area="inside")
            # only fill within one native interval after a sample (not across longer gaps)
            reach = present.astype(float).replace(0.0, np.nan).ffill(limit=k - 1).notna()
            out = lin.where(reach).ffill(limit=k - 1)
    n_filled = 0
    cols = {}
    for c in out.columns:
        cols[c], n = _fill_short_gaps(out[c].to_numpy(dtype=float), max_gap_steps)
        n_filled += n
    log.repair("gap_steps_interpolated", n_filled)
    return pd.DataFrame(cols, index=grid)


def daily_wide(grid: pd.DataFrame, step_minutes: int, log: QualityLog | None = None,
               reason: str = "incomplete") -> pd.DataFrame:
    """Complete-day wide matrix from a step grid: key columns then ``<channel>_tNNN`` per channel."""
    log = log or QualityLog("daily")
    n_steps = 1440 // step_minutes
    n_days = len(grid) // n_steps
    if n_days * n_steps != len(grid):
        raise ValueError("step grid does not cover whole days")
    days = pd.DatetimeIndex(grid.index[::n_steps])
    blocks = {c: grid[c].to_numpy(dtype=float).reshape(n_days, n_steps) for c in grid.columns}
    complete = np.all([~np.isnan(b).any(axis=1) for b in blocks.values()], axis=0) if blocks else np.ones(n_days, bool)
    log.drop_days(reason, int((~complete).sum()))
    log.kept_days(int(complete.sum()))
    days = days[complete]
    out = pd.DataFrame({
        "date": days.astype("datetime64[ns]"),
        "month": days.month.astype("int64"),
        "day_of_week": days.dayofweek.astype("int64"),
        "is_weekend": days.dayofweek >= 5,
    })
    parts = [out]
    for c, b in blocks.items():
        parts.append(pd.DataFrame(b[complete], columns=step_columns(c, n_steps)))
    return pd.concat(parts, axis=1)


def build_daily(
    df: pd.DataFrame,
    channels: Sequence[str],
    *,
    step_minutes: int,
    native_minutes: int,
    method: str,
    max_gap_steps: int,
    log: QualityLog | None = None,
    time_column: str = "timestamp_local",
) -> pd.DataFrame:
    """Primary tidy table -> daily wide matrix for the given channels (one local wall-clock day a row)."""
    grid = to_step_grid(df[time_column], df[list(channels)], step_minutes=step_minutes,
                        native_minutes=native_minutes, method=method, max_gap_steps=max_gap_steps, log=log)
    return daily_wide(grid, step_minutes, log=log)


def daily_matrix(df: pd.DataFrame, channel: str) -> np.ndarray:
    """The ``(n_days, n_steps)`` array of one channel of a daily wide matrix (e.g. ``weather_daily``)."""
    cols = [c for c in df.columns if c.startswith(f"{channel}_t") and c[len(channel) + 2:].isdigit()]
    if not cols:
        raise KeyError(f"channel {channel!r} not in daily matrix; channels: "
                       f"{sorted({c.rsplit('_t', 1)[0] for c in df.columns if '_t' in c and c[-3:].isdigit()})}")
    cols.sort(key=lambda c: int(c.rsplit("_t", 1)[1]))
    return df[cols].to_numpy(dtype=float)


def ev_session_features(sessions: pd.DataFrame) -> pd.DataFrame:
    """Per-session features: arrival/departure in local hours since the arrival day's midnight."""
    a = pd.to_datetime(sessions["arrival_local"])
    date = a.dt.normalize()
    duration_h = (sessions["departure_utc"] - sessions["arrival_utc"]).dt.total_seconds() / 3600.0
    arrival_h = (a - date).dt.total_seconds() / 3600.0
    out = pd.DataFrame({
        "session_id": sessions["session_id"].astype(str),
        "source": sessions["source"].astype(str),
        "site": sessions["site"].astype(str),
        "date": date.astype("datetime64[ns]"),
        "month": date.dt.month.astype("int64"),
        "day_of_week": date.dt.dayofweek.astype("int64"),
        "is_weekend": date.dt.dayofweek >= 5,
        "arrival_h": arrival_h.astype(float),
        "departure_h": (arrival_h + duration_h).astype(float),
        "duration_h": duration_h.astype(float),
        "energy_kwh": sessions["energy_kwh"].astype(float),
        "distance_km": sessions["distance_km"].astype(float),
    })
    return out.reset_index(drop=True)

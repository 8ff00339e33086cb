"""Resampling to the modelling step and the feature layer (daily wide matrices, per-session table).

Daily matrices are built on the *local wall-clock* grid: one row per local calendar day, ``96`` steps
(15 min) from 00:00 to 23:45 local time. Primary tables stamp an interval at its start and a sample at
its instant (see :mod:`evgrid.data.timestamps`). ``resample_method`` says what a record is:

- ``hold``: an interval value (price, count, average) covering ``[t, t + d)`` with ``d`` the time to the
  next record of the series, at most ``native_minutes``. Each step is the duration-weighted mean of the
  parts of the intervals that fall in it (so off-grid intervals such as a 12-s NYISO dispatch interval
  weigh 12 s, and an hourly price holds for its hour); on the autumn fall-back day the two 01:00 hours
  share wall-clock steps and are averaged (counted as ``dst_repeated_hour_steps_averaged``);
- ``mean``: instantaneous samples; each step is the mean of the samples stamped in it (5-min load), held
  over ``native_minutes`` when the samples are sparser than the step;
- ``linear``: instantaneous samples (NSRDB irradiance) interpolated linearly between samples, the last
  one held over its interval.

Then gaps of at most ``max_gap_steps`` steps are linearly interpolated (counted; the spring-forward hour,
which does not exist on the wall clock, is such a 4-step gap at 15 min), and days still holding a
missing step (including partial first/last days) are dropped and counted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evgrid.data.quality import QualityLog
from evgrid.data.timestamps import median_spacing_minutes

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


def _hold_bins(ts: pd.Series, values: pd.DataFrame, step: pd.Timedelta, native: pd.Timedelta,
               log: QualityLog) -> pd.DataFrame:
    """Duration-weighted step means of interval records ``[t, t + min(next - t, native))`` (wall clock)."""
    utc = ts.dt.tz_convert("UTC") if ts.dt.tz is not None else ts
    wall = ts.dt.tz_localize(None) if ts.dt.tz is not None else ts
    order = np.argsort(utc.to_numpy(), kind="stable")
    utc, wall, vals = utc.iloc[order], wall.iloc[order], values.iloc[order].reset_index(drop=True)
    nxt = utc.shift(-1)
    dur = (nxt - utc).where(nxt.notna(), native).clip(upper=native)
    if (dur <= pd.Timedelta(0)).any():
        raise ValueError(f"{log.source}: the same stamp twice in one series; expected unique stamps")
    a = wall.to_numpy().astype("datetime64[ns]").astype(np.int64)
    d = dur.to_numpy().astype("timedelta64[ns]").astype(np.int64)
    s = int(step.value)
    first, last = a // s, (a + d - 1) // s
    n = (last - first + 1).astype(np.int64)
    rec = np.repeat(np.arange(len(a)), n)
    b = first[rec] + (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
    w = (np.minimum(a[rec] + d[rec], (b + 1) * s) - np.maximum(a[rec], b * s)).astype(float)
    pieces = vals.iloc[rec].reset_index(drop=True)
    bins = pd.to_datetime(b * s)
    if ts.dt.tz is not None:
        off = (wall - utc.dt.tz_localize(None)).to_numpy()[rec]
        n_off = pd.Series(off).groupby(bins).nunique()
        log.repair("dst_repeated_hour_steps_averaged", int((n_off > 1).sum()))
    out = {}
    for c in pieces.columns:
        v = pieces[c].to_numpy(dtype=float)
        ok = ~np.isnan(v)
        g = pd.DataFrame({"b": bins[ok], "v": v[ok], "w": w[ok], "vw": v[ok] * w[ok]}).groupby("b")
        agg = g.agg(vw=("vw", "sum"), w=("w", "sum"), wmin=("w", "min"), wmax=("w", "max"), mean=("v", "mean"))
        # equal weights: the plain mean (exactly the value when one interval fills the step)
        out[c] = agg["mean"].where(agg["wmin"] == agg["wmax"], agg["vw"] / agg["w"])
    return pd.DataFrame(out)


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
    if method not in ("hold", "mean", "linear"):
        raise ValueError(f"resampling method {method!r}: expected 'hold' (interval values), 'mean' or 'linear' "
                         "(instantaneous samples)")
    if 1440 % step_minutes:
        raise ValueError(f"step_minutes={step_minutes} does not divide a day")
    log = log or QualityLog("resample")
    if len(timestamp_local) == 0:
        raise ValueError(f"{log.source}: no records to resample (empty primary table after selection)")
    step = pd.Timedelta(minutes=step_minutes)
    ts = pd.Series(timestamp_local).reset_index(drop=True)
    wall = ts.dt.tz_localize(None) if ts.dt.tz is not None else ts
    if method == "hold":
        binned = _hold_bins(ts, values.reset_index(drop=True), step, pd.Timedelta(minutes=native_minutes), log)
    else:
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
    if k > 1 and method != "hold":
        if method == "mean":
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
    native_minutes: int | str,
    method: str,
    max_gap_steps: int,
    log: QualityLog | None = None,
    time_column: str = "timestamp_local",
) -> pd.DataFrame:
    """Primary tidy table -> daily wide matrix for the given channels (one local wall-clock day a row).

    ``native_minutes: "auto"`` takes the median spacing of the stamps (e.g. 5 for a 5-min price file).
    """
    if native_minutes == "auto":
        spacing = median_spacing_minutes(pd.Series(df[time_column]).sort_values().reset_index(drop=True))
        native_minutes = max(1, int(round(spacing))) if spacing == spacing else step_minutes
        if log is not None:
            log.note(f"native_minutes auto: {native_minutes} (median spacing of the stamps)")
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


def joint_daily(records: dict[str, tuple[pd.DataFrame, Sequence[str]]], step_minutes: int,
                log: QualityLog | None = None) -> pd.DataFrame:
    """Co-temporal daily matrix: the dates on which EVERY record has a complete day, with the chosen
    channels of each record side by side (key columns, then ``<channel>_tNNN`` per channel, in order).

    ``records``: ``{record name: (its daily wide matrix, channels taken from it)}``. Nothing is dropped
    silently: over the overlap span (the latest first date to the earliest last date of the records) every
    calendar day without a complete day in some record is counted in ``log`` under
    ``missing or incomplete in <record>`` (a day missing from several records is counted once, under the
    combined reason); complete days of a record outside the overlap span are counted per record as
    ``outside the overlap span (<record>)``. A channel twice, or missing from its record, raises naming both.
    """
    log = log or QualityLog("joint")
    if len(records) < 2:
        raise ValueError(f"a joint daily matrix needs at least 2 records, got {sorted(records)}")
    n_steps = 1440 // step_minutes
    seen: dict[str, str] = {}
    dated: dict[str, pd.DataFrame] = {}
    for name, (df, channels) in records.items():
        if "date" not in df.columns:
            raise KeyError(f"record {name!r}: no key column 'date'")
        if not channels:
            raise ValueError(f"record {name!r}: no channel chosen for the joint matrix")
        for ch in channels:
            if ch in seen:
                raise ValueError(f"channel {ch!r} chosen from both {seen[ch]!r} and {name!r}")
            seen[ch] = name
            daily_matrix(df, ch)  # raises naming the available channels
        d = pd.to_datetime(df["date"]).dt.normalize()
        if d.duplicated().any():
            raise ValueError(f"record {name!r}: date {d[d.duplicated()].iloc[0].date()} appears twice")
        cols = [c for ch in channels for c in step_columns(ch, n_steps)]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise KeyError(f"record {name!r}: lacks step column {missing[0]!r} (expected {n_steps} steps per day)")
        dated[name] = df[cols].set_axis(pd.DatetimeIndex(d), axis=0)
    first = max(v.index.min() for v in dated.values())
    last = min(v.index.max() for v in dated.values())
    if first > last:
        raise ValueError("the records do not overlap in time: "
                         + ", ".join(f"{k} {v.index.min().date()}..{v.index.max().date()}" for k, v in dated.items()))
    span = pd.date_range(first, last, freq="D")
    present = pd.DataFrame({k: span.isin(v.index) for k, v in dated.items()}, index=span)
    complete = present.all(axis=1)
    for pattern, n in present[~complete].value_counts().items():
        absent = [k for k, ok in zip(present.columns, pattern, strict=True) if not ok]
        log.drop_days(f"missing or incomplete in {' and '.join(absent)}", int(n))
    for k, v in dated.items():
        outside = int(((v.index < first) | (v.index > last)).sum())
        log.drop_days(f"outside the overlap span ({k})", outside)
    days = span[complete.to_numpy()]
    log.kept_days(len(days))
    log.dates["overlap_span"] = {"first": str(first.date()), "last": str(last.date()), "calendar_days": len(span)}
    out = pd.DataFrame({
        "date": days.astype("datetime64[ns]"),
        "month": days.month.astype("int64"),
        "day_of_week": days.dayofweek.astype("int64"),
        "is_weekend": days.dayofweek >= 5,
    })
    parts = [out] + [dated[k].loc[days].reset_index(drop=True) for k in dated]
    return pd.concat(parts, axis=1)

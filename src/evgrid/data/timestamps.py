"""Timestamp handling shared by every parser: formats, interval conventions, EST/EDT labels, day/month
order and date plausibility.

Interval conventions (the ``interval`` option of the time-series parsers):

- ``start``: the stamp is the beginning of the interval it describes (NYISO day-ahead hours, PeMS);
- ``end``: the stamp is the end of the interval (NYISO real-time 5-min and RTC 15-min prices, TMY3
  hours). Such stamps are moved to the interval *start*, which is the previous stamp of the same series
  when it lies within ``interval_minutes`` (so off-grid intervals such as NYISO's ``00:15:12`` cover
  ``00:15:00-00:15:12`` exactly), else ``stamp - interval_minutes``;
- ``instant``: the value is a sample at the stamp (NSRDB irradiance, the 5-min load file); kept as is.

Every primary table therefore stamps an interval at its start, and a sample at its instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from evgrid.data.errors import IngestError
from evgrid.data.quality import QualityLog

INTERVAL_CONVENTIONS = ("start", "end", "instant")
# NYISO labels its Eastern times "EST" (UTC-5) or "EDT" (UTC-4) in the OASIS exports and the pal files.
NYISO_TZ_LABEL_OFFSETS_H = {"EST": -5, "EDT": -4}
_H24 = r"(^|[ T])24:00((?::00)?(?:\.0+)?)$"
_H24_MATCH = r"(?:^|[ T])24:00(?::00)?(?:\.0+)?$"


def _line(df: pd.DataFrame | None, i: int) -> int | None:
    return int(df["_line"].iloc[i]) if df is not None and "_line" in df else None


def formats_of(fmt: str | Sequence[str]) -> list[str]:
    """A format string or a list of formats tried in order (e.g. with and without seconds)."""
    out = [fmt] if isinstance(fmt, str) else [str(f) for f in fmt]
    if not out:
        raise ValueError("empty list of timestamp formats")
    return out


def parse_stamps(raw: pd.Series, fmt: str | Sequence[str], path: str | Path | None,
                 df: pd.DataFrame | None = None, label: str | None = None,
                 log: QualityLog | None = None, allow_missing: bool = False) -> pd.Series:
    """Parse naive timestamps with explicit format(s) tried in order; ``24:00`` means the next midnight.

    An unparseable entry raises naming its file line and the formats tried. Missing entries raise unless
    ``allow_missing`` (then NaT).
    """
    formats = formats_of(fmt)
    name = label or str(raw.name)
    stripped = raw.astype(str).str.strip()
    present = raw.notna() & (stripped != "")
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    if not present.any():
        if not allow_missing and len(raw):
            raise IngestError(path, "no timestamps at all", column=name, line=_line(df, 0),
                              expected="format " + " or ".join(repr(f) for f in formats), got=raw.iloc[0])
        return out
    s = stripped.where(present)
    h24 = s.str.contains("24:00", regex=False, na=False)
    if h24.any():
        h24 = s.str.contains(_H24_MATCH, regex=True, na=False)
    if h24.any():
        s = s.where(~h24, s.str.replace(_H24, r"\g<1>00:00\g<2>", regex=True))
    used = {}
    for f in formats:
        todo = out.isna() & present
        if not todo.any():
            break
        if bool(todo.all()):
            out = pd.Series(pd.to_datetime(s, format=f, errors="coerce"), index=raw.index).astype("datetime64[ns]")
            used[f] = int(out.notna().sum())
            continue
        parsed = pd.to_datetime(s[todo], format=f, errors="coerce")
        out[todo] = parsed
        used[f] = int(parsed.notna().sum())
    bad = out.isna() & present
    if not allow_missing:
        bad = bad | ~present
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise IngestError(path, f"unparseable timestamp ({int(bad.sum())} such rows)", column=name,
                          line=_line(df, i), expected="format " + " or ".join(repr(f) for f in formats),
                          got=raw.iloc[i])
    if h24.any():
        out[h24] = out[h24] + pd.Timedelta(days=1)
        if log is not None:
            log.repair(f"{name}_24:00_read_as_next_midnight", int(h24.sum()))
    if log is not None and len([f for f, n in used.items() if n]) > 1:
        log.note(f"{Path(str(path)).name if path else 'input'} {name}: formats used "
                 + ", ".join(f"{f!r} x{n}" for f, n in used.items() if n))
    return out


def utc_from_tz_labels(naive: pd.Series, labels: pd.Series, path: str | Path, df: pd.DataFrame,
                       column: str, offsets_h: dict[str, float] | None = None) -> tuple[pd.Series, pd.Series]:
    """Wall-clock stamps + a time-zone label column (NYISO ``EST``/``EDT``) -> tz-aware UTC.

    Returns (UTC stamps, upper-cased labels). An unknown label raises naming its line.
    """
    offsets = offsets_h or NYISO_TZ_LABEL_OFFSETS_H
    tzc = labels.astype(str).str.strip().str.upper()
    bad = ~tzc.isin(list(offsets))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise IngestError(path, "unknown time zone label", column=column, line=_line(df, i),
                          expected=" or ".join(offsets), got=labels.iloc[i])
    off = pd.to_timedelta(tzc.map(offsets).astype(float), unit="h")
    return (naive - off).dt.tz_localize("UTC"), tzc


def median_spacing_minutes(utc: pd.Series, group: pd.Series | None = None) -> float:
    """Median spacing (minutes) of consecutive stamps within each series; NaN for a single stamp."""
    g = pd.Series(0, index=utc.index) if group is None else group
    d = utc.groupby(g.to_numpy(), sort=False).diff().dt.total_seconds() / 60.0
    d = d[d > 0]
    return float(d.median()) if len(d) else float("nan")


def resolve_interval(interval: str, interval_minutes: float | str | None, utc: pd.Series,
                     group: pd.Series | None, path: str | Path, *, auto_end_below_minutes: float | None = None,
                     option: str = "interval") -> tuple[str, float]:
    """Check the ``interval`` option and resolve ``auto`` values.

    ``interval: auto`` is allowed only where the format defines a rule (``auto_end_below_minutes``: NYISO
    stamps sub-hourly intervals at their end and hourly ones at their start). ``interval_minutes: auto``
    (or null) is the median spacing of the series.
    """
    allowed = INTERVAL_CONVENTIONS + (("auto",) if auto_end_below_minutes is not None else ())
    if interval not in allowed:
        raise IngestError(path, f"unknown interval convention {interval!r}", column=option,
                          expected=f"one of {list(allowed)}")
    spacing = median_spacing_minutes(utc, group)
    if interval_minutes in (None, "auto"):
        minutes = spacing
    else:
        try:
            minutes = float(interval_minutes)
        except (TypeError, ValueError):
            minutes = -1.0
        if not minutes > 0:
            raise IngestError(path, f"bad interval_minutes {interval_minutes!r}", column="interval_minutes",
                              expected="a positive number of minutes or 'auto'")
    if interval == "auto":
        interval = "end" if spacing < auto_end_below_minutes else "start"
    if interval == "end" and not minutes > 0:
        raise IngestError(path, "cannot tell the interval length from a single stamp", column="interval_minutes",
                          expected="interval_minutes set to the length of the intervals")
    return interval, minutes


def off_grid(naive: pd.Series, minutes: float) -> pd.Series:
    """Stamps not on the ``minutes`` grid of the wall clock (seconds set, or minutes not a multiple)."""
    if not minutes > 0:
        return pd.Series(False, index=naive.index)
    step = pd.Timedelta(minutes=minutes)
    return naive != naive.dt.floor(step) if step >= pd.Timedelta(seconds=1) else pd.Series(False, index=naive.index)


def to_interval_start(utc: pd.Series, interval: str, minutes: float, group: pd.Series | None = None
                      ) -> pd.Series:
    """Interval-start stamps: ``end`` stamps move back to the previous stamp of their series when it lies
    within ``minutes`` (off-grid intervals keep their true length), else by ``minutes``; ``start`` and
    ``instant`` stamps are returned unchanged."""
    if interval != "end":
        return utc
    g = pd.Series(0, index=utc.index) if group is None else group
    order = np.lexsort((utc.to_numpy(), pd.factorize(g)[0]))
    srt = utc.iloc[order]
    prev = srt.groupby(g.iloc[order].to_numpy(), sort=False).shift()
    length = pd.Timedelta(minutes=minutes)
    start = srt - length
    close = (srt - prev <= length) & prev.notna()
    start = start.where(~close, prev)
    return start.reindex(utc.index)


def swap_day_month(fmt: str) -> str | None:
    """The format with ``%d`` and ``%m`` exchanged (``None`` if it lacks either)."""
    if "%d" not in fmt or "%m" not in fmt:
        return None
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def _monotone_direction(ts: pd.Series) -> int:
    """+1 / -1 if the (non-missing) stamps in file order mostly (95 % of the changes) go up / down, else 0.
    Repeated stamps (many sessions start on one date) are not changes."""
    d = ts.dropna().diff().dropna()
    d = d[d != pd.Timedelta(0)]
    if len(d) < 2:
        return 0
    up = float((d > pd.Timedelta(0)).mean())
    return 1 if up >= 0.95 else -1 if up <= 0.05 else 0


def _parse_lenient(raw: pd.Series, fs: list[str], present: pd.Series, path: str | Path, df: pd.DataFrame,
                   label: str) -> pd.Series:
    """The column read with the formats ``fs``: :func:`parse_stamps`, or where it refuses the column, each row
    by the first format that parses it (NaT where none does)."""
    try:
        return parse_stamps(raw, fs, path, df, label, allow_missing=True)
    except IngestError:
        out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
        s = raw.astype(str).str.strip().where(present)
        for f in fs:
            todo = out.isna() & present
            out[todo] = pd.to_datetime(s[todo], format=f, errors="coerce")
        return out


def _choose_reading(a: pd.Series, b: pd.Series, amb: pd.Series, decided: pd.Series, anchor: pd.Series | None,
                    window: pd.Timedelta | None) -> pd.Series:
    """Per ambiguous row, 0 (reading ``a``, as declared), 1 (``b``, day and month swapped) or NaN (undecided),
    by the first rule that tells them apart (:func:`resolve_day_month` rules a-c)."""
    choice = pd.Series(np.nan, index=a.index)  # 0: as declared, 1: day and month swapped

    def pick(fit_a: pd.Series, fit_b: pd.Series) -> None:
        todo = amb & choice.isna()
        choice[todo & fit_a & ~fit_b] = 0
        choice[todo & fit_b & ~fit_a] = 1

    if anchor is not None and window is not None:  # (a) an end within the window after its start
        pick((a - anchor >= pd.Timedelta(0)) & (a - anchor <= window),
             (b - anchor >= pd.Timedelta(0)) & (b - anchor <= window))
    slack = pd.Timedelta(days=1)
    # an end is judged by its own start only (session ends are not in file order)
    direction = _monotone_direction(decided) if anchor is None else 0
    if direction != 0:  # (b) keeps the file's order between its decidable neighbours
        prev, nxt = decided.ffill(), decided.bfill()

        def fits(x: pd.Series) -> pd.Series:
            after_prev = prev.isna() | ((x - prev) * direction >= -slack)
            before_next = nxt.isna() | ((nxt - x) * direction >= -slack)
            return after_prev & before_next

        pick(fits(a), fits(b))
        # at the file's edges (one neighbour) both readings may keep the order: take the nearer one
        near_a = np.minimum((a - prev).abs().fillna(pd.Timedelta.max), (a - nxt).abs().fillna(pd.Timedelta.max))
        near_b = np.minimum((b - prev).abs().fillna(pd.Timedelta.max), (b - nxt).abs().fillna(pd.Timedelta.max))
        pick(near_a < near_b, near_b < near_a)
    if anchor is None:  # (c) inside the span of the decidable rows
        lo, hi = decided.min() - slack, decided.max() + slack
        pick(a.between(lo, hi), b.between(lo, hi))
    return choice


def resolve_day_month(raw: pd.Series, fmt: str | Sequence[str], path: str | Path, df: pd.DataFrame,
                      label: str, log: QualityLog, *, mode: str = "auto", anchor: pd.Series | None = None,
                      window: pd.Timedelta | None = None, allow_missing: bool = False) -> pd.Series:
    """Parse dates whose day and month order may be swapped on some rows (a publisher exporting day <= 12
    dates as mm/dd and the others as dd/mm), choosing per row from the data and counting what it did.

    ``mode: strict`` parses with the format(s) as given. ``mode: auto`` parses each row both ways:

    1. rows valid one way only (a day above 12) tell the file's order. If no row contradicts the format,
       it is used (ambiguous rows read with it). If every decidable row contradicts it, the whole column is
       read the other way (``<label>_day_month_order_swapped``);
    2. otherwise each ambiguous row (both readings valid and different: a publisher that swapped only
       the day <= 12 dates leaves no row valid one way only) takes the reading that (a) lies within
       ``window`` from ``anchor`` (an end after its start; with an anchor only this rule), else (b) keeps the file's order between its
       decidable neighbours (when those are monotone; at the edges, the one nearer its neighbour), else
       (c) lies inside the span of the decidable
       rows; if none decides, the declared order is kept - unless the column also has rows valid only
       the other way, then the input is refused (the count and the first line are named). Rows read
       swapped are counted as ``<label>_day_month_swapped_rows``.
    """
    formats = formats_of(fmt)
    if mode not in ("auto", "strict"):
        raise IngestError(path, f"unknown day_month mode {mode!r}", column="day_month",
                          expected="'auto' (detect from the data) or 'strict' (the format as given)")
    swapped = [swap_day_month(f) for f in formats]
    if mode == "strict" or any(s is None for s in swapped):
        return parse_stamps(raw, formats, path, df, label, log=log, allow_missing=allow_missing)
    present = raw.notna() & (raw.astype(str).str.strip() != "")
    a = _parse_lenient(raw, formats, present, path, df, label)
    b = _parse_lenient(raw, [s for s in swapped if s is not None], present, path, df, label)
    neither = present & a.isna() & b.isna()
    if neither.any() or (not allow_missing and (~present).any()):
        parse_stamps(raw, formats, path, df, label, allow_missing=allow_missing)  # raises naming the line
    only_a, only_b = a.notna() & b.isna(), b.notna() & a.isna()
    amb = a.notna() & b.notna() & (a != b)
    if only_b.any() and not only_a.any():
        log.repair(f"{label}_day_month_order_swapped", int(present.sum()))
        log.note(f"{label}: every date that tells day from month is in {swapped[0]!r} order, not the declared "
                 f"{formats[0]!r}: the whole column is read as {swapped[0]!r}")
        return b.where(present)
    if not amb.any():
        return a.fillna(b).where(present)
    if not only_a.any():
        log.note(f"{label}: day/month order cannot be told from the values (every day <= 12); "
                 f"read as {formats[0]!r} - check the dates")
        return a.where(present)
    # Ambiguous rows next to decidable ones: keep the reading that fits the data.
    decided = a.where(only_a | (a.notna() & ~amb)).fillna(b.where(only_b))
    choice = _choose_reading(a, b, amb, decided, anchor, window)
    undecided = amb & choice.isna()
    if undecided.any() and only_b.any():
        i = int(np.flatnonzero(undecided.to_numpy())[0])
        raise IngestError(path, f"dates mix day/month orders and {int(undecided.sum())} ambiguous row(s) cannot be "
                          "decided from the data", column=label, line=_line(df, i),
                          expected=f"one order ({formats[0]!r}) throughout, or set day_month: strict",
                          got=raw.iloc[i])
    n_b = int((choice == 1).sum())
    out = decided.where(~amb, a.where(choice != 1, b))
    if n_b or only_b.any():
        log.repair(f"{label}_day_month_swapped_rows", n_b + int(only_b.sum()))
        log.note(f"{label}: dates mix {formats[0]!r} and {swapped[0]!r}: {int(only_b.sum())} rows only valid as "
                 f"{swapped[0]!r}, {n_b} ambiguous rows read as {swapped[0]!r} (the reading that keeps the "
                 "session's duration, the file's order or its span)")
    return out.where(present)


def date_check(log: QualityLog, name: str, ts: pd.Series, path: str | Path | None,
               span: Sequence[object] | None = None, df: pd.DataFrame | None = None) -> None:
    """Plausibility of a source's dates, written to the quality report under ``dates[name]``: first and
    last stamp, rows against the file's dominant order, rows far (> 31 days) outside the central 99 % of
    the dates, and stamps outside the plausible span, which refuse the input (``span`` = [first, last]
    allowed; null ends mean 1970-01-01 and two days from now)."""
    t = pd.Series(ts).dropna()
    if t.empty:
        return
    t_naive = t.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(t.dt, "tz", None) is not None else t
    lo = pd.Timestamp(span[0]) if span and span[0] is not None else pd.Timestamp("1970-01-01")
    hi = (pd.Timestamp(span[1]) if span and span[1] is not None
          else pd.Timestamp.now("UTC").tz_localize(None).normalize() + pd.Timedelta(days=2))
    outside = ~t_naive.between(lo, hi)
    direction = _monotone_direction(t_naive)
    d = t_naive.diff().dropna()
    against = int((d < pd.Timedelta(0)).sum() if direction >= 0 else (d > pd.Timedelta(0)).sum())
    q_lo, q_hi = t_naive.quantile(0.005), t_naive.quantile(0.995)
    month = pd.Timedelta(days=31)
    far = int((~t_naive.between(q_lo - month, q_hi + month)).sum())
    entry = {"first": str(t.min()), "last": str(t.max()), "plausible_span": [str(lo.date()), str(hi.date())],
             "outside_plausible_span": int(outside.sum()),
             "file_order": {1: "ascending", -1: "descending", 0: "unordered"}[direction],
             "rows_against_file_order": against, "rows_over_31_days_outside_central_99pct": far}
    prev = log.dates.get(name)
    if prev:  # several files of one source: widen the record
        entry["first"], entry["last"] = min(prev["first"], entry["first"]), max(prev["last"], entry["last"])
        for k in ("outside_plausible_span", "rows_against_file_order", "rows_over_31_days_outside_central_99pct"):
            entry[k] += prev[k]
        if prev["file_order"] != entry["file_order"]:
            entry["file_order"] = "mixed"
    log.dates[name] = entry
    if outside.any():
        i = int(np.flatnonzero(outside.to_numpy())[0])
        line = int(df.loc[t.index[i], "_line"]) if df is not None and "_line" in df else None
        raise IngestError(path, f"{int(outside.sum())} date(s) outside the plausible span {lo.date()}..{hi.date()}",
                          column=name, line=line,
                          expected="dates inside the span (swapped day/month? wrong year format? set date_span)",
                          got=str(t.iloc[i]))

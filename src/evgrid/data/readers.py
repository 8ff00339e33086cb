"""Checked readers and converters shared by the parsers.

Every failure raises :class:`~evgrid.data.errors.IngestError` naming the file, the column / line and what
was expected. Line numbers are 1-based file lines (the header is line ``header_line``).
"""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from evgrid.data.errors import IngestError
from evgrid.data.quality import QualityLog
from evgrid.data.timestamps import parse_stamps


def read_text_checked(path: str | Path, encoding: str = "utf-8-sig", what: str = "file") -> str:
    """The file's text; a byte that is not valid in ``encoding`` raises naming the line, column and byte.

    The default ``utf-8-sig`` reads UTF-8 with or without a byte-order mark (Excel exports add one).
    """
    path = Path(path)
    if not path.exists():
        raise IngestError(path, f"{what} file not found")
    data = path.read_bytes()
    try:
        return data.decode(encoding)
    except LookupError as exc:
        raise IngestError(path, f"unknown text encoding {encoding!r}", column="encoding",
                          expected="a Python codec name such as 'utf-8', 'cp1252' or 'latin-1'") from exc
    except UnicodeDecodeError as exc:
        pos = int(exc.start)
        line = data.count(b"\n", 0, pos) + 1
        col = pos - (data.rfind(b"\n", 0, pos) + 1) + 1
        context = data[max(0, pos - 20):pos + 10].decode(encoding, errors="replace")
        raise IngestError(path, f"byte 0x{data[pos]:02X} (file offset {pos}, character {col} of the line) is not "
                          f"valid {encoding} text", line=line,
                          expected="UTF-8 text, or the parser option encoding set to the file's encoding "
                          "(e.g. cp1252 or latin-1 for Excel exports)", got=context) from exc


def _map_columns(df: pd.DataFrame, columns: Mapping[str, str] | None, known: Sequence[str], path: Path
                 ) -> pd.DataFrame:
    """Rename the user's file columns to the format's names: ``columns`` maps format name -> file name."""
    if not columns:
        return df
    if not isinstance(columns, Mapping):
        raise IngestError(path, "option columns must map the format's column names to your file's",
                          column="columns", expected=f"a mapping with keys among {list(known)}", got=columns)
    unknown = [k for k in columns if k not in known]
    if unknown:
        raise IngestError(path, f"option columns names unknown column(s) {unknown}", column="columns",
                          expected=f"keys among {list(known)}")
    missing = [(k, v) for k, v in columns.items() if str(v).strip() not in df.columns]
    if missing:
        k, v = missing[0]
        close = difflib.get_close_matches(str(v), list(df.columns), n=1, cutoff=0.5)
        raise IngestError(path, f"column {v!r} (option columns.{k}) not in the file"
                          + (f" (found {close[0]!r} - renamed?)" if close else ""), column=str(v),
                          expected=f"one of the file's columns {list(df.columns)}")
    inverse = {str(v).strip(): k for k, v in columns.items()}
    clash = [k for k in columns if k in df.columns and k not in inverse]
    return df.drop(columns=clash).rename(columns=inverse)


def read_csv_checked(
    path: str | Path,
    required: Sequence[str],
    *,
    skiprows: int = 0,
    header: int | None = 0,
    names: Sequence[str] | None = None,
    what: str = "CSV",
    encoding: str = "utf-8-sig",
    columns: Mapping[str, str] | None = None,
    optional: Sequence[str] = (),
) -> pd.DataFrame:
    """Read a CSV as strings, checking the file exists, decodes, is not empty or truncated, and has the
    columns.

    ``columns`` (the parsers' ``columns`` option) maps the format's column names to the names in the
    user's file, so a file with other headers is read without code. A missing column is reported with the
    closest column actually found (a renamed column), a truncated last line with its field count. The
    frame gets a ``_line`` column with each row's file line number.
    """
    path = Path(path)
    if not path.exists():
        raise IngestError(path, f"{what} file not found")
    if path.stat().st_size == 0:
        raise IngestError(path, f"{what} file is empty", expected=f"a header with columns {list(required)}")
    text = read_text_checked(path, encoding, what)
    try:
        df = pd.read_csv(
            io.StringIO(text), dtype=str, skiprows=skiprows, header=header, names=names, skipinitialspace=True,
            keep_default_na=True, na_values=["", "N/A", "NA", "null", "NULL"],
        )
    except pd.errors.EmptyDataError as exc:
        raise IngestError(path, f"{what} file has no data", expected=f"columns {list(required)}") from exc
    except pd.errors.ParserError as exc:
        raise IngestError(path, f"{what} file could not be parsed ({exc})") from exc
    df.columns = [str(c).strip() for c in df.columns]
    df = _map_columns(df, columns, list(required) + list(optional), path)
    missing = [c for c in required if c not in df.columns]
    if missing:
        hints = []
        for c in missing:
            close = difflib.get_close_matches(c, list(df.columns), n=1, cutoff=0.5)
            hints.append(f"{c!r}" + (f" (found {close[0]!r} - renamed? map it with the option columns)"
                                     if close else ""))
        raise IngestError(
            path, "missing column(s) " + ", ".join(hints), column=missing[0],
            expected=f"columns {list(required)}", got=list(df.columns),
        )
    if df.empty:
        raise IngestError(path, f"{what} file has a header but no data rows", expected="at least one row")
    first_data_line = skiprows + (1 if header is not None else 0) + 1
    df["_line"] = np.arange(first_data_line, first_data_line + len(df))
    # Truncation: the last line lacks fields that the required columns need.
    lines = [ln for ln in text[-65536:].splitlines() if ln.strip()]
    last, ends_nl = (lines[-1] if lines else ""), text.endswith("\n")
    n_fields = len(next(csv.reader(io.StringIO(last)))) if last else 0
    cols = list(names) if names is not None else list(df.columns[:-1])
    need = max(cols.index(c) for c in required) + 1
    if n_fields < need:
        raise IngestError(
            path, "file looks truncated: the last line has too few fields", line=int(df["_line"].iloc[-1]),
            expected=f"at least {need} fields", got=n_fields if ends_nl else f"{n_fields} (no final newline)",
        )
    return df


def require_columns(df: pd.DataFrame, required: Iterable[str], path: str | Path) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise IngestError(path, f"missing column(s) {missing}", column=missing[0],
                          expected=f"columns {list(required)}", got=list(df.columns))


def to_numeric(df: pd.DataFrame, column: str, path: str | Path, *, allow_missing: bool = True) -> pd.Series:
    """Convert a string column to float; a non-numeric entry raises naming its line and value."""
    raw = df[column]
    out = pd.to_numeric(raw, errors="coerce")
    bad = out.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        line = int(df["_line"].iloc[i]) if "_line" in df else None
        raise IngestError(path, f"non-numeric value ({int(bad.sum())} such rows)", column=column, line=line,
                          expected="a number", got=raw.iloc[i])
    if not allow_missing and out.isna().any():
        i = int(np.flatnonzero(out.isna().to_numpy())[0])
        line = int(df["_line"].iloc[i]) if "_line" in df else None
        raise IngestError(path, "missing value", column=column, line=line, expected="a number", got="")
    return out.astype(float)


def to_datetime(df: pd.DataFrame, column: str | pd.Series, path: str | Path, fmt: str | Sequence[str],
                *, label: str | None = None, log: QualityLog | None = None) -> pd.Series:
    """Parse naive timestamps with explicit format(s) (tried in order); an unparseable entry raises naming
    its line. See :func:`evgrid.data.timestamps.parse_stamps`."""
    raw = df[column] if isinstance(column, str) else column
    name = label or (column if isinstance(column, str) else str(raw.name))
    return parse_stamps(raw, fmt, path, df, name, log=log)


def check_increasing(ts: pd.Series, df: pd.DataFrame, path: str | Path, column: str,
                     *, allow_equal: bool) -> None:
    """Raise if timestamps go backwards (or repeat, unless ``allow_equal``) in file order."""
    d = ts.diff()
    bad = (d < pd.Timedelta(0)) if allow_equal else (d <= pd.Timedelta(0))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        line = int(df["_line"].iloc[i]) if "_line" in df else None
        what = "out of order" if d.iloc[i] < pd.Timedelta(0) else "duplicated"
        raise IngestError(path, f"timestamp {what} ({ts.iloc[i]} after {ts.iloc[i - 1]})", column=column,
                          line=line, expected="strictly increasing timestamps" if not allow_equal
                          else "non-decreasing timestamps")


def localize_prevailing(
    naive: pd.Series, tz: str, path: str | Path, df: pd.DataFrame, column: str,
    *, group: pd.Series | None = None, nonexistent: str = "raise",
) -> pd.Series:
    """Localise wall-clock stamps of a prevailing-time zone (with DST) to tz-aware UTC.

    The autumn repeated hour appears twice in file order: the first occurrence is daylight time, the
    second standard time (NYISO, PeMS convention). A stamp repeated more often than that, or a repeat of
    a non-ambiguous stamp, raises. Spring-forward stamps that do not exist raise unless
    ``nonexistent="NaT"`` (the caller then counts and drops them).
    """
    g = pd.Series(0, index=naive.index) if group is None else group
    probe = pd.DatetimeIndex(naive).tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    shifted = pd.DatetimeIndex(naive).tz_localize(tz, ambiguous=np.ones(len(naive), bool), nonexistent="NaT")
    is_nonexistent = pd.Series(shifted.isna(), index=naive.index)
    is_ambiguous = pd.Series(probe.isna(), index=naive.index) & ~is_nonexistent
    # Within each run of consecutive ambiguous rows of a series, the clock going back (or repeating) marks
    # the switch from daylight to standard time: that row and the rest of the run are the second pass.
    run = (is_ambiguous != is_ambiguous.groupby(g.to_numpy(), sort=False).shift()).groupby(
        g.to_numpy(), sort=False).cumsum()
    back = naive.groupby([g.to_numpy(), run.to_numpy()], sort=False).diff() <= pd.Timedelta(0)
    fold = back.astype(int).groupby([g.to_numpy(), run.to_numpy()], sort=False).cummax().astype(bool) & is_ambiguous
    dup = pd.DataFrame({"g": g.to_numpy(), "t": naive.to_numpy(), "f": fold.to_numpy()}).duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise IngestError(path, f"timestamp {naive.iloc[i]} duplicated", column=column,
                          line=int(df["_line"].iloc[i]) if "_line" in df else None,
                          expected="each stamp once (twice only for the autumn repeated hour)")
    if is_nonexistent.any() and nonexistent == "raise":
        i = int(np.flatnonzero(is_nonexistent.to_numpy())[0])
        raise IngestError(path, f"timestamp {naive.iloc[i]} does not exist in {tz} (spring-forward gap)",
                          column=column, line=int(df["_line"].iloc[i]) if "_line" in df else None,
                          expected="prevailing local time")
    is_dst = ~fold.to_numpy()
    local = pd.DatetimeIndex(naive).tz_localize(tz, ambiguous=is_dst, nonexistent="NaT")
    return pd.Series(local.tz_convert("UTC"), index=naive.index)


def check_increasing_by_group(ts_utc: pd.Series, group: pd.Series, df: pd.DataFrame, path: str | Path,
                              column: str) -> None:
    """Raise if, within each group (zone, station), tz-aware stamps do not strictly increase in file order."""
    d = ts_utc.groupby(group.to_numpy(), sort=False).diff()
    bad = d <= pd.Timedelta(0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        what = "duplicated" if d.iloc[i] == pd.Timedelta(0) else "out of order"
        raise IngestError(path, f"timestamp {what} for {group.iloc[i]!r} ({ts_utc.iloc[i]} UTC not after the "
                          "previous row of the same series)", column=column,
                          line=int(df["_line"].iloc[i]) if "_line" in df else None,
                          expected="rows of each series in time order")

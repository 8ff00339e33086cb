"""The training matrix of one scenario family, built from the ingest feature layer.

Profile families (``pv``, ``traffic``, ``price``) have one row per local calendar day and the channels'
96-step profiles side by side; scalar families (``ev_times``, ``ev_distance``) have one row per charging
session. ``validate_family_data`` stops with a message naming the family and what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evgrid.scenarios.errors import ScenarioDataError


@dataclass(frozen=True)
class Variable:
    """One modelled variable: its column name, unit, number of steps (96 for a daily profile, 1 scalar)
    and physical bounds (None = unbounded)."""

    name: str
    unit: str
    n_steps: int
    lower: float | None = None
    upper: float | None = None


@dataclass
class FamilyData:
    """Physical-unit training matrix of one family plus the calendar keys of its units."""

    family: str
    kind: str  # "profile" (unit = day) or "scalar" (unit = session)
    values: np.ndarray  # (n_units, sum(v.n_steps)), float64, physical units
    variables: list[Variable]
    months: np.ndarray  # (n_units,) 1..12
    is_weekend: np.ndarray  # (n_units,) bool
    unit_ids: np.ndarray  # (n_units,) day (YYYY-MM-DD) or session id, the CV grouping key
    dates: np.ndarray | None = None  # (n_units,) datetime64[ns] day of each unit (profiles)
    info: dict = field(default_factory=dict)  # family extras (e.g. PV system parameters), counts removed

    @property
    def n_units(self) -> int:
        return int(self.values.shape[0])

    def slices(self) -> dict[str, slice]:
        """Column slice of each variable in ``values``."""
        out, start = {}, 0
        for v in self.variables:
            out[v.name] = slice(start, start + v.n_steps)
            start += v.n_steps
        return out

    def subset(self, idx: np.ndarray) -> FamilyData:
        """Rows ``idx`` of this family (a fold)."""
        return FamilyData(
            family=self.family,
            kind=self.kind,
            values=self.values[idx],
            variables=self.variables,
            months=self.months[idx],
            is_weekend=self.is_weekend[idx],
            unit_ids=self.unit_ids[idx],
            dates=None if self.dates is None else self.dates[idx],
            info=self.info,
        )


def validate_family_data(data: FamilyData, n_folds: int, min_units_per_fold: int) -> None:
    """Raise ``ScenarioDataError`` for NaNs/infinite values or too few units for ``n_folds`` folds."""
    what = "days" if data.kind == "profile" else "sessions"
    if data.values.ndim != 2 or data.values.shape[1] != sum(v.n_steps for v in data.variables):
        raise ScenarioDataError(
            f"family {data.family!r}: value matrix has shape {data.values.shape}, expected "
            f"(n_{what}, {sum(v.n_steps for v in data.variables)})"
        )
    bad = ~np.isfinite(data.values)
    if bad.any():
        rows, cols = np.nonzero(bad)
        sl = data.slices()
        names = sorted({v for v, s in sl.items() for c in cols[:50] if s.start <= c < s.stop})
        raise ScenarioDataError(
            f"family {data.family!r}: {bad.sum()} NaN/inf values in {len(set(rows))} {what} "
            f"(first: {data.unit_ids[rows[0]]}, variables {names}); the feature matrix must be complete"
        )
    needed = n_folds * min_units_per_fold
    if data.n_units < needed:
        raise ScenarioDataError(
            f"family {data.family!r}: only {data.n_units} {what}, need at least {needed} for {n_folds}-fold "
            f"cross-validation ({min_units_per_fold} per fold, parameter gan.min_units_per_fold)"
        )


def wide_channel(df: pd.DataFrame, channel: str, n_steps: int, family: str) -> np.ndarray:
    """Extract ``<channel>_t000..`` columns of a wide daily matrix as (n_days, n_steps) float64."""
    cols = [f"{channel}_t{i:03d}" for i in range(n_steps)]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ScenarioDataError(
            f"family {family!r}: feature matrix lacks {len(missing)} columns of channel {channel!r} "
            f"(first missing {missing[0]!r}); available channels: "
            f"{sorted({c.rsplit('_t', 1)[0] for c in df.columns if '_t' in c})}"
        )
    return df[cols].to_numpy(dtype=np.float64)


def calendar_columns(df: pd.DataFrame, family: str, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dates, months, is_weekend) from the key columns of a feature dataset."""
    for col in ("date", "month", "is_weekend"):
        if col not in df.columns:
            raise ScenarioDataError(f"family {family!r}: dataset {source!r} has no key column {col!r}")
    dates = pd.to_datetime(df["date"]).to_numpy(dtype="datetime64[ns]")
    return dates, df["month"].to_numpy(dtype=int), df["is_weekend"].to_numpy(dtype=bool)

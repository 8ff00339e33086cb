"""The dated train/test split shared by ``gan`` and ``dro`` (issues 13 item 3 and 18).

Each record (a feature dataset, or the part of it a family uses) is split once by date: the last
``test_fraction`` of its distinct days are test days, everything before is training. Nothing dated on or
after the cut-off may train a generator, fit a baseline, choose a hyper-parameter or a nominal atom; test
days are only scored. Parameters: ``split`` in ``conf/base/parameters.yml``; a fixed cut-off per record
(``split.test_start.<record>``) overrides the fraction.

    cut-off = the ceil(test_fraction * n_days)-th last distinct day;  train: date < cut-off;  test: date >= cut-off

The validation window used to choose a generator is the same rule applied inside the training days
(``validation_mask``), so model choice never sees a test day either.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SplitConfig:
    """``split`` parameters: the test share of each record and optional fixed cut-off dates."""

    test_fraction: float = 0.2
    test_start: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"parameter split.test_fraction must be in (0, 1), got {self.test_fraction}")

    @classmethod
    def from_params(cls, params: dict | None) -> SplitConfig:
        params = dict(params or {})
        unknown = set(params) - {"test_fraction", "test_start"}
        if unknown:
            raise ValueError(f"unknown split parameters {sorted(unknown)}; known: ['test_fraction', 'test_start']")
        return cls(test_fraction=float(params.get("test_fraction", 0.2)),
                   test_start={str(k): str(v) for k, v in (params.get("test_start") or {}).items()})


def _days(dates) -> np.ndarray:
    return pd.to_datetime(np.asarray(dates)).to_numpy(dtype="datetime64[D]")


def cutoff_date(dates, fraction: float, fixed: str | None = None) -> np.datetime64:
    """First held-out day: ``fixed`` if given, else the ceil(fraction * n)-th last distinct day of ``dates``."""
    if fixed is not None:
        return np.datetime64(pd.Timestamp(fixed).date(), "D")
    uniq = np.unique(_days(dates))
    if len(uniq) < 2:
        raise ValueError(f"a dated split needs at least 2 distinct days, got {len(uniq)}")
    n_test = min(max(int(np.ceil(fraction * len(uniq))), 1), len(uniq) - 1)
    return uniq[-n_test]


def first_test_day(dates, cfg: SplitConfig, record: str) -> np.datetime64:
    """Cut-off (first test day) of ``record`` given its dates."""
    return cutoff_date(dates, cfg.test_fraction, cfg.test_start.get(record))


def temporal_split(dates, cfg: SplitConfig, record: str) -> tuple[np.ndarray, np.ndarray]:
    """(train_mask, test_mask) over ``dates``: train strictly before the record's cut-off, test on/after."""
    days = _days(dates)
    cut = first_test_day(days, cfg, record)
    test = days >= cut
    if test.all() or not test.any():
        raise ValueError(f"split of record {record!r} at {cut} leaves no {'training' if test.all() else 'test'} day")
    return ~test, test


def validation_mask(dates, train_mask: np.ndarray, fraction: float) -> np.ndarray:
    """Within the training days, the last ``fraction`` of distinct days (for choosing a model)."""
    days = _days(dates)
    cut = cutoff_date(days[train_mask], fraction)
    return train_mask & (days >= cut)

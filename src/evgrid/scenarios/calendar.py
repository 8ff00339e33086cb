"""Calendar labels (month, weekday/weekend) used to condition generators and baselines.

A *label* is the part of the calendar the models are conditioned on; which parts are active is set by
``ConditioningConfig`` (parameters ``gan.conditioning``). With conditioning off every unit has the label
``all``. Labels are written as ``month=8,weekend=False`` in outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ConditioningConfig:
    """Which calendar features condition the models."""

    month: bool = True
    weekend: bool = True

    @classmethod
    def from_params(cls, params: dict | None) -> ConditioningConfig:
        params = params or {}
        if not params.get("enabled", True):
            return cls(month=False, weekend=False)
        return cls(month=bool(params.get("month", True)), weekend=bool(params.get("weekend", True)))

    @property
    def dim(self) -> int:
        """Length of the condition vector: 12 (one-hot month) + 1 (weekend flag) when both are on."""
        return 12 * self.month + 1 * self.weekend


def label_strings(months: np.ndarray, is_weekend: np.ndarray, cfg: ConditioningConfig) -> np.ndarray:
    """One label string per unit, e.g. ``month=8,weekend=False``; ``all`` with conditioning off."""
    months = np.asarray(months, dtype=int)
    is_weekend = np.asarray(is_weekend, dtype=bool)
    parts = []
    if cfg.month:
        parts.append(np.char.add("month=", months.astype(str)))
    if cfg.weekend:
        parts.append(np.char.add("weekend=", np.where(is_weekend, "True", "False")))
    if not parts:
        return np.full(len(months), "all", dtype=object)
    out = parts[0]
    for p in parts[1:]:
        out = np.char.add(np.char.add(out, ","), p)
    return out.astype(object)


def encode_condition(months: np.ndarray, is_weekend: np.ndarray, cfg: ConditioningConfig) -> np.ndarray:
    """Condition vectors (n, cfg.dim): one-hot month (1..12) then the weekend flag."""
    months = np.asarray(months, dtype=int)
    n = len(months)
    cols = []
    if cfg.month:
        if np.any((months < 1) | (months > 12)):
            raise ValueError("month must be in 1..12")
        onehot = np.zeros((n, 12), dtype=np.float32)
        onehot[np.arange(n), months - 1] = 1.0
        cols.append(onehot)
    if cfg.weekend:
        cols.append(np.asarray(is_weekend, dtype=np.float32).reshape(n, 1))
    if not cols:
        return np.zeros((n, 0), dtype=np.float32)
    return np.concatenate(cols, axis=1)


def decode_label(label: str) -> tuple[int | None, bool | None]:
    """Inverse of ``label_strings`` for one label: (month or None, is_weekend or None)."""
    month: int | None = None
    weekend: bool | None = None
    if label == "all":
        return month, weekend
    for part in label.split(","):
        key, _, value = part.partition("=")
        if key == "month":
            month = int(value)
        elif key == "weekend":
            weekend = value == "True"
        else:
            raise ValueError(f"unknown label part {part!r} in {label!r}")
    return month, weekend


def requested_label(month: int | None, is_weekend: bool | None, cfg: ConditioningConfig) -> str:
    """The label string for a request (month, is_weekend), keeping only the active calendar parts."""
    if cfg.month and month is None:
        raise ValueError("conditioning on month is on: the sampling request must give a month (1..12)")
    if cfg.weekend and is_weekend is None:
        raise ValueError("conditioning on weekend is on: the sampling request must give is_weekend")
    m = np.array([month if month is not None else 1])
    w = np.array([bool(is_weekend)])
    return str(label_strings(m, w, cfg)[0])

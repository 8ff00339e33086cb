"""Scaling and physical-bound transforms, fitted on the training fold only.

``FamilyTransform`` maps physical values to the generator's space and back:

1. an optional *representation* change: ``arrival_logduration`` for (arrival_h, departure_h) pairs,
   modelling (arrival, log duration) so that departure > arrival holds by construction; ``log1p`` for
   skewed non-negative scalars (distance);
2. a per-channel (or, with ``scaling: step``, per-time-step) min-max scaling to [-1, 1] (matching the generator's tanh output) with a relative margin,
   so generated values can reach slightly beyond the training range.

``enforce_bounds`` applies the physical bounds to samples of any model (GAN or baseline): lower/upper
bounds per variable (no negative irradiance, flow or PV), zero irradiance at steps that are night in the
training data of the month, arrival within the day and departure after arrival.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evgrid.scenarios.data import FamilyData

REPRESENTATIONS = ("identity", "arrival_logduration", "log1p")


@dataclass
class FamilyTransform:
    """Representation + per-channel min-max scaling, with the family's physical bounds."""

    representation: str = "identity"
    margin: float = 0.05
    scaling: str = "channel"  # "channel": one range per variable; "step": one range per column (time step)
    min_duration_h: float = 1.0 / 60.0
    night_variables: tuple[str, ...] = ()
    lo_: np.ndarray | None = None
    hi_: np.ndarray | None = None
    channel_of_col_: np.ndarray | None = None
    night_mask_: dict[int, np.ndarray] = field(default_factory=dict)
    variables_: list = field(default_factory=list)
    max_duration_h_: float | None = None

    def __post_init__(self) -> None:
        if self.scaling not in ("channel", "step"):
            raise ValueError(f"scaling must be 'channel' or 'step', got {self.scaling!r}")
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {self.representation!r}")

    # -- representation ---------------------------------------------------------------------------------
    def _to_rep(self, x: np.ndarray) -> np.ndarray:
        if self.representation == "arrival_logduration":
            dur = np.maximum(x[:, 1] - x[:, 0], self.min_duration_h)
            return np.column_stack([x[:, 0], np.log(dur)])
        if self.representation == "log1p":
            return np.log1p(np.maximum(x, 0.0))
        return x

    def _from_rep(self, r: np.ndarray) -> np.ndarray:
        if self.representation == "arrival_logduration":
            dur = np.exp(r[:, 1])
            return np.column_stack([r[:, 0], r[:, 0] + dur])
        if self.representation == "log1p":
            return np.expm1(r)
        return r

    # -- fit / transform --------------------------------------------------------------------------------
    def fit(self, data: FamilyData) -> FamilyTransform:
        """Fit scaling ranges, night masks and duration range on ``data`` (a training fold)."""
        self.variables_ = list(data.variables)
        chan = np.concatenate([np.full(v.n_steps, i) for i, v in enumerate(data.variables)])
        self.channel_of_col_ = chan
        rep = self._to_rep(data.values)
        if self.scaling == "step":
            chan = np.arange(rep.shape[1])
            self.channel_of_col_ = chan
            lo, hi = rep.min(axis=0), rep.max(axis=0)
        else:
            n_ch = len(data.variables)
            lo = np.array([rep[:, chan == i].min() for i in range(n_ch)])
            hi = np.array([rep[:, chan == i].max() for i in range(n_ch)])
        span = np.where(hi > lo, hi - lo, 1.0)
        self.lo_ = lo - self.margin * span
        self.hi_ = hi + self.margin * span
        if self.representation == "arrival_logduration":
            self.max_duration_h_ = float(np.max(data.values[:, 1] - data.values[:, 0]))
        sl = data.slices()
        self.night_mask_ = {}
        for name in self.night_variables:
            block = data.values[:, sl[name]]
            for m in np.unique(data.months):
                self.night_mask_[int(m)] = np.all(block[data.months == m] <= 0.0, axis=0)
        return self

    def _check(self) -> None:
        if self.lo_ is None:
            raise RuntimeError("FamilyTransform is not fitted")

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Physical -> scaled [-1, 1] space (float32)."""
        self._check()
        rep = self._to_rep(np.asarray(x, dtype=np.float64))
        lo, hi = self.lo_[self.channel_of_col_], self.hi_[self.channel_of_col_]
        return (2.0 * (rep - lo) / (hi - lo) - 1.0).astype(np.float32)

    def inverse(self, s: np.ndarray) -> np.ndarray:
        """Scaled space -> physical units (before bounds)."""
        self._check()
        lo, hi = self.lo_[self.channel_of_col_], self.hi_[self.channel_of_col_]
        rep = (np.asarray(s, dtype=np.float64) + 1.0) / 2.0 * (hi - lo) + lo
        return self._from_rep(rep)

    # -- physical bounds --------------------------------------------------------------------------------
    def enforce_bounds(self, x: np.ndarray, months: np.ndarray) -> np.ndarray:
        """Clip to each variable's bounds, zero night steps, keep departure after arrival."""
        self._check()
        x = np.array(x, dtype=np.float64, copy=True)
        start = 0
        for v in self.variables_:
            block = x[:, start:start + v.n_steps]
            if v.lower is not None or v.upper is not None:
                np.clip(block, v.lower, v.upper, out=block)
            if v.name in self.night_variables and self.night_mask_:
                months = np.asarray(months)
                always_night = np.logical_and.reduce(list(self.night_mask_.values()))
                for m in np.unique(months):
                    rows = months == m
                    # a month without training data (or no month conditioning) uses the steps dark all year
                    block[np.ix_(rows, self.night_mask_.get(int(m), always_night))] = 0.0
            start += v.n_steps
        if self.representation == "arrival_logduration":
            x[:, 0] = np.clip(x[:, 0], 0.0, 24.0 - 1e-6)
            dur = np.clip(x[:, 1] - x[:, 0], self.min_duration_h, self.max_duration_h_)
            x[:, 1] = x[:, 0] + dur
        return x

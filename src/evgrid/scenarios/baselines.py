"""Baselines scored on the same folds as the GAN.

* ``BootstrapSampler``: resample training units (days or sessions) with the requested calendar label.
* ``GaussianSampler``: a multivariate Gaussian per label fitted to the training units of that label, with
  Ledoit-Wolf shrinkage of the covariance (96- or 192-dimensional profiles from a few dozen days would
  otherwise give a singular covariance).

Both fall back to coarser pools when a label has too few training units: the same month (any day type),
then all training units; the fallback count is recorded in ``fallbacks``.
"""

from __future__ import annotations

import numpy as np
from sklearn.covariance import ledoit_wolf

from evgrid.scenarios.calendar import decode_label


class _LabelPools:
    """Index pools per label with fallback label -> month -> all."""

    def __init__(self, labels: np.ndarray, min_units: int) -> None:
        self.labels = np.asarray(labels, dtype=object)
        self.min_units = min_units
        self.fallbacks = 0
        self._cache: dict[str, np.ndarray] = {}

    def pool(self, label: str) -> np.ndarray:
        if label in self._cache:
            return self._cache[label]
        idx = np.flatnonzero(self.labels == label)
        if len(idx) < self.min_units:
            month, _ = decode_label(label)
            if month is not None:
                months = np.array([decode_label(lab)[0] for lab in self.labels])
                idx = np.flatnonzero(months == month)
            if len(idx) < self.min_units:
                idx = np.arange(len(self.labels))
            self.fallbacks += 1
        self._cache[label] = idx
        return idx


class BootstrapSampler:
    """Draw training units of the requested label uniformly with replacement."""

    name = "bootstrap"

    def __init__(self, min_units: int = 1) -> None:
        self.min_units = min_units

    def fit(self, values: np.ndarray, labels: np.ndarray) -> BootstrapSampler:
        self.values_ = np.asarray(values, dtype=np.float64)
        self.pools_ = _LabelPools(labels, self.min_units)
        return self

    def sample(self, label: str, n: int, rng: np.random.Generator) -> np.ndarray:
        idx = self.pools_.pool(label)
        return self.values_[rng.choice(idx, size=n, replace=True)]


class GaussianSampler:
    """Multivariate normal per label, mean and Ledoit-Wolf shrunk covariance of its training units."""

    name = "gaussian"

    def __init__(self, min_units: int = 5) -> None:
        self.min_units = min_units

    def fit(self, values: np.ndarray, labels: np.ndarray) -> GaussianSampler:
        self.values_ = np.asarray(values, dtype=np.float64)
        self.pools_ = _LabelPools(labels, self.min_units)
        self._params: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        return self

    def _fit_label(self, label: str) -> tuple[np.ndarray, np.ndarray]:
        if label not in self._params:
            x = self.values_[self.pools_.pool(label)]
            mean = x.mean(axis=0)
            if x.shape[1] == 1:
                cov = np.atleast_2d(x.var(axis=0, ddof=1))
            else:
                cov = ledoit_wolf(x)[0]
            # Cholesky with a tiny jitter relative to the variance scale for numerically flat directions
            jitter = 1e-9 * max(float(np.trace(cov)) / cov.shape[0], 1e-12)
            chol = np.linalg.cholesky(cov + jitter * np.eye(cov.shape[0]))
            self._params[label] = (mean, chol)
        return self._params[label]

    def sample(self, label: str, n: int, rng: np.random.Generator) -> np.ndarray:
        mean, chol = self._fit_label(label)
        return mean + rng.standard_normal((n, len(mean))) @ chol.T

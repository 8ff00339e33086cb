"""Small time-series helpers shared by the core and the studies (Kedro-free)."""

from __future__ import annotations

import numpy as np


def block_mean(values, n_steps: int, what: str = "series") -> np.ndarray:
    """Average equal consecutive blocks along the last axis down to ``n_steps`` (e.g. 96 x 15 min -> 24 h).

    ``out[..., i] = mean(values[..., i*k:(i+1)*k])`` with ``k = len / n_steps``; ``what`` names the input in
    the error when ``n_steps`` does not divide its length.
    """
    a = np.asarray(values, dtype=float)
    if n_steps < 1 or a.shape[-1] % n_steps:
        raise ValueError(f"{what}: cannot average {a.shape[-1]} steps into {n_steps} equal model steps")
    return a.reshape(*a.shape[:-1], n_steps, -1).mean(axis=-1)

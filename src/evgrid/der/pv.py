"""PV output P = irradiance x efficiency x area (paper 002 eq. 1) and area sizing."""

from __future__ import annotations

import numpy as np


def pv_power_kw(ghi_w_per_m2: np.ndarray, efficiency: float, area_m2: float) -> np.ndarray:
    """PV AC output in kW: ``ghi * efficiency * area / 1000`` (eq. 1); negative irradiance -> 0."""
    if not 0 < efficiency <= 1:
        raise ValueError(f"PV efficiency must lie in (0, 1], got {efficiency}")
    if area_m2 < 0:
        raise ValueError(f"PV area must be >= 0 m2, got {area_m2}")
    ghi = np.asarray(ghi_w_per_m2, dtype=float)
    if not np.all(np.isfinite(ghi)):
        raise ValueError(f"irradiance has non-finite values at steps {np.flatnonzero(~np.isfinite(ghi)).tolist()}")
    return np.clip(ghi, 0.0, None) * efficiency * area_m2 / 1000.0


def pv_area_for_energy_m2(ghi_w_per_m2: np.ndarray, step_h: float, efficiency: float,
                          target_energy_kwh: float) -> float:
    """Panel area whose daily output equals ``target_energy_kwh`` on the given irradiance day."""
    yield_kwh_per_m2 = float(np.clip(np.asarray(ghi_w_per_m2, float), 0, None).sum()) * step_h * efficiency / 1000
    if yield_kwh_per_m2 <= 0:
        raise ValueError("cannot size PV: the irradiance day has no sunshine (sum of GHI is 0)")
    if target_energy_kwh < 0:
        raise ValueError(f"target energy must be >= 0 kWh, got {target_energy_kwh}")
    return target_energy_kwh / yield_kwh_per_m2

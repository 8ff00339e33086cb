"""Wind turbine output from wind speed: hub-height extrapolation and a generic power curve.

* Power law shear: ``v_hub = v_ref * (h_hub / h_ref) ** alpha`` (``alpha = 1/7`` open terrain, Peterson &
  Hennessey, J. Appl. Meteor. 17, 1978; ``alpha = 0.2`` the IEC 61400-1 normal wind profile).
* Log law (neutral surface layer): ``v_hub = v_ref * ln(h_hub / z0) / ln(h_ref / z0)`` with the roughness
  length ``z0`` (m) of the Davenport-Wieringa classes (WMO Guide No. 8, 2018, Annex 5: 0.03 open flat
  terrain, 0.10 open farmland with scattered obstacles, 0.25 rough / many obstacles).
  NSRDB PSM v3 "Wind Speed" is the MERRA-2 2 m speed (NREL NSRDB data dictionary).
* Power curve (per unit of rated power): 0 below cut-in and above cut-out, rated between rated speed and
  cut-out, and the cubic ramp ``(v^3 - v_ci^3) / (v_r^3 - v_ci^3)`` between cut-in and rated speed.
"""

from __future__ import annotations

import numpy as np


def hub_height_speed(v_ref_m_per_s: np.ndarray, ref_height_m: float, hub_height_m: float,
                     shear_exponent: float = 1.0 / 7.0) -> np.ndarray:
    """Extrapolate wind speed to hub height with the power law."""
    if ref_height_m <= 0 or hub_height_m <= 0:
        raise ValueError(f"heights must be > 0 m, got ref {ref_height_m}, hub {hub_height_m}")
    v = np.asarray(v_ref_m_per_s, dtype=float)
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError("wind_speed_m_per_s must be finite and >= 0")
    return v * (hub_height_m / ref_height_m) ** shear_exponent


def log_law_speed(v_ref_m_per_s: np.ndarray, ref_height_m: float, hub_height_m: float,
                  roughness_length_m: float = 0.1) -> np.ndarray:
    """Extrapolate wind speed to hub height with the neutral log law ``ln(h / z0)`` (module docstring)."""
    if not 0 < roughness_length_m < min(ref_height_m, hub_height_m):
        raise ValueError(f"roughness length must lie in (0, {min(ref_height_m, hub_height_m)}) m, got {roughness_length_m}")
    v = hub_height_speed(v_ref_m_per_s, ref_height_m, hub_height_m, 0.0)  # validation only
    return v * np.log(hub_height_m / roughness_length_m) / np.log(ref_height_m / roughness_length_m)


def wind_power_pu(v_hub_m_per_s: np.ndarray, cut_in_m_per_s: float = 3.0, rated_m_per_s: float = 12.0,
                  cut_out_m_per_s: float = 25.0) -> np.ndarray:
    """Available power per unit of rated power for hub-height speed ``v`` (cubic generic curve)."""
    if not 0 <= cut_in_m_per_s < rated_m_per_s < cut_out_m_per_s:
        raise ValueError("wind power curve needs 0 <= cut_in < rated < cut_out "
                         f"(got {cut_in_m_per_s}, {rated_m_per_s}, {cut_out_m_per_s})")
    v = np.asarray(v_hub_m_per_s, dtype=float)
    ramp = (v**3 - cut_in_m_per_s**3) / (rated_m_per_s**3 - cut_in_m_per_s**3)
    out = np.where(v < cut_in_m_per_s, 0.0, np.where(v < rated_m_per_s, ramp, 1.0))
    return np.where(v >= cut_out_m_per_s, 0.0, np.clip(out, 0.0, 1.0))

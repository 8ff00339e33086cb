"""PV power per kWp from daily irradiance and temperature profiles through pvlib (paper 004 eqs. 4-5).

Chain, vectorised over days x steps:
1. solar position (pvlib NREL SPA, numpy) at each step start in local standard time of the site;
2. GHI -> DNI/DHI with the Erbs decomposition (the GAN models GHI and air temperature, as the paper
   models irradiation and ambient temperature);
3. plane-of-array irradiance G_T (isotropic sky, albedo parameter) for the array tilt and azimuth;
4. cell temperature, eq. (5): T_c = T_a + G_T/800 (T_NOCT - 20)(1 - eta_mp/eta_absorb), i.e. pvlib's
   Ross model with k = (T_NOCT - 20)/800 * (1 - eta_mp/eta_absorb);
5. DC power per kWp, eq. (4) in PVWatts form: P = G_T/1000 (1 + gamma (T_c - 25)) (1 - losses).
PV is exactly zero when GHI is zero or the sun is below the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pvlib

from evgrid.runtime.validation import Problems


# pv_system.<key> -> (lowest, highest) accepted value; None = unbounded on that side
PV_SYSTEM_RANGES: dict[str, tuple[float | None, float | None]] = {
    "latitude_deg": (-90.0, 90.0), "longitude_deg": (-180.0, 180.0), "utc_offset_h": (-12.0, 14.0),
    "tilt_deg": (0.0, 90.0), "azimuth_deg": (0.0, 360.0), "albedo": (0.0, 1.0),
    "gamma_pdc_per_c": (None, None), "noct_c": (None, None), "eta_mp": (0.0, 1.0), "eta_absorb": (0.0, 1.0),
    "losses_fraction": (0.0, 1.0),
}


@dataclass(frozen=True)
class PVSystem:
    """Site and array of the pvlib chain: the shared ``pv_system`` parameter block (conf/base/parameters_pv.yml,
    read by gan, dro, backtest and parking); ``step_minutes`` is the step of the irradiance profiles."""

    latitude_deg: float
    longitude_deg: float
    utc_offset_h: float
    tilt_deg: float
    azimuth_deg: float
    albedo: float
    gamma_pdc_per_c: float
    noct_c: float
    eta_mp: float
    eta_absorb: float
    losses_fraction: float
    step_minutes: int = 15  # the feature matrices' step (96 x 15 min); from_params takes params:step_minutes

    @staticmethod
    def check_params(params: Any, p: Problems) -> None:
        """Add every problem of the ``pv_system`` block to ``p`` (named ``<p's prefix>.<key>``)."""
        if params is None:
            p.add("", "missing: the shared PV-system block (conf/base/parameters_pv.yml)")
            return
        if not p.known_keys(params, PV_SYSTEM_RANGES) or not p.required(params, PV_SYSTEM_RANGES):
            return
        for key, (lo, hi) in PV_SYSTEM_RANGES.items():
            p.in_range(key, params[key], lo, hi, lo_open=key == "eta_absorb")
        p.less("eta_mp", params["eta_mp"], "eta_absorb", params["eta_absorb"], strict=False)

    @classmethod
    def from_params(cls, params: Any, step_minutes: int) -> PVSystem:
        """The ``pv_system`` block and the profile step (``params:step_minutes``); a
        :class:`~evgrid.runtime.validation.ConfigError` names every bad ``pv_system.<key>``."""
        p = Problems("pv_system")
        cls.check_params(params, p)
        p.raise_if_any()
        return cls(**{key: float(params[key]) for key in PV_SYSTEM_RANGES}, step_minutes=int(step_minutes))

    @property
    def timezone(self) -> str:
        """Fixed-offset zone (no DST): pvlib/pandas spell UTC-5 as Etc/GMT+5."""
        off = int(round(self.utc_offset_h))
        return "UTC" if off == 0 else f"Etc/GMT{'+' if off < 0 else '-'}{abs(off)}"


def _solar_position(dates: np.ndarray, n_steps: int, system: PVSystem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(zenith, azimuth, day of year) arrays (n_dates, n_steps) for unique day dates."""
    days = pd.DatetimeIndex(pd.to_datetime(dates)).normalize()
    offsets = pd.to_timedelta(np.arange(n_steps) * system.step_minutes, unit="min")
    stamps = (days.values[:, None] + offsets.values[None, :]).ravel()
    times = pd.DatetimeIndex(stamps).tz_localize(system.timezone)
    sp = pvlib.solarposition.get_solarposition(times, system.latitude_deg, system.longitude_deg)
    shape = (len(days), n_steps)
    doy = np.repeat(days.dayofyear.values[:, None], n_steps, axis=1)
    return sp["apparent_zenith"].to_numpy().reshape(shape), sp["azimuth"].to_numpy().reshape(shape), doy


def pv_kw_per_kwp(ghi_w_per_m2: np.ndarray, temp_air_c: np.ndarray, dates: np.ndarray,
                  system: PVSystem) -> np.ndarray:
    """PV DC power per kWp (n_days, n_steps) for each day's GHI and air-temperature profile."""
    ghi = np.maximum(np.asarray(ghi_w_per_m2, float), 0.0)
    temp = np.asarray(temp_air_c, float)
    n, n_steps = ghi.shape
    uniq, inv = np.unique(np.asarray(dates).astype("datetime64[D]"), return_inverse=True)
    zen_u, azi_u, doy_u = _solar_position(uniq, n_steps, system)
    zen, azi, doy = zen_u[inv], azi_u[inv], doy_u[inv]
    decomp = pvlib.irradiance.erbs(ghi.ravel(), zen.ravel(), doy.ravel())
    poa = pvlib.irradiance.get_total_irradiance(
        system.tilt_deg, system.azimuth_deg, zen.ravel(), azi.ravel(),
        np.nan_to_num(np.asarray(decomp["dni"], float)), ghi.ravel(),
        np.nan_to_num(np.asarray(decomp["dhi"], float)), albedo=system.albedo,
    )["poa_global"]
    g_t = np.nan_to_num(np.asarray(poa, float)).reshape(n, n_steps)
    g_t = np.where((zen < 90.0) & (ghi > 0.0), np.maximum(g_t, 0.0), 0.0)
    k = (system.noct_c - 20.0) / 800.0 * (1.0 - system.eta_mp / system.eta_absorb)
    t_cell = pvlib.temperature.ross(g_t, temp, k=k)
    p = pvlib.pvsystem.pvwatts_dc(g_t, t_cell, pdc0=1.0, gamma_pdc=system.gamma_pdc_per_c)
    return np.maximum(np.asarray(p, float) * (1.0 - system.losses_fraction), 0.0)


def representative_dates(months: np.ndarray, year: int) -> np.ndarray:
    """Mid-month day (the 15th of ``year``) for each month, the date used for generated PV days."""
    months = np.asarray(months, dtype=int)
    return np.array([np.datetime64(f"{year}-{m:02d}-15") for m in months], dtype="datetime64[ns]")

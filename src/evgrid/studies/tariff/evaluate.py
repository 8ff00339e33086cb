"""Out-of-sample evaluation shared by the tariff study's report and audit: real-day realisations (planning
forecast + real day-ahead errors), the held-out days, a fixed EV schedule on many realisations (violations,
shed energy; lossless LinDistFlow sensitivities) and the Wilson interval of a violation rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from evgrid.studies.tariff.system import TariffSystem, radial_sensitivities


def wilson(k: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (well behaved at 0 and 1)."""
    if n == 0:
        return float("nan"), float("nan")
    z = stats.norm.ppf(0.5 + level / 2.0)
    p = k / n
    den = 1.0 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(max(0.0, mid - half)), float(min(1.0, mid + half))


def real_day_net_load(system: TariffSystem, days) -> np.ndarray:
    """Net load (day x hour x bus) of real days = the planning forecast + that day's real day-ahead forecast
    errors (:func:`evgrid.studies.tariff.system.forecast_errors`): load x (1 + relative error) at every bus,
    PV + error x kWp (clipped at 0), wind at forecast (no real wind data). Without error frames (small test
    systems) the held-out multipliers / PV of :class:`TariffSystem` are used."""
    L, PV, W = (f.to_numpy() for f in (system.load_p_kw, system.pv_kw, system.wind_kw))
    kwp = system.pv_kwp_by_bus()
    if system.load_error_rel is None:
        mult = system.heldout_load_multiplier.to_numpy()[:, :, None]
        return L[None] * mult - system.heldout_pv_per_kwp.to_numpy()[:, :, None] * kwp[None, None, :] - W[None]
    le = system.load_error_rel.loc[days].to_numpy()[:, :, None]
    pe = system.pv_error_per_kwp.loc[days].to_numpy()[:, :, None]
    pv = np.clip(PV[None] + pe * kwp[None, None, :], 0.0, None)
    return L[None] * (1.0 + le) - pv - W[None]


def heldout_days(system: TariffSystem) -> pd.DatetimeIndex:
    """Days with forecast errors on or after ``out_of_sample.forecast_days_before`` (never seen in training)."""
    if system.load_error_rel is None:
        return system.heldout_load_multiplier.index
    cut = pd.Timestamp(system.cfg.out_of_sample.forecast_days_before)
    return system.load_error_rel.index[system.load_error_rel.index >= cut]


def evaluate_plan(system: TariffSystem, station_kw: pd.DataFrame, net: np.ndarray) -> dict:
    """A fixed EV schedule on realisations ``net`` (n x hour x bus): station-line flows and voltages (lossless
    LinDistFlow sensitivities, vectorised); a line above limit x (1 + tolerance) or a voltage below its minimum
    is a violation; the overload energy is the EV charging shed (kWh) to clear it."""
    bpos, _a, rs, xs = radial_sensitivities(system.feeder)
    q = system.load_q_kvar.to_numpy()
    vmin = system.feeder.buses["v_min_pu"].to_numpy()
    lim = np.array([system.line_limit_kw[y] for y in system.line_limit_kw])
    tol = system.cfg.aggregators.tolerance_pct / 100.0
    sb = np.array([bpos[system.station_bus[y]] for y in system.line_limit_kw])
    ev = np.zeros(net.shape[1:])
    for y, b in system.station_bus.items():
        ev[:, bpos[b]] = station_kw[y].to_numpy()
    p = net + ev[None]
    flow = p[:, :, sb]  # station lines carry their bus's net load
    over = np.clip(np.abs(flow) - lim[None, None, :], 0.0, None)
    w = 1.0 - np.einsum("nti,bi->ntb", p, rs) - (q @ xs.T)[None]
    v = np.sqrt(np.clip(w, 0.0, None))
    return {"line_violation": (np.abs(flow) > lim[None, None, :] * (1.0 + tol)).any(axis=(1, 2)),
            "voltage_violation": (v < vmin[None, None, :] - 1e-4).any(axis=(1, 2)),
            "shed_kwh": over.sum(axis=(1, 2)) * system.cfg.dt_h,
            "max_line_loading_pct": (np.abs(flow) / lim).max(axis=(1, 2)) * 100.0,
            "v_min_pu": v.min(axis=(1, 2))}

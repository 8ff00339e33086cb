"""What an operator knows the day before: the condition vector of every generator and baseline (issue 18).

For a target day d the condition is built only from information available on day d-1:

* previous-day summaries of each modelled profile variable: mean and peak (max) over the 96 steps; for
  irradiance also the daily clearness index k_t = sum_t GHI_t / sum_t G0h_t (G0h: extraterrestrial
  irradiance on the horizontal, pvlib); for prices the mean is the previous day's price level;
  for session families the previous day's number of sessions, log(1 + n);
* the calendar of day d: season (sin, cos of 2 pi doy / 365.25), day of week (one-hot, 7), public holiday
  flag (US federal holidays, pandas ``USFederalHolidayCalendar``, plus the extra dates in parameters, e.g.
  the Minnesota State Fair opening days the I-94 file marks as holidays).

A day whose previous day is missing from the record has no condition: it is removed and counted
(``info['removed']['no previous day']``). Columns are returned raw; each model standardises them on its own
training days. ``offday`` (weekend or holiday) is returned separately for the analog baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib
from pandas.tseries.holiday import USFederalHolidayCalendar

from evgrid.scenarios.data import FamilyData


@dataclass(frozen=True)
class DayAheadConfig:
    """Which day-ahead features condition the models (parameters ``gan.conditioning``)."""

    previous_day: bool = True
    season: bool = True
    day_of_week: bool = True
    holiday: bool = True
    extra_holidays: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: dict | None) -> DayAheadConfig:
        p = dict(params or {})
        if not p.pop("enabled", True):
            return cls(False, False, False, False)
        known = {"previous_day", "season", "day_of_week", "holiday", "extra_holidays"}
        unknown = set(p) - known
        if unknown:
            raise ValueError(f"unknown gan.conditioning parameters {sorted(unknown)}; known: {sorted(known)}")
        return cls(bool(p.get("previous_day", True)), bool(p.get("season", True)),
                   bool(p.get("day_of_week", True)), bool(p.get("holiday", True)),
                   tuple(str(d) for d in p.get("extra_holidays", ()) or ()))


@dataclass
class Conditions:
    """Condition rows of a family's units (aligned with ``FamilyData`` after ``keep``)."""

    values: np.ndarray  # (n_units, p) raw features
    names: list[str]
    offday: np.ndarray  # (n_units,) weekend or holiday
    keep: np.ndarray  # (n_units_before,) bool: units that have a condition

    def subset(self, idx) -> Conditions:
        return Conditions(self.values[idx], self.names, self.offday[idx], self.keep)

    @property
    def analog_columns(self) -> np.ndarray:
        """Columns the analog baseline measures distance on (everything but the day-of-week one-hot)."""
        return np.array([not n.startswith("dow_") for n in self.names])


def holidays(dates, extra: tuple[str, ...] = ()) -> np.ndarray:
    """Holiday flag per date: US federal holidays (pandas calendar) or one of ``extra``."""
    days = pd.to_datetime(np.asarray(dates)).normalize()
    if len(days) == 0:
        return np.zeros(0, dtype=bool)
    fed = USFederalHolidayCalendar().holidays(days.min() - pd.Timedelta("1D"), days.max() + pd.Timedelta("1D"))
    extra_idx = pd.to_datetime(list(extra)).normalize() if extra else pd.DatetimeIndex([])
    return np.asarray(days.isin(fed) | days.isin(extra_idx), dtype=bool)


def calendar_features(dates, cfg: DayAheadConfig) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(features, names, offday) of the target days' calendar."""
    days = pd.to_datetime(np.asarray(dates)).normalize()
    cols, names = [], []
    if cfg.season:
        ang = 2 * np.pi * days.dayofyear.to_numpy() / 365.25
        cols += [np.sin(ang), np.cos(ang)]
        names += ["season_sin", "season_cos"]
    dow = days.dayofweek.to_numpy()
    if cfg.day_of_week:
        for k in range(7):
            cols.append((dow == k).astype(float))
            names.append(f"dow_{k}")
    hol = holidays(days, cfg.extra_holidays) if cfg.holiday else np.zeros(len(days), dtype=bool)
    if cfg.holiday:
        cols.append(hol.astype(float))
        names.append("holiday")
    offday = (dow >= 5) | hol
    feats = np.column_stack(cols) if cols else np.zeros((len(days), 0))
    return feats, names, offday


def _clearness(ghi: np.ndarray, dates: np.ndarray, system) -> np.ndarray:
    """Daily clearness index sum(GHI) / sum(G0 cos(zenith)+) per day (NSRDB local standard time)."""
    days = pd.DatetimeIndex(pd.to_datetime(dates)).normalize()
    n_steps = ghi.shape[1]
    offsets = pd.to_timedelta(np.arange(n_steps) * system.step_minutes + system.step_minutes / 2, unit="min")
    stamps = pd.DatetimeIndex((days.values[:, None] + offsets.values[None, :]).ravel()).tz_localize(system.timezone)
    sp = pvlib.solarposition.get_solarposition(stamps, system.latitude_deg, system.longitude_deg)
    g0 = pvlib.irradiance.get_extra_radiation(stamps).to_numpy()
    g0h = (g0 * np.maximum(np.cos(np.radians(sp["zenith"].to_numpy())), 0.0)).reshape(ghi.shape)
    return ghi.sum(axis=1) / np.maximum(g0h.sum(axis=1), 1e-9)


def profile_conditions(data: FamilyData, cfg: DayAheadConfig) -> Conditions:
    """Day-ahead conditions of a profile family (one unit per day, sorted or not)."""
    days = pd.to_datetime(data.dates).normalize()
    cal, cal_names, offday = calendar_features(days, cfg)
    cols, names = [], []
    keep = np.ones(len(days), dtype=bool)
    if cfg.previous_day:
        pos = pd.Series(np.arange(len(days)), index=days)
        prev_idx = pos.reindex(days - pd.Timedelta("1D")).to_numpy()
        keep = ~np.isnan(prev_idx)
        prev = np.where(keep, prev_idx, 0).astype(int)
        sl = data.slices()
        for v in data.variables:
            block = data.values[:, sl[v.name]]
            cols += [block.mean(axis=1)[prev], block.max(axis=1)[prev]]
            names += [f"prev_{v.name}_mean", f"prev_{v.name}_peak"]
            if v.name == "ghi_w_per_m2" and data.info.get("pv_system") is not None:
                kt = _clearness(block, data.dates, data.info["pv_system"])
                cols.append(kt[prev])
                names.append("prev_clearness")
    feats = np.column_stack(cols + [cal]) if cols else cal
    return Conditions(feats[keep], names + cal_names, offday[keep], keep)


def session_conditions(data: FamilyData, cfg: DayAheadConfig) -> Conditions:
    """Day-ahead conditions of a session family: calendar of the session's day and log(1 + n sessions) of
    the previous day (0 sessions if the previous day lies inside the record without sessions)."""
    days = pd.to_datetime(data.dates).normalize()
    cal, cal_names, offday = calendar_features(days, cfg)
    keep = np.ones(len(days), dtype=bool)
    if not cfg.previous_day:
        return Conditions(cal, cal_names, offday, keep)
    counts = pd.Series(1, index=days).groupby(level=0).sum()
    full = counts.reindex(pd.date_range(counts.index.min(), counts.index.max(), freq="D"), fill_value=0)
    prev_days = days - pd.Timedelta("1D")
    keep = np.asarray(prev_days >= full.index.min())
    prev_n = full.reindex(prev_days).fillna(0).to_numpy()
    feats = np.column_stack([np.log1p(prev_n), cal])
    return Conditions(feats[keep], ["prev_log1p_sessions"] + cal_names, offday[keep], keep)


def family_conditions(data: FamilyData, cfg: DayAheadConfig) -> Conditions:
    if data.dates is None:
        raise ValueError(f"family {data.family!r}: day-ahead conditioning needs the date of every unit")
    return profile_conditions(data, cfg) if data.kind == "profile" else session_conditions(data, cfg)


def day_summaries(data: FamilyData, cfg: DayAheadConfig) -> pd.DataFrame:
    """What each day of the record tells the *next* day: one row per calendar day (index: the day D, a
    ``DatetimeIndex``), one column per previous-day feature (``prev_*``) as the condition of day D + 1 uses
    it. Profiles: mean and peak per variable (+ clearness index for GHI) of day D; sessions: log(1 + number
    of sessions on day D), 0 on days inside the record without a session. Empty columns when
    ``previous_day`` is off. The MLflow sampler (``mlflow_model``) conditions a requested date on it."""
    if data.dates is None:
        raise ValueError(f"family {data.family!r}: day-ahead conditioning needs the date of every unit")
    days = pd.DatetimeIndex(pd.to_datetime(data.dates)).normalize()
    if not cfg.previous_day:
        return pd.DataFrame(index=pd.DatetimeIndex(sorted(set(days)), name="date"))
    if data.kind != "profile":
        counts = pd.Series(1, index=days).groupby(level=0).sum()
        full = counts.reindex(pd.date_range(counts.index.min(), counts.index.max(), freq="D"), fill_value=0)
        out = pd.DataFrame({"prev_log1p_sessions": np.log1p(full.to_numpy(dtype=float))}, index=full.index)
        out.index.name = "date"
        return out
    cols: dict[str, np.ndarray] = {}
    sl = data.slices()
    for v in data.variables:
        block = data.values[:, sl[v.name]]
        cols[f"prev_{v.name}_mean"] = block.mean(axis=1)
        cols[f"prev_{v.name}_peak"] = block.max(axis=1)
        if v.name == "ghi_w_per_m2" and data.info.get("pv_system") is not None:
            cols["prev_clearness"] = _clearness(block, data.dates, data.info["pv_system"])
    out = pd.DataFrame(cols, index=pd.DatetimeIndex(days, name="date"))
    return out[~out.index.duplicated()].sort_index()

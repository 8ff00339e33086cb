"""Small synthetic feature tables in the architecture.md schema (for library and pipeline tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

STEPS = 96


def _keys(dates: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame({"date": dates, "month": dates.month, "day_of_week": dates.dayofweek,
                         "is_weekend": dates.dayofweek >= 5})


def _wide(keys: pd.DataFrame, channels: dict[str, np.ndarray]) -> pd.DataFrame:
    blocks = [keys.reset_index(drop=True)]
    for name, arr in channels.items():
        blocks.append(pd.DataFrame(arr, columns=[f"{name}_t{i:03d}" for i in range(STEPS)]))
    return pd.concat(blocks, axis=1)


def weather_daily(start="2014-01-01", end="2015-12-31", seed=0) -> pd.DataFrame:
    """Clear-sky-like GHI (zero at night, amplitude by season and cloudiness) and air temperature."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, end, freq="D")
    t = np.arange(STEPS)
    season = np.cos((dates.dayofyear.values - 172) / 365.0 * 2 * np.pi)
    half = 6.0 + 2.5 * season  # hours of daylight / 2
    hours = t / 4.0
    shape = np.clip(np.cos((hours[None, :] - 12.0) / half[:, None] * np.pi / 2), 0, None)
    shape[np.abs(hours[None, :] - 12.0) >= half[:, None]] = 0.0
    amp = (650 + 250 * season)[:, None] * rng.uniform(0.3, 1.0, (len(dates), 1))
    ghi = amp * shape
    temp = (8 + 14 * season)[:, None] + 6 * shape + rng.normal(0, 0.5, (len(dates), STEPS))
    return _wide(_keys(dates), {"ghi_w_per_m2": ghi, "temp_air_c": temp})


def profile_daily(channel: str, n_days: int, base: float, seed=0, start="2016-01-01") -> pd.DataFrame:
    """A daily profile with a morning and evening peak, weekday/weekend levels and noise."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=n_days, freq="D")
    h = np.arange(STEPS) / 4.0
    peaks = np.exp(-((h - 8) ** 2) / 4) + np.exp(-((h - 17) ** 2) / 4)
    level = np.where(dates.dayofweek >= 5, 0.6, 1.0)[:, None]
    x = base * level * (0.3 + peaks)[None, :] * rng.uniform(0.8, 1.2, (n_days, 1))
    x = x + rng.normal(0, 0.02 * base, x.shape)
    return _wide(_keys(dates), {channel: np.maximum(x, 0.0)})


def ev_sessions(n: int = 600, seed=0) -> pd.DataFrame:
    """Workplace-like sessions: morning arrivals, 2-10 h stays, log-normal distances; some without distance."""
    rng = np.random.default_rng(seed)
    dates = pd.Timestamp("2021-05-01") + pd.to_timedelta(rng.integers(0, 120, n), unit="D")
    dates = pd.DatetimeIndex(dates)
    arrival = np.clip(rng.normal(8.5, 1.5, n), 0.1, 23.5)
    duration = np.exp(rng.normal(np.log(5), 0.5, n))
    dist = np.exp(rng.normal(np.log(40), 0.6, n))
    dist[:20] = np.nan
    return pd.DataFrame({
        "session_id": [f"s{i}" for i in range(n)], "source": "acn", "site": "caltech", "date": dates,
        "month": dates.month, "day_of_week": dates.dayofweek, "is_weekend": dates.dayofweek >= 5,
        "arrival_h": arrival, "departure_h": arrival + duration, "duration_h": duration,
        "energy_kwh": duration * 2.0, "distance_km": dist,
    })

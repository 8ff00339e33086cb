"""Resampling to the modelling step and daily wide matrices: DST days, gaps, dropped days, methods."""

import numpy as np
import pandas as pd
import pytest

from evgrid.data.features import build_daily, daily_matrix, to_step_grid
from evgrid.data.quality import QualityLog


def _daily(df, channels, native, method, step=15, max_gap=4):
    q = QualityLog("t")
    out = build_daily(df, channels, step_minutes=step, native_minutes=native, method=method,
                      max_gap_steps=max_gap, log=q)
    return out, q.as_dict()


def test_price_daily_real_zone_dst_days(wide_prices):
    df, _ = wide_prices
    cap = df[(df["zone"] == "CAPITL")]
    out, q = _daily(cap, ["lbmp_usd_per_mwh"], 60, "hold")
    assert len(out) == 496 and q["days_dropped_total"] == 0
    m = daily_matrix(out, "lbmp_usd_per_mwh")
    assert m.shape == (496, 96)
    first = m[out["date"] == pd.Timestamp("2019-01-02")][0]
    assert list(first[:4]) == [9.73] * 4 and list(first[4:8]) == [14.13] * 4  # hourly price held 4 steps
    # spring forward 2019-03-10: 02:00-02:45 is not on the wall clock; the 4 steps are interpolated between
    # 01:45 (he02 = 29.39) and 03:00 (he04 = 30.11) and counted
    spring = m[out["date"] == pd.Timestamp("2019-03-10")][0]
    assert spring[8:12] == pytest.approx(29.39 + (30.11 - 29.39) * np.arange(1, 5) / 5)
    assert q["values_repaired"]["gap_steps_interpolated"] == 2 * 4
    # autumn 2019-11-03: he02 is the (only) 01:00 hour in the file
    autumn = m[out["date"] == pd.Timestamp("2019-11-03")][0]
    assert list(autumn[4:8]) == [26.58] * 4
    assert list(out.columns[:4]) == ["date", "month", "day_of_week", "is_weekend"]
    assert out["date"].dtype == "datetime64[ns]" and out["is_weekend"].dtype == bool


def test_load_daily_real_repeated_hour_averaged(load_5min):
    df, _ = load_5min
    out, q = _daily(df, ["load_mw"], 5, "mean")
    assert len(out) == 365 and q["days_dropped"]["incomplete"] == 1  # 2016 has 366 days, one has a 24-h hole
    m = daily_matrix(out, "load_mw")
    nov6 = m[out["date"] == pd.Timestamp("2016-11-06")][0]
    # step 4 (01:00-01:15 local) = mean of 01:00-01:10 EDT (00:00-00:10 EST in the file) and 01:00-01:10 EST
    raw = df.set_index("timestamp_utc")["load_mw"]
    edt = raw[pd.Timestamp("2016-11-06 05:00", tz="UTC"):pd.Timestamp("2016-11-06 05:10", tz="UTC")]
    est = raw[pd.Timestamp("2016-11-06 06:00", tz="UTC"):pd.Timestamp("2016-11-06 06:10", tz="UTC")]
    assert nov6[4] == pytest.approx((edt.mean() + est.mean()) / 2)
    assert q["values_repaired"]["dst_repeated_hour_steps_averaged"] == 4


def test_weather_daily_linear_and_no_dst(nsrdb):
    df, _ = nsrdb
    one = df[df["timestamp_local"].dt.year == 2013]
    out, q = _daily(one, ["ghi_w_per_m2", "temp_air_c"], 30, "linear")
    assert len(out) == 365 and q["days_dropped"]["incomplete"] == 0
    t = daily_matrix(out, "temp_air_c")[0]
    raw = one["temp_air_c"].to_numpy()
    assert t[0] == raw[0] and t[2] == raw[1] and t[1] == pytest.approx((raw[0] + raw[1]) / 2)
    # the last step (23:45) has no next sample in this slice: the 23:30 sample holds over its interval
    assert daily_matrix(out, "temp_air_c")[-1, -1] == raw[-1]
    assert q["values_repaired"].get("dst_repeated_hour_steps_averaged", 0) == 0


def test_incomplete_day_dropped_and_counted():
    ts = pd.date_range("2020-01-01", "2020-01-03 23:00", freq="h", tz="America/New_York")
    df = pd.DataFrame({"timestamp_local": ts, "x": np.arange(len(ts), dtype=float)})
    df = df.drop(index=range(30, 33))  # a 3-hour hole on day 2 (12 steps > max_gap_steps)
    out, q = _daily(df, ["x"], 60, "hold")
    assert list(out["date"]) == [pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-03")]
    assert q["days_dropped"]["incomplete"] == 1
    short = pd.DataFrame({"timestamp_local": ts, "x": 1.0}).drop(index=[30])  # a 1-hour hole: bridged
    out2, q2 = _daily(short, ["x"], 60, "hold")
    assert len(out2) == 3 and q2["values_repaired"]["gap_steps_interpolated"] == 4


def test_step_minutes_parameter_changes_columns():
    ts = pd.date_range("2020-06-01", periods=48, freq="h", tz="UTC")
    df = pd.DataFrame({"timestamp_local": ts, "x": 1.0})
    out, _ = _daily(df, ["x"], 60, "hold", step=30)
    assert daily_matrix(out, "x").shape == (2, 48) and "x_t047" in out.columns
    with pytest.raises(ValueError, match="does not divide a day"):
        to_step_grid(df["timestamp_local"], df[["x"]], step_minutes=7, native_minutes=60)


def test_daily_matrix_unknown_channel():
    df = pd.DataFrame({"date": [pd.Timestamp("2020-01-01")], "a_t000": [1.0], "a_t001": [2.0]})
    assert daily_matrix(df, "a").tolist() == [[1.0, 2.0]]
    with pytest.raises(KeyError, match="channel 'b' not in daily matrix; channels: \\['a'\\]"):
        daily_matrix(df, "b")

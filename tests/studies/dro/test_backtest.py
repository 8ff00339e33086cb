"""Backtest study helpers (Kedro-free): the plan's date rules on synthetic daily records, the calendar
window, the paired differences (same numbers as the dro study's paired comparison) and the config errors."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from evgrid.scenarios.split import SplitConfig
from evgrid.studies.dro import backtest as bt
from evgrid.studies.dro.config import DroConfig
from evgrid.studies.dro.evaluate import paired_vs
from evgrid.studies.dro.scenarios import ScenarioInputError


def _wide(dates, channels: dict[str, float], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = pd.DatetimeIndex(dates)
    out = pd.DataFrame({"date": d, "month": d.month, "day_of_week": d.dayofweek, "is_weekend": d.dayofweek >= 5})
    cols = {f"{ch}_t{i:03d}": scale * (1 + 0.2 * rng.random(len(d))) for ch, scale in channels.items()
            for i in range(96)}
    return pd.concat([out, pd.DataFrame(cols)], axis=1)


@pytest.fixture(scope="module")
def records():
    """Traffic 2014-2016, weather 2013-2016 (overlap 2014-2016), prices 2019-2020, load 2016."""
    return {
        "traffic_daily": _wide(pd.date_range("2014-01-01", "2016-12-31"), {"flow_veh_per_h": 4000.0}, 1),
        "weather_daily": _wide(pd.date_range("2013-01-01", "2016-12-31"),
                               {"ghi_w_per_m2": 300.0, "temp_air_c": 15.0, "wind_speed_m_per_s": 1.0}, 2),
        "price_daily": _wide(pd.date_range("2019-01-01", "2020-05-31"), {"lbmp_usd_per_mwh": 30.0}, 3),
        "load_daily": _wide(pd.date_range("2016-01-01", "2016-12-31"), {"load_mw": 5000.0}, 4),
    }


PV_SYSTEM = yaml.safe_load((Path(__file__).resolve().parents[3] / "conf/base/parameters_pv.yml").read_text())[
    "pv_system"]
SPLIT = SplitConfig(test_start={"traffic_daily": "2016-06-01", "weather_daily": "2016-03-01",
                                "price_daily": "2020-03-01", "load_daily": "2016-09-01"})


def _plan(records, dro_params, **kw):
    cfg = bt.BacktestConfig.from_params({"n_days": 4, "n_train_days": 8, **kw})
    return bt.plan_backtest(records["traffic_daily"], records["weather_daily"], records["price_daily"],
                            records["load_daily"], DroConfig.from_params(dro_params), cfg, SPLIT, PV_SYSTEM)


def test_plan_takes_the_first_held_out_days_and_conditions_on_their_calendar(records, dro_params):
    plan, dates, info = _plan(records, dro_params)
    days = [t["date"] for t in plan["tasks"]]
    # on/after BOTH cut-offs (traffic 2016-06-01 is later), weekdays only, consecutive
    assert days == ["2016-06-01", "2016-06-02", "2016-06-03", "2016-06-06"]
    for t in plan["tasks"]:
        train = pd.to_datetime(t["train_dates"])
        assert len(train) == 8 and (train < pd.Timestamp("2016-03-01")).all()  # before the earlier cut-off
        assert set(train.month) <= {5, 6, 7} and (train.dayofweek < 5).all()  # June +- 1 month, weekdays
        assert pd.Timestamp(t["test_price_date"]) >= pd.Timestamp("2020-03-01")  # held-out side of prices
        assert (pd.to_datetime(t["train_price_dates"]) < pd.Timestamp("2020-03-01")).all()
        assert (pd.to_datetime(t["load_dates"]) < pd.Timestamp("2016-09-01")).all()
        assert t["test"]["flow_veh_per_h"].shape == (1, 96) and t["train"]["pv_kw_per_kwp"].shape == (8, 96)
    # no June test price day exists (prices end May 2020): a held-out weekday of another month is used
    assert info["test_price_same_month"] == 0
    assert (dates.loc[dates["set"] == "reference", "date"] < pd.Timestamp("2020-03-01")).all()
    # draws come from the date's key: the same date gets the same days whatever else is planned
    later, _, _ = _plan(records, dro_params, start_date="2016-06-02", n_days=1)
    assert later["tasks"][0]["train_dates"] == plan["tasks"][1]["train_dates"]


def test_plan_errors_name_the_parameter(records, dro_params):
    with pytest.raises(ScenarioInputError, match="backtest.start_date"):
        _plan(records, dro_params, start_date="2030-01-01")
    # December training days: one weekend day left (2015-12-05) -> fewer than the atoms for 2016-12-03
    tr = records["traffic_daily"]
    sparse = {**records, "traffic_daily": tr[(tr["month"] != 12) | (tr["date"] == "2015-12-05")
                                             | (tr["date"] >= "2016-06-01")]}
    with pytest.raises(ScenarioInputError, match="backtest.month_window"):
        _plan(sparse, dro_params, weekend=True, month_window=0, start_date="2016-12-03")


def test_month_window_wraps_around_the_year():
    months = np.arange(1, 13)
    assert list(months[bt._in_window(months, 1, 1)]) == [1, 2, 12]
    assert list(months[bt._in_window(months, 12, 2)]) == [1, 2, 10, 11, 12]
    assert bt._in_window(months, 7, 6).all()


def test_paired_difference_is_the_dro_studys_paired_comparison():
    rng = np.random.default_rng(0)
    base = rng.normal(15000, 800, 20)
    other = base + rng.normal(-50, 30, 20)
    got = bt.paired_difference(other, base, 0.95, 4000, seed=1)
    summary = pd.DataFrame({"method": ["dro"] * 20 + ["saa"] * 20, "test_set": "real",
                            "total_cost_usd": np.concatenate([other, base])})
    ref = paired_vs(pd.DataFrame({"method": ["dro"], "test_set": ["real"]}), summary, "saa").iloc[0]
    assert got["mean_diff_usd"] == pytest.approx(ref["diff_vs_saa_usd"])
    assert got["t_ci_lo_usd"] == pytest.approx(ref["diff_vs_saa_ci_lo_usd"])
    assert got["t_ci_hi_usd"] == pytest.approx(ref["diff_vs_saa_ci_hi_usd"])
    # the percentile bootstrap of the mean agrees with the t interval to within a few dollars here
    assert got["boot_ci_lo_usd"] == pytest.approx(got["t_ci_lo_usd"], abs=8)
    assert got["boot_ci_hi_usd"] == pytest.approx(got["t_ci_hi_usd"], abs=8)
    assert got == bt.paired_difference(other, base, 0.95, 4000, seed=1)  # seeded


@pytest.mark.parametrize("bad, match", [({"n_train_days": 1}, "n_train_days"), ({"weekend": "no"}, "weekend"),
                                        ({"start_date": "June"}, "start_date"), ({"confidence": 1.0}, "confidence"),
                                        ({"radius": -0.1}, "radius")])
def test_config_rejects_bad_values_naming_the_parameter(bad, match):
    with pytest.raises(ValueError, match=rf"backtest.*{match}"):
        bt.BacktestConfig.from_params(bad)

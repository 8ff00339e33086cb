"""In-motion DWPT load simulation (paper 002 II-A)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evgrid.ev.inmotion import InMotionParams, inmotion_load_profile, interval_load_kw, simulate_ev_fleet

RAW = Path(__file__).resolve().parents[2] / "data" / "01_raw" / "traffic" / "Metro_Interstate_Traffic_Volume_2012-2017.csv"


@pytest.fixture(scope="module")
def i94_day() -> np.ndarray:
    df = pd.read_csv(RAW, usecols=["date_time", "traffic_volume"], parse_dates=["date_time"])
    day = df[df["date_time"].dt.normalize() == "2016-08-01"].drop_duplicates("date_time")
    assert len(day) == 24
    return day["traffic_volume"].to_numpy(float)


def test_same_seed_same_load_other_seed_differs(i94_day):
    p = InMotionParams()
    a, _ = inmotion_load_profile(i94_day, p, seed=7)
    b, _ = inmotion_load_profile(i94_day, p, seed=7)
    c, _ = inmotion_load_profile(i94_day, p, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_energy_is_conserved_and_soc_target_respected(i94_day):
    p = InMotionParams(pad_power_kw=60.0, transfer_efficiency=0.9)
    load, fleet = inmotion_load_profile(i94_day, p, seed=1)
    inside = fleet["charge_end_h"] <= 24
    # hourly bins of 1 h: sum of kW = kWh of every interval ending before midnight (+ truncated rest)
    assert load.sum() == pytest.approx(fleet.loc[inside, "energy_kwh"].sum()
                                       + (24 - fleet.loc[~inside, "charge_start_h"]).clip(lower=0).sum() * 60.0)
    soc_end = fleet["soc_initial"] + fleet["energy_kwh"] * 0.9 / p.battery_kwh
    assert soc_end.max() <= p.soc_target + 1e-9
    on_road = p.road_length_miles / fleet["speed_mph"]
    assert ((fleet["charge_end_h"] - fleet["charge_start_h"]) <= on_road + 1e-12).all()
    assert fleet["speed_mph"].between(50, 60).all() and fleet["soc_initial"].between(0.3, 0.6).all()


def test_ev_count_follows_share(i94_day):
    fleet = simulate_ev_fleet(i94_day, InMotionParams(), seed=3)
    expected = np.rint(i94_day).sum() * 0.10
    assert abs(len(fleet) - expected) < 4 * np.sqrt(expected)


def test_peak_close_to_paper_on_i94(i94_day):
    """25 kW pads on the real I-94 day give a peak of the paper's magnitude (2.74 MW)."""
    load, _ = inmotion_load_profile(i94_day, InMotionParams(pad_power_kw=25.0), seed=42)
    assert 2.74e3 * 0.85 < load.max() < 2.74e3 * 1.15
    assert 15 <= int(np.argmax(load)) <= 17  # I-94 westbound peaks in the afternoon rush


def test_interval_load_exact_overlap():
    load = interval_load_kw(np.array([0.5, 23.5]), np.array([1.5, 25.0]), 10.0, n_bins=24)
    assert load[0] == pytest.approx(5.0) and load[1] == pytest.approx(5.0) and load[23] == pytest.approx(5.0)
    assert load.sum() == pytest.approx(15.0)


def test_zero_traffic_zero_load():
    load, fleet = inmotion_load_profile(np.zeros(96), InMotionParams(), seed=0)
    assert len(fleet) == 0 and not load.any()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="bad steps: \\[2\\]"):
        simulate_ev_fleet(np.array([1.0, 2.0, -1.0]), InMotionParams(), seed=0)
    with pytest.raises(ValueError, match="ev_share"):
        InMotionParams(ev_share=1.5)



def test_load_from_long_scenarios_is_per_scenario_reproducible(i94_day):
    from evgrid.ev.inmotion import inmotion_load_from_scenarios

    long = pd.concat([pd.DataFrame({"scenario_id": s, "step": np.arange(96), "variable": "flow_veh_per_h",
                                    "value": np.repeat(i94_day, 4) * f, "unit": "veh/h"})
                      for s, f in ((0, 1.0), (1, 0.5), (2, 0.0))])
    out = inmotion_load_from_scenarios(long, InMotionParams(), seed=5)
    peaks = out.groupby("scenario_id")["ev_kw"].max()
    assert peaks[2] == 0 and 0.35 < peaks[1] / peaks[0] < 0.65  # load scales with traffic
    alone = inmotion_load_from_scenarios(long[long["scenario_id"] == 1], InMotionParams(), seed=5)
    np.testing.assert_array_equal(alone["ev_kw"], out.loc[out["scenario_id"] == 1, "ev_kw"])
    with pytest.raises(ValueError, match="lack columns \\['value'\\]"):
        inmotion_load_from_scenarios(long.drop(columns="value"), InMotionParams(), seed=5)

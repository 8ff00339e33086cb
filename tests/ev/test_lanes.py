"""Lane demand from traffic (paper 000 eqs. 15, 17, 23) and the driver value of lane energy."""

import numpy as np
import pytest

from evgrid.ev.lanes import (
    annualised_cost_per_day,
    driver_savings_usd_per_km,
    lane_demand_kw,
    lanes_from_params,
    served_value_usd_per_kwh,
)

LANES = [
    {"name": "L1", "bus": 6, "length_km": 5.0, "rating_kw": 500.0, "flow_share": 0.25, "speed_km_per_h": 100.0},
    {"name": "L2", "bus": 13, "length_km": 2.0, "rating_kw": 500.0, "flow_share": 0.5, "speed_km_per_h": 80.0},
]
KW = dict(ev_share=0.3, max_rate_per_ev_kw=20.0, capacity_veh_per_h=2000.0, rho_free=0.8, rho_max=1.2)


def test_evs_on_lane_is_flow_times_length_over_speed():
    lanes = lanes_from_params(LANES)
    out = lane_demand_kw(np.array([[1200.0, 400.0]]), lanes, **KW)
    # L1: 0.3 * 1200*0.25 * 5 / 100 = 4.5 EVs; L2: 0.3 * 600 * 2 / 80 = 4.5 EVs
    np.testing.assert_allclose(out["evs_on_lane"][0, :, 0], [4.5, 4.5])
    np.testing.assert_allclose(out["demand_kw"][0, :, 0], [90.0, 90.0])  # 4.5 EVs x 20 kW, below rating
    assert out["demand_kw"].shape == (1, 2, 2)


def test_demand_capped_by_rating_and_derated_by_congestion():
    lanes = lanes_from_params([{**LANES[0], "flow_share": 1.0}])
    flows = np.array([1000.0, 1600.0, 2000.0, 2400.0, 3000.0])  # rho = 0.5, 0.8, 1.0, 1.2, 1.5
    out = lane_demand_kw(flows, lanes, **KW)
    np.testing.assert_allclose(out["derate"][0], [1.0, 1.0, 0.5, 0.0, 0.0])
    # uncapped demand 0.3*F*5/100*20 = 0.3*F kW: 300, 480, 600 -> capped at 500*0.5 = 250, then 0
    np.testing.assert_allclose(out["demand_kw"][0], [300.0, 480.0, 250.0, 0.0, 0.0])
    assert np.all(out["demand_kw"] <= lanes.rating_kw[:, None] + 1e-9)


def test_lane_on_unknown_bus_is_rejected_with_its_name():
    with pytest.raises(ValueError, match=r"lanes.*\['L2'\].*\[99\]"):
        lanes_from_params([LANES[0], {**LANES[1], "bus": 99}], known_buses=range(1, 34))


@pytest.mark.parametrize("bad", [{"length_km": 0.0}, {"rating_kw": -5.0}, {"flow_share": 1.5}])
def test_bad_lane_values_are_rejected(bad):
    with pytest.raises(ValueError, match="parameter 'lanes'"):
        lanes_from_params([{**LANES[0], **bad}])


def test_negative_flow_is_rejected():
    with pytest.raises(ValueError, match="flow_veh_per_h"):
        lane_demand_kw(np.array([100.0, -1.0]), lanes_from_params(LANES), **KW)


def test_driver_value_and_savings_follow_the_paper_figures():
    # paper section 5: saving 0.10 $/km vs static charging, 0.18 kWh/km
    assert served_value_usd_per_kwh(0.10, 0.18) == pytest.approx(0.5556, abs=1e-4)
    # 18 kWh delivered over 100 EV-km replaces 100 km of range -> 0.10 $/km
    assert driver_savings_usd_per_km(18.0, 100.0, 0.10, 0.18) == pytest.approx(0.10)
    # capital recovery of 100,000 $/km over 20 years at 0 % is 5,000 $/km/yr
    assert annualised_cost_per_day(100_000.0, 0.0, 20) * 365 == pytest.approx(5000.0)

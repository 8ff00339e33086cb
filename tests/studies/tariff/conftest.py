"""A small coupled system (3-node road, 2 stations, a two-bus feeder) that solves in about a second."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from evgrid.grid.network import make_network
from evgrid.studies.tariff.config import TariffConfig
from evgrid.studies.tariff.system import assemble_system

N_STEPS = 8

BASE_PARAMS = {
    "horizon_h": N_STEPS,
    "dt_h": 1.0,
    "travel_cost_usd_per_veh_h": 14.1,
    "price_sensitivity_usd_per_kwh_per_kw": 2e-4,
    "w_sensitivity_usd_per_veh_h": [],
    "energy_price": {"zone": "N.Y.C.", "adder_usd_per_kwh": 0.0},
    "transport": {
        "speed_km_per_h": 20.0,
        "demand_scale": 1.0,
        "max_detour_h": 4.0,
        # O -> F1 -> D takes 2 h, O -> F2 -> D 3 h: F1 is the natural choice
        "links": [["O", "F1", 100, 1], ["F1", "D", 100, 1], ["O", "F2", 100, 1], ["F2", "D", 100, 2]],
        "od": [{"name": "O-D", "origin": "O", "destination": "D", "evs": 40, "initial_soc_aggregate": 8}],
        "departure_profile": [0.25, 0.25, 0.25, 0.25, 0, 0, 0, 0],
    },
    "fleet": {"battery_kwh": 60.0, "soc_min": 0.1, "soc_max": 0.9, "consumption_kwh_per_km": 0.2,
              "charge_kw": 50.0, "discharge_kw": 0.0, "efficiency": 0.95},
    "stations": {"F1": {"feeder_bus": 1, "line_limit_kw": 15.0, "plugs": 100},
                 "F2": {"feeder_bus": 1, "line_limit_kw": None, "plugs": 100}},
    "feeder": {"case_path": "data/01_raw/grids/case17me.m", "station_line_r_pu": 0.001, "station_line_x_pu": 0.001,
               "load_scale": 1.0, "station_aux_load_kw": 2.0, "load_profile": "flat",
               "pv_kwp": {"F1": 10.0}, "wind_kw": {}, "wind_availability": [0.3] * N_STEPS,
               "pv_performance_ratio": 0.8},
    "uncertainty": {"set": "box", "perturbation_pct": 10, "gamma_robust": 1.0, "gamma_sweep": [0.0, 0.5, 1.0],
                    "perturbation_sweep_pct": [10], "budget_gamma_per_hour": 1.0, "xi_source": "percent",
                    "coverage": 0.9, "wind_perturbation_pct": 10.0},
    "aggregators": {"grouping": "station", "max_iterations": 3, "step_usd_per_kwh_per_kw": 0.0005,
                    "tolerance_pct": 1.0, "od_price_coupling": True, "damping": 1.0},
    "out_of_sample": {"n_box_samples": 20, "seed": 1, "months": [6, 7, 8], "forecast_days_before": "2016-07-01",
                      "pv_year": 2016, "curtailment_cost_usd_per_kwh": 1.0, "ci_level": 0.95,
                      "target_violation_risk": 0.1},
    "solver": {"time_limit_s": 30, "threads": 1, "qp_solver": "clarabel"},
}


def two_bus_feeder():
    buses = pd.DataFrame({"p_load_kw": [0.0, 50.0], "q_load_kvar": [0.0, 10.0], "v_min_pu": [1.0, 0.9],
                          "v_max_pu": [1.0, 1.1]}, index=[1, 2])
    branches = pd.DataFrame({"from_bus": [1], "to_bus": [2], "r_pu": [0.001], "x_pu": [0.001]})
    return make_network("two_bus", 12.66, 1.0, buses, branches, slack_bus=1)


def make_system(**overrides):
    params = copy.deepcopy(BASE_PARAMS)
    for path, value in overrides.items():
        d = params
        keys = path.split(".")
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    cfg = TariffConfig.from_params(params)
    days = pd.to_datetime(["2016-07-01", "2016-07-02"])
    prof = {
        "load_profile": np.ones(N_STEPS),
        "pv_per_kwp": np.array([0, 0.2, 0.5, 0.7, 0.7, 0.5, 0.2, 0]),
        "heldout_load_multiplier": pd.DataFrame(np.ones((2, N_STEPS)) * [[1.05], [0.95]], index=days),
        "heldout_pv_per_kwp": pd.DataFrame(np.full((2, N_STEPS), 0.3), index=days),
    }
    # forecast errors of 20 training days (June) and the 2 held-out days: load +-5..15 %, PV +-0..0.3 kW/kWp
    rng = np.random.default_rng(7)
    all_days = pd.date_range("2016-06-11", periods=20).append(days)
    prof["load_error_rel"] = pd.DataFrame(rng.uniform(-0.15, 0.15, (22, N_STEPS)), index=all_days)
    prof["pv_error_per_kwp"] = pd.DataFrame(rng.uniform(-0.3, 0.3, (22, N_STEPS)) * (prof["pv_per_kwp"] > 0),
                                            index=all_days)
    prof["train_days"] = all_days[all_days < pd.Timestamp("2016-07-01")]
    return assemble_system(cfg, two_bus_feeder(), prof, np.linspace(0.05, 0.12, N_STEPS))


@pytest.fixture(scope="module")
def small_system():
    return make_system()

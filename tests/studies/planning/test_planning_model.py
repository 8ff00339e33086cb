"""Planning study: SOCP OPF exactness and prices, fixed point, social cost, bad inputs."""

import numpy as np
import pandas as pd
import pytest

from evgrid.grid.ac_validation import validate_schedule_ac
from evgrid.studies.planning.config import PlanningConfig, PlanningConfigError
from evgrid.studies.planning.model import build_branch_flow, check_budget, evaluate_plan, solve_opf
from evgrid.studies.planning.system import build_system

from .conftest import daily_inputs, small_params


def test_socp_is_exact_on_the_base_case_and_matches_ac(system):
    g = system.grid
    opf = solve_opf(build_branch_flow(g), g.buses.p_load_kw, g.buses.q_load_kvar, 0.1)
    assert opf.relaxation_gap_rel < 1e-4  # v_i l = P^2 + Q^2 at the optimum: relaxation exact
    p = pd.DataFrame([g.buses.p_load_kw.to_numpy()], index=[0], columns=g.buses.index)
    q = pd.DataFrame([g.buses.q_load_kvar.to_numpy()], index=[0], columns=g.buses.index)
    rep = validate_schedule_ac(g, p, q)
    v_ac = rep.v_ac_pu.iloc[0]
    assert np.max(np.abs(v_ac.loc[opf.v_pu.index].to_numpy() - opf.v_pu.to_numpy())) < 1e-3
    assert opf.loss_kw == pytest.approx(rep.steps["loss_kw"].iloc[0], rel=2e-3)
    # nodal prices carry marginal losses: above the import price, highest at the far end of the feeder
    assert (opf.lmp_usd_per_mwh.drop(g.slack_bus) > 100.0).all()
    assert opf.lmp_usd_per_mwh.idxmax() in (17, 18, 32, 33)


def test_fixed_point_converges_and_costs_are_consistent(system):
    ev = evaluate_plan(system, np.full(system.n_stations, 235.0))
    tol = system.config.fixed_point.tol_usd_per_mwh
    for pr in ev.periods:
        assert pr.residual_usd_per_mwh <= tol
        assert pr.ue_gap <= system.config.traffic.rel_gap
        assert pr.opf.relaxation_gap_rel < 1e-3
        # station loads = charging flow x energy per charge, and every charging EV is counted once
        np.testing.assert_allclose(pr.station_kw, pr.station_flow_veh_per_h * 30.0)
    charging = sum(pr.station_flow_veh_per_h.sum() for pr in ev.periods if pr.period == "night")
    tc = system.config.traffic
    expected = system.trips.to_numpy().sum() * system.periods.loc["night", "demand_factor"] * tc.ev_share * tc.charging_trip_share
    assert charging == pytest.approx(expected, rel=1e-9)
    assert ev.total_usd_per_day == pytest.approx(ev.travel_time_usd + ev.energy_usd + ev.investment_usd + ev.grid_usd)
    assert ev.revenue_ok


def test_bigger_stations_cut_charging_time(system):
    small = evaluate_plan(system, np.full(system.n_stations, 120.0))
    big = evaluate_plan(system, np.full(system.n_stations, 350.0))
    assert big.travel_time_usd < small.travel_time_usd
    assert big.investment_usd > small.investment_usd


def test_bad_inputs_name_the_parameter():
    t, lo = daily_inputs()
    p = small_params()
    p["stations"][2]["term_node"] = 99
    with pytest.raises(PlanningConfigError, match=r"planning.stations\[2\].*unknown link 19->99"):
        build_system(PlanningConfig.from_params(p), t, lo)
    p = small_params()
    p["stations"][0]["bus"] = 77
    with pytest.raises(PlanningConfigError, match=r"planning.stations\[0\].*unknown bus 77"):
        build_system(PlanningConfig.from_params(p), t, lo)
    p = small_params(budget_usd=1.0e5)
    with pytest.raises(PlanningConfigError, match=r"planning.upper.budget_usd.*infeasible"):
        check_budget(build_system(PlanningConfig.from_params(p), t, lo))
    p = small_params()
    p["traffic"]["ev_shares"] = 0.2
    with pytest.raises(PlanningConfigError, match=r"planning.traffic.ev_shares"):
        PlanningConfig.from_params(p)
    p = small_params(p_min_kw=400.0)
    with pytest.raises(PlanningConfigError, match=r"p_max_kw"):
        PlanningConfig.from_params(p)


def test_infeasible_opf_names_period_buses_and_constraints(system):
    import copy

    from evgrid.optim.solver import InfeasibleModelError

    heavy = copy.copy(system)
    heavy.config = copy.deepcopy(system.config)
    heavy.config.traffic.charging_trip_share = 0.02  # ~13x the default: several MW per station
    with pytest.raises(InfeasibleModelError, match=r"period 'night'.*S1 \(bus 3\) \d+ kW.*voltage limits.*\[bus \d+\]"):
        evaluate_plan(heavy, np.full(system.n_stations, 350.0))

"""Planning study: SOCP OPF exactness and prices, fixed point, social cost, parameter checks, the searches."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from evgrid.grid.ac_validation import validate_schedule_ac
from evgrid.optim.branchflow import build_branch_flow
from evgrid.runtime.validation import ConfigError
from evgrid.studies.planning.config import PlanningConfig, PlanningConfigError, validate_params
from evgrid.studies.planning.model import evaluate_plan, objective
from evgrid.studies.planning.opf import solve_opf
from evgrid.studies.planning.runs import run_planning
from evgrid.studies.planning.search import Space
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
    b = ev.breakdown  # the time components add up to the travel-time cost
    assert b["icev_time_usd"] + b["ev_time_usd"] + b["ev_charging_travel_usd"] + b["charging_queue_usd"] == \
        pytest.approx(ev.travel_time_usd)
    assert ev.revenue_ok


def test_bigger_stations_cut_charging_time(system):
    small = evaluate_plan(system, np.full(system.n_stations, 120.0))
    big = evaluate_plan(system, np.full(system.n_stations, 350.0))
    assert big.breakdown["charging_queue_usd"] < 0.6 * small.breakdown["charging_queue_usd"]
    assert big.travel_time_usd < small.travel_time_usd
    assert big.investment_usd > small.investment_usd


def test_validate_params_lists_every_problem_by_path():
    p = small_params()
    p["traffic"]["ev_shares"] = 0.2                     # unknown key, nested
    p["upper"]["n_evaluations"] = "many"                # wrong type
    p["cases"]["ring"]["network"]["radius_km"] = -1.0   # out of range, two levels down
    del p["cases"]["ring"]["v_min_pu"]                  # missing
    with pytest.raises(ConfigError) as err:
        validate_params(p)
    paths = {path for path, _ in err.value.problems}
    assert {"planning.traffic.ev_shares", "planning.upper.n_evaluations", "planning.cases.ring.network.radius_km",
            "planning.cases.ring.v_min_pu"} <= paths
    p = small_params()
    p["upper"]["levels_kw"] = [350.0, 120.0]
    with pytest.raises(ConfigError, match=r"planning.upper.levels_kw: must be strictly increasing"):
        validate_params(p)
    validate_params(small_params())  # the shipped parameters pass


def test_bad_inputs_name_the_parameter():
    t, lo = daily_inputs()
    p = small_params()
    p["cases"]["ring"]["stations"][2]["term_node"] = 99
    with pytest.raises(PlanningConfigError, match=r"planning.cases.ring.stations\[2\].*unknown link 2->99"):
        build_system(PlanningConfig.from_params(p), t, lo)
    p = small_params()
    p["cases"]["ring"]["stations"][0]["bus"] = 77
    with pytest.raises(PlanningConfigError, match=r"planning.cases.ring.stations\[0\].*unknown bus 77"):
        build_system(PlanningConfig.from_params(p), t, lo)
    p = small_params(budget_usd=1.0e5)
    with pytest.raises(PlanningConfigError, match=r"planning.upper.budget_usd.*admits no plan"):
        Space(build_system(PlanningConfig.from_params(p), t, lo))


def test_infeasible_opf_names_period_buses_and_constraints(system):
    from evgrid.optim.solver import InfeasibleModelError

    cfg = system.config
    heavy = dataclasses.replace(system, config=dataclasses.replace(
        cfg, traffic=dataclasses.replace(cfg.traffic, charging_trip_share=1.0)))  # 40x the default: ~6 MW per station
    with pytest.raises(InfeasibleModelError, match=r"period '\w+'.*S1 \(bus 24\) \d+ kW.*voltage limits.*\[bus \d+\]"):
        evaluate_plan(heavy, np.full(system.n_stations, 350.0))


def test_searches_are_deterministic_and_the_surrogate_ties_or_beats_uniform(system):
    a = run_planning(system, "sync")
    b = run_planning(system, "sync")
    for key, sr in a["searches"].items():
        assert len(sr.objectives) == system.config.upper.n_evaluations  # same number of exact evaluations
        assert sr.objectives == b["searches"][key].objectives  # same numbers twice, to the bit
    for seed in a["seeds"]:
        sur, rnd = a["searches"][("surrogate_gp", seed)], a["searches"][("random", seed)]
        # the best uniform plan from the capacity set within budget is no cheaper than the surrogate's plan
        space = Space(system)
        uni = evaluate_plan(system, space.kw(space.uniform_start()))
        assert sur.best_objective <= objective(system, uni) + 1e-6
        assert sur.best_objective <= max(rnd.objectives)  # and it never ends above the worst random plan
        assert set(np.unique(sur.best_plan)) <= set(system.config.upper.levels_kw)
    assert len(a["landscape"]) == system.n_stations * (len(system.config.upper.levels_kw) - 1)


def test_v2g_socp_without_v2g_is_the_sum_of_the_periods_and_v2g_keeps_energy_neutral(system):
    from evgrid.studies.planning.lower import bus_loads
    from evgrid.studies.planning.opf import solve_v2g_opf

    per, cfg = system.periods, system.config
    loads = [bus_loads(system, p, np.zeros(system.n_stations)) for p in per.index]
    D, price = per["duration_h"].to_numpy(), per["tou_usd_per_kwh"].to_numpy()
    T, S = len(per), system.n_stations
    bus = system.stations["bus"].to_numpy()

    def v2g(limit_kw):
        return solve_v2g_opf(system.opf, loads, price, D, bus, limit_kw, cfg.v2g.efficiency,
                             cfg.v2g.degradation_usd_per_kwh, cfg.solver.options())

    none = v2g(np.zeros((T, S)))
    single = [solve_opf(system.opf, p, q, c, cfg.solver.options()) for (p, q), c in zip(loads, price, strict=True)]
    assert none["cost_usd"] == pytest.approx(sum(d * o.cost_usd_per_h for d, o in zip(D, single, strict=True)), rel=1e-6)
    for t, o in enumerate(single):  # period t's nodal prices are the single-period ones ($/MWh)
        np.testing.assert_allclose(none["lmp_usd_per_mwh"][t], o.lmp_usd_per_mwh.to_numpy(), rtol=1e-4)
        assert none["import_kw"][t] == pytest.approx(o.import_kw, rel=1e-6)
    limit = np.full((T, S), 200.0)
    out = v2g(limit)
    assert out["cost_usd"] < none["cost_usd"]
    c, d = out["charge_kw"], out["discharge_kw"]
    assert (c >= -1e-4).all() and (d >= -1e-4).all() and (c <= limit + 1e-4).all() and (d <= limit + 1e-4).all()
    # cheap night (0.041 $/kWh) vs day (0.14): charge at the limit at night, discharge by day
    cheap, dear = int(np.argmin(price)), int(np.argmax(price))
    np.testing.assert_allclose(c[cheap], limit[cheap], rtol=1e-6)
    assert (d[dear] > 1.0).all()
    eta = cfg.v2g.efficiency
    np.testing.assert_allclose(D @ (eta * c - d / eta), 0.0, atol=1e-5)

"""DWPT MILP (paper 002 II-C) on the IEEE 33-bus feeder: invariants of the solved schedules."""


import numpy as np
import pyomo.environ as pyo
import pytest

from evgrid.der.battery import BatteryParams, size_battery
from evgrid.grid.matpower import load_matpower_case
from evgrid.optim.lindistflow import LinDistFlowOptions, loads_from_profile
from evgrid.optim.solver import solve
from evgrid.studies.dwpt.model import (
    DGUnit,
    DwptCase,
    DwptDay,
    MarketParams,
    build_dwpt_model,
    extract_results,
    run_cases,
    split_der_power,
)
from tests.grid.helpers import CASE33

HOURS = np.arange(24)
# a summer-like day: load profile (p.u. of peak), EV load (kW), PV (kW), price ($/MWh)
PROFILE = 0.65 + 0.35 * np.exp(-((HOURS - 17) / 5.0) ** 2)
EV_KW = 300 + 2400 * np.exp(-((HOURS - 16) / 4.0) ** 2)
PV_KW = np.clip(5000 * np.sin(np.pi * (HOURS - 6) / 14), 0, None)
PRICE = 60 + 70 * np.exp(-((HOURS - 16) / 4.0) ** 2)
DGS = [DGUnit("DG1", 14, 3000, 210, 2100, -2100, 90), DGUnit("DG2", 8, 2000, 190, 1900, -1900, 90),
       DGUnit("DG3", 22, 2000, 190, 1900, -1900, 90), DGUnit("DG4", 30, 3000, 220, 2200, -2200, 90),
       DGUnit("DG5", 25, 3000, 220, 2200, -2200, 90)]
PF = LinDistFlowOptions(thermal_sides=0)
SOLVER = {"mip_gap": 1e-4, "threads": 1, "time_limit_s": 60, "require_optimal": True}


@pytest.fixture(scope="module")
def network():
    return load_matpower_case(CASE33)


@pytest.fixture(scope="module")
def day(network):
    p, q = loads_from_profile(network, PROFILE * 4.0)
    cap, power = size_battery(PV_KW, EV_KW, 1.0, 0.95)
    batt = BatteryParams(capacity_kwh=cap, power_kw=power)
    return DwptDay(1.0, p, q, EV_KW, PV_KW, PRICE, 10, batt)


def _solve(network, day, case, dgs=DGS, market=MarketParams()):
    built = build_dwpt_model(network, day, case, dgs, market, PF)
    res = solve(built.model, SOLVER)
    return built, res, extract_results(built, case, dgs, day, built.pf.voltage_pu())


@pytest.fixture(scope="module")
def normal(network, day):
    cases = [DwptCase("no_der", ev=True), DwptCase("pv", ev=True, pv=True),
             DwptCase("pv_bss", ev=True, pv=True, battery=True)]
    return {c.name: _solve(network, day, c) for c in cases}


def test_every_case_is_a_proven_optimum(normal):
    for _, res, _ in normal.values():
        assert res.status == "optimal"
        assert res.mip_gap is None or res.mip_gap <= 1e-4


def test_energy_balance_at_every_bus_and_hour(network, day, normal):
    """Kirchhoff at each bus: DG + PV + battery + import + shedding - load = net branch outflow."""
    built, _, r = normal["pv_bss"]
    flows = built.pf.flows_kw()
    br = network.branches.loc[flows.columns]
    out = np.zeros((24, len(network.buses)))
    pos = {b: i for i, b in enumerate(network.bus_ids)}
    for lid, row in br.iterrows():
        out[:, pos[row["from_bus"]]] += flows[lid].to_numpy()
        out[:, pos[row["to_bus"]]] -= flows[lid].to_numpy()
    inj = np.zeros_like(out)
    for g in DGS:
        inj[:, pos[g.bus]] += r.dg.loc[r.dg["dg"] == g.name, "p_kw"].to_numpy()
    bus = r.bus.pivot(index="step", columns="bus", values="shed_kw") + \
        r.bus.pivot(index="step", columns="bus", values="emergency_shed_kw")
    inj += bus[network.bus_ids].to_numpy()
    s = r.system
    inj[:, pos[10]] += s["pv_used_kw"] - s["batt_ch_kw"] + s["batt_dis_kw"]
    inj[:, pos[network.slack_bus]] += s["p_upstream_kw"]
    load = r.bus.pivot(index="step", columns="bus", values="p_load_kw")[network.bus_ids].to_numpy()
    np.testing.assert_allclose(inj - load, out, atol=1e-4)
    # the EV load is in bus 10's load
    np.testing.assert_allclose(load[:, pos[10]] - day.load_p_kw[10].to_numpy(), EV_KW, atol=1e-9)


def test_soc_bounds_and_pv_only_charging(day, normal):
    _, _, r = normal["pv_bss"]
    s = r.system
    b = day.battery
    assert s["soc_kwh"].between(b.soc_min_frac * b.capacity_kwh - 1e-6, b.soc_max_frac * b.capacity_kwh + 1e-6).all()
    charging = s["batt_ch_kw"] > 1e-6
    assert charging.any() and s["batt_dis_kw"].gt(1e-6).any()
    # never from the grid: whenever it charges, the PV used covers the EV load and the charging power
    assert (s.loc[charging, "pv_used_kw"] + 1e-6 >= s.loc[charging, "batt_ch_kw"] + s.loc[charging, "ev_load_kw"]).all()
    assert not ((s["batt_ch_kw"] > 1e-6) & (s["batt_dis_kw"] > 1e-6)).any()
    soc_prev = np.concatenate([[b.soc_initial_frac * b.capacity_kwh], s["soc_kwh"].to_numpy()[:-1]])
    np.testing.assert_allclose(s["soc_kwh"], soc_prev + 0.95 * s["batt_ch_kw"] - s["batt_dis_kw"] / 0.95, atol=1e-4)


def test_buy_and_sell_never_both_nonzero_and_within_limits(normal):
    for _, _, r in normal.values():
        s = r.system
        assert not ((s["p_buy_kw"] > 1e-6) & (s["p_sell_kw"] > 1e-6)).any()
        assert s["p_buy_kw"].max() <= 5000 + 1e-6 and s["p_sell_kw"].max() <= 5000 + 1e-6


def test_costs_order_no_der_above_pv_above_pv_battery(normal):
    cost = {k: r.costs["total_cost_usd"] for k, (_, _, r) in normal.items()}
    assert cost["no_der"] > cost["pv"] > cost["pv_bss"]
    assert cost["no_der"] == pytest.approx(sum(normal["no_der"][2].costs[k] for k in
                                               ("dg_cost_usd", "upstream_cost_usd", "shedding_cost_usd",
                                                "emergency_shedding_cost_usd")))


def test_pv_split_is_ev_first_and_complete(normal):
    s = normal["pv_bss"][2].system
    np.testing.assert_allclose(s["pv_to_ev_kw"] + s["dis_to_ev_kw"] + s["grid_to_ev_kw"], s["ev_load_kw"] - s["ev_shed_kw"],
                               atol=1e-6)
    np.testing.assert_allclose(s["pv_to_ev_kw"] + s["pv_to_conv_kw"] + s["pv_to_battery_kw"], s["pv_used_kw"], atol=1e-6)
    assert (s["pv_to_conv_kw"][s["pv_to_ev_kw"] < s["ev_load_kw"] - 1e-6] < 1e-6).all()


def test_outage_shedding_at_most_half_and_more_with_ev(network, day):
    res = {ev: _solve(network, day, DwptCase(f"o67_{ev}", ev=ev, outages=((6, 7),)))[2] for ev in (False, True)}
    for r in res.values():
        b = r.bus
        assert (b["shed_kw"] <= 0.5 * b["p_load_kw"] + 1e-6).all()
        assert r.costs["n_islands"] == 2
        assert b.loc[b["bus"].between(7, 18), "island"].eq(1).all()
    assert res[True].costs["shed_mwh"] > res[False].costs["shed_mwh"]


def test_unservable_island_reports_shedding_not_infeasibility(network, day):
    """Island 26-33 with a 0.5 MW DG (load ~3.6 MW): emergency shedding beyond 50 %, no exception."""
    dgs = [g if g.name != "DG4" else DGUnit("DG4", 30, 500, 100, 400, -400, 90) for g in DGS]
    _, res, r = _solve(network, day, DwptCase("weak_island", ev=False, outages=((6, 26),)), dgs=dgs)
    assert res.status == "optimal"
    assert r.costs["emergency_shed_mwh"] > 0
    isl = r.bus[r.bus["bus"].between(26, 33)]
    served = (isl["p_load_kw"] - isl["shed_kw"] - isl["emergency_shed_kw"]).groupby(isl["step"]).sum()
    dg4 = r.dg[r.dg["dg"] == "DG4"].set_index("step")["p_kw"]
    np.testing.assert_allclose(served.to_numpy(), dg4.to_numpy(), atol=1e-4)  # island balances on its own DG


def test_island_without_generation_is_de_energised_and_fully_shed(network, day):
    dgs = [g for g in DGS if g.name != "DG4"]
    _, res, r = _solve(network, day, DwptCase("dead_island", ev=False, outages=((6, 26),)), dgs=dgs)
    dead = r.bus[~r.bus["energised"]]
    assert set(dead["bus"]) == set(range(26, 34))
    np.testing.assert_allclose(dead["shed_kw"] + dead["emergency_shed_kw"], dead["p_load_kw"])
    assert r.costs["emergency_shedding_cost_usd"] == pytest.approx(0.0, abs=1e-6)


def test_run_cases_tables_and_bad_input(network, day):
    out = run_cases(network, day, [DwptCase("a", ev=False)], DGS, MarketParams(), PF, SOLVER)
    assert set(out) == {"system", "dg", "bus", "costs", "net_load"}
    assert len(out["net_load"]) == 24 * 33 and len(out["bus"]) == 24 * 33
    with pytest.raises(ValueError, match="unique"):
        run_cases(network, day, [DwptCase("a"), DwptCase("a")], DGS, MarketParams(), PF, SOLVER)
    with pytest.raises(ValueError, match="battery=True needs pv=True"):
        DwptCase("x", battery=True)
    with pytest.raises(ValueError, match="ev_kw needs 24"):
        DwptDay(1.0, day.load_p_kw, day.load_q_kvar, EV_KW[:5], PV_KW, PRICE, 10)
    with pytest.raises(ValueError, match="unknown buses"):
        build_dwpt_model(network, day, DwptCase("y"), [DGUnit("X", 99, 1, 0, 1, -1, 90)], MarketParams(), PF)


def test_split_der_power_priorities():
    s = split_der_power(np.array([100.0, 10.0]), np.array([20.0, 0.0]), np.array([0.0, 50.0]), np.array([50.0, 40.0]))
    np.testing.assert_allclose(s["pv_to_ev_kw"], [50, 10])
    np.testing.assert_allclose(s["pv_to_conv_kw"], [30, 0])
    np.testing.assert_allclose(s["dis_to_ev_kw"], [0, 30])
    np.testing.assert_allclose(s["dis_to_conv_kw"], [0, 20])
    np.testing.assert_allclose(s["grid_to_ev_kw"], [0, 0])


def test_model_uses_shared_lindistflow_block(network, day):
    built = build_dwpt_model(network, day, DwptCase("z", ev=False), DGS, MarketParams(), PF)
    m = built.model
    assert built.pf.block is m.grid and not hasattr(m, "pf") and not hasattr(m, "_dwpt")
    assert isinstance(m.grid, pyo.Block) and hasattr(m.grid, "balance_p")
    assert len(list(m.grid.balance_p)) == 33 * 24


def test_parallel_cases_after_highs_ran_in_the_parent_match_serial(network, day):
    """`kedro run` chains grid (HiGHS in-process) before dwpt: worker processes must still solve."""
    cases = [DwptCase("no_ev", ev=False), DwptCase("ev", ev=True)]
    # threads=2 starts HiGHS's global thread pool in this process, as the grid pipeline's solve does.
    serial = run_cases(network, day, cases, DGS, MarketParams(), PF, {**SOLVER, "threads": 2},
                       compute_settings={"scheduler": "sync"})
    parallel = run_cases(network, day, cases, DGS, MarketParams(), PF, SOLVER,
                         compute_settings={"scheduler": "local", "n_workers": 2, "progress": False})
    np.testing.assert_allclose(parallel["costs"]["total_cost_usd"], serial["costs"]["total_cost_usd"], rtol=1e-6)


def test_a_case_without_any_supply_is_flagged_and_compares_to_nothing(day):
    """evgrid.runtime.sanity: all sources at zero / most load shed -> a `flags` text, reductions NaN."""
    import pandas as pd

    from evgrid.studies.dwpt.model import case_flags
    from evgrid.studies.dwpt.report import compare_with_paper

    cases = [DwptCase("base", ev=True), DwptCase("dark", ev=True)]
    load_mwh = float(day.load_p_kw.to_numpy().sum() * day.step_h) / 1000
    costs = pd.DataFrame({"case": ["base", "dark"], "total_cost_usd": [1000.0, 900.0], "shed_mwh": [0.0, load_mwh],
                          "emergency_shed_mwh": [0.0, 0.0], "ev_energy_mwh": [1.0, 1.0], "bought_mwh": [5.0, 0.0],
                          "pv_energy_mwh": [0.0, 0.0], "solve_s": [1.0, 1.0]})
    flags = case_flags(day, cases, [], costs, max_shed_share=0.5)
    assert flags[0] == "" and "of load shed" in flags[1] and "all supply is zero" in flags[1]
    costs["flags"] = [f or float("nan") for f in flags]  # as read back from dwpt_costs.csv
    ac = pd.DataFrame({"case": ["base", "dark"], "chosen": True, "iteration": 0, "objective_usd": [1000.0, 900.0],
                       "ac_v_min_pu": 0.95})
    paper = {"normal": [{"label": "a", "case": "base", "paper_k_usd": 1.0},
                        {"label": "b", "case": "dark", "paper_k_usd": 0.9}],
             "outages": [{"outage": "x", "with": "base", "without": "dark", "paper_with_k_usd": 1.0,
                          "paper_without_k_usd": 1.2}],
             "shedding": [{"outage": "x", "no_ev": "base", "ev": "dark", "paper_no_ev_mw": 0.0, "paper_ev_mw": 1.0}]}
    normal, outage = compare_with_paper(costs, ac, paper)[:2]
    normal = normal.set_index("case")
    assert pd.isna(outage["ours_improvement_pct"].iloc[0])
    assert normal.at["base", "ours_reduction_pct"] == 0.0
    assert pd.isna(normal.at["dark", "ours_reduction_pct"])  # not a 10 % "saving"

"""Nodal prices: congestion rent equals the line-limit dual; decomposition sums to the LMP."""

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

from evgrid.grid.matpower import load_matpower_case
from evgrid.optim.lindistflow import Injection, LinDistFlowOptions, build_lindistflow, loads_from_profile
from evgrid.optim.prices import lp_duals_of_milp, nodal_prices
from evgrid.optim.solver import solve
from tests.grid.helpers import CASE33, two_area_network

IMPORT_USD_PER_MWH, DG_USD_PER_MWH = 20.0, 50.0
DT_H = 0.25


def _two_area(binary_dg=False):
    net = two_area_network(rating_kva=500.0)
    m = pyo.ConcreteModel()
    m.grid = pyo.Block()
    T = [0, 1]
    m.pg = pyo.Var([3], T, bounds=(0, 1000))
    h = build_lindistflow(m.grid, net, T, injections={"dg": Injection([3], p_kw=m.pg)},
                          options=LinDistFlowOptions(thermal_sides=8))
    cost = sum(IMPORT_USD_PER_MWH * h.p_import_kw[t] + DG_USD_PER_MWH * m.pg[3, t] for t in T) * DT_H / 1000
    if binary_dg:
        m.on = pyo.Var([3], T, within=pyo.Binary)
        m.cap = pyo.Constraint([3], T, rule=lambda mm, b, t: mm.pg[b, t] <= 1000 * mm.on[b, t])
        cost = cost + sum(m.on[3, t] for t in T)
    m.obj = pyo.Objective(expr=cost)
    return net, m, h


def test_price_difference_equals_line_limit_dual():
    net, m, h = _two_area()
    solve(m, duals=True)
    tie = net.branch_lookup(2, 3)
    cap = 500.0 * np.cos(np.pi / 8)
    assert pyo.value(h.p_flow_kw[tie, 0]) == pytest.approx(cap)  # congested
    assert pyo.value(m.pg[3, 0]) == pytest.approx(800.0 - cap)
    prices = nodal_prices(m, h, dt_h=DT_H).query("step == 0").set_index("bus")
    # side m=0 (cos 1, sin 0) of the polygon binds; its dual is d cost / d capacity
    mu = m.dual[h.thermal[tie, 0, 0]] * 1000 / DT_H
    assert mu == pytest.approx(-(DG_USD_PER_MWH - IMPORT_USD_PER_MWH))
    diff = prices.loc[3, "lmp_usd_per_mwh"] - prices.loc[2, "lmp_usd_per_mwh"]
    assert diff == pytest.approx(-mu)
    assert prices.loc[1, "lmp_usd_per_mwh"] == pytest.approx(IMPORT_USD_PER_MWH)
    assert prices.loc[3, "lmp_usd_per_mwh"] == pytest.approx(DG_USD_PER_MWH)
    assert prices.loc[3, "congestion_usd_per_mwh"] == pytest.approx(DG_USD_PER_MWH - IMPORT_USD_PER_MWH)
    assert prices.loc[3, "energy_usd_per_mwh"] == pytest.approx(IMPORT_USD_PER_MWH)
    assert np.abs(prices.residual_usd_per_mwh).max() < 1e-6


def test_milp_prices_by_fixing_integers():
    net, m, h = _two_area(binary_dg=True)
    res = solve(m)
    assert res.is_mip
    lp = lp_duals_of_milp(m)
    assert not lp.is_mip and lp.objective == pytest.approx(res.objective)
    prices = nodal_prices(m, h, dt_h=DT_H).query("step == 1").set_index("bus")
    assert prices.loc[3, "lmp_usd_per_mwh"] == pytest.approx(DG_USD_PER_MWH)
    assert not m.on[3, 0].fixed  # restored


def test_voltage_component_on_33_bus():
    """Push the feeder to its 0.95 p.u. limit: the DLMP rises along the path, decomposition is exact."""
    net = load_matpower_case(CASE33)
    p, q = loads_from_profile(net, [1.0])
    m = pyo.ConcreteModel()
    m.grid = pyo.Block()
    m.pg = pyo.Var([18, 33], [0], bounds=(0, 2000))
    h = build_lindistflow(m.grid, net, [0], p_load_kw=p, q_load_kvar=q,
                          injections={"dg": Injection([18, 33], p_kw=m.pg)},
                          options=LinDistFlowOptions(v_min_pu=0.95))
    m.obj = pyo.Objective(expr=(40 * h.p_import_kw[0] + 60 * sum(m.pg[b, 0] for b in (18, 33))) / 1000)
    solve(m, duals=True)
    pr = nodal_prices(m, h, dt_h=1.0).set_index("bus")
    assert h.voltage_pu().iloc[0].min() == pytest.approx(0.95, abs=1e-6)
    assert pr.loc[1, "lmp_usd_per_mwh"] == pytest.approx(40.0)
    assert pr.voltage_usd_per_mwh.max() > 1.0
    assert pr.loc[18, "lmp_usd_per_mwh"] > pr.loc[2, "lmp_usd_per_mwh"]
    np.testing.assert_allclose(
        pr.lmp_usd_per_mwh, pr.energy_usd_per_mwh + pr.congestion_usd_per_mwh + pr.voltage_usd_per_mwh, atol=1e-6
    )


def test_scenario_probabilities_rescale_prices():
    """Expected-cost objective sum_s pi_s cost_s: dividing duals by pi_s gives each scenario's own price."""
    net = two_area_network(rating_kva=500.0)
    m = pyo.ConcreteModel()
    m.grid = pyo.Block()
    S, prob = ["low", "high"], {"low": 0.3, "high": 0.7}
    loads = {"low": pd.DataFrame({3: [300.0]}), "high": pd.DataFrame({3: [900.0]})}
    m.pg = pyo.Var([3], S, [0], bounds=(0, 1000))
    h = build_lindistflow(m.grid, net, [0], scenario_index=S, p_load_kw=loads,
                          injections={"dg": Injection([3], p_kw=m.pg)}, options=LinDistFlowOptions(thermal_sides=8))
    m.obj = pyo.Objective(expr=sum(prob[s] * (IMPORT_USD_PER_MWH * h.p_import_kw[s, 0]
                                              + DG_USD_PER_MWH * m.pg[3, s, 0]) / 1000 for s in S))
    solve(m, duals=True)
    pr = nodal_prices(m, h, dt_h=1.0, scenario_probabilities=prob).set_index(["scenario", "bus"])
    assert pr.loc[("low", 3), "lmp_usd_per_mwh"] == pytest.approx(IMPORT_USD_PER_MWH)  # tie not congested
    assert pr.loc[("high", 3), "lmp_usd_per_mwh"] == pytest.approx(DG_USD_PER_MWH)  # congested
    assert pr.loc[("high", 3), "congestion_usd_per_mwh"] == pytest.approx(DG_USD_PER_MWH - IMPORT_USD_PER_MWH)

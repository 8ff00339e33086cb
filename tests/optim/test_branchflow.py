"""Branch-flow SOCP core (evgrid.optim.branchflow) on a 4-bus radial feeder: layout, balance, tight cone, AC match."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from evgrid.grid.ac_validation import validate_schedule_ac
from evgrid.grid.network import make_network
from evgrid.optim.branchflow import (
    Blocks,
    balance_duals,
    build_branch_flow,
    conic_problem,
    load_rhs,
    read_solution,
)
from evgrid.optim.solver import solve_conic


@pytest.fixture(scope="module")
def feeder():
    """1 (slack) - 2 - 3 and 2 - 4; the 2-4 branch is listed 4 -> 2 (the model must orient it)."""
    buses = pd.DataFrame({"p_load_kw": [0.0, 400.0, 300.0, 500.0], "q_load_kvar": [0.0, 200.0, 100.0, 250.0],
                          "v_min_pu": 0.9, "v_max_pu": 1.1}, index=[1, 2, 3, 4])
    branches = pd.DataFrame({"from_bus": [1, 2, 4], "to_bus": [2, 3, 2], "r_ohm": [0.9, 1.2, 1.5],
                             "x_ohm": [0.5, 0.7, 0.9]})
    return make_network("four_bus", 12.66, 1.0, buses, branches, slack_bus=1, v_slack_pu=1.02)


@pytest.fixture(scope="module")
def solved(feeder):
    model = build_branch_flow(feeder)
    q = np.zeros(model.n_var)
    q[model.cols.idx("p0")] = 100.0  # import cost: increasing in p0, so the relaxation is exact
    res = solve_conic(conic_problem(model, q, load_rhs(model, feeder.buses.p_load_kw, feeder.buses.q_load_kvar)),
                      {"highs_options": {"tol_gap_rel": 1e-10, "tol_feas": 1e-10}})
    return model, res


def _ranges(lay: Blocks) -> list[range]:
    return [range(lay[n].start, lay[n].stop) for n in lay.names]


def test_layout_names_resolve_to_disjoint_slices_covering_every_index(feeder):
    model = build_branch_flow(feeder)
    for lay, total in ((model.cols, model.A.shape[1]), (model.rows, model.A.shape[0])):
        seen = np.concatenate([np.fromiter(r, int) for r in _ranges(lay)])
        assert sorted(seen) == list(range(total))  # disjoint and complete
    assert model.cols.names == ["P", "Q", "l", "v", "p0", "q0"]
    assert [len(r) for r in _ranges(model.cols)] == [3, 3, 3, 4, 1, 1]
    assert model.cols.idx("v", [0, 3]).tolist() == [9, 12]
    assert model.n_zero + model.n_nonneg + sum(model.soc) == model.A.shape[0] == len(model.row_names)
    assert model.n_zero == model.rows["slack_voltage"].stop  # the zero cone ends with the slack voltage row
    assert model.rows.span("nonneg") == slice(model.n_zero, model.n_zero + 6) == model.rows["voltage_limits"]
    assert model.rows.span("soc") == slice(model.n_zero + 6, model.A.shape[0])
    with pytest.raises(IndexError):
        model.cols.idx("v", 4)
    with pytest.raises(KeyError, match="no family 'w'"):
        model.cols["w"]
    with pytest.raises(ValueError, match="already"):
        model.cols.add("P", 1)
    assert model.row_names[model.rows.idx("balance_q", 0)] == "balance_q[bus 1]"
    assert model.row_names[model.rows.idx("voltage_limits", 1)].startswith("v_min[bus ")


def test_solution_balances_every_bus_and_the_cone_is_tight(feeder, solved):
    model, res = solved
    f, sol = model.feeder, read_solution(model, res.x)
    s_base = feeder.s_base_kva
    p = feeder.buses.loc[f.buses, "p_load_kw"].to_numpy() / s_base
    q = feeder.buses.loc[f.buses, "q_load_kvar"].to_numpy() / s_base
    into_p, into_q = np.zeros(f.n), np.zeros(f.n)  # independent balance: flow in - losses - flow out = load
    np.add.at(into_p, f.br_to, sol.P - f.r * sol.l_sq)
    np.add.at(into_q, f.br_to, sol.Q - f.x * sol.l_sq)
    np.add.at(into_p, f.br_from, -sol.P)
    np.add.at(into_q, f.br_from, -sol.Q)
    into_p[f.slack] += res.x[model.cols.idx("p0")]
    into_q[f.slack] += res.x[model.cols.idx("q0")]
    np.testing.assert_allclose(into_p, p, atol=1e-8)
    np.testing.assert_allclose(into_q, q, atol=1e-8)
    # the SOC relaxation is tight: v_i l = P^2 + Q^2 on every branch
    assert np.max(np.abs(sol.gap_rel)) < 1e-6
    assert sol.v_pu.loc[1] == pytest.approx(1.02)
    assert sol.import_kw == pytest.approx(1200.0 + sol.loss_kw, rel=1e-7)
    assert 0 < sol.loss_kw < 0.1 * 1200.0
    # the marginal cost of load rises away from the substation (losses): bus 4 hangs on 2 by the longest line
    lam = pd.Series(-balance_duals(model, res.z), index=f.buses)
    assert lam.loc[1] == pytest.approx(100.0, rel=1e-6)
    assert lam.loc[1] < lam.loc[2] < lam.loc[4]


def test_voltages_match_an_ac_power_flow(feeder, solved):
    model, res = solved
    sol = read_solution(model, res.x)
    p = pd.DataFrame([feeder.buses.p_load_kw.to_numpy()], index=[0], columns=feeder.buses.index)
    q = pd.DataFrame([feeder.buses.q_load_kvar.to_numpy()], index=[0], columns=feeder.buses.index)
    rep = validate_schedule_ac(feeder, p, q)
    v_ac = rep.v_ac_pu.iloc[0].loc[sol.v_pu.index]
    np.testing.assert_allclose(sol.v_pu.to_numpy(), v_ac.to_numpy(), atol=1e-5)
    assert sol.loss_kw == pytest.approx(float(rep.steps["loss_kw"].iloc[0]), rel=1e-4)


def test_an_islanded_feeder_is_refused(feeder):
    br = feeder.branches.copy()
    br.loc[br.index[1], "in_service"] = False  # bus 3 loses its only branch
    with pytest.raises(ValueError, match=r"islands rooted at buses \[3\]"):
        build_branch_flow(dataclasses.replace(feeder, branches=br))

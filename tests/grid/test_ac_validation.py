"""AC validation (pandapower NR) against the published IEEE 33-bus numbers, and what it must catch."""

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pyomo.environ as pyo
import pytest

from evgrid.grid.ac_validation import AcPowerFlowError, base_case_ac, validate_schedule_ac
from evgrid.grid.pandapower_io import from_pandapower, to_pandapower
from evgrid.optim.lindistflow import Injection, LinDistFlowOptions, build_lindistflow, loads_from_profile
from evgrid.optim.solver import solve


def test_case33_ac_base_case_reference(net33):
    rep = base_case_ac(net33)
    row = rep.steps.iloc[0]
    assert row.loss_kw == pytest.approx(202.68, abs=0.5)
    assert row.loss_kvar == pytest.approx(135.1, abs=0.5)
    assert row.v_min_pu == pytest.approx(0.9131, abs=5e-4)
    assert row.v_min_bus == 18
    assert row.slack_p_kw == pytest.approx(3715.0 + row.loss_kw, abs=1e-3)  # power balance (NR tolerance)
    assert rep.branch_loss_kw.iloc[0].sum() == pytest.approx(row.loss_kw)
    assert row.n_voltage_violations == 0 and rep.violations.empty  # 0.913 p.u. is inside [0.9, 1.1]


def test_matches_pandapowers_own_case33bw(net33):
    ref = pn.case33bw()
    pp.runpp(ref)
    ours = base_case_ac(net33)
    assert ours.steps.loss_kw.iloc[0] == pytest.approx(ref.res_line.pl_mw.sum() * 1000, abs=0.05)
    back = from_pandapower(to_pandapower(net33))
    assert back.total_load_kw == pytest.approx(net33.total_load_kw)
    np.testing.assert_allclose(back.branches.r_ohm, net33.branches.r_ohm)
    assert base_case_ac(back).steps.loss_kw.iloc[0] == pytest.approx(ours.steps.loss_kw.iloc[0])


def test_linear_schedule_check_flags_what_linear_missed(net33):
    """LinDistFlow holds Vmin = 0.92 exactly with DGs; AC (with losses) dips below: flagged as missed."""
    p, q = loads_from_profile(net33, [0.8, 1.0])
    m = pyo.ConcreteModel()
    m.grid = pyo.Block()
    m.pg = pyo.Var([18, 33], [0, 1], bounds=(0, 1000))
    h = build_lindistflow(m.grid, net33, [0, 1], p_load_kw=p, q_load_kvar=q,
                          injections={"dg": Injection([18, 33], p_kw=m.pg)},
                          options=LinDistFlowOptions(v_min_pu=0.92))
    m.obj = pyo.Objective(expr=sum(m.pg[b, t] for b in (18, 33) for t in (0, 1)))
    solve(m)
    v_lin = h.voltage_pu()
    assert v_lin.min(axis=1).iloc[1] == pytest.approx(0.92, abs=1e-6)
    p_net, q_net = h.net_load()
    net = net33.copy()
    net.buses["v_min_pu"] = np.where(net.buses.index == 1, 1.0, 0.92)
    rep = validate_schedule_ac(net, p_net, q_net, v_linear_pu=v_lin)
    assert 0 < rep.steps.max_abs_dv_pu.max() < 0.01
    assert (rep.steps.v_min_pu < v_lin.min(axis=1).to_numpy()).all()  # AC below linear (losses)
    missed = rep.violations[rep.violations.missed_by_linear.astype(bool)]
    assert len(missed) > 0 and set(missed.step) == {1}
    assert (missed.value < 0.92 - 1e-3).all()
    assert rep.summary()["n_missed_by_linear"] == len(missed)


def test_thermal_violation_and_per_step_loads(net33):
    net = net33.with_ratings(overrides={0: 4000.0})
    p, q = loads_from_profile(net, [0.5, 1.0])
    rep = validate_schedule_ac(net, p, q)
    assert rep.steps.n_thermal_violations.tolist() == [0, 1]
    v = rep.violations.query("kind == 'thermal'").iloc[0]
    assert v.id == 0 and v.value == pytest.approx(np.hypot(3917.68, 2435.14), rel=1e-3)
    assert rep.steps.loss_kw.iloc[0] < rep.steps.loss_kw.iloc[1] / 3.5  # losses ~ quadratic in load


def test_island_gets_its_own_reference(net33):
    """Outage 6-26 with a DG covering the island's load: the island ext_grid only supplies island losses."""
    mask = net33.outage_mask([(6, 26)])
    island = list(range(26, 34))
    p, q = loads_from_profile(net33, [1.0])
    p.loc[0, 30] -= net33.buses.loc[island, "p_load_kw"].sum()
    q.loc[0, 30] -= net33.buses.loc[island, "q_load_kvar"].sum()
    rep = validate_schedule_ac(net33, p, q, branch_in_service=mask)
    row = rep.steps.iloc[0]
    assert 0 < row.island_slack_kw < 50  # = island losses only
    assert row.slack_p_kw == pytest.approx(net33.buses.loc[:25, "p_load_kw"].sum() + row.loss_kw - row.island_slack_kw,
                                           abs=1e-3)


def test_non_convergence_names_the_step(net33):
    p, q = loads_from_profile(net33, [1.0, 12.0])
    with pytest.raises(AcPowerFlowError, match="step 1"):
        validate_schedule_ac(net33, p, q)


def test_unknown_bus_column(net33):
    p, q = loads_from_profile(net33, [1.0])
    with pytest.raises(ValueError, match=r"columns \[99\] are not buses"):
        validate_schedule_ac(net33, p.assign(**{"99": 1.0}).rename(columns={"99": 99}), q)

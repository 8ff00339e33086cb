"""Reconfiguration with branch-status binaries: result stays radial and connected, switching limit holds."""

import pyomo.environ as pyo
import pytest

from evgrid.grid.ac_validation import base_case_ac
from evgrid.grid.matpower import load_matpower_case
from evgrid.optim.lindistflow import LinDistFlowOptions, build_lindistflow
from evgrid.optim.solver import solve
from tests.grid.helpers import CASE33


@pytest.mark.parametrize("max_switching", [2, 4])
def test_reconfiguration_radial_connected_and_better(max_switching):
    net = load_matpower_case(CASE33)
    m = pyo.ConcreteModel()
    m.grid = pyo.Block()
    h = build_lindistflow(m.grid, net, [0], options=LinDistFlowOptions(
        reconfigure=True, max_switching=max_switching, enforce_voltage_limits=False, thermal_sides=0))
    # raise the weakest voltage: maximise the minimum squared voltage
    m.vmin = pyo.Var(bounds=(0, 2))
    m.lo = pyo.Constraint(net.bus_ids, rule=lambda mm, b: mm.vmin <= h.w[b, 0])
    m.obj = pyo.Objective(expr=-m.vmin)
    res = solve(m, {"mip_gap": 1e-6, "time_limit_s": 60})
    assert res.is_mip and res.status == "optimal"
    status = h.branch_status()
    net.check_radial(status)  # raises if meshed or disconnected
    assert status.sum() == len(net.buses) - 1
    changes = int((status != net.branches.in_service).sum())
    assert 0 < changes <= max_switching
    v_lin = h.voltage_pu().iloc[0]
    assert v_lin.min() > 0.9159 + 0.01  # better than the base configuration
    # the AC power flow agrees that the new configuration is better than the 0.9131 p.u. base case
    ac = base_case_ac(net, branch_in_service=status)
    assert ac.steps.v_min_pu.iloc[0] > 0.9131 + 0.01
    assert abs(ac.v_ac_pu.iloc[0] - v_lin).max() < 0.01


def test_forced_outage_stays_open():
    net = load_matpower_case(CASE33)
    mask = net.outage_mask([(6, 7)])
    m = pyo.ConcreteModel()
    m.grid = pyo.Block()
    h = build_lindistflow(m.grid, net, [0], branch_in_service=mask,
                          options=LinDistFlowOptions(reconfigure=True, enforce_voltage_limits=True))
    m.obj = pyo.Objective(expr=h.p_import_kw[0])
    solve(m)
    status = h.branch_status()
    assert not status.loc[net.branch_lookup(6, 7)]
    net.check_radial(status)  # tie switches restored supply to buses 7-18

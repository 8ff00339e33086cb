"""Battery block (paper 002 eq. 2-7): SOC dynamics, PV-only charging, exclusive modes."""

import numpy as np
import pyomo.environ as pyo
import pytest

from evgrid.der.battery import BatteryParams, define_battery_block, size_battery


def _arbitrage(limit):
    """Price-taking battery: charge when cheap (only within ``limit``), discharge when dear."""
    price = np.array([10, 10, 10, 100, 100, 100.0])
    m = pyo.ConcreteModel()
    params = BatteryParams(capacity_kwh=100, power_kw=40, eta_charge=0.9, eta_discharge=0.9,
                           soc_min_frac=0.1, soc_initial_frac=0.1)
    define_battery_block(m, list(range(6)), params, step_h=1.0, charge_limit_kw=limit)
    m.obj = pyo.Objective(expr=sum(price[t] * (m.p_ch_kw[t] - m.p_dis_kw[t]) for t in range(6)))
    res = pyo.SolverFactory("appsi_highs").solve(m)
    assert res.solver.termination_condition == pyo.TerminationCondition.optimal
    ch = np.array([pyo.value(m.p_ch_kw[t]) for t in range(6)])
    dis = np.array([pyo.value(m.p_dis_kw[t]) for t in range(6)])
    soc = np.array([pyo.value(m.soc_kwh[t]) for t in range(6)])
    return params, ch, dis, soc


def test_soc_dynamics_bounds_and_modes():
    params, ch, dis, soc = _arbitrage(np.array([40, 40, 40, 0, 0, 0.0]))
    prev = np.concatenate([[10.0], soc[:-1]])
    np.testing.assert_allclose(soc, prev + 0.9 * ch - dis / 0.9, atol=1e-6)
    assert soc.min() >= 10 - 1e-6 and soc.max() <= 100 + 1e-6
    assert not np.any((ch > 1e-6) & (dis > 1e-6))
    assert dis.sum() > 0  # arbitrage happens


def test_never_charges_beyond_pv_surplus():
    limit = np.array([5, 0, 12, 0, 0, 0.0])
    _, ch, _, _ = _arbitrage(limit)
    assert np.all(ch <= limit + 1e-6)
    _, ch0, dis0, _ = _arbitrage(np.zeros(6))
    assert np.allclose(ch0, 0) and np.allclose(dis0, 0)  # no surplus -> nothing to store or sell


def test_size_battery_stores_the_whole_surplus():
    pv = np.array([0, 50, 100, 50, 0.0])
    ev = np.array([20, 20, 20, 20, 20.0])
    cap, power = size_battery(pv, ev, 1.0, eta_charge=0.9, soc_min_frac=0.1, soc_max_frac=1.0)
    assert cap == pytest.approx(0.9 * (30 + 80 + 30) / 0.9)
    assert power == pytest.approx(80)


def test_bad_parameters():
    with pytest.raises(ValueError, match="soc_min_frac"):
        BatteryParams(capacity_kwh=10, power_kw=5, soc_min_frac=0.5, soc_initial_frac=0.2)

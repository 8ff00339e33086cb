"""Per-scenario branch status (outage cases in one model) and the loss iteration with the AC check."""

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

from evgrid.grid.ac_validation import validate_schedule_ac
from evgrid.optim.lindistflow import (
    Injection,
    LinDistFlowOptions,
    build_lindistflow,
    loads_from_profile,
    set_losses_from_ac,
)
from evgrid.optim.solver import solve


def test_outage_cases_as_scenarios(net33):
    """Scenario 'normal' and the three dwpt outages in one model, each balancing its islands locally."""
    outages = {"normal": [], "L3-4": [(3, 4)], "L6-7": [(6, 7)], "L6-26": [(6, 26)]}
    status = pd.DataFrame({s: net33.outage_mask(o) for s, o in outages.items()}).T
    S = list(outages)
    m = pyo.ConcreteModel()
    m.grid = pyo.Block()
    m.shed = pyo.Var(net33.bus_ids, S, [0], bounds=(0, None))
    m.shed_q = pyo.Var(net33.bus_ids, S, [0], bounds=(0, None))
    h = build_lindistflow(m.grid, net33, [0], scenario_index=S, branch_in_service=status,
                          injections={"shed": Injection(net33.bus_ids, p_kw=m.shed, q_kvar=m.shed_q)},
                          options=LinDistFlowOptions(enforce_voltage_limits=False))
    m.obj = pyo.Objective(expr=sum(h.p_import_kw[k] for k in h.cases)
                          + 200 * sum(m.shed[i] + m.shed_q[i] for i in m.shed))
    solve(m)
    imp = h.import_kw()
    for s, o in outages.items():
        isl = net33.islands(net33.outage_mask(o))
        cut_load = net33.buses.loc[isl != 0, "p_load_kw"].sum()
        shed = sum(pyo.value(m.shed[b, s, 0]) for b in net33.bus_ids)
        assert shed == pytest.approx(cut_load)  # no source in the islands: all of their load is shed
        assert imp.loc[(s, 0)] == pytest.approx(net33.total_load_kw - cut_load)
    assert len(h.islands[("L3-4", 0)].unique()) == 2
    flows = h.flows_kw()
    assert flows.loc[("L6-7", 0), net33.branch_lookup(6, 7)] == 0.0
    assert flows.loc[("normal", 0), net33.branch_lookup(6, 7)] > 0.0


def test_loss_iteration_matches_ac_import(net33):
    p, q = loads_from_profile(net33, [0.7, 1.0])
    m = pyo.ConcreteModel()
    m.grid = pyo.Block()
    h = build_lindistflow(m.grid, net33, [0, 1], p_load_kw=p, q_load_kvar=q,
                          options=LinDistFlowOptions(loss_params=True, enforce_voltage_limits=False))
    m.obj = pyo.Objective(expr=sum(h.p_import_kw[t] for t in (0, 1)))
    gaps = []
    for _ in range(3):
        solve(m)
        p_net, q_net = h.net_load()
        np.testing.assert_allclose(p_net.to_numpy(), p.to_numpy())  # losses are not part of the net load
        rep = validate_schedule_ac(net33, p_net, q_net, v_linear_pu=h.voltage_pu())
        gaps.append(np.abs(h.import_kw().to_numpy() - rep.steps.slack_p_kw.to_numpy()).max())
        set_losses_from_ac(h, rep.branch_loss_kw, rep.branch_loss_kvar)
    assert gaps[0] == pytest.approx(202.68, abs=0.5)  # lossless: the gap is the AC loss at full load
    assert gaps[-1] < 1e-3  # after one update the linear import equals the AC slack power (NR tolerance)

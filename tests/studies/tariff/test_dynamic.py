"""Time-expanded EV flow (transport/dynamic.py): conservation, free-flow delay, capacity, energy."""

import numpy as np
import pyomo.environ as pyo
import pytest

from evgrid.optim.solver import solve
from evgrid.studies.tariff import model as M
from evgrid.transport.dynamic import build_ev_flow


@pytest.fixture(scope="module")
def solved(small_system):
    s = small_system
    paths = M.paths_for(s)
    m = pyo.ConcreteModel()
    m.ev = pyo.Block()
    h = build_ev_flow(m.ev, s.traffic, paths, s.demands, s.stations, s.fleet, s.steps, 1.0)
    m.obj = pyo.Objective(expr=h.vehicle_hours + 1e-3 * sum(m.ev.p_station_kw[y, t] for y in m.ev.Y for t in m.ev.T))
    solve(m)
    return s, h


def test_every_ev_departs_and_arrives(solved):
    s, h = solved
    total = sum(sum(d.departures) for d in s.demands)
    flows = h.path_flows()
    assert flows.to_numpy().sum() == pytest.approx(total)
    last = [(j, len(p.links) - 1) for j, p in enumerate(h.paths)]
    arrived = sum(h.block.v[j, k, t].value for j, k in last for t in s.steps)
    assert arrived == pytest.approx(total, rel=1e-6)


def test_free_flow_delay_and_capacity(solved):
    s, h = solved
    lf = h.link_flows()
    # nobody leaves a 1-hour link in the step they entered it: cumulative outflow lags cumulative inflow
    for _link, g in lf.groupby("link"):
        cin = np.cumsum(g["inflow_veh"].to_numpy())
        cout = np.cumsum(g["outflow_veh"].to_numpy())
        assert np.all(cout[1:] <= cin[:-1] + 1e-6)
        assert cout[0] <= 1e-6
        assert np.all(g["outflow_veh"] <= g["capacity_veh"] + 1e-6)


def test_energy_covers_the_trip(solved):
    s, h = solved
    en = h.station_energy_kwh()
    # each EV arrives at F1 or F2 with 12 - 4 = 8 kWh and needs >= 6 + 4 (F1) or 6 + 8 (F2) kWh to go on
    by = en.groupby("station")["energy_to_batteries_kwh"].sum()
    n_f1 = sum(h.block.u_fcs[j, t].value for j in h.block.JS if h.paths[j].station == "F1" for t in s.steps)
    n_f2 = sum(h.block.u_fcs[j, t].value for j in h.block.JS if h.paths[j].station == "F2" for t in s.steps)
    assert by.get("F1", 0.0) >= 2.0 * n_f1 - 1e-4
    assert by.get("F2", 0.0) >= 6.0 * n_f2 - 1e-4
    assert n_f1 + n_f2 == pytest.approx(40.0, rel=1e-6)  # nobody can skip charging (the direct path is pruned)

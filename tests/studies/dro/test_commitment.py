"""Certified integer commitment (issue 28): Lagrangian time bound + incumbent, B&B on a node limit."""

import numpy as np
import pyomo.environ as pyo
import pytest

from evgrid.ev.lanes import lanes_from_params
from evgrid.optim.solver import solve
from evgrid.optim.unit_commitment import solve_commitment
from evgrid.studies.dro.config import DroConfig
from evgrid.studies.dro.model import build_two_stage, time_index
from evgrid.studies.dro.system import ScenarioData, build_system

T = 4
PROFILE = np.array([0.6, 0.8, 1.0, 0.7])


@pytest.fixture(scope="module")
def tiny(dro_params, net33):
    net = net33.with_ratings(default_kva=6000.0)
    lanes = lanes_from_params(dro_params["lanes"][:4], known_buses=net.bus_ids)
    params = {**dro_params, "conventional": {**dro_params["conventional"], "buses": [8, 18, 25]}}  # 3 units
    sysm = build_system(DroConfig.from_params(params), net, lanes, PROFILE, step_h=6.0)
    assert sysm.integer_commitment
    rng = np.random.default_rng(3)
    n = 3
    demand = rng.uniform(0.2, 1.0, (n, 4, T)) * sysm.lanes.rating_kw[None, :, None]
    pv = np.clip(np.array([0.0, 0.5, 0.8, 0.1])[None] * rng.uniform(0.3, 1.2, (n, 1)), 0, None)
    data = ScenarioData(demand, pv, rng.uniform(0.0, 0.7, (n, T)), rng.uniform(0.05, 0.2, (n, T)))
    return sysm, data


def _model(tiny):
    sysm, data = tiny
    return build_two_stage(sysm, data, name="saa")


def _u(tsm):
    return np.array([pyo.value(v) for v in tsm.model.u.values()])


def test_certified_gap_meets_the_target_and_brackets_the_milp_optimum(tiny):
    tsm = _model(tiny)
    res = solve_commitment(tsm.model, time_index, {"threads": 1}, gap_target=0.005, max_nodes=50)
    assert res.gap <= 0.005 and res.status == "optimal"
    assert res.lp_bound <= res.bound + 1e-6 <= res.objective + 1e-6
    assert np.allclose(_u(tsm), np.round(_u(tsm)))
    # HiGHS branch and bound on the same MILP (tiny: solved to 1e-6) lies between our bound and incumbent
    ref = _model(tiny)
    opt = solve(ref.model, {"mip_gap": 1e-6, "threads": 1, "highs_options": {"mip_max_nodes": 20000}})
    assert res.bound <= opt.objective * (1 + 1e-6) + 1e-6
    assert res.objective <= opt.bound * (1 + 0.005) + 1e-6


def test_branch_and_bound_starts_from_the_rounded_incumbent_and_stops_on_nodes(tiny):
    tsm = _model(tiny)
    res = solve_commitment(tsm.model, time_index, {"threads": 1}, gap_target=0.0, max_nodes=3)
    # the rounded-up relaxation is feasible (complete recourse) and B&B never returns worse than its start
    u = list(tsm.model.u.values())
    for v in u:
        v.domain = pyo.UnitInterval
    solve(tsm.model, {"threads": 1})
    for v in u:
        v.fix(1.0 if pyo.value(v) > 1e-6 else 0.0)
        v.domain = pyo.Binary
    rounded = solve(tsm.model, {"threads": 1}).objective
    assert res.objective <= rounded + 1e-6
    assert res.mip_nodes <= 3 + 1 and not res.hit_time_limit
    assert res.bound <= res.objective + 1e-6


def test_same_inputs_same_commitment_twice(tiny):
    a, b = _model(tiny), _model(tiny)
    ra = a.solve_integer({"threads": 1}, {"mip_gap": 0.005, "mip_max_nodes": 10, "time_limit_s": 600})
    rb = b.solve_integer({"threads": 1}, {"mip_gap": 0.005, "mip_max_nodes": 10, "time_limit_s": 600})
    assert ra.objective == rb.objective and ra.bound == rb.bound
    assert np.array_equal(_u(a), _u(b))
    assert a.commitment.gap <= 0.005

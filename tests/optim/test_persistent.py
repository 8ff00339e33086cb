"""PersistentProblem: column changes and row directions on one compile give the optimum of a fresh solve,
warm (one HiGHS instance) or fresh (a new instance per solve); options are SolverOptions."""

import numpy as np
import pyomo.environ as pyo
import pytest

from evgrid.optim.persistent import PersistentProblem
from evgrid.optim.solver import InfeasibleModelError, SolverError, solve


def _lp(d=4.0, ub=10.0, k=1.0):
    """``min k x0 + 2 x1  s.t.  x0 + x1 >= d,  0 <= x0 <= ub,  0 <= x1 <= 10`` (``k``, ``d`` mutable)."""
    m = pyo.ConcreteModel()
    m.d = pyo.Param(mutable=True, initialize=d)
    m.k = pyo.Param(mutable=True, initialize=k)
    m.x = pyo.Var([0, 1], bounds=(0, 10))
    m.x[0].setub(ub)
    m.c = pyo.Constraint(expr=m.x[0] + m.x[1] >= m.d)
    m.o = pyo.Objective(expr=m.k * m.x[0] + 2 * m.x[1])
    return m


@pytest.mark.parametrize("warm", [True, False])
def test_directions_bounds_and_costs_match_a_fresh_solve(warm):
    m = _lp()
    pp = PersistentProblem(m, {"time_limit_s": 10}, warm=warm)
    m.d = 5.0
    pp.add_direction("d")
    m.d = 4.0
    x0 = pp.columns([m.x[0]])
    for step, ub, k in ((0.0, 10.0, 1.0), (2.0, 3.0, 1.0), (1.0, 3.0, 4.0), (0.0, 10.0, 1.0)):
        pp.set_bounds(x0, [0.0], [ub])
        pp.set_costs(x0, [k])
        m.k = k  # the caller keeps the Pyomo objective in step (pyo.value of it is the objective)
        res = pp.solve({"d": step}, duals=True)
        ref_res = solve(ref := _lp(4.0 + step, ub, k), duals=True)
        np.testing.assert_allclose([pyo.value(v) for v in m.x.values()], [pyo.value(v) for v in ref.x.values()])
        assert res.objective == pytest.approx(ref_res.objective, abs=1e-9)
        assert m.dual[m.c] == pytest.approx(ref.dual[ref.c], abs=1e-9)
    assert pp.n_solves == 4


def test_infeasible_update_raises_and_unknown_names_are_refused():
    m = _lp()
    pp = PersistentProblem(m)
    with pytest.raises(KeyError, match="unknown direction"):
        pp.solve({"nope": 1.0})
    with pytest.raises(SolverError, match="not a column"):
        pp.columns([pyo.Var()])
    cols = pp.columns([m.x[0], m.x[1]])
    pp.set_bounds(cols, [0.0, 0.0], [1.0, 1.0])
    with pytest.raises(InfeasibleModelError):
        pp.solve()


def test_options_are_solver_options():
    with pytest.raises(ValueError, match="unknown solver options"):
        PersistentProblem(_lp(), {"mip_max_nodes": 0})
    pp = PersistentProblem(_lp(), {"highs_options": {"solver": "ipm"}})
    assert pp.cold_solver == "ipm"
    assert pp.solve().objective == pytest.approx(4.0)
    m = _lp()
    m.z = pyo.Var(within=pyo.Binary)
    m.cz = pyo.Constraint(expr=m.z <= m.x[0])
    with pytest.raises(SolverError, match="continuous model"):
        PersistentProblem(m)


def test_qp_column_changes_go_to_clarabel():
    m = pyo.ConcreteModel()
    m.x = pyo.Var([0, 1], bounds=(0, 10))
    m.c = pyo.Constraint(expr=m.x[0] + m.x[1] >= 4)
    m.o = pyo.Objective(expr=(m.x[0] - 1) ** 2 + 2 * m.x[1] ** 2 + m.x[0])
    pp = PersistentProblem(m)
    assert pp.h is None  # a QP has no warm HiGHS instance
    pp.set_bounds(pp.columns([m.x[1]]), [0.0], [1.0])
    res = pp.solve(duals=True)
    assert res.is_qp
    np.testing.assert_allclose([pyo.value(m.x[0]), pyo.value(m.x[1])], [3.0, 1.0], atol=1e-6)

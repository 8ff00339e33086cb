"""Quadratic objectives in the ONE solver wrapper: HiGHS (Hessian) and Clarabel give the analytic optimum
and the same duals; bad QPs fail clearly."""

import pyomo.environ as pyo
import pytest

from evgrid.optim.solver import InfeasibleModelError, SolverError, solve


def _qp():
    # min (x0-1)^2 + 2 x1^2 + y^2 - y  s.t.  x0 + x1 >= 4  -> x = (3, 1), y = 0.5, dual 4 (KKT: 2(x0-1) = 4 x1 = mu)
    m = pyo.ConcreteModel()
    m.x = pyo.Var([0, 1], bounds=(0, 10))
    m.y = pyo.Var(bounds=(-5, 5))  # appears only in the objective: an extra column without rows
    m.c = pyo.Constraint(expr=m.x[0] + m.x[1] >= 4)
    m.o = pyo.Objective(expr=(m.x[0] - 1) ** 2 + 2 * m.x[1] ** 2 + m.y**2 - m.y)
    return m


@pytest.mark.parametrize("backend", ["highs", "clarabel"])
def test_qp_optimum_and_dual(backend):
    m = _qp()
    res = solve(m, {"qp_solver": backend}, duals=True)
    assert res.is_qp and res.status == "optimal"
    assert res.objective == pytest.approx(5.75, abs=1e-6)
    assert pyo.value(m.x[0]) == pytest.approx(3.0, abs=1e-5)
    assert pyo.value(m.x[1]) == pytest.approx(1.0, abs=1e-5)
    assert pyo.value(m.y) == pytest.approx(0.5, abs=1e-5)
    # dual = d objective / d rhs: raising the bound 4 -> 4 + d costs 4 d
    assert m.dual[m.c] == pytest.approx(4.0, abs=1e-5)


@pytest.mark.parametrize("backend", ["highs", "clarabel"])
def test_qp_dual_is_finite_difference(backend):
    m = _qp()
    solve(m, {"qp_solver": backend}, duals=True)
    d = m.dual[m.c]
    m.c.set_value(m.x[0] + m.x[1] >= 4.01)
    f1 = solve(m, {"qp_solver": backend}).objective
    assert (f1 - 5.75) / 0.01 == pytest.approx(d, rel=2e-3)


def test_maximise_concave_quadratic():
    m = _qp()
    m.o.sense = pyo.maximize
    m.o.expr = -m.o.expr
    res = solve(m, {"qp_solver": "clarabel"}, duals=True)
    assert res.objective == pytest.approx(-5.75, abs=1e-6)
    assert m.dual[m.c] == pytest.approx(-4.0, abs=1e-5)


def test_infeasible_qp_is_diagnosed():
    m = _qp()
    m.bad = pyo.Constraint(expr=m.x[0] + m.x[1] <= 2)
    with pytest.raises(InfeasibleModelError) as err:
        solve(m, {"qp_solver": "clarabel"})
    assert "bad" in str(err.value) or "c" in err.value.diagnosis.slacks["family"].tolist()


def test_qp_rejects_integers_and_unknown_backend():
    m = _qp()
    m.z = pyo.Var(within=pyo.Binary)
    m.cz = pyo.Constraint(expr=m.z + m.x[0] <= 10)
    with pytest.raises(SolverError, match="mixed-integer QP"):
        solve(m)
    m2 = _qp()
    with pytest.raises(ValueError, match="qp_solver"):
        solve(m2, {"qp_solver": "gurobi"})


@pytest.mark.parametrize("quadratic", [True, False])
def test_parametric_resolve_matches_rebuilt_model(quadratic):
    """One compile + a bound direction gives the same optimum and duals as setting the Param and solving."""
    from evgrid.optim.persistent import PersistentProblem

    def make():
        m = pyo.ConcreteModel()
        m.d = pyo.Param(mutable=True, initialize=4.0)
        m.x = pyo.Var([0, 1], bounds=(0, 10))
        m.c = pyo.Constraint(expr=m.x[0] + m.x[1] >= m.d)
        m.o = pyo.Objective(expr=(m.x[0] - 1) ** 2 + 2 * m.x[1] ** 2 if quadratic else m.x[0] + 2 * m.x[1])
        return m

    m = make()
    pp = PersistentProblem(m, {"qp_solver": "clarabel"}, warm=False)
    m.d = 5.0
    pp.add_direction("d")
    m.d = 4.0
    for step in (0.0, 0.5, 2.0):
        res = pp.solve({"d": step}, duals=True)
        ref = make()
        ref.d = 4.0 + step
        ref_res = solve(ref, {"qp_solver": "clarabel"}, duals=True)
        assert res.objective == pytest.approx(ref_res.objective, abs=1e-6)
        assert m.dual[m.c] == pytest.approx(ref.dual[ref.c], abs=1e-5)

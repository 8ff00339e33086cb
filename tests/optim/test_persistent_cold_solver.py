"""PersistentProblem's cold solver: interior point (+ crossover) gives the same optimum as the dual simplex, warm
or re-started on every solve, across cost changes (the DRO radius sweep's pattern)."""

import numpy as np
import pyomo.environ as pyo
import pytest

from evgrid.optim.persistent import PersistentProblem


def _lp():
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(0, 29)
    m.x = pyo.Var(m.I, bounds=(0, 10))
    m.lam = pyo.Var(bounds=(0, 50))
    m.c = pyo.Constraint(m.I, rule=lambda mm, i: mm.x[i] + mm.lam >= 3 + (i % 7))
    m.tot = pyo.Constraint(expr=sum(m.x[i] for i in m.I) >= 40)
    m.obj = pyo.Objective(expr=sum((1 + 0.1 * i) * m.x[i] for i in m.I) + 5 * m.lam)
    return m


@pytest.mark.parametrize("cold, always", [("ipm", False), ("ipm", True), ("simplex", True)])
def test_cold_solver_matches_the_dual_simplex_over_a_cost_sweep(cold, always):
    ref, alt = PersistentProblem(_lp()), PersistentProblem(_lp(), cold_solver=cold, always_cold=always)
    lam_r, lam_a = ref.columns([ref.model.lam]), alt.columns([alt.model.lam])
    for cost in (5.0, 20.0, 0.5, 80.0):
        ref.set_costs(lam_r, [cost])
        alt.set_costs(lam_a, [cost])
        assert alt.solve().objective == pytest.approx(ref.solve().objective, rel=1e-9)
    assert alt.n_solves == 4
    np.testing.assert_allclose(pyo.value(alt.model.lam), pyo.value(ref.model.lam), atol=1e-7)


def test_unknown_cold_solver_is_refused():
    with pytest.raises(ValueError, match="cold_solver must be choose, simplex or ipm"):
        PersistentProblem(_lp(), cold_solver="barrier")

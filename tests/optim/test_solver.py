"""Solver wrapper: dual convention in both senses, option validation, MILP dual refusal."""

import pyomo.environ as pyo
import pytest

from evgrid.optim.solver import SolverError, SolverOptions, solve


def test_duals_are_d_objective_d_rhs_in_both_senses():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, None))
    m.y = pyo.Var(bounds=(0, None))
    m.c = pyo.Constraint(expr=m.x + 2 * m.y <= 4)
    m.o = pyo.Objective(expr=3 * m.x + m.y + 1, sense=pyo.maximize)
    res = solve(m, duals=True)
    assert res.objective == pytest.approx(13.0) and m.x.value == pytest.approx(4.0)
    assert m.dual[m.c] == pytest.approx(3.0)
    m2 = pyo.ConcreteModel()
    m2.x = pyo.Var(bounds=(0, None))
    m2.c = pyo.Constraint(expr=m2.x >= 2)
    m2.o = pyo.Objective(expr=5 * m2.x)
    solve(m2, duals=True)
    assert m2.dual[m2.c] == pytest.approx(5.0)


def test_options_and_refusals():
    with pytest.raises(ValueError, match="unknown solver options"):
        SolverOptions.coerce({"timelimit": 3})
    m = pyo.ConcreteModel()
    m.z = pyo.Var(within=pyo.Binary)
    m.o = pyo.Objective(expr=m.z)
    with pytest.raises(ValueError, match="lp_duals_of_milp"):
        solve(m, duals=True)
    res = solve(m, {"time_limit_s": 5, "mip_gap": 0.0, "threads": 1})
    assert res.is_mip and m.z.value == 0
    with pytest.raises(ValueError, match="HiGHS rejected option"):
        solve(m, {"highs_options": {"no_such_option": 1}})
    m.o2 = pyo.Objective(expr=2 * m.z)
    with pytest.raises(SolverError, match="exactly one active objective"):
        solve(m)


def test_nonlinear_model_rejected():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(1, 2))
    m.o = pyo.Objective(expr=m.x**3)  # x**2 is a QP now (tests/optim/test_solver_qp.py)
    with pytest.raises(SolverError):
        solve(m)
    m.o.expr = m.x**2  # pure quadratic objective, no linear part
    assert solve(m).objective == pytest.approx(1.0)


def test_solves_with_different_thread_counts_in_one_process():
    """HiGHS has one scheduler per process: a kedro run mixing threads=2 (grid) and 1 (dwpt) must still solve."""
    m = pyo.ConcreteModel(name="threads")
    m.x = pyo.Var(bounds=(1, 5))
    m.obj = pyo.Objective(expr=3 * m.x)
    values = [solve(m, SolverOptions(threads=t)).objective for t in (1, 2, 1, None)]
    assert values == pytest.approx([3.0] * 4)


def _knapsack(n: int = 30):
    import numpy as np

    rng = np.random.default_rng(3)
    w = rng.integers(10, 40, n).astype(float)
    c = w + rng.integers(0, 5, n)
    m = pyo.ConcreteModel(name="knapsack")
    m.I = pyo.RangeSet(0, n - 1)
    m.x = pyo.Var(m.I, domain=pyo.Binary)
    m.cap = pyo.Constraint(expr=sum(w[i] * m.x[i] for i in m.I) <= 0.5 * w.sum() + 0.5)
    m.obj = pyo.Objective(expr=sum(c[i] * m.x[i] for i in m.I), sense=pyo.maximize)
    return m, w, c


def test_mip_start_gives_an_incumbent_when_the_search_finds_none():
    """A node-limited MILP with heuristics off finds no incumbent alone; with warm_start it keeps (at least)
    the start, and reports a gap against its bound."""
    stop = {"mip_max_nodes": 0, "mip_heuristic_effort": 0.0, "presolve": "off"}
    m, w, c = _knapsack()
    with pytest.raises(SolverError):
        solve(m, {"highs_options": stop, "diagnose_infeasible": False})
    m, w, c = _knapsack()
    order = sorted(range(len(w)), key=lambda i: -c[i] / w[i])  # greedy start, feasible by construction
    used, start_value = 0.0, 0.0
    for i in m.I:
        m.x[i].set_value(0)
    for i in order:
        if used + w[i] <= 0.5 * w.sum() + 0.5:
            m.x[i].set_value(1)
            used += w[i]
            start_value += c[i]
    res = solve(m, {"highs_options": stop, "warm_start": True})
    assert res.status in ("feasible", "optimal")
    assert res.objective >= start_value - 1e-6
    assert res.bound >= res.objective - 1e-6  # maximisation: the bound is above the incumbent

"""Wasserstein DRO toolbox: finite reformulation vs primal worst case, reduction, CVaR, radius CV."""

import numpy as np
import ot
import pyomo.environ as pyo
import pytest

from evgrid.optim.robust import (
    BudgetSet,
    WassersteinBall,
    define_wasserstein_dro,
    check_radius,
    cvar,
    distance_matrix,
    reduce_scenarios,
    select_radius_cv,
    standardise_features,
    worst_case_distribution,
)
from evgrid.optim.solver import solve

DEMAND = np.array([40.0, 55.0, 60.0, 70.0, 90.0])
EXTRA = np.array([110.0, 130.0])  # atoms outside the nominal sample (the "GAN-widened" support)
COST, PENALTY = 1.0, 4.0  # newsvendor: order x at 1 $/unit, shortfall at 4 $/unit


def _ball(radius):
    support = np.concatenate([DEMAND, EXTRA])
    d = np.abs(DEMAND[:, None] - support[None, :]) / 10.0
    return WassersteinBall(np.full(len(DEMAND), 0.2), d, radius), support


def _newsvendor(radius, weight=1.0):
    """min E_P[C] + weight * max_Q E_Q[C] with C_j(x) = x + 4 (xi_j - x)^+."""
    ball, support = _ball(radius)
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.NonNegativeReals)
    m.J = pyo.RangeSet(0, len(support) - 1)
    m.short = pyo.Var(m.J, within=pyo.NonNegativeReals)
    m.c_short = pyo.Constraint(m.J, rule=lambda m, j: m.short[j] >= support[j] - m.x)
    m.dro = pyo.Block()
    wc = define_wasserstein_dro(m.dro, ball, lambda j: COST * m.x + PENALTY * m.short[j])
    nominal = sum(0.2 * (COST * m.x + PENALTY * m.short[j]) for j in range(len(DEMAND)))
    m.obj = pyo.Objective(expr=nominal + weight * wc)
    return m, ball, support


def _costs(x, support):
    return COST * x + PENALTY * np.maximum(support - x, 0.0)


def test_reformulation_matches_primal_worst_case_and_radius_zero_is_saa():
    m, ball, support = _newsvendor(0.0)
    solve(m)
    # radius 0: E_P + 1 * E_P = 2 x SAA; the SAA newsvendor orders the 1 - 1/4 = 75 % quantile = 70
    assert pyo.value(m.x) == pytest.approx(70.0, abs=1e-6)
    assert pyo.value(m.obj) == pytest.approx(2 * np.mean(_costs(70.0, DEMAND)), rel=1e-7)
    for radius in (0.5, 2.0):
        m.dro.dro_radius = radius  # mutable: re-solve without rebuilding
        solve(m)
        x = pyo.value(m.x)
        primal = worst_case_distribution(_costs(x, support), WassersteinBall(ball.nominal_probs, ball.distances,
                                                                              radius))
        assert pyo.value(m.dro.dro_worst_case) == pytest.approx(primal.value, rel=1e-6)
        assert primal.transport_cost <= radius + 1e-9
        assert primal.weights.sum() == pytest.approx(1.0)


def test_worst_case_cost_grows_with_radius_up_to_the_worst_atom():
    _, support = _ball(0.0)
    costs = _costs(70.0, support)
    values = []
    for r in (0.0, 0.1, 0.5, 1.0, 3.0, 100.0):
        ball, _ = _ball(r)
        values.append(worst_case_distribution(costs, ball).value)
    assert values[0] == pytest.approx(np.mean(costs[: len(DEMAND)]))
    assert np.all(np.diff(values) >= -1e-9) and values[-1] > values[1] > values[0]
    assert values[-1] == pytest.approx(costs.max())  # huge radius: all mass on the worst atom
    # the optimal DRO order grows with the radius (more hedging against high demand)
    orders = []
    for r in (0.0, 1.0, 5.0):
        m, _, _ = _newsvendor(r)
        solve(m)
        orders.append(pyo.value(m.x))
    assert orders[0] < orders[2] and np.all(np.diff(orders) >= -1e-6)


def test_negative_radius_is_rejected_naming_the_parameter():
    with pytest.raises(ValueError, match="parameter 'radius'"):
        _ball(-0.1)
    with pytest.raises(ValueError, match="parameter 'dro_radii'"):
        check_radius(float("nan"), "dro_radii")


def test_kmedoids_reduction_on_two_clusters():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 0.1, size=(30, 4))
    b = rng.normal(5.0, 0.1, size=(10, 4))
    x = np.vstack([a, b])
    red = reduce_scenarios(x, 2, seed=1)
    assert sorted(np.round(red.probabilities, 6)) == [0.25, 0.75]
    assert {int(m) < 30 for m in red.medoids} == {True, False}  # one medoid per cluster
    d = distance_matrix(x, x[red.medoids])
    assert red.wasserstein_distance == pytest.approx(ot.emd2(np.full(40, 1 / 40), red.probabilities, d))
    assert red.wasserstein_distance == pytest.approx(d.min(axis=1).mean())
    same = reduce_scenarios(x, 40, seed=1)
    assert same.wasserstein_distance == 0.0 and len(same.medoids) == 40
    # reproducible
    assert np.array_equal(reduce_scenarios(x, 5, seed=3).medoids, reduce_scenarios(x, 5, seed=3).medoids)


def test_standardised_features_reject_mismatched_scenario_counts():
    feats, scales = standardise_features({"a": np.ones((3, 4)) * [[1], [2], [3]], "b": np.zeros((3, 2))})
    assert feats.shape == (3, 6) and scales["b"] == 1.0
    with pytest.raises(ValueError, match="'b' has 2 scenarios"):
        standardise_features({"a": np.ones((3, 4)), "b": np.ones((2, 4))})


def test_cvar_and_budget_set():
    v = np.arange(1.0, 101.0)
    assert cvar(v, 0.95) == pytest.approx(98.0)  # mean of 96..100
    assert cvar(v, 0.0) == pytest.approx(v.mean())
    assert cvar(np.array([0.0, 10.0]), 0.9, np.array([0.95, 0.05])) == pytest.approx(5.0)
    s = BudgetSet(nominal=np.array([1.0, 1.0, 1.0]), deviation=np.array([0.5, 0.2, 0.1]), gamma=1.5)
    assert s.worst_case_linear(np.array([1.0, 1.0, 1.0])) == pytest.approx(3.0 + 0.5 + 0.1)


def test_radius_cross_validation_picks_the_held_out_minimum():
    def score(r, train, test):
        assert len(set(train) & set(test)) == 0 and len(train) + len(test) == 12
        return (r - 0.2) ** 2 + 0.001 * len(test)

    best, table = select_radius_cv([0.0, 0.1, 0.2, 0.5], n=12, n_folds=3, seed=0, fit_and_score=score)
    assert best == 0.2 and len(table) == 12

"""Box (paper 001, Gamma in [0, 1]) and Bertsimas-Sim budget sets: closed-form protection = the LP worst case."""

import numpy as np
import pytest
from scipy.optimize import linprog

from evgrid.optim.robust import BoxSet, BudgetSet


def _lp_worst_case(a_row, s, budget):
    """max a . z * dev over |z| <= 1 (x Gamma for the box), sum |z| <= budget, as an LP in (z+, z-)."""
    k = len(a_row)
    c = -np.concatenate([a_row * s.deviation, -a_row * s.deviation])
    ub = 1.0 if budget is None else 1.0
    a_ub = np.ones((1, 2 * k)) if budget is not None else None
    b_ub = [budget] if budget is not None else None
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=[(0, ub)] * (2 * k))
    return -res.fun


@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0])
def test_box_protection_matches_lp(gamma):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 8))
    s = BoxSet(nominal=rng.random(8), deviation=rng.random(8), gamma=gamma)
    prot = s.protection(a)
    for r in range(5):
        assert prot[r] == pytest.approx(gamma * _lp_worst_case(a[r], s, None), abs=1e-9)
    assert s.worst_case_linear(a[0]) == pytest.approx(a[0] @ s.nominal + prot[0])


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.5, 8.0])
def test_budget_protection_matches_lp(gamma):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 8))
    s = BudgetSet(nominal=rng.random(8), deviation=rng.random(8), gamma=gamma)
    prot = s.protection(a)
    for r in range(6):
        assert prot[r] == pytest.approx(_lp_worst_case(a[r], s, gamma), abs=1e-8)


def test_budget_is_monotone_and_full_budget_is_the_box():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(4, 10))
    nom, dev = rng.random(10), rng.random(10)
    prev = np.zeros(4)
    for g in np.linspace(0, 10, 21):
        p = BudgetSet(nom, dev, g).protection(a)
        assert np.all(p >= prev - 1e-12)
        prev = p
    np.testing.assert_allclose(BudgetSet(nom, dev, 10).protection(a), BoxSet(nom, dev, 1.0).protection(a))
    # a budget of 1 protects against the single largest deviation only: less than the full box
    assert np.all(BudgetSet(nom, dev, 1).protection(a) < BoxSet(nom, dev, 1.0).protection(a))


def test_worst_case_point_and_samples_stay_inside():
    s = BoxSet(nominal=np.array([[10.0, 20.0], [5.0, 0.0]]), deviation=np.array([[1.0, 2.0], [0.5, 0.0]]), gamma=0.5)
    wc = s.worst_case_point(np.array([[-1, -1], [1, 1]]))
    np.testing.assert_allclose(wc, [[9.5, 19.0], [5.25, 0.0]])
    draws = s.sample(200, seed=3)
    assert draws.shape == (200, 2, 2) and all(s.contains(d) for d in draws)
    np.testing.assert_array_equal(draws, s.sample(200, seed=3))
    b = BudgetSet(nominal=np.zeros(6), deviation=np.ones(6), gamma=2.0)
    assert all(b.contains(d) for d in b.sample(100, seed=4))
    assert not b.contains(np.array([1, 1, 0.5, 0, 0, 0]))


@pytest.mark.parametrize("cls,gamma", [(BoxSet, 1.2), (BoxSet, -0.1), (BudgetSet, 4.5), (BoxSet, float("nan"))])
def test_gamma_outside_range_names_parameter(cls, gamma):
    with pytest.raises(ValueError, match="parameter 'gamma'"):
        cls(nominal=np.zeros(4), deviation=np.ones(4), gamma=gamma)


def test_bad_deviation_rejected():
    with pytest.raises(ValueError, match="deviation must be finite and >= 0"):
        BoxSet(nominal=np.zeros(3), deviation=np.array([1.0, -1.0, 0.0]))
    with pytest.raises(ValueError, match="same shape"):
        BoxSet(nominal=np.zeros(3), deviation=np.ones(4))

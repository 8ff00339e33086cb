"""Score functions against hand-computed values."""

import numpy as np
import pytest

from evgrid.scenarios import scores as S


def test_paper_r2_and_nrmse_hand_computed():
    real = np.array([1.0, 2.0, 3.0, 4.0])
    gen = np.array([1.0, 2.0, 3.0, 5.0])
    # SS_res = 1, SS_tot = 1.5^2 + 0.5^2 + 0.5^2 + 1.5^2 = 5 -> R2 = 0.8
    assert S.paper_r2(real, gen) == pytest.approx(0.8)
    # RMSE = sqrt(1/4) = 0.5, range = 3 -> 1/6
    assert S.paper_nrmse(real, gen) == pytest.approx(1 / 6)
    assert S.paper_r2(real, real) == 1.0
    with pytest.raises(ValueError, match="constant"):
        S.paper_r2(np.ones(3), np.ones(3))


def test_percentage_distribution_sums_to_100_and_clips_outliers():
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    pct = S.percentage_distribution(np.array([0.5, 1.5, 1.7, 9.0]), edges)
    np.testing.assert_allclose(pct, [25.0, 50.0, 25.0])


def test_energy_score_one_dimensional_hand_computed():
    # ensemble {0, 2}, y = 1: E|X - y| = 1, 1/(2 m^2) sum |x_j - x_k| = (2 + 2) / 8 = 0.5 -> 0.5
    assert S.energy_score(np.array([[0.0], [2.0]]), np.array([[1.0]]))[0] == pytest.approx(0.5)
    # a perfect point forecast scores zero; a wrong one scores the distance
    assert S.energy_score(np.array([[3.0, 4.0]]), np.array([[0.0, 0.0]]))[0] == pytest.approx(5.0)


def test_energy_score_is_lower_for_the_true_distribution():
    rng = np.random.default_rng(0)
    obs = rng.normal(0, 1, (200, 3))
    good = S.energy_score(rng.normal(0, 1, (300, 3)), obs).mean()
    shifted = S.energy_score(rng.normal(1, 1, (300, 3)), obs).mean()
    assert good < shifted


def test_wasserstein_and_ks_hand_computed():
    real = np.array([[0.0, 0.0], [1.0, 1.0]])
    gen = np.array([[1.0, 0.0], [2.0, 1.0]])
    assert S.per_step_wasserstein(real, gen) == pytest.approx(0.5)  # (1 + 0) / 2
    assert S.ks_statistic(np.array([0.0, 1.0]), np.array([5.0, 6.0])) == pytest.approx(1.0)


def test_deviation_autocorrelation_of_alternating_deviations():
    # deviations +1,-1,+1,-1 / -1,+1,-1,+1 around the zero mean: lag-1 acf = -3/4, lag-2 = 2/4
    x = np.array([[1.0, -1.0, 1.0, -1.0], [-1.0, 1.0, -1.0, 1.0]])
    np.testing.assert_allclose(S.deviation_autocorrelation(x, 2), [-0.75, 0.5])
    assert S.autocorrelation_error(x, x, 2) == 0.0
    assert S.autocorrelation_error(x, np.abs(x) * 0 + np.arange(4.0) * np.array([[1], [2]]), 1) > 0

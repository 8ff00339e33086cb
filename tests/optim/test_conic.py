"""The solver layer's conic path (Clarabel): a known SOCP optimum, its duals, and infeasibility."""

import numpy as np
import pytest
from scipy import sparse

from evgrid.optim.solver import ConicProblem, InfeasibleModelError, solve_conic


def test_socp_optimum_and_dual_sensitivity():
    # min x0 s.t. ||(x1, x2)|| <= x0, x1 = 3, x2 = 4  ->  x0 = 5; d obj / d b(x1 = 3) = 3/5 = -z
    A = sparse.csc_matrix(np.array([[0, 1, 0], [0, 0, 1], [-1, 0, 0], [0, -1, 0], [0, 0, -1]], dtype=float))
    b = np.array([3.0, 4.0, 0.0, 0.0, 0.0])
    res = solve_conic(ConicProblem(q=np.array([1.0, 0.0, 0.0]), A=A, b=b, zero=2, nonneg=0, soc=[3]))
    assert res.objective == pytest.approx(5.0, abs=1e-7)
    assert -res.z[0] == pytest.approx(0.6, abs=1e-6) and -res.z[1] == pytest.approx(0.8, abs=1e-6)


def test_infeasible_conic_model_raises_naming_rows():
    # x = 1 and x <= 0
    A = sparse.csc_matrix(np.array([[1.0], [1.0]]))
    prob = ConicProblem(q=np.array([1.0]), A=A, b=np.array([1.0, 0.0]), zero=1, nonneg=1,
                        row_names=["balance[bus 5]", "limit[x]"])
    with pytest.raises(InfeasibleModelError, match=r"balance\[bus 5\]|limit\[x\]"):
        solve_conic(prob)


def test_dimension_mismatch_is_an_error():
    with pytest.raises(ValueError, match="dimensions disagree"):
        solve_conic(ConicProblem(q=np.zeros(2), A=sparse.eye(3), b=np.zeros(3), zero=1, nonneg=1))

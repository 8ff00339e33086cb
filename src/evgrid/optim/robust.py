"""The project's distributionally robust / robust optimisation toolbox (Kedro-free).

Wasserstein DRO on a discrete support (used by the ``dro`` pipeline, paper 000 section 4)
-----------------------------------------------------------------------------------------
Nominal distribution ``P = sum_i p_i delta(xi_i)`` on ``i = 1..N`` atoms; candidate support
``xi_j, j = 1..J`` (the nominal atoms plus any extra atoms, e.g. GAN samples that widen the support);
ground metric ``d_ij = ||xi_i - xi_j||``. The worst-case expectation over the 1-Wasserstein ball
``{Q supported on {xi_j}: W_1(Q, P) <= eps}`` is the transport LP

    max_{pi >= 0}  sum_ij pi_ij Q_j(x)   s.t.  sum_j pi_ij = p_i,   sum_ij pi_ij d_ij <= eps

whose LP dual is the finite reformulation used inside the optimisation model

    min_{lambda >= 0, s}  lambda * eps + sum_i p_i s_i   s.t.  s_i >= Q_j(x) - lambda * d_ij  for all i, j.

With ``J`` = the nominal atoms only and ``eps = 0`` the ball holds ``P`` alone and the worst case is the
sample average. (For a continuous support and piecewise-affine costs this is Esfahani & Kuhn, 2018,
Thm 4.2; restricting ``Q`` to a finite candidate support gives the exact LP above.)

Also here: scenario reduction by k-medoids (the reduced set is the W1-closest distribution supported on
``k`` of the atoms; POT computes the achieved distance), the worst-case distribution's weights, CVaR,
and radius selection by K-fold cross-validation. Box / budget sets for classical robust optimisation
belong here as well (see :class:`BoxSet`, :class:`BudgetSet`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import ot
import pandas as pd
import pyomo.environ as pyo
from scipy.optimize import linprog
from scipy.spatial.distance import cdist

# ----------------------------------------------------------------------------------------------- metric


def standardise_features(blocks: dict[str, np.ndarray], reference: dict[str, np.ndarray] | None = None
                         ) -> tuple[np.ndarray, dict[str, float]]:
    """Stack per-channel scenario arrays ``(n, T)`` into ``(n, sum T)`` features, each channel divided by
    its (reference) standard deviation over all entries, then by ``sqrt(n_channels * T)`` so the Euclidean
    norm of a feature difference is the root-mean-square standardised deviation (radius is unit-free)."""
    ref = reference if reference is not None else blocks
    scales: dict[str, float] = {}
    parts = []
    n = None
    for name, arr in blocks.items():
        a = np.asarray(arr, dtype=float)
        if a.ndim != 2:
            raise ValueError(f"scenario channel {name!r} must be 2-D (scenarios x steps), got shape {a.shape}")
        if n is not None and a.shape[0] != n:
            raise ValueError(f"scenario channel {name!r} has {a.shape[0]} scenarios, expected {n}")
        n = a.shape[0]
        s = float(np.std(np.asarray(ref[name], dtype=float)))
        scales[name] = s if s > 0 else 1.0
        parts.append(a / scales[name])
    feats = np.concatenate(parts, axis=1)
    return feats / np.sqrt(feats.shape[1]), scales


def distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean ground metric ``d_ij = ||a_i - b_j||_2`` (scipy ``cdist``: exactly 0 for equal rows)."""
    return cdist(np.asarray(a, float), np.asarray(b, float), metric="euclidean")


def wasserstein_1(a: np.ndarray, pa: np.ndarray, b: np.ndarray, pb: np.ndarray) -> float:
    """Exact W1 between two discrete distributions (POT network simplex)."""
    return float(ot.emd2(np.asarray(pa, float), np.asarray(pb, float), distance_matrix(a, b)))


# ------------------------------------------------------------------------------------ scenario reduction


@dataclass
class ReducedSet:
    """``k`` representative atoms (indices into the original set) with probabilities."""

    medoids: np.ndarray          # (k,) indices into the original scenarios
    probabilities: np.ndarray    # (k,) sum to 1
    assignment: np.ndarray       # (n,) index 0..k-1 of the medoid each original atom is moved to
    wasserstein_distance: float  # W1(original, reduced), computed by POT

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"atom": np.arange(len(self.medoids)), "source_index": self.medoids,
                             "probability": self.probabilities})


def reduce_scenarios(features: np.ndarray, k: int, seed: int, weights: np.ndarray | None = None,
                     max_iter: int = 100) -> ReducedSet:
    """k-medoids (alternating Voronoi iteration, k-means++ seeding) on the W1 ground metric.

    For fixed medoids the W1-optimal reduced distribution moves every atom's mass to its nearest medoid,
    so minimising the k-medoids objective ``sum_i w_i min_m d(i, m)`` minimises ``W1(P, P_k)``.
    """
    x = np.asarray(features, float)
    n = x.shape[0]
    if not 1 <= k:
        raise ValueError(f"parameter 'n_reduced' must be >= 1, got {k}")
    w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, float) / np.sum(weights)
    if k >= n:
        med = np.arange(n)
        return ReducedSet(med, w.copy(), np.arange(n), 0.0)
    d = distance_matrix(x, x)
    rng = np.random.default_rng(seed)
    med = [int(rng.choice(n, p=w))]
    for _ in range(1, k):
        dmin = d[:, med].min(axis=1)
        prob = w * dmin**2
        med.append(int(rng.choice(n, p=prob / prob.sum())) if prob.sum() > 0 else
                   int(np.setdiff1d(np.arange(n), med)[0]))
    med_arr = np.array(med)
    for _ in range(max_iter):
        assign = np.argmin(d[:, med_arr], axis=1)
        new = med_arr.copy()
        for c in range(k):
            members = np.flatnonzero(assign == c)
            if len(members) == 0:
                continue
            within = d[np.ix_(members, members)] @ w[members]
            new[c] = members[np.argmin(within)]
        if np.array_equal(new, med_arr):
            break
        med_arr = new
    assign = np.argmin(d[:, med_arr], axis=1)
    probs = np.bincount(assign, weights=w, minlength=k)
    keep = probs > 0
    med_arr, probs = med_arr[keep], probs[keep]
    assign = np.argmin(d[:, med_arr], axis=1)
    w1 = float(ot.emd2(w, probs, d[:, med_arr]))
    return ReducedSet(med_arr, probs, assign, w1)


# ------------------------------------------------------------------------------ Wasserstein ambiguity set


@dataclass
class WassersteinBall:
    """Ambiguity set: distributions on ``support`` within W1 ``radius`` of ``nominal_probs`` on the
    nominal atoms. ``distances[i, j]`` = ground distance from nominal atom ``i`` to support atom ``j``."""

    nominal_probs: np.ndarray
    distances: np.ndarray
    radius: float
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_radius(self.radius)
        p = np.asarray(self.nominal_probs, float)
        if p.ndim != 1 or np.any(p < 0) or abs(p.sum() - 1) > 1e-6:
            raise ValueError("nominal probabilities must be a non-negative vector summing to 1")
        if self.distances.shape[0] != len(p):
            raise ValueError(f"distance matrix has {self.distances.shape[0]} rows for {len(p)} nominal atoms")
        if np.any(self.distances < 0):
            raise ValueError("ground distances must be >= 0")


def check_radius(radius: float, name: str = "radius") -> float:
    """Reject a negative or non-finite Wasserstein radius, naming the parameter."""
    r = float(radius)
    if not np.isfinite(r) or r < 0:
        raise ValueError(f"parameter {name!r} must be a finite number >= 0, got {radius!r}")
    return r


def define_wasserstein_dro(block: pyo.Block, ball: WassersteinBall, support_cost: Callable[[int], object],
                        lambda_max: float | None = None) -> pyo.Expression:
    """Attach the finite reformulation ``lambda*eps + sum_i p_i s_i`` with ``s_i >= Q_j - lambda d_ij``.

    ``support_cost(j)`` returns the Pyomo expression of the cost ``Q_j(x)`` in support atom ``j``.
    Creates ``block.dro_radius`` (mutable Param: change it and re-solve without rebuilding),
    ``block.dro_lambda``, ``block.dro_s`` and ``block.dro_epigraph[i, j]``; returns the worst-case
    expectation expression ``block.dro_worst_case``.
    """
    n_nom, n_sup = ball.distances.shape
    block.dro_nominal = pyo.Set(initialize=range(n_nom), ordered=True)
    block.dro_support = pyo.Set(initialize=range(n_sup), ordered=True)
    block.dro_radius = pyo.Param(initialize=float(ball.radius), mutable=True, within=pyo.NonNegativeReals)
    block.dro_p = pyo.Param(block.dro_nominal, initialize=dict(enumerate(map(float, ball.nominal_probs))))
    dist = {(i, j): float(ball.distances[i, j]) for i in range(n_nom) for j in range(n_sup)}
    block.dro_d = pyo.Param(block.dro_nominal, block.dro_support, initialize=dist)
    block.dro_lambda = pyo.Var(within=pyo.NonNegativeReals, bounds=(0, lambda_max))
    block.dro_s = pyo.Var(block.dro_nominal)
    block.dro_cost = pyo.Expression(block.dro_support, rule=lambda b, j: support_cost(j))

    def epigraph(b, i, j):
        return b.dro_s[i] >= b.dro_cost[j] - b.dro_lambda * b.dro_d[i, j]

    block.dro_epigraph = pyo.Constraint(block.dro_nominal, block.dro_support, rule=epigraph)
    block.dro_worst_case = pyo.Expression(
        expr=block.dro_lambda * block.dro_radius + sum(block.dro_p[i] * block.dro_s[i] for i in block.dro_nominal))
    return block.dro_worst_case


@dataclass
class WorstCase:
    value: float                 # max_Q E_Q[cost]
    weights: np.ndarray          # (J,) worst-case probabilities on the support
    plan: np.ndarray             # (N, J) transport plan
    transport_cost: float        # sum pi_ij d_ij (<= radius)


def worst_case_distribution(costs: np.ndarray, ball: WassersteinBall) -> WorstCase:
    """Solve the primal transport LP for given support costs ``Q_j`` (HiGHS via scipy)."""
    q = np.asarray(costs, float)
    n, m = ball.distances.shape
    if q.shape != (m,):
        raise ValueError(f"need one cost per support atom ({m}), got shape {q.shape}")
    c = -np.tile(q, n)  # maximise sum_ij pi_ij q_j, pi flattened row-major (i, j)
    a_eq = np.kron(np.eye(n), np.ones((1, m)))
    a_ub = ball.distances.reshape(1, -1)
    res = linprog(c, A_ub=a_ub, b_ub=[ball.radius + 1e-9], A_eq=a_eq, b_eq=ball.nominal_probs,
                  bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"worst-case transport LP failed: {res.message}")
    plan = res.x.reshape(n, m)
    plan[plan < 1e-12] = 0.0
    return WorstCase(float(-res.fun), plan.sum(axis=0), plan, float((plan * ball.distances).sum()))


# ------------------------------------------------------------------------------------------- risk measures


def cvar(values: np.ndarray, alpha: float, probabilities: np.ndarray | None = None) -> float:
    """Conditional value at risk ``CVaR_alpha`` (mean of the worst ``1 - alpha`` tail, Rockafellar-Uryasev)."""
    v = np.asarray(values, float)
    p = np.full(len(v), 1.0 / len(v)) if probabilities is None else np.asarray(probabilities, float) / np.sum(
        probabilities)
    order = np.argsort(v)[::-1]
    v, p = v[order], p[order]
    tail = 1.0 - alpha
    if tail <= 0:
        return float(v[0])
    cum = np.cumsum(p)
    take = np.minimum(p, np.maximum(tail - (cum - p), 0.0))
    return float((take * v).sum() / tail)


# ---------------------------------------------------------------------------------- radius cross-validation


def kfold_indices(n: int, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled K-fold split of ``range(n)`` -> list of (train, test) index arrays."""
    if n_folds < 2 or n_folds > n:
        raise ValueError(f"parameter 'cv_folds' must be in [2, {n}], got {n_folds}")
    perm = np.random.default_rng(seed).permutation(n)
    folds = np.array_split(perm, n_folds)
    return [(np.sort(np.concatenate([f for k, f in enumerate(folds) if k != i])), np.sort(folds[i]))
            for i in range(n_folds)]


def select_radius_cv(radii: Sequence[float], n: int, n_folds: int, seed: int,
                     fit_and_score: Callable[[float, np.ndarray, np.ndarray], float]) -> tuple[float, pd.DataFrame]:
    """Pick the radius with the lowest mean held-out score over K folds.

    ``fit_and_score(radius, train_idx, test_idx)`` fits the first stage on the training atoms and
    returns the out-of-sample score (e.g. mean recourse cost) on the test atoms. Ties go to the smaller
    radius. Returns the chosen radius and a table (radius, fold, score).
    """
    for r in radii:
        check_radius(r, "cv_radii")
    rows = []
    for f, (train, test) in enumerate(kfold_indices(n, n_folds, seed)):
        for r in radii:
            rows.append({"radius": float(r), "fold": f, "score": float(fit_and_score(float(r), train, test))})
    table = pd.DataFrame(rows)
    mean = table.groupby("radius")["score"].mean()
    best = float(mean.index[int(np.argmin(mean.to_numpy()))])  # first minimum = smallest radius
    return best, table


# ---------------------------------------------------------------------- classical robust uncertainty sets
#
# Uncertain data enter the models additively and on the right-hand side (nodal injections), so the robust
# counterpart of a row ``a_r . xi <= b_r`` is the deterministic row tightened by a constant protection
# ``max_{xi in U} a_r . (xi - nominal)``; both sets below compute it in closed form, row-wise and vectorised.


def _as_rows(coef) -> np.ndarray:
    """Dense (m x K) array of absolute row coefficients (accepts a 1-D vector or a scipy sparse matrix)."""
    a = coef.toarray() if hasattr(coef, "toarray") else np.asarray(coef, dtype=float)
    return np.abs(np.atleast_2d(a))


@dataclass
class BoxSet:
    """Box set with paper 001's control parameter ``Gamma in [0, 1]``:

        U(Gamma) = {xi : |xi_k - nominal_k| <= Gamma * deviation_k  for every k}

    (``deviation_k = xi_k`` of the paper: the half-width of the perturbation, e.g. 10 % of the forecast).
    ``Gamma = 0`` is the deterministic model, ``Gamma = 1`` the full box. Row protection
    ``Gamma * sum_k |a_rk| deviation_k``; the worst-case point for a monotone model is
    ``nominal + Gamma * deviation * sign(direction)`` (paper 001: renewables at forecast - Gamma xi, loads
    at forecast + Gamma xi).
    """

    nominal: np.ndarray
    deviation: np.ndarray
    gamma: float = 1.0

    _gamma_max_is_dim = False

    def __post_init__(self) -> None:
        self.nominal = np.asarray(self.nominal, dtype=float)
        self.deviation = np.asarray(self.deviation, dtype=float)
        if self.nominal.shape != self.deviation.shape:
            raise ValueError(f"uncertainty set: nominal has shape {self.nominal.shape}, deviation "
                             f"{self.deviation.shape}; expected the same shape")
        if not np.all(np.isfinite(self.nominal)):
            raise ValueError("uncertainty set: nominal values must be finite")
        bad = ~(np.isfinite(self.deviation) & (self.deviation >= 0))
        if bad.any():
            raise ValueError(f"uncertainty set: deviation must be finite and >= 0, got "
                             f"{self.deviation[bad][:3].tolist()} at flat positions {np.flatnonzero(bad)[:3].tolist()}")
        hi = float(self.deviation.size) if self._gamma_max_is_dim else 1.0
        if not (np.isfinite(self.gamma) and 0.0 <= float(self.gamma) <= hi):
            raise ValueError(f"parameter 'gamma' must be in [0, {hi:g}] for a {type(self).__name__}, got {self.gamma}")
        self.gamma = float(self.gamma)

    @property
    def dim(self) -> int:
        return int(self.nominal.size)

    def protection(self, coef) -> np.ndarray:
        """Per row ``r``: ``max_{xi in U} a_r . (xi - nominal)`` for ``coef`` (m x K, or a K-vector)."""
        a = _as_rows(coef)
        return self.gamma * (a @ self.deviation.ravel())

    def worst_case_linear(self, coef: np.ndarray) -> float:
        """``max_{xi in U} coef . xi``."""
        c = np.asarray(coef, dtype=float).ravel()
        return float(c @ self.nominal.ravel() + self.protection(c)[0])

    def worst_case_point(self, direction) -> np.ndarray:
        """``nominal + Gamma * deviation * sign(direction)`` (shape of ``nominal``)."""
        return self.nominal + self.gamma * self.deviation * np.sign(np.broadcast_to(direction, self.nominal.shape))

    def contains(self, xi, tol: float = 1e-9) -> bool:
        z = np.abs(np.asarray(xi, dtype=float) - self.nominal)
        return bool(np.all(z <= self.gamma * self.deviation + tol))

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` points drawn uniformly in the set (shape ``(n, *nominal.shape)``), reproducible by ``seed``."""
        rng = np.random.default_rng(seed)
        z = rng.uniform(-1.0, 1.0, size=(int(n), *self.nominal.shape))
        return self.nominal + self.gamma * self.deviation * z


@dataclass
class BudgetSet(BoxSet):
    """Bertsimas & Sim (2004, Oper. Res. 52(1)) budget set, ``Gamma in [0, K]``:

        U(Gamma) = {nominal + deviation * z : |z_k| <= 1, sum_k |z_k| <= Gamma}

    at most ``Gamma`` of the ``K`` coordinates (e.g. every node x hour) deviate fully, one more
    fractionally. Row protection = sum of the ``floor(Gamma)`` largest ``|a_rk| deviation_k`` plus
    ``(Gamma - floor(Gamma))`` times the next one. ``Gamma = K`` is the full box (``BoxSet`` with 1).
    """

    _gamma_max_is_dim = True

    def protection(self, coef) -> np.ndarray:
        a = _as_rows(coef) * self.deviation.ravel()[None, :]
        srt = -np.sort(-a, axis=1)  # descending per row
        k = int(np.floor(self.gamma))
        full = srt[:, :k].sum(axis=1)
        frac = srt[:, k] * (self.gamma - k) if k < srt.shape[1] else 0.0
        return full + frac

    def contains(self, xi, tol: float = 1e-9) -> bool:
        dev = np.where(self.deviation > 0, self.deviation, 1.0)
        z = np.abs(np.asarray(xi, dtype=float) - self.nominal) / dev
        z = np.where(self.deviation > 0, z, np.where(z > tol, np.inf, 0.0))
        return bool(np.all(z <= 1 + tol) and z.sum() <= self.gamma + tol)

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` points in the set: box draws whose L1 norm is scaled down to the budget where it exceeds it."""
        rng = np.random.default_rng(seed)
        z = rng.uniform(-1.0, 1.0, size=(int(n), self.dim))
        l1 = np.abs(z).sum(axis=1, keepdims=True)
        z = z * np.minimum(1.0, self.gamma / np.maximum(l1, 1e-12))
        return self.nominal + self.deviation * z.reshape((int(n), *self.nominal.shape))

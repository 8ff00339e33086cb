"""Upper level of the planning study: unit power per station from a discrete set, under the budget.

    min_P  social_cost(P) (+ penalty if station revenue < grid cost the stations add)
    s.t.   P_s in levels_kw,   capex(P) = units sum_s (fixed + per_kw P_s) <= budget

Every method gets the same number of *exact* lower-level evaluations (``upper.n_evaluations``; a plan already
evaluated in the same search is not evaluated or counted again) and a seed:

* ``surrogate_gp``: the largest uniform level within budget + random feasible plans, then one plan at a time
  maximising expected improvement ``EI = (f* - mu) Phi(z) + sigma phi(z)`` of a Gaussian process (Matern 5/2,
  ARD, white noise) over **every** feasible, not yet evaluated plan (the discrete space is enumerated);
* ``random``: feasible plans drawn uniformly without replacement;
* ``local_search``: first-improvement descent from the same start as the surrogate over one-station moves
  (one level up or down) and budget-neutral swaps (one station up, another down), neighbours in seeded random
  order; restarts from a random feasible plan at a local optimum.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from evgrid.studies.planning.config import PlanningConfigError
from evgrid.studies.planning.system import PlanningSystem

METHODS = ("surrogate_gp", "random", "local_search")


@dataclass
class SearchResult:
    """One search: plans (kW) and objectives ($/day) in evaluation order, plus each plan's cost rows."""

    method: str
    seed: int
    plans: list = field(default_factory=list)
    objectives: list = field(default_factory=list)
    costs: list = field(default_factory=list)

    @property
    def best_index(self) -> int:
        if not np.isfinite(np.min(self.objectives)):
            raise PlanningConfigError(f"{self.method}: no feasible plan among {len(self.objectives)} evaluations")
        return int(np.argmin(self.objectives))

    @property
    def best_plan(self) -> np.ndarray:
        return np.asarray(self.plans[self.best_index], dtype=float)

    @property
    def best_objective(self) -> float:
        return float(self.objectives[self.best_index])


class Space:
    """The feasible discrete plans: level indices ``(n_plans, S)`` whose capex fits the budget."""

    def __init__(self, system: PlanningSystem):
        up = system.config.upper
        self.levels = np.asarray(up.levels_kw, dtype=float)
        S, K = system.n_stations, len(self.levels)
        if K**S > 2_000_000:
            raise PlanningConfigError(f"planning.upper.levels_kw: {K}^{S} plans are too many to enumerate")
        idx = np.array(list(itertools.product(range(K), repeat=S)), dtype=np.int8)
        capex = system.capex_usd(self.levels[idx]).sum(axis=1)
        self.idx = idx[capex <= up.budget_usd + 1e-6]
        if not len(self.idx):
            raise PlanningConfigError(f"planning.upper.budget_usd = {up.budget_usd:,.0f} $ admits no plan")
        self.system = system
        self.pos = {row.tobytes(): i for i, row in enumerate(self.idx)}

    def kw(self, rows: np.ndarray) -> np.ndarray:
        return self.levels[np.asarray(rows)]

    def feasible(self, row: np.ndarray) -> bool:
        return np.asarray(row, dtype=np.int8).tobytes() in self.pos

    def uniform_start(self) -> np.ndarray:
        """The largest common level within budget (index row)."""
        S = self.idx.shape[1]
        for k in range(len(self.levels) - 1, -1, -1):
            if self.feasible(np.full(S, k)):
                return np.full(S, k, dtype=np.int8)
        raise PlanningConfigError("planning.upper.budget_usd: not even the lowest uniform level fits")


class _Budgeted:
    """Exact evaluations with memo and count: ``f(row) -> objective``; stops the search at ``n_eval``."""

    def __init__(self, space: Space, evaluate: Callable, n_eval: int, result: SearchResult):
        self.space, self.evaluate, self.n_eval, self.result = space, evaluate, n_eval, result
        self.memo: dict[bytes, float] = {}

    @property
    def left(self) -> int:
        return self.n_eval - len(self.memo)

    def __call__(self, row: np.ndarray) -> float:
        key = np.asarray(row, dtype=np.int8).tobytes()
        if key not in self.memo:
            plan = self.space.kw(row)
            obj, cost = self.evaluate(plan)
            self.memo[key] = obj
            self.result.plans.append(plan)
            self.result.objectives.append(obj)
            self.result.costs.append(cost)
        return self.memo[key]


def random_search(space: Space, f: _Budgeted, rng: np.random.Generator) -> None:
    """Feasible plans uniformly without replacement."""
    for i in rng.permutation(len(space.idx))[: f.left]:
        f(space.idx[i])


def _neighbours(row: np.ndarray, K: int) -> list[np.ndarray]:
    out = []
    S = len(row)
    for s in range(S):
        for d in (-1, 1):
            if 0 <= row[s] + d < K:
                n = row.copy()
                n[s] += d
                out.append(n)
    for s, t in itertools.permutations(range(S), 2):  # s up, t down
        if row[s] + 1 < K and row[t] - 1 >= 0:
            n = row.copy()
            n[s] += 1
            n[t] -= 1
            out.append(n)
    return out


def local_search(space: Space, f: _Budgeted, rng: np.random.Generator) -> None:
    """First-improvement descent over one-station moves and swaps (module docstring)."""
    cur = space.uniform_start()
    best = f(cur)
    while f.left > 0:
        moved = False
        nb = [n for n in _neighbours(cur, len(space.levels)) if space.feasible(n)]
        for i in rng.permutation(len(nb)):
            if f.left <= 0:
                return
            key = nb[i].tobytes()
            was_new = key not in f.memo
            val = f(nb[i])
            if val < best - 1e-9:
                cur, best, moved = nb[i], val, True
                break
            if not was_new:
                continue
        if not moved and f.left > 0:  # local optimum: restart from a random feasible plan
            cur = space.idx[rng.integers(len(space.idx))]
            best = f(cur)


def _gp(X: np.ndarray, y: np.ndarray, seed: int, restarts: int):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    d = X.shape[1]
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(np.ones(d), (1e-2, 1e2), nu=2.5) + WhiteKernel(1e-4, (1e-8, 1e-1))
    gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=seed, n_restarts_optimizer=restarts)
    with warnings.catch_warnings():  # few points in 8-D: length scales often sit on a bound (irrelevant input)
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(X, y)
    return gp


def surrogate_search(space: Space, f: _Budgeted, rng: np.random.Generator, n_init: int, seed: int,
                     restarts: int) -> None:
    """GP + expected improvement over every feasible plan not yet evaluated (module docstring)."""
    f(space.uniform_start())
    for i in rng.permutation(len(space.idx)):
        if len(f.memo) >= min(n_init, f.n_eval):
            break
        f(space.idx[i])
    X_all = space.idx / max(len(space.levels) - 1, 1)
    while f.left > 0:
        keys = list(f.memo)
        rows = np.array([np.frombuffer(k, dtype=np.int8) for k in keys])
        y = np.array([f.memo[k] for k in keys])
        ok = np.isfinite(y)
        if ok.sum() < 2:
            raise PlanningConfigError("fewer than 2 feasible plans in the surrogate's start design: lower the "
                                      "station loads (planning.cases.<case>.charging_trip_share)")
        gp = _gp(rows[ok] / max(len(space.levels) - 1, 1), y[ok], seed, restarts)
        mu, sd = gp.predict(X_all, return_std=True)
        sd = np.maximum(sd, 1e-12)
        best = y[ok].min()
        z = (best - mu) / sd
        ei = (best - mu) * norm.cdf(z) + sd * norm.pdf(z)
        ei[[space.pos[k] for k in keys if k in space.pos]] = -np.inf
        f(space.idx[int(np.argmax(ei))])


def run_search(method: str, space: Space, evaluate: Callable, n_eval: int, n_init: int, seed: int,
               restarts: int) -> SearchResult:
    """One search of ``method`` with ``n_eval`` exact evaluations (``evaluate(plan_kw) -> (objective, costs)``)."""
    result = SearchResult(method, seed)
    f = _Budgeted(space, evaluate, min(n_eval, len(space.idx)), result)
    rng = np.random.default_rng(seed)
    if method == "surrogate_gp":
        surrogate_search(space, f, rng, n_init, seed, restarts)
    elif method == "random":
        random_search(space, f, rng)
    elif method == "local_search":
        local_search(space, f, rng)
    else:
        raise PlanningConfigError(f"unknown search method {method!r}; expected one of {METHODS}")
    return result

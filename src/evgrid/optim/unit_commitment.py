"""Unit commitment: tight commitment logic and a certified, deterministic MILP first stage.

Two pieces, both Kedro-free and model-agnostic:

* :func:`define_commitment_logic` -- the tight ("3-bin") start-up / shut-down formulation of the unit
  commitment literature (Rajan & Takriti 2005; Morales-Espana, Latorre & Ramos, IEEE TPWRS 28(2), 2013):
  ``u[g,t] - u[g,t-1] = v[g,t] - w[g,t]`` (start-up ``v``, shut-down ``w``),
  minimum up time ``sum_{k=t-UT+1..t} v[g,k] <= u[g,t]``, minimum down time
  ``sum_{k=t-DT+1..t} w[g,k] <= 1 - u[g,t]`` (the convex hull of the min-up/down polytope), and a start-up
  cost ``c_su * v`` returned for the objective.
* :func:`solve_commitment` -- solves a MILP whose integer columns are commitments, with a bound certified
  by a Lagrangian decomposition over time and an incumbent built from that decomposition, then (if the gap
  is still above target) HiGHS branch and bound warm-started from the incumbent, stopped by a node limit
  (``mip_max_nodes``, a work limit: the same answer on any machine) or the gap target. A wall-clock limit
  is only a safety net that is flagged (``hit_time_limit``), never the intended stop.

Lagrangian bound (the time decomposition). Write the compiled MILP as ``min c'x  s.t.  lo <= A x <= hi,
x in X`` and split the rows into those whose columns all belong to one time step (local) and the rest
(linking: daily energy targets, worst-case epigraphs, inter-temporal commitment rows). For the LP
relaxation's row duals ``y`` of the linking rows,

    ``L(y) = sum_i [y_i > 0] y_i lo_i + [y_i < 0] y_i hi_i  +  sum_t min { (c - A_L' y)_t' x_t : local rows of t, x_t in X_t }
             + sum_{time-free j} min_{x_j in [l_j, u_j]} (c - A_L' y)_j x_j``

is a valid lower bound on the MILP for every sign-feasible ``y`` (weak duality), equal to the LP bound when
the per-step problems are solved as LPs and larger when they are solved as (small) MILPs: it adds the
integrality gap of every step. The per-step MILPs have the units of one step only, which HiGHS solves to
proven optimality in milliseconds; their commitments, put together and re-solved with ``u`` fixed, are the
incumbent (feasible whenever the recourse is complete).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import highspy
import numpy as np
import pyomo.environ as pyo

from evgrid.optim.solver import (
    SolveResult,
    SolverOptions,
    compile_model,
    highs_lp_from_compiled,
    load_solution,
    run_highs,
)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------- formulation
def define_commitment_logic(m: pyo.Block, u, units: list, steps: list, min_up_steps: dict | int = 1,
                            min_down_steps: dict | int = 1, initial_on: dict | None = None) -> None:
    """Tight start-up / shut-down logic on the commitment ``u[g,t]`` (Morales-Espana et al. 2013, eqs. 2-4):

    ``u[g,t] - u[g,t-1] = v[g,t] - w[g,t]``  (``u[g,-1]`` = ``initial_on[g]``, default: the unit is free at
    the start of the day, i.e. ``v``/``w`` at ``t = 0`` only count a change from ``initial_on``)
    ``sum_{k = t-UT+1}^{t} v[g,k] <= u[g,t]``        (minimum up time UT steps, t >= UT-1)
    ``sum_{k = t-DT+1}^{t} w[g,k] <= 1 - u[g,t]``    (minimum down time DT steps)

    Adds ``m.v`` (start-up) and ``m.w`` (shut-down) in [0, 1]: with the equalities they are integral whenever
    ``u`` is, so they stay continuous (the formulation is the convex hull of the min-up/down polytope, so
    the LP relaxation is as tight as it can be for these constraints). UT = DT = 1 leaves only the
    start-up accounting."""
    ut = min_up_steps if isinstance(min_up_steps, dict) else {g: int(min_up_steps) for g in units}
    dt = min_down_steps if isinstance(min_down_steps, dict) else {g: int(min_down_steps) for g in units}
    T = list(steps)
    m.v = pyo.Var(units, T, bounds=(0.0, 1.0))
    m.w = pyo.Var(units, T, bounds=(0.0, 1.0))

    def logic(b, g, t):
        k = T.index(t)
        if k == 0:
            if initial_on is None:
                return pyo.Constraint.Skip
            return u[g, t] - float(initial_on[g]) == b.v[g, t] - b.w[g, t]
        return u[g, t] - u[g, T[k - 1]] == b.v[g, t] - b.w[g, t]

    m.switch = pyo.Constraint(units, T, rule=logic)
    if initial_on is None:  # no state before the day: no start-up or shut-down counted at t = 0
        for g in units:
            m.v[g, T[0]].fix(0.0)
            m.w[g, T[0]].fix(0.0)

    def up(b, g, t):
        k = T.index(t)
        if ut[g] <= 1 or k < 1:
            return pyo.Constraint.Skip
        return sum(b.v[g, T[j]] for j in range(max(0, k - ut[g] + 1), k + 1)) <= u[g, t]

    def down(b, g, t):
        k = T.index(t)
        if dt[g] <= 1 or k < 1:
            return pyo.Constraint.Skip
        return sum(b.w[g, T[j]] for j in range(max(0, k - dt[g] + 1), k + 1)) <= 1 - u[g, t]

    m.min_up = pyo.Constraint(units, T, rule=up)
    m.min_down = pyo.Constraint(units, T, rule=down)


# --------------------------------------------------------------------------------------------- certified solve
@dataclass
class CommitmentResult:
    """Outcome of :func:`solve_commitment` (the model holds the incumbent; ``u`` left unfixed)."""

    objective: float
    bound: float
    gap: float
    status: str                 # 'optimal' (gap <= target) or 'feasible' (work limit reached first)
    source: str                 # which incumbent won: 'rounded', 'lagrangian', 'branch_and_bound'
    lp_bound: float
    lagrangian_bound: float
    mip_nodes: int = 0
    hit_time_limit: bool = False
    seconds: dict = field(default_factory=dict)

    def as_solve_result(self) -> SolveResult:
        return SolveResult(status=self.status, termination=self.source, objective=self.objective,
                           bound=self.bound, wall_s=float(sum(self.seconds.values())), is_mip=True)


def _sub_lp(a_csr, cost, col_lo, col_hi, row_lo, row_hi, rows, cols, integer) -> highspy.HighsLp:
    sub = a_csr[rows][:, cols].tocsc()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(cols), len(rows)
    lp.col_cost_ = cost[cols]
    lp.col_lower_, lp.col_upper_ = col_lo[cols], col_hi[cols]
    lp.row_lower_, lp.row_upper_ = row_lo[rows], row_hi[rows]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = sub.indptr.astype(np.int32)
    lp.a_matrix_.index_ = sub.indices.astype(np.int32)
    lp.a_matrix_.value_ = sub.data.astype(float)
    if integer[cols].any():
        lp.integrality_ = [highspy.HighsVarType.kInteger if f else highspy.HighsVarType.kContinuous
                           for f in integer[cols]]
    return lp


def _new_highs(threads: int | None, options: dict | None = None) -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    for k, v in (options or {}).items():
        h.setOptionValue(k, v)
    return h


def _run(h: highspy.Highs, threads: int | None, what: str) -> None:
    run_highs(h, threads)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"{what}: HiGHS {h.getModelStatus().name}")


def time_blocks(a_csr, tcol: np.ndarray) -> tuple[np.ndarray, dict]:
    """Rows local to one step (every column of the row has that step) and the linking rest:
    returns ``(linking mask, {step: local row indices})``."""
    coo = a_csr.tocoo()
    rmin = np.full(a_csr.shape[0], np.iinfo(np.int64).max)
    rmax = np.full(a_csr.shape[0], -2)
    np.minimum.at(rmin, coo.row, tcol[coo.col])
    np.maximum.at(rmax, coo.row, tcol[coo.col])
    local = (rmin == rmax) & (rmin >= 0)
    rows_of: dict = {}
    for r_i in np.flatnonzero(local):
        rows_of.setdefault(int(rmin[r_i]), []).append(r_i)
    return ~local, {t: np.asarray(r, dtype=int) for t, r in rows_of.items()}


def lagrangian_bound(lp: highspy.HighsLp, a_csr, integer: np.ndarray, tcol: np.ndarray, y: np.ndarray,
                     threads: int | None = None) -> tuple[float, np.ndarray]:
    """``L(y)`` of the module docstring for the row duals ``y`` (HiGHS sign: ``y > 0`` = lower side active)
    with the per-step problems solved as MILPs; returns the bound and the per-step MILPs' column values
    (NaN on time-free columns)."""
    link, rows_of = time_blocks(a_csr, tcol)
    y_link = np.where(link, y, 0.0)
    c = np.asarray(lp.col_cost_, float)
    rc = c - a_csr.T @ y_link
    lo_c, hi_c = np.asarray(lp.col_lower_, float), np.asarray(lp.col_upper_, float)
    lo_r, hi_r = np.asarray(lp.row_lower_, float), np.asarray(lp.row_upper_, float)
    side = np.where(y_link > 0, np.where(np.isfinite(lo_r), lo_r, 0.0), np.where(np.isfinite(hi_r), hi_r, 0.0))
    total = float(lp.offset_) + float(y_link @ side)
    tol = 1e-7 * max(1.0, float(np.abs(c).max()))
    free = np.flatnonzero(tcol < 0)
    r = np.where(np.abs(rc[free]) > tol, rc[free], 0.0)
    box = np.where(r > 0, lo_c[free], np.where(r < 0, hi_c[free], 0.0))
    if np.any((r != 0) & ~np.isfinite(box)):
        return -np.inf, np.full(len(c), np.nan)
    total += float(r @ box)
    x = np.full(len(c), np.nan)
    for t in sorted(set(tcol[tcol >= 0].tolist())):
        cidx = np.flatnonzero(tcol == t)
        sub = _sub_lp(a_csr, rc, lo_c, hi_c, lo_r, hi_r, rows_of.get(t, np.zeros(0, int)), cidx, integer)
        hs = _new_highs(threads, {"mip_rel_gap": 1e-7})
        hs.passModel(sub)
        _run(hs, threads, f"time block {t}")
        inf = hs.getInfo()
        total += float(inf.mip_dual_bound) if integer[cidx].any() else float(inf.objective_function_value)
        x[cidx] = np.asarray(hs.getSolution().col_value, float)
    return float(total), x


def _gap(best: float, bound: float) -> float:
    return (best - bound) / max(abs(best), 1e-9)


def _relaxation(h: highspy.Highs, lp: highspy.HighsLp, opts: SolverOptions, name: str):
    """Step 1: the LP relaxation on ``h``; returns ``(bound, row duals y, column values)``."""
    if opts.time_limit_s is not None:
        h.setOptionValue("time_limit", float(opts.time_limit_s))
    h.passModel(lp)
    _run(h, opts.threads, f"LP relaxation of '{name}'")
    lp_bound = float(h.getInfo().objective_function_value)
    sol = h.getSolution()
    return lp_bound, np.asarray(sol.row_dual, float), np.asarray(sol.col_value, float)


def _incumbents(h: highspy.Highs, lp: highspy.HighsLp, ints: np.ndarray, cands: dict, bound: float,
                gap_target: float, threads: int | None, name: str):
    """Step 2: complete each candidate commitment by the LP with the integers fixed (warm simplex on the
    relaxation's instance ``h``, restored afterwards); stop once certified. Returns ``(best, source, x)``."""
    lo0, hi0 = np.asarray(lp.col_lower_, float)[ints], np.asarray(lp.col_upper_, float)[ints]
    h.setOptionValue("solver", "simplex")
    best, source, best_x = np.inf, None, None
    for cand, vals in cands.items():
        h.changeColsBounds(len(ints), ints.astype(np.int32), vals, vals)
        _run(h, threads, f"'{name}' with the {cand} commitment fixed")
        val = float(h.getInfo().objective_function_value)
        if val < best - 1e-9:
            best, source, best_x = val, cand, np.asarray(h.getSolution().col_value, float)
        if _gap(best, bound) <= gap_target:
            break  # certified: the second candidate is not needed
    h.changeColsBounds(len(ints), ints.astype(np.int32), lo0, hi0)
    return best, source, best_x


def _branch_and_bound(info, integer: np.ndarray, ints: np.ndarray, start: np.ndarray, max_nodes: int,
                      gap_target: float, safety_time_limit_s: float, threads: int | None):
    """Step 3: HiGHS branch and bound from ``start`` (node limit, gap target, safety time limit); returns
    ``(bound or nan, objective or None, x, nodes, hit_time_limit)``."""
    mip = highs_lp_from_compiled(info, 1.0, integer)
    hm = _new_highs(threads, {"mip_max_nodes": int(max_nodes), "mip_rel_gap": float(gap_target),
                              "time_limit": float(safety_time_limit_s)})
    hm.passModel(mip)
    hm.setSolution(len(ints), ints.astype(np.int32), start[ints])
    run_highs(hm, threads)
    hit_time = hm.getModelStatus() == highspy.HighsModelStatus.kTimeLimit
    inf = hm.getInfo()
    found = inf.primal_solution_status == 2
    return (float(inf.mip_dual_bound) if np.isfinite(inf.mip_dual_bound) else np.nan,
            float(inf.objective_function_value) if found else None,
            np.asarray(hm.getSolution().col_value, float) if found else None, int(inf.mip_node_count), hit_time)


def solve_commitment(model, time_of: Callable, lp_options: dict | SolverOptions | None = None,
                     gap_target: float = 0.005, max_nodes: int = 0, safety_time_limit_s: float = 3600.0
                     ) -> CommitmentResult:
    """Certified MILP (module docstring); the integer columns are the model's unfixed integer variables.

    1. compile once; solve the LP relaxation (``lp_options``: threads, ``highs_options`` e.g. the
       interior point for big LPs), keep its row duals;
    2. Lagrangian time bound with those duals; the per-step MILPs' integer values are incumbent 1,
       the relaxation rounded up (every committed fraction) is incumbent 2; each is completed by the LP
       with the integers fixed (warm simplex on the same HiGHS instance);
    3. while ``gap > gap_target`` and ``max_nodes > 0``: HiGHS branch and bound from the better incumbent,
       ``mip_max_nodes = max_nodes`` (work limit), ``mip_rel_gap = gap_target``;
    4. the best schedule is loaded into ``model`` (every variable, as :func:`evgrid.optim.solver.solve`).
    """
    opts = SolverOptions.coerce(lp_options)
    threads = opts.threads
    t0 = time.perf_counter()
    info, obj = compile_model(model)
    if obj.sense != pyo.minimize:
        raise ValueError("solve_commitment expects a minimisation")
    cols = list(info.columns)
    integer = np.array([(v.is_integer() or v.is_binary()) for v in cols], dtype=bool)
    if not integer.any():
        raise ValueError(f"model '{model.name}' has no free integer variable")
    tcol = np.array([-1 if (t := time_of(v)) is None else int(t) for v in cols])
    lp = highs_lp_from_compiled(info, 1.0, None)
    a = info.A.tocsr()
    sec = {"compile": time.perf_counter() - t0}
    t1 = time.perf_counter()
    h = _new_highs(threads, {k: v for k, v in opts.highs_options.items()})
    lp_bound, y, x_lp = _relaxation(h, lp, opts, model.name)
    sec["relaxation"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    lag, x_blocks = lagrangian_bound(lp, a, integer, tcol, y, threads)
    sec["lagrangian"] = time.perf_counter() - t1
    bound = max(lp_bound, lag)
    t1 = time.perf_counter()
    ints = np.flatnonzero(integer)
    cands = {"lagrangian": np.round(np.nan_to_num(x_blocks[ints], nan=0.0)),
             "rounded": np.where(x_lp[ints] > 1e-6, np.ceil(x_lp[ints] - 1e-6), 0.0)}
    best, source, best_x = _incumbents(h, lp, ints, cands, bound, gap_target, threads, model.name)
    sec["incumbents"] = time.perf_counter() - t1
    nodes, hit_time = 0, False
    if _gap(best, bound) > gap_target and max_nodes > 0:
        t1 = time.perf_counter()
        bb_bound, bb_best, bb_x, nodes, hit_time = _branch_and_bound(
            info, integer, ints, best_x, max_nodes, gap_target, safety_time_limit_s, threads)
        if np.isfinite(bb_bound):
            bound = max(bound, bb_bound)
        if bb_best is not None and bb_best < best - 1e-9:
            best, source, best_x = bb_best, "branch_and_bound", bb_x
        sec["branch_and_bound"] = time.perf_counter() - t1
    load_solution(model, info, cols, best_x, integer)
    best = float(pyo.value(obj.expr))
    gap = max(0.0, _gap(best, bound))
    if hit_time:
        log.warning("commitment of '%s': the safety time limit %.0f s stopped branch and bound (gap %.2f %%)",
                    model.name, safety_time_limit_s, 100 * gap)
    return CommitmentResult(objective=best, bound=bound, gap=gap,
                            status="optimal" if gap <= gap_target + 1e-12 else "feasible", source=source,
                            lp_bound=lp_bound, lagrangian_bound=lag, mip_nodes=nodes, hit_time_limit=hit_time,
                            seconds=sec)


__all__ = ["CommitmentResult", "define_commitment_logic", "lagrangian_bound", "solve_commitment", "time_blocks"]

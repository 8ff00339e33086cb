"""The ONE solver wrapper: HiGHS (highspy) on a Pyomo model.

The model is compiled with Pyomo's ``LinearStandardFormCompiler`` (sparse matrices, ~0.35 s for the
33-bus x 96-step LinDistFlow with a 12-sided thermal polygon) and passed to ``highspy`` in one call;
Pyomo's per-constraint ``appsi`` interface took 15x longer on the same model. Every solve recompiles,
so changed mutable Params (loads, prices) and fixed variables are always picked up.

``solve(model, options) -> SolveResult``

* compiles linear models **and convex quadratic objectives** (``min c'x + 1/2 x'Qx``): the objective is split
  with Pyomo's ``generate_standard_repn(quadratic=True)``, the constraints and the linear part go through
  the standard-form compiler, and the quadratic part is passed to HiGHS as a lower-triangular Hessian
  (:func:`hessian_from_quadratic`). HiGHS's QP solver needs a convex objective (positive semi-definite
  ``Q`` when minimising) and continuous variables; it returns row duals like an LP, so ``duals=True``
  works for a QP (dual = ``d objective / d rhs`` at the optimum, same sign convention as for an LP).
  HiGHS's QP solver is a primal active-set method: fine for small QPs but it scales badly (measured here:
  a 2,000-column QP with 20 quadratic terms 2.2 s, 5,000 columns 16 s, 20,000 columns no result after 90 s,
  warm start from the LP basis does not help). ``SolverOptions.qp_solver`` therefore picks the backend:
  ``"highs"`` (Hessian to HiGHS), ``"clarabel"`` (sparse interior point, Clarabel 0.11: the 20,000-column
  QP in 0.7 s, duals from its conic multipliers) or ``"auto"`` (default: HiGHS up to
  ``qp_highs_max_cols`` columns, Clarabel above). Integer variables are rejected for a QP;

* applies a time limit, relative MIP gap, thread count, random seed and any raw HiGHS option;
* streams the HiGHS log into python logging (logger ``evgrid.optim.highs``, so it lands in the Kedro run's
  log) instead of stdout;
* checks the termination status and only then loads the solution. It never reads values from a failed
  solve: an infeasible model raises :class:`InfeasibleModelError` whose ``.diagnosis`` (an
  :class:`evgrid.optim.diagnostics.InfeasibilityReport`) names the constraint families, indices and time
  steps that cannot be met (elastic re-solve with penalised slacks); unbounded / error / "time limit
  without incumbent" raise :class:`SolverError`. A time limit *with* an incumbent returns the incumbent
  with ``status="feasible"`` and a warning (or raises if ``require_optimal=True``);
* for LPs, ``duals=True`` loads constraint duals into the model's ``dual`` Suffix (created if missing).
  HiGHS gives no duals for a MILP: use :func:`evgrid.optim.prices.lp_duals_of_milp` (fix integers,
  relax, re-solve).

Re-solving after changing mutable Params (e.g. ``h.p_load_kw[b, t] = v``) or fixing variables needs no
rebuild of the Pyomo model: call ``solve`` again. Many re-solves on one compile (column bounds and costs, row
bounds along named directions): :class:`evgrid.optim.persistent.PersistentProblem`.

Example::

    from evgrid.optim.solver import solve, SolverOptions, InfeasibleModelError
    try:
        res = solve(m, SolverOptions(time_limit_s=120, mip_gap=1e-3, threads=2), duals=True)
    except InfeasibleModelError as err:
        print(err)                      # names families + time steps
        err.diagnosis.slacks            # DataFrame: family, index, step, slack
    res.objective, res.status, res.wall_s, res.mip_gap
    m.dual[m.grid.balance_p[10, 42]]     # LP dual (see evgrid.optim.prices for the sign convention)
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC
from pyomo.repn import generate_standard_repn
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler
from scipy.sparse import coo_matrix

from evgrid.optim.diagnostics import InfeasibilityReport, elastic_copy

log = logging.getLogger(__name__)
HIGHS_LOG = logging.getLogger("evgrid.optim.highs")


class SolverError(RuntimeError):
    """The solver did not return a usable solution (unbounded, numerical error, limit without incumbent)."""


class InfeasibleModelError(SolverError):
    """The model is infeasible; ``diagnosis`` (if computed) names what cannot be met."""

    def __init__(self, message: str, diagnosis=None):
        super().__init__(message)
        self.diagnosis = diagnosis


@dataclass
class SolverOptions:
    """Solver settings (a dict with the same keys is accepted wherever options are)."""

    time_limit_s: float | None = 300.0
    mip_gap: float | None = 1e-4
    threads: int | None = None
    seed: int = 0
    log_to_logger: bool = True
    require_optimal: bool = False
    diagnose_infeasible: bool = True
    highs_options: dict = field(default_factory=dict)
    qp_solver: str = "auto"
    """Backend for a quadratic objective: ``auto``, ``highs`` or ``clarabel`` (see module docstring)."""
    qp_highs_max_cols: int = 1500
    """``auto`` uses HiGHS's active-set QP up to this many columns and Clarabel above."""
    warm_start: bool = False
    """MIP start: pass the current values of the integer variables (those whose Pyomo value is set) to HiGHS
    as a partial solution; HiGHS completes it (LP over the continuous columns) into its first incumbent, so
    a time-limited MILP has an incumbent and a gap to report instead of nothing."""

    @classmethod
    def coerce(cls, options: SolverOptions | Mapping | None) -> SolverOptions:
        if options is None:
            return cls()
        if isinstance(options, cls):
            return options
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown solver options {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**dict(options))


@dataclass
class SolveResult:
    """Outcome of :func:`solve` (only returned when a solution was loaded)."""

    status: str
    """``optimal`` or ``feasible`` (limit reached with an incumbent)."""
    termination: str
    objective: float | None
    bound: float | None
    wall_s: float
    is_mip: bool
    has_duals: bool = False
    is_qp: bool = False
    build_s: float = 0.0
    """Seconds spent compiling the Pyomo model and setting up HiGHS (``wall_s`` is HiGHS itself)."""

    @property
    def mip_gap(self) -> float | None:
        if self.objective is None or self.bound is None:
            return None
        return abs(self.objective - self.bound) / max(1e-9, abs(self.objective))

    @property
    def stopped_by_time_limit(self) -> bool:
        """True when the wall-clock safety net ``time_limit_s`` stopped HiGHS (an incumbent, not the work-limited
        answer): this result depends on the machine's load. :func:`solve` warns once; callers record it
        (e.g. a column of their table, :func:`evgrid.runtime.sanity.safety_net_fired` in the run)."""
        return self.termination == "time_limit"


# ---------------------------------------------------------------------------------------------------------
# Conic path (second-order cones; any study's SOCP, and the large-QP backend of solve): Clarabel through its
# own API. HiGHS has no cones and Pyomo has no Clarabel plugin, so conic models are passed as matrices.


@dataclass
class ConicProblem:
    """``min 1/2 x'Px + q'x  s.t.  A x + s = b,  s in K`` with ``K = {0}^zero x R+^nonneg x SOC(d1) x ...``.

    Rows of ``A``/``b`` are ordered: ``zero`` equality rows, ``nonneg`` inequality rows, then one block
    per second-order cone of size ``soc[i]`` (``s_0 >= ||s_1:||``). ``row_names`` (optional, one per row)
    is used to name the rows in error messages.
    """

    q: np.ndarray
    A: object  # scipy.sparse matrix
    b: np.ndarray
    zero: int
    nonneg: int
    soc: list[int] = field(default_factory=list)
    P: object | None = None
    row_names: list[str] | None = None


@dataclass
class ConicResult:
    """Primal ``x``, slacks ``s`` and duals ``z`` (Clarabel sign: ``d objective / d b = -z``)."""

    x: np.ndarray
    s: np.ndarray
    z: np.ndarray
    objective: float
    status: str
    wall_s: float
    iterations: int


def _run_clarabel(problem: ConicProblem, opts: SolverOptions):
    """Run Clarabel on a :class:`ConicProblem`: the one place that builds its cones and settings.

    Returns ``(solution, status, wall_s)`` with ``status`` Clarabel's status name (e.g. ``"Solved"``).
    """
    import clarabel
    from scipy import sparse

    n = len(problem.q)
    A = sparse.csc_matrix(problem.A)
    m = A.shape[0]
    if A.shape[1] != n or len(problem.b) != m or problem.zero + problem.nonneg + sum(problem.soc) != m:
        raise ValueError(
            f"conic problem dimensions disagree: A {A.shape}, q {n}, b {len(problem.b)}, "
            f"cones {problem.zero}+{problem.nonneg}+{sum(problem.soc)}"
        )
    P = sparse.triu(sparse.csc_matrix(problem.P), format="csc") if problem.P is not None else sparse.csc_matrix((n, n))
    cones = []
    if problem.zero:
        cones.append(clarabel.ZeroConeT(problem.zero))
    if problem.nonneg:
        cones.append(clarabel.NonnegativeConeT(problem.nonneg))
    cones += [clarabel.SecondOrderConeT(int(d)) for d in problem.soc]
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    if opts.time_limit_s is not None:
        settings.time_limit = float(opts.time_limit_s)
    for key, value in opts.highs_options.items():
        if hasattr(settings, key):
            setattr(settings, key, value)
    t0 = time.perf_counter()
    solver = clarabel.DefaultSolver(P, np.asarray(problem.q, float), A, np.asarray(problem.b, float), cones, settings)
    sol = solver.solve()
    return sol, str(sol.status).split(".")[-1], time.perf_counter() - t0


def solve_conic(problem: ConicProblem, options: SolverOptions | Mapping | None = None) -> ConicResult:
    """Solve a :class:`ConicProblem` with Clarabel (interior point, SOCP/QP).

    Raises :class:`InfeasibleModelError` on primal infeasibility (naming the row blocks when
    ``row_names`` is given) and :class:`SolverError` on any other non-optimal status.
    ``options.time_limit_s`` applies; ``options.highs_options`` entries that name a Clarabel setting
    (e.g. ``{"tol_gap_rel": 1e-9}``) are passed on.
    """
    opts = SolverOptions.coerce(options)
    sol, status, wall = _run_clarabel(problem, opts)
    m = len(problem.b)
    if status in ("PrimalInfeasible", "AlmostPrimalInfeasible"):
        z = np.asarray(sol.z, float)
        names = problem.row_names or [f"row {i}" for i in range(m)]
        worst = [names[i] for i in np.argsort(-np.abs(z))[:5] if abs(z[i]) > 0]
        raise InfeasibleModelError(f"conic model infeasible (Clarabel {status}); infeasibility certificate "
                                   f"is largest on: {worst}")
    if status not in ("Solved", "AlmostSolved"):
        raise SolverError(f"Clarabel returned {status} after {sol.iterations} iterations ({wall:.2f} s)")
    if status == "AlmostSolved":
        log.warning("Clarabel: solved to reduced accuracy")
    return ConicResult(
        x=np.asarray(sol.x, float), s=np.asarray(sol.s, float), z=np.asarray(sol.z, float),
        objective=float(sol.obj_val), status=status, wall_s=wall, iterations=int(sol.iterations),
    )


def is_mip(model) -> bool:
    """True if the model has an unfixed integer/binary variable."""
    return any(
        (v.is_integer() or v.is_binary()) and not v.fixed for v in model.component_data_objects(pyo.Var, active=True)
    )


_STATUS = {
    "kOptimal": "optimal",
    "kInfeasible": "infeasible",
    "kUnboundedOrInfeasible": "infeasible_or_unbounded",
    "kUnbounded": "unbounded",
    "kTimeLimit": "time_limit",
    "kIterationLimit": "iteration_limit",
    "kSolutionLimit": "solution_limit",
    "kObjectiveBound": "objective_limit",
    "kObjectiveTarget": "objective_limit",
}


def compile_model(model):
    """Compile the active linear model to standard form (Pyomo ``LinearStandardFormCompiler``, mixed form)."""
    info, obj, _quad = compile_model_qp(model)
    if _quad is not None:
        raise SolverError(f"model '{model.name}' has a quadratic objective; use compile_model_qp")
    return info, obj


def compile_model_qp(model):
    """Compile constraints + linear objective part; return ``(info, objective, quadratic)``.

    ``quadratic`` is None for a linear objective, else ``(vars_i, vars_j, coefs)`` of the objective's
    quadratic terms ``sum_k coef_k * x_i[k] * x_j[k]`` (the linear part and constant stay in ``info.c``).
    """
    objs = list(model.component_data_objects(pyo.Objective, active=True))
    if len(objs) != 1:
        raise SolverError(f"model '{model.name}' needs exactly one active objective, found {len(objs)}")
    obj = objs[0]
    quad = None
    try:
        with PauseGC():
            if obj.expr.polynomial_degree() in (0, 1):
                info = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
            else:
                repn = generate_standard_repn(obj.expr, compute_values=True, quadratic=True)
                if repn.nonlinear_expr is not None:
                    raise ValueError("objective has terms of degree > 2 or non-polynomial terms")
                lin = sum(c * v for c, v in zip(repn.linear_coefs, repn.linear_vars, strict=True)) + repn.constant
                quad = (list(v[0] for v in repn.quadratic_vars), list(v[1] for v in repn.quadratic_vars),
                        np.asarray(repn.quadratic_coefs, dtype=float))
                obj.deactivate()
                tmp = pyo.Objective(expr=lin, sense=obj.sense)
                name = "_evgrid_linear_objective_part"
                model.add_component(name, tmp)
                try:
                    info = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
                finally:
                    model.del_component(name)
                    obj.activate()
    except (ValueError, TypeError) as exc:
        raise SolverError(f"model '{model.name}' is not linear/quadratic/compilable: {exc}") from exc
    return info, obj, quad


def hessian_from_quadratic(quadratic, columns: list, sense: float) -> tuple[highspy.HighsHessian, list]:
    """HiGHS lower-triangular Hessian ``Q`` with ``sense * sum_k c_k x_i x_j = 1/2 x'Qx``.

    Variables of the quadratic part that appear nowhere else are appended as extra columns; returns the
    Hessian and the list of those extra variables (their columns follow ``columns``).
    """
    vi, vj, coef = quadratic
    pos = {id(v): k for k, v in enumerate(columns)}
    extra = []
    for v in [*vi, *vj]:
        if id(v) not in pos:
            pos[id(v)] = len(columns) + len(extra)
            extra.append(v)
    n = len(columns) + len(extra)
    i = np.array([pos[id(v)] for v in vi], dtype=np.int64)
    j = np.array([pos[id(v)] for v in vj], dtype=np.int64)
    # x_i x_j (i != j) contributes c to Q_ij and Q_ji; x_i^2 contributes 2c to Q_ii. Keep the lower triangle.
    lo, hi = np.maximum(i, j), np.minimum(i, j)
    val = sense * np.where(i == j, 2.0 * coef, coef)
    q = coo_matrix((val, (lo, hi)), shape=(n, n)).tocsc()
    q.sum_duplicates()
    q.eliminate_zeros()
    hess = highspy.HighsHessian()
    hess.dim_ = n
    hess.format_ = highspy.HessianFormat.kTriangular
    hess.start_ = q.indptr.astype(np.int32)
    hess.index_ = q.indices.astype(np.int32)
    hess.value_ = q.data.astype(float)
    return hess, extra


def append_free_columns(lp: highspy.HighsLp, extra: list) -> None:
    """Append columns without rows (quadratic-only variables) to a column-wise HighsLp."""
    if not extra:
        return
    k = len(extra)
    lp.num_col_ = lp.num_col_ + k
    lp.col_cost_ = np.concatenate([np.asarray(lp.col_cost_, dtype=float), np.zeros(k)])
    lp.col_lower_ = np.concatenate([np.asarray(lp.col_lower_, dtype=float),
                                    [-np.inf if v.lb is None else float(v.lb) for v in extra]])
    lp.col_upper_ = np.concatenate([np.asarray(lp.col_upper_, dtype=float),
                                    [np.inf if v.ub is None else float(v.ub) for v in extra]])
    start = np.asarray(lp.a_matrix_.start_, dtype=np.int32)
    lp.a_matrix_.start_ = np.concatenate([start, np.full(k, start[-1], dtype=np.int32)])


def highs_threads(threads: int | None) -> int:
    """The thread count a solve asks HiGHS for: ``threads``, or (None / 0) HiGHS's own default, half the
    CPUs this process may use rounded up (HiGHS ``initialize_scheduler``), so the count never depends on
    which solve ran before in the process."""
    if threads:
        return int(threads)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, (cpus + 1) // 2)


def run_highs(h: highspy.Highs, threads: int | None) -> highspy.HighsStatus:
    """``h.run()`` with :func:`highs_threads` ``(threads)``, restarting HiGHS's global scheduler when it was
    started with another thread count.

    HiGHS keeps one task scheduler per process; a solve that asks for a different ``threads`` than the
    scheduler was started with returns ``kError`` with model status ``kNotset`` before doing any work (e.g. the
    ``grid`` pipeline at 2 threads followed by a 1-thread ``dwpt`` solve in the same ``kedro run``). That
    answer is the scheduler's state: reset and run once more (no module state kept here).
    """
    h.setOptionValue("threads", highs_threads(threads))
    status = h.run()
    if status == highspy.HighsStatus.kError and h.getModelStatus() == highspy.HighsModelStatus.kNotset:
        highspy.Highs.resetGlobalScheduler(True)
        status = h.run()
    return status


def highs_lp_from_compiled(info, sense: float, integer: np.ndarray | None = None) -> highspy.HighsLp:
    """HiGHS column-wise LP/MILP from a compiled standard form (:func:`compile_model`).

    ``sense`` is +1 for minimise and -1 for maximise (HiGHS minimises ``sense * c``); ``integer`` marks
    integer columns (``None``: a pure LP). Shared by :func:`solve` and
    :class:`evgrid.optim.persistent.PersistentProblem`.
    """
    cols = info.columns
    lp = highspy.HighsLp()
    lp.num_col_ = len(cols)
    lp.num_row_ = len(info.rows)
    c = np.asarray(info.c.toarray()).ravel() if len(cols) else np.zeros(0)
    lp.col_cost_ = sense * c
    lp.offset_ = sense * float(info.c_offset[0]) if len(info.c_offset) else 0.0
    lp.col_lower_ = np.array([-np.inf if v.lb is None else float(v.lb) for v in cols])
    lp.col_upper_ = np.array([np.inf if v.ub is None else float(v.ub) for v in cols])
    rhs = np.asarray(info.rhs, dtype=float)
    btype = np.array([r.bound_type for r in info.rows], dtype=int)
    lp.row_lower_ = np.where(btype <= 0, rhs, -np.inf)
    lp.row_upper_ = np.where(btype >= 0, rhs, np.inf)
    a = info.A.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    if integer is not None:
        lp.integrality_ = [highspy.HighsVarType.kInteger if f else highspy.HighsVarType.kContinuous for f in integer]
    return lp


def load_solution(model, info, cols: list, x: np.ndarray, integer: np.ndarray | None = None) -> None:
    """The ONE primal loader: column values ``x`` into the Pyomo variables ``cols`` (integer columns rounded),
    then the variables the compiler eliminated (``info.eliminated_vars``) from their defining expressions."""
    flags = np.zeros(len(cols), dtype=bool) if integer is None else integer
    for v, val, isint in zip(cols, np.asarray(x, dtype=float), flags, strict=True):
        v.set_value(float(round(val)) if isint else float(val), skip_validation=True)
    for v, expr in info.eliminated_vars:
        v.set_value(pyo.value(expr), skip_validation=True)


def load_duals(model, info, row_dual: np.ndarray) -> None:
    """The ONE dual loader: ``model.dual[con]`` (an IMPORT Suffix, created if missing, cleared) = the sum of
    ``row_dual`` over the compiled rows of ``con`` (a ranged constraint may compile to two rows). ``row_dual``
    is already in the model's sense (``d objective / d rhs``)."""
    if not hasattr(model, "dual") or not isinstance(model.dual, pyo.Suffix):
        model.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    model.dual.clear()
    acc: dict = {}
    for row, val in zip(info.rows, np.asarray(row_dual, dtype=float), strict=True):
        acc[row.constraint] = acc.get(row.constraint, 0.0) + float(val)
    for con, val in acc.items():
        model.dual[con] = val


def solve(model, options: SolverOptions | Mapping | None = None, *, duals: bool = False) -> SolveResult:
    """Solve ``model`` with HiGHS; load the solution only if one exists (see module docstring)."""
    opts = SolverOptions.coerce(options)
    t0 = time.perf_counter()
    info, obj, quad = compile_model_qp(model)
    cols = list(info.columns)
    integer = np.array([(v.is_integer() or v.is_binary()) for v in cols], dtype=bool)
    mip = bool(integer.any())
    if duals and mip:
        raise ValueError("HiGHS gives no duals for a MILP; use evgrid.optim.prices.lp_duals_of_milp(model)")
    sense = 1.0 if obj.sense == pyo.minimize else -1.0

    lp = highs_lp_from_compiled(info, sense, integer if mip else None)
    hess = None
    if quad is not None:
        if mip:
            raise SolverError(f"model '{model.name}': HiGHS solves no mixed-integer QP; fix or relax the integers")
        hess, extra = hessian_from_quadratic(quad, cols, sense)
        append_free_columns(lp, extra)
        cols = cols + extra
        integer = np.zeros(len(cols), dtype=bool)
        backend = opts.qp_solver
        if backend not in ("auto", "highs", "clarabel"):
            raise ValueError(f"solver option 'qp_solver' must be auto, highs or clarabel, got {backend!r}")
        if backend == "clarabel" or (backend == "auto" and len(cols) > opts.qp_highs_max_cols):
            return solve_qp_clarabel(model, info, lp, hess, cols, sense, obj, opts, duals, t0)

    h = _configured_highs(opts)
    t_build = time.perf_counter() - t0
    passed = h.passModel(_highs_model(lp, hess) if hess is not None else lp)
    if passed == highspy.HighsStatus.kError:
        raise SolverError(f"HiGHS rejected model '{model.name}' (passModel error)")
    if opts.warm_start and mip:
        _set_mip_start(h, cols, integer, model.name)
    t1 = time.perf_counter()
    run_highs(h, opts.threads)
    wall = time.perf_counter() - t1
    kind = "MILP" if mip else ("QP" if hess is not None else "LP")
    status, tc, hinfo = _highs_outcome(h, model, opts, kind, (len(info.rows), len(cols)), t_build, wall)

    sol = h.getSolution()
    load_solution(model, info, cols, sol.col_value, integer)
    objective = pyo.value(obj.expr)
    bound = sense * hinfo.mip_dual_bound if mip else objective
    if duals:
        load_duals(model, info, sense * np.asarray(sol.row_dual, dtype=float))
    return SolveResult(
        status=status,
        termination=tc,
        objective=objective,
        bound=bound,
        wall_s=wall,
        is_mip=mip,
        has_duals=bool(duals),
        build_s=t_build,
        is_qp=hess is not None,
    )


def _configured_highs(opts: SolverOptions) -> highspy.Highs:
    """A ``Highs`` instance with the options' log routing, time limit, MIP gap, seed and raw HiGHS options."""
    h = highspy.Highs()
    h.setOptionValue("log_to_console", False)
    if opts.log_to_logger:
        h.cbLogging.subscribe(lambda e: HIGHS_LOG.info(e.message.rstrip()))
    else:
        h.setOptionValue("output_flag", False)
    if opts.time_limit_s is not None:
        h.setOptionValue("time_limit", float(opts.time_limit_s))
    if opts.mip_gap is not None:
        h.setOptionValue("mip_rel_gap", float(opts.mip_gap))
    h.setOptionValue("random_seed", int(opts.seed))
    for key, val in opts.highs_options.items():
        if h.setOptionValue(key, val) != highspy.HighsStatus.kOk:
            raise ValueError(f"HiGHS rejected option {key}={val!r}")
    return h


def _highs_model(lp: highspy.HighsLp, hess: highspy.HighsHessian) -> highspy.HighsModel:
    hm = highspy.HighsModel()
    hm.lp_ = lp
    hm.hessian_ = hess
    return hm


def _highs_outcome(h: highspy.Highs, model, opts: SolverOptions, kind: str, shape: tuple[int, int],
                   t_build: float, wall: float):
    """``(status, termination, info)`` of a finished HiGHS run: ``optimal``, or ``feasible`` at a limit with an
    incumbent (a warning; :class:`SolverError` with ``require_optimal``); infeasible ->
    :class:`InfeasibleModelError` (with the diagnosis), anything else -> :class:`SolverError`."""
    status_name = h.getModelStatus().name
    tc = _STATUS.get(status_name, status_name)
    hinfo = h.getInfo()
    feasible = hinfo.primal_solution_status == 2
    log.info("HiGHS %s on '%s' (%s, %d rows x %d cols) compile %.3f s, solve %.3f s",
             tc, model.name, kind, shape[0], shape[1], t_build, wall)
    if tc in ("infeasible", "infeasible_or_unbounded"):
        _raise_infeasible(model, opts, f"HiGHS: {status_name}")
    if tc == "optimal":
        return "optimal", tc, hinfo
    if tc in ("time_limit", "iteration_limit", "solution_limit", "objective_limit") and feasible:
        if opts.require_optimal:
            raise SolverError(f"model '{model.name}': HiGHS stopped at {tc} before proving optimality")
        # a work limit (nodes, iterations) is a deterministic, requested stop: INFO; the clock is a safety net: WARNING
        log.log(logging.WARNING if tc == "time_limit" else logging.INFO,
                "model '%s': HiGHS stopped at %s; using the incumbent (gap %.3g)%s", model.name, tc, hinfo.mip_gap,
                " - the wall-clock safety net fired: this result depends on machine load "
                "(SolveResult.stopped_by_time_limit)" if tc == "time_limit" else "")
        return "feasible", tc, hinfo
    raise SolverError(f"model '{model.name}': HiGHS returned {status_name} without a usable solution")


# ----------------------------------------------------------------------------- QP by interior point


def diagnose_infeasibility(model, options: SolverOptions | Mapping | None = None, time_index=None,
                           relax_bounds: bool = True, equality_weight: float = 100.0) -> InfeasibilityReport:
    """Solve the elastic copy of ``model`` (:func:`evgrid.optim.diagnostics.elastic_copy`: a slack pair on
    every constraint, soft variable bounds) with the same time limit, gap, threads, seed and HiGHS options,
    and report the non-zero slacks by constraint family, index and time step."""
    opts = SolverOptions.coerce(options)
    elastic = elastic_copy(model, time_index=time_index, relax_bounds=relax_bounds, equality_weight=equality_weight)
    res = solve(elastic.model, SolverOptions(
        time_limit_s=opts.time_limit_s, mip_gap=opts.mip_gap, threads=opts.threads, seed=opts.seed,
        log_to_logger=opts.log_to_logger, diagnose_infeasible=False, highs_options=dict(opts.highs_options)))
    return elastic.report(res.objective)


def _raise_infeasible(model, opts: SolverOptions, solver_status: str):
    """Raise :class:`InfeasibleModelError`, with the diagnosis (which constraints and time steps) if enabled."""
    diagnosis = None
    msg = f"model '{model.name}' is infeasible ({solver_status})"
    if opts.diagnose_infeasible:
        try:
            diagnosis = diagnose_infeasibility(model, options=opts)
            msg += ". " + diagnosis.message()
        except SolverError as exc:  # pragma: no cover - diagnosis itself failed
            msg += f" (diagnosis failed: {exc})"
    raise InfeasibleModelError(msg, diagnosis)


def _set_mip_start(h: highspy.Highs, cols: list, integer: np.ndarray, name: str) -> None:
    """Give HiGHS the integer columns' current Pyomo values as a sparse partial MIP start."""
    idx = [i for i in np.flatnonzero(integer) if cols[i].value is not None]
    if not idx:
        log.warning("model '%s': warm_start requested but no integer variable has a value", name)
        return
    values = np.array([round(float(cols[i].value)) for i in idx], dtype=float)
    if h.setSolution(len(idx), np.asarray(idx, dtype=np.int32), values) == highspy.HighsStatus.kError:
        log.warning("model '%s': HiGHS rejected the MIP start (%d integer values)", name, len(idx))
    else:
        log.info("model '%s': MIP start with %d of %d integer values", name, len(idx), int(integer.sum()))


def solve_qp_clarabel(model, info, lp, hess, cols, sense, obj, opts: SolverOptions, duals: bool, t0: float
                       ) -> SolveResult:
    """Solve ``min sense*(c'x) + 1/2 x'Qx`` over the rows/bounds of ``lp`` with Clarabel (interior point).

    Rows ``lo <= a x <= hi`` become Clarabel's ``A x + s = b`` with ``s`` in the zero cone (equalities) or
    the non-negative cone (each finite side, and each finite variable bound). Row duals are returned in
    HiGHS's convention (``d (sense*objective) / d bound``) and stored like :func:`solve` does.
    """
    from scipy import sparse

    n = len(cols)
    a = sparse.csc_matrix((np.asarray(lp.a_matrix_.value_, float), np.asarray(lp.a_matrix_.index_),
                           np.asarray(lp.a_matrix_.start_)), shape=(lp.num_row_, n)).tocsr()
    lo = np.asarray(lp.row_lower_, float)
    hi = np.asarray(lp.row_upper_, float)
    eq = np.isfinite(lo) & np.isfinite(hi) & (lo == hi)
    up = np.isfinite(hi) & ~eq
    dn = np.isfinite(lo) & ~eq
    clo = np.asarray(lp.col_lower_, float)
    cup = np.asarray(lp.col_upper_, float)
    eye = sparse.eye(n, format="csr")
    fixed = np.isfinite(clo) & np.isfinite(cup) & (clo == cup)
    cu = np.isfinite(cup) & ~fixed
    cl = np.isfinite(clo) & ~fixed
    blocks = [a[eq], eye[fixed], a[up], -a[dn], eye[cu], -eye[cl]]
    amat = sparse.vstack(blocks).tocsc()
    bvec = np.concatenate([hi[eq], cup[fixed], hi[up], -lo[dn], cup[cu], -clo[cl]])
    n_zero = int(eq.sum() + fixed.sum())
    q = sparse.csc_matrix((np.asarray(hess.value_, float), np.asarray(hess.index_), np.asarray(hess.start_)),
                          shape=(n, n))
    # HiGHS keeps the lower triangle; Clarabel wants the upper triangle (the options' Clarabel settings apply)
    problem = ConicProblem(q=np.asarray(lp.col_cost_, float), A=amat, b=bvec, zero=n_zero,
                           nonneg=len(bvec) - n_zero, P=q.T.tocsc())
    t_build = time.perf_counter() - t0
    sol, status, wall = _run_clarabel(problem, opts)
    log.info("Clarabel %s on '%s' (QP, %d rows x %d cols) build %.3f s, solve %.3f s (%d iterations)",
             status, model.name, lp.num_row_, n, t_build, wall, sol.iterations)
    if "Infeasible" in status and "Almost" not in status:
        _raise_infeasible(model, opts, f"Clarabel: {status}")
    if status not in ("Solved", "AlmostSolved"):
        raise SolverError(f"model '{model.name}': Clarabel returned {status} without a usable solution")
    if status == "AlmostSolved":
        log.warning("model '%s': Clarabel reached reduced accuracy (AlmostSolved)", model.name)
    load_solution(model, info, cols, sol.x)
    objective = pyo.value(obj.expr)
    if duals:
        load_duals(model, info, sense * _row_duals_of_clarabel(np.asarray(sol.z, dtype=float), eq, fixed, up, dn))
    return SolveResult(status="optimal" if status == "Solved" else "feasible", termination=status.lower(),
                       objective=objective, bound=objective, wall_s=wall, is_mip=False, has_duals=bool(duals),
                       build_s=t_build, is_qp=True)


def _row_duals_of_clarabel(z: np.ndarray, eq: np.ndarray, fixed: np.ndarray, up: np.ndarray, dn: np.ndarray
                           ) -> np.ndarray:
    """Row duals in HiGHS's convention from Clarabel's ``z``, whose blocks follow the rows of
    :func:`solve_qp_clarabel`: ``[eq rows, fixed columns, <= rows, >= rows, column bounds]``
    (``y = -z`` on ``a x + s = b`` rows, ``+z`` on the negated ``>=`` rows; a ranged row sums both sides)."""
    row_dual = np.zeros(len(eq))
    n_eq, n_up, n_dn = int(eq.sum()), int(up.sum()), int(dn.sum())
    k = n_eq + int(fixed.sum())
    row_dual[eq] = -z[:n_eq]
    row_dual[up] += -z[k:k + n_up]
    row_dual[dn] += z[k + n_up:k + n_up + n_dn]
    return row_dual

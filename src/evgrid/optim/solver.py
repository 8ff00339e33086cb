"""The ONE solver wrapper: HiGHS (highspy) on a Pyomo model.

The model is compiled with Pyomo's ``LinearStandardFormCompiler`` (sparse matrices, ~0.35 s for the
33-bus x 96-step LinDistFlow with a 12-sided thermal polygon) and passed to ``highspy`` in one call;
Pyomo's per-constraint ``appsi`` interface took 15x longer on the same model. Every solve recompiles,
so changed mutable Params (loads, prices) and fixed variables are always picked up.

``solve(model, options) -> SolveResult``

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
rebuild of the Pyomo model: call ``solve`` again.

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
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

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
    build_s: float = 0.0
    """Seconds spent compiling the Pyomo model and setting up HiGHS (``wall_s`` is HiGHS itself)."""

    @property
    def mip_gap(self) -> float | None:
        if self.objective is None or self.bound is None:
            return None
        return abs(self.objective - self.bound) / max(1e-9, abs(self.objective))


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
    objs = list(model.component_data_objects(pyo.Objective, active=True))
    if len(objs) != 1:
        raise SolverError(f"model '{model.name}' needs exactly one active objective, found {len(objs)}")
    try:
        with PauseGC():
            info = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
    except (ValueError, TypeError) as exc:
        raise SolverError(f"model '{model.name}' is not linear/compilable: {exc}") from exc
    return info, objs[0]


# Thread count HiGHS's process-wide task scheduler was started with (None: not started here yet).
_SCHEDULER_THREADS: int | None = None


def run_highs(h: highspy.Highs, threads: int | None) -> highspy.HighsStatus:
    """``h.run()`` with ``threads`` (None or 0: HiGHS's default), restarting HiGHS's global scheduler first
    when an earlier solve in this process started it with another thread count.

    HiGHS keeps one task scheduler per process; a solve that asks for a different ``threads`` than the
    scheduler was started with fails with status ``kNotset`` (e.g. the ``grid`` pipeline at 2 threads followed
    by a 1-thread ``dwpt`` solve in the same ``kedro run``).
    """
    global _SCHEDULER_THREADS
    wanted = int(threads or 0)
    h.setOptionValue("threads", wanted)
    if _SCHEDULER_THREADS is not None and _SCHEDULER_THREADS != wanted:
        highspy.Highs.resetGlobalScheduler(True)
    _SCHEDULER_THREADS = wanted
    return h.run()


def highs_lp_from_compiled(info, sense: float, integer: np.ndarray | None = None) -> highspy.HighsLp:
    """HiGHS column-wise LP/MILP from a compiled standard form (:func:`compile_model`).

    ``sense`` is +1 for minimise and -1 for maximise (HiGHS minimises ``sense * c``); ``integer`` marks
    integer columns (``None``: a pure LP). Shared by :func:`solve` and
    :class:`evgrid.optim.persistent.PersistentLP`.
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


def solve(model, options: SolverOptions | Mapping | None = None, *, duals: bool = False) -> SolveResult:
    """Solve ``model`` with HiGHS; load the solution only if one exists (see module docstring)."""
    opts = SolverOptions.coerce(options)
    t0 = time.perf_counter()
    info, obj = compile_model(model)
    cols = info.columns
    n, m = len(cols), len(info.rows)
    integer = np.array([(v.is_integer() or v.is_binary()) for v in cols], dtype=bool)
    mip = bool(integer.any())
    if duals and mip:
        raise ValueError("HiGHS gives no duals for a MILP; use evgrid.optim.prices.lp_duals_of_milp(model)")
    sense = 1.0 if obj.sense == pyo.minimize else -1.0

    lp = highs_lp_from_compiled(info, sense, integer if mip else None)

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
    t_build = time.perf_counter() - t0
    if h.passModel(lp) == highspy.HighsStatus.kError:
        raise SolverError(f"HiGHS rejected model '{model.name}' (passModel error)")
    t1 = time.perf_counter()
    run_highs(h, opts.threads)
    wall = time.perf_counter() - t1
    status_name = h.getModelStatus().name
    tc = _STATUS.get(status_name, status_name)
    hinfo = h.getInfo()
    feasible = hinfo.primal_solution_status == 2
    log.info(
        "HiGHS %s on '%s' (%s, %d rows x %d cols) compile %.3f s, solve %.3f s",
        tc, model.name, "MILP" if mip else "LP", m, n, t_build, wall,
    )

    if tc in ("infeasible", "infeasible_or_unbounded"):
        diagnosis = None
        msg = f"model '{model.name}' is infeasible (HiGHS: {status_name})"
        if opts.diagnose_infeasible:
            from evgrid.optim.diagnostics import diagnose_infeasibility

            try:
                diagnosis = diagnose_infeasibility(model, options=opts)
                msg += ". " + diagnosis.message()
            except SolverError as exc:  # pragma: no cover - diagnosis itself failed
                msg += f" (diagnosis failed: {exc})"
        raise InfeasibleModelError(msg, diagnosis)
    if tc == "optimal":
        status = "optimal"
    elif tc in ("time_limit", "iteration_limit", "solution_limit", "objective_limit") and feasible:
        if opts.require_optimal:
            raise SolverError(f"model '{model.name}': HiGHS stopped at {tc} before proving optimality")
        log.warning("model '%s': HiGHS stopped at %s; using the incumbent (gap %.3g)", model.name, tc, hinfo.mip_gap)
        status = "feasible"
    else:
        raise SolverError(f"model '{model.name}': HiGHS returned {status_name} without a usable solution")

    sol = h.getSolution()
    x = np.asarray(sol.col_value, dtype=float)
    for v, val, isint in zip(cols, x, integer, strict=True):
        v.set_value(float(round(val)) if isint else float(val), skip_validation=True)
    for v, expr in info.eliminated_vars:
        v.set_value(pyo.value(expr), skip_validation=True)
    objective = pyo.value(obj.expr)
    bound = sense * hinfo.mip_dual_bound if mip else objective
    has_duals = False
    if duals:
        if not hasattr(model, "dual") or not isinstance(model.dual, pyo.Suffix):
            model.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
        model.dual.clear()
        y = sense * np.asarray(sol.row_dual, dtype=float)
        acc: dict = {}
        for row, val in zip(info.rows, y, strict=True):
            acc[row.constraint] = acc.get(row.constraint, 0.0) + float(val)
        for con, val in acc.items():
            model.dual[con] = val
        has_duals = True
    return SolveResult(
        status=status,
        termination=tc,
        objective=objective,
        bound=bound,
        wall_s=wall,
        is_mip=mip,
        has_duals=has_duals,
        build_s=t_build,
    )


# ---------------------------------------------------------------------------------------------------------
# Conic path (second-order cones), owned by the planning study: Clarabel through its own API.
# HiGHS has no cones and Pyomo has no Clarabel plugin, so conic models are passed as matrices.


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


def solve_conic(problem: ConicProblem, options: SolverOptions | Mapping | None = None) -> ConicResult:
    """Solve a :class:`ConicProblem` with Clarabel (interior point, SOCP/QP).

    Raises :class:`InfeasibleModelError` on primal infeasibility (naming the row blocks when
    ``row_names`` is given) and :class:`SolverError` on any other non-optimal status.
    ``options.time_limit_s`` applies; ``options.highs_options`` entries that name a Clarabel setting
    (e.g. ``{"tol_gap_rel": 1e-9}``) are passed on.
    """
    import clarabel
    from scipy import sparse

    opts = SolverOptions.coerce(options)
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
    wall = time.perf_counter() - t0
    status = str(sol.status).split(".")[-1]
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

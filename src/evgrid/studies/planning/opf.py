"""Planning's use of the branch-flow SOCP (:mod:`evgrid.optim.branchflow`, SOC relaxation, Farivar & Low
2013): the single-period OPF priced at the import tariff, and its multi-period V2G variant. The feeder's
matrices are built once per system; only the load vector and the price change per solve (Clarabel,
:func:`evgrid.optim.solver.solve_conic`). Solves stop on Clarabel's iteration limit
(``planning.solver.max_iter``); the wall-clock limit (``planning.solver.time_limit_s``) is only a safety net
that fails the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from evgrid.optim.branchflow import (
    CONES,
    Blocks,
    BranchFlowModel,
    balance_duals,
    conic_problem,
    load_rhs,
    read_solution,
)
from evgrid.optim.solver import ConicProblem, solve_conic

DEFAULT_OPTIONS = {"highs_options": {"max_iter": 200}}


@dataclass
class OpfResult:
    v_pu: pd.Series
    lmp_usd_per_mwh: pd.Series
    import_kw: float
    loss_kw: float
    cost_usd_per_h: float
    relaxation_gap_pu: float
    relaxation_gap_rel: float
    solve_s: float


def solve_opf(model: BranchFlowModel, p_kw: pd.Series, q_kvar: pd.Series, price_usd_per_kwh: float,
              options: dict | None = None) -> OpfResult:
    """Solve the SOCP for bus loads ``p_kw``/``q_kvar`` (by bus id) at import price ``price`` [$/kWh].

    Objective: ``price x p0`` [$/h]. Nodal price ``lambda_i = -z_i / s_base`` (Clarabel dual of bus ``i``'s
    active balance, ``d cost / d p_i``) in $/MWh. Relaxation gap: ``max_k (v_i l_k - P_k^2 - Q_k^2)`` (p.u.)
    and relative to ``v_i l_k``.
    """
    g = model.grid
    q = np.zeros(model.n_var)
    price_mwh = price_usd_per_kwh * 1000.0
    q[model.cols.idx("p0")] = price_mwh * g.base_mva  # $/h per p.u. of import
    res = solve_conic(conic_problem(model, q, load_rhs(model, p_kw, q_kvar)), options or DEFAULT_OPTIONS)
    sol = read_solution(model, res.x)
    loaded = sol.l_sq > 1e-9
    return OpfResult(
        v_pu=sol.v_pu,
        lmp_usd_per_mwh=pd.Series(-balance_duals(model, res.z) / g.base_mva, index=model.buses, name="lmp_usd_per_mwh"),
        import_kw=sol.import_kw,
        loss_kw=sol.loss_kw,
        cost_usd_per_h=float(q @ res.x),
        relaxation_gap_pu=float(np.max(np.abs(sol.gap_pu))),
        relaxation_gap_rel=float(np.max(np.abs(sol.gap_rel[loaded]))) if loaded.any() else 0.0,
        solve_s=res.wall_s,
    )


# ============================================================================ V2G variant
def _v2g_layout(model: BranchFlowModel, T: int, S: int) -> tuple[Blocks, Blocks]:
    """Columns ``[z_0 .. z_{T-1}, charge (T x S), discharge (T x S)]`` (``z_t``: period ``t``'s branch-flow
    variables) and rows in cone order: each period's zero rows, one energy row per station; each period's
    nonneg rows, ``c, d >= 0``, ``c, d <= limit``; each period's SOC rows. ``(t, s)`` is element ``t S + s``."""
    cols, rows = Blocks(), Blocks()
    for t in range(T):
        cols.add(f"grid[{t}]", model.n_var)
    cols.add("charge", T * S)
    cols.add("discharge", T * S)
    for cone, extra in (("zero", (("energy", S),)), ("nonneg", (("cd_min", 2 * T * S), ("cd_max", 2 * T * S))),
                        ("soc", ())):
        for t in range(T):
            rows.add(f"{cone}[{t}]", model.rows.size(cone), cone)
        for name, n in extra:
            rows.add(name, n, cone)
    return cols, rows


def _v2g_coupling(model: BranchFlowModel, cols: Blocks, rows: Blocks, station_bus: np.ndarray,
                  durations_h: np.ndarray, efficiency: float) -> sparse.csr_matrix:
    """The zero rows' ``[charge, discharge]`` columns: ``-c_ts + d_ts`` in period ``t``'s active balance of
    station ``s``'s bus (charging adds load), and the energy rows ``sum_t D_t (eta c_ts - d_ts / eta) = 0``."""
    T, S = len(durations_h), len(station_bus)
    bal = model.rows.idx("balance_p", [model.buses.index(b) for b in station_bus])
    c0 = cols["charge"].start
    cz = sparse.lil_matrix((rows.size("zero"), 2 * T * S))
    for t in range(T):
        for s in range(S):
            c, d = cols.idx("charge", t * S + s) - c0, cols.idx("discharge", t * S + s) - c0
            cz[rows.idx(f"zero[{t}]", bal[s]), c] = -1.0
            cz[rows.idx(f"zero[{t}]", bal[s]), d] = 1.0
            cz[rows.idx("energy", s), c] = durations_h[t] * efficiency
            cz[rows.idx("energy", s), d] = -durations_h[t] / efficiency
    return cz.tocsr()


def _v2g_matrix(model: BranchFlowModel, T: int, cz: sparse.csr_matrix) -> sparse.csc_matrix:
    """``A`` in the order of :func:`_v2g_layout`: per cone, T diagonal copies of the one-period rows, then the
    V2G rows (energy rows; ``-c, -d <= 0``; ``c, d <= limit``)."""
    A = model.A.tocsr()
    Z, N, C = (A[model.rows.span(cone)] for cone in CONES)
    nv, ncd = model.n_var, cz.shape[1]
    S = cz.shape[0] - T * Z.shape[0]
    Az = sparse.hstack([sparse.vstack([sparse.block_diag([Z] * T), sparse.csr_matrix((S, T * nv))]), cz])
    An = sparse.vstack([
        sparse.hstack([sparse.block_diag([N] * T), sparse.csr_matrix((T * N.shape[0], ncd))]),
        sparse.hstack([sparse.csr_matrix((2 * ncd, T * nv)), sparse.vstack([-sparse.eye(ncd), sparse.eye(ncd)])]),
    ])
    Ac = sparse.hstack([sparse.block_diag([C] * T), sparse.csr_matrix((T * C.shape[0], ncd))])
    return sparse.vstack([Az, An, Ac]).tocsc()


def _v2g_rhs(model: BranchFlowModel, rows: Blocks, loads: list, limit_kw: np.ndarray) -> np.ndarray:
    """``b`` in the order of :func:`_v2g_layout`: each period's loads, ``c, d <= limit`` (p.u.), zeros else."""
    b = np.zeros(len(rows))
    for t, (p, q) in enumerate(loads):
        bt = load_rhs(model, p, q)
        for cone in CONES:
            b[rows[f"{cone}[{t}]"]] = bt[model.rows.span(cone)]
    b[rows["cd_max"]] = np.tile(np.asarray(limit_kw, float).reshape(-1), 2) / model.grid.s_base_kva
    return b


def solve_v2g_opf(model: BranchFlowModel, loads: list[tuple[pd.Series, pd.Series]], prices_usd_per_kwh: np.ndarray,
                  durations_h: np.ndarray, station_bus: np.ndarray, limit_kw: np.ndarray, efficiency: float,
                  degradation_usd_per_kwh: float, options: dict | None = None) -> dict:
    """Multi-period SOCP OPF with V2G at the stations (all periods in one conic problem).

    Per period ``t`` the branch-flow block of :func:`evgrid.optim.branchflow.build_branch_flow` with bus loads
    ``p_t``; at station ``s`` (bus ``j_s``) the parked EVs charge ``c_ts`` or discharge ``d_ts``
    (``0 <= c, d <= limit_ts`` kW, ``limit`` = idle charger power x availability) so the bus load is
    ``p_t,j + c - d``; daily energy neutrality ``sum_t D_t (eta c_ts - d_ts / eta) = 0``; objective
    ``sum_t D_t (price_t p0_t + deg d_ts)``. Returns cost, schedule, nodal prices ($/MWh) per period.
    """
    T, S = len(loads), len(station_bus)
    g, s_base = model.grid, model.grid.s_base_kva
    cols, rows = _v2g_layout(model, T, S)
    p0 = np.array([cols.idx(f"grid[{t}]", model.cols.idx("p0")) for t in range(T)])  # each period's import
    qv = np.zeros(len(cols))
    qv[p0] = np.asarray(durations_h) * np.asarray(prices_usd_per_kwh) * 1000.0 * g.base_mva
    qv[cols["discharge"]] = np.repeat(durations_h, S) * degradation_usd_per_kwh * s_base
    A = _v2g_matrix(model, T, _v2g_coupling(model, cols, rows, station_bus, durations_h, efficiency))
    res = solve_conic(ConicProblem(q=qv, A=A, b=_v2g_rhs(model, rows, loads, limit_kw), zero=rows.size("zero"),
                                   nonneg=rows.size("nonneg"), soc=model.soc * T), options or DEFAULT_OPTIONS)
    x, bal = res.x, model.rows["balance_p"]
    return {"cost_usd": float(qv @ x), "charge_kw": x[cols["charge"]].reshape(T, S) * s_base,
            "discharge_kw": x[cols["discharge"]].reshape(T, S) * s_base,
            "lmp_usd_per_mwh": np.array([-res.z[rows[f"zero[{t}]"]][bal] / (g.base_mva * durations_h[t])
                                         for t in range(T)]),
            "import_kw": x[p0] * s_base}

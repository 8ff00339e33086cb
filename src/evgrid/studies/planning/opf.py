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

from evgrid.optim.branchflow import (BranchFlowModel, balance_duals, conic_problem, load_rhs, read_solution)
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
    loaded = sol.l > 1e-9
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
def _v2g_coupling(model: BranchFlowModel, T: int, station_bus: np.ndarray, durations_h: np.ndarray,
                  efficiency: float) -> sparse.csr_matrix:
    """Columns of ``[c (T x S), d (T x S)]`` in the zero rows: ``-c + d`` in each period's active balance of
    the station bus, then one energy row per station ``sum_t D_t (eta c_ts - d_ts / eta) = 0``."""
    S, nz = len(station_bus), model.n_zero
    bal = model.rows.idx("balance_p", [model.buses.index(b) for b in station_bus])
    cz = sparse.lil_matrix((T * nz + S, 2 * T * S))
    for t in range(T):
        for s in range(S):
            cz[t * nz + bal[s], t * S + s] = -1.0  # charging adds load
            cz[t * nz + bal[s], T * S + t * S + s] = 1.0
            cz[T * nz + s, t * S + s] = durations_h[t] * efficiency
            cz[T * nz + s, T * S + t * S + s] = -durations_h[t] / efficiency
    return cz.tocsr()


def _v2g_matrix(model: BranchFlowModel, T: int, cz: sparse.csr_matrix) -> sparse.csc_matrix:
    """``A`` of the T-period problem: per cone, T diagonal copies of the one-period rows, then the V2G rows
    (energy rows in the zero cone, ``0 <= c, d`` and ``c, d <= limit`` in the nonneg cone)."""
    nz, nn, nv = model.n_zero, model.n_nonneg, model.n_var
    ncd = cz.shape[1]
    A = model.A.tocsr()
    Z, N, C = A[:nz], A[nz : nz + nn], A[nz + nn :]
    S = cz.shape[0] - T * nz
    Az = sparse.hstack([sparse.vstack([sparse.block_diag([Z] * T), sparse.csr_matrix((S, T * nv))]), cz])
    An = sparse.vstack([
        sparse.hstack([sparse.block_diag([N] * T), sparse.csr_matrix((T * nn, ncd))]),
        sparse.hstack([sparse.csr_matrix((2 * ncd, T * nv)), sparse.vstack([-sparse.eye(ncd), sparse.eye(ncd)])]),
    ])
    Ac = sparse.hstack([sparse.block_diag([C] * T), sparse.csr_matrix((T * C.shape[0], ncd))])
    return sparse.vstack([Az, An, Ac]).tocsc()


def _v2g_rhs(model: BranchFlowModel, loads: list, limit_kw: np.ndarray, S: int) -> np.ndarray:
    """``b`` of the T-period problem in the cone order of :func:`_v2g_matrix` (limits in p.u.)."""
    nz, nn, T = model.n_zero, model.n_nonneg, len(loads)
    per = [load_rhs(model, p, q) for p, q in loads]
    lim = np.tile(np.asarray(limit_kw, float).reshape(T * S), 2) / model.grid.s_base_kva
    return np.concatenate([b[:nz] for b in per] + [np.zeros(S)] + [b[nz : nz + nn] for b in per]
                          + [np.zeros(2 * T * S), lim] + [b[nz + nn :] for b in per])


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
    g, nv, nz = model.grid, model.n_var, model.n_zero
    s_base = g.s_base_kva
    cz = _v2g_coupling(model, T, station_bus, durations_h, efficiency)
    p0 = np.arange(T) * nv + model.cols.idx("p0")  # each period's import column
    qv = np.zeros(T * nv + 2 * T * S)
    qv[p0] = np.asarray(durations_h) * np.asarray(prices_usd_per_kwh) * 1000.0 * g.base_mva
    qv[T * nv + T * S :] = np.repeat(durations_h, S) * degradation_usd_per_kwh * s_base
    res = solve_conic(ConicProblem(q=qv, A=_v2g_matrix(model, T, cz), b=_v2g_rhs(model, loads, limit_kw, S),
                                   zero=T * nz + S, nonneg=T * model.n_nonneg + 4 * T * S, soc=model.soc * T),
                      options or DEFAULT_OPTIONS)
    x = res.x
    bal = model.rows["balance_p"]
    return {"cost_usd": float(qv @ x), "charge_kw": x[T * nv : T * nv + T * S].reshape(T, S) * s_base,
            "discharge_kw": x[T * nv + T * S :].reshape(T, S) * s_base,
            "lmp_usd_per_mwh": np.array([-res.z[t * nz + np.arange(bal.start, bal.stop)] / (g.base_mva * durations_h[t])
                                         for t in range(T)]),
            "import_kw": x[p0] * s_base}

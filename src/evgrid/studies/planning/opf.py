"""Branch-flow SOCP OPF of a radial feeder (SOC relaxation, Farivar & Low 2013) and its multi-period V2G
variant, assembled as sparse matrices once per feeder and solved by Clarabel
(:func:`evgrid.optim.solver.solve_conic`): only the load vector and the price change per solve.
Solves stop on Clarabel's iteration limit (``planning.solver.max_iter``); the wall-clock limit
(``planning.solver.time_limit_s``) is only a safety net that fails the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from evgrid.grid.network import Network
from evgrid.optim.solver import ConicProblem, solve_conic


# ============================================================================ branch-flow SOCP
@dataclass
class BranchFlowOPF:
    """Matrices of the SOC-relaxed branch-flow OPF of a radial feeder (loads enter only through ``b``).

    Variables ``z = [P_k, Q_k, l_k (branches, parent->child), v_i (buses), p0, q0]`` in p.u.; ``v`` and
    ``l`` are squared voltage and current magnitudes.
    """

    grid: Network
    buses: list
    br_from: np.ndarray
    br_to: np.ndarray
    r: np.ndarray
    x: np.ndarray
    A: sparse.csc_matrix
    n_zero: int
    n_nonneg: int
    n_soc: int
    b_static: np.ndarray
    balance_rows_p: np.ndarray  # row of bus i's active balance (bus order)
    balance_rows_q: np.ndarray
    n_var: int
    row_names: list = field(default_factory=list)

    @property
    def nb(self) -> int:
        return len(self.r)


def build_branch_flow(grid: Network) -> BranchFlowOPF:
    """Assemble the constraint families (Clarabel form ``A z + s = b``):

    * balance (zero cone), bus ``j`` with parent branch ``k`` and children ``C(j)``:
      ``P_k - r_k l_k - sum_{c in C(j)} P_c = p_j``, ``Q_k - x_k l_k - sum_c Q_c = q_j``;
      slack bus: ``p0 - sum_c P_c = p_0``, ``q0 - sum_c Q_c = q_0``;
    * voltage drop (zero cone): ``v_j - v_i + 2 (r_k P_k + x_k Q_k) - (r_k^2 + x_k^2) l_k = 0``;
    * slack voltage (zero cone): ``v_0 = V_set^2``;
    * voltage limits (nonneg): ``v_min^2 <= v_j <= v_max^2``;
    * SOC relaxation of ``P^2 + Q^2 = v_i l``: ``||(2P_k, 2Q_k, v_i - l_k)|| <= v_i + l_k``.
    """
    tree = grid.tree()
    buses = [b for b in tree["order"]]
    pos = {b: i for i, b in enumerate(buses)}
    slack = grid.slack_bus
    children = [b for b in buses if b != slack]
    br = [tree["parent_branch"][b] for b in children]
    nb, n = len(br), len(buses)
    br_from = np.array([pos[tree["parent_bus"][b]] for b in children])
    br_to = np.array([pos[b] for b in children])
    r = grid.branches.loc[br, "r_pu"].to_numpy(float)
    x = grid.branches.loc[br, "x_pu"].to_numpy(float)
    iP, iQ, iL, iV = 0, nb, 2 * nb, 3 * nb
    ip0, iq0 = 3 * nb + n, 3 * nb + n + 1
    n_var = 3 * nb + n + 2
    rows, cols, vals = [], [], []

    def add(row, col, val):
        rows.append(row)
        cols.append(col)
        vals.append(val)

    # balance rows: 0..n-1 (P), n..2n-1 (Q), by bus position
    k_of_bus = {int(br_to[k]): k for k in range(nb)}
    for j in range(n):
        if j == pos[slack]:
            add(j, ip0, 1.0)
            add(n + j, iq0, 1.0)
        else:
            k = k_of_bus[j]
            add(j, iP + k, 1.0)
            add(j, iL + k, -r[k])
            add(n + j, iQ + k, 1.0)
            add(n + j, iL + k, -x[k])
    for k in range(nb):
        i = int(br_from[k])
        add(i, iP + k, -1.0)
        add(n + i, iQ + k, -1.0)
    row = 2 * n
    for k in range(nb):  # voltage drop
        add(row, iV + br_to[k], 1.0)
        add(row, iV + br_from[k], -1.0)
        add(row, iP + k, 2 * r[k])
        add(row, iQ + k, 2 * x[k])
        add(row, iL + k, -(r[k] ** 2 + x[k] ** 2))
        row += 1
    add(row, iV + pos[slack], 1.0)
    row += 1
    n_zero = row
    vmin = grid.buses.loc[buses, "v_min_pu"].to_numpy(float) ** 2
    vmax = grid.buses.loc[buses, "v_max_pu"].to_numpy(float) ** 2
    b = np.zeros(n_zero)
    b[2 * n + nb] = grid.v_slack_pu**2
    lim_b = []
    for j in range(n):
        if j == pos[slack]:
            continue
        add(row, iV + j, 1.0)
        lim_b.append(vmax[j])
        row += 1
        add(row, iV + j, -1.0)
        lim_b.append(-vmin[j])
        row += 1
    n_nonneg = row - n_zero
    for k in range(nb):  # s = b - A z = (v_i + l, 2P, 2Q, v_i - l)
        i = int(br_from[k])
        add(row, iV + i, -1.0)
        add(row, iL + k, -1.0)
        add(row + 1, iP + k, -2.0)
        add(row + 2, iQ + k, -2.0)
        add(row + 3, iV + i, -1.0)
        add(row + 3, iL + k, 1.0)
        row += 4
    A = sparse.csc_matrix((vals, (rows, cols)), shape=(row, n_var))
    b_static = np.concatenate([b, lim_b, np.zeros(4 * nb)])
    bus_ids = [buses[j] for j in range(n)]
    to_bus = [buses[int(j)] for j in br_to]
    names = ([f"balance_p[bus {b}]" for b in bus_ids] + [f"balance_q[bus {b}]" for b in bus_ids]
             + [f"voltage_drop[branch to bus {b}]" for b in to_bus] + ["slack_voltage"])
    for b in bus_ids:
        if b != slack:
            names += [f"v_max[bus {b}]", f"v_min[bus {b}]"]
    for b in to_bus:
        names += [f"soc[branch to bus {b}]"] * 4
    return BranchFlowOPF(grid, buses, br_from, br_to, r, x, A, n_zero, n_nonneg, nb, b_static,
                         np.arange(n), n + np.arange(n), n_var, names)


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


def solve_opf(model: BranchFlowOPF, p_kw: pd.Series, q_kvar: pd.Series, price_usd_per_kwh: float,
              options: dict | None = None) -> OpfResult:
    """Solve the SOCP for bus loads ``p_kw``/``q_kvar`` (by bus id) at import price ``price`` [$/kWh].

    Objective: ``price x p0`` [$/h]. Nodal price ``lambda_i = -z_i / s_base`` (Clarabel dual of bus ``i``'s
    active balance, ``d cost / d p_i``) in $/MWh. Relaxation gap: ``max_k (v_i l_k - P_k^2 - Q_k^2)`` (p.u.)
    and relative to ``v_i l_k``.
    """
    g = model.grid
    s_base = g.s_base_kva
    n, nb = len(model.buses), model.nb
    b = model.b_static.copy()
    b[model.balance_rows_p] = p_kw.reindex(model.buses).fillna(0.0).to_numpy(float) / s_base
    b[model.balance_rows_q] = q_kvar.reindex(model.buses).fillna(0.0).to_numpy(float) / s_base
    q = np.zeros(model.n_var)
    price_mwh = price_usd_per_kwh * 1000.0
    q[3 * nb + n] = price_mwh * g.base_mva  # $/h per p.u. of import
    res = solve_conic(ConicProblem(q=q, A=model.A, b=b, zero=model.n_zero, nonneg=model.n_nonneg,
                                   soc=[4] * nb, row_names=model.row_names or None),
                      options or {"highs_options": {"max_iter": 200}})
    z = res.x
    P, Q, L = z[:nb], z[nb : 2 * nb], z[2 * nb : 3 * nb]
    v = z[3 * nb : 3 * nb + n]
    gap = v[model.br_from] * L - P**2 - Q**2
    rel = gap / np.maximum(v[model.br_from] * L, 1e-12)
    lmp = -res.z[model.balance_rows_p] / g.base_mva
    return OpfResult(
        v_pu=pd.Series(np.sqrt(np.maximum(v, 0)), index=model.buses, name="v_pu"),
        lmp_usd_per_mwh=pd.Series(lmp, index=model.buses, name="lmp_usd_per_mwh"),
        import_kw=float(z[3 * nb + n] * s_base),
        loss_kw=float(model.r @ L * s_base),
        cost_usd_per_h=float(q @ z),
        relaxation_gap_pu=float(np.max(np.abs(gap))),
        relaxation_gap_rel=float(np.max(np.abs(rel[L > 1e-9]))) if (L > 1e-9).any() else 0.0,
        solve_s=res.wall_s,
    )



# ============================================================================ V2G variant
def solve_v2g_opf(model: BranchFlowOPF, loads: list[tuple[pd.Series, pd.Series]], prices_usd_per_kwh: np.ndarray,
                  durations_h: np.ndarray, station_bus: np.ndarray, limit_kw: np.ndarray, efficiency: float,
                  degradation_usd_per_kwh: float, options: dict | None = None) -> dict:
    """Multi-period SOCP OPF with V2G at the stations (all periods in one conic problem).

    Per period ``t`` the branch-flow block of :func:`build_branch_flow` with bus loads ``p_t``; at station
    ``s`` (bus ``j_s``) the parked EVs charge ``c_ts`` or discharge ``d_ts`` (``0 <= c, d <= limit_ts`` kW,
    ``limit`` = idle charger power x availability) so the bus load is ``p_t,j + c - d``; daily energy
    neutrality ``sum_t D_t (eta c_ts - d_ts / eta) = 0``; objective
    ``sum_t D_t (price_t p0_t + deg d_ts)``. Returns cost, schedule, nodal prices ($/MWh) per period.
    """
    T, S = len(loads), len(station_bus)
    g = model.grid
    s_base = g.s_base_kva
    n, nb = len(model.buses), model.nb
    nz, nn = model.n_zero, model.n_nonneg
    A = model.A.tocsr()
    Z, N, C = A[:nz], A[nz : nz + nn], A[nz + nn :]
    nv = model.n_var
    ncd = 2 * T * S  # c then d, index t * S + s
    bus_pos = {b: i for i, b in enumerate(model.buses)}
    rows_bal = np.array([model.balance_rows_p[bus_pos[b]] for b in station_bus])
    # zero rows: T balance/voltage blocks + S energy rows
    cz = sparse.lil_matrix((T * nz + S, ncd))
    for t in range(T):
        for s in range(S):
            cz[t * nz + rows_bal[s], t * S + s] = -1.0  # charging adds load
            cz[t * nz + rows_bal[s], T * S + t * S + s] = 1.0
            cz[T * nz + s, t * S + s] = durations_h[t] * efficiency
            cz[T * nz + s, T * S + t * S + s] = -durations_h[t] / efficiency
    Az = sparse.hstack([sparse.vstack([sparse.block_diag([Z] * T), sparse.csr_matrix((S, T * nv))]), cz.tocsr()])
    An = sparse.vstack([
        sparse.hstack([sparse.block_diag([N] * T), sparse.csr_matrix((T * nn, ncd))]),
        sparse.hstack([sparse.csr_matrix((2 * ncd, T * nv)), sparse.vstack([-sparse.eye(ncd), sparse.eye(ncd)])]),
    ])
    Ac = sparse.hstack([sparse.block_diag([C] * T), sparse.csr_matrix((T * C.shape[0], ncd))])
    bz, bn, bc = [], [], []
    for p, q in loads:
        b = model.b_static.copy()
        b[model.balance_rows_p] = p.reindex(model.buses).fillna(0.0).to_numpy(float) / s_base
        b[model.balance_rows_q] = q.reindex(model.buses).fillna(0.0).to_numpy(float) / s_base
        bz.append(b[:nz])
        bn.append(b[nz : nz + nn])
        bc.append(b[nz + nn :])
    lim = np.tile(np.asarray(limit_kw, float).reshape(T * S), 2) / s_base
    b_all = np.concatenate(bz + [np.zeros(S)] + bn + [np.zeros(ncd), lim] + bc)
    qv = np.zeros(T * nv + ncd)
    for t in range(T):
        qv[t * nv + 3 * nb + n] = durations_h[t] * prices_usd_per_kwh[t] * 1000.0 * g.base_mva
    qv[T * nv + T * S :] = np.repeat(durations_h, S) * degradation_usd_per_kwh * s_base
    res = solve_conic(ConicProblem(q=qv, A=sparse.vstack([Az, An, Ac]).tocsc(), b=b_all, zero=T * nz + S,
                                   nonneg=T * nn + 2 * ncd, soc=[4] * (T * nb)), options or {"highs_options": {"max_iter": 200}})
    x = res.x
    c = x[T * nv : T * nv + T * S].reshape(T, S) * s_base
    d = x[T * nv + T * S :].reshape(T, S) * s_base
    lmp = np.array([-res.z[t * nz + model.balance_rows_p] / (g.base_mva * durations_h[t]) for t in range(T)])
    imports = np.array([x[t * nv + 3 * nb + n] * s_base for t in range(T)])
    return {"cost_usd": float(qv @ x), "charge_kw": c, "discharge_kw": d, "lmp_usd_per_mwh": lmp,
            "import_kw": imports}


"""Distribution locational marginal prices (DLMPs) from LinDistFlow duals.

Sign convention
    Every price is the marginal cost of serving **one more unit of load** at a bus in a case (step, or
    (scenario, step)): ``lambda_b = d objective / d p_load_kw[b]``. This is exactly the dual of
    ``balance_p[b, k]`` as the solver reports it (Pyomo convention ``dual = d obj / d rhs``; the load Param
    is the RHS of the balance), so for a cost-minimising model prices are normally positive. Duals of
    ``<=`` rows are <= 0 and of ``>=`` rows >= 0 in a minimisation.

Decomposition (exact for the LinDistFlow LP, no loss term)::

    lambda_b = energy + congestion_b + voltage_b (+ residual_b, numerically ~0)
    energy       = lambda at the island root (the slack bus for the main island)
    congestion_b = sum_{l on path(root, b)} sum_m (-mu[l,m]) * cos(a_m) * s_l
    voltage_b    = sum_i nu[i] * R[i, b],   R[i, b] = sum_{l on path(i) & path(b)} 2 r_l / S_base

with ``mu`` the duals of the ranged thermal rows, ``s_l = +1`` if branch ``l`` points away from the root
(``from_bus`` upstream) else ``-1``, and ``nu`` the duals of ``v_lim``. (A load increase at ``b``
raises the flow on every branch of its path by one unit and lowers ``w`` at every bus sharing that path.)
``nu`` is the dual of the ranged row ``v_lim`` (>= 0 at the lower limit, <= 0 at the upper limit).
The reactive price ``lmp_q`` (dual of ``balance_q``) is reported undecomposed. Prices are reported in USD/MWh (USD/MVArh)
assuming the objective is in USD: ``usd_per_mwh = dual * 1000 / dt_h / probability``.

For a MILP (HiGHS returns no MILP duals) call :func:`lp_duals_of_milp` first: it fixes every integer
variable at its incumbent value, re-solves the resulting LP with duals and unfixes them again.

Example::

    solve(m, duals=True)                      # LP;   or: lp_duals_of_milp(m)  for a MILP
    prices = nodal_prices(m, h, dt_h=0.25)    # long DataFrame
    prices.query("step == 40")[["bus", "lmp_usd_per_mwh", "energy_usd_per_mwh",
                                "congestion_usd_per_mwh", "voltage_usd_per_mwh"]]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from evgrid.optim.lindistflow import LinDistFlowHandles, case_key
from evgrid.optim.solver import SolveResult, SolverOptions, solve


def lp_duals_of_milp(model, options: SolverOptions | Mapping | None = None) -> SolveResult:
    """Fix integers at their current (incumbent) values, solve the LP with duals, restore the fixing state."""
    ints = [
        v
        for v in model.component_data_objects(pyo.Var, active=True)
        if (v.is_integer() or v.is_binary()) and not v.fixed
    ]
    missing = [v.name for v in ints if v.value is None]
    if missing:
        raise ValueError(f"integer variables without a value (solve the MILP first): {missing[:5]}")
    for v in ints:
        v.fix(round(v.value))
    try:
        return solve(model, options, duals=True)
    finally:
        for v in ints:
            v.unfix()


def _dual(model, con) -> float:
    return float(model.dual.get(con, 0.0))


def _path_incidence(net, status: pd.Series, bpos: dict, lpos: dict) -> tuple[np.ndarray, np.ndarray, list]:
    """Of the radial configuration ``status``: ``A[b, l] = 1`` if branch ``l`` is on the path from the root to
    bus ``b``, the branches' flow directions ``sgn[l]`` and each bus's root."""
    tr = net.tree(status)
    buses = net.bus_ids
    A = net.path_incidence(tree=tr)  # rows bus_ids (= bpos), columns branches (= lpos)
    sgn = np.zeros(len(lpos))
    for lid, d in tr["direction"].items():
        sgn[lpos[lid]] = d
    return A, sgn, [tr["root"][b] for b in buses]


def _case_duals(model, handles: LinDistFlowHandles, kt: tuple, bpos: dict, lpos: dict):
    """Duals of one case: nodal balances ``lambda_p, lambda_q`` per bus, the thermal polygon's pull on each
    branch's P flow ``-sum_m mu_lm c_m``, voltage limits ``nu`` per bus."""
    blk, buses = handles.block, handles.network.bus_ids
    lam_p = np.array([_dual(model, blk.balance_p[(b, *kt)]) for b in buses])
    lam_q = np.array([_dual(model, blk.balance_q[(b, *kt)]) for b in buses])
    cong_l_p = np.zeros(len(lpos))
    if handles.thermal is not None:
        for lid in handles.branch_ids:
            for m, (c, _s) in enumerate(handles.thermal_dirs):
                key_th = (lid, m, *kt)
                if key_th in blk.thermal:
                    mu = _dual(model, blk.thermal[key_th])
                    cong_l_p[lpos[lid]] += -mu * c
    nu = np.zeros(len(buses))
    if handles.v_lim is not None:
        for b in buses:
            if (b, *kt) in blk.v_lim:
                nu[bpos[b]] = _dual(model, blk.v_lim[(b, *kt)])
    return lam_p, lam_q, cong_l_p, nu


def nodal_prices(
    model,
    handles: LinDistFlowHandles,
    dt_h: float = 1.0,
    scenario_probabilities: Mapping | None = None,
    branch_status: pd.Series | None = None,
) -> pd.DataFrame:
    """DLMPs and their energy / congestion / voltage components (see module docstring).

    Returns a long DataFrame: ``[scenario,] step, bus, lmp_usd_per_mwh, energy_usd_per_mwh,
    congestion_usd_per_mwh, voltage_usd_per_mwh, residual_usd_per_mwh, lmp_q_usd_per_mvarh``.
    ``branch_status`` overrides the configuration used for paths (default: the model's fixed status or the
    solved reconfiguration).
    """
    if not hasattr(model, "dual"):
        raise ValueError("model has no duals: solve(model, duals=True) or lp_duals_of_milp(model) first")
    net = handles.network
    buses = net.bus_ids
    bpos = {b: i for i, b in enumerate(buses)}
    br = net.branches
    coef_r = 2.0 * br["r_pu"].to_numpy() / net.s_base_kva
    lpos = {lid: i for i, lid in enumerate(br.index)}
    rows = []
    tree_cache: dict[bytes, tuple] = {}
    for k in handles.cases:
        kt = case_key(k)
        if branch_status is not None:
            status = net.branch_mask(branch_status)
        elif handles.y is not None:
            status = handles.branch_status()
        else:
            status = handles.status_by_case[k]
        key = status.to_numpy().tobytes()
        if key not in tree_cache:
            tree_cache[key] = _path_incidence(net, status, bpos, lpos)
        A, sgn, root = tree_cache[key]
        lam_p, lam_q, cong_l_p, nu = _case_duals(model, handles, kt, bpos, lpos)
        energy_p = np.array([lam_p[bpos[r]] for r in root])
        congestion_p = A @ (sgn * cong_l_p)
        # R[i, b] = sum_l A[i,l] A[b,l] coef_l  (symmetric)
        voltage_p = (A * coef_r) @ A.T @ nu
        prob = 1.0
        if scenario_probabilities is not None and isinstance(k, tuple):
            prob = float(scenario_probabilities[k[0]])
        scale = 1000.0 / dt_h / prob
        resid = lam_p - energy_p - congestion_p - voltage_p
        for i, b in enumerate(buses):
            row = {"bus": b}
            if isinstance(k, tuple):
                row["scenario"], row["step"] = k
            else:
                row["step"] = k
            row.update(
                lmp_usd_per_mwh=lam_p[i] * scale,
                energy_usd_per_mwh=energy_p[i] * scale,
                congestion_usd_per_mwh=congestion_p[i] * scale,
                voltage_usd_per_mwh=voltage_p[i] * scale,
                residual_usd_per_mwh=resid[i] * scale,
                lmp_q_usd_per_mvarh=lam_q[i] * scale,
            )
            rows.append(row)
    cols = (["scenario"] if handles.scenario_index is not None else []) + [
        "step",
        "bus",
        "lmp_usd_per_mwh",
        "energy_usd_per_mwh",
        "congestion_usd_per_mwh",
        "voltage_usd_per_mwh",
        "residual_usd_per_mwh",
        "lmp_q_usd_per_mvarh",
    ]
    return pd.DataFrame(rows)[cols]

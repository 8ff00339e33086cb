"""AC check of any linearised schedule: pandapower Newton-Raphson for every time step.

``validate_schedule_ac(network, p_net_load_kw, q_net_load_kvar, v_linear_pu=None, branch_in_service=None,
tolerance_pu=1e-3) -> AcValidationReport``

* ``p_net_load_kw`` / ``q_net_load_kvar``: DataFrames (step x bus id), *net* consumption at each bus
  (load minus every local injection: DG, PV, storage, EV, shedding ...); buses missing from the columns
  have zero net load. The index may be a plain step index or a ``(scenario, step)`` MultiIndex. The slack
  bus's ext_grid supplies the rest (and the losses).
* the pandapower net is built once per distinct (network content, branch status) and cached across calls;
  per step only the load vectors change and the power flow is re-run with ``recycle`` (Y-bus reused, warm
  start from the previous step).
* ``branch_in_service``: None (network status), a bool Series by branch id, or a DataFrame (step x branch id).
  Islands get a grid-forming ext_grid at their root, at the voltage of ``v_linear_pu`` there (see
  :mod:`evgrid.grid.pandapower_io`); its P/Q is reported as ``island_slack_kw/kvar``.

The report gives per step: AC losses (kW, kVAr), Vmin/Vmax and where, slack P/Q, max |V_lin - V_AC|, and
the violations (voltage outside ``[v_min, v_max]`` by more than ``tolerance_pu``, branch apparent power
above rating by more than ``tolerance_pu`` relative) with a flag ``missed_by_linear`` when the linear model
had the same quantity inside its limit.

Example::

    rep = validate_schedule_ac(net, p_kw, q_kvar, v_linear_pu=h.voltage_pu())
    rep.steps[["loss_kw", "v_min_pu", "v_min_bus", "max_abs_dv_pu"]]
    rep.violations[rep.violations.missed_by_linear]
    rep.summary()          # flat dict of key numbers (for MLflow metrics)
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandapower as pp
import pandas as pd

from evgrid.grid.network import Network, NetworkError
from evgrid.grid.pandapower_io import to_pandapower

log = logging.getLogger(__name__)


_NET_CACHE: OrderedDict = OrderedDict()
_NET_CACHE_SIZE = 16


def _fingerprint(network: Network) -> tuple:
    """Content hash of a network (tables + bases), so cached pandapower nets follow edits of the Network."""
    hb = pd.util.hash_pandas_object(network.buses[["p_load_kw", "q_load_kvar", "v_min_pu", "v_max_pu"]]).to_numpy()
    cols = ["from_bus", "to_bus", "r_ohm", "x_ohm", "rating_kva"]
    hl = pd.util.hash_pandas_object(network.branches[cols]).to_numpy()
    return (network.base_kv, network.base_mva, network.slack_bus, network.v_slack_pu, hb.tobytes(), hl.tobytes())


def _cached_net(network: Network, mask: pd.Series, island_v_pu):
    """pandapower net for (network, status), built once and reused across calls (LRU of 16)."""
    key = (_fingerprint(network), mask.to_numpy().tobytes())
    net = _NET_CACHE.get(key)
    if net is None:
        net = to_pandapower(network, mask, island_v_pu=island_v_pu)
        _NET_CACHE[key] = net
        if len(_NET_CACHE) > _NET_CACHE_SIZE:
            _NET_CACHE.popitem(last=False)
    else:
        _NET_CACHE.move_to_end(key)
    return net


class AcPowerFlowError(RuntimeError):
    """Newton-Raphson did not converge for a step (names the step)."""


@dataclass
class AcValidationReport:
    steps: pd.DataFrame
    """Per step: loss_kw, loss_kvar, v_min_pu, v_min_bus, v_max_pu, v_max_bus, slack_p_kw, slack_q_kvar,
    island_slack_kw, island_slack_kvar, max_abs_dv_pu, n_voltage_violations, n_thermal_violations."""
    v_ac_pu: pd.DataFrame
    """AC voltage magnitudes (step x bus)."""
    branch_s_kva: pd.DataFrame
    """Apparent power at the sending end (step x branch id)."""
    branch_loss_kw: pd.DataFrame
    branch_loss_kvar: pd.DataFrame
    violations: pd.DataFrame
    """step, element ('bus'|'branch'), id, kind, value, limit, missed_by_linear."""

    def summary(self) -> dict:
        s = self.steps
        return {
            "ac_loss_kwh_per_step_mean": float(s["loss_kw"].mean()),
            "ac_loss_kw_max": float(s["loss_kw"].max()),
            "ac_v_min_pu": float(s["v_min_pu"].min()),
            "ac_v_max_pu": float(s["v_max_pu"].max()),
            "max_abs_dv_pu": float(s["max_abs_dv_pu"].max()) if s["max_abs_dv_pu"].notna().any() else float("nan"),
            "n_voltage_violations": int(s["n_voltage_violations"].sum()),
            "n_thermal_violations": int(s["n_thermal_violations"].sum()),
            "n_missed_by_linear": int(self.violations["missed_by_linear"].sum()) if len(self.violations) else 0,
        }


def _frame(df, index, buses, what) -> np.ndarray:
    df = pd.DataFrame(df)
    unknown = sorted(set(df.columns) - set(buses))
    if unknown:
        raise NetworkError(f"{what}: columns {unknown} are not buses of the network")
    if not df.index.equals(index):
        raise ValueError(f"{what}: index differs from p_net_load_kw's index")
    arr = df.reindex(columns=buses).to_numpy(dtype=float)
    if np.isnan(arr).any():
        arr = np.nan_to_num(arr)
    return arr


class _Flows(NamedTuple):
    """Per-step AC results (step x bus / step x branch arrays; slack and island references per step)."""

    v_ac: np.ndarray
    s_kva: np.ndarray
    loss_p: np.ndarray
    loss_q: np.ndarray
    slack_p: np.ndarray
    slack_q: np.ndarray
    island_p: np.ndarray
    island_q: np.ndarray


def _step_masks(network: Network, index: pd.Index, branch_in_service) -> list:
    """Branch in-service mask per step (one mask repeated when the status does not vary)."""
    if isinstance(branch_in_service, pd.DataFrame):
        return [network.branch_mask(branch_in_service.loc[k].astype(bool)) for k in index]
    return [network.branch_mask(branch_in_service)] * len(index)


def _run_power_flows(network: Network, index: pd.Index, p: np.ndarray, q: np.ndarray, v_lin: np.ndarray | None,
                     masks: list, max_iteration: int) -> _Flows:
    """Newton-Raphson per step on the cached pandapower net of the step's status: flat start on a net's first
    step, then ``recycle`` (Y-bus reused, warm start); island references at the linear voltage of their root."""
    buses = network.bus_ids
    n_steps, n_br = len(index), len(network.branches)
    v_ac = np.full((n_steps, len(buses)), np.nan)
    s_kva = np.full((n_steps, n_br), np.nan)
    lp = np.zeros((n_steps, n_br))
    lq = np.zeros((n_steps, n_br))
    slack_p = np.zeros(n_steps)
    slack_q = np.zeros(n_steps)
    isl_p = np.zeros(n_steps)
    isl_q = np.zeros(n_steps)
    cache: dict[bytes, object] = {}
    first_run: dict[bytes, bool] = {}
    for i, k in enumerate(index):
        key = masks[i].to_numpy().tobytes()
        isl_v = None
        if v_lin is not None:
            isl_v = dict(zip(buses, v_lin[i], strict=True))
        if key not in cache:
            cache[key] = _cached_net(network, masks[i], isl_v)
            first_run[key] = True
        net = cache[key]
        if len(net.ext_grid) > 1:  # island references: LinDistFlow voltage of the root, else 1.0
            for eg in net.ext_grid.index[1:]:
                root = int(net.ext_grid.at[eg, "bus"])
                net.ext_grid.at[eg, "vm_pu"] = float(isl_v.get(root, 1.0)) if isl_v is not None else 1.0
        net.load["p_mw"] = p[i] / 1000.0
        net.load["q_mvar"] = q[i] / 1000.0
        try:
            if first_run[key] or len(net.ext_grid) > 1:
                pp.runpp(net, algorithm="nr", init="flat" if first_run[key] else "results", max_iteration=max_iteration,
                         calculate_voltage_angles=True, numba=False, check_connectivity=True)
                first_run[key] = False
            else:
                pp.runpp(net, recycle={"bus_pq": True, "trafo": False, "gen": False}, max_iteration=max_iteration,
                         numba=False)
        except pp.LoadflowNotConverged as exc:
            raise AcPowerFlowError(
                f"AC power flow did not converge at step {k!r} (net load {p[i].sum():.1f} kW, "
                f"{q[i].sum():.1f} kVAr); the schedule is likely far outside the feeder's capability"
            ) from exc
        v_ac[i] = net.res_bus.vm_pu.reindex(buses).to_numpy()
        rl = net.res_line
        s_kva[i] = np.hypot(rl.p_from_mw.to_numpy(), rl.q_from_mvar.to_numpy()) * 1000.0
        lp[i] = rl.pl_mw.to_numpy() * 1000.0
        lq[i] = rl.ql_mvar.to_numpy() * 1000.0
        eg = net.res_ext_grid
        slack_p[i] = eg.p_mw.iloc[0] * 1000.0
        slack_q[i] = eg.q_mvar.iloc[0] * 1000.0
        if len(eg) > 1:
            isl_p[i] = eg.p_mw.iloc[1:].sum() * 1000.0
            isl_q[i] = eg.q_mvar.iloc[1:].sum() * 1000.0
    return _Flows(v_ac, np.nan_to_num(s_kva), np.nan_to_num(lp), np.nan_to_num(lq), slack_p, slack_q, isl_p, isl_q)


VIOLATION_COLUMNS = ["step", "element", "id", "kind", "value", "limit", "missed_by_linear"]


def _violations(network: Network, index: pd.Index, v_ac: np.ndarray, s_kva: np.ndarray, v_lin: np.ndarray | None,
                tolerance_pu: float) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Bus voltages outside ``[v_min - tol, v_max + tol]`` (slack bus excepted) and branch apparent power above
    ``rating (1 + tol)``, step by step; ``missed_by_linear``: the linear voltage was inside its band (every
    thermal violation counts as missed when a linear schedule is given). Returns (table, voltage mask, thermal
    mask), both step x element."""
    buses, br = network.bus_ids, network.branches
    vmin = network.buses["v_min_pu"].to_numpy()
    vmax = network.buses["v_max_pu"].to_numpy()
    rating = br["rating_kva"].to_numpy()
    slack_pos = buses.index(network.slack_bus)
    under = v_ac < vmin - tolerance_pu
    over = v_ac > vmax + tolerance_pu
    under[:, slack_pos] = False
    over[:, slack_pos] = False
    rated = ~np.isnan(rating)
    thermal = np.zeros_like(s_kva, dtype=bool)
    thermal[:, rated] = s_kva[:, rated] > rating[rated] * (1.0 + tolerance_pu)
    parts = []
    for kind, mask, lim in (("undervoltage", under, vmin), ("overvoltage", over, vmax)):
        ii, jj = np.nonzero(mask)
        missed = ([None] * len(ii) if v_lin is None else
                  ((vmin[jj] - tolerance_pu <= v_lin[ii, jj]) & (v_lin[ii, jj] <= vmax[jj] + tolerance_pu)).tolist())
        parts.append((ii, "bus", [buses[j] for j in jj], kind, v_ac[ii, jj], lim[jj], missed))
    ii, jj = np.nonzero(thermal)
    parts.append((ii, "branch", [int(br.index[j]) for j in jj], "thermal", s_kva[ii, jj], rating[jj],
                  [True if v_lin is not None else None] * len(ii)))
    if not sum(len(part[0]) for part in parts):
        return pd.DataFrame([], columns=VIOLATION_COLUMNS), under | over, thermal
    violations = pd.DataFrame({
        "step": [index[i] for part in parts for i in part[0]],
        "element": [part[1] for part in parts for _ in part[0]],
        "id": [x for part in parts for x in part[2]],
        "kind": [part[3] for part in parts for _ in part[0]],
        "value": np.concatenate([part[4] for part in parts]),
        "limit": np.concatenate([part[5] for part in parts]),
        "missed_by_linear": [x for part in parts for x in part[6]],
    })
    violations["missed_by_linear"] = violations["missed_by_linear"].astype(object)
    return violations, under | over, thermal


def _step_table(buses: list, index: pd.Index, flows: _Flows, v_lin: np.ndarray | None, voltage_bad: np.ndarray,
                thermal_bad: np.ndarray) -> pd.DataFrame:
    """One row per step: losses, Vmin/Vmax and where, slack and island P/Q, max |V_lin - V_AC|, violation counts."""
    n_steps = len(index)
    v_ac = flows.v_ac
    vmin_pos = np.nanargmin(v_ac, axis=1)
    vmax_pos = np.nanargmax(v_ac, axis=1)
    dv = np.nanmax(np.abs(v_ac - v_lin), axis=1) if v_lin is not None else np.full(n_steps, np.nan)
    return pd.DataFrame(
        {
            "loss_kw": flows.loss_p.sum(axis=1),
            "loss_kvar": flows.loss_q.sum(axis=1),
            "v_min_pu": v_ac[np.arange(n_steps), vmin_pos],
            "v_min_bus": [buses[j] for j in vmin_pos],
            "v_max_pu": v_ac[np.arange(n_steps), vmax_pos],
            "v_max_bus": [buses[j] for j in vmax_pos],
            "slack_p_kw": flows.slack_p,
            "slack_q_kvar": flows.slack_q,
            "island_slack_kw": flows.island_p,
            "island_slack_kvar": flows.island_q,
            "max_abs_dv_pu": dv,
            "n_voltage_violations": voltage_bad.sum(axis=1),
            "n_thermal_violations": thermal_bad.sum(axis=1),
        },
        index=index,
    )


def validate_schedule_ac(
    network: Network,
    p_net_load_kw: pd.DataFrame,
    q_net_load_kvar: pd.DataFrame,
    v_linear_pu: pd.DataFrame | None = None,
    branch_in_service=None,
    tolerance_pu: float = 1e-3,
    max_iteration: int = 30,
) -> AcValidationReport:
    """Run NR per step (see module docstring): inputs checked, power flows, violations, report."""
    p_df = pd.DataFrame(p_net_load_kw)
    index = p_df.index
    buses = network.bus_ids
    p = _frame(p_df, index, buses, "p_net_load_kw")
    q = _frame(q_net_load_kvar, index, buses, "q_net_load_kvar")
    v_lin = _frame(v_linear_pu, index, buses, "v_linear_pu") if v_linear_pu is not None else None
    masks = _step_masks(network, index, branch_in_service)
    flows = _run_power_flows(network, index, p, q, v_lin, masks, max_iteration)
    violations, voltage_bad, thermal_bad = _violations(network, index, flows.v_ac, flows.s_kva, v_lin, tolerance_pu)
    steps = _step_table(buses, index, flows, v_lin, voltage_bad, thermal_bad)
    cols_b = pd.Index(network.branches.index, name="branch_id")
    # one line per checked schedule (a study checks hundreds): INFO only when something is violated
    log.log(
        logging.INFO if len(violations) else logging.DEBUG,
        "AC validation of %d steps: loss %.1f-%.1f kW, Vmin %.4f p.u., %d violations",
        len(index), steps.loss_kw.min(), steps.loss_kw.max(), steps.v_min_pu.min(), len(violations),
    )
    return AcValidationReport(
        steps=steps,
        v_ac_pu=pd.DataFrame(flows.v_ac, index=index, columns=pd.Index(buses, name="bus_id")),
        branch_s_kva=pd.DataFrame(flows.s_kva, index=index, columns=cols_b),
        branch_loss_kw=pd.DataFrame(flows.loss_p, index=index, columns=cols_b),
        branch_loss_kvar=pd.DataFrame(flows.loss_q, index=index, columns=cols_b),
        violations=violations,
    )


def base_case_ac(network: Network, branch_in_service=None) -> AcValidationReport:
    """AC power flow of the network's own bus loads (one step)."""
    p = pd.DataFrame([network.buses["p_load_kw"].to_numpy()], columns=network.bus_ids, index=pd.Index([0], name="step"))
    q = pd.DataFrame([network.buses["q_load_kvar"].to_numpy()], columns=network.bus_ids, index=p.index)
    return validate_schedule_ac(network, p, q, branch_in_service=branch_in_service)


__all__ = ["AcValidationReport", "AcPowerFlowError", "validate_schedule_ac", "base_case_ac"]

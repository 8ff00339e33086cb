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


def validate_schedule_ac(
    network: Network,
    p_net_load_kw: pd.DataFrame,
    q_net_load_kvar: pd.DataFrame,
    v_linear_pu: pd.DataFrame | None = None,
    branch_in_service=None,
    tolerance_pu: float = 1e-3,
    max_iteration: int = 30,
) -> AcValidationReport:
    """Run NR per step (see module docstring)."""
    p_df = pd.DataFrame(p_net_load_kw)
    index = p_df.index
    buses = network.bus_ids
    p = _frame(p_df, index, buses, "p_net_load_kw")
    q = _frame(q_net_load_kvar, index, buses, "q_net_load_kvar")
    v_lin = _frame(v_linear_pu, index, buses, "v_linear_pu") if v_linear_pu is not None else None
    n_steps = len(index)

    # branch status per step -> groups
    if isinstance(branch_in_service, pd.DataFrame):
        masks = [network.branch_mask(branch_in_service.loc[k].astype(bool)) for k in index]
    else:
        m0 = network.branch_mask(branch_in_service)
        masks = [m0] * n_steps
    br = network.branches
    vmin = network.buses["v_min_pu"].to_numpy()
    vmax = network.buses["v_max_pu"].to_numpy()
    rating = br["rating_kva"].to_numpy()
    slack_pos = buses.index(network.slack_bus)

    v_ac = np.full((n_steps, len(buses)), np.nan)
    s_kva = np.full((n_steps, len(br)), np.nan)
    lp = np.zeros((n_steps, len(br)))
    lq = np.zeros((n_steps, len(br)))
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

    s_kva = np.nan_to_num(s_kva)
    lp = np.nan_to_num(lp)
    lq = np.nan_to_num(lq)
    vmin_pos = np.nanargmin(v_ac, axis=1)
    vmax_pos = np.nanargmax(v_ac, axis=1)
    dv = np.nanmax(np.abs(v_ac - v_lin), axis=1) if v_lin is not None else np.full(n_steps, np.nan)

    # violations
    rows = []
    under = v_ac < vmin - tolerance_pu
    over = v_ac > vmax + tolerance_pu
    under[:, slack_pos] = False
    over[:, slack_pos] = False
    for kind, mask_v, lim in (("undervoltage", under, vmin), ("overvoltage", over, vmax)):
        for i, j in zip(*np.nonzero(mask_v), strict=True):
            missed = None
            if v_lin is not None:
                missed = bool(vmin[j] - tolerance_pu <= v_lin[i, j] <= vmax[j] + tolerance_pu)
            rows.append(
                {"step": index[i], "element": "bus", "id": buses[j], "kind": kind, "value": v_ac[i, j],
                 "limit": lim[j], "missed_by_linear": missed}
            )
    rated = ~np.isnan(rating)
    thermal = np.zeros_like(s_kva, dtype=bool)
    thermal[:, rated] = s_kva[:, rated] > rating[rated] * (1.0 + tolerance_pu)
    for i, j in zip(*np.nonzero(thermal), strict=True):
        rows.append(
            {"step": index[i], "element": "branch", "id": int(br.index[j]), "kind": "thermal", "value": s_kva[i, j],
             "limit": rating[j], "missed_by_linear": True if v_lin is not None else None}
        )
    violations = pd.DataFrame(rows, columns=["step", "element", "id", "kind", "value", "limit", "missed_by_linear"])
    if len(violations):
        violations["missed_by_linear"] = violations["missed_by_linear"].astype(object)

    steps = pd.DataFrame(
        {
            "loss_kw": lp.sum(axis=1),
            "loss_kvar": lq.sum(axis=1),
            "v_min_pu": v_ac[np.arange(n_steps), vmin_pos],
            "v_min_bus": [buses[j] for j in vmin_pos],
            "v_max_pu": v_ac[np.arange(n_steps), vmax_pos],
            "v_max_bus": [buses[j] for j in vmax_pos],
            "slack_p_kw": slack_p,
            "slack_q_kvar": slack_q,
            "island_slack_kw": isl_p,
            "island_slack_kvar": isl_q,
            "max_abs_dv_pu": dv,
            "n_voltage_violations": (under | over).sum(axis=1),
            "n_thermal_violations": thermal.sum(axis=1),
        },
        index=index,
    )
    cols_b = pd.Index(br.index, name="branch_id")
    # one line per checked schedule (a study checks hundreds): INFO only when something is violated
    log.log(
        logging.INFO if len(violations) else logging.DEBUG,
        "AC validation of %d steps: loss %.1f-%.1f kW, Vmin %.4f p.u., %d violations",
        n_steps, steps.loss_kw.min(), steps.loss_kw.max(), steps.v_min_pu.min(), len(violations),
    )
    return AcValidationReport(
        steps=steps,
        v_ac_pu=pd.DataFrame(v_ac, index=index, columns=pd.Index(buses, name="bus_id")),
        branch_s_kva=pd.DataFrame(s_kva, index=index, columns=cols_b),
        branch_loss_kw=pd.DataFrame(lp, index=index, columns=cols_b),
        branch_loss_kvar=pd.DataFrame(lq, index=index, columns=cols_b),
        violations=violations,
    )


def base_case_ac(network: Network, branch_in_service=None) -> AcValidationReport:
    """AC power flow of the network's own bus loads (one step)."""
    p = pd.DataFrame([network.buses["p_load_kw"].to_numpy()], columns=network.bus_ids, index=pd.Index([0], name="step"))
    q = pd.DataFrame([network.buses["q_load_kvar"].to_numpy()], columns=network.bus_ids, index=p.index)
    return validate_schedule_ac(network, p, q, branch_in_service=branch_in_service)


__all__ = ["AcValidationReport", "AcPowerFlowError", "validate_schedule_ac", "base_case_ac"]

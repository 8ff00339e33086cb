"""Base-case checks of a feeder (Kedro-free): LinDistFlow vs AC (pandapower) voltage profiles, the AC
violations of the base case, and the key numbers; used by the ``grid`` pipeline on a user's own feeder."""

from __future__ import annotations

import logging

import pandas as pd
import plotly.graph_objects as go
import pyomo.environ as pyo

from evgrid.grid.ac_validation import base_case_ac, validate_schedule_ac
from evgrid.grid.network import Network
from evgrid.optim.lindistflow import LinDistFlowOptions, build_lindistflow
from evgrid.optim.solver import InfeasibleModelError, solve

log = logging.getLogger(__name__)


def ac_base_case(network: Network) -> tuple[pd.DataFrame, dict]:
    """pandapower Newton-Raphson on the base loads: bus voltages and the feeder totals (kW, kVAr)."""
    rep = base_case_ac(network)
    row = rep.steps.iloc[0]
    out = pd.DataFrame({"bus": network.bus_ids, "v_ac_pu": rep.v_ac_pu.iloc[0].to_numpy()})
    totals = {"loss_kw": float(row.loss_kw), "loss_kvar": float(row.loss_kvar),
              "slack_p_kw": float(row.slack_p_kw), "slack_q_kvar": float(row.slack_q_kvar)}
    return out, totals


def run_lindistflow_base_case(network: Network, lindistflow: dict, solver: dict) -> pd.DataFrame:
    """LinDistFlow on the base loads (objective: minimise import); voltage limits off so the profile is
    reported even where the feeder violates them (the AC check lists the violations)."""
    opts = LinDistFlowOptions(**(lindistflow | {"enforce_voltage_limits": False}))
    m = pyo.ConcreteModel(name=f"{network.name}_lindistflow_base")
    m.grid = pyo.Block()
    h = build_lindistflow(m.grid, network, [0], options=opts)
    m.obj = pyo.Objective(expr=h.p_import_kw[0])
    try:
        solve(m, solver)
    except InfeasibleModelError:
        log.error("LinDistFlow base case of %s is infeasible (thermal limits?)", network.name)
        raise
    v = h.voltage_pu().iloc[0]
    return pd.DataFrame({"bus": network.bus_ids, "v_lindistflow_pu": v.to_numpy(),
                         "import_kw": float(h.import_kw().iloc[0])})


def compare_voltage_profiles(network: Network, ac: pd.DataFrame, lin: pd.DataFrame) -> pd.DataFrame:
    """Join both profiles per bus with the electrical distance to the slack (sum of r along the path)."""
    tree = network.tree()
    r_ohm = network.branches["r_ohm"]
    dist = {}
    for b in tree["order"]:
        pb = tree["parent_branch"][b]
        dist[b] = 0.0 if pb is None else dist[tree["parent_bus"][b]] + float(r_ohm.loc[pb])
    df = ac.merge(lin[["bus", "v_lindistflow_pu"]], on="bus")
    df["dv_pu"] = df["v_lindistflow_pu"] - df["v_ac_pu"]
    df["r_from_slack_ohm"] = df["bus"].map(dist)
    df["v_min_pu"] = df["bus"].map(network.buses["v_min_pu"])
    df["v_max_pu"] = df["bus"].map(network.buses["v_max_pu"])
    df.insert(0, "feeder", network.name)
    return df


def grid_metrics(network: Network, ac_totals: dict, profile: pd.DataFrame) -> dict:
    """Key numbers as MLflow metrics (kedro-mlflow prefixes them with the dataset name: ``grid_metrics.``)."""
    i_ac = int(profile["v_ac_pu"].idxmin())
    i_lin = int(profile["v_lindistflow_pu"].idxmin())
    vals = {
        "ac_loss_kw": ac_totals["loss_kw"],
        "ac_loss_kvar": ac_totals["loss_kvar"],
        "ac_v_min_pu": float(profile.loc[i_ac, "v_ac_pu"]),
        "ac_v_min_bus": float(profile.loc[i_ac, "bus"]),
        "lindistflow_v_min_pu": float(profile.loc[i_lin, "v_lindistflow_pu"]),
        "lindistflow_v_min_bus": float(profile.loc[i_lin, "bus"]),
        "max_abs_dv_pu": float(profile["dv_pu"].abs().max()),
        "total_load_kw": network.total_load_kw,
        "n_buses": float(len(network.buses)),
    }
    log.info("grid metrics: %s", {k: round(v, 4) for k, v in vals.items()})
    return {k: {"value": float(v), "step": 0} for k, v in vals.items()}


def check_ac_of_lindistflow(network: Network, profile: pd.DataFrame) -> pd.DataFrame:
    """Violations table of the base case (AC), for the user's own feeder check."""
    p = pd.DataFrame([network.buses["p_load_kw"].to_numpy()], columns=network.bus_ids)
    q = pd.DataFrame([network.buses["q_load_kvar"].to_numpy()], columns=network.bus_ids)
    v_lin = pd.DataFrame([profile.set_index("bus").loc[network.bus_ids, "v_lindistflow_pu"].to_numpy()],
                         columns=network.bus_ids)
    rep = validate_schedule_ac(network, p, q, v_linear_pu=v_lin)
    return rep.violations.astype({"missed_by_linear": "boolean"}) if len(rep.violations) else rep.violations


def plot_voltage_profiles(profile: pd.DataFrame) -> go.Figure:
    """Voltage vs bus: AC (pandapower) and LinDistFlow, with the voltage limits."""
    df = profile.sort_values("bus")
    fig = go.Figure()
    fig.add_scatter(x=df["bus"], y=df["v_ac_pu"], mode="lines+markers", name="AC (pandapower NR)")
    fig.add_scatter(x=df["bus"], y=df["v_lindistflow_pu"], mode="lines+markers", name="LinDistFlow",
                    line={"dash": "dash"})
    fig.add_scatter(x=df["bus"], y=df["v_min_pu"], mode="lines", name="v_min", line={"color": "grey", "width": 1})
    feeder = df["feeder"].iloc[0] if len(df) else ""
    fig.update_layout(title=f"Base-case voltage profile: {feeder}", xaxis_title="bus id",
                      yaxis_title="|V| (p.u.)", template="plotly_white")
    return fig

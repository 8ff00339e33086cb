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
    df["parent_bus"] = df["bus"].map(tree["parent_bus"]).astype("Int64")  # upstream neighbour (<NA> at a root)
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


def laterals(profile: pd.DataFrame) -> list[list[int]]:
    """The feeder cut into laterals (bus paths that never cross a branch point), main feeder first.

    From the ``parent_bus`` column: each leaf is walked up to the first bus already drawn (or a root), so
    every lateral starts at the bus it branches from and consecutive buses are always connected.
    """
    parent = profile.set_index("bus")["parent_bus"]
    dist = profile.set_index("bus")["r_from_slack_ohm"]
    children = set(parent.dropna().astype(int))
    leaves = sorted((b for b in parent.index if b not in children), key=lambda b: -float(dist[b]))
    drawn: set[int] = set()
    out = []
    for leaf in leaves:
        path = [int(leaf)]
        while pd.notna(parent[path[-1]]) and path[-1] not in drawn:
            path.append(int(parent[path[-1]]))
        drawn.update(path)
        out.append(path[::-1])
    return out


def plot_voltage_profiles(profile: pd.DataFrame) -> go.Figure:
    """|V| along the feeder (x: resistance from the slack), one line per lateral for AC (pandapower) and
    LinDistFlow; the voltage limits as flat lines."""
    df = profile.set_index("bus")
    fig = go.Figure()
    styles = [("v_ac_pu", "AC (pandapower NR)", {"color": "#1f77b4"}),
              ("v_lindistflow_pu", "LinDistFlow", {"color": "#ff7f0e", "dash": "dash"})]
    for col, name, line in styles:
        for i, path in enumerate(laterals(profile) if "parent_bus" in profile else [sorted(df.index)]):
            sub = df.loc[path]
            fig.add_scatter(x=sub["r_from_slack_ohm"], y=sub[col], mode="lines+markers", name=name, line=line,
                            legendgroup=name, showlegend=i == 0, customdata=list(path),
                            hovertemplate="bus %{customdata}<br>|V| %{y:.4f} p.u.<extra>" + name + "</extra>")
    v_top = float(df[["v_ac_pu", "v_lindistflow_pu"]].max().max())
    for col, label in (("v_min_pu", "v_min"), ("v_max_pu", "v_max")):
        if col == "v_max_pu" and v_top <= 1.0:
            continue  # no bus above nominal: the upper limit would only squash the plot
        lim = df[df["parent_bus"].notna()] if "parent_bus" in df else df  # the slack's own 1.0 is no limit
        for v in sorted(lim[col].dropna().unique()) if col in df else []:
            fig.add_hline(y=float(v), line={"color": "grey", "width": 1, "dash": "dot"},
                          annotation_text=f"{label} {v:g} p.u.", annotation_position="bottom right")
    feeder = profile["feeder"].iloc[0] if len(profile) else ""
    fig.update_layout(title=f"Base-case voltage profile: {feeder} (one line per lateral)",
                      xaxis_title="resistance from the slack bus (ohm)", yaxis_title="|V| (p.u.)",
                      template="plotly_white")
    return fig

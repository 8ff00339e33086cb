"""Plotly figures of the planning study (one per catalogued plot)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go


def convergence_plot(conv: pd.DataFrame) -> go.Figure:
    """Mean over seeds of the best social cost found vs the number of exact evaluations, per method."""
    mean = conv.replace([float("inf")], float("nan")).groupby(["method", "evaluation"], as_index=False)["best_usd"].mean()
    fig = px.line(mean, x="evaluation", y="best_usd", color="method", markers=True,
                  labels={"best_usd": "best social cost, mean over seeds ($/day)",
                          "evaluation": "exact lower-level evaluations"})
    fig.update_layout(title="Upper level: best social cost vs evaluations (mean over seeds)")
    return fig


def capacity_plot(plan: pd.DataFrame) -> go.Figure:
    fig = px.bar(plan, x="station", y="capacity_kw", color="method", barmode="group",
                 labels={"capacity_kw": "unit power (kW)"})
    fig.update_layout(title="Station capacity per method")
    return fig


def social_cost_plot(costs: pd.DataFrame) -> go.Figure:
    long = costs.melt(id_vars="method", value_vars=["travel_time_usd", "energy_usd", "investment_usd", "grid_usd"],
                      var_name="component", value_name="usd_per_day")
    fig = px.bar(long, x="method", y="usd_per_day", color="component", labels={"usd_per_day": "$/day"})
    fig.update_layout(title="Social cost per day by component")
    return fig


def link_flow_plot(flows: pd.DataFrame, nodes_xy: pd.DataFrame | None, period: str) -> go.Figure:
    """Network map coloured by volume/capacity in ``period`` (needs TNTP node coordinates)."""
    f = flows[flows["period"] == period]
    fig = go.Figure()
    if nodes_xy is None:
        return px.bar(f, x=f.index, y="v_over_c", title=f"Link volume/capacity ({period})")
    xy = nodes_xy.set_index("node")
    for r in f.itertuples():
        x0, y0 = xy.loc[r.init_node, ["x", "y"]]
        x1, y1 = xy.loc[r.term_node, ["x", "y"]]
        fig.add_trace(go.Scatter(x=[x0, x1], y=[y0, y1], mode="lines", showlegend=False,
                                 line={"width": 1 + 4 * min(r.v_over_c, 2.0), "color": f"rgba(200,30,30,{min(r.v_over_c / 2, 1):.2f})"},
                                 hovertext=f"{r.init_node}->{r.term_node}: {r.flow_veh_per_h:.0f} veh/h, v/c {r.v_over_c:.2f}"))
    fig.add_trace(go.Scatter(x=xy["x"], y=xy["y"], mode="markers+text", text=xy.index.astype(str),
                             textposition="top center", showlegend=False))
    fig.update_layout(title=f"Link flows, width/colour = volume/capacity ({period})")
    return fig


def station_load_plot(loads: pd.DataFrame) -> go.Figure:
    fig = px.bar(loads, x="period", y="load_kw", color="station", labels={"load_kw": "station load (kW)"})
    fig.update_layout(title="Station loads per period (optimised plan)")
    return fig


def voltage_plot(volt: pd.DataFrame) -> go.Figure:
    fig = px.line(volt, x="bus", y="v_ac_pu", color="period", markers=True, labels={"v_ac_pu": "|V| AC (p.u.)"})
    for period, g in volt.groupby("period"):
        fig.add_trace(go.Scatter(x=g["bus"], y=g["v_socp_pu"], mode="lines", line={"dash": "dot"},
                                 name=f"{period} SOCP"))
    fig.update_layout(title="Voltage profiles: SOCP OPF (dotted) vs pandapower AC")
    return fig


def nodal_price_plot(prices: pd.DataFrame) -> go.Figure:
    fig = px.line(prices, x="bus", y="nodal_price_usd_per_mwh", color="period", markers=True,
                  labels={"nodal_price_usd_per_mwh": "nodal price ($/MWh)"})
    fig.update_layout(title="Nodal marginal prices (SOCP duals)")
    return fig


def ev_share_plot(sweep: pd.DataFrame) -> go.Figure:
    fig = px.line(sweep, x="ev_share", y="mean_nodal_price_usd_per_mwh", markers=True,
                  labels={"mean_nodal_price_usd_per_mwh": "mean nodal price ($/MWh)", "ev_share": "EV share"})
    fig.update_layout(title="Mean nodal price vs EV share")
    return fig


def ue_convergence_plot(history: pd.DataFrame) -> go.Figure:
    fig = px.line(history, x="iteration", y="relative_gap", log_y=True, labels={"relative_gap": "relative gap"})
    fig.update_layout(title="UE convergence (relative gap per iteration)")
    return fig

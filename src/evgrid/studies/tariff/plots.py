"""Plotly figures of the tariff study (saved as plotly JSON, shown in kedro-viz)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def tariff_heatmaps(tariffs: pd.DataFrame) -> go.Figure:
    """Station x hour tariff heatmap, one panel per case (same colour scale)."""
    cases = list(dict.fromkeys(tariffs["case"]))
    fig = make_subplots(rows=len(cases), cols=1, subplot_titles=[f"{c} tariff (USD/kWh)" for c in cases],
                        shared_xaxes=True)
    zmax = float(tariffs["tariff_usd_per_kwh"].max()) or 1.0
    for i, c in enumerate(cases, start=1):
        piv = tariffs[tariffs["case"] == c].pivot(index="station", columns="hour", values="tariff_usd_per_kwh")
        fig.add_trace(go.Heatmap(z=piv.to_numpy(), x=list(piv.columns), y=list(piv.index), zmin=0, zmax=zmax,
                                 colorscale="Viridis", showscale=(i == 1), colorbar={"title": "USD/kWh"}), row=i, col=1)
    fig.update_xaxes(title_text="hour", row=len(cases), col=1)
    fig.update_layout(height=320 * len(cases), title="Dynamic distribution tariffs (congestion + voltage part of DLMP)")
    return fig


def cost_vs_gamma(table: pd.DataFrame) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=["total cost (USD)", "max L1..L4 loading at forecast (%)"])
    for pct, g in table.groupby("perturbation_pct"):
        g = g.sort_values("gamma")
        fig.add_trace(go.Scatter(x=g["gamma"], y=g["total_cost_usd"], mode="lines+markers", name=f"box size {pct:g} %"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=g["gamma"], y=g["max_line_loading_pct"], mode="lines+markers",
                                 name=f"box size {pct:g} %", showlegend=False), row=1, col=2)
    fig.update_xaxes(title_text="Gamma")
    fig.update_layout(title="Cost of robustness vs Gamma (box size: % of the configured box)", height=420)
    return fig


def line_loading(lines: pd.DataFrame) -> go.Figure:
    names = list(dict.fromkeys(lines["line"]))
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True,
                        subplot_titles=[f"{n} ({lines[lines.line == n].station.iloc[0]})" for n in names])
    colours = {"uncontrolled": "#d62728", "deterministic": "#1f77b4", "robust": "#2ca02c"}
    for i, n in enumerate(names, start=1):
        g = lines[lines["line"] == n]
        for case, gc in g.groupby("case", sort=False):
            fig.add_trace(go.Scatter(x=gc["hour"], y=gc["response_flow_kw"], mode="lines", name=case,
                                     line={"color": colours.get(case)}, showlegend=(i == 1)), row=i, col=1)
        lim = float(g["limit_kw"].iloc[0])
        fig.add_hline(y=lim, line_dash="dash", line_color="black", row=i, col=1)
    fig.update_xaxes(title_text="hour", row=len(names), col=1)
    fig.update_yaxes(title_text="kW")
    fig.update_layout(height=260 * len(names), title="Station line flows (aggregators' response) vs limit")
    return fig

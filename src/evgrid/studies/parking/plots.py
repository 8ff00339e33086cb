"""Figures of the parking study in the shapes of paper 004 Fig. 7-11 (plotly)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

COLORS = {"base": "#7f7f7f", "s1": "#1f77b4", "s2": "#ff7f0e", "s3": "#2ca02c", "s4": "#d62728"}


def lot_profiles(schedules: pd.DataFrame) -> go.Figure:
    """Fig. 7-8: active (solid) and reactive (dotted) EV power of each lot per scenario."""
    lots = list(dict.fromkeys(schedules["lot"]))
    fig = make_subplots(rows=len(lots), cols=1, shared_xaxes=True, subplot_titles=lots)
    for i, lot in enumerate(lots, start=1):
        for sc, grp in schedules[schedules["lot"] == lot].groupby("scenario", sort=False):
            c = COLORS.get(sc)
            fig.add_trace(go.Scatter(x=grp["hour"], y=grp["p_ev_kw"], name=f"{sc} P", line={"color": c},
                                     legendgroup=sc, showlegend=i == 1), row=i, col=1)
            fig.add_trace(go.Scatter(x=grp["hour"], y=grp["q_ev_kvar"], name=f"{sc} Q", line={"color": c, "dash": "dot"},
                                     legendgroup=sc, showlegend=i == 1), row=i, col=1)
    fig.update_layout(title="EV active (kW, solid) and reactive (kVAr injected, dotted) power per lot (Fig. 7-8)",
                      xaxis_title="hour", height=300 * len(lots))
    return fig


def loss_curve(details: pd.DataFrame) -> go.Figure:
    """Fig. 9: feeder (AC) + transformer losses per hour and scenario."""
    fig = go.Figure()
    for sc, grp in details.groupby("scenario", sort=False):
        hourly = grp.groupby("hour").agg(feeder=("feeder_loss_kw", "first"), tr=("transformer_loss_kw", "sum"))
        fig.add_trace(go.Scatter(x=hourly.index, y=hourly["feeder"] + hourly["tr"], name=sc,
                                 line={"color": COLORS.get(sc)}))
    fig.update_layout(title="Power losses, AC power flow + transformers (Fig. 9)", xaxis_title="hour",
                      yaxis_title="kW")
    return fig


def pv_contribution(details: pd.DataFrame, scenarios=("base", "s3", "s4")) -> go.Figure:
    """Fig. 10: EV power and the part covered by the PV behind each lot's transformer (min(PV, EV) per lot)."""
    fig = go.Figure()
    for sc in scenarios:
        grp = details[details["scenario"] == sc]
        if grp.empty:
            continue
        hourly = grp.assign(pv_used=grp[["pv_kw", "p_ev_kw"]].min(axis=1)).groupby("hour")[["p_ev_kw", "pv_used"]].sum()
        fig.add_trace(go.Bar(x=hourly.index, y=hourly["pv_used"], name=f"{sc} PV used by EVs",
                             marker_color=COLORS.get(sc)))
        fig.add_trace(go.Scatter(x=hourly.index, y=hourly["p_ev_kw"], name=f"{sc} EV load",
                                 line={"color": COLORS.get(sc)}))
    fig.update_layout(title="Contribution of PV to EV charging (Fig. 10)", xaxis_title="hour", yaxis_title="kW",
                      barmode="group")
    return fig


def pv_sweep(profiles: pd.DataFrame) -> go.Figure:
    """Fig. 11: feeder active power (a) and scheduled EV power (b) per PV penetration level (scenario 4)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True,
                        subplot_titles=("feeder active power incl. loads, EVs and PV", "scheduled EV active power"))
    for pct, grp in profiles.groupby("pv_penetration_pct"):
        fig.add_trace(go.Scatter(x=grp["hour"], y=grp["feeder_load_kw"], name=f"{pct} % PV", legendgroup=str(pct)),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=grp["hour"], y=grp["p_ev_kw"], name=f"{pct} % PV", legendgroup=str(pct),
                                 showlegend=False), row=2, col=1)
    fig.update_layout(title="PV penetration sweep, scenario 4 (Fig. 11)", xaxis_title="hour", height=700)
    return fig

"""Plotly figures of the DWPT study, equivalent to paper 002 Fig. 3-6."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def _case(system: pd.DataFrame, case: str) -> pd.DataFrame:
    df = system[system["case"] == case]
    if df.empty:
        raise ValueError(f"plots: case '{case}' not found in the schedules (have {sorted(system['case'].unique())})")
    return df


def loads_and_prices(system: pd.DataFrame, case: str, ev_band: pd.DataFrame | None = None) -> go.Figure:
    """Fig. 3: conventional load, EV in-motion load (MW) and price ($/MWh) over the day."""
    df = _case(system, case)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=df["hour"], y=df["conv_load_kw"] / 1e3, name="conventional load (MW)")
    fig.add_bar(x=df["hour"], y=df["ev_load_kw"] / 1e3, name="EV in-motion load (MW)")
    if ev_band is not None and "ev_kw_p05" in ev_band:
        fig.add_scatter(x=ev_band["hour"], y=ev_band["ev_kw_p95"] / 1e3, name="EV load p95 of re-draws", mode="lines",
                        line={"dash": "dot"})
        fig.add_scatter(x=ev_band["hour"], y=ev_band["ev_kw_p05"] / 1e3, name="EV load p5 of re-draws", mode="lines",
                        line={"dash": "dot"})
    fig.add_scatter(x=df["hour"], y=df["price_usd_per_mwh"], name="LBMP ($/MWh)", mode="lines+markers",
                    secondary_y=True)
    fig.update_layout(barmode="group", title="Load (conventional, DWPT) and price (paper Fig. 3)",
                      xaxis_title="hour")
    fig.update_yaxes(title_text="MW", secondary_y=False)
    fig.update_yaxes(title_text="$/MWh", secondary_y=True)
    return fig


def upstream(system: pd.DataFrame, cases: list[str]) -> go.Figure:
    """Fig. 4 / 5: power bought (+) or sold (-) from/to the upstream network."""
    fig = go.Figure()
    for case in cases:
        df = _case(system, case)
        fig.add_bar(x=df["hour"], y=df["p_upstream_kw"] / 1e3, name=case)
    fig.update_layout(barmode="group", title="Upstream trade, + buy / - sell (paper Fig. 4 and 5)",
                      xaxis_title="hour", yaxis_title="MW")
    return fig


def shedding(system: pd.DataFrame, cases: list[str]) -> go.Figure:
    """Fig. 6: total load shedding (MW) in each hour for the outage cases."""
    fig = go.Figure()
    for case in cases:
        df = _case(system, case)
        fig.add_bar(x=df["hour"], y=(df["shed_kw"] + df["emergency_shed_kw"]) / 1e3, name=case)
    fig.update_layout(barmode="group", title="Total load shedding per hour (paper Fig. 6)", xaxis_title="hour",
                      yaxis_title="MW")
    return fig


def battery(system: pd.DataFrame, case: str) -> go.Figure:
    """PV split (EV / conventional / battery / curtailed), battery power and SOC."""
    df = _case(system, case)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for col, name in (("pv_to_ev_kw", "PV -> EV"), ("pv_to_conv_kw", "PV -> conventional"),
                      ("pv_to_battery_kw", "PV -> battery"), ("pv_curtailed_kw", "PV curtailed"),
                      ("dis_to_ev_kw", "battery -> EV"), ("dis_to_conv_kw", "battery -> conventional")):
        fig.add_bar(x=df["hour"], y=df[col] / 1e3, name=name)
    fig.add_scatter(x=df["hour"], y=df["soc_kwh"] / 1e3, name="SOC (MWh)", mode="lines+markers", secondary_y=True)
    fig.update_layout(barmode="stack", title=f"PV and battery schedule ({case})", xaxis_title="hour")
    fig.update_yaxes(title_text="MW", secondary_y=False)
    fig.update_yaxes(title_text="MWh", secondary_y=True)
    return fig

"""Plotly figures of the DRO study (paper 000 style): traffic per lane, generation mix, lane utilisation,
voltage vs load, losses, and out-of-sample cost / reliability against the Wasserstein radius."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def plot_figures(steps: pd.DataFrame, lane_steps: pd.DataFrame, atoms: dict, oos_metrics: pd.DataFrame
                 ) -> tuple[go.Figure, go.Figure, go.Figure, go.Figure, go.Figure, go.Figure]:
    """Paper-style figures: traffic per lane, generation mix, lane utilisation, voltage vs load, losses,
    out-of-sample cost and reliability against the radius."""
    sysm = atoms["system"]
    p = atoms["p_nominal"]
    hours = np.arange(sysm.n_steps) * sysm.step_h
    lane_flow = np.tensordot(p, atoms["lane_flow_veh_per_h"], axes=1)
    traffic = go.Figure(go.Heatmap(z=lane_flow, x=hours, y=sysm.lanes.names, colorbar={"title": "veh/h"}))
    traffic.update_layout(title="Traffic flow per charging lane (expected over the nominal days, veh/h)",
                          xaxis_title="hour")
    exp = steps.assign(w=steps["probability"]).groupby("step").apply(
        lambda d: pd.Series({c: float(d[c] @ d["w"]) for c in ("pv_kw", "wind_kw", "conventional_kw", "import_kw",
                                                              "lane_served_kw", "loss_kw")}), include_groups=False)
    mix = go.Figure()
    for col, name in (("pv_kw", "solar"), ("wind_kw", "wind"), ("conventional_kw", "conventional"),
                      ("import_kw", "substation import")):
        mix.add_bar(x=hours, y=exp[col] / 1000, name=name)
    mix.update_layout(barmode="relative", title="Generation mix of the chosen schedule (expected, MW)",
                      xaxis_title="hour", yaxis_title="MW")
    ls = lane_steps.copy()
    ls["w"] = ls["probability"]
    util = ls.groupby(["lane", "step"]).apply(lambda d: float(d["utilisation"] @ d["w"]), include_groups=False)
    util = util.unstack("step").reindex(sysm.lanes.names)
    util_fig = go.Figure(go.Heatmap(z=util.to_numpy() * 100, x=hours, y=util.index, zmin=0, zmax=100,
                                    colorbar={"title": "%"}))
    util_fig.update_layout(title="Lane utilisation (delivered / rating, %)", xaxis_title="hour")
    vl = go.Figure(go.Scatter(x=steps["lane_served_kw"] / 1000, y=steps["v_min_ac_pu"], mode="markers",
                              marker={"color": steps["step"] * sysm.step_h, "colorscale": "Viridis",
                                      "colorbar": {"title": "hour"}}, name="V min (AC)"))
    vl.update_layout(title="Minimum feeder voltage (AC) vs lane charging load", xaxis_title="lane load (MW)",
                     yaxis_title="V min (p.u.)")
    loss = go.Figure(go.Scatter(x=hours, y=exp["loss_kw"], mode="lines+markers", name="expected AC losses"))
    loss.update_layout(title="Feeder losses from the AC check (kW)", xaxis_title="hour", yaxis_title="kW")
    oos = make_subplots(rows=1, cols=2, subplot_titles=("Out-of-sample expected cost and CVaR95 ($/day)",
                                                        "P(limits kept only by load shedding)"))
    dro_rows = oos_metrics[oos_metrics["method"].str.startswith("dro_r")].sort_values("radius")
    for test_set, d in dro_rows.groupby("test_set"):
        oos.add_scatter(x=d["radius"], y=d["expected_cost_usd"], mode="lines+markers", name=f"E[cost] {test_set}",
                        row=1, col=1)
        oos.add_scatter(x=d["radius"], y=d["cvar95_cost_usd"], mode="lines+markers", name=f"CVaR95 {test_set}",
                        row=1, col=1)
        oos.add_scatter(x=d["radius"], y=d["p_limit_violation"], mode="lines+markers", name=f"P {test_set}",
                        row=1, col=2)
    for method, dash in (("saa", "dash"), ("deterministic", "dot")):
        for test_set, d in oos_metrics[oos_metrics["method"] == method].groupby("test_set"):
            oos.add_hline(y=float(d["expected_cost_usd"].iloc[0]), line_dash=dash, row=1, col=1,
                          annotation_text=f"{method} {test_set}")
    oos.update_xaxes(title_text="Wasserstein radius")
    return traffic, mix, util_fig, vl, loss, oos

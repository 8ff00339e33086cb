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


def plot_experiment(points: pd.DataFrame, paired: pd.DataFrame) -> go.Figure:
    """Atoms x shift experiment: per condition (columns), mean cost (top) and CVaR95 (middle) of every method
    against the number of training atoms with 95 % intervals, and the paired difference to SAA (bottom)."""
    if points is None or len(points) == 0:
        return go.Figure().update_layout(title="dro experiment not run (dro.experiment.enabled: false)")
    conds = list(dict.fromkeys(points["condition"]))
    fig = make_subplots(rows=3, cols=len(conds), subplot_titles=conds, shared_xaxes=True, vertical_spacing=0.06)
    colours = {"deterministic": "#7f7f7f", "saa": "#1f77b4", "moment": "#2ca02c", "dro": "#d62728"}
    for j, cond in enumerate(conds, start=1):
        for method, d in points[points["condition"] == cond].groupby("method"):
            d = d.sort_values("n_atoms")
            for row, (y, lo, hi) in enumerate((("mean_cost_usd", "mean_ci_lo", "mean_ci_hi"),
                                               ("cvar95_usd", "cvar95_ci_lo", "cvar95_ci_hi")), start=1):
                fig.add_scatter(x=d["n_atoms"], y=d[y], mode="lines+markers", name=method, legendgroup=method,
                                showlegend=(j == 1 and row == 1), line={"color": colours.get(method)},
                                error_y={"type": "data", "array": d[hi] - d[y], "arrayminus": d[y] - d[lo]},
                                row=row, col=j)
        if len(paired):
            for method, d in paired[paired["condition"] == cond].groupby("method"):
                d = d.sort_values("n_atoms")
                fig.add_scatter(x=d["n_atoms"], y=d["diff_mean_usd"], mode="lines+markers", name=f"{method} - saa",
                                legendgroup=method, showlegend=False, line={"color": colours.get(method), "dash": "dot"},
                                error_y={"type": "data", "array": d["diff_ci_hi"] - d["diff_mean_usd"],
                                         "arrayminus": d["diff_mean_usd"] - d["diff_ci_lo"]}, row=3, col=j)
            fig.add_hline(y=0.0, line={"color": "black", "width": 1}, row=3, col=j)
        fig.update_xaxes(type="log", title_text="training atoms n", row=3, col=j)
    fig.update_yaxes(title_text="mean cost $/day", row=1, col=1)
    fig.update_yaxes(title_text="CVaR95 $/day", row=2, col=1)
    fig.update_yaxes(title_text="paired diff vs SAA $/day", row=3, col=1)
    fig.update_layout(title="DRO vs SAA vs deterministic vs moment baseline: training atoms x shift "
                            "(paired on the same held-out real days, 95 % intervals)", height=900)
    return fig

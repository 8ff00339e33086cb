"""Reporting of the DRO study: the chosen schedule on the nominal atoms (tables, AC check, cost breakdown),
KPIs beside the paper's (paper 000 abstract, sections 5-6) and the flat MLflow metrics (Kedro-free).

Costs in $ per day, energies kWh, powers kW, voltages p.u.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evgrid.ev.lanes import driver_savings_usd_per_km
from evgrid.grid.ac_validation import validate_schedule_ac
from evgrid.studies.dro.config import DroConfig
from evgrid.studies.dro.evaluate import RecourseEvaluator
from evgrid.studies.dro.system import FirstStage

# paper 000 figures (abstract, sections 5-6) for the KPI table
PAPER_KPIS = {
    "voltage_deviation_pu": 0.02,
    "peak_losses_kw": 800.0,
    "lane_utilisation_at_peak": 0.95,
    "driver_savings_usd_per_km": 0.08,
    "renewable_share": 0.60,
}


def schedule_report(first_stages: dict, atoms: dict, cfg: DroConfig) -> tuple:
    """Chosen schedule (DRO at the selected radius) on the nominal atoms: tables, AC check, cost breakdown."""
    sysm = atoms["system"]
    n_nom, p = atoms["n_nominal"], atoms["p_nominal"]
    nominal = atoms["data"].subset(np.arange(n_nom))
    units, lanes = _schedule_tables(first_stages, sysm, nominal, p)
    chosen = first_stages["dro_auto"]["first_stage"]
    res, ac, steps = _evaluate_with_ac(sysm, n_nom, nominal, chosen, p, cfg)
    tab = res["table"]
    pw = p[tab["atom"].to_numpy()]
    dt = sysm.step_h
    e = {k: float(pw @ tab[k].to_numpy()) for k in ("import_cost_usd", "lane_served_kwh", "lane_unserved_kwh",
                                                     "load_shed_kwh", "renewable_shortfall_kwh", "renewable_used_kwh",
                                                     "conventional_kwh", "import_kwh", "export_kwh", "curtailed_kwh")}
    loss_kwh = float((steps["loss_kw"] * steps["probability"]).sum() * dt)
    breakdown = _cost_breakdown(sysm, chosen, nominal, steps, tab, pw, e)
    lane_steps = res["lanes"].merge(pd.DataFrame({"lane": sysm.lanes.names, "rating_kw": sysm.lanes.rating_kw}),
                                    on="lane")
    lane_steps["utilisation"] = lane_steps["served_kw"] / lane_steps["rating_kw"]
    lane_steps["probability"] = p[lane_steps["atom"].to_numpy()]
    kpis = _kpis(steps, lane_steps, tab, pw, e, ac, atoms, cfg, loss_kwh)
    loss_est_kwh = float(pw @ tab["loss_kwh"].to_numpy())
    kpis = pd.concat([kpis, pd.DataFrame([{
        "kpi": "daily_losses_distflow_estimate_kwh", "ours": loss_est_kwh, "paper": np.nan,
        "paper_at_our_scale": np.nan, "definition": "DistFlow series-loss estimate from the LP flows (the loss "
        "charged out of sample); compare daily_losses_kwh (pandapower)"}])], ignore_index=True)
    ac_summary = {k: float(v) for k, v in ac.summary().items()}
    ac_summary["n_violations"] = float(len(ac.violations))
    step_results = steps.merge(lane_steps.groupby(["atom", "step"])["utilisation"].mean()
                               .rename("mean_lane_utilisation").reset_index(), on=["atom", "step"])
    return (pd.DataFrame(units), pd.DataFrame(lanes), breakdown, kpis, step_results, lane_steps,
            _violation_table(ac), ac_summary)


def _schedule_tables(first_stages: dict, sysm, nominal, p: np.ndarray) -> tuple[list[dict], list[dict]]:
    """Rows per (method, unit, step): commitment and output (kW); per (method, lane, step): energised power and
    the expected lane demand over the nominal atoms (kW)."""
    units, lanes = [], []
    for method, fs in first_stages.items():
        f: FirstStage = fs["first_stage"]
        for gi, g in enumerate(sysm.conventional.index):
            for t in range(sysm.n_steps):
                units.append({"method": method, "unit": g, "bus": int(sysm.conventional.at[g, "bus"]), "step": t,
                              "commitment": f.commitment[gi, t], "p_kw": f.p_conv_kw[gi, t]})
        for li, lane in enumerate(sysm.lanes.names):
            for t in range(sysm.n_steps):
                lanes.append({"method": method, "lane": lane, "step": t, "alloc_kw": f.alloc_kw[li, t],
                              "expected_demand_kw": float(p @ nominal.lane_demand_kw[:, li, t])})
    return units, lanes


def _evaluate_with_ac(sysm, n_nom: int, nominal, chosen: FirstStage, p: np.ndarray, cfg: DroConfig) -> tuple:
    """Recourse of ``chosen`` on every nominal atom (:class:`RecourseEvaluator`) and its AC check; the step
    table gains the AC loss and voltage range (``v_min_ac_pu``, ``v_max_ac_pu``) and the atom's probability."""
    evaluator = RecourseEvaluator(sysm, n_nom, nominal, cfg.solver.options())
    res = evaluator.evaluate(chosen, nominal, detail=True)
    ac = validate_schedule_ac(sysm.network, res["p_net_kw"], res["q_net_kvar"], v_linear_pu=res["v_lin_pu"])
    steps = res["steps"].copy()
    ac_steps = ac.steps.reset_index()
    ac_steps.columns = ["atom", "step", *ac_steps.columns[2:]]
    steps = steps.merge(ac_steps[["atom", "step", "loss_kw", "v_min_pu", "v_max_pu"]].rename(
        columns={"v_min_pu": "v_min_ac_pu", "v_max_pu": "v_max_ac_pu"}), on=["atom", "step"])
    steps["probability"] = p[steps["atom"].to_numpy()]
    return res, ac, steps


def _cost_breakdown(sysm, chosen: FirstStage, nominal, steps: pd.DataFrame, tab: pd.DataFrame, pw: np.ndarray,
                    e: dict) -> pd.DataFrame:
    """Expected daily cost of the chosen schedule by item ($/day): generation, lanes, maintenance, AC losses at
    the atom's price, penalties; redispatch = recourse cost minus its other terms."""
    dt = sysm.step_h
    c = sysm.costs
    conv = sysm.conventional
    fixed_cost = dt * float((conv["fixed_usd_per_h"].to_numpy()[:, None] * chosen.commitment).sum())
    var_cost = dt * float((conv["var_usd_per_kwh"].to_numpy()[:, None] * chosen.p_conv_kw).sum())
    lane_op = dt * c.lane_operation_usd_per_kwh * float(chosen.alloc_kw.sum())
    price_at = nominal.price_usd_per_kwh[steps["atom"].to_numpy(), steps["step"].to_numpy()]
    loss_cost_ac = float((steps["loss_kw"] * price_at * steps["probability"]).sum() * dt)
    ren_cost = float(sysm.renewables["var_usd_per_kwh"].mean()) * e["renewable_used_kwh"]
    redispatch = float(pw @ tab["recourse_cost_usd"].to_numpy()) - (
        e["import_cost_usd"] + ren_cost + c.battery_degradation_usd_per_kwh * e["lane_served_kwh"]
        + c.unserved_lane_usd_per_kwh * e["lane_unserved_kwh"] + c.load_shedding_usd_per_kwh * e["load_shed_kwh"]
        + c.renewable_shortfall_usd_per_kwh * e["renewable_shortfall_kwh"])
    breakdown = pd.DataFrame([
        ("generation", "conventional fixed (commitment)", fixed_cost),
        ("generation", "conventional variable incl. carbon", var_cost),
        ("generation", "substation energy (import - export) incl. carbon", e["import_cost_usd"]),
        ("generation", "renewable O&M", ren_cost),
        ("lanes", "installation (annualised, per day)", c.lane_fixed_usd_per_day),
        ("lanes", "operation of energised lane power", lane_op),
        ("lanes", "battery degradation of delivered energy", c.battery_degradation_usd_per_kwh * e["lane_served_kwh"]),
        ("maintenance", "lane maintenance (per day)", c.lane_maintenance_usd_per_day),
        ("losses", "AC losses (pandapower) charged ex post at the atom's price (LP import is lossless)",
         loss_cost_ac),
        ("penalties", "unserved lane energy (lost driver saving)", c.unserved_lane_usd_per_kwh * e["lane_unserved_kwh"]),
        ("penalties", "load shedding", c.load_shedding_usd_per_kwh * e["load_shed_kwh"]),
        ("penalties", "renewable-share shortfall", c.renewable_shortfall_usd_per_kwh * e["renewable_shortfall_kwh"]),
        ("penalties", "conventional redispatch", max(redispatch, 0.0)),
    ], columns=["category", "item", "usd_per_day"])
    breakdown["method"] = "dro_auto"
    return breakdown


def _violation_table(ac) -> pd.DataFrame:
    """The AC check's violations with ``atom`` and ``step`` split out of the case key (-1: no atom)."""
    violations = ac.violations.copy()
    if violations.empty:
        violations = pd.DataFrame(columns=["step", "element", "id", "kind", "value", "limit", "missed_by_linear"])
    if len(violations):
        keys = violations["step"].tolist()
        violations.insert(0, "atom", [int(k[0]) if isinstance(k, tuple) else -1 for k in keys])
        violations["step"] = [int(k[1]) if isinstance(k, tuple) else int(k) for k in keys]
        violations = violations.astype({"id": str})
    else:
        violations = violations.astype(str)
    return violations


def _kpis(steps, lane_steps, tab, pw, e, ac, atoms, cfg, loss_kwh) -> pd.DataFrame:
    sysm = atoms["system"]
    dt = sysm.step_h
    ev = cfg.ev
    scale = float(cfg.capacity_scale)
    exp_steps = steps.groupby("step").apply(lambda d: pd.Series({
        "lane_demand_kw": float(d["lane_demand_kw"] @ d["probability"]),
        "loss_kw": float(d["loss_kw"] @ d["probability"])}), include_groups=False)
    peak_step = int(exp_steps["lane_demand_kw"].idxmax())
    util_peak = lane_steps[lane_steps["step"] == peak_step]
    util_peak = float((util_peak["utilisation"] * util_peak["probability"]).sum() / len(sysm.lanes.names))
    v_dev = float(max(abs(ac.steps["v_min_pu"] - 1.0).max(), abs(ac.steps["v_max_pu"] - 1.0).max()))
    # EV-km driven on the lanes (expected): EVs on the lane x speed x dt
    speed = sysm.lanes.table["speed_km_per_h"].to_numpy(float)[None, :, None]
    ev_km = float(atoms["p_nominal"] @ (atoms["evs_on_lane"] * speed * dt).sum(axis=(1, 2)))
    savings = driver_savings_usd_per_km(e["lane_served_kwh"], ev_km, float(cfg.costs.driver_saving_usd_per_km),
                                        float(ev.consumption_kwh_per_km))
    consumption = float(pw @ (tab["lane_served_kwh"].to_numpy())) + float(
        (sysm.bus_load_kw()[0].sum(axis=1).sum()) * dt) - e["load_shed_kwh"]
    ren_share = e["renewable_used_kwh"] / consumption
    co2 = (e["conventional_kwh"] * float(sysm.conventional["co2_kg_per_kwh"].mean())
           + e["import_kwh"] * float(cfg.grid_co2_kg_per_kwh)) / 1000.0
    rows = [
        ("voltage_deviation_pu", "max |V_AC - 1| (AC check, all nominal atoms and steps)", v_dev,
         PAPER_KPIS["voltage_deviation_pu"], PAPER_KPIS["voltage_deviation_pu"]),
        ("peak_losses_kw", f"AC losses at the peak-traffic step {peak_step} (expected)",
         float(exp_steps.loc[peak_step, "loss_kw"]), PAPER_KPIS["peak_losses_kw"],
         PAPER_KPIS["peak_losses_kw"] * scale),
        ("max_losses_kw", "largest AC loss of any atom and step", float(ac.steps["loss_kw"].max()), np.nan, np.nan),
        ("daily_losses_kwh", "expected AC energy losses per day", loss_kwh, np.nan, np.nan),
        ("lane_utilisation_at_peak", "delivered / rating at the peak-traffic step (mean of lanes, expected)",
         util_peak, PAPER_KPIS["lane_utilisation_at_peak"], PAPER_KPIS["lane_utilisation_at_peak"]),
        ("driver_savings_usd_per_km", "saving per km driven on a lane (range delivered x 0.10 $/km)", savings,
         PAPER_KPIS["driver_savings_usd_per_km"], PAPER_KPIS["driver_savings_usd_per_km"]),
        ("renewable_share", "renewable energy used / local consumption (daily, expected)", ren_share,
         PAPER_KPIS["renewable_share"], PAPER_KPIS["renewable_share"]),
        ("emissions_t_co2_per_day", "conventional + substation imports (expected)", co2, np.nan, np.nan),
        ("lane_energy_served_share", "lane energy delivered / lane demand (expected)",
         e["lane_served_kwh"] / max(e["lane_served_kwh"] + e["lane_unserved_kwh"], 1e-9), np.nan, np.nan),
        ("ac_violations", "voltage + thermal violations in the AC check of the chosen schedule",
         float(len(ac.violations)), 0.0, 0.0),
    ]
    return pd.DataFrame(rows, columns=["kpi", "definition", "ours", "paper", "paper_at_our_scale"])


def log_metrics(oos_metrics: pd.DataFrame, kpis: pd.DataFrame, radius: float, scen_info: dict, cv_info: dict,
                oos_info: dict, ac_summary: dict) -> dict:
    """Flat metrics dict (MLflow metrics dataset) and the run report."""
    out: dict = {"radius_selected": float(radius)}
    for _, r in kpis.iterrows():
        out[f"kpi_{r['kpi']}"] = float(r["ours"])
    for _, r in oos_metrics.iterrows():
        for col in ("expected_cost_usd", "cvar95_cost_usd", "p_limit_violation", "lane_unserved_kwh"):
            out[f"oos_{r['test_set']}_{r['method']}_{col}".replace(".", "p")] = float(r[col])
    out.update({f"ac_{k}": float(v) for k, v in ac_summary.items() if np.isfinite(float(v))})
    out["cv_seconds"] = float(cv_info.get("cv_seconds", 0.0))
    out["oos_seconds"] = float(oos_info["oos_seconds"])
    return {k: {"value": v, "step": 0} for k, v in out.items() if np.isfinite(v)}


def summary_rows(load) -> list[dict]:
    """End-of-run summary rows (:mod:`evgrid.runtime.summary`): the KPIs the paper reports (its value at our
    scale beside ours), then the AC check."""
    from evgrid.runtime.summary import row

    kpis = load("dro_kpis")
    if kpis is None:
        return []
    keep = kpis[kpis["paper_at_our_scale"].notna()]
    return [row(r["kpi"], r["ours"], r["paper_at_our_scale"], "") for _, r in keep.iterrows()]

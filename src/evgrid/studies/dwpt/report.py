"""DWPT study reporting: the AC check of the chosen cases, the paper's tables beside ours, MLflow metrics.

Costs in $ (tables in k$ as in the paper), energies in MWh, voltages in p.u.
"""

from __future__ import annotations

import logging

import pandas as pd

from evgrid import compute
from evgrid.grid.network import Network
from evgrid.runtime.sanity import reduction_pct
from evgrid.studies.dwpt.model import solve_case_ac_corrected
from evgrid.studies.dwpt.system import DwptDay

log = logging.getLogger(__name__)


def _ac_corrected(case, shared):
    """One AC-corrected case on an evgrid.compute worker (plain results: DataFrames, report dataclasses)."""
    network, day, dgs, market, pf_options, solver_options, iterations = shared
    opts = dict(solver_options or {})
    opts["threads"] = compute.solver_threads(opts.get("threads"))
    return solve_case_ac_corrected(network, day, case, dgs, market, pf_options, opts, iterations)


def ac_check(network: Network, day: DwptDay, costs: pd.DataFrame, cfg, compute_settings=None
             ) -> tuple[pd.DataFrame, dict, pd.DataFrame, pd.DataFrame]:
    """AC check (pandapower, grid core) of ``dwpt.ac_validation.cases`` and the AC-corrected re-solve.

    Iteration 0 is the published lossless schedule (its objective must equal ``dwpt_costs``); later
    iterations add the AC losses and a voltage margin (:func:`~evgrid.studies.dwpt.model.solve_case_ac_corrected`).
    Returns per-step AC results, a summary per case and iteration, the iteration history and the chosen
    schedules.
    """
    cases = {c.name: c for c in cfg.cases}
    acv = cfg.ac_validation
    unknown = [n for n in acv.cases if n not in cases]
    if unknown:
        raise ValueError(f"dwpt.ac_validation.cases: {unknown} are not in dwpt.cases")
    steps, summary, hist, systems = [], {}, [], []
    published = costs.set_index("case")["total_cost_usd"]
    shared = (network, day, list(cfg.dgs), cfg.market, cfg.power_flow, cfg.solver, acv.iterations)
    results = compute.map_tasks(_ac_corrected, [cases[n] for n in acv.cases], compute_settings,
                                keys=list(acv.cases), shared=shared, desc="dwpt AC check")
    for name, (chosen, h, reports) in zip(acv.cases, results, strict=True):
        obj0 = h.loc[h["iteration"] == 0, "objective_usd"].iloc[0]
        if name in published.index and abs(obj0 - published[name]) > 1e-6 * max(1.0, abs(published[name])):
            raise RuntimeError(f"AC check of '{name}': re-solved lossless objective {obj0:.2f} differs from the "
                               f"published {published[name]:.2f}")
        for k, rep in enumerate(reports):
            st = rep.steps.reset_index()
            st.insert(0, "iteration", k)
            st.insert(0, "case", name)
            steps.append(st)
        summary[name] = {f"iteration_{k}": rep.summary() | {
            "violations": rep.violations.head(20).to_dict(orient="records")} for k, rep in enumerate(reports)}
        hist.append(h)
        systems.append(chosen.system)
        r0, rc = h.iloc[0], h[h["chosen"]].iloc[0]
        log.info("AC %s: lossless %.0f $, Vmin_AC %.4f, %d violations -> corrected (it %d) %.0f $, Vmin_AC %.4f, "
                 "%d violations", name, r0["objective_usd"], r0["ac_v_min_pu"], r0["n_voltage_violations"],
                 rc["iteration"], rc["objective_usd"], rc["ac_v_min_pu"], rc["n_voltage_violations"])
    return (pd.concat(steps, ignore_index=True), summary, pd.concat(hist, ignore_index=True),
            pd.concat(systems, ignore_index=True))


def compare_with_paper(costs: pd.DataFrame, ac_corrected: pd.DataFrame, paper: dict
                       ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Tables in the paper's shape (normal costs, Table II, shedding) with the paper's numbers beside ours."""
    c = costs.set_index("case")

    def k(case: str, col: str = "total_cost_usd", div: float = 1e3) -> float:
        if case not in c.index:
            raise ValueError(f"dwpt.paper refers to case '{case}' which is not in dwpt.cases")
        return float(c.at[case, col]) / div

    normal = pd.DataFrame([{"setting": row["label"], "case": row["case"], "ours_k_usd": k(row["case"]),
                            "paper_k_usd": row["paper_k_usd"]} for row in paper["normal"]])
    # (an empty flag text reads back from the CSV as NaN: both mean "not flagged")
    flags = c["flags"].fillna("").astype(str) if "flags" in c.columns else pd.Series("", index=c.index)
    base = normal["case"].iloc[0]
    normal["ours_reduction_pct"] = [reduction_pct(normal["ours_k_usd"].iloc[0], v, flags.get(base, ""),
                                                  flags.get(case, ""))
                                    for case, v in zip(normal["case"], normal["ours_k_usd"], strict=True)]
    chosen = ac_corrected[ac_corrected["chosen"]].set_index("case")
    normal["ours_ac_feasible_k_usd"] = normal["case"].map(chosen["objective_usd"] / 1e3)
    normal["ours_ac_v_min_pu_lossless"] = normal["case"].map(
        ac_corrected[ac_corrected["iteration"] == 0].set_index("case")["ac_v_min_pu"])
    normal["ours_ac_v_min_pu_corrected"] = normal["case"].map(chosen["ac_v_min_pu"])
    normal["paper_reduction_pct"] = 100 * (1 - normal["paper_k_usd"] / normal["paper_k_usd"].iloc[0])
    outage = pd.DataFrame([{
        "outage": row["outage"], "with_mitigation_case": row["with"], "without_mitigation_case": row["without"],
        "ours_with_k_usd": k(row["with"]), "ours_without_k_usd": k(row["without"]),
        "paper_with_k_usd": row["paper_with_k_usd"], "paper_without_k_usd": row["paper_without_k_usd"],
    } for row in paper["outages"]])
    outage["ours_improvement_pct"] = 100 * (outage["ours_without_k_usd"] / outage["ours_with_k_usd"] - 1)
    flagged = {n for n, f in flags.items() if f}
    outage.loc[outage["with_mitigation_case"].isin(flagged) | outage["without_mitigation_case"].isin(flagged),
               "ours_improvement_pct"] = float("nan")  # a meaningless case compares to nothing
    outage["paper_improvement_pct"] = 100 * (outage["paper_without_k_usd"] / outage["paper_with_k_usd"] - 1)
    shed = pd.DataFrame([{
        "outage": row["outage"], "ours_no_ev_mwh": k(row["no_ev"], "shed_mwh", 1.0),
        "ours_ev_mwh": k(row["ev"], "shed_mwh", 1.0), "paper_no_ev_mw": row["paper_no_ev_mw"],
        "paper_ev_mw": row["paper_ev_mw"],
    } for row in paper["shedding"]])
    metrics = {f"cost_k_usd.{case}": {"value": float(v) / 1e3, "step": 0}
               for case, v in c["total_cost_usd"].items()}
    metrics |= {f"shed_mwh.{case}": {"value": float(v), "step": 0} for case, v in c["shed_mwh"].items()}
    metrics |= {f"solve_s.{case}": {"value": float(v), "step": 0} for case, v in c["solve_s"].items()}
    metrics |= {f"ac_corrected_cost_k_usd.{case}": {"value": float(v) / 1e3, "step": 0}
                for case, v in chosen["objective_usd"].items()}
    for _, r in ac_corrected.iterrows():
        metrics[f"ac_v_min_pu.{r['case']}.it{int(r['iteration'])}"] = {"value": float(r["ac_v_min_pu"]), "step": 0}
    return normal, outage, shed, metrics


def ev_metrics(ev_load: pd.DataFrame, der_sizing: dict) -> dict:
    """MLflow metrics of the EV load (MW, MWh) and the DER sizing."""
    step_h = 24.0 / len(ev_load)
    vals = {"ev_peak_mw": ev_load["ev_kw"].max() / 1e3,
            **({"ev_peak_mw_p95_band": ev_load["ev_kw_p95"].max() / 1e3} if "ev_kw_p95" in ev_load else {}),
            "ev_peak_hour": float(ev_load["hour"].iloc[int(ev_load["ev_kw"].idxmax())]),
            "ev_energy_mwh": ev_load["ev_kw"].sum() * step_h / 1e3,
            "pv_area_m2": der_sizing["pv_area_m2"], "battery_capacity_kwh": der_sizing["battery_capacity_kwh"],
            "battery_power_kw": der_sizing["battery_power_kw"]}
    return {k: {"value": float(v), "step": 0} for k, v in vals.items()}


def summary_rows(load) -> list[dict]:
    """End-of-run summary rows (:mod:`evgrid.runtime.summary`): daily costs and outage gains beside Tables I-II."""
    from evgrid.runtime.summary import row

    out = []
    normal = load("dwpt_normal_comparison")
    if normal is not None:
        for _, r in normal.iterrows():
            out.append(row(f"daily cost, {r['setting']}", r["ours_k_usd"], r["paper_k_usd"], "k$"))
        last = normal.iloc[-1]
        out.append(row(f"cost reduction, {last['setting']}", last["ours_reduction_pct"],
                       last["paper_reduction_pct"], "%"))
    outage = load("dwpt_outage_comparison")
    if outage is not None:
        for _, r in outage.iterrows():
            out.append(row(f"outage {r['outage']}: gain of EV+PV+BSS", r["ours_improvement_pct"],
                           r["paper_improvement_pct"], "%"))
    return out

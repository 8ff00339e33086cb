"""Tariff study runs and tables: cases, Gamma / perturbation sweep, aggregator response, out-of-sample test.

``run_cases(system) -> dict`` solves the uncontrolled response, the DSO at every (perturbation, Gamma) of the
sweep (one compile), the aggregators' response to the deterministic and robust tariffs (with tariff iterations)
and checks each response on the feeder (LinDistFlow + pandapower AC). ``out_of_sample(system, cases)``
evaluates each case's response on realisations of wind, PV and load; the table helpers turn results into the
catalogued CSVs.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
import pandas as pd
from scipy import stats

from evgrid.optim.robust import BoxSet
from evgrid.studies.tariff import model as M
from evgrid.studies.tariff.audit import gamma_curve
from evgrid.studies.tariff.evaluate import evaluate_plan, heldout_days, real_day_net_load, wilson
from evgrid.studies.tariff.system import TariffSystem

log = logging.getLogger(__name__)

# paper 001, tables of dynamic tariffs at F2 / F3 (10:00-19:00) and the cost figures of section 4
PAPER_TARIFFS = {
    "deterministic": {"F2": [0.3973, 0.3869, 0.3710, 0.3544, 0.3325, 0.3096, 0.2822, 0.2630, 0.2378, 0.2070],
                      "F3": [0.3407, 0.3303, 0.3232, 0.3128, 0.2891, 0.2654, 0.2362, 0.2205, 0.2024, 0.1672]},
    "robust": {"F2": [0.7738, 0.7634, 0.7475, 0.7310, 0.7090, 0.6861, 0.6588, 0.6395, 0.6143, 0.6035],
               "F3": [0.6521, 0.6417, 0.6346, 0.6242, 0.6005, 0.5767, 0.5476, 0.5319, 0.5137, 0.4785]},
}
PAPER_COST = {"deterministic": 4537.4, "robust": 5846.2}
PAPER_HOURS = list(range(10, 20))


def _sweep_points(system: TariffSystem) -> tuple[list[tuple[float, float]], set]:
    """Every (perturbation %, Gamma) the DSO is solved at, sorted, and the two main cases (with details)."""
    u = system.cfg.uncertainty
    points = sorted({(float(u.perturbation_pct), float(g)) for g in u.gamma_sweep}
                    | {(float(p), g) for p in u.perturbation_sweep_pct for g in (0.0, float(u.gamma_robust))}
                    | {(float(u.perturbation_pct), 0.0), (float(u.perturbation_pct), float(u.gamma_robust))})
    main = {(float(u.perturbation_pct), 0.0), (float(u.perturbation_pct), float(u.gamma_robust))}
    return points, main


def _solve_task(task: dict, shared: tuple) -> dict:
    """One evgrid.compute task (plain data in and out; Pyomo models are built here, on the worker).

    ``kind``: ``uncontrolled`` (response without tariff + its AC feeder check), ``sweep`` (one DSO compile,
    then the task's (pct, Gamma) points, each an independent solve of the same compiled QP), ``respond`` (the
    aggregators' response to one DSO case's tariff, with iterations, and its AC feeder check).
    """
    from evgrid import compute

    system, paths = shared
    opts = dict(system.cfg.solver)
    threads = compute.solver_threads(opts.get("threads"))
    if threads is not None:
        opts["threads"] = threads
    system = dataclasses.replace(system, cfg=dataclasses.replace(system.cfg, solver=opts))
    t = time.perf_counter()
    if task["kind"] == "uncontrolled":
        res = M.solve_response(system, None, "uncontrolled", paths=paths)
        check = M.feeder_check(system, res.station_kw, 0.0, ac=True)
        return {"result": res, "check": check, "solve_s": time.perf_counter() - t}
    if task["kind"] == "sweep":
        dso = M.DsoModel(system, paths)
        build_s = time.perf_counter() - t
        out = {(pct, g): dso.solve(g, pct, name=f"dso_pct{pct:g}_gamma{g:g}", details=details)
               for pct, g, details in task["points"]}
        return {"cases": out, "build_s": build_s, "solve_s": time.perf_counter() - t - build_s}
    case = task["case"]
    resp, final_tariff, hist = M.respond_and_iterate(system, case, paths=paths)
    check = M.feeder_check(system, resp.station_kw, case.gamma, case.perturbation_pct, ac=True)
    return {"response": resp, "tariff": final_tariff, "history": hist, "check": check,
            "solve_s": time.perf_counter() - t}


def run_cases(system: TariffSystem, compute_settings=None) -> dict:
    """Every model solve of the study (see module docstring), fanned out with :func:`evgrid.compute.map_tasks`.

    Stage 1: the uncontrolled response and the DSO sweep, the sweep split into as many tasks as the cluster
    runs at once (:func:`evgrid.compute.slots`), each compiling the DSO QP once; every (pct, Gamma) point is
    an independent solve of the same compiled problem, so the results do not depend on the split. Stage 2:
    the deterministic and robust responses (with their tariff iterations and AC checks), one task each.
    """
    from evgrid import compute

    settings = compute.ComputeSettings.coerce(compute_settings)
    u = system.cfg.uncertainty
    t0 = time.perf_counter()
    paths = M.paths_for(system)
    points, main = _sweep_points(system)
    n_chunks = max(1, min(len(points), compute.slots(settings)))
    chunks = [points[k::n_chunks] for k in range(n_chunks)]
    tasks = [{"kind": "uncontrolled"}] + [{"kind": "sweep", "points": [(p, g, (p, g) in main) for p, g in c]}
                                          for c in chunks]
    keys = ["uncontrolled"] + [("sweep", k) for k in range(n_chunks)]
    t = time.perf_counter()
    first = compute.map_tasks(_solve_task, tasks, settings, keys=keys, shared=(system, paths),
                              desc="tariff DSO sweep")
    timings = {"stage1_s": time.perf_counter() - t, "uncontrolled_s": first[0]["solve_s"],
               "dso_build_s": max(r["build_s"] for r in first[1:]), "n_sweep_solves": len(points),
               "n_sweep_tasks": n_chunks}
    sweep = {}
    for r in first[1:]:
        sweep.update(r["cases"])
    sweep = {pt: sweep[pt] for pt in points}
    det = sweep[(float(u.perturbation_pct), 0.0)]
    det.name = "deterministic"
    rob = sweep[(float(u.perturbation_pct), float(u.gamma_robust))]
    rob.name = "robust"
    t = time.perf_counter()
    second = compute.map_tasks(_solve_task, [{"kind": "respond", "case": c} for c in (det, rob)], settings,
                               keys=["deterministic", "robust"], shared=(system, paths), desc="tariff responses")
    timings["responses_s"] = time.perf_counter() - t
    responses, iterations, checks = {}, [], {}
    for case, r in zip((det, rob), second, strict=True):
        responses[case.name] = {"response": r["response"], "tariff": r["tariff"]}
        iterations += r["history"]
        checks[case.name] = r["check"]
    checks["uncontrolled"] = first[0]["check"]
    timings["total_s"] = time.perf_counter() - t0
    log.info("tariff: %d DSO solves in %d task(s), responses and AC checks in %.1f s", len(points), n_chunks,
             timings["total_s"])
    return {"uncontrolled": first[0]["result"], "deterministic": det, "robust": rob, "sweep": sweep,
            "responses": responses, "iterations": pd.DataFrame(iterations), "checks": checks,
            "timings": timings, "paths": system.info.get("paths")}


# ----------------------------------------------------------------------------------------------- tables


def tariffs_table(cases: dict) -> pd.DataFrame:
    """``case, gamma, station, hour, tariff_usd_per_kwh`` + components, for the DSO tariffs of both cases and
    the final (iterated) tariffs the aggregators saw."""
    rows = []
    for name in ("deterministic", "robust"):
        c = cases[name]
        df = c.tariffs.rename(columns={"step": "hour"}).copy()
        df.insert(0, "gamma", c.gamma)
        df.insert(0, "case", name)
        final = cases["responses"][name]["tariff"]
        df["final_tariff_usd_per_kwh"] = [float(final.at[h, s]) for h, s in zip(df["hour"], df["station"], strict=True)]
        rows.append(df)
    return pd.concat(rows, ignore_index=True)


def cost_vs_gamma_table(system: TariffSystem, cases: dict) -> pd.DataFrame:
    rows = []
    lim = pd.Series(system.line_limit_kw)
    for (pct, g), c in sorted(cases["sweep"].items()):
        p_nom, _ = system.net_load(0.0, pct)
        nominal = M.station_line_loading(system, c.station_kw, p_nom)
        pay = tariff_payments_usd(system, c)
        rows.append({"perturbation_pct": pct, "gamma": g, "total_cost_usd": c.objective_usd,
                     "travel_time_cost_usd": c.travel_time_cost_usd, "charging_cost_usd": c.charging_cost_usd,
                     "tariff_payments_usd": pay, "eva_cost_incl_tariff_usd": c.objective_usd + pay,
                     "max_line_loading_pct": float((nominal.abs() / lim).to_numpy().max() * 100.0),
                     "max_worst_case_line_loading_pct": float((c.line_flow_kw.abs() / lim).to_numpy().max() * 100.0),
                     "mean_tariff_usd_per_kwh": float(c.tariffs["tariff_usd_per_kwh"].mean()),
                     "max_tariff_usd_per_kwh": float(c.tariffs["tariff_usd_per_kwh"].max()),
                     "solve_s": c.solve_s})
    return pd.DataFrame(rows)


def tariff_payments_usd(system: TariffSystem, case) -> float:
    """What the aggregators pay the DSO at its own tariffs: ``sum_{y,t} R[y,t] p[y,t] dt`` (the congestion rent)."""
    tm = M.tariff_matrix(case.tariffs)
    return float((tm * case.station_kw[tm.columns]).to_numpy().sum() * system.cfg.dt_h)


def line_flows_table(system: TariffSystem, cases: dict) -> pd.DataFrame:
    """L1..L4 flow per hour against the limit: DSO plan (worst case), response (LinDistFlow and AC)."""
    rows = []
    lines = {y: f"L{i + 1}" for i, y in enumerate(system.line_limit_kw)}
    for name in ("uncontrolled", "deterministic", "robust"):
        chk = cases["checks"][name]
        plan = cases[name].line_flow_kw if name != "uncontrolled" else None
        for y, lim in system.line_limit_kw.items():
            for h in system.steps:
                rows.append({"case": name, "line": lines[y], "station": y, "hour": h, "limit_kw": lim,
                             "dso_flow_kw": float(plan.at[h, y]) if plan is not None else np.nan,
                             "response_flow_kw": float(chk["line_flow_kw"].at[h, y]),
                             "response_ac_kva": float(chk["ac_line_kva"].at[h, y]),
                             "loading_pct": float(chk["loading_pct"].at[h, y])})
    return pd.DataFrame(rows)


def ev_flows_table(cases: dict) -> pd.DataFrame:
    out = []
    for name in ("uncontrolled", "deterministic", "robust"):
        res = cases[name] if name == "uncontrolled" else cases["responses"][name]["response"]
        if res.link_flows is None:  # grouping 'od': per-aggregator models; show the DSO plan's flows
            res = cases[name]
        df = res.link_flows.copy()
        df.insert(0, "case", name)
        out.append(df)
    return pd.concat(out, ignore_index=True)


def station_energy_table(cases: dict) -> pd.DataFrame:
    out = []
    for name in ("uncontrolled", "deterministic", "robust"):
        res = cases[name] if name == "uncontrolled" else cases["responses"][name]["response"]
        if res.station_energy is None:
            res = cases[name]
        df = res.station_energy.copy()
        df.insert(0, "case", name)
        out.append(df)
    return pd.concat(out, ignore_index=True)


def paper_comparison(system: TariffSystem, cases: dict) -> pd.DataFrame:
    """F2 / F3 tariffs 10:00-19:00 and the robust/deterministic cost ratio, ours beside the paper's."""
    rows = []
    for case in ("deterministic", "robust"):
        tm = M.tariff_matrix(cases[case].tariffs)
        for st in ("F2", "F3"):
            for k, h in enumerate(PAPER_HOURS):
                rows.append({"quantity": f"tariff_{st}_usd_per_kwh", "case": case, "hour": h,
                             "paper": PAPER_TARIFFS[case][st][k],
                             "ours": float(tm.at[h, st]) if st in tm.columns else np.nan})
    det, rob = cases["deterministic"].objective_usd, cases["robust"].objective_usd
    pd_, pr_ = (tariff_payments_usd(system, cases[c]) for c in ("deterministic", "robust"))
    ratio = PAPER_COST["robust"] / PAPER_COST["deterministic"]
    rows += [
        {"quantity": "total_cost_usd", "case": "deterministic", "hour": None, "paper": PAPER_COST["deterministic"],
         "ours": det},
        {"quantity": "total_cost_usd", "case": "robust", "hour": None, "paper": PAPER_COST["robust"], "ours": rob},
        {"quantity": "cost_ratio_robust_over_deterministic", "case": "robust/deterministic", "hour": None,
         "paper": ratio, "ours": rob / det},
        # the paper: "higher costs due to elevated dynamic tariffs": the EVAs' cost incl. the tariff payments
        {"quantity": "eva_cost_incl_tariff_usd", "case": "deterministic", "hour": None,
         "paper": PAPER_COST["deterministic"], "ours": det + pd_},
        {"quantity": "eva_cost_incl_tariff_usd", "case": "robust", "hour": None, "paper": PAPER_COST["robust"],
         "ours": rob + pr_},
        {"quantity": "eva_cost_ratio_robust_over_deterministic", "case": "robust/deterministic", "hour": None,
         "paper": ratio, "ours": (rob + pr_) / (det + pd_)},
    ]
    df = pd.DataFrame(rows)
    return df


def shape_checks(system: TariffSystem, cases: dict, cost_table: pd.DataFrame) -> dict:
    """The qualitative claims of the paper, measured: robust tariffs above deterministic at congested hours,
    cost non-decreasing in Gamma (per perturbation size), congestion cleared by the response."""
    det = M.tariff_matrix(cases["deterministic"].tariffs)
    rob = M.tariff_matrix(cases["robust"].tariffs)
    congested = det > 1e-4
    n_cong = int(congested.to_numpy().sum())
    share_above = float((rob[congested] >= det[congested] - 1e-6).to_numpy()[congested.to_numpy()].mean()) if n_cong else None
    mean_det = float(det.to_numpy()[congested.to_numpy()].mean()) if n_cong else 0.0
    mean_rob = float(rob.to_numpy()[congested.to_numpy()].mean()) if n_cong else 0.0
    mono = {}
    for pct, g in cost_table.groupby("perturbation_pct"):
        c = g.sort_values("gamma")["total_cost_usd"].to_numpy()
        mono[f"{pct:g}"] = bool(np.all(np.diff(c) >= -1e-6 * max(1.0, abs(c).max())))
    return {
        "n_congested_station_hours_deterministic": n_cong,
        "share_of_congested_station_hours_with_robust_tariff_above_deterministic": share_above,
        "mean_tariff_at_congested_hours_usd_per_kwh": {"deterministic": mean_det, "robust": mean_rob},
        "robust_mean_tariff_above_deterministic_at_congested_hours": bool(mean_rob >= mean_det),
        "cost_non_decreasing_in_gamma": mono,
        "uncontrolled_max_loading_pct": cases["checks"]["uncontrolled"]["max_loading_pct"],
        "deterministic_response_max_loading_pct": cases["checks"]["deterministic"]["max_loading_pct"],
        "robust_response_max_loading_pct": cases["checks"]["robust"]["max_loading_pct"],
        "deterministic_response_ac_max_loading_pct": cases["checks"]["deterministic"]["ac_max_loading_pct"],
        "robust_response_ac_max_loading_pct": cases["checks"]["robust"]["ac_max_loading_pct"],
        "ac_v_min_pu": min(cases["checks"][c]["ac_v_min_pu"] for c in ("deterministic", "robust")),
    }


# --------------------------------------------------------------------------------------- out of sample


def realisations(system: TariffSystem, pct: float) -> dict:
    """Net-load realisations (n x hour x bus): uniform in the box (the configured set: paper % or data box),
    and the held-out real days (:func:`real_day_net_load`)."""
    oos = system.cfg.out_of_sample
    L, PV, W = (f.to_numpy() for f in (system.load_p_kw, system.pv_kw, system.wind_kw))
    dev = system.deviations(pct)
    draws = [BoxSet(nominal=a, deviation=dev[k].to_numpy(), gamma=1.0).sample(oos.n_box_samples, oos.seed + i)
             for i, (k, a) in enumerate((("load", L), ("pv", PV), ("wind", W)))]
    out = {"box": (draws[0] - draws[1] - draws[2], pd.Index(range(oos.n_box_samples), name="sample"))}
    days = heldout_days(system)
    out["real_days"] = (real_day_net_load(system, days), pd.Index(days.strftime("%Y-%m-%d"), name="sample"))
    return out


def out_of_sample(system: TariffSystem, cases: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fix each case's final response; for every realisation evaluate it (:func:`evaluate_plan`) and the
    realised cost = the response's EV cost (travel + charging) + shed energy x curtailment cost.

    Returns per-realisation results and a summary with paired robust - deterministic differences and CIs.
    """
    oos = system.cfg.out_of_sample
    pct = system.cfg.uncertainty.perturbation_pct
    rows = []
    for source, (net, idx) in realisations(system, pct).items():
        for case in ("deterministic", "robust"):
            resp = cases["responses"][case]["response"]
            ev = evaluate_plan(system, resp.station_kw, net)
            planned = resp.travel_time_cost_usd + resp.charging_cost_usd
            for k in range(net.shape[0]):
                rows.append({"source": source, "sample": idx[k], "case": case,
                             "line_violation": bool(ev["line_violation"][k]),
                             "voltage_violation": bool(ev["voltage_violation"][k]), "shed_kwh": float(ev["shed_kwh"][k]),
                             "max_line_loading_pct": float(ev["max_line_loading_pct"][k]),
                             "v_min_pu": float(ev["v_min_pu"][k]),
                             "cost_usd": planned + oos.curtailment_cost_usd_per_kwh * float(ev["shed_kwh"][k])})
    per = pd.DataFrame(rows)
    summary = []
    z = stats.norm.ppf(0.5 + oos.ci_level / 2.0)
    for source, g in per.groupby("source", sort=False):
        piv = {c: g[g["case"] == c].set_index("sample") for c in ("deterministic", "robust")}
        for case, d in piv.items():
            n = len(d)
            viol = d["line_violation"] | d["voltage_violation"]
            pviol = float(viol.mean())
            lo, hi = wilson(float(viol.sum()), n, oos.ci_level)
            summary.append({"source": source, "case": case, "n": n, "p_violation": pviol,
                            "p_violation_ci_lo": lo, "p_violation_ci_hi": hi,
                            "p_line_violation": float(d["line_violation"].mean()),
                            "p_voltage_violation": float(d["voltage_violation"].mean()),
                            "expected_shed_kwh": float(d["shed_kwh"].mean()),
                            "expected_cost_usd": float(d["cost_usd"].mean()),
                            "cost_ci_half_usd": float(z * d["cost_usd"].std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan})
        diff = piv["robust"]["cost_usd"] - piv["deterministic"]["cost_usd"].reindex(piv["robust"].index)
        n = len(diff)
        summary.append({"source": source, "case": "robust_minus_deterministic (paired)", "n": n,
                        "p_violation": float((piv["robust"]["line_violation"] | piv["robust"]["voltage_violation"]).mean()
                                             - (piv["deterministic"]["line_violation"]
                                                | piv["deterministic"]["voltage_violation"]).mean()),
                        "expected_cost_usd": float(diff.mean()),
                        "cost_ci_half_usd": float(z * diff.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan})
    return per, pd.DataFrame(summary)


def out_of_sample_with_curve(system: TariffSystem, cases: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`out_of_sample` + the violation-risk vs Gamma curve on real days (rows ``source =
    gamma_curve:<split>``, :func:`evgrid.studies.tariff.audit.gamma_curve`) and the tuned Gamma's held-out row."""
    per, summary = out_of_sample(system, cases)
    curve, tuned = gamma_curve(system, cases["sweep"])
    curve = curve.assign(source="gamma_curve:" + curve["split"],
                         case=[f"gamma={g:g}" + (" (tuned)" if t else "") for g, t in zip(curve["gamma"], curve["tuned"],
                                                                                         strict=True)])
    return per, pd.concat([summary, curve.drop(columns=["split"])], ignore_index=True)


def summary_rows(load) -> list[dict]:
    """End-of-run summary rows (:mod:`evgrid.runtime.summary`): F2 tariff range and the cost ratio beside paper 001."""
    from evgrid.runtime.summary import row

    comp = load("tariff_paper_comparison")
    if comp is None:
        return []
    out = []
    for case in ("deterministic", "robust"):
        f2 = comp[(comp["quantity"] == "tariff_F2_usd_per_kwh") & (comp["case"] == case)]
        if len(f2):
            out.append(row(f"F2 tariff 10-19 h, {case}, max", float(f2["ours"].max()), float(f2["paper"].max()),
                           "$/kWh"))
    for q, label in (("cost_ratio_robust_over_deterministic", "total cost robust / deterministic"),
                     ("eva_cost_ratio_robust_over_deterministic", "EVA cost incl. tariff payments robust / det.")):
        ratio = comp[comp["quantity"] == q]
        if len(ratio):
            out.append(row(label, float(ratio["ours"].iloc[0]), float(ratio["paper"].iloc[0]), "x"))
    return out

"""The temporal-holdout markdown report (per family: scores per model, paired differences with CIs, the
validation choice, the spread-vs-condition check, the paper's R2/NRMSE for EV variables)."""

from __future__ import annotations

import pandas as pd

# Paper 004 Table IV: (family, variable) -> (R-squared, NRMSE %, training run time s)
PAPER_TABLE_IV = {
    ("pv", "pv_kw_per_kwp"): (0.98, 4.74, 1809.54),
    ("ev_times", "arrival_h"): (0.95, 4.73, 2971.95),
    ("ev_times", "departure_h"): (0.90, 8.27, 2971.95),
    ("ev_distance", "distance_km"): (0.91, 9.4, 4899.03),
}


def _ci(r: dict) -> str:
    if "rel_diff_pct" not in r or pd.isna(r.get("rel_diff_pct")):
        return "(selected)"
    return f"{r['rel_diff_pct']:+.1f} % [{r['ci_lo_pct']:+.1f}, {r['ci_hi_pct']:+.1f}]"


def holdout_report(infos: list[dict]) -> str:
    """Markdown of the temporal holdout: per family and view, each model's mean test score per day and the
    paired difference (other - selected) / other in % with its 95 % block-bootstrap CI (positive: the
    selected generator is better), the validation choice and the spread-vs-condition check."""
    lines = ["# Scenario generators: temporal-holdout report", "",
             "Dated split (`split` in parameters.yml): models fitted on the training days only; the generator",
             "is chosen on the last part of the training days (validation), never on the test days. Scores per",
             "test day, lower is better (coverage: share of steps inside the central 90 % interval, ideal",
             "0.90). `vs selected`: paired (other - selected) / other in %, 95 % moving-block bootstrap CI; a",
             "positive value means the selected generator is better.", ""]
    for info in infos:
        paired = pd.DataFrame(info["paired"])
        lines += [f"## {info['family']}", "",
                  f"Train {info['train_days'][0]}..{info['train_days'][1]} (validation from "
                  f"{info['validation_days'][0]}), test {info['test_days'][0]}..{info['test_days'][1]} "
                  f"({info['n_units']['test']} units); {info['no_previous_day_removed']} units without a "
                  f"previous day removed. Chosen by validation: **{info['chosen_by_validation']}**; serving "
                  f"**{info['selected']}**.", "",
                  "| variable | model | ES | ES vs selected | VS (p=0.5) | VS vs selected | CRPS/step | cov. 90 |",
                  "|---|---|---|---|---|---|---|---|"]
        cov = [m for m in paired.metric.unique() if m.startswith("coverage")]
        for view, g in paired.groupby("variable", sort=False):
            for model in g.model.unique():
                r = {m: g[(g.model == model) & (g.metric == m)] for m in g.metric.unique()}
                es = r["energy_score"].iloc[0].to_dict()
                vs = r["variogram_score"].iloc[0].to_dict() if "variogram_score" in r else None
                crps = r["crps_mean_step"].iloc[0]["mean"]
                cv = r[cov[0]].iloc[0]["mean"] if cov else float("nan")
                lines.append(f"| {view} | {model} | {es['mean']:.4g} | {_ci(es)} | "
                             f"{_num(vs)} | "
                             f"{'' if vs is None else _ci(vs)} | {crps:.4g} | {cv:.2f} |")
        lines += ["", "Validation (mean energy score / label bootstrap's, over views): " + ", ".join(
            f"{r['model']} {r['val_es_ratio_to_bootstrap']:.3f}" for r in info["validation"]), ""]
        lose = []
        for metric in ("energy_score", "variogram_score"):
            sub = paired[(paired.metric == metric) & paired.get("ci_lo_pct", pd.Series(dtype=float)).notna()]
            for _, r in sub.iterrows():
                if not r["ci_lo_pct"] > 0:
                    what = "loses to" if r["ci_hi_pct"] < 0 else "does not beat (CI includes 0)"
                    lose.append(f"{r['variable']} {metric}: {what} {r['model']} ({r['rel_diff_pct']:+.1f} %, "
                                f"CI [{r['ci_lo_pct']:+.1f}, {r['ci_hi_pct']:+.1f}])")
        lines.append(f"Where **{info['selected']}** does not beat a model with a CI excluding 0: "
                     + ("; ".join(lose) if lose else "nowhere") + ".")
        pm = pd.DataFrame(info.get("paper_metrics", []))
        if len(pm):
            lines += ["", "Paper 004 eqs. 23-24 on the test sessions (percentage distribution over bins; "
                      "paper Table IV in brackets):", "", "| variable | model | R2 | NRMSE % |", "|---|---|---|---|"]
            for _, r in pm.iterrows():
                ref = PAPER_TABLE_IV.get((info["family"], r["variable"]))
                paper = f" [{ref[0]:g} / {ref[1]:g}]" if ref else ""
                lines.append(f"| {r['variable']}{paper} | {r['model']} | {r['r2_paper']:.3f} | "
                             f"{r['nrmse_paper_pct']:.1f} |")
        sp = pd.DataFrame(info["spread"])
        if len(sp):
            lines += ["", "Spread vs condition (test days in bins of day type x tercile of "
                      f"`{info['condition_features'][0]}`): CV of the spread across bins, data vs model, and "
                      "their correlation.", "", "| variable | model | CV data | CV model | corr |", "|---|---|---|---|---|"]
            for _, r in sp.iterrows():
                lines.append(f"| {r['variable']} | {r['model']} | {r['cv_spread_data']:.3f} | "
                             f"{r['cv_spread_model']:.3f} | {r['corr_spread']:.2f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _num(r: dict | None) -> str:
    return "" if r is None else f"{r['mean']:.4g}"

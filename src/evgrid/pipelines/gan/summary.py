"""Headline rows of the ``gan`` pipeline for the end-of-run summary (:mod:`evgrid.runtime.summary`)."""

from __future__ import annotations

from evgrid.runtime.summary import row

PAPER_NRMSE_PCT = {"distance_km": 9.4}  # paper 004 Table IV, eq. 24 (GAN, 20-km bins); docs/gan.md


def summary_rows(load) -> list[dict]:
    """Per family: the selected generator's test energy score relative to the label bootstrap (positive =
    the selected generator is better; first variable of the family), and the EV distance NRMSE of eq. 24
    beside the paper's."""
    summary = load("gan_holdout_summary")
    if summary is None or summary.empty:
        return []
    out = []
    for family, g in summary.groupby("family", sort=False):
        selected = str(g["selected"].iloc[0])
        es = g[(g["metric"] == "energy_score") & (g["model"] == "bootstrap")]
        if selected != "bootstrap" and not es.empty:
            r = es.iloc[0]
            out.append(row(f"{family}.{r['variable']} test ES: {selected} vs label bootstrap", r["rel_diff_pct"],
                           None, "% better"))
        else:
            out.append(row(f"{family}: generator kept by validation", selected))
        info = load(f"{family}.gan_holdout_info") or {}
        for m in info.get("paper_metrics", []):
            if m["model"] == selected and m["variable"] in PAPER_NRMSE_PCT:
                out.append(row(f"{family}.{m['variable']} NRMSE eq. 24 ({selected})", m["nrmse_paper_pct"],
                               PAPER_NRMSE_PCT[m["variable"]], "%"))
    return out

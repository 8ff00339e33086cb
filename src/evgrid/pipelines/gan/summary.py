"""Headline rows of the ``gan`` pipeline for the end-of-run summary (:mod:`evgrid.runtime.summary`)."""

from __future__ import annotations

from evgrid.runtime.summary import row


def summary_rows(load) -> list[dict]:
    """Per variable with a paper value (Table IV): the GAN's CV NRMSE beside the paper's, and the model kept."""
    cv = load("gan_cv_summary")
    if cv is None or cv.empty:
        return []
    out = []
    sel = cv[(cv["metric"] == "nrmse_paper_pct") & cv["paper_table_iv"].notna()]
    for _, r in sel.iterrows():
        out.append(row(f"{r['family']}.{r['variable']} NRMSE (GAN; kept: {r['best_model']})",
                       r["gan_mean"], r["paper_table_iv"], "%"))
    return out

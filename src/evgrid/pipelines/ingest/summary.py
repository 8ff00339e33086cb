"""Headline rows of the ``ingest`` pipeline for the end-of-run summary (:mod:`evgrid.runtime.summary`)."""

from __future__ import annotations

from evgrid.runtime.summary import row


def summary_rows(load) -> list[dict]:
    """Per source: rows written, rows removed and days dropped (nothing is dropped silently)."""
    q = load("ingest_data_quality")
    if not q:
        return []
    out = []
    for name, rep in q.items():
        if not isinstance(rep, dict) or "rows_written" not in rep:
            continue
        if not rep.get("files") and not rep.get("rows_read") and "days_kept" in rep:  # derived from other records
            out.append(row(f"{name}: days kept / days dropped (derived)",
                           f"{rep['days_kept']:,} / {rep.get('days_dropped_total', 0):,}", None, "days"))
        else:
            out.append(row(f"{name}: rows written / removed / days dropped",
                           f"{rep.get('rows_written', 0):,} / {rep.get('rows_removed_total', 0):,} / "
                           f"{rep.get('days_dropped_total', 0):,}", None, "rows"))
    return out

"""Headline rows of the ``grid`` pipeline for the end-of-run summary (:mod:`evgrid.runtime.summary`)."""

from __future__ import annotations

from evgrid.runtime.summary import row

# Baran & Wu (1989) case33bw base case, AC load flow: minimum voltage 0.9131 pu at bus 18.
PAPER_V_MIN_PU = 0.9131


def summary_rows(load) -> list[dict]:
    prof = load("grid_voltage_profile")
    if prof is None or prof.empty:
        return []
    i = prof["v_ac_pu"].idxmin()
    viol = load("grid_base_case_violations")
    return [
        row(f"AC v_min (bus {int(prof.at[i, 'bus'])})", prof.at[i, "v_ac_pu"], PAPER_V_MIN_PU, "pu"),
        row("LinDistFlow max |V_lin - V_AC|", prof["dv_pu"].abs().max(), None, "pu"),
        row("base-case limit violations (AC)", 0 if viol is None else len(viol), None, "count"),
    ]

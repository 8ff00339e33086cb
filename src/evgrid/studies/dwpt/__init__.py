"""dwpt study (paper 002): in-motion EV load on dynamic wireless charging lanes, PV + battery, day-ahead MILP
in normal and outage operation: config, system, model, report, plots."""

from evgrid.studies import Study, block, lazy

STUDY = Study(
    name="dwpt",
    validator=block("dwpt", lazy("evgrid.studies.dwpt.config", "validate_params")),
    summary_rows=lazy("evgrid.studies.dwpt.report", "summary_rows"),
    metrics=("dwpt_case_metrics", "dwpt_ev_metrics"),
)

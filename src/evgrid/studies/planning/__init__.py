"""Planning study (paper 003): bi-level charging-station capacity planning with mixed ICEV/EV UE and OPF."""

from evgrid.studies import Study, block, lazy

STUDY = Study(
    name="planning",
    validator=block("planning", lazy("evgrid.studies.planning.config", "validate_params")),
    summary_rows=lazy("evgrid.studies.planning.report", "summary_rows"),
    metrics=("planning_metrics",),
)

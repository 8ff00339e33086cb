"""parking study (paper 004 sections IV-V): config, system, model, report, runs, plots."""

from evgrid.studies import Study, lazy

STUDY = Study(
    name="parking",
    validator=lazy("evgrid.studies.parking.config", "validate_params"),  # takes ALL parameters
    summary_rows=lazy("evgrid.studies.parking.report", "summary_rows"),
    metrics=("parking_metrics",),
)

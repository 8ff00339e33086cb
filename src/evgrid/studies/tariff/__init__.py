"""tariff study (paper 001): robust dynamic distribution tariffs for EV congestion management: config, system,
model, report, plots."""

from evgrid.studies import Study, block, lazy

STUDY = Study(
    name="tariff",
    validator=block("tariff", lazy("evgrid.studies.tariff.config", "validate_params")),
    summary_rows=lazy("evgrid.studies.tariff.report", "summary_rows"),
    metrics=("tariff_metrics",),
)

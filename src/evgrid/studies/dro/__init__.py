"""dro study (paper 000): Wasserstein distributionally robust operation of dynamic charging lanes: config, system,
scenarios, model, evaluate (out-of-sample recourse, radius CV), report, plots; backtest (its own pipeline)."""

from evgrid.studies import Study, lazy

STUDY = Study(
    name="dro",
    validator=lazy("evgrid.studies.dro.config", "validate_params"),  # takes ALL parameters (reads params["dro"])
    summary_rows=lazy("evgrid.studies.dro.report", "summary_rows"),
    metrics=("dro_metrics", "dro_oos_metrics"),
)

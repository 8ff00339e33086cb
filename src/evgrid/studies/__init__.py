"""Studies: one package per pipeline (config, system, model, report, plots), built on the Kedro-free core."""

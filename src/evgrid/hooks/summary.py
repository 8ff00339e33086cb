"""End-of-run summary (issue 16): the ran pipelines' ``summary_rows`` and the fired safety nets as one markdown
table, printed and logged to the MLflow run."""

from __future__ import annotations

import logging

from evgrid.hooks.pipelines import entries, ran_pipelines
from evgrid.runtime import sanity

log = logging.getLogger("evgrid.hooks")  # the one logger name of every hook message


def report_run_summary(run_params: dict, pipeline, catalog) -> None:
    """Print the summary table and log it as ``run_summary.md`` / ``.csv`` to the active MLflow run; a failure
    here only warns."""
    from evgrid.runtime import summary

    def load(name: str):
        try:
            return catalog.load(name) if catalog.exists(name) else None
        except Exception:  # noqa: BLE001 - a dataset that cannot be read is absent for the summary
            return None

    try:
        contributors = {name: rec.summary_rows for name, rec in entries().items() if rec.summary_rows}
        table = summary.collect(ran_pipelines(pipeline, run_params), load, contributors)
        table = summary.with_safety_nets(table, sanity.fired_safety_nets())
        md = summary.to_markdown(table)
    except Exception as err:  # noqa: BLE001
        log.warning("could not build the run summary: %s", err)
        return
    print("\n" + md, flush=True)
    try:
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.log_text(md, "run_summary.md")
            if not table.empty:
                mlflow.log_text(table.to_csv(index=False), "run_summary.csv")
    except Exception as err:  # noqa: BLE001
        log.warning("could not log run_summary.md to MLflow: %s", err)

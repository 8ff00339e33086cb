"""What a user sees (issue 16, ``UxHook``): MLflow run name, tags and experiment view, HTML twins of plotly
figures, quiet solver logs, and the end-of-run summary (:mod:`evgrid.hooks.summary`)."""

from __future__ import annotations

import logging
import os
from typing import Any

from kedro.framework.hooks import hook_impl

from evgrid.hooks.pipelines import pipeline_names
from evgrid.hooks.summary import report_run_summary

log = logging.getLogger("evgrid.hooks")  # the one logger name of every hook message

SOLVER_LOGGERS = ("evgrid.optim.highs", "evgrid.optim.solver")  # HiGHS output; one build/solve line per model


def quiet_solver_logs(enabled: bool | None = None) -> None:
    """HiGHS' own output at WARNING unless ``EVGRID_SOLVER_LOG=1`` (or ``enabled=True``) turns it back on."""
    if enabled is None:
        enabled = os.environ.get("EVGRID_SOLVER_LOG", "").lower() in ("1", "true", "yes", "on")
    for name in SOLVER_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if enabled else logging.WARNING)


class UxHook:
    """MLflow run name/tags/experiment view, HTML twins of plotly figures, end-of-run summary (issue 16)."""

    def __init__(self) -> None:
        self._catalog = None
        self._pipeline = None
        self._run_params: dict = {}

    @hook_impl
    def after_catalog_created(self, catalog) -> None:
        self._catalog = catalog

    # normal priority: after kedro-mlflow opened the run (plugins register later, so run first) and before
    # RunGuardHook (trylast) may refuse the run: a refused run carries its name too
    @hook_impl
    def before_pipeline_run(self, run_params: dict, pipeline, catalog) -> None:
        import mlflow

        from evgrid.pipeline_registry import DEFAULT_PIPELINES
        from evgrid.runtime import mlflow_ux

        self._catalog, self._pipeline, self._run_params = catalog, pipeline, run_params
        quiet_solver_logs()
        active = mlflow.active_run()
        if active is None:
            return
        try:
            client = mlflow.MlflowClient()
            name = mlflow_ux.run_name(pipeline_names(run_params), run_params.get("env"), DEFAULT_PIPELINES)
            client.update_run(active.info.run_id, name=name)
            mlflow_ux.clean_tags(client, active.info.run_id, run_params)
            mlflow_ux.model_training_view(client, active.info.experiment_id)
        except Exception as err:  # noqa: BLE001 - cosmetics never fail a run
            log.warning("could not name/tag the MLflow run: %s", err)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any = None) -> None:
        from evgrid.runtime import mlflow_ux

        if self._catalog is None or not mlflow_ux.is_plotly_figure(data):
            return
        try:
            ds = self._catalog.get(dataset_name)
        except Exception:  # noqa: BLE001
            return
        path = getattr(ds, "_filepath", None)
        if path is None:
            return
        try:
            mlflow_ux.log_html_twin(data, path, getattr(ds, "artifact_path", None),
                                    log=hasattr(ds, "artifact_path"))
        except Exception as err:  # noqa: BLE001
            log.warning("could not write the HTML twin of '%s': %s", dataset_name, err)

    @hook_impl(tryfirst=True)  # before kedro-mlflow ends the MLflow run
    def after_pipeline_run(self, run_params: dict, pipeline, catalog) -> None:
        report_run_summary(run_params, pipeline, catalog)

"""Project pipelines: every pipeline of the study registry (``evgrid.studies.REGISTRY``) and of
:data:`OTHER_PIPELINES` (the pipelines without a study package), one record each.

The project hooks read the same records: ``validate`` (ALL parameters, before any node runs) and
``summary_rows`` (end-of-run summary); ``tests/test_project.py`` checks that every package under
``evgrid.pipelines`` is registered here.
"""

import importlib

from kedro.pipeline import Pipeline

from evgrid.studies import REGISTRY, Study, lazy

# The default `kedro run` (and `make run`): the main job on the embedded real data.
DEFAULT_PIPELINES = ("ingest", "grid", "gan", "dwpt", "dro", "tariff", "parking", "planning")

# Pipelines without a study package: the same record as a study's STUDY (kind "pipeline").
OTHER_PIPELINES = (
    Study("ingest", kind="pipeline", validator=lazy("evgrid.pipelines.ingest", "validate_params"),
          summary_rows=lazy("evgrid.pipelines.ingest.summary", "summary_rows"), metrics=("ingest_quality_metrics",)),
    Study("grid", kind="pipeline", validator=lazy("evgrid.pipelines.grid", "validate_params"),
          summary_rows=lazy("evgrid.pipelines.grid.summary", "summary_rows"), metrics=("grid_metrics",)),
    Study("gan", kind="pipeline", validator=lazy("evgrid.pipelines.gan", "validate_params"),
          summary_rows=lazy("evgrid.pipelines.gan.summary", "summary_rows")),
    Study("traffic_assignment", kind="pipeline", docs="docs/planning.md", metrics=("ue_metrics",),
          validator=lazy("evgrid.pipelines.traffic_assignment.nodes", "validate_params")),
    # backtest builds on studies/dro, so its pipeline lives in the dro pipeline package (layout rule)
    Study("backtest", kind="pipeline", pipelines={"backtest": "evgrid.pipelines.dro.backtest"},
          validator=lazy("evgrid.pipelines.dro.backtest", "validate_params"),
          summary_rows=lazy("evgrid.studies.dro.backtest", "summary_rows"), metrics=("backtest_metrics",)),
)


def pipeline_entries() -> dict[str, Study]:
    """Registered pipeline name -> its record (a study's ``STUDY`` or one of :data:`OTHER_PIPELINES`)."""
    out: dict[str, Study] = {}
    for record in (*REGISTRY.values(), *OTHER_PIPELINES):
        for name in record.pipelines:
            if name in out:
                raise ValueError(f"pipeline {name!r} registered twice ({out[name].name}, {record.name})")
            out[name] = record
    return out


def summary_contributors() -> dict:
    """Pipeline name -> ``summary_rows(load)`` of its record (those that report headline figures)."""
    return {name: rec.summary_rows for name, rec in pipeline_entries().items() if rec.summary_rows is not None}


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines; ``__default__`` chains the main job in dependency order."""
    pipelines = {name: importlib.import_module(rec.pipelines[name]).create_pipeline()
                 for name, rec in pipeline_entries().items()}
    # one kedro-viz / `kedro run --tags` tag per study on every node of its pipeline
    pipelines = {name: Pipeline(pipe, tags=[name]) for name, pipe in pipelines.items()}
    default = Pipeline([])
    for name in DEFAULT_PIPELINES:
        if name in pipelines:
            default += pipelines[name]
    pipelines["__default__"] = default
    return pipelines

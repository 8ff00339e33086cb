"""Project pipelines: every package under ``evgrid.pipelines`` with a ``create_pipeline``."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# The default `kedro run` (and `make run`): the main job on the embedded real data.
DEFAULT_PIPELINES = ("ingest", "grid", "gan", "dwpt", "dro", "tariff", "parking", "planning")


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines; ``__default__`` chains the main job in dependency order."""
    pipelines = find_pipelines(raise_errors=True)
    # one kedro-viz / `kedro run --tags` tag per study on every node of its pipeline
    pipelines = {name: Pipeline(pipe, tags=[name]) for name, pipe in pipelines.items()}
    default = Pipeline([])
    for name in DEFAULT_PIPELINES:
        if name in pipelines:
            default += pipelines[name]
    pipelines["__default__"] = default
    return pipelines

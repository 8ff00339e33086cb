"""Project pipelines: every package under ``evgrid.pipelines`` with a ``create_pipeline``."""

import importlib
import warnings

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# The default `kedro run` (and `make run`): the main job on the embedded real data.
DEFAULT_PIPELINES = ("ingest", "grid", "gan", "dwpt", "dro", "tariff", "parking", "planning")
# Pipelines inside another pipeline's package (layout rule: backtest builds on studies/dro); the hooks read this too.
EXTRA_PIPELINES = {"backtest": "evgrid.pipelines.dro.backtest"}


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines; ``__default__`` chains the main job in dependency order."""
    try:
        pipelines = find_pipelines(raise_errors=True)
    except ImportError as err:  # `--pipeline=backtest`: Kedro looks for a package evgrid.pipelines.backtest
        if err.__cause__ is not None or not any(f"'evgrid.pipelines.{n}'" in str(err) for n in EXTRA_PIPELINES):
            raise  # a real import failure (packages are imported, and raise, before that check)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipelines = find_pipelines(raise_errors=False)
    pipelines.update({name: importlib.import_module(mod).create_pipeline() for name, mod in EXTRA_PIPELINES.items()})
    # one kedro-viz / `kedro run --tags` tag per study on every node of its pipeline
    pipelines = {name: Pipeline(pipe, tags=[name]) for name, pipe in pipelines.items()}
    default = Pipeline([])
    for name in DEFAULT_PIPELINES:
        if name in pipelines:
            default += pipelines[name]
    pipelines["__default__"] = default
    return pipelines

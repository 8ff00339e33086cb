"""Project-level checks: pipelines register, the catalog resolves, MLflow is configured for sqlite."""

from pathlib import Path

import pytest
import yaml
from kedro.framework.startup import bootstrap_project

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def catalog():
    """The project's catalog from its config loader (settings.py), without a KedroSession: a session runs
    the MLflow hooks, whose process-wide state (tracking URI, experiment) leaks into later tests' sessions."""
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    from evgrid import settings

    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), **settings.CONFIG_LOADER_ARGS)
    return DataCatalog.from_config(loader["catalog"])


@pytest.fixture(scope="module")
def pipelines():
    bootstrap_project(PROJECT_ROOT)
    from evgrid.pipeline_registry import register_pipelines

    return register_pipelines()


def test_every_pipeline_package_is_registered_and_default_chains_eight(pipelines):
    """Registration reads the registry (no list repeated here): every package under evgrid.pipelines is
    registered, with nodes, and the default chain runs the eight pipelines of the main job."""
    import pkgutil

    import evgrid.pipelines
    from evgrid.pipeline_registry import DEFAULT_PIPELINES, pipeline_entries

    packages = {m.name for m in pkgutil.iter_modules(evgrid.pipelines.__path__) if m.ispkg}
    assert packages <= set(pipeline_entries()), f"unregistered pipeline packages: {packages - set(pipeline_entries())}"
    assert len(DEFAULT_PIPELINES) == 8 and set(DEFAULT_PIPELINES) <= set(pipeline_entries())
    for name in pipeline_entries():
        assert name in pipelines and len(pipelines[name].nodes) > 0, f"pipeline {name!r} is not registered"
    default_nodes = {n.name for n in pipelines["__default__"].nodes}
    for name in DEFAULT_PIPELINES:
        assert {n.name for n in pipelines[name].nodes} <= default_nodes


def test_every_record_validates_the_shipped_parameters_and_has_its_docs():
    """The check the hooks run before any node accepts conf/base for every registered pipeline."""
    from evgrid.pipeline_registry import pipeline_entries

    params = {}
    for f in sorted((PROJECT_ROOT / "conf" / "base").glob("parameters*.yml")):
        params |= yaml.safe_load(f.read_text()) or {}
    for name, record in pipeline_entries().items():
        record.validate(params)
        assert (PROJECT_ROOT / record.docs).exists(), f"{name}: docs page {record.docs} missing"


def test_every_free_input_is_catalogued_or_a_parameter(catalog, pipelines):
    """A pipeline input that is neither produced upstream, catalogued, nor a parameter would fail at run."""
    for name, pipe in pipelines.items():
        for ds in sorted(pipe.inputs()):
            if ds == "parameters" or ds.startswith("params:"):
                continue
            assert ds in catalog, (
                f"pipeline {name!r} needs dataset {ds!r}, which no upstream node makes and no catalog entry "
                "or dataset factory matches"
            )


def test_parameters_load_for_base_and_paper_envs():
    """Both environments' parameters load through the project's config loader (settings.py), as a run does.
    No KedroSession here: sessions run the MLflow hooks, whose process-wide state would leak into later tests."""
    from kedro.config import OmegaConfigLoader

    from evgrid import settings

    for env in ("local", "paper"):
        args = dict(settings.CONFIG_LOADER_ARGS, default_run_env=env)
        loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), **args)
        params = loader["parameters"]
        assert params["step_minutes"] == 15
        assert isinstance(params["seed"], int)


def test_mlflow_uses_sqlite_backend_and_evgrid_experiment():
    cfg = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "mlflow.yml").read_text())
    assert cfg["server"]["mlflow_tracking_uri"] == "sqlite:///mlflow.db"
    assert cfg["tracking"]["experiment"]["name"] == "evgrid"

"""Issue 16, what a user sees: the MLflow run of a small pipeline run (artifacts, HTML twins, name, tags),
the end-of-run summary on its outputs, and the catalog conventions (a layer on every entry, one
artifact_path per pipeline with no two MLflow artifacts colliding)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path, PurePosixPath

import pytest
import yaml

from tests.project_helpers import throwaway_project

ROOT = Path(__file__).resolve().parents[1]
CATALOGS = sorted((ROOT / "conf" / "base").glob("catalog*.yml"))
LAYERS = {"raw", "intermediate", "primary", "feature", "model_input", "models", "model_output", "reporting"}


def _entries():
    for path in CATALOGS:
        for name, entry in (yaml.safe_load(path.read_text()) or {}).items():
            if not name.startswith("_") and isinstance(entry, dict):
                yield path, name, entry


def test_every_catalog_entry_has_a_kedro_viz_layer():
    bad = [f"{p.name}:{n} -> {((e.get('metadata') or {}).get('kedro-viz') or {}).get('layer')}"
           for p, n, e in _entries()
           if ((e.get("metadata") or {}).get("kedro-viz") or {}).get("layer") not in LAYERS]
    assert not bad, f"catalog entries without a kedro-viz layer in {sorted(LAYERS)}: {bad}"


def test_mlflow_artifacts_have_a_pipeline_artifact_path_and_never_collide():
    seen: Counter = Counter()
    missing = []
    for path, name, entry in _entries():
        if not str(entry.get("type", "")).endswith("MlflowArtifactDataset"):
            continue
        pipeline = path.stem.removeprefix("catalog_")
        ap = entry.get("artifact_path")
        if not ap or ap.split("/")[0] != pipeline:
            missing.append(f"{path.name}:{name} artifact_path={ap!r} (expected '{pipeline}' or '{pipeline}/...')")
            continue
        fp = entry["dataset"]["filepath"]
        seen[str(PurePosixPath(ap) / PurePosixPath(fp).name)] += 1
    assert not missing, missing
    assert not [k for k, v in seen.items() if v > 1], f"colliding MLflow artifacts: {seen.most_common(3)}"


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    """``kedro run --pipeline=grid`` on a throw-away copy of the project (own mlflow.db, data/)."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    p = tmp_path_factory.mktemp("evgrid_ux")
    throwaway_project(p)  # conf, pyproject, an absolute MLflow store
    (p / "data").mkdir()
    (p / "data" / "01_raw").symlink_to(ROOT / "data" / "01_raw")
    mp = pytest.MonkeyPatch()
    mp.chdir(p)
    mp.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    bootstrap_project(p)
    with KedroSession.create(project_path=p) as session:
        session.run(pipeline_names=["grid"])
        catalog = session.load_context().catalog
    yield p, catalog
    mp.undo()


def test_mlflow_run_of_a_small_pipeline(grid_run, capsys):
    import mlflow

    project, _ = grid_run
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    exp = client.get_experiment_by_name("evgrid")
    assert exp.tags.get("mlflow.experimentKind") == "custom_model_development"  # runs table, not GenAI view
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.run_name == "grid (local)" and run.info.status == "FINISHED"
    assert not [v for v in run.data.tags.values() if re.search(r"object at 0x", v)], run.data.tags
    assert run.data.tags.get("runner", "SequentialRunner") == "SequentialRunner"  # absent in-process
    assert "project_path" not in run.data.tags  # absolute paths do not travel with the project

    def walk(path=None):
        for f in client.list_artifacts(run.info.run_id, path):
            yield from (walk(f.path) if f.is_dir else [f.path])

    arts = list(walk())
    assert len(arts) == len(set(arts))
    assert all(a.startswith("grid/") for a in arts if a not in ("run_summary.md", "run_summary.csv")), arts
    figs = [a for a in arts if a.endswith(".json") and "/figures/" in a]
    assert figs, arts
    assert all(f[:-5] + ".html" in arts for f in figs), arts  # every plotly figure has its HTML twin
    html = (project / "data/08_reporting/grid/voltage_profile.html").read_text()
    assert "plotly" in html and "<html>" in html
    summary = client.download_artifacts(run.info.run_id, "run_summary.md", str(project))
    assert "AC v_min (bus 18)" in Path(summary).read_text()


def test_summary_on_the_outputs_of_a_small_run(grid_run):
    from evgrid.runtime import summary

    _, catalog = grid_run
    table = summary.collect(["grid", "not_a_pipeline"], lambda n: catalog.load(n) if catalog.exists(n) else None)
    got = table.set_index("figure")
    assert set(table["pipeline"]) == {"grid"}
    # case33bw base case: Baran & Wu's AC minimum 0.9131 pu at bus 18
    assert got.at["AC v_min (bus 18)", "ours"] == pytest.approx(0.9131, abs=5e-4)
    assert got.at["AC v_min (bus 18)", "paper"] == 0.9131
    assert 0 < got.at["LinDistFlow max |V_lin - V_AC|", "ours"] < 0.01
    md = summary.to_markdown(table)
    assert md.count("\n| grid") == len(table) == 3


def test_a_broken_contributor_is_one_row_not_a_failed_run():
    from evgrid.runtime import summary

    @summary.register("ux_test_broken")
    def rows(load):
        raise KeyError("dwpt_costs")

    table = summary.collect(["ux_test_broken"], lambda n: None)
    assert table["figure"].tolist() == ["summary unavailable"] and "KeyError" in table["ours"].iloc[0]


def test_grid_voltage_profile_draws_laterals_and_flat_limits(grid_run):
    _, catalog = grid_run
    prof = catalog.load("grid_voltage_profile")
    fig = catalog.load("grid_voltage_profile_plot")
    has_parent = prof["parent_bus"].notna()
    edges = set(zip(prof["parent_bus"][has_parent].astype(int), prof["bus"][has_parent].astype(int), strict=True))
    ac = [t for t in fig.data if t.legendgroup == "AC (pandapower NR)"]
    assert len(ac) == 4  # case33bw: main feeder 1-18 and the laterals 2-22, 3-25, 6-33
    for t in fig.data:  # consecutive points are always a branch of the feeder (no line from bus 18 to 19)
        buses = list(t.customdata)
        assert all((a, b) in edges for a, b in zip(buses, buses[1:], strict=False)), buses
    assert sorted(b for t in ac for b in t.customdata[1:]) == sorted(prof["bus"][has_parent])
    limits = [s for s in fig.layout.shapes if s.type == "line"]
    assert limits and all(s.y0 == s.y1 == 0.9 for s in limits)  # v_min flat at 0.9 p.u.


def test_study_validators_get_their_own_parameter_block():
    """`kedro run --pipeline=dwpt` validates params['dwpt'] (not the whole parameters dict) before any node."""
    from evgrid.hooks import _all_pipelines, validate_parameters, validators_for
    from evgrid.runtime.validation import ConfigError

    params = {}
    for f in ("parameters.yml", "parameters_dwpt.yml"):
        params |= yaml.safe_load((ROOT / "conf" / "base" / f).read_text())
    pipes = _all_pipelines()
    checks = validators_for(pipes["dwpt"], pipes)
    validate_parameters(params, checks)  # the shipped parameters pass
    params["dwpt"] = {**params["dwpt"], "max_shed_share": 2.0}
    with pytest.raises(ConfigError, match="max_shed_share"):
        validate_parameters(params, checks)

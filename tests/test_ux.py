"""Issue 16, what a user sees: the MLflow run of a small pipeline run (artifacts, HTML twins, name, tags),
the end-of-run summary on its outputs, and the catalog conventions (a layer on every entry, one
artifact_path per pipeline with no two MLflow artifacts colliding). Issue 29: the terminal log of
`kedro run` (one line per node, no dataset I/O, the summary and where to look next at the end)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
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
    """``kedro run --pipelines=grid`` on a throw-away copy of the project (own mlflow.db, data/)."""
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

    def rows(load):
        raise KeyError("dwpt_costs")

    table = summary.collect(["ux_test_broken"], lambda n: None, {"ux_test_broken": rows})
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
    """`kedro run --pipelines=dwpt` validates params['dwpt'] (not the whole parameters dict) before any node."""
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


# -- issue 29: what the terminal shows ---------------------------------------------------------------
def test_kedro_run_prints_one_line_per_node_and_ends_with_the_summary(tmp_path):
    """`kedro run --pipelines=grid` in a subprocess, as a user runs it (the only subprocess run here)."""
    p = throwaway_project(tmp_path)
    (p / "data").mkdir()
    (p / "data" / "01_raw").symlink_to(ROOT / "data" / "01_raw")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "MPLBACKEND": "Agg"}
    env.pop("EVGRID_VERBOSE", None)
    out = subprocess.run([sys.executable, "-m", "kedro", "run", "--pipelines=grid"], cwd=p, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    log = out.stdout
    lines = [line for line in log.splitlines() if line.strip()]
    assert out.returncode == 0, log[-3000:]
    assert "Traceback" not in log and not [x for x in lines if " ERROR " in x], log[-3000:]
    assert not [x for x in lines if "Loading data from" in x or "Saving data to" in x or "Replacing dataset" in x]
    done = [i for i, x in enumerate(lines) if re.search(r"evgrid\.progress: \[\d/7\] grid_\w+ done in \d+\.\d s$", x)]
    assert len(done) == 7 and re.search(r"\[7/7\]", lines[done[-1]]), lines
    start = next(i for i, x in enumerate(lines) if "evgrid.progress: running 7 nodes" in x)
    assert done[-1] - start <= 3 * 7, lines[start:done[-1] + 1]  # at most 3 lines per node while it runs
    assert len(lines) < 80, f"{len(lines)} lines"
    head = next(i for i, x in enumerate(lines) if x == "## evgrid run summary")
    assert head > done[-1] and lines[head + 3].startswith("| grid     | AC v_min (bus 18)")
    assert re.fullmatch(r".*evgrid\.progress: 7 nodes done in \d+\.\d s", lines[-3]), lines[-6:]
    assert re.fullmatch(r"MLflow run: http://127\.0\.0\.1:5000/#/experiments/\d+/runs/[0-9a-f]{32} .*", lines[-2])
    assert lines[-1] == "Tables and figures: data/08_reporting/grid/"


def test_node_progress_lines_and_verbose_switch(caplog, monkeypatch):
    from evgrid.runtime import progress

    assert [progress.duration(s) for s in (41.23, 125, 3725)] == ["41.2 s", "2 min 05 s", "1 h 02 min"]
    prog = progress.NodeProgress(12, running_note_s=0)
    with caplog.at_level(logging.INFO, logger="evgrid.progress"):
        for name in ("a", "b"):
            prog.start(name)
        prog.expect_saves("a", ["a_out", "a_plot"])  # the line once the node's outputs are written
        prog.saved("a", "a_out")
        assert not caplog.records
        prog.saved("a", "a_plot")
        prog.failed("b", ValueError("x"))
    msgs = [r.getMessage() for r in caplog.records]
    assert re.fullmatch(r"\[ 1/12\] a done in 0\.\d s", msgs[0]), msgs
    assert re.fullmatch(r"\[ 2/12\] b FAILED after 0\.\d s \(ValueError\)", msgs[1]), msgs
    assert caplog.records[1].levelname == "ERROR"
    caplog.clear()
    monkeypatch.setattr(progress, "RUNNING_REPEAT_S", 0.5)
    slow = progress.NodeProgress(3, running_note_s=0.02)
    with caplog.at_level(logging.INFO, logger="evgrid.progress"):
        slow.start("slow")
        for _ in range(400):  # a long node says so, then again while it runs (a CI log has no bar)
            if any("still running after" in r.getMessage() for r in caplog.records):
                break
            time.sleep(0.025)
        slow.done("slow")
        n = len(caplog.records)
        time.sleep(0.2)
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs[0].startswith("[1/3] slow running (started ") and "[1/3] slow still running after" in msgs[1], msgs
    assert len(msgs) == n and msgs[-1].startswith("[1/3] slow done in"), msgs  # no note after the node ended
    io_log, mlflow_log = logging.getLogger("kedro.io.data_catalog"), logging.getLogger("mlflow")
    old = io_log.level, mlflow_log.level
    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)  # restored after the test
    try:
        io_log.setLevel(logging.WARNING)
        progress.verbose_logs(False)
        assert io_log.level == logging.WARNING and mlflow_log.level == logging.WARNING
        progress.verbose_logs(True)  # EVGRID_VERBOSE=1: every dataset load/save again
        assert io_log.level == logging.INFO
    finally:
        io_log.setLevel(old[0])
        mlflow_log.setLevel(old[1])


def test_metrics_datasets_name_their_prefix():
    """kedro-mlflow re-adds a metrics dataset without a prefix to the catalog ('Replacing dataset' warnings)."""
    bad = [f"{p.name}:{n}" for p, n, e in _entries()
           if str(e.get("type", "")).endswith(("MlflowMetricsHistoryDataset", "MlflowMetricDataset",
                                                 "MlflowMetricHistoryDataset"))
           and (e.get("prefix") or e.get("key")) != n]
    assert not bad, f"metrics datasets without prefix/key equal to their name: {bad}"

"""Issue 15 end to end, on a throw-away copy of the project (its own git repo, mlflow.db and data/):
concurrent first runs, signals, SIGKILL, a killed upstream refused downstream, parameters refused before
any node, and a clean git tree. Subprocess runs use the cheap ``grid`` pipeline (and ``ingest`` once)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
KEDRO = [sys.executable, "-m", "kedro"]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("evgrid_copy")
    shutil.copytree(ROOT / "conf", p / "conf", ignore=shutil.ignore_patterns("local"))
    (p / "conf" / "local").mkdir()
    (p / "conf" / "local" / ".gitkeep").touch()
    # an absolute store: MLflow caches one store per URI string in the process, so after an earlier test's
    # in-process session (test_notebook) the relative sqlite:///mlflow.db would reach that project's database
    # and this test's orphan check would look there
    (p / "conf" / "local" / "mlflow.yml").write_text(
        (ROOT / "conf" / "base" / "mlflow.yml").read_text().replace("sqlite:///mlflow.db", f"sqlite:///{p / 'mlflow.db'}"))
    for f in ("pyproject.toml", ".telemetry", ".gitignore"):
        shutil.copy(ROOT / f, p / f)
    (p / "src").mkdir()  # evgrid itself is imported from PYTHONPATH (this checkout)
    (p / "data").mkdir()
    (p / "data" / "01_raw").symlink_to(ROOT / "data" / "01_raw")
    if shutil.which("git"):
        _git(p, "init", "-q")
        _git(p, "add", "-A")
        _git(p, "commit", "-qm", "copy")
    return p


def _tree_clean(project: Path) -> bool:
    return not shutil.which("git") or _git(project, "status", "--porcelain") == ""


def test_telemetry_is_off_by_project_configuration(monkeypatch):
    """Obs. 4: without KEDRO_DISABLE_TELEMETRY, kedro-telemetry must read consent: false from .telemetry."""
    from kedro_telemetry.plugin import _check_for_telemetry_consent

    for var in ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK"):
        monkeypatch.delenv(var, raising=False)
    assert _check_for_telemetry_consent(ROOT) is False
    if shutil.which("git") and (ROOT / ".git").exists():
        assert _git(ROOT, "ls-files", ".telemetry").strip() == ".telemetry"  # tracked, not ignored


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK")}
    return env | {"PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg", "COLUMNS": "200"}


def _start(project: Path, name: str) -> subprocess.Popen:
    return subprocess.Popen(KEDRO + ["run", f"--pipelines={name}"], cwd=project, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _runs(project: Path) -> list:
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    exp = client.get_experiment_by_name("evgrid")
    return client.search_runs([exp.experiment_id], filter_string="tags.`mlflow.parentRunId` IS NULL",
                              max_results=1000) if exp else []


def _run_of_pid(project: Path, pid: int):
    return next(r for r in _runs(project) if r.data.tags.get("evgrid.pid") == str(pid))


def test_two_first_runs_at_once_work_or_refuse_cleanly_and_tree_stays_clean(project):
    """Obs. 1, 3, 4: no mlflow.db yet, two `kedro run --pipelines=grid` at once, telemetry env unset."""
    assert not (project / "mlflow.db").exists()
    procs = [_start(project, "grid") for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    codes = [p.returncode for p in procs]
    for code, out in zip(codes, outs, strict=True):
        assert "alembic" not in out and "0 bytes" not in out, out[-3000:]
        assert code == 0 or "another run is writing the same outputs" in out, out[-3000:]
    assert 0 in codes
    statuses = sorted(r.info.status for r in _runs(project))
    assert statuses == sorted("FINISHED" if c == 0 else "FAILED" for c in codes)
    man = json.loads((project / "data/09_manifests/grid.json").read_text())
    assert man["status"] == "completed" and man["success"] and man["mlflow_run_id"]
    assert man["outputs"]["grid_voltage_profile"]["sha256"]
    assert _tree_clean(project)  # telemetry did not edit pyproject.toml


def _wait_running(project: Path, key: str, pid: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    path = project / "data/09_manifests" / f"{key}.json"
    t0 = time.time()
    while time.time() - t0 < timeout:
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        try:
            man = json.loads(path.read_text())
            if man["status"] == "running" and man["process"]["pid"] == pid:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"{key} run never started")


def test_sigterm_kills_cleanly_and_sigkill_is_closed_and_refused_downstream(project, monkeypatch):
    """Obs. 1, 2: SIGTERM -> KILLED; SIGKILL -> FAILED at the next start; its outputs refused downstream."""
    grid, ingest = _start(project, "grid"), _start(project, "ingest")
    _wait_running(project, "grid", grid.pid, grid)
    grid.send_signal(signal.SIGTERM)
    _wait_running(project, "ingest", ingest.pid, ingest)
    ingest.send_signal(signal.SIGKILL)
    out = grid.communicate(timeout=300)[0]
    ingest.communicate(timeout=60)
    assert grid.returncode == 128 + signal.SIGTERM, out[-3000:]
    assert _run_of_pid(project, grid.pid).info.status == "KILLED"
    assert json.loads((project / "data/09_manifests/grid.json").read_text())["status"] == "killed"
    assert _run_of_pid(project, ingest.pid).info.status == "RUNNING"  # nobody could close it

    # next start: the orphan is closed FAILED; gan refuses ingest's outputs, naming the command
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from evgrid.runtime.manifest import UpstreamIncompleteError
    from evgrid.runtime.validation import ConfigError

    monkeypatch.chdir(project)
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        with pytest.raises(UpstreamIncompleteError, match=r"re-run `kedro run --pipelines=ingest`"):
            session.run(pipeline_names=["gan"])
    assert _run_of_pid(project, ingest.pid).info.status == "FAILED"
    gan_runs = [r for r in _runs(project) if r.info.run_name == "gan (local)"]
    assert [r.info.status for r in gan_runs] == ["FAILED"]  # the refusal was recorded FINISHED before

    # parameters are refused before any node (and before the upstream check): n_scenarios 0, a new family
    with KedroSession.create(project_path=project,
                             runtime_params={"gan": {"sampling": {"n_scenarios": 0},  # as --params does
                                                     "families": {"wind": {"kind": "profile"}}}}) as session:
        with pytest.raises(ConfigError, match=r"gan.families.wind.*supported: \['pv'.*"
                                              r"gan.sampling.n_scenarios: must be >= 1, got 0"):
            session.run(pipeline_names=["gan"])
    assert not (project / "data/09_manifests/gan.json").exists()
    assert _tree_clean(project)


# -- issue 23: results never depend on machine load; a safety net that fires is never silent -------------
def _knapsack(seed: int = 11, n: int = 30, m: int = 5):
    """A 5-constraint 0/1 knapsack of 30 items: HiGHS needs far more than 10 nodes to prove optimality."""
    import numpy as np
    import pyomo.environ as pyo

    rng = np.random.default_rng(seed)
    w = rng.integers(10, 100, size=(m, n))
    v = w.sum(axis=0) + rng.integers(0, 40, size=n)
    cap = 0.5 * w.sum(axis=1)
    mod = pyo.ConcreteModel(name="knapsack")
    mod.x = pyo.Var(range(n), domain=pyo.Binary)
    mod.c = pyo.Constraint(range(m), rule=lambda mm, i: sum(int(w[i, j]) * mm.x[j] for j in range(n)) <= float(cap[i]))
    mod.obj = pyo.Objective(expr=sum(int(v[j]) * mod.x[j] for j in range(n)), sense=pyo.maximize)
    return mod


def _solve_knapsack():
    import numpy as np
    import pyomo.environ as pyo

    from evgrid.optim.solver import SolverOptions, solve

    mod = _knapsack()
    res = solve(mod, SolverOptions(threads=1, mip_gap=0.0, time_limit_s=300, highs_options={"mip_max_nodes": 10}))
    return res, np.array([pyo.value(mod.x[j]) for j in mod.x])


def test_a_node_limited_milp_gives_the_same_solution_with_a_cpu_hog_beside_it():
    """The determinism mechanism (benchmarks/bench_determinism.py checks whole pipelines): a MILP stopped by a
    work limit (10 branch-and-bound nodes, gap still open) returns the same incumbent, bit for bit, whether
    the machine is idle or a busy-loop process competes for its core."""
    quiet, x_quiet = _solve_knapsack()
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        loaded, x_loaded = _solve_knapsack()
    finally:
        hog.kill()
        hog.wait()
    assert quiet.termination == "solution_limit" and quiet.mip_gap > 1e-4  # stopped by the node limit
    assert not quiet.stopped_by_time_limit and not loaded.stopped_by_time_limit
    assert loaded.termination == quiet.termination
    assert loaded.objective == quiet.objective and loaded.bound == quiet.bound
    assert x_loaded.tobytes() == x_quiet.tobytes()


def test_a_safety_net_that_fired_is_flagged_and_shown_in_the_run_summary(caplog):
    """A time-limit stop is on the result (``stopped_by_time_limit``); recording it warns and, through the run's
    MLflow tags, adds a 'FIRED' row to the end-of-run summary."""
    import dataclasses
    import logging

    from evgrid.optim.solver import SolveResult
    from evgrid.runtime import sanity, summary

    res = SolveResult(status="feasible", termination="time_limit", objective=10.0, bound=11.0, wall_s=60.0,
                      is_mip=True)
    assert res.stopped_by_time_limit
    assert not dataclasses.replace(res, termination="solution_limit").stopped_by_time_limit
    with caplog.at_level(logging.WARNING, logger="evgrid.runtime.sanity"):
        sanity.safety_net_fired("parking.s4", "HiGHS stopped at time_limit_s=60 (gap 0.03)")  # no MLflow run
    assert "safety net fired: parking.s4: HiGHS stopped at time_limit_s=60" in caplog.text
    fired = sanity.fired_safety_nets({"evgrid.safety_net.parking.s4": "gap 0.03", sanity.SAFETY_NET_TAG: "true",
                                      "evgrid.flags": "x"})
    assert fired == {"parking.s4": "gap 0.03"}
    base = summary.collect([], lambda name: None, {})
    md = summary.to_markdown(summary.with_safety_nets(base, fired))
    assert "| safety net | FIRED: parking.s4 | gap 0.03" in md
    assert summary.with_safety_nets(base, {}) is base  # nothing fired: no row

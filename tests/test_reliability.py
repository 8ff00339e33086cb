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
    return subprocess.Popen(KEDRO + ["run", f"--pipeline={name}"], cwd=project, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _runs(project: Path) -> list:
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    exp = client.get_experiment_by_name("evgrid")
    return client.search_runs([exp.experiment_id], filter_string="tags.`mlflow.parentRunId` IS NULL",
                              max_results=1000) if exp else []


def _run_of_pid(project: Path, pid: int):
    return next(r for r in _runs(project) if r.data.tags.get("evgrid.pid") == str(pid))


def test_two_first_runs_at_once_work_or_refuse_cleanly_and_tree_stays_clean(project):
    """Obs. 1, 3, 4: no mlflow.db yet, two `kedro run --pipeline=grid` at once, telemetry env unset."""
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
        with pytest.raises(UpstreamIncompleteError, match=r"re-run `kedro run --pipeline=ingest`"):
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

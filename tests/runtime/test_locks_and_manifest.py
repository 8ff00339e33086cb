"""Output locks and run manifests (issue 15, observation 1: overlapping runs, killed upstream runs)."""

import json
import os
import subprocess
import sys
import time

import pytest

from evgrid.runtime.locks import OutputLockError, OutputLocks
from evgrid.runtime.manifest import RunManifest, UpstreamIncompleteError, check_upstream
from evgrid.runtime.procs import ProcessId, pid_alive


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_pid_alive_tells_live_dead_and_recycled():
    me = ProcessId.current()
    assert me.alive() and pid_alive(os.getpid())
    assert not pid_alive(_dead_pid())
    if me.start_ticks is not None:
        assert not pid_alive(os.getpid(), me.start_ticks + 1)  # same pid, other start time: recycled


def _holder(dirpath, pid, start, outputs, command="kedro run --pipelines=grid"):
    dirpath.mkdir(parents=True, exist_ok=True)
    (dirpath / f"grid.{pid}.json").write_text(json.dumps({
        "process": {"pid": pid, "start_ticks": start, "host": ProcessId.current().host},
        "command": command, "outputs": outputs, "started_at": "2026-01-01T00:00:00"}))


def test_second_run_on_same_outputs_is_refused_naming_holder_pid(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        proc = ProcessId(sleeper.pid, None, ProcessId.current().host)
        _holder(tmp_path, proc.pid, None, ["/p/data/08_reporting/grid/voltage_profile.parquet"])
        locks = OutputLocks(tmp_path)
        with pytest.raises(OutputLockError, match=rf"kedro run --pipelines=grid.*pid {sleeper.pid}.*voltage_profile"):
            locks.acquire("grid", ["/p/data/08_reporting/grid/voltage_profile.parquet"], "kedro run")
        mine = locks.acquire("ingest", ["/p/data/03_primary/load.parquet"], "kedro run --pipelines=ingest")
        assert json.loads(mine.read_text())["process"]["pid"] == os.getpid()
        locks.release()
        assert not mine.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_lock_of_a_dead_process_is_broken(tmp_path):
    dead = _dead_pid()
    _holder(tmp_path, dead, None, ["/p/out.parquet"])
    locks = OutputLocks(tmp_path)
    mine = locks.acquire("grid", ["/p/out.parquet"], "kedro run --pipelines=grid")
    assert not (tmp_path / f"grid.{dead}.json").exists() and mine.exists()
    locks.release()


def _manifest(tmp_path, status, pid=None, sha=None, key="gan"):
    man = RunManifest(key=key, pipelines=[key], command=f"kedro run --pipelines={key}", status=status,
                      planned={"traffic.scenarios": "data/07_model_output/scenarios/traffic.parquet"})
    if pid is not None:
        man.process = {"pid": pid, "start_ticks": None, "host": ProcessId.current().host}
    if sha:
        man.outputs = {"traffic.scenarios": {"path": "x", "sha256": sha, "bytes": 1}}
    man.write(tmp_path / "manifests")
    return man


@pytest.fixture
def scen(tmp_path):
    f = tmp_path / "data/07_model_output/scenarios/traffic.parquet"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"scenarios")
    return {"traffic.scenarios": ("gan", str(f))}


@pytest.mark.parametrize("status,pid_kind,pattern", [
    ("running", "dead", r"did not complete.*process \d+ is gone.*re-run `kedro run --pipelines=gan`"),
    ("killed", "me", r"did not complete.*stopped by a signal.*re-run `kedro run --pipelines=gan`"),
    ("failed", "me", r"did not complete.*failed.*re-run `kedro run --pipelines=gan`"),
    ("running", "me", r"being written now by `kedro run --pipelines=gan`"),
])
def test_outputs_of_an_unfinished_upstream_run_are_refused(tmp_path, scen, status, pid_kind, pattern):
    _manifest(tmp_path, status, pid=_dead_pid() if pid_kind == "dead" else os.getpid())
    with pytest.raises(UpstreamIncompleteError, match=pattern):
        check_upstream(scen, tmp_path / "manifests", tmp_path)


def test_completed_upstream_is_accepted_with_lineage_and_a_changed_file_warns(tmp_path, scen):
    import hashlib

    good = hashlib.sha256(b"scenarios").hexdigest()
    man = _manifest(tmp_path, "completed", sha=good)
    man.mlflow_run_id = "abc"
    man.write(tmp_path / "manifests")
    lineage, warns = check_upstream(scen, tmp_path / "manifests", tmp_path)
    assert warns == [] and lineage["traffic.scenarios"]["from_run"]["mlflow_run_id"] == "abc"
    assert lineage["traffic.scenarios"]["sha256"] == good
    time.sleep(0.01)
    (tmp_path / "data/07_model_output/scenarios/traffic.parquet").write_bytes(b"copied from elsewhere")
    _, warns = check_upstream(scen, tmp_path / "manifests", tmp_path)
    assert len(warns) == 1 and "changed since `kedro run --pipelines=gan` completed" in warns[0]


def test_latest_run_decides_and_no_manifest_only_warns(tmp_path, scen):
    _manifest(tmp_path, "completed", key="gan")
    time.sleep(0.01)
    _manifest(tmp_path, "killed", pid=os.getpid(), key="__default__")  # a later default run was stopped
    with pytest.raises(UpstreamIncompleteError, match="kedro run --pipelines=__default__"):
        check_upstream(scen, tmp_path / "manifests", tmp_path)
    _, warns = check_upstream(scen, tmp_path / "none", tmp_path)
    assert "has no run manifest" in warns[0]

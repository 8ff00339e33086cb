"""True MLflow run status (issue 15, observation 2; observation 3 is tests/test_reliability.py)."""

import os
import shutil
import signal
import subprocess
import sys

import mlflow
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import node, pipeline
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset
from mlflow.tracking import MlflowClient

from evgrid.hooks import RunGuardHook
from evgrid.runtime import mlflow_status
from evgrid.runtime.manifest import RunManifest


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    """Creating and migrating a store takes seconds: build it once, copy it per test."""
    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    mlflow_status.prepare_tracking_store(f"sqlite:///{db}", "evgrid")
    return db


@pytest.fixture
def store(tmp_path, monkeypatch, template_db):
    monkeypatch.chdir(tmp_path)
    shutil.copy(template_db, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    exp = MlflowClient(uri).get_experiment_by_name("evgrid")
    mlflow.set_experiment(experiment_id=exp.experiment_id)
    yield uri, exp.experiment_id
    while mlflow.active_run():
        mlflow.end_run()


def test_run_left_running_by_a_dead_process_is_closed_failed_at_next_start(store):
    uri, exp_id = store
    client = MlflowClient(uri)
    orphan = client.create_run(exp_id, tags={mlflow_status.TAG_PID: str(_dead_pid()),
                                             mlflow_status.TAG_HOST: os.uname().nodename})
    child = client.create_run(exp_id, tags={"mlflow.parentRunId": orphan.info.run_id})
    alive = client.create_run(exp_id, tags={mlflow_status.TAG_PID: str(os.getpid()),
                                            mlflow_status.TAG_HOST: os.uname().nodename})
    untagged = client.create_run(exp_id)  # not ours: cannot tell, left alone
    closed = mlflow_status.prepare_tracking_store(uri, "evgrid")
    assert set(closed) == {orphan.info.run_id, child.info.run_id}
    status = {r: client.get_run(r).info.status for r in
              (orphan.info.run_id, child.info.run_id, alive.info.run_id, untagged.info.run_id)}
    assert list(status.values()) == ["FAILED", "FAILED", "RUNNING", "RUNNING"]
    assert "process was gone" in client.get_run(orphan.info.run_id).data.tags[mlflow_status.TAG_CLOSED]


def _kill_self(df: pd.DataFrame, sig: int) -> pd.DataFrame:
    os.kill(os.getpid(), sig)
    return df  # never reached: the handler raises


def _guarded_run(tmp_path, sig):
    """A real pipeline under the project hook, inside an MLflow run, whose node gets ``sig``."""
    out = CSVDataset(filepath=str(tmp_path / "data/08_reporting/out.csv"))
    done = CSVDataset(filepath=str(tmp_path / "data/08_reporting/done.csv"))
    catalog = DataCatalog({"inp": MemoryDataset(pd.DataFrame({"p_kw": [1.0]})), "out": out, "done": done,
                           "sig": MemoryDataset(sig)})
    pipe = pipeline([node(lambda d: d, "inp", "done", name="first"),
                     node(_kill_self, ["done", "sig"], "out", name="second")])
    run = mlflow.start_run()
    hook = RunGuardHook()
    params = {"project_path": str(tmp_path), "pipeline_names": ["toy"], "env": None}
    hook.before_pipeline_run(params, pipe, catalog)
    before = signal.getsignal(sig)
    assert before == hook._on_signal
    return hook, pipe, catalog, run.info.run_id


@pytest.mark.parametrize("sig,exc,status", [(signal.SIGTERM, SystemExit, "KILLED"),
                                             (signal.SIGINT, KeyboardInterrupt, "KILLED")])
def test_signal_ends_mlflow_run_killed_and_manifest_killed(tmp_path, store, sig, exc, status):
    uri, _ = store
    old = signal.getsignal(sig)
    hook, pipe, catalog, run_id = _guarded_run(tmp_path, sig)
    with pytest.raises(exc):
        SequentialRunner().run(pipe, catalog, hook_manager=None)
    assert MlflowClient(uri).get_run(run_id).info.status == status
    man = RunManifest.read(tmp_path / "data/09_manifests/toy.json")
    assert man.status == "killed" and "SIG" in man.error and not man.success
    assert signal.getsignal(sig) == old  # handlers restored
    assert list((tmp_path / "data/09_manifests/locks").glob("*.json")) == []  # lock released


def _signal_inside_mlflow_store(df: pd.DataFrame, sig: int) -> pd.DataFrame:
    """Deliver ``sig`` while the innermost frame belongs to MLflow's SQL store (as when kedro-mlflow is writing
    a parameter and the sqlite transaction is open)."""
    code = "def write(sig):\n    os.kill(os.getpid(), sig)\n    for _ in range(1000):\n        pass\n"
    scope = {"__name__": "mlflow.store.tracking.sqlalchemy_store", "os": os}
    exec(compile(code, "<mlflow store>", "exec"), scope)  # noqa: S102 - a frame whose module is MLflow's
    scope["write"](sig)
    return df


def test_sigterm_inside_the_mlflow_store_defers_bookkeeping_and_never_turns_into_an_error(tmp_path, store):
    """A SIGTERM landing inside MLflow's store must not write to the store from the handler (the interrupted
    transaction holds it; mlflow.end_run popped the run before failing, and kedro-mlflow's end hook then
    crashed with UnboundLocalError, rc 1). The run stops with SystemExit, the MLflow run stays active for
    kedro-mlflow's hooks, and the exit bookkeeping records KILLED."""
    uri, _ = store
    old = signal.getsignal(signal.SIGTERM)
    catalog = DataCatalog({"inp": MemoryDataset(pd.DataFrame({"p_kw": [1.0]})), "sig": MemoryDataset(signal.SIGTERM),
                           "out": CSVDataset(filepath=str(tmp_path / "data/08_reporting/out.csv"))})
    pipe = pipeline([node(_signal_inside_mlflow_store, ["inp", "sig"], "out", name="logs_to_mlflow")])
    run = mlflow.start_run()
    hook = RunGuardHook()
    hook.before_pipeline_run({"project_path": str(tmp_path), "pipeline_names": ["toy"], "env": None}, pipe, catalog)
    with pytest.raises(SystemExit) as exc:
        SequentialRunner().run(pipe, catalog, hook_manager=None)
    assert exc.value.code == 128 + signal.SIGTERM
    assert mlflow.active_run() is not None and mlflow.active_run().info.run_id == run.info.run_id
    assert RunManifest.read(tmp_path / "data/09_manifests/toy.json").status == "running"
    hook._at_exit()  # what the interpreter runs at exit (before MLflow's own atexit)
    assert mlflow.active_run() is None
    assert MlflowClient(uri).get_run(run.info.run_id).info.status == "KILLED"
    man = RunManifest.read(tmp_path / "data/09_manifests/toy.json")
    assert man.status == "killed" and "SIGTERM" in man.error
    assert signal.getsignal(signal.SIGTERM) == old
    assert list((tmp_path / "data/09_manifests/locks").glob("*.json")) == []


def test_refusal_before_any_node_ends_mlflow_run_failed(tmp_path, store):
    """An upstream run that did not complete: refused, and the MLflow run says FAILED (was FINISHED)."""
    uri, _ = store
    from kedro.pipeline import Pipeline

    import evgrid.hooks as hooks

    scen = tmp_path / "data/07_model_output/scenarios/traffic.parquet"
    scen.parent.mkdir(parents=True)
    scen.write_bytes(b"half")
    RunManifest(key="gan", pipelines=["gan"], command="kedro run --pipelines=gan", status="running",
                process={"pid": _dead_pid(), "start_ticks": None, "host": os.uname().nodename},
                planned={"traffic.scenarios": "data/07_model_output/scenarios/traffic.parquet"}
                ).write(tmp_path / "data/09_manifests")
    catalog = DataCatalog({"traffic.scenarios": CSVDataset(filepath=str(scen)),
                           "o": MemoryDataset()})
    pipe = Pipeline([node(lambda d: d, "traffic.scenarios", "o", name="use")])
    run = mlflow.start_run()
    with pytest.raises(hooks.manifest.UpstreamIncompleteError,
                       match=r"did not complete.*re-run `kedro run --pipelines=gan`"):
        RunGuardHook().before_pipeline_run({"project_path": str(tmp_path), "pipeline_names": ["dro"]},
                                           pipe, catalog)
    assert mlflow.active_run() is None
    assert MlflowClient(uri).get_run(run.info.run_id).info.status == "FAILED"
    assert not (tmp_path / "data/09_manifests/dro.json").exists()  # a refused run writes no manifest


def test_result_flags_go_to_the_active_mlflow_run(store):
    from evgrid.runtime.sanity import flag_result

    with mlflow.start_run() as run:
        flag_result("c1", load_kwh=10.0, shed_kwh=9.0, warn=False).log_to_mlflow()
    data = MlflowClient(store[0]).get_run(run.info.run_id).data
    assert data.metrics["flagged.c1"] == 1.0 and "90.0 % of load shed" in data.tags["evgrid.flags.c1"]

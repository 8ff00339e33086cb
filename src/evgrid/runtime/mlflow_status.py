"""True MLflow run status.

* ``prepare_tracking_store``: create/migrate the sqlite ``mlflow.db`` and the experiment once, under a file
  lock, before kedro-mlflow touches them (two first runs at once raced in alembic: "Online migration
  expected to match one row ... 0 found"); then close orphans.
* ``close_orphans``: a RUNNING run whose recorded process (tags ``evgrid.pid``/``evgrid.pid_start``/
  ``evgrid.host``) is gone was SIGKILLed or lost its machine: it is closed as FAILED (children too).
* ``end_runs``: end every active run (and the recorded run, if another thread holds it) with a status:
  FAILED on an exception or refusal, KILLED on SIGINT/SIGTERM.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from .locks import FileLock
from .procs import ProcessId

log = logging.getLogger(__name__)

TAG_PID, TAG_START, TAG_HOST, TAG_CLOSED = "evgrid.pid", "evgrid.pid_start", "evgrid.host", "evgrid.closed_reason"


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative paths are relative to the working directory,
    as for MLflow itself); None for other back ends."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):])


def prepare_tracking_store(uri: str, experiment_name: str | None = None,
                           create_kwargs: dict | None = None) -> list[str]:
    """Create/migrate the store and the experiment under ``<db>.lock``; close orphaned runs.
    Returns the ids of the runs it closed."""
    from mlflow.tracking import MlflowClient

    db = sqlite_file(uri)
    lock = FileLock(db.with_name(db.name + ".lock")) if db is not None else contextlib.nullcontext()
    with lock:
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)  # builds the tables and runs alembic's migrations
        if experiment_name is None:
            return []
        exp = client.get_experiment_by_name(experiment_name)
        if exp is None:
            kw = {k: v for k, v in (create_kwargs or {}).items() if v is not None}
            exp_id = client.create_experiment(experiment_name, **kw)
        else:
            exp_id = exp.experiment_id
        return close_orphans(client, exp_id)


def close_orphans(client, experiment_id: str) -> list[str]:
    """Close as FAILED every RUNNING run whose recorded process is gone, and its RUNNING children."""
    running = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'",
                                 max_results=5000)
    dead: list[str] = []
    for run in running:
        tags = run.data.tags
        if TAG_PID not in tags:
            continue  # not started by evgrid's hooks: we cannot tell, leave it
        start = tags.get(TAG_START)
        proc = ProcessId(int(tags[TAG_PID]), int(start) if start not in (None, "", "None") else None,
                         tags.get(TAG_HOST, ""))
        if not proc.alive():
            dead.append(run.info.run_id)
    closed: list[str] = []
    frontier = set(dead)
    while frontier:
        for rid in sorted(frontier):
            client.set_tag(rid, TAG_CLOSED, "closed as FAILED at the next start: its process was gone "
                                            "(killed without notice, e.g. SIGKILL)")
            client.set_terminated(rid, "FAILED")
            closed.append(rid)
            log.warning("MLflow run %s was left RUNNING by a process that is gone: closed as FAILED", rid)
        frontier = {r.info.run_id for r in running
                    if r.data.tags.get("mlflow.parentRunId") in frontier and r.info.run_id not in closed}
    return closed


def tag_process(run_id: str) -> None:
    import mlflow

    me = ProcessId.current()
    mlflow.MlflowClient().set_tag(run_id, TAG_PID, str(me.pid))
    mlflow.MlflowClient().set_tag(run_id, TAG_START, str(me.start_ticks))
    mlflow.MlflowClient().set_tag(run_id, TAG_HOST, me.host)


def end_runs(status: str, run_id: str | None = None, reason: str | None = None, active: bool = True) -> None:
    """End the active run stack of this thread with ``status`` (unless ``active=False``) and make sure
    ``run_id`` and its RUNNING children are ended too."""
    import mlflow

    client = mlflow.MlflowClient()
    if run_id and reason:
        with contextlib.suppress(Exception):
            client.set_tag(run_id, "evgrid.end_reason", reason[:4900])
    while active and mlflow.active_run() is not None:
        mlflow.end_run(status)
    if run_id:
        with contextlib.suppress(Exception):
            run = client.get_run(run_id)
            if run.info.status == "RUNNING":
                client.set_terminated(run_id, status)
            children = client.search_runs(  # nested runs a node opened without making them active
                [run.info.experiment_id],
                filter_string=f"tags.mlflow.parentRunId = '{run_id}' and attributes.status = 'RUNNING'")
            for child in children:
                client.set_terminated(child.info.run_id, status)

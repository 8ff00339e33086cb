"""Run lifecycle (``RunGuardHook``): MLflow store prepared once, parameters and upstream outputs checked, output
lock, run manifest written ``running`` then ``completed`` / ``failed`` / ``killed``, MLflow run ended to match,
SIGINT/SIGTERM handled (docs/reliability.md)."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from evgrid.hooks.pipelines import all_pipelines, pipeline_names, producers, upstream_inputs
from evgrid.hooks.shutdown import close_compute, in_tracking_store
from evgrid.hooks.upstream import missing_upstream_inputs
from evgrid.hooks.validation import validate_parameters, validators_for
from evgrid.runtime import atomic, manifest, mlflow_status, sanity
from evgrid.runtime.locks import OutputLocks
from evgrid.runtime.manifest import RunManifest

log = logging.getLogger("evgrid.hooks")  # the one logger name of every hook message

MANIFEST_DIR = Path("data") / "09_manifests"
FILTER_KEYS = ("tags", "node_names", "from_nodes", "to_nodes", "from_inputs", "to_outputs", "namespaces")


def local_file(dataset: Any) -> Path | None:
    """The local file/folder a dataset writes, or None (memory, MLflow metrics, remote)."""
    if not atomic.make_atomic(dataset):
        return None
    path = getattr(dataset, "_filepath", None) or getattr(dataset, "_path", None)
    return Path(str(path)) if path is not None else None


def run_command(run_params: dict) -> str:
    """The ``kedro run ...`` command line that repeats this run."""
    parts = ["kedro run"]
    names = run_params.get("pipeline_names")
    if names:
        parts.append(f"--pipelines={','.join(names)}")
    if run_params.get("env") and run_params.get("env") != "local":
        parts.append(f"--env={run_params['env']}")
    for key in FILTER_KEYS:
        val = run_params.get(key)
        if val:
            parts.append(f"--{key.replace('_', '-')}={','.join(map(str, val))}")
    return " ".join(parts)


def run_key(run_params: dict) -> str:
    """Key of the run's manifest and lock: the pipelines, plus a hash of the node filters if any."""
    key = "+".join(pipeline_names(run_params))
    filters = {k: sorted(map(str, run_params[k])) for k in FILTER_KEYS if run_params.get(k)}
    if filters:
        key += "@" + hashlib.sha1(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:8]
    return key


class _Run:
    """State of the run in progress in this process."""

    def __init__(self, root: Path, manifest_: RunManifest, locks: OutputLocks, files: dict[str, Path]):
        self.root = root
        self.manifest = manifest_
        self.locks = locks
        self.files = files          # dataset -> absolute local path (planned outputs)
        self.saved: set[str] = set()
        self.pid = os.getpid()
        self.old_handlers: dict[int, Any] = {}
        self.signal: str | None = None  # SIGINT/SIGTERM received; the run ends "killed" however it unwinds


class RunGuardHook:
    """Run integrity (docs/reliability.md): see :mod:`evgrid.hooks`."""

    def __init__(self) -> None:
        self._run: _Run | None = None
        self._atexit = False

    # -- MLflow store, once, before kedro-mlflow opens it ------------------------------------------------
    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        from kedro.config import MissingConfigException

        try:
            patterns = context.config_loader.config_patterns
            patterns.setdefault("mlflow", ["mlflow*", "mlflow*/**", "**/mlflow*"])
            conf = context.config_loader["mlflow"] or {}
        except MissingConfigException:
            conf = {}
        uri = (conf.get("server") or {}).get("mlflow_tracking_uri")
        if not uri or "://" not in uri:
            return  # a plain folder store: no database to create or migrate
        exp = ((conf.get("tracking") or {}).get("experiment") or {})
        name = exp.get("name") or getattr(context, "_package_name", None)
        try:
            closed = mlflow_status.prepare_tracking_store(uri, name, exp.get("create_experiment_kwargs"))
        except Exception as err:  # noqa: BLE001 - a broken store is reported by kedro-mlflow itself
            log.warning("could not prepare the MLflow store %s: %s", uri, err)
            return
        if closed:
            log.warning("closed %d MLflow run(s) left RUNNING by dead processes as FAILED: %s",
                        len(closed), ", ".join(closed))

    # -- before any node ------------------------------------------------------------------------------
    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict, pipeline, catalog) -> None:
        import mlflow

        if self._run is not None:  # same process, a previous run never reached its end hooks
            self._finish("failed", "a new run started in this process before this one finished", active=False)
        root = Path(run_params.get("project_path") or ".").resolve()
        active = mlflow.active_run()
        run_id = active.info.run_id if active is not None else None
        command = run_command(run_params)
        try:
            if run_id:
                mlflow_status.tag_process(run_id)
            files = {}
            for ds in sorted(pipeline.datasets()):
                obj = catalog.get(ds) if ds in catalog else None
                path = local_file(obj) if obj is not None else None
                if path is not None:
                    files[ds] = path if path.is_absolute() else root / path
            pipes = all_pipelines()
            params = catalog.load("parameters") if "parameters" in catalog else {}
            validate_parameters(params, validators_for(pipeline, pipes))
            producers_ = producers(pipes)
            needed = {ds: (producers_[ds], str(files[ds])) for ds in upstream_inputs(pipeline, producers_)
                      if ds in files}
            lineage, warns = manifest.check_upstream(needed, root / MANIFEST_DIR, root)
            missing_upstream_inputs(pipeline, catalog, producers_)
            for w in warns:
                log.warning(w)
            outputs = {ds: files[ds] for ds in pipeline.all_outputs() if ds in files}
            locks = OutputLocks(root / MANIFEST_DIR / "locks")
            locks.acquire(run_key(run_params), [p.as_posix() for p in outputs.values()], command)
        except Exception as err:
            mlflow_status.end_runs("FAILED", run_id, reason=f"refused before any node ran: {err}")
            raise
        except KeyboardInterrupt:
            mlflow_status.end_runs("KILLED", run_id, reason="stopped by SIGINT before any node ran")
            raise
        man = RunManifest(key=run_key(run_params), pipelines=pipeline_names(run_params), command=command,
                          env=run_params.get("env"), mlflow_run_id=run_id,
                          planned={ds: manifest._rel(p, root) for ds, p in outputs.items()}, inputs=lineage)
        self._run = _Run(root, man, locks, outputs)
        self._install_signals()  # before the "running" manifest: whoever sees it can stop the run cleanly
        try:
            man.write(root / MANIFEST_DIR)
        except Exception:
            self._finish("failed", "could not write the run manifest")
            raise
        sanity.drain_raised()
        if not self._atexit:
            atexit.register(self._at_exit)  # after mlflow's own atexit: runs first (LIFO)
            self._atexit = True

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any = None) -> None:
        if self._run is not None:
            self._run.saved.add(dataset_name)

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params: dict, pipeline, catalog) -> None:
        self._finish("completed")
        close_compute()

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict, pipeline, catalog) -> None:
        self._finish("failed", f"{type(error).__name__}: {error}")
        close_compute()

    # -- ending --------------------------------------------------------------------------------------
    def _finish(self, status: str, error: str | None = None, active: bool = True) -> None:
        run, self._run = self._run, None
        if run is None or run.pid != os.getpid():
            return
        if run.signal is not None and status != "killed":  # stopped by a signal whose bookkeeping was deferred
            status, error = "killed", f"stopped by {run.signal}"
        self._restore_signals(run)
        man = run.manifest
        try:
            if status != "completed":
                mlflow_status.end_runs("KILLED" if status == "killed" else "FAILED", man.mlflow_run_id,
                                       reason=error, active=active)
            man.flags = sanity.drain_raised()
            if man.flags and man.mlflow_run_id:
                with contextlib.suppress(Exception):
                    import mlflow

                    mlflow.MlflowClient().set_tag(man.mlflow_run_id, "evgrid.flags", "; ".join(man.flags)[:4900])
            for ds, path in run.files.items():
                if status == "completed" or ds in run.saved:
                    digest = manifest.hash_path(path)
                    if digest is not None:
                        man.outputs[ds] = {"path": manifest._rel(path, run.root), "sha256": digest[0],
                                           "bytes": digest[1]}
            man.status, man.error, man.finished_at = status, error, time.time()
            man.write(run.root / MANIFEST_DIR)  # last: the record that the run ended, and how
        finally:
            run.locks.release()

    def _at_exit(self) -> None:
        if self._run is not None:
            self._finish("failed", "the process exited before the run finished")

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread() or self._run is None:
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._run.old_handlers[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)

    def _restore_signals(self, run: _Run) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, old in run.old_handlers.items():
            with contextlib.suppress(Exception):
                signal.signal(sig, old if old is not None else signal.SIG_DFL)

    def _on_signal(self, signum: int, frame: Any) -> None:
        run = self._run
        if run is None or run.pid != os.getpid():  # a forked worker inherited the handler: default action
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        name = signal.Signals(signum).name
        if run.signal is not None:  # a second signal while the first one unwinds: the default action, at once
            self._restore_signals(run)
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        run.signal = name
        log.error("%s received: the run is stopped; MLflow run %s ends KILLED", name, run.manifest.mlflow_run_id)
        if in_tracking_store(frame):
            log.warning("%s landed inside MLflow's store: the run is recorded KILLED once that code has unwound "
                        "(at process exit)", name)
        else:
            try:
                self._finish("killed", f"stopped by {name}")
            except Exception as err:  # noqa: BLE001 - bookkeeping must never replace the stop by an Exception
                log.error("could not record the stop (%s: %s); the next start closes the MLflow run as FAILED",
                          type(err).__name__, err)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

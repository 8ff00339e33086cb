"""Project hooks: a run either completes and says so, or fails/stops and says that; it never leaves a lie.

``RunGuardHook`` (registered in ``evgrid.settings``; the logic lives in the Kedro-free ``evgrid.runtime``):

* before the context is used: create/migrate ``mlflow.db`` and the experiment once under a file lock, and
  close as FAILED any RUNNING MLflow run whose process is gone (SIGKILL, lost machine);
* before any node runs (after kedro-mlflow opened the run): make every local-file dataset of the pipeline
  write atomically; validate the selected pipelines' parameters (``validate`` of each pipeline's record in
  ``evgrid.pipeline_registry``: a study's ``STUDY``, or the pipeline's own record); refuse missing upstream
  files and outputs of an upstream run that did not complete (run manifests); take the output lock; write
  the ``running`` manifest; install SIGINT/SIGTERM handlers. A refusal ends the MLflow run FAILED;
* after the run: the manifest is rewritten last as ``completed`` (with content hashes), ``failed`` or
  ``killed``, and the MLflow run ends FINISHED / FAILED / KILLED accordingly.

``UpstreamInputsHook`` is the original missing-file check alone (kept for code that uses it directly).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DatasetError

from evgrid.runtime import atomic, manifest, mlflow_status, sanity
from evgrid.runtime.locks import OutputLocks
from evgrid.runtime.manifest import RunManifest
from evgrid.runtime.validation import ConfigError

log = logging.getLogger(__name__)

MANIFEST_DIR = Path("data") / "09_manifests"
FILTER_KEYS = ("tags", "node_names", "from_nodes", "to_nodes", "from_inputs", "to_outputs", "namespaces")


class MissingUpstreamInputError(DatasetError):
    """A pipeline input made by another pipeline has not been produced yet."""


def _entries() -> dict:
    """Registered pipeline name -> its record (``evgrid.pipeline_registry.pipeline_entries``: a study's ``STUDY``
    or the record of a pipeline without a study package): module, ``validate``, ``summary_rows``."""
    from evgrid.pipeline_registry import pipeline_entries

    return pipeline_entries()


def _all_pipelines() -> dict:
    """Every registered pipeline's ``create_pipeline()`` (``kedro run --pipelines=x`` registers only x)."""
    out = {}
    for name, record in _entries().items():
        try:
            out[name] = importlib.import_module(record.pipelines[name]).create_pipeline()
        except Exception:  # noqa: BLE001 - a broken sibling pipeline must not block this run
            continue
    return out


def _producers(pipes: dict) -> dict[str, str]:
    producers: dict[str, str] = {}
    for name, pipe in pipes.items():
        for ds in pipe.all_outputs():
            producers.setdefault(ds, name)
    return producers


def _upstream_inputs(pipeline, producers: dict[str, str]) -> list[str]:
    return [ds for ds in sorted(pipeline.inputs())
            if not (ds.startswith("params:") or ds == "parameters") and ds in producers]


def missing_upstream_inputs(pipeline, catalog, producers: dict[str, str] | None = None) -> None:
    """Raise :class:`MissingUpstreamInputError` naming each missing upstream file and its command."""
    producers = _producers(_all_pipelines()) if producers is None else producers
    missing = []
    for ds in _upstream_inputs(pipeline, producers):
        try:
            exists = catalog.exists(ds)
        except Exception:  # noqa: BLE001 - a dataset that cannot tell is left to the run
            continue
        if not exists:
            where = getattr(catalog.get(ds), "_filepath", None) if ds in catalog else None
            missing.append(f"'{ds}'" + (f" ({where})" if where else "")
                           + f": run `kedro run --pipelines={producers[ds]}` first")
    if missing:
        raise MissingUpstreamInputError("missing input datasets: " + "; ".join(missing))


class UpstreamInputsHook:
    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        missing_upstream_inputs(pipeline, catalog)


# -- helpers -------------------------------------------------------------------------------------------
def _local_file(dataset: Any) -> Path | None:
    """The local file/folder a dataset writes, or None (memory, MLflow metrics, remote)."""
    if not atomic.make_atomic(dataset):
        return None
    path = getattr(dataset, "_filepath", None) or getattr(dataset, "_path", None)
    return Path(str(path)) if path is not None else None


def _names(run_params: dict) -> list[str]:
    names = run_params.get("pipeline_names") or run_params.get("pipeline_name") or ["__default__"]
    return [names] if isinstance(names, str) else list(names)


def _command(run_params: dict) -> str:
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


def _run_key(run_params: dict) -> str:
    key = "+".join(_names(run_params))
    filters = {k: sorted(map(str, run_params[k])) for k in FILTER_KEYS if run_params.get(k)}
    if filters:
        key += "@" + hashlib.sha1(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:8]
    return key


def validators_for(pipeline, pipes: dict) -> dict[str, Any]:
    """``validate(params)`` (ALL parameters) of the record of every registered pipeline with a node in
    ``pipeline``."""
    selected = {n.name for n in pipeline.nodes}
    entries = _entries()
    return {name: entries[name].validate for name, pipe in sorted(pipes.items())
            if name in entries and selected & {n.name for n in pipe.nodes}}


def validate_parameters(params: dict, validators: dict[str, Any]) -> None:
    """Run every validator; all problems together in one :class:`ConfigError`."""
    problems: list[tuple[str, str]] = []
    for name, fn in validators.items():
        try:
            fn(params)
        except ConfigError as err:
            problems += err.problems
        except (ValueError, TypeError, KeyError) as err:
            problems.append((name, str(err)))
    if problems:
        raise ConfigError(problems)


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


# Code the signal handler must not re-enter: a SIGTERM that lands while the main thread is inside MLflow's
# SQL store (kedro-mlflow logging the run's parameters, a metric, an artifact record) interrupts an open
# sqlite transaction; ending the run from the handler then writes to the same database from the same thread
# ("database is locked"), and ``mlflow.end_run`` pops the active run *before* that write fails, so kedro's
# ``on_pipeline_error`` reached kedro-mlflow's end hook with no active run (UnboundLocalError
# ``pipeline_run_id_is_closed``, rc 1 instead of 143). Interrupted there, the handler only records the signal
# and stops the run; the bookkeeping happens once that code has unwound (process exit, or the next run).
_STORE_MODULES = frozenset({"mlflow", "kedro_mlflow", "sqlalchemy", "sqlite3", "alembic"})


def _in_tracking_store(frame: Any) -> bool:
    """True when ``frame`` (the code a signal interrupted) or a caller runs inside MLflow or its SQL store."""
    while frame is not None:
        if str(frame.f_globals.get("__name__") or "").split(".")[0] in _STORE_MODULES:
            return True
        frame = frame.f_back
    return False


def _close_compute() -> None:
    """Close this run's Dask cluster (evgrid.compute) at the end of the run, quietly and within
    ``compute.shutdown_timeout_s``, rather than at interpreter exit (issue 23: worker tracebacks after the
    summary)."""
    import sys

    compute = sys.modules.get("evgrid.compute")  # never imported: no cluster to close
    if compute is not None:
        with contextlib.suppress(Exception):
            compute.shutdown()


class RunGuardHook:
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
        command = _command(run_params)
        try:
            if run_id:
                mlflow_status.tag_process(run_id)
            files = {}
            for ds in sorted(pipeline.datasets()):
                obj = catalog.get(ds) if ds in catalog else None
                path = _local_file(obj) if obj is not None else None
                if path is not None:
                    files[ds] = path if path.is_absolute() else root / path
            pipes = _all_pipelines()
            params = catalog.load("parameters") if "parameters" in catalog else {}
            validate_parameters(params, validators_for(pipeline, pipes))
            producers = _producers(pipes)
            needed = {ds: (producers[ds], str(files[ds])) for ds in _upstream_inputs(pipeline, producers)
                      if ds in files}
            lineage, warns = manifest.check_upstream(needed, root / MANIFEST_DIR, root)
            missing_upstream_inputs(pipeline, catalog, producers)
            for w in warns:
                log.warning(w)
            outputs = {ds: files[ds] for ds in pipeline.all_outputs() if ds in files}
            locks = OutputLocks(root / MANIFEST_DIR / "locks")
            locks.acquire(_run_key(run_params), [p.as_posix() for p in outputs.values()], command)
        except Exception as err:
            mlflow_status.end_runs("FAILED", run_id, reason=f"refused before any node ran: {err}")
            raise
        except KeyboardInterrupt:
            mlflow_status.end_runs("KILLED", run_id, reason="stopped by SIGINT before any node ran")
            raise
        man = RunManifest(key=_run_key(run_params), pipelines=_names(run_params), command=command,
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
        _close_compute()

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict, pipeline, catalog) -> None:
        self._finish("failed", f"{type(error).__name__}: {error}")
        _close_compute()

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
        if _in_tracking_store(frame):
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


# -- what a user sees (issue 16) ----------------------------------------------------------------------
SOLVER_LOGGERS = ("evgrid.optim.highs", "evgrid.optim.solver")  # HiGHS output; one build/solve line per model


def _ran_pipelines(pipeline, run_params: dict) -> list[str]:
    """Registered pipelines with a node in this run, the default chain's order first."""
    from evgrid.pipeline_registry import DEFAULT_PIPELINES

    names = [n for n in _names(run_params) if n != "__default__"]
    pipes = _all_pipelines()
    selected = {n.name for n in pipeline.nodes}
    ran = [name for name, p in pipes.items() if selected & {n.name for n in p.nodes}]
    order = list(DEFAULT_PIPELINES) + names
    return sorted(ran, key=lambda n: (order.index(n) if n in order else len(order), n))


def quiet_solver_logs(enabled: bool | None = None) -> None:
    """HiGHS' own output at WARNING unless ``EVGRID_SOLVER_LOG=1`` (or ``enabled=True``) turns it back on."""
    if enabled is None:
        enabled = os.environ.get("EVGRID_SOLVER_LOG", "").lower() in ("1", "true", "yes", "on")
    for name in SOLVER_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if enabled else logging.WARNING)


class UxHook:
    """MLflow run name/tags/experiment view, HTML twins of plotly figures, end-of-run summary (issue 16)."""

    def __init__(self) -> None:
        self._catalog = None
        self._pipeline = None
        self._run_params: dict = {}

    @hook_impl
    def after_catalog_created(self, catalog) -> None:
        self._catalog = catalog

    # normal priority: after kedro-mlflow opened the run (plugins register later, so run first) and before
    # RunGuardHook (trylast) may refuse the run: a refused run carries its name too
    @hook_impl
    def before_pipeline_run(self, run_params: dict, pipeline, catalog) -> None:
        import mlflow

        from evgrid.pipeline_registry import DEFAULT_PIPELINES
        from evgrid.runtime import mlflow_ux

        self._catalog, self._pipeline, self._run_params = catalog, pipeline, run_params
        quiet_solver_logs()
        active = mlflow.active_run()
        if active is None:
            return
        try:
            client = mlflow.MlflowClient()
            name = mlflow_ux.run_name(_names(run_params), run_params.get("env"), DEFAULT_PIPELINES)
            client.update_run(active.info.run_id, name=name)
            mlflow_ux.clean_tags(client, active.info.run_id, run_params)
            mlflow_ux.model_training_view(client, active.info.experiment_id)
        except Exception as err:  # noqa: BLE001 - cosmetics never fail a run
            log.warning("could not name/tag the MLflow run: %s", err)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any = None) -> None:
        from evgrid.runtime import mlflow_ux

        if self._catalog is None or not mlflow_ux.is_plotly_figure(data):
            return
        try:
            ds = self._catalog.get(dataset_name)
        except Exception:  # noqa: BLE001
            return
        path = getattr(ds, "_filepath", None)
        if path is None:
            return
        try:
            mlflow_ux.log_html_twin(data, path, getattr(ds, "artifact_path", None),
                                    log=hasattr(ds, "artifact_path"))
        except Exception as err:  # noqa: BLE001
            log.warning("could not write the HTML twin of '%s': %s", dataset_name, err)

    @hook_impl(tryfirst=True)  # before kedro-mlflow ends the MLflow run
    def after_pipeline_run(self, run_params: dict, pipeline, catalog) -> None:
        from evgrid.runtime import summary

        def load(name: str):
            try:
                return catalog.load(name) if catalog.exists(name) else None
            except Exception:  # noqa: BLE001 - a dataset that cannot be read is absent for the summary
                return None

        try:
            contributors = {name: rec.summary_rows for name, rec in _entries().items() if rec.summary_rows}
            table = summary.collect(_ran_pipelines(pipeline, run_params), load, contributors)
            table = summary.with_safety_nets(table, sanity.fired_safety_nets())
            md = summary.to_markdown(table)
        except Exception as err:  # noqa: BLE001
            log.warning("could not build the run summary: %s", err)
            return
        print("\n" + md, flush=True)
        try:
            import mlflow

            if mlflow.active_run() is not None:
                mlflow.log_text(md, "run_summary.md")
                if not table.empty:
                    mlflow.log_text(table.to_csv(index=False), "run_summary.csv")
        except Exception as err:  # noqa: BLE001
            log.warning("could not log run_summary.md to MLflow: %s", err)

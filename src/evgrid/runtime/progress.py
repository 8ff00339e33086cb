"""Progress a person can follow (issue 29): one line per node, dataset I/O only when asked for.

``ProgressHook`` (registered in ``evgrid.settings``) logs, on logger ``evgrid.progress``:

* ``[12/94] gan.fit_pv done in 41.2 s`` when a node finishes: from loading its first input to saving its
  last output (``[i/N]``: the node's position in this run, N the nodes of the selected pipeline);
  ``... FAILED after 3.1 s (ValueError)`` when it raises;
* ``[12/94] gan.fit_pv running (started 20:48:12)`` when a node is still running after ``RUNNING_NOTE_S``
  seconds, then ``... still running after 10 min`` every ``RUNNING_REPEAT_S``: a long node says which one
  the run is in (also in a CI log, where no progress bar is drawn), a short one costs a single line;
* at the end, ``94 nodes done in 12 min 05 s``; then, after the summary table (``evgrid.hooks.UxHook``),
  where to look next: the MLflow run's URL and the reporting folders this run wrote
  (``evgrid.runtime.mlflow_ux.where_next``).

Kedro's own per-dataset and per-node records (``Loading data from ...``, ``Running node: ...``,
``Completed 3 out of 94 tasks``) are at WARNING in ``conf/logging.yml``; ``EVGRID_VERBOSE=1`` puts them
back at INFO (``verbose_logs``).

Everything but ``ProgressHook`` (the thin Kedro adapter, the module's only Kedro import) is Kedro-free.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path

from kedro.framework.hooks import hook_impl

log = logging.getLogger("evgrid.progress")

RUNNING_NOTE_S = 10.0  # a node still running after this many seconds gets a "running" line
RUNNING_REPEAT_S = 300.0  # ... and a "still running after 10 min" line every 5 minutes after that
VERBOSE_LOGGERS = ("kedro.io.data_catalog", "kedro.runner", "kedro.pipeline.node", "kedro_mlflow",
                   "kedro.validation", "kedro.framework.project")
REPORTING_DIR = Path("data") / "08_reporting"


def verbose_requested() -> bool:
    return os.environ.get("EVGRID_VERBOSE", "").strip().lower() in ("1", "true", "yes", "on")


def verbose_logs(enabled: bool | None = None) -> None:
    """Kedro's dataset I/O and node records back at INFO when ``EVGRID_VERBOSE=1`` (or ``enabled``). Else
    MLflow's own INFO records ("Validating input example against model signature", per logged model) go to
    WARNING, and MLflow's artifact download bars are off when stderr is not a terminal."""
    if enabled is None:
        enabled = verbose_requested()
    if enabled:
        for name in VERBOSE_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
        return
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # MLflow configures its own logger at import
    if not sys.stderr.isatty():
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def duration(seconds: float) -> str:
    """``41.2 s`` below a minute, ``2 min 05 s`` below an hour, ``1 h 02 min`` above."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


class NodeProgress:
    """Counts and times the nodes of one run (Kedro-free: called by :class:`ProgressHook`)."""

    def __init__(self, total: int, running_note_s: float = RUNNING_NOTE_S) -> None:
        self.total = total
        self.running_note_s = running_note_s
        self.t0 = time.perf_counter()
        self.wall0 = time.time()
        self.started = 0
        self.finished = 0
        self._nodes: dict[str, tuple[int, float, threading.Timer | None]] = {}
        self._pending: dict[str, set[str]] = {}  # node -> its outputs not saved yet
        self._lock = threading.Lock()

    def _tag(self, index: int) -> str:
        width = len(str(self.total))
        return f"[{index:>{width}}/{self.total}]"

    def start(self, name: str) -> None:
        with self._lock:
            self.started += 1
            index = self.started
            self._nodes[name] = (index, time.perf_counter(), None)
        if self.running_note_s > 0:
            self._schedule(name, self.running_note_s, time.strftime("%H:%M:%S"))

    def _schedule(self, name: str, delay: float, clock: str) -> None:
        timer = threading.Timer(delay, self._note, (name, clock))
        timer.daemon = True
        with self._lock:
            if name not in self._nodes:  # finished meanwhile
                return
            index, t, _ = self._nodes[name]
            self._nodes[name] = (index, t, timer)
        timer.start()

    def _note(self, name: str, clock: str) -> None:
        """``running (started hh:mm:ss)`` once, then ``still running after 10 min`` every RUNNING_REPEAT_S."""
        with self._lock:
            if name not in self._nodes:
                return
            index, t, _ = self._nodes[name]
        elapsed = time.perf_counter() - t
        if elapsed < RUNNING_REPEAT_S:
            log.info("%s %s running (started %s)", self._tag(index), name, clock)
        else:
            log.info("%s %s still running after %s", self._tag(index), name, duration(elapsed))
        self._schedule(name, RUNNING_REPEAT_S, clock)

    def _end(self, name: str) -> tuple[int, float]:
        with self._lock:
            index, t, timer = self._nodes.pop(name, (self.started, time.perf_counter(), None))
            self.finished += 1
        if timer is not None:
            timer.cancel()
        return index, time.perf_counter() - t

    def is_running(self, name: str) -> bool:
        return name in self._nodes

    def expect_saves(self, name: str, outputs: list[str]) -> None:
        """The node ran; its line comes once each of ``outputs`` is saved (at once when it has none)."""
        if not outputs:
            self.done(name)
        else:
            self._pending[name] = set(outputs)

    def saved(self, name: str, dataset: str) -> None:
        left = self._pending.get(name)
        if left is None:
            return
        left.discard(dataset)
        if not left:
            del self._pending[name]
            self.done(name)

    def done(self, name: str) -> None:
        index, dt = self._end(name)
        log.info("%s %s done in %s", self._tag(index), name, duration(dt))

    def failed(self, name: str, error: BaseException) -> None:
        self._pending.pop(name, None)
        index, dt = self._end(name)
        log.error("%s %s FAILED after %s (%s)", self._tag(index), name, duration(dt), type(error).__name__)

    def close(self) -> None:
        with self._lock:
            timers = [timer for _, _, timer in self._nodes.values() if timer is not None]
            self._nodes.clear()
        for timer in timers:
            timer.cancel()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


def written_reporting_dirs(since: float, root: Path | None = None) -> list[str]:
    """Top folders of ``data/08_reporting`` holding a file written at or after ``since`` (epoch seconds)."""
    base = (root or Path.cwd()) / REPORTING_DIR
    if not base.is_dir():
        return []
    out = set()
    for path in base.rglob("*"):
        try:
            if path.is_file() and path.stat().st_mtime >= since - 1.0:
                rel = path.relative_to(base).parts
                out.add((REPORTING_DIR / rel[0]).as_posix() + "/" if len(rel) > 1 else REPORTING_DIR.as_posix() + "/")
        except OSError:
            continue
    return sorted(out)


class ProgressHook:
    """One line per node with its index and wall time; the run's time and where to look next at the end."""

    def __init__(self) -> None:
        self._progress: NodeProgress | None = None
        self._mlflow: tuple[str, str, str] | None = None  # tracking uri, experiment id, run id
        self._root: Path | None = None
        self._command = "kedro run"

    @hook_impl
    def after_context_created(self, context) -> None:
        verbose_logs()

    @hook_impl  # normal priority: after kedro-mlflow (a plugin, registered later) opened the MLflow run
    def before_pipeline_run(self, run_params: dict, pipeline, catalog) -> None:
        self._progress = NodeProgress(len(pipeline.nodes))
        self._root = Path(run_params.get("project_path") or ".").resolve()
        self._mlflow = _active_mlflow_run()
        names = ",".join(run_params.get("pipeline_names") or [])
        self._command = "kedro run" + (f" --pipelines={names}" if names else "")

    # a node's time runs from loading its first input to saving its last output (Kedro saves the outputs
    # after ``after_node_run``), so the line comes once the node's files are written
    def _start(self, node) -> None:
        if self._progress is None:  # a node run outside a pipeline run (a test calling the runner directly)
            self._progress = NodeProgress(0)
        if self._progress.is_running(node.name):
            return
        if self._progress.started == 0:  # here, not before the run: a run refused up front ran no node
            log.info("running %d nodes (%s); EVGRID_VERBOSE=1 shows every dataset load/save",
                     self._progress.total, self._command)
        self._progress.start(node.name)

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str, node=None) -> None:
        if node is not None:
            self._start(node)

    @hook_impl
    def before_node_run(self, node, catalog, inputs, is_async, run_id) -> None:
        self._start(node)

    @hook_impl
    def after_node_run(self, node, catalog, inputs, outputs, is_async, run_id) -> None:
        if self._progress is not None:
            self._progress.expect_saves(node.name, list(node.outputs))

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data=None, node=None) -> None:
        if self._progress is not None and node is not None:
            self._progress.saved(node.name, dataset_name)

    @hook_impl
    def on_node_error(self, error, node, catalog, inputs, is_async, run_id) -> None:
        if self._progress is not None:
            self._progress.failed(node.name, error)

    @hook_impl(trylast=True)  # after the summary table (UxHook, tryfirst) and after kedro-mlflow ended the run
    def after_pipeline_run(self, run_params: dict, pipeline, catalog) -> None:
        from evgrid.runtime import mlflow_ux

        prog, self._progress = self._progress, None
        if prog is None:
            return
        prog.close()
        log.info("%d nodes done in %s", prog.finished, duration(prog.elapsed()))
        uri, exp, run = self._mlflow or ("", "", "")
        lines = mlflow_ux.where_next(uri, exp, run, written_reporting_dirs(prog.wall0, self._root))
        if lines:
            print("\n".join(lines), flush=True)

    @hook_impl
    def on_pipeline_error(self, error, run_params: dict, pipeline, catalog) -> None:
        prog, self._progress = self._progress, None
        if prog is not None:
            prog.close()
            log.error("run stopped after %d of %d nodes (%s): %s", prog.finished, prog.total,
                      duration(prog.elapsed()), type(error).__name__)


def _active_mlflow_run() -> tuple[str, str, str] | None:
    try:
        import mlflow

        run = mlflow.active_run()
        if run is None:
            return None
        return mlflow.get_tracking_uri(), run.info.experiment_id, run.info.run_id
    except Exception:  # noqa: BLE001 - a missing MLflow run only drops the URL line
        return None

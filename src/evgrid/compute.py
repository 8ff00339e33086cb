"""Fan independent tasks out on Dask distributed: ``map_tasks(fn, tasks, settings) -> list``.

One thin layer over :mod:`dask.distributed` for every sweep in evgrid (cases, folds x radii, families x
folds, scenario batches). No home-made scheduler: Dask schedules, moves data, restarts lost workers and
re-runs their tasks; this module only fixes the conventions every study needs.

* **Where it runs** (``compute.scheduler`` in ``conf/base/parameters.yml``, or the environment variable
  ``EVGRID_DASK_SCHEDULER``, which wins so a user changes no file):

  - ``sync``: a plain loop in this process (debugging, tests, pdb works);
  - ``local``: a ``LocalCluster`` of ``n_workers`` *spawned* worker processes x ``threads_per_worker``
    (spawned, never forked: HiGHS keeps one thread pool per process and a forked child inherits it
    without its threads), created once per process and reused by later calls;
  - ``tcp://host:port``: an existing cluster (``dask scheduler`` + ``dask worker``, dask-jobqueue,
    dask-kubernetes; see docs/scale-out.md). A bad address fails within ``connect_timeout_s`` with an
    error naming the setting.

* **Results in input order**, whatever order the tasks finish in; a failing task raises
  :class:`TaskError` naming its key (the other tasks are cancelled).
* **Seeds from the task key** (``seed=`` master seed): task ``key`` gets
  ``task_seed(seed, key)`` (numpy ``SeedSequence`` over the master seed and a stable BLAKE2 hash of the
  key), never anything depending on the worker or completion order, so ``sync``, ``local`` and a remote
  cluster give bit-identical results.
* **One solver thread per task**: inside a task :func:`solver_threads` returns ``solver_threads`` (1), and
  ``OMP/MKL/OPENBLAS_NUM_THREADS`` and torch are limited to it; task functions pass
  ``SolverOptions(threads=compute.solver_threads())`` to :func:`evgrid.optim.solver.solve`.
* **Lost workers**: a worker that dies mid-task (killed, out of memory, node lost) is restarted by its
  nanny and Dask re-runs its tasks elsewhere, up to ``allowed_failures`` times per task
  (``distributed.scheduler.allowed-failures``; on an external cluster set it on the scheduler, e.g.
  ``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=3``). ``retries`` (default 0) additionally re-runs
  tasks that *raised*: leave it at 0 for deterministic solves (a re-run fails the same way).
* **Plain data only**: tasks and ``shared`` must be plain data (numbers, strings, numpy/pandas, dataclasses
  of those, ``Network``); a Pyomo object is rejected before anything is sent. Workers import ``evgrid``
  (``fn`` must be importable there: define it at module level in ``evgrid``).

Example (how a study fans out its folds)::

    from evgrid import compute

    def _solve_fold(task, seed, shared):            # module level, plain data in and out
        opts = {"threads": compute.solver_threads(), "seed": seed % 2**31}
        ...
        return {"fold": task["fold"], "cost_usd": cost}

    settings = compute.ComputeSettings.from_params(params["compute"])   # once, in the pipeline node
    rows = compute.map_tasks(_solve_fold, [{"fold": k} for k in range(5)], settings,
                             keys=[f"fold{k}" for k in range(5)], seed=params["seed"], shared=data,
                             desc="dro radius CV")
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import dataclasses
import hashlib
import inspect
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

ENV_SCHEDULER = "EVGRID_DASK_SCHEDULER"
"""Environment variable that overrides ``compute.scheduler`` (e.g. ``tcp://10.0.0.5:8786``)."""

_ADDRESS = re.compile(r"^(tcp|tls|ws|wss|inproc|ucx)://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})/?$")
_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "EVGRID_SOLVER_THREADS")


class ComputeError(RuntimeError):
    """The compute settings are invalid, the cluster cannot be reached / cannot run evgrid, or a Dask call did
    not answer within its ``compute.*_timeout_s`` (then ``timed_out`` is True)."""

    timed_out = False


class TaskError(RuntimeError):
    """A task raised (or killed its workers ``allowed_failures`` times); ``key`` names it."""

    def __init__(self, message: str, key: Any = None, timed_out: bool = False):
        super().__init__(message)
        self.key = key
        self.timed_out = timed_out


@dataclass(frozen=True)
class ComputeSettings:
    """Typed ``compute:`` parameters (see the module docstring)."""

    scheduler: str = "local"
    """``sync`` | ``local`` | ``tcp://host:port`` (an existing Dask scheduler)."""
    n_workers: int = 2
    """Worker processes of the ``local`` cluster (ignored for ``sync`` and an external cluster)."""
    threads_per_worker: int = 1
    """Tasks run at once per worker process (``local`` only). Keep 1 for solver sweeps: HiGHS/torch threads
    of concurrent tasks would compete for the same cores."""
    solver_threads: int = 1
    """Threads each task may use in its solver / BLAS / torch (:func:`solver_threads`)."""
    retries: int = 0
    """Re-runs of a task that raised (Dask ``retries``); lost workers are handled by ``allowed_failures``."""
    allowed_failures: int = 3
    """Times a task may lose its worker before it is declared failed (``local`` cluster's scheduler)."""
    connect_timeout_s: float = 10.0
    """Seconds to reach an external scheduler before failing."""
    startup_timeout_s: float = 120.0
    """Seconds the ``local`` cluster (scheduler + spawned workers importing evgrid) may take to start, and an
    external cluster's workers to answer the import probe."""
    scatter_timeout_s: float = 120.0
    """Seconds to send a map's ``shared`` object to the cluster."""
    task_timeout_s: float = 3600.0
    """Seconds a map may go without any of its tasks finishing (a stalled or hung sweep fails with
    :class:`TaskError` naming the unfinished tasks). Not enforced by ``sync`` (tasks run in this thread)."""
    gather_timeout_s: float = 120.0
    """Seconds to fetch one finished task's result (and for cancelling a map's leftover tasks)."""
    shutdown_timeout_s: float = 30.0
    """Seconds for each of: closing the client, closing the ``local`` cluster (:func:`shutdown`)."""
    memory_limit: str = "auto"
    """Per-worker memory limit of the ``local`` cluster (``auto`` = machine memory / n_workers, or e.g.
    ``4GiB``); the nanny restarts a worker that exceeds 95 % of it and its tasks are re-run."""
    progress: bool = True
    """Show a tqdm progress bar (stderr) while tasks complete."""
    dashboard: bool = False
    """Start the Dask dashboard of the ``local`` cluster on a free port (needs bokeh)."""

    def __post_init__(self):
        def bad(name, expected):
            return ComputeError(f"compute.{name}={getattr(self, name)!r}: expected {expected}")

        s = str(self.scheduler).strip()
        object.__setattr__(self, "scheduler", s)
        if s not in ("sync", "local") and not _ADDRESS.match(s):
            raise bad("scheduler", "'sync', 'local' or a scheduler address like 'tcp://host:8786' "
                                   f"(also settable by ${ENV_SCHEDULER})")
        for name in ("n_workers", "threads_per_worker", "solver_threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise bad(name, "an integer >= 1")
        for name in ("retries", "allowed_failures"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
                raise bad(name, "an integer >= 0")
        for name, hi in (("connect_timeout_s", 3600), ("startup_timeout_s", 3600), ("scatter_timeout_s", 3600),
                         ("task_timeout_s", 7 * 86400), ("gather_timeout_s", 3600), ("shutdown_timeout_s", 3600)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating) or not 0 < v <= hi:
                raise bad(name, f"seconds in (0, {hi}]")
        if not isinstance(self.memory_limit, str | int):
            raise bad("memory_limit", "'auto', bytes or a size like '4GiB'")

    @classmethod
    def from_params(cls, params: Mapping | None = None, environ: Mapping | None = None) -> ComputeSettings:
        """From the ``compute:`` parameters (unknown keys rejected); ``$EVGRID_DASK_SCHEDULER``, when set,
        overrides ``scheduler`` (also over ``--params compute.scheduler=...``; a warning says so)."""
        params = dict(params or {})
        unknown = set(params) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ComputeError(f"unknown compute parameters {sorted(unknown)}; known: "
                               f"{sorted(f.name for f in dataclasses.fields(cls))}")
        environ = os.environ if environ is None else environ
        env = str(environ.get(ENV_SCHEDULER, "")).strip()
        if env:
            if "scheduler" in params and str(params["scheduler"]).strip() != env:
                log.warning("$%s=%s overrides compute.scheduler=%s", ENV_SCHEDULER, env, params["scheduler"])
            params["scheduler"] = env
        try:
            return cls(**params)
        except ComputeError as exc:
            if env and "compute.scheduler" in str(exc):
                raise ComputeError(f"{exc} (value taken from ${ENV_SCHEDULER})") from None
            raise

    @classmethod
    def coerce(cls, settings: ComputeSettings | Mapping | str | None) -> ComputeSettings:
        """Settings, a ``compute:`` dict or None (defaults; ``$EVGRID_DASK_SCHEDULER`` applies), or a bare
        scheduler string (taken as given: an explicit choice in code)."""
        if isinstance(settings, cls):
            return settings
        if isinstance(settings, str):
            return cls(scheduler=settings)
        return cls.from_params(settings)


# --------------------------------------------------------------------------------------------- seeds
def _key_bytes(key) -> bytes:
    """Canonical bytes of a task key (str, int, float, bool, None, or tuples/lists/dicts of those)."""
    try:
        return json.dumps(key, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"task key {key!r} must be built from str/int/float/bool/None, tuples/lists/dicts: "
                        f"{exc}") from None


def task_seed(master_seed: int, key) -> int:
    """Seed of task ``key`` under ``master_seed``: an int in ``[0, 2**31 - 1)`` (valid for numpy, torch,
    ``random`` and HiGHS's ``random_seed``).

    ``SeedSequence(entropy=[master_seed, *blake2b_64(key) as 4 x uint32]).generate_state(1)``: depends on the
    key's value only (stable across processes and Python versions, unlike ``hash()``), never on where or
    when the task runs.
    """
    if isinstance(master_seed, bool) or not isinstance(master_seed, int | np.integer) or master_seed < 0:
        raise ValueError(f"seed={master_seed!r}: expected an integer >= 0")
    digest = hashlib.blake2b(_key_bytes(key), digest_size=16).digest()
    words = np.frombuffer(digest, dtype="<u4").tolist()
    state = np.random.SeedSequence(entropy=[int(master_seed), *words]).generate_state(1, dtype=np.uint32)
    return int(state[0]) % (2**31 - 1)


# ---------------------------------------------------------------------------------- task context
_SOLVER_THREADS: contextvars.ContextVar[int | None] = contextvars.ContextVar("evgrid_solver_threads",
                                                                              default=None)


def solver_threads(default: int | None = None) -> int | None:
    """Solver threads the running task may use (``compute.solver_threads``), ``default`` outside a task."""
    v = _SOLVER_THREADS.get()
    return default if v is None else v


@contextlib.contextmanager
def _limited_threads(n: int):
    old_env = {k: os.environ.get(k) for k in _THREAD_ENV}
    torch = sys.modules.get("torch")
    old_torch = torch.get_num_threads() if torch is not None else None
    token = _SOLVER_THREADS.set(n)
    try:
        for k in _THREAD_ENV:
            os.environ[k] = str(n)
        if torch is not None:
            torch.set_num_threads(n)
        yield
    finally:
        _SOLVER_THREADS.reset(token)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if torch is not None and old_torch is not None:
            torch.set_num_threads(old_torch)


def _run_task(fn: Callable, task, seed: int | None, shared, has_shared: bool, threads: int):
    """What every worker (and the sync loop) runs for one task."""
    kwargs = {}
    if seed is not None:
        kwargs["seed"] = seed
    if has_shared:
        kwargs["shared"] = shared
    with _limited_threads(threads):
        return fn(task, **kwargs)


# ------------------------------------------------------------------------------------ plain data
def _find_pyomo(obj, depth: int = 0):
    """Path to the first Pyomo object inside ``obj`` (containers and dataclasses, 4 levels), or None."""
    mod = type(obj).__module__ or ""
    if mod.startswith("pyomo"):
        return type(obj).__name__
    if depth >= 4 or isinstance(obj, str | bytes | int | float | np.ndarray):
        return None
    if isinstance(obj, Mapping):
        items = obj.items()
    elif isinstance(obj, list | tuple | set | frozenset):
        items = enumerate(obj)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        items = ((f.name, getattr(obj, f.name, None)) for f in dataclasses.fields(obj))
    else:
        return None
    for k, v in items:
        found = _find_pyomo(v, depth + 1)
        if found is not None:
            return f"[{k!r}]{found if found.startswith('[') else ' ' + found}"
    return None


def _check_plain(obj, what: str) -> None:
    found = _find_pyomo(obj)
    if found is not None:
        raise TypeError(f"{what} holds a Pyomo object ({found.strip()}): send plain data (numbers, arrays, "
                        "DataFrames, dataclasses) and build the model inside the task")


# -------------------------------------------------------------------------------------- clients
_CLIENTS: dict[tuple, Any] = {}


def _client_key(s: ComputeSettings) -> tuple:
    if s.scheduler == "local":
        return ("local", s.n_workers, s.threads_per_worker, s.allowed_failures, str(s.memory_limit), s.dashboard)
    return (s.scheduler,)


def _probe_worker() -> dict:
    import evgrid

    return {"evgrid": getattr(evgrid, "__version__", "?"), "file": evgrid.__file__, "pid": os.getpid()}


def _bounded(what: str, setting: str, timeout_s: float, call: Callable, *args, **kwargs):
    """``call(*args, **kwargs)``, or :class:`ComputeError` naming ``what`` and ``compute.<setting>`` when it has
    not returned within ``timeout_s`` seconds.

    For Dask calls that take no overall timeout of their own (cluster start, ``scatter``, ``run``, ``close``):
    the call runs in a daemon thread, so a hung call can neither block this one nor the interpreter's exit.
    """
    box: dict[str, Any] = {}

    def target():
        try:
            box["value"] = call(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    th = threading.Thread(target=target, name=f"evgrid-compute-{setting}", daemon=True)
    th.start()
    th.join(timeout_s)
    if th.is_alive():
        err = ComputeError(f"{what}: no answer within compute.{setting}={timeout_s:g} s (raise it in the "
                           "compute: parameters if the machine is just slow)")
        err.timed_out = True
        raise err
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _start_local(s: ComputeSettings):
    import dask
    from distributed import Client, LocalCluster

    cpus = os.cpu_count() or 1
    if s.n_workers * s.threads_per_worker * s.solver_threads > cpus:
        log.warning("compute: %d workers x %d threads x %d solver threads > %d CPUs (oversubscribed)",
                    s.n_workers, s.threads_per_worker, s.solver_threads, cpus)
    with dask.config.set({"distributed.scheduler.allowed-failures": int(s.allowed_failures),
                          "distributed.worker.multiprocessing-method": "spawn",
                          # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers; glibc then
                          # stops adapting its mmap threshold, so every large numpy/torch temporary is
                          # mmap'd and page-faulted afresh: measured 2.4x the wall time (96 s vs 40 s,
                          # sys time 81 s vs 15 s) on the pv family's cheap-generator scoring tasks
                          # (docs/scale-out.md). Unset: glibc's default, as in the sync scheduler.
                          "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                          # workers log WARNING and above (their start-up banners and per-call INFO lines
                          # drowned the run log; LocalCluster's silence_logs reaches only the nanny's logger)
                          "distributed.nanny.pre-spawn-environ.DASK_LOGGING__DISTRIBUTED": "warning"}):
        # the scheduler's HTTP server always starts: on a free port (":0"), never on a busy 8787 (warning)
        cluster = LocalCluster(n_workers=s.n_workers, threads_per_worker=s.threads_per_worker,
                               processes=True, memory_limit=s.memory_limit, dashboard_address=":0",
                               scheduler_kwargs={"dashboard": bool(s.dashboard)}, silence_logs=logging.WARNING)
    try:
        client = Client(cluster, timeout=f"{s.startup_timeout_s}s")
    except BaseException:
        with contextlib.suppress(Exception):
            cluster.close(timeout=s.shutdown_timeout_s)
        raise
    client._evgrid_owns_cluster = cluster  # closed with the client
    client._evgrid_settings = s
    return client


def _connect(s: ComputeSettings):
    from distributed import Client

    try:
        client = Client(s.scheduler, timeout=f"{s.connect_timeout_s}s")
    except (OSError, TimeoutError) as exc:
        raise ComputeError(
            f"compute.scheduler={s.scheduler!r} (or ${ENV_SCHEDULER}): no Dask scheduler reachable "
            f"within {s.connect_timeout_s:g} s ({type(exc).__name__}: {exc}). Start one with "
            "'dask scheduler' + 'dask worker <address>', or use scheduler: local | sync") from None
    client._evgrid_owns_cluster = None
    client._evgrid_settings = s
    try:
        probes = _bounded(f"compute.scheduler={s.scheduler!r}: probing the workers", "startup_timeout_s",
                          s.startup_timeout_s, client.run, _probe_worker)
    except Exception as exc:  # noqa: BLE001 - any import/deserialisation failure on a worker, or no answer
        with contextlib.suppress(Exception):
            _bounded("closing the client", "shutdown_timeout_s", s.shutdown_timeout_s, client.close)
        if isinstance(exc, ComputeError):
            raise
        raise ComputeError(f"compute.scheduler={s.scheduler!r}: workers cannot import evgrid "
                           f"({type(exc).__name__}: {exc}); install the project on every worker") from None
    if not probes:
        log.warning("compute: scheduler %s has no workers yet; tasks wait until one connects", s.scheduler)
    return client


def _workers(client, s: ComputeSettings) -> dict:
    info = _bounded("asking the scheduler for its workers", "gather_timeout_s", s.gather_timeout_s,
                    client.scheduler_info, n_workers=-1)
    return info.get("workers", {})


def get_client(settings: ComputeSettings | Mapping | str | None = None):
    """The ``dask.distributed.Client`` for ``settings`` (not for ``sync``), created once per process.

    ``local`` starts a ``LocalCluster`` of spawned worker processes within ``startup_timeout_s``; an address
    connects to an existing scheduler within ``connect_timeout_s`` and checks that its workers can import
    evgrid.
    """
    s = ComputeSettings.coerce(settings)
    if s.scheduler == "sync":
        raise ComputeError("compute.scheduler=sync runs in-process: there is no Dask client")
    ck = _client_key(s)
    client = _CLIENTS.get(ck)
    if client is not None and client.status == "running":
        return client
    import distributed  # noqa: F401 - registers distributed's own atexit handlers before ours (see below)

    _register_atexit()
    t0 = time.perf_counter()
    dist_log = logging.getLogger("distributed")
    if dist_log.level in (logging.NOTSET, logging.INFO):  # Dask's per-worker INFO lines drown the run log
        dist_log.setLevel(logging.WARNING)
    if s.scheduler == "local":
        client = _bounded(f"starting the local Dask cluster ({s.n_workers} workers)", "startup_timeout_s",
                          s.startup_timeout_s, _start_local, s)
    else:
        client = _connect(s)
    n = len(_workers(client, s))
    log.info("compute: Dask client for %s ready in %.1f s (%d workers, dashboard %s)", s.scheduler,
             time.perf_counter() - t0, n, client.dashboard_link if s.dashboard else "off")
    _CLIENTS[ck] = client
    return client


def slots(settings: ComputeSettings | Mapping | str | None = None) -> int:
    """How many tasks run at once: 1 for ``sync``, ``n_workers x threads_per_worker`` for ``local``, the
    connected workers' threads for an external cluster (at least 1; starts no cluster for ``local``/``sync``).

    For studies that batch several cheap solves into one task (one model compile per task): split the work
    into ``slots()`` tasks. Only the split may depend on it, never a result: each item must be solved the
    same way whichever task holds it.
    """
    s = ComputeSettings.coerce(settings)
    if s.scheduler == "sync":
        return 1
    if s.scheduler == "local":
        return s.n_workers * s.threads_per_worker
    workers = _workers(get_client(s), s)
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


def _silence_distributed() -> None:
    """On a worker (and its nanny) being shut down: its heartbeat to an already closed scheduler would log
    ``CommClosedError`` tracebacks at ERROR after a successful run."""
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


def _close(client) -> None:
    """Close one client, then the local cluster it owns, each within ``shutdown_timeout_s``; quietly."""
    s: ComputeSettings = getattr(client, "_evgrid_settings", None) or ComputeSettings()
    cluster = getattr(client, "_evgrid_owns_cluster", None)
    t = s.shutdown_timeout_s
    if cluster is not None:  # only workers we started: never silence somebody else's cluster
        for nanny in (False, True):
            with contextlib.suppress(Exception):
                _bounded("silencing the workers' logs", "shutdown_timeout_s", min(t, 5.0), client.run,
                         _silence_distributed, nanny=nanny)
    with contextlib.suppress(Exception):
        _bounded("closing the Dask client", "shutdown_timeout_s", t, client.close, timeout=t)
    if cluster is not None:
        with contextlib.suppress(Exception):
            _bounded("closing the local Dask cluster", "shutdown_timeout_s", t, cluster.close, timeout=t)


def shutdown() -> None:
    """Close every client (and local cluster) this process opened: the client first, then its cluster, each
    within ``compute.shutdown_timeout_s``, with ``distributed``'s loggers silenced meanwhile (workers
    heartbeating a closing scheduler log tracebacks that are no error of the run). Called at the end of each
    ``kedro run`` (project hook) and at interpreter exit; safe to call twice."""
    if not _CLIENTS:
        return
    loggers = [logging.getLogger(n) for n in ("distributed", "tornado", "asyncio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        while _CLIENTS:
            _, client = _CLIENTS.popitem()
            _close(client)
    finally:
        for lg, lv in zip(loggers, levels, strict=True):
            lg.setLevel(lv)


_ATEXIT = {"registered": False}


def _register_atexit() -> None:
    """Run :func:`shutdown` at exit *before* distributed's own handlers (atexit is LIFO: registered after
    ``import distributed``), which would close the cluster under a still-connected client."""
    if not _ATEXIT["registered"]:
        atexit.register(shutdown)
        _ATEXIT["registered"] = True


# ------------------------------------------------------------------------------------- map_tasks
def _progress(total: int, desc: str | None, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc or "tasks", disable=None if enabled else True, file=sys.stderr, leave=False)


def _accepts(fn: Callable, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _discard(client) -> None:
    """Drop a client whose cluster did not answer in time (a later call starts afresh)."""
    for k, c in list(_CLIENTS.items()):
        if c is client:
            del _CLIENTS[k]
    _close(client)


def _scatter(client, shared, s: ComputeSettings, name: str):
    """``shared`` on the cluster as ONE future with a fresh unique key; no broadcast.

    Two traps this avoids (docs/reliability.md, issue 23): ``client.scatter(a_dict, hash=False)`` scatters
    each *value* under its dict key, so every map of a study that passes ``shared={"cfg": ..., "system": ...}``
    re-used the keys ``"cfg"``, ``"system"``; the previous map's cancel of those keys raced with the next
    map's scatter of them and the new data was forgotten on some workers while the scheduler still listed
    them: workers looped forever in ``Worker.gather`` and the client waited forever in ``scatter``
    (reproduced: 1 stall in 200 maps under a CPU hog, 0 in 200 with one uuid key). And ``broadcast=True``
    runs Dask's replicate, whose loop never gives up on a lost replica: without it the workers fetch the
    object as an ordinary task dependency (retried, timed), once per worker.
    """
    futs = _bounded(f"{name}: sending the shared object to the cluster", "scatter_timeout_s",
                    s.scatter_timeout_s, client.scatter, [shared], hash=False, timeout=s.scatter_timeout_s)
    return futs[0]


def _collect(client, futures: list, keys: list, s: ComputeSettings, name: str, bar) -> list:
    """Results in input order; :class:`TaskError` when a task fails or none finishes for ``task_timeout_s``."""
    from distributed import wait
    from distributed.scheduler import KilledWorker

    index = {f.key: i for i, f in enumerate(futures)}
    out: list = [None] * len(futures)
    pending = set(futures)
    while pending:
        try:
            done, pending = wait(pending, timeout=s.task_timeout_s, return_when="FIRST_COMPLETED")
        except TimeoutError:
            left = sorted(index[f.key] for f in pending)
            raise TaskError(f"{name}: no task finished within compute.task_timeout_s={s.task_timeout_s:g} s; "
                            f"{len(left)} unfinished, e.g. {[keys[i] for i in left[:5]]}", key=keys[left[0]],
                            timed_out=True) from None
        for fut in sorted(done, key=lambda f: index[f.key]):
            i = index[fut.key]
            if fut.status != "finished":
                exc = _bounded(f"{name}: task {keys[i]!r}: fetching its error", "gather_timeout_s",
                               s.gather_timeout_s, fut.exception, timeout=s.gather_timeout_s)
                if isinstance(exc, KilledWorker):
                    raise TaskError(f"{name}: task {keys[i]!r} lost its worker more than "
                                    f"compute.allowed_failures={s.allowed_failures} times ({exc})",
                                    key=keys[i]) from exc
                if exc is None:
                    raise TaskError(f"{name}: task {keys[i]!r} ended {fut.status} (its worker or the cluster "
                                    "dropped it)", key=keys[i])
                raise TaskError(f"{name}: task {keys[i]!r} failed: {type(exc).__name__}: {exc}",
                                key=keys[i]) from exc
            try:
                out[i] = fut.result(timeout=s.gather_timeout_s)
            except TimeoutError:
                raise TaskError(f"{name}: task {keys[i]!r} finished but its result did not arrive within "
                                f"compute.gather_timeout_s={s.gather_timeout_s:g} s", key=keys[i],
                                timed_out=True) from None
            bar.update()
    return out


def _checked_keys(fn: Callable, tasks: list, keys: Sequence | None, seed: int | None, shared: Any) -> list:
    """The task keys (default: positions), after checking they are unique, that ``fn`` takes the ``seed`` /
    ``shared`` it is given, and that tasks and ``shared`` are plain data."""
    keys = list(range(len(tasks))) if keys is None else list(keys)
    if len(keys) != len(tasks):
        raise ValueError(f"{len(keys)} keys for {len(tasks)} tasks")
    canon = [_key_bytes(k) for k in keys]
    if len(set(canon)) != len(canon):
        seen, dup = set(), []
        for k, c in zip(keys, canon, strict=True):
            if c in seen:
                dup.append(k)
            seen.add(c)
        raise ValueError(f"task keys must be unique, repeated: {dup[:5]}")
    if seed is not None and not _accepts(fn, "seed"):
        raise TypeError(f"{getattr(fn, '__name__', fn)} takes no 'seed' argument but seed={seed} was given")
    has_shared = shared is not None
    if has_shared and not _accepts(fn, "shared"):
        raise TypeError(f"{getattr(fn, '__name__', fn)} takes no 'shared' argument but shared was given")
    for k, t in zip(keys, tasks, strict=True):
        _check_plain(t, f"task {k!r}")
    if has_shared:
        _check_plain(shared, "shared")
    return keys


def _map_sync(fn: Callable, tasks: list, keys: list, seeds: list, shared: Any, s: ComputeSettings, name: str,
              desc: str | None) -> list:
    """The tasks in this process, in order (``compute.scheduler: sync``)."""
    has_shared = shared is not None
    out = []
    with _progress(len(tasks), desc, s.progress) as bar:
        for k, t, sd in zip(keys, tasks, seeds, strict=True):
            try:
                out.append(_run_task(fn, t, sd, shared, has_shared, s.solver_threads))
            except Exception as exc:
                raise TaskError(f"{name}: task {k!r} failed: {type(exc).__name__}: {exc}", key=k) from exc
            bar.update()
    return out


def _map_dask(fn: Callable, tasks: list, keys: list, seeds: list, shared: Any, s: ComputeSettings, name: str,
              desc: str | None) -> list:
    """The tasks on the Dask cluster: ``shared`` scattered once, one uniquely keyed future per task, collected
    in order; unfinished futures cancelled and everything released afterwards, a stalled cluster discarded."""
    has_shared = shared is not None
    client = get_client(s)
    token = uuid.uuid4().hex[:8]
    prefix = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40]
    futures: list = []
    shared_arg = None
    stalled = False
    try:
        shared_arg = _scatter(client, shared, s, name) if has_shared else None
        futures = [client.submit(_run_task, fn, t, sd, shared_arg, has_shared, s.solver_threads,
                                 key=f"{prefix}-{token}-{i}", pure=False, retries=s.retries)
                   for i, (t, sd) in enumerate(zip(tasks, seeds, strict=True))]
        with _progress(len(tasks), desc, s.progress) as bar:
            return _collect(client, futures, keys, s, name, bar)
    except (ComputeError, TaskError) as exc:
        stalled = exc.timed_out
        raise
    finally:
        left = [f for f in futures if not f.done()]
        if left and not stalled:
            with contextlib.suppress(Exception):
                _bounded(f"{name}: cancelling unfinished tasks", "gather_timeout_s", s.gather_timeout_s,
                         client.cancel, left)
        for f in [*futures, *([shared_arg] if shared_arg is not None else [])]:
            with contextlib.suppress(Exception):
                f.release()
        if stalled:  # a cluster that did not answer in time is not reused
            _discard(client)


def map_tasks(fn: Callable, tasks: Sequence, settings: ComputeSettings | Mapping | str | None = None, *,
              keys: Sequence | None = None, seed: int | None = None, shared: Any = None,
              desc: str | None = None) -> list:
    """``[fn(task, [seed=...], [shared=...]) for task in tasks]`` on the configured scheduler, in input order.

    ``keys`` name the tasks (default: their positions); they must be unique and built from
    str/int/float/tuples. With ``seed`` (the master seed) ``fn`` gets ``seed=task_seed(seed, key)``; with
    ``shared`` (one object every task needs, e.g. the network) ``fn`` gets ``shared=...``, sent once to the
    cluster (each worker fetches it once). ``fn`` must be a module-level function importable on the workers;
    tasks, ``shared`` and results must be plain data. A task that raises stops the map with
    :class:`TaskError` naming its key; so does a map with no task finishing for ``compute.task_timeout_s``.
    Every Dask call is bounded by a ``compute.*_timeout_s`` setting (:class:`ComputeError` naming it).
    """
    s = ComputeSettings.coerce(settings)
    tasks = list(tasks)
    keys = _checked_keys(fn, tasks, keys, seed, shared)
    seeds = [None if seed is None else task_seed(seed, k) for k in keys]
    if not tasks:
        return []
    t0 = time.perf_counter()
    name = desc or getattr(fn, "__name__", "task")
    if s.scheduler == "sync":
        out = _map_sync(fn, tasks, keys, seeds, shared, s, name, desc)
        log.info("compute: %d %s tasks in-process in %.2f s", len(tasks), name, time.perf_counter() - t0)
        return out
    out = _map_dask(fn, tasks, keys, seeds, shared, s, name, desc)
    log.info("compute: %d %s tasks on %s in %.2f s", len(tasks), name, s.scheduler, time.perf_counter() - t0)
    return out

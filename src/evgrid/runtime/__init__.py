"""Run integrity, Kedro-free: atomic file writes, run manifests, output locks, true MLflow run status,
up-front configuration validation and flags for technically optimal but meaningless results.

The Kedro glue is ``evgrid.hooks`` (registered in ``evgrid.settings``); everything here can be used and
tested without a Kedro session. See docs/reliability.md.
"""

from .atomic import AtomicFileSystem, atomic_write, make_atomic
from .locks import FileLock, OutputLockError, OutputLocks
from .manifest import RunManifest, UpstreamIncompleteError, check_upstream
from .procs import ProcessId, pid_alive
from .sanity import ResultFlags, flag_result, reduction_pct
from .validation import ConfigError, Problems, nearest

__all__ = [
    "AtomicFileSystem", "atomic_write", "make_atomic",
    "FileLock", "OutputLockError", "OutputLocks",
    "RunManifest", "UpstreamIncompleteError", "check_upstream",
    "ProcessId", "pid_alive",
    "ResultFlags", "flag_result", "reduction_pct",
    "ConfigError", "Problems", "nearest",
]

"""What a stop must respect: code a signal handler must not re-enter, and the run's Dask cluster to close."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

# Code the signal handler must not re-enter: a SIGTERM that lands while the main thread is inside MLflow's
# SQL store (kedro-mlflow logging the run's parameters, a metric, an artifact record) interrupts an open
# sqlite transaction; ending the run from the handler then writes to the same database from the same thread
# ("database is locked"), and ``mlflow.end_run`` pops the active run *before* that write fails, so kedro's
# ``on_pipeline_error`` reached kedro-mlflow's end hook with no active run (UnboundLocalError
# ``pipeline_run_id_is_closed``, rc 1 instead of 143). Interrupted there, the handler only records the signal
# and stops the run; the bookkeeping happens once that code has unwound (process exit, or the next run).
STORE_MODULES = frozenset({"mlflow", "kedro_mlflow", "sqlalchemy", "sqlite3", "alembic"})


def in_tracking_store(frame: Any) -> bool:
    """True when ``frame`` (the code a signal interrupted) or a caller runs inside MLflow or its SQL store."""
    while frame is not None:
        if str(frame.f_globals.get("__name__") or "").split(".")[0] in STORE_MODULES:
            return True
        frame = frame.f_back
    return False


def close_compute() -> None:
    """Close this run's Dask cluster (evgrid.compute) at the end of the run, quietly and within
    ``compute.shutdown_timeout_s``, rather than at interpreter exit (issue 23: worker tracebacks after the
    summary)."""
    compute = sys.modules.get("evgrid.compute")  # never imported: no cluster to close
    if compute is not None:
        with contextlib.suppress(Exception):
            compute.shutdown()

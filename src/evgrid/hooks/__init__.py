"""Project hooks: a run either completes and says so, or fails/stops and says that; it never leaves a lie.

Registered in ``evgrid.settings``; the logic lives in the Kedro-free ``evgrid.runtime``. One module per concern:

* :mod:`.run_guard` (``RunGuardHook``, the run lifecycle): before the context is used, create/migrate
  ``mlflow.db`` and the experiment once under a file lock, and close as FAILED any RUNNING MLflow run whose
  process is gone (SIGKILL, lost machine); before any node runs (after kedro-mlflow opened the run), make every
  local-file dataset of the pipeline write atomically, validate the selected pipelines' parameters
  (:mod:`.validation`), refuse missing upstream files (:mod:`.upstream`) and outputs of an upstream run that did
  not complete (run manifests), take the output lock, write the ``running`` manifest, install SIGINT/SIGTERM
  handlers (a refusal ends the MLflow run FAILED); after the run, the manifest is rewritten last as
  ``completed`` (with content hashes), ``failed`` or ``killed``, and the MLflow run ends FINISHED / FAILED /
  KILLED accordingly;
* :mod:`.validation`: ``validate`` of each selected pipeline's record in ``evgrid.pipeline_registry`` (a
  study's ``STUDY``, or the pipeline's own record), all problems together;
* :mod:`.upstream`: inputs made by another pipeline must exist (``UpstreamInputsHook`` is that check alone,
  kept for code that uses it directly);
* :mod:`.shutdown`: where a signal must not re-enter (MLflow's store) and the run's Dask cluster to close;
* :mod:`.ux` (``UxHook``) and :mod:`.summary`: MLflow run name/tags, HTML twins, quiet solver logs, the
  end-of-run summary;
* :mod:`.pipelines`: the registered pipelines, their records and who produces what.
"""

from evgrid.hooks.pipelines import all_pipelines, entries, producers, upstream_inputs
from evgrid.hooks.run_guard import FILTER_KEYS, MANIFEST_DIR, RunGuardHook
from evgrid.hooks.upstream import MissingUpstreamInputError, UpstreamInputsHook, missing_upstream_inputs
from evgrid.hooks.ux import SOLVER_LOGGERS, UxHook, quiet_solver_logs
from evgrid.hooks.validation import validate_parameters, validators_for
from evgrid.runtime import manifest

# the names this module had before it became a package (tests and notebooks use them)
_entries = entries
_all_pipelines = all_pipelines
_producers = producers
_upstream_inputs = upstream_inputs

__all__ = ["FILTER_KEYS", "MANIFEST_DIR", "SOLVER_LOGGERS", "MissingUpstreamInputError", "RunGuardHook",
           "UpstreamInputsHook", "UxHook", "all_pipelines", "entries", "manifest", "missing_upstream_inputs",
           "producers", "quiet_solver_logs", "upstream_inputs", "validate_parameters", "validators_for"]

"""Project settings. https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from kedro.config import OmegaConfigLoader

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # environments (e.g. `paper`) override only the nested keys they list (deep merge, not whole blocks)
    "merge_strategy": {"parameters": "soft"},
}

# Run integrity (docs/reliability.md): MLflow store prepared once under a lock, orphaned runs closed,
# parameters validated and upstream files/manifests checked before any node runs, atomic writes, output
# lock, run manifest in data/09_manifests/, MLflow status FAILED/KILLED on errors, refusals and signals.
from evgrid.hooks import RunGuardHook, UxHook  # noqa: E402
from evgrid.runtime.progress import ProgressHook  # noqa: E402

# UxHook (issue 16): MLflow run name/tags, HTML twins of plotly figures, end-of-run summary, quiet solver logs.
# ProgressHook (issue 29): "[12/94] <node> done in 41.2 s" per node, where to look next at the end.
HOOKS = (RunGuardHook(), UxHook(), ProgressHook())

"""Project settings. https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from kedro.config import OmegaConfigLoader

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # environments (e.g. `paper`) override only the nested keys they list (deep merge, not whole blocks)
    "merge_strategy": {"parameters": "soft"},
}

# Fail early with "run `kedro run --pipeline=<producer>` first" when an upstream input file is missing.
from evgrid.hooks import UpstreamInputsHook  # noqa: E402

HOOKS = (UpstreamInputsHook(),)

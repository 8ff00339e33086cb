"""Project hooks: fail early, with the command to run, when a pipeline's upstream input file is missing.

``kedro run --pipeline=dro`` on a fresh clone needs the GAN scenarios; without this hook Kedro would fail
deep inside the first node's load with a bare "No such file". The hook checks, before any node runs,
every free input of the selected pipeline that another registered pipeline produces (e.g.
``traffic.scenarios`` from ``gan``) and raises naming the dataset, its file and the command that makes it.
"""

from __future__ import annotations

import importlib
import pkgutil

from kedro.framework.hooks import hook_impl
from kedro.io import DatasetError


class MissingUpstreamInputError(DatasetError):
    """A pipeline input made by another pipeline has not been produced yet."""


def _all_pipelines() -> dict:
    """Every ``evgrid.pipelines.<name>.create_pipeline()`` (``kedro run --pipeline=x`` registers only x)."""
    import evgrid.pipelines as pkg

    out = {}
    for mod in pkgutil.iter_modules(pkg.__path__):
        try:
            module = importlib.import_module(f"evgrid.pipelines.{mod.name}")
            out[mod.name] = module.create_pipeline()
        except Exception:  # noqa: BLE001 - a broken sibling pipeline must not block this run
            continue
    return out


class UpstreamInputsHook:
    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        producers: dict[str, str] = {}
        for name, pipe in _all_pipelines().items():
            for ds in pipe.all_outputs():
                producers.setdefault(ds, name)
        missing = []
        for ds in sorted(pipeline.inputs()):
            if ds.startswith("params:") or ds == "parameters" or ds not in producers:
                continue
            try:
                exists = catalog.exists(ds)
            except Exception:  # noqa: BLE001 - a dataset that cannot tell is left to the run
                continue
            if not exists:
                where = getattr(catalog.get(ds), "_filepath", None) if ds in catalog else None
                missing.append(f"'{ds}'" + (f" ({where})" if where else "")
                               + f": run `kedro run --pipeline={producers[ds]}` first")
        if missing:
            raise MissingUpstreamInputError("missing input datasets: " + "; ".join(missing))

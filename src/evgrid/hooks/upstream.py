"""Inputs made by another pipeline must exist before a run starts: :class:`MissingUpstreamInputError` names
each missing file and the command that makes it."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl
from kedro.io import DatasetError

from evgrid.hooks.pipelines import all_pipelines, producers, upstream_inputs


class MissingUpstreamInputError(DatasetError):
    """A pipeline input made by another pipeline has not been produced yet."""


def missing_upstream_inputs(pipeline, catalog, producers_: dict[str, str] | None = None) -> None:
    """Raise :class:`MissingUpstreamInputError` naming each missing upstream file and its command."""
    producers_ = producers(all_pipelines()) if producers_ is None else producers_
    missing = []
    for ds in upstream_inputs(pipeline, producers_):
        try:
            exists = catalog.exists(ds)
        except Exception:  # noqa: BLE001 - a dataset that cannot tell is left to the run
            continue
        if not exists:
            where = getattr(catalog.get(ds), "_filepath", None) if ds in catalog else None
            missing.append(f"'{ds}'" + (f" ({where})" if where else "")
                           + f": run `kedro run --pipelines={producers_[ds]}` first")
    if missing:
        raise MissingUpstreamInputError("missing input datasets: " + "; ".join(missing))


class UpstreamInputsHook:
    """The missing-file check alone (kept for code that uses it directly; ``RunGuardHook`` runs it too)."""

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        missing_upstream_inputs(pipeline, catalog)

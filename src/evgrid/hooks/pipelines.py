"""The registered pipelines as the hooks see them: records, ``create_pipeline()`` of each, who produces what."""

from __future__ import annotations

import importlib


def entries() -> dict:
    """Registered pipeline name -> its record (``evgrid.pipeline_registry.pipeline_entries``: a study's ``STUDY``
    or the record of a pipeline without a study package): module, ``validate``, ``summary_rows``."""
    from evgrid.pipeline_registry import pipeline_entries

    return pipeline_entries()


def all_pipelines() -> dict:
    """Every registered pipeline's ``create_pipeline()`` (``kedro run --pipelines=x`` registers only x)."""
    out = {}
    for name, record in entries().items():
        try:
            out[name] = importlib.import_module(record.pipelines[name]).create_pipeline()
        except Exception:  # noqa: BLE001 - a broken sibling pipeline must not block this run
            continue
    return out


def producers(pipes: dict) -> dict[str, str]:
    """Dataset -> the first registered pipeline that writes it."""
    out: dict[str, str] = {}
    for name, pipe in pipes.items():
        for ds in pipe.all_outputs():
            out.setdefault(ds, name)
    return out


def upstream_inputs(pipeline, producers_: dict[str, str]) -> list[str]:
    """Inputs of ``pipeline`` that another registered pipeline produces (parameters excluded), sorted."""
    return [ds for ds in sorted(pipeline.inputs())
            if not (ds.startswith("params:") or ds == "parameters") and ds in producers_]


def pipeline_names(run_params: dict) -> list[str]:
    """The ``--pipelines`` of the run (``["__default__"]`` when none)."""
    names = run_params.get("pipeline_names") or run_params.get("pipeline_name") or ["__default__"]
    return [names] if isinstance(names, str) else list(names)


def ran_pipelines(pipeline, run_params: dict) -> list[str]:
    """Registered pipelines with a node in this run, the default chain's order first."""
    from evgrid.pipeline_registry import DEFAULT_PIPELINES

    names = [n for n in pipeline_names(run_params) if n != "__default__"]
    pipes = all_pipelines()
    selected = {n.name for n in pipeline.nodes}
    ran = [name for name, p in pipes.items() if selected & {n.name for n in p.nodes}]
    order = list(DEFAULT_PIPELINES) + names
    return sorted(ran, key=lambda n: (order.index(n) if n in order else len(order), n))

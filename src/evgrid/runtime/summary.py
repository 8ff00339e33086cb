"""End-of-run summary: the headline figures of every pipeline that ran, beside the paper's.

Small row functions, one per pipeline. Each takes ``load(dataset_name) -> data | None``
(None when the dataset does not exist or cannot be read) and returns rows
``{"figure": str, "ours": float|str, "paper": float|str|None, "unit": str}``. A pipeline's row function is
the ``summary_rows`` of its record in the project registry (a study's ``STUDY`` in
``evgrid.studies.<name>``, or the pipeline's record in ``evgrid.pipeline_registry``), which the hooks pass as
``contributors`` (no module-level registry: a test or notebook passes its own mapping).

``collect(pipelines, load, contributors)`` runs them (an error in one contributor becomes one row saying so,
never a failed run); ``to_markdown(table)`` renders the table printed at the end of ``kedro run`` and logged to MLflow as
``run_summary.md``. Kedro-free.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

Loader = Callable[[str], Any]
RowFn = Callable[[Loader], list[dict]]
COLUMNS = ["pipeline", "figure", "ours", "paper", "unit"]


def contributor(name: str, contributors: Mapping[str, RowFn] | None = None) -> RowFn | None:
    """The row function of pipeline ``name``: ``contributors[name]``, the ``summary_rows`` of its record;
    ``contributors`` None = the project registry's (``evgrid.pipeline_registry.summary_contributors``, looked
    up by name: this module is core and imports no study or framework module)."""
    if contributors is None:
        contributors = importlib.import_module("evgrid.pipeline_registry").summary_contributors()
    return contributors.get(name)


def collect(pipelines: Iterable[str], load: Loader, contributors: Mapping[str, RowFn] | None = None) -> pd.DataFrame:
    """One table, rows of every pipeline in ``pipelines`` (in that order) that has a contributor."""
    if contributors is None:
        contributors = importlib.import_module("evgrid.pipeline_registry").summary_contributors()
    rows: list[dict] = []
    for name in pipelines:
        fn = contributor(name, contributors)
        if fn is None:
            continue
        try:
            got = fn(load) or []
        except Exception as err:  # noqa: BLE001 - a broken summary must not fail a finished run
            got = [{"figure": "summary unavailable", "ours": f"{type(err).__name__}: {err}"[:120]}]
        for r in got:
            rows.append({"pipeline": name, **{k: r.get(k) for k in COLUMNS[1:]}})
    return pd.DataFrame(rows, columns=COLUMNS)


def with_safety_nets(table: pd.DataFrame, fired: Mapping[str, str]) -> pd.DataFrame:
    """``table`` plus one row per safety net that fired in the run (``{what: detail}``, e.g. from
    :func:`evgrid.runtime.sanity.fired_safety_nets`): a result decided by a wall-clock limit is never silent."""
    rows = [{"pipeline": "safety net", "figure": f"FIRED: {what}", "ours": detail, "paper": None, "unit": ""}
            for what, detail in fired.items()]
    return pd.concat([table, pd.DataFrame(rows, columns=COLUMNS)], ignore_index=True) if rows else table


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        a = abs(v)
        return f"{v:,.0f}" if a >= 1000 else f"{v:.3g}" if a < 0.01 and a > 0 else f"{v:,.3f}".rstrip("0").rstrip(".")
    return str(v)


def to_markdown(table: pd.DataFrame, title: str = "evgrid run summary") -> str:
    """A GitHub-markdown table (also readable as plain text in a terminal)."""
    if table.empty:
        return f"## {title}\n\n(no pipeline that ran reports headline figures)\n"
    cells = [[_fmt(v) for v in row] for row in table[COLUMNS].itertuples(index=False)]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(COLUMNS)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths, strict=True)) + " |"  # noqa: E731
    out = [f"## {title}", "", line(COLUMNS), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(c) for c in cells]
    return "\n".join(out) + "\n"


def row(figure: str, ours: Any, paper: Any = None, unit: str = "") -> dict:
    """One summary row (numpy scalars become Python floats)."""
    conv = lambda v: float(v) if hasattr(v, "dtype") else v  # noqa: E731
    return {"figure": figure, "ours": conv(ours), "paper": conv(paper), "unit": unit}

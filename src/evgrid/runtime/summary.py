"""End-of-run summary: the headline figures of every pipeline that ran, beside the paper's.

A registry of small row functions, one per pipeline. Each takes ``load(dataset_name) -> data | None``
(None when the dataset does not exist or cannot be read) and returns rows
``{"figure": str, "ours": float|str, "paper": float|str|None, "unit": str}``. A pipeline contributes its
rows in one of three ways (first found wins):

1. ``register("name")`` decorator on a function anywhere imported before the run ends;
2. ``summary_rows(load)`` in ``evgrid.studies.<name>.report``;
3. ``summary_rows(load)`` in ``evgrid.pipelines.<name>`` (or its ``summary`` module), for pipelines without
   a study package (grid, ingest, gan).

``collect(pipelines, load)`` runs them (an error in one contributor becomes one row saying so, never a failed
run); ``to_markdown(table)`` renders the table printed at the end of ``kedro run`` and logged to MLflow as
``run_summary.md``. Kedro-free.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

Loader = Callable[[str], Any]
RowFn = Callable[[Loader], list[dict]]
COLUMNS = ["pipeline", "figure", "ours", "paper", "unit"]
_REGISTRY: dict[str, RowFn] = {}


def register(name: str) -> Callable[[RowFn], RowFn]:
    """Decorator: ``@register("tariff") def rows(load): ...``."""
    def deco(fn: RowFn) -> RowFn:
        _REGISTRY[name] = fn
        return fn
    return deco


def contributor(name: str) -> RowFn | None:
    """The row function of pipeline ``name`` (registry, then study report, then pipeline package)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    for mod in (f"evgrid.studies.{name}.report", f"evgrid.pipelines.{name}.summary", f"evgrid.pipelines.{name}"):
        try:
            module = importlib.import_module(mod)
        except ImportError:
            continue
        fn = getattr(module, "summary_rows", None)
        if callable(fn):
            return fn
    return None


def collect(pipelines: Iterable[str], load: Loader) -> pd.DataFrame:
    """One table, rows of every pipeline in ``pipelines`` (in that order) that has a contributor."""
    rows: list[dict] = []
    for name in pipelines:
        fn = contributor(name)
        if fn is None:
            continue
        try:
            got = fn(load) or []
        except Exception as err:  # noqa: BLE001 - a broken summary must not fail a finished run
            got = [{"figure": "summary unavailable", "ours": f"{type(err).__name__}: {err}"[:120]}]
        for r in got:
            rows.append({"pipeline": name, **{k: r.get(k) for k in COLUMNS[1:]}})
    return pd.DataFrame(rows, columns=COLUMNS)


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

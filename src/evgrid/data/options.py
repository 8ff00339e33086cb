"""Parser options from the ``ingest`` parameters: one block per raw input, options nested per format.

A raw input's parameter block names its ``format`` and holds, under each format's own name, the options
of that format::

    rt:
      format: nyiso_wide
      nyiso_wide: {market: RT, isos: [NYISO]}
      nyiso_zonal_csv: {market: RT, interval: auto}

Only the block of the chosen format is passed to its parser, so a ``conf/local`` override that changes
``format`` alone (Kedro deep-merges parameters, so a key set in ``conf/base`` can never be deleted) does
not drag the other format's options along. Options written directly in the block (not under a format
name) are passed too (older configs); a value of ``null`` anywhere means "unset" (the parser default).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evgrid.data.errors import IngestError


def resolve_format(parsers: Mapping[str, Callable[..., Any]], options: Mapping[str, Any] | None, where: str,
                   paths: Sequence[str | Path] = ()) -> tuple[str, Callable[..., Any], dict[str, Any]]:
    """(format name, parser, keyword options) for the parameter block ``where`` (e.g. ``ingest.prices.rt``).

    Unknown formats and options a parser does not take raise, naming the parameter and what is accepted.
    """
    files = ", ".join(map(str, paths)) or None
    if not isinstance(options, Mapping):
        raise IngestError(files, f"parameter {where} is not a mapping", column=where,
                          expected=f"{{format: one of {sorted(parsers)}, <format>: {{options}}}}", got=options)
    opts = dict(options)
    fmt = opts.pop("format", None)
    if fmt not in parsers:
        raise IngestError(files, f"unknown {where.split('.')[1] if where.count('.') else where} format {fmt!r}",
                          column=f"{where}.format", expected=f"one of {sorted(parsers)} (parameters_ingest.yml)")
    blocks = {k: opts.pop(k) for k in list(opts) if k in parsers}
    own = blocks.get(fmt)
    if own is not None and not isinstance(own, Mapping):
        raise IngestError(files, f"options of format {fmt!r} are not a mapping", column=f"{where}.{fmt}",
                          expected="a mapping of option: value", got=own)
    merged = {**opts, **dict(own or {})}
    kwargs = {k: _plain(v) for k, v in merged.items() if v is not None}
    parser = parsers[fmt]
    accepted = [p for p in inspect.signature(parser).parameters if p not in ("paths", "log")]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        kind = where.split(".")[1] if where.count(".") else where
        raise IngestError(files, f"option(s) {unknown} not understood by {kind} format {fmt!r}",
                          column=f"{where}.{fmt}",
                          expected=f"options among {accepted} (options of another format go under that format's "
                          f"name, e.g. {where}.<format>: {{...}}; null unsets a key)")
    return fmt, parser, kwargs


def _plain(value: Any) -> Any:
    """OmegaConf containers -> plain dict / list (the loader may hand DictConfig / ListConfig)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return [_plain(v) for v in value]
    return value


# The parameter blocks of the ingest pipeline that name a format, per source.
FORMAT_SLOTS = {"prices": ("rt", "dam"), "load": ("parser",), "ev_sessions": ("acn", "council"),
                "traffic": ("parser",), "weather": ("parser",)}
RESAMPLE_METHODS = ("hold", "mean", "linear")


def validate_ingest_params(ingest: Mapping[str, Any] | None,
                           parsers: Mapping[str, Mapping[str, Callable[..., Any]]]) -> None:
    """Check every format block and daily block of ``ingest`` before any file is read; one error lists
    every problem, each naming its parameter."""
    problems: list[str] = []
    ingest = ingest or {}
    for source, slots in FORMAT_SLOTS.items():
        block = ingest.get(source)
        if not isinstance(block, Mapping):
            problems.append(f"ingest.{source}: missing (expected the block of conf/base/parameters_ingest.yml)")
            continue
        for slot in slots:
            try:
                resolve_format(parsers[source], block.get(slot), f"ingest.{source}.{slot}")
            except IngestError as exc:
                problems.append(str(exc).removeprefix("<input>, "))
        daily = block.get("daily")
        if daily is None:
            continue
        where = f"ingest.{source}.daily"
        if daily.get("resample_method") not in RESAMPLE_METHODS:
            problems.append(f"{where}.resample_method: {daily.get('resample_method')!r}, expected one of "
                            f"{list(RESAMPLE_METHODS)}")
        native = daily.get("native_minutes")
        if native != "auto" and not (isinstance(native, (int, float)) and not isinstance(native, bool)
                                     and native > 0):
            problems.append(f"{where}.native_minutes: {native!r}, expected a positive number of minutes or auto")
        gap = daily.get("max_gap_steps")
        if not (isinstance(gap, int) and not isinstance(gap, bool) and gap >= 0):
            problems.append(f"{where}.max_gap_steps: {gap!r}, expected a whole number >= 0")
    if problems:
        raise IngestError(None, f"{len(problems)} invalid ingest parameter(s): " + "; ".join(problems))

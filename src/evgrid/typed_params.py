"""Typed configuration from Kedro parameter blocks (shared by every study's ``config.py``).

``typed(cls, params, where)`` builds the (frozen) dataclass ``cls`` from the mapping ``params``: keys that
``cls`` does not declare are rejected, and any validation error of ``cls`` is re-raised naming the parameter
path ``where`` (e.g. ``dwpt.market``), so a user knows which YAML block to fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any


class ParameterError(ValueError):
    """A parameter block does not fit its typed configuration; the message names the parameter."""


def typed(cls, params: Mapping | None, where: str, **converted: Any):
    """``cls(**params, **converted)`` with unknown keys rejected; errors name ``where``.

    ``converted`` holds fields the caller has already parsed (nested blocks); they replace the raw values.
    """
    params = dict(params or {})
    if not isinstance(params, dict):
        raise ParameterError(f"{where}: expected a mapping, got {type(params).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ParameterError(f"{where}: unknown parameters {unknown} ({', '.join(f'{where}.{k}' for k in unknown)}); "
                             f"known: {sorted(known)}")
    try:
        return cls(**(params | converted))
    except (TypeError, ValueError) as e:
        if isinstance(e, ParameterError):
            raise
        raise ParameterError(f"{where}: {e}") from e


def require(params: Mapping, key: str, where: str):
    """``params[key]``, or a :class:`ParameterError` naming ``where.key``."""
    if key not in params:
        raise ParameterError(f"{where}.{key} is missing")
    return params[key]


def need(ok: bool, path: str, what: str, value: Any, error: type[Exception] = ParameterError) -> None:
    """Unless ``ok``: ``error("<path>: expected <what>, got <value!r>")``, the one message of every study
    config's rules (``parking.lots[1].transformer_kva: expected > 0 kVA, got -5``)."""
    if not ok:
        raise error(f"{path}: expected {what}, got {value!r}")


def number(path: str, value: Any, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
           hi_open: bool = False, unit: str = "", error: type[Exception] = ParameterError) -> float:
    """``value`` as a finite float with ``lo <= value <= hi`` (``<`` with ``lo_open``/``hi_open``), else
    :func:`need`'s error naming ``path``."""
    u = f" {unit}" if unit else ""
    rule = " and ".join(t for t in (None if lo is None else f"{'>' if lo_open else '>='} {lo:g}",
                                    None if hi is None else f"{'<' if hi_open else '<='} {hi:g}") if t)
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    ok = (not isinstance(value, bool) and math.isfinite(v)
          and (lo is None or (v > lo if lo_open else v >= lo)) and (hi is None or (v < hi if hi_open else v <= hi)))
    need(ok, path, f"a number {rule}{u}" if rule else f"a finite number{u}", value, error)
    return v


def build(cls, params: Any, where: str, *, error: type[Exception] = ParameterError,
          nested: Mapping[tuple[str, str], type] | None = None, tuples: bool = False):
    """A (nested) typed config block: ``params`` must be a mapping; a field listed in ``nested`` as
    ``(class name, field name): field class`` is built recursively from a block or a list of blocks
    (``where.field[i]``); with ``tuples`` other lists become tuples (frozen dataclasses); unknown keys are
    rejected (:func:`typed`); then ``obj.check(where)`` when the class has one. Every error is ``error`` and
    names the parameter path."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise error(f"{where}: expected a mapping, got {type(params).__name__}")
    nested = nested or {}
    kwargs = {}
    for name, val in params.items():
        sub = nested.get((cls.__name__, name))
        if sub is not None and isinstance(val, list):
            kwargs[name] = tuple(build(sub, v, f"{where}.{name}[{i}]", error=error, nested=nested, tuples=tuples)
                                 for i, v in enumerate(val))
        elif sub is not None:
            kwargs[name] = build(sub, val, f"{where}.{name}", error=error, nested=nested, tuples=tuples)
        elif tuples and isinstance(val, list):
            kwargs[name] = tuple(val)
    try:
        obj = typed(cls, {k: v for k, v in params.items() if k not in kwargs}, where, **kwargs)
    except ParameterError as e:
        if isinstance(e, error):
            raise
        raise error(str(e)) from None
    check = getattr(obj, "check", None)
    if check is not None:
        check(where)
    return obj

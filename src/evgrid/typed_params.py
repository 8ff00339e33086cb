"""Typed configuration from Kedro parameter blocks (shared by every study's ``config.py``).

``typed(cls, params, where)`` builds the (frozen) dataclass ``cls`` from the mapping ``params``: keys that
``cls`` does not declare are rejected, and any validation error of ``cls`` is re-raised naming the parameter
path ``where`` (e.g. ``dwpt.market``), so a user knows which YAML block to fix.
"""

from __future__ import annotations

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
        raise ParameterError(f"{where}: unknown parameters {unknown}; known: {sorted(known)}")
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

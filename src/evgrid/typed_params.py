"""The one config style of every study: frozen dataclasses built by :func:`build`, every problem in one error.

A study's parameter block is a tree of frozen dataclasses. Fields have NO defaults: the YAML
(``conf/base/parameters_<study>.yml``) gives every value; a key the YAML may omit is typed ``X | None`` and
documented (absent -> ``None``). A block's ``check(self, p)`` adds rule violations to ``p``, a
:class:`~evgrid.runtime.validation.Problems` collector scoped to the block's dotted path; it never raises.
:func:`build` walks the tree and collects EVERY problem (unknown keys with the nearest valid name, missing
keys, wrong types, each block's ``check``), then raises one
:class:`~evgrid.runtime.validation.ConfigError` listing them all (``ParameterError`` is the same class)::

    @dataclass(frozen=True)
    class Lot:
        kva: float                        # transformer rating (paper Table I)
        pv_kwp: float | None              # optional: absent in the YAML -> None
        def check(self, p: Problems) -> None:
            p.need(self.kva > 0, "kva", "> 0 kVA", self.kva)
    @dataclass(frozen=True)
    class Study:
        seed: int
        lots: tuple[Lot, ...]             # a list of blocks: problems named x.lots[1].kva
    cfg = build(Study, params["x"], "x")  # ConfigError: "x.lots[1].kva: expected > 0 kVA, got -5; ..."

Field types understood: ``int``, ``float`` (an int is accepted and kept), ``str``, ``bool``, ``dict``,
``list``, ``tuple`` (a YAML list becomes a tuple), ``tuple[T, ...]``, ``dict[str, T]``, a dataclass (a nested
block), unions such as ``int | str`` and ``X | None``, and ``Any``. A block's ``check`` runs after its
children's and only when the block could be built (no unknown or missing key, no wrong type in it or below; a
child's rule problem does not stop it), so cross-field rules see well-typed values. The
study's ``XConfig.from_params(params)`` calls :func:`build`; its ``validate(params)`` parses once.

``typed``, ``require``, ``need`` and ``number`` are the earlier raising helpers, kept for configs not yet
converted.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from evgrid.runtime.validation import ConfigError, Problems

ParameterError = ConfigError
"""The former name of :class:`ConfigError` (one class: ``except ParameterError`` catches every config error)."""

_MISSING = object()


def build(cls, params: Any, where: str, *, error: type[ConfigError] = ConfigError,
          nested: Mapping[tuple[str, str], type] | None = None, tuples: bool = True):
    """The frozen dataclass ``cls`` from the mapping ``params`` (the block named ``where``), nested blocks
    included; one ``error`` (a :class:`ConfigError` class) listing every problem by its dotted path.

    ``nested`` (``(class name, field name): block class``) overrides a field's annotation: the field is built
    as that block, or as a tuple of them from a list. (``tuples`` is ignored: a ``tuple`` field always becomes one.)"""
    del tuples
    p = Problems(where)
    obj = build_into(cls, params, p, nested=nested)
    if p.items:
        raise error(list(p.items))
    return obj


def build_into(cls, params: Any, p: Problems, *, nested: Mapping[tuple[str, str], type] | None = None):
    """:func:`build` into the collector ``p`` (scoped to the block's path): the object, or None when the block
    could not be built (its problems are in ``p``). Lets a study parse several blocks into one error."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        p.add("", f"expected a mapping of settings, got {type(params).__name__} {params!r}")
        return None
    hints = _hints(cls)
    names = [f.name for f in fields(cls)]
    built = p.known_keys(params, names)  # an unknown key (a typo?) leaves the block unbuilt, like a missing one
    kwargs = {}
    for name in names:
        tp = hints.get(name, Any)
        sub = (nested or {}).get((cls.__name__, name))
        if sub is not None:
            tp = sub | tuple[sub, ...]
        value = params.get(name, _MISSING)
        if value is _MISSING:
            if _optional(tp):
                kwargs[name] = None
            elif not _has_default(cls, name):  # a study block has no defaults; a core class built here may
                p.add(name, "is required but missing")
                built = False
            continue
        kwargs[name] = _value(tp, value, p, name, nested)
        built = built and not _wrong(kwargs[name])
    if not built:  # an unknown or missing key or a wrong type here or below: no object, no check of this block
        return None
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as err:  # a class whose __post_init__ raises (the style's rules live in check)
        if isinstance(err, ConfigError):  # its messages name their parameters already
            p.items.extend(err.problems)
        else:
            p.add("", str(err))
        return None
    check = getattr(obj, "check", None)
    if check is not None:
        check(p)
    return obj


def _has_default(cls, name: str) -> bool:
    f = cls.__dataclass_fields__[name]
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def _hints(cls) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):  # a class defined inside a function: resolve what can be resolved
        ns = dict(vars(sys.modules.get(cls.__module__, typing)))
        out = {}
        for f in fields(cls):
            try:
                out[f.name] = eval(f.type, ns, {cls.__name__: cls}) if isinstance(f.type, str) else f.type  # noqa: S307
            except Exception:  # noqa: BLE001
                out[f.name] = Any
        return out


def _optional(tp: Any) -> bool:
    return _is_union(tp) and type(None) in typing.get_args(tp)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


_WRONG = object()


def _value(tp: Any, value: Any, p: Problems, name: str, nested) -> Any:
    """``value`` as the field type ``tp`` (problems added under ``name``; the value is then unusable)."""
    if _is_union(tp):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        for opt in options:  # a block option when the value is a mapping or list, else the first plain type that fits
            if opt is not type(None) and _fits(opt, value):
                return _value(opt, value, p, name, nested)
        p.add(name, f"expected {_describe(tp, value)}, got {value!r}")
        return _WRONG
    if dataclasses.is_dataclass(tp):
        obj = build_into(tp, value, p.sub(name), nested=nested)
        return _WRONG if obj is None else obj
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, list | tuple):
            p.add(name, f"expected a list, got {value!r}")
            return _WRONG
        return tuple(_value(args[0], v, p, f"{name}[{i}]", nested) for i, v in enumerate(value))
    if origin is dict and len(args) == 2:
        if not isinstance(value, Mapping):
            p.add(name, f"expected a mapping, got {value!r}")
            return _WRONG
        return {str(k): _value(args[1], v, p, f"{name}.{k}", nested) for k, v in value.items()}
    if not _fits(tp, value):
        p.add(name, f"expected {_describe(tp, value)}, got {value!r}")
        return _WRONG
    if tp is tuple or origin is tuple:
        return tuple(value)
    if tp is dict or origin is dict:
        return dict(value)
    if tp is list or origin is list:
        return list(value)
    return value


def _wrong(value: Any) -> bool:
    """Whether a built value holds a field that could not be built (a block rule's problem does not count)."""
    if value is _WRONG:
        return True
    if isinstance(value, tuple):
        return any(_wrong(v) for v in value)
    return isinstance(value, dict) and any(_wrong(v) for v in value.values())


def _fits(tp: Any, value: Any) -> bool:
    """Whether ``value`` has the YAML shape of type ``tp`` (numbers: finite, no bool; int: whole)."""
    if tp is Any or isinstance(tp, typing.TypeVar):
        return True
    if dataclasses.is_dataclass(tp):
        return isinstance(value, Mapping) or value is None
    base = typing.get_origin(tp) or tp
    if _is_union(tp):
        return any(_fits(t, value) for t in typing.get_args(tp))
    if base is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if base is int:
        return (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
                and float(value).is_integer())
    if base is bool:
        return isinstance(value, bool)
    if base is str:
        return isinstance(value, str)
    if base in (tuple, list):
        return isinstance(value, list | tuple)
    if base is dict:
        return isinstance(value, Mapping)
    if base is type(None):
        return value is None
    return isinstance(value, base) if isinstance(base, type) else True


def _describe(tp: Any, value: Any = None) -> str:
    """What a field of type ``tp`` expects (for a number of the wrong kind: a whole / a finite number)."""
    if _is_union(tp):
        return " or ".join(_describe(t, value) for t in typing.get_args(tp))
    base = typing.get_origin(tp) or tp
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if base is int and number and math.isfinite(value):
        return "a whole number"
    return {float: "a finite number" if number else "a number", int: "an integer", bool: "true or false",
            str: "a string",
            tuple: "a list", list: "a list", dict: "a mapping", type(None): "null"}.get(
        base, getattr(base, "__name__", str(base)))


# ---------------------------------------------------------------------- earlier raising helpers
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

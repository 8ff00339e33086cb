"""Configuration validation up front: every problem of a parameter block in one error, each naming the
parameter by its full dotted path and what was expected.

    p = Problems("gan")
    p.known_keys(params["gan"], {"seed", "training", ...})            # unknown key -> nearest valid one
    p.in_range("sampling.n_scenarios", 0, lo=1, integer=True)         # ranges
    p.less("network.v_min_pu", 1.06, "network.v_max_pu", 1.05)        # cross-field rules name both
    p.subset("families", {"pv", "wind"}, supported={"pv", "traffic"}) # unsupported members named
    p.raise_if_any()                                                   # ConfigError listing every problem

Pipelines expose ``validate_params(params: dict) -> None`` (raising :class:`ConfigError`); the project hook
calls it for every selected pipeline before any node runs (see ``evgrid.hooks``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any


class ConfigError(ValueError):
    """Invalid parameters; ``.problems`` lists ``(parameter path, message)``.

    The one error of every config parser (``evgrid.typed_params.ParameterError`` is this class; the studies'
    ``XConfigError`` subclass it). Built from a problem list, or from one message (a data-consistency check
    outside the parser: ``TariffConfigError("parameter 'tariff.stations.F9': ...")``), kept verbatim.
    """

    def __init__(self, problems: list[tuple[str, str]] | str):
        if isinstance(problems, str):
            self.problems = [("", problems)]
            super().__init__(problems)
            return
        self.problems = list(problems)
        lines = [f"{path}: {msg}" if path else msg for path, msg in self.problems]
        head = "invalid parameter" if len(lines) == 1 else f"{len(lines)} invalid parameters"
        super().__init__(f"{head} (conf/base/parameters*.yml or --params): " + "; ".join(lines))


def nearest(name: str, choices: Iterable[str]) -> str | None:
    """The closest valid name (difflib ratio >= 0.6), or None."""
    hits = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return hits[0] if hits else None


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v


class Problems:
    """Collects problems under a dotted ``prefix`` and raises them together."""

    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self.items: list[tuple[str, str]] = []

    def path(self, name: str) -> str:
        """``prefix.name`` (``prefix[i]`` for an index ``name`` such as ``[1]``)."""
        if not (self.prefix and name):
            return self.prefix or name
        return f"{self.prefix}{name}" if name.startswith("[") else f"{self.prefix}.{name}"

    def add(self, name: str, message: str) -> None:
        self.items.append((self.path(name), message))

    def need(self, ok: bool, name: str, what: str, value: Any) -> bool:
        """Unless ``ok``: ``<path>.<name>: expected <what>, got <value!r>`` (a block's ``check`` rule)."""
        if not ok:
            self.add(name, f"expected {what}, got {value!r}")
        return bool(ok)

    def number(self, name: str, value: Any, lo: float | None = None, hi: float | None = None, *,
               lo_open: bool = False, hi_open: bool = False, unit: str = "") -> bool:
        """``value`` a finite number with ``lo <= value <= hi`` (``<`` with ``lo_open``/``hi_open``), else
        ``<path>.<name>: expected a number >= lo ..., got <value!r>``."""
        u = f" {unit}" if unit else ""
        rule = " and ".join(t for t in (None if lo is None else f"{'>' if lo_open else '>='} {lo:g}",
                                        None if hi is None else f"{'<' if hi_open else '<='} {hi:g}") if t)
        v = _num(value)
        ok = (v is not None and math.isfinite(v) and (lo is None or (v > lo if lo_open else v >= lo))
              and (hi is None or (v < hi if hi_open else v <= hi)))
        return self.need(ok, name, f"a number {rule}{u}" if rule else f"a finite number{u}", value)

    def sub(self, name: str) -> Problems:
        """A child collector (problems land in this one) for the block ``name``."""
        child = Problems(self.path(name))
        child.items = self.items
        return child

    # -- rules --------------------------------------------------------------------------------------
    def known_keys(self, block: Any, known: Iterable[str], where: str = "") -> bool:
        """Every key of ``block`` is in ``known``; an unknown key is named with the nearest valid one."""
        if block is None:
            return True
        if not isinstance(block, Mapping):
            self.add(where, f"expected a mapping of settings, got {type(block).__name__} {block!r}")
            return False
        known = set(known)
        ok = True
        for key in block:
            if key not in known:
                near = nearest(key, known)
                hint = f"; did you mean '{near}'?" if near else f"; known keys: {sorted(known)}"
                self.add(f"{where}.{key}" if where else str(key), f"unknown key{hint}")
                ok = False
        return ok

    def required(self, block: Mapping, keys: Iterable[str], where: str = "") -> bool:
        ok = True
        for key in keys:
            if not isinstance(block, Mapping) or key not in block:
                self.add(f"{where}.{key}" if where else key, "is required but missing")
                ok = False
        return ok

    def in_range(self, name: str, value: Any, lo: float | None = None, hi: float | None = None, *,
                 lo_open: bool = False, hi_open: bool = False, integer: bool = False,
                 unit: str = "") -> bool:
        """``lo <= value <= hi`` (open bounds with ``lo_open``/``hi_open``), finite, integer if asked."""
        v = _num(value)
        u = f" {unit}" if unit else ""
        if v is None or math.isnan(v):
            self.add(name, f"expected a number{u}, got {value!r}")
            return False
        if integer and (isinstance(value, float) and not value.is_integer()):
            self.add(name, f"expected a whole number, got {value!r}")
            return False
        lo_txt = None if lo is None else (f"> {lo:g}" if lo_open else f">= {lo:g}")
        hi_txt = None if hi is None else (f"< {hi:g}" if hi_open else f"<= {hi:g}")
        bad = (lo is not None and (v <= lo if lo_open else v < lo)) or \
              (hi is not None and (v >= hi if hi_open else v > hi)) or math.isinf(v)
        if bad:
            rule = " and ".join(t for t in (lo_txt, hi_txt) if t) or "finite"
            self.add(name, f"must be {rule}{u}, got {value!r}")
            return False
        return True

    def less(self, a_name: str, a: Any, b_name: str, b: Any, *, strict: bool = True, unit: str = "") -> bool:
        """Cross-field rule ``a < b`` (or ``<=``): the message names both parameters, ``a`` first."""
        va, vb = _num(a), _num(b)
        if va is None or vb is None:
            return True  # type problems are reported by in_range
        if (va < vb) if strict else (va <= vb):
            return True
        op = "<" if strict else "<="
        u = f" {unit}" if unit else ""
        self.add(a_name, f"must be {op} {self.path(b_name)} ({b!r}{u}), got {a!r}{u}")
        return False

    def choice(self, name: str, value: Any, choices: Iterable[Any]) -> bool:
        choices = list(choices)
        if value in choices:
            return True
        near = nearest(str(value), [str(c) for c in choices])
        hint = f"; did you mean '{near}'?" if near else ""
        self.add(name, f"must be one of {choices}, got {value!r}{hint}")
        return False

    def subset(self, name: str, items: Iterable[Any], supported: Iterable[Any], what: str = "entry") -> bool:
        """Every member of ``items`` is supported; each unsupported one is named with the supported set."""
        supported = list(supported)
        ok = True
        for item in items:
            if item not in supported:
                near = nearest(str(item), [str(s) for s in supported])
                hint = f" (did you mean '{near}'?)" if near else ""
                self.add(f"{name}.{item}" if isinstance(items, Mapping) else name,
                         f"{what} '{item}' is not supported by this pipeline{hint}; supported: {supported}")
                ok = False
        return ok

    def check(self, name: str, fn: Callable[[], Any]) -> Any:
        """Run a typed-config parser (e.g. ``TrainConfig.from_params``); its error is attributed to
        ``name``. Returns the parsed object or None."""
        try:
            return fn()
        except (ValueError, TypeError, KeyError) as err:
            msg = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            self.add(name, str(msg))
            return None

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(list(self.items))

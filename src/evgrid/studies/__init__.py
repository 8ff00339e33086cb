"""Study libraries: one package per study (config, system, model, report, plots); pipelines stay thin.

Layering: core (data, grid, scenarios, ev, der, transport, optim) <- studies/<name> <- pipelines/<name>.
Core never imports studies; studies never import each other; pipelines import only their study and the core.

**The study interface.** Every ``studies/<name>/__init__.py`` exports one :class:`Study`, ``STUDY``: its name,
the pipeline(s) that run it, ``validate(params)`` (ALL run parameters in, a
:class:`~evgrid.runtime.validation.ConfigError` listing every problem out), ``summary_rows(load)`` (the
end-of-run summary), its metrics datasets and its docs page. :data:`REGISTRY` maps study name -> ``STUDY``
for every study package (found on each access, so a new package is registered by existing). The project hooks,
the run summary, the pipeline registry and the tests read it (through ``evgrid.pipeline_registry.PIPELINES``,
which adds the same record for the pipelines without a study package: ingest, grid, gan, ...).

The record's functions are references (:func:`lazy`): building the registry imports no study code, so reading it
costs nothing and can create no import circle.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from evgrid.runtime.validation import ConfigError

Loader = Callable[[str], Any]


def lazy(module: str, attr: str) -> Callable[..., Any]:
    """``module.attr`` imported at its first call (a registry entry names a function without importing it)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), attr)(*args, **kwargs)

    call.__name__ = attr
    call.__qualname__ = f"{module}.{attr}"
    return call


def block(name: str, fn: Callable[[Any], Any]) -> Callable[[dict], None]:
    """Adapt a validator of one parameter block (``fn(params[name])``) to the registry's ``validate(params)``."""

    def validate(params: dict) -> None:
        fn((params or {}).get(name) or {})

    validate.__name__ = f"{name}.validate_params"
    return validate


@dataclass(frozen=True)
class Study:
    """What the project needs to know about a study (or a pipeline without a study package).

    ``pipelines``: registered pipeline name -> module with ``create_pipeline()`` (default
    ``{name: "evgrid.pipelines.<name>"}``). ``validator(params)`` gets ALL run parameters and raises on any
    problem; :meth:`validate` turns its error into one :class:`ConfigError`. ``summary_rows(load)`` returns
    rows ``{"figure", "ours", "paper", "unit"}`` (:mod:`evgrid.runtime.summary`). ``metrics``: catalog names of
    its MLflow metrics datasets. ``docs``: its page.
    """

    name: str
    validator: Callable[[dict], None] | None = None
    summary_rows: Callable[[Loader], list[dict]] | None = None
    pipelines: Mapping[str, str] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    docs: str = ""
    kind: str = "study"
    """``study`` (a package under ``evgrid.studies``) or ``pipeline`` (a pipeline without one)."""

    def __post_init__(self) -> None:
        if not self.pipelines:
            object.__setattr__(self, "pipelines", {self.name: f"evgrid.pipelines.{self.name}"})
        if not self.docs:
            object.__setattr__(self, "docs", f"docs/{self.name}.md")

    def validate(self, params: dict) -> None:
        """Check the run's parameters before any node runs: one :class:`ConfigError` naming every problem
        (``<pipeline>.<block>.<key>``); a parser's plain ``ValueError``/``TypeError``/``KeyError`` becomes one
        problem under the study's name."""
        if self.validator is None:
            return
        try:
            self.validator(params or {})
        except ConfigError:
            raise
        except (ValueError, TypeError, KeyError) as err:
            raise ConfigError([(self.name, str(err))]) from err


class _Registry(Mapping[str, Study]):
    """study name -> ``STUDY`` of every package ``evgrid.studies.<name>`` that exports one (found on access)."""

    def _found(self) -> dict[str, Study]:
        out = {}
        for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if not mod.ispkg or mod.name.startswith("_"):
                continue
            study = getattr(importlib.import_module(f"{__name__}.{mod.name}"), "STUDY", None)
            if isinstance(study, Study):
                out[study.name] = study
        return out

    def __getitem__(self, name: str) -> Study:
        return self._found()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._found())

    def __len__(self) -> int:
        return len(self._found())


REGISTRY: Mapping[str, Study] = _Registry()

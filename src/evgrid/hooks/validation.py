"""Parameters checked before any node runs: the ``validate`` of every selected pipeline's registry record,
all problems reported together."""

from __future__ import annotations

from typing import Any

from evgrid.hooks.pipelines import entries
from evgrid.runtime.validation import ConfigError


def validators_for(pipeline, pipes: dict) -> dict[str, Any]:
    """``validate(params)`` (ALL parameters) of the record of every registered pipeline with a node in
    ``pipeline``."""
    selected = {n.name for n in pipeline.nodes}
    records = entries()
    return {name: records[name].validate for name, pipe in sorted(pipes.items())
            if name in records and selected & {n.name for n in pipe.nodes}}


def validate_parameters(params: dict, validators: dict[str, Any]) -> None:
    """Run every validator; all problems together in one :class:`ConfigError`."""
    problems: list[tuple[str, str]] = []
    for name, fn in validators.items():
        try:
            fn(params)
        except ConfigError as err:
            problems += err.problems
        except (ValueError, TypeError, KeyError) as err:
            problems.append((name, str(err)))
    if problems:
        raise ConfigError(problems)

"""Planning study (paper 003): bi-level charging-station capacity planning with mixed ICEV/EV UE and OPF."""

from typing import Any

from evgrid.studies import Study, block, lazy


def _validate_block(planning: Any) -> None:
    """``config.validate_params`` on the ``planning`` block (every problem in one ConfigError) where the study
    has it, else the typed config's parser (what the first node runs): checked before any node either way."""
    from evgrid.studies.planning import config

    fn = getattr(config, "validate_params", None) or config.PlanningConfig.from_params
    fn(planning)


STUDY = Study(
    name="planning",
    validator=block("planning", _validate_block),
    summary_rows=lazy("evgrid.studies.planning.report", "summary_rows"),
    metrics=("planning_metrics",),
)

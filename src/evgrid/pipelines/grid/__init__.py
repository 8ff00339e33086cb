"""``grid`` pipeline: load the configured feeder, AC and LinDistFlow base cases, voltage-profile comparison."""

from .pipeline import create_pipeline
from .validation import validate_params  # the whole grid block, checked before any node runs (project hook)

__all__ = ["create_pipeline", "validate_params"]

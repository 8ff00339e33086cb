"""``grid`` pipeline: load the configured feeder, AC and LinDistFlow base cases, voltage-profile comparison."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

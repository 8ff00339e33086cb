"""``kedro run --pipelines=planning``: bi-level charging-station capacity planning (paper 003)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""``kedro run --pipelines=traffic_assignment``: single-class static UE on any TNTP network (default Sioux Falls)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

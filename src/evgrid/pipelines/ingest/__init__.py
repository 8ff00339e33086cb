"""``ingest``: raw NYISO / EV-session / traffic / irradiance files -> validated primary parquet -> daily
feature matrices at the modelling step and a data-quality report (see docs/ingest.md)."""

from evgrid.pipelines.ingest.nodes import validate_params  # checked before any node runs (project hook)
from evgrid.pipelines.ingest.pipeline import create_pipeline

__all__ = ["create_pipeline", "validate_params"]

"""``dro`` pipeline: Wasserstein distributionally robust operation of dynamic charging lanes (paper 000)."""

from evgrid.pipelines.dro.pipeline import create_pipeline
from evgrid.studies.dro.config import validate_params  # takes ALL parameters (checked before any node runs)

__all__ = ["create_pipeline", "validate_params"]

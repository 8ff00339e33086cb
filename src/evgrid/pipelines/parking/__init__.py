"""``parking`` pipeline: day-ahead P + Q charging of PV parking lots with hourly reconfiguration (paper 004)."""

from evgrid.pipelines.parking.pipeline import create_pipeline
from evgrid.studies.parking.config import validate_params

__all__ = ["create_pipeline", "validate_params"]


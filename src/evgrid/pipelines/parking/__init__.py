"""``parking`` pipeline: day-ahead P + Q charging of PV parking lots with hourly reconfiguration (paper 004)."""

from evgrid.pipelines.parking.pipeline import create_pipeline

__all__ = ["create_pipeline"]

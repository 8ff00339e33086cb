"""``parking`` pipeline: day-ahead P + Q charging of PV parking lots with hourly reconfiguration (paper 004)."""

from evgrid.pipelines.parking.pipeline import create_pipeline

__all__ = ["create_pipeline", "validate_params"]


def validate_params(params: dict) -> None:
    """Parse the ``parking`` parameters before any node runs (the error names the parameter)."""
    from evgrid.studies.parking.config import ParkingConfig

    if "parking" in params:
        ParkingConfig.from_params(params["parking"])

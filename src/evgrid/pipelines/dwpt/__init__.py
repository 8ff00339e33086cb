"""DWPT pipeline: in-motion EV load, PV + battery, day-ahead MILP in normal and outage operation (paper 002)."""

from evgrid.pipelines.dwpt.pipeline import create_pipeline

__all__ = ["create_pipeline"]

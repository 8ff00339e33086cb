"""``tariff`` pipeline (paper 001): robust dynamic distribution tariffs for EV congestion management."""

from evgrid.pipelines.tariff.pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""``dro`` pipeline: Wasserstein distributionally robust operation of dynamic charging lanes (paper 000)."""

from evgrid.pipelines.dro.pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""GAN scenario generators: cross-validated per family, final models, scenarios for the optimisers."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

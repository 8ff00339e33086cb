"""GAN scenario generators: cross-validated per family, final models, scenarios for the optimisers."""

from .pipeline import create_pipeline
from .validation import validate_params  # checked before any node runs (evgrid.hooks)

__all__ = ["create_pipeline", "validate_params"]

"""evgrid: EV charging on power distribution grids under uncertainty.

Kedro-free library modules live in ``evgrid.data`` (ingest parsers), ``evgrid.grid`` (feeder models,
LinDistFlow, AC validation), ``evgrid.optim`` (solver wrapper, DRO/robust toolbox) and
``evgrid.scenarios`` (GAN generators and scores). Kedro pipelines live in ``evgrid.pipelines``.
"""

__version__ = "0.1.0"

"""``backtest`` pipeline (issue 17): the dro policy and its baselines operated day by day over real held-out
days. Registered as ``backtest`` in :mod:`evgrid.pipeline_registry`; it lives in the dro package because it
builds on :mod:`evgrid.studies.dro` (layout rule: pipelines/<x> import only studies/<x>). Docs: docs/backtest.md.

Inputs: the ingest feature matrices and ``dro_radius_selected`` (the dro pipeline's cross-validated radius;
run ``kedro run --pipelines=dro`` first, or set ``backtest.radius`` to a number -- the dataset is still read).
"""

from kedro.pipeline import Pipeline, node, pipeline

from evgrid.pipelines.dro import backtest_nodes as nodes
from evgrid.studies.dro.backtest import BacktestConfig
from evgrid.studies.dro.config import validate_params as validate_dro_params


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        node(nodes.load_network, "params:dro.network", "backtest_network", name="backtest_load_network"),
        node(nodes.plan_backtest,
             ["traffic_daily", "weather_daily", "price_daily", "load_daily", "params:backtest", "params:dro",
              "params:split", "params:pv_system"],
             ["backtest_plan", "backtest_split_dates", "backtest_plan_info"], name="backtest_plan_days"),
        node(nodes.run_backtest,
             ["backtest_plan", "backtest_network", "dro_radius_selected", "params:backtest", "params:dro",
              "params:compute", "params:step_minutes"],
             ["backtest_daily", "backtest_first_stages", "backtest_run_info"], name="backtest_run_days"),
        node(nodes.summarise, ["backtest_daily", "params:backtest"],
             ["backtest_summary", "backtest_paired", "backtest_metrics"], name="backtest_summarise"),
        node(nodes.plot, ["backtest_daily", "backtest_paired"], "backtest_fig_daily_cost", name="backtest_plot"),
    ])


def validate_params(params: dict) -> None:
    """Check the ``backtest`` block and the ``dro`` block it operates before any node runs (the project hook
    calls it with ALL parameters; errors name ``backtest.<key>`` / ``dro.<block>.<key>``)."""
    BacktestConfig.from_params((params or {}).get("backtest"))
    validate_dro_params(params)

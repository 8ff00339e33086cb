"""Thin Kedro nodes of the ``backtest`` pipeline (issue 17): each parses its parameter blocks once into the
typed configs (:class:`~evgrid.studies.dro.backtest.BacktestConfig`, :class:`~evgrid.studies.dro.config.DroConfig`,
:class:`~evgrid.compute.ComputeSettings`) and calls one function of :mod:`evgrid.studies.dro.backtest` (the fan-out: :mod:`evgrid.studies.dro.runs`).

Flow: held-out test dates of the shared dated split + per-date training days (calendar-conditioned) ->
one Dask task per date (atoms, every method's integer first stage, recourse + AC check on the real day)
-> per-day table -> distribution over days per method, paired DRO - SAA differences, figure.
"""

from __future__ import annotations

import pandas as pd

from evgrid.compute import ComputeSettings
from evgrid.grid.network import Network
from evgrid.scenarios.split import SplitConfig
from evgrid.studies.dro import backtest, runs, system
from evgrid.studies.dro.config import DroConfig, NetworkConfig


def load_network(network: dict) -> Network:
    """The feeder of ``dro.network`` (same call as the dro pipeline's ``dro_load_network``)."""
    return system.load_network(NetworkConfig.from_params(network))


def plan_backtest(traffic_daily: pd.DataFrame, weather_daily: pd.DataFrame, price_daily: pd.DataFrame,
                  load_daily: pd.DataFrame, params: dict, dro_params: dict, split: dict, pv_system: dict
                  ) -> tuple[dict, pd.DataFrame, dict]:
    """Test dates and, per date, the training days, price days and load shape its decision may use."""
    return backtest.plan_backtest(traffic_daily, weather_daily, price_daily, load_daily,
                                  DroConfig.from_params(dro_params), backtest.BacktestConfig.from_params(params),
                                  SplitConfig.from_params(split), pv_system)


def run_backtest(plan: dict, network: Network, radius: float, params: dict, dro_params: dict, compute: dict,
                 step_minutes: int) -> tuple[pd.DataFrame, dict, dict]:
    """One task per test date on the configured scheduler (``compute``): per-day table, first stages, info."""
    return runs.run_backtest(plan, network, radius, DroConfig.from_params(dro_params),
                                 backtest.BacktestConfig.from_params(params), ComputeSettings.from_params(compute),
                                 step_minutes)


def summarise(daily: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Distribution over days per method, paired per-day differences (t and bootstrap CIs), MLflow metrics."""
    return backtest.summarise(daily, backtest.BacktestConfig.from_params(params))


def plot(daily: pd.DataFrame, paired: pd.DataFrame):
    """Daily cost per method and the paired DRO - SAA difference per day (plotly)."""
    return backtest.plot_backtest(daily, paired)

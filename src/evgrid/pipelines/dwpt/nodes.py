"""Thin Kedro nodes of the DWPT pipeline (paper 002): each parses ``params:dwpt`` into
:class:`~evgrid.studies.dwpt.config.DwptConfig` and calls one function of :mod:`evgrid.studies.dwpt`."""

from __future__ import annotations

import pandas as pd

from evgrid.compute import ComputeSettings
from evgrid.grid.network import Network
from evgrid.studies.dwpt import model, plots, report, system
from evgrid.studies.dwpt.config import DwptConfig, NetworkConfig
from evgrid.studies.dwpt.system import DwptDay


def load_network(network: dict) -> Network:
    """The feeder of ``dwpt.network``, made once as the ``dwpt_network`` dataset."""
    return system.load_network(NetworkConfig.from_params(network))


def select_day_inputs(traffic_daily: pd.DataFrame, weather_daily: pd.DataFrame, load_daily: pd.DataFrame,
                      prices_primary: pd.DataFrame, params: dict) -> pd.DataFrame:
    """The chosen day of every input at the feature step: flow, GHI, system load and price."""
    return system.select_day_inputs(traffic_daily, weather_daily, load_daily, prices_primary,
                                    DwptConfig.from_params(params))


def simulate_ev_load(day_inputs: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """DWPT load at the EV bus from the day's traffic (paper II-A); also the simulated fleet."""
    return system.simulate_ev_load(day_inputs, DwptConfig.from_params(params))


def size_der(day_inputs: pd.DataFrame, ev_load: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, dict]:
    """PV output (eq. 1) sized to the EV's daily energy, and battery sizing (II-B)."""
    cfg = DwptConfig.from_params(params)
    return system.size_der(day_inputs, ev_load, cfg.pv, cfg.battery)


def build_day(network: Network, day_inputs: pd.DataFrame, ev_load: pd.DataFrame, der_profile: pd.DataFrame,
              der_sizing: dict, params: dict) -> DwptDay:
    """Bus loads, EV, PV and price of the day at the model step."""
    return system.build_day(network, day_inputs, ev_load, der_profile, der_sizing, DwptConfig.from_params(params))


def solve_cases(network: Network, day: DwptDay, params: dict, params_compute: dict) -> tuple[pd.DataFrame, ...]:
    """Every case of ``dwpt.cases`` (paper II-C) on the shared LinDistFlow + HiGHS wrapper (evgrid.compute)."""
    return model.solve_cases(network, day, DwptConfig.from_params(params), ComputeSettings.from_params(params_compute))


def validate_and_correct_ac(network: Network, day: DwptDay, costs: pd.DataFrame, params: dict,
                            params_compute: dict) -> tuple[pd.DataFrame, dict, pd.DataFrame, pd.DataFrame]:
    """AC check (pandapower) of the chosen cases and the AC-corrected re-solve (evgrid.compute)."""
    return report.ac_check(network, day, costs, DwptConfig.from_params(params),
                           ComputeSettings.from_params(params_compute))


def compare_with_paper(costs: pd.DataFrame, ac_corrected: pd.DataFrame, params: dict
                       ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Tables in the paper's shape with the paper's numbers beside ours, and the case metrics."""
    return report.compare_with_paper(costs, ac_corrected, DwptConfig.from_params(params).paper)


def ev_metrics(ev_load: pd.DataFrame, der_sizing: dict) -> dict:
    """MLflow metrics of the EV load and DER sizing."""
    return report.ev_metrics(ev_load, der_sizing)


def plot_loads_and_prices(system_schedule: pd.DataFrame, ev_load: pd.DataFrame, params: dict):
    """Paper Fig. 3: conventional and EV in-motion load (with its re-draw band) and the price."""
    return plots.loads_and_prices(system_schedule, DwptConfig.from_params(params).plots.reference_case, ev_load)


def plot_upstream(system_schedule: pd.DataFrame, params: dict):
    """Paper Fig. 4 / 5: upstream trade without and with PV + battery."""
    return plots.upstream(system_schedule, list(DwptConfig.from_params(params).plots.upstream_cases))


def plot_shedding(system_schedule: pd.DataFrame, params: dict):
    """Paper Fig. 6: total load shedding in each hour per outage case."""
    return plots.shedding(system_schedule, list(DwptConfig.from_params(params).plots.shedding_cases))


def plot_battery(system_schedule: pd.DataFrame, params: dict):
    """PV split, battery power and SOC of the PV + battery case."""
    return plots.battery(system_schedule, DwptConfig.from_params(params).plots.battery_case)

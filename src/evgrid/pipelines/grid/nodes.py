"""Thin nodes of the ``grid`` pipeline (logic in :mod:`evgrid.grid.checks`, :mod:`evgrid.grid.feeders`)."""

from __future__ import annotations

import logging

import pandas as pd

from evgrid.grid import checks
from evgrid.grid.feeders import load_feeder
from evgrid.grid.network import Network

log = logging.getLogger(__name__)


def load_grid_feeder(feeder: dict) -> tuple[Network, dict]:
    """Read the feeder file named in ``grid.feeder`` and summarise it."""
    net = load_feeder(
        feeder["path"],
        fmt=feeder.get("format", "auto"),
        default_rating_kva=feeder.get("default_rating_kva"),
        rating_overrides_kva=feeder.get("rating_overrides_kva") or {},
        v_slack_pu=feeder.get("v_slack_pu"),
    )
    summary = net.summary() | {"source": net.source, "z_base_ohm": net.z_base_ohm, "slack_bus": net.slack_bus}
    log.info("feeder %s: %d buses, %d branches, %.0f kW / %.0f kVAr", net.name, len(net.buses),
             len(net.branches), net.total_load_kw, net.total_load_kvar)
    return net, summary


def run_ac_base_case(network: Network) -> tuple[pd.DataFrame, dict]:
    """pandapower Newton-Raphson on the base loads: bus voltages and the feeder totals."""
    return checks.ac_base_case(network)


def run_lindistflow_base_case(network: Network, lindistflow: dict, solver: dict) -> pd.DataFrame:
    """LinDistFlow on the base loads (voltage limits off, so violations are reported, not infeasible)."""
    return checks.run_lindistflow_base_case(network, lindistflow, solver)


def compare_voltage_profiles(network: Network, ac: pd.DataFrame, lin: pd.DataFrame) -> pd.DataFrame:
    """Both profiles per bus with the electrical distance to the slack."""
    return checks.compare_voltage_profiles(network, ac, lin)


def grid_metrics(network: Network, ac_totals: dict, profile: pd.DataFrame) -> dict:
    """Key numbers as MLflow metrics."""
    return checks.grid_metrics(network, ac_totals, profile)


def plot_voltage_profiles(profile: pd.DataFrame):
    """Voltage vs bus: AC (pandapower) and LinDistFlow, with the voltage limits."""
    return checks.plot_voltage_profiles(profile)


def check_ac_of_lindistflow(network: Network, profile: pd.DataFrame) -> pd.DataFrame:
    """Violations table of the base case (AC), for the user's own feeder check."""
    return checks.check_ac_of_lindistflow(network, profile)

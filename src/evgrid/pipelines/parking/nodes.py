"""Thin nodes of the ``parking`` pipeline: parse parameters once, call one study function, return datasets."""

from __future__ import annotations

import logging

import pandas as pd

from evgrid.compute import ComputeSettings
from evgrid.grid.feeders import load_feeder
from evgrid.grid.network import Network
from evgrid.scenarios.pv import PVSystem
from evgrid.studies.parking import plots, report, runs
from evgrid.studies.parking.config import ParkingConfig

log = logging.getLogger(__name__)


def load_network(feeder: dict) -> Network:
    """The feeder of ``parking_feeder.path`` (IEEE 33-bus with its tie switches by default). Missing GAN
    scenario files are refused before any node runs by the project's upstream-input hook, naming `gan`."""
    return load_feeder(feeder["path"], require_radial=True)


def prepare_inputs(network, prices, load_daily, ev_features, weather_daily, ev_times, pv, params: dict,
                   pv_system: dict, step_minutes: int):
    """System, GAN and held-out days, up-front lot feasibility check."""
    cfg = ParkingConfig.from_params(params)
    return runs.prepare_inputs(network, prices, load_daily, ev_features, weather_daily, ev_times, pv, cfg,
                               PVSystem.from_params(pv_system, step_minutes))


def run_scenarios(inputs, params: dict, params_compute: dict):
    """Base and scenarios 1-4 (Table V) with the exact evaluation of each schedule (evgrid.compute tasks)."""
    res = runs.run_scenarios(inputs, ParkingConfig.from_params(params), ComputeSettings.from_params(params_compute))
    return res, res["costs"], res["schedules"], res["details"], res["switching"]


def run_pv_sweep(inputs, scenario_results, params: dict, params_compute: dict):
    """Scenario 4 at each PV penetration (Table VII), on evgrid.compute."""
    return runs.run_pv_sweep(inputs, scenario_results, ParkingConfig.from_params(params),
                             ComputeSettings.from_params(params_compute))


def run_stochastic(inputs, scenario_results, params: dict, params_compute: dict):
    """Stochastic day-ahead switching plan evaluated on real held-out days (evgrid.compute), paired with CIs."""
    return runs.run_stochastic(inputs, ParkingConfig.from_params(params), scenario_results,
                               ComputeSettings.from_params(params_compute))


def compare_with_paper(costs: pd.DataFrame, sweep: pd.DataFrame, heldout: pd.DataFrame):
    """Our relative changes beside the paper's; key numbers as MLflow metrics."""
    comp = report.paper_comparison(costs, sweep)
    metrics = {}
    for _, r in costs.iterrows():
        for col in ("objective_usd", "dso_total_usd", "environment_total_usd", "mean_loss_kw_charging",
                    "pv_share_of_ev_energy"):
            metrics[f"parking_{r['scenario']}_{col}"] = {"value": float(r[col]), "step": 0}
        if r.get("mip_gap") is not None and pd.notna(r.get("mip_gap")):
            metrics[f"parking_{r['scenario']}_mip_gap"] = {"value": float(r["mip_gap"]), "step": 0}
    for _, r in sweep.iterrows():
        metrics[f"parking_pv{int(r['pv_penetration_pct'])}_objective_usd"] = {"value": float(r["objective_usd"]),
                                                                             "step": 0}
    for _, r in heldout.iterrows():
        if pd.notna(r["mean_diff_usd"]) and r["metric"] == "objective_usd":
            key = r["comparison"].replace(" - ", "_minus_")
            metrics[f"parking_heldout_{key}_usd"] = {"value": float(r["mean_diff_usd"]), "step": 0}
    return comp, metrics


def make_plots(schedules: pd.DataFrame, details: pd.DataFrame, sweep_profiles: pd.DataFrame):
    """Fig. 7-8, 9, 10, 11 shapes."""
    return (plots.lot_profiles(schedules), plots.loss_curve(details), plots.pv_contribution(details),
            plots.pv_sweep(sweep_profiles))

"""Thin Kedro nodes of the ``dro`` pipeline (paper 000): each parses its parameters into
:class:`~evgrid.studies.dro.config.DroConfig` and calls one function of :mod:`evgrid.studies.dro`.

Flow: real days + GAN scenarios -> model-step arrays -> nominal atoms (k-medoids of real training days)
and GAN support atoms -> radius by cross-validation -> first stages of every method (deterministic, SAA,
DRO at each radius, DRO at the chosen radius) -> out-of-sample recourse on held-out real days and fresh
GAN samples -> schedules, worst-case weights, cost breakdown, AC check, KPIs vs the paper, plots.
"""

from __future__ import annotations

import pandas as pd

from evgrid.compute import ComputeSettings
from evgrid.grid.network import Network
from evgrid.scenarios.split import SplitConfig
from evgrid.studies.dro import experiment, plots, report, runs, scenarios, system
from evgrid.studies.dro.config import DroConfig, NetworkConfig


def load_network(network: dict) -> Network:
    """The feeder of ``dro.network`` (ratings, voltage band), made once as the ``dro_network`` dataset."""
    return system.load_network(NetworkConfig.from_params(network))


def prepare_scenarios(traffic_daily: pd.DataFrame, weather_daily: pd.DataFrame, price_daily: pd.DataFrame,
                      load_daily: pd.DataFrame, traffic_scenarios: pd.DataFrame, pv_scenarios: pd.DataFrame,
                      price_scenarios: pd.DataFrame, params: dict, pv_system: dict, step_minutes: int,
                      split: dict, joint_daily: pd.DataFrame | None = None, joint_scenarios: pd.DataFrame | None = None,
                      joint_info: dict | None = None, price_info: dict | None = None) -> tuple[dict, dict, pd.DataFrame]:
    """Real days split by date (``split``, shared with ``gan``) and, if used, generated scenarios (the joint
    ones only with ``dro.scenarios.generator: joint``, never before the generators' own first test day)."""
    gen_info = {k: v for k, v in (("joint", joint_info), ("price", price_info)) if v is not None}
    sets, info = scenarios.prepare_scenarios(traffic_daily, weather_daily, price_daily, load_daily,
                                             traffic_scenarios, pv_scenarios, price_scenarios,
                                             DroConfig.from_params(params), pv_system, step_minutes,
                                             SplitConfig.from_params(split), joint_daily=joint_daily,
                                             joint_scenarios=joint_scenarios, generator_info=gen_info or None)
    return sets, info, sets["dates"]


def build_atoms(network: Network, sets: dict, params: dict, step_minutes: int) -> tuple[dict, pd.DataFrame]:
    """Nominal atoms (k-medoids of the real training days) and GAN support atoms."""
    return scenarios.build_atoms(network, sets, DroConfig.from_params(params), step_minutes)


def select_radius(atoms: dict, params: dict, params_compute: dict) -> tuple[float, pd.DataFrame, dict]:
    """The Wasserstein radius: the parameter, or K-fold cross-validation for ``radius: auto`` (one
    evgrid.compute task per fold)."""
    return runs.select_radius(atoms, DroConfig.from_params(params), ComputeSettings.from_params(params_compute))


def solve_methods(atoms: dict, radius: float, params: dict, params_compute: dict
                  ) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """First stages of: deterministic (mean forecast), SAA, DRO at every radius and at the chosen one (one
    evgrid.compute task each)."""
    return runs.solve_methods(atoms, radius, DroConfig.from_params(params), ComputeSettings.from_params(params_compute))


def evaluate_out_of_sample(first_stages: dict, atoms: dict, sets: dict, params: dict, params_compute: dict
                           ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Each method's first stage fixed; recourse on held-out real days and fresh GAN samples (evgrid.compute
    tasks of method x test set x chunk of days)."""
    return runs.evaluate_out_of_sample(first_stages, atoms, sets, DroConfig.from_params(params),
                                           ComputeSettings.from_params(params_compute))


def schedule_report(first_stages: dict, atoms: dict, params: dict) -> tuple:
    """Chosen schedule on the nominal atoms: tables, AC check, cost breakdown, KPIs."""
    return report.schedule_report(first_stages, atoms, DroConfig.from_params(params))


def log_metrics(oos_metrics: pd.DataFrame, kpis: pd.DataFrame, radius: float, scen_info: dict, cv_info: dict,
                oos_info: dict, ac_summary: dict) -> dict:
    """Flat metrics dict (MLflow metrics dataset)."""
    return report.log_metrics(oos_metrics, kpis, radius, scen_info, cv_info, oos_info, ac_summary)


def plot_figures(steps: pd.DataFrame, lane_steps: pd.DataFrame, atoms: dict, oos_metrics: pd.DataFrame) -> tuple:
    """Paper-style figures of the chosen schedule and the out-of-sample results."""
    return plots.plot_figures(steps, lane_steps, atoms, oos_metrics)


def run_experiment(traffic_daily: pd.DataFrame, weather_daily: pd.DataFrame, price_daily: pd.DataFrame,
                   load_daily: pd.DataFrame, traffic_scenarios: pd.DataFrame, pv_scenarios: pd.DataFrame,
                   price_scenarios: pd.DataFrame, joint_daily: pd.DataFrame, joint_scenarios: pd.DataFrame,
                   joint_info: dict, price_info: dict, network: Network, params: dict, pv_system: dict,
                   step_minutes: int, split: dict, params_compute: dict) -> tuple[pd.DataFrame, dict]:
    """The atoms x shift experiment (``dro.experiment``; off in base: empty table): one evgrid.compute task per
    (condition, training atoms, method)."""
    cfg = DroConfig.from_params(params)
    if not cfg.experiment.enabled:
        return pd.DataFrame(columns=["condition", "n_atoms", "method", "day", "total_cost_usd"]), {"enabled": False}
    plan, info = experiment.plan_experiment(
        {"traffic_daily": traffic_daily, "weather_daily": weather_daily, "price_daily": price_daily,
         "load_daily": load_daily, "joint_daily": joint_daily},
        {"traffic": traffic_scenarios, "pv": pv_scenarios, "price": price_scenarios, "joint": joint_scenarios},
        cfg, pv_system, step_minutes, SplitConfig.from_params(split),
        {k: v for k, v in (("joint", joint_info), ("price", price_info)) if v is not None} or None)
    days, run_info = runs.run_experiment(plan, network, cfg, ComputeSettings.from_params(params_compute), step_minutes)
    return days, {"enabled": True, **info, **run_info}


def report_experiment(days: pd.DataFrame, info: dict, params: dict) -> tuple[pd.DataFrame, pd.DataFrame, dict, object]:
    """Points with 95 % intervals, paired differences to SAA, the verdict per condition, the figure."""
    cfg = DroConfig.from_params(params)
    points, paired, verdict = experiment.summarise_experiment(days, cfg) if len(days) else (
        pd.DataFrame(), pd.DataFrame(), {})
    return points, paired, {**info, "verdict": verdict}, plots.plot_experiment(points, paired)

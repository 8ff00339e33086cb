"""Thin nodes of the planning pipeline: parse the config once, call the study, return datasets."""

from __future__ import annotations

import logging

import pandas as pd

from evgrid.compute import ComputeSettings
from evgrid.studies.planning import plots, report, runs
from evgrid.studies.planning.config import PlanningConfig
from evgrid.studies.planning.system import PlanningSystem, build_system

log = logging.getLogger(__name__)


def build_planning_system(params: dict, traffic_daily: pd.DataFrame, load_daily: pd.DataFrame) -> PlanningSystem:
    """Typed config + Sioux Falls / 33-bus / period table."""
    return build_system(PlanningConfig.from_params(params), traffic_daily, load_daily)


def optimise_capacities(system: PlanningSystem, params_compute: dict) -> dict:
    """Surrogate vs random vs local search over seeds (same number of exact evaluations), uniform plans,
    landscape; fanned out on evgrid.compute (``params:compute``)."""
    result = runs.run_planning(system, ComputeSettings.from_params(params_compute))
    log.info("planning: upper level done in %.1f s", result["wall_s"])
    return result


def summarise_plans(system: PlanningSystem, result: dict) -> tuple[pd.DataFrame, ...]:
    """capacity_plan, social_cost, convergence, search_comparison (paired over seeds), landscape."""
    return (report.capacity_plan(system, result), report.social_cost(result), report.convergence(result),
            report.search_comparison(result), report.landscape(system, result))


def detail_optimised_plan(system: PlanningSystem, result: dict):
    """Per-period link flows, station loads, voltages (SOCP + AC), nodal prices, fixed-point log, AC summary."""
    best = [ev for m, ev in result["best"].items() if m.startswith("surrogate")][0]
    t = report.period_tables(system, best)
    volt, ac = report.ac_check(system, best, t["voltages"])
    return t["link_flows"], t["station_loads"], volt, t["nodal_prices"], t["fixed_point"], ac


def sweep_ev_share(system: PlanningSystem, result: dict) -> pd.DataFrame:
    best = [ev for m, ev in result["best"].items() if m.startswith("surrogate")][0]
    return report.ev_share_sweep(system, best.capacity_kw)


def v2g_variant(system: PlanningSystem, result: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Optimised plan with and without V2G at the stations (multi-period SOCP)."""
    best = [ev for m, ev in result["best"].items() if m.startswith("surrogate")][0]
    return report.v2g_variant(system, best)


def planning_metrics(result: dict, costs: pd.DataFrame, fixed_point: pd.DataFrame, ac: dict,
                     comparison: pd.DataFrame) -> dict:
    vals = report.metrics(result, costs, fixed_point, ac, comparison)
    log.info("planning metrics: %s", {k: round(v, 4) for k, v in vals.items()})
    return {k: {"value": float(v), "step": 0} for k, v in vals.items()}


def planning_figures(system: PlanningSystem, plan, costs, conv, flows, loads, volt, prices, sweep) -> dict:
    """All plotly figures, one dataset each (dataset factory ``planning_fig_{name}``)."""
    peak = system.periods["demand_factor"].idxmax()
    return (plots.convergence_plot(conv), plots.capacity_plot(plan), plots.social_cost_plot(costs),
            plots.link_flow_plot(flows, system.nodes_xy, peak), plots.station_load_plot(loads),
            plots.voltage_plot(volt), plots.nodal_price_plot(prices), plots.ev_share_plot(sweep))

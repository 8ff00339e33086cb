"""Thin Kedro nodes of the ``tariff`` pipeline (logic in evgrid.studies.tariff and the core).

Flow: parameters + raw NYISO load / NSRDB weather / NYISO DAM price files -> coupled system -> DSO QP
sweep (tariffs from duals), aggregators' response + iteration, feeder checks (LinDistFlow + AC) ->
out-of-sample test -> tables, comparison with the paper, plots, MLflow metrics.
"""

from __future__ import annotations

import pandas as pd

from evgrid.compute import ComputeSettings
from evgrid.studies.tariff import audit, plots, report
from evgrid.studies.tariff.config import TariffConfig
from evgrid.studies.tariff.system import TariffSystem, build_system


def build_coupled_system(params: dict, raw_load: list, raw_weather: list, raw_prices_dam: list
                         ) -> tuple[TariffSystem, dict, pd.DataFrame]:
    """Parse ``params:tariff`` once and build the traffic network, feeder, forecasts and held-out days."""
    cfg = TariffConfig.from_params(params)
    system = build_system(cfg, raw_load, raw_weather, raw_prices_dam)
    info = dict(system.info) | {"price_usd_per_kwh": [float(x) for x in system.price_usd_per_kwh],
                                "station_bus": system.station_bus, "line_limit_kw": system.line_limit_kw}
    links = system.traffic.links.copy()
    return system, info, links


def solve_cases(system: TariffSystem, params_compute: dict) -> dict:
    """Uncontrolled response, DSO sweep over (perturbation, Gamma), aggregators' response and feeder checks,
    fanned out on evgrid.compute (``params:compute``)."""
    return report.run_cases(system, ComputeSettings.from_params(params_compute))


def case_tables(system: TariffSystem, cases: dict):
    """tariffs.csv, cost_vs_gamma.csv, line flows, EV flows per arc, station energy, iterations, paths."""
    cost = report.cost_vs_gamma_table(system, cases)
    return (report.tariffs_table(cases), cost, report.line_flows_table(system, cases), report.ev_flows_table(cases),
            report.station_energy_table(cases), cases["iterations"], cases["paths"])


def compare_with_paper(system: TariffSystem, cases: dict, cost_vs_gamma: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Paper comparison + shape checks, with the audits (hand-recomputed tariff, sensitivity to ``w``)."""
    checks = report.shape_checks(system, cases, cost_vs_gamma) | audit.audits(system)
    return report.paper_comparison(system, cases), checks | {"timings": cases["timings"]}


def evaluate_out_of_sample(system: TariffSystem, cases: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Box draws and held-out real days (robust vs deterministic), plus the violation-risk vs Gamma curve."""
    return report.out_of_sample_with_curve(system, cases)


def plot_figures(tariffs: pd.DataFrame, cost_vs_gamma: pd.DataFrame, line_flows: pd.DataFrame):
    return plots.tariff_heatmaps(tariffs), plots.cost_vs_gamma(cost_vs_gamma), plots.line_loading(line_flows)


def log_metrics(comparison: pd.DataFrame, shape: dict, oos_summary: pd.DataFrame) -> dict:
    """Key numbers as MLflow metrics."""
    out = {}
    for _, r in comparison[comparison["hour"].isna()].iterrows():
        out[f"{r['quantity']}.{r['case']}".replace("/", "_over_")] = float(r["ours"])
    for key in ("uncontrolled_max_loading_pct", "deterministic_response_max_loading_pct",
                "robust_response_max_loading_pct", "deterministic_response_ac_max_loading_pct",
                "robust_response_ac_max_loading_pct", "ac_v_min_pu"):
        out[key] = float(shape[key])
    for k, v in shape["timings"].items():
        out[f"time.{k}"] = float(v)
    for _, r in oos_summary.iterrows():
        if str(r["source"]).startswith("gamma_curve") and not bool(r.get("tuned", False)):
            continue  # the whole curve is in out_of_sample.csv; the metrics keep the tuned Gamma's rows
        case = str(r["case"]).split(" ")[0].replace("=", "_")
        src = str(r["source"]).replace(":", "_")
        out[f"oos.{src}.{case}.p_violation"] = float(r["p_violation"])
        out[f"oos.{src}.{case}.expected_cost_usd"] = float(r["expected_cost_usd"])
    return {k: {"value": v, "step": 0} for k, v in out.items()}

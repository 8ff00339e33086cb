"""tariff pipeline end to end (spaceflights style): SequentialRunner on the real raw files, small sweep.

Needs only the embedded raw files (NYISO load, one NSRDB year, NYISO DAM prices) and the core.
"""

import glob
from pathlib import Path

import plotly.graph_objects as go
import pytest
import yaml
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from evgrid.pipelines.tariff import create_pipeline
from tests.project_helpers import KeptDataset

ROOT = Path(__file__).resolve().parents[3]
RAW = ROOT / "data" / "01_raw"


@pytest.fixture(scope="module")
def outputs():
    params = yaml.safe_load((ROOT / "conf" / "base" / "parameters_tariff.yml").read_text())["tariff"]
    params["feeder"]["case_path"] = str(RAW / "grids" / "case17me.m")
    params["uncertainty"]["gamma_sweep"] = [0.0, 1.0]
    params["uncertainty"]["perturbation_sweep_pct"] = [10]
    params["out_of_sample"]["n_box_samples"] = 30
    params["aggregators"]["max_iterations"] = 1
    params["w_sensitivity_usd_per_veh_h"] = [3.8]
    pipe = create_pipeline()
    catalog = DataCatalog({name: KeptDataset() for name in pipe.datasets()})
    catalog["params:tariff"] = params
    catalog["params:compute"] = {"scheduler": "sync", "progress": False}  # in-process: no cluster in tests
    catalog["raw_load"] = [str(RAW / "nyiso" / "nyiso_total_load_5min_2016.csv")]
    catalog["raw_weather"] = sorted(glob.glob(str(RAW / "irradiance" / "*_2016.csv")))
    catalog["raw_prices_dam"] = [str(RAW / "nyiso" / "20220718damlbmp_zone.csv")]
    SequentialRunner().run(pipe, catalog)
    return {name: catalog.load(name) for name in pipe.datasets() if not name.startswith("params:")}


def test_tariff_outputs_and_the_papers_shape(outputs):
    tariffs = outputs["tariff_tariffs"]
    assert {"case", "gamma", "station", "hour", "tariff_usd_per_kwh", "congestion_usd_per_kwh",
            "voltage_usd_per_kwh"} <= set(tariffs.columns)
    assert set(tariffs["station"]) == {f"F{i}" for i in range(1, 9)} and tariffs["hour"].nunique() == 24
    cost = outputs["tariff_cost_vs_gamma"]
    assert {"perturbation_pct", "gamma", "total_cost_usd", "travel_time_cost_usd", "charging_cost_usd",
            "max_line_loading_pct"} <= set(cost.columns)
    c = cost[cost.perturbation_pct == 10].sort_values("gamma")["total_cost_usd"].to_numpy()
    assert (c[1:] >= c[:-1] - 1e-6).all()
    shape = outputs["tariff_shape_checks"]
    assert shape["uncontrolled_max_loading_pct"] > 100.0  # congestion without control, as in the paper
    assert shape["robust_mean_tariff_above_deterministic_at_congested_hours"]
    assert shape["deterministic_response_max_loading_pct"] <= 101.0
    assert shape["robust_response_ac_max_loading_pct"] <= 102.0


def test_out_of_sample_and_comparison(outputs):
    oos = outputs["tariff_oos_summary"]
    box = oos[oos.source == "box"].set_index("case")
    assert box.loc["robust", "p_violation"] <= box.loc["deterministic", "p_violation"]
    comp = outputs["tariff_paper_comparison"]
    assert {"paper", "ours"} <= set(comp.columns)
    assert comp.loc[comp.quantity == "cost_ratio_robust_over_deterministic", "ours"].iloc[0] >= 1.0
    assert all(isinstance(outputs[f"tariff_fig_{n}"], go.Figure) for n in ("tariff_heatmap", "cost_vs_gamma",
                                                                             "line_loading"))
    assert all(v["step"] == 0 for v in outputs["tariff_metrics"].values())
    # issue 26: the hand-recomputed tariff (finite differences of the DSO optimum) equals the dual
    hand = outputs["tariff_shape_checks"]["hand_check"]
    assert hand["finite_difference_usd_per_kwh"] == pytest.approx(hand["tariff_from_duals_usd_per_kwh"], rel=1e-3)
    assert {r["box"] for r in outputs["tariff_shape_checks"]["w_sensitivity"]} == {"paper 10 %", "data box"}
    curve = oos[oos.source == "gamma_curve:heldout_days"].sort_values("gamma")
    assert len(curve) == 2 and curve["p_violation"].iloc[-1] <= curve["p_violation"].iloc[0]
    assert oos[oos.source == "gamma_curve:train_days"]["n_days"].min() >= 20  # June days shape the box

"""dro pipeline end to end (spaceflights style): SequentialRunner on a small DataCatalog.

Feature frames are cut from the raw files (conftest) and the GAN scenario frames are in the GAN schema,
built from real July weekdays with noise, so the test needs neither an ingest nor a gan run.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from evgrid.pipelines.dro import create_pipeline
from evgrid.pipelines.dro import nodes as dro_nodes


class _KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so every intermediate output can be inspected."""

    def _release(self) -> None:
        pass


@pytest.fixture(scope="module")
def small_params(dro_params):
    p = {**dro_params}
    p["aggregate_steps"] = 8  # 12 steps of 2 h
    p["scenarios"] = {**p["scenarios"], "n_real_days": 18, "n_nominal": 3, "n_gan_atoms": 2, "max_gan_support": 20,
                      "max_gan_test": 6}
    p["robust"] = {**p["robust"], "radii": [0.0, 0.3], "cv_folds": 2}
    p["evaluation"] = {"oos_batch": 6}
    p["network"] = {**p["network"], "case_path": str(Path(__file__).resolve().parents[3]
                                                     / "data" / "01_raw" / "grids" / "case33bw.m")}
    return p


@pytest.fixture(scope="module")
def outputs(features, gan_frames, small_params, pv_system):
    data = {**features, "traffic.scenarios": gan_frames["traffic"], "pv.scenarios": gan_frames["pv"],
            "price.scenarios": gan_frames["price"], "params:dro": small_params,
            "params:dro.network": small_params["network"],
            "params:gan.families.pv.pv_system": pv_system, "params:step_minutes": 15}
    catalog = DataCatalog({k: MemoryDataset(v) for k, v in data.items()})
    pipe = create_pipeline()
    for name in pipe.outputs() | {d for n in pipe.nodes for d in n.outputs}:
        catalog[name] = _KeptDataset()
    SequentialRunner().run(pipe, catalog)
    return {name: catalog.load(name) for name in pipe.all_outputs()}


def test_every_method_is_evaluated_out_of_sample(outputs):
    met = outputs["dro_oos_metrics"]
    assert set(met["method"]) == {"deterministic", "saa", "dro_r0", "dro_r0.3"}
    assert set(met["test_set"]) == {"real_heldout", "gan_fresh"}
    assert (met["cvar95_cost_usd"] >= met["expected_cost_usd"] - 1e-6).all()
    # radius 0 is the sample average: identical first stage, identical out-of-sample costs
    saa = met[met["method"] == "saa"].set_index("test_set")["expected_cost_usd"]
    r0 = met[met["method"] == "dro_r0"].set_index("test_set")["expected_cost_usd"]
    pd.testing.assert_series_equal(saa, r0, rtol=1e-3, check_names=False)  # up to degenerate optima
    rec = outputs["dro_recourse_summary"]
    assert len(rec) == met["n_scenarios"].sum()


def test_worst_case_weights_are_distributions_and_radius_is_from_the_grid(outputs):
    wc = outputs["dro_worst_case_weights"]
    sums = wc.groupby("method")["worst_case_weight"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-6)
    at0 = wc[wc["method"] == "dro_r0"]
    np.testing.assert_allclose(at0["worst_case_weight"], at0["nominal_probability"], atol=1e-6)
    assert outputs["dro_radius_selected"] in (0.0, 0.3)
    assert set(outputs["dro_radius_cv"]["radius"]) == {0.0, 0.3}
    ins = outputs["dro_in_sample"].set_index("method")
    assert ins.loc["dro_r0.3", "worst_case_cost"] >= ins.loc["dro_r0", "worst_case_cost"] - 1e-6


def test_reports_schedules_kpis_and_ac_check(outputs, small_params):
    kpis = outputs["dro_kpis"].set_index("kpi")
    for k in ("voltage_deviation_pu", "peak_losses_kw", "lane_utilisation_at_peak", "driver_savings_usd_per_km",
              "renewable_share", "emissions_t_co2_per_day"):
        assert np.isfinite(kpis.loc[k, "ours"])
    assert kpis.loc["lane_utilisation_at_peak", "paper"] == 0.95
    assert 0 <= kpis.loc["renewable_share", "ours"] <= 1
    assert outputs["dro_ac_summary"]["ac_loss_kw_max"] > 0
    units = outputs["dro_unit_schedules"]
    assert len(units) == 4 * 10 * 12 + 10 * 12  # (det, saa, 2 radii) + dro_auto, 10 units x 12 steps
    lanes = outputs["dro_lane_allocations"]
    assert (lanes["alloc_kw"] <= 500.0 + 1e-6).all()
    cb = outputs["dro_cost_breakdown"]
    assert {"generation", "lanes", "maintenance", "losses", "penalties"} <= set(cb["category"])
    for name in ("traffic_per_lane", "generation_mix", "lane_utilisation", "voltage_vs_load", "losses",
                 "oos_vs_radius"):
        assert isinstance(outputs[f"dro_fig_{name}"], go.Figure)
    assert all(np.isfinite(v["value"]) for v in outputs["dro_metrics"].values())


def test_bad_parameters_and_scenarios_are_rejected(features, gan_frames, small_params, pv_system):
    args = [features[k] for k in ("traffic_daily", "weather_daily", "price_daily", "load_daily")]
    gan = [gan_frames[k] for k in ("traffic", "pv", "price")]
    with pytest.raises(ValueError, match="dro.robust.radii"):
        dro_nodes.prepare_scenarios(*args, *gan, {**small_params, "robust": {**small_params["robust"],
                                                                               "radii": [0.1, -0.2]}}, pv_system, 15)
    with pytest.raises(ValueError, match="dro.robust.radius"):
        dro_nodes.prepare_scenarios(*args, *gan, {**small_params, "robust": {**small_params["robust"],
                                                                               "radius": "big"}}, pv_system, 15)
    short = gan_frames["price"][gan_frames["price"]["step"] < 48]
    with pytest.raises(ValueError, match="price.scenarios.*mismatched scenario length"):
        dro_nodes.prepare_scenarios(*args, gan[0], gan[1], short, small_params, pv_system, 15)
    wrong_unit = gan_frames["traffic"].assign(unit="veh/day")
    with pytest.raises(ValueError, match="traffic.scenarios.*unit"):
        dro_nodes.prepare_scenarios(*args, wrong_unit, gan[1], gan[2], small_params, pv_system, 15)
    fewer = gan_frames["pv"][gan_frames["pv"]["scenario_id"] < 30]
    with pytest.raises(ValueError, match="do not pair up"):
        dro_nodes.prepare_scenarios(*args, gan[0], fewer, gan[2], small_params, pv_system, 15)
    bad_lane = {**small_params, "lanes": [*small_params["lanes"][:1], {**small_params["lanes"][1], "bus": 40}]}
    sets, _ = dro_nodes.prepare_scenarios(*args, *gan, small_params, pv_system, 15)
    network = dro_nodes.load_network(small_params["network"])
    with pytest.raises(ValueError, match=r"parameter 'lanes'.*\[40\]"):
        dro_nodes.build_atoms(network, sets, bad_lane, 15)


def test_missing_gan_scenarios_name_the_file_and_the_command(tmp_path):
    from kedro_datasets.pandas import ParquetDataset

    from evgrid.hooks import MissingUpstreamInputError, UpstreamInputsHook

    catalog = DataCatalog({"traffic.scenarios": ParquetDataset(filepath=str(tmp_path / "traffic.parquet")),
                           "pv.scenarios": MemoryDataset(pd.DataFrame()), "price.scenarios": MemoryDataset(pd.DataFrame())})
    with pytest.raises(MissingUpstreamInputError, match=r"traffic.scenarios.*traffic.parquet.*--pipeline=gan"):
        UpstreamInputsHook().before_pipeline_run({}, create_pipeline(), catalog)

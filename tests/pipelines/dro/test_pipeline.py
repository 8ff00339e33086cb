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
from tests.pipelines.dro.conftest import joint_features, joint_like_frame
from tests.project_helpers import KeptDataset


@pytest.fixture(scope="module")
def small_params(dro_params):
    p = {**dro_params}
    p["aggregate_steps"] = 8  # 12 steps of 2 h
    p["day_type"] = {"months": [6, 7, 8], "weekend": False}
    p["scenarios"] = {**p["scenarios"], "n_train_days": 18, "max_test_days": 8, "n_nominal": 3, "n_gan_atoms": 2,
                      "max_gan_support": 20, "max_gan_test": 6, "generator": "gan"}
    p["robust"] = {**p["robust"], "radii": [0.0, 0.3, 0.6], "report_radii": [0.0, 0.3], "cv_folds": 2}
    p["evaluation"] = {**p["evaluation"], "oos_batch": 6}
    p["network"] = {**p["network"], "case_path": str(Path(__file__).resolve().parents[3]
                                                     / "data" / "01_raw" / "grids" / "case33bw.m")}
    return p


# the test features cover summers only (weather 2015-2016): fixed cut-offs keep test days on every record
SPLIT = {"test_fraction": 0.2, "test_start": {"traffic_daily": "2016-08-01", "weather_daily": "2016-08-01",
                                              "price_daily": "2019-08-12", "load_daily": "2016-08-01"}}


@pytest.fixture(scope="module")
def outputs(features, gan_frames, small_params, pv_system):
    joint = joint_features(features)
    data = {**features, "traffic.scenarios": gan_frames["traffic"], "pv.scenarios": gan_frames["pv"],
            "price.scenarios": gan_frames["price"], "params:dro": small_params,
            "joint_daily": joint, "joint.scenarios": joint_like_frame(joint, 60, 5),
            "joint.gan_holdout_info": {"test_start": "2016-08-01"}, "price.gan_holdout_info": {"test_start": "2019-08-12"},
            "params:dro.network": small_params["network"],
            "params:pv_system": pv_system, "params:step_minutes": 15, "params:split": SPLIT,
            "params:compute": {"scheduler": "sync", "progress": False}}
    catalog = DataCatalog({k: MemoryDataset(v) for k, v in data.items()})
    pipe = create_pipeline()
    for name in pipe.outputs() | {d for n in pipe.nodes for d in n.outputs}:
        catalog[name] = KeptDataset()
    SequentialRunner().run(pipe, catalog)
    return {name: catalog.load(name) for name in pipe.all_outputs()}


def test_every_method_is_evaluated_out_of_sample(outputs):
    met = outputs["dro_oos_metrics"]
    assert set(met["method"]) == {"deterministic", "saa", "saa_all_days", "dro_r0", "dro_r0.3"}
    assert set(met["test_set"]) == {"real_heldout", "gan_fresh"}
    assert (met["cvar95_cost_usd"] >= met["expected_cost_usd"] - 1e-6).all()
    # radius 0 is the sample average: the DRO objective is (1 + w) x SAA's, up to the reported gaps
    ins = outputs["dro_in_sample"].set_index("method")
    w = 0.1
    tol = ins.loc["saa", "mip_gap"] + ins.loc["dro_r0", "mip_gap"] + 1e-3
    assert abs(ins.loc["dro_r0", "objective"] / (1 + w) / ins.loc["saa", "objective"] - 1) <= tol
    rec = outputs["dro_recourse_summary"]
    assert len(rec) == met["n_scenarios"].sum()


def test_worst_case_weights_are_distributions_and_radius_is_from_the_grid(outputs):
    wc = outputs["dro_worst_case_weights"]
    sums = wc.groupby("method")["worst_case_weight"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-6)
    at0 = wc[wc["method"] == "dro_r0"]
    np.testing.assert_allclose(at0["worst_case_weight"], at0["nominal_probability"], atol=1e-6)
    assert outputs["dro_radius_selected"] in (0.0, 0.3, 0.6)
    assert set(outputs["dro_radius_cv"]["radius"]) == {0.0, 0.3, 0.6}
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
    n_methods = len(outputs["dro_first_stages"])  # det, saa, saa_all_days, report radii (+ CV radius), dro_auto
    assert len(units) == n_methods * 10 * 12  # 10 units x 12 steps
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
                                                                               "radii": [0.1, -0.2]}}, pv_system, 15, SPLIT)
    with pytest.raises(ValueError, match="dro.robust.radius"):
        dro_nodes.prepare_scenarios(*args, *gan, {**small_params, "robust": {**small_params["robust"],
                                                                               "radius": "big"}}, pv_system, 15, SPLIT)
    short = gan_frames["price"][gan_frames["price"]["step"] < 48]
    with pytest.raises(ValueError, match="price.scenarios.*mismatched scenario length"):
        dro_nodes.prepare_scenarios(*args, gan[0], gan[1], short, small_params, pv_system, 15, SPLIT)
    wrong_unit = gan_frames["traffic"].assign(unit="veh/day")
    with pytest.raises(ValueError, match="traffic.scenarios.*unit"):
        dro_nodes.prepare_scenarios(*args, wrong_unit, gan[1], gan[2], small_params, pv_system, 15, SPLIT)
    fewer = gan_frames["pv"][gan_frames["pv"]["scenario_id"] < 30]
    with pytest.raises(ValueError, match="do not pair up"):
        dro_nodes.prepare_scenarios(*args, gan[0], fewer, gan[2], small_params, pv_system, 15, SPLIT)
    bad_lane = {**small_params, "lanes": [*small_params["lanes"][:1], {**small_params["lanes"][1], "bus": 40}]}
    sets, _, _ = dro_nodes.prepare_scenarios(*args, *gan, small_params, pv_system, 15, SPLIT)
    network = dro_nodes.load_network(small_params["network"])
    with pytest.raises(ValueError, match=r"parameter 'lanes'.*\[40\]"):
        dro_nodes.build_atoms(network, sets, bad_lane, 15)


def test_missing_gan_scenarios_name_the_file_and_the_command(tmp_path):
    from kedro_datasets.pandas import ParquetDataset

    from evgrid.hooks import MissingUpstreamInputError, UpstreamInputsHook

    catalog = DataCatalog({"traffic.scenarios": ParquetDataset(filepath=str(tmp_path / "traffic.parquet")),
                           "pv.scenarios": MemoryDataset(pd.DataFrame()), "price.scenarios": MemoryDataset(pd.DataFrame())})
    with pytest.raises(MissingUpstreamInputError, match=r"traffic.scenarios.*traffic.parquet.*--pipelines=gan"):
        UpstreamInputsHook().before_pipeline_run({}, create_pipeline(), catalog)


def test_no_test_date_is_a_training_date_of_any_record_or_atom(outputs):
    """Leakage (issue 13 item 3), checked on the dataset the pipeline writes: every date a held-out day
    uses is on/after its record's cut-off (the shared split, the gan generators train before it) and never
    one a training day or a nominal atom uses."""
    dates = outputs["dro_split_dates"]
    info = outputs["dro_scenario_info"]
    train, test = dates[dates["set"] == "real_train"], dates[dates["set"] == "real_test"]
    assert len(test["day"].unique()) >= 5 and len(train["day"].unique()) == 18
    for record, cut in SPLIT["test_start"].items():
        if record == "load_daily":
            continue
        assert info[f"cutoff_{record}"] == cut
        assert (train[train["record"] == record]["date"] < pd.Timestamp(cut)).all()
        assert (test[test["record"] == record]["date"] >= pd.Timestamp(cut)).all()
        assert not set(train[train["record"] == record]["date"]) & set(test[test["record"] == record]["date"])
    atoms = outputs["dro_support_atoms"]
    nominal_days = atoms.loc[atoms["source"] == "real", "train_day"].to_numpy()
    atom_dates = set(train[train["day"].isin(nominal_days)]["date"])
    assert not atom_dates & set(test["date"])
    # traffic and weather of a joint day are co-temporal
    for _part, d in dates.groupby(["set", "day"]):
        assert d[d["record"] == "traffic_daily"]["date"].iloc[0] == d[d["record"] == "weather_daily"]["date"].iloc[0]


def test_commitment_is_integer_and_losses_are_charged(outputs):
    for name, fs in outputs["dro_first_stages"].items():
        u = fs["first_stage"].commitment
        assert np.array_equal(u, np.round(u)), f"{name}: fractional commitment"
    met = outputs["dro_oos_metrics"]
    assert met["integer_commitment"].all()
    assert (met["solver_status"].isin(["optimal", "feasible"])).all()
    rec = outputs["dro_recourse_summary"]
    assert (rec["loss_cost_usd"] > 0).all()
    np.testing.assert_allclose(rec["total_cost_usd"], rec["first_stage_cost_usd"] + rec["recourse_cost_usd"]
                               + rec["loss_cost_usd"], rtol=1e-9)
    cb = outputs["dro_cost_breakdown"]
    assert cb.loc[cb["category"] == "losses", "usd_per_day"].iloc[0] > 0
    # the paired comparison against SAA is reported with a CI that contains its mean
    d = met[met["method"] == "dro_r0.3"].iloc[0]
    assert d["diff_vs_saa_ci_lo_usd"] <= d["diff_vs_saa_usd"] <= d["diff_vs_saa_ci_hi_usd"]


def test_wind_units_produce_under_the_paper_band(outputs):
    rec = outputs["dro_recourse_summary"]
    assert (rec["wind_used_kwh"] > 0).mean() > 0.9
    steps = outputs["dro_step_results"]
    assert steps["wind_kw"].max() > 0


def test_validate_params_names_the_parameter(dro_params):
    from evgrid.runtime.validation import ConfigError
    from evgrid.studies.dro.config import validate_params

    validate_params({"dro": dro_params})
    bad = {**dro_params, "network": {**dro_params["network"], "v_min_pu": 1.06}}
    with pytest.raises(ConfigError, match=r"dro\.network\.v_min_pu.*dro\.network\.v_max_pu"):
        validate_params({"dro": bad})

"""backtest pipeline end to end (SequentialRunner, in-process ``compute.scheduler: sync``) on 3 real held-out
days: every method on every date, no test date shapes a decision (checked on the datasets the pipeline
writes), and the per-day evaluation is the dro study's out-of-sample evaluation of the same first stage.

Features are cut from the raw files (conftest: summers, weather 2015-2016, prices 2019), with fixed
cut-offs so that August 2016 weekdays are the test dates; a tiny dro config (12 steps, 3 atoms, 6 days).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from evgrid.pipelines.dro.backtest import create_pipeline, validate_params
from evgrid.scenarios.split import SplitConfig, first_test_day
from evgrid.studies.dro import backtest as bt
from evgrid.studies.dro import runs
from evgrid.studies.dro.config import DroConfig
from evgrid.studies.dro.scenarios import RawScenarios
from evgrid.studies.dro.system import make_system, to_model_data
from tests.project_helpers import KeptDataset

SPLIT = {"test_fraction": 0.2, "test_start": {"traffic_daily": "2016-08-01", "weather_daily": "2016-08-01",
                                              "price_daily": "2019-08-12", "load_daily": "2016-08-01"}}
BACKTEST = {"seed": 7, "n_days": 3, "n_train_days": 6, "month_window": 1, "bootstrap_samples": 200}
RADIUS = 0.3


@pytest.fixture(scope="module")
def dro_small(dro_params):
    p = {**dro_params}
    p["aggregate_steps"] = 8  # 12 steps of 2 h
    p["scenarios"] = {**p["scenarios"], "n_nominal": 3}
    p["evaluation"] = {**p["evaluation"], "oos_batch": 1}
    p["network"] = {**p["network"], "case_path": str(Path(__file__).resolve().parents[3]
                                                     / "data" / "01_raw" / "grids" / "case33bw.m")}
    return p


@pytest.fixture(scope="module")
def outputs(features, dro_small, pv_system):
    data = {**features, "params:backtest": BACKTEST, "params:dro": dro_small, "params:dro.network": dro_small["network"],
            "params:split": SPLIT, "params:pv_system": pv_system, "params:step_minutes": 15,
            "params:compute": {"scheduler": "sync", "progress": False}, "dro_radius_selected": RADIUS}
    catalog = DataCatalog({k: MemoryDataset(v) for k, v in data.items()})
    pipe = create_pipeline()
    for name in pipe.all_outputs():
        catalog[name] = KeptDataset()
    SequentialRunner().run(pipe, catalog)
    return {name: catalog.load(name) for name in pipe.all_outputs()}


def test_every_method_is_scored_on_every_test_date(outputs):
    daily, plan = outputs["backtest_daily"], outputs["backtest_plan"]
    dates = [t["date"] for t in plan["tasks"]]
    assert dates == ["2016-08-01", "2016-08-02", "2016-08-03"]  # the first held-out weekdays, in order
    assert len(daily) == len(dates) * len(bt.METHODS)
    assert set(zip(daily["date"].dt.strftime("%Y-%m-%d"), daily["method"], strict=True)) == {
        (d, m) for d in dates for m in bt.METHODS}
    np.testing.assert_allclose(daily["total_cost_usd"], daily["first_stage_cost_usd"] + daily["recourse_cost_usd"]
                               + daily["loss_cost_usd"], rtol=1e-9)
    assert daily["integer_commitment"].all()
    assert (daily.loc[daily["method"] == "dro_cv", "radius"] == RADIUS).all()
    assert (daily["lane_unserved_kwh"] >= -1e-6).all() and daily["n_voltage_violations"].notna().all()
    assert outputs["backtest_run_info"]["radius_source"].startswith("dro pipeline cross-validation")


def test_summary_and_paired_differences_follow_the_daily_table(outputs):
    daily, summary, paired = outputs["backtest_daily"], outputs["backtest_summary"], outputs["backtest_paired"]
    s = summary.set_index("method")
    assert (s["cvar95_cost_usd"] >= s["mean_cost_usd"] - 1e-9).all()
    assert (s["n_days"] == 3).all()
    wide = daily.pivot_table(index="date", columns="method", values="total_cost_usd")
    row = paired[(paired["method"] == "dro_cv") & (paired["baseline"] == "saa")].iloc[0]
    d = wide["dro_cv"] - wide["saa"]
    assert row["mean_diff_usd"] == pytest.approx(d.mean())
    assert row["t_ci_lo_usd"] <= row["mean_diff_usd"] <= row["t_ci_hi_usd"]
    assert d.min() - 1e-9 <= row["boot_ci_lo_usd"] <= row["boot_ci_hi_usd"] <= d.max() + 1e-9
    assert outputs["backtest_metrics"]["dro_cv_mean_cost_usd"]["value"] == pytest.approx(s.loc["dro_cv", "mean_cost_usd"])
    fig = outputs["backtest_fig_daily_cost"]
    assert isinstance(fig, go.Figure) and len(fig.data) >= len(bt.METHODS) + 1
    rows = bt.summary_rows(lambda name: outputs.get(name))
    assert any("dro_cv - saa" in r["figure"] for r in rows)


def test_test_dates_never_train_anything(outputs, features):
    """On the written datasets: every date that shapes a decision (training draws, their price days, the
    load shape, the metric's reference pool, the atoms) lies before its record's cut-off; test dates and
    their price days on/after it; no test date of a record is a training date of that record."""
    dates, plan, fs = outputs["backtest_split_dates"], outputs["backtest_plan"], outputs["backtest_first_stages"]
    split = SplitConfig.from_params(SPLIT)
    cut = {rec: first_test_day(features[rec]["date"], split, rec)
           for rec in ("traffic_daily", "weather_daily", "price_daily", "load_daily")}
    day = dates["date"].to_numpy("datetime64[D]")
    used = dates["set"].isin(["train", "reference"]).to_numpy()
    assert set(dates["set"]) == {"train", "reference", "test"}
    for rec, c in cut.items():
        mine = (dates["record"] == rec).to_numpy()
        assert (day[used & mine] < c).all(), rec
        if rec != "load_daily":
            assert (day[~used & mine] >= c).all(), rec
        assert not set(day[~used & mine]) & set(day[used & mine]), rec
    test = dates[dates["set"] == "test"]
    co = test[test["record"].isin(["traffic_daily", "weather_daily"])]
    assert (co["date"] == co["test_date"]).all()  # traffic and weather of the test date itself (co-temporal)
    for t in plan["tasks"]:
        assert t["date"] not in t["train_dates"]
        assert set(fs[t["date"]]["atom_dates"]) <= set(t["train_dates"])
        assert all(np.datetime64(d) < min(cut["traffic_daily"], cut["weather_daily"]) for d in t["train_dates"])


def test_per_day_evaluation_is_the_dro_out_of_sample_evaluation(outputs, dro_small):
    """The backtest's score of a first stage on a date = :func:`evgrid.studies.dro.runs.evaluate_out_of_sample`
    of the same first stage on the same real day (same system, same cost terms, AC losses included)."""
    plan, fs, daily = outputs["backtest_plan"], outputs["backtest_first_stages"], outputs["backtest_daily"]
    cfg = DroConfig.from_params(dro_small)
    task = plan["tasks"][1]
    entry = fs[task["date"]]
    sysm = make_system(outputs["backtest_network"], cfg, entry["load_profile"], 15)
    day, _ = to_model_data(task["test"], sysm, cfg)
    methods = {m: {"first_stage": entry["first_stages"][m], "radius": np.nan} for m in ("saa", "dro_cv")}
    summary, _, _ = runs.evaluate_out_of_sample(
        methods, {"system": sysm, "data": day}, {"real_test": RawScenarios(task["test"], [task["date"]], "real_test")},
        cfg)
    ours = daily[daily["date"] == pd.Timestamp(task["date"])].set_index("method")
    for _, r in summary.iterrows():
        for col in ("total_cost_usd", "recourse_cost_usd", "loss_cost_usd", "lane_unserved_kwh", "load_shed_kwh"):
            assert ours.loc[r["method"], col] == pytest.approx(r[col], rel=1e-7, abs=1e-6), (r["method"], col)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="backtest: month_window"):
        validate_params({"backtest": {"month_window": 9}})
    with pytest.raises(ValueError, match="backtest: unknown parameters"):
        validate_params({"backtest": {"n_dayz": 3}})
    with pytest.raises(ValueError, match="radius"):
        validate_params({"backtest": {"radius": "auto"}})


def test_the_dro_block_it_operates_is_checked_before_any_node(dro_params):
    from evgrid.runtime.validation import ConfigError

    validate_params({"backtest": BACKTEST, "dro": dro_params})
    bad = {**dro_params, "network": {**dro_params["network"], "v_min_pu": 1.2}}
    with pytest.raises(ConfigError, match="dro.network.v_min_pu"):
        validate_params({"backtest": BACKTEST, "dro": bad})

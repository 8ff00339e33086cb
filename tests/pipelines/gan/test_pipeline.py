"""gan pipeline end to end (spaceflights style): SequentialRunner on a small in-memory DataCatalog.

Feature frames follow the ingest contract (docs/architecture.md) and are synthetic, so the test needs no
prior ingest run; training is cut to a few dozen iterations (the CV and scenario plumbing is what is
tested here; learning is tested in tests/scenarios).
"""

import copy
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from evgrid.data.features import joint_daily
from evgrid.pipelines.gan import create_pipeline
from evgrid.pipelines.gan.pipeline import FAMILIES
from evgrid.scenarios.errors import ScenarioDataError
from evgrid.scenarios.split import SplitConfig, first_test_day
from tests.project_helpers import KeptDataset
from tests.scenarios import synthetic

ROOT = Path(__file__).resolve().parents[3]


def _params() -> dict:
    gan = yaml.safe_load((ROOT / "conf" / "base" / "parameters_gan.yml").read_text())["gan"]
    gan = copy.deepcopy(gan)
    gan["progress_bar"] = False
    gan["training"].update(iterations=25, batch_size=32)
    gan["flow"].update(iterations=25, hidden=16, max_dim=6)
    gan["holdout"].update(samples_per_day=20, n_boot=50)
    gan["sampling"].update(n_scenarios=20, month=7)
    for fam in gan["families"].values():
        fam.setdefault("training", {}).update(iterations=25, g_width=32, d_width=32)
        fam["training"].pop("g_layers", None)
    return gan


def _catalog(gan: dict, price_days: int = 240) -> DataCatalog:
    price = synthetic.profile_daily("lbmp_usd_per_mwh", price_days, 40.0, seed=2, start="2019-01-01")
    price.insert(4, "zone", "N.Y.C.")
    weather = synthetic.weather_daily("2014-01-01", "2014-12-31")
    wind = np.random.default_rng(4).gamma(2.0, 0.5, (len(weather), 96))
    weather = pd.concat([weather, pd.DataFrame(wind, columns=[f"wind_speed_m_per_s_t{i:03d}" for i in range(96)])],
                        axis=1)
    joint = joint_daily({"traffic_daily": (synthetic.profile_daily("flow_veh_per_h", 365, 3000.0, seed=5,
                                                                   start="2014-01-01"), ["flow_veh_per_h"]),
                         "weather_daily": (weather, ["ghi_w_per_m2", "temp_air_c", "wind_speed_m_per_s"])}, 15)
    feats = {
        "weather_daily": weather,
        "joint_daily": joint,
        # gaps, as the I-94 record has: the day after each gap has no previous day (dropped by conditioning)
        "traffic_daily": synthetic.profile_daily("flow_veh_per_h", 365, 3000.0, seed=1).iloc[
            [i for i in range(365) if i >= 100 or i % 2 == 0]].reset_index(drop=True),
        "price_daily": price,
        "ev_session_features": synthetic.ev_sessions(500),
    }
    datasets = {k: MemoryDataset(v) for k, v in feats.items()}
    datasets["params:gan"] = MemoryDataset(gan)
    datasets["params:step_minutes"] = MemoryDataset(15)
    datasets["params:pv_system"] = MemoryDataset(
        yaml.safe_load((ROOT / "conf" / "base" / "parameters_pv.yml").read_text())["pv_system"])
    datasets["params:compute"] = MemoryDataset({"scheduler": "sync", "progress": False})
    datasets["params:split"] = MemoryDataset(
        yaml.safe_load((ROOT / "conf" / "base" / "parameters.yml").read_text())["split"])
    for fam, cfg in gan["families"].items():
        datasets[f"params:gan.families.{fam}"] = MemoryDataset(cfg)
    pipe = create_pipeline()
    for name in pipe.all_outputs():
        datasets.setdefault(name, KeptDataset())
    return DataCatalog(datasets)


@pytest.fixture(scope="module")
def run_outputs():
    gan = _params()
    catalog = _catalog(gan)
    assert mlflow.active_run() is None  # nothing may be logged outside a kedro-mlflow run
    SequentialRunner().run(create_pipeline(), catalog)
    assert mlflow.active_run() is None
    return catalog, gan


def test_scenarios_follow_the_architecture_schema(run_outputs):
    catalog, gan = run_outputs
    n = gan["sampling"]["n_scenarios"]
    expected_vars = {"pv": {"ghi_w_per_m2", "temp_air_c", "pv_kw_per_kwp"}, "traffic": {"flow_veh_per_h"},
                     "price": {"lbmp_usd_per_mwh"},
                     "joint": {"flow_veh_per_h", "ghi_w_per_m2", "temp_air_c", "wind_speed_m_per_s"}}
    for fam, variables in expected_vars.items():
        df = catalog.load(f"{fam}.scenarios")
        assert list(df.columns) == ["scenario_id", "step", "variable", "value", "unit", "label"]
        assert set(df["variable"]) == variables
        assert df["scenario_id"].nunique() == n and set(df["step"]) == set(range(96))
        assert (df["label"] == "month=7,weekend=False").all()
        assert np.isfinite(df["value"]).all()
    times = catalog.load("ev_times.scenarios")
    assert list(times.columns) == ["scenario_id", "arrival_h", "departure_h", "label"]
    assert len(times) == n and (times["departure_h"] > times["arrival_h"]).all()
    dist = catalog.load("ev_distance.scenarios")
    assert list(dist.columns) == ["scenario_id", "distance_km", "label"]
    assert (dist["distance_km"] >= 0).all()
    flows = catalog.load("traffic.scenarios")["value"]
    assert flows.min() >= 0.0


def test_holdout_scores_every_model_on_the_dated_split(run_outputs):
    catalog, gan = run_outputs
    for fam in ("pv", "traffic", "price", "joint", "ev_times", "ev_distance"):
        scores = catalog.load(f"{fam}.gan_holdout_scores")
        info = catalog.load(f"{fam}.gan_holdout_info")
        models = (gan["families"][fam].get("holdout") or {}).get("models", gan["holdout"]["models"])
        assert set(scores["model"]) == set(models)
        assert set(scores["phase"]) == {"validation", "test"}
        cut = np.datetime64(info["test_start"])
        test = scores[scores.phase == "test"]
        assert (test["date"].to_numpy() >= cut).all()
        assert (scores.loc[scores.phase == "validation", "date"].to_numpy() < cut).all()
        assert info["selected"] == info["chosen_by_validation"]  # generator: auto
        paired = pd.DataFrame(info["paired"])
        es = paired[paired.metric == "energy_score"]
        assert es["ci_lo_pct"].notna().sum() == len(set(es.model)) * es.variable.nunique() - es.variable.nunique()
    summary = catalog.load("gan_holdout_summary")
    assert {"family", "variable", "metric", "model", "mean", "rel_diff_pct", "ci_lo_pct"} <= set(summary.columns)
    report = catalog.load("gan_holdout_report")
    assert "## ev_distance" in report and "Spread vs condition" in report


def test_no_training_date_of_any_generator_is_a_test_date(run_outputs):
    catalog, _ = run_outputs
    for fam in ("pv", "traffic", "price", "joint", "ev_times", "ev_distance"):
        bundle = catalog.load(f"{fam}.gan_model")
        info = catalog.load(f"{fam}.gan_holdout_info")
        test_days = set(catalog.load(f"{fam}.gan_holdout_scores").query("phase == 'test'")["date"])
        train_days = set(pd.to_datetime(bundle.train_data.dates).normalize())
        assert train_days and not train_days & {pd.Timestamp(d) for d in test_days}
        assert max(train_days) < pd.Timestamp(info["test_start"])
        # the cut-off is the record's (as dro computes it), not the one of the days left after conditioning
        record = catalog.load(info["record"])
        if "source" in record:
            record = record[record["source"] == "acn"]
        split = yaml.safe_load((ROOT / "conf" / "base" / "parameters.yml").read_text())["split"]
        assert info["test_start"] == str(first_test_day(record["date"], SplitConfig.from_params(split), info["record"]))
        analog = bundle.fitted.models["analog"]
        assert len(analog.values_) == len(bundle.train_data.values)  # the analog pool is the training days


def test_plots_and_models(run_outputs):
    catalog, _ = run_outputs
    for fam in ("pv", "ev_times", "ev_distance"):  # one figure per family and kind: kedro-viz previews each
        figs = [catalog.load(f"{fam}.gan_plot_{kind}") for kind in ("histograms", "scenarios", "loss_curves")]
        assert all(isinstance(f, plt.Figure) for f in figs)
    assert len(catalog.load("pv.gan_plot_scenarios").axes) == 3 * 2  # GHI, temperature, PV: band + paths
    bundle = catalog.load("traffic.gan_model")
    assert bundle.fitted.models["gan"].generator_state is not None
    assert len(bundle.fitted.models["gan"].history["d_loss"]) > 0
    assert catalog.load("traffic.scenario_model")["made_by"] is None  # no MLflow run: nothing registered
    plt.close("all")


def test_too_few_days_for_five_folds_stops_the_run():
    gan = _params()
    catalog = _catalog(gan, price_days=30)
    with pytest.raises(ScenarioDataError, match=r"family 'price': only 30 days"):
        SequentialRunner().run(create_pipeline().only_nodes_with_namespaces(["price"]), catalog)


def test_every_gan_plot_dataset_previews_in_kedro_viz(tmp_path, monkeypatch):
    """kedro-viz calls ``dataset.preview()``: each plot output resolves to one PNG file (a folder raised
    IsADirectoryError)."""
    import base64

    cfg = yaml.safe_load((ROOT / "conf" / "base" / "catalog_gan.yml").read_text())
    monkeypatch.chdir(tmp_path)
    catalog = DataCatalog.from_config(cfg)
    plots = sorted(n for n in create_pipeline().all_outputs() if ".gan_plot_" in n)
    assert len(plots) == 3 * len(FAMILIES)
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    for name in plots:
        catalog.save(name, fig)
        png = base64.b64decode(catalog.get(name).preview())
        assert png.startswith(b"\x89PNG"), name
    plt.close("all")

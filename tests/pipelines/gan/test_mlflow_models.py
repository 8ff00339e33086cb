"""Issue 16: the GAN pipeline's generators as MLflow models. A small `kedro run --pipelines=gan` (two families,
a few dozen iterations, synthetic feature days) on a throw-away project copy with its own MLflow store; then
the registered models are loaded back with ``mlflow.pyfunc.load_model`` / ``mlflow.pytorch.load_model`` and
sampled, and the MLflow run is read as a user sees it (run name, tags, artifacts)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.project_helpers import throwaway_project
from tests.scenarios import synthetic

ROOT = Path(__file__).resolve().parents[3]
FAMILIES = ["traffic", "ev_times"]
N_STEPS = 96

SMALL = {
    "gan": {
        "progress_bar": False,
        "training": {"iterations": 20, "batch_size": 32},
        "flow": {"iterations": 30, "hidden": 16, "max_dim": 6},
        "holdout": {"samples_per_day": 10, "n_boot": 20, "models": ["gan", "copula", "bootstrap"]},
        "sampling": {"n_scenarios": 25},
        "families": {"ev_times": {"training": {"iterations": 20, "g_width": 16, "d_width": 16}}},
    },
    "compute": {"scheduler": "sync", "progress": False},
}


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    p = tmp_path_factory.mktemp("evgrid_gan_mlflow")
    throwaway_project(p)  # conf, pyproject, an absolute MLflow store
    (p / "conf" / "local" / "parameters_small.yml").write_text(yaml.safe_dump(SMALL))
    feat = p / "data" / "04_feature"
    feat.mkdir(parents=True)
    synthetic.profile_daily("flow_veh_per_h", 300, 3000.0, seed=1).to_parquet(feat / "traffic_daily.parquet")
    synthetic.ev_sessions(500).to_parquet(feat / "ev_session_features.parquet")
    mp = pytest.MonkeyPatch()
    mp.chdir(p)
    mp.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    bootstrap_project(p)
    with KedroSession.create(project_path=p) as session:
        session.run(pipeline_names=["gan"], namespaces=FAMILIES)
        catalog = session.load_context().catalog
    yield p, catalog
    mp.undo()


@pytest.fixture(scope="module")
def client(gan_run):
    import mlflow

    project, _ = gan_run
    uri = f"sqlite:///{project / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield mlflow.MlflowClient(uri, uri)
    # set_*_uri also export MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI to os.environ: a later subprocess (the
    # notebook kernel) would otherwise read this test's registry
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        os.environ.pop(var, None)


def test_the_scenarios_name_the_registered_model_that_reproduces_them(gan_run, client):
    import mlflow

    _, catalog = gan_run
    for fam in FAMILIES:
        rec = catalog.load(f"{fam}.scenario_model")
        made = rec["made_by"]
        info = catalog.load(f"{fam}.gan_holdout_info")
        assert made["registered_model"] == f"evgrid-{fam}" and made["version"] == "1"
        assert made["generator"] == info["selected"] and made["reproduces_scenarios"] is True
        mv = client.get_model_version(f"evgrid-{fam}", "1")
        assert mv.tags["generator"] == info["selected"] and mv.tags["family"] == fam
        model = mlflow.pyfunc.load_model(made["model_uri"])
        again = model.predict(pd.DataFrame({"month": [7], "is_weekend": [False], "n_scenarios": [rec["n_scenarios"]],
                                            "seed": [rec["seed"]]}))
        pd.testing.assert_frame_equal(again.drop(columns="request"), catalog.load(f"{fam}.scenarios"))
        if info["selected"] != "gan":  # the GAN is registered beside the selected generator
            assert [r["registered_model"] for r in rec["also_registered"]] == [f"evgrid-{fam}-gan"]


def test_pyfunc_samples_the_requested_shape_within_the_training_range(gan_run, client):
    import mlflow

    _, catalog = gan_run
    traffic = catalog.load("traffic.gan_model").train_data.values
    lo, hi = traffic.min(), traffic.max()
    margin = 0.05 * (hi - lo)  # min-max scaling to [-1, 1] widened by gan.scale_margin = 5 %
    for name in [m.name for m in client.search_registered_models() if m.name.startswith("evgrid-traffic")]:
        model = mlflow.pyfunc.load_model(f"models:/{name}/1")
        assert {"n_scenarios", "month", "date"} <= set(model.metadata.get_input_schema().input_names())
        out = model.predict(pd.DataFrame({"month": [7, 1], "is_weekend": [False, True], "n_scenarios": [17, 4]}))
        assert list(out.columns) == ["request", "scenario_id", "step", "variable", "value", "unit", "label"]
        assert out.groupby("request")["scenario_id"].nunique().tolist() == [17, 4]
        assert len(out) == (17 + 4) * N_STEPS
        assert out["value"].between(max(lo - margin, 0.0), hi + margin).all(), (name, out["value"].describe())
        by_date = model.predict(pd.DataFrame({"date": ["2016-07-14"], "n_scenarios": [5]}))
        assert len(by_date) == 5 * N_STEPS and (by_date["label"] == "month=7,weekend=False").all()
    times = mlflow.pyfunc.load_model("models:/evgrid-ev_times/1").predict(
        pd.DataFrame({"month": [6], "is_weekend": [False], "n_scenarios": [30]}))
    assert list(times.columns) == ["request", "scenario_id", "arrival_h", "departure_h", "label"]
    assert len(times) == 30 and (times["departure_h"] > times["arrival_h"]).all()
    with pytest.raises(Exception, match="no training data for calendar label 'month=1"):
        mlflow.pyfunc.load_model("models:/evgrid-ev_times/1").predict(pd.DataFrame({"month": [1], "n_scenarios": [3],
                                                                                    "is_weekend": [False]}))


def test_the_gan_has_a_pytorch_flavour(gan_run, client):
    import mlflow.pytorch
    import torch

    name = "evgrid-traffic" if client.get_model_version("evgrid-traffic", "1").tags["generator"] == "gan" \
        else "evgrid-traffic-gan"
    sizes = mlflow.models.get_model_info(f"models:/{name}/1").metadata["pytorch_inputs"]
    net = mlflow.pytorch.load_model(f"models:/{name}/1")  # a torch.export graph (pt2, no pickle): sizes from metadata
    z, c = torch.randn(8, sizes["z"][1]), torch.zeros(8, sizes["c"][1])
    x = net(z, c)
    assert x.shape == (8, N_STEPS) and bool((x.abs() <= 1).all())  # tanh output in the scaled space


def test_a_requested_date_is_conditioned_on_the_record(gan_run):
    """The sampler's condition for a training day equals the condition the generators were trained with."""
    from evgrid.scenarios.dayahead import DayAheadConfig
    from evgrid.scenarios.families import build_family_data
    from evgrid.scenarios.mlflow_model import ServingBundle

    project, catalog = gan_run
    gan = yaml.safe_load((project / "conf" / "base" / "parameters_gan.yml").read_text())["gan"]
    pv_system = yaml.safe_load((project / "conf" / "base" / "parameters_pv.yml").read_text())["pv_system"]
    cfg = DayAheadConfig.from_params(gan["conditioning"])
    for fam in FAMILIES:
        fp = gan["families"][fam]
        bundle = catalog.load(f"{fam}.gan_model")
        data = build_family_data(fam, catalog.load(fp["dataset"]), fp, 15, pv_system)  # the record: every day of the feature set
        serving = ServingBundle.build(bundle, bundle.selected, data, cfg, 7)
        days = pd.to_datetime(bundle.train_data.dates).normalize()
        for i in np.linspace(0, len(days) - 1, 7).astype(int):
            q = serving.date_query(days[i], {})
            np.testing.assert_allclose(q.cond[0], bundle.train_cond.values[i], rtol=1e-12, atol=1e-12)
        row = bundle.train_cond.values[0]
        j = bundle.train_cond.names.index(serving.prev_names[0])
        q = serving.date_query(days[0], {serving.prev_names[0]: row[j] + 1.0})  # an explicit column wins
        assert q.cond[0, j] == row[j] + 1.0


def test_mlflow_run_of_the_gan_pipeline(gan_run, client):
    project, _ = gan_run
    exp = client.get_experiment_by_name("evgrid")
    runs = client.search_runs([exp.experiment_id])
    parent = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parent) == 1 and parent[0].info.run_name == "gan (local)" and parent[0].info.status == "FINISHED"
    assert not [v for r in runs for v in r.data.tags.values() if re.search(r"object at 0x", v)]
    nested = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent[0].info.run_id}
    assert set(nested) == {f"gan/{f}" for f in FAMILIES}

    def walk(run_id, path=None):
        for f in client.list_artifacts(run_id, path):
            yield from (walk(run_id, f.path) if f.is_dir else [f.path])

    for fam in FAMILIES:
        run = nested[f"gan/{fam}"]
        arts = list(walk(run.info.run_id))
        assert len(arts) == len(set(arts)) and f"plots/{fam}_histograms.png" in arts, arts
        assert run.data.tags["scenarios.model_uri"] == f"models:/evgrid-{fam}/1"
        figs = [a for a in arts if a.endswith(".json") and "/figures/" in a]
        assert all(f[:-5] + ".html" in arts for f in figs), arts
        models = client.search_logged_models([exp.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")
        assert {m.name for m in models} >= {f"evgrid-{fam}"}

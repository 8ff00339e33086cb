"""dro with the joint scenario generator (issue 13 item 4): real joint days and generated joint scenarios,
and no leakage, checked on what the pipelines write: the joint generator is fitted by the gan pipeline's own
nodes (a cheap model set) on ``joint_daily`` made by the ingest function, then dro's scenario step runs on its
scenarios and holdout info."""

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from evgrid.data.features import daily_matrix
from evgrid.pipelines.gan.nodes import build_training_data, evaluate_generators, sample_scenarios
from evgrid.scenarios.pv import PVSystem, pv_kw_per_kwp
from evgrid.scenarios.split import SplitConfig
from evgrid.studies.dro import scenarios as dro_scenarios
from evgrid.studies.dro.config import DroConfig
from evgrid.studies.dro.scenarios import ScenarioInputError, gan_matrix
from evgrid.studies.dro.system import load_network
from tests.pipelines.dro.conftest import features_from_raw, gan_like_frames, joint_features

ROOT = Path(__file__).resolve().parents[3]
# traffic/weather cut-offs fixed inside the summers the raw cut covers; joint_daily by the default fraction
SPLIT = {"test_fraction": 0.2, "test_start": {"traffic_daily": "2016-07-11", "weather_daily": "2016-07-11",
                                              "price_daily": "2019-08-12", "load_daily": "2016-08-01"}}
N_SCEN = 60


def _yaml(name: str) -> dict:
    return yaml.safe_load((ROOT / "conf" / "base" / f"parameters_{name}.yml").read_text())


@pytest.fixture(scope="module")
def run():
    features = features_from_raw()
    joint = joint_features(features)
    gan = copy.deepcopy(_yaml("gan")["gan"])
    gan["progress_bar"] = False
    gan["holdout"].update(samples_per_day=10, n_boot=20)
    gan["sampling"].update(n_scenarios=N_SCEN)
    fam = copy.deepcopy(gan["families"]["joint"])
    fam["holdout"] = {"models": ["analog", "bootstrap"]}  # the gan pipeline's nodes, a cheap model set
    pv_system = _yaml("pv")["pv_system"]
    data = build_training_data(joint, fam, gan, 15, pv_system, "joint")
    _scores, info, bundle = evaluate_generators(data, fam, gan, SPLIT)
    scen = sample_scenarios(bundle, data, fam, gan)
    price = gan_like_frames(features, N_SCEN, 3, pv_system)["price"]
    p = copy.deepcopy(_yaml("dro")["dro"])
    p["aggregate_steps"] = 8
    p["day_type"] = {"months": [6, 7, 8], "weekend": False}
    p["scenarios"].update(n_train_days=18, max_test_days=30, n_nominal=3, n_gan_atoms=2, max_gan_support=20,
                          max_gan_test=6, generator="joint")
    p["network"]["case_path"] = str(ROOT / "data" / "01_raw" / "grids" / "case33bw.m")
    cfg = DroConfig.from_params(p)
    args = [features[k] for k in ("traffic_daily", "weather_daily", "price_daily", "load_daily")]
    sets, report = dro_scenarios.prepare_scenarios(
        *args, None, None, price, cfg, pv_system, 15, SplitConfig.from_params(SPLIT), joint_daily=joint,
        joint_scenarios=scen, generator_info={"joint": info})
    atoms, table = dro_scenarios.build_atoms(load_network(cfg.network), sets, cfg, 15)
    return {"features": features, "joint": joint, "info": info, "bundle": bundle, "scen": scen, "price": price,
            "sets": sets, "report": report, "atoms": atoms, "table": table, "cfg": cfg, "pv_system": pv_system,
            "args": args}


def test_no_dro_test_date_trains_the_joint_generator_or_a_nominal_atom(run):
    dates, info = run["sets"]["dates"], run["info"]
    test = dates[dates["set"] == "real_test"]
    train = dates[dates["set"] == "real_train"]
    tw = test[test["record"].isin(["traffic_daily", "weather_daily"])]
    assert test["day"].nunique() >= 5 and train["day"].nunique() == 18
    # the generator's actual training days (the fitted bundle the gan pipeline pickles) and its own split
    gen_train = set(pd.to_datetime(run["bundle"].train_data.dates).normalize())
    assert gen_train and not gen_train & set(tw["date"])
    assert (tw["date"] > max(gen_train)).all()
    assert (tw["date"] >= pd.Timestamp(info["test_start"])).all()
    # dro used the generator's first test day as a cut-off (reported), and the record cut-offs
    assert run["report"]["cutoff_joint generator"] == info["test_start"]
    for record, cut in SPLIT["test_start"].items():
        if record != "load_daily":
            assert (test[test["record"] == record]["date"] >= pd.Timestamp(cut)).all()
            assert (train[train["record"] == record]["date"] < pd.Timestamp(cut)).all()
    table = run["table"]
    nominal = table.loc[table["source"] == "real", "train_day"].to_numpy()
    assert not set(train[train["day"].isin(nominal)]["date"]) & set(test["date"])
    # a real joint day takes traffic and weather of the same date
    for _key, d in dates.groupby(["set", "day"]):
        assert d.loc[d["record"] == "traffic_daily", "date"].iloc[0] == d.loc[d["record"] == "weather_daily", "date"].iloc[0]


def test_generated_joint_scenarios_keep_their_channels_together(run):
    """Each support / fresh scenario's flow, wind and PV come from ONE joint scenario (same scenario_id):
    PV through the pvlib chain from that scenario's GHI and temperature at the label's mid-month date."""
    scen = run["scen"]
    mats = {v: gan_matrix(scen, "joint", v)[1] for v in ("flow_veh_per_h", "ghi_w_per_m2", "temp_air_c",
                                                          "wind_speed_m_per_s")}
    ids = gan_matrix(scen, "joint", "flow_veh_per_h")[0]
    price_ids, price = gan_matrix(run["price"], "price", "lbmp_usd_per_mwh")[:2]
    pv = pv_kw_per_kwp(mats["ghi_w_per_m2"], mats["temp_air_c"], np.full(len(ids), np.datetime64("2015-07-15")),
                       PVSystem(**run["pv_system"]))
    n_checked = 0
    for part in ("gan_support", "gan_test"):
        s = run["sets"][part]
        for row in range(s.n):
            # the scenario(s) with this flow (an analog generator may draw the same real day twice) ...
            hit = np.flatnonzero((mats["flow_veh_per_h"] == s.channels["flow_veh_per_h"][row]).all(axis=1))
            # ... one of which also has this wind, PV and (same scenario_id) price
            same = [k for k in hit
                    if np.array_equal(s.channels["wind_speed_m_per_s"][row], mats["wind_speed_m_per_s"][k])
                    and np.allclose(s.channels["pv_kw_per_kwp"][row], pv[k])
                    and np.array_equal(s.channels["lbmp_usd_per_mwh"][row], price[price_ids == ids[k]][0])]
            assert same, f"{part} scenario {row}: channels of different generated days"
            n_checked += 1
    assert n_checked == run["report"]["gan_support"] + run["report"]["gan_test"] > 0
    assert run["report"]["gan_price_pairing"].startswith("independent")
    # the generated support widens the ball; its wind availability is the paper band, not zero
    atoms = run["atoms"]
    assert (run["table"]["source"] == "gan").sum() == 2
    w = atoms["data"].wind_pu[atoms["n_nominal"]:]
    assert w.min() >= 0.4 - 1e-9 and w.max() <= 0.8 + 1e-9 and w.max() > 0.4


def test_joint_generator_inputs_are_required_and_checked(run):
    cfg, args, pv_system = run["cfg"], run["args"], run["pv_system"]
    split = SplitConfig.from_params(SPLIT)
    with pytest.raises(ScenarioInputError, match="joint_daily.*joint.scenarios"):
        dro_scenarios.prepare_scenarios(*args, None, None, run["price"], cfg, pv_system, 15, split)
    no_wind = run["scen"][run["scen"]["variable"] != "wind_speed_m_per_s"]
    with pytest.raises(ScenarioInputError, match="wind_speed_m_per_s"):
        dro_scenarios.prepare_scenarios(*args, None, None, run["price"], cfg, pv_system, 15, split,
                                        joint_daily=run["joint"], joint_scenarios=no_wind)
    fewer = run["price"][run["price"]["scenario_id"] < N_SCEN // 2]
    with pytest.raises(ScenarioInputError, match="do not pair up"):
        dro_scenarios.prepare_scenarios(*args, None, None, fewer, cfg, pv_system, 15, split,
                                        joint_daily=run["joint"], joint_scenarios=run["scen"])
    # a generator whose own split starts later moves the test days after it
    late = {"joint": {"test_start": "2016-08-10"}}
    sets, rep = dro_scenarios.prepare_scenarios(*args, None, None, run["price"], cfg, pv_system, 15, split,
                                                joint_daily=run["joint"], joint_scenarios=run["scen"],
                                                generator_info=late)
    d = sets["dates"]
    tw = d[(d["set"] == "real_test") & (d["record"] != "price_daily")]
    assert (tw["date"] >= pd.Timestamp("2016-08-10")).all() and rep["cutoff_joint generator"] == "2016-08-10"
    assert daily_matrix(run["joint"], "flow_veh_per_h").shape[1] == 96

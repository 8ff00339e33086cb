"""Training matrices, clear errors on bad input, folds by whole unit, baselines."""

import numpy as np
import pytest

from evgrid.scenarios.baselines import BootstrapSampler, GaussianSampler
from evgrid.scenarios.calendar import ConditioningConfig, encode_condition, label_strings
from evgrid.scenarios.cv import make_folds
from evgrid.scenarios.data import validate_family_data
from evgrid.scenarios.errors import ScenarioDataError
from evgrid.scenarios.families import build_family_data
from tests.scenarios import synthetic

TRAFFIC = {"kind": "profile", "dataset": "traffic_daily",
           "variables": [{"name": "flow_veh_per_h", "unit": "veh/h", "lower": 0.0}]}
TIMES = {"kind": "ev_times", "dataset": "ev_session_features", "sources": ["acn"]}
DIST = {"kind": "ev_distance", "dataset": "ev_session_features", "sources": ["acn"], "max_km": 800.0}


def test_profile_matrix_shape_and_keys():
    df = synthetic.profile_daily("flow_veh_per_h", 60, 3000.0)
    data = build_family_data("traffic", df, TRAFFIC)
    assert data.values.shape == (60, 96)
    assert data.unit_ids[0] == "2016-01-01"
    np.testing.assert_array_equal(data.months, df["month"].to_numpy())


def test_sessions_without_distance_are_counted_not_silently_dropped():
    df = synthetic.ev_sessions(300)
    data = build_family_data("ev_distance", df, DIST)
    assert data.n_units == 280
    assert data.info["removed"]["unknown distance_km"] == 20


def test_nan_in_feature_matrix_names_family_and_day():
    df = synthetic.profile_daily("flow_veh_per_h", 80, 3000.0)
    df.loc[5, "flow_veh_per_h_t010"] = np.nan
    data = build_family_data("traffic", df, TRAFFIC)
    with pytest.raises(ScenarioDataError, match=r"family 'traffic'.*NaN.*2016-01-06"):
        validate_family_data(data, 5, 10)


def test_too_few_days_for_five_folds():
    data = build_family_data("traffic", synthetic.profile_daily("flow_veh_per_h", 30, 3000.0), TRAFFIC)
    with pytest.raises(ScenarioDataError, match=r"family 'traffic': only 30 days, need at least 50"):
        validate_family_data(data, 5, 10)


def test_missing_channel_is_named():
    df = synthetic.profile_daily("flow_veh_per_h", 60, 3000.0)
    bad = {**TRAFFIC, "variables": [{"name": "speed_km_per_h", "unit": "km/h"}]}
    with pytest.raises(ScenarioDataError, match="speed_km_per_h"):
        build_family_data("traffic", df, bad)


def test_folds_split_whole_days_without_overlap():
    data = build_family_data("traffic", synthetic.profile_daily("flow_veh_per_h", 200, 3000.0), TRAFFIC)
    labels = label_strings(data.months, data.is_weekend, ConditioningConfig())
    folds = make_folds(data, labels, 5, seed=1)
    seen = []
    for tr, te in folds:
        assert not set(data.unit_ids[tr]) & set(data.unit_ids[te])
        seen += list(data.unit_ids[te])
    assert sorted(seen) == sorted(data.unit_ids)  # every day is tested exactly once
    assert [list(te) for _, te in folds] == [list(te) for _, te in make_folds(data, labels, 5, seed=1)]


def test_sessions_split_whole_sessions_and_duplicates_are_refused():
    data = build_family_data("ev_times", synthetic.ev_sessions(400), TIMES)
    labels = label_strings(data.months, data.is_weekend, ConditioningConfig())
    for tr, te in make_folds(data, labels, 5, seed=3):
        assert not set(data.unit_ids[tr]) & set(data.unit_ids[te])
    data.unit_ids[1] = data.unit_ids[0]
    with pytest.raises(ScenarioDataError, match="appears 2 times"):
        make_folds(data, labels, 5, seed=3)


def test_condition_vector_one_hot_month_and_weekend():
    c = encode_condition(np.array([1, 12]), np.array([False, True]), ConditioningConfig())
    assert c.shape == (2, 13)
    assert c[0, 0] == 1 and c[1, 11] == 1 and c[1, 12] == 1 and c[0].sum() == 1
    assert label_strings(np.array([8]), np.array([False]), ConditioningConfig())[0] == "month=8,weekend=False"
    off = ConditioningConfig.from_params({"enabled": False})
    assert off.dim == 0 and label_strings(np.array([8]), np.array([True]), off)[0] == "all"


def test_bootstrap_draws_only_training_units_of_the_label():
    values = np.arange(10.0).reshape(10, 1)
    labels = np.array(["a"] * 5 + ["b"] * 5, dtype=object)
    s = BootstrapSampler().fit(values, labels)
    draws = s.sample("b", 200, np.random.default_rng(0))
    assert set(draws[:, 0]) <= {5.0, 6.0, 7.0, 8.0, 9.0}


def test_gaussian_baseline_recovers_mean_and_falls_back_for_unseen_label():
    rng = np.random.default_rng(0)
    values = rng.normal([10.0, -5.0], 1.0, (400, 2))
    labels = np.array(["month=1,weekend=False"] * 400, dtype=object)
    g = GaussianSampler().fit(values, labels)
    np.testing.assert_allclose(g.sample("month=1,weekend=False", 5000, rng).mean(axis=0), [10, -5], atol=0.1)
    g.sample("month=7,weekend=True", 3, rng)
    assert g.pools_.fallbacks == 1

"""GAN training and sampling: reproducibility, learning, physical bounds, label errors, PV chain."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from evgrid.scenarios.calendar import ConditioningConfig, label_strings
from evgrid.scenarios.dayahead import DayAheadConfig, family_conditions
from evgrid.scenarios.families import build_family_data
from evgrid.scenarios.gan import GanScenarioModel
from evgrid.scenarios.holdout import FittedSet
from evgrid.scenarios.pv import PVSystem, pv_kw_per_kwp
from evgrid.scenarios.sampling import ScenarioBundle, sample_label, scenarios_frame
from evgrid.scenarios.scores import energy_score
from evgrid.scenarios.training import TrainConfig
from evgrid.scenarios.transforms import FamilyTransform
from tests.scenarios import synthetic

PV_SYSTEM = yaml.safe_load((Path(__file__).resolve().parents[2] / "conf/base/parameters_pv.yml").read_text())[
    "pv_system"]
PV = {"kind": "profile", "dataset": "weather_daily", "derive_pv": True,
      "variables": [{"name": "ghi_w_per_m2", "unit": "W/m2", "lower": 0.0}, {"name": "temp_air_c", "unit": "degC"}]}
TIMES = {"kind": "ev_times", "dataset": "ev_session_features", "sources": ["acn"]}
SMALL = dict(iterations=300, batch_size=64, noise_dim=8, g_layers=2, g_width=64, d_layers=2, d_width=64)


class _Fitted:
    """A GAN fitted on ``data`` with its day-ahead conditions, sampled through the studies' bundle."""

    def __init__(self, family, data, rep="identity", night=(), seed=0, **kw):
        cond = family_conditions(data, DayAheadConfig())
        data = data.subset(np.flatnonzero(cond.keep))
        self.gan = GanScenarioModel(family, TrainConfig(**{**SMALL, **kw}),
                                    FamilyTransform(representation=rep, night_variables=night),
                                    ConditioningConfig(), seed).fit(data, cond, progress=False)
        labels, counts = np.unique(label_strings(data.months, data.is_weekend, ConditioningConfig()),
                                   return_counts=True)
        self.bundle = ScenarioBundle(family, FittedSet({"gan": self.gan}, self.gan.transform, ConditioningConfig()),
                                     "gan", data, cond, dict(zip(labels, counts, strict=True)))

    def sample(self, label, n, rng):
        return self.bundle.sample(label, n, rng)


def _model(family, data, rep="identity", night=(), seed=0, **kw):
    return _Fitted(family, data, rep, night, seed, **kw)


@pytest.fixture(scope="module")
def pv_data():
    return build_family_data("pv", synthetic.weather_daily(), PV, 15, PV_SYSTEM)


@pytest.fixture(scope="module")
def pv_model(pv_data):
    return _model("pv", pv_data, night=("ghi_w_per_m2",), loss="wgan-gp", n_critic=2, adam_beta2=0.9)


@pytest.fixture(scope="module")
def times_data():
    return build_family_data("ev_times", synthetic.ev_sessions(600), TIMES)


def test_same_seed_same_samples(times_data):
    a = _model("ev_times", times_data, "arrival_logduration", iterations=40)
    b = _model("ev_times", times_data, "arrival_logduration", iterations=40)
    label = "month=6,weekend=False"
    np.testing.assert_array_equal(a.sample(label, 50, np.random.default_rng(1)),
                                  b.sample(label, 50, np.random.default_rng(1)))
    assert not np.array_equal(a.sample(label, 50, np.random.default_rng(1)),
                              a.sample(label, 50, np.random.default_rng(2)))


def test_short_training_beats_untrained_generator_on_energy_score(pv_data, pv_model):
    untrained = _model("pv", pv_data, night=("ghi_w_per_m2",), iterations=1)
    label = "month=6,weekend=False"
    labels = label_strings(pv_data.months, pv_data.is_weekend, ConditioningConfig())
    real = pv_data.values[labels == label]
    rng = np.random.default_rng(0)
    es_trained = energy_score(pv_model.sample(label, 200, rng), real).mean()
    es_untrained = energy_score(untrained.sample(label, 200, rng), real).mean()
    assert es_trained < 0.7 * es_untrained


def test_pv_samples_respect_physical_bounds(pv_data, pv_model):
    samples = sample_label(pv_model.bundle, pv_data, "month=12,weekend=False", 100, seed=3)
    ghi, pv = samples["ghi_w_per_m2"], samples["pv_kw_per_kwp"]
    assert ghi.min() >= 0.0 and pv.min() >= 0.0 and pv.max() <= 1.2
    dark = np.all(pv_data.values[pv_data.months == 12][:, :96] <= 0, axis=0)
    assert dark[:20].all() and np.all(ghi[:, dark] == 0.0) and np.all(pv[:, dark] == 0.0)
    df = scenarios_frame(samples, pv_data, "month=12,weekend=False")
    assert list(df.columns) == ["scenario_id", "step", "variable", "value", "unit", "label"]
    assert len(df) == 100 * 96 * 3
    assert set(df["variable"]) == {"ghi_w_per_m2", "temp_air_c", "pv_kw_per_kwp"}


def test_departure_after_arrival_and_arrival_within_day(times_data):
    m = _model("ev_times", times_data, "arrival_logduration", iterations=100)
    s = sample_label(m.bundle, times_data, "month=7,weekend=False", 500, seed=1)
    arr, dep = s["arrival_h"][:, 0], s["departure_h"][:, 0]
    assert np.all(dep > arr) and arr.min() >= 0.0 and arr.max() < 24.0
    df = scenarios_frame(s, times_data, "month=7,weekend=False")
    assert list(df.columns) == ["scenario_id", "arrival_h", "departure_h", "label"]


def test_label_without_data_is_refused_with_family_and_label(times_data):
    m = _model("ev_times", times_data, "arrival_logduration", iterations=5)
    with pytest.raises(ValueError, match=r"family 'ev_times': no training data for calendar label 'month=11"):
        sample_label(m.bundle, times_data, "month=11,weekend=False", 10, seed=0)


def test_nan_training_matrix_stops_training():
    from evgrid.scenarios.training import train_gan

    x = np.zeros((10, 3), dtype=np.float32)
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        train_gan(x, np.zeros((10, 0)), TrainConfig(iterations=2), seed=0, progress=False)


def test_pv_chain_clear_june_noon_and_night():
    ghi = np.zeros((1, 96))
    ghi[0, 44:56] = 900.0
    p = pv_kw_per_kwp(ghi, np.full((1, 96), 25.0), np.array(["2015-06-21"], dtype="datetime64[ns]"),
                       PVSystem.from_params(PV_SYSTEM, 15))
    assert 0.7 < p[0, 48] < 1.1  # ~900 W/m2 GHI, 35 deg south tilt, warm cell
    assert np.all(p[0, :44] == 0.0) and np.all(p[0, 56:] == 0.0)
    hotter = pv_kw_per_kwp(ghi, np.full((1, 96), 40.0), np.array(["2015-06-21"], dtype="datetime64[ns]"),
                           PVSystem.from_params(PV_SYSTEM, 15))
    assert hotter[0, 48] < p[0, 48]  # negative temperature coefficient (eq. 4)

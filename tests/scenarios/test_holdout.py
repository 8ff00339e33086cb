"""Dated split, day-ahead conditions, the new generators, scores against hand values and scoringrules,
paired block-bootstrap CIs, reproducibility."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scoringrules as sr
import yaml

from evgrid.scenarios import scores as S
from evgrid.scenarios.calendar import ConditioningConfig
from evgrid.scenarios.data import FamilyData, Variable
from evgrid.scenarios.dayahead import DayAheadConfig, family_conditions, holidays
from evgrid.scenarios.gan import GanScenarioModel
from evgrid.scenarios.generators import FlowConfig, Query
from evgrid.scenarios.holdout import HoldoutConfig, block_bootstrap_ci, draw, fit_all
from evgrid.scenarios.split import SplitConfig, first_test_day, temporal_split, validation_mask
from evgrid.scenarios.training import TrainConfig
from evgrid.scenarios.transforms import FamilyTransform

ROOT = Path(__file__).resolve().parents[2]


# -- split ------------------------------------------------------------------------------------------------
def test_split_never_lets_a_test_date_into_training_or_validation():
    rng = np.random.default_rng(0)
    days = pd.date_range("2012-10-02", "2017-12-31", freq="D")
    dates = np.sort(rng.choice(days.values, 1300, replace=False))  # gappy record, like the I-94 file
    dates = np.repeat(dates, rng.integers(1, 4, len(dates)))  # several units (sessions) per day
    cfg = SplitConfig.from_params({"test_fraction": 0.2})
    train, test = temporal_split(dates, cfg, "traffic_daily")
    assert dates[train].max() < dates[test].min()
    assert not set(dates[train].astype("datetime64[D]")) & set(dates[test].astype("datetime64[D]"))
    n_test_days = len(np.unique(dates[test].astype("datetime64[D]")))
    assert n_test_days == int(np.ceil(0.2 * len(np.unique(dates.astype("datetime64[D]")))))
    val = validation_mask(dates, train, 0.2)
    assert not (val & test).any() and (val <= train).all() and dates[val].min() > dates[train & ~val].max()
    fixed = SplitConfig.from_params({"test_start": {"traffic_daily": "2017-01-01"}})
    tr, te = temporal_split(dates, fixed, "traffic_daily")
    assert dates[te].min() >= np.datetime64("2017-01-01") and dates[tr].max() < np.datetime64("2017-01-01")
    assert first_test_day(dates, fixed, "price_daily") != np.datetime64("2017-01-01")  # per record
    with pytest.raises(ValueError, match="split.test_fraction"):
        SplitConfig.from_params({"test_fraction": 1.5})
    with pytest.raises(ValueError, match="unknown split parameters"):
        SplitConfig.from_params({"test_share": 0.2})


def test_split_parameters_are_defined_once_in_the_project_parameters():
    params = yaml.safe_load((ROOT / "conf" / "base" / "parameters.yml").read_text())
    cfg = SplitConfig.from_params(params["split"])
    assert 0 < cfg.test_fraction < 1


# -- day-ahead conditions --------------------------------------------------------------------------------
def _profile(values, start="2016-01-01", drop=()):
    dates = pd.date_range(start, periods=len(values), freq="D")
    keep = np.setdiff1d(np.arange(len(values)), drop)
    dates, values = dates[keep], values[keep]
    return FamilyData("x", "profile", values, [Variable("x_kw", "kW", values.shape[1])], dates.month.values,
                      dates.dayofweek.values >= 5, dates.strftime("%Y-%m-%d").values,
                      dates.values.astype("datetime64[ns]"))


def test_previous_day_features_and_days_without_previous_day_are_counted():
    values = np.arange(10.0)[:, None] * np.ones((1, 4))
    values[:, 0] += 1.0  # peak = day index + 1, mean = day index + 0.25
    data = _profile(values, start="2016-01-15", drop=[5])  # 2016-01-18: Martin Luther King Jr. Day
    cond = family_conditions(data, DayAheadConfig())
    assert cond.keep.sum() == 7 and not cond.keep[0] and not cond.keep[5]  # day 0 and day 6 lack d-1
    assert cond.names[:2] == ["prev_x_kw_mean", "prev_x_kw_peak"]
    kept_days = np.flatnonzero(cond.keep)  # rows of data (day 5 dropped from the record)
    np.testing.assert_allclose(cond.values[:, 0], values[np.setdiff1d(np.arange(10), [5])][kept_days - 1, :].mean(1))
    hol = cond.values[:, cond.names.index("holiday")]
    assert hol.sum() == 1 and hol[2] == 1  # kept rows are Jan 16, 17, 18, ...: the third is MLK day
    dow = cond.values[:, [cond.names.index(f"dow_{k}") for k in range(7)]]
    assert (dow.sum(axis=1) == 1).all()


def test_holidays_cover_every_holiday_of_the_i94_file():
    raw = pd.read_csv(ROOT / "data/01_raw/traffic/Metro_Interstate_Traffic_Volume_2012-2017.csv",
                      keep_default_na=False, usecols=["holiday", "date_time"])
    marked = pd.to_datetime(raw.loc[raw.holiday != "None", "date_time"]).dt.normalize().unique()
    gan = yaml.safe_load((ROOT / "conf/base/parameters_gan.yml").read_text())["gan"]
    cfg = DayAheadConfig.from_params(gan["conditioning"])
    assert holidays(marked, cfg.extra_holidays).all()
    assert not holidays(np.array(["2016-07-05", "2016-12-27"], dtype="datetime64[ns]")).any()


# -- scores -----------------------------------------------------------------------------------------------
def test_scores_against_hand_values_and_scoringrules():
    # ES: ensemble {0, 2}, y = 1 -> 1 - (2 + 2)/(2 * 4) = 0.5; CRPS the same in 1-D
    assert S.es_per_day(np.array([[1.0]]), np.array([[[0.0], [2.0]]]))[0] == pytest.approx(0.5)
    assert S.crps_per_day(np.array([[1.0]]), np.array([[[0.0], [2.0]]]))[0] == pytest.approx(0.5)
    # VS p=0.5: y = (0, 4): |y1-y2|^0.5 = 2; members (0,0), (0,1): mean |.|^0.5 = 0.5 -> 2 * 1.5^2 = 4.5
    assert S.vs_per_day(np.array([[0.0, 4.0]]), np.array([[[0.0, 0.0], [0.0, 1.0]]]))[0] == pytest.approx(4.5)
    # coverage: 90 % interval of 0..100 is [5, 95]: steps at 50 and 99 -> 1 of 2 inside
    ens = np.tile(np.arange(101.0)[:, None], (1, 2))[None]
    assert S.coverage_per_day(np.array([[50.0, 99.0]]), ens)[0] == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    obs, ens = rng.normal(size=(4, 6)), rng.normal(size=(4, 30, 6))
    np.testing.assert_allclose(S.es_per_day(obs, ens), sr.es_ensemble(obs, ens, estimator="nrg"), rtol=1e-10)
    np.testing.assert_allclose(S.vs_per_day(obs, ens), sr.vs_ensemble(obs, ens, p=0.5), rtol=1e-5)
    np.testing.assert_allclose(S.crps_per_day(obs, ens),
                               np.asarray(sr.crps_ensemble(obs, ens, m_axis=-2, estimator="nrg")).mean(-1))


def test_block_bootstrap_ci():
    ref = np.full(60, 10.0)
    mean, rel, lo, hi = block_bootstrap_ci(np.full(60, 1.0), ref, 7, 200, 0)
    assert (mean, rel, lo, hi) == pytest.approx((1.0, 10.0, 10.0, 10.0))
    rng = np.random.default_rng(1)
    d = rng.normal(0.0, 1.0, 300)
    d -= d.mean()
    _, _, lo, hi = block_bootstrap_ci(d, np.full(300, 10.0), 7, 500, 0)
    assert lo < 0 < hi
    _, _, lo, hi = block_bootstrap_ci(d + 1.0, np.full(300, 10.0), 7, 500, 0)
    assert lo > 0


# -- generators -------------------------------------------------------------------------------------------
def _regime_family(n_days=900, seed=0):
    """Persistent calm / volatile regimes (1 % switching per day): the previous day's mean tells the
    regime, and the spread of the day's level is 6x larger in the volatile regime (about 4x with the
    switching: 0.14 vs 0.61)."""
    rng = np.random.default_rng(seed)
    regime = np.zeros(n_days, dtype=int)
    for t in range(1, n_days):
        regime[t] = regime[t - 1] if rng.random() < 0.99 else 1 - regime[t - 1]
    level = np.where(regime == 1, 2.0, 1.0)
    sd = np.where(regime == 1, 0.6, 0.1)
    shape = np.sin(np.linspace(0, np.pi, 24))
    values = level[:, None] * (1 + shape)[None] + sd[:, None] * rng.normal(size=(n_days, 1)) \
        + 0.2 * sd[:, None] * rng.normal(size=(n_days, 24))
    data = _profile(values)
    assert 0.2 < regime.mean() < 0.8
    return data, family_conditions(data, DayAheadConfig(season=False, day_of_week=False, holiday=False))


def _fit(data, cond, models, seed=0, iterations=600):
    cfg = HoldoutConfig(models=tuple(models), analog_k=30)
    def make_gan(tr):
        return GanScenarioModel("x", TrainConfig(loss="wgan-gp", iterations=iterations, n_critic=2,
                                                               noise_dim=8, g_width=64, d_width=64,
                                                               adam_beta2=0.9, ema_decay=0.99), tr,
                                               ConditioningConfig(), seed)
    data = data.subset(np.flatnonzero(cond.keep))
    return fit_all(data, cond, cfg, make_gan, lambda: FamilyTransform(scaling="step"),
                   FlowConfig(iterations=iterations, max_dim=8), ConditioningConfig(), seed)


def _query(level):
    c = np.array([[level * (1 + 2 / np.pi * 0 + np.sin(np.linspace(0, np.pi, 24)).mean()),
                   level * 2.0]])
    return Query(c, np.array([False]), np.array(["month=1,weekend=False"], dtype=object), np.array([1]))


@pytest.mark.parametrize("model", ["gan", "flow", "analog"])
def test_conditioning_changes_the_generated_spread(model):
    data, cond = _regime_family()
    fitted = _fit(data, cond, [model], iterations=1500 if model == "gan" else 600)
    spread = {}
    for lev in (1.0, 2.0):
        x = draw(fitted, model, _query(lev), 400, np.random.default_rng(0))[0]
        spread[lev] = x.mean(axis=1).std()  # std of the daily level across scenarios (true: 0.1 vs 0.6)
    assert spread[2.0] > 2.5 * spread[1.0], spread


def test_same_seed_same_scenarios_for_every_generator():
    data, cond = _regime_family(300)
    models = ["gan", "flow", "analog", "copula", "bootstrap", "gaussian"]
    a = _fit(data, cond, models, seed=3, iterations=30)
    b = _fit(data, cond, models, seed=3, iterations=30)
    for m in models:
        xa = draw(a, m, _query(2.0), 20, np.random.default_rng(5))
        np.testing.assert_array_equal(xa, draw(b, m, _query(2.0), 20, np.random.default_rng(5)))
        assert not np.array_equal(xa, draw(a, m, _query(2.0), 20, np.random.default_rng(6)))


def test_unknown_holdout_and_flow_parameters_are_named():
    with pytest.raises(ValueError, match="unknown gan.holdout parameters"):
        HoldoutConfig.from_params({"samples": 3})
    with pytest.raises(ValueError, match="gan.holdout.generator"):
        HoldoutConfig.from_params({"generator": "vae"})
    with pytest.raises(ValueError, match="unknown gan.flow parameters"):
        FlowConfig.from_params({"layers": 3})


def test_cross_validation_holds_out_whole_days():
    from evgrid.scenarios.holdout import cross_validate_days

    data, cond = _regime_family(120)
    data = data.subset(np.flatnonzero(cond.keep))
    idx = np.repeat(np.arange(data.n_units), 2)  # two units per day, like sessions
    data2, cond2 = data.subset(idx), cond.subset(idx)
    data2.unit_ids = np.array([f"u{i}" for i in range(len(idx))], dtype=object)
    cfg = HoldoutConfig(models=("analog", "bootstrap"), cv_folds=4, samples_per_day=10)
    df = cross_validate_days(data2, cond2, cfg, (cfg, None, lambda: FamilyTransform(), FlowConfig(),
                                                  ConditioningConfig(), 0), 0)
    per_day = df[df.metric == "energy_score"].groupby("date")["phase"].nunique()
    assert (per_day == 1).all() and len(per_day) == data.n_units  # every day in exactly one fold
    assert set(df.phase) == {"cv1", "cv2", "cv3", "cv4"}  # folds numbered from 1, as the log lines


def test_fan_out_is_bit_identical_in_process_and_on_a_two_worker_cluster():
    """Every (phase, generator) is one ``evgrid.compute`` task: scheduler sync and a local 2-worker Dask
    cluster give identical score tables and identical generators (issue 17)."""
    from evgrid.scenarios.holdout import FitSpec, Phase, cv_phases, run_holdout

    data, cond = _regime_family(160)
    data = data.subset(np.flatnonzero(cond.keep))  # cond rows are already the kept units
    n = data.n_units
    fit, val, test = np.arange(0, n * 6 // 10), np.arange(n * 6 // 10, n * 8 // 10), np.arange(n * 8 // 10, n)
    train = np.arange(0, n * 8 // 10)
    spec = FitSpec("x", HoldoutConfig(models=("gan", "flow", "analog", "bootstrap"), samples_per_day=8, n_boot=10),
                   TrainConfig(iterations=20, noise_dim=4, g_width=16, d_width=16),
                   FlowConfig(iterations=20, hidden=8, max_dim=4), ConditioningConfig(), {"scaling": "step"}, 3)
    phases = [Phase("validation", fit, val, 3), Phase("test", train, test, 3, keep_model=True)]
    phases += [Phase(p.name, train[p.fit_idx], train[p.score_idx], p.score_seed)
               for p in cv_phases(data.subset(train), 2, 3)]
    a = run_holdout(data, cond, spec, phases, {"scheduler": "sync", "progress": False})
    b = run_holdout(data, cond, spec, phases, {"scheduler": "local", "n_workers": 2, "progress": False})
    assert set(a.scores.phase) == {"validation", "test", "cv1", "cv2"}
    pd.testing.assert_frame_equal(a.scores, b.scores, check_exact=True)
    pd.testing.assert_frame_equal(a.spread, b.spread, check_exact=True)
    for m in spec.holdout.models:
        np.testing.assert_array_equal(draw(a.fitted, m, _query(2.0), 16, np.random.default_rng(1)),
                                      draw(b.fitted, m, _query(2.0), 16, np.random.default_rng(1)))


def test_cv_folds_fit_only_the_cv_models_and_the_other_phases_fit_every_model():
    """``cv_models`` (conf/paper: the GAN, as the paper cross-validates its GAN): CV phases score only those
    generators; validation and test still score every generator, so the choice is unchanged."""
    from evgrid.scenarios.holdout import FitSpec, Phase, cv_phases, run_holdout

    data, cond = _regime_family(120)
    data = data.subset(np.flatnonzero(cond.keep))
    n = data.n_units
    train, test = np.arange(0, n * 8 // 10), np.arange(n * 8 // 10, n)
    cfg = HoldoutConfig(models=("analog", "bootstrap"), cv_folds=3, cv_models=("analog",), samples_per_day=8)
    spec = FitSpec("x", cfg, TrainConfig(iterations=5), FlowConfig(), ConditioningConfig(), {"scaling": "step"}, 3)
    phases = [Phase("validation", train[: n // 2], train[n // 2:], 3), Phase("test", train, test, 3, keep_model=True)]
    phases += [Phase(p.name, train[p.fit_idx], train[p.score_idx], p.score_seed)
               for p in cv_phases(data.subset(train), 3, 3)]
    res = run_holdout(data, cond, spec, phases, {"scheduler": "sync", "progress": False})
    models = res.scores.groupby("phase")["model"].unique().map(set).to_dict()
    assert models == {"validation": {"analog", "bootstrap"}, "test": {"analog", "bootstrap"},
                      "cv1": {"analog"}, "cv2": {"analog"}, "cv3": {"analog"}}
    with pytest.raises(ValueError, match="cv_models must be among gan.holdout.models"):
        HoldoutConfig.from_params({"models": ["analog", "bootstrap"], "cv_models": ["gan"]})

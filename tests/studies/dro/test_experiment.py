"""Atoms x shift experiment (issue 28): the moment baseline, the paired summary and its verdict, the config."""

import numpy as np
import pandas as pd
import pytest

from evgrid.studies.dro.config import DroConfig
from evgrid.studies.dro.experiment import moment_two_point, sizes_run, summarise_experiment
from evgrid.studies.dro.system import ScenarioData


def test_moment_baseline_matches_the_first_two_moments():
    rng = np.random.default_rng(0)
    d = ScenarioData(rng.uniform(100, 400, (7, 2, 5)), rng.uniform(0.3, 0.8, (7, 5)), rng.uniform(0.4, 0.8, (7, 5)),
                     rng.uniform(0.02, 0.1, (7, 5)))
    m = moment_two_point(d)  # far from 0: no clipping, so the moments are exact
    for a, b in ((m.lane_demand_kw, d.lane_demand_kw), (m.pv_pu, d.pv_pu), (m.price_usd_per_kwh, d.price_usd_per_kwh)):
        assert a.shape[0] == 2
        np.testing.assert_allclose(a.mean(axis=0), b.mean(axis=0))
        np.testing.assert_allclose(a.std(axis=0), b.std(axis=0))


def _days(effect: float, n_days=30, seed=1):
    rng = np.random.default_rng(seed)
    base = rng.normal(15000, 800, n_days)
    rows = []
    for n in (3, 12):
        for method, shift in (("saa", 0.0), ("dro", effect), ("deterministic", 500.0), ("moment", 0.0)):
            noise = rng.normal(0, 20, n_days) if method != "saa" else 0.0
            for i, c in enumerate(base + shift + noise):
                rows.append({"condition": "same", "n_atoms": n, "method": method, "day": i, "total_cost_usd": c,
                             "radius": 0.4 if method == "dro" else np.nan, "mip_gap": 0.0, "solver_status": "optimal"})
    return pd.DataFrame(rows)


def test_paired_summary_and_verdict(dro_params):
    cfg = DroConfig.from_params({**dro_params, "experiment": {**dro_params["experiment"], "bootstrap": 200}})
    days = _days(effect=-100.0)
    points, paired, verdict = summarise_experiment(days, cfg)
    d = paired[(paired["method"] == "dro") & (paired["n_atoms"] == 3)].iloc[0]
    wide = days[days["n_atoms"] == 3].pivot(index="day", columns="method", values="total_cost_usd")
    assert d["diff_mean_usd"] == pytest.approx(float((wide["dro"] - wide["saa"]).mean()))
    assert d["diff_ci_lo"] < d["diff_mean_usd"] < d["diff_ci_hi"] < 0 and d["significant"]
    assert verdict["same"]["dro_cheaper_at"] == [3, 12]
    p = points[(points["method"] == "saa") & (points["n_atoms"] == 3)].iloc[0]
    assert p["mean_ci_lo"] < p["mean_cost_usd"] < p["mean_ci_hi"] and p["cvar95_usd"] > p["mean_cost_usd"]
    _, _, none = summarise_experiment(_days(effect=0.0), cfg)
    assert none["same"]["verdict"] == "no significant difference between DRO and SAA at any size"


def test_experiment_parameters_are_checked(dro_params):
    with pytest.raises(ValueError, match="dro.experiment.conditions"):
        DroConfig.from_params({**dro_params, "experiment": {**dro_params["experiment"], "conditions": ["winter"]}})
    cfg = DroConfig.from_params({**dro_params, "experiment": {**dro_params["experiment"], "sizes": [3, 6, 48],
                                                             "max_size": 24}})
    assert sizes_run(cfg.experiment, 40) == [3, 6] and sizes_run(cfg.experiment, 5) == [3]

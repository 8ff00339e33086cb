"""dro on evgrid.compute: the radius CV (fold tasks), the first stages (method tasks) and the out-of-sample
recourse (method x chunk tasks) give the same numbers in-process and on a 2-worker local cluster."""

import numpy as np
import pandas as pd
import pytest

from evgrid import compute
from evgrid.compute import ComputeSettings
from evgrid.ev.lanes import lanes_from_params
from evgrid.optim.robust import distance_matrix, reduce_scenarios
from evgrid.studies.dro.config import DroConfig
from evgrid.studies.dro.runs import evaluate_tests, select_radius, solve_methods
from evgrid.studies.dro.system import ScenarioData, build_system

T = 4
PROFILE = np.array([0.6, 0.8, 1.0, 0.7])


@pytest.fixture(scope="module")
def small(dro_params, net33):
    net = net33.with_ratings(default_kva=6000.0)
    params = {**dro_params, "scenarios": {**dro_params["scenarios"], "n_nominal": 2, "n_train_days": 9},
              "robust": {**dro_params["robust"], "radii": [0.0, 0.3, 0.6], "report_radii": [0.3], "cv_folds": 3},
              "evaluation": {"oos_batch": 2, "days_per_task": 2}}
    cfg = DroConfig.from_params(params)
    sysm = build_system(cfg, net, lanes_from_params(dro_params["lanes"][:3], known_buses=net.bus_ids), PROFILE,
                        step_h=6.0)
    rng = np.random.default_rng(5)
    n = 9
    train = ScenarioData(rng.uniform(0.2, 1.0, (n, 3, T)) * sysm.lanes.rating_kw[None, :, None],
                         np.clip(np.array([0.0, 0.5, 0.8, 0.1])[None] * rng.uniform(0.3, 1.2, (n, 1)), 0, None),
                         rng.uniform(0.0, 0.7, (n, T)), rng.uniform(0.02, 0.12, (n, T)))
    feats = np.concatenate([train.lane_demand_kw.sum(axis=1) / 1000, train.pv_pu, train.wind_pu,
                            train.price_usd_per_kwh * 10], axis=1)
    red = reduce_scenarios(feats, 2, 0)
    atoms = {"system": sysm, "data": train.subset(red.medoids), "n_nominal": 2, "p_nominal": red.probabilities,
             "distances": distance_matrix(feats[red.medoids], feats[red.medoids]), "train": train,
             "train_features": feats, "gan_atom_features": np.zeros((0, feats.shape[1])),
             "train_all": train.subset(np.arange(4))}
    test = train.subset(np.arange(5))
    return cfg, atoms, test


def _run(cfg, atoms, test, settings):
    radius, cv, _ = select_radius(atoms, cfg, settings)
    first, in_sample, wc = solve_methods(atoms, radius, cfg, settings)
    summary, metrics, _ = evaluate_tests(first, atoms, {"real_heldout": test}, cfg, settings)
    return radius, cv, first, in_sample, wc, summary, metrics


def test_sync_and_two_local_workers_give_identical_results(small):
    cfg, atoms, test = small
    a = _run(cfg, atoms, test, ComputeSettings(scheduler="sync", progress=False))
    try:
        b = _run(cfg, atoms, test, ComputeSettings(scheduler="local", n_workers=2, progress=False))
    finally:
        compute.shutdown()
    assert a[0] == b[0]
    for x, y in ((a[1], b[1]), (a[3], b[3]), (a[4], b[4]), (a[5], b[5]), (a[6], b[6])):
        pd.testing.assert_frame_equal(x.drop(columns=["solve_s"], errors="ignore"),
                                      y.drop(columns=["solve_s"], errors="ignore"), check_exact=True)
    assert list(a[2]) == list(b[2])
    for k in a[2]:
        for arr in ("commitment", "p_conv_kw", "alloc_kw"):
            np.testing.assert_array_equal(getattr(a[2][k]["first_stage"], arr), getattr(b[2][k]["first_stage"], arr))
    # 5 test days in chunks of 2 -> 3 tasks per method; every day evaluated once, in order
    s = a[5]
    assert (s.groupby("method")["atom"].apply(list) == pd.Series([[0, 1, 2, 3, 4]] * s["method"].nunique(),
                                                                  index=sorted(s["method"].unique()))).all()

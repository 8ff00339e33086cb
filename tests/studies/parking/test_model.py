"""The parking MILP on a small real day: scenario ordering on the exact evaluator, EVs leave full, the
capability polygon stays inside 7.4 kVA, every hour's configuration is radial and connected, eq. 22 holds."""

import copy

import numpy as np
import pytest

from evgrid.grid.matpower import load_matpower_case
from evgrid.studies.parking import model as M
from evgrid.studies.parking import report as R
from evgrid.studies.parking.config import ParkingConfig
from evgrid.studies.parking.system import build_system, gan_days, prepare_day, workplace_sessions
from tests.grid.helpers import CASE33
from tests.studies.parking import fixtures as fx

# Stated approximation error of the objective ordering (docs/parking.md): the model's feeder losses are
# off by up to ~25 % of the loss cost (V = 1, tangents), which is ~20 % of the objective, but the error is
# systematic across scenarios; the ordering is checked on the exact evaluator within 1 % of the objective.
ORDER_TOL = 0.01


@pytest.fixture(scope="module")
def solved(real_inputs):
    p = copy.deepcopy(fx.params())
    for lot, n in zip(p["lots"], (40, 40, 120), strict=True):
        lot["n_evs"] = n
    cfg = ParkingConfig.from_params(p)
    system = build_system(load_matpower_case(CASE33), real_inputs["prices_primary"], real_inputs["load_daily"], cfg)
    sessions = workplace_sessions(real_inputs["ev_session_features"], cfg)
    prep = prepare_day(gan_days(real_inputs["ev_times.scenarios"], real_inputs["pv.scenarios"], sessions, cfg, 1)[0],
                       cfg)
    pm = M.build_model(system, [prep])
    res = {"base": R.base_schedule(system, prep)}
    for sc in ("s1", "s3"):
        res[sc] = M.solve_scenario(pm, sc, cfg.solver)
    # the screened plan (the MILP itself is tested on a small switch set in test_milp.py)
    res["s4"] = M.solve_s4(pm, cfg.solver, start_from=res["s3"], run_milp=False)
    evals = {sc: R.evaluate_schedule(system, [prep], r) for sc, r in res.items()}
    return system, prep, res, evals, cfg


def test_objective_ordering_on_the_exact_evaluator(solved):
    _, _, _, evals, _ = solved
    obj = {sc: float(e[0]["objective_usd"].iloc[0]) for sc, e in evals.items()}
    tol = ORDER_TOL * obj["base"]
    assert obj["s4"] <= obj["s3"] + tol
    assert obj["s3"] <= obj["s1"] + tol
    assert obj["s1"] <= obj["base"] + tol
    assert obj["s4"] < obj["base"]  # reconfiguration + Q support pay off


def test_every_optimised_ev_leaves_full_within_its_rating(solved):
    system, prep, res, evals, cfg = solved
    for sc in ("s1", "s3", "s4"):
        check = evals[sc][2]
        assert check["evs_checked"] == prep.counts["controllable_evs"] > 0
        assert check["evs_not_full"] == 0
        assert check["evs_discharging"] == 0
        assert check["evs_soc_out_of_bounds"] == 0
        # the 16-gon is inscribed in the 7.4 kVA circle: stated error 0 outward
        assert check["ev_hours_over_rating"] == 0
        assert check["max_apparent_over_rating"] <= 1e-9
    # and reactive power is really used where allowed (s3), not in s1
    assert np.abs(res["s1"]["days"][0]["q_class_kvar"]).max() == 0.0
    assert np.abs(res["s3"]["days"][0]["q_class_kvar"]).max() > 1.0


def test_each_hour_radial_and_switching_limit(solved):
    system, _, res, _, cfg = solved
    plan = res["s4"]["branch_status"]
    for _, st in plan.iterrows():
        system.network.check_radial(st)
        assert st.sum() == len(system.network.buses) - 1
    actions = M.switching_actions(plan, system.network.branches["in_service"])
    assert actions.max() <= cfg.model.max_switching_per_day
    assert actions.sum() > 0  # the plan reconfigures the feeder


def test_transformer_limits_hold_in_optimised_schedules(solved):
    _, _, _, evals, cfg = solved
    for sc in ("s1", "s3", "s4"):
        row = evals[sc][0].iloc[0]
        assert row["n_transformer_overload_h"] == 0
        assert row["n_hot_spot_violation_h"] == 0
        assert row["load_factor_max_pu"] <= cfg.transformer.loading_limit_pu

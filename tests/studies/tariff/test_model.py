"""DSO QP, tariffs from duals, robust counterpart and the aggregators' response on a small coupled system."""

import numpy as np
import pytest

from evgrid.studies.tariff import model as M
from tests.studies.tariff.conftest import make_system


def test_uncontrolled_charging_congests_the_station_line(small_system):
    unc = M.solve_response(small_system, None, "uncontrolled")
    chk = M.feeder_check(small_system, unc.station_kw, ac=False)
    assert chk["max_loading_pct"] > 110.0  # the test case is meaningful: without tariffs L1 is overloaded


def test_gamma_zero_equals_the_deterministic_model(small_system):
    dso = M.DsoModel(small_system)
    robust_at_zero = dso.solve(0.0)
    no_uncertainty = make_system(**{"uncertainty.perturbation_pct": 0})
    det = M.DsoModel(no_uncertainty).solve(1.0)  # Gamma = 1 of a zero-width box: the deterministic model
    budget0 = M.DsoModel(small_system, uncertainty_set="budget").solve(0.0)
    assert robust_at_zero.objective_usd == pytest.approx(det.objective_usd, rel=1e-7)
    assert budget0.objective_usd == pytest.approx(det.objective_usd, rel=1e-7)
    np.testing.assert_allclose(robust_at_zero.station_kw, det.station_kw, atol=1e-3)


@pytest.mark.parametrize("uset", ["box", "budget"])
def test_total_cost_non_decreasing_in_gamma(small_system, uset):
    dso = M.DsoModel(small_system, uncertainty_set=uset)
    costs = [dso.solve(g).objective_usd for g in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(b >= a - 1e-6 * abs(a) for a, b in zip(costs, costs[1:], strict=False))
    assert costs[-1] > costs[0]  # the robust margin costs something in this congested case


def test_without_congestion_every_tariff_is_zero():
    sysm = make_system(**{"stations.F1.line_limit_kw": 1e5})
    res = M.solve_dso(sysm, 1.0)
    assert np.abs(res.tariffs["tariff_usd_per_kwh"]).max() < 1e-6


def test_two_bus_congested_tariff_equals_the_line_dual(small_system):
    res = M.solve_dso(small_system, 0.0)
    f1 = res.tariffs[res.tariffs["station"] == "F1"]
    assert f1["tariff_usd_per_kwh"].max() > 0.01  # congested hours exist
    # paper: R_t = (lambda+ - lambda-) + (gamma+ - gamma-); no voltage limit binds here
    np.testing.assert_allclose(f1["tariff_usd_per_kwh"], f1["line_dual_usd_per_kwh"], atol=1e-6)
    np.testing.assert_allclose(f1["voltage_usd_per_kwh"], 0.0, atol=1e-6)
    # the line carries its limit where the tariff is positive (complementary slackness)
    hot = f1.loc[f1["tariff_usd_per_kwh"] > 1e-4, "step"]
    np.testing.assert_allclose(res.line_flow_kw.loc[hot, "F1"], 15.0, atol=1e-3)


def test_robust_tariff_not_below_deterministic_where_congested(small_system):
    dso = M.DsoModel(small_system)
    det, rob = M.tariff_matrix(dso.solve(0.0).tariffs), M.tariff_matrix(dso.solve(1.0).tariffs)
    hot = det["F1"] > 1e-4
    assert hot.any()
    assert (rob.loc[hot, "F1"] >= det.loc[hot, "F1"] - 1e-6).all()


def test_aggregators_response_respects_the_line_limits(small_system):
    case = M.solve_dso(small_system, 1.0, name="robust")
    resp, tariff, history = M.respond_and_iterate(small_system, case)
    chk = M.feeder_check(small_system, resp.station_kw, 1.0, ac=True)
    tol = small_system.cfg.aggregators.tolerance_pct / 100.0
    for y, lim in small_system.line_limit_kw.items():
        assert chk["line_flow_kw"][y].abs().max() <= lim * (1 + tol)
        assert chk["ac_line_kva"][y].max() <= lim * (1 + tol) + 0.5  # AC adds the losses of a 1-bus line
    assert history[0]["max_gap_to_dso_kw"] < 0.05 * max(small_system.line_limit_kw.values())
    assert (tariff.to_numpy() >= -1e-9).all()


def test_response_without_tariff_equals_uncontrolled_and_tariff_moves_load(small_system):
    unc = M.solve_response(small_system, None)
    case = M.solve_dso(small_system, 0.0)
    resp = M.solve_response(small_system, M.tariff_matrix(case.tariffs))
    assert resp.station_kw["F1"].max() < unc.station_kw["F1"].max() - 1.0
    assert resp.station_kw["F2"].sum() > unc.station_kw["F2"].sum()


def test_od_grouping_reports_its_gap_to_the_dso_plan():
    od = [{"name": "A", "origin": "O", "destination": "D", "evs": 20, "initial_soc_aggregate": 4},
          {"name": "B", "origin": "O", "destination": "D", "evs": 20, "initial_soc_aggregate": 4}]
    sysm = make_system(**{"transport.od": od, "aggregators.grouping": "od"})
    case = M.solve_dso(sysm, 0.0, name="deterministic")
    resp, _tariff, history = M.respond_and_iterate(sysm, case)
    assert history and all(np.isfinite(h["max_gap_to_dso_kw"]) for h in history)
    chosen = [h for h in history if h["chosen"]][0]
    chk = M.feeder_check(sysm, resp.station_kw, ac=False)
    assert chk["max_loading_pct"] == pytest.approx(chosen["max_loading_pct"])
    # every EV still charges what its trip needs: >= 2 kWh into the battery each (40 EVs, eta = 0.95)
    assert resp.station_kw.to_numpy().sum() >= 40 * 2.0 / 0.95 - 1e-3


def test_od_aggregators_with_price_coupling_reproduce_the_dso_plan():
    """Per-O-D EVAs priced c + 2 beta (p_m + p_-m) + R (the DSO's marginal price) land on the DSO plan; the
    paper's per-EVA (c + beta p_m + R) p_m leaves each EVA 2 beta p_-m too cheap (issue 26, item 5)."""
    od = [{"name": "A", "origin": "O", "destination": "D", "evs": 20, "initial_soc_aggregate": 4},
          {"name": "B", "origin": "O", "destination": "D", "evs": 20, "initial_soc_aggregate": 4}]
    gaps = {}
    for coupling in (True, False):
        sysm = make_system(**{"transport.od": od, "aggregators.grouping": "od",
                              "aggregators.od_price_coupling": coupling, "aggregators.max_iterations": 0})
        case = M.solve_dso(sysm, 0.0, name="deterministic")
        _resp, _tariff, history = M.respond_and_iterate(sysm, case)
        gaps[coupling] = history[0]["max_gap_to_dso_kw"]
    assert gaps[True] < 0.15  # 1 % of the 15 kW line
    assert gaps[True] < gaps[False]

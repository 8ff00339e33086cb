"""Data-driven box, the hand-recomputed tariff and the violation-risk vs Gamma curve (issue 26)."""

import numpy as np
import pytest

from evgrid.studies.tariff import audit
from evgrid.studies.tariff import model as M
from evgrid.studies.tariff.config import TariffConfigError
from tests.studies.tariff.conftest import make_system


@pytest.fixture(scope="module")
def data_system():
    return make_system(**{"uncertainty.xi_source": "data", "uncertainty.perturbation_pct": 100,
                          "uncertainty.perturbation_sweep_pct": [100], "uncertainty.coverage": 0.9})


def test_data_box_has_the_stated_coverage_on_training_days(data_system):
    xi = data_system.data_box()
    tr = data_system.train_days
    for col, err in (("load_rel", data_system.load_error_rel), ("pv_per_kwp", data_system.pv_error_per_kwp)):
        inside = (err.loc[tr].abs() <= xi[col].to_numpy()[None, :] + 1e-12).mean(axis=0)
        assert (inside >= 0.9).all(), (col, inside.tolist())
        assert (inside < 1.0).any() or col == "pv_per_kwp"  # a quantile, not the maximum
    # held-out days never enter the box: changing them leaves it unchanged
    other = make_system(**{"uncertainty.xi_source": "data"})
    other.load_error_rel.loc[~other.load_error_rel.index.isin(other.train_days)] = 5.0
    other.info.pop("data_box", None)
    np.testing.assert_allclose(other.data_box().to_numpy(), xi.to_numpy())


def test_data_box_robust_cost_at_least_deterministic_and_grows_with_gamma(data_system):
    dso = M.DsoModel(data_system)
    costs = [dso.solve(g).objective_usd for g in (0.0, 0.5, 1.0)]
    assert costs[1] >= costs[0] - 1e-6 * costs[0] and costs[2] >= costs[1] - 1e-6 * costs[1]
    assert costs[2] > costs[0] * (1 + 1e-4)  # the premium is not noise in this congested case
    det, rob = M.tariff_matrix(dso.solve(0.0).tariffs), M.tariff_matrix(dso.solve(1.0).tariffs)
    hot = det["F1"] > 1e-4
    assert hot.any() and (rob.loc[hot, "F1"] >= det.loc[hot, "F1"] - 1e-6).all()


def test_hand_recomputed_tariff_matches_the_dual(small_system):
    det = M.tariff_matrix(M.solve_dso(small_system, 0.0).tariffs)
    hour = int(det["F1"].idxmax())
    assert det.at[hour, "F1"] > 0.01
    chk = audit.hand_check(small_system, M.paths_for(small_system), station="F1", hour=hour, dkw=0.5)
    assert chk["finite_difference_usd_per_kwh"] == pytest.approx(chk["tariff_from_duals_usd_per_kwh"], rel=2e-3)
    parts = chk["travel_time_part_usd_per_kwh"] + chk["charging_part_usd_per_kwh"]
    assert parts == pytest.approx(chk["finite_difference_usd_per_kwh"], rel=1e-6)


def test_gamma_curve_violation_risk_falls_with_gamma(data_system):
    dso = M.DsoModel(data_system)
    sweep = {(100.0, g): dso.solve(g, details=False) for g in (0.0, 0.5, 1.0)}
    curve, tuned = audit.gamma_curve(data_system, sweep)
    tr = curve[curve["split"] == "train_days"].sort_values("gamma")
    assert set(curve["split"]) == {"train_days", "heldout_days"}
    assert (np.diff(tr["p_violation"].to_numpy()) <= 1e-12).all()
    assert (tr["p_violation_ci_lo"] <= tr["p_violation"]).all() and (tr["p_violation"] <= tr["p_violation_ci_hi"]).all()
    assert tuned in set(tr["gamma"])


def test_data_box_larger_than_itself_is_rejected():
    with pytest.raises(TariffConfigError, match="tariff.uncertainty.perturbation_pct"):
        make_system(**{"uncertainty.xi_source": "data", "uncertainty.perturbation_pct": 150})


def test_real_forecast_errors_give_the_stated_coverage_with_a_dated_split():
    """NYISO 2016 load (weekly persistence) and NSRDB 2016 PV (day-ahead persistence): the 90 % box of the June
    training days covers >= 90 % of their errors at every hour; held-out days all come after the cut."""
    from pathlib import Path

    import pandas as pd
    import yaml

    from evgrid.studies.tariff.config import TariffConfig
    from evgrid.studies.tariff.system import data_box, real_day_profiles

    root = Path(__file__).resolve().parents[3]
    raw = root / "data" / "01_raw"
    params = yaml.safe_load((root / "conf" / "base" / "parameters_tariff.yml").read_text())["tariff"]
    cfg = TariffConfig.from_params(params)
    prof = real_day_profiles(cfg, [raw / "nyiso" / "nyiso_total_load_5min_2016.csv"],
                             sorted((raw / "irradiance").glob("*_2016.csv")))
    tr = prof["train_days"]
    cut = pd.Timestamp(cfg.out_of_sample.forecast_days_before)
    assert len(tr) >= 25 and (tr < cut).all() and (prof["load_error_rel"].index >= cut).sum() >= 60
    xi = data_box(prof["load_error_rel"].loc[tr], prof["pv_error_per_kwp"].loc[tr], cfg.uncertainty.coverage)
    for col, err in (("load_rel", prof["load_error_rel"]), ("pv_per_kwp", prof["pv_error_per_kwp"])):
        inside = (err.loc[tr].abs() <= xi[col].to_numpy()[None, :] + 1e-12).mean(axis=0)
        assert (inside >= cfg.uncertainty.coverage).all()
    assert 0.05 < xi["load_rel"].max() < 0.5 and 0.2 < xi["pv_per_kwp"].max() < 1.0  # plausible magnitudes

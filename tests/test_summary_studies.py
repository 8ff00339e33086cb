"""End-of-run summary rows of the tariff, parking and planning studies, on hand-made reporting tables."""

import pandas as pd
import pytest

from evgrid.studies.parking.report import summary_rows as parking_rows
from evgrid.studies.planning.report import summary_rows as planning_rows
from evgrid.studies.tariff.report import summary_rows as tariff_rows


def test_planning_row_is_the_surrogate_vs_uniform_change_in_percent():
    cost = pd.DataFrame({"method": ["surrogate_gp", "random", "uniform"], "total_usd_per_day": [99.0, 99.5, 100.0]})
    rows = {r["figure"]: r for r in planning_rows({"planning_social_cost": cost}.get)}
    assert rows["surrogate vs uniform"]["ours"] == pytest.approx(-1.0)
    assert rows["surrogate vs uniform"]["paper"] == pytest.approx(100 * (444_140 / 448_090 - 1))
    assert rows["social cost, uniform"]["paper"] == 448_090.0


def test_parking_rows_scale_shares_to_percent():
    comp = pd.DataFrame({"metric": ["objective_usd s4 vs base", "mean_loss_kw_charging s4", "unrelated"],
                         "ours": [-0.10, 100.0, 1.0], "paper": [-0.0482, 68.25, 2.0]})
    rows = {r["figure"]: r for r in parking_rows({"parking_paper_comparison": comp}.get)}
    assert set(rows) == {"objective, S4 vs base", "mean loss while charging, S4"}
    assert rows["objective, S4 vs base"]["ours"] == pytest.approx(-10.0)
    assert rows["mean loss while charging, S4"]["ours"] == pytest.approx(100.0)


def test_tariff_rows_take_the_f2_maximum_and_the_cost_ratio():
    comp = pd.DataFrame({
        "quantity": ["tariff_F2_usd_per_kwh"] * 2 + ["cost_ratio_robust_over_deterministic"],
        "case": ["deterministic", "deterministic", "robust/deterministic"],
        "ours": [1.0, 2.0, 1.01], "paper": [0.3973, 0.2070, 1.29]})
    rows = {r["figure"]: r for r in tariff_rows({"tariff_paper_comparison": comp}.get)}
    assert rows["F2 tariff 10-19 h, deterministic, max"]["ours"] == 2.0
    assert rows["total cost robust / deterministic"]["paper"] == 1.29


def test_no_outputs_no_rows():
    assert tariff_rows(lambda name: None) == [] and parking_rows(lambda name: None) == []
    assert planning_rows(lambda name: None) == []


def test_ingest_rows_count_rows_for_files_and_days_for_derived_records():
    from evgrid.pipelines.ingest.summary import summary_rows as ingest_rows

    q = {"traffic": {"files": ["a.csv"], "rows_read": 10, "rows_written": 8, "rows_removed_total": 2,
                     "days_dropped_total": 1, "days_kept": 3},
         "joint": {"files": [], "rows_read": 0, "rows_written": 0, "rows_removed_total": 0,
                   "days_dropped_total": 1603, "days_kept": 1319}}
    rows = {r["figure"]: r["ours"] for r in ingest_rows({"ingest_data_quality": q}.get)}
    assert rows == {"traffic: rows written / removed / days dropped": "8 / 2 / 1",
                    "joint: days kept / days dropped (derived)": "1,319 / 1,603"}

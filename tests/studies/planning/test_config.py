"""The planning block in the one config style: YAML-shaped frozen blocks, every problem in one error."""

import pytest

from evgrid.runtime.validation import ConfigError
from evgrid.studies.planning.config import PlanningConfig, PlanningConfigError, PlanningParams
from tests.studies.planning.conftest import small_params


def test_ranges_types_and_cross_rules_together():
    p = small_params()
    p["n_jobs"] = 2                                   # gone: named with where it went
    p["upper"]["levels_kw"] = [350.0, 120.0]          # cross rule of the upper block
    p["upper"]["n_initial"] = 10                      # n_initial <= n_evaluations
    p["cases"]["sioux_falls"]["v_min_pu"] = 0.2       # the case not chosen is checked too
    p["tou"]["hours"]["flat"] = [8, 9, 22]            # hour 23 in no tier
    p["traffic"]["max_iter"] = "many"
    with pytest.raises(PlanningConfigError) as err:
        PlanningConfig.from_params(p)
    assert isinstance(err.value, ConfigError)
    assert [path for path, _ in err.value.problems] == [
        "planning.n_jobs", "planning.cases.sioux_falls.v_min_pu", "planning.traffic.max_iter",
        "planning.tou.hours", "planning.upper.levels_kw", "planning.upper.n_initial"]
    assert "must be <= planning.upper.n_evaluations (6), got 10" in str(err.value)


def test_the_chosen_case_is_merged_into_the_study_view():
    p = small_params()
    p["case"] = "sioux_falls"
    raw = PlanningParams.from_params(p)
    cfg = raw.config()
    assert cfg.case.kind == "sioux_falls" and cfg.stations == raw.cases.sioux_falls.stations
    assert cfg.grid.v_min_pu == 0.90 and cfg.traffic.ev_share == 0.20
    assert cfg.upper.levels_kw == (120.0, 180.0, 250.0, 350.0)

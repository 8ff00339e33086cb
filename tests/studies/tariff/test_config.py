"""The tariff block in the one config style: every problem in one TariffConfigError, defaults only in YAML."""

import copy

import pytest

from evgrid.runtime.validation import ConfigError
from evgrid.studies.tariff.config import TariffConfig, TariffConfigError
from tests.studies.tariff.conftest import BASE_PARAMS


def test_every_problem_of_the_block_in_one_error():
    p = copy.deepcopy(BASE_PARAMS)
    p["uncertainty"]["gamma_robust"] = 1.5
    p["fleet"]["battery_kwhh"] = 60.0
    del p["feeder"]["case_path"]
    p["stations"]["F1"]["plugs"] = -1
    with pytest.raises(TariffConfigError) as err:
        TariffConfig.from_params(p)
    assert isinstance(err.value, ConfigError) and isinstance(err.value, ValueError)
    assert [path for path, _ in err.value.problems] == [
        "tariff.fleet.battery_kwhh", "tariff.stations.F1.plugs", "tariff.feeder.case_path",
        "tariff.uncertainty.gamma_robust"]
    assert "did you mean 'battery_kwh'?" in str(err.value)


def test_a_station_may_omit_its_line_limit_and_numbers_keep_the_model_types():
    p = copy.deepcopy(BASE_PARAMS)
    del p["stations"]["F2"]["line_limit_kw"]
    cfg = TariffConfig.from_params(p)
    assert cfg.stations["F2"].line_limit_kw is None
    assert isinstance(cfg.uncertainty.gamma_sweep[0], float) and isinstance(cfg.aggregators.damping, float)

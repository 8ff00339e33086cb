"""The ``dwpt`` block: no defaults in the dataclasses, every problem in one error named by its YAML path."""

import copy

import pytest

from evgrid.studies.dwpt.config import DwptConfig, DwptConfigError


def _paths(params: dict) -> list[str]:
    with pytest.raises(DwptConfigError) as err:
        DwptConfig.from_params(params)
    return [path for path, _ in err.value.problems]


def test_every_problem_in_one_error_named_by_its_yaml_path(dwpt_params):
    bad = copy.deepcopy(dwpt_params)
    bad["price"]["market"] = "DA"
    bad["ev"]["soc_min"] = 0.9          # an InMotionParams rule, reported under the flat dwpt.ev block
    bad["ev"]["speed_mph"] = 55.0       # unknown key of the flat block
    del bad["battery"]["eta_discharge"]
    bad["battery"]["soc_initial_frac"] = 0.05
    assert _paths(bad) == ["dwpt.price.market", "dwpt.ev.speed_mph", "dwpt.battery.eta_discharge"]
    del bad["ev"]["speed_mph"]
    bad["battery"]["eta_discharge"] = 0.95
    assert _paths(bad) == ["dwpt.price.market", "dwpt.ev", "dwpt.battery.soc_initial_frac"]
    with pytest.raises(DwptConfigError, match=r"dwpt.price.market: must be one of \['DAM', 'RT'\], got 'DA'; did you "
                                              r"mean 'DAM'\?; dwpt.ev: .*soc_min <= soc_max"):
        DwptConfig.from_params(bad)


def test_block_rules_run_once_the_blocks_parse(dwpt_params):
    """The whole block's rules (unique case names, solver options) see well-typed blocks (typed_params.build)."""
    bad = copy.deepcopy(dwpt_params)
    bad["cases"][1]["name"] = bad["cases"][0]["name"]
    bad["solver"]["mip_gapp"] = 0.1
    bad["max_shed_share"] = 0.0
    assert _paths(bad) == ["dwpt.max_shed_share", "dwpt.cases", "dwpt.solver"]
    del bad["seed"]
    assert _paths(bad) == ["dwpt.seed"]

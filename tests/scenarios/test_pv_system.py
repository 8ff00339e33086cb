"""The shared ``pv_system`` block (conf/base/parameters_pv.yml): one parser, every problem named once."""

import copy
from pathlib import Path

import pytest
import yaml

from evgrid.runtime.validation import ConfigError
from evgrid.scenarios.pv import PVSystem

ROOT = Path(__file__).resolve().parents[2]
BLOCK = yaml.safe_load((ROOT / "conf" / "base" / "parameters_pv.yml").read_text())["pv_system"]


def test_the_shipped_block_parses_to_its_values():
    system = PVSystem.from_params(BLOCK, 15)
    assert {k: getattr(system, k) for k in BLOCK} == BLOCK and system.step_minutes == 15
    assert system.timezone == "Etc/GMT+5"


def test_every_problem_is_named_by_its_parameter_path():
    bad = copy.deepcopy(BLOCK) | {"tilt_deg": 95.0, "albedo": "x", "eta_mp": 0.95, "tilts": 3}
    with pytest.raises(ConfigError) as err:
        PVSystem.from_params(bad, 15)
    assert [path for path, _ in err.value.problems] == ["pv_system.tilts"]  # unknown key first, alone
    del bad["tilts"]
    with pytest.raises(ConfigError) as err:
        PVSystem.from_params(bad, 15)
    assert [path for path, _ in err.value.problems] == ["pv_system.tilt_deg", "pv_system.albedo",
                                                         "pv_system.eta_mp"]
    with pytest.raises(ConfigError, match="pv_system.noct_c: is required"):
        PVSystem.from_params({k: v for k, v in BLOCK.items() if k != "noct_c"}, 15)
    with pytest.raises(ConfigError, match="pv_system: missing"):
        PVSystem.from_params(None, 15)


@pytest.mark.parametrize("module", ["evgrid.pipelines.gan.validation", "evgrid.studies.dro.config"])
def test_the_pipelines_that_read_it_check_it_before_any_node(module):
    import importlib

    params = {}
    for f in sorted((ROOT / "conf" / "base").glob("parameters*.yml")):
        params |= yaml.safe_load(f.read_text()) or {}
    validate = importlib.import_module(module).validate_params
    validate(params)
    params["pv_system"] = BLOCK | {"albedo": 1.5}
    with pytest.raises(ConfigError, match=r"pv_system\.albedo: must be >= 0 and <= 1"):
        validate(params)

"""Issue 23's holes: a pipeline's whole parameter block, nested blocks included, is checked by the hooks before
any node runs (the path `kedro run --pipelines=<name> --params <name>.<key>=...` takes), one error naming the key."""

import copy
import importlib
from pathlib import Path

import pytest
import yaml

from evgrid import hooks
from evgrid.pipeline_registry import pipeline_entries
from evgrid.runtime.validation import ConfigError

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"


def _check(name: str, params: dict) -> None:
    """What RunGuardHook.before_pipeline_run does for `kedro run --pipelines=<name>` (only that pipeline built)."""
    record = pipeline_entries()[name]
    pipe = importlib.import_module(record.pipelines[name]).create_pipeline()
    hooks.validate_parameters(params, hooks.validators_for(pipe, {name: pipe}))


def _shipped(name: str) -> dict:
    return yaml.safe_load((CONF / f"parameters_{name}.yml").read_text())


@pytest.mark.parametrize(("path", "message"), [
    (("no_such_key_xyz",), r"grid\.no_such_key_xyz: unknown key"),
    (("lindistflow", "no_such"), r"grid\.lindistflow\.no_such: unknown key"),
    (("solver", "treads"), r"grid\.solver\.treads: unknown key; did you mean 'threads'"),
    (("feeder", "rating_overides_kva"), r"grid\.feeder\.rating_overides_kva: unknown key; did you mean"),
])
def test_grid_refuses_an_unknown_key_at_any_depth(path, message):
    params = _shipped("grid")
    _check("grid", params)  # the shipped block passes
    block = params["grid"]
    for key in path[:-1]:
        block = block[key]
    block[path[-1]] = 1
    with pytest.raises(ConfigError, match=message):
        _check("grid", params)


def test_grid_names_every_bad_value_in_one_error():
    params = copy.deepcopy(_shipped("grid"))
    params["grid"]["lindistflow"]["thermal_sides"] = 5
    params["grid"]["feeder"]["format"] = "matpower7"
    with pytest.raises(ConfigError) as err:
        _check("grid", params)
    assert [p for p, _ in err.value.problems] == ["grid.feeder.format", "grid.lindistflow.thermal_sides"]


def test_planning_refuses_an_unknown_key_before_any_node():
    params = _shipped("planning")
    params["planning"]["no_such_key_xyz"] = 1
    with pytest.raises(ConfigError, match=r"planning\.no_such_key_xyz"):
        _check("planning", params)


def test_traffic_assignment_refuses_an_unknown_key_before_any_node():
    params = _shipped("traffic_assignment")
    _check("traffic_assignment", params)
    params["traffic_assignment"]["max_iters"] = 10
    with pytest.raises(ConfigError, match=r"traffic_assignment\.max_iters: unknown key; did you mean 'max_iter'"):
        _check("traffic_assignment", params)

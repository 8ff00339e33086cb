"""The one config style (evgrid.typed_params.build): every problem of a block tree in one ConfigError."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from evgrid.runtime.validation import ConfigError, Problems
from evgrid.typed_params import ParameterError, build


@dataclass(frozen=True)
class Lot:
    name: str
    kva: float
    pv_kwp: float | None

    def check(self, p: Problems) -> None:
        p.need(self.kva > 0, "kva", "> 0 kVA", self.kva)


@dataclass(frozen=True)
class Model:
    sides: int
    milp: bool

    def check(self, p: Problems) -> None:
        p.need(self.sides >= 16, "sides", ">= 16", self.sides)


@dataclass(frozen=True)
class Study:
    seed: int
    day: int | str
    lots: tuple[Lot, ...]
    model: Model
    sweep: tuple
    solver: dict

    def check(self, p: Problems) -> None:
        names = [lot.name for lot in self.lots]
        p.need(len(set(names)) == len(names), "lots", "unique lot names", names)


def good() -> dict:
    return {"seed": 1, "day": "representative", "lots": [{"name": "a", "kva": 630.0, "pv_kwp": 100},
                                                         {"name": "b", "kva": 400}],
            "model": {"sides": 16, "milp": True}, "sweep": [60, 80], "solver": {"threads": 1}}


def test_builds_nested_frozen_blocks():
    cfg = build(Study, good(), "x")
    assert cfg.lots[1] == Lot("b", 400, None)  # an Optional key the YAML omits is None
    assert cfg.sweep == (60, 80) and isinstance(cfg.model, Model) and cfg.solver == {"threads": 1}
    with pytest.raises(AttributeError):
        cfg.seed = 2  # frozen


def test_collects_every_problem_in_one_error():
    bad = good() | {"seed": "one", "model": {"sides": 12, "milp": True}}
    bad["lots"][0]["kva"] = -5
    with pytest.raises(ConfigError) as err:
        build(Study, bad, "x")
    assert dict(err.value.problems) == {
        "x.seed": "expected an integer, got 'one'",
        "x.lots[0].kva": "expected > 0 kVA, got -5",
        "x.model.sides": "expected >= 16, got 12",
    }
    assert str(err.value).startswith("3 invalid parameters")


def test_unknown_key_names_the_nearest_valid_one():
    with pytest.raises(ConfigError, match=r"x\.model\.milps: unknown key; did you mean 'milp'\?"):
        build(Study, good() | {"model": {"sides": 16, "milp": True, "milps": False}}, "x")


def test_missing_key_is_named():
    params = good()
    del params["model"]["milp"]
    with pytest.raises(ConfigError, match=r"x\.model\.milp: is required but missing"):
        build(Study, params, "x")


def test_nested_list_path():
    params = good()
    params["lots"][1]["kva"] = 0
    with pytest.raises(ParameterError, match=r"x\.lots\[1\]\.kva: expected > 0 kVA, got 0"):
        build(Study, params, "x")


def test_wrong_shapes_and_cross_block_rules():
    params = good() | {"lots": [{"name": "a", "kva": 1}, {"name": "a", "kva": 2}], "day": [3], "sweep": 5}
    with pytest.raises(ConfigError) as err:
        build(Study, params, "x")
    paths = [path for path, _ in err.value.problems]
    assert paths == ["x.day", "x.sweep"]  # the block's own check waits until it can be built
    params = good() | {"lots": [{"name": "a", "kva": 1}, {"name": "a", "kva": -2}]}
    with pytest.raises(ConfigError) as err:  # a child's rule problem: the parent's rules still run
        build(Study, params, "x")
    assert [path for path, _ in err.value.problems] == ["x.lots[1].kva", "x.lots"]
    params = good() | {"model": {"sides": 12, "milp": True, "side": 16}}
    with pytest.raises(ConfigError) as err:  # an unknown key (a typo?): no rules of the block or its parents
        build(Study, params | {"lots": [{"name": "a", "kva": 1}] * 2}, "x")
    assert [path for path, _ in err.value.problems] == ["x.model.side"]


def test_study_error_class_and_one_message_form():
    class XConfigError(ConfigError):
        pass

    with pytest.raises(XConfigError):
        build(Study, {"seed": 1}, "x", error=XConfigError)
    err = XConfigError("parameter 'x.lots': unknown bus 7")  # a data check outside the parser
    assert str(err) == "parameter 'x.lots': unknown bus 7" and isinstance(err, ValueError)


@pytest.mark.parametrize("module", ["evgrid.studies.tariff.config", "evgrid.studies.parking.config",
                                    "evgrid.studies.planning.config"])
def test_study_config_blocks_have_no_defaults(module):
    """Defaults live only in conf/base/parameters_<study>.yml: every field of a study's config block is required
    (an optional key is typed ``X | None``)."""
    import dataclasses
    import importlib

    mod = importlib.import_module(module)
    blocks = [c for c in vars(mod).values() if dataclasses.is_dataclass(c) and c.__module__ == module]
    assert blocks
    defaults = [f"{c.__name__}.{f.name}" for c in blocks for f in dataclasses.fields(c)
                if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING]
    assert defaults == []

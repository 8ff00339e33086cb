"""A sixth study built from the steps of docs/architecture.md ("Adding a study, step by step"), a few lines per
file in a temporary folder, found by the registry and run through the hooks' validation and the run summary."""

import importlib
import sys
import textwrap

import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

import evgrid.pipelines
import evgrid.studies

FILES = {
    # step 1: the study package
    "studies/toy/config.py": '''
        from dataclasses import dataclass

        from evgrid.runtime.validation import ConfigError, Problems
        from evgrid.typed_params import build

        class ToyConfigError(ConfigError):
            """A toy parameter is missing, unknown or out of range."""

        @dataclass(frozen=True)
        class ToyConfig:
            load_kw: float
            price_usd_per_kwh: float

            def check(self, p: Problems) -> None:
                p.number("load_kw", self.load_kw, 0.0, unit="kW")
                p.number("price_usd_per_kwh", self.price_usd_per_kwh, 0.0, unit="USD/kWh")

            @classmethod
            def from_params(cls, block):
                return build(cls, block, "toy", error=ToyConfigError)

        def validate_params(block):
            ToyConfig.from_params(block)
    ''',
    "studies/toy/report.py": '''
        from evgrid.runtime.summary import row

        def cost_usd(cfg):
            return cfg.load_kw * cfg.price_usd_per_kwh

        def summary_rows(load):
            cost = load("toy_cost_usd")
            return [] if cost is None else [row("hourly cost", cost, 12.0, "USD")]
    ''',
    "studies/toy/__init__.py": '''
        from evgrid.studies import Study, block, lazy

        STUDY = Study(name="toy", validator=block("toy", lazy("evgrid.studies.toy.config", "validate_params")),
                      summary_rows=lazy("evgrid.studies.toy.report", "summary_rows"))
    ''',
    # step 2: the pipeline package
    "pipelines/toy/nodes.py": '''
        from evgrid.studies.toy import report
        from evgrid.studies.toy.config import ToyConfig

        def cost_usd(params):
            return report.cost_usd(ToyConfig.from_params(params))
    ''',
    "pipelines/toy/pipeline.py": '''
        from kedro.pipeline import Pipeline, node

        from . import nodes

        def create_pipeline(**kwargs):
            return Pipeline([node(nodes.cost_usd, "params:toy", "toy_cost_usd", name="toy_cost")])
    ''',
    "pipelines/toy/__init__.py": '''
        from .pipeline import create_pipeline
    ''',
}
# step 3: conf/base/parameters_toy.yml
PARAMETERS = "toy:\n  load_kw: 40.0            # a small car park\n  price_usd_per_kwh: 0.3  # flat tariff\n"


@pytest.fixture
def toy(tmp_path, monkeypatch):
    for rel, text in FILES.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    monkeypatch.setattr(evgrid.studies, "__path__", [*evgrid.studies.__path__, str(tmp_path / "studies")])
    monkeypatch.setattr(evgrid.pipelines, "__path__", [*evgrid.pipelines.__path__, str(tmp_path / "pipelines")])
    yield yaml.safe_load(PARAMETERS)
    for name in [m for m in sys.modules if m.startswith(("evgrid.studies.toy", "evgrid.pipelines.toy"))]:
        del sys.modules[name]


def test_a_new_study_is_registered_validated_run_and_summarised(toy):
    from evgrid import hooks
    from evgrid.pipeline_registry import DEFAULT_PIPELINES, pipeline_entries
    from evgrid.runtime import summary
    from evgrid.runtime.validation import ConfigError
    from evgrid.studies import REGISTRY

    record = pipeline_entries()["toy"]
    assert record is REGISTRY["toy"] and record.docs == "docs/toy.md" and "toy" not in DEFAULT_PIPELINES
    # what register_pipelines does for each record (building all eleven pipelines here would cost ~10 s)
    pipes = {"toy": importlib.import_module(record.pipelines["toy"]).create_pipeline()}
    assert [n.name for n in pipes["toy"].nodes] == ["toy_cost"]

    # the hooks' check before any node runs: the shipped block passes, a typo is named with its fix
    checks = hooks.validators_for(pipes["toy"], pipes)
    assert list(checks) == ["toy"]
    hooks.validate_parameters(toy, checks)
    with pytest.raises(ConfigError, match=r"toy\.price_usd_per_kw: unknown key; did you mean 'price_usd_per_kwh'"):
        hooks.validate_parameters({"toy": {"load_kw": 40.0, "price_usd_per_kw": 0.3}}, checks)
    # every problem in one error, each named by its path (the one config style: build + check)
    with pytest.raises(ConfigError, match=r"2 invalid parameters.*toy\.load_kw: .*>= 0 kW.*toy\.price_usd_per_kwh: .*>= 0"):
        hooks.validate_parameters({"toy": {"load_kw": -1.0, "price_usd_per_kwh": -0.3}}, checks)
    with pytest.raises(ConfigError, match=r"toy\.price_usd_per_kwh: is required but missing"):
        hooks.validate_parameters({"toy": {"load_kw": 40.0}}, checks)

    catalog = DataCatalog({"params:toy": MemoryDataset(toy["toy"])})
    cost = SequentialRunner().run(pipes["toy"], catalog)["toy_cost_usd"].load()
    assert cost == pytest.approx(12.0)

    # the end-of-run summary, with the contributors the UxHook passes
    contributors = {name: rec.summary_rows for name, rec in hooks._entries().items() if rec.summary_rows}
    table = summary.collect(["toy"], {"toy_cost_usd": cost}.get, contributors)
    assert table.to_dict("records") == [{"pipeline": "toy", "figure": "hourly cost", "ours": pytest.approx(12.0),
                                         "paper": 12.0, "unit": "USD"}]


def test_the_toy_study_is_gone_after_the_test():
    from evgrid.studies import REGISTRY

    assert set(REGISTRY) == {"dro", "dwpt", "parking", "planning", "tariff"}

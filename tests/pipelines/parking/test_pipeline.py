"""parking pipeline end to end (spaceflights style): SequentialRunner on a small DataCatalog of real inputs
(built from the raw files; GAN-format stand-ins for the scenario files), a reduced lot size and sweep."""

import copy

import pandas as pd
import plotly.graph_objects as go
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from evgrid.pipelines.parking import create_pipeline
from evgrid.studies.parking.report import COST_COLUMNS
from tests.grid.helpers import CASE33
from tests.project_helpers import KeptDataset
from tests.studies.parking import fixtures as fx


@pytest.fixture(scope="module")
def outputs():
    inputs = fx.real_inputs()
    p = copy.deepcopy(fx.params())
    for lot, n in zip(p["lots"], (20, 20, 60), strict=True):
        lot["n_evs"] = n
    p["model"]["milp"] = False  # screened plan: the MILP is tested in tests/studies/parking/test_milp.py
    p["study"] |= {"pv_sweep_pct": [60, 100], "stochastic_days": 1, "heldout_dates": ["2021-09-08"],
                   "heldout_pv_dates": ["2017-07-18"]}
    with open(fx.ROOT / "conf/base/parameters_pv.yml") as fh:
        pv_system = yaml.safe_load(fh)["pv_system"]
    pipe = create_pipeline()
    datasets = {name: KeptDataset() for name in pipe.datasets()}
    catalog = DataCatalog(datasets=datasets)
    for name, df in inputs.items():
        catalog[name] = df
    catalog["params:parking"] = p
    catalog["params:compute"] = {"scheduler": "sync", "progress": False}  # in-process: no cluster in tests
    catalog["params:parking_feeder"] = {"path": str(CASE33)}
    catalog["params:pv_system"] = pv_system
    catalog["params:step_minutes"] = 15
    catalog["parking_scenario_results"] = MemoryDataset(copy_mode="assign")
    SequentialRunner().run(pipe, catalog)
    return {name: catalog.load(name) for name in ("parking_scenario_costs", "parking_pv_sensitivity",
                                                  "parking_switching", "parking_heldout_summary",
                                                  "parking_paper_comparison", "parking_fig9_losses",
                                                  "parking_day_summary", "parking_metrics")}


def test_tables_have_the_issue_columns(outputs):
    costs = outputs["parking_scenario_costs"]
    assert list(costs["scenario"]) == ["base", "s1", "s2", "s3", "s4"]
    assert set(COST_COLUMNS) <= set(costs.columns)
    assert costs[COST_COLUMNS].notna().all().all()
    sweep = outputs["parking_pv_sensitivity"]
    assert list(sweep["pv_penetration_pct"]) == [60, 100]
    assert set(COST_COLUMNS) <= set(sweep.columns)
    # more PV behind the lots: less grid energy for the EVs, lower environmental cost
    assert sweep["environment_total_usd"].iloc[1] < sweep["environment_total_usd"].iloc[0]
    assert len(outputs["parking_switching"]) == 24
    assert isinstance(outputs["parking_fig9_losses"], go.Figure)
    assert outputs["parking_day_summary"]["uncontrolled_cannot_be_fully_charged"].ge(0).all()


def test_heldout_comparison_and_paper_table(outputs):
    held = outputs["parking_heldout_summary"]
    assert "stochastic_plan - uncoordinated" in set(held["comparison"])
    comp = outputs["parking_paper_comparison"]
    assert "objective_usd s4 vs base" in set(comp["metric"])
    row = comp.set_index("metric").loc["objective_usd s4 vs base"]
    assert row["paper"] == pytest.approx(4829.90 / 5074.67 - 1)
    assert isinstance(pd.DataFrame(comp), pd.DataFrame)
    assert "parking_s4_objective_usd" in outputs["parking_metrics"]

"""Run the grid pipeline end to end (SequentialRunner, in-memory catalog), spaceflights style."""

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from evgrid.pipelines.grid import create_pipeline
from evgrid.pipelines.grid.nodes import load_grid_feeder
from tests.grid.helpers import CASE17, CASE33, SIMBENCH

OUTPUTS = ("grid_voltage_profile", "grid_metrics", "grid_base_case_violations", "grid_voltage_profile_plot",
           "grid_feeder_summary")


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so the test can read intermediate outputs."""

    def _release(self) -> None:
        pass


PARAMS = {
    "lindistflow": {"thermal_sides": 12},
    "solver": {"time_limit_s": 30, "threads": 1},
}


def _run(feeder: dict) -> dict:
    catalog = DataCatalog(
        {
            "params:grid.feeder": MemoryDataset(feeder),
            "params:grid.lindistflow": MemoryDataset(PARAMS["lindistflow"]),
            "params:grid.solver": MemoryDataset(PARAMS["solver"]),
        }
        | {name: KeptDataset() for name in OUTPUTS}
    )
    SequentialRunner().run(create_pipeline(), catalog)
    return {name: catalog.load(name) for name in OUTPUTS}


def test_grid_pipeline_case33_reference_numbers():
    out = _run({"path": str(CASE33), "default_rating_kva": 5000})
    met = {k: v["value"] for k, v in out["grid_metrics"].items()}
    assert met["ac_loss_kw"] == pytest.approx(202.68, abs=0.5)
    assert met["ac_v_min_pu"] == pytest.approx(0.9131, abs=5e-4) and met["ac_v_min_bus"] == 18
    assert met["lindistflow_v_min_pu"] == pytest.approx(0.916, abs=1e-3)
    prof = out["grid_voltage_profile"]
    assert isinstance(prof, pd.DataFrame) and len(prof) == 33
    assert (prof.dv_pu >= -1e-9).all()  # lossless LinDistFlow is optimistic at every bus
    assert out["grid_voltage_profile_plot"].data[0].name.startswith("AC")
    assert out["grid_base_case_violations"].empty


def test_grid_pipeline_other_feeders_load():
    out17 = _run({"path": str(CASE17)})
    assert out17["grid_feeder_summary"]["n_buses"] == 17
    viol = out17["grid_base_case_violations"]
    assert set(viol.kind) == {"undervoltage"} and (viol.value < 0.9).all()  # heavily loaded feeder
    outsb = _run({"path": str(SIMBENCH)})
    assert outsb["grid_feeder_summary"]["n_buses"] == 15
    assert {k: v["value"] for k, v in outsb["grid_metrics"].items()}["ac_loss_kw"] > 0


def test_bad_feeder_path_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.m"):
        load_grid_feeder({"path": str(tmp_path / "missing.m")})

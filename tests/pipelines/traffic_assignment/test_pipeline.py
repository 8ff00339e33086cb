"""traffic_assignment pipeline on the Braess TNTP files named in its parameters."""

from pathlib import Path

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from evgrid.pipelines.traffic_assignment import create_pipeline


class KeptDataset(MemoryDataset):
    def _release(self) -> None:
        pass


RAW = Path(__file__).resolve().parents[3] / "data" / "01_raw" / "transport"


def test_traffic_assignment_on_user_files():
    params = {"net_path": str(RAW / "Braess_net.tntp"), "trips_path": str(RAW / "Braess_trips.tntp"),
              "rel_gap": 1e-8}
    pipe = create_pipeline()
    names = sorted(pipe.all_outputs())
    catalog = DataCatalog({"params:traffic_assignment": MemoryDataset(params)} | {n: KeptDataset() for n in names})
    SequentialRunner().run(pipe, catalog)
    flows = catalog.load("ue_link_flows")
    assert list(flows.columns) == ["init_node", "term_node", "flow", "cost"]
    assert flows.flow.tolist() == pytest.approx([4.0, 2.0, 2.0, 2.0, 4.0], abs=1e-5)
    assert catalog.load("ue_summary")["relative_gap"] <= 1e-8


def test_unknown_parameter_is_named():
    pipe = create_pipeline()
    catalog = DataCatalog({"params:traffic_assignment": MemoryDataset({"net_pth": "x"})})
    with pytest.raises(Exception, match=r"traffic_assignment.net_pth"):
        SequentialRunner().run(pipe, catalog)

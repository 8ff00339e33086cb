import copy
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


def small_params(**upper) -> dict:
    """conf/base planning parameters on a tiny ring (8 ring nodes, 4 spokes, 4 stations), 2 periods, 2 seeds of
    6 exact evaluations; repo-absolute paths."""
    p = copy.deepcopy(yaml.safe_load((ROOT / "conf/base/parameters_planning.yml").read_text())["planning"])
    sf = p["cases"]["sioux_falls"]["network"]
    for k in ("net_path", "trips_path", "node_path"):
        sf[k] = str(ROOT / sf[k])
    p["grid"]["path"] = str(ROOT / p["grid"]["path"])
    ring = p["cases"]["ring"]
    ring["network"].update({"n_ring": 8, "spoke_every": 2, "peak_trips_veh_per_h": 6000.0})
    ring["stations"] = [{"name": "S1", "init_node": 1, "term_node": 9, "bus": 24},
                        {"name": "S2", "init_node": 3, "term_node": 9, "bus": 4},
                        {"name": "S3", "init_node": 2, "term_node": 3, "bus": 3},
                        {"name": "S4", "init_node": 6, "term_node": 7, "bus": 19}]
    p["periods"] = [{"name": "night", "hours": [0, 1, 2, 3, 4, 5, 6, 23]}, {"name": "day", "hours": list(range(7, 23))}]
    p["upper"].update({"budget_usd": 912000.0, "n_evaluations": 6, "n_initial": 3, "n_seeds": 2, "gp_restarts": 0}
                      | upper)
    p["ev_share_sweep"] = []
    return p


def daily_inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic ingest-shaped daily tables (two peaks for traffic), so the tests need no ingest run."""
    import numpy as np

    h = np.arange(96) / 4.0
    traffic = 1000 + 4000 * np.exp(-((h - 8) ** 2) / 2) + 4500 * np.exp(-((h - 17) ** 2) / 3)
    load = 10 + 5 * np.sin((h - 9) / 24 * 2 * np.pi) ** 2
    t = pd.DataFrame([traffic], columns=[f"flow_veh_per_h_t{i:03d}" for i in range(96)])
    lo = pd.DataFrame([load], columns=[f"load_mw_t{i:03d}" for i in range(96)])
    for df in (t, lo):
        df.insert(0, "is_weekend", False)
    return t, lo


@pytest.fixture(scope="module")
def system():
    from evgrid.studies.planning.config import PlanningConfig
    from evgrid.studies.planning.system import build_system

    return build_system(PlanningConfig.from_params(small_params()), *daily_inputs())

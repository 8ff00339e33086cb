"""Shared test helpers for the grid core (small hand-built feeders, file paths)."""

from pathlib import Path

import numpy as np
import pandas as pd

from evgrid.grid.network import make_network

GRIDS = Path(__file__).resolve().parents[2] / "data" / "01_raw" / "grids"
CASE33 = GRIDS / "case33bw.m"
CASE17 = GRIDS / "case17me.m"
SIMBENCH = GRIDS / "simbench_1-LV-rural1--0-no_sw"


def two_area_network(rating_kva: float = 500.0):
    """Area A = buses 1, 2 (slack 1); area B = bus 3, reached only through the rated tie 2-3."""
    buses = pd.DataFrame(
        {"p_load_kw": [0.0, 200.0, 800.0], "q_load_kvar": [0.0, 0.0, 0.0], "v_min_pu": [1.0, 0.9, 0.9],
         "v_max_pu": [1.0, 1.1, 1.1]},
        index=[1, 2, 3],
    )
    branches = pd.DataFrame(
        {"from_bus": [1, 2], "to_bus": [2, 3], "r_ohm": [0.05, 0.10], "x_ohm": [0.05, 0.10],
         "rating_kva": [np.nan, rating_kva]}
    )
    return make_network("two_area", 12.66, 10.0, buses, branches, slack_bus=1)

"""dwpt benchmarks: per-case MILP build/solve time and the whole pipeline's wall time.

Rows: ``dwpt.case.<name>`` (HiGHS solve seconds, build seconds, objective, MIP gap) for every case of
conf/base/parameters_dwpt.yml, ``dwpt.pipeline_in_process`` (SequentialRunner over all nodes, inputs cut
from the raw files for the configured day) and, when the ingest features exist, ``dwpt.kedro_run``
(``kedro run --pipelines=dwpt`` as a user runs it, interpreter start-up and MLflow logging included).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner


class _KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so every intermediate output can be inspected."""

    def _release(self) -> None:
        pass


ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "01_raw"


def _raw_inputs(day: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Ingest-contract frames for one day, cut from the raw files (no ingest run needed)."""

    def wide(values, channel):
        row = {"date": day, "month": day.month, "day_of_week": day.dayofweek, "is_weekend": day.dayofweek >= 5}
        return pd.DataFrame([row | {f"{channel}_t{i:03d}": float(v) for i, v in enumerate(values)}])

    tr = pd.read_csv(RAW / "traffic" / "Metro_Interstate_Traffic_Volume_2012-2017.csv",
                     usecols=["date_time", "traffic_volume"], parse_dates=["date_time"])
    tr = tr[tr["date_time"].dt.normalize() == day].drop_duplicates("date_time")
    irr = pd.read_csv(RAW / "irradiance" / f"1173581_43.05_-76.18_{day.year}.csv", skiprows=2)
    ghi = irr[(irr["Month"] == day.month) & (irr["Day"] == day.day)]["GHI"].to_numpy(float)
    ld = pd.read_csv(RAW / "nyiso" / "nyiso_total_load_5min_2016.csv")
    ld["t"] = pd.to_datetime(ld["time_5min"], format="%m/%d/%Y %H:%M")
    ld = ld[ld["t"].dt.normalize() == day]
    dam = pd.read_csv(RAW / "nyiso" / "20220718damlbmp_zone.csv")
    local = pd.to_datetime(dam["Time Stamp"], format="%m/%d/%Y %H:%M").dt.tz_localize("America/New_York")
    return {
        "traffic_daily": wide(np.repeat(tr["traffic_volume"].to_numpy(float), 4), "flow_veh_per_h"),
        "weather_daily": wide(np.repeat(ghi, 2), "ghi_w_per_m2"),
        "load_daily": wide(ld.groupby(ld["t"].dt.floor("15min"))["mw"].mean().to_numpy(), "load_mw"),
        "prices_primary": pd.DataFrame({"timestamp_utc": local.dt.tz_convert("UTC"), "timestamp_local": local,
                                        "market": "DAM", "zone": dam["Name"],
                                        "lbmp_usd_per_mwh": dam["LBMP ($/MWHr)"].astype(float)}),
    }


def run() -> list[dict]:
    from evgrid.pipelines.dwpt import create_pipeline

    params = yaml.safe_load((ROOT / "conf" / "base" / "parameters_dwpt.yml").read_text())["dwpt"]
    params["network"]["path"] = str(ROOT / params["network"]["path"])
    catalog = DataCatalog({k: MemoryDataset(v) for k, v in _raw_inputs(pd.Timestamp(params["dates"]["load"])).items()}
                          | {"params:dwpt": MemoryDataset(params), "params:dwpt.network": MemoryDataset(params["network"]),
                             "params:compute": MemoryDataset(yaml.safe_load(
                                 (ROOT / "conf" / "base" / "parameters.yml").read_text())["compute"])})
    pipe = create_pipeline()
    for name in pipe.all_outputs():
        catalog[name] = _KeptDataset()
    t0 = time.perf_counter()
    SequentialRunner().run(pipe, catalog)
    wall = time.perf_counter() - t0
    costs = catalog.load("dwpt_costs")
    rows = [{"benchmark": f"dwpt.case.{r['case']}", "seconds": float(r["solve_s"]), "build_s": float(r["build_s"]),
             "objective_usd": float(r["total_cost_usd"]), "mip_gap": float(r["mip_gap"] or 0.0)}
            for _, r in costs.iterrows()]
    rows.append({"benchmark": "dwpt.pipeline_in_process", "seconds": wall, "cases": len(costs),
                 "solve_s_total": float(costs["solve_s"].sum())})
    if (ROOT / "data" / "04_feature" / "traffic_daily.parquet").exists():
        env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true", MPLBACKEND="Agg")
        t0 = time.perf_counter()
        proc = subprocess.run([str(Path(sys.executable).with_name("kedro")), "run", "--pipelines=dwpt"], cwd=ROOT,
                              env=env, capture_output=True, text=True)
        rows.append({"benchmark": "dwpt.kedro_run", "seconds": time.perf_counter() - t0, "returncode": proc.returncode})
    return rows

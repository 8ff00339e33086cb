"""planning speed: static UE on Sioux Falls (FW / CFW / BFW to a relative gap of 1e-5) and one planning run.

Rows: ``benchmark, algorithm, relative_gap, iterations, seconds`` for the UE; ``planning_lower_level`` (one exact
evaluation of the uniform mid plan, cold then warm-started) and ``planning_upper_level`` (the default
conf/base search, all methods). Needs the ingest features (``kedro run --pipelines=ingest``) for the planning rows.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from evgrid.transport.assignment import single_class_ue
from evgrid.transport.tntp import read_net, read_trips

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "01_raw" / "transport"


def _ue_rows() -> list[dict]:
    net = read_net(RAW / "SiouxFalls_net.tntp")
    trips = read_trips(RAW / "SiouxFalls_trips.tntp")
    rows = []
    for alg, limit in (("bfw", None), ("cfw", 30.0), ("fw", 30.0)):
        t0 = time.perf_counter()
        res, tab = single_class_ue(net, trips, algorithm=alg, rel_gap=1e-5, max_iter=100000, time_limit_s=limit)
        rows.append({"benchmark": "ue_sioux_falls", "algorithm": alg, "relative_gap": res.relative_gap,
                     "iterations": res.iterations, "seconds": time.perf_counter() - t0,
                     "total_travel_time_veh_h": float((tab.flow * tab.cost).sum()), "converged": res.converged})
    return rows


def _planning_rows() -> list[dict]:
    """One exact evaluation of the uniform plan (cold, then again) and the default conf/base search, run the
    way the pipeline's nodes run them (``runs.run_planning`` on ``evgrid.compute``)."""
    import os

    from evgrid.compute import ComputeSettings
    from evgrid.studies.planning import runs
    from evgrid.studies.planning.config import PlanningConfig
    from evgrid.studies.planning.model import evaluate_plan
    from evgrid.studies.planning.system import build_system

    feat = ROOT / "data" / "04_feature"
    if not (feat / "traffic_daily.parquet").exists():
        return [{"benchmark": "planning", "skipped": "run kedro run --pipelines=ingest first"}]
    conf = yaml.safe_load((ROOT / "conf/base/parameters_planning.yml").read_text())
    compute = yaml.safe_load((ROOT / "conf/base/parameters.yml").read_text()).get("compute", {})
    cwd = os.getcwd()
    os.chdir(ROOT)  # the parameters' paths are relative to the project root, as in `kedro run`
    try:
        system = build_system(PlanningConfig.from_params(conf["planning"]),
                              pd.read_parquet(feat / "traffic_daily.parquet"), pd.read_parquet(feat / "load_daily.parquet"))
        rows = []
        plan = np.full(system.n_stations, float(min(system.config.upper.levels_kw)))
        for label in ("first", "again"):
            t0 = time.perf_counter()
            ev = evaluate_plan(system, plan)
            rows.append({"benchmark": f"planning_lower_level_{label}", "periods": len(system.periods),
                         "seconds": time.perf_counter() - t0, "total_usd_per_day": ev.total_usd_per_day})
        t0 = time.perf_counter()
        res = runs.run_planning(system, ComputeSettings.from_params(compute))
        rows.append({"benchmark": "planning_upper_level", "evaluations_per_method": system.config.upper.n_evaluations,
                     "seconds": time.perf_counter() - t0,
                     "total_usd_per_day": min(e.total_usd_per_day for e in res["best"].values())})
    finally:
        os.chdir(cwd)
    return rows


def run() -> list[dict]:
    return _ue_rows() + _planning_rows()


if __name__ == "__main__":
    print(pd.DataFrame(run()).to_string())

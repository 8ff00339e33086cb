"""parking benchmarks: model build, each scenario's solve and exact evaluation, and ``kedro run``.

Rows: ``parking.build`` (Pyomo build of the one-day model), ``parking.solve.<scenario>`` (wall seconds of
configure + compile + HiGHS, model objective, MIP gap where a MILP ran), ``parking.evaluate.<scenario>``
(exact evaluator: IEC thermal model + 24 pandapower power flows) on the configured scenario day, and
``parking.kedro_run`` (``kedro run --pipelines=parking`` as a user runs it, MLflow logging included). Needs the
ingest features and the GAN scenario files in data/ (rows say ``skipped`` otherwise).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
NEEDED = ["data/03_primary/prices.parquet", "data/04_feature/load_daily.parquet",
          "data/04_feature/ev_session_features.parquet", "data/04_feature/weather_daily.parquet",
          "data/07_model_output/scenarios/ev_times.parquet", "data/07_model_output/scenarios/pv.parquet"]


def run() -> list[dict]:
    missing = [p for p in NEEDED if not (ROOT / p).exists()]
    if missing:
        return [{"benchmark": "parking", "seconds": float("nan"), "skipped": f"missing {missing} (run ingest, gan)"}]
    from evgrid.grid.matpower import load_matpower_case
    from evgrid.studies.parking import model as M
    from evgrid.studies.parking import report as R
    from evgrid.studies.parking.config import ParkingConfig
    from evgrid.studies.parking.system import (
        build_system,
        gan_days,
        prepare_day,
        representative_pv_day,
        workplace_sessions,
    )

    with open(ROOT / "conf/base/parameters_parking.yml") as fh:
        allp = yaml.safe_load(fh)
    cfg = ParkingConfig.from_params(allp["parking"])
    rd = {p: pd.read_parquet(ROOT / p) for p in NEEDED}
    system = build_system(load_matpower_case(ROOT / allp["parking_feeder"]["path"]), rd[NEEDED[0]], rd[NEEDED[1]], cfg)
    sessions = workplace_sessions(rd[NEEDED[2]], cfg)
    st = cfg.study
    k = representative_pv_day(rd[NEEDED[5]]) if st.scenario_day == "representative" else int(st.scenario_day)
    prep = prepare_day(gan_days(rd[NEEDED[4]], rd[NEEDED[5]], sessions, cfg, k + 1)[-1], cfg)
    rows = []
    t0 = time.perf_counter()
    pm = M.build_model(system, [prep])
    rows.append({"benchmark": "parking.build", "seconds": time.perf_counter() - t0,
                 "class_hours": len(pm.class_keys), "evs": prep.counts["n_evs"]})
    res = {"base": R.base_schedule(system, prep)}
    for sc in ("s1", "s2", "s3", "s4"):
        t0 = time.perf_counter()
        if sc == "s4":
            res[sc] = M.solve_s4(pm, cfg.solver, start_from=res["s3"], run_milp=cfg.model.milp)
        else:
            res[sc] = M.solve_scenario(pm, sc, cfg.solver)
        rows.append({"benchmark": f"parking.solve.{sc}", "seconds": time.perf_counter() - t0,
                     "objective_model_usd": res[sc]["solve"]["objective_model_usd"],
                     "mip_gap": res[sc]["solve"].get("mip_gap"),
                     "milp_status": res[sc]["solve"].get("milp_status")})
    for sc, sched in res.items():
        t0 = time.perf_counter()
        costs, _, _ = R.evaluate_schedule(system, [prep], sched)
        rows.append({"benchmark": f"parking.evaluate.{sc}", "seconds": time.perf_counter() - t0,
                     "objective_usd": float(costs["objective_usd"].iloc[0])})
    t0 = time.perf_counter()
    proc = subprocess.run([str(Path(sys.executable).with_name("kedro")), "run", "--pipelines=parking"], cwd=ROOT,
                          capture_output=True, text=True)
    rows.append({"benchmark": "parking.kedro_run", "seconds": time.perf_counter() - t0, "returncode": proc.returncode})
    return rows

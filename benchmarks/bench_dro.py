"""dro speed at the paper's 96 x 15-min steps against the number of GAN scenarios (50, 100, 200, 500).

How the paper scale (96 steps, 500 scenarios) is handled, and what is measured here:

1. ``direct``: the Wasserstein-DRO model with every scenario as its own LinDistFlow block. Measured for
   S = 5, 10 support scenarios (build, compile + HiGHS, rows); the 50 ... 500 rows extrapolate the measured
   per-scenario time linearly (``extrapolated: True``, a lower bound: the solve time grows faster than
   linearly -- 5 -> 10 -> 20 scenarios took 9 -> 81 -> 244 s on the 2-core machine). 500 scenarios would be
   ~12 M rows: out of reach for one LP on 2 cores / 24 GiB.
2. ``reduced``: what the pipeline does. N GAN scenarios are reduced by k-medoids (W1 ground metric) to
   ``n_gan_atoms`` support points with probabilities, the DRO is solved on 10 real nominal + 10 GAN atoms,
   and then the first stage is evaluated exactly on all N scenarios by the persistent recourse LP
   (only bounds/costs change between batches). The DRO on 20 atoms does not depend on N: it is built and
   solved once (``dro_reduced_solve``); reduction and exact out-of-sample evaluation are measured for each N.

3. ``dro_radius_cv_workers``: the base run's radius cross-validation (24 steps, 3 folds x 8 radii, one
   :func:`evgrid.compute.map_tasks` task per fold) in-process, on a 1-worker and on a 2-worker local
   cluster, in one run; the speed-up 1 -> 2 workers is reported as a ratio (3 equal fold tasks on 2
   workers: ideal 1.5). Cluster start-up is excluded (started before the timed CV).

Needs the ingest features and GAN scenarios (``make run`` or ``kedro run --pipelines=ingest`` and
``--pipelines=gan``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from evgrid import compute
from evgrid.optim.persistent import PersistentProblem
from evgrid.optim.robust import WassersteinBall, distance_matrix, reduce_scenarios, standardise_features
from evgrid.scenarios.split import SplitConfig
from evgrid.studies.dro.config import DroConfig, NetworkConfig
from evgrid.studies.dro.evaluate import RecourseEvaluator
from evgrid.studies.dro.model import build_two_stage, radius_sweep
from evgrid.studies.dro.runs import select_radius
from evgrid.studies.dro.scenarios import build_atoms, prepare_scenarios
from evgrid.studies.dro.system import feature_blocks, load_network, make_system, to_model_data

ROOT = Path(__file__).resolve().parents[1]
SIZES = (50, 100, 200, 500)
DIRECT = (5, 10)


def _inputs():
    feat = ROOT / "data" / "04_feature"
    scen = ROOT / "data" / "07_model_output" / "scenarios"
    need = [feat / f"{n}.parquet" for n in ("traffic_daily", "weather_daily", "price_daily", "load_daily",
                                             "joint_daily")]
    need += [scen / f"{f}.parquet" for f in ("traffic", "pv", "price", "joint")]
    missing = [str(p) for p in need if not p.exists()]
    if missing:
        raise FileNotFoundError(f"bench_dro needs {missing}: run `kedro run --pipelines=ingest` and "
                                "`kedro run --pipelines=gan` first")
    f = {n: pd.read_parquet(feat / f"{n}.parquet") for n in ("traffic_daily", "weather_daily", "price_daily",
                                                              "load_daily", "joint_daily")}
    g = {n: pd.read_parquet(scen / f"{n}.parquet") for n in ("traffic", "pv", "price", "joint")}
    base = yaml.safe_load((ROOT / "conf" / "base" / "parameters_dro.yml").read_text())["dro"]
    paper = yaml.safe_load((ROOT / "conf" / "paper" / "parameters_dro.yml").read_text())["dro"]
    params = {**base, **{k: ({**base[k], **v} if isinstance(v, dict) else v) for k, v in paper.items()}}
    params["scenarios"] = {**params["scenarios"], "max_gan_support": 500, "gan_support_fraction": 0.99,
                           "max_gan_test": 5}
    pv_system = yaml.safe_load((ROOT / "conf" / "base" / "parameters_pv.yml").read_text())["pv_system"]
    return f, g, params, pv_system


def _split() -> SplitConfig:
    return SplitConfig.from_params(yaml.safe_load((ROOT / "conf" / "base" / "parameters.yml").read_text())["split"])


def cv_workers(f, g, pv_system) -> list[dict]:
    """Base-run radius CV in-process, on 1 and on 2 local workers (same process, clusters started first)."""
    base = yaml.safe_load((ROOT / "conf" / "base" / "parameters_dro.yml").read_text())["dro"]
    base["network"] = {**base["network"], "case_path": str(ROOT / base["network"]["case_path"])}
    cfg = DroConfig.from_params(base)
    sets, _ = prepare_scenarios(f["traffic_daily"], f["weather_daily"], f["price_daily"], f["load_daily"],
                                g["traffic"], g["pv"], g["price"], cfg, pv_system, 15, _split(),
                                joint_daily=f["joint_daily"], joint_scenarios=g["joint"])
    atoms, _ = build_atoms(load_network(NetworkConfig(**base["network"])), sets, cfg, 15)
    rows, secs, radius = [], {}, {}
    for name, settings in (("sync", compute.ComputeSettings(scheduler="sync", progress=False)),
                           ("1 worker", compute.ComputeSettings(scheduler="local", n_workers=1, progress=False)),
                           ("2 workers", compute.ComputeSettings(scheduler="local", n_workers=2, progress=False))):
        t0 = time.perf_counter()
        if settings.scheduler != "sync":
            compute.get_client(settings)
        start_s = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        radius[name], table, _ = select_radius(atoms, cfg, settings)
        secs[name] = time.perf_counter() - t0
        rows.append({"benchmark": "dro_radius_cv_workers", "scheduler": name, "seconds": secs[name],
                     "client_cpu_s": time.process_time() - c0, "cluster_start_s": start_s,
                     "tasks": int(table["fold"].nunique()), "radius": radius[name]})
    compute.shutdown()
    for r in rows:
        r["speedup_vs_1_worker"] = secs["1 worker"] / r["seconds"]
        r["same_radius_as_sync"] = r["radius"] == radius["sync"]
    return rows


def run() -> list[dict]:
    f, g, params, pv_system = _inputs()
    rows: list[dict] = cv_workers(f, g, pv_system)
    cfg = DroConfig.from_params(params)
    sets, _ = prepare_scenarios(f["traffic_daily"], f["weather_daily"], f["price_daily"], f["load_daily"],
                                g["traffic"], g["pv"], g["price"], cfg, pv_system, 15, _split(),
                                joint_daily=f["joint_daily"], joint_scenarios=g["joint"])
    sysm = make_system(load_network(NetworkConfig(**params["network"])), cfg, sets["load_profile"], 15)
    train, _ = to_model_data(sets["real_train"].channels, sysm, cfg)
    gan_all, _ = to_model_data(sets["gan_support"].channels, sysm, cfg)
    w = cfg.robust.worst_case_weight

    blocks = feature_blocks(train)
    f_train, _ = standardise_features(blocks)
    red = reduce_scenarios(f_train, 10, 0)
    nominal = train.subset(red.medoids)

    # 1. direct models: every support scenario its own block (nominal = first 3 atoms)
    per_scen = []
    for s in DIRECT:
        data = nominal.subset(np.arange(3)).concat(gan_all.subset(np.arange(s - 3)))
        feats, _ = standardise_features(feature_blocks(data), reference=blocks)
        ball = WassersteinBall(np.full(3, 1 / 3), distance_matrix(feats[:3], feats), 0.2)
        t0 = time.perf_counter()
        tsm = build_two_stage(sysm, data, method="dro", ball=ball, worst_case_weight=w, name="bench_direct")
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        lp = PersistentProblem(tsm.model, {"time_limit_s": None})  # no limit: the cold solve is the measurement
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        lp.solve()
        solve_s = time.perf_counter() - t0
        total = build_s + compile_s + solve_s
        per_scen.append(total / s)
        rows.append({"benchmark": "dro_direct_96steps", "scenarios": s, "seconds": total, "build_s": build_s,
                     "compile_s": compile_s, "solve_s": solve_s, "rows": len(lp.info.rows), "extrapolated": False})
    slope = float(np.max(per_scen))
    for n in SIZES:
        rows.append({"benchmark": "dro_direct_96steps", "scenarios": n, "seconds": slope * n,
                     "rows": int(rows[len(DIRECT) - 1]["rows"] / DIRECT[-1] * n), "extrapolated": True})

    # 2. reduced (the pipeline's way): k-medoids N -> 10 GAN atoms, DRO on 10 + 10 atoms, exact OOS recourse
    f_all, _ = standardise_features(feature_blocks(gan_all), reference=blocks)
    red_g = reduce_scenarios(f_all, 10, 1)
    data = nominal.concat(gan_all.subset(red_g.medoids))
    dist = distance_matrix(f_train[red.medoids], np.vstack([f_train[red.medoids], f_all[red_g.medoids]]))
    t0 = time.perf_counter()
    tsm = build_two_stage(sysm, data, method="dro", ball=WassersteinBall(red.probabilities, dist, 0.0),
                          worst_case_weight=w, name="bench_reduced")
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in radius_sweep(tsm, [0.2], w):
        pass
    dro_s = time.perf_counter() - t0
    rows.append({"benchmark": "dro_reduced_solve_96steps", "scenarios": 20, "seconds": build_s + dro_s,
                 "build_s": build_s, "solve_s": dro_s, "extrapolated": False})
    fs = tsm.first_stage()
    t0 = time.perf_counter()
    evaluator = RecourseEvaluator(sysm, 10, gan_all)
    eval_build_s = time.perf_counter() - t0
    for n in SIZES:
        n = min(n, gan_all.n_scenarios)
        gan = gan_all.subset(np.arange(n))
        t0 = time.perf_counter()
        f_gan, _ = standardise_features(feature_blocks(gan), reference=blocks)
        reduce_scenarios(f_gan, 10, 1)
        reduce_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluator.evaluate(fs, gan)
        eval_s = time.perf_counter() - t0
        rows.append({"benchmark": "dro_reduced_96steps", "scenarios": n, "seconds": reduce_s + eval_s,
                     "reduce_s": reduce_s, "oos_eval_s": eval_s, "oos_ms_per_scenario": 1000 * eval_s / n,
                     "eval_model_build_s": eval_build_s, "extrapolated": False})
    return rows

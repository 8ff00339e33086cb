"""evgrid.compute scale-out: one representative CPU-bound sweep on 1 vs 2 Dask workers, in one run.

Sweep: the 33-bus (Baran-Wu) x 96-step LinDistFlow LP (12-sided thermal polygon, 4 DG units, a daily
price) solved for 8 load scalings (0.80 ... 1.15 x the daily profile). Each task builds its Pyomo model
from plain data (the network is sent once per worker as ``shared``), solves it with HiGHS on one thread
and returns the objective: the shape of every evgrid fan-out (cases, folds x radii, scenario batches).

Rows: ``sync`` (in-process loop), ``local`` with 1 and 2 worker processes (cluster start-up excluded:
each cluster first runs one warm-up task per worker so imports are paid before timing; both clusters stay
up and their sweeps alternate), the speed-up 1 -> 2 workers as the ratio of the median wall times, the median per-task time, the cluster start-up and Dask's own overhead per task. ``load_avg_1min_before`` and the summed task CPU time tell whether other
jobs shared the cores (on a busy 2-core machine 2 workers cannot be faster than 1). Results are checked bit-identical across the three runs.

Second sweep (when ``data/04_feature/price_daily.parquet`` exists, i.e. after the ingest pipeline): the
GAN cross-validation shape, 6 folds of the real NYISO daily price profiles, one ``train_gan`` fit of 200
iterations per fold on one torch thread, seeds from the key ``("price", fold)``; same 1 vs 2 worker
alternation and a bit-identity check of the generated days.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import cloudpickle
import numpy as np

from evgrid import compute
from evgrid.compute import ComputeSettings, map_tasks

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import `benchmarks`

CASE33 = Path(__file__).resolve().parents[1] / "data" / "01_raw" / "grids" / "case33bw.m"
SCALES = [0.80 + 0.05 * i for i in range(8)]
DG_BUSES = [18, 22, 25, 33]


def lindistflow_task(scale: float, shared) -> dict:
    """Build and solve the 33-bus x 96-step LinDistFlow LP at ``scale`` x the daily load profile."""
    import pyomo.environ as pyo

    from evgrid.optim.lindistflow import Injection, LinDistFlowOptions, build_lindistflow, loads_from_profile
    from evgrid.optim.solver import solve

    t0, c0 = time.perf_counter(), time.process_time()
    net = shared
    steps = list(range(96))
    p, q = loads_from_profile(net, scale * (0.6 + 0.4 * np.sin(np.pi * np.arange(96) / 96)))
    m = pyo.ConcreteModel(name="bench_compute")
    m.pg = pyo.Var(DG_BUSES, steps, bounds=(0, 300))
    m.grid = pyo.Block()
    h = build_lindistflow(m.grid, net, steps, p_load_kw=p, q_load_kvar=q,
                          injections={"dg": Injection(DG_BUSES, p_kw=m.pg)},
                          options=LinDistFlowOptions(thermal_sides=12))
    price = 30 + 20 * np.sin(np.pi * np.arange(96) / 96)
    m.obj = pyo.Objective(expr=sum(price[t] * h.p_import_kw[t] + 45.0 * sum(m.pg[b, t] for b in DG_BUSES)
                                   for t in steps) * 0.25 / 1000)
    res = solve(m, {"threads": compute.solver_threads()})
    return {"scale": scale, "objective_usd": res.objective, "task_s": time.perf_counter() - t0,
            "task_cpu_s": time.process_time() - c0}


def gan_fold_task(fold: int, seed: int, shared: dict) -> dict:
    """One GAN cross-validation fit: train (``evgrid.scenarios.training.train_gan``, one torch thread) on
    the real NYISO daily price profiles outside ``fold``, scaled on those days only; score the held-out
    days' mean profile (RMSE, $/MWh) from 500 generated days conditioned on their weekend flag."""
    import torch

    from evgrid.scenarios.training import TrainConfig, generate, train_gan

    torch.set_num_threads(compute.solver_threads(1))
    t0, c0 = time.perf_counter(), time.process_time()
    x, weekend, folds = shared["x"], shared["weekend"], shared["folds"]
    train, test = folds != fold, folds == fold
    lo, hi = x[train].min(axis=0), x[train].max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    xs = 2 * (x[train] - lo) / span - 1
    cond = np.c_[weekend, 1 - weekend].astype(float)
    res = train_gan(xs, cond[train], TrainConfig(iterations=shared["iterations"], loss="gan"), seed=seed,
                    progress=False)
    gen = generate(res.generator, np.repeat(cond[test][:1], 500, axis=0), seed=seed)
    profile = (gen + 1) / 2 * span + lo
    rmse = float(np.sqrt(np.mean((profile.mean(axis=0) - x[test].mean(axis=0)) ** 2)))
    return {"fold": fold, "rmse_usd_per_mwh": rmse, "sample": profile[:3].copy(),
            "task_s": time.perf_counter() - t0, "task_cpu_s": time.process_time() - c0}


def _gan_data(n_folds: int = 6, iterations: int = 200) -> dict | None:
    import pandas as pd

    path = Path(__file__).resolve().parents[1] / "data" / "04_feature" / "price_daily.parquet"
    if not path.exists():
        return None
    df = pd.read_parquet(path)
    cols = [c for c in df.columns if c.startswith("lbmp_usd_per_mwh_t")]
    x = df[cols].to_numpy(float)
    weekend = pd.to_datetime(df["date"]).dt.dayofweek.to_numpy() >= 5
    folds = np.random.default_rng(0).permutation(len(df)) % n_folds
    return {"x": x, "weekend": weekend.astype(float), "folds": folds, "iterations": iterations}


def _noop(task):
    return task


def _sweep(settings: ComputeSettings, net) -> tuple[list[dict], float, float]:
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    out = map_tasks(lindistflow_task, SCALES, settings, keys=[f"scale{s:.2f}" for s in SCALES], shared=net,
                    desc=f"{settings.scheduler} x{settings.n_workers}")
    return out, time.perf_counter() - t0, load0


def _gan_sweep(settings: ComputeSettings, data: dict) -> tuple[list[dict], float, float]:
    load0 = os.getloadavg()[0]
    folds = sorted(set(data["folds"].tolist()))
    t0 = time.perf_counter()
    out = map_tasks(gan_fold_task, folds, settings, keys=[("price", f) for f in folds], seed=42, shared=data,
                    desc=f"gan CV {settings.scheduler} x{settings.n_workers}")
    return out, time.perf_counter() - t0, load0


def run(repeats: int = 2) -> list[dict]:
    """Both clusters stay up and the 1- and 2-worker sweeps alternate (``repeats`` each, medians), so a
    change in the load of a shared machine hits both alike."""
    warnings.simplefilter("ignore")
    from evgrid.grid.matpower import load_matpower_case

    net = load_matpower_case(CASE33).with_ratings(default_kva=5000)
    rows, results, walls = [], {}, {}
    sync = ComputeSettings(scheduler="sync", progress=False)
    configs = {"local_1_worker": ComputeSettings(scheduler="local", n_workers=1, progress=False),
               "local_2_workers": ComputeSettings(scheduler="local", n_workers=2, progress=False)}
    try:
        out, seconds, load0 = _sweep(sync, net)
        results["sync"], walls["sync"] = out, [seconds]
        loads = {"sync": [load0]}
        startup = {}
        for name, settings in configs.items():  # start + warm up (imports paid before timing)
            t0 = time.perf_counter()
            compute.get_client(settings)
            map_tasks(lindistflow_task, SCALES[:settings.n_workers], settings, shared=net, desc="warm-up")
            startup[name] = time.perf_counter() - t0
        for _ in range(repeats):
            for name, settings in configs.items():
                out, seconds, load0 = _sweep(settings, net)
                results[name] = out
                walls.setdefault(name, []).append(seconds)
                loads.setdefault(name, []).append(load0)
        for name, out in results.items():
            rows.append({"benchmark": f"lindistflow_33x96_x8_{name}", "seconds": statistics.median(walls[name]),
                         "runs": len(walls[name]), "tasks": len(out),
                         "median_task_s": statistics.median(r["task_s"] for r in out),
                         "task_cpu_s_sum": sum(r["task_cpu_s"] for r in out),
                         "load_avg_1min_before": statistics.mean(loads[name]), "cpus": os.cpu_count(),
                         "startup_s": startup.get(name, np.nan)})
        # GAN cross-validation: 6 folds of the price family (200 iterations each), same alternation
        data = _gan_data()
        if data is not None:
            gan_out, gan_walls, gan_loads = {}, {}, {}
            gan_out["sync"], w, ld = _gan_sweep(sync, data)
            gan_walls["sync"], gan_loads["sync"] = [w], [ld]
            for _ in range(repeats):
                for name, settings in configs.items():
                    gan_out[name], w, ld = _gan_sweep(settings, data)
                    gan_walls.setdefault(name, []).append(w)
                    gan_loads.setdefault(name, []).append(ld)
            same = all(all(a["sample"].tobytes() == b["sample"].tobytes() for a, b in zip(o, gan_out["sync"],
                                                                                        strict=True))
                       for o in gan_out.values())
            for name, out in gan_out.items():
                rows.append({"benchmark": f"gan_cv_price_6folds_{name}", "seconds": statistics.median(gan_walls[name]),
                             "runs": len(gan_walls[name]), "tasks": len(out),
                             "median_task_s": statistics.median(r["task_s"] for r in out),
                             "task_cpu_s_sum": sum(r["task_cpu_s"] for r in out),
                             "load_avg_1min_before": statistics.mean(gan_loads[name]), "cpus": os.cpu_count()})
            rows.append({"benchmark": "gan_cv_speedup_1_to_2_workers",
                         "seconds": statistics.median(gan_walls["local_2_workers"]),
                         "ratio": statistics.median(gan_walls["local_1_worker"])
                         / statistics.median(gan_walls["local_2_workers"]), "bit_identical": same})
        # Dask's own cost per task: 400 no-op tasks on the (warm) 2-worker cluster
        t0 = time.perf_counter()
        map_tasks(_noop, list(range(400)), configs["local_2_workers"])
        rows.append({"benchmark": "dask_overhead_per_task_2_workers", "seconds": (time.perf_counter() - t0) / 400,
                     "tasks": 400})
    finally:
        compute.shutdown()
    ref = [r["objective_usd"] for r in results["sync"]]
    identical = all([r["objective_usd"] for r in results[k]] == ref for k in results)
    rows.append({"benchmark": "speedup_1_to_2_workers", "seconds": statistics.median(walls["local_2_workers"]),
                 "ratio": statistics.median(walls["local_1_worker"]) / statistics.median(walls["local_2_workers"]),
                 "bit_identical": identical})
    return rows


if __name__ == "__main__":
    import pandas as pd

    print(pd.DataFrame(run()).to_string(index=False))

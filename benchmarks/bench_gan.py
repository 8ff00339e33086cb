"""GAN benchmarks: training iterations/s per family (default configuration, one fit on the real feature
data, 300 iterations); the GAN cross-validation fan-out on 1 vs 2 Dask workers (``evaluate_generators`` of
the price family with 5 CV folds: validation + final + 5 folds = 7 GAN tasks of ``CV_ITERATIONS``
iterations, both local clusters started before timing, alternated, same machine and minute: the speed-up
is measured in one run, and the two score tables must be identical); and the end-to-end
`kedro run --pipelines=gan` wall time. Runs the ingest pipeline first when the feature files are missing.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
FEATURES = ROOT / "data" / "04_feature"
BENCH_ITERATIONS = 300
CV_ITERATIONS = 400  # per GAN task of the CV fan-out benchmark (paper: 20,000)
CV_REPEATS = 2



def _pv_system() -> dict:
    """The shared PV-system block (conf/base/parameters_pv.yml) the pv family derives PV through."""
    return yaml.safe_load((ROOT / "conf" / "base" / "parameters_pv.yml").read_text())["pv_system"]

def _kedro(*args: str) -> float:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "MPLBACKEND": "Agg"}
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "kedro"), "run", *args], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def run() -> list[dict]:
    import numpy as np

    from evgrid.pipelines.gan.nodes import _make_gan, _make_transform, _settings
    from evgrid.pipelines.gan.pipeline import FAMILIES
    from evgrid.scenarios.dayahead import DayAheadConfig, family_conditions
    from evgrid.scenarios.families import build_family_data

    rows: list[dict] = []
    if not all((FEATURES / f"{d}.parquet").exists() for d in set(FAMILIES.values())):
        rows.append({"benchmark": "gan: ingest (prerequisite)", "seconds": _kedro("--pipelines=ingest")})
    gan = yaml.safe_load((ROOT / "conf" / "base" / "parameters_gan.yml").read_text())["gan"]
    torch.set_num_threads(int(gan["torch_threads"]))
    for family, dataset in FAMILIES.items():
        fp = copy.deepcopy(gan["families"][family])
        fp.setdefault("training", {})["iterations"] = BENCH_ITERATIONS
        data = build_family_data(family, pd.read_parquet(FEATURES / f"{dataset}.parquet"), fp, 15, _pv_system())
        cond = family_conditions(data, DayAheadConfig.from_params(gan.get("conditioning")))
        data = data.subset(np.flatnonzero(cond.keep))
        model = _make_gan(family, fp, gan, seed=0)(_make_transform(fp, gan)())
        t0 = time.perf_counter()
        model.fit(data, cond, progress=False)
        s = _settings(fp, gan)["training"]
        rows.append({"benchmark": f"gan: train {family}", "seconds": time.perf_counter() - t0,
                     "iterations": BENCH_ITERATIONS, "iterations_per_s": round(model.iterations_per_s, 1),
                     "loss": s["loss"], "layers": s["g_layers"], "width": s["g_width"], "units": data.n_units,
                     "default_iterations": gan["training"]["iterations"]})
    rows += gan_cv_scaling(gan)
    rows.append({"benchmark": "gan: kedro run --pipelines=gan (end to end)", "seconds": _kedro("--pipelines=gan"),
                 "cores": os.cpu_count()})
    return rows


def gan_cv_scaling(gan: dict) -> list[dict]:
    """1 vs 2 workers on the price family's GAN cross-validation (7 tasks), alternated ``CV_REPEATS`` times."""
    import statistics

    import pandas as pd

    from evgrid import compute
    from evgrid.pipelines.gan.nodes import evaluate_generators
    from evgrid.scenarios.families import build_family_data

    params = yaml.safe_load((ROOT / "conf" / "base" / "parameters.yml").read_text())
    fp = copy.deepcopy(gan["families"]["price"])
    g = copy.deepcopy(gan)
    g["progress_bar"] = False
    g["training"]["iterations"] = CV_ITERATIONS
    g["holdout"].update(models=["gan"], cv_folds=5, n_boot=100)
    data = build_family_data("price", pd.read_parquet(FEATURES / "price_daily.parquet"), fp)
    settings = {f"{w}_worker": {**params["compute"], "scheduler": "local", "n_workers": w, "progress": False}
                for w in (1, 2)}
    for s in settings.values():
        compute.get_client(compute.ComputeSettings.from_params(s))  # start-up not timed
    walls: dict[str, list[float]] = {k: [] for k in settings}
    tables = {}
    for _ in range(CV_REPEATS):
        for name, s in settings.items():
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            tables[name] = evaluate_generators(data, fp, g, params["split"], s)[0]
            walls[name].append(time.perf_counter() - t0)
            walls.setdefault(f"{name}_load", []).append(load)
    compute.shutdown()
    same = tables["1_worker"].equals(tables["2_worker"])
    rows = [{"benchmark": f"gan: CV fan-out price, 7 GAN tasks x {CV_ITERATIONS} it, {name.replace('_', ' ')}",
             "seconds": statistics.median(walls[name]), "runs": CV_REPEATS,
             "load_avg_1min_before": round(statistics.mean(walls[f"{name}_load"]), 2), "cpus": os.cpu_count()}
            for name in settings]
    rows.append({"benchmark": "gan: CV fan-out speed-up 1 -> 2 workers", "ratio": round(
        statistics.median(walls["1_worker"]) / statistics.median(walls["2_worker"]), 3), "bit_identical": same,
        "seconds": statistics.median(walls["2_worker"])})
    return rows


def _paper_gan_params() -> dict:
    """``gan`` parameters of ``--env paper`` (conf/base soft-merged with conf/paper, as settings.py)."""
    from evgrid.pipelines.gan.nodes import _merge

    base = yaml.safe_load((ROOT / "conf" / "base" / "parameters_gan.yml").read_text())
    paper = yaml.safe_load((ROOT / "conf" / "paper" / "parameters_gan.yml").read_text())
    return _merge(base, paper)["gan"]


def paper_projection(n_iter: int = 200, n_days: int = 12) -> list[dict]:
    """Projected CPU seconds of ``kedro run --env paper --pipelines=gan`` per family, from measured CPU time
    (``time.process_time``: robust to other processes sharing the cores, unlike wall time) of
    ``n_iter`` GAN and flow iterations and of scoring ``n_days`` days (every generator, ``samples_per_day``
    of the paper env) on the real feature data: fits x iterations x CPU per iteration + scored days x CPU
    per day. Scored days = validation + test + every training day once (CV)."""
    import dataclasses

    import numpy as np

    from evgrid.pipelines.gan.nodes import _family_seed, _settings, _transform_kwargs
    from evgrid.pipelines.gan.pipeline import FAMILIES
    from evgrid.scenarios.calendar import ConditioningConfig
    from evgrid.scenarios.dayahead import DayAheadConfig, family_conditions
    from evgrid.scenarios.families import build_family_data
    from evgrid.scenarios.generators import FlowConfig
    from evgrid.scenarios.holdout import FitSpec, HoldoutConfig, fit_all, score_phase
    from evgrid.scenarios.split import SplitConfig, temporal_split, validation_mask
    from evgrid.scenarios.training import TrainConfig

    gan = _paper_gan_params()
    split = SplitConfig.from_params(yaml.safe_load((ROOT / "conf" / "base" / "parameters.yml").read_text())["split"])
    torch.set_num_threads(1)
    rows = []
    for family, dataset in FAMILIES.items():
        if family not in gan["families"] or not (FEATURES / f"{dataset}.parquet").exists():
            continue
        fp = gan["families"][family]
        s = _settings(fp, gan)
        hcfg, tcfg, fcfg = HoldoutConfig.from_params(s["holdout"]), TrainConfig.from_params(s["training"]), \
            FlowConfig.from_params(s["flow"])
        data = build_family_data(family, pd.read_parquet(FEATURES / f"{dataset}.parquet"), fp, 15, _pv_system())
        cond = family_conditions(data, DayAheadConfig.from_params(gan.get("conditioning")))
        data = data.subset(np.flatnonzero(cond.keep))
        train, test = temporal_split(data.dates, split, fp["dataset"])
        val = validation_mask(data.dates, train, hcfg.val_fraction)
        days = np.asarray(data.dates).astype("datetime64[D]")
        n_scored = len(np.unique(days[val])) + len(np.unique(days[test])) + \
            (len(np.unique(days[train])) if hcfg.cv_folds > 1 else 0)
        n_phases = 2 + (hcfg.cv_folds if hcfg.cv_folds > 1 else 0)
        spec = FitSpec(family, dataclasses.replace(hcfg), dataclasses.replace(tcfg, iterations=n_iter),
                       dataclasses.replace(fcfg, iterations=n_iter),
                       ConditioningConfig.from_params(gan.get("calendar_labels")), _transform_kwargs(fp, gan),
                       _family_seed(gan, family))
        ti = np.flatnonzero(train)
        cpu = {}
        for name in hcfg.models:
            t0 = time.process_time()
            fitted = fit_all(data.subset(ti), cond.subset(ti), dataclasses.replace(hcfg, models=(name,)),
                             spec.make_gan, spec.make_transform, spec.flow, spec.labels, spec.seed)
            cpu[f"fit_{name}"] = time.process_time() - t0
            first = np.flatnonzero(test)
            first = first[np.isin(days[first], np.unique(days[first])[:n_days])]
            t0 = time.process_time()
            score_phase(fitted, data.subset(first), cond.subset(first), hcfg, 0, "test")
            cpu[f"score_{name}"] = (time.process_time() - t0) / n_days
        gan_it, flow_it = cpu["fit_gan"] / n_iter, cpu["fit_flow"] / n_iter
        cheap = sum(v for k, v in cpu.items() if k.startswith("fit_") and k not in ("fit_gan", "fit_flow"))
        fits = n_phases * (tcfg.iterations * gan_it + fcfg.iterations * flow_it + cheap)
        scoring = n_scored * sum(v for k, v in cpu.items() if k.startswith("score_"))
        rows.append({"benchmark": f"gan paper projection: {family}", "seconds": fits + scoring,
                     "gan_ms_per_it": round(1000 * gan_it, 2), "gan_iterations": tcfg.iterations,
                     "flow_ms_per_it": round(1000 * flow_it, 2), "flow_iterations": fcfg.iterations,
                     "phases": n_phases, "fits_cpu_s": round(fits), "scored_days": n_scored,
                     "samples_per_day": hcfg.samples_per_day, "scoring_cpu_s_per_day": round(scoring / n_scored, 3),
                     "scoring_cpu_s": round(scoring)})
    total = sum(r["seconds"] for r in rows)
    rows.append({"benchmark": "gan paper projection: all families, CPU s (wall on 2 idle cores ~ CPU / 2 / 0.85)",
                 "seconds": total, "wall_2_cores_min": round(total / 2 / 0.85 / 60, 1)})
    return rows


if __name__ == "__main__":  # python -m benchmarks.bench_gan [paper]: the paper projection alone with "paper"
    for row in (paper_projection() if "paper" in sys.argv[1:] else run()):
        print(row)

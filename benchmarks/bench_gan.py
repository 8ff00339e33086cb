"""GAN benchmarks: training iterations/s per family (default configuration, one fit on the real feature
data, 300 iterations) and the end-to-end `kedro run --pipeline=gan` wall time (5 families x 6 generators
fitted twice (validation, final), temporal-holdout scoring, plots, MLflow). Runs the ingest pipeline
first when the feature files are missing.
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
        rows.append({"benchmark": "gan: ingest (prerequisite)", "seconds": _kedro("--pipeline=ingest")})
    gan = yaml.safe_load((ROOT / "conf" / "base" / "parameters_gan.yml").read_text())["gan"]
    torch.set_num_threads(int(gan["torch_threads"]))
    for family, dataset in FAMILIES.items():
        fp = copy.deepcopy(gan["families"][family])
        fp.setdefault("training", {})["iterations"] = BENCH_ITERATIONS
        data = build_family_data(family, pd.read_parquet(FEATURES / f"{dataset}.parquet"), fp)
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
    rows.append({"benchmark": "gan: kedro run --pipeline=gan (end to end)", "seconds": _kedro("--pipeline=gan"),
                 "cores": os.cpu_count()})
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)

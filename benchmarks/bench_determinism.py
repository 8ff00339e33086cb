"""Determinism under load: each pipeline run twice, the second time with CPU hog processes beside it; every table
it writes under ``data/08_reporting`` must be byte-identical (timing columns excluded).

A result may depend on the commit and the parameters only, never on a wall-clock limit or the machine's load
(issue 23): solvers stop on work limits (node/iteration limits, gap targets), searches on iteration counts.
This benchmark checks that the way a user would see it.

* Which pipelines: ``EVGRID_DETERMINISM_PIPELINES`` (comma separated; default ``parking,planning``: one study
  with a MILP, one with a search), or ``python -m benchmarks.bench_determinism grid tariff``.
* The hog: ``EVGRID_DETERMINISM_HOGS`` busy-loop processes (default 1) during the second run.
* Tables: ``.csv``, ``.parquet`` and ``.json`` files the run wrote under ``data/08_reporting/<name>``
  (modified since it started). Each is read and
  re-serialised canonically (CSV with exact float repr; JSON with sorted keys) after dropping timing columns /
  keys: names ending in ``_s``, ``_sec`` or ``_seconds`` (seconds, by the project's units-in-names rule),
  or containing ``wall``/``elapsed``. Figures (png/html) are not compared (plotly writes random ids).

Two finished runs (e.g. a fresh-clone ``make run`` before and after a refactor, issue 24) are compared with
``python -m benchmarks.bench_determinism --compare OLD/data/08_reporting NEW/data/08_reporting``: every table
under both trees, with the same canonical form, plus the keys that differ between any two runs by design
(``run_id``; ``plausible_span``, the ingest's date bounds derived from the run date) and absolute paths
rewritten relative to each project; exit 1 when a table differs or exists on one side only.

Runs ``kedro run --pipelines=<name>`` in this project (its ``data/`` and ``mlflow.db``; another project folder,
e.g. a copy, with ``EVGRID_DETERMINISM_PROJECT``): the upstream outputs the pipeline reads must exist (e.g. a
``make run`` before). Each row: the pipeline, both runs' wall seconds,
tables compared, and the tables that differ (``differ``: ``-`` when every table is identical).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(os.environ.get("EVGRID_DETERMINISM_PROJECT") or Path(__file__).resolve().parents[1]).resolve()
REPORTING = ROOT / "data" / "08_reporting"
TIMING = re.compile(r"(_s|_sec|_secs|_seconds)$|^seconds$|wall|elapsed", re.IGNORECASE)
VOLATILE = {"run_id", "plausible_span"}  # differ between any two runs by design (an MLflow id, the run date)
TABLES = (".csv", ".parquet", ".json")


def _drop_timing_keys(obj, project: str | None = None):
    if isinstance(obj, dict):
        return {k: _drop_timing_keys(v, project) for k, v in obj.items()
                if not TIMING.search(str(k)) and str(k) not in VOLATILE}
    if isinstance(obj, list):
        return [_drop_timing_keys(v, project) for v in obj]
    if project and isinstance(obj, str) and obj.startswith(project):
        return "<project>" + obj[len(project):]
    return obj


def canonical(path: Path, project: str | None = None) -> bytes:
    """The table at ``path`` without timing columns, serialised so that equal bytes = equal values (JSON
    strings under the folder ``project`` are written relative to it)."""
    if path.suffix == ".json":
        return json.dumps(_drop_timing_keys(json.loads(path.read_text()), project), sort_keys=True).encode()
    if path.suffix == ".csv" and not path.read_text().strip():
        return b""  # an empty table (e.g. no violation rows)
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    df = df[[c for c in df.columns if not TIMING.search(str(c))]]
    buf = io.StringIO()
    df.to_csv(buf, index=path.suffix == ".parquet", float_format="%.17g")
    return buf.getvalue().encode()


def snapshot(since: float, prefix: str = "", root: Path = REPORTING) -> dict[str, bytes]:
    """``{relative path: canonical bytes}`` of every table under ``root`` whose path starts with ``prefix``
    (a pipeline's folder, ``data/08_reporting/<name>/``: other runs in the same tree are not mixed in),
    written at or after ``since``."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_file() and p.suffix in TABLES and rel.startswith(prefix) and p.stat().st_mtime >= since:
            out[rel] = canonical(p)
    return out


def tree(root: Path) -> dict[str, bytes]:
    """Every table under a reporting folder ``root`` (``<project>/data/08_reporting``), canonical."""
    root = Path(root).resolve()
    project = str(root.parents[1])
    return {str(p.relative_to(root)): canonical(p, project) for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in TABLES}


def compare(a: dict[str, bytes], b: dict[str, bytes]) -> list[str]:
    """Tables that differ between two snapshots (missing on one side counts as different)."""
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


@contextlib.contextmanager
def cpu_hogs(n: int):
    """``n`` busy-loop processes for the duration of the block."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _kedro_run(name: str) -> float:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "MPLBACKEND": "Agg"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kedro", "run", f"--pipelines={name}"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"kedro run --pipelines={name} failed (rc {proc.returncode}):\n{proc.stdout[-2000:]}"
                           f"{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def check(name: str, hogs: int = 1) -> dict:
    """Run pipeline ``name`` twice (the second with ``hogs`` CPU hogs) and compare its reporting tables."""
    t_first = time.time() - 1  # mtime resolution
    wall_a = _kedro_run(name)
    first = snapshot(t_first, name)
    t_second = time.time()
    time.sleep(1.1)  # the second run's files get a later mtime than anything the first wrote
    with cpu_hogs(hogs):
        wall_b = _kedro_run(name)
    second = snapshot(t_second, name)
    differ = compare(first, second)
    return {"benchmark": f"determinism {name}", "seconds": wall_a + wall_b, "run1_s": wall_a,
            "run2_loaded_s": wall_b, "hogs": hogs, "tables": len(set(first) | set(second)),
            "identical": not differ, "differ": ", ".join(differ) or "-"}


def pipelines(argv: list[str] | None = None) -> list[str]:
    if argv:
        return argv
    return [p.strip() for p in os.environ.get("EVGRID_DETERMINISM_PIPELINES", "parking,planning").split(",")
            if p.strip()]


def run(argv: list[str] | None = None) -> list[dict]:
    hogs = int(os.environ.get("EVGRID_DETERMINISM_HOGS", "1"))
    return [check(name, hogs) for name in pipelines(argv)]


def compare_trees(old: Path, new: Path) -> int:
    """Print the tables of two reporting folders that differ; 0 when none does."""
    a, b = tree(old), tree(new)
    differ = compare(a, b)
    print(f"{len(set(a) | set(b))} tables compared, {len(differ)} differ" + "".join(f"\n  {d}" for d in differ))
    return 1 if differ else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compare"]:
        sys.exit(compare_trees(Path(sys.argv[2]), Path(sys.argv[3])))
    rows = run(sys.argv[1:])
    print(pd.DataFrame(rows).to_string(index=False))
    sys.exit(0 if all(r["identical"] for r in rows) else 1)

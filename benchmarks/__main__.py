"""Run every benchmark module (``bench_*.py``) and print one table of timings.

Each module exposes ``run() -> list[dict]``; every dict is one row with at least ``benchmark`` and
``seconds`` keys plus any extra columns (sizes, iterations/s, ...). ``python -m benchmarks NAME`` runs
only the modules whose name contains NAME.
"""

import importlib
import pkgutil
import sys
import time
from pathlib import Path

import pandas as pd


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    wanted = argv[1:] if len(argv) > 1 else []
    rows: list[dict] = []
    for mod in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if not mod.name.startswith("bench_"):
            continue
        if wanted and not any(w in mod.name for w in wanted):
            continue
        module = importlib.import_module(f"benchmarks.{mod.name}")
        t0 = time.perf_counter()
        print(f"== {mod.name} ...", flush=True)
        for row in module.run():
            rows.append({"module": mod.name, **row})
        print(f"== {mod.name} done in {time.perf_counter() - t0:.1f} s", flush=True)
    if not rows:
        print("no benchmarks found")
        return 0
    table = pd.DataFrame(rows)
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                           "display.float_format", "{:.4g}".format):
        for module, part in table.groupby("module", sort=False):
            print(f"\n## {module}")
            print(part.drop(columns="module").dropna(axis=1, how="all").to_string(index=False))
    out = Path("data/08_reporting")
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "benchmarks.csv", index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

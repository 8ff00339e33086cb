"""tariff study speed: build the coupled system (raw files), build + compile the DSO QP once, one robust
re-solve per Gamma (parametric bound direction, Clarabel), one aggregator response (rebuild + QP), the
pandapower AC check of 24 h.

Configuration: conf/base/parameters_tariff.yml (20-node traffic network, case17me + 8 stations, 24 h).
"""

from __future__ import annotations

import glob
import statistics
import time
import warnings
from pathlib import Path

import yaml

from evgrid.studies.tariff import model as M
from evgrid.studies.tariff.config import TariffConfig
from evgrid.studies.tariff.system import build_system

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "01_raw"


def _system():
    params = yaml.safe_load((ROOT / "conf" / "base" / "parameters_tariff.yml").read_text())["tariff"]
    params["feeder"]["case_path"] = str(RAW / "grids" / "case17me.m")
    cfg = TariffConfig.from_params(params)
    return build_system(cfg, [str(RAW / "nyiso" / "nyiso_total_load_5min_2016.csv")],
                        sorted(glob.glob(str(RAW / "irradiance" / "*.csv"))),
                        [str(RAW / "nyiso" / "20220718damlbmp_zone.csv")])


def run() -> list[dict]:
    warnings.simplefilter("ignore")
    rows = []
    t0, c0 = time.perf_counter(), time.process_time()
    system = _system()
    rows.append({"benchmark": "tariff_build_system", "seconds": time.perf_counter() - t0,
                 "cpu_s": time.process_time() - c0})
    paths = M.paths_for(system)
    t0, c0 = time.perf_counter(), time.process_time()
    dso = M.DsoModel(system, paths)
    rows.append({"benchmark": "tariff_dso_build_and_compile", "seconds": time.perf_counter() - t0,
                 "cpu_s": time.process_time() - c0, "paths": len(paths),
                 "rows": int(dso.pp._base[2].num_row_), "columns": int(dso.pp._base[2].num_col_)})
    walls, cpus = [], []
    for g in (0.0, 0.5, 1.0):
        t0, c0 = time.perf_counter(), time.process_time()
        res = dso.solve(g)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    rows.append({"benchmark": "tariff_dso_solve_per_gamma", "seconds": statistics.median(walls),
                 "cpu_s": statistics.median(cpus), "objective_usd": res.objective_usd})
    t0, c0 = time.perf_counter(), time.process_time()
    resp = M.solve_response(system, M.tariff_matrix(res.tariffs), paths=paths)
    rows.append({"benchmark": "tariff_aggregator_response", "seconds": time.perf_counter() - t0,
                 "cpu_s": time.process_time() - c0})
    t0 = time.perf_counter()
    chk = M.feeder_check(system, resp.station_kw, 1.0, ac=True)
    rows.append({"benchmark": "tariff_feeder_check_linear_and_ac_24h", "seconds": time.perf_counter() - t0,
                 "ac_max_loading_pct": chk["ac_max_loading_pct"]})
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)

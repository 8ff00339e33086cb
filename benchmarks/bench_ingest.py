"""Ingest timings: each parser on the embedded real files, each daily feature build, and the whole
``kedro run --pipelines=ingest`` (wall time, including Kedro/MLflow start-up)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "01_raw"


def _time(fn, repeat: int = 3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run() -> list[dict]:
    from evgrid.data import ev, load, prices, traffic, weather
    from evgrid.data.features import build_daily, ev_session_features

    cases = [
        ("parse nyiso_wide (496 d x 17 zones)", prices.parse_nyiso_wide,
         [RAW / "nyiso" / "nyiso_rt_hourly_by_zone_wide_2019-01_to_2020-05.csv"]),
        ("parse nyiso_zonal_csv (DAM, 1 d)", prices.parse_nyiso_zonal_csv, [RAW / "nyiso" / "20220718damlbmp_zone.csv"]),
        ("parse nyiso_5min load (2016)", load.parse_nyiso_5min, [RAW / "nyiso" / "nyiso_total_load_5min_2016.csv"]),
        ("parse acn_json", ev.parse_acn_json, [RAW / "ev_sessions" / "acn_caltech_sessions_2021-05_to_2021-09.json"]),
        ("parse dundee_csv (3 files)", ev.parse_dundee_csv, sorted((RAW / "ev_sessions").glob("dundee_*.csv"))),
        ("parse i94_hourly", traffic.parse_i94_hourly, [RAW / "traffic" / "Metro_Interstate_Traffic_Volume_2012-2017.csv"]),
        ("parse nsrdb_psm3 (8 years)", weather.parse_nsrdb_psm3, sorted((RAW / "irradiance").glob("*.csv"))),
    ]
    rows, parsed = [], {}
    for name, fn, paths in cases:
        sec, df = _time(lambda fn=fn, paths=paths: fn(paths))
        parsed[name] = df
        rows.append({"benchmark": f"ingest: {name}", "seconds": round(sec, 4), "rows": len(df)})

    feats = [
        ("daily prices N.Y.C.", parsed["parse nyiso_wide (496 d x 17 zones)"].query("zone == 'N.Y.C.'"),
         ["lbmp_usd_per_mwh"], 60, "hold"),
        ("daily load", parsed["parse nyiso_5min load (2016)"], ["load_mw"], 5, "mean"),
        ("daily traffic", parsed["parse i94_hourly"], ["flow_veh_per_h"], 60, "hold"),
        ("daily weather (5 channels)", parsed["parse nsrdb_psm3 (8 years)"],
         ["ghi_w_per_m2", "dni_w_per_m2", "dhi_w_per_m2", "temp_air_c", "wind_speed_m_per_s"], 30, "linear"),
    ]
    for name, df, ch, native, method in feats:
        sec, out = _time(lambda df=df, ch=ch, native=native, method=method: build_daily(
            df, ch, step_minutes=15, native_minutes=native, method=method, max_gap_steps=4))
        rows.append({"benchmark": f"ingest: {name}", "seconds": round(sec, 4), "rows": len(out)})
    sec, out = _time(lambda: ev_session_features(parsed["parse dundee_csv (3 files)"]))
    rows.append({"benchmark": "ingest: ev_session_features (Dundee)", "seconds": round(sec, 4), "rows": len(out)})

    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true", MPLBACKEND="Agg")
    kedro = str(Path(sys.executable).with_name("kedro"))
    t0 = time.perf_counter()
    proc = subprocess.run([kedro, "run", "--pipelines=ingest"], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"kedro run --pipelines=ingest failed:\n{proc.stderr[-3000:]}")
    rows.append({"benchmark": "ingest: kedro run --pipelines=ingest (wall)", "seconds": round(wall, 2), "rows": None})
    return rows

"""Real-data stand-ins for the GAN scenario files (same schema as ``<family>.scenarios``), for tests.

``ev_times``: the ACN workplace weekday sessions' own (arrival_h, departure_h); ``pv``: real NSRDB July days
through the project's pvlib chain. Both are real data in the exact format the gan pipeline writes.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from evgrid.data.ev import parse_acn_json
from evgrid.data.options import resolve_format
from evgrid.pipelines.ingest import nodes as ingest
from evgrid.scenarios.pv import PVSystem, pv_kw_per_kwp

ROOT = Path(__file__).resolve().parents[3]
RAW = ROOT / "data" / "01_raw"


def params() -> dict:
    with open(ROOT / "conf/base/parameters_parking.yml") as fh:
        return yaml.safe_load(fh)["parking"]


def pv_system() -> PVSystem:
    with open(ROOT / "conf/base/parameters_pv.yml") as fh:
        p = yaml.safe_load(fh)["pv_system"]
    return PVSystem.from_params(p, 15)


def ev_times_frame(features: pd.DataFrame) -> pd.DataFrame:
    s = features[(features["source"] == "acn") & (~features["is_weekend"])]
    return pd.DataFrame({"scenario_id": np.arange(len(s)), "arrival_h": s["arrival_h"].to_numpy(),
                         "departure_h": s["departure_h"].to_numpy(), "label": "m07_wd"})


def pv_frame(weather: pd.DataFrame, n: int = 4) -> pd.DataFrame:
    w = weather[(weather["month"] == 7) & (pd.to_datetime(weather["date"]).dt.year == 2016)].head(n)
    ghi = w[[c for c in w.columns if c.startswith("ghi_w_per_m2_t")]].to_numpy(float)
    tmp = w[[c for c in w.columns if c.startswith("temp_air_c_t")]].to_numpy(float)
    pvk = pv_kw_per_kwp(ghi, tmp, pd.to_datetime(w["date"]).to_numpy(), pv_system())
    frames = []
    for name, arr in (("pv_kw_per_kwp", pvk), ("temp_air_c", tmp), ("ghi_w_per_m2", ghi)):
        k, m = arr.shape
        frames.append(pd.DataFrame({"scenario_id": np.repeat(np.arange(k), m), "step": np.tile(np.arange(m), k),
                                    "variable": name, "value": arr.ravel(), "unit": ""}))
    out = pd.concat(frames, ignore_index=True)
    out["label"] = "m07_wd"
    return out


def real_inputs() -> dict:
    """Ingest-contract frames built from the raw files with the ingest nodes, GAN-format stand-ins: built once
    per test process (~25 s; the study, pipeline and compute tests share them). Do not modify the frames."""
    return dict(_real_inputs())


@functools.lru_cache(maxsize=1)
def _real_inputs() -> dict:
    with open(ROOT / "conf/base/parameters_ingest.yml") as fh:
        p = yaml.safe_load(fh)["ingest"]
    step = 15
    prices, _ = ingest.ingest_prices([RAW / "nyiso/nyiso_rt_hourly_by_zone_wide_2019-01_to_2020-05.csv"],
                                     [RAW / "nyiso/20220718damlbmp_zone.csv"], p["prices"])
    load, _ = ingest.ingest_load([RAW / "nyiso/nyiso_total_load_5min_2016.csv"], p["load"])
    weather, _ = ingest.ingest_weather([RAW / "irradiance/1173581_43.05_-76.18_2016.csv",
                                        RAW / "irradiance/1173581_43.05_-76.18_2017.csv"], p["weather"])
    _, _, acn = resolve_format({"acn_json": parse_acn_json}, p["ev_sessions"]["acn"], "ingest.ev_sessions.acn")
    sessions = parse_acn_json([RAW / "ev_sessions/acn_caltech_sessions_2021-05_to_2021-09.json"], **acn)
    load_daily = ingest.load_features(load, p["load"], step)
    weather_daily = ingest.weather_features(weather, p["weather"], step)
    features = ingest.ev_features(sessions)
    load_daily = load_daily[0] if isinstance(load_daily, tuple) else load_daily
    weather_daily = weather_daily[0] if isinstance(weather_daily, tuple) else weather_daily
    return {"prices_primary": prices, "load_daily": load_daily, "weather_daily": weather_daily,
            "ev_session_features": features, "ev_times.scenarios": ev_times_frame(features),
            "pv.scenarios": pv_frame(weather_daily, 3)}

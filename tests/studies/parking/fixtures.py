"""Real-data stand-ins for the GAN scenario files (same schema as ``<family>.scenarios``), for tests.

``ev_times``: the ACN workplace weekday sessions' own (arrival_h, departure_h); ``pv``: real NSRDB July days
through the project's pvlib chain. Both are real data in the exact format the gan pipeline writes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from evgrid.scenarios.pv import PVSystem, pv_kw_per_kwp

ROOT = Path(__file__).resolve().parents[3]


def params() -> dict:
    with open(ROOT / "conf/base/parameters_parking.yml") as fh:
        return yaml.safe_load(fh)["parking"]


def pv_system() -> PVSystem:
    with open(ROOT / "conf/base/parameters_gan.yml") as fh:
        p = yaml.safe_load(fh)["gan"]["families"]["pv"]["pv_system"]
    return PVSystem.from_params(p)


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

"""Fixtures of the dro pipeline tests: the real feature files and GAN-format scenario frames built from
real days (resampled with noise), so the tests do not depend on a trained GAN."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from evgrid.data.features import daily_matrix
from evgrid.scenarios.pv import PVSystem, pv_kw_per_kwp

ROOT = Path(__file__).resolve().parents[3]
FEATURES = ROOT / "data" / "04_feature"


def _long(arrs: dict[str, np.ndarray], units: dict[str, str], label: str) -> pd.DataFrame:
    frames = []
    for var, arr in arrs.items():
        n, t = arr.shape
        frames.append(pd.DataFrame({"scenario_id": np.repeat(np.arange(n), t), "step": np.tile(np.arange(t), n),
                                    "variable": var, "value": arr.ravel(), "unit": units[var], "label": label}))
    return pd.concat(frames, ignore_index=True)


def gan_like_frames(features: dict, n: int, seed: int, pv_system: dict) -> dict[str, pd.DataFrame]:
    """``traffic``/``pv``/``price`` scenario frames in the GAN schema from July weekdays + 5 % noise."""
    rng = np.random.default_rng(seed)

    def pick(df):
        sel = df[(df["month"] == 7) & ~df["is_weekend"].astype(bool)]
        return sel.iloc[rng.integers(0, len(sel), n)]

    tr, we, pr = pick(features["traffic_daily"]), pick(features["weather_daily"]), pick(features["price_daily"])
    noise = lambda shape: 1 + 0.05 * rng.standard_normal(shape)  # noqa: E731
    flow = np.clip(daily_matrix(tr, "flow_veh_per_h") * noise((n, 96)), 0, None)
    ghi = np.clip(daily_matrix(we, "ghi_w_per_m2") * noise((n, 96)), 0, None)
    temp = daily_matrix(we, "temp_air_c")
    pv = pv_kw_per_kwp(ghi, temp, we["date"].to_numpy(), PVSystem(**pv_system))
    lbmp = daily_matrix(pr, "lbmp_usd_per_mwh") * noise((n, 96))
    label = "month=7,weekend=False"
    return {
        "traffic": _long({"flow_veh_per_h": flow}, {"flow_veh_per_h": "veh/h"}, label),
        "pv": _long({"ghi_w_per_m2": ghi, "temp_air_c": temp, "pv_kw_per_kwp": pv},
                    {"ghi_w_per_m2": "W/m2", "temp_air_c": "degC", "pv_kw_per_kwp": "kW/kWp"}, label),
        "price": _long({"lbmp_usd_per_mwh": lbmp}, {"lbmp_usd_per_mwh": "USD/MWh"}, label),
    }


@pytest.fixture(scope="session")
def features() -> dict:
    names = ("traffic_daily", "weather_daily", "price_daily", "load_daily")
    missing = [n for n in names if not (FEATURES / f"{n}.parquet").exists()]
    if missing:
        raise FileNotFoundError(f"feature files {missing} missing under {FEATURES}: run `kedro run --pipeline=ingest`")
    return {n: pd.read_parquet(FEATURES / f"{n}.parquet") for n in names}


@pytest.fixture(scope="session")
def pv_system() -> dict:
    gan = yaml.safe_load((ROOT / "conf" / "base" / "parameters_gan.yml").read_text())
    return gan["gan"]["families"]["pv"]["pv_system"]


@pytest.fixture(scope="session")
def dro_params() -> dict:
    return yaml.safe_load((ROOT / "conf" / "base" / "parameters_dro.yml").read_text())["dro"]


@pytest.fixture(scope="session")
def gan_frames(features, pv_system) -> dict:
    return gan_like_frames(features, 60, 3, pv_system)

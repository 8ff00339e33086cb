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
RAW = ROOT / "data" / "01_raw"


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


def joint_features(features: dict) -> pd.DataFrame:
    """``joint_daily`` (the ingest function) from the test's traffic and weather matrices."""
    from evgrid.data.features import joint_daily

    return joint_daily({"traffic_daily": (features["traffic_daily"], ["flow_veh_per_h"]),
                        "weather_daily": (features["weather_daily"], ["ghi_w_per_m2", "temp_air_c",
                                                                      "wind_speed_m_per_s"])}, 15)


def joint_like_frame(joint: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """A ``joint.scenarios`` frame in the GAN schema: n July weekdays of ``joint`` (all four channels of the
    SAME day) with 5 % noise."""
    rng = np.random.default_rng(seed)
    sel = joint[(joint["month"] == 7) & ~joint["is_weekend"].astype(bool)]
    days = sel.iloc[rng.integers(0, len(sel), n)]
    units = {"flow_veh_per_h": "veh/h", "ghi_w_per_m2": "W/m2", "temp_air_c": "degC", "wind_speed_m_per_s": "m/s"}
    arrs = {v: np.clip(daily_matrix(days, v) * (1 + 0.05 * rng.standard_normal((n, 96))), 0 if v != "temp_air_c"
                       else None, None) for v in units}
    return _long(arrs, units, "month=7,weekend=False")


def _wide(dates: pd.Series, values: np.ndarray, channels: dict[str, np.ndarray] | None = None,
          channel: str | None = None) -> pd.DataFrame:
    """Daily wide matrix in the ingest contract (key columns + ``<channel>_t000..t095``)."""
    d = pd.to_datetime(pd.Series(dates)).dt.normalize().reset_index(drop=True)
    out = pd.DataFrame({"date": d.astype("datetime64[ns]"), "month": d.dt.month.astype("int64"),
                        "day_of_week": d.dt.dayofweek.astype("int64"), "is_weekend": d.dt.dayofweek >= 5})
    chans = channels if channels is not None else {channel: values}
    cols = {f"{ch}_t{i:03d}": arr[:, i] for ch, arr in chans.items() for i in range(96)}
    return pd.concat([out, pd.DataFrame(cols)], axis=1)


def features_from_raw(months=(6, 7, 8)) -> dict:
    """Summer daily feature matrices cut straight from the raw files (no ingest run needed)."""
    tr = pd.read_csv(RAW / "traffic" / "Metro_Interstate_Traffic_Volume_2012-2017.csv",
                     usecols=["date_time", "traffic_volume"], parse_dates=["date_time"])
    tr = tr.drop_duplicates("date_time")
    tr = tr[tr["date_time"].dt.month.isin(months)]
    hourly = tr.pivot_table(index=tr["date_time"].dt.normalize(), columns=tr["date_time"].dt.hour,
                            values="traffic_volume").dropna()
    traffic = _wide(hourly.index.to_series(), np.repeat(hourly.to_numpy(float), 4, axis=1),
                    channel="flow_veh_per_h")
    frames = []
    for year in (2015, 2016):
        w = pd.read_csv(RAW / "irradiance" / f"1173581_43.05_-76.18_{year}.csv", skiprows=2)
        frames.append(w[w["Month"].isin(months)])
    w = pd.concat(frames)
    w["date"] = pd.to_datetime(w[["Year", "Month", "Day"]])
    chans = {}
    for src, ch in (("GHI", "ghi_w_per_m2"), ("DNI", "dni_w_per_m2"), ("DHI", "dhi_w_per_m2"),
                    ("Temperature", "temp_air_c"), ("Wind Speed", "wind_speed_m_per_s")):
        piv = w.pivot_table(index="date", columns=w["Hour"] * 2 + w["Minute"] // 30, values=src)
        chans[ch] = np.repeat(piv.to_numpy(float), 2, axis=1)
    weather = _wide(piv.index.to_series(), None, channels=chans)
    pr = pd.read_csv(RAW / "nyiso" / "nyiso_rt_hourly_by_zone_wide_2019-01_to_2020-05.csv")
    pr = pr[(pr["zone"] == "NYC") & pd.to_datetime(pr["date"]).dt.month.isin(months)].sort_values("date")
    price = _wide(pr["date"], np.repeat(pr[[f"he{h:02d}" for h in range(1, 25)]].to_numpy(float), 4, axis=1),
                  channel="lbmp_usd_per_mwh")
    price.insert(4, "zone", "N.Y.C.")
    ld = pd.read_csv(RAW / "nyiso" / "nyiso_total_load_5min_2016.csv")
    ld["t"] = pd.to_datetime(ld["time_5min"], format="%m/%d/%Y %H:%M")
    ld = ld[ld["t"].dt.month.isin(months)]
    q = ld.groupby(ld["t"].dt.floor("15min"))["mw"].mean()
    q = q.groupby([q.index.normalize(), q.index.hour * 4 + q.index.minute // 15]).mean().unstack().dropna()
    load = _wide(q.index.to_series(), q.to_numpy(float), channel="load_mw")
    return {"traffic_daily": traffic, "weather_daily": weather, "price_daily": price, "load_daily": load}


@pytest.fixture(scope="session")
def features() -> dict:
    return features_from_raw()


@pytest.fixture(scope="session")
def pv_system() -> dict:
    return yaml.safe_load((ROOT / "conf" / "base" / "parameters_pv.yml").read_text())["pv_system"]


@pytest.fixture(scope="session")
def gan_frames(features, pv_system) -> dict:
    return gan_like_frames(features, 60, 3, pv_system)

"""Real inputs of the parking study built from the embedded raw files (no prior ingest run needed)."""

from __future__ import annotations

import pytest
import yaml

from evgrid.data.ev import parse_acn_json
from evgrid.pipelines.ingest import nodes as ingest
from tests.studies.parking import fixtures as fx

RAW = fx.ROOT / "data" / "01_raw"


@pytest.fixture(scope="session")
def real_inputs() -> dict:
    with open(fx.ROOT / "conf/base/parameters_ingest.yml") as fh:
        p = yaml.safe_load(fh)["ingest"]
    step = 15
    prices, _ = ingest.ingest_prices([RAW / "nyiso/nyiso_rt_hourly_by_zone_wide_2019-01_to_2020-05.csv"],
                                     [RAW / "nyiso/20220718damlbmp_zone.csv"], p["prices"])
    load, _ = ingest.ingest_load([RAW / "nyiso/nyiso_total_load_5min_2016.csv"], p["load"])
    weather, _ = ingest.ingest_weather([RAW / "irradiance/1173581_43.05_-76.18_2016.csv",
                                        RAW / "irradiance/1173581_43.05_-76.18_2017.csv"], p["weather"])
    acn = {k: v for k, v in p["ev_sessions"]["acn"].items() if k != "format"}
    sessions = parse_acn_json([RAW / "ev_sessions/acn_caltech_sessions_2021-05_to_2021-09.json"], **acn)
    load_daily = ingest.load_features(load, p["load"], step)
    weather_daily = ingest.weather_features(weather, p["weather"], step)
    features = ingest.ev_features(sessions)
    load_daily = load_daily[0] if isinstance(load_daily, tuple) else load_daily
    weather_daily = weather_daily[0] if isinstance(weather_daily, tuple) else weather_daily
    return {"prices_primary": prices, "load_daily": load_daily, "weather_daily": weather_daily,
            "ev_session_features": features, "ev_times.scenarios": fx.ev_times_frame(features),
            "pv.scenarios": fx.pv_frame(weather_daily, 3)}

"""Shared fixtures: the embedded real raw files (data/01_raw), parsed once per test session."""

from pathlib import Path

import pytest

from evgrid.data import ev, load, prices, traffic, weather
from evgrid.data.quality import QualityLog

RAW = Path(__file__).resolve().parents[2] / "data" / "01_raw"
WIDE = RAW / "nyiso" / "nyiso_rt_hourly_by_zone_wide_2019-01_to_2020-05.csv"
DAM = RAW / "nyiso" / "20220718damlbmp_zone.csv"
LOAD = RAW / "nyiso" / "nyiso_total_load_5min_2016.csv"
ACN = RAW / "ev_sessions" / "acn_caltech_sessions_2021-05_to_2021-09.json"
DUNDEE = sorted((RAW / "ev_sessions").glob("dundee_*.csv"))
I94 = RAW / "traffic" / "Metro_Interstate_Traffic_Volume_2012-2017.csv"
NSRDB = sorted((RAW / "irradiance").glob("1173581_43.05_-76.18_*.csv"))


def _parsed(fn, paths, source, **kw):
    log = QualityLog(source)
    return fn(paths, log=log, **kw), log.as_dict()


@pytest.fixture(scope="session")
def wide_prices():
    return _parsed(prices.parse_nyiso_wide, [WIDE], "prices")


@pytest.fixture(scope="session")
def dam_prices():
    return _parsed(prices.parse_nyiso_zonal_csv, [DAM], "prices")


@pytest.fixture(scope="session")
def load_5min():
    return _parsed(load.parse_nyiso_5min, [LOAD], "load")


@pytest.fixture(scope="session")
def acn_sessions():
    return _parsed(ev.parse_acn_json, [ACN], "ev_sessions")


@pytest.fixture(scope="session")
def dundee_sessions():
    return _parsed(ev.parse_dundee_csv, DUNDEE, "ev_sessions")


@pytest.fixture(scope="session")
def i94():
    return _parsed(traffic.parse_i94_hourly, [I94], "traffic")


@pytest.fixture(scope="session")
def nsrdb():
    return _parsed(weather.parse_nsrdb_psm3, NSRDB, "weather")


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p

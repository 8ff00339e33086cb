"""Every documented format, switched on from a ``conf/local`` override read by Kedro's OmegaConfigLoader
(soft merge, as in ``evgrid.settings``), on a small file in the publisher's real layout; the values of the
daily matrix (or the session features) are checked against a hand computation.

The switch is a one-line ``format:`` change (plus the options the new file needs): the options of the
base format must not leak into the new one (issue 14)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.config import OmegaConfigLoader

from evgrid.data.errors import IngestError
from evgrid.data.features import daily_matrix
from evgrid.pipelines.ingest import nodes
from evgrid.settings import CONFIG_LOADER_ARGS

ROOT = Path(__file__).resolve().parents[3]
RAW = ROOT / "data" / "01_raw"
DAM = RAW / "nyiso" / "20220718damlbmp_zone.csv"
NSRDB_2016 = RAW / "irradiance" / "1173581_43.05_-76.18_2016.csv"


def load_params(tmp_path: Path, local: dict) -> dict:
    """The ``ingest`` parameters as `kedro run` sees them: conf/base + a conf/local override."""
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True, exist_ok=True)
    (conf / "local").mkdir(exist_ok=True)
    for name in ("parameters.yml", "parameters_ingest.yml"):
        shutil.copy(ROOT / "conf" / "base" / name, conf / "base" / name)
    (conf / "local" / "parameters_ingest.yml").write_text(yaml.safe_dump({"ingest": local}))
    params = OmegaConfigLoader(str(conf), **CONFIG_LOADER_ARGS)["parameters"]
    assert params["step_minutes"] == 15
    return params["ingest"]


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def step_values(daily: pd.DataFrame, channel: str, date: str) -> np.ndarray:
    return daily_matrix(daily[daily["date"] == pd.Timestamp(date)], channel)[0]


# ---------------------------------------------------------------- prices
ZONAL_HEADER = ('"Time Stamp","Name","PTID","LBMP ($/MWHr)","Marginal Cost Losses ($/MWHr)",'
                '"Marginal Cost Congestion ($/MWHr)"\n')


def rt_5min_file(tmp_path: Path) -> tuple[Path, dict[str, float]]:
    """A raw NYISO 5-min real-time zonal file: stamps with seconds at the interval END (00:05:00 ..
    next day 00:00:00), plus off-grid intervals 00:15:12 and 16:10:46 (two zones)."""
    stamps = [pd.Timestamp("2022-07-18 00:00") + pd.Timedelta(minutes=5 * k) for k in range(1, 289)]
    stamps += [pd.Timestamp("2022-07-18 00:15:12"), pd.Timestamp("2022-07-18 16:10:46")]
    stamps.sort()
    price = {t: 20.0 + (i % 17) * 3.5 for i, t in enumerate(stamps)}
    rows = []
    for t in stamps:
        for zone, ptid, add in (("CAPITL", 61757, 1.0), ("N.Y.C.", 61761, 0.0)):
            rows.append(f'"{t:%m/%d/%Y %H:%M:%S}","{zone}",{ptid},{price[t] + add:.2f},1.00,-2.00\n')
    return write(tmp_path, "20220718realtime_zone.csv", ZONAL_HEADER + "".join(rows)), price


def test_rt_switch_to_raw_5min_zonal_file(tmp_path):
    path, p = rt_5min_file(tmp_path)
    params = load_params(tmp_path, {"prices": {"rt": {"format": "nyiso_zonal_csv"}, "daily": {"native_minutes": 5}}})
    primary, q = nodes.ingest_prices([path], [DAM], params["prices"])
    daily, _ = nodes.price_features(primary, params["prices"], 15)
    assert list(daily["date"]) == [pd.Timestamp("2022-07-18")]  # the 24:00 (next-day 00:00:00) value stays in its day
    v = step_values(daily, "lbmp_usd_per_mwh", "2022-07-18")
    T = pd.Timestamp
    # step 0 (00:00-00:15) = the three intervals ENDING 00:05, 00:10, 00:15
    assert v[0] == pytest.approx((p[T("2022-07-18 00:05")] + p[T("2022-07-18 00:10")] + p[T("2022-07-18 00:15")]) / 3)
    # step 1: the off-grid interval 00:15:00-00:15:12 weighs 12 s, the one ending 00:20 covers 00:15:12-00:20
    w = {T("2022-07-18 00:15:12"): 12, T("2022-07-18 00:20"): 288, T("2022-07-18 00:25"): 300, T("2022-07-18 00:30"): 300}
    assert v[1] == pytest.approx(sum(p[t] * s for t, s in w.items()) / 900)
    # step 64 (16:00-16:15): 16:05, 16:10, 16:10:46 (46 s), 16:15 (254 s)
    w = {T("2022-07-18 16:05"): 300, T("2022-07-18 16:10"): 300, T("2022-07-18 16:10:46"): 46, T("2022-07-18 16:15"): 254}
    assert v[64] == pytest.approx(sum(p[t] * s for t, s in w.items()) / 900)
    # last step 23:45-24:00: intervals ending 23:50, 23:55 and 24:00 (written 07/19/2022 00:00:00)
    assert v[95] == pytest.approx((p[T("2022-07-18 23:50")] + p[T("2022-07-18 23:55")] + p[T("2022-07-19 00:00")]) / 3)
    assert q["values_repaired"]["off_grid_interval_stamps_kept"] == 2 * 2  # two per zone, counted
    assert any("interval-end" in n for n in q["notes"])
    nyc = primary[(primary["zone"] == "N.Y.C.") & (primary["market"] == "RT")]
    assert nyc["timestamp_local"].iloc[0] == pd.Timestamp("2022-07-18 00:00", tz="America/New_York")


def test_dam_real_file_is_hour_beginning(tmp_path):
    params = load_params(tmp_path, {"prices": {"daily_market": "DAM", "rt": {"format": "nyiso_zonal_csv"}}})
    primary, q = nodes.ingest_prices([DAM], [DAM], params["prices"])  # both slots: the same raw zonal layout
    dam = primary[primary["market"] == "DAM"]
    daily, _ = nodes.price_features(dam, params["prices"], 15)
    v = step_values(daily, "lbmp_usd_per_mwh", "2022-07-18")
    raw = pd.read_csv(DAM)
    nyc = raw[raw["Name"] == "N.Y.C."]["LBMP ($/MWHr)"].to_numpy()  # 00:00 .. 23:00, hour beginning
    assert np.array_equal(v, np.repeat(nyc, 4))
    assert any("interval-start" in n for n in q["notes"])


def test_rt_switch_to_oasis_rtc_export_two_digit_years(tmp_path):
    hdr = ('"RTC End Time Stamp","Zone Name","Zone PTID","RTC Zonal LBMP","RTC Zonal Losses",'
           '"RTC Zonal Congestion","RTC Zonal Price Version"\n')
    ends = [pd.Timestamp("2024-06-01") + pd.Timedelta(minutes=15 * k) for k in range(1, 97)]
    rows = "".join(f"{t.month}/{t.day}/{t:%y} {t.hour}:{t:%M},N.Y.C.,61761,{30 + k * 0.5:.2f},1.5,-0.5,1\n"
                   for k, t in enumerate(ends))
    path = write(tmp_path, "OASIS_rtc_zonal.csv", hdr + rows)
    params = load_params(tmp_path, {"prices": {"rt": {"format": "nyiso_oasis"}, "daily_market": "RTC",
                                               "daily": {"native_minutes": 15}}})
    primary, q = nodes.ingest_prices([path], [DAM], params["prices"])
    assert set(primary["market"]) == {"DAM", "RTC"}
    daily, _ = nodes.price_features(primary, params["prices"], 15)
    v = step_values(daily, "lbmp_usd_per_mwh", "2024-06-01")
    # interval-ending: step k (starting k*15 min) is the value stamped (k+1)*15 min; 6/2/24 0:00 is step 95
    assert np.allclose(v, 30 + np.arange(96) * 0.5)
    rtc = primary[primary["market"] == "RTC"]
    assert rtc["timestamp_utc"].iloc[0] == pd.Timestamp("2024-06-01 04:00", tz="UTC")  # EDT, no tz column
    assert rtc["energy_usd_per_mwh"].iloc[0] == pytest.approx(30 - 1.5 - 0.5)


def test_rt_switch_to_oasis_hourly_export_with_tz_column(tmp_path):
    hdr = ('"Eastern Date Hour","Eastern Date Hour Time Zone","Zone Name","Zone PTID","HAM Zonal LBMP",'
           '"HAM Zonal Losses","HAM Zonal Congestion","HAM Zonal Price Version"\n')
    rows = "".join(f'"01/15/2024 {h:02d}:00","EST","CAPITL",61757,{40 + h},1.0,0.0,1\n' for h in range(24))
    path = write(tmp_path, "OASIS_ham.csv", hdr + rows)
    params = load_params(tmp_path, {"prices": {"rt": {"format": "nyiso_oasis"}, "daily_market": "HAM",
                                               "zone": "CAPITL"}})
    primary, _ = nodes.ingest_prices([path], [DAM], params["prices"])
    daily, _ = nodes.price_features(primary, params["prices"], 15)
    assert np.array_equal(step_values(daily, "lbmp_usd_per_mwh", "2024-01-15"), np.repeat(40.0 + np.arange(24), 4))
    assert primary[primary["market"] == "HAM"]["timestamp_utc"].iloc[0] == pd.Timestamp("2024-01-15 05:00", tz="UTC")


def test_dam_switch_to_wide_file(tmp_path):
    he = ",".join(f"he{h:02d}" for h in range(1, 25))
    rows = "".join(f"2019-07-01,NYISO,{z},{','.join(str(b + h) for h in range(1, 25))}\n" for z, b in
                   (("N.Y.C.", 10), ("CAPITL", 50)))
    path = write(tmp_path, "wide.csv", f"date,iso,zone,{he}\n" + rows + f"2019-07-01,NEPOOL,SEMASS,{','.join(['1'] * 24)}\n")
    params = load_params(tmp_path, {"prices": {"dam": {"format": "nyiso_wide"}, "daily_market": "DAM"}})
    primary, q = nodes.ingest_prices([path], [path], params["prices"])  # rt keeps its wide default
    daily, _ = nodes.price_features(primary[primary["market"] == "DAM"], params["prices"], 15)
    # he01 (hour ENDING 01:00) is the 00:00-01:00 hour
    assert np.array_equal(step_values(daily, "lbmp_usd_per_mwh", "2019-07-01"), np.repeat(10.0 + np.arange(1, 25), 4))
    assert q["rows_removed"]["other_iso_zone_day_rows"] == 2  # the ISO-NE row, once per slot


# ---------------------------------------------------------------- load
def pal_file(tmp_path: Path) -> Path:
    rows = []
    for k in range(288):
        t = pd.Timestamp("2022-07-18") + pd.Timedelta(minutes=5 * k)
        for zone, ptid, base in (("CAPITL", 61757, 1000.0), ("WEST", 61752, 2000.0)):
            rows.append(f'"{t:%m/%d/%Y %H:%M:%S}","EDT","{zone}",{ptid},{base + k}\n')
    return write(tmp_path, "20220718pal.csv", '"Time Stamp","Time Zone","Name","PTID","Load"\n' + "".join(rows))


def test_load_switch_to_pal(tmp_path):
    params = load_params(tmp_path, {"load": {"parser": {"format": "nyiso_pal"}}})
    primary, q = nodes.ingest_load([pal_file(tmp_path)], params["load"])
    daily, _ = nodes.load_features(primary, params["load"], 15)
    v = step_values(daily, "load_mw", "2022-07-18")
    # system load = sum of zones = 3000 + 2k at stamp k; instantaneous samples, mean of 3 per step
    assert np.allclose(v, 3000 + 2 * (3 * np.arange(96) + 1))
    assert primary["timestamp_utc"].iloc[0] == pd.Timestamp("2022-07-18 04:00", tz="UTC")


def test_load_5min_interval_ending_option(tmp_path):
    stamps = [pd.Timestamp("2016-07-01") + pd.Timedelta(minutes=5 * k) for k in range(1, 289)]
    text = "time_5min,mw\n" + "".join(f"{t.month}/{t.day}/{t.year} {t.hour}:{t:%M},{15000 + k}\n"
                                      for k, t in enumerate(stamps))
    params = load_params(tmp_path, {"load": {"parser": {"nyiso_5min": {"interval": "end", "timezone": "America/New_York"}}}})
    primary, _ = nodes.ingest_load([write(tmp_path, "l.csv", text)], params["load"])
    daily, _ = nodes.load_features(primary, params["load"], 15)
    # interval-ending: step 0 holds the values stamped 0:05, 0:10, 0:15 (15000..15002); the 7/2 0:00 value
    # (24:00) closes 7/1
    assert np.allclose(step_values(daily, "load_mw", "2016-07-01"), 15001 + 3 * np.arange(96))


# ---------------------------------------------------------------- EV sessions
OTHER_COUNCIL = ("_id,Charger,Location,Start Date,Start Time,End Date,End Time,Energy (kWh)\n"
                 "9001,CP-1,Caf\xe9 car park,2019-03-05T00:00:00,14:30,2019-03-05T00:00:00,16:45,12.5\n"
                 "9002,CP-2,Town hall,2019-03-05T00:00:00,23:10,2019-03-06T00:00:00,07:40,30.25\n")
OTHER_COLUMNS = {"session_id": "_id", "station_id": "Charger", "site": "Location", "start_date": "Start Date",
                 "start_time": "Start Time", "end_date": "End Date", "end_time": "End Time",
                 "energy_kwh": "Energy (kWh)", "charger_model": None}


def acn_file(tmp_path: Path) -> Path:
    rec = {"_id": "x", "clusterID": "0039", "connectionTime": "Wed, 05 May 2021 15:00:00 GMT",
           "disconnectTime": "Wed, 05 May 2021 18:30:00 GMT", "doneChargingTime": "Wed, 05 May 2021 17:00:00 GMT",
           "kWhDelivered": 9.5, "sessionID": "2_39_1", "siteID": "0002", "spaceID": "CA-1", "stationID": "2-39-1",
           "timezone": "America/Los_Angeles", "userID": None, "userInputs": None}
    return write(tmp_path, "acn.json", json.dumps({"_items": [rec]}))


def test_ev_switch_acn_and_council_slots(tmp_path):
    council = write(tmp_path, "other_council.csv", OTHER_COUNCIL.encode("cp1252"))
    local = {"ev_sessions": {"acn": {"format": "council_csv",
                                     "council_csv": {"columns": OTHER_COLUMNS, "encoding": "cp1252",
                                                     "date_format": "%Y-%m-%dT%H:%M:%S"}},
                             "council": {"format": "acn_json"}}}
    params = load_params(tmp_path, local)
    primary, q = nodes.ingest_ev_sessions([council], [acn_file(tmp_path)], params["ev_sessions"])
    f = nodes.ev_features(primary).set_index("session_id")
    a = f.loc["council-9001"]
    assert (a["arrival_h"], a["duration_h"], a["energy_kwh"]) == (14.5, 2.25, 12.5)
    b = f.loc["council-9002"]
    assert b["arrival_h"] == pytest.approx(23 + 10 / 60) and b["duration_h"] == pytest.approx(8.5)
    assert primary.set_index("session_id").loc["council-9001", "site"] == "Café car park"
    c = f.loc["acn-2_39_1"]  # 15:00 GMT = 08:00 PDT, 3.5 h plugged in
    assert (c["arrival_h"], c["duration_h"]) == (8.0, 3.5)
    assert q["dates"]["arrival"]["outside_plausible_span"] == 0


def test_council_non_utf8_byte_names_file_line_and_byte(tmp_path):
    council = write(tmp_path, "other_council.csv", OTHER_COUNCIL.encode("cp1252"))
    params = load_params(tmp_path, {"ev_sessions": {"council": {
        "format": "council_csv", "council_csv": {"columns": OTHER_COLUMNS, "date_format": "%Y-%m-%dT%H:%M:%S"}}}})
    with pytest.raises(IngestError, match=r"other_council\.csv, line 2: byte 0xE9 .* not valid utf-8-sig.*encoding"):
        nodes.ingest_ev_sessions([acn_file(tmp_path)], [council], params["ev_sessions"])


def test_dundee_layout_day_first_dates(tmp_path):
    hdr = "Charging event,CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Cost,Site,Group,Model\n"
    rows = ('2,50349,2,13/04/2018,09:05,13/04/2018,10:35,8.0,0,"Site, Dundee",G,APT 7kW Dual Outlet\n'
            '1,50349,2,02/04/2018,23:50,03/04/2018,01:20,6.0,0,"Site, Dundee",G,APT 7kW Dual Outlet\n')
    params = load_params(tmp_path, {})
    primary, _ = nodes.ingest_ev_sessions([acn_file(tmp_path)], [write(tmp_path, "d.csv", hdr + rows)],
                                          params["ev_sessions"])
    f = nodes.ev_features(primary).set_index("session_id")
    # 02/04/2018 is 2 April (BST, UTC+1): 23:50 local, 1.5 h
    assert f.loc["dundee-1", "date"] == pd.Timestamp("2018-04-02") and f.loc["dundee-1", "duration_h"] == 1.5
    assert primary.set_index("session_id").loc["dundee-1", "arrival_utc"] == pd.Timestamp("2018-04-02 22:50", tz="UTC")


# ---------------------------------------------------------------- traffic
def pems_file(tmp_path: Path) -> Path:
    lines = []
    for k in range(288):
        t = pd.Timestamp("2019-07-01") + pd.Timedelta(minutes=5 * k)
        flow = 10 + k % 7
        lanes = f",10,{flow // 2},.02,65,1,10,{flow - flow // 2},.03,64,1"
        lines.append(f"{t:%m/%d/%Y %H:%M:%S},400001,4,101,N,ML,.5,20,100,{flow},.0235,65.3{lanes}\n")
    return write(tmp_path, "d04_text_station_5min_2019_07_01.txt", "".join(lines))


def test_traffic_switch_to_pems(tmp_path):
    params = load_params(tmp_path, {"traffic": {"parser": {"format": "pems_5min"},
                                                "daily": {"station": "400001", "native_minutes": 5}}})
    primary, _ = nodes.ingest_traffic([pems_file(tmp_path)], params["traffic"])
    daily, _ = nodes.traffic_features(primary, params["traffic"], 15)
    flow = 12.0 * (10 + np.arange(288) % 7)  # veh per 5 min -> veh/h, interval-beginning stamps
    assert np.allclose(step_values(daily, "flow_veh_per_h", "2019-07-01"), flow.reshape(96, 3).mean(axis=1))


def test_traffic_i94_layout(tmp_path):
    hdr = "holiday,temp,rain_1h,snow_1h,clouds_all,weather_main,weather_description,date_time,traffic_volume\n"
    rows = "".join(f"None,290.1,0.0,0.0,40,Clouds,scattered clouds,2016-07-01 {h:02d}:00:00,{1000 + 10 * h}\n"
                   for h in range(24))
    rows += "None,290.1,0.0,0.0,40,Mist,mist,2016-07-02 00:00:00,5\n"
    params = load_params(tmp_path, {})
    primary, _ = nodes.ingest_traffic([write(tmp_path, "i94.csv", hdr + rows)], params["traffic"])
    daily, _ = nodes.traffic_features(primary, params["traffic"], 15)
    assert np.array_equal(step_values(daily, "flow_veh_per_h", "2016-07-01"), np.repeat(1000.0 + 10 * np.arange(24), 4))


# ---------------------------------------------------------------- weather
def test_weather_nsrdb_layout(tmp_path):
    lines = NSRDB_2016.read_text().splitlines(keepends=True)[:3 + 48 * 2]  # 2 metadata + header + 2 days
    params = load_params(tmp_path, {})
    primary, _ = nodes.ingest_weather([write(tmp_path, "n.csv", "".join(lines))], params["weather"])
    daily, _ = nodes.weather_features(primary, params["weather"], 15)
    raw = pd.read_csv(NSRDB_2016, skiprows=2, nrows=96)
    t = step_values(daily, "temp_air_c", "2016-01-01")
    temp = raw["Temperature"].to_numpy()[:49]
    assert t[0] == temp[0] and t[2] == temp[1] and t[1] == pytest.approx((temp[0] + temp[1]) / 2)  # instantaneous


def test_weather_switch_to_tmy3(tmp_path):
    from tests.data.test_weather import TMY3_HEADER, TMY3_META, _tmy3_row

    rows = "".join(_tmy3_row("06/21/1988", h, 40 * h, 20.0 + h, 3.0) for h in range(1, 25))
    params = load_params(tmp_path, {"weather": {"parser": {"format": "tmy3"},
                                                "daily": {"native_minutes": 60, "resample_method": "hold"}}})
    primary, _ = nodes.ingest_weather([write(tmp_path, "723170TYA.CSV", TMY3_META + TMY3_HEADER + rows)],
                                      params["weather"])
    daily, _ = nodes.weather_features(primary, params["weather"], 15)
    # hour-ending rows: the row stamped 01:00 (GHI 40) is 00:00-01:00; coerce_year 1990 from conf/base
    assert np.array_equal(step_values(daily, "ghi_w_per_m2", "1990-06-21"), np.repeat(40.0 * np.arange(1, 25), 4))


# ---------------------------------------------------------------- the switches themselves
@pytest.mark.parametrize("source, slot, fmt", [
    ("prices", "rt", "nyiso_wide"), ("prices", "rt", "nyiso_zonal_csv"), ("prices", "rt", "nyiso_oasis"),
    ("prices", "dam", "nyiso_wide"), ("prices", "dam", "nyiso_zonal_csv"), ("prices", "dam", "nyiso_oasis"),
    ("load", "parser", "nyiso_5min"), ("load", "parser", "nyiso_pal"),
    ("ev_sessions", "acn", "acn_json"), ("ev_sessions", "acn", "council_csv"), ("ev_sessions", "acn", "dundee_csv"),
    ("ev_sessions", "council", "acn_json"), ("ev_sessions", "council", "council_csv"),
    ("ev_sessions", "council", "dundee_csv"),
    ("traffic", "parser", "i94_hourly"), ("traffic", "parser", "pems_5min"),
    ("weather", "parser", "nsrdb_psm3"), ("weather", "parser", "tmy3"),
])
def test_every_documented_switch_resolves_from_conf_local(tmp_path, source, slot, fmt):
    from evgrid.data.options import resolve_format

    params = load_params(tmp_path, {source: {slot: {"format": fmt}}})
    got, parser, kwargs = resolve_format(nodes._PARSERS[source], params[source][slot], f"ingest.{source}.{slot}")
    assert got == fmt and parser is nodes._PARSERS[source][fmt]
    # only the chosen format's own block is passed, and every key is one its parser takes
    base = yaml.safe_load((ROOT / "conf" / "base" / "parameters_ingest.yml").read_text())["ingest"][source][slot]
    assert set(kwargs) == {k for k, v in (base.get(fmt) or {}).items() if v is not None}


def test_null_unsets_a_key_from_base(tmp_path):
    params = load_params(tmp_path, {"load": {"parser": {"nyiso_5min": {"timezone": None}}}})
    from evgrid.data.options import resolve_format

    _, _, kwargs = resolve_format(nodes._PARSERS["load"], params["load"]["parser"], "ingest.load.parser")
    assert "timezone" not in kwargs and kwargs["local_timezone"] == "America/New_York"


def test_validate_params_lists_every_problem_before_any_file_is_read(tmp_path):
    from evgrid.pipelines.ingest import validate_params

    validate_params({"ingest": load_params(tmp_path, {})})  # conf/base is valid
    bad = load_params(tmp_path, {"prices": {"rt": {"format": "nyiso_zonal_csv", "nyiso_zonal_csv": {"intervals": "end"}},
                                            "daily": {"resample_method": "average"}},
                                 "load": {"parser": {"format": "csv_of_my_dreams"}}})
    with pytest.raises(IngestError, match=r"3 invalid ingest parameter\(s\): .*\['intervals'\].*"
                                          r"ingest\.prices\.daily\.resample_method: 'average'.*csv_of_my_dreams"):
        validate_params({"ingest": bad})

"""Traffic: the real I-94 hourly file (repeated weather rows, gaps, CST/CDT) and a PeMS 5-min fixture."""

import pandas as pd
import pytest

from evgrid.data import schemas, traffic
from evgrid.data.errors import IngestError
from tests.data.conftest import write


def test_i94_real_file_counts_and_values(i94):
    df, q = i94
    assert q["rows_read"] == 40255
    assert q["rows_removed"]["repeated_hour_weather_rows"] == 6213
    assert len(df) == 34042 and df["timestamp_utc"].is_unique
    first = df.iloc[0]  # line 2: 2012-10-02 09:00:00, 5545 (CDT = UTC-5)
    assert first["flow_veh_per_h"] == 5545 and first["timestamp_utc"] == pd.Timestamp("2012-10-02 14:00", tz="UTC")
    jan = df[df["timestamp_local"] == pd.Timestamp("2016-01-15 08:00", tz="America/Chicago")]
    assert jan["timestamp_utc"].item() == pd.Timestamp("2016-01-15 14:00", tz="UTC")  # CST = UTC-6
    schemas.validate(df, "traffic")


def test_i94_dst_days(i94):
    df, _ = i94
    spring = df[df["timestamp_local"].dt.strftime("%Y-%m-%d") == "2016-03-13"]
    assert 2 not in set(spring["timestamp_local"].dt.hour)  # 02:00 does not exist and is not in the file
    autumn = df[df["timestamp_local"].dt.strftime("%Y-%m-%d") == "2016-11-06"]
    assert len(autumn) == 24  # the file has one 01:00 (two weather rows, same count): read as CDT
    assert autumn[autumn["timestamp_local"].dt.hour == 1]["flow_veh_per_h"].item() == 539


I94_HEADER = "holiday,temp,rain_1h,snow_1h,clouds_all,weather_main,weather_description,date_time,traffic_volume\n"


def test_i94_repeated_hour_with_different_counts_raises(tmp_path):
    rows = ("None,288.28,0.0,0.0,40,Clouds,scattered clouds,2012-10-02 09:00:00,5545\n"
            "None,288.28,0.0,0.0,40,Mist,mist,2012-10-02 09:00:00,5546\n")
    with pytest.raises(IngestError, match="line 3, column 'traffic_volume'.*different counts"):
        traffic.parse_i94_hourly([write(tmp_path, "t.csv", I94_HEADER + rows)])


def _pems_line(ts: str, flow: int, station: int = 400001, obs: int = 100) -> str:
    lanes = f",10,{flow // 2},.02,65,1,10,{flow - flow // 2},.03,64,1"
    return f"{ts},{station},4,101,N,ML,.5,20,{obs},{flow},.0235,65.3{lanes}\n"


def test_pems_5min_fixture_with_autumn_repeat(tmp_path):
    stamps = ["11/03/2019 00:55:00", "11/03/2019 01:00:00", "11/03/2019 01:55:00", "11/03/2019 01:00:00",
              "11/03/2019 01:05:00"]
    text = "".join(_pems_line(t, 60 + i, obs=100 if i else 0) for i, t in enumerate(stamps))
    text += _pems_line("11/03/2019 00:55:00", 7, station=400002)
    q = traffic.QualityLog("traffic")
    df = traffic.parse_pems_5min([write(tmp_path, "d04_text_station_5min_2019_11_03.txt", text)], log=q,
                                 station=400001)
    assert q.removed["other_stations"] == 1 and q.repaired["observed_below_50_pct_kept"] == 1
    assert list(df["timestamp_utc"].dt.strftime("%H:%M")) == ["07:55", "08:00", "08:55", "09:00", "09:05"]
    assert list(df["flow_veh_per_h"]) == [12 * f for f in (60, 61, 62, 63, 64)]  # veh / 5 min -> veh / h
    assert (df["interval_minutes"] == 5).all()
    schemas.validate(df, "traffic")


def test_pems_too_few_fields_raises(tmp_path):
    with pytest.raises(IngestError, match="line 1: too few fields.*PeMS"):
        traffic.parse_pems_5min([write(tmp_path, "p.txt", "01/01/2019 00:00:00,400001,4\n")])


def test_i94_interval_option_moves_end_stamps_to_the_hour_start(tmp_path):
    rows = "".join(f"None,288.28,0.0,0.0,40,Clouds,scattered clouds,2016-07-01 {h:02d}:00:00,{100 + h}\n"
                   for h in range(1, 4))
    start = traffic.parse_i94_hourly([write(tmp_path, "t.csv", I94_HEADER + rows)])
    end = traffic.parse_i94_hourly([write(tmp_path, "t.csv", I94_HEADER + rows)], interval="end")
    assert list(start["timestamp_local"].dt.hour) == [1, 2, 3]  # default: the hour a count was collected in
    assert list(end["timestamp_local"].dt.hour) == [0, 1, 2] and list(end["flow_veh_per_h"]) == [101, 102, 103]

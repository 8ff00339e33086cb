"""NYISO load: the real 2016 5-min file (standard time, duplicates) and a raw ``pal`` fixture."""

import pandas as pd
import pytest

from evgrid.data import load, schemas
from evgrid.data.errors import IngestError
from tests.data.conftest import write


def test_real_5min_file_counts_and_known_value(load_5min):
    df, q = load_5min
    assert q["rows_read"] == 106497
    assert q["rows_removed"]["duplicate_stamp_averaged"] == 269
    assert q["values_repaired"]["off_5min_grid_stamps_kept"] == 1154
    assert len(df) == 106497 - 269
    first = df.iloc[0]
    assert first["load_mw"] == 18185.2  # line 2: 1/1/2016 0:00,18185.2
    assert first["timestamp_utc"] == pd.Timestamp("2016-01-01 05:00", tz="UTC")
    # duplicate 1/3/2016 1:50 (17775.1 and 17743.5) is averaged
    dup = df[df["timestamp_utc"] == pd.Timestamp("2016-01-03 06:50", tz="UTC")]
    assert dup["load_mw"].item() == pytest.approx((17775.1 + 17743.5) / 2)
    assert df["load_mw"].between(11000, 31000).all()
    schemas.validate(df, "load")


def test_real_5min_file_is_standard_time_on_dst_days(load_5min):
    df, _ = load_5min
    # 3/13/2016 2:00 exists in the file (no such EPT wall-clock time): read as EST = 07:00 UTC, 03:00 EDT
    t = pd.Timestamp("2016-03-13 07:00", tz="UTC")
    row = df[df["timestamp_utc"] == t]
    assert row["load_mw"].item() == 15549.0
    assert row["timestamp_local"].item().hour == 3
    # 11/6/2016: one 01:00 EST hour in the file -> the local 01:00 hour appears twice in prevailing time
    day = df[df["timestamp_local"].dt.strftime("%Y-%m-%d") == "2016-11-06"]
    assert (day["timestamp_local"].dt.hour == 1).sum() == 24  # 12 EDT stamps + 12 EST stamps
    utc_gaps = df["timestamp_utc"].diff().dt.total_seconds().div(60)
    assert utc_gaps.max() == 1445  # one real day-long hole; nothing invented by the DST conversion


PAL = "Time Stamp,Time Zone,Name,PTID,Load\n"


def test_pal_format_sums_zones_and_uses_tz_column(tmp_path):
    rows = ("11/06/2016 01:55:00,EDT,CAPITL,61757,1000.5\n11/06/2016 01:55:00,EDT,WEST,61752,2000\n"
            "11/06/2016 01:00:00,EST,CAPITL,61757,900\n11/06/2016 01:00:00,EST,WEST,61752,1900\n"
            "11/06/2016 01:05:00,EST,CAPITL,61757,910\n")
    q = load.QualityLog("load")
    df = load.parse_nyiso_pal([write(tmp_path, "pal.csv", PAL + rows)], log=q)
    assert list(df["timestamp_utc"]) == [pd.Timestamp("2016-11-06 05:55", tz="UTC"),
                                         pd.Timestamp("2016-11-06 06:00", tz="UTC")]
    assert list(df["load_mw"]) == [3000.5, 2800.0]
    assert q.removed["stamps_missing_some_zones"] == 1  # 01:05 EST has CAPITL only
    one = load.parse_nyiso_pal([write(tmp_path, "pal.csv", PAL + rows)], zone="west")
    assert list(one["load_mw"]) == [2000.0, 1900.0]
    schemas.validate(df, "load")


def test_5min_out_of_order_raises(tmp_path):
    p = write(tmp_path, "l.csv", "time_5min,mw\n1/1/2016 0:05,1\n1/1/2016 0:00,2\n")
    with pytest.raises(IngestError, match=r"l\.csv, line 3, column 'time_5min': timestamp out of order"):
        load.parse_nyiso_5min([p])


def test_5min_prevailing_time_option_on_dst_days(tmp_path):
    stamps = ["11/6/2016 0:55", "11/6/2016 1:00", "11/6/2016 1:55", "11/6/2016 1:00", "11/6/2016 1:05",
              "11/6/2016 2:00"]
    text = "time_5min,mw\n" + "".join(f"{t},{15000 + i}\n" for i, t in enumerate(stamps))
    df = load.parse_nyiso_5min([write(tmp_path, "p.csv", text)], timezone="America/New_York")
    assert list(df["timestamp_utc"].dt.strftime("%H:%M")) == ["04:55", "05:00", "05:55", "06:00", "06:05", "07:00"]
    spring = "time_5min,mw\n3/13/2016 1:55,15000\n3/13/2016 2:00,15001\n"
    with pytest.raises(IngestError, match="line 3, column 'time_5min'.*does not exist in America/New_York"):
        load.parse_nyiso_5min([write(tmp_path, "s.csv", spring)], timezone="America/New_York")

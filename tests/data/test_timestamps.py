"""Timestamps that real files get wrong: mixed day/month orders, interval-ending and off-grid stamps, 24:00,
implausible dates, non-UTF-8 bytes, and schema failures with thousands of cases."""

import numpy as np
import pandas as pd
import pytest

from evgrid.data import ev, load, prices, schemas
from evgrid.data.errors import IngestError
from evgrid.data.quality import QualityLog
from evgrid.data.timestamps import parse_stamps, resolve_day_month, to_interval_start
from tests.data.conftest import write

DUNDEE_HEADER = "Charging event,CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Cost,Site,Group,Model\n"


def _swapped_export(true_starts: pd.DatetimeIndex, hours: float = 2.0) -> str:
    """A council export that writes dates with day <= 12 as mm/dd and the others as dd/mm (the publisher's
    bug), newest first like Dundee's files."""
    def fmt(t: pd.Timestamp) -> str:
        return f"{t:%m/%d/%Y}" if t.day <= 12 else f"{t:%d/%m/%Y}"

    rows = []
    for i, t in enumerate(sorted(true_starts, reverse=True)):
        e = t + pd.Timedelta(hours=hours)
        rows.append(f'{1000 + i},50349,2,{fmt(t)},{t:%H:%M},{fmt(e)},{e:%H:%M},5.0,0,"Site, Dundee",G,APT 7kW\n')
    return DUNDEE_HEADER + "".join(rows)


def test_mixed_day_month_export_is_repaired_and_counted(tmp_path):
    true = pd.date_range("2018-03-01 08:00", "2018-05-31 08:00", freq="19h")
    q = QualityLog("ev_sessions")
    df = ev.parse_dundee_csv([write(tmp_path, "swapped.csv", _swapped_export(true))], log=q)
    assert list(df["arrival_local"]) == list(true)  # every date back where it belongs
    assert (df["departure_local"] - df["arrival_local"] == pd.Timedelta(hours=2)).all()
    ambiguous = int(((true.day <= 12) & (true.day != true.month)).sum())
    assert q.repaired["Start Date_day_month_swapped_rows"] == ambiguous
    assert q.rows_read == len(true) and sum(q.removed.values()) == 0  # nothing dropped as "over 72 h"
    assert any("mix" in n for n in q.notes)
    assert q.dates["arrival"]["rows_against_file_order"] == 0
    assert q.dates["duration_h"]["non_positive"] == q.dates["duration_h"]["over_72"] == 0


def test_strict_day_month_reads_as_declared_and_dates_tell(tmp_path):
    true = pd.date_range("2018-03-01 08:00", "2018-05-31 08:00", freq="19h")
    q = QualityLog("ev_sessions")
    df = ev.parse_dundee_csv([write(tmp_path, "swapped.csv", _swapped_export(true))], log=q, day_month="strict")
    assert set(df["arrival_local"]) != set(true)  # the bug the auto mode repairs
    assert q.dates["arrival"]["rows_against_file_order"] > 0  # and the quality report shows it
    assert q.dates["duration_h"]["non_positive"] + q.dates["duration_h"]["over_72"] > 0


def test_whole_file_in_the_other_order_is_read_that_way(tmp_path):
    rows = ('1,50349,2,03/25/2018,10:00,03/25/2018,11:00,5.0,0,"S, Dundee",G,M\n'
            '2,50349,2,03/05/2018,10:00,03/05/2018,11:00,5.0,0,"S, Dundee",G,M\n')
    q = QualityLog("ev_sessions")
    df = ev.parse_dundee_csv([write(tmp_path, "us.csv", DUNDEE_HEADER + rows)], log=q)
    assert sorted(df["arrival_local"].dt.strftime("%Y-%m-%d")) == ["2018-03-05", "2018-03-25"]
    assert q.repaired["Start Date_day_month_order_swapped"] == 2


def test_undecidable_mixed_dates_are_refused():
    # decidable rows in both orders (25 Jan, 28 Mar, 14 Feb), unordered in the file, and an ambiguous
    # 02/03 whose two readings (2 Mar, 3 Feb) both lie inside their span: refused, naming the line
    raw = pd.Series(["25/01/2018", "03/28/2018", "14/02/2018", "02/03/2018"])
    df = pd.DataFrame({"_line": [2, 3, 4, 5]})
    with pytest.raises(IngestError, match=r"f\.csv, line 5, column 'd': dates mix day/month orders and 1 ambiguous"):
        resolve_day_month(raw, "%d/%m/%Y", "f.csv", df, "d", QualityLog("x"))


def test_end_date_decided_by_its_start():
    start = pd.Series(pd.to_datetime(["2018-05-31", "2018-06-13", "2018-06-14"]))
    raw = pd.Series(["06/01/2018", "13/06/2018", "06/15/2018"])  # 1 June written mm/dd (swapped export)
    q = QualityLog("x")
    out = resolve_day_month(raw, "%d/%m/%Y", "f.csv", pd.DataFrame({"_line": [2, 3, 4]}), "End Date", q,
                            anchor=start, window=pd.Timedelta(days=3))
    assert list(out.dt.strftime("%Y-%m-%d")) == ["2018-06-01", "2018-06-13", "2018-06-15"]


def test_parse_stamps_format_list_seconds_two_digit_years_and_24h():
    raw = pd.Series(["07/18/2022 00:05", "07/18/2022 00:15:12", "6/1/24 0:00", "07/18/2022 24:00:00"])
    q = QualityLog("x")
    out = parse_stamps(raw, prices.NYISO_TIME_FORMATS, "f.csv", None, "Time Stamp", log=q)
    assert list(out) == [pd.Timestamp("2022-07-18 00:05"), pd.Timestamp("2022-07-18 00:15:12"),
                         pd.Timestamp("2024-06-01 00:00"), pd.Timestamp("2022-07-19 00:00")]
    assert q.repaired["Time Stamp_24:00_read_as_next_midnight"] == 1
    with pytest.raises(IngestError, match=r"line 3, column 'Time Stamp': unparseable.*'%m/%d/%Y %H:%M' or"):
        parse_stamps(pd.Series(["07/18/2022 00:05", "2022-07-18T00:10"]), prices.NYISO_TIME_FORMATS, "f.csv",
                     pd.DataFrame({"_line": [2, 3]}), "Time Stamp")


def test_interval_end_to_start_keeps_off_grid_lengths():
    utc = pd.Series(pd.to_datetime(["2022-07-18 04:05", "2022-07-18 04:10", "2022-07-18 04:15",
                                    "2022-07-18 04:15:12", "2022-07-18 04:20", "2022-07-18 05:00"], utc=True,
                                   format="ISO8601"))
    start = to_interval_start(utc, "end", 5.0)
    assert list(start.dt.strftime("%H:%M:%S")) == ["04:00:00", "04:05:00", "04:10:00", "04:15:00", "04:15:12",
                                                   "04:55:00"]  # after a gap: one nominal interval back
    assert to_interval_start(utc, "start", 5.0).equals(utc)


def test_zonal_interval_option_validated(tmp_path):
    text = ('"Time Stamp","Name","PTID","LBMP ($/MWHr)","Marginal Cost Losses ($/MWHr)",'
            '"Marginal Cost Congestion ($/MWHr)"\n"07/18/2022 00:05:00","WEST",61752,20,0,0\n')
    with pytest.raises(IngestError, match=r"column 'interval': unknown interval convention 'middle'"):
        prices.parse_nyiso_zonal_csv([write(tmp_path, "z.csv", text)], interval="middle")
    with pytest.raises(IngestError, match=r"cannot tell the interval length from a single stamp"):
        prices.parse_nyiso_zonal_csv([write(tmp_path, "z.csv", text)], interval="end")


def test_implausible_date_refused_with_its_line(tmp_path):
    text = "time_5min,mw\n1/1/2016 0:00,18000\n1/1/2016 0:05,18001\n"
    with pytest.raises(IngestError, match=r"1 date\(s\)|2 date\(s\) outside the plausible span 2017-01-01"):
        load.parse_nyiso_5min([write(tmp_path, "l.csv", text)], date_span=["2017-01-01", None])
    rows = DUNDEE_HEADER + '1,50349,2,05/06/1918,10:00,05/06/1918,11:00,5.0,0,"S, Dundee",G,M\n'
    with pytest.raises(IngestError, match=r"d\.csv, line 2, column 'arrival': 1 date\(s\) outside the plausible span"):
        ev.parse_dundee_csv([write(tmp_path, "d.csv", rows)])


def test_non_utf8_byte_in_nyiso_csv_names_line_and_byte(tmp_path):
    text = (b'"Time Stamp","Name","PTID","LBMP ($/MWHr)","Marginal Cost Losses ($/MWHr)",'
            b'"Marginal Cost Congestion ($/MWHr)"\n"07/18/2022 00:00","WEST",61752,20,0,0\n')
    text += b'"07/18/2022 01:00","HUD VL\xa0",61758,21,0,0\n'
    p = write(tmp_path, "z.csv", "")
    p.write_bytes(text)
    with pytest.raises(IngestError, match=r"z\.csv, line 3: byte 0xA0 \(file offset \d+, character 27"):
        prices.parse_nyiso_zonal_csv([p])
    df = prices.parse_nyiso_zonal_csv([p], encoding="latin-1")
    assert set(df["zone"]) == {"WEST", "HUD VL"}  # the non-breaking space stripped with the rest
    with pytest.raises(IngestError, match=r"column 'encoding': unknown text encoding 'klingon'"):
        prices.parse_nyiso_zonal_csv([p], encoding="klingon")


def test_column_mapping_for_a_renamed_layout(tmp_path):
    text = "when,load\n1/1/2016 0:00,18000\n1/1/2016 0:05,18001\n"
    df = load.parse_nyiso_5min([write(tmp_path, "l.csv", text)], columns={"time_5min": "when", "mw": "load"})
    assert list(df["load_mw"]) == [18000.0, 18001.0]
    with pytest.raises(IngestError, match=r"column 'lod' \(option columns\.mw\) not in the file \(found 'load'"):
        load.parse_nyiso_5min([write(tmp_path, "l.csv", text)], columns={"time_5min": "when", "mw": "lod"})
    with pytest.raises(IngestError, match=r"option columns names unknown column\(s\) \['megawatts'\]"):
        load.parse_nyiso_5min([write(tmp_path, "l.csv", text)], columns={"megawatts": "load"})


def test_schema_failure_shows_a_few_cases_and_the_count():
    n = 5000
    bad = pd.DataFrame({
        "timestamp_utc": pd.date_range("2020-01-01", periods=n, freq="5min", tz="UTC"),
        "timestamp_local": pd.date_range("2020-01-01", periods=n, freq="5min", tz="America/New_York"),
        "load_mw": -np.arange(1.0, n + 1),
    })
    with pytest.raises(IngestError) as info:
        schemas.validate(bad, "load", ["big.csv"])
    msg = str(info.value)
    assert "5000 failing value(s), first 5 shown" in msg and "column 'load_mw'" in msg
    assert len(msg) < 1000 and "-4999.0" not in msg

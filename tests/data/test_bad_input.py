"""Every bad-input case of the issue raises an IngestError naming the file, the column / line and the
expectation: missing or renamed column, non-numeric value, empty or truncated file, unknown zone,
timestamps out of order or duplicated beyond what the format allows; plus schema failures."""

import pandas as pd
import pytest

from evgrid.data import ev, load, prices, schemas, traffic
from evgrid.data.errors import IngestError
from tests.data.conftest import DAM, DUNDEE, I94, LOAD, WIDE, write


def _head(path, n):
    return "".join(path.read_text().splitlines(keepends=True)[:n])


def test_missing_column(tmp_path):
    text = _head(LOAD, 5).replace("time_5min,mw", "time_5min,load")
    with pytest.raises(IngestError, match=r"l\.csv, column 'mw': missing column\(s\) 'mw'.*expected columns \['time_5min', 'mw'\]"):
        load.parse_nyiso_5min([write(tmp_path, "l.csv", text)])


def test_renamed_column_hint(tmp_path):
    text = _head(DAM, 5).replace("LBMP ($/MWHr)", "LBMP ($/MWh)")
    with pytest.raises(IngestError, match=r"column 'LBMP \(\$/MWHr\)'.*found 'LBMP \(\$/MWh\)' - renamed\?"):
        prices.parse_nyiso_zonal_csv([write(tmp_path, "dam.csv", text)])


def test_non_numeric_value_names_line(tmp_path):
    lines = _head(WIDE, 6).splitlines(keepends=True)
    lines[3] = lines[3].rsplit(",", 1)[0] + ",n/a?\n"
    with pytest.raises(IngestError, match=r"w\.csv, line 4, column 'he24': non-numeric value.*got 'n/a\?'"):
        prices.parse_nyiso_wide([write(tmp_path, "w.csv", "".join(lines))])


@pytest.mark.parametrize("text, what", [("", "is empty"), ("time_5min,mw\n", "header but no data rows")])
def test_empty_file(tmp_path, text, what):
    with pytest.raises(IngestError, match=rf"l\.csv: .*{what}"):
        load.parse_nyiso_5min([write(tmp_path, "l.csv", text)])


def test_truncated_file(tmp_path):
    text = _head(DAM, 20)
    cut = text[:-12]  # the download stopped mid-row: "07/18/2022 01:00,GENESE,61753,61"
    with pytest.raises(IngestError, match=r"dam\.csv, line 20: file looks truncated.*expected at least 6 fields, got '4 \(no final newline\)'"):
        prices.parse_nyiso_zonal_csv([write(tmp_path, "dam.csv", cut)])


def test_truncated_council_csv(tmp_path):
    text = _head(DUNDEE[1], 10)
    with pytest.raises(IngestError, match="file looks truncated"):
        ev.parse_dundee_csv([write(tmp_path, "d.csv", text[: text.rstrip().rfind("\n") + 25])])


def test_unparseable_timestamp(tmp_path):
    text = _head(LOAD, 4) + "2016-01-01T00:15,17000\n"
    with pytest.raises(IngestError, match=r"line 5, column 'time_5min': unparseable timestamp.*'%m/%d/%Y %H:%M'"):
        load.parse_nyiso_5min([write(tmp_path, "l.csv", text)])


def test_out_of_order(tmp_path):
    lines = _head(I94, 6).splitlines(keepends=True)
    lines[2], lines[4] = lines[4], lines[2]
    with pytest.raises(IngestError, match=r"t\.csv, line 4, column 'date_time': timestamp out of order"):
        traffic.parse_i94_hourly([write(tmp_path, "t.csv", "".join(lines))])


def test_duplicate_beyond_format(tmp_path):
    lines = _head(WIDE, 4).splitlines(keepends=True)
    with pytest.raises(IngestError, match=r"line 5, column 'date'.*appears twice.*one row per zone and day"):
        prices.parse_nyiso_wide([write(tmp_path, "w.csv", "".join(lines + [lines[2]]))])


def test_unknown_zone(dam_prices):
    with pytest.raises(IngestError, match=r"20220718damlbmp_zone\.csv.*unknown zone 'ZONE Q'"):
        prices.select_zone(dam_prices[0], "ZONE Q", DAM)


def test_missing_file(tmp_path):
    with pytest.raises(IngestError, match="file not found"):
        load.parse_nyiso_5min([tmp_path / "nope.csv"])


def test_schema_failure_names_column_and_cases(load_5min):
    bad = load_5min[0].head(3).copy()
    bad.loc[1, "load_mw"] = -5.0
    with pytest.raises(IngestError, match=r"my\.csv, column 'load_mw': load_primary failed validation.*-5\.0"):
        schemas.validate(bad, "load", ["my.csv"])
    with pytest.raises(IngestError, match="column 'timestamp_utc'"):
        schemas.validate(bad.assign(timestamp_utc=bad["timestamp_utc"].dt.tz_localize(None)), "load")
    with pytest.raises(IngestError, match="load_primary failed validation"):
        schemas.validate(pd.concat([bad.iloc[[0]].assign(load_mw=1.0)] * 2, ignore_index=True), "load")

"""Weather: the eight real NSRDB PSM3 years (local standard time) and a TMY3 fixture read by pvlib."""

import pandas as pd
import pytest

from evgrid.data import schemas, weather
from evgrid.data.errors import IngestError
from tests.data.conftest import NSRDB, write


def test_nsrdb_real_files(nsrdb):
    df, q = nsrdb
    assert len(NSRDB) == 8
    assert q["rows_read"] == len(df) == (6 * 365 + 2 * 366) * 48  # 30-min, 2010..2017 incl. 2 leap years
    assert df["timestamp_utc"].is_unique and (df["interval_minutes"] == 30).all()
    assert str(df["timestamp_local"].dt.tz) == "Etc/GMT+5"
    first = df.iloc[0]  # 2010-01-01 00:00 LST: DHI 0, Wind 0.5, Temperature -1
    assert first["timestamp_utc"] == pd.Timestamp("2010-01-01 05:00", tz="UTC")
    assert first["temp_air_c"] == -1.0 and first["wind_speed_m_per_s"] == 0.5
    assert (df["latitude"] == 43.05).all() and (df["longitude"] == -76.18).all()
    schemas.validate(df, "weather")


def test_nsrdb_has_no_dst(nsrdb):
    df, _ = nsrdb
    offsets = (df["timestamp_local"].dt.tz_localize(None) - df["timestamp_utc"].dt.tz_localize(None)).unique()
    assert list(offsets) == [pd.Timedelta(hours=-5)]
    # July solar noon at 76.18 W in UTC-5 standard time is ~12:10: the GHI peak sits near noon LST
    july = df[df["timestamp_local"].dt.month == 7]
    peak_hour = july.groupby(july["timestamp_local"].dt.hour)["ghi_w_per_m2"].mean().idxmax()
    assert peak_hour in (11, 12)


def test_nsrdb_non_numeric_value_names_line_and_column(tmp_path):
    lines = NSRDB[0].read_text().splitlines(keepends=True)[:10]
    fields = lines[6].split(",")
    fields[7] = "abc"  # GHI of the 4th data row (file line 7)
    lines[6] = ",".join(fields)
    with pytest.raises(IngestError, match=r"line 7, column 'GHI'.*expected a number, got 'abc'"):
        weather.parse_nsrdb_psm3([write(tmp_path, "n.csv", "".join(lines))])


def test_nsrdb_same_year_twice_raises(tmp_path):
    with pytest.raises(IngestError, match="more than one file"):
        weather.parse_nsrdb_psm3([NSRDB[0], NSRDB[0]])


TMY3_META = '723170,"GREENSBORO PIEDMONT TRIAD INT",NC,-5.0,36.100,-79.950,273\n'
TMY3_HEADER = (
    "Date (MM/DD/YYYY),Time (HH:MM),ETR (W/m^2),ETRN (W/m^2),GHI (W/m^2),GHI source,GHI uncert (%),"
    "DNI (W/m^2),DNI source,DNI uncert (%),DHI (W/m^2),DHI source,DHI uncert (%),GH illum (lx),GH illum source,"
    "Global illum uncert (%),DN illum (lx),DN illum source,DN illum uncert (%),DH illum (lx),DH illum source,"
    "DH illum uncert (%),Zenith lum (cd/m^2),Zenith lum source,Zenith lum uncert (%),TotCld (tenths),"
    "TotCld source,TotCld uncert (code),OpqCld (tenths),OpqCld source,OpqCld uncert (code),Dry-bulb (C),"
    "Dry-bulb source,Dry-bulb uncert (code),Dew-point (C),Dew-point source,Dew-point uncert (code),RHum (%),"
    "RHum source,RHum uncert (code),Pressure (mbar),Pressure source,Pressure uncert (code),Wdir (degrees),"
    "Wdir source,Wdir uncert (code),Wspd (m/s),Wspd source,Wspd uncert (code),Hvis (m),Hvis source,"
    "Hvis uncert (code),CeilHgt (m),CeilHgt source,CeilHgt uncert (code),Pwat (cm),Pwat source,"
    "Pwat uncert (code),AOD (unitless),AOD source,AOD uncert (code),Alb (unitless),Alb source,"
    "Alb uncert (code),Lprecip depth (mm),Lprecip quantity (hr),Lprecip source,Lprecip uncert (code)\n"
)


def _tmy3_row(date: str, hour: int, ghi: int, temp: float, wspd: float) -> str:
    return (f"{date},{hour:02d}:00,0,0,{ghi},1,0,{ghi // 2},1,0,{ghi // 3},1,0,0,1,0,0,1,0,0,1,0,0,1,0,10,A,7,10,A,7,"
            f"{temp},A,7,6.1,A,7,77,A,7,993,A,7,200,A,7,{wspd},A,7,16100,B,7,1370,A,7,1.5,E,8,0.000,?,0,0.00,?,0,"
            "0,1,D,9\n")


def test_tmy3_fixture_hour_ending_to_hour_beginning(tmp_path):
    rows = "".join(_tmy3_row("06/21/1988", h, 40 * h, 20.0 + h, 3.0) for h in range(1, 25))
    df = weather.parse_tmy3([write(tmp_path, "723170TYA.CSV", TMY3_META + TMY3_HEADER + rows)])
    assert len(df) == 24 and (df["interval_minutes"] == 60).all()
    # the row stamped 01:00 covers 00:00-01:00 local standard time (UTC-5)
    assert df["timestamp_local"].iloc[0] == pd.Timestamp("1990-06-21 00:00", tz="Etc/GMT+5")
    assert df["timestamp_utc"].iloc[0] == pd.Timestamp("1990-06-21 05:00", tz="UTC")
    # the row stamped 24:00 is the last hour of the same day, 23:00-24:00
    assert df["timestamp_local"].iloc[-1] == pd.Timestamp("1990-06-21 23:00", tz="Etc/GMT+5")
    assert df["ghi_w_per_m2"].iloc[0] == 40 and df["temp_air_c"].iloc[0] == 21.0
    assert df["site"].iloc[0] == "723170" and df["latitude"].iloc[0] == pytest.approx(36.1)
    schemas.validate(df, "weather")


def test_nsrdb_truncated_file_names_last_line(tmp_path):
    lines = NSRDB[0].read_text().splitlines(keepends=True)[:20]
    text = "".join(lines)[:-40]  # the download stopped in the middle of line 20
    with pytest.raises(IngestError, match=r"n\.csv, line 20, column '\w+': .*truncated file\?"):
        weather.parse_nsrdb_psm3([write(tmp_path, "n.csv", text)])

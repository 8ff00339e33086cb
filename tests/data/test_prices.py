"""NYISO price parsers on the real files (DAM zonal CSV, wide RT file) and OASIS / DST fixtures."""

import numpy as np
import pandas as pd
import pytest

from evgrid.data import prices, schemas
from evgrid.data.errors import IngestError
from tests.data.conftest import DAM, write


def test_dam_zonal_real_file_rows_values_and_components(dam_prices):
    df, q = dam_prices
    assert q["rows_read"] == 360 and len(df) == 360  # 15 zones x 24 h
    assert df["zone"].nunique() == 15 and set(df["market"]) == {"DAM"}
    row = df[(df["zone"] == "CAPITL") & (df["timestamp_local"] == pd.Timestamp("2022-07-18 00:00", tz="America/New_York"))]
    # first data line of the raw file: 07/18/2022 00:00,CAPITL,61757,72.06,5.27,0.75
    assert row["lbmp_usd_per_mwh"].item() == 72.06
    assert row["losses_usd_per_mwh"].item() == 5.27 and row["congestion_usd_per_mwh"].item() == 0.75
    assert row["ptid"].item() == 61757
    assert row["timestamp_utc"].item() == pd.Timestamp("2022-07-18 04:00", tz="UTC")  # EDT = UTC-4
    # LBMP = energy + losses - congestion: the energy component is system-wide (one value per hour)
    spread = df.groupby("timestamp_utc")["energy_usd_per_mwh"].agg(lambda s: s.max() - s.min())
    assert spread.max() <= 0.02 + 1e-9
    schemas.validate(df, "prices")


def test_wide_rt_real_file_rows_zones_and_known_value(wide_prices):
    df, q = wide_prices
    assert q["rows_read"] == 8432
    assert q["rows_removed"]["other_iso_zone_day_rows"] == 992  # MASS_HUB, SEMASS (ISO-NE) x 496 days
    assert df["zone"].nunique() == 15 and "N.Y.C." in set(df["zone"]) and "NYC" not in set(df["zone"])
    assert df["timestamp_local"].dt.normalize().dt.tz_localize(None).nunique() == 496
    # 496 days x 15 zones x 24 h, minus the non-existent 02:00 hour on the two spring-forward days
    assert len(df) == 496 * 15 * 24 - 2 * 15
    assert q["rows_removed"]["dst_nonexistent_hour_values"] == 30
    v = df[(df["zone"] == "CAPITL") & (df["timestamp_utc"] == pd.Timestamp("2019-01-02 05:00", tz="UTC"))]
    assert v["lbmp_usd_per_mwh"].item() == 9.73  # he01 of the CAPITL 2019-01-02 row
    schemas.validate(df, "prices")


def test_wide_rt_dst_days(wide_prices):
    df, _ = wide_prices
    cap = df[df["zone"] == "CAPITL"].set_index("timestamp_local")["lbmp_usd_per_mwh"]
    spring = cap[cap.index.normalize() == pd.Timestamp("2019-03-10", tz="America/New_York")]
    assert len(spring) == 23 and 2 not in set(spring.index.hour)
    assert spring.iloc[2] == 30.11  # he04 (03:00 EDT) follows he02: he03 (the copy of he02) is dropped
    autumn = cap[cap.index.normalize() == pd.Timestamp("2019-11-03", tz="America/New_York")]
    assert len(autumn) == 24
    one_am = autumn[autumn.index.hour == 1]
    assert len(one_am) == 1 and one_am.index[0].utcoffset() == pd.Timedelta(hours=-4)  # first (EDT) 01:00


def _zonal(rows: str) -> str:
    return ("Time Stamp,Name,PTID,LBMP ($/MWHr),Marginal Cost Losses ($/MWHr),Marginal Cost Congestion ($/MWHr)\n"
            + rows)


def test_zonal_csv_autumn_repeated_hour_first_edt_then_est(tmp_path):
    rows = "".join(f"11/03/2019 {h},N.Y.C.,61761,{p},1.00,-2.00\n"
                   for h, p in [("00:00", 20.0), ("01:00", 21.0), ("01:00", 22.0), ("02:00", 23.0)])
    df = prices.parse_nyiso_zonal_csv([write(tmp_path, "f.csv", _zonal(rows))])
    assert list(df["timestamp_utc"].dt.strftime("%H:%M")) == ["04:00", "05:00", "06:00", "07:00"]
    assert list(df["lbmp_usd_per_mwh"]) == [20.0, 21.0, 22.0, 23.0]
    assert np.allclose(df["energy_usd_per_mwh"], df["lbmp_usd_per_mwh"] - 1.0 - 2.0)


def test_zonal_csv_hour_three_times_raises(tmp_path):
    rows = "".join(f"11/03/2019 01:00,N.Y.C.,61761,{p},1,0\n" for p in (1, 2, 3))
    with pytest.raises(IngestError, match=r"f\.csv, line 4, column 'Time Stamp'.*duplicated"):
        prices.parse_nyiso_zonal_csv([write(tmp_path, "f.csv", _zonal(rows))])


def test_zonal_csv_repeat_of_ordinary_hour_raises(tmp_path):
    rows = "07/18/2022 05:00,WEST,61752,1,0,0\n07/18/2022 05:00,WEST,61752,1,0,0\n"
    with pytest.raises(IngestError, match="line 3.*duplicated"):
        prices.parse_nyiso_zonal_csv([write(tmp_path, "f.csv", _zonal(rows))])


def test_zonal_csv_out_of_order_raises(tmp_path):
    rows = "07/18/2022 05:00,WEST,61752,1,0,0\n07/18/2022 04:00,WEST,61752,1,0,0\n"
    with pytest.raises(IngestError, match="line 3.*out of order"):
        prices.parse_nyiso_zonal_csv([write(tmp_path, "f.csv", _zonal(rows))])


OASIS_HEADER = ('"Eastern Date Hour","Eastern Date Hour Time Zone","Zone Name","Zone PTID","DAM Zonal LBMP",'
                '"DAM Zonal Losses","DAM Zonal Congestion","DAM Zonal Price Version"\n')


def test_oasis_export_tz_column_disambiguates_repeated_hour(tmp_path):
    rows = ('"11/03/2019 00:00","EDT","CAPITL",61757,18.42,1.10,-0.20,1\n'
            '"11/03/2019 01:00","EDT","CAPITL",61757,26.58,1.20,0.00,1\n'
            '"11/03/2019 01:00","EST","CAPITL",61757,15.47,1.00,0.00,1\n'
            '"11/03/2019 02:00","EST","CAPITL",61757,25.78,1.30,0.00,1\n')
    df = prices.parse_nyiso_oasis([write(tmp_path, "oasis.csv", OASIS_HEADER + rows)])
    assert list(df["timestamp_utc"]) == list(pd.date_range("2019-11-03 04:00", periods=4, freq="h", tz="UTC"))
    assert df["timestamp_local"].iloc[2].utcoffset() == pd.Timedelta(hours=-5)
    assert df["energy_usd_per_mwh"].iloc[0] == pytest.approx(18.42 - 1.10 - 0.20)
    schemas.validate(df, "prices")


def test_oasis_bad_tz_label_raises(tmp_path):
    rows = '"11/03/2019 00:00","CET","CAPITL",61757,18.42,1.10,-0.20,1\n'
    with pytest.raises(IngestError, match="line 2, column 'Eastern Date Hour Time Zone'.*EST or EDT"):
        prices.parse_nyiso_oasis([write(tmp_path, "oasis.csv", OASIS_HEADER + rows)])


def test_zone_aliases_and_unknown_zone(dam_prices):
    df, _ = dam_prices
    assert len(prices.select_zone(df, "NYC")) == 24 and len(prices.select_zone(df, "hud_vl")) == 24
    with pytest.raises(IngestError, match=r"unknown zone 'ZZTOP'.*expected one of \[.*'N\.Y\.C\.'"):
        prices.select_zone(df, "ZZTOP", DAM)


def test_wide_isos_all_keeps_other_iso_rows(tmp_path):
    he = ",".join(f"he{h:02d}" for h in range(1, 25))
    text = f"date,iso,zone,{he}\n2019-07-01,NYISO,WEST,{','.join(['1'] * 24)}\n2019-07-01,NEPOOL,SEMASS,{','.join(['2'] * 24)}\n"
    q = prices.QualityLog("prices")
    df = prices.parse_nyiso_wide([write(tmp_path, "w.csv", text)], isos="all", log=q)
    assert set(df["zone"]) == {"WEST", "SEMASS"} and "other_iso_zone_day_rows" not in q.removed

"""ingest pipeline end to end (spaceflights style): SequentialRunner on a DataCatalog built here, with the
real raw files (one NSRDB year to stay fast) and the real conf/base parameters."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from evgrid.data.errors import IngestError
from evgrid.data.features import daily_matrix
from evgrid.pipelines.ingest import create_pipeline
from evgrid.pipelines.ingest.datasets import RawFilesDataset

ROOT = Path(__file__).resolve().parents[3]
RAW = ROOT / "data" / "01_raw"
OUTPUTS = ["prices_primary", "load_primary", "ev_sessions_primary", "traffic_primary", "weather_primary",
           "price_daily", "load_daily", "traffic_daily", "weather_daily", "joint_daily", "ev_session_features",
           "ingest_data_quality", "ingest_quality_metrics"]


@pytest.fixture(scope="module")
def params():
    return yaml.safe_load((ROOT / "conf" / "base" / "parameters_ingest.yml").read_text())["ingest"]


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so the test can read intermediate outputs afterwards."""

    def _release(self) -> None:
        pass


def _catalog(params, **overrides) -> DataCatalog:
    raw = {
        "raw_prices_rt": RAW / "nyiso" / "nyiso_rt_hourly_by_zone_wide_2019-01_to_2020-05.csv",
        "raw_prices_dam": RAW / "nyiso" / "20220718damlbmp_zone.csv",
        "raw_load": RAW / "nyiso" / "nyiso_total_load_5min_2016.csv",
        "raw_ev_acn": RAW / "ev_sessions" / "acn_caltech_sessions_2021-05_to_2021-09.json",
        "raw_ev_council": RAW / "ev_sessions" / "dundee_*.csv",
        "raw_traffic": RAW / "traffic" / "Metro_Interstate_Traffic_Volume_2012-2017.csv",
        "raw_weather": RAW / "irradiance" / "1173581_43.05_-76.18_2016.csv",
    }
    datasets = {k: RawFilesDataset(filepath=str(v)) for k, v in raw.items()}
    datasets |= {o: KeptDataset() for o in OUTPUTS}
    datasets["params:step_minutes"] = MemoryDataset(15)
    for key in ("prices", "load", "ev_sessions", "traffic", "weather", "joint"):
        datasets[f"params:ingest.{key}"] = MemoryDataset(overrides.get(key, params[key]))
    return DataCatalog(datasets=datasets)


@pytest.fixture(scope="module")
def run(params):
    catalog = _catalog(params)
    SequentialRunner().run(create_pipeline(), catalog)
    return {o: catalog.load(o) for o in OUTPUTS}


def test_feature_contract(run):
    for name, channels, n_days in [("price_daily", ["lbmp_usd_per_mwh"], 496), ("load_daily", ["load_mw"], 365),
                                   ("weather_daily", ["ghi_w_per_m2", "dni_w_per_m2", "dhi_w_per_m2",
                                                      "temp_air_c", "wind_speed_m_per_s"], 366)]:
        df = run[name]
        assert list(df.columns[:4]) == ["date", "month", "day_of_week", "is_weekend"], name
        assert len(df) == n_days, name
        for ch in channels:
            m = daily_matrix(df, ch)
            assert m.shape == (n_days, 96) and np.isfinite(m).all(), (name, ch)
    assert set(run["price_daily"]["zone"]) == {"N.Y.C."}
    t = daily_matrix(run["traffic_daily"], "flow_veh_per_h")
    assert t.shape[1] == 96 and 1000 < len(t) < 1917 and (t >= 0).all()
    # the weather day is NSRDB local standard time: solar noon near step 48, zero GHI at midnight
    ghi = daily_matrix(run["weather_daily"], "ghi_w_per_m2")
    assert ghi[:, 0].max() == 0 and 40 <= ghi.mean(axis=0).argmax() <= 54


def test_joint_daily_is_co_temporal_and_counts_dropped_days(run):
    """joint_daily (issue 13 item 4): exactly the dates with a complete traffic AND weather day, each
    channel equal to its record's values of that date; the overlap days one record lacks are counted."""
    j, t, w = run["joint_daily"], run["traffic_daily"], run["weather_daily"]
    common = sorted(set(t["date"]) & set(w["date"]))
    assert list(j["date"]) == common and len(common) > 200  # the test reads weather of 2016 only
    tj = t.set_index("date").loc[common]
    wj = w.set_index("date").loc[common]
    assert np.array_equal(daily_matrix(j, "flow_veh_per_h"), daily_matrix(tj, "flow_veh_per_h"))
    for ch in ("ghi_w_per_m2", "temp_air_c", "wind_speed_m_per_s"):
        assert np.array_equal(daily_matrix(j, ch), daily_matrix(wj, ch)), ch
    assert "load_mw_t000" not in j.columns and "dni_w_per_m2_t000" not in j.columns
    q = run["ingest_data_quality"]["joint"]
    span = q["dates"]["overlap_span"]
    assert (span["first"], span["last"]) == ("2016-01-01", "2016-12-31")
    assert q["days_kept"] == len(j) and q["days_dropped"]["missing or incomplete in traffic_daily"] == 366 - len(j)
    assert q["days_dropped"]["outside the overlap span (traffic_daily)"] == len(t) - len(j)


def test_ev_session_features(run):
    f = run["ev_session_features"]
    assert set(f["source"]) == {"acn", "dundee"}
    acn = f[f["source"] == "acn"]
    assert len(acn) == 2113 and acn["distance_km"].notna().sum() == 2113 - 203
    assert (f["departure_h"] > f["arrival_h"]).all() and f["energy_kwh"].gt(0).all()


def test_quality_report_counts_everything(run):
    q = run["ingest_data_quality"]
    assert set(q) == {"prices", "load", "ev_sessions", "traffic", "weather", "joint"}
    assert q["prices"]["rows_read"] == 8432 + 360
    assert q["load"]["rows_removed"]["duplicate_stamp_averaged"] == 269
    assert q["load"]["days_dropped"]["incomplete"] == 1
    assert q["traffic"]["rows_removed"]["repeated_hour_weather_rows"] == 6213
    assert q["traffic"]["days_dropped"]["incomplete"] > 0
    # rows kept + rows removed = rows read for the session sources (nothing disappears silently)
    ev = q["ev_sessions"]
    assert len(run["ev_sessions_primary"]) == ev["rows_written"] == ev["rows_read"] - ev["rows_removed_total"]
    assert q["traffic"]["days_kept"] == len(run["traffic_daily"]) and q["weather"]["days_kept"] == 366
    json.dumps(q)  # JSON-serialisable for the JSONDataset / MLflow artifact
    m = run["ingest_quality_metrics"]
    assert m["ingest.load.rows_removed"] == {"value": 269.0, "step": 0}


def test_primary_tables_tz_aware(run):
    for name in ("prices_primary", "load_primary", "traffic_primary", "weather_primary"):
        df = run[name]
        assert str(df["timestamp_utc"].dt.tz) == "UTC" and df["timestamp_local"].dt.tz is not None
    assert str(run["load_primary"]["timestamp_local"].dt.tz) == "America/New_York"


def test_unknown_zone_and_format_fail_the_run(params):
    bad = dict(params["prices"], zone="ATLANTIS")
    with pytest.raises(IngestError, match="unknown zone 'ATLANTIS'"):
        SequentialRunner().run(create_pipeline().only_nodes("ingest_prices"), _catalog(params, prices=bad))
    bad = dict(params["load"], parser=dict(params["load"]["parser"], format="csv_of_my_dreams"))
    with pytest.raises(IngestError, match=r"unknown load format 'csv_of_my_dreams'.*nyiso_5min"):
        SequentialRunner().run(create_pipeline().only_nodes("ingest_load"), _catalog(params, load=bad))


def test_format_switch_does_not_leak_options_and_a_stray_option_is_named(params):
    # switching the rt slot to the zonal CSV takes only that format's block: nyiso_wide's `isos` stays behind,
    # so the zonal parser runs (and says what the wide file lacks) instead of rejecting a leaked option
    rt = dict(params["prices"]["rt"], format="nyiso_zonal_csv")
    with pytest.raises(IngestError, match=r"missing column\(s\) 'Time Stamp'"):
        SequentialRunner().run(create_pipeline().only_nodes("ingest_prices"),
                               _catalog(params, prices=dict(params["prices"], rt=rt)))
    # an option written flat in the block still has to suit the chosen format
    bad = dict(params["prices"], rt=dict(rt, isos=["NYISO"]))
    with pytest.raises(IngestError, match=r"option\(s\) \['isos'\] not understood by prices format 'nyiso_zonal_csv'"
                                          r".*column 'ingest\.prices\.rt\.nyiso_zonal_csv'|option\(s\) \['isos'\]"):
        SequentialRunner().run(create_pipeline().only_nodes("ingest_prices"), _catalog(params, prices=bad))


def test_raw_files_dataset_no_match(tmp_path):
    with pytest.raises(Exception, match="no file matches"):
        RawFilesDataset(filepath=str(tmp_path / "*.csv")).load()
    assert not RawFilesDataset(filepath=str(tmp_path / "*.csv")).exists()


def test_catalog_resolves_in_project():
    cat = yaml.safe_load((ROOT / "conf" / "base" / "catalog_ingest.yml").read_text())
    for name in ("raw_prices_rt", "raw_prices_dam", "raw_load", "raw_ev_acn", "raw_ev_council", "raw_traffic",
                 "raw_weather"):
        assert RawFilesDataset(filepath=str(ROOT / cat[name]["filepath"])).load()
    assert len(RawFilesDataset(filepath=str(ROOT / cat["raw_weather"]["filepath"])).load()) == 8
    assert len(RawFilesDataset(filepath=str(ROOT / cat["raw_ev_council"]["filepath"])).load()) == 3
    for name in ("prices", "load", "ev_sessions", "traffic", "weather"):
        assert cat[f"{name}_primary"]["filepath"] == f"data/03_primary/{name}.parquet"
    assert pd.Series(["price_daily", "load_daily", "traffic_daily", "weather_daily"]).isin(list(cat)).all()


def test_unknown_station_or_market_for_daily(run, params):
    from evgrid.pipelines.ingest import nodes

    bad = dict(params["traffic"], daily=dict(params["traffic"]["daily"], station=400001))
    with pytest.raises(IngestError, match=r"station 400001 not in traffic_primary.*MnDOT ATR 301"):
        nodes.traffic_features(run["traffic_primary"], bad, 15)
    with pytest.raises(IngestError, match=r"no 'HAM' prices.*among \['DAM', 'RT'\]"):
        nodes.price_features(run["prices_primary"], dict(params["prices"], daily_market="HAM"), 15)

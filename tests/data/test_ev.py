"""EV sessions: the real ACN JSON and Dundee CSVs (time zones, DST, userInputs, cleaning counts)."""

import json

import numpy as np
import pandas as pd
import pytest

from evgrid.data import ev, schemas
from evgrid.data.errors import IngestError
from evgrid.data.features import ev_session_features
from tests.data.conftest import ACN, write


def test_acn_real_file(acn_sessions):
    df, q = acn_sessions
    assert q["rows_read"] == 2114
    assert q["rows_removed"]["duration_over_72_h"] == 1 and q["rows_removed_total"] == 1
    assert len(df) == 2113 and df["session_id"].is_unique
    s = df[df["session_id"] == "acn-2_39_81_4550_2021-05-01 20:42:39.133163"].iloc[0]
    assert s["arrival_utc"] == pd.Timestamp("2021-05-01 20:42:47", tz="UTC")
    assert s["arrival_local"] == pd.Timestamp("2021-05-01 13:42:47")  # PDT = UTC-7
    assert s["energy_kwh"] == 30.936 and s["miles_requested"] == 250 and s["wh_per_mile"] == 286
    assert s["distance_km"] == pytest.approx(250 * 1.609344)
    assert s["requested_departure_utc"] == pd.Timestamp("2021-05-02 08:43:47", tz="UTC")
    assert pd.isna(s["done_charging_utc"])
    # 203 sessions have no userInputs: distance unknown, never invented
    assert df["distance_km"].isna().sum() == 203
    schemas.validate(df, "ev_sessions")


def test_acn_userinputs_latest_entry_used(tmp_path):
    rec = json.loads(ACN.read_text())[0]
    rec["userInputs"] = [dict(rec["userInputs"][0], milesRequested=10, modifiedAt="Sat, 01 May 2021 20:00:00 GMT"),
                         dict(rec["userInputs"][0], milesRequested=20, modifiedAt="Sat, 01 May 2021 21:00:00 GMT")]
    df = ev.parse_acn_json([write(tmp_path, "a.json", json.dumps({"_items": [rec]}))])
    assert df["miles_requested"].item() == 20


def test_acn_truncated_json_raises(tmp_path):
    text = ACN.read_text()[:5000]
    with pytest.raises(IngestError, match=r"a\.json, line \d+: invalid or truncated JSON"):
        ev.parse_acn_json([write(tmp_path, "a.json", text)])


def test_acn_missing_field_raises(tmp_path):
    rec = json.loads(ACN.read_text())[0]
    del rec["connectionTime"]
    with pytest.raises(IngestError, match="column 'connectionTime'.*lacks field"):
        ev.parse_acn_json([write(tmp_path, "a.json", json.dumps([rec]))])


def test_dundee_real_files(dundee_sessions):
    df, q = dundee_sessions
    assert q["rows_read"] == 19227 + 15610 + 16773
    removed = q["rows_removed"]
    assert removed["in_progress_or_missing_end_or_energy"] == 72 + 61 + 114
    assert len(df) == q["rows_read"] - q["rows_removed_total"]
    assert df["distance_km"].isna().all()  # no distance in the council data unless kwh_per_km is set
    assert (df["energy_kwh"] > 0).all() and (df["departure_utc"] > df["arrival_utc"]).all()
    schemas.validate(df, "ev_sessions")


def test_dundee_time_zone_gmt_and_bst(dundee_sessions):
    df, _ = dundee_sessions
    # dundee_charge-sessions-june-sept.csv line 2: event 7751157 starts 06/09/2018 23:55 BST
    s = df[df["session_id"] == "dundee-7751157"].iloc[0]
    assert s["arrival_utc"] == pd.Timestamp("2018-09-06 22:55", tz="UTC")
    assert s["departure_local"] == pd.Timestamp("2018-09-07 07:03")
    # winter: GMT = UTC (dec-mar file line 2: 4256786, 02/03/2018 23:50)
    w = df[df["session_id"] == "dundee-4256786"].iloc[0]
    assert w["arrival_utc"] == pd.Timestamp("2018-03-02 23:50", tz="UTC")
    # spring-forward day 2018-03-25: no 01:xx local starts exist; 02:xx local is BST (UTC+1)
    day = df[df["arrival_local"].dt.strftime("%Y-%m-%d") == "2018-03-25"]
    assert not (day["arrival_local"].dt.hour == 1).any()
    late = day[day["arrival_local"].dt.hour == 2]
    assert len(late) > 0
    assert ((late["arrival_local"] - late["arrival_utc"].dt.tz_localize(None)) == pd.Timedelta(hours=1)).all()


DUNDEE_HEADER = "Charging event,CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Cost,Site,Group,Model\n"


def test_dundee_nonexistent_spring_time_raises(tmp_path):
    row = '1,50349,2,25/03/2018,01:30,25/03/2018,03:00,5.0,0,"Site, Dundee",G,APT 7kW Dual Outlet\n'
    with pytest.raises(IngestError, match="line 2, column 'Start Date/Start Time'.*does not exist"):
        ev.parse_dundee_csv([write(tmp_path, "d.csv", DUNDEE_HEADER + row)])


def test_dundee_distance_from_consumption_parameter(tmp_path):
    row = '1,50349,2,05/06/2018,10:00,05/06/2018,11:00,9.0,0,"Site, Dundee",G,APT 7kW Dual Outlet\n'
    df = ev.parse_dundee_csv([write(tmp_path, "d.csv", DUNDEE_HEADER + row)], kwh_per_km=0.18)
    assert df["distance_km"].item() == pytest.approx(50.0)


def test_ev_session_features_hours(acn_sessions, dundee_sessions):
    f = ev_session_features(pd.concat([acn_sessions[0], dundee_sessions[0]], ignore_index=True))
    s = f[f["session_id"] == "dundee-7751157"].iloc[0]
    assert s["date"] == pd.Timestamp("2018-09-06") and s["day_of_week"] == 3 and not s["is_weekend"]
    assert s["arrival_h"] == pytest.approx(23 + 55 / 60)
    assert s["departure_h"] == pytest.approx(24 + 7 + 3 / 60)  # overnight: beyond 24
    assert np.allclose(f["departure_h"] - f["arrival_h"], f["duration_h"])
    assert (f["arrival_h"] >= 0).all() and (f["arrival_h"] < 24).all()
    assert list(f.columns) == ["session_id", "source", "site", "date", "month", "day_of_week", "is_weekend",
                               "arrival_h", "departure_h", "duration_h", "energy_kwh", "distance_km"]


def test_acn_non_numeric_and_bad_timezone_name_the_session(tmp_path):
    rec = json.loads(ACN.read_text())[0]
    bad = dict(rec, kWhDelivered="lots")
    with pytest.raises(IngestError, match=r"a\.json, column 'kWhDelivered': non-numeric value in session #1 "
                                          r"\(sessionID '2_39_81_4550.*got 'lots'"):
        ev.parse_acn_json([write(tmp_path, "a.json", json.dumps([rec, bad]))])
    with pytest.raises(IngestError, match="column 'timezone': unknown time zone in session #0"):
        ev.parse_acn_json([write(tmp_path, "a.json", json.dumps([dict(rec, timezone="Mars/Olympus")]))])

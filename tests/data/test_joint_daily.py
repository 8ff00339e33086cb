"""The co-temporal joint daily matrix (ingest.joint, issue 13 item 4): same dates only, every dropped day
counted with its reason, bad channel choices named."""

import numpy as np
import pandas as pd
import pytest

from evgrid.data.errors import IngestError
from evgrid.data.features import daily_matrix, joint_daily
from evgrid.data.quality import QualityLog
from evgrid.pipelines.ingest.nodes import joint_features


def _wide(dates, **channels):
    d = pd.DatetimeIndex(pd.to_datetime(dates))
    out = pd.DataFrame({"date": d.astype("datetime64[ns]"), "month": d.month.astype("int64"),
                        "day_of_week": d.dayofweek.astype("int64"), "is_weekend": d.dayofweek >= 5})
    cols = {f"{ch}_t{i:03d}": v[:, i] for ch, v in channels.items() for i in range(96)}
    return pd.concat([out, pd.DataFrame(cols)], axis=1)


@pytest.fixture
def records():
    # traffic 2016-01-03..2016-01-12 without the 6th and 7th; weather 2016-01-01..2016-01-10 without the 7th
    t_days = [d for d in pd.date_range("2016-01-03", "2016-01-12") if d.day not in (6, 7)]
    w_days = [d for d in pd.date_range("2016-01-01", "2016-01-10") if d.day != 7]
    day_no = lambda days: np.array([d.day for d in days], float)[:, None]  # noqa: E731
    traffic = _wide(t_days, flow_veh_per_h=np.repeat(1000 * day_no(t_days), 96, axis=1))
    weather = _wide(w_days, ghi_w_per_m2=np.repeat(10 * day_no(w_days), 96, axis=1),
                    temp_air_c=np.repeat(day_no(w_days), 96, axis=1),
                    wind_speed_m_per_s=np.ones((len(w_days), 96)))
    return traffic, weather


def test_joint_days_are_co_temporal_and_every_dropped_day_is_counted(records):
    traffic, weather = records
    q = QualityLog("joint")
    out = joint_daily({"traffic_daily": (traffic, ["flow_veh_per_h"]),
                       "weather_daily": (weather, ["ghi_w_per_m2", "wind_speed_m_per_s"])}, 15, log=q)
    # overlap span 3rd..10th: the 6th (traffic) and the 7th (both) are missing -> 3,4,5,8,9,10
    assert [d.day for d in out["date"]] == [3, 4, 5, 8, 9, 10]
    # each row holds the SAME date's values of both records
    assert np.array_equal(daily_matrix(out, "flow_veh_per_h")[:, 0] / 1000, daily_matrix(out, "ghi_w_per_m2")[:, 0] / 10)
    assert "temp_air_c_t000" not in out.columns and list(out.columns[:4]) == ["date", "month", "day_of_week", "is_weekend"]
    r = q.as_dict()
    assert r["days_kept"] == 6
    assert r["days_dropped"] == {"missing or incomplete in traffic_daily": 1,
                                 "missing or incomplete in traffic_daily and weather_daily": 1,
                                 "outside the overlap span (traffic_daily)": 2,   # 11th, 12th
                                 "outside the overlap span (weather_daily)": 2}   # 1st, 2nd
    assert r["dates"]["overlap_span"] == {"first": "2016-01-03", "last": "2016-01-10", "calendar_days": 8}


def test_bad_channel_choices_are_named(records):
    traffic, weather = records
    with pytest.raises(IngestError, match="load_daily"):
        joint_features(traffic, weather, {"channels": {"load_daily": ["load_mw"]}}, 15)
    with pytest.raises(IngestError, match="'lbmp_usd_per_mwh' not in daily matrix"):
        joint_features(traffic, weather, {"channels": {"traffic_daily": ["lbmp_usd_per_mwh"],
                                                       "weather_daily": ["ghi_w_per_m2"]}}, 15)
    out, q = joint_features(traffic, weather, {"channels": {"traffic_daily": ["flow_veh_per_h"],
                                                            "weather_daily": ["temp_air_c"]}}, 15)
    assert len(out) == 6 and q["source"] == "joint" and q["days_dropped_total"] == 6
    late = weather.assign(date=weather["date"] + pd.Timedelta(days=400))
    with pytest.raises(IngestError, match="do not overlap"):
        joint_features(traffic, late, {"channels": {"traffic_daily": ["flow_veh_per_h"],
                                                    "weather_daily": ["temp_air_c"]}}, 15)

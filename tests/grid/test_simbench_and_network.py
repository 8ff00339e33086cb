"""SimBench CSV loader (values from the files) and Network validation errors."""

import math

import numpy as np
import pandas as pd
import pytest

from evgrid.grid.ac_validation import base_case_ac, validate_schedule_ac
from evgrid.grid.feeders import load_feeder
from evgrid.grid.network import NetworkError, make_network
from evgrid.grid.simbench import load_simbench_csv, simbench_time_series

from .helpers import SIMBENCH, two_area_network


def test_simbench_lv_rural1():
    net = load_simbench_csv(SIMBENCH)
    assert len(net.buses) == 15 and len(net.branches) == 14
    assert net.base_kv == 0.4
    assert net.total_load_kw == pytest.approx(80.0)
    assert net.buses.loc[net.slack_bus, "name"] == "MV1.101 Bus 4" and net.v_slack_pu == pytest.approx(1.025)
    line = net.branches.set_index("name").loc["LV1.101 Line 1"]
    assert line.r_ohm == pytest.approx(0.2067 * 0.0557667)
    assert line.rating_kva == pytest.approx(math.sqrt(3) * 0.4 * 270)
    trafo = net.branches.set_index("name").loc["MV1.101-LV1.101-Trafo 1"]
    assert trafo.rating_kva == pytest.approx(160.0)
    assert math.hypot(trafo.r_ohm, trafo.x_ohm) == pytest.approx(0.04 * 0.4**2 / 0.16)
    net.check_radial()
    assert list(net.meta["res"].p_kw) == pytest.approx([40.0, 78.381, 19.0, 23.0])


def test_simbench_time_series_and_ac():
    net = load_simbench_csv(SIMBENCH)
    p, q, res = simbench_time_series(SIMBENCH, net)
    assert p.shape == (35136, 15) and p.index[0] == pd.Timestamp("2016-01-01 00:00")
    # first row: sum of pLoad x profile factor (L2-A 0.321053, H0-C 0.237082, ...), recomputed from the files
    prof = pd.read_csv(SIMBENCH / "LoadProfile.csv", sep=";", nrows=1)
    loads = pd.read_csv(SIMBENCH / "Load.csv", sep=";")
    expected = sum(prof[f"{r.profile}_pload"].iloc[0] * r.pLoad * 1000 for r in loads.itertuples())
    assert p.iloc[0].sum() == pytest.approx(expected)
    assert res.iloc[0].sum() == 0.0 and res.max().max() > 0
    day = slice(96 * 180, 96 * 181)  # a June day: PV back-feeds at noon
    rep = validate_schedule_ac(net, p.iloc[day] - res.iloc[day], q.iloc[day])
    assert rep.steps.v_max_pu.max() > net.v_slack_pu  # reverse flow raises voltage above the slack
    assert base_case_ac(net).steps.loss_kw.iloc[0] > 0


def test_simbench_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing Node.csv"):
        load_simbench_csv(tmp_path)


def _net(branches):
    buses = pd.DataFrame({"p_load_kw": [0.0, 10.0], "q_load_kvar": [0.0, 0.0], "v_min_pu": 0.9, "v_max_pu": 1.1},
                         index=[1, 2])
    return make_network("t", 12.66, 10.0, buses, pd.DataFrame(branches), slack_bus=1)


@pytest.mark.parametrize(
    ("branches", "message"),
    [
        ({"from_bus": [1], "to_bus": [3], "r_ohm": [0.1], "x_ohm": [0.1]}, r"branch 0 \(1-3\) refers to unknown bus 3"),
        ({"from_bus": [1], "to_bus": [2], "r_ohm": [0.0], "x_ohm": [0.1]}, r"branch 0 \(1-2\) has non-physical"),
        ({"from_bus": [1], "to_bus": [2], "r_ohm": [0.1], "x_ohm": [-0.1]}, "non-physical impedance"),
        ({"from_bus": [1], "to_bus": [1], "r_ohm": [0.1], "x_ohm": [0.1]}, "connects bus 1 to itself"),
        ({"from_bus": [1], "to_bus": [2], "r_ohm": [0.1], "x_ohm": [0.1], "rating_kva": [0.0]}, "non-positive rating"),
    ],
)
def test_network_errors_name_the_element(branches, message):
    with pytest.raises(NetworkError, match=message):
        _net(branches)


def test_disconnected_feeder_rejected_when_radial_required(tmp_path):
    net = two_area_network()
    mask = net.branch_mask([True, False])
    with pytest.raises(NetworkError, match=r"buses \[3\] are not connected"):
        net.check_radial(mask)
    net.check_radial(mask, allow_islands=True)
    assert net.islands(mask).tolist() == [0, 0, 1]


def test_load_feeder_dispatch_and_ratings(tmp_path):
    import pandapower as pp

    from evgrid.grid.pandapower_io import to_pandapower

    net = two_area_network()
    path = tmp_path / "feeder.json"
    pp.to_json(to_pandapower(net), str(path))
    back = load_feeder(path, default_rating_kva=900)
    assert back.total_load_kw == pytest.approx(1000.0)
    assert back.branches.rating_kva.tolist() == pytest.approx([900.0, 500.0])
    with pytest.raises(NetworkError, match="cannot infer the feeder format"):
        (tmp_path / "x.txt").write_text("")
        load_feeder(tmp_path / "x.txt")
    assert np.isfinite(back.z_base_ohm)

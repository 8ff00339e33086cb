"""MATPOWER parser and network model: values straight from the files, structural errors named."""

import textwrap

import numpy as np
import pytest

from evgrid.grid.matpower import MatpowerFormatError, load_matpower_case
from evgrid.grid.network import NetworkError

from .helpers import CASE17, CASE33


def test_case33_parsed_with_ohm_and_kw_conversion():
    net = load_matpower_case(CASE33)
    assert (net.base_kv, net.base_mva, net.slack_bus) == (12.66, 10.0, 1)
    assert len(net.buses) == 33 and len(net.branches) == 37
    assert net.total_load_kw == pytest.approx(3715.0) and net.total_load_kvar == pytest.approx(2300.0)
    first = net.branches.loc[0]
    assert first.r_ohm == pytest.approx(0.0922)
    assert first.r_pu == pytest.approx(0.0922 / (12.66**2 / 10.0))
    # the five tie switches (status 0) are kept, open
    ties = net.branches[net.branches.is_switch]
    assert sorted(zip(ties.from_bus, ties.to_bus, strict=True)) == [(9, 15), (12, 22), (18, 33), (21, 8), (25, 29)]
    assert not ties.in_service.any()
    assert net.branches.rating_kva.isna().all()  # no ratings in the source
    net.check_radial()


def test_case17_per_unit_and_mw():
    net = load_matpower_case(CASE17)
    assert len(net.buses) == 17 and len(net.branches) == 16
    assert net.base_kv == 23.0 and net.base_mva == 100.0
    assert net.buses.loc[6, "p_load_kw"] == pytest.approx(1200.0)
    assert net.branches.loc[0].r_ohm == pytest.approx(0.05 * 23.0**2 / 100.0)
    net.check_radial()


def test_ratings_from_parameters():
    net = load_matpower_case(CASE33).with_ratings(default_kva=4000, overrides={0: 6000})
    assert net.branches.rating_kva.loc[0] == 6000 and (net.branches.rating_kva.iloc[1:] == 4000).all()


def test_outage_islands_match_the_dwpt_cases():
    net = load_matpower_case(CASE33)
    isl = net.islands(net.outage_mask([(3, 4)]))
    assert sorted(isl.index[isl != 0]) == list(range(4, 19)) + list(range(26, 34))
    isl = net.islands(net.outage_mask([(6, 26)]))
    assert sorted(isl.index[isl != 0]) == list(range(26, 34))
    with pytest.raises(NetworkError, match="not connected to slack bus 1"):
        net.check_radial(net.outage_mask([(6, 7)]))


def test_meshed_configuration_names_the_loop_branch():
    net = load_matpower_case(CASE33)
    mask = net.branch_mask()
    mask.loc[net.branch_lookup(18, 33)] = True
    with pytest.raises(NetworkError, match=r"meshed, branch 35 \(18-33\) closes a loop"):
        net.check_radial(mask)


def _write(tmp_path, text):
    p = tmp_path / "bad.m"
    p.write_text(textwrap.dedent(text))
    return p


GOOD = """
function mpc = tiny
mpc.version = '2';
mpc.baseMVA = 10;
mpc.bus = [
    1 3 0 0 0 0 1 1 0 12.66 1 1 1;
    2 1 100 50 0 0 1 1 0 12.66 1 1.1 0.9;
];
mpc.branch = [
    1 2 0.01 0.02 0 0 0 0 0 0 1 -360 360;
];
"""


def test_tiny_case_ok(tmp_path):
    net = load_matpower_case(_write(tmp_path, GOOD))
    assert net.buses.loc[2, "p_load_kw"] == pytest.approx(100_000.0)  # MW in the standard format


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("1 2 0.01 0.02", "1 7 0.01 0.02", r"row 1 \(1-7\) refers to unknown bus 7"),
        ("1 2 0.01 0.02", "1 2 0 0.02", r"row 1 \(1-2\) has non-physical impedance r=0.0"),
        ("1 2 0.01 0.02", "1 2 -0.01 0.02", "non-physical impedance r=-0.01"),
        ("2 1 100 50", "2 1 abc 50", "mpc.bus row 2: non-numeric"),
        ("mpc.baseMVA = 10;", "", r"missing scalar 'mpc.baseMVA"),
        ("1 3 0 0", "1 1 0 0", "exactly one reference"),
        ("12.66 1 1.1 0.9;", "12.66 1 1.1;", "row 2 has 12 columns"),
    ],
)
def test_malformed_files_are_named(tmp_path, old, new, message):
    path = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(MatpowerFormatError, match=message) as err:
        load_matpower_case(path)
    assert str(path) in str(err.value)


def test_unknown_matlab_statement_rejected(tmp_path):
    path = _write(tmp_path, GOOD + "\nmpc.bus(:, 3) = mpc.bus(:, 3) * 2;\n")
    with pytest.raises(MatpowerFormatError, match="unsupported MATLAB statement"):
        load_matpower_case(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="nope.m"):
        load_matpower_case("nope.m")


def test_impedances_positive_everywhere():
    net = load_matpower_case(CASE33)
    assert np.all(net.branches.r_pu > 0)

"""Up-front parameter validation and meaningless-result flags (issue 15, observations 5 and 6)."""

import copy
import math
from pathlib import Path

import pytest
import yaml

from evgrid.runtime.sanity import MeaninglessResultWarning, drain_raised, flag_result, reduction_pct
from evgrid.runtime.validation import ConfigError, Problems, nearest

ROOT = Path(__file__).resolve().parents[2]


def test_unknown_key_names_itself_and_the_nearest_valid_one():
    p = Problems("dro.network")
    p.known_keys({"v_min_pu": 0.95, "v_mx_pu": 1.05}, {"v_min_pu", "v_max_pu", "linearisation_margin_pu"})
    with pytest.raises(ConfigError, match=r"dro\.network\.v_mx_pu: unknown key; did you mean 'v_max_pu'\?"):
        p.raise_if_any()
    assert nearest("zzz", ["v_min_pu"]) is None


def test_cross_field_rule_blames_the_right_parameters_not_a_third_one():
    """dro.network.v_min_pu=1.06 used to blame network.linearisation_margin_pu."""
    p = Problems("dro.network")
    p.less("v_min_pu", 1.06, "v_max_pu", 1.05, unit="pu")
    with pytest.raises(ConfigError) as err:
        p.raise_if_any()
    assert err.value.problems == [("dro.network.v_min_pu",
                                   "must be < dro.network.v_max_pu (1.05 pu), got 1.06 pu")]
    ok = Problems("dro.network")
    ok.less("v_min_pu", 0.90, "v_max_pu", 0.92)
    ok.raise_if_any()


def test_ranges_choices_and_all_problems_reported_together():
    p = Problems("x")
    p.in_range("n", 0, lo=1, integer=True)
    p.in_range("share", 1.5, lo=0, hi=1)
    p.in_range("rate", "fast", lo=0)
    p.in_range("step", 2.5, lo=1, integer=True)
    p.choice("method", "wasserstien", ["wasserstein", "moment"])
    p.in_range("fine", 0.5, lo=0, hi=1)
    with pytest.raises(ConfigError) as err:
        p.raise_if_any()
    probs = dict(err.value.problems)
    assert list(probs) == ["x.n", "x.share", "x.rate", "x.step", "x.method"]
    assert probs["x.n"] == "must be >= 1, got 0" and probs["x.share"] == "must be >= 0 and <= 1, got 1.5"
    assert "did you mean 'wasserstein'" in probs["x.method"]
    assert str(err.value).startswith("5 invalid parameters")


@pytest.fixture(scope="module")
def gan_params():
    return yaml.safe_load((ROOT / "conf/base/parameters_gan.yml").read_text())


def test_gan_base_parameters_pass(gan_params):
    from evgrid.pipelines.gan import validate_params

    validate_params(gan_params)


@pytest.mark.parametrize("edit,pattern", [
    (lambda g: g["sampling"].update(n_scenarios=0), r"gan\.sampling\.n_scenarios: must be >= 1, got 0"),
    (lambda g: g["families"].update(wind={"kind": "profile"}),
     r"gan\.families\.wind: family 'wind' is not supported by this pipeline; supported: \['pv', 'traffic', "
     r"'price', 'joint', 'ev_times', 'ev_distance'\]"),
    (lambda g: g["training"].update(iteratons=10), r"gan\.training\.iteratons: unknown key; did you mean 'iterations'"),
    (lambda g: g["families"]["price"].update(sampling={"n_scenarios": -3}),
     r"gan\.families\.price\.sampling\.n_scenarios: must be >= 1"),
    (lambda g: g["families"].pop("traffic"), r"gan\.families\.traffic: is required"),
])
def test_gan_bad_parameters_fail_naming_the_parameter(gan_params, edit, pattern):
    from evgrid.pipelines.gan import validate_params

    bad = copy.deepcopy(gan_params)
    edit(bad["gan"])
    with pytest.raises(ConfigError, match=pattern):
        validate_params(bad)


def test_all_load_shed_and_no_supply_is_flagged_and_not_compared():
    """dwpt with every DG at 0 kW and no import: 'optimal', 100 % shed, a 19.8 % 'reduction'."""
    drain_raised()
    with pytest.warns(MeaninglessResultWarning, match="case 'outage_3'|result 'outage_3'"):
        bad = flag_result("outage_3", load_kwh=1000.0, shed_kwh=1000.0, max_shed_share=0.05,
                          supply_kw={"dg1": 0.0, "dg2": 0.0, "import": 0.0})
    assert bad and "100.0 % of load shed" in bad.text() and "all supply is zero" in bad.text()
    good = flag_result("normal_1", load_kwh=1000.0, shed_kwh=10.0, max_shed_share=0.05,
                       supply_kw={"dg1": 300.0}, warn=False)
    assert not good and good.text() == ""
    assert math.isnan(reduction_pct(300.0, 240.6, bad, good))
    assert reduction_pct(300.0, 240.6, good) == pytest.approx(19.8)
    assert drain_raised() == [f"outage_3: {bad.text()}"]

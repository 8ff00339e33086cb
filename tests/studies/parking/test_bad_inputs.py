"""Bad input to the parking study: each error names the parameter or file and what was expected."""

import copy

import pandas as pd
import pytest

from evgrid.grid.matpower import load_matpower_case
from evgrid.grid.network import NetworkError
from evgrid.studies.parking.config import ParkingConfig, ParkingConfigError
from evgrid.studies.parking.system import ParkingInputError, build_system, gan_days, workplace_sessions
from evgrid.typed_params import ParameterError
from tests.grid.helpers import CASE33
from tests.studies.parking import fixtures as fx


def _params(**changes):
    p = copy.deepcopy(fx.params())
    for k, v in changes.items():
        p[k] = v
    return p


def test_unknown_parameter_and_bad_rating_are_named():
    with pytest.raises(ParameterError, match=r"parking\.colour: unknown key"):
        ParkingConfig.from_params(_params(colour=1))
    p = _params()
    p["lots"][1]["transformer_kva"] = 0
    with pytest.raises(ParkingConfigError, match=r"parking\.lots\[1\]\.transformer_kva: expected > 0 kVA"):
        ParkingConfig.from_params(p)
    p = _params()
    p["model"]["polygon_sides"] = 12
    with pytest.raises(ParkingConfigError, match=r"parking\.model\.polygon_sides: expected an even number >= 16"):
        ParkingConfig.from_params(p)


def test_every_problem_in_one_error_and_no_default_in_the_dataclass():
    p = _params()
    p["lots"][0]["n_evs"] = -1
    p["ev"]["soc_lower"] = 0.9
    del p["cables"]["sizing_margin"]  # defaults live only in the YAML
    with pytest.raises(ParkingConfigError) as err:
        ParkingConfig.from_params(p)
    assert [path for path, _ in err.value.problems] == [
        "parking.lots[0].n_evs", "parking.cables.sizing_margin", "parking.ev.soc_lower/soc_upper"]
    assert "parking.cables.sizing_margin: is required but missing" in str(err.value)


def test_transformer_thermal_constants_go_to_the_core_model_and_errors_name_them():
    p = _params()
    p["transformer"] = {**p.get("transformer", {}), "thermal": {"hgr_k": 23.0, "k22": 2.0}}
    th = ParkingConfig.from_params(p).transformer.thermal_model(400.0, 0.8, 5.0)
    assert (th.rated_kva, th.hgr_k, th.k22, th.tau_oil_min) == (400.0, 23.0, 2.0, 180.0)  # core default kept
    p["transformer"]["thermal"] = {"tau_oil": 10}
    with pytest.raises(ParkingConfigError,
                       match=r"parking\.transformer\.thermal\.tau_oil: unknown key; did you mean 'tau_oil_min'"):
        ParkingConfig.from_params(p)
    p["transformer"]["thermal"] = {"ageing_law": "fast"}
    with pytest.raises(ParkingConfigError, match=r"parking\.transformer\.thermal: .*ageing_law must be one of"):
        ParkingConfig.from_params(p)
    p["transformer"]["thermal"] = {"rated_kva": 630}
    with pytest.raises(ParkingConfigError, match=r"\['rated_kva'\] come from each lot"):
        ParkingConfig.from_params(p)


def test_lot_on_unknown_bus(real_inputs):
    p = _params()
    p["lots"][2]["bus"] = 99
    cfg = ParkingConfig.from_params(p)
    with pytest.raises(NetworkError, match=r"parking\.lots\[2\]\.bus: bus 99 of lot 'lot3' is not a bus"):
        build_system(load_matpower_case(CASE33), real_inputs["prices_primary"], real_inputs["load_daily"], cfg)


def test_switch_set_that_cannot_make_the_feeder_radial(real_inputs):
    net = load_matpower_case(CASE33)
    net.branches.loc[32, "in_service"] = True  # tie 21-8 closed and not switchable: a loop no switch opens
    p = _params()
    p["model"]["switchable"] = [33, 34, 35, 36]
    cfg = ParkingConfig.from_params(p)
    with pytest.raises(NetworkError, match=r"parking\.model\.switchable: the non-switchable branches close a loop"):
        build_system(net, real_inputs["prices_primary"], real_inputs["load_daily"], cfg)


def test_departure_before_arrival_in_scenario_file(real_inputs):
    cfg = ParkingConfig.from_params(_params())
    times = real_inputs["ev_times.scenarios"].copy()
    times.loc[5, "departure_h"] = times.loc[5, "arrival_h"] - 1.0
    sessions = workplace_sessions(real_inputs["ev_session_features"], cfg)
    with pytest.raises(ParkingInputError, match=r"ev_times\.parquet\): row 5 has departure_h .* <= arrival_h"):
        gan_days(times, real_inputs["pv.scenarios"], sessions, cfg, 1)


def test_missing_gan_scenarios_name_the_gan_pipeline(tmp_path):
    """Refused before any node runs (project hook), naming the file and `kedro run --pipelines=gan`; the check
    is not a node, so in the default chain the parking nodes simply run after gan."""
    from kedro.io import DataCatalog, MemoryDataset
    from kedro_datasets.pandas import ParquetDataset

    from evgrid.hooks import MissingUpstreamInputError, UpstreamInputsHook
    from evgrid.pipelines.parking.pipeline import create_pipeline

    pipe = create_pipeline()
    catalog = DataCatalog({name: MemoryDataset(pd.DataFrame()) for name in pipe.inputs()
                           if not name.startswith("params:") and name != "ev_times.scenarios"})
    catalog["ev_times.scenarios"] = ParquetDataset(filepath=str(tmp_path / "ev_times.parquet"))
    with pytest.raises(MissingUpstreamInputError, match=r"ev_times.scenarios.*ev_times.parquet.*--pipelines=gan"):
        UpstreamInputsHook().before_pipeline_run({}, pipe, catalog)


def test_price_day_not_in_data(real_inputs):
    p = _params()
    p["inputs"]["price_date"] = "1999-01-01"
    cfg = ParkingConfig.from_params(p)
    with pytest.raises(ParkingInputError, match=r"price_date='1999-01-01' has no price for hours"):
        build_system(load_matpower_case(CASE33), real_inputs["prices_primary"], real_inputs["load_daily"], cfg)
    assert isinstance(real_inputs["load_daily"], pd.DataFrame)

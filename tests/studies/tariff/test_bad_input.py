"""Bad input to the tariff study: clear errors naming the parameter, never a traceback from inside Pyomo."""

import pytest

from evgrid.optim.solver import InfeasibleModelError
from evgrid.studies.tariff import model as M
from evgrid.studies.tariff.config import TariffConfig, TariffConfigError
from evgrid.transport.dynamic import EvFlowError
from evgrid.typed_params import ParameterError
from tests.studies.tariff.conftest import BASE_PARAMS, make_system


def test_unknown_parameter_is_named():
    with pytest.raises(ParameterError, match="tariff.fleet.*battery_kw"):
        TariffConfig.from_params(BASE_PARAMS | {"fleet": BASE_PARAMS["fleet"] | {"battery_kw": 1}})


@pytest.mark.parametrize("gamma", [1.5, -0.1])
def test_gamma_outside_unit_interval(gamma):
    with pytest.raises(TariffConfigError, match="gamma_robust"):
        make_system(**{"uncertainty.gamma_robust": gamma})
    with pytest.raises(TariffConfigError, match="gamma_sweep"):
        make_system(**{"uncertainty.gamma_sweep": [0.0, gamma]})


def test_gamma_outside_unit_interval_in_a_solve(small_system):
    with pytest.raises(ValueError, match="'gamma' must be in \\[0, 1\\]"):
        M.solve_dso(small_system, 2.0)


def test_od_pair_with_unknown_node():
    od = [{"name": "X-D", "origin": "X", "destination": "D", "evs": 40, "initial_soc_aggregate": 8}]
    with pytest.raises(TariffConfigError, match=r"tariff.transport.od\[0\].origin.*'X'"):
        make_system(**{"transport.od": od})


def test_arc_naming_unknown_station_node():
    with pytest.raises(TariffConfigError, match="tariff.stations.F9"):
        make_system(**{"stations.F9": {"feeder_bus": 1, "line_limit_kw": 10, "plugs": 5}})


def test_station_mapped_to_unknown_bus():
    with pytest.raises(TariffConfigError, match="tariff.stations.F1.feeder_bus.*bus 99"):
        make_system(**{"stations.F1.feeder_bus": 99})


def test_negative_capacity_and_demand():
    with pytest.raises(TariffConfigError, match=r"links\[0\].*negative capacity"):
        make_system(**{"transport.links": [["O", "F1", -5, 1], ["F1", "D", 100, 1]]})
    od = [{"name": "O-D", "origin": "O", "destination": "D", "evs": -1, "initial_soc_aggregate": 0}]
    with pytest.raises(TariffConfigError, match="negative demand"):
        make_system(**{"transport.od": od})


def test_demand_that_cannot_arrive_within_the_horizon():
    sysm = make_system(**{"transport.departure_profile": [0, 0, 0, 0, 0, 0, 0.5, 0.5]})
    with pytest.raises(EvFlowError, match="O-D pair 'O-D'.*cannot reach 'D' within the horizon"):
        M.solve_dso(sysm, 0.0)


def test_infeasible_robust_case_names_constraints_and_hours():
    # both stations limited to 1 kW while every EV must charge: the station lines cannot be met
    sysm = make_system(**{"stations.F1.line_limit_kw": 1.0, "stations.F2.line_limit_kw": 1.0})
    with pytest.raises(InfeasibleModelError) as err:
        M.solve_dso(sysm, 1.0)
    msg = str(err.value)
    assert "thermal" in msg and "time steps" in msg
    assert err.value.diagnosis is not None and not err.value.diagnosis.slacks.empty

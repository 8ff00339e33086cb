"""The ring-and-spoke case network (evgrid.transport.ring) the planning study runs on by default."""

import numpy as np
import pytest

from evgrid.transport.ring import ring_demand, ring_network


def test_ring_network_geometry_and_gravity_demand():
    net, xy = ring_network(12, 5.0, 900.0, 60.0, 3, 900.0, 45.0)
    assert net.n_links == 2 * 12 + 2 * 4 and net.n_nodes == 13  # ring both ways + 4 spokes both ways
    ring = net.links[(net.links.init_node <= 12) & (net.links.term_node <= 12)]
    assert ring.length_km.to_numpy() == pytest.approx(2 * 5.0 * np.sin(np.pi / 12))  # chord of 30 degrees
    spokes = net.links[net.links.term_node == 13]
    assert sorted(spokes.init_node) == [1, 4, 7, 10] and spokes.free_flow_time_h.to_numpy() == pytest.approx(5 / 45)
    T = ring_demand(net, 12000.0, 4.0, 8.0).to_numpy()
    assert T.sum() == pytest.approx(12000.0) and np.all(np.diag(T) == 0)
    np.testing.assert_allclose(T, T.T)  # symmetric distances and weights -> symmetric gravity table
    assert T[12].sum() > 3 * T[0].sum()  # the centre (weight 4) produces more trips than a ring node


def test_sioux_falls_stays_a_second_case():
    from evgrid.studies.planning.config import PlanningConfig
    from evgrid.studies.planning.system import build_system

    from .conftest import daily_inputs, small_params

    p = small_params()
    p["case"] = "sioux_falls"
    s = build_system(PlanningConfig.from_params(p), *daily_inputs())
    assert s.roads.n_links == 76 and s.n_stations == 8 and s.config.grid.v_min_pu == 0.90
    assert s.trips.to_numpy().sum() == pytest.approx(360_600.0)  # the published O-D table

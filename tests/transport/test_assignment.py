"""Static UE: Braess paradox, gap/Beckmann behaviour, BPR costs, multi-class consistency."""

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import identity

from evgrid.transport.assignment import Resources, UserClass, assign, single_class_ue
from evgrid.transport.network import TrafficNetwork


def test_braess_paradox(braess):
    net, trips = braess
    with_link, tab = single_class_ue(net, trips, rel_gap=1e-10)
    keep = ~((net.links.init_node == 3) & (net.links.term_node == 4))
    without = TrafficNetwork.from_links(net.links[keep].drop(columns="source_line"), net.nodes, n_zones=2)
    res_wo, tab_wo = single_class_ue(without, trips, rel_gap=1e-10)
    # everyone's travel time (= the O-D shortest time at equilibrium, 6 travellers): 92 vs 83 (x 0.01 h)
    t_with = (tab.flow * tab.cost).sum() / 6.0
    t_without = (tab_wo.flow * tab_wo.cost).sum() / 6.0
    assert t_with == pytest.approx(0.92, abs=1e-6) and t_without == pytest.approx(0.83, abs=1e-6)
    assert t_with > t_without


@pytest.mark.parametrize("algorithm", ["bfw", "cfw"])
def test_sioux_falls_gap_and_beckmann_behave(sioux_falls, algorithm):
    net, trips = sioux_falls
    res, tab = single_class_ue(net, trips, algorithm=algorithm, rel_gap=1e-4 if algorithm == "cfw" else 1e-5,
                               max_iter=3000)
    h = res.history
    assert res.converged
    assert (h.relative_gap >= -1e-12).all()
    # Beckmann objective never rises (exact line search) and falls overall
    assert (np.diff(h.beckmann.to_numpy()) <= 1e-9 * h.beckmann.iloc[0]).all()
    assert h.beckmann.iloc[-1] < h.beckmann.iloc[0]
    # link costs equal the BPR formula at the returned flows
    L = net.links
    bpr = L.free_flow_time_h * (1 + L.b * (tab.flow / L.capacity_veh_per_h) ** L.power)
    np.testing.assert_allclose(tab.cost, bpr, rtol=1e-12)
    # demand is conserved at every node: A x = supply
    A = net.incidence()
    d = trips.to_numpy()
    np.testing.assert_allclose(A @ tab.flow.to_numpy(), d.sum(axis=1) - d.sum(axis=0), atol=1e-6)


def test_total_travel_time_stable_as_gap_tightens(sioux_falls):
    net, trips = sioux_falls
    tstt = {}
    for gap in (1e-3, 1e-4, 1e-5):
        _, tab = single_class_ue(net, trips, rel_gap=gap)
        tstt[gap] = float((tab.flow * tab.cost).sum())
    # published UE TSTT of Sioux Falls: ~7.48e6 in 0.01 h units = 74,800 veh h
    assert tstt[1e-5] == pytest.approx(74_800, rel=2e-3)
    assert abs(tstt[1e-4] - tstt[1e-5]) / tstt[1e-5] < 1e-3
    assert abs(tstt[1e-3] - tstt[1e-5]) / tstt[1e-5] < 1e-2


def test_two_identical_classes_equal_one_class(sioux_falls):
    net, trips = sioux_falls
    from evgrid.transport.tntp import demand_matrix

    d = demand_matrix(net, trips)
    o = net.node_positions(list(trips.index))
    one, _ = single_class_ue(net, trips, rel_gap=1e-6)
    two = assign(Resources.from_network(net), [UserClass("a", net, o, 0.3 * d), UserClass("b", net, o, 0.7 * d)],
                 rel_gap=1e-6)
    np.testing.assert_allclose(two.resource_flow, one.resource_flow, rtol=2e-3, atol=5.0)
    np.testing.assert_allclose(two.class_flows["a"] + two.class_flows["b"], two.resource_flow)


def test_class_specific_toll_shifts_only_that_class():
    # two parallel routes; class b pays a toll on route 1 -> b avoids it, a fills it
    links = pd.DataFrame({"init_node": [1, 1], "term_node": [2, 2], "capacity_veh_per_h": [10.0, 10.0],
                          "free_flow_time_h": [1.0, 1.0], "b": [1.0, 1.0], "power": [1.0, 1.0]})
    net = TrafficNetwork.from_links(links)
    dem = np.array([[0.0, 10.0]])
    res = assign(Resources.from_network(net),
                 [UserClass("a", net, [0], dem), UserClass("b", net, [0], dem, identity(2), np.array([5.0, 0.0]))],
                 rel_gap=1e-9)
    assert res.class_flows["b"][0] == pytest.approx(0.0, abs=1e-6)
    assert res.class_flows["a"][0] > res.class_flows["a"][1]
    c = res.resource_time_h
    assert c[0] == pytest.approx(c[1], rel=1e-6)  # class a indifferent between the routes


def test_per_class_gap_drives_a_small_class_to_its_equilibrium():
    # a tiny class b (0.1 veh/h) among 1000 veh/h: the total gap ignores it, the per-class criterion does not
    links = pd.DataFrame({"init_node": [1, 1], "term_node": [2, 2], "capacity_veh_per_h": [500.0, 500.0],
                          "free_flow_time_h": [1.0, 1.0], "b": [0.15, 0.15], "power": [4.0, 4.0]})
    net = TrafficNetwork.from_links(links)
    big, small = np.array([[0.0, 1000.0]]), np.array([[0.0, 0.1]])
    toll = np.array([0.0, 0.05])
    classes = [UserClass("a", net, [0], big), UserClass("b", net, [0], small, identity(2), toll)]
    res = assign(Resources.from_network(net), classes, rel_gap=1e-6, per_class=True)
    assert res.converged and res.history.max_class_gap.iloc[-1] <= 1e-6
    # class b's used routes cost the same (or the unused one costs more)
    cb, fb = res.class_costs_h["b"], res.class_flows["b"]
    used = fb > 1e-9
    assert cb[used].max() - cb.min() <= 1e-6 * cb.min()

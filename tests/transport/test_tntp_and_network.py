"""TNTP readers and the TrafficNetwork: published numbers and bad input named by file/line/column."""

import numpy as np
import pandas as pd
import pytest

from evgrid.transport.network import TrafficNetwork, TransportError
from evgrid.transport.tntp import read_net, read_nodes, read_trips

from .conftest import RAW


def test_sioux_falls_reads_published_sizes(sioux_falls):
    net, trips = sioux_falls
    assert net.n_nodes == 24 and net.n_links == 76 and net.n_zones == 24
    assert trips.to_numpy().sum() == pytest.approx(360600.0)
    assert trips.loc[1, 10] == 1300.0
    row = net.links.iloc[0]
    assert (row.init_node, row.term_node) == (1, 2)
    assert row.capacity_veh_per_h == pytest.approx(25900.20064) and row.free_flow_time_h == pytest.approx(0.06)
    assert (net.strongly_connected() == 0).all()
    assert len(read_nodes(RAW / "SiouxFalls_node.tntp")) == 24


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


NET = """<NUMBER OF ZONES> 2
<NUMBER OF NODES> 3
<FIRST THRU NODE> 1
<NUMBER OF LINKS> 2
<END OF METADATA>
~ init term cap len fft b power ;
1 2 100 1 1 0.15 4 ;
2 3 {cap} 1 1 0.15 4 ;
"""


def test_missing_metadata_line_is_named(tmp_path):
    p = _write(tmp_path, "x_net.tntp", NET.format(cap=100).replace("<NUMBER OF LINKS> 2\n", ""))
    with pytest.raises(TransportError, match=r"x_net.tntp.*missing metadata line <NUMBER OF LINKS>"):
        read_net(p)


def test_zero_capacity_names_file_line_and_column(tmp_path):
    p = _write(tmp_path, "x_net.tntp", NET.format(cap=0))
    with pytest.raises(TransportError, match=r"x_net.tntp, line 8, column 'capacity_veh_per_h'.*capacity"):
        read_net(p)
    p = _write(tmp_path, "y_net.tntp", NET.format(cap=-5))
    with pytest.raises(TransportError, match=r"line 8.*got -5"):
        read_net(p)


def test_link_to_unknown_node_is_named(tmp_path):
    p = _write(tmp_path, "x_net.tntp", NET.format(cap=100).replace("2 3 100", "2 7 100"))
    with pytest.raises(TransportError, match=r"line 8, column 'term_node': link to an unknown node.*got 7"):
        read_net(p)


def test_trips_bad_inputs(tmp_path):
    good = "<NUMBER OF ZONES> 2\n<TOTAL OD FLOW> 5\n<END OF METADATA>\nOrigin 1\n 2 : 5.0;\n"
    assert read_trips(_write(tmp_path, "a_trips.tntp", good)).loc[1, 2] == 5.0
    with pytest.raises(TransportError, match=r"line 5.*destination is not a zone"):
        read_trips(_write(tmp_path, "b_trips.tntp", good.replace(" 2 : 5.0", " 9 : 5.0")))
    with pytest.raises(TransportError, match=r"TOTAL OD FLOW"):
        read_trips(_write(tmp_path, "c_trips.tntp", good.replace("5.0;", "4.0;")))


def test_demand_between_disconnected_nodes_is_an_error():
    links = pd.DataFrame({"init_node": ["A", "C"], "term_node": ["B", "D"], "capacity_veh_per_h": [1.0, 1.0],
                          "free_flow_time_h": [1.0, 1.0]})
    net = TrafficNetwork.from_links(links, source="toy.csv")
    dist, pred = net.shortest_path_tree(net.free_flow_time_h, net.node_positions(["A"]))
    demand = np.zeros((1, 4))
    demand[0, net.node_positions(["D"])[0]] = 3.0
    with pytest.raises(TransportError, match=r"toy.csv.*disconnected.*'D'"):
        net.load_trees(dist, pred, demand)


def test_parallel_links_take_the_cheaper_and_string_ids():
    links = pd.DataFrame({"init_node": ["T1", "T1", "F3"], "term_node": ["F3", "F3", "T2"],
                          "capacity_veh_per_h": [1.0, 1.0, 1.0], "free_flow_time_h": [2.0, 1.0, 0.0]})
    net = TrafficNetwork.from_links(links)
    dist, pred = net.shortest_path_tree(net.free_flow_time_h, net.node_positions(["T1"]))
    demand = np.zeros((1, 3))
    demand[0, net.node_positions(["T2"])[0]] = 5.0
    assert net.load_trees(dist, pred, demand).tolist() == [0.0, 5.0, 5.0]
    A = net.incidence().toarray()
    assert (A.sum(axis=0) == 0).all() and A[net.node_positions(["T1"])[0]].tolist() == [1, 1, 0]

"""Radial-tree sums of the grid core (one copy for every study): root-path incidence and downstream totals."""

import numpy as np
import pandas as pd
import pytest

from evgrid.grid.network import Network


def test_branch_flows_from_path_incidence_equal_downstream_sums_of_loads(net33):
    """Lossless DistFlow two ways: P_l = sum_b A[b, l] p_b equals the downstream total at the branch's child,
    and the root carries the whole feeder."""
    tree = net33.tree()
    a = net33.path_incidence(tree=tree)
    p = net33.buses["p_load_kw"].astype(float)
    down = Network.downstream_sum(tree, p)
    flows = a.T @ p.reindex(net33.bus_ids).to_numpy()
    on_tree = set(tree["parent_branch"].values())
    for i, (lid, row) in enumerate(net33.branches.iterrows()):
        if lid not in on_tree:  # an open tie switch carries nothing
            assert flows[i] == 0.0
            continue
        child = Network.child_bus(tree, row["from_bus"], row["to_bus"])
        assert flows[i] == pytest.approx(down[child])
    assert down[net33.slack_bus] == pytest.approx(p.sum())
    # a bus's row counts the branches between it and the root: its depth (bus 18 ends the main lateral)
    depth = a.sum(axis=1)
    assert depth[net33.bus_ids.index(net33.slack_bus)] == 0 and depth.max() == 17


def test_downstream_sum_keeps_its_input_and_works_per_hour(net33):
    tree = net33.tree()
    hours = pd.DataFrame(np.arange(3 * 33, dtype=float).reshape(3, 33), columns=net33.bus_ids)
    before = hours.copy()
    down = Network.downstream_sum(tree, hours)
    pd.testing.assert_frame_equal(hours, before)
    np.testing.assert_allclose(down[net33.slack_bus], hours.sum(axis=1))
    leaf = max(net33.bus_ids, key=lambda b: b if b not in tree["parent_bus"].values() else -1)
    np.testing.assert_array_equal(down[leaf], hours[leaf])

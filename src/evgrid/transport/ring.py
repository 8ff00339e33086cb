"""A ring-and-spoke city road network and its gravity O-D demand (planning study's default case, paper 003).

The press article on Gu et al. (2024) describes "a ring-shaped transportation network connected to a radial
distribution system" with eight candidate stations on key segments, but publishes neither geometry nor demand.
This module builds the physically consistent version from public road-design values:

* ``n_ring`` nodes equally spaced on a circle of radius ``radius_km`` (ring arterial, both directions);
* a centre node (the CBD, id ``n_ring + 1``) joined by radial spokes (both directions) to every
  ``spoke_every``-th ring node;
* BPR links ``t = t0 (1 + b (x/c)^p)``, ``t0 = length / speed``;
* demand between every pair of nodes (all nodes are zones) by a doubly weighted gravity model
  ``T_od = K w_o w_d exp(-d_od / decay_km)`` (``d``: free-flow shortest distance, ``w``: 1 for ring nodes,
  ``cbd_weight`` for the centre), scaled so that ``sum T = peak_trips_veh_per_h``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import shortest_path

from evgrid.transport.network import TrafficNetwork


def ring_network(n_ring: int, radius_km: float, ring_capacity_veh_per_h: float, ring_speed_kmh: float,
                 spoke_every: int, spoke_capacity_veh_per_h: float, spoke_speed_kmh: float,
                 bpr_b: float = 0.15, bpr_power: float = 4.0) -> tuple[TrafficNetwork, pd.DataFrame]:
    """Ring + spokes network (module docstring) and its node coordinates ``node, x, y`` [km]."""
    ang = 2 * np.pi * np.arange(n_ring) / n_ring
    xy = pd.DataFrame({"node": np.arange(1, n_ring + 2), "x": np.append(radius_km * np.cos(ang), 0.0),
                       "y": np.append(radius_km * np.sin(ang), 0.0)})
    ring_i = np.arange(1, n_ring + 1)
    ring_j = np.roll(ring_i, -1)
    seg_km = 2 * radius_km * np.sin(np.pi / n_ring)
    spokes = ring_i[::spoke_every]
    centre = n_ring + 1
    rows = []
    for i, j in zip(ring_i, ring_j, strict=True):
        for a, b in ((i, j), (j, i)):
            rows.append((a, b, ring_capacity_veh_per_h, seg_km, seg_km / ring_speed_kmh))
    for s in spokes:
        for a, b in ((s, centre), (centre, s)):
            rows.append((a, b, spoke_capacity_veh_per_h, radius_km, radius_km / spoke_speed_kmh))
    links = pd.DataFrame(rows, columns=["init_node", "term_node", "capacity_veh_per_h", "length_km",
                                        "free_flow_time_h"])
    links["b"] = bpr_b
    links["power"] = bpr_power
    net = TrafficNetwork.from_links(links, list(xy["node"]), n_zones=n_ring + 1, first_thru_node=1,
                                    name=f"ring{n_ring}", source="evgrid.transport.ring")
    return net, xy


def ring_demand(net: TrafficNetwork, peak_trips_veh_per_h: float, cbd_weight: float, decay_km: float) -> pd.DataFrame:
    """Peak-hour O-D table (zones = all nodes) by the gravity model of the module docstring [veh/h]."""
    n = net.n_nodes
    from scipy.sparse import csr_matrix

    W = csr_matrix((net.col("length_km"), (net.tail, net.head)), shape=(n, n))
    d = shortest_path(W, directed=True)
    w = np.ones(n)
    w[-1] = cbd_weight
    T = np.outer(w, w) * np.exp(-d / decay_km)
    np.fill_diagonal(T, 0.0)
    T *= peak_trips_veh_per_h / T.sum()
    return pd.DataFrame(T, index=list(net.nodes), columns=list(net.nodes))

"""Directed road (or any flow) network with BPR link costs, Kedro-free.

A :class:`TrafficNetwork` holds

* ``nodes`` -- ``pd.Index`` of node ids (ints as in TNTP files, or strings such as ``'T1'``, ``'F3'``
  for a time-expanded network); position ``i`` in this index is the node's integer position used by
  every array method;
* ``links`` -- DataFrame indexed ``0..L-1`` (``link_id``) with columns
  ``init_node, term_node, capacity_veh_per_h, length_km, free_flow_time_h, b, power, toll_usd,
  link_type`` (+ any extra columns the caller keeps, e.g. ``station``); parallel links are allowed;
* ``zones`` -- the first ``n_zones`` nodes are zones (TNTP convention), ``first_thru_node`` the first
  node through which paths may pass (nodes before it are zone centroids that cannot be traversed).

Link cost (Bureau of Public Roads, 1964)::

    t_a(x_a) = t0_a * (1 + b_a * (x_a / c_a) ** p_a)                       [h]

and its Beckmann integral ``int_0^x t_a(s) ds = t0_a * (x + b_a c_a / (p_a + 1) (x / c_a)^(p_a + 1))``.

Example::

    net = TrafficNetwork.from_links(links_df, source="my_net.csv")
    dist, pred = net.shortest_path_tree(net.bpr_time_h(flow), origins=[0, 1])
    flow = net.load_trees(pred, demand)            # all-or-nothing link flows
    A = net.incidence()                            # sparse node x link, +1 out / -1 in
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from evgrid.data.errors import IngestError

LINK_COLUMNS = [
    "init_node",
    "term_node",
    "capacity_veh_per_h",
    "length_km",
    "free_flow_time_h",
    "b",
    "power",
    "toll_usd",
    "link_type",
]
REQUIRED_LINK_COLUMNS = ["init_node", "term_node", "capacity_veh_per_h", "free_flow_time_h"]
LINK_DEFAULTS = {"length_km": 0.0, "b": 0.15, "power": 4.0, "toll_usd": 0.0, "link_type": 1}
# csgraph treats a zero weight as "no edge" in some code paths; free-flow times of 0 become this.
_MIN_WEIGHT = 1e-12


def bpr_time(t0, b, c, p, flow) -> np.ndarray:
    """BPR link time ``t0 (1 + b (x/c)^p)`` [h] (flows below 0 are read as 0)."""
    x = np.maximum(np.asarray(flow, dtype=float), 0.0)
    return t0 * (1.0 + b * (x / c) ** p)


def bpr_derivative(t0, b, c, p, flow) -> np.ndarray:
    """``dt/dx = t0 b p x^(p-1) / c^p`` [h per veh/h]."""
    x = np.maximum(np.asarray(flow, dtype=float), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(p > 0, t0 * b * p * (x / c) ** np.maximum(p - 1.0, 0.0) / c, 0.0)
    return np.nan_to_num(d)


def bpr_integral(t0, b, c, p, flow) -> np.ndarray:
    """Beckmann term ``int_0^x t(s) ds = t0 (x + b c/(p+1) (x/c)^(p+1))`` [veh h / h]."""
    x = np.maximum(np.asarray(flow, dtype=float), 0.0)
    return t0 * (x + b * c / (p + 1.0) * (x / c) ** (p + 1.0))


def _py(value: object) -> object:
    """numpy scalar -> python scalar for readable error messages."""
    return value.item() if isinstance(value, np.generic) else value


class TransportError(IngestError):
    """Bad transport input: names the file (``source``), line or column/parameter and what was expected."""


@dataclass
class TrafficNetwork:
    """Directed network with BPR link performance functions (see module docstring)."""

    nodes: pd.Index
    links: pd.DataFrame
    n_zones: int = 0
    first_thru_node: int = 0
    name: str = ""
    source: str = "<links>"
    meta: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_links(
        cls,
        links: pd.DataFrame,
        nodes: Iterable | None = None,
        *,
        n_zones: int | None = None,
        first_thru_node: int | None = None,
        name: str = "",
        source: str | Path = "<links>",
    ) -> TrafficNetwork:
        """Build and validate a network from a links table.

        ``links`` needs ``init_node, term_node, capacity_veh_per_h, free_flow_time_h``; ``length_km``,
        ``b`` (0.15), ``power`` (4), ``toll_usd`` (0), ``link_type`` (1) get defaults. An optional
        ``source_line`` column (1-based line in ``source``) is used in error messages. ``nodes``
        (default: the sorted union of link end nodes) fixes the node order; a link to a node outside
        ``nodes`` is an error. ``first_thru_node`` is a *node id* (TNTP); default: every node is a
        through node. ``n_zones`` default: 0 (no zones declared).
        """
        src = str(source)
        if not isinstance(links, pd.DataFrame):
            raise TransportError(src, "links must be a pandas DataFrame", got=type(links).__name__)
        missing = [c for c in REQUIRED_LINK_COLUMNS if c not in links.columns]
        if missing:
            raise TransportError(
                src, "links table lacks required columns", expected=f"columns {REQUIRED_LINK_COLUMNS}", got=missing
            )
        df = links.reset_index(drop=True).copy()
        for col, default in LINK_DEFAULTS.items():
            if col not in df.columns:
                df[col] = default
        if nodes is None:
            ends = pd.unique(pd.concat([df["init_node"], df["term_node"]], ignore_index=True))
            try:
                ends = sorted(ends)
            except TypeError:  # mixed types: keep first-seen order
                ends = list(ends)
            node_index = pd.Index(ends, name="node")
        else:
            node_index = pd.Index(list(nodes), name="node")
        if node_index.has_duplicates:
            dup = node_index[node_index.duplicated()].unique().tolist()
            raise TransportError(src, "duplicate node ids", column="node", got=dup[:5])
        pos_first = 0
        if first_thru_node is not None:
            if first_thru_node not in node_index:
                raise TransportError(
                    src, "first thru node is not a node of the network", column="first_thru_node", got=first_thru_node
                )
            pos_first = int(node_index.get_loc(first_thru_node))
        net = cls(
            nodes=node_index,
            links=df,
            n_zones=int(n_zones or 0),
            first_thru_node=pos_first,
            name=name,
            source=src,
        )
        net.validate()
        return net

    def _where(self, row: int) -> dict:
        """Location of link ``row`` for an error: the file line when known, else the table row."""
        if "source_line" in self.links.columns:
            return {"line": int(self.links["source_line"].iat[row])}
        return {"line": None}

    def _fail(self, rows: np.ndarray, column: str, message: str, expected: str) -> None:
        row = int(rows[0])
        loc = self._where(row)
        got = _py(self.links[column].iat[row]) if column in self.links.columns else None
        extra = f" ({len(rows)} link(s) in all; first is link {row}: "
        extra += f"{_py(self.links['init_node'].iat[row])!r}->{_py(self.links['term_node'].iat[row])!r})"
        raise TransportError(self.source, message + extra, column=column, expected=expected, got=got, **loc)

    def validate(self) -> None:
        """Raise :class:`TransportError` naming the file/line/column of the first bad link.

        Checks: end nodes are known nodes, no self-loops, capacity > 0 and finite, free-flow time >= 0
        and finite, length >= 0, b >= 0, power >= 0, zones <= nodes.
        """
        df = self.links
        if len(df) == 0:
            raise TransportError(self.source, "network has no links", expected="at least one link")
        for end in ("init_node", "term_node"):
            bad = np.flatnonzero(~df[end].isin(self.nodes).to_numpy())
            if bad.size:
                self._fail(bad, end, "link to an unknown node", "a node id listed in the network's nodes")
        bad = np.flatnonzero((df["init_node"] == df["term_node"]).to_numpy())
        if bad.size:
            self._fail(bad, "term_node", "self-loop link", "init_node != term_node")
        checks = [
            ("capacity_veh_per_h", lambda v: np.isfinite(v) & (v > 0), "a finite capacity > 0 veh/h"),
            ("free_flow_time_h", lambda v: np.isfinite(v) & (v >= 0), "a finite free-flow time >= 0 h"),
            ("length_km", lambda v: np.isfinite(v) & (v >= 0), "a finite length >= 0 km"),
            ("b", lambda v: np.isfinite(v) & (v >= 0), "a finite BPR b >= 0"),
            ("power", lambda v: np.isfinite(v) & (v >= 0), "a finite BPR power >= 0"),
            ("toll_usd", np.isfinite, "a finite toll"),
        ]
        for col, ok, expected in checks:
            try:
                vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
            except (TypeError, ValueError):  # pragma: no cover - to_numeric coerces
                vals = np.full(len(df), np.nan)
            bad = np.flatnonzero(~ok(vals))
            if bad.size:
                msg = "zero or negative capacity" if col == "capacity_veh_per_h" else f"invalid {col}"
                self._fail(bad, col, msg, expected)
            df[col] = vals
        if self.n_zones < 0 or self.n_zones > len(self.nodes):
            raise TransportError(
                self.source, "number of zones out of range", column="n_zones",
                expected=f"0..{len(self.nodes)}", got=self.n_zones,
            )

    # ------------------------------------------------------------------ sizes and arrays
    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_links(self) -> int:
        return len(self.links)

    def node_positions(self, ids: Sequence | pd.Series | np.ndarray, *, what: str = "node") -> np.ndarray:
        """Integer positions of node ids; unknown ids raise naming the first one."""
        pos = self.nodes.get_indexer(pd.Index(list(ids) if not isinstance(ids, pd.Index) else ids))
        if (pos < 0).any():
            bad = [i for i, p in zip(list(ids), pos, strict=True) if p < 0]
            raise TransportError(self.source, f"unknown {what}", column=what, expected="a node of the network", got=bad[:5])
        return pos.astype(np.int64)

    @cached_property
    def tail(self) -> np.ndarray:
        """Position of each link's init node (computed once: nodes and links are fixed after construction)."""
        return self.nodes.get_indexer(self.links["init_node"]).astype(np.int64)

    @cached_property
    def head(self) -> np.ndarray:
        """Position of each link's term node (computed once)."""
        return self.nodes.get_indexer(self.links["term_node"]).astype(np.int64)

    def col(self, name: str) -> np.ndarray:
        return self.links[name].to_numpy(dtype=float)

    @property
    def capacity(self) -> np.ndarray:
        return self.col("capacity_veh_per_h")

    @property
    def free_flow_time_h(self) -> np.ndarray:
        return self.col("free_flow_time_h")

    # ------------------------------------------------------------------ BPR
    def bpr_params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(t0_h, b, capacity, power)`` arrays for :func:`bpr_time` and friends."""
        return self.free_flow_time_h, self.col("b"), self.capacity, self.col("power")

    def bpr_time_h(self, flow: np.ndarray) -> np.ndarray:
        """``t0 (1 + b (x/c)^p)`` per link [h] at link flows ``x`` [veh/h]."""
        return bpr_time(*self.bpr_params(), flow)

    def bpr_derivative(self, flow: np.ndarray) -> np.ndarray:
        """``dt/dx = t0 b p x^(p-1) / c^p`` per link [h per veh/h]."""
        return bpr_derivative(*self.bpr_params(), flow)

    def beckmann_integral(self, flow: np.ndarray) -> np.ndarray:
        """``int_0^x t(s) ds = t0 (x + b c/(p+1) (x/c)^(p+1))`` per link [veh h / h]."""
        return bpr_integral(*self.bpr_params(), flow)

    # ------------------------------------------------------------------ graph helpers
    def incidence(self) -> csr_matrix:
        """Sparse node x link incidence ``A[i, a] = +1`` if link ``a`` leaves node ``i``, ``-1`` if it enters.

        Flow conservation reads ``A x = s`` with ``s`` the net supply (+ origin, - destination).
        """
        L = self.n_links
        rows = np.concatenate([self.tail, self.head])
        cols = np.concatenate([np.arange(L), np.arange(L)])
        vals = np.concatenate([np.ones(L), -np.ones(L)])
        return coo_matrix((vals, (rows, cols)), shape=(self.n_nodes, L)).tocsr()

    def _blocked_links(self) -> np.ndarray:
        """Links leaving a zone centroid that is not a through node (TNTP ``first thru node``)."""
        return self.tail < self.first_thru_node

    def adjacency(self, weights: np.ndarray, *, origin: int | None = None) -> tuple[csr_matrix, np.ndarray]:
        """Node x node CSR matrix of the cheapest parallel link per (tail, head) + a (pair key, link) table.

        Parallel links (a station link beside a road link) are reduced to the cheapest; weights are
        floored at 1e-12 so zero-cost links stay edges. Links out of non-through centroids are dropped
        unless they leave ``origin``.
        """
        w = np.maximum(np.asarray(weights, dtype=float), _MIN_WEIGHT)
        if w.shape != (self.n_links,):
            raise ValueError(f"weights must have shape ({self.n_links},), got {w.shape}")
        keep = np.ones(self.n_links, dtype=bool)
        if self.first_thru_node > 0:
            keep = ~self._blocked_links()
            if origin is not None:
                keep |= self.tail == origin
        ids = np.flatnonzero(keep)
        pair = self.tail[ids] * self.n_nodes + self.head[ids]
        order = np.lexsort((w[ids], pair))
        ids, pair = ids[order], pair[order]
        first = np.r_[True, pair[1:] != pair[:-1]]
        best = ids[first]
        mat = csr_matrix((w[best], (self.tail[best], self.head[best])), shape=(self.n_nodes, self.n_nodes))
        return mat, np.stack([pair[first], best])

    @staticmethod
    def _pair_to_link(lookup: np.ndarray, pair: np.ndarray) -> np.ndarray:
        keys, links = lookup
        pos = np.clip(np.searchsorted(keys, pair), 0, len(keys) - 1)
        return links[pos]

    def shortest_path_tree(self, weights: np.ndarray, origins: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dijkstra from each origin position: ``dist[o, v]`` and the tree's incoming link ``pred_link[o, v]``.

        ``pred_link`` is -1 at the origin and at unreachable nodes (``dist = inf``). Vectorised over
        origins with ``scipy.sparse.csgraph.dijkstra``.
        """
        origins = np.asarray(origins, dtype=np.int64)
        if self.first_thru_node > 0:  # each centroid may only be left from itself
            dist = np.empty((len(origins), self.n_nodes))
            pred_link = np.empty((len(origins), self.n_nodes), dtype=np.int64)
            for k, o in enumerate(origins):
                d, p = self.shortest_path_tree_unblocked(weights, [o], origin=int(o))
                dist[k], pred_link[k] = d[0], p[0]
            return dist, pred_link
        return self.shortest_path_tree_unblocked(weights, origins)

    def shortest_path_tree_unblocked(
        self, weights: np.ndarray, origins: Sequence[int] | np.ndarray, origin: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        mat, lookup = self.adjacency(weights, origin=origin)
        origins = np.asarray(origins, dtype=np.int64)
        dist, pred = dijkstra(mat, directed=True, indices=origins, return_predecessors=True)
        dist = np.atleast_2d(dist)
        pred = np.atleast_2d(pred).astype(np.int64)
        pred_link = np.full(pred.shape, -1, dtype=np.int64)
        has = pred >= 0
        v = np.broadcast_to(np.arange(self.n_nodes), pred.shape)
        pred_link[has] = self._pair_to_link(lookup, pred[has] * self.n_nodes + v[has])
        return dist, pred_link

    def load_trees(self, dist: np.ndarray, pred_link: np.ndarray, demand: np.ndarray) -> np.ndarray:
        """All-or-nothing loading: link flows when ``demand[o, v]`` follows each origin's tree.

        Nodes are processed farthest-first for all origins at once: a node's accumulated flow is pushed
        onto its incoming tree link and its tail node (``O(n_nodes)`` numpy steps). Demand to an
        unreachable node raises.
        """
        demand = np.asarray(demand, dtype=float)
        n_o, n = demand.shape
        unreachable = (demand > 0) & ~np.isfinite(dist)
        if unreachable.any():
            o, v = np.argwhere(unreachable)[0]
            raise TransportError(
                self.source,
                f"O-D demand between disconnected nodes ({int(unreachable.sum())} pair(s)); "
                f"first: origin position {o} -> node {self.nodes[v]!r}",
                column="demand",
                expected="a path from every origin to every destination with demand > 0",
                got=float(demand[o, v]),
            )
        tail = self.tail
        rows = np.arange(n_o)[:, None]
        has = pred_link >= 0
        parent = np.where(has, tail[np.maximum(pred_link, 0)], np.arange(n)[None, :])
        # tree depth by pointer chasing (O(max depth) numpy steps over all origins at once)
        depth = np.zeros((n_o, n), dtype=np.int64)
        cur = np.broadcast_to(np.arange(n), (n_o, n)).copy()
        active = has.copy()
        while active.any():
            depth += active
            cur = np.where(active, parent[rows, cur], cur)
            active = pred_link[rows, cur] >= 0
            if depth.max() > n:
                raise RuntimeError("predecessor links do not form a tree")
        node_flow = demand.copy()
        link_flow = np.zeros(self.n_links)
        for level in range(int(depth.max()), 0, -1):
            o, v = np.nonzero((depth == level) & (node_flow != 0))
            if o.size == 0:
                continue
            f = node_flow[o, v]
            a = pred_link[o, v]
            np.add.at(link_flow, a, f)
            np.add.at(node_flow, (o, tail[a]), f)
        return link_flow

    def strongly_connected(self) -> pd.Series:
        """Strongly connected component id per node (all zeros when the network is strongly connected)."""
        mat = csr_matrix((np.ones(self.n_links), (self.tail, self.head)), shape=(self.n_nodes, self.n_nodes))
        _, labels = connected_components(mat, directed=True, connection="strong")
        return pd.Series(labels, index=self.nodes, name="component")

    def with_links(self, extra: pd.DataFrame, nodes: Iterable | None = None) -> TrafficNetwork:
        """A new network with ``extra`` links (and optional new ``nodes``) appended; validated."""
        all_nodes = list(self.nodes) + [n for n in (nodes or []) if n not in self.nodes]
        links = pd.concat([self.links, extra], ignore_index=True, sort=False)
        for col, default in LINK_DEFAULTS.items():
            links[col] = links[col].fillna(default)
        first = self.nodes[self.first_thru_node] if self.first_thru_node > 0 else None
        return TrafficNetwork.from_links(
            links, all_nodes, n_zones=self.n_zones, first_thru_node=first, name=self.name, source=self.source
        )

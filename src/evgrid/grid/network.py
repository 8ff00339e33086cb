"""Typed radial distribution-network model shared by every optimisation pipeline.

A :class:`Network` holds

* ``buses`` -- DataFrame indexed by the *original* bus id (``bus_id``) with columns
  ``p_load_kw, q_load_kvar, v_min_pu, v_max_pu``;
* ``branches`` -- DataFrame indexed by branch id ``0..n-1`` (``branch_id``, file order) with columns
  ``from_bus, to_bus, r_pu, x_pu, r_ohm, x_ohm, rating_kva`` (NaN = no thermal limit), ``in_service``
  (bool) and ``is_switch`` (bool, normally-open tie switch / switchable branch);
* ``base_kv`` (line-to-line) and ``base_mva``: per-unit values use ``z_base = base_kv**2 / base_mva`` ohm
  and ``s_base = base_mva`` (so ``p_pu = p_kw / (1000 * base_mva)``);
* ``slack_bus`` (substation bus, voltage ``v_slack_pu``).

Example::

    from evgrid.grid.matpower import load_matpower_case
    net = load_matpower_case("data/01_raw/grids/case33bw.m")
    net = net.with_ratings(default_kva=5000)          # MATPOWER 33-bus has no ratings
    net.check_radial()                                # raises NetworkError naming the offending branch
    islands = net.islands(branch_in_service=mask)     # Series bus_id -> island id (0 = slack island)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

BUS_COLUMNS = ["p_load_kw", "q_load_kvar", "v_min_pu", "v_max_pu"]
BRANCH_COLUMNS = [
    "from_bus",
    "to_bus",
    "r_pu",
    "x_pu",
    "r_ohm",
    "x_ohm",
    "rating_kva",
    "in_service",
    "is_switch",
]


class NetworkError(ValueError):
    """A feeder description is malformed or violates a structural requirement (names bus/branch)."""


@dataclass
class Network:
    """Balanced single-phase-equivalent distribution feeder (see module docstring for columns)."""

    name: str
    base_kv: float
    base_mva: float
    buses: pd.DataFrame
    branches: pd.DataFrame
    slack_bus: int
    v_slack_pu: float = 1.0
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ basics
    @property
    def z_base_ohm(self) -> float:
        """Impedance base ``base_kv**2 / base_mva`` in ohm."""
        return self.base_kv**2 / self.base_mva

    @property
    def s_base_kva(self) -> float:
        """Power base in kVA (``1000 * base_mva``)."""
        return 1000.0 * self.base_mva

    @property
    def bus_ids(self) -> list[int]:
        return [int(b) for b in self.buses.index]

    @property
    def total_load_kw(self) -> float:
        return float(self.buses["p_load_kw"].sum())

    @property
    def total_load_kvar(self) -> float:
        return float(self.buses["q_load_kvar"].sum())

    def _where(self) -> str:
        return f"network '{self.name}'" + (f" ({self.source})" if self.source else "")

    def validate(self) -> None:
        """Check columns, bus references, impedances, limits; raise :class:`NetworkError` naming the culprit."""
        where = self._where()
        missing = [c for c in BUS_COLUMNS if c not in self.buses.columns]
        if missing:
            raise NetworkError(f"{where}: bus table lacks columns {missing}")
        missing = [c for c in BRANCH_COLUMNS if c not in self.branches.columns]
        if missing:
            raise NetworkError(f"{where}: branch table lacks columns {missing}")
        if self.buses.index.has_duplicates:
            dup = self.buses.index[self.buses.index.duplicated()].tolist()
            raise NetworkError(f"{where}: duplicate bus ids {dup}")
        if not (self.base_kv > 0 and self.base_mva > 0):
            raise NetworkError(f"{where}: base_kv and base_mva must be positive, got {self.base_kv}, {self.base_mva}")
        if self.slack_bus not in self.buses.index:
            raise NetworkError(f"{where}: slack bus {self.slack_bus} is not in the bus table")
        known = set(self.buses.index)
        for bid, row in self.branches.iterrows():
            for end in ("from_bus", "to_bus"):
                if row[end] not in known:
                    raise NetworkError(
                        f"{where}: branch {bid} ({row['from_bus']}-{row['to_bus']}) refers to unknown bus {row[end]}"
                    )
            if row["from_bus"] == row["to_bus"]:
                raise NetworkError(f"{where}: branch {bid} connects bus {row['from_bus']} to itself")
            if not (row["r_pu"] > 0) or row["x_pu"] < 0 or not np.isfinite(row["x_pu"]):
                raise NetworkError(
                    f"{where}: branch {bid} ({row['from_bus']}-{row['to_bus']}) has non-physical impedance "
                    f"r={row['r_pu']} p.u., x={row['x_pu']} p.u. (need r > 0, x >= 0)"
                )
            if pd.notna(row["rating_kva"]) and not row["rating_kva"] > 0:
                raise NetworkError(f"{where}: branch {bid} has non-positive rating {row['rating_kva']} kVA")
        bad_v = self.buses.index[~(self.buses["v_min_pu"] <= self.buses["v_max_pu"])].tolist()
        if bad_v:
            raise NetworkError(f"{where}: buses {bad_v} have v_min_pu > v_max_pu")

    def copy(self) -> Network:
        return replace(self, buses=self.buses.copy(), branches=self.branches.copy(), meta=dict(self.meta))

    # ----------------------------------------------------------------- ratings
    def with_ratings(
        self, default_kva: float | None = None, overrides: Mapping[int, float] | None = None, *, replace_existing=False
    ) -> Network:
        """Fill missing branch ratings (NaN) with ``default_kva``; ``overrides`` maps branch id -> kVA."""
        net = self.copy()
        br = net.branches
        if default_kva is not None:
            mask = br["rating_kva"].isna() | bool(replace_existing)
            br.loc[mask, "rating_kva"] = float(default_kva)
        for bid, kva in (overrides or {}).items():
            if int(bid) not in br.index:
                raise NetworkError(f"{net._where()}: rating override for unknown branch {bid}")
            br.loc[int(bid), "rating_kva"] = float(kva)
        net.validate()
        return net

    def with_loads(self, p_load_kw: Mapping | pd.Series, q_load_kvar: Mapping | pd.Series | None = None) -> Network:
        """Return a copy with bus loads replaced (buses missing from the mapping keep their load)."""
        net = self.copy()
        for col, vals in (("p_load_kw", p_load_kw), ("q_load_kvar", q_load_kvar)):
            if vals is None:
                continue
            s = pd.Series(vals, dtype=float)
            unknown = sorted(set(s.index) - set(net.buses.index))
            if unknown:
                raise NetworkError(f"{net._where()}: loads given for unknown buses {unknown}")
            net.buses.loc[s.index, col] = s.values
        return net

    # --------------------------------------------------------------- topology
    def branch_lookup(self, from_bus: int, to_bus: int) -> int:
        """Branch id of the branch between two buses (either orientation); raises if none."""
        br = self.branches
        m = ((br["from_bus"] == from_bus) & (br["to_bus"] == to_bus)) | (
            (br["from_bus"] == to_bus) & (br["to_bus"] == from_bus)
        )
        ids = br.index[m].tolist()
        if not ids:
            raise NetworkError(f"{self._where()}: no branch between buses {from_bus} and {to_bus}")
        return int(ids[0])

    def branch_mask(self, branch_in_service: Iterable[bool] | pd.Series | None = None) -> pd.Series:
        """Normalise a branch status input (None -> network ``in_service``) to a bool Series by branch id."""
        if branch_in_service is None:
            return self.branches["in_service"].astype(bool)
        if isinstance(branch_in_service, pd.Series):
            unknown = sorted(set(branch_in_service.index) - set(self.branches.index))
            if unknown:
                raise NetworkError(f"{self._where()}: branch status given for unknown branches {unknown}")
            out = self.branches["in_service"].astype(bool).copy()
            out.loc[branch_in_service.index] = branch_in_service.astype(bool).values
            return out
        arr = np.asarray(list(branch_in_service), dtype=bool)
        if arr.shape != (len(self.branches),):
            raise NetworkError(
                f"{self._where()}: branch status vector has {arr.size} entries, expected {len(self.branches)}"
            )
        return pd.Series(arr, index=self.branches.index, name="in_service")

    def outage_mask(self, outages: Iterable[tuple[int, int] | int]) -> pd.Series:
        """Network ``in_service`` with the given branches (ids or (from, to) bus pairs) taken out."""
        mask = self.branch_mask()
        for o in outages:
            bid = self.branch_lookup(*o) if isinstance(o, tuple | list) else int(o)
            if bid not in mask.index:
                raise NetworkError(f"{self._where()}: outage of unknown branch {bid}")
            mask.loc[bid] = False
        return mask

    def islands(self, branch_in_service=None) -> pd.Series:
        """Connected components under a branch status: Series bus_id -> island id (slack island = 0)."""
        mask = self.branch_mask(branch_in_service).to_numpy()
        pos = {b: i for i, b in enumerate(self.buses.index)}
        br = self.branches[mask]
        n = len(pos)
        rows = br["from_bus"].map(pos).to_numpy()
        cols = br["to_bus"].map(pos).to_numpy()
        adj = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
        _, labels = connected_components(adj, directed=False)
        slack_label = labels[pos[self.slack_bus]]
        # relabel: slack island 0, others by their smallest bus id order
        order = [slack_label] + [lab for lab in dict.fromkeys(labels) if lab != slack_label]
        remap = {lab: k for k, lab in enumerate(order)}
        return pd.Series([remap[lab] for lab in labels], index=self.buses.index, name="island")

    def check_radial(self, branch_in_service=None, *, allow_islands: bool = False) -> None:
        """Require a forest (no loop); unless ``allow_islands``, also connected. Names the offending element."""
        mask = self.branch_mask(branch_in_service)
        isl = self.islands(mask)
        n_islands = int(isl.max()) + 1
        if not allow_islands and n_islands > 1:
            cut = isl.index[isl != 0].tolist()
            raise NetworkError(f"{self._where()}: buses {cut} are not connected to slack bus {self.slack_bus}")
        n_active = int(mask.sum())
        if n_active != len(self.buses) - n_islands:
            # find a branch closing a loop (union-find over active branches in id order)
            parent = {b: b for b in self.buses.index}

            def find(b):
                while parent[b] != b:
                    parent[b] = parent[parent[b]]
                    b = parent[b]
                return b

            for bid, row in self.branches[mask].iterrows():
                a, b = find(row["from_bus"]), find(row["to_bus"])
                if a == b:
                    raise NetworkError(
                        f"{self._where()}: network is meshed, branch {bid} ({row['from_bus']}-{row['to_bus']}) "
                        "closes a loop; a radial configuration is required"
                    )
                parent[a] = b

    def tree(self, branch_in_service=None) -> dict:
        """Orientation of a radial (forest) configuration away from each island's root.

        Returns ``{"parent_branch": {bus: branch id or None}, "parent_bus": {...}, "direction": {branch: +1
        if from_bus is upstream else -1}, "root": {bus: root bus of its island}, "order": [buses BFS]}``.
        The slack island is rooted at the slack bus; other islands at their smallest bus id.
        """
        mask = self.branch_mask(branch_in_service)
        self.check_radial(mask, allow_islands=True)
        adj: dict[int, list[tuple[int, int]]] = {b: [] for b in self.buses.index}
        for bid, row in self.branches[mask].iterrows():
            adj[row["from_bus"]].append((bid, row["to_bus"]))
            adj[row["to_bus"]].append((bid, row["from_bus"]))
        isl = self.islands(mask)
        roots = [self.slack_bus] + [int(isl.index[isl == k].min()) for k in range(1, int(isl.max()) + 1)]
        parent_branch: dict[int, int | None] = {}
        parent_bus: dict[int, int | None] = {}
        root_of: dict[int, int] = {}
        direction: dict[int, int] = {}
        order: list[int] = []
        for r in roots:
            parent_branch[r], parent_bus[r], root_of[r] = None, None, r
            queue = [r]
            while queue:
                u = queue.pop(0)
                order.append(u)
                for bid, v in adj[u]:
                    if v in parent_branch:
                        continue
                    parent_branch[v], parent_bus[v], root_of[v] = bid, u, r
                    direction[bid] = 1 if self.branches.at[bid, "from_bus"] == u else -1
                    queue.append(v)
        return {
            "parent_branch": parent_branch,
            "parent_bus": parent_bus,
            "direction": direction,
            "root": root_of,
            "order": order,
        }

    def path_incidence(self, branch_in_service=None, tree: dict | None = None) -> np.ndarray:
        """Root-path incidence of a radial configuration (lossless DistFlow)::

            A[b, l] = 1  if branch l lies on the path root -> bus b,   P_l = sum_b A[b, l] p_b

        rows in :attr:`bus_ids` order, columns in ``branches`` order (``tree``: :meth:`tree` of the same
        configuration, when the caller has it)."""
        tr = tree if tree is not None else self.tree(branch_in_service)
        bpos = {b: i for i, b in enumerate(self.bus_ids)}
        lpos = {lid: i for i, lid in enumerate(self.branches.index)}
        a = np.zeros((len(bpos), len(lpos)))
        for b in self.bus_ids:
            u = b
            while tr["parent_branch"][u] is not None:
                a[bpos[b], lpos[tr["parent_branch"][u]]] = 1.0
                u = tr["parent_bus"][u]
        return a

    @staticmethod
    def downstream_sum(tree: dict, values: pd.Series) -> pd.Series:
        """Total of ``values`` (by bus id) at each bus and everything fed through it, leaves first::

            D_b = v_b + sum_{c: parent(c) = b} D_c

        (the flow through the branch above ``b`` of a radial tree, lossless). ``tree``: :meth:`tree`."""
        down = values.astype(float).copy()
        for b in reversed(tree["order"]):
            up = tree["parent_bus"][b]
            if up is not None:
                down[up] += down[b]
        return down

    @staticmethod
    def child_bus(tree: dict, from_bus: int, to_bus: int) -> int:
        """The end of a branch away from the root of ``tree`` (:meth:`tree`): ``to_bus`` when ``from_bus`` is
        its parent, else ``from_bus``."""
        return int(to_bus) if tree["parent_bus"].get(int(to_bus)) == int(from_bus) else int(from_bus)

    def summary(self) -> dict:
        return {
            "name": self.name,
            "n_buses": len(self.buses),
            "n_branches": len(self.branches),
            "n_in_service": int(self.branches["in_service"].sum()),
            "n_switches": int(self.branches["is_switch"].sum()),
            "base_kv": self.base_kv,
            "base_mva": self.base_mva,
            "total_load_kw": self.total_load_kw,
            "total_load_kvar": self.total_load_kvar,
        }


def make_network(
    name: str,
    base_kv: float,
    base_mva: float,
    buses: pd.DataFrame,
    branches: pd.DataFrame,
    slack_bus: int,
    **kw,
) -> Network:
    """Build a :class:`Network` filling derived columns (ohm <-> p.u., defaults for flags/ratings)."""
    buses = buses.copy()
    branches = branches.copy().reset_index(drop=True)
    branches.index.name = "branch_id"
    buses.index = buses.index.astype(int)
    buses.index.name = "bus_id"
    z_base = base_kv**2 / base_mva
    if "r_pu" not in branches and "r_ohm" in branches:
        branches["r_pu"] = branches["r_ohm"] / z_base
        branches["x_pu"] = branches["x_ohm"] / z_base
    if "r_ohm" not in branches:
        branches["r_ohm"] = branches["r_pu"] * z_base
        branches["x_ohm"] = branches["x_pu"] * z_base
    if "rating_kva" not in branches:
        branches["rating_kva"] = np.nan
    if "in_service" not in branches:
        branches["in_service"] = True
    if "is_switch" not in branches:
        branches["is_switch"] = False
    branches["from_bus"] = branches["from_bus"].astype(int)
    branches["to_bus"] = branches["to_bus"].astype(int)
    branches["in_service"] = branches["in_service"].astype(bool)
    branches["is_switch"] = branches["is_switch"].astype(bool)
    for c in ("r_pu", "x_pu", "r_ohm", "x_ohm", "rating_kva"):
        branches[c] = branches[c].astype(float)
    for c in BUS_COLUMNS:
        buses[c] = buses[c].astype(float)
    return Network(
        name=name,
        base_kv=float(base_kv),
        base_mva=float(base_mva),
        buses=buses[BUS_COLUMNS + [c for c in buses.columns if c not in BUS_COLUMNS]],
        branches=branches[BRANCH_COLUMNS + [c for c in branches.columns if c not in BRANCH_COLUMNS]],
        slack_bus=int(slack_bus),
        **kw,
    )

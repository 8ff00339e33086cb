"""Branch-flow OPF of a radial feeder with the SOC relaxation (Farivar & Low 2013) as Clarabel matrices.

Variables (p.u., branch ``k = (i -> j)`` oriented parent -> child, ``j`` its child bus)::

    P[k], Q[k]   sending-end flows       l[k]  squared current magnitude
    v[j]         squared bus voltage      p0, q0  import at the slack bus

Constraints, in Clarabel's form ``A z + s = b`` (rows in this order, which is also the cone order)::

    balance_p[j]:    P[k(j)] - r_k l[k(j)] - sum_{c in C(j)} P[c] = p_j     (slack: p0 - sum_c P[c] = p_0)
    balance_q[j]:    Q[k(j)] - x_k l[k(j)] - sum_{c in C(j)} Q[c] = q_j     (slack: q0 - sum_c Q[c] = q_0)
    voltage_drop[k]: v[j] - v[i] + 2 (r_k P[k] + x_k Q[k]) - (r_k^2 + x_k^2) l[k] = 0
    slack_voltage:   v[slack] = V_set^2                                      (zero cone up to here)
    voltage_limits:  v[j] <= v_max^2,  -v[j] <= -v_min^2  (two rows per non-slack bus; nonneg cone)
    soc[k]:          ||(2 P[k], 2 Q[k], v[i] - l[k])|| <= v[i] + l[k]        (one 4-row SOC per branch)

The last row family relaxes ``P^2 + Q^2 = v_i l``; it is tight at the optimum of a cost increasing in the
import (Farivar & Low 2013, Thm 1). Each variable and row family has a named range (:class:`Blocks`), so
``model.cols["l"]`` or ``model.rows.idx("balance_p", j)`` replace offset arithmetic. Loads enter only ``b``
(:func:`load_rhs`): the matrix is built once per feeder and re-used for every solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from evgrid.grid.network import Network
from evgrid.optim.solver import ConicProblem

CONES = ("zero", "nonneg", "soc")


# ============================================================================ named index ranges
class Blocks:
    """Named contiguous index ranges (variable columns or constraint rows), in the order they are added.

    ``lay.add("l", nb)`` reserves the next ``nb`` indices; ``lay["l"]`` is that slice and
    ``lay.idx("l", k)`` the index of element ``k`` (an int or an integer array) of family ``l``. Families may
    carry a tag (the cone of a row family); ``lay.size(tag)`` counts the indices with that tag.
    """

    def __init__(self):
        self._slices: dict[str, slice] = {}
        self._tags: dict[str, str | None] = {}
        self.n = 0

    def add(self, name: str, n: int, tag: str | None = None) -> slice:
        if name in self._slices:
            raise ValueError(f"family {name!r} already laid out")
        if n < 0:
            raise ValueError(f"family {name!r}: negative size {n}")
        self._slices[name] = slice(self.n, self.n + int(n))
        self._tags[name] = tag
        self.n += int(n)
        return self._slices[name]

    def __getitem__(self, name: str) -> slice:
        try:
            return self._slices[name]
        except KeyError:
            raise KeyError(f"no family {name!r}; laid out: {list(self._slices)}") from None

    def __len__(self) -> int:
        return self.n

    def __contains__(self, name: str) -> bool:
        return name in self._slices

    @property
    def names(self) -> list[str]:
        return list(self._slices)

    def idx(self, name: str, i=0):
        """Index of element(s) ``i`` of family ``name`` (bounds-checked)."""
        s = self[name]
        i = np.asarray(i, dtype=np.int64)
        if i.size and (i.min() < 0 or i.max() >= s.stop - s.start):
            raise IndexError(f"{name}: element {i} outside 0..{s.stop - s.start - 1}")
        return int(s.start + i) if i.ndim == 0 else s.start + i

    def size(self, tag: str) -> int:
        return sum(s.stop - s.start for name, s in self._slices.items() if self._tags[name] == tag)

    def span(self, tag: str) -> slice:
        """The one contiguous range covering every family tagged ``tag`` (e.g. a cone's rows)."""
        tagged = [s for name, s in self._slices.items() if self._tags[name] == tag]
        if not tagged:
            return slice(0, 0)
        out = slice(tagged[0].start, tagged[-1].stop)
        if out.stop - out.start != self.size(tag):
            raise ValueError(f"families tagged {tag!r} are not contiguous")
        return out


# ============================================================================ feeder data and assembly
@dataclass
class Feeder:
    """Radial feeder arrays in BFS bus order: branch ``k`` runs ``br_from[k] -> br_to[k]`` (bus positions)."""

    buses: list
    slack: int  # position of the slack bus
    br_from: np.ndarray
    br_to: np.ndarray
    r: np.ndarray
    x: np.ndarray
    v_min2: np.ndarray  # squared limits by bus position
    v_max2: np.ndarray
    v_slack2: float

    @property
    def n(self) -> int:
        return len(self.buses)

    @property
    def nb(self) -> int:
        return len(self.r)

    @property
    def non_slack(self) -> np.ndarray:
        return np.array([j for j in range(self.n) if j != self.slack], dtype=np.int64)


def feeder_arrays(grid: Network) -> Feeder:
    """Orient the feeder away from the slack (:meth:`Network.tree`); one branch per non-slack bus."""
    tree = grid.tree()
    islands = sorted(set(tree["root"].values()) - {grid.slack_bus})
    if islands:
        raise ValueError(f"network '{grid.name}': the branch-flow SOCP needs every bus fed from the slack; "
                         f"islands rooted at buses {islands}")
    buses = list(tree["order"])
    pos = {b: i for i, b in enumerate(buses)}
    children = [b for b in buses if b != grid.slack_bus]
    br = [tree["parent_branch"][b] for b in children]
    return Feeder(
        buses=buses, slack=pos[grid.slack_bus],
        br_from=np.array([pos[tree["parent_bus"][b]] for b in children]), br_to=np.array([pos[b] for b in children]),
        r=grid.branches.loc[br, "r_pu"].to_numpy(float), x=grid.branches.loc[br, "x_pu"].to_numpy(float),
        v_min2=grid.buses.loc[buses, "v_min_pu"].to_numpy(float) ** 2,
        v_max2=grid.buses.loc[buses, "v_max_pu"].to_numpy(float) ** 2, v_slack2=grid.v_slack_pu**2,
    )


class Assembly:
    """Triplets of ``A``, the static ``b`` and the row names, filled family by family."""

    def __init__(self, cols: Blocks, rows: Blocks):
        self.cols, self.rows = cols, rows
        self.b = np.zeros(len(rows))
        self.names: list = [None] * len(rows)
        self._r: list = []
        self._c: list = []
        self._v: list = []

    def add(self, rows, cols, vals) -> None:
        """Entries ``A[rows, cols] = vals`` (broadcast); each (row, col) is written once."""
        r, c, v = np.broadcast_arrays(np.asarray(rows, np.int64), np.asarray(cols, np.int64), np.asarray(vals, float))
        self._r.append(r.ravel())
        self._c.append(c.ravel())
        self._v.append(v.ravel())

    def name(self, family: str, labels: list) -> None:
        s = self.rows[family]
        if len(labels) != s.stop - s.start:
            raise ValueError(f"{family}: {len(labels)} names for {s.stop - s.start} rows")
        self.names[s] = labels

    def matrix(self) -> sparse.csc_matrix:
        r, c = np.concatenate(self._r), np.concatenate(self._c)
        if len(np.unique(r * len(self.cols) + c)) != len(r):
            raise ValueError("an entry of A is written twice (two families overlap)")
        return sparse.csc_matrix((np.concatenate(self._v), (r, c)), shape=(len(self.rows), len(self.cols)))


def variable_layout(f: Feeder) -> Blocks:
    """``z = [P (nb), Q (nb), l (nb), v (n), p0, q0]``."""
    cols = Blocks()
    for name, n in (("P", f.nb), ("Q", f.nb), ("l", f.nb), ("v", f.n), ("p0", 1), ("q0", 1)):
        cols.add(name, n)
    return cols


def row_layout(f: Feeder) -> Blocks:
    """Row families in cone order: zero (balances, drops, slack voltage), nonneg (limits), SOC."""
    rows = Blocks()
    rows.add("balance_p", f.n, "zero")
    rows.add("balance_q", f.n, "zero")
    rows.add("voltage_drop", f.nb, "zero")
    rows.add("slack_voltage", 1, "zero")
    rows.add("voltage_limits", 2 * (f.n - 1), "nonneg")
    rows.add("soc", 4 * f.nb, "soc")
    return rows


# ============================================================================ constraint families
def define_power_balance(asm: Assembly, f: Feeder) -> None:
    """Nodal balances (zero cone), loads in ``b`` (:func:`load_rhs`)::

        balance_p[j]: P[k(j)] - r_k l[k(j)] - sum_{c in C(j)} P[c] = p_j,   slack: p0 - sum_c P[c] = p_0
        balance_q[j]: Q[k(j)] - x_k l[k(j)] - sum_{c in C(j)} Q[c] = q_j,   slack: q0 - sum_c Q[c] = q_0
    """
    cols, rows = asm.cols, asm.rows
    k = np.arange(f.nb)
    for bal, flow, imp, z in (("balance_p", "P", "p0", f.r), ("balance_q", "Q", "q0", f.x)):
        asm.add(rows.idx(bal, f.br_to), cols.idx(flow, k), 1.0)  # into the child bus
        asm.add(rows.idx(bal, f.br_to), cols.idx("l", k), -z)  # series loss
        asm.add(rows.idx(bal, f.br_from), cols.idx(flow, k), -1.0)  # out of the parent bus
        asm.add(rows.idx(bal, f.slack), cols.idx(imp), 1.0)
        asm.name(bal, [f"{bal}[bus {b}]" for b in f.buses])


def define_voltage_drop(asm: Assembly, f: Feeder) -> None:
    """``voltage_drop[k]: v[j] - v[i] + 2 (r_k P[k] + x_k Q[k]) - (r_k^2 + x_k^2) l[k] = 0`` (zero cone)."""
    cols, row = asm.cols, asm.rows.idx("voltage_drop", np.arange(f.nb))
    k = np.arange(f.nb)
    asm.add(row, cols.idx("v", f.br_to), 1.0)
    asm.add(row, cols.idx("v", f.br_from), -1.0)
    asm.add(row, cols.idx("P", k), 2 * f.r)
    asm.add(row, cols.idx("Q", k), 2 * f.x)
    asm.add(row, cols.idx("l", k), -(f.r**2 + f.x**2))
    asm.name("voltage_drop", [f"voltage_drop[branch to bus {f.buses[j]}]" for j in f.br_to])


def define_slack_voltage(asm: Assembly, f: Feeder) -> None:
    """``slack_voltage: v[slack] = V_set^2`` (zero cone)."""
    row = asm.rows.idx("slack_voltage")
    asm.add(row, asm.cols.idx("v", f.slack), 1.0)
    asm.b[row] = f.v_slack2
    asm.name("slack_voltage", ["slack_voltage"])


def define_voltage_limits(asm: Assembly, f: Feeder) -> None:
    """``v[j] <= v_max_j^2`` and ``-v[j] <= -v_min_j^2`` (nonneg cone), rows interleaved per non-slack bus."""
    js = f.non_slack
    up = asm.rows.idx("voltage_limits", 2 * np.arange(len(js)))
    asm.add(up, asm.cols.idx("v", js), 1.0)
    asm.add(up + 1, asm.cols.idx("v", js), -1.0)
    asm.b[up], asm.b[up + 1] = f.v_max2[js], -f.v_min2[js]
    asm.name("voltage_limits", [f"v_{side}[bus {f.buses[j]}]" for j in js for side in ("max", "min")])


def define_soc_relaxation(asm: Assembly, f: Feeder) -> None:
    """``||(2 P[k], 2 Q[k], v[i] - l[k])|| <= v[i] + l[k]``: one 4-row SOC per branch with
    ``s = b - A z = (v_i + l, 2P, 2Q, v_i - l)`` (``b = 0``); relaxes ``P^2 + Q^2 = v_i l``."""
    cols, k = asm.cols, np.arange(f.nb)
    row = asm.rows.idx("soc", 4 * k)
    vi, lk = cols.idx("v", f.br_from), cols.idx("l", k)
    asm.add(row, vi, -1.0)
    asm.add(row, lk, -1.0)
    asm.add(row + 1, cols.idx("P", k), -2.0)
    asm.add(row + 2, cols.idx("Q", k), -2.0)
    asm.add(row + 3, vi, -1.0)
    asm.add(row + 3, lk, 1.0)
    asm.name("soc", [f"soc[branch to bus {f.buses[j]}]" for j in f.br_to for _ in range(4)])


# ============================================================================ model, right-hand side, reader
@dataclass
class BranchFlowModel:
    """The assembled SOCP of one feeder: ``A``, the load-free ``b_static``, the layouts and the row names."""

    grid: Network
    feeder: Feeder
    cols: Blocks
    rows: Blocks
    A: sparse.csc_matrix
    b_static: np.ndarray
    row_names: list

    @property
    def buses(self) -> list:
        return self.feeder.buses

    @property
    def nb(self) -> int:
        return self.feeder.nb

    @property
    def n_var(self) -> int:
        return len(self.cols)

    @property
    def n_zero(self) -> int:
        return self.rows.size("zero")

    @property
    def n_nonneg(self) -> int:
        return self.rows.size("nonneg")

    @property
    def soc(self) -> list[int]:
        return [4] * self.nb


def build_branch_flow(grid: Network) -> BranchFlowModel:
    """Lay out variables and rows, then fill the families in row order (module docstring)."""
    f = feeder_arrays(grid)
    asm = Assembly(variable_layout(f), row_layout(f))
    define_power_balance(asm, f)
    define_voltage_drop(asm, f)
    define_slack_voltage(asm, f)
    define_voltage_limits(asm, f)
    define_soc_relaxation(asm, f)
    return BranchFlowModel(grid, f, asm.cols, asm.rows, asm.matrix(), asm.b, asm.names)


def load_rhs(model: BranchFlowModel, p_kw: pd.Series, q_kvar: pd.Series) -> np.ndarray:
    """``b`` with the bus loads ``p_kw``/``q_kvar`` (by bus id, missing = 0) in the balance rows, in p.u."""
    s_base = model.grid.s_base_kva
    b = model.b_static.copy()
    b[model.rows["balance_p"]] = p_kw.reindex(model.buses).fillna(0.0).to_numpy(float) / s_base
    b[model.rows["balance_q"]] = q_kvar.reindex(model.buses).fillna(0.0).to_numpy(float) / s_base
    return b


def conic_problem(model: BranchFlowModel, q: np.ndarray, b: np.ndarray) -> ConicProblem:
    """``min q'z  s.t.  A z + s = b`` over the model's cones (for :func:`evgrid.optim.solver.solve_conic`)."""
    return ConicProblem(q=q, A=model.A, b=b, zero=model.n_zero, nonneg=model.n_nonneg, soc=model.soc,
                        row_names=model.row_names or None)


@dataclass
class BranchFlowSolution:
    """Solution in p.u. (``P, Q, l_sq`` by branch, ``v`` by bus position), import and losses in kW and the SOC
    relaxation gap ``v_i l_k - P_k^2 - Q_k^2`` by branch (absolute p.u. and relative to ``v_i l_k``)."""

    P: np.ndarray
    Q: np.ndarray
    l_sq: np.ndarray  # squared current magnitude l by branch
    v: np.ndarray
    v_pu: pd.Series
    import_kw: float
    loss_kw: float
    gap_pu: np.ndarray
    gap_rel: np.ndarray


def read_solution(model: BranchFlowModel, z: np.ndarray) -> BranchFlowSolution:
    """Vectorised reader of a primal solution ``z`` (one period)."""
    c, f = model.cols, model.feeder
    s_base = model.grid.s_base_kva
    P, Q, L, v = z[c["P"]], z[c["Q"]], z[c["l"]], z[c["v"]]
    gap = v[f.br_from] * L - P**2 - Q**2
    return BranchFlowSolution(
        P=P, Q=Q, l_sq=L, v=v, v_pu=pd.Series(np.sqrt(np.maximum(v, 0)), index=f.buses, name="v_pu"),
        import_kw=float(z[c.idx("p0")] * s_base), loss_kw=float(f.r @ L * s_base),
        gap_pu=gap, gap_rel=gap / np.maximum(v[f.br_from] * L, 1e-12),
    )


def balance_duals(model: BranchFlowModel, dual: np.ndarray) -> np.ndarray:
    """Clarabel duals of the active balances by bus position (``d objective / d p_j = -dual``)."""
    return dual[model.rows["balance_p"]]

"""Multi-class static user-equilibrium (Wardrop) assignment with BPR costs: bi-conjugate Frank-Wolfe.

Classes (ICEV, EV, ...) route on their own graph (an EV graph may be two-layered so every EV trip
passes one charging-station link); every graph link uses zero or more shared *resources* (road links,
station queues) through a sparse map ``R`` (resources x class links). With ``y`` the stacked class link
flows, ``x = R y`` the resource flows, ``t_r`` the BPR time of resource ``r`` and ``m`` the class-specific
fixed link cost in hours (money / value of time), the class-``k`` cost of link ``l`` is
``c^k_l = sum_r R_rl t_r(x_r) + m^k_l``. The costs are the gradient of the Beckmann objective

    B(y) = sum_r int_0^{x_r} t_r(s) ds + m . y,

so the equilibrium is its minimum over the demand polytope (Dafermos 1972, symmetric case). Relative gap

    gap = (c . y - sum_k sum_od q^k_od pi^k_od) / (c . y)     (pi: shortest generalised path time)

is >= 0 and 0 exactly at equilibrium. Algorithms: ``fw`` (Frank-Wolfe), ``cfw`` (conjugate FW) and
``bfw`` (bi-conjugate FW, Mitradjieva & Lindberg 2013, Transp. Sci. 47(2)); exact line search by
bisection on the directional derivative. Shortest paths: ``scipy.sparse.csgraph.dijkstra`` over all
origins at once (:meth:`TrafficNetwork.shortest_path_tree`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix, hstack, identity

from evgrid.transport.network import TrafficNetwork, TransportError, bpr_derivative, bpr_integral, bpr_time

ALGORITHMS = ("fw", "cfw", "bfw")


@dataclass
class Resources:
    """Shared BPR resources: ``t_r(x) = t0_r (1 + b_r (x/c_r)^p_r)``, with a name per resource."""

    t0_h: np.ndarray
    b: np.ndarray
    capacity: np.ndarray
    power: np.ndarray
    names: list = field(default_factory=list)

    @classmethod
    def from_network(cls, net: TrafficNetwork) -> Resources:
        t0, b, c, p = net.bpr_params()
        names = [f"{i}->{j}" for i, j in zip(net.links["init_node"], net.links["term_node"], strict=True)]
        return cls(t0.copy(), b.copy(), c.copy(), p.copy(), names)

    def extend(self, t0_h, b, capacity, power, names) -> Resources:
        cat = np.concatenate
        return Resources(
            cat([self.t0_h, np.asarray(t0_h, float)]), cat([self.b, np.asarray(b, float)]),
            cat([self.capacity, np.asarray(capacity, float)]), cat([self.power, np.asarray(power, float)]),
            list(self.names) + list(names),
        )

    def __len__(self) -> int:
        return len(self.t0_h)

    def time(self, x):
        return bpr_time(self.t0_h, self.b, self.capacity, self.power, x)

    def derivative(self, x):
        return bpr_derivative(self.t0_h, self.b, self.capacity, self.power, x)

    def integral(self, x):
        return bpr_integral(self.t0_h, self.b, self.capacity, self.power, x)


@dataclass
class UserClass:
    """One user class: its routing graph, the links' resource map, fixed costs [h] and O-D demand.

    ``demand[o, v]`` (veh/h) from origin position ``origins[o]`` to node position ``v`` of ``network``;
    ``resource_map`` is (n_resources x n_links); default: link ``l`` uses resource ``l``.
    """

    name: str
    network: TrafficNetwork
    origins: np.ndarray
    demand: np.ndarray
    resource_map: csr_matrix | None = None
    fixed_cost_h: np.ndarray | None = None

    def __post_init__(self) -> None:
        L = self.network.n_links
        self.origins = np.asarray(self.origins, dtype=np.int64)
        self.demand = np.asarray(self.demand, dtype=float)
        if self.demand.shape != (len(self.origins), self.network.n_nodes):
            raise TransportError(
                self.network.source, f"class {self.name!r}: demand shape mismatch", column="demand",
                expected=f"({len(self.origins)}, {self.network.n_nodes})", got=self.demand.shape,
            )
        if (self.demand < 0).any() or not np.isfinite(self.demand).all():
            raise TransportError(self.network.source, f"class {self.name!r}: demand must be finite and >= 0",
                                 column="demand")
        if self.resource_map is None:
            self.resource_map = identity(L, format="csr")
        self.resource_map = csr_matrix(self.resource_map)
        if self.resource_map.shape[1] != L:
            raise ValueError(f"class {self.name!r}: resource_map needs {L} columns, got {self.resource_map.shape}")
        self.fixed_cost_h = np.zeros(L) if self.fixed_cost_h is None else np.asarray(self.fixed_cost_h, float)
        if self.fixed_cost_h.shape != (L,) or not np.isfinite(self.fixed_cost_h).all():
            raise ValueError(f"class {self.name!r}: fixed_cost_h must be {L} finite values")

    def all_or_nothing(self, link_cost: np.ndarray) -> tuple[np.ndarray, float]:
        """Link flows loading all demand on shortest paths, and the shortest-path total ``sum q pi``."""
        dist, pred = self.network.shortest_path_tree(link_cost, self.origins)
        flow = self.network.load_trees(dist, pred, self.demand)
        sptt = float(np.sum(np.where(self.demand > 0, self.demand * np.where(np.isfinite(dist), dist, 0.0), 0.0)))
        return flow, sptt


@dataclass
class AssignmentResult:
    """Equilibrium flows and costs; ``history`` has one row per iteration."""

    resource_flow: np.ndarray
    resource_time_h: np.ndarray
    class_flows: dict[str, np.ndarray]
    class_costs_h: dict[str, np.ndarray]
    relative_gap: float
    beckmann: float
    converged: bool
    history: pd.DataFrame

    @property
    def iterations(self) -> int:
        return int(len(self.history))


def _line_search(res: Resources, x: np.ndarray, dx: np.ndarray, dm: float, tol: float = 1e-12) -> float:
    """Exact step ``argmin_{tau in [0,1]} B(y + tau d)`` by bisection on ``g(tau) = t(x + tau dx) . dx + dm``."""

    def g(tau: float) -> float:
        return float(res.time(x + tau * dx) @ dx) + dm

    if g(0.0) >= 0.0:
        return 0.0
    if g(1.0) <= 0.0:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if g(mid) > 0.0:
            hi = mid
        else:
            lo = mid
        if hi - lo < tol:
            break
    return 0.5 * (lo + hi)


class _Stacked:
    """The classes stacked into one problem: ``R = [R_1 ... R_K]``, fixed costs ``m`` and each class's range
    ``bounds[k]:bounds[k+1]`` in the stacked link vector ``y``."""

    def __init__(self, resources: Resources, classes: list[UserClass]):
        self.resources, self.classes = resources, classes
        self.R = hstack([c.resource_map for c in classes]).tocsr()
        self.RT = self.R.T.tocsr()
        self.m = np.concatenate([c.fixed_cost_h for c in classes])
        self.bounds = np.cumsum([0] + [c.network.n_links for c in classes])

    def part(self, vec: np.ndarray, k: int) -> np.ndarray:
        return vec[self.bounds[k] : self.bounds[k + 1]]

    def split(self, vec: np.ndarray) -> dict[str, np.ndarray]:
        return {c.name: self.part(vec, k) for k, c in enumerate(self.classes)}

    def link_cost(self, x: np.ndarray) -> np.ndarray:
        """``c = R' t(x) + m`` (generalised link times of every class, stacked)."""
        return self.RT @ self.resources.time(x) + self.m

    def aon(self, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All-or-nothing stacked flows at ``cost`` and each class's shortest-path total ``sum q pi``."""
        parts, sptt = [], []
        for k, c in enumerate(self.classes):
            f, s = c.all_or_nothing(self.part(cost, k))
            parts.append(f)
            sptt.append(s)
        return np.concatenate(parts), np.asarray(sptt)


def _check_inputs(resources: Resources, classes: list[UserClass], algorithm: str, background) -> np.ndarray:
    """Validate the call; return the background resource flows (zeros when None)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if not classes:
        raise ValueError("at least one user class is needed")
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        raise ValueError(f"class names must be unique, got {names}")
    n_res = len(resources)
    for c in classes:
        if c.resource_map.shape[0] != n_res:
            raise ValueError(f"class {c.name!r}: resource_map has {c.resource_map.shape[0]} rows, expected {n_res}")
    bg = np.zeros(n_res) if background is None else np.asarray(background, dtype=float)
    if bg.shape != (n_res,):
        raise ValueError(f"background must have {n_res} resource flows, got {bg.shape}")
    return bg


def _warm_start(classes: list[UserClass], initial: dict) -> np.ndarray:
    """Stacked ``initial`` flows after checking each carries its class's demand (``N f = supply``)."""
    for c in classes:  # a warm start must carry this demand (flow conservation), else it is another problem
        f = np.asarray(initial[c.name], float)
        supply = np.zeros(c.network.n_nodes)
        np.add.at(supply, c.origins, c.demand.sum(axis=1))
        supply -= c.demand.sum(axis=0)
        err = np.abs(c.network.incidence() @ f - supply).max() if f.shape == (c.network.n_links,) else np.inf
        if err > 1e-6 * max(1.0, float(c.demand.sum())):
            raise ValueError(f"initial flows of class {c.name!r} do not carry its demand (max imbalance {err:.3g})")
    return np.concatenate([np.asarray(initial[c.name], float) for c in classes])


def _conjugate_target(algorithm: str, st: _Stacked, x: np.ndarray, y: np.ndarray, y_aon: np.ndarray,
                      s1: np.ndarray, s2: np.ndarray | None, tau_prev: float, cost: np.ndarray) -> np.ndarray:
    """CFW / BFW target (Mitradjieva & Lindberg 2013): the AON point made conjugate to the previous one
    (CFW) or two (BFW) targets w.r.t. the Beckmann Hessian ``R' diag(t'(x)) R``; the FW target ``y_aon``
    when the conjugate one is not a descent direction."""
    R, hdiag = st.R, st.resources.derivative(x)

    def hdot(a: np.ndarray, b: np.ndarray) -> float:
        """``a' R' diag(t'(x)) R b``: the Beckmann Hessian at the current flows."""
        return float((R @ a) @ (hdiag * (R @ b)))

    d_aon = y_aon - y
    if algorithm == "bfw" and s2 is not None and 0.0 < tau_prev < 1.0:
        dbar1 = s1 - y
        dbar2 = tau_prev * s1 + (1.0 - tau_prev) * s2 - y
        den_mu = hdot(dbar2, s2 - s1)
        den_nu = hdot(dbar1, dbar1)
        mu = -hdot(dbar2, d_aon) / den_mu if den_mu != 0 else 0.0
        mu = max(0.0, mu)
        nu = (-hdot(dbar1, d_aon) / den_nu if den_nu != 0 else 0.0) + mu * tau_prev / (1.0 - tau_prev)
        nu = max(0.0, nu)
        beta0 = 1.0 / (1.0 + mu + nu)
        target = beta0 * y_aon + nu * beta0 * s1 + mu * beta0 * s2
    else:
        dbar1 = s1 - y
        num = hdot(dbar1, d_aon)
        den = hdot(dbar1, y_aon - s1)
        alpha = num / den if den != 0 else 0.0
        alpha = min(max(alpha, 0.0), 1.0 - 1e-6)
        target = alpha * s1 + (1.0 - alpha) * y_aon
    return y_aon if float(cost @ (target - y)) >= 0.0 else target


def _gaps(st: _Stacked, y: np.ndarray, cost: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """``(total cost c.y, per-class c_k.y_k, AON flows, per-class shortest-path totals)`` at ``cost``."""
    tstt_k = np.array([float(st.part(cost, k) @ st.part(y, k)) for k in range(len(st.classes))])
    y_aon, sptt_k = st.aon(cost)
    return float(tstt_k.sum()), tstt_k, y_aon, sptt_k


def assign(
    resources: Resources,
    classes: list[UserClass],
    *,
    algorithm: str = "bfw",
    rel_gap: float = 1e-5,
    max_iter: int = 5000,
    time_limit_s: float | None = None,
    initial: dict[str, np.ndarray] | None = None,
    per_class: bool = False,
    background: np.ndarray | None = None,
) -> AssignmentResult:
    """Multi-class UE by ``fw``/``cfw``/``bfw`` until ``relative gap <= rel_gap`` (see module docstring).

    ``per_class=True`` stops only when *every* class's own relative gap is below ``rel_gap`` (a small class,
    e.g. charging EVs among 300,000 veh/h, can be far from equilibrium while the total gap is tiny).
    ``background`` (resource flows of classes held fixed) is added to ``x = R y``: the UE of ``classes``
    given the others (one block of a block Gauss-Seidel on the joint UE).
    ``initial`` (class name -> link flows, e.g. a previous equilibrium) warm-starts the iterations;
    it must be feasible (satisfy the demand), else start from all-or-nothing at free-flow costs.
    """
    bg = _check_inputs(resources, classes, algorithm, background)
    st = _Stacked(resources, classes)
    R, m = st.R, st.m
    t_start = time.perf_counter()
    if initial is not None and all(c.name in initial for c in classes):
        y = _warm_start(classes, initial)
    else:
        y, _ = st.aon(st.link_cost(bg))
    rows = []
    s1 = s2 = None  # previous two target points (CFW/BFW)
    tau_prev = 0.0
    gap = np.inf
    beck = np.nan
    for it in range(1, max_iter + 1):
        x = R @ y + bg
        cost = st.link_cost(x)
        tstt, tstt_k, y_aon, sptt_k = _gaps(st, y, cost)
        gap = (tstt - sptt_k.sum()) / tstt if tstt > 0 else 0.0
        gap_k = np.where(tstt_k > 0, (tstt_k - sptt_k) / np.maximum(tstt_k, 1e-300), 0.0)
        beck = float(resources.integral(x).sum() - resources.integral(bg).sum() + m @ y)
        rows.append({"iteration": it, "relative_gap": gap, "max_class_gap": float(gap_k.max()), "beckmann": beck,
                     "total_cost_h": tstt, "step": tau_prev, "time_s": time.perf_counter() - t_start})
        crit = float(gap_k.max()) if per_class else gap
        if crit <= rel_gap or (time_limit_s is not None and time.perf_counter() - t_start > time_limit_s):
            break
        target = y_aon
        if algorithm != "fw" and s1 is not None:
            target = _conjugate_target(algorithm, st, x, y, y_aon, s1, s2, tau_prev, cost)
        d = target - y
        tau = _line_search(resources, x, R @ d, float(m @ d))
        y = y + tau * d
        s2, s1 = s1, target
        tau_prev = tau
    x = R @ y + bg
    crit = rows[-1]["max_class_gap"] if per_class else gap
    return AssignmentResult(
        resource_flow=x,
        resource_time_h=resources.time(x),
        class_flows=st.split(y),
        class_costs_h=st.split(st.link_cost(x)),
        relative_gap=float(gap),
        beckmann=beck,
        converged=bool(crit <= rel_gap),
        history=pd.DataFrame(rows),
    )


def single_class_ue(
    net: TrafficNetwork, trips: pd.DataFrame, **kwargs
) -> tuple[AssignmentResult, pd.DataFrame]:
    """Single-class UE of zone x zone ``trips`` on ``net``; returns the result and a link table
    ``init_node, term_node, flow, cost`` (cost = BPR time in the file's time unit converted to h)."""
    from evgrid.transport.tntp import demand_matrix

    origins = net.node_positions(list(trips.index), what="origin zone")
    demand = demand_matrix(net, trips)
    result = assign(Resources.from_network(net), [UserClass("all", net, origins, demand)], **kwargs)
    table = pd.DataFrame(
        {
            "init_node": net.links["init_node"].to_numpy(),
            "term_node": net.links["term_node"].to_numpy(),
            "flow": result.resource_flow,
            "cost": result.resource_time_h,
        }
    )
    return result, table

"""Conversion between :class:`evgrid.grid.network.Network` and pandapower nets.

``to_pandapower(network, branch_in_service=None, island_v_pu=None) -> pandapowerNet``

* bus index = original bus id, ``vn_kv = base_kv``, ``min_vm_pu/max_vm_pu`` from the bus table;
* one load per bus (index = position of the bus in ``network.buses``, zero loads included) so a time
  series only overwrites ``net.load.p_mw/q_mvar`` vectors;
* every branch becomes a line of length 1 km with ``r_ohm_per_km = r_ohm``, ``x_ohm_per_km = x_ohm``,
  no shunt capacitance, line index = branch id, ``in_service`` from the status given (tie switches are
  lines out of service); ``max_i_ka = rating_kva / (sqrt(3) * base_kv) / 1000`` (a huge value when the
  rating is NaN, so loading is only meaningful for rated branches);
* an ``ext_grid`` at the slack bus with ``vm_pu = v_slack_pu``. Buses cut off from the slack by the
  branch status form islands; each island gets its own ``ext_grid`` at its root (smallest bus id) with
  ``vm_pu`` from ``island_v_pu`` (e.g. the LinDistFlow voltage of that bus; default 1.0). That ext_grid is
  the island's grid-forming unit: it picks up the island's mismatch (losses), which the AC report lists
  per step.

``from_pandapower(net) -> Network`` reads a single-voltage-level radial pandapower net (lines only, loads and
sgens are summed per bus into the net bus load) back, e.g. pandapower's own ``case33bw()``.
"""

from __future__ import annotations

import math

import numpy as np
import pandapower as pp
import pandas as pd

from evgrid.grid.network import Network, NetworkError, make_network

BIG_I_KA = 1e6


def to_pandapower(network: Network, branch_in_service=None, island_v_pu: dict | None = None):
    """Build a pandapower net for ``network`` (see module docstring)."""
    mask = network.branch_mask(branch_in_service)
    net = pp.create_empty_network(name=network.name, sn_mva=network.base_mva, f_hz=50.0)
    buses = network.buses
    pp.create_buses(
        net,
        nr_buses=len(buses),
        vn_kv=network.base_kv,
        index=buses.index.to_numpy(),
        name=[str(b) for b in buses.index],
        min_vm_pu=buses["v_min_pu"].to_numpy(),
        max_vm_pu=buses["v_max_pu"].to_numpy(),
    )
    pp.create_loads(
        net,
        buses=buses.index.to_numpy(),
        p_mw=buses["p_load_kw"].to_numpy() / 1000.0,
        q_mvar=buses["q_load_kvar"].to_numpy() / 1000.0,
        index=np.arange(len(buses)),
    )
    br = network.branches
    rating = br["rating_kva"].to_numpy()
    max_i_ka = np.where(np.isnan(rating), BIG_I_KA, rating / (math.sqrt(3.0) * network.base_kv) / 1000.0)
    pp.create_lines_from_parameters(
        net,
        from_buses=br["from_bus"].to_numpy(),
        to_buses=br["to_bus"].to_numpy(),
        length_km=1.0,
        r_ohm_per_km=br["r_ohm"].to_numpy(),
        x_ohm_per_km=br["x_ohm"].to_numpy(),
        c_nf_per_km=0.0,
        max_i_ka=max_i_ka,
        index=br.index.to_numpy(),
        in_service=mask.to_numpy(),
        name=[f"{a}-{b}" for a, b in zip(br["from_bus"], br["to_bus"], strict=True)],
    )
    pp.create_ext_grid(net, bus=network.slack_bus, vm_pu=network.v_slack_pu, va_degree=0.0, name="slack")
    isl = network.islands(mask)
    for k in range(1, int(isl.max()) + 1):
        root = int(isl.index[isl == k].min())
        vm = float((island_v_pu or {}).get(root, 1.0))
        pp.create_ext_grid(net, bus=root, vm_pu=vm, va_degree=0.0, name=f"island{k}")
    return net


def from_pandapower(net, name: str | None = None, v_min_pu: float = 0.9, v_max_pu: float = 1.1) -> Network:
    """Read a radial single-voltage-level pandapower net (lines, loads, sgens, one ext_grid) into a Network."""
    if len(net.trafo) or len(net.trafo3w):
        raise NetworkError(f"pandapower net '{net.name}': transformers are not supported (single voltage level)")
    if len(net.ext_grid) != 1:
        raise NetworkError(f"pandapower net '{net.name}': need exactly one ext_grid, found {len(net.ext_grid)}")
    kvs = set(net.bus.vn_kv)
    if len(kvs) != 1:
        raise NetworkError(f"pandapower net '{net.name}': several voltage levels {sorted(kvs)}")
    base_kv = float(next(iter(kvs)))
    def per_bus(table, col):
        if not len(table):
            return pd.Series(0.0, index=net.bus.index)
        val = table[col] * table["scaling"] * table["in_service"].astype(float)
        return val.groupby(table["bus"]).sum().reindex(net.bus.index).fillna(0.0)

    p = per_bus(net.load, "p_mw") - per_bus(net.sgen, "p_mw")
    q = per_bus(net.load, "q_mvar") - per_bus(net.sgen, "q_mvar")
    buses = pd.DataFrame(
        {
            "p_load_kw": p.to_numpy() * 1000.0,
            "q_load_kvar": q.to_numpy() * 1000.0,
            "v_min_pu": net.bus.get("min_vm_pu", pd.Series(v_min_pu, index=net.bus.index)).fillna(v_min_pu).to_numpy(),
            "v_max_pu": net.bus.get("max_vm_pu", pd.Series(v_max_pu, index=net.bus.index)).fillna(v_max_pu).to_numpy(),
        },
        index=pd.Index(net.bus.index.astype(int), name="bus_id"),
    )
    ln = net.line
    i_ka = ln.max_i_ka.to_numpy() * ln.parallel.to_numpy()
    rating = np.where(i_ka >= BIG_I_KA, np.nan, math.sqrt(3.0) * base_kv * i_ka * 1000.0)
    open_sw = set()
    if len(net.switch):
        sw = net.switch[(net.switch.et == "l") & ~net.switch.closed.astype(bool)]
        open_sw = set(sw.element.astype(int))
    branches = pd.DataFrame(
        {
            "from_bus": ln.from_bus.astype(int).to_numpy(),
            "to_bus": ln.to_bus.astype(int).to_numpy(),
            "r_ohm": (ln.r_ohm_per_km * ln.length_km / ln.parallel).to_numpy(),
            "x_ohm": (ln.x_ohm_per_km * ln.length_km / ln.parallel).to_numpy(),
            "rating_kva": rating,
            "in_service": [bool(s) and (i not in open_sw) for i, s in zip(ln.index, ln.in_service, strict=True)],
            "is_switch": [i in open_sw for i in ln.index],
        }
    )
    eg = net.ext_grid.iloc[0]
    return make_network(
        name=name or (net.name or "pandapower"),
        base_kv=base_kv,
        base_mva=float(net.sn_mva),
        buses=buses,
        branches=branches,
        slack_bus=int(eg.bus),
        v_slack_pu=float(eg.vm_pu),
        source="pandapower",
    )

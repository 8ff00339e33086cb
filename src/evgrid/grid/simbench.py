"""SimBench CSV folder loader (the ``;``-separated export, e.g. ``1-LV-rural1--0-no_sw``).

``load_simbench_csv(folder, v_slack_pu=None) -> Network`` and
``simbench_time_series(folder, network) -> (p_load_kw, q_load_kvar, res_kw)`` (time x bus DataFrames).

Modelling choices (the shared Network has one voltage level, no transformer element):

* bus ids are ``1..n`` in ``Node.csv`` order; the SimBench node name is kept in ``buses["name"]``;
* the MV/LV transformer between the ``ExternalNet`` node and the LV grid becomes a series branch referred to
  the LV side: ``|z| = vmImp/100``, ``r = pCu / sR`` (per unit on ``sR``), ``x = sqrt(|z|^2 - r^2)``,
  ohm = p.u. x ``vmLV^2 / sR``; nominal ratio, magnetising branch (``pFe``, ``iNoLoad``) and taps neglected;
  its rating is ``sR``;
* lines: ``r, x`` (ohm/km) x ``length`` km from ``LineType.csv``; shunt susceptance ``b`` neglected (a few
  hundred nF/km cable, < 0.1 kVAr at 0.4 kV); rating ``sqrt(3) * vn_kv * iMax * loadingMax/100``;
* the slack is the ExternalNet node, voltage ``vmSetp`` of that node unless ``v_slack_pu`` is given;
  voltage limits from ``vmMin/vmMax``;
* base loads = ``pLoad/qLoad`` (MW -> kW) summed per node; generators (``RES.csv``) are *not* loads: their
  installed power is in ``network.meta["res"]`` and their profiles come from :func:`simbench_time_series`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from evgrid.grid.network import Network, NetworkError, make_network


def _read(folder: Path, name: str, required: list[str]) -> pd.DataFrame:
    path = folder / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"SimBench folder {folder}: missing {name}.csv")
    df = pd.read_csv(path, sep=";", na_values=["NULL"], keep_default_na=True)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise NetworkError(f"{path}: missing columns {missing}")
    return df


def _bus_lookup(folder: Path, bus_of: dict):
    """``bus(node name, file, row) -> bus id``, raising on a node that is not in Node.csv."""

    def bus(name_, file, row):
        if name_ not in bus_of:
            raise NetworkError(f"{folder}/{file}.csv row {row + 1}: unknown node '{name_}'")
        return bus_of[name_]

    return bus


def _line_rows(folder: Path, lines: pd.DataFrame, ltypes: pd.DataFrame, nodes: pd.DataFrame, bus_of: dict,
               bus, lv_kv: float) -> list[dict]:
    """Lines: ``r, x`` (ohm/km) x length (km); rating ``sqrt(3) vn iMax loadingMax / 100`` (kVA)."""
    rows = []
    for i, ln in lines.iterrows():
        if ln["type"] not in ltypes.index:
            raise NetworkError(f"{folder}/Line.csv row {i + 1} ({ln['id']}): unknown line type '{ln['type']}'")
        lt = ltypes.loc[ln["type"]]
        vn = float(nodes.loc[nodes["id"] == ln["nodeA"], "vmR"].iloc[0]) if ln["nodeA"] in bus_of else lv_kv
        rows.append(
            {
                "from_bus": bus(ln["nodeA"], "Line", i),
                "to_bus": bus(ln["nodeB"], "Line", i),
                "r_ohm": float(lt["r"]) * float(ln["length"]),
                "x_ohm": float(lt["x"]) * float(ln["length"]),
                "rating_kva": math.sqrt(3.0) * vn * float(lt["iMax"]) * float(ln["loadingMax"]) / 100.0,
                "name": ln["id"],
            }
        )
    return rows


def _transformer_rows(folder: Path, trafos: pd.DataFrame, ttypes: pd.DataFrame, bus) -> list[dict]:
    """Transformers as series branches on the LV side: ``|z| = vmImp/100``, ``r = pCu / sR``,
    ``x = sqrt(|z|^2 - r^2)`` (p.u. on ``sR``), ohm = p.u. x ``vmLV^2 / sR``; rating ``sR``."""
    rows = []
    for i, tr in trafos.iterrows():
        if tr["type"] not in ttypes.index:
            raise NetworkError(f"{folder}/Transformer.csv row {i + 1}: unknown transformer type '{tr['type']}'")
        tt = ttypes.loc[tr["type"]]
        s_mva = float(tt["sR"])
        z = float(tt["vmImp"]) / 100.0
        r = float(tt["pCu"]) / (s_mva * 1000.0)
        x = math.sqrt(max(z * z - r * r, 0.0))
        zb = float(tt["vmLV"]) ** 2 / s_mva
        rows.append(
            {
                "from_bus": bus(tr["nodeHV"], "Transformer", i),
                "to_bus": bus(tr["nodeLV"], "Transformer", i),
                "r_ohm": r * zb,
                "x_ohm": x * zb,
                "rating_kva": s_mva * 1000.0,
                "name": tr["id"],
            }
        )
    return rows


def _bus_table(nodes: pd.DataFrame, loads: pd.DataFrame, bus) -> pd.DataFrame:
    """Buses ``1..n`` in Node.csv order: base load ``pLoad/qLoad`` (MW -> kW) summed per node, voltage limits."""
    p = np.zeros(len(nodes))
    q = np.zeros(len(nodes))
    for i, ld in loads.iterrows():
        b = bus(ld["node"], "Load", i)
        p[b - 1] += float(ld["pLoad"]) * 1000.0
        q[b - 1] += float(ld["qLoad"]) * 1000.0
    return pd.DataFrame(
        {
            "p_load_kw": p,
            "q_load_kvar": q,
            "v_min_pu": nodes["vmMin"].fillna(0.9).to_numpy(float),
            "v_max_pu": nodes["vmMax"].fillna(1.1).to_numpy(float),
            "name": nodes["id"].to_numpy(),
        },
        index=pd.Index(np.arange(1, len(nodes) + 1), name="bus_id"),
    )


def load_simbench_csv(folder: str | Path, v_slack_pu: float | None = None, name: str | None = None) -> Network:
    """Read a single-LV-grid SimBench CSV folder into a :class:`Network` (see module docstring)."""
    folder = Path(folder)
    nodes = _read(folder, "Node", ["id", "vmSetp", "vmR", "vmMin", "vmMax"])
    lines = _read(folder, "Line", ["id", "nodeA", "nodeB", "type", "length", "loadingMax"])
    ltypes = _read(folder, "LineType", ["id", "r", "x", "iMax"]).set_index("id")
    loads = _read(folder, "Load", ["id", "node", "pLoad", "qLoad"])
    ext = _read(folder, "ExternalNet", ["id", "node"])
    trafos = _read(folder, "Transformer", ["id", "nodeHV", "nodeLV", "type"])
    ttypes = _read(folder, "TransformerType", ["id", "sR", "vmLV", "vmImp", "pCu"]).set_index("id")

    bus_of = {n: i + 1 for i, n in enumerate(nodes["id"])}
    if len(ext) != 1:
        raise NetworkError(f"{folder}/ExternalNet.csv: need exactly one external net, found {len(ext)}")
    slack_name = ext["node"].iloc[0]
    if slack_name not in bus_of:
        raise NetworkError(f"{folder}/ExternalNet.csv: node '{slack_name}' is not in Node.csv")
    lv_kv = sorted(set(nodes["vmR"]))[0]
    bus = _bus_lookup(folder, bus_of)
    branches = pd.DataFrame(_line_rows(folder, lines, ltypes, nodes, bus_of, bus, lv_kv)
                            + _transformer_rows(folder, trafos, ttypes, bus))
    buses = _bus_table(nodes, loads, bus)
    slack = bus_of[slack_name]
    vset = nodes.loc[nodes["id"] == slack_name, "vmSetp"].iloc[0]
    res_path = folder / "RES.csv"
    res = pd.DataFrame()
    if res_path.exists():
        res = _read(folder, "RES", ["id", "node", "profile", "pRES"])
        res = res.assign(bus=[bus(n, "RES", i) for i, n in enumerate(res["node"])], p_kw=res["pRES"] * 1000.0)
    net = make_network(
        name=name or folder.name,
        base_kv=float(lv_kv),
        base_mva=1.0,
        buses=buses,
        branches=branches,
        slack_bus=slack,
        v_slack_pu=float(v_slack_pu if v_slack_pu is not None else (vset if pd.notna(vset) else 1.0)),
        source=str(folder),
        meta={"res": res[["id", "bus", "profile", "p_kw"]] if len(res) else res, "loads": loads},
    )
    return net


def simbench_time_series(folder: str | Path, network: Network) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per-bus load (kW, kVAr) and RES (kW) time series from ``LoadProfile.csv`` / ``RESProfile.csv``."""
    folder = Path(folder)
    prof = pd.read_csv(folder / "LoadProfile.csv", sep=";")
    time = pd.to_datetime(prof["time"], format="%d.%m.%Y %H:%M")
    loads = network.meta["loads"]
    name_to_bus = {n: b for b, n in network.buses["name"].items()}
    p = pd.DataFrame(0.0, index=pd.Index(time, name="time"), columns=network.bus_ids)
    q = p.copy()
    for i, ld in loads.iterrows():
        for col, target, base in (("_pload", p, "pLoad"), ("_qload", q, "qLoad")):
            key = f"{ld['profile']}{col}"
            if key not in prof.columns:
                raise NetworkError(f"{folder}/LoadProfile.csv: no column '{key}' for load row {i + 1} ({ld['id']})")
            target[name_to_bus[ld["node"]]] += prof[key].to_numpy(float) * float(ld[base]) * 1000.0
    res_kw = pd.DataFrame(0.0, index=p.index, columns=network.bus_ids)
    res = network.meta.get("res")
    if res is not None and len(res):
        rp = pd.read_csv(folder / "RESProfile.csv", sep=";")
        for i, r in res.iterrows():
            if r["profile"] not in rp.columns:
                raise NetworkError(f"{folder}/RESProfile.csv: no column '{r['profile']}' for RES row {i + 1}")
            res_kw[int(r["bus"])] += rp[r["profile"]].to_numpy(float) * float(r["p_kw"])
    return p, q, res_kw

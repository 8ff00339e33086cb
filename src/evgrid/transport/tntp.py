"""Readers for the TNTP format ("Transportation Networks for Research", github.com/bstabler/TransportationNetworks).

Files: ``*_net.tntp`` (metadata block ending ``<END OF METADATA>``, then one link per row
``init term capacity length free_flow_time b power [speed toll type] ;``, ``~`` comment lines),
``*_trips.tntp`` (``Origin o`` blocks of ``d : demand;`` pairs) and ``*_node.tntp`` (``node x y ;``).

Units are not part of the format: the collection gives Sioux Falls free-flow times in 0.01 h, so the
caller passes ``time_unit_h`` (hours per file time unit) and ``length_unit_km``. Every error names the
file, the 1-based line and what was expected (:class:`~evgrid.transport.network.TransportError`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from evgrid.transport.network import TrafficNetwork, TransportError

NET_METADATA = ("NUMBER OF ZONES", "NUMBER OF NODES", "FIRST THRU NODE", "NUMBER OF LINKS")
TRIPS_METADATA = ("NUMBER OF ZONES", "TOTAL OD FLOW")
_META = re.compile(r"^\s*<([^>]+)>\s*(.*)$")


def _read_lines(path: str | Path) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise TransportError(p, "TNTP file not found", expected="an existing *_net/_trips/_node.tntp file")
    return p.read_text(encoding="utf-8", errors="replace").splitlines()


def read_metadata(path: str | Path, required: tuple[str, ...]) -> tuple[dict[str, str], int]:
    """Metadata ``<KEY> value`` lines up to ``<END OF METADATA>``; returns (dict, 0-based index after it).

    Raises naming the missing key (e.g. ``<NUMBER OF LINKS>``) or the missing end marker.
    """
    lines = _read_lines(path)
    meta: dict[str, str] = {}
    for i, line in enumerate(lines):
        m = _META.match(line)
        if not m:
            continue
        key, value = m.group(1).strip().upper(), m.group(2).strip()
        if key == "END OF METADATA":
            missing = [k for k in required if k not in meta]
            if missing:
                raise TransportError(
                    path, f"missing metadata line <{missing[0]}>", line=i + 1,
                    expected="metadata lines " + ", ".join(f"<{k}>" for k in required) + " before <END OF METADATA>",
                )
            return meta, i + 1
        meta[key] = value
    raise TransportError(path, "no <END OF METADATA> line", expected="a TNTP metadata block")


def _meta_number(path, meta: dict[str, str], key: str, kind=int) -> float:
    raw = meta[key].split()[0] if meta[key].split() else ""
    try:
        return kind(float(raw)) if kind is int else float(raw)
    except ValueError:
        raise TransportError(path, f"metadata <{key}> is not a number", expected="a number", got=meta[key]) from None


def read_net(
    path: str | Path, *, time_unit_h: float = 0.01, length_unit_km: float = 1.0, name: str | None = None
) -> TrafficNetwork:
    """``*_net.tntp`` -> validated :class:`TrafficNetwork` with nodes ``1..<NUMBER OF NODES>``.

    ``free_flow_time_h = file time * time_unit_h``; ``length_km = file length * length_unit_km``.
    The link count must equal ``<NUMBER OF LINKS>``.
    """
    if not (time_unit_h > 0 and length_unit_km > 0):
        raise TransportError(path, "unit factors must be > 0", column="time_unit_h/length_unit_km",
                             got=(time_unit_h, length_unit_km))
    meta, start = read_metadata(path, NET_METADATA)
    n_nodes = _meta_number(path, meta, "NUMBER OF NODES")
    n_links = _meta_number(path, meta, "NUMBER OF LINKS")
    n_zones = _meta_number(path, meta, "NUMBER OF ZONES")
    first_thru = _meta_number(path, meta, "FIRST THRU NODE")
    lines = _read_lines(path)
    rows = []
    for i in range(start, len(lines)):
        text = lines[i].strip()
        if not text or text.startswith("~"):
            continue
        fields = text.replace(";", " ").split()
        if len(fields) < 7:
            raise TransportError(
                path, "link row has too few fields", line=i + 1,
                expected="init term capacity length free_flow_time b power [speed toll type] ;", got=text,
            )
        try:
            vals = [float(f) for f in fields[:10]]
        except ValueError:
            raise TransportError(path, "non-numeric value in link row", line=i + 1, expected="numbers", got=text) from None
        if vals[0] != int(vals[0]) or vals[1] != int(vals[1]):
            raise TransportError(path, "node ids must be integers", line=i + 1, got=text)
        rows.append(
            {
                "init_node": int(vals[0]),
                "term_node": int(vals[1]),
                "capacity_veh_per_h": vals[2],
                "length_km": vals[3] * length_unit_km,
                "free_flow_time_h": vals[4] * time_unit_h,
                "b": vals[5],
                "power": vals[6],
                "toll_usd": vals[8] if len(vals) > 8 else 0.0,
                "link_type": int(vals[9]) if len(vals) > 9 else 1,
                "source_line": i + 1,
            }
        )
    if len(rows) != n_links:
        raise TransportError(
            path, "link count differs from metadata", column="<NUMBER OF LINKS>", expected=str(n_links), got=len(rows)
        )
    links = pd.DataFrame(rows)
    return TrafficNetwork.from_links(
        links,
        nodes=range(1, n_nodes + 1),
        n_zones=n_zones,
        first_thru_node=first_thru if 1 <= first_thru <= n_nodes else None,
        name=name or Path(path).name.replace("_net.tntp", ""),
        source=str(path),
    )


def read_trips(path: str | Path, *, zones: int | None = None) -> pd.DataFrame:
    """``*_trips.tntp`` -> square DataFrame ``demand[origin, destination]`` (zones ``1..Z``), trips per period.

    The sum must match ``<TOTAL OD FLOW>`` (relative 1e-6); a zone outside ``1..Z`` or a negative
    demand raises naming the line.
    """
    meta, start = read_metadata(path, TRIPS_METADATA)
    n_zones = _meta_number(path, meta, "NUMBER OF ZONES")
    total = _meta_number(path, meta, "TOTAL OD FLOW", kind=float)
    if zones is not None and zones != n_zones:
        raise TransportError(path, "zone count differs from the network's", column="<NUMBER OF ZONES>",
                             expected=str(zones), got=n_zones)
    lines = _read_lines(path)
    demand = np.zeros((n_zones, n_zones))
    origin = None
    pair = re.compile(r"(\S+)\s*:\s*([^;]+);?")
    for i in range(start, len(lines)):
        text = lines[i].strip()
        if not text or text.startswith("~"):
            continue
        if text.lower().startswith("origin"):
            parts = text.split()
            try:
                origin = int(parts[1])
            except (IndexError, ValueError):
                raise TransportError(path, "bad 'Origin' line", line=i + 1, expected="Origin <zone>", got=text) from None
            if not 1 <= origin <= n_zones:
                raise TransportError(path, "origin is not a zone", line=i + 1, expected=f"1..{n_zones}", got=origin)
            continue
        if origin is None:
            raise TransportError(path, "demand before any 'Origin' line", line=i + 1, got=text)
        for dest_s, val_s in pair.findall(text):
            try:
                dest, val = int(dest_s), float(val_s)
            except ValueError:
                raise TransportError(path, "bad 'dest : demand;' pair", line=i + 1, got=f"{dest_s}:{val_s}") from None
            if not 1 <= dest <= n_zones:
                raise TransportError(path, "destination is not a zone", line=i + 1, expected=f"1..{n_zones}", got=dest)
            if not (np.isfinite(val) and val >= 0):
                raise TransportError(path, "demand must be finite and >= 0", line=i + 1, got=val)
            demand[origin - 1, dest - 1] += val
    if abs(demand.sum() - total) > 1e-6 * max(total, 1.0):
        raise TransportError(path, "demand sum differs from metadata", column="<TOTAL OD FLOW>",
                             expected=str(total), got=float(demand.sum()))
    idx = pd.Index(range(1, n_zones + 1), name="origin")
    return pd.DataFrame(demand, index=idx, columns=pd.Index(range(1, n_zones + 1), name="destination"))


def read_nodes(path: str | Path) -> pd.DataFrame:
    """``*_node.tntp`` -> DataFrame ``node, x, y`` (coordinates for drawing)."""
    lines = _read_lines(path)
    rows = []
    for i, line in enumerate(lines):
        text = line.strip().rstrip(";").strip()
        if not text or text.startswith("~") or text.lower().startswith("node"):
            continue
        f = text.split()
        try:
            rows.append({"node": int(f[0]), "x": float(f[1]), "y": float(f[2])})
        except (IndexError, ValueError):
            raise TransportError(path, "bad node row", line=i + 1, expected="node x y ;", got=line) from None
    if not rows:
        raise TransportError(path, "no node rows", expected="node x y ; rows")
    return pd.DataFrame(rows)


def demand_matrix(net: TrafficNetwork, trips: pd.DataFrame) -> np.ndarray:
    """Zone x node demand array aligned with ``net.nodes`` (rows: zones ``1..Z`` in order)."""
    dest_pos = net.node_positions(list(trips.columns), what="destination zone")
    out = np.zeros((len(trips.index), net.n_nodes))
    out[:, dest_pos] = trips.to_numpy(dtype=float)
    return out

"""MATPOWER ``.m`` case-file parser (no MATLAB/Octave needed).

``load_matpower_case(path) -> Network`` reads ``mpc.baseMVA``, ``mpc.bus`` and ``mpc.branch`` (version 2
format) from the text. Standard MATPOWER semantics apply: ``Pd``/``Qd`` in MW/MVAr, ``r``/``x`` in per unit
on ``baseMVA`` and the bus ``baseKV``. Distribution cases such as ``case33bw.m`` store kW and ohm and convert
with trailing MATLAB statements; the two statements MATPOWER ships are recognised::

    mpc.branch(:, [BR_R BR_X]) = mpc.branch(:, [BR_R BR_X]) / (Vbase^2 / Sbase);   -> r, x are ohm
    mpc.bus(:, [PD, QD]) = mpc.bus(:, [PD, QD]) / 1e3;                              -> Pd, Qd are kW

Any other statement that modifies ``mpc.bus``/``mpc.branch`` is rejected (we would silently misread it).
Branches with status 0 are kept as out-of-service normally-open switches (``is_switch=True``), which is
what they are in the Baran-Wu 33-bus case (tie lines 33-37). ``rateA = 0`` means "no rating" (NaN).
Bus ``Vmin/Vmax`` become ``v_min_pu/v_max_pu``; the slack (type 3) bus keeps its own limits in the table
but its voltage is fixed to ``Vm`` of that bus.

Example::

    net = load_matpower_case("data/01_raw/grids/case33bw.m")
    net.base_kv, net.base_mva          # 12.66, 10.0 -> z_base = 16.027 ohm
    net.branches.loc[0, ["r_ohm", "r_pu"]]   # 0.0922 ohm, 0.005753 p.u.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from evgrid.grid.network import Network, NetworkError, make_network

_OHM_RE = re.compile(
    r"mpc\.branch\(\s*:\s*,\s*\[\s*BR_R\s*,?\s*BR_X\s*\]\s*\)\s*=\s*mpc\.branch\(\s*:\s*,\s*\[\s*BR_R\s*,?\s*BR_X\s*\]\s*\)"
    r"\s*/\s*\(\s*Vbase\s*\^\s*2\s*/\s*Sbase\s*\)"
)
_KW_RE = re.compile(
    r"mpc\.bus\(\s*:\s*,\s*\[\s*PD\s*,?\s*QD\s*\]\s*\)\s*=\s*mpc\.bus\(\s*:\s*,\s*\[\s*PD\s*,?\s*QD\s*\]\s*\)\s*/\s*1e3"
)
_VBASE_RE = re.compile(r"Vbase\s*=\s*mpc\.bus\(\s*1\s*,\s*BASE_KV\s*\)\s*\*\s*1e3")
_MODIFY_RE = re.compile(r"mpc\.(bus|branch)\s*\(")


class MatpowerFormatError(NetworkError):
    """The .m file cannot be parsed; the message names the file and the offending field/row."""


def _strip_comments(text: str) -> str:
    return "\n".join(line.split("%", 1)[0] for line in text.splitlines())


def _scalar(text: str, name: str, path: Path) -> float:
    m = re.search(rf"mpc\.{name}\s*=\s*([-+0-9.eE]+)\s*;", text)
    if not m:
        raise MatpowerFormatError(f"{path}: missing scalar 'mpc.{name} = <number>;'")
    return float(m.group(1))


def _matrix(text: str, name: str, path: Path, min_cols: int) -> np.ndarray:
    m = re.search(rf"mpc\.{name}\s*=\s*\[(.*?)\]\s*;", text, flags=re.S)
    if not m:
        raise MatpowerFormatError(f"{path}: missing matrix 'mpc.{name} = [ ... ];'")
    rows = []
    for raw in re.split(r"[;\n]", m.group(1)):
        tokens = raw.replace(",", " ").split()
        if not tokens:
            continue
        try:
            vals = [float(t) for t in tokens]
        except ValueError as exc:
            raise MatpowerFormatError(f"{path}: mpc.{name} row {len(rows) + 1}: non-numeric entry in '{raw.strip()}'") from exc
        rows.append(vals)
    if not rows:
        raise MatpowerFormatError(f"{path}: mpc.{name} is empty")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        bad = next(i for i, r in enumerate(rows) if len(r) != len(rows[0]))
        raise MatpowerFormatError(
            f"{path}: mpc.{name} row {bad + 1} has {len(rows[bad])} columns, row 1 has {len(rows[0])}"
        )
    arr = np.array(rows)
    if arr.shape[1] < min_cols:
        raise MatpowerFormatError(f"{path}: mpc.{name} has {arr.shape[1]} columns, need at least {min_cols}")
    return arr


def _unit_statements(text: str, path: Path) -> tuple[bool, bool]:
    """The statements after the data blocks: (impedances in ohm, loads in kW); any other statement that
    modifies case data, or an ohm conversion with another Vbase, raises."""
    tail = text[text.rfind("];") + 2 :]
    ohm = bool(_OHM_RE.search(tail))
    kw = bool(_KW_RE.search(tail))
    for stmt in (st.strip() for st in tail.split(";")):
        if _MODIFY_RE.match(stmt) and "=" in stmt and not (_OHM_RE.match(stmt) or _KW_RE.match(stmt)):
            raise MatpowerFormatError(f"{path}: unsupported MATLAB statement modifying case data: '{stmt}'")
    if ohm and not _VBASE_RE.search(tail):
        raise MatpowerFormatError(f"{path}: ohm conversion found but Vbase is not 'mpc.bus(1, BASE_KV) * 1e3'")
    return ohm, kw


def _check_buses(bus: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Unique bus ids, one reference bus, one base kV (> 0), no shunts. Returns (ids, slack ids, base kV)."""
    bus_ids = bus[:, 0].astype(int)
    if len(set(bus_ids)) != len(bus_ids):
        dup = sorted({b for b in bus_ids if (bus_ids == b).sum() > 1})
        raise MatpowerFormatError(f"{path}: duplicate bus ids {dup}")
    slack = bus_ids[bus[:, 1] == 3]
    if len(slack) != 1:
        raise MatpowerFormatError(f"{path}: need exactly one reference (type 3) bus, found {list(slack)}")
    base_kvs = set(bus[:, 9])
    if len(base_kvs) != 1:
        raise MatpowerFormatError(f"{path}: several base kV levels {sorted(base_kvs)}; transformers unsupported")
    base_kv = float(bus[0, 9])
    if not base_kv > 0:
        raise MatpowerFormatError(f"{path}: bus 1 has non-positive baseKV {base_kv}")
    if np.any(bus[:, 4] != 0) or np.any(bus[:, 5] != 0):
        b = bus_ids[(bus[:, 4] != 0) | (bus[:, 5] != 0)].tolist()
        raise MatpowerFormatError(f"{path}: shunts (Gs/Bs) at buses {b} are not supported")
    return bus_ids, slack, base_kv


def _check_branches(branch: np.ndarray, known: set, path: Path) -> None:
    """Every branch joins known buses, has no line charging, no tap ratio or shift, ``r > 0`` and ``x >= 0``."""
    for k, row in enumerate(branch):
        for end in (0, 1):
            if int(row[end]) not in known:
                raise MatpowerFormatError(
                    f"{path}: mpc.branch row {k + 1} ({int(row[0])}-{int(row[1])}) refers to unknown bus {int(row[end])}"
                )
        if row[4] != 0:
            raise MatpowerFormatError(f"{path}: mpc.branch row {k + 1} has line charging b={row[4]}; unsupported")
        if row[8] not in (0, 1) or row[9] != 0:
            raise MatpowerFormatError(f"{path}: mpc.branch row {k + 1} is a transformer (ratio/shift); unsupported")
        if not (row[2] > 0) or row[3] < 0:
            raise MatpowerFormatError(
                f"{path}: mpc.branch row {k + 1} ({int(row[0])}-{int(row[1])}) has non-physical impedance "
                f"r={row[2]}, x={row[3]} (need r > 0, x >= 0)"
            )


def _branch_table(branch: np.ndarray, ohm: bool, z_base_ohm: float) -> pd.DataFrame:
    """Branches with impedances in the file's unit (``r_ohm`` are also given as ``r_pu = r_ohm / Z_base``),
    rating ``RATE_A`` MVA -> kVA (NaN when 0), status 0 = an open switch."""
    imp = "ohm" if ohm else "pu"
    branches = pd.DataFrame(
        {
            "from_bus": branch[:, 0].astype(int),
            "to_bus": branch[:, 1].astype(int),
            f"r_{imp}": branch[:, 2],
            f"x_{imp}": branch[:, 3],
            "rating_kva": np.where(branch[:, 5] > 0, branch[:, 5] * 1000.0, np.nan),
            "in_service": branch[:, 10] > 0,
            "is_switch": branch[:, 10] == 0,
        }
    )
    if ohm:
        branches["r_pu"] = branches["r_ohm"] / z_base_ohm
        branches["x_pu"] = branches["x_ohm"] / z_base_ohm
    return branches


def load_matpower_case(path: str | Path, name: str | None = None) -> Network:
    """Parse a MATPOWER version-2 case file into a :class:`Network` (see module docstring)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"MATPOWER case file not found: {path}")
    text = _strip_comments(path.read_text())
    base_mva = _scalar(text, "baseMVA", path)
    bus = _matrix(text, "bus", path, 13)
    branch = _matrix(text, "branch", path, 11)
    ohm, kw = _unit_statements(text, path)
    bus_ids, slack, base_kv = _check_buses(bus, path)
    load_scale = 1.0 if kw else 1000.0  # -> kW
    slack_row = np.flatnonzero(bus[:, 1] == 3)[0]
    buses = pd.DataFrame(
        {
            "p_load_kw": bus[:, 2] * load_scale,
            "q_load_kvar": bus[:, 3] * load_scale,
            "v_min_pu": bus[:, 12],
            "v_max_pu": bus[:, 11],
        },
        index=pd.Index(bus_ids, name="bus_id"),
    )
    _check_branches(branch, set(bus_ids), path)
    branches = _branch_table(branch, ohm, base_kv**2 / base_mva)
    imp = "ohm" if ohm else "pu"
    return make_network(
        name=name or path.stem,
        base_kv=base_kv,
        base_mva=base_mva,
        buses=buses,
        branches=branches,
        slack_bus=int(slack[0]),
        v_slack_pu=float(bus[slack_row, 7]),
        source=str(path),
        meta={"impedance_units_in_file": imp, "load_units_in_file": "kW" if kw else "MW"},
    )

"""One entry point to load a user's feeder file: ``load_feeder(path, ...) -> Network``.

Formats (``fmt="auto"`` picks by path): MATPOWER ``.m`` (:mod:`evgrid.grid.matpower`), a SimBench CSV
folder (:mod:`evgrid.grid.simbench`), or a pandapower ``.json`` net (:func:`evgrid.grid.pandapower_io.
from_pandapower`). Ratings missing in the source (NaN) are filled with ``default_rating_kva``;
``rating_overrides_kva`` maps branch id -> kVA. ``require_radial`` checks the in-service configuration.

Example::

    net = load_feeder("data/01_raw/grids/case33bw.m", default_rating_kva=5000)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from evgrid.grid.network import Network, NetworkError


def load_feeder(
    path: str | Path,
    fmt: str = "auto",
    default_rating_kva: float | None = None,
    rating_overrides_kva: Mapping[int, float] | None = None,
    v_slack_pu: float | None = None,
    require_radial: bool = True,
) -> Network:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"feeder file/folder not found: {path}")
    if fmt == "auto":
        if path.is_dir():
            fmt = "simbench"
        elif path.suffix == ".m":
            fmt = "matpower"
        elif path.suffix == ".json":
            fmt = "pandapower"
        else:
            raise NetworkError(f"{path}: cannot infer the feeder format (use .m, .json or a SimBench folder)")
    if fmt == "matpower":
        from evgrid.grid.matpower import load_matpower_case

        net = load_matpower_case(path)
    elif fmt == "simbench":
        from evgrid.grid.simbench import load_simbench_csv

        net = load_simbench_csv(path)
    elif fmt == "pandapower":
        import pandapower as pp

        from evgrid.grid.pandapower_io import from_pandapower

        net = from_pandapower(pp.from_json(str(path)), name=path.stem)
    else:
        raise NetworkError(f"{path}: unknown feeder format '{fmt}' (matpower | simbench | pandapower)")
    if v_slack_pu is not None:
        net = net.copy()
        net.v_slack_pu = float(v_slack_pu)
    if default_rating_kva is not None or rating_overrides_kva:
        net = net.with_ratings(default_rating_kva, {int(k): v for k, v in (rating_overrides_kva or {}).items()})
    if require_radial:
        net.check_radial()
    return net

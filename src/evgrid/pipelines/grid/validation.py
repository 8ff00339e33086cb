"""``validate_params`` of the ``grid`` pipeline: the whole ``grid`` block, nested blocks included, checked before
any node runs (project hook, through ``evgrid.pipeline_registry``); every problem named ``grid.<block>.<key>``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields

from evgrid.optim.lindistflow import LinDistFlowOptions
from evgrid.optim.solver import SolverOptions
from evgrid.runtime.validation import Problems

GRID_KEYS = {"feeder", "lindistflow", "solver"}
FEEDER_KEYS = {"path", "format", "default_rating_kva", "rating_overrides_kva", "v_slack_pu"}
FORMATS = ("auto", "matpower", "simbench", "pandapower")
# the base case sets enforce_voltage_limits itself (off: violations are reported, not infeasible)
LINDISTFLOW_KEYS = {f.name for f in fields(LinDistFlowOptions)} - {"enforce_voltage_limits"}
SOLVER_KEYS = {f.name for f in fields(SolverOptions)}


def validate_params(params: dict) -> None:
    """Raise :class:`~evgrid.runtime.validation.ConfigError` listing every problem of ``params['grid']``."""
    p = Problems("grid")
    grid = (params or {}).get("grid")
    if not isinstance(grid, Mapping):
        p.add("", f"expected the grid parameter block (conf/base/parameters_grid.yml), got {grid!r}")
        p.raise_if_any()
    p.known_keys(grid, GRID_KEYS)
    if p.required(grid, ("feeder",)) and p.known_keys(grid["feeder"], FEEDER_KEYS, "feeder"):
        _feeder(p.sub("feeder"), grid["feeder"])
    lin = grid.get("lindistflow") or {}
    if p.known_keys(lin, LINDISTFLOW_KEYS, "lindistflow"):
        sides = lin.get("thermal_sides", LinDistFlowOptions.thermal_sides)
        if p.in_range("lindistflow.thermal_sides", sides, lo=0, integer=True) and sides and (sides < 4 or sides % 2):
            p.add("lindistflow.thermal_sides", f"must be 0 (no thermal limit) or an even number >= 4, got {sides!r}")
    solver = grid.get("solver") or {}
    if p.known_keys(solver, SOLVER_KEYS, "solver"):
        for key, lo in (("time_limit_s", 0.0), ("mip_gap", 0.0)):
            if solver.get(key) is not None:
                p.in_range(f"solver.{key}", solver[key], lo=lo, lo_open=key == "time_limit_s")
        if solver.get("threads") is not None:
            p.in_range("solver.threads", solver["threads"], lo=0, integer=True)
    p.raise_if_any()


def _feeder(p: Problems, feeder: Mapping) -> None:
    if p.required(feeder, ("path",)) and not isinstance(feeder["path"], str):
        p.add("path", f"expected a file or folder path, got {feeder['path']!r}")
    p.choice("format", feeder.get("format", "auto"), FORMATS)
    if feeder.get("default_rating_kva") is not None:
        p.in_range("default_rating_kva", feeder["default_rating_kva"], lo=0, lo_open=True, unit="kVA")
    overrides = feeder.get("rating_overrides_kva") or {}
    if not isinstance(overrides, Mapping):
        p.add("rating_overrides_kva", f"expected a mapping branch id -> kVA, got {overrides!r}")
    else:
        for branch, kva in overrides.items():
            p.in_range(f"rating_overrides_kva.{branch}", kva, lo=0, lo_open=True, unit="kVA")
    if feeder.get("v_slack_pu") is not None:
        p.in_range("v_slack_pu", feeder["v_slack_pu"], lo=0.8, hi=1.2, unit="p.u.")

"""Thin nodes: read the TNTP files named in the parameters, run UE, return link flows and the gap log."""

from __future__ import annotations

import logging

import pandas as pd

from evgrid.runtime.validation import Problems
from evgrid.transport.assignment import ALGORITHMS, single_class_ue
from evgrid.transport.tntp import read_net, read_trips

log = logging.getLogger(__name__)

KNOWN = {"net_path", "trips_path", "time_unit_h", "length_unit_km", "algorithm", "rel_gap", "max_iter"}


def validate_params(params: dict) -> None:
    """The whole ``traffic_assignment`` block before any node runs (project hook): one ConfigError, every
    problem named ``traffic_assignment.<key>``."""
    block = (params or {}).get("traffic_assignment")
    p = Problems("traffic_assignment")
    if p.known_keys(block, KNOWN) and p.required(block or {}, ("net_path", "trips_path")):
        for key in ("time_unit_h", "length_unit_km", "rel_gap"):
            if key in block:
                p.in_range(key, block[key], lo=0, lo_open=True)
        if "max_iter" in block:
            p.in_range("max_iter", block["max_iter"], lo=1, integer=True)
        p.choice("algorithm", block.get("algorithm", "bfw"), ALGORITHMS)
    p.raise_if_any()


def run_traffic_assignment(params: dict) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """``ue_link_flows`` (init_node, term_node, flow, cost), per-iteration history, summary (final gap)."""
    unknown = set(params) - KNOWN
    if unknown:
        raise ValueError(f"unknown parameters {sorted('traffic_assignment.' + k for k in unknown)}; known: {sorted(KNOWN)}")
    net = read_net(params["net_path"], time_unit_h=params.get("time_unit_h", 0.01),
                   length_unit_km=params.get("length_unit_km", 1.0))
    trips = read_trips(params["trips_path"], zones=net.n_zones or None)
    result, table = single_class_ue(net, trips, algorithm=params.get("algorithm", "bfw"),
                                    rel_gap=float(params.get("rel_gap", 1e-5)), max_iter=int(params.get("max_iter", 5000)))
    summary = {"network": net.name, "algorithm": params.get("algorithm", "bfw"), "relative_gap": result.relative_gap,
               "converged": result.converged, "iterations": result.iterations, "beckmann": result.beckmann,
               "total_travel_time_veh_h": float((table["flow"] * table["cost"]).sum()),
               "wall_s": float(result.history["time_s"].iloc[-1])}
    log.info("UE %s: gap %.2e after %d iterations (%.2f s)", net.name, result.relative_gap, result.iterations,
             summary["wall_s"])
    return table, result.history, summary


def ue_metrics(summary: dict) -> dict:
    keys = ["relative_gap", "iterations", "beckmann", "total_travel_time_veh_h", "wall_s"]
    return {f"ue_{k}": {"value": float(summary[k]), "step": 0} for k in keys}

"""In-motion (DWPT) EV charging load from highway traffic counts (paper 002, Sec. II-A).

Every traffic step carries ``flow_veh_per_h * step_h`` vehicles; each is an EV with probability
``ev_share`` (binomial draw). An EV enters the DWPT road at a uniform time within its step, drives
the road at a uniform speed in ``[speed_min, speed_max]`` mph, starts with a uniform SOC in
``[soc_min, soc_max]`` and draws ``pad_power_kw`` (grid side) while on the road and below
``soc_target``. The battery gains ``pad_power_kw * transfer_efficiency``. Each EV's charging
interval is integrated exactly over the output time bins, fully vectorised over all EVs of the day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class InMotionParams:
    """Parameters of the DWPT road and the EV fleet (paper 002 II-A defaults)."""

    ev_share: float = 0.10
    speed_min_mph: float = 50.0
    speed_max_mph: float = 60.0
    soc_min: float = 0.30
    soc_max: float = 0.60
    soc_target: float = 0.80
    battery_kwh: float = 40.0
    road_length_miles: float = 10.0
    pad_power_kw: float = 25.0
    transfer_efficiency: float = 1.0

    def __post_init__(self) -> None:
        checks = {
            "ev_share must lie in [0, 1]": 0.0 <= self.ev_share <= 1.0,
            "speed_min_mph must be > 0 and <= speed_max_mph": 0 < self.speed_min_mph <= self.speed_max_mph,
            "soc_min <= soc_max <= 1 and soc_min >= 0": 0 <= self.soc_min <= self.soc_max <= 1,
            "soc_target must lie in (0, 1]": 0 < self.soc_target <= 1,
            "battery_kwh must be > 0": self.battery_kwh > 0,
            "road_length_miles must be > 0": self.road_length_miles > 0,
            "pad_power_kw must be > 0": self.pad_power_kw > 0,
            "transfer_efficiency must lie in (0, 1]": 0 < self.transfer_efficiency <= 1,
        }
        bad = [msg for msg, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"InMotionParams invalid: {'; '.join(bad)} (got {self})")


def simulate_ev_fleet(flow_veh_per_h: np.ndarray, params: InMotionParams, seed: int) -> pd.DataFrame:
    """Draw the EVs of one day and their charging intervals.

    ``flow_veh_per_h`` holds the traffic flow of each of ``n`` equal steps covering 24 h. Returns one
    row per EV: ``entry_h, speed_mph, soc_initial, charge_start_h, charge_end_h, energy_kwh`` (grid side).
    """
    flow = np.asarray(flow_veh_per_h, dtype=float)
    if flow.ndim != 1 or flow.size == 0:
        raise ValueError(f"flow_veh_per_h must be a non-empty 1-D array, got shape {flow.shape}")
    if not np.all(np.isfinite(flow)) or np.any(flow < 0):
        bad = np.flatnonzero(~np.isfinite(flow) | (flow < 0))
        raise ValueError(f"flow_veh_per_h must be finite and >= 0; bad steps: {bad.tolist()[:10]}")
    n_steps = flow.size
    step_h = 24.0 / n_steps
    rng = np.random.default_rng(seed)
    vehicles = np.rint(flow * step_h).astype(np.int64)
    n_ev = rng.binomial(vehicles, params.ev_share)
    step_of_ev = np.repeat(np.arange(n_steps), n_ev)
    total = int(n_ev.sum())
    entry_h = (step_of_ev + rng.random(total)) * step_h
    speed = rng.uniform(params.speed_min_mph, params.speed_max_mph, total)
    soc0 = rng.uniform(params.soc_min, params.soc_max, total)
    on_road_h = params.road_length_miles / speed
    need_kwh = np.clip(params.soc_target - soc0, 0.0, None) * params.battery_kwh
    to_target_h = need_kwh / (params.pad_power_kw * params.transfer_efficiency)
    duration_h = np.minimum(on_road_h, to_target_h)
    return pd.DataFrame(
        {
            "entry_h": entry_h,
            "speed_mph": speed,
            "soc_initial": soc0,
            "charge_start_h": entry_h,
            "charge_end_h": entry_h + duration_h,
            "energy_kwh": duration_h * params.pad_power_kw,
        }
    )


def interval_load_kw(start_h: np.ndarray, end_h: np.ndarray, power_kw: float, n_bins: int,
                     horizon_h: float = 24.0) -> np.ndarray:
    """Average power (kW) per bin of ``horizon_h / n_bins`` hours drawn by constant-power intervals.

    Intervals running past the horizon are truncated (that energy belongs to the next day); the
    overlap of every interval with every bin is computed exactly.
    """
    width = horizon_h / n_bins
    edges = np.arange(n_bins + 1) * width
    s = np.asarray(start_h)[:, None]
    e = np.asarray(end_h)[:, None]
    overlap = np.clip(np.minimum(e, edges[1:]) - np.maximum(s, edges[:-1]), 0.0, None)
    return overlap.sum(axis=0) * power_kw / width


def inmotion_load_profile(flow_veh_per_h: np.ndarray, params: InMotionParams, seed: int,
                          n_bins: int = 24) -> tuple[np.ndarray, pd.DataFrame]:
    """Hourly (``n_bins`` per day) DWPT grid load in kW and the simulated fleet (paper 002 II-A)."""
    fleet = simulate_ev_fleet(flow_veh_per_h, params, seed)
    load = interval_load_kw(fleet["charge_start_h"].to_numpy(), fleet["charge_end_h"].to_numpy(),
                            params.pad_power_kw, n_bins)
    return load, fleet


def inmotion_load_from_scenarios(scenarios: pd.DataFrame, params: InMotionParams, seed: int,
                                 n_bins: int = 24) -> pd.DataFrame:
    """DWPT load of every traffic scenario (e.g. the GAN's ``traffic.scenarios``, long format
    ``scenario_id, step, variable, value``): one row per scenario and bin, ``scenario_id, step, ev_kw``.

    Each scenario gets its own child seed of ``seed`` (``numpy.random.SeedSequence.spawn``), so the
    result does not depend on which other scenarios are in the table.
    """
    need = {"scenario_id", "step", "variable", "value"}
    missing = sorted(need - set(scenarios.columns))
    if missing:
        raise ValueError(f"traffic scenarios lack columns {missing} (expected long format {sorted(need)})")
    flow = scenarios[scenarios["variable"] == "flow_veh_per_h"]
    if flow.empty:
        raise ValueError("traffic scenarios have no rows with variable 'flow_veh_per_h'")
    wide = flow.pivot(index="scenario_id", columns="step", values="value").sort_index(axis=1)
    if wide.isna().any().any():
        bad = wide.index[wide.isna().any(axis=1)].tolist()
        raise ValueError(f"traffic scenarios {bad[:10]} miss steps (each needs steps 0..{wide.shape[1] - 1})")
    children = np.random.SeedSequence(seed).spawn(int(wide.index.max()) + 1)
    rows = []
    for sid, values in wide.iterrows():
        load, _ = inmotion_load_profile(np.clip(values.to_numpy(float), 0.0, None), params,
                                        int(children[int(sid)].generate_state(1)[0]), n_bins)
        rows.append(pd.DataFrame({"scenario_id": sid, "step": np.arange(n_bins), "ev_kw": load}))
    return pd.concat(rows, ignore_index=True)

"""Reconciliation of the dro operating figures with paper 000's (issue 28 item 3; docs/dro.md).

One table row per figure, each recomputed by hand from the inputs that drive it, plus a sensitivity over
the parameter that bounds it: voltage deviation (feeder loading vs the voltage band), peak losses (feeder
loading and lane placement: AC power flow of the 33-bus case), lane utilisation at the peak (EVs present on
the lane: traffic data x EV share x per-EV rate) and the renewable share (PV and wind energy available vs
consumption; wind from the 2 m NSRDB speed under each hub-height extrapolation).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from evgrid.grid.ac_validation import validate_schedule_ac
from evgrid.optim.lindistflow import loads_from_profile
from evgrid.studies.dro.config import DroConfig
from evgrid.studies.dro.system import DroSystem, lane_traffic, wind_availability_pu


def ac_case(sysm: DroSystem, factor: float, lane_kw: np.ndarray | None, lane_buses=None) -> dict:
    """AC power flow (pandapower) of the case's loads x ``factor`` plus ``lane_kw`` per lane (no local
    generation, lanes at unity power factor): losses (kW) and the voltage range (p.u.)."""
    p, q = loads_from_profile(sysm.network, np.array([float(factor)]))
    if lane_kw is not None:
        buses = lane_buses if lane_buses is not None else list(sysm.lanes.table["bus"])
        for b, kw in zip(buses, lane_kw, strict=True):
            p[int(b)] = p[int(b)] + float(kw)
    s = validate_schedule_ac(sysm.network, p, q).steps.iloc[0]
    return {"loss_kw": float(s["loss_kw"]), "v_min_pu": float(s["v_min_pu"]), "v_max_pu": float(s["v_max_pu"])}


def wind_variants(speed_2m: np.ndarray, cfg: DroConfig) -> pd.DataFrame:
    """Mean wind availability (capacity factor) and mean hub-height speed of the training days under the
    paper's band and under the turbine curve with each documented hub-height extrapolation."""
    w0 = cfg.renewables.wind
    rows = []
    for name, kw in (("paper band 40-80 % (paper 000 section 5)", {"model": "paper_band"}),
                     ("power law 1/7 (Peterson & Hennessey 1978)", {"model": "power_curve", "shear_model": "power",
                                                                  "shear_exponent": 1 / 7}),
                     ("power law 0.2 (IEC 61400-1 NWP)", {"model": "power_curve", "shear_model": "power",
                                                         "shear_exponent": 0.2}),
                     ("log law z0 = 0.10 m (WMO farmland)", {"model": "power_curve", "shear_model": "log",
                                                            "roughness_length_m": 0.1}),
                     ("log law z0 = 0.25 m (WMO rough)", {"model": "power_curve", "shear_model": "log",
                                                         "roughness_length_m": 0.25})):
        w = replace(w0, **kw)
        a = wind_availability_pu(speed_2m, w)
        hub = (speed_2m * (w.hub_height_m / w.ref_height_m) ** w.shear_exponent if w.shear_model == "power"
               else speed_2m * np.log(w.hub_height_m / w.roughness_length_m) / np.log(w.ref_height_m / w.roughness_length_m))
        rows.append({"wind_model": name, "mean_hub_speed_m_per_s": float(hub.mean()) if kw["model"] != "paper_band"
                     else np.nan, "capacity_factor": float(a.mean())})
    return pd.DataFrame(rows)


def reconcile(sysm: DroSystem, train_channels: dict, cfg: DroConfig) -> dict:
    """The reconciliation numbers (docs/dro.md table) from the training days' raw 96-step channels."""
    traffic = lane_traffic(train_channels["flow_veh_per_h"], sysm, cfg)
    demand = np.asarray(traffic["demand_kw"], float)      # (S, L, T) at the model steps
    mean_demand = demand.mean(axis=0)                       # (L, T)
    t_peak = int(mean_demand.sum(axis=0).argmax())
    lane_at_peak = mean_demand[:, t_peak]
    rating = sysm.lanes.rating_kw
    flow = np.asarray(traffic["lane_flow_veh_per_h"], float)
    flow_peak = flow.mean(axis=0)[:, t_peak]
    ev = cfg.ev
    # utilisation 0.95 needs share * F * L / v * rate = 0.95 * rating (below the congestion knee)
    lengths = sysm.lanes.table["length_km"].to_numpy(float)
    speed = sysm.lanes.table["speed_km_per_h"].to_numpy(float)
    f95 = 0.95 * rating / (ev.ev_share * lengths / speed * ev.max_rate_per_ev_kw)
    prof = sysm.load_profile
    ac = {"no lanes, peak-traffic step": ac_case(sysm, prof[t_peak], None),
          "lanes at their buses, peak-traffic step": ac_case(sysm, prof[t_peak], lane_at_peak),
          "lanes all at bus 2 (next to the substation)": ac_case(sysm, prof[t_peak], lane_at_peak,
                                                                  [2] * len(lane_at_peak)),
          "no lanes, case peak load (factor 1)": ac_case(sysm, 1.0, None)}
    speed_2m = np.asarray(train_channels["wind_speed_m_per_s"], float)
    wind = wind_variants(speed_2m, cfg)
    ren = sysm.renewables
    pv_kw = float(ren.loc[ren["kind"] == "pv", "p_max_kw"].sum())
    wind_kw = float(ren.loc[ren["kind"] == "wind", "p_max_kw"].sum())
    pv_cf = float(np.clip(train_channels["pv_kw_per_kwp"], 0, None).mean())
    p_load, _ = loads_from_profile(sysm.network, prof)
    load_kwh = float(p_load.to_numpy().sum() * sysm.step_h)
    lane_kwh = float(demand.sum(axis=(1, 2)).mean() * sysm.step_h)
    share = {r["wind_model"]: (pv_kw * pv_cf + wind_kw * r["capacity_factor"]) * 24.0 / (load_kwh + lane_kwh)
             for _, r in wind.iterrows()}
    return {"peak_step": t_peak, "peak_hour": t_peak * sysm.step_h, "load_factor_at_peak": float(prof[t_peak]),
            "lane_demand_at_peak_kw": lane_at_peak.tolist(), "lane_flow_at_peak_veh_per_h": flow_peak.tolist(),
            "utilisation_at_peak_demand_bound": float(lane_at_peak.sum() / rating.sum()),
            "flow_for_095_veh_per_h": f95.tolist(), "ac": ac, "wind": wind, "pv_capacity_factor": pv_cf,
            "pv_kw": pv_kw, "wind_kw": wind_kw, "load_kwh_per_day": load_kwh, "lane_kwh_per_day": lane_kwh,
            "renewable_share_upper_bound": share}


__all__ = ["ac_case", "reconcile", "wind_variants"]

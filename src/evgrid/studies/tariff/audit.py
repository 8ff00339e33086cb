"""Audits of the tariff study: a tariff recomputed by finite differences, the sensitivity to the unit time cost
``w``, and the violation risk vs Gamma curve on real days (Gamma picked on training days only).

``hand_check(system, paths)``: the tariff at one station-hour is a dual, i.e. ``-dC*/d(capacity)``; re-solve
the deterministic DSO with ``dkw`` more and ``dkw`` less line capacity at that hour (the station bus's net load
moved by -/+ ``dkw``) and compare ``(C(-dkw) - C(+dkw)) / (2 dkw dt)`` with the dual, split into its
travel-time and charging parts. ``w_sensitivity(system, paths)``: F2 / F3 tariffs and the cost ratio per ``w``
for the paper's 10 % box and the data box. ``gamma_curve(system, sweep)``: each DSO plan of the Gamma sweep on
real training and held-out days (paired with the deterministic plan, Wilson / normal 95 % CIs).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy import stats

from evgrid.studies.tariff import model as M
from evgrid.studies.tariff.evaluate import evaluate_plan, heldout_days, real_day_net_load, wilson
from evgrid.studies.tariff.system import TariffSystem

PAPER_HOURS = list(range(10, 20))


def hand_check(system: TariffSystem, paths, station: str = "F3", hour: int = 12, dkw: float = 5.0) -> dict:
    """Recompute the deterministic tariff at (station, hour) as ``-dC*/d(line capacity)`` by central finite
    differences of the DSO optimum (two extra solves of the compiled QP) and split it into its travel-time
    (``w x d vehicle-hours``) and charging-cost parts; the dual-based tariff sits beside it."""
    from evgrid.optim.lindistflow import set_loads

    dso = M.DsoModel(system, paths, "box")
    base = dso.solve(0.0, details=False)
    tariff = base.tariffs.set_index(["station", "step"]).loc[(station, hour)]
    p0, _q = system.net_load(0.0)
    probe = p0.copy()
    probe.loc[hour, system.station_bus[station]] -= dkw  # dkw of line capacity freed at that hour
    set_loads(dso.h, probe)
    dso.pp.add_direction("probe")
    set_loads(dso.h, p0)
    out = {}
    for sign in (1.0, -1.0):
        dso.pp.solve({"probe": sign}, duals=False)
        out[sign] = {"total": float(M.pyo.value(dso.m.obj)), "travel": float(M.pyo.value(dso.m.travel_cost)),
                     "charging": float(M.pyo.value(dso.m.charging_cost)),
                     "vehicle_hours": float(M.pyo.value(dso.m.ev.vehicle_hours))}
    dt = system.cfg.dt_h
    den = 2.0 * dkw * dt
    fd = {k: (out[-1.0][k] - out[1.0][k]) / den for k in out[1.0]}
    return {"station": station, "hour": hour, "dkw": dkw,
            "tariff_from_duals_usd_per_kwh": float(tariff["tariff_usd_per_kwh"]),
            "line_dual_usd_per_kwh": float(tariff["line_dual_usd_per_kwh"]),
            "finite_difference_usd_per_kwh": fd["total"],
            "travel_time_part_usd_per_kwh": fd["travel"], "charging_part_usd_per_kwh": fd["charging"],
            "vehicle_hours_saved_per_kwh": fd["vehicle_hours"],
            "w_usd_per_veh_h": system.cfg.travel_cost_usd_per_veh_h,
            "energy_price_usd_per_kwh": float(system.price_usd_per_kwh[hour]),
            "station_kw": float(base.station_kw.at[hour, station])}


def _variant(system: TariffSystem, w: float, xi_source: str, pct: float) -> TariffSystem:
    u = dataclasses.replace(system.cfg.uncertainty, xi_source=xi_source, perturbation_pct=pct)
    cfg = dataclasses.replace(system.cfg, travel_cost_usd_per_veh_h=float(w), uncertainty=u)
    return dataclasses.replace(system, cfg=cfg, info=dict(system.info))


def w_sensitivity(system: TariffSystem, paths) -> pd.DataFrame:
    """Per unit time cost ``w`` (``w_sensitivity_usd_per_veh_h``) and box (paper: 10 % of the forecast; data:
    the forecast-error box at ``uncertainty.coverage``): max F2 / F3 tariff 10-19 h deterministic / robust
    (Gamma = 1), total cost, its travel-time share, the robust premium and ratio, tariff payments."""
    rows = []
    boxes = [("paper 10 %", "percent", 10.0)]
    if system.train_days is not None and len(system.train_days):
        boxes.append(("data box", "data", 100.0))
    for w in system.cfg.w_sensitivity_usd_per_veh_h:
        for label, src, pct in boxes:
            sysv = _variant(system, w, src, pct)
            dso = M.DsoModel(sysv, paths, "box")
            res = {g: dso.solve(g, pct, details=False) for g in (0.0, 1.0)}
            row = {"w_usd_per_veh_h": float(w), "box": label}
            for g, case in ((0.0, "det"), (1.0, "rob")):
                r = res[g]
                tm = M.tariff_matrix(r.tariffs)
                for st in ("F2", "F3"):
                    row[f"{st}_max_10_19h_{case}_usd_per_kwh"] = float(tm.loc[PAPER_HOURS, st].max()) \
                        if st in tm.columns else np.nan
                row[f"total_cost_{case}_usd"] = r.objective_usd
                row[f"travel_share_{case}"] = r.travel_time_cost_usd / r.objective_usd
                row[f"tariff_payments_{case}_usd"] = float((tm * r.station_kw[tm.columns]).to_numpy().sum()
                                                           * system.cfg.dt_h)
            row["robust_premium_usd"] = row["total_cost_rob_usd"] - row["total_cost_det_usd"]
            row["cost_ratio"] = row["total_cost_rob_usd"] / row["total_cost_det_usd"]
            rows.append(row)
    return pd.DataFrame(rows)


def gamma_curve(system: TariffSystem, sweep: dict) -> tuple[pd.DataFrame, float]:
    """Violation risk and cost of each DSO plan of the Gamma sweep (configured box size) on real days.

    ``train_days`` (the days that shaped the box) pick the tuned Gamma: the smallest Gamma whose training
    violation rate is <= ``out_of_sample.target_violation_risk`` (the largest swept Gamma if none is);
    ``heldout_days`` only evaluate. Cost per day = the plan's EV cost + shed kWh x curtailment cost; the
    difference to the deterministic plan (Gamma = 0) is paired on the same days (normal 95 % CI).
    """
    oos = system.cfg.out_of_sample
    pct = float(system.cfg.uncertainty.perturbation_pct)
    z = stats.norm.ppf(0.5 + oos.ci_level / 2.0)
    splits = {"heldout_days": heldout_days(system)}
    if system.train_days is not None and len(system.train_days):
        splits = {"train_days": system.train_days} | splits
    points = sorted(g for (p, g) in sweep if p == pct)
    rows = []
    for split, days in splits.items():
        net = real_day_net_load(system, days)
        costs = {}
        for g in points:
            c = sweep[(pct, g)]
            ev = evaluate_plan(system, c.station_kw, net)
            viol = ev["line_violation"] | ev["voltage_violation"]
            costs[g] = c.travel_time_cost_usd + c.charging_cost_usd + oos.curtailment_cost_usd_per_kwh * ev["shed_kwh"]
            n = len(viol)
            lo, hi = wilson(float(viol.sum()), n, oos.ci_level)
            diff = costs[g] - costs[points[0]]
            rows.append({"split": split, "gamma": g, "n_days": n, "p_violation": float(viol.mean()),
                         "p_violation_ci_lo": lo, "p_violation_ci_hi": hi,
                         "p_line_violation": float(ev["line_violation"].mean()),
                         "expected_shed_kwh": float(ev["shed_kwh"].mean()),
                         "planned_cost_usd": c.objective_usd, "expected_cost_usd": float(costs[g].mean()),
                         "cost_minus_deterministic_usd": float(diff.mean()),
                         "cost_minus_deterministic_ci_half_usd": float(z * diff.std(ddof=1) / np.sqrt(n)) if n > 1
                         else np.nan})
    curve = pd.DataFrame(rows)
    tr = curve[curve["split"] == ("train_days" if "train_days" in splits else "heldout_days")]
    ok = tr[tr["p_violation"] <= oos.target_violation_risk]
    tuned = float(ok["gamma"].min()) if len(ok) else float(tr["gamma"].max())
    curve["tuned"] = curve["gamma"] == tuned
    return curve, tuned


def audits(system: TariffSystem) -> dict:
    """The audits that go into ``shape_checks.json``: hand check (F3 at 12 h) and the ``w`` sensitivity."""
    paths = M.paths_for(system)
    return {"hand_check": hand_check(system, paths),
            "w_sensitivity": w_sensitivity(system, paths).to_dict(orient="records")}

"""Thin Kedro nodes of the ``dro`` pipeline (logic in evgrid.optim.{robust,dro_model,dro_data}, evgrid.ev.lanes).

Flow: real days + GAN scenarios -> model-step arrays -> nominal atoms (k-medoids of real training days)
and GAN support atoms -> radius by cross-validation -> first stages of every method (deterministic, SAA,
DRO at each radius, DRO at the chosen radius) -> out-of-sample recourse on held-out real days and fresh
GAN samples -> schedules, worst-case weights, cost breakdown, AC check, KPIs vs the paper, plots.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pyomo.environ as pyo
from plotly.subplots import make_subplots

from evgrid.der.wind import hub_height_speed, wind_power_pu
from evgrid.ev.lanes import (
    annualised_cost_per_day,
    driver_savings_usd_per_km,
    lane_demand_kw,
    lanes_from_params,
)
from evgrid.grid.ac_validation import validate_schedule_ac
from evgrid.grid.matpower import load_matpower_case
from evgrid.optim import dro_data as dd
from evgrid.optim.dro_model import (
    DroSystem,
    FirstStage,
    RecourseEvaluator,
    ScenarioData,
    build_system,
    build_two_stage,
    drop_nonbinding_ratings,
    radius_sweep,
)
from evgrid.optim.robust import (
    WassersteinBall,
    check_radius,
    cvar,
    distance_matrix,
    reduce_scenarios,
    select_radius_cv,
    standardise_features,
    worst_case_distribution,
)
from evgrid.scenarios.pv import PVSystem, pv_kw_per_kwp

log = logging.getLogger(__name__)

# paper 000 figures (abstract, sections 5-6) for the KPI table
PAPER_KPIS = {
    "voltage_deviation_pu": 0.02,
    "peak_losses_kw": 800.0,
    "lane_utilisation_at_peak": 0.95,
    "driver_savings_usd_per_km": 0.08,
    "renewable_share": 0.60,
}


# ------------------------------------------------------------------------------------------------ helpers


def _radius_setting(robust: dict) -> float | str:
    r = robust.get("radius", "auto")
    if isinstance(r, str):
        if r.strip().lower() != "auto":
            raise ValueError(f"parameter 'dro.robust.radius' must be 'auto' or a number >= 0, got {r!r}")
        return "auto"
    return check_radius(r, "dro.robust.radius")


def _validate_params(dro: dict) -> None:
    robust = dro["robust"]
    _radius_setting(robust)
    for r in robust["radii"]:
        check_radius(r, "dro.robust.radii")
    if float(robust["worst_case_weight"]) < 0:
        raise ValueError(f"parameter 'dro.robust.worst_case_weight' must be >= 0, got {robust['worst_case_weight']}")
    sc = dro["scenarios"]
    for key in ("n_nominal", "n_gan_atoms", "n_real_days"):
        if int(sc[key]) < 1:
            raise ValueError(f"parameter 'dro.scenarios.{key}' must be >= 1, got {sc[key]}")


def make_system(dro: dict, load_profile: np.ndarray, step_minutes: int) -> DroSystem:
    """Feeder + lanes + fleet from parameters; thermal limits that can never bind are dropped (exact)."""
    npar = dro["network"]
    path = Path(npar["case_path"])
    if not path.exists():
        raise FileNotFoundError(f"parameter 'dro.network.case_path': feeder file {path} does not exist")
    net = load_matpower_case(path).with_ratings(default_kva=float(npar["default_rating_kva"]))
    # the feeder's own limits become the model's, so the AC check tests the same 0.95-1.05 p.u. band
    net.buses["v_min_pu"] = float(npar["v_min_pu"])
    net.buses["v_max_pu"] = float(npar["v_max_pu"])
    lanes = lanes_from_params(dro["lanes"], known_buses=net.bus_ids)
    cost = dro["costs"]
    total_km = float(lanes.length_km.sum())
    capex = float(cost["installation_usd_per_km"]) * total_km
    fixed = annualised_cost_per_day(capex, float(cost["discount_rate"]), int(cost["lifetime_years"]))
    maint = float(cost["maintenance_weight"]) * float(cost["maintenance_fraction_per_year"]) * capex / 365.0
    step_h = step_minutes * int(dro["aggregate_steps"]) / 60.0
    sysm = build_system(dro, net, lanes, load_profile, step_h, fixed, maint)
    # bound on |net injection| per bus for the redundancy test of the thermal limits
    p_load, q_load = sysm.bus_load_kw()
    pb = p_load.max().copy()
    for bus, r in lanes.table.groupby("bus")["rating_kw"].sum().items():
        pb[bus] += r
    gen = pd.concat([sysm.conventional[["bus", "p_max_kw"]], sysm.renewables[["bus", "p_max_kw"]]])
    gen = gen.groupby("bus")["p_max_kw"].sum().reindex(pb.index).fillna(0.0)
    sysm.network, _ = drop_nonbinding_ratings(sysm.network, np.maximum(pb, gen), q_load.max(),
                                              int(npar["thermal_sides"]))
    return sysm


def to_model_data(raw: dd.RawScenarios, sysm: DroSystem, dro: dict) -> ScenarioData:
    """Raw 96-step channels -> model-step lane demand, PV / wind availability and price ($/kWh)."""
    k = int(dro["aggregate_steps"])
    ev = dro["ev"]
    flow = dd.aggregate_steps(raw.channels["flow_veh_per_h"], k)
    demand = lane_demand_kw(flow, sysm.lanes, float(ev["ev_share"]), float(ev["max_rate_per_ev_kw"]),
                            float(ev["capacity_veh_per_h"]), float(ev["congestion_rho_free"]),
                            float(ev["congestion_rho_max"]))["demand_kw"]
    w = dro["renewables"]["wind"]
    v_hub = hub_height_speed(raw.channels["wind_speed_m_per_s"], float(w["ref_height_m"]), float(w["hub_height_m"]),
                             float(w["shear_exponent"]))
    wind = dd.aggregate_steps(wind_power_pu(v_hub, float(w["cut_in_m_per_s"]), float(w["rated_m_per_s"]),
                                            float(w["cut_out_m_per_s"])), k)
    pv = dd.aggregate_steps(np.clip(raw.channels["pv_kw_per_kwp"], 0.0, None), k)
    carbon = float(dro.get("carbon_price_usd_per_t", 0.0)) * float(dro["grid_co2_kg_per_kwh"]) / 1000.0
    price = dd.aggregate_steps(raw.channels["lbmp_usd_per_mwh"], k) / 1000.0 + carbon
    return ScenarioData(demand, pv, wind, price)


def _feature_blocks(data: ScenarioData) -> dict[str, np.ndarray]:
    """Channels of the ground metric: total lane demand, PV, wind, price (each standardised later)."""
    return {"lane_demand_kw": data.lane_demand_kw.sum(axis=1), "pv_pu": data.pv_pu, "wind_pu": data.wind_pu,
            "price_usd_per_kwh": data.price_usd_per_kwh}


# ------------------------------------------------------------------------------------------------- nodes


def prepare_scenarios(traffic_daily: pd.DataFrame, weather_daily: pd.DataFrame, price_daily: pd.DataFrame,
                      load_daily: pd.DataFrame, traffic_scenarios: pd.DataFrame, pv_scenarios: pd.DataFrame,
                      price_scenarios: pd.DataFrame, dro: dict, pv_system: dict, step_minutes: int
                      ) -> tuple[dict, dict]:
    """Real days (train / held-out) and GAN scenarios (support / fresh test) at the model's steps."""
    _validate_params(dro)
    seed = int(dro["seed"])
    dt_par = dro["day_type"]
    months = [int(m) for m in dt_par["months"]]
    weekend = dt_par.get("weekend")
    n_steps = 24 * 60 // int(step_minutes)
    system = PVSystem(**pv_system)

    def pv_fn(ghi, temp, dates):
        return pv_kw_per_kwp(ghi, temp, dates, system)

    pools = dd.real_day_pools(traffic_daily, weather_daily, price_daily, months, weekend, pv_fn)
    sc = dro["scenarios"]
    real_train, real_test, info = dd.draw_real_days(pools, int(sc["n_real_days"]), float(sc["real_test_fraction"]),
                                                    seed)
    gan, gan_info = dd.gan_scenarios({"traffic": traffic_scenarios, "pv": pv_scenarios, "price": price_scenarios},
                                     months, weekend, n_steps)
    gan = dd.fill_wind(gan, pools["weather"]["wind_speed_m_per_s"], seed + 1)
    perm = np.random.default_rng(seed + 2).permutation(gan.n)
    n_sup = min(int(sc["max_gan_support"]), max(1, int(round(float(sc["gan_support_fraction"]) * gan.n))))
    n_test = min(int(sc["max_gan_test"]), gan.n - n_sup)
    if n_test < 1:
        raise dd.ScenarioInputError(f"only {gan.n} GAN scenarios of the day type: need more than {n_sup} "
                                    "(support) to keep fresh ones for the out-of-sample test")
    gan_support, gan_test = gan.subset(np.sort(perm[:n_sup])), gan.subset(np.sort(perm[n_sup:n_sup + n_test]))
    k = int(dro["aggregate_steps"])
    profile = dd.load_profile(load_daily, months, weekend, k)
    sets = {"real_train": real_train, "real_test": real_test, "gan_support": gan_support, "gan_test": gan_test,
            "load_profile": profile}
    report = {**info, **gan_info, "real_train_days": real_train.n, "real_test_days": real_test.n,
              "gan_support": gan_support.n, "gan_test": gan_test.n, "model_steps": n_steps // k,
              "step_h": step_minutes * k / 60.0}
    log.info("dro scenarios: %s", report)
    return sets, report


def build_atoms(sets: dict, dro: dict, step_minutes: int) -> tuple[dict, pd.DataFrame]:
    """Nominal atoms = k-medoids of the real training days; extra support = k-medoids of the GAN set."""
    seed = int(dro["seed"])
    sysm = make_system(dro, sets["load_profile"], step_minutes)
    sc = dro["scenarios"]
    train = to_model_data(sets["real_train"], sysm, dro)
    gan = to_model_data(sets["gan_support"], sysm, dro)
    blocks = _feature_blocks(train)
    feats_train, scales = standardise_features(blocks)
    feats_gan, _ = standardise_features(_feature_blocks(gan), reference=blocks)
    red_nom = reduce_scenarios(feats_train, int(sc["n_nominal"]), seed)
    red_gan = reduce_scenarios(feats_gan, int(sc["n_gan_atoms"]), seed + 1)
    support_feats = np.vstack([feats_train[red_nom.medoids], feats_gan[red_gan.medoids]])
    dist = distance_matrix(feats_train[red_nom.medoids], support_feats)
    data = train.subset(red_nom.medoids).concat(gan.subset(red_gan.medoids))
    table = pd.DataFrame({
        "atom": np.arange(data.n_scenarios),
        "source": ["real"] * len(red_nom.medoids) + ["gan"] * len(red_gan.medoids),
        "nominal_probability": np.concatenate([red_nom.probabilities, np.zeros(len(red_gan.medoids))]),
        "cluster_mass": np.concatenate([red_nom.probabilities, red_gan.probabilities]),
        "label": [sets["real_train"].labels[i] for i in red_nom.medoids]
        + [sets["gan_support"].labels[i] for i in red_gan.medoids],
        "distance_to_nearest_nominal": dist.min(axis=0),
    })
    ev = dro["ev"]
    flow_nom = dd.aggregate_steps(sets["real_train"].channels["flow_veh_per_h"][red_nom.medoids],
                                  int(dro["aggregate_steps"]))
    evs_on_lane = lane_demand_kw(flow_nom, sysm.lanes, float(ev["ev_share"]), float(ev["max_rate_per_ev_kw"]),
                                 float(ev["capacity_veh_per_h"]), float(ev["congestion_rho_free"]),
                                 float(ev["congestion_rho_max"]))
    atoms = {"system": sysm, "data": data, "evs_on_lane": evs_on_lane["evs_on_lane"],
             "lane_flow_veh_per_h": evs_on_lane["lane_flow_veh_per_h"], "n_nominal": len(red_nom.medoids), "p_nominal": red_nom.probabilities,
             "distances": dist, "scales": scales, "train": train, "train_features": feats_train,
             "gan_atom_features": feats_gan[red_gan.medoids],
             "reduction": {"w1_real_to_nominal": red_nom.wasserstein_distance,
                           "w1_gan_to_atoms": red_gan.wasserstein_distance,
                           "mean_distance_gan_atoms_to_nominal": float(dist[:, len(red_nom.medoids):].min(axis=0).mean())}}
    log.info("dro atoms: %d nominal + %d GAN; %s", len(red_nom.medoids), len(red_gan.medoids), atoms["reduction"])
    return atoms, table


def _evaluator(atoms: dict, dro: dict) -> RecourseEvaluator:
    return RecourseEvaluator(atoms["system"], int(dro["evaluation"]["oos_batch"]), atoms["data"],
                             _solver_opts(dro))


def _solver_opts(dro: dict) -> dict:
    s = dro["solver"]
    return {"time_limit_s": float(s["time_limit_s"]), "mip_gap": float(s["mip_rel_gap"])}


def _score(costs: np.ndarray, robust: dict) -> float:
    how = robust.get("cv_score", "mean")
    if how == "mean":
        return float(np.mean(costs))
    if how == "cvar":
        return cvar(costs, float(robust["cvar_alpha"]))
    raise ValueError(f"parameter 'dro.robust.cv_score' must be 'mean' or 'cvar', got {how!r}")


def select_radius(atoms: dict, dro: dict) -> tuple[float, pd.DataFrame, dict]:
    """``radius: auto`` -> K-fold CV over the real training days (fit on K-1 folds, score held-out)."""
    robust = dro["robust"]
    setting = _radius_setting(robust)
    if setting != "auto":
        return float(setting), pd.DataFrame(columns=["radius", "fold", "score"]), {"radius_source": "parameter"}
    t0 = time.perf_counter()
    sysm, train, seed = atoms["system"], atoms["train"], int(dro["seed"])
    n_gan = atoms["data"].n_scenarios - atoms["n_nominal"]
    gan_data = atoms["data"].subset(np.arange(atoms["n_nominal"], atoms["data"].n_scenarios))
    k_fold = max(2, int(dro["scenarios"]["n_nominal"]) // 2)
    evaluator = _evaluator(atoms, dro)
    radii = [float(r) for r in robust["radii"]]
    cache: dict = {}

    def fit_and_score(radius: float, tr: np.ndarray, te: np.ndarray) -> float:
        key = tuple(tr)
        if key not in cache:
            red = reduce_scenarios(atoms["train_features"][tr], min(k_fold, len(tr)), seed)
            nom = tr[red.medoids]
            feats = np.vstack([atoms["train_features"][nom], atoms["gan_atom_features"]])
            ball = WassersteinBall(red.probabilities, distance_matrix(atoms["train_features"][nom], feats), radius)
            tsm = build_two_stage(sysm, train.subset(nom).concat(gan_data), method="dro", ball=ball,
                                  worst_case_weight=float(robust["worst_case_weight"]), name="dro_cv",
                                  lambda_max=float(robust["lambda_max_usd"]))
            cache.clear()
            t_fold = time.perf_counter()
            cache[key] = {r: tsm.first_stage() for r in radius_sweep(tsm, radii, float(robust["worst_case_weight"]),
                                                                       _solver_opts(dro))}
            log.info("dro CV fold with %d training days: %d radii solved in %.1f s", len(tr), len(radii),
                     time.perf_counter() - t_fold)
        res = evaluator.evaluate(cache[key][radius], train.subset(te))
        return _score(res["table"]["total_cost_usd"].to_numpy(), robust)

    best, table = select_radius_cv(radii, train.n_scenarios, int(robust["cv_folds"]), seed, fit_and_score)
    info = {"radius_source": "cross-validation", "cv_seconds": time.perf_counter() - t0, "cv_gan_atoms": n_gan,
            "cv_nominal_atoms_per_fold": k_fold}
    log.info("dro radius by %d-fold CV: %.3f (%.1f s)", int(robust["cv_folds"]), best, info["cv_seconds"])
    return best, table, info


def solve_methods(atoms: dict, radius: float, dro: dict) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """First stages of: deterministic (mean forecast), SAA, DRO at every radius and at the chosen one."""
    robust = dro["robust"]
    w = float(robust["worst_case_weight"])
    sysm, data, n_nom, p = atoms["system"], atoms["data"], atoms["n_nominal"], atoms["p_nominal"]
    nominal = data.subset(np.arange(n_nom))
    solver = _solver_opts(dro)
    out: dict[str, dict] = {}
    rows = []
    t0 = time.perf_counter()
    det = build_two_stage(sysm, nominal.mean(p), name="deterministic")
    det.solve(solver)
    out["deterministic"] = {"first_stage": det.first_stage(), "radius": np.nan, "objective": det.result.objective}
    saa = build_two_stage(sysm, nominal, probabilities=p, name="saa")
    saa.solve(solver)
    out["saa"] = {"first_stage": saa.first_stage(), "radius": np.nan, "objective": saa.result.objective}
    radii = sorted({float(r) for r in robust["radii"]} | {float(radius)})
    ball = WassersteinBall(p, atoms["distances"], radii[0])
    dro_m = build_two_stage(sysm, data, method="dro", ball=ball, worst_case_weight=w, name="dro",
                            lambda_max=float(robust["lambda_max_usd"]))
    wc_rows = []
    for r in radius_sweep(dro_m, radii, w, solver):
        lam = float(pyo.value(dro_m.model.dro.dro_lambda))
        if lam >= 0.999 * float(robust["lambda_max_usd"]) and r > 0:
            log.warning("dro radius %.3g: transport multiplier at its bound lambda_max_usd=%g; raise it",
                        r, float(robust["lambda_max_usd"]))
        costs = np.array([dro_m.first_stage_cost() + q for q in dro_m.scenario_costs()])
        wc = worst_case_distribution(costs, WassersteinBall(p, atoms["distances"], r))
        name = f"dro_r{r:g}"
        obj = float(pyo.value(dro_m.model.obj))
        out[name] = {"first_stage": dro_m.first_stage(), "radius": r, "objective": obj, "worst_case_cost": wc.value,
                     "lambda": lam}
        for j in range(data.n_scenarios):
            wc_rows.append({"method": name, "radius": r, "atom": j, "source": "real" if j < n_nom else "gan",
                            "nominal_probability": p[j] if j < n_nom else 0.0, "worst_case_weight": wc.weights[j],
                            "cost_usd": costs[j]})
        rows.append({"method": name, "radius": r, "objective": obj, "lambda_usd_per_unit_distance": lam,
                     "expected_cost_nominal": float(p @ costs[:n_nom]), "worst_case_cost": wc.value,
                     "transport_cost": wc.transport_cost})
    out["dro_auto"] = dict(out[f"dro_r{float(radius):g}"])
    for name in ("deterministic", "saa"):
        rows.insert(0, {"method": name, "radius": np.nan, "objective": out[name]["objective"]})
    log.info("dro: %d first stages solved in %.1f s", len(out), time.perf_counter() - t0)
    return out, pd.DataFrame(rows), pd.DataFrame(wc_rows)


def evaluate_out_of_sample(first_stages: dict, atoms: dict, sets: dict, dro: dict
                           ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Fix each method's first stage; solve the recourse on held-out real days and fresh GAN samples."""
    sysm = atoms["system"]
    tests = {"real_heldout": to_model_data(sets["real_test"], sysm, dro),
             "gan_fresh": to_model_data(sets["gan_test"], sysm, dro)}
    evaluator = _evaluator(atoms, dro)
    alpha = float(dro["robust"]["cvar_alpha"])
    rows, metrics = [], []
    t0 = time.perf_counter()
    for method, fs in first_stages.items():
        if method == "dro_auto":
            continue
        for test_name, data in tests.items():
            tab = evaluator.evaluate(fs["first_stage"], data)["table"]
            tab.insert(0, "test_set", test_name)
            tab.insert(0, "method", method)
            tab["radius"] = fs["radius"]
            rows.append(tab)
            cost = tab["total_cost_usd"].to_numpy()
            metrics.append({
                "method": method, "radius": fs["radius"], "test_set": test_name, "n_scenarios": len(tab),
                "expected_cost_usd": float(cost.mean()), "cvar95_cost_usd": cvar(cost, alpha),
                "p_limit_violation": float((tab["load_shed_kwh"] > 1e-6).mean()),
                "lane_unserved_kwh": float(tab["lane_unserved_kwh"].mean()),
                "curtailed_kwh": float(tab["curtailed_kwh"].mean()),
                "load_shed_kwh": float(tab["load_shed_kwh"].mean()),
            })
    summary = pd.concat(rows, ignore_index=True)
    met = pd.DataFrame(metrics)
    info = {"oos_seconds": time.perf_counter() - t0}
    log.info("dro out-of-sample evaluation: %d recourse problems in %.1f s", len(summary), info["oos_seconds"])
    return summary, met, info


def schedule_report(first_stages: dict, atoms: dict, dro: dict) -> tuple:
    """Chosen schedule (DRO at the selected radius) on the nominal atoms: tables, AC check, cost breakdown."""
    sysm = atoms["system"]
    n_nom, p = atoms["n_nominal"], atoms["p_nominal"]
    nominal = atoms["data"].subset(np.arange(n_nom))
    units, lanes = [], []
    for method, fs in first_stages.items():
        f: FirstStage = fs["first_stage"]
        for gi, g in enumerate(sysm.conventional.index):
            for t in range(sysm.n_steps):
                units.append({"method": method, "unit": g, "bus": int(sysm.conventional.at[g, "bus"]), "step": t,
                              "commitment": f.commitment[gi, t], "p_kw": f.p_conv_kw[gi, t]})
        for li, lane in enumerate(sysm.lanes.names):
            for t in range(sysm.n_steps):
                lanes.append({"method": method, "lane": lane, "step": t, "alloc_kw": f.alloc_kw[li, t],
                              "expected_demand_kw": float(p @ nominal.lane_demand_kw[:, li, t])})
    chosen = first_stages["dro_auto"]["first_stage"]
    evaluator = RecourseEvaluator(sysm, n_nom, nominal, _solver_opts(dro))
    res = evaluator.evaluate(chosen, nominal, detail=True)
    ac = validate_schedule_ac(sysm.network, res["p_net_kw"], res["q_net_kvar"], v_linear_pu=res["v_lin_pu"])
    steps = res["steps"].copy()
    ac_steps = ac.steps.reset_index()
    ac_steps.columns = ["atom", "step", *ac_steps.columns[2:]]
    steps = steps.merge(ac_steps[["atom", "step", "loss_kw", "v_min_pu", "v_max_pu"]].rename(
        columns={"v_min_pu": "v_min_ac_pu", "v_max_pu": "v_max_ac_pu"}), on=["atom", "step"])
    steps["probability"] = p[steps["atom"].to_numpy()]
    tab = res["table"]
    pw = p[tab["atom"].to_numpy()]
    dt = sysm.step_h
    c = sysm.costs
    conv = sysm.conventional
    fixed_cost = dt * float((conv["fixed_usd_per_h"].to_numpy()[:, None] * chosen.commitment).sum())
    var_cost = dt * float((conv["var_usd_per_kwh"].to_numpy()[:, None] * chosen.p_conv_kw).sum())
    lane_op = dt * c.lane_operation_usd_per_kwh * float(chosen.alloc_kw.sum())
    e = {k: float(pw @ tab[k].to_numpy()) for k in ("import_cost_usd", "lane_served_kwh", "lane_unserved_kwh",
                                                     "load_shed_kwh", "renewable_shortfall_kwh", "renewable_used_kwh",
                                                     "conventional_kwh", "import_kwh", "export_kwh", "curtailed_kwh")}
    loss_kwh = float((steps["loss_kw"] * steps["probability"]).sum() * dt)
    mean_price = float(np.mean(nominal.price_usd_per_kwh))
    ren_cost = float(sysm.renewables["var_usd_per_kwh"].mean()) * e["renewable_used_kwh"]
    redispatch = float(pw @ tab["recourse_cost_usd"].to_numpy()) - (
        e["import_cost_usd"] + ren_cost + c.battery_degradation_usd_per_kwh * e["lane_served_kwh"]
        + c.unserved_lane_usd_per_kwh * e["lane_unserved_kwh"] + c.load_shedding_usd_per_kwh * e["load_shed_kwh"]
        + c.renewable_shortfall_usd_per_kwh * e["renewable_shortfall_kwh"])
    breakdown = pd.DataFrame([
        ("generation", "conventional fixed (commitment)", fixed_cost),
        ("generation", "conventional variable incl. carbon", var_cost),
        ("generation", "substation energy (import - export) incl. carbon", e["import_cost_usd"]),
        ("generation", "renewable O&M", ren_cost),
        ("lanes", "installation (annualised, per day)", c.lane_fixed_usd_per_day),
        ("lanes", "operation of energised lane power", lane_op),
        ("lanes", "battery degradation of delivered energy", c.battery_degradation_usd_per_kwh * e["lane_served_kwh"]),
        ("maintenance", "lane maintenance (per day)", c.lane_maintenance_usd_per_day),
        ("losses", "AC losses valued at the mean price (information, inside substation energy)",
         loss_kwh * mean_price),
        ("penalties", "unserved lane energy (lost driver saving)", c.unserved_lane_usd_per_kwh * e["lane_unserved_kwh"]),
        ("penalties", "load shedding", c.load_shedding_usd_per_kwh * e["load_shed_kwh"]),
        ("penalties", "renewable-share shortfall", c.renewable_shortfall_usd_per_kwh * e["renewable_shortfall_kwh"]),
        ("penalties", "conventional redispatch", max(redispatch, 0.0)),
    ], columns=["category", "item", "usd_per_day"])
    breakdown["method"] = "dro_auto"
    lane_steps = res["lanes"].merge(pd.DataFrame({"lane": sysm.lanes.names, "rating_kw": sysm.lanes.rating_kw}),
                                    on="lane")
    lane_steps["utilisation"] = lane_steps["served_kw"] / lane_steps["rating_kw"]
    lane_steps["probability"] = p[lane_steps["atom"].to_numpy()]
    kpis = _kpis(steps, lane_steps, tab, pw, e, ac, atoms, dro, loss_kwh)
    ac_summary = {k: float(v) for k, v in ac.summary().items()}
    ac_summary["n_violations"] = float(len(ac.violations))
    violations = ac.violations.copy()
    if violations.empty:
        violations = pd.DataFrame(columns=["step", "element", "id", "kind", "value", "limit", "missed_by_linear"])
    if len(violations):
        keys = violations["step"].tolist()
        violations.insert(0, "atom", [int(k[0]) if isinstance(k, tuple) else -1 for k in keys])
        violations["step"] = [int(k[1]) if isinstance(k, tuple) else int(k) for k in keys]
        violations = violations.astype({"id": str})
    else:
        violations = violations.astype(str)
    step_results = steps.merge(lane_steps.groupby(["atom", "step"])["utilisation"].mean()
                               .rename("mean_lane_utilisation").reset_index(), on=["atom", "step"])
    return (pd.DataFrame(units), pd.DataFrame(lanes), breakdown, kpis, step_results, lane_steps, violations,
            ac_summary)


def _kpis(steps, lane_steps, tab, pw, e, ac, atoms, dro, loss_kwh) -> pd.DataFrame:
    sysm = atoms["system"]
    dt = sysm.step_h
    ev = dro["ev"]
    scale = float(dro["capacity_scale"])
    exp_steps = steps.groupby("step").apply(lambda d: pd.Series({
        "lane_demand_kw": float(d["lane_demand_kw"] @ d["probability"]),
        "loss_kw": float(d["loss_kw"] @ d["probability"])}), include_groups=False)
    peak_step = int(exp_steps["lane_demand_kw"].idxmax())
    util_peak = lane_steps[lane_steps["step"] == peak_step]
    util_peak = float((util_peak["utilisation"] * util_peak["probability"]).sum() / len(sysm.lanes.names))
    v_dev = float(max(abs(ac.steps["v_min_pu"] - 1.0).max(), abs(ac.steps["v_max_pu"] - 1.0).max()))
    # EV-km driven on the lanes (expected): EVs on the lane x speed x dt
    speed = sysm.lanes.table["speed_km_per_h"].to_numpy(float)[None, :, None]
    ev_km = float(atoms["p_nominal"] @ (atoms["evs_on_lane"] * speed * dt).sum(axis=(1, 2)))
    savings = driver_savings_usd_per_km(e["lane_served_kwh"], ev_km, float(dro["costs"]["driver_saving_usd_per_km"]),
                                        float(ev["consumption_kwh_per_km"]))
    consumption = float(pw @ (tab["lane_served_kwh"].to_numpy())) + float(
        (sysm.bus_load_kw()[0].sum(axis=1).sum()) * dt) - e["load_shed_kwh"]
    ren_share = e["renewable_used_kwh"] / consumption
    co2 = (e["conventional_kwh"] * float(sysm.conventional["co2_kg_per_kwh"].mean())
           + e["import_kwh"] * float(dro["grid_co2_kg_per_kwh"])) / 1000.0
    rows = [
        ("voltage_deviation_pu", "max |V_AC - 1| (AC check, all nominal atoms and steps)", v_dev,
         PAPER_KPIS["voltage_deviation_pu"], PAPER_KPIS["voltage_deviation_pu"]),
        ("peak_losses_kw", f"AC losses at the peak-traffic step {peak_step} (expected)",
         float(exp_steps.loc[peak_step, "loss_kw"]), PAPER_KPIS["peak_losses_kw"],
         PAPER_KPIS["peak_losses_kw"] * scale),
        ("max_losses_kw", "largest AC loss of any atom and step", float(ac.steps["loss_kw"].max()), np.nan, np.nan),
        ("daily_losses_kwh", "expected AC energy losses per day", loss_kwh, np.nan, np.nan),
        ("lane_utilisation_at_peak", "delivered / rating at the peak-traffic step (mean of lanes, expected)",
         util_peak, PAPER_KPIS["lane_utilisation_at_peak"], PAPER_KPIS["lane_utilisation_at_peak"]),
        ("driver_savings_usd_per_km", "saving per km driven on a lane (range delivered x 0.10 $/km)", savings,
         PAPER_KPIS["driver_savings_usd_per_km"], PAPER_KPIS["driver_savings_usd_per_km"]),
        ("renewable_share", "renewable energy used / local consumption (daily, expected)", ren_share,
         PAPER_KPIS["renewable_share"], PAPER_KPIS["renewable_share"]),
        ("emissions_t_co2_per_day", "conventional + substation imports (expected)", co2, np.nan, np.nan),
        ("lane_energy_served_share", "lane energy delivered / lane demand (expected)",
         e["lane_served_kwh"] / max(e["lane_served_kwh"] + e["lane_unserved_kwh"], 1e-9), np.nan, np.nan),
        ("ac_violations", "voltage + thermal violations in the AC check of the chosen schedule",
         float(len(ac.violations)), 0.0, 0.0),
    ]
    return pd.DataFrame(rows, columns=["kpi", "definition", "ours", "paper", "paper_at_our_scale"])


def log_metrics(oos_metrics: pd.DataFrame, kpis: pd.DataFrame, radius: float, scen_info: dict, cv_info: dict,
                oos_info: dict, ac_summary: dict) -> dict:
    """Flat metrics dict (MLflow metrics dataset) and the run report."""
    out: dict = {"radius_selected": float(radius)}
    for _, r in kpis.iterrows():
        out[f"kpi_{r['kpi']}"] = float(r["ours"])
    for _, r in oos_metrics.iterrows():
        for col in ("expected_cost_usd", "cvar95_cost_usd", "p_limit_violation", "lane_unserved_kwh"):
            out[f"oos_{r['test_set']}_{r['method']}_{col}".replace(".", "p")] = float(r[col])
    out.update({f"ac_{k}": float(v) for k, v in ac_summary.items() if np.isfinite(float(v))})
    out["cv_seconds"] = float(cv_info.get("cv_seconds", 0.0))
    out["oos_seconds"] = float(oos_info["oos_seconds"])
    return {k: {"value": v, "step": 0} for k, v in out.items() if np.isfinite(v)}


# ------------------------------------------------------------------------------------------------- plots


def plot_figures(steps: pd.DataFrame, lane_steps: pd.DataFrame, atoms: dict, oos_metrics: pd.DataFrame
                 ) -> tuple[go.Figure, go.Figure, go.Figure, go.Figure, go.Figure, go.Figure]:
    """Paper-style figures: traffic per lane, generation mix, lane utilisation, voltage vs load, losses,
    out-of-sample cost and reliability against the radius."""
    sysm = atoms["system"]
    p = atoms["p_nominal"]
    hours = np.arange(sysm.n_steps) * sysm.step_h
    lane_flow = np.tensordot(p, atoms["lane_flow_veh_per_h"], axes=1)
    traffic = go.Figure(go.Heatmap(z=lane_flow, x=hours, y=sysm.lanes.names, colorbar={"title": "veh/h"}))
    traffic.update_layout(title="Traffic flow per charging lane (expected over the nominal days, veh/h)",
                          xaxis_title="hour")
    exp = steps.assign(w=steps["probability"]).groupby("step").apply(
        lambda d: pd.Series({c: float(d[c] @ d["w"]) for c in ("pv_kw", "wind_kw", "conventional_kw", "import_kw",
                                                              "lane_served_kw", "loss_kw")}), include_groups=False)
    mix = go.Figure()
    for col, name in (("pv_kw", "solar"), ("wind_kw", "wind"), ("conventional_kw", "conventional"),
                      ("import_kw", "substation import")):
        mix.add_bar(x=hours, y=exp[col] / 1000, name=name)
    mix.update_layout(barmode="relative", title="Generation mix of the chosen schedule (expected, MW)",
                      xaxis_title="hour", yaxis_title="MW")
    ls = lane_steps.copy()
    ls["w"] = ls["probability"]
    util = ls.groupby(["lane", "step"]).apply(lambda d: float(d["utilisation"] @ d["w"]), include_groups=False)
    util = util.unstack("step").reindex(sysm.lanes.names)
    util_fig = go.Figure(go.Heatmap(z=util.to_numpy() * 100, x=hours, y=util.index, zmin=0, zmax=100,
                                    colorbar={"title": "%"}))
    util_fig.update_layout(title="Lane utilisation (delivered / rating, %)", xaxis_title="hour")
    vl = go.Figure(go.Scatter(x=steps["lane_served_kw"] / 1000, y=steps["v_min_ac_pu"], mode="markers",
                              marker={"color": steps["step"] * sysm.step_h, "colorscale": "Viridis",
                                      "colorbar": {"title": "hour"}}, name="V min (AC)"))
    vl.update_layout(title="Minimum feeder voltage (AC) vs lane charging load", xaxis_title="lane load (MW)",
                     yaxis_title="V min (p.u.)")
    loss = go.Figure(go.Scatter(x=hours, y=exp["loss_kw"], mode="lines+markers", name="expected AC losses"))
    loss.update_layout(title="Feeder losses from the AC check (kW)", xaxis_title="hour", yaxis_title="kW")
    oos = make_subplots(rows=1, cols=2, subplot_titles=("Out-of-sample expected cost and CVaR95 ($/day)",
                                                        "P(limits kept only by load shedding)"))
    dro_rows = oos_metrics[oos_metrics["method"].str.startswith("dro_r")].sort_values("radius")
    for test_set, d in dro_rows.groupby("test_set"):
        oos.add_scatter(x=d["radius"], y=d["expected_cost_usd"], mode="lines+markers", name=f"E[cost] {test_set}",
                        row=1, col=1)
        oos.add_scatter(x=d["radius"], y=d["cvar95_cost_usd"], mode="lines+markers", name=f"CVaR95 {test_set}",
                        row=1, col=1)
        oos.add_scatter(x=d["radius"], y=d["p_limit_violation"], mode="lines+markers", name=f"P {test_set}",
                        row=1, col=2)
    for method, dash in (("saa", "dash"), ("deterministic", "dot")):
        for test_set, d in oos_metrics[oos_metrics["method"] == method].groupby("test_set"):
            oos.add_hline(y=float(d["expected_cost_usd"].iloc[0]), line_dash=dash, row=1, col=1,
                          annotation_text=f"{method} {test_set}")
    oos.update_xaxes(title_text="Wasserstein radius")
    return traffic, mix, util_fig, vl, loss, oos

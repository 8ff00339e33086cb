"""Thin Kedro nodes of the DWPT pipeline (paper 002); the domain logic lives in evgrid.ev / der / optim."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from evgrid.der.battery import BatteryParams, size_battery
from evgrid.der.pv import pv_area_for_energy_m2, pv_power_kw
from evgrid.ev.inmotion import InMotionParams, inmotion_load_profile
from evgrid.grid.matpower import load_matpower_case
from evgrid.grid.network import Network
from evgrid.optim.dwpt_model import (
    DGUnit,
    DwptCase,
    DwptDay,
    MarketParams,
    block_mean,
    map_cases,
    run_cases,
    solve_case_ac_corrected,
)
from evgrid.optim.lindistflow import LinDistFlowOptions, loads_from_profile
from evgrid.pipelines.dwpt import plots

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------- inputs
def _day_channel(df: pd.DataFrame, date: str, channel: str, dataset: str) -> np.ndarray:
    """One day's ``<channel>_tNNN`` row of a wide daily feature matrix; clear error if absent."""
    cols = sorted(c for c in df.columns if c.startswith(f"{channel}_t"))
    if not cols:
        raise ValueError(f"{dataset}: no columns '{channel}_t000...' (has {list(df.columns)[:8]}...)")
    day = pd.Timestamp(date)
    rows = df[pd.to_datetime(df["date"]) == day]
    if rows.empty:
        dates = pd.to_datetime(df["date"])
        raise ValueError(f"{dataset}: no complete day {day.date()} (available {dates.min().date()} .. "
                         f"{dates.max().date()}, {len(dates)} days); set params dwpt.dates")
    values = rows.iloc[0][cols].to_numpy(float)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{dataset}: day {day.date()} has missing '{channel}' steps")
    return values


def _day_prices(prices: pd.DataFrame, date: str, market: str, zone: str, n_steps: int) -> np.ndarray:
    """Hourly LBMP of one zone, market and local day from ``prices_primary``, held over the model steps."""
    from evgrid.data.prices import zone_key

    local = pd.to_datetime(prices["timestamp_local"])
    if getattr(local.dt, "tz", None) is not None:
        local = local.dt.tz_localize(None)
    sel = prices[(local.dt.normalize() == pd.Timestamp(date)) & (prices["market"] == market)
                 & (prices["zone"].map(zone_key) == zone_key(zone))]
    if len(sel) != 24:
        avail = prices.loc[prices["market"] == market, "zone"].unique().tolist()
        raise ValueError(f"prices_primary: expected 24 hourly {market} prices for zone {zone} on {date}, found "
                         f"{len(sel)} (zones of {market}: {avail[:20]}); set params dwpt.price")
    hourly = sel.sort_values("timestamp_utc")["lbmp_usd_per_mwh"].to_numpy(float)
    if n_steps % 24 == 0:
        return np.repeat(hourly, n_steps // 24)
    return block_mean(hourly, n_steps)


def select_day_inputs(traffic_daily: pd.DataFrame, weather_daily: pd.DataFrame, load_daily: pd.DataFrame,
                      prices_primary: pd.DataFrame, params: dict) -> pd.DataFrame:
    """The chosen day of every input at the feature step: flow, GHI, system load and price."""
    d = params["dates"]
    flow = _day_channel(traffic_daily, d["traffic"], "flow_veh_per_h", "traffic_daily")
    ghi = _day_channel(weather_daily, d["weather"], "ghi_w_per_m2", "weather_daily")
    load = _day_channel(load_daily, d["load"], "load_mw", "load_daily")
    n = len(flow)
    if not len(ghi) == len(load) == n:
        raise ValueError(f"daily matrices disagree on steps per day: traffic {n}, weather {len(ghi)}, load {len(load)}")
    pr = params["price"]
    price = _day_prices(prices_primary, pr["date"], pr["market"], pr["zone"], n)
    step_h = 24.0 / n
    return pd.DataFrame({"step": np.arange(n), "hour": np.arange(n) * step_h, "flow_veh_per_h": flow,
                         "ghi_w_per_m2": ghi, "load_mw": load, "price_usd_per_mwh": price})


def simulate_ev_load(day_inputs: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly DWPT load at the EV bus from the day's traffic (paper II-A); also the simulated fleet."""
    ev = params["ev"]
    p = InMotionParams(**{k: v for k, v in ev.items() if k not in ("bus", "band_draws")})
    n_model = _n_model_steps(params)
    flow = day_inputs["flow_veh_per_h"].to_numpy()
    load, fleet = inmotion_load_profile(flow, p, int(params["seed"]), n_model)
    step_h = 24.0 / n_model
    out = pd.DataFrame({"step": np.arange(n_model), "hour": np.arange(n_model) * step_h, "ev_kw": load,
                        "n_ev_entering": np.histogram(fleet["entry_h"], bins=n_model, range=(0, 24))[0]})
    # sampling spread of the load (EV count, entry times, speeds, SOCs): independent re-draws
    n_band = int(ev.get("band_draws", 0))
    if n_band:
        seeds = np.random.SeedSequence(int(params["seed"])).spawn(n_band)
        draws = np.array([inmotion_load_profile(flow, p, int(sq.generate_state(1)[0]), n_model)[0] for sq in seeds])
        for q in (5, 50, 95):
            out[f"ev_kw_p{q:02d}"] = np.percentile(draws, q, axis=0)
    log.info("DWPT load: %d EVs, %.1f MWh, peak %.2f MW at hour %d", len(fleet), load.sum() * step_h / 1e3,
             load.max() / 1e3, int(np.argmax(load) * step_h))
    return out, fleet


def size_der(day_inputs: pd.DataFrame, ev_load: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, dict]:
    """PV output (eq. 1) with the area sized to the EV's daily energy, and battery sizing (II-B)."""
    n_model = len(ev_load)
    step_h = 24.0 / n_model
    ghi = block_mean(day_inputs["ghi_w_per_m2"].to_numpy(), n_model)
    pv_p, b = params["pv"], params["battery"]
    ev_kwh = float(ev_load["ev_kw"].sum() * step_h)
    area = pv_area_for_energy_m2(ghi, step_h, pv_p["efficiency"], pv_p["energy_ratio"] * ev_kwh)
    pv = pv_power_kw(ghi, pv_p["efficiency"], area)
    cap, power = size_battery(pv, ev_load["ev_kw"].to_numpy(), step_h, b["eta_charge"], b["soc_min_frac"],
                              b["soc_max_frac"])
    cap *= b["capacity_scale"]
    power *= b["power_scale"]
    sizing = {"pv_area_m2": area, "pv_peak_kw": float(pv.max()), "pv_energy_kwh": float(pv.sum() * step_h),
              "ev_energy_kwh": ev_kwh, "battery_capacity_kwh": cap, "battery_power_kw": power,
              "pv_efficiency": pv_p["efficiency"]}
    profile = pd.DataFrame({"step": ev_load["step"], "hour": ev_load["hour"], "ghi_w_per_m2": ghi, "pv_kw": pv})
    return profile, sizing


# --------------------------------------------------------------------------------------- model
def _n_model_steps(params: dict) -> int:
    minutes = int(params["model_step_minutes"])
    if 1440 % minutes:
        raise ValueError(f"dwpt.model_step_minutes={minutes} does not divide a day")
    return 1440 // minutes


def load_network(params: dict) -> Network:
    """The feeder (MATPOWER case) with optional default branch ratings."""
    net = load_matpower_case(params["network"]["path"])
    if params["network"].get("default_rating_kva"):
        net = net.with_ratings(default_kva=params["network"]["default_rating_kva"])
    return net


def _dgs(params: dict) -> list[DGUnit]:
    return [DGUnit(**g) for g in params["dgs"]]


def _cases(params: dict) -> list[DwptCase]:
    return [DwptCase(name=c["name"], ev=c.get("ev", True), pv=c.get("pv", False), battery=c.get("battery", False),
                     outages=tuple(tuple(o) for o in c.get("outages", []))) for c in params["cases"]]


def build_day(network: Network, day_inputs: pd.DataFrame, ev_load: pd.DataFrame, der_profile: pd.DataFrame,
              der_sizing: dict, params: dict) -> DwptDay:
    """Bus loads = base loads x (NYISO profile / its daily peak) x load_scale; EV, PV, price at model steps."""
    n_model = len(ev_load)
    load = block_mean(day_inputs["load_mw"].to_numpy(), n_model)
    profile = load / load.max() * float(params["load"]["scale"])
    p, q = loads_from_profile(network, profile)
    b = params["battery"]
    batt = BatteryParams(capacity_kwh=der_sizing["battery_capacity_kwh"], power_kw=der_sizing["battery_power_kw"],
                         eta_charge=b["eta_charge"], eta_discharge=b["eta_discharge"], soc_min_frac=b["soc_min_frac"],
                         soc_max_frac=b["soc_max_frac"], soc_initial_frac=b["soc_initial_frac"],
                         end_soc_at_least_initial=b["end_soc_at_least_initial"])
    price = block_mean(day_inputs["price_usd_per_mwh"].to_numpy(), n_model)
    return DwptDay(step_h=24.0 / n_model, load_p_kw=p, load_q_kvar=q, ev_kw=ev_load["ev_kw"].to_numpy(),
                   pv_kw=der_profile["pv_kw"].to_numpy(), price_usd_per_mwh=price, der_bus=int(params["ev"]["bus"]),
                   battery=batt)


def solve_cases(day_inputs: pd.DataFrame, ev_load: pd.DataFrame, der_profile: pd.DataFrame, der_sizing: dict,
                params: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Solve every case of ``dwpt.cases`` (paper II-C) on the shared LinDistFlow + HiGHS wrapper."""
    network = load_network(params)
    day = build_day(network, day_inputs, ev_load, der_profile, der_sizing, params)
    pf = LinDistFlowOptions(**params.get("power_flow", {}))
    out = run_cases(network, day, _cases(params), _dgs(params), MarketParams(**params["market"]), pf,
                    params["solver"], n_jobs=int(params.get("n_jobs", 1)))
    bad = out["costs"][out["costs"]["mip_gap"].fillna(0) > params["solver"]["mip_gap"] + 1e-12]
    if len(bad):
        raise RuntimeError(f"cases {bad['case'].tolist()} did not reach the MIP gap {params['solver']['mip_gap']}")
    for _, r in out["costs"].iterrows():
        log.info("case %-24s total %9.0f $  shed %6.2f MWh  solve %.2f s", r["case"], r["total_cost_usd"],
                 r["shed_mwh"], r["solve_s"])
    return out["system"], out["dg"], out["bus"], out["costs"], out["net_load"]


# --------------------------------------------------------------------------------------- checks
def _ac_corrected(args):
    return solve_case_ac_corrected(*args)


def validate_and_correct_ac(day_inputs: pd.DataFrame, ev_load: pd.DataFrame, der_profile: pd.DataFrame,
                            der_sizing: dict, costs: pd.DataFrame, params: dict
                            ) -> tuple[pd.DataFrame, dict, pd.DataFrame, pd.DataFrame]:
    """AC check (pandapower, grid core) of the chosen cases and the AC-corrected re-solve.

    Iteration 0 is the published lossless schedule (its objective must equal ``dwpt_costs``); later
    iterations add the AC losses and a voltage margin (:func:`solve_case_ac_corrected`).
    """
    network = load_network(params)
    day = build_day(network, day_inputs, ev_load, der_profile, der_sizing, params)
    cases = {c.name: c for c in _cases(params)}
    cfg = params["ac_validation"]
    pf = LinDistFlowOptions(**params.get("power_flow", {}))
    steps, summary, hist, systems = [], {}, [], []
    published = costs.set_index("case")["total_cost_usd"]
    unknown = [n for n in cfg["cases"] if n not in cases]
    if unknown:
        raise ValueError(f"dwpt.ac_validation.cases: {unknown} are not in dwpt.cases")
    args = [(network, day, cases[n], _dgs(params), MarketParams(**params["market"]), pf, params["solver"],
             int(cfg["iterations"])) for n in cfg["cases"]]
    for name, (chosen, h, reports) in zip(cfg["cases"], map_cases(_ac_corrected, args, int(params.get("n_jobs", 1))),
                                          strict=True):
        obj0 = h.loc[h["iteration"] == 0, "objective_usd"].iloc[0]
        if name in published.index and abs(obj0 - published[name]) > 1e-6 * max(1.0, abs(published[name])):
            raise RuntimeError(f"AC check of '{name}': re-solved lossless objective {obj0:.2f} differs from the "
                               f"published {published[name]:.2f}")
        for k, rep in enumerate(reports):
            st = rep.steps.reset_index()
            st.insert(0, "iteration", k)
            st.insert(0, "case", name)
            steps.append(st)
        summary[name] = {f"iteration_{k}": rep.summary() | {
            "violations": rep.violations.head(20).to_dict(orient="records")} for k, rep in enumerate(reports)}
        hist.append(h)
        systems.append(chosen.system)
        r0, rc = h.iloc[0], h[h["chosen"]].iloc[0]
        log.info("AC %s: lossless %.0f $, Vmin_AC %.4f, %d violations -> corrected (it %d) %.0f $, Vmin_AC %.4f, "
                 "%d violations", name, r0["objective_usd"], r0["ac_v_min_pu"], r0["n_voltage_violations"],
                 rc["iteration"], rc["objective_usd"], rc["ac_v_min_pu"], rc["n_voltage_violations"])
    return (pd.concat(steps, ignore_index=True), summary, pd.concat(hist, ignore_index=True),
            pd.concat(systems, ignore_index=True))


# --------------------------------------------------------------------------------------- reporting
def compare_with_paper(costs: pd.DataFrame, ac_corrected: pd.DataFrame, params: dict
                       ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Tables in the paper's shape (normal costs, Table II, shedding) with the paper's numbers beside ours."""
    paper = params["paper"]
    c = costs.set_index("case")

    def k(case: str, col: str = "total_cost_usd", div: float = 1e3) -> float:
        if case not in c.index:
            raise ValueError(f"dwpt.paper refers to case '{case}' which is not in dwpt.cases")
        return float(c.at[case, col]) / div

    normal = pd.DataFrame([{"setting": row["label"], "case": row["case"], "ours_k_usd": k(row["case"]),
                            "paper_k_usd": row["paper_k_usd"]} for row in paper["normal"]])
    normal["ours_reduction_pct"] = 100 * (1 - normal["ours_k_usd"] / normal["ours_k_usd"].iloc[0])
    chosen = ac_corrected[ac_corrected["chosen"]].set_index("case")
    normal["ours_ac_feasible_k_usd"] = normal["case"].map(chosen["objective_usd"] / 1e3)
    normal["ours_ac_v_min_pu_lossless"] = normal["case"].map(
        ac_corrected[ac_corrected["iteration"] == 0].set_index("case")["ac_v_min_pu"])
    normal["ours_ac_v_min_pu_corrected"] = normal["case"].map(chosen["ac_v_min_pu"])
    normal["paper_reduction_pct"] = 100 * (1 - normal["paper_k_usd"] / normal["paper_k_usd"].iloc[0])
    outage = pd.DataFrame([{
        "outage": row["outage"], "with_mitigation_case": row["with"], "without_mitigation_case": row["without"],
        "ours_with_k_usd": k(row["with"]), "ours_without_k_usd": k(row["without"]),
        "paper_with_k_usd": row["paper_with_k_usd"], "paper_without_k_usd": row["paper_without_k_usd"],
    } for row in paper["outages"]])
    outage["ours_improvement_pct"] = 100 * (outage["ours_without_k_usd"] / outage["ours_with_k_usd"] - 1)
    outage["paper_improvement_pct"] = 100 * (outage["paper_without_k_usd"] / outage["paper_with_k_usd"] - 1)
    shed = pd.DataFrame([{
        "outage": row["outage"], "ours_no_ev_mwh": k(row["no_ev"], "shed_mwh", 1.0),
        "ours_ev_mwh": k(row["ev"], "shed_mwh", 1.0), "paper_no_ev_mw": row["paper_no_ev_mw"],
        "paper_ev_mw": row["paper_ev_mw"],
    } for row in paper["shedding"]])
    metrics = {f"cost_k_usd.{case}": {"value": float(v) / 1e3, "step": 0}
               for case, v in c["total_cost_usd"].items()}
    metrics |= {f"shed_mwh.{case}": {"value": float(v), "step": 0} for case, v in c["shed_mwh"].items()}
    metrics |= {f"solve_s.{case}": {"value": float(v), "step": 0} for case, v in c["solve_s"].items()}
    metrics |= {f"ac_corrected_cost_k_usd.{case}": {"value": float(v) / 1e3, "step": 0}
                for case, v in chosen["objective_usd"].items()}
    for _, r in ac_corrected.iterrows():
        metrics[f"ac_v_min_pu.{r['case']}.it{int(r['iteration'])}"] = {"value": float(r["ac_v_min_pu"]), "step": 0}
    return normal, outage, shed, metrics


def ev_metrics(ev_load: pd.DataFrame, der_sizing: dict) -> dict:
    """MLflow metrics of the EV load and DER sizing."""
    step_h = 24.0 / len(ev_load)
    vals = {"ev_peak_mw": ev_load["ev_kw"].max() / 1e3,
            **({"ev_peak_mw_p95_band": ev_load["ev_kw_p95"].max() / 1e3} if "ev_kw_p95" in ev_load else {}),
            "ev_peak_hour": float(ev_load["hour"].iloc[int(ev_load["ev_kw"].idxmax())]),
            "ev_energy_mwh": ev_load["ev_kw"].sum() * step_h / 1e3,
            "pv_area_m2": der_sizing["pv_area_m2"], "battery_capacity_kwh": der_sizing["battery_capacity_kwh"],
            "battery_power_kw": der_sizing["battery_power_kw"]}
    return {k: {"value": float(v), "step": 0} for k, v in vals.items()}


def plot_loads_and_prices(system: pd.DataFrame, ev_load: pd.DataFrame, params: dict):
    """Paper Fig. 3: conventional and EV in-motion load (with its re-draw band) and the price."""
    return plots.loads_and_prices(system, params["plots"]["reference_case"], ev_load)


def plot_upstream(system: pd.DataFrame, params: dict):
    """Paper Fig. 4 / 5: upstream trade without and with PV + battery."""
    return plots.upstream(system, params["plots"]["upstream_cases"])


def plot_shedding(system: pd.DataFrame, params: dict):
    """Paper Fig. 6: total load shedding in each hour per outage case."""
    return plots.shedding(system, params["plots"]["shedding_cases"])


def plot_battery(system: pd.DataFrame, params: dict):
    """PV split, battery power and SOC of the PV + battery case."""
    return plots.battery(system, params["plots"]["battery_case"])

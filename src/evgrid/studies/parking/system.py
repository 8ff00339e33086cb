"""The parking-lot system of paper 004 on the IEEE 33-bus feeder: network, lots, days of EVs and PV.

* feeder: Baran-Wu 33-bus (the paper's Sirjan feeder is not public) with its 5 tie switches; every
  branch is an XLPE aluminium cable whose section is the smallest of the configured types whose ampacity
  covers ``sizing_margin`` x the branch's downstream peak (base load + lot transformers at their loading
  limit) in the normal radial configuration; tie switches get the largest type. Length = r_ohm / r per km.
* lots: one transformer + PV array each at a feeder bus (Table I); eq. 12 voltage limits at lot buses.
* a *day*: 24 hourly PV outputs per kWp, ambient temperatures and one row per EV (lot, arrival_h,
  departure_h, energy_kwh). GAN days draw (arrival, departure) pairs from the ``ev_times`` scenarios and PV
  and ambient from one ``pv`` scenario; energy needs come from real ACN workplace sessions of similar
  duration (``kWhDelivered``), capped by the usable battery window. Real (held-out) days take a real ACN
  day's sessions and a real NSRDB weather day.
* :func:`prepare_day` quantises stays to ``arrival_quantum_min`` (arrival rounded up, departure down),
  flags EVs that cannot be fully charged in their stay (eq. 15: they charge at the rated power and leave the
  optimisation, counted) and groups the rest into classes of identical (arrival, departure, energy need),
  which makes aggregation exact (equal split inside a class).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evgrid.grid.network import Network, NetworkError
from evgrid.studies.parking.config import ParkingConfig

log = logging.getLogger(__name__)

T_STEPS = 24
STEP_H = 1.0


class ParkingInputError(ValueError):
    """Bad input data for the parking study (names the file/dataset, row and column)."""


class LotInfeasibleError(ValueError):
    """A lot cannot deliver its EVs' energy within their stays (names lot, hours and energies)."""


@dataclass
class ParkingSystem:
    network: Network
    cfg: ParkingConfig
    lots: pd.DataFrame
    """index lot name: bus, n_evs, transformer_kva, no_load_loss_kw, load_loss_kw, pv_kwp."""
    cables: pd.DataFrame
    """index branch id: section_mm2, ampacity_a, length_km, rating_kva, price_usd_per_km, embodied_kgco2e_per_km."""
    price_usd_per_mwh: np.ndarray
    load_p_kw: pd.DataFrame
    load_q_kvar: pd.DataFrame
    switchable: list
    thermal: dict = field(default_factory=dict)


@dataclass
class Day:
    name: str
    kind: str
    pv_kw_per_kwp: np.ndarray
    ambient_c: np.ndarray
    evs: pd.DataFrame
    counts: dict = field(default_factory=dict)


@dataclass
class PreparedDay:
    day: Day
    evs: pd.DataFrame
    """Every EV: lot, arrival_h, departure_h, energy_kwh, controllable, class_id (-1 if not)."""
    classes: pd.DataFrame
    """class_id: lot, n, energy_kwh (per EV), arrival_q_h, departure_q_h."""
    avail_h: np.ndarray
    """(n_classes, 24) hours of presence of one EV of the class in each hour."""
    fixed_kw: pd.DataFrame
    """(24 x lot) load of EVs outside the optimisation (rated power from arrival until full or departure)."""
    counts: dict


# ---------------------------------------------------------------------------------------------- network


def build_system(network: Network, prices: pd.DataFrame, load_daily: pd.DataFrame, cfg: ParkingConfig) -> ParkingSystem:
    """Feeder with cables and lot voltage limits, hourly price and base load, transformer thermal models."""
    buses = set(network.bus_ids)
    for i, lot in enumerate(cfg.lots):
        if lot.bus not in buses:
            raise NetworkError(f"parking.lots[{i}].bus: bus {lot.bus} of lot '{lot.name}' is not a bus of network "
                               f"'{network.name}' (buses {min(buses)}..{max(buses)})")
        if lot.bus == network.slack_bus:
            raise NetworkError(f"parking.lots[{i}].bus: lot '{lot.name}' sits on the slack bus {lot.bus}")
    lots = pd.DataFrame([vars(lot) for lot in cfg.lots]).set_index("name")
    net = network.copy()
    mc = cfg.model
    net.buses.loc[lots["bus"].to_numpy(), "v_min_pu"] = mc.lot_v_min_pu
    net.buses.loc[lots["bus"].to_numpy(), "v_max_pu"] = mc.lot_v_max_pu
    switchable = _switchable(net, mc.switchable)
    cables = _size_cables(net, lots, cfg)
    net.branches["rating_kva"] = cables["rating_kva"]
    net.validate()
    thermal = {
        name: cfg.transformer.thermal_model(row.transformer_kva, row.no_load_loss_kw, row.load_loss_kw)
        for name, row in lots.iterrows()
    }
    price = hourly_price(prices, cfg)
    prof = hourly_load_profile(load_daily, cfg)
    p = pd.DataFrame(np.outer(prof, net.buses["p_load_kw"].to_numpy()), columns=net.bus_ids)
    q = pd.DataFrame(np.outer(prof, net.buses["q_load_kvar"].to_numpy()), columns=net.bus_ids)
    return ParkingSystem(network=net, cfg=cfg, lots=lots, cables=cables, price_usd_per_mwh=price,
                         load_p_kw=p, load_q_kvar=q, switchable=switchable, thermal=thermal)


def _switchable(net: Network, ids) -> list[int]:
    """Switchable branch ids (default: the tie switches); check that they can make the feeder radial."""
    br = net.branches
    sw = [int(i) for i in ids] if ids else [int(i) for i in br.index[br["is_switch"]]]
    unknown = sorted(set(sw) - set(br.index))
    if unknown:
        raise NetworkError(f"parking.model.switchable: branches {unknown} are not in network '{net.name}'")
    fixed = [int(i) for i in br.index if i not in set(sw) and bool(br.at[i, "in_service"])]
    n_b = len(net.buses)
    # fixed branches must be a forest and fixed + switchable must connect every bus
    parent = {b: b for b in net.bus_ids}

    def find(b):
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        return b

    for lid in fixed:
        a, b = find(int(br.at[lid, "from_bus"])), find(int(br.at[lid, "to_bus"]))
        if a == b:
            raise NetworkError(f"parking.model.switchable: the non-switchable branches close a loop at branch {lid} "
                               f"({br.at[lid, 'from_bus']}-{br.at[lid, 'to_bus']}); no switch set {sw} makes the "
                               "feeder radial: add a switch on that loop")
        parent[a] = b
    for lid in sw:
        a, b = find(int(br.at[lid, "from_bus"])), find(int(br.at[lid, "to_bus"]))
        if a != b:
            parent[a] = b
    roots = {find(b) for b in net.bus_ids}
    if len(roots) > 1 or n_b - 1 < len(fixed):
        raise NetworkError(f"parking.model.switchable: branches {sw} with the fixed branches cannot connect all "
                           f"{n_b} buses of '{net.name}' radially")
    return sw


def _size_cables(net: Network, lots: pd.DataFrame, cfg: ParkingConfig) -> pd.DataFrame:
    """Cable type per branch (smallest type covering the margin x downstream peak), length, rating."""
    types = sorted(cfg.cables.types, key=lambda c: c.ampacity_a)
    kv = net.base_kv
    tree = net.tree()
    extra = pd.Series(0.0, index=net.bus_ids)
    for _, lot in lots.iterrows():
        extra[lot.bus] += lot.transformer_kva * cfg.transformer.loading_limit_pu
    s_bus = np.hypot(net.buses["p_load_kw"], net.buses["q_load_kvar"]) + extra
    down = Network.downstream_sum(tree, s_bus)  # downstream apparent power

    rows = []
    br = net.branches
    for lid, row in br.iterrows():
        if bool(row["is_switch"]) or not bool(row["in_service"]):
            ct = types[-1]
        else:
            child = Network.child_bus(tree, row["from_bus"], row["to_bus"])
            need_a = cfg.cables.sizing_margin * float(down[child]) / (math.sqrt(3) * kv)
            ct = next((c for c in types if c.ampacity_a >= need_a), types[-1])
        rows.append({"branch_id": int(lid), "section_mm2": ct.section_mm2, "ampacity_a": ct.ampacity_a,
                     "length_km": float(row["r_ohm"]) / ct.r_ohm_per_km,
                     "rating_kva": math.sqrt(3) * kv * ct.ampacity_a,
                     "price_usd_per_km": ct.price_usd_per_km, "embodied_kgco2e_per_km": ct.embodied_kgco2e_per_km})
    return pd.DataFrame(rows).set_index("branch_id")


# ---------------------------------------------------------------------------------------------- profiles


def hourly_price(prices: pd.DataFrame, cfg: ParkingConfig) -> np.ndarray:
    """24 hourly LBMPs (USD/MWh) of the configured market, zone and local date."""
    ic = cfg.inputs
    for col in ("market", "zone", "timestamp_local", "lbmp_usd_per_mwh"):
        if col not in prices.columns:
            raise ParkingInputError(f"prices_primary: missing column '{col}' (made by the ingest pipeline)")
    local = pd.to_datetime(prices["timestamp_local"].astype(str).str[:19])
    sel = prices[(prices["market"] == ic.price_market) & (prices["zone"] == ic.price_zone)
                 & (local.dt.strftime("%Y-%m-%d") == ic.price_date)]
    hours = local[sel.index].dt.hour.to_numpy()
    out = np.full(T_STEPS, np.nan)
    vals = sel["lbmp_usd_per_mwh"].to_numpy(float)
    for h in range(T_STEPS):
        m = hours == h
        if m.any():
            out[h] = vals[m].mean()
    if np.isnan(out).any():
        raise ParkingInputError(
            f"prices_primary: parking.inputs price_market={ic.price_market!r}, price_zone={ic.price_zone!r}, "
            f"price_date={ic.price_date!r} has no price for hours {np.flatnonzero(np.isnan(out)).tolist()}")
    return out


def hourly_load_profile(load_daily: pd.DataFrame, cfg: ParkingConfig) -> np.ndarray:
    """Mean weekday profile of the configured month (NYISO system load), hourly, divided by its peak, x scale."""
    cols = [c for c in load_daily.columns if c.startswith("load_mw_t")]
    if not cols:
        raise ParkingInputError("load_daily: no 'load_mw_tNNN' columns (made by the ingest pipeline)")
    sel = load_daily[(load_daily["month"] == cfg.inputs.load_month) & (~load_daily["is_weekend"].astype(bool))]
    if sel.empty:
        raise ParkingInputError(f"load_daily: no weekday of month {cfg.inputs.load_month} (parking.inputs.load_month)")
    prof = np.nanmean(sel[cols].to_numpy(float), axis=0)
    hourly = prof.reshape(T_STEPS, -1).mean(axis=1)
    return hourly / hourly.max() * cfg.inputs.load_scale


def _hourly(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, float)
    if x.size % T_STEPS:
        raise ParkingInputError(f"a daily profile has {x.size} steps, not a multiple of {T_STEPS}")
    return x.reshape(T_STEPS, -1).mean(axis=1)


# ---------------------------------------------------------------------------------------------- days


def workplace_sessions(ev_features: pd.DataFrame, cfg: ParkingConfig) -> pd.DataFrame:
    """Real workplace sessions (ACN, weekdays): arrival_h, departure_h, duration_h, energy_kwh, date."""
    for col in ("source", "is_weekend", "arrival_h", "departure_h", "duration_h", "energy_kwh", "date"):
        if col not in ev_features.columns:
            raise ParkingInputError(f"ev_session_features: missing column '{col}' (made by the ingest pipeline)")
    s = ev_features[(ev_features["source"] == cfg.inputs.acn_source) & (~ev_features["is_weekend"].astype(bool))]
    s = s.dropna(subset=["energy_kwh", "duration_h"])
    s = s[s["energy_kwh"] > 0]
    if len(s) < cfg.ev.energy_neighbours:
        raise ParkingInputError(f"ev_session_features: only {len(s)} weekday sessions of source "
                                f"{cfg.inputs.acn_source!r} with kWhDelivered; need >= parking.ev.energy_neighbours")
    return s[["date", "arrival_h", "departure_h", "duration_h", "energy_kwh"]].reset_index(drop=True)


def energy_from_duration(duration_h: np.ndarray, sessions: pd.DataFrame, k: int, rng) -> np.ndarray:
    """kWhDelivered of a random one of the ``k`` real sessions with the nearest duration (conditional bootstrap)."""
    srt = sessions.sort_values("duration_h")
    d = srt["duration_h"].to_numpy(float)
    e = srt["energy_kwh"].to_numpy(float)
    pos = np.searchsorted(d, np.asarray(duration_h, float))
    lo = np.clip(pos - k // 2, 0, max(len(d) - k, 0))
    pick = lo + rng.integers(0, min(k, len(d)), size=len(pos))
    return e[pick]


def _lot_labels(cfg: ParkingConfig) -> np.ndarray:
    return np.repeat([lot.name for lot in cfg.lots], [lot.n_evs for lot in cfg.lots])


def gan_days(ev_times: pd.DataFrame, pv: pd.DataFrame, sessions: pd.DataFrame, cfg: ParkingConfig,
             n_days: int, first: int = 0) -> list[Day]:
    """``n_days`` GAN days: EV pairs drawn (with replacement, seeded) from ``ev_times`` scenarios, PV and ambient
    from pv scenario ``first + d``, energy needs from real sessions of similar duration."""
    for col in ("arrival_h", "departure_h"):
        if col not in ev_times.columns:
            raise ParkingInputError(f"ev_times.scenarios: missing column '{col}' (made by the gan pipeline)")
    bad = np.flatnonzero(~(ev_times["departure_h"].to_numpy(float) > ev_times["arrival_h"].to_numpy(float)))
    if bad.size:
        raise ParkingInputError(f"ev_times.scenarios (data/07_model_output/scenarios/ev_times.parquet): row {bad[0]} "
                                f"has departure_h {ev_times['departure_h'].iloc[bad[0]]} <= arrival_h "
                                f"{ev_times['arrival_h'].iloc[bad[0]]} ({bad.size} such rows)")
    pv_days = _pv_scenarios(pv)
    ids = sorted(pv_days)
    if first + n_days > len(ids):
        raise ParkingInputError(f"pv.scenarios has {len(ids)} scenarios; the study needs {first + n_days}")
    n_ev = sum(lot.n_evs for lot in cfg.lots)
    out = []
    for d in range(n_days):
        rng = np.random.default_rng([cfg.seed, first + d])
        rows = rng.integers(0, len(ev_times), size=n_ev)
        arr = ev_times["arrival_h"].to_numpy(float)[rows]
        dep = ev_times["departure_h"].to_numpy(float)[rows]
        evs = pd.DataFrame({"lot": _lot_labels(cfg), "arrival_h": arr, "departure_h": dep})
        evs["energy_kwh"] = energy_from_duration(dep - arr, sessions, cfg.ev.energy_neighbours, rng)
        pvk, amb = pv_days[ids[first + d]]
        out.append(Day(name=f"gan{first + d}", kind="gan", pv_kw_per_kwp=pvk, ambient_c=amb, evs=evs))
    return out


def representative_pv_day(pv: pd.DataFrame) -> int:
    """Position (in scenario-id order) of the ``pv`` scenario whose daily PV energy (kWh/kWp) is the median of the
    set (the lower median for an even count): the paper's Tables V-VII are one typical generated day."""
    days = _pv_scenarios(pv)
    ids = sorted(days)
    energy = np.array([float(days[i][0].sum()) for i in ids])
    return int(np.argsort(energy, kind="stable")[(len(ids) - 1) // 2])


def _pv_scenarios(pv: pd.DataFrame) -> dict:
    for col in ("scenario_id", "step", "variable", "value"):
        if col not in pv.columns:
            raise ParkingInputError(f"pv.scenarios: missing column '{col}' (made by the gan pipeline)")
    wide = pv.pivot_table(index=["scenario_id", "variable"], columns="step", values="value")
    out = {}
    for sid in wide.index.get_level_values(0).unique():
        try:
            pvk = _hourly(wide.loc[(sid, "pv_kw_per_kwp")].to_numpy())
            amb = _hourly(wide.loc[(sid, "temp_air_c")].to_numpy())
        except KeyError as exc:
            raise ParkingInputError(f"pv.scenarios: scenario {sid} lacks variable {exc} "
                                    "(need pv_kw_per_kwp and temp_air_c)") from exc
        out[int(sid)] = (pvk, amb)
    return out


def real_days(sessions: pd.DataFrame, weather_daily: pd.DataFrame, cfg: ParkingConfig, pv_system) -> list[Day]:
    """Held-out real days: a real ACN weekday's sessions (resampled to the lots' EV counts) and a real weather day."""
    from evgrid.scenarios.pv import pv_kw_per_kwp

    out = []
    n_ev = sum(lot.n_evs for lot in cfg.lots)
    for i, (date, wdate) in enumerate(zip(cfg.study.heldout_dates, cfg.study.heldout_pv_dates, strict=True)):
        day = sessions[pd.to_datetime(sessions["date"]).dt.strftime("%Y-%m-%d") == str(date)]
        if day.empty:
            raise ParkingInputError(f"parking.study.heldout_dates[{i}]: no ACN weekday session on {date}")
        w = weather_daily[pd.to_datetime(weather_daily["date"]).dt.strftime("%Y-%m-%d") == str(wdate)]
        if w.empty:
            raise ParkingInputError(f"parking.study.heldout_pv_dates[{i}]: no weather day {wdate} in weather_daily")
        ghi = w[[c for c in w.columns if c.startswith("ghi_w_per_m2_t")]].to_numpy(float)
        tmp = w[[c for c in w.columns if c.startswith("temp_air_c_t")]].to_numpy(float)
        pvk = pv_kw_per_kwp(ghi, tmp, np.array([np.datetime64(str(wdate))]), pv_system)[0]
        rng = np.random.default_rng([cfg.seed, 10_000 + i])
        rows = rng.integers(0, len(day), size=n_ev)
        evs = pd.DataFrame({"lot": _lot_labels(cfg), "arrival_h": day["arrival_h"].to_numpy(float)[rows],
                            "departure_h": day["departure_h"].to_numpy(float)[rows],
                            "energy_kwh": day["energy_kwh"].to_numpy(float)[rows]})
        out.append(Day(name=f"real_{date}", kind="real", pv_kw_per_kwp=_hourly(pvk), ambient_c=_hourly(tmp[0]),
                       evs=evs, counts={"real_sessions": int(len(day))}))
    return out


# ---------------------------------------------------------------------------------------------- EVs


def overlap_hours(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(n, 24) hours of [start, end) inside each hour [t, t+1)."""
    t = np.arange(T_STEPS, dtype=float)
    s = np.asarray(start, float)[:, None]
    e = np.asarray(end, float)[:, None]
    return np.clip(np.minimum(e, t + 1.0) - np.maximum(s, t), 0.0, 1.0)


def uncoordinated_kw(start: np.ndarray, end: np.ndarray, energy_kwh: np.ndarray, rate_kw: float) -> np.ndarray:
    """(n, 24) hourly mean power of EVs charging at ``rate_kw`` from arrival until full or departure."""
    full_at = np.asarray(start, float) + np.asarray(energy_kwh, float) / rate_kw
    return rate_kw * overlap_hours(start, np.minimum(end, full_at))


def prepare_day(day: Day, cfg: ParkingConfig) -> PreparedDay:
    """Quantise, cap energy, split controllable / fixed EVs and group classes (see module docstring)."""
    ev = cfg.ev
    evs = day.evs.copy()
    counts = dict(day.counts)
    counts["n_evs"] = int(len(evs))
    late = evs["departure_h"] > T_STEPS
    counts["departure_clipped_to_24h"] = int(late.sum())
    evs.loc[late, "departure_h"] = float(T_STEPS)
    cap = (ev.soc_upper - ev.soc_lower) * ev.battery_kwh
    capped = evs["energy_kwh"] > cap
    counts["energy_capped_by_battery"] = int(capped.sum())
    q = ev.arrival_quantum_min / 60.0
    e_q = np.ceil(np.round(evs["energy_kwh"].clip(upper=cap) / ev.energy_quantum_kwh, 9)) * ev.energy_quantum_kwh
    evs["energy_kwh"] = np.minimum(e_q, cap)
    evs["arrival_q_h"] = np.ceil(np.round(evs["arrival_h"] / q, 9)) * q
    evs["departure_q_h"] = np.floor(np.round(evs["departure_h"] / q, 9)) * q
    stay = (evs["departure_q_h"] - evs["arrival_q_h"]).clip(lower=0.0)
    evs["controllable"] = evs["energy_kwh"] <= ev.charger_kva * stay + 1e-9
    counts["uncontrolled_cannot_be_fully_charged"] = int((~evs["controllable"]).sum())
    lots = [lot.name for lot in cfg.lots]
    unc = evs[~evs["controllable"]]
    fixed = np.zeros((T_STEPS, len(lots)))
    if len(unc):
        kw = uncoordinated_kw(unc["arrival_h"], unc["departure_h"], unc["energy_kwh"], ev.charger_kva)
        for j, name in enumerate(lots):
            fixed[:, j] = kw[(unc["lot"] == name).to_numpy()].sum(axis=0)
    ctrl = evs[evs["controllable"]]
    keys = ["lot", "arrival_q_h", "departure_q_h", "energy_kwh"]
    classes = ctrl.groupby(keys, sort=True).size().rename("n").reset_index()
    classes.index.name = "class_id"
    cid = ctrl[keys].merge(classes.reset_index(), on=keys, how="left")["class_id"].to_numpy()
    evs["class_id"] = -1
    evs.loc[ctrl.index, "class_id"] = cid
    avail = overlap_hours(classes["arrival_q_h"], classes["departure_q_h"])
    counts["controllable_evs"] = int(len(ctrl))
    counts["classes"] = int(len(classes))
    return PreparedDay(day=day, evs=evs, classes=classes, avail_h=avail,
                       fixed_kw=pd.DataFrame(fixed, columns=lots), counts=counts)


def check_lot_feasibility(system: ParkingSystem, prep: PreparedDay, pv_scale: float = 1.0) -> pd.DataFrame:
    """Up-front check that each lot can deliver its EVs' energy (necessary condition, every hour window).

    For every lot and hour window [a, b): the energy of the controllable EVs whose stays lie inside the window
    must not exceed sum_t (K_lim,t S_r + PV_t - fixed_t) dt, where K_lim,t is the loading limit at the hot-spot
    limit and that hour's ambient. Raises :class:`LotInfeasibleError` naming the worst window; returns the
    per-lot margins.
    """
    cfg = system.cfg
    rows = []
    for name, lot in system.lots.iterrows():
        th = system.thermal[name]
        klim = np.array([th.max_load_factor(a, cfg.transformer.hot_spot_limit_c, cfg.transformer.loading_limit_pu)
                         for a in prep.day.ambient_c])
        cap = klim * lot.transformer_kva + pv_scale * lot.pv_kwp * prep.day.pv_kw_per_kwp - prep.fixed_kw[name].to_numpy()
        cls = prep.classes[prep.classes["lot"] == name]
        need = np.zeros((T_STEPS + 1, T_STEPS + 1))
        a_idx = np.floor(cls["arrival_q_h"].to_numpy()).astype(int)
        b_idx = np.ceil(cls["departure_q_h"].to_numpy()).astype(int)
        np.add.at(need, (a_idx, b_idx), (cls["n"] * cls["energy_kwh"]).to_numpy())
        # energy of classes inside [a, b): 2-D suffix/prefix sums over a >= a0, b <= b0
        inside = need[::-1, :].cumsum(axis=0)[::-1, :].cumsum(axis=1)
        ccap = np.concatenate([[0.0], np.cumsum(np.maximum(cap, 0.0) * STEP_H)])
        worst = (np.inf, 0, 0)
        for a in range(T_STEPS):
            for b in range(a + 1, T_STEPS + 1):
                margin = (ccap[b] - ccap[a]) - inside[a, b]
                if margin < worst[0]:
                    worst = (margin, a, b)
        rows.append({"lot": name, "min_margin_kwh": worst[0], "window_start_h": worst[1], "window_end_h": worst[2],
                     "energy_kwh": float((cls["n"] * cls["energy_kwh"]).sum())})
        if worst[0] < -1e-6:
            a, b = worst[1], worst[2]
            raise LotInfeasibleError(
                f"day {prep.day.name}: lot '{name}' cannot deliver its EVs' energy between {a}:00 and {b}:00: "
                f"{inside[a, b]:.0f} kWh needed by EVs staying inside that window, at most "
                f"{ccap[b] - ccap[a]:.0f} kWh deliverable (transformer {lot.transformer_kva:.0f} kVA at its hot-spot/"
                f"loading limit + PV - uncontrolled EVs); reduce parking.lots n_evs or raise transformer_kva")
    return pd.DataFrame(rows)

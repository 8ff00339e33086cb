"""Scenario inputs of the ``dro`` study: GAN scenario files and real days -> aligned arrays, and the
support atoms of the distributionally robust model (Kedro-free).

A *scenario* is one day of four uncertain channels at the 96-step grid: section traffic flow (veh/h),
PV output per kWp, wind speed (m/s) and the substation price (LBMP, $/MWh).

* ``dro.scenarios.generator: gan``: GAN scenarios come from ``traffic.scenarios``, ``pv.scenarios`` and
  ``price.scenarios`` (long format, see docs/architecture.md), paired by ``scenario_id`` (independent
  families). They have no wind, so each GAN scenario takes the wind speed of a real weather day of the
  training side (seeded draw).
* ``generator: joint`` (issue 13 item 4): traffic flow, GHI, air temperature and wind speed come from ONE
  multi-channel scenario of the ``joint`` family (``joint.scenarios``, trained on co-temporal days of
  ``joint_daily``); PV from its GHI + temperature through the same pvlib chain as the real days; prices
  from ``price.scenarios`` paired by ``scenario_id``: independent of traffic and weather given the
  calendar label (no price data overlaps the traffic/weather years).
* Real days come from the ingest feature matrices. Traffic (2012-2017) and weather (2010-2017) overlap,
  so a *joint real day* takes both from the SAME date (``joint_daily`` with the joint generator, else
  the dates common to ``traffic_daily`` and ``weather_daily``: the same days); prices (2019-2020) overlap
  neither and are drawn from the same side of the price cut-off (see :func:`dated_real_days`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evgrid.data.features import daily_matrix
from evgrid.optim.robust import distance_matrix, reduce_scenarios, standardise_features
from evgrid.scenarios.calendar import decode_label
from evgrid.scenarios.pv import PVSystem, pv_kw_per_kwp, representative_dates
from evgrid.scenarios.split import SplitConfig, first_test_day, temporal_split
from evgrid.studies.dro.config import DroConfig
from evgrid.studies.dro.system import feature_blocks, make_system, to_model_data
from evgrid.timeseries import block_mean

log = logging.getLogger(__name__)

# expected variables and accepted unit spellings per GAN family
GAN_VARIABLES: dict[str, dict[str, set[str]]] = {
    "traffic": {"flow_veh_per_h": {"veh/h", "veh_per_h", "vehicles/h"}},
    "pv": {"pv_kw_per_kwp": {"kw/kwp", "kw_per_kwp"}},
    "price": {"lbmp_usd_per_mwh": {"usd/mwh", "$/mwh", "usd_per_mwh"}},
    "joint": {"flow_veh_per_h": {"veh/h", "veh_per_h", "vehicles/h"}, "ghi_w_per_m2": {"w/m2", "w_per_m2"},
              "temp_air_c": {"degc", "c", "°c"}, "wind_speed_m_per_s": {"m/s", "m_per_s"}},
}
JOINT_VARIABLES = ("flow_veh_per_h", "ghi_w_per_m2", "temp_air_c", "wind_speed_m_per_s")
CHANNELS = ("flow_veh_per_h", "pv_kw_per_kwp", "wind_speed_m_per_s", "lbmp_usd_per_mwh")


class ScenarioInputError(ValueError):
    """A scenario file or feature matrix does not match what the dro pipeline needs."""


@dataclass
class RawScenarios:
    """Channels (n, 96) of a set of scenario days plus a label per day."""

    channels: dict[str, np.ndarray]
    labels: list[str]
    source: str

    @property
    def n(self) -> int:
        return len(self.labels)

    def subset(self, idx) -> RawScenarios:
        idx = np.asarray(idx, dtype=int)
        return RawScenarios({k: v[idx] for k, v in self.channels.items()}, [self.labels[i] for i in idx],
                            self.source)

    def concat(self, other: RawScenarios) -> RawScenarios:
        return RawScenarios({k: np.concatenate([v, other.channels[k]]) for k, v in self.channels.items()},
                            self.labels + other.labels, f"{self.source}+{other.source}")


def _norm_unit(u: str) -> str:
    return str(u).strip().lower().replace(" ", "")


def gan_matrix(df: pd.DataFrame, family: str, variable: str, n_steps: int = 96) -> tuple[np.ndarray, np.ndarray, list]:
    """One variable of a long GAN scenario frame -> (scenario ids, (n, n_steps) array, labels)."""
    where = f"GAN scenarios '{family}.scenarios' (data/07_model_output/scenarios/{family}.parquet)"
    need = {"scenario_id", "step", "variable", "value", "unit"}
    missing = need - set(df.columns)
    if missing:
        raise ScenarioInputError(f"{where}: missing columns {sorted(missing)}")
    sub = df[df["variable"] == variable]
    if sub.empty:
        raise ScenarioInputError(f"{where}: no rows for variable {variable!r} "
                                 f"(variables present: {sorted(df['variable'].unique())})")
    units = {_norm_unit(u) for u in sub["unit"].unique()}
    ok = GAN_VARIABLES.get(family, {}).get(variable)
    if ok is not None and not units <= ok:
        raise ScenarioInputError(f"{where}: variable {variable!r} has unit(s) {sorted(units)}, expected one of "
                                 f"{sorted(ok)}")
    wide = sub.pivot_table(index="scenario_id", columns="step", values="value", aggfunc="first")
    steps = list(wide.columns)
    if steps != list(range(n_steps)):
        raise ScenarioInputError(f"{where}: variable {variable!r} has steps {steps[:3]}...{steps[-3:]} "
                                 f"({len(steps)} steps); expected 0..{n_steps - 1} (mismatched scenario length)")
    arr = wide.to_numpy(float)
    if not np.all(np.isfinite(arr)):
        bad = wide.index[~np.isfinite(arr).all(axis=1)].tolist()
        raise ScenarioInputError(f"{where}: variable {variable!r} has missing values in scenarios {bad[:10]}")
    if "label" in sub.columns:
        lab = sub.groupby("scenario_id")["label"].first().reindex(wide.index).astype(str).tolist()
    else:
        lab = ["all"] * len(wide)
    return wide.index.to_numpy(), arr, lab


def label_matches(label: str, months: list[int], weekend: bool | None) -> bool:
    """Whether a GAN condition label (:func:`evgrid.scenarios.calendar.decode_label`) is of the day type."""
    try:
        month, is_weekend = decode_label(str(label))
    except ValueError as e:
        raise ScenarioInputError(f"GAN scenario label {label!r}: {e}") from e
    if month is not None and month not in months:
        return False
    return not (is_weekend is not None and weekend is not None and is_weekend != weekend)


def gan_scenarios(frames: dict[str, pd.DataFrame], months: list[int], weekend: bool | None,
                  n_steps: int = 96) -> tuple[RawScenarios, dict]:
    """Pair the GAN families by ``scenario_id``; keep scenarios of the day type (all if none match)."""
    mats = {"traffic": gan_matrix(frames["traffic"], "traffic", "flow_veh_per_h", n_steps),
            "pv": gan_matrix(frames["pv"], "pv", "pv_kw_per_kwp", n_steps),
            "price": gan_matrix(frames["price"], "price", "lbmp_usd_per_mwh", n_steps)}
    ids = {f: set(m[0].tolist()) for f, m in mats.items()}
    common = set.intersection(*ids.values())
    if len(common) != max(len(v) for v in ids.values()):
        counts = {f: len(v) for f, v in ids.items()}
        raise ScenarioInputError(
            f"GAN scenario files do not pair up: scenario counts {counts}, {len(common)} common scenario_id; "
            "regenerate them together with `kedro run --pipelines=gan` (same gan.sampling.n_scenarios)")
    order = sorted(common)
    chans = {}
    for fam, var in (("traffic", "flow_veh_per_h"), ("pv", "pv_kw_per_kwp"), ("price", "lbmp_usd_per_mwh")):
        sid, arr, _ = mats[fam]
        pos = pd.Index(sid).get_indexer(order)
        chans[var] = arr[pos]
    labels_ = mats["traffic"][2]
    pos = pd.Index(mats["traffic"][0]).get_indexer(order)
    labels = [labels_[i] for i in pos]
    keep = np.array([label_matches(lab, months, weekend) for lab in labels])
    info = {"gan_scenarios_read": len(order), "gan_scenarios_matching_day_type": int(keep.sum()),
            "gan_labels": sorted(set(labels))}
    if keep.sum() == 0:
        info["gan_day_type_note"] = "no GAN label matches the day type: all GAN scenarios used"
        keep[:] = True
    idx = np.flatnonzero(keep)
    chans = {k: v[idx] for k, v in chans.items()}
    chans["wind_speed_m_per_s"] = np.full_like(chans["flow_veh_per_h"], np.nan)  # filled from real days
    return RawScenarios(chans, [labels[i] for i in idx], "gan"), info


def joint_gan_scenarios(joint: pd.DataFrame, price: pd.DataFrame, months: list[int], weekend: bool | None,
                        pv_fn, year: int, n_steps: int = 96) -> tuple[RawScenarios, dict]:
    """Scenarios of the ``joint`` family (traffic flow, GHI, air temperature, wind speed of one generated
    co-temporal day) paired by ``scenario_id`` with the ``price`` family; keep those of the day type.

    PV per kWp is ``pv_fn(ghi, temp, dates)`` at the 15th of the label's month of ``year`` (the solar
    geometry of a generated day). The price is an independent draw given the calendar label: the price
    family's label must be of the day type too (checked)."""
    mats = {v: gan_matrix(joint, "joint", v, n_steps) for v in JOINT_VARIABLES}
    ids = {v: m[0] for v, m in mats.items()}
    first = ids[JOINT_VARIABLES[0]]
    for v, sid in ids.items():
        if len(sid) != len(first) or not np.array_equal(np.sort(sid), np.sort(first)):
            raise ScenarioInputError(f"GAN scenarios 'joint.scenarios': variable {v!r} has {len(sid)} scenarios, "
                                     f"{JOINT_VARIABLES[0]!r} {len(first)}: each scenario must hold every channel")
    p_ids, p_arr, p_lab = gan_matrix(price, "price", "lbmp_usd_per_mwh", n_steps)
    common = np.intersect1d(first, p_ids)
    if len(common) != max(len(first), len(p_ids)):
        raise ScenarioInputError(
            f"GAN scenario files do not pair up: joint {len(first)} and price {len(p_ids)} scenarios, "
            f"{len(common)} common scenario_id; regenerate them together with `kedro run --pipelines=gan` "
            "(same gan.sampling.n_scenarios)")
    chans = {}
    for v, (sid, arr, _lab) in mats.items():
        chans[v] = arr[pd.Index(sid).get_indexer(common)]
    sid0, _, lab0 = mats[JOINT_VARIABLES[0]]
    labels = [lab0[i] for i in pd.Index(sid0).get_indexer(common)]
    p_pos = pd.Index(p_ids).get_indexer(common)
    p_labels = [p_lab[i] for i in p_pos]
    keep = np.array([label_matches(lab, months, weekend) for lab in labels])
    p_keep = np.array([label_matches(lab, months, weekend) for lab in p_labels])
    info = {"gan_scenarios_read": len(common), "gan_scenarios_matching_day_type": int(keep.sum()),
            "gan_labels": sorted(set(labels)), "gan_price_labels": sorted(set(p_labels)),
            "gan_price_pairing": "independent: paired by scenario_id, drawn for the same calendar label"}
    if keep.sum() == 0:
        raise ScenarioInputError(f"'joint.scenarios': no scenario label {sorted(set(labels))} is of the dro day "
                                 f"type (months {months}, weekend={weekend}); set gan.sampling to such a day")
    if not p_keep[keep].all():
        raise ScenarioInputError(f"'price.scenarios' labels {sorted(set(p_labels))} are not of the dro day type "
                                 f"(months {months}, weekend={weekend}) while the joint ones are")
    idx = np.flatnonzero(keep)
    label_months = np.array([decode_label(labels[i])[0] or 7 for i in idx])
    dates = representative_dates(label_months, int(year))
    out = {"flow_veh_per_h": chans["flow_veh_per_h"][idx],
           "pv_kw_per_kwp": pv_fn(chans["ghi_w_per_m2"][idx], chans["temp_air_c"][idx], dates),
           "wind_speed_m_per_s": chans["wind_speed_m_per_s"][idx],
           "lbmp_usd_per_mwh": p_arr[p_pos][idx]}
    return RawScenarios(out, [labels[i] for i in idx], "gan_joint"), info


def _day_type_rows(df: pd.DataFrame, name: str, months: list[int], weekend: bool | None) -> pd.DataFrame:
    for col in ("date", "month", "is_weekend"):
        if col not in df.columns:
            raise ScenarioInputError(f"feature matrix {name!r}: missing key column {col!r}")
    sel = df["month"].isin(months)
    if weekend is not None:
        sel &= df["is_weekend"].astype(bool) == bool(weekend)
    out = df[sel].sort_values("date").reset_index(drop=True)
    if len(out) < 4:
        raise ScenarioInputError(f"feature matrix {name!r} has only {len(out)} days of the day type "
                                 f"(months {months}, weekend={weekend}); need at least 4: widen "
                                 "parameter 'dro.day_type'")
    return out


def real_day_pools(traffic_daily: pd.DataFrame, weather_daily: pd.DataFrame, price_daily: pd.DataFrame,
                   months: list[int], weekend: bool | None, pv_fn) -> dict[str, dict[str, np.ndarray]]:
    """Per source, the day-type days' channels. ``pv_fn(ghi, temp, dates) -> kW/kWp`` converts weather."""
    tr = _day_type_rows(traffic_daily, "traffic_daily", months, weekend)
    we = _day_type_rows(weather_daily, "weather_daily", months, weekend)
    pr = _day_type_rows(price_daily, "price_daily", months, weekend)
    ghi = daily_matrix(we, "ghi_w_per_m2")
    temp = daily_matrix(we, "temp_air_c")
    pools = {
        "traffic": {"flow_veh_per_h": daily_matrix(tr, "flow_veh_per_h"), "date": tr["date"].to_numpy()},
        "weather": {"pv_kw_per_kwp": pv_fn(ghi, temp, we["date"].to_numpy()),
                    "wind_speed_m_per_s": daily_matrix(we, "wind_speed_m_per_s"), "date": we["date"].to_numpy()},
        "price": {"lbmp_usd_per_mwh": daily_matrix(pr, "lbmp_usd_per_mwh"), "date": pr["date"].to_numpy()},
    }
    for src, d in pools.items():
        for k, v in d.items():
            if k != "date" and not np.all(np.isfinite(v)):
                rows = np.flatnonzero(~np.isfinite(v).all(axis=1))
                raise ScenarioInputError(f"{src} feature days {d['date'][rows][:5]} have missing {k} values")
    return pools


RECORDS = {"traffic": "traffic_daily", "weather": "weather_daily", "price": "price_daily",
           "joint": "joint_daily", "joint_generator": "joint generator", "price_generator": "price generator"}


def _side_cutoffs(cutoffs: dict[str, np.datetime64], price: bool) -> list[np.datetime64]:
    return [v for k, v in cutoffs.items() if k.startswith("price") == price]


def dated_real_days(pools: dict, cutoffs: dict[str, np.datetime64], n_train: int, max_test: int, seed: int
                    ) -> tuple[RawScenarios, RawScenarios, pd.DataFrame, dict]:
    """Joint real days split by date (issue 13 items 3-5).

    Traffic and weather overlap in time, so a joint day takes both from the SAME date (co-temporal).
    ``cutoffs``: first test day per record (``traffic``, ``weather``, with the joint generator also
    ``joint`` = joint_daily and ``joint_generator`` = the generator's own first test day) and, on the price
    side, every key starting with ``price``. Train: date before EVERY traffic/weather-side cut-off; test:
    date on/after every one (days between are dropped: one channel or generator would see a test day). Prices do not overlap
    (2019-2020): each joint day takes a price day of the same side of the price cut-off and the same
    month where that side has one (seeded draw), else any month of that side; that independence is
    stated in docs/dro.md. ``n_train`` training days are drawn (seeded) from the training pool; the
    test set is every test day (a seeded subsample of ``max_test`` if larger).
    Returns train, test, a date table (set, channel, date) and counts.
    """
    rng = np.random.default_rng(seed)
    tr_dates = pd.to_datetime(pools["traffic"]["date"]).to_numpy("datetime64[D]")
    we_dates = pd.to_datetime(pools["weather"]["date"]).to_numpy("datetime64[D]")
    pr_dates = pd.to_datetime(pools["price"]["date"]).to_numpy("datetime64[D]")
    common, i_tr, i_we = np.intersect1d(tr_dates, we_dates, return_indices=True)
    # every traffic/weather-side cut-off (records, joint record, joint generator's first test day)
    lo, hi = min(_side_cutoffs(cutoffs, False)), max(_side_cutoffs(cutoffs, False))
    sides = {"train": np.flatnonzero(common < lo), "test": np.flatnonzero(common >= hi)}
    p_lo, p_hi = min(_side_cutoffs(cutoffs, True)), max(_side_cutoffs(cutoffs, True))
    price_side = {"train": np.flatnonzero(pr_dates < p_lo), "test": np.flatnonzero(pr_dates >= p_hi)}
    out, rows, info = {}, [], {}
    for part, want in (("train", n_train), ("test", max_test)):
        pool = sides[part]
        if len(pool) < 2 or len(price_side[part]) < 1:
            raise ScenarioInputError(
                f"dated split leaves {len(pool)} joint traffic+weather {part} days and {len(price_side[part])} "
                f"price {part} days of the day type: widen parameter 'dro.day_type' or change 'split'")
        pick = np.sort(rng.choice(pool, size=min(want, len(pool)), replace=False))
        months = common[pick].astype("datetime64[M]").astype(int) % 12 + 1
        p_pool = price_side[part]
        p_months = pr_dates[p_pool].astype("datetime64[M]").astype(int) % 12 + 1
        p_pick, matched = [], 0
        for mth in months:
            same = p_pool[p_months == mth]
            matched += bool(len(same))
            p_pick.append(rng.choice(same if len(same) else p_pool))
        p_pick = np.asarray(p_pick, int)
        a, b = i_tr[pick], i_we[pick]
        chans = {
            "flow_veh_per_h": pools["traffic"]["flow_veh_per_h"][a],
            "pv_kw_per_kwp": pools["weather"]["pv_kw_per_kwp"][b],
            "wind_speed_m_per_s": pools["weather"]["wind_speed_m_per_s"][b],
            "lbmp_usd_per_mwh": pools["price"]["lbmp_usd_per_mwh"][p_pick],
        }
        labels = [f"date={pd.Timestamp(d).date()},price={pd.Timestamp(pr_dates[c]).date()}"
                  for d, c in zip(common[pick], p_pick, strict=True)]
        out[part] = RawScenarios(chans, labels, f"real_{part}")
        for i, (d, c) in enumerate(zip(common[pick], p_pick, strict=True)):
            rows += [{"set": f"real_{part}", "day": i, "channel": ch, "record": RECORDS[src], "date": pd.Timestamp(dd)}
                     for ch, src, dd in (("flow_veh_per_h", "traffic", d), ("pv_kw_per_kwp", "weather", d),
                                         ("wind_speed_m_per_s", "weather", d),
                                         ("lbmp_usd_per_mwh", "price", pr_dates[c]))]
        info[f"real_{part}_pool_days"] = int(len(pool))
        info[f"price_{part}_pool_days"] = int(len(p_pool))
        info[f"real_{part}_price_same_month"] = int(matched)
    info.update({f"cutoff_{RECORDS.get(k, k)}": str(v) for k, v in cutoffs.items()})
    info["joint_days_dropped_between_cutoffs"] = int(((common >= lo) & (common < hi)).sum())
    return out["train"], out["test"], pd.DataFrame(rows), info


def fill_wind(gan: RawScenarios, wind_pool: np.ndarray, seed: int) -> RawScenarios:
    """Give every GAN scenario the wind-speed day of a seeded real draw (the GAN has no wind family)."""
    rng = np.random.default_rng(seed)
    chans = dict(gan.channels)
    chans["wind_speed_m_per_s"] = wind_pool[rng.integers(0, len(wind_pool), size=gan.n)]
    return RawScenarios(chans, gan.labels, gan.source)


def load_profile(load_daily: pd.DataFrame, months: list[int], weekend: bool | None, k: int) -> np.ndarray:
    """Mean NYISO system-load shape of the day type, normalised to a peak of 1, at the model's steps."""
    rows = _day_type_rows(load_daily, "load_daily", months, weekend)
    mean = daily_matrix(rows, "load_mw").mean(axis=0)
    prof = block_mean(mean, mean.shape[-1] // k, "dro.aggregate_steps")
    return prof / prof.max()


def _generator_test_start(generator_info: dict | None, family: str) -> np.datetime64 | None:
    """First test day of a fitted generator from its ``<family>.gan_holdout_info`` (the gan pipeline's record
    of its dated split), or None when not given."""
    info = (generator_info or {}).get(family)
    if info is None:
        return None
    if "test_start" not in info:
        raise ScenarioInputError(f"'{family}.gan_holdout_info' has no 'test_start': rerun `kedro run --pipelines=gan`")
    return np.datetime64(pd.Timestamp(info["test_start"]).date(), "D")


def _support_and_test(gan: RawScenarios, sc, seed: int) -> tuple[RawScenarios, RawScenarios, int, int]:
    """Seeded split of the generated scenarios into the support set and fresh out-of-sample ones."""
    perm = np.random.default_rng(seed + 2).permutation(gan.n)
    n_sup = min(int(sc.max_gan_support), max(1, int(round(float(sc.gan_support_fraction) * gan.n))))
    n_test = min(int(sc.max_gan_test), gan.n - n_sup)
    if n_test < 1:
        raise ScenarioInputError(f"only {gan.n} GAN scenarios of the day type: need more than {n_sup} "
                                 "(support) to keep fresh ones for the out-of-sample test")
    return gan.subset(np.sort(perm[:n_sup])), gan.subset(np.sort(perm[n_sup:n_sup + n_test])), n_sup, n_test


def prepare_scenarios(traffic_daily: pd.DataFrame, weather_daily: pd.DataFrame, price_daily: pd.DataFrame,
                      load_daily: pd.DataFrame, traffic_scenarios: pd.DataFrame, pv_scenarios: pd.DataFrame,
                      price_scenarios: pd.DataFrame, cfg: DroConfig, pv_system: dict, step_minutes: int,
                      split: SplitConfig | None = None, *, joint_daily: pd.DataFrame | None = None,
                      joint_scenarios: pd.DataFrame | None = None,
                      generator_info: dict[str, dict] | None = None) -> tuple[dict, dict]:
    """Real days (dated train / held-out), and generated scenarios (support / fresh test) when
    ``dro.scenarios.generator`` is ``gan`` or ``joint``, at the model's steps.

    The cut-off of each record is :func:`evgrid.scenarios.split.first_test_day` over the record's full
    dates (the same call the ``gan`` pipeline makes). With ``generator: joint`` the real days come from
    ``joint_daily`` (the joint family's record; its cut-off joins the others) and, when ``generator_info``
    (``{family: <family>.gan_holdout_info}``) is given, no test day precedes the first test day each
    generator reports, so a generator never saw a ``dro`` test day even if its own split differs.
    ``sets["dates"]`` lists every date used, per set and channel.
    """
    split = split or SplitConfig()
    seed = int(cfg.seed)
    dt_par = cfg.day_type
    months = [int(m) for m in dt_par.months]
    weekend = dt_par.weekend
    n_steps = 24 * 60 // int(step_minutes)
    system = PVSystem(**pv_system)

    def pv_fn(ghi, temp, dates):
        return pv_kw_per_kwp(ghi, temp, dates, system)

    cutoffs = {src: first_test_day(df["date"], split, RECORDS[src])
               for src, df in (("traffic", traffic_daily), ("weather", weather_daily), ("price", price_daily))}
    sc = cfg.scenarios
    if sc.generator == "joint":
        if joint_daily is None or joint_scenarios is None:
            raise ScenarioInputError("dro.scenarios.generator: joint needs the datasets 'joint_daily' (kedro run "
                                     "--pipelines=ingest) and 'joint.scenarios' (kedro run --pipelines=gan)")
        cutoffs["joint"] = first_test_day(joint_daily["date"], split, RECORDS["joint"])
        for fam in ("joint", "price"):
            start = _generator_test_start(generator_info, fam)
            if start is not None:
                cutoffs[f"{fam}_generator"] = start
        # traffic and weather of the same date from the joint family's own record
        pools = real_day_pools(joint_daily, joint_daily, price_daily, months, weekend, pv_fn)
    else:
        pools = real_day_pools(traffic_daily, weather_daily, price_daily, months, weekend, pv_fn)
    real_train, real_test, dates, info = dated_real_days(pools, cutoffs, int(sc.n_train_days),
                                                         int(sc.max_test_days), seed)
    k = int(cfg.aggregate_steps)
    load_train, _ = temporal_split(load_daily["date"], split, "load_daily")
    profile = load_profile(load_daily[load_train], months, weekend, k)
    sets = {"real_train": real_train, "real_test": real_test, "load_profile": profile, "dates": dates}
    report = {**info, "real_train_days": real_train.n, "real_test_days": real_test.n, "model_steps": n_steps // k,
              "step_h": step_minutes * k / 60.0, "generator": sc.generator,
              "load_profile_days_before": str(first_test_day(load_daily["date"], split, "load_daily"))}
    if sc.generator == "gan":
        gan, gan_info = gan_scenarios({"traffic": traffic_scenarios, "pv": pv_scenarios, "price": price_scenarios},
                                      months, weekend, n_steps)
        train_wind = pools["weather"]["wind_speed_m_per_s"][
            pd.to_datetime(pools["weather"]["date"]).to_numpy("datetime64[D]") < cutoffs["weather"]]
        gan = fill_wind(gan, train_wind, seed + 1)
        sets["gan_support"], sets["gan_test"], n_sup, n_test = _support_and_test(gan, sc, seed)
        report.update({**gan_info, "gan_support": n_sup, "gan_test": n_test})
    elif sc.generator == "joint":
        gan, gan_info = joint_gan_scenarios(joint_scenarios, price_scenarios, months, weekend, pv_fn,
                                            int(sc.generated_day_year), n_steps)
        sets["gan_support"], sets["gan_test"], n_sup, n_test = _support_and_test(gan, sc, seed)
        report.update({**gan_info, "gan_support": n_sup, "gan_test": n_test})
    log.info("dro scenarios: %s", report)
    return sets, report


def build_atoms(network, sets: dict, cfg: DroConfig, step_minutes: int) -> tuple[dict, pd.DataFrame]:
    """Nominal atoms = k-medoids of the real training days; extra support = k-medoids of the GAN set
    (only with ``dro.scenarios.generator: gan``; otherwise the ball's support is the nominal atoms).

    Features: standardised total lane demand, PV, wind and price per step (:func:`feature_blocks`);
    ``distances[i, j]`` = ground distance of nominal atom ``i`` to support atom ``j`` (the ball's metric).
    """
    seed = int(cfg.seed)
    sysm = make_system(network, cfg, sets["load_profile"], step_minutes)
    sc = cfg.scenarios
    train, train_traffic = to_model_data(sets["real_train"].channels, sysm, cfg)
    blocks = feature_blocks(train)
    feats_train, scales = standardise_features(blocks)
    red_nom = reduce_scenarios(feats_train, int(sc.n_nominal), seed)
    nom_feats = feats_train[red_nom.medoids]
    data = train.subset(red_nom.medoids)
    labels = [sets["real_train"].labels[i] for i in red_nom.medoids]
    n_gan = 0
    gan_feats = np.zeros((0, nom_feats.shape[1]))
    gan_probs = np.zeros(0)
    red_gan_w1 = np.nan
    if "gan_support" in sets:
        gan, _ = to_model_data(sets["gan_support"].channels, sysm, cfg)
        feats_gan, _ = standardise_features(feature_blocks(gan), reference=blocks)
        red_gan = reduce_scenarios(feats_gan, int(sc.n_gan_atoms), seed + 1)
        gan_feats, gan_probs, red_gan_w1 = feats_gan[red_gan.medoids], red_gan.probabilities, red_gan.wasserstein_distance
        data = data.concat(gan.subset(red_gan.medoids))
        labels += [sets["gan_support"].labels[i] for i in red_gan.medoids]
        n_gan = len(red_gan.medoids)
    support_feats = np.vstack([nom_feats, gan_feats])
    dist = distance_matrix(nom_feats, support_feats)
    n_nom = len(red_nom.medoids)
    table = pd.DataFrame({
        "atom": np.arange(data.n_scenarios),
        "source": ["real"] * n_nom + ["gan"] * n_gan,
        "nominal_probability": np.concatenate([red_nom.probabilities, np.zeros(n_gan)]),
        "cluster_mass": np.concatenate([red_nom.probabilities, gan_probs]),
        "label": labels,
        "train_day": np.concatenate([red_nom.medoids, np.full(n_gan, -1)]),
        "distance_to_nearest_nominal": dist.min(axis=0),
    })
    if sysm.renewables["kind"].eq("wind").any() and float(train.wind_pu.max()) <= 0.0:
        log.warning("dro: wind availability is zero on every training day (power curve below cut-in): the "
                    "wind units can never run; use dro.renewables.wind.model: paper_band or real wind data")
    atoms = {"system": sysm, "data": data, "evs_on_lane": train_traffic["evs_on_lane"][red_nom.medoids],
             "lane_flow_veh_per_h": train_traffic["lane_flow_veh_per_h"][red_nom.medoids],
             "n_nominal": n_nom, "p_nominal": red_nom.probabilities,
             "distances": dist, "scales": scales, "train": train, "train_features": feats_train,
             "gan_atom_features": gan_feats, "train_all": train,
             "reduction": {"w1_real_to_nominal": red_nom.wasserstein_distance, "w1_gan_to_atoms": red_gan_w1,
                           "mean_distance_gan_atoms_to_nominal":
                               float(dist[:, n_nom:].min(axis=0).mean()) if n_gan else np.nan}}
    log.info("dro atoms: %d nominal + %d GAN; %s", n_nom, n_gan, atoms["reduction"])
    return atoms, table

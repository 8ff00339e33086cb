"""Scenario inputs of the ``dro`` model: GAN scenario files and real days -> aligned arrays (Kedro-free).

A *scenario* is one day of four uncertain channels at the 96-step grid: section traffic flow (veh/h),
PV output per kWp, wind speed (m/s) and the substation price (LBMP, $/MWh).

* GAN scenarios come from ``traffic.scenarios``, ``pv.scenarios`` and ``price.scenarios`` (long format,
  see docs/architecture.md). They are paired by ``scenario_id``. The GAN has no wind family, so each GAN
  scenario takes the wind speed of a real weather day of the same day type (seeded draw).
* Real days come from the ingest feature matrices. The embedded sources cover different years
  (traffic 2012-2017, weather 2010-2017, prices 2019-2020), so a *joint real day* combines a traffic
  day, a weather day and a price day of the same day type drawn independently. Each source's days are
  split into train / held-out pools first, so held-out joint days share no component day with training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evgrid.data.features import daily_matrix

# expected variables and accepted unit spellings per GAN family
GAN_VARIABLES: dict[str, dict[str, set[str]]] = {
    "traffic": {"flow_veh_per_h": {"veh/h", "veh_per_h", "vehicles/h"}},
    "pv": {"pv_kw_per_kwp": {"kw/kwp", "kw_per_kwp"}},
    "price": {"lbmp_usd_per_mwh": {"usd/mwh", "$/mwh", "usd_per_mwh"}},
}
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


def parse_label(label: str) -> dict:
    """``month=8,weekend=False`` -> {'month': 8, 'weekend': False}; unknown parts are ignored."""
    out: dict = {}
    for part in str(label).split(","):
        if "=" not in part:
            continue
        k, v = (x.strip() for x in part.split("=", 1))
        if k == "month" and v.isdigit():
            out["month"] = int(v)
        elif k == "weekend":
            out["weekend"] = v.lower() == "true"
    return out


def label_matches(label: str, months: list[int], weekend: bool | None) -> bool:
    p = parse_label(label)
    if "month" in p and p["month"] not in months:
        return False
    return not ("weekend" in p and weekend is not None and p["weekend"] != weekend)


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
            "regenerate them together with `kedro run --pipeline=gan` (same gan.sampling.n_scenarios)")
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


def draw_real_days(pools: dict, n_days: int, test_fraction: float, seed: int) -> tuple[RawScenarios, RawScenarios,
                                                                                      dict]:
    """Split each source's days into train / test pools, then draw joint days from each side."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"parameter 'real_test_fraction' must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    split = {}
    for src, d in pools.items():
        n = len(d["date"])
        perm = rng.permutation(n)
        n_test = max(1, int(round(test_fraction * n)))
        split[src] = (np.sort(perm[n_test:]), np.sort(perm[:n_test]))
    n_test_days = max(1, int(round(test_fraction * n_days)))
    sizes = {"train": n_days - n_test_days, "test": n_test_days}
    out = {}
    for part, k in (("train", 0), ("test", 1)):
        n = sizes[part]
        picks = {src: rng.choice(split[src][k], size=n, replace=len(split[src][k]) < n) for src in pools}
        chans = {
            "flow_veh_per_h": pools["traffic"]["flow_veh_per_h"][picks["traffic"]],
            "pv_kw_per_kwp": pools["weather"]["pv_kw_per_kwp"][picks["weather"]],
            "wind_speed_m_per_s": pools["weather"]["wind_speed_m_per_s"][picks["weather"]],
            "lbmp_usd_per_mwh": pools["price"]["lbmp_usd_per_mwh"][picks["price"]],
        }
        labels = [f"traffic={pd.Timestamp(pools['traffic']['date'][a]).date()},"
                  f"weather={pd.Timestamp(pools['weather']['date'][b]).date()},"
                  f"price={pd.Timestamp(pools['price']['date'][c]).date()}"
                  for a, b, c in zip(picks["traffic"], picks["weather"], picks["price"], strict=True)]
        out[part] = RawScenarios(chans, labels, f"real_{part}")
    info = {f"{src}_days_{p}": int(len(split[src][i])) for src in pools for i, p in enumerate(("train", "test"))}
    return out["train"], out["test"], info


def fill_wind(gan: RawScenarios, wind_pool: np.ndarray, seed: int) -> RawScenarios:
    """Give every GAN scenario the wind-speed day of a seeded real draw (the GAN has no wind family)."""
    rng = np.random.default_rng(seed)
    chans = dict(gan.channels)
    chans["wind_speed_m_per_s"] = wind_pool[rng.integers(0, len(wind_pool), size=gan.n)]
    return RawScenarios(chans, gan.labels, gan.source)


def aggregate_steps(arr: np.ndarray, k: int) -> np.ndarray:
    """Average consecutive blocks of ``k`` steps along the last axis (96 -> 96 / k)."""
    a = np.asarray(arr, float)
    if k < 1 or a.shape[-1] % k:
        raise ValueError(f"parameter 'aggregate_steps' must divide {a.shape[-1]}, got {k}")
    return a.reshape(*a.shape[:-1], a.shape[-1] // k, k).mean(axis=-1)


def load_profile(load_daily: pd.DataFrame, months: list[int], weekend: bool | None, k: int) -> np.ndarray:
    """Mean NYISO system-load shape of the day type, normalised to a peak of 1, at the model's steps."""
    rows = _day_type_rows(load_daily, "load_daily", months, weekend)
    prof = aggregate_steps(daily_matrix(rows, "load_mw").mean(axis=0), k)
    return prof / prof.max()

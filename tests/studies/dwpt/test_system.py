"""dwpt study system: input selection errors name the dataset, day and what was expected; EV load and DER sizing."""

import numpy as np
import pandas as pd
import pytest

from evgrid.studies.dwpt.config import BatteryConfig, DwptConfig, PvConfig
from evgrid.studies.dwpt.system import day_channel as _day_channel
from evgrid.studies.dwpt.system import day_prices as _day_prices
from evgrid.studies.dwpt.system import simulate_ev_load, size_der


def _wide(day, channel, values):
    return pd.DataFrame([{"date": pd.Timestamp(day)} | {f"{channel}_t{i:03d}": v for i, v in enumerate(values)}])


def test_missing_day_names_dataset_and_range():
    df = _wide("2016-08-02", "load_mw", np.ones(96))
    with pytest.raises(ValueError, match=r"load_daily: no complete day 2016-08-01 \(available 2016-08-02"):
        _day_channel(df, "2016-08-01", "load_mw", "load_daily")
    with pytest.raises(ValueError, match="no columns 'ghi_w_per_m2_t000"):
        _day_channel(df, "2016-08-02", "ghi_w_per_m2", "weather_daily")
    bad = _wide("2016-08-02", "load_mw", np.r_[np.ones(95), np.nan])
    with pytest.raises(ValueError, match="missing 'load_mw' steps"):
        _day_channel(bad, "2016-08-02", "load_mw", "load_daily")


def test_prices_selected_by_zone_market_and_local_day():
    local = pd.date_range("2022-07-18", periods=48, freq="h", tz="America/New_York")
    df = pd.DataFrame({"timestamp_utc": local.tz_convert("UTC"), "timestamp_local": local, "market": "DAM",
                       "zone": "N.Y.C.", "lbmp_usd_per_mwh": np.arange(48.0)})
    np.testing.assert_allclose(_day_prices(df, "2022-07-18", "DAM", "NYC", 24), np.arange(24.0))
    np.testing.assert_allclose(_day_prices(df, "2022-07-19", "DAM", "nyc", 96), np.repeat(np.arange(24.0, 48), 4))
    with pytest.raises(ValueError, match="expected 24 hourly RT prices for zone N.Y.C."):
        _day_prices(df, "2022-07-18", "RT", "N.Y.C.", 24)


def test_der_sizing_matches_ev_energy():
    ghi = np.clip(900 * np.sin(np.pi * (np.arange(96) / 4 - 6) / 14), 0, None)
    day = pd.DataFrame({"ghi_w_per_m2": ghi})
    ev = pd.DataFrame({"step": range(24), "hour": range(24), "ev_kw": np.full(24, 1000.0)})
    battery = BatteryConfig(capacity_scale=1.0, power_scale=1.0, eta_charge=0.95, eta_discharge=0.95, soc_min_frac=0.1,
                            soc_max_frac=1.0, soc_initial_frac=0.1, end_soc_at_least_initial=True)
    profile, sizing = size_der(day, ev, PvConfig(efficiency=0.2, energy_ratio=1.0), battery)
    assert profile["pv_kw"].sum() == pytest.approx(24000.0)
    assert sizing["battery_capacity_kwh"] > 0 and sizing["battery_power_kw"] >= profile["pv_kw"].max() - 1000 - 1e-9


def test_ev_redraw_band_brackets_the_load(dwpt_params):
    hours = np.arange(96) / 4
    flow = 1500 + 3500 * np.exp(-((hours - 16) / 3) ** 2)
    params = dwpt_params | {"seed": 42, "model_step_minutes": 60,
                            "ev": {"bus": 10, "pad_power_kw": 25.0, "band_draws": 20}}
    out, fleet = simulate_ev_load(pd.DataFrame({"flow_veh_per_h": flow}), DwptConfig.from_params(params))
    assert (out["ev_kw_p05"] <= out["ev_kw_p50"]).all() and (out["ev_kw_p50"] <= out["ev_kw_p95"]).all()
    peak = out["ev_kw"].idxmax()
    assert out.loc[peak, "ev_kw_p95"] - out.loc[peak, "ev_kw_p05"] < 0.15 * out.loc[peak, "ev_kw"]
    assert out["n_ev_entering"].sum() == len(fleet)


def test_config_rejects_unknown_and_out_of_range_parameters(dwpt_params):
    from evgrid.studies.dwpt.config import DwptConfigError

    cfg = DwptConfig.from_params(dwpt_params)
    assert cfg.n_model_steps == 24 and cfg.ev.inmotion.pad_power_kw == 25.0 and len(cfg.cases) == 16
    with pytest.raises(DwptConfigError, match=r"dwpt.market.voll: unknown key; known keys: \['dg_commitment'"):
        DwptConfig.from_params(dwpt_params | {"market": dwpt_params["market"] | {"voll": 100.0}})
    with pytest.raises(DwptConfigError, match=r"dwpt.ev: .*pad_power_kw must be > 0"):
        DwptConfig.from_params(dwpt_params | {"ev": dwpt_params["ev"] | {"pad_power_kw": -1.0}})
    with pytest.raises(DwptConfigError, match="dwpt.model_step_minutes: expected a divisor of a day"):
        DwptConfig.from_params(dwpt_params | {"model_step_minutes": 7})
    with pytest.raises(DwptConfigError, match=r"dwpt.network: is required but missing"):
        DwptConfig.from_params({k: v for k, v in dwpt_params.items() if k != "network"})

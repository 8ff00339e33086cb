"""Run the planning pipeline end to end (SequentialRunner, in-memory catalog) on a small configuration."""

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from evgrid.pipelines.planning import create_pipeline
from tests.studies.planning.conftest import daily_inputs, small_params


class KeptDataset(MemoryDataset):
    def _release(self) -> None:
        pass


def test_planning_pipeline_small():
    params = small_params()
    params["ev_share_sweep"] = [0.1]
    traffic, load = daily_inputs()
    pipe = create_pipeline()
    outputs = sorted(pipe.all_outputs())
    catalog = DataCatalog({"params:planning": MemoryDataset(params),
                           "params:compute": MemoryDataset({"scheduler": "sync", "progress": False}),
                           "traffic_daily": MemoryDataset(traffic),
                           "load_daily": MemoryDataset(load)} | {n: KeptDataset() for n in outputs})
    SequentialRunner().run(pipe, catalog)
    out = {n: catalog.load(n) for n in outputs}
    plan, costs = out["planning_capacity_plan"], out["planning_social_cost"]
    assert set(plan.method) == {"surrogate_gp", "random", "local_search", "uniform"} and len(plan) == 4 * 4
    levels = set(params["upper"]["levels_kw"])
    assert plan[plan.method != "uniform"].capacity_kw.isin(levels).all()  # the discrete capacity decision
    assert list(costs.columns[:6]) == ["method", "travel_time_usd", "energy_usd", "investment_usd", "grid_usd",
                                       "total_usd_per_day"]
    c = costs.set_index("method")
    # Case 2 (every station at the mean power of the optimised plan) has the optimised plan's capex (linear in P)
    assert c.capex_usd["uniform"] == pytest.approx(c.capex_usd["surrogate_gp"])
    assert (c.capex_usd <= params["upper"]["budget_usd"] + 1e-6).all() and c.revenue_covers_grid_cost.all()
    conv = out["planning_convergence"]
    assert (conv.groupby(["method", "seed"]).evaluation.max() == params["upper"]["n_evaluations"]).all()
    assert conv.seed.nunique() == params["upper"]["n_seeds"]
    cmp_ = out["planning_search_comparison"].set_index("comparison")
    assert cmp_.loc["surrogate_gp - random", "n_seeds"] == params["upper"]["n_seeds"]
    assert len(out["planning_landscape"]) == 4 * 3
    volt = out["planning_voltages"]
    assert volt.v_ac_pu.notna().all() and (volt.v_socp_pu - volt.v_ac_pu).abs().max() < 5e-3
    assert out["planning_ac_summary"]["n_voltage_violations"] == 0
    assert (out["planning_fixed_point"].socp_relaxation_gap_rel < 1e-3).all()
    assert len(out["planning_ev_share_sweep"]) == 2
    assert "saving_vs_uniform_pct" in out["planning_metrics"]
    v2g = out["planning_v2g"].set_index("variant")
    # V2G can only lower the grid cost (no V2G is a feasible schedule of the V2G problem), and the
    # no-V2G multi-period OPF reproduces the per-period OPFs of the optimised plan
    assert v2g.grid_usd_per_day["v2g"] <= v2g.grid_usd_per_day["no_v2g"] + 1e-6
    assert v2g.grid_usd_per_day["no_v2g"] == pytest.approx(costs.set_index("method").grid_usd["surrogate_gp"], rel=1e-5)
    sched = out["planning_v2g_schedule"]
    assert (sched.discharge_kw <= sched.limit_kw + 1e-3).all() and (sched.charge_kw >= -1e-3).all()
    assert out["planning_fig_convergence"].data

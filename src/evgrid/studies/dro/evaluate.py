"""Out-of-sample evaluation of the DRO study: fixed first stages against held-out real days and fresh GAN
samples on one persistent recourse LP, and the radius choice by cross-validation (Kedro-free)."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from evgrid.optim.persistent import PersistentProblem
from evgrid.optim.robust import (
    cvar,
)
from evgrid.studies.dro.config import DroConfig
from evgrid.studies.dro.model import availability_kw, build_two_stage
from evgrid.studies.dro.system import DroSystem, FirstStage, ScenarioData

log = logging.getLogger(__name__)


def branch_losses_kw(grid, network) -> pd.Series:
    """Series losses of the solved LinDistFlow flows, per (scenario, step) in kW (the DistFlow term that
    LinDistFlow drops): ``loss = sum_l r_l (P_l^2 + Q_l^2) / V_from^2`` with P kW, Q kvar, V kV, r ohm.
    Checked against the pandapower AC losses of the nominal atoms in the report (``dro_kpis``)."""
    p, q = grid.flows_kw(), grid.flows_kvar()
    v = grid.voltage_pu()
    br = network.branches.loc[p.columns]
    v_from = v[br["from_bus"].to_numpy()].to_numpy() * float(network.base_kv)
    loss = (p.to_numpy() ** 2 + q.to_numpy() ** 2) * br["r_ohm"].to_numpy()[None, :] / np.maximum(v_from, 1e-6) ** 2
    return pd.Series(loss.sum(axis=1) / 1000.0, index=p.index)


class RecourseEvaluator:
    """Out-of-sample evaluation: one persistent LP with ``batch`` scenario slots and a fixed first stage.

    Built and compiled once (:class:`evgrid.optim.persistent.PersistentProblem`); per batch only the numbers
    that carry scenario data change -- upper bounds of ``pr`` (availability) and ``served`` (demand), the
    import price (objective coefficient) -- plus the first-stage columns (``lb = ub = value``), and HiGHS
    re-solves warm instead of the Pyomo model being rebuilt per scenario.
    """

    def __init__(self, sysm: DroSystem, batch: int, template: ScenarioData, solver: dict | None = None):
        self.batch = int(batch)
        if self.batch < 1:
            raise ValueError(f"parameter 'oos_batch' must be >= 1, got {batch}")
        idx = np.resize(np.arange(template.n_scenarios), self.batch)
        lp_sys = replace(sysm, integer_commitment=False)  # the first stage is fixed: an LP
        self.tsm = build_two_stage(lp_sys, template.subset(idx), method="expected", name="dro_recourse")
        m = self.tsm.model
        self.lp = PersistentProblem(m, solver)  # the cold solver: highs_options['solver']
        G, L, R = list(m.G), list(m.L), list(m.R)
        S, T = range(self.batch), range(sysm.n_steps)
        self.c_u = self.lp.columns([m.u[g, t] for g in G for t in T])
        self.c_pg = self.lp.columns([m.pg[g, t] for g in G for t in T])
        self.c_alloc = self.lp.columns([m.alloc[lane, t] for lane in L for t in T])
        self.c_pr = self.lp.columns([m.pr[r, s, t] for s in S for r in R for t in T])
        self.c_served = self.lp.columns([m.served[lane, s, t] for s in S for lane in L for t in T])
        self.c_import = self.lp.columns([self.tsm.grid.p_import_kw[s, t] for s in S for t in T])
        self.sysm = lp_sys

    def _load(self, fs: FirstStage, data: ScenarioData) -> None:
        sysm = self.sysm
        f = fs.clipped(sysm)
        for cols, val in ((self.c_u, f.commitment), (self.c_pg, f.p_conv_kw), (self.c_alloc, f.alloc_kw)):
            self.lp.set_bounds(cols, val.ravel(), val.ravel())
        self.tsm.set_scenarios(data)  # Pyomo Params: keeps pyo.value(Q) etc. consistent for the reports
        avail = availability_kw(sysm, data)  # (S, R, T)
        self.lp.set_bounds(self.c_pr, np.zeros(avail.size), avail.ravel())
        self.lp.set_bounds(self.c_served, np.zeros(data.lane_demand_kw.size), data.lane_demand_kw.ravel())
        self.lp.set_costs(self.c_import, (sysm.step_h / self.batch) * data.price_usd_per_kwh.ravel())

    def evaluate(self, fs: FirstStage, data: ScenarioData, detail: bool = False) -> dict:
        """Recourse of ``fs`` on every scenario of ``data``.

        Returns ``{"table": per-scenario recourse table}`` and, with ``detail=True``, also ``steps``,
        ``lanes`` (see :meth:`TwoStageModel.step_detail`) and the net bus loads ``p_net_kw``/``q_net_kvar``
        ((scenario, step) x bus) and LinDistFlow voltages ``v_lin_pu`` for the AC check.
        """
        parts: dict[str, list] = {"table": [], "steps": [], "lanes": [], "p_net_kw": [], "q_net_kvar": [],
                                  "v_lin_pu": []}
        for start in range(0, data.n_scenarios, self.batch):
            idx = np.arange(start, min(start + self.batch, data.n_scenarios))
            self._load(fs, data.subset(np.resize(idx, self.batch)))
            self.lp.solve()
            n = len(idx)
            tab = self.tsm.recourse_table().iloc[:n].copy()
            v = self.tsm.grid.voltage_pu()
            tab["v_min_pu"] = v.groupby(level="scenario").min().min(axis=1).to_numpy()[:n]
            tab["v_max_pu"] = v.groupby(level="scenario").max().max(axis=1).to_numpy()[:n]
            tab["atom"] = idx
            loss_kw = branch_losses_kw(self.tsm.grid, self.sysm.network)  # (scenario, step) index
            lk = loss_kw.groupby(level="scenario").sum().to_numpy()[:n] * self.sysm.step_h
            price = np.array([[pyo.value(self.tsm.model.price[s, t]) for t in range(self.sysm.n_steps)]
                              for s in range(n)])
            lc = (loss_kw.to_numpy().reshape(self.batch, self.sysm.n_steps)[:n] * price).sum(axis=1) * self.sysm.step_h
            tab["loss_kwh"] = lk
            tab["loss_cost_usd"] = lc
            parts["table"].append(tab)
            if detail:
                st, ln = self.tsm.step_detail()
                st, ln = st[st["atom"] < n].copy(), ln[ln["atom"] < n].copy()
                st["atom"] = idx[st["atom"]]
                ln["atom"] = idx[ln["atom"]]
                parts["steps"].append(st)
                parts["lanes"].append(ln)
                p, q = self.tsm.grid.net_load()
                keep = p.index.get_level_values("scenario") < n
                remap = pd.MultiIndex.from_arrays([idx[p.index.get_level_values("scenario")[keep]],
                                                   p.index.get_level_values("step")[keep]], names=["scenario", "step"])
                for key, frame in (("p_net_kw", p), ("q_net_kvar", q), ("v_lin_pu", v)):
                    f = frame[keep].copy()
                    f.index = remap
                    parts[key].append(f)
        out = {"table": pd.concat(parts["table"], ignore_index=True)}
        out["table"]["first_stage_cost_usd"] = float(pyo.value(self.tsm.model.c1))
        # AC losses charged ex post at the scenario's price (the LP's import is lossless; issue 13 item 7)
        out["table"]["total_cost_usd"] = (out["table"]["first_stage_cost_usd"] + out["table"]["recourse_cost_usd"]
                                          + out["table"]["loss_cost_usd"])
        if detail:
            for key in ("steps", "lanes"):
                out[key] = pd.concat(parts[key], ignore_index=True)
            for key in ("p_net_kw", "q_net_kvar", "v_lin_pu"):
                out[key] = pd.concat(parts[key])
        return out


def _evaluator(atoms: dict, cfg: DroConfig) -> RecourseEvaluator:
    return RecourseEvaluator(atoms["system"], int(cfg.evaluation.oos_batch), atoms["data"],
                             cfg.solver.options())


def _score(costs: np.ndarray, robust) -> float:
    """CV score of out-of-sample costs: their mean or CVaR at ``cvar_alpha``."""
    how = robust.cv_score
    if how == "mean":
        return float(np.mean(costs))
    if how == "cvar":
        return cvar(costs, float(robust.cvar_alpha))
    raise ValueError(f"parameter 'dro.robust.cv_score' must be 'mean' or 'cvar', got {how!r}")


def one_se_choice(per_day: dict[float, list], robust) -> tuple[float, str]:
    """Radius by a paired one-standard-error rule over the pooled held-out days of all folds.

    score(r) = mean (or CVaR) of the held-out costs; r* = argmin score. The days are the same for every
    radius, so the rule is paired: d_r = cost_r - cost_r* per day, SE_r = std(d_r) / sqrt(n). Choose the
    LARGEST radius (the most regularised model) with mean(d_r) <= SE_r, i.e. not worse than the best by
    more than one standard error. ``cv_one_se: false`` -> r* (smallest radius on ties).
    """
    radii = sorted(per_day)
    costs = {r: np.concatenate(per_day[r]) for r in radii}
    score = np.array([_score(costs[r], robust) for r in radii])
    r_best = radii[int(np.argmin(score))]
    if not robust.cv_one_se:
        return float(r_best), "min"
    ok = []
    for r in radii:
        d = costs[r] - costs[r_best]
        se = float(np.std(d, ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0
        if float(np.mean(d)) <= se + 1e-9:
            ok.append(r)
    return float(max(ok)), "one-standard-error (paired)"


def paired_vs(met: pd.DataFrame, summary: pd.DataFrame, base: str, level: float = 0.95) -> pd.DataFrame:
    """Paired per-day comparison with method ``base`` on the same test days: mean of
    ``d_i = cost_i(method) - cost_i(base)``, its standard error and a t confidence interval."""
    from scipy import stats

    out = met.copy()
    for col in ("diff_vs_saa_usd", "diff_vs_saa_se_usd", "diff_vs_saa_ci_lo_usd", "diff_vs_saa_ci_hi_usd"):
        out[col] = np.nan
    for i, r in out.iterrows():
        a = summary[(summary["method"] == r["method"]) & (summary["test_set"] == r["test_set"])]
        b = summary[(summary["method"] == base) & (summary["test_set"] == r["test_set"])]
        if b.empty or len(a) != len(b) or len(a) < 2:
            continue
        d = a["total_cost_usd"].to_numpy() - b["total_cost_usd"].to_numpy()
        se = float(d.std(ddof=1) / np.sqrt(len(d)))
        h = float(stats.t.ppf(0.5 + level / 2, len(d) - 1)) * se
        out.loc[i, ["diff_vs_saa_usd", "diff_vs_saa_se_usd", "diff_vs_saa_ci_lo_usd", "diff_vs_saa_ci_hi_usd"]] = [
            float(d.mean()), se, float(d.mean()) - h, float(d.mean()) + h]
    return out



"""Out-of-sample evaluation of the DRO study: fixed first stages against held-out real days and fresh GAN
samples on one persistent recourse LP, and the radius choice by cross-validation (Kedro-free)."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from evgrid.optim.persistent import PersistentLP
from evgrid.optim.robust import WassersteinBall, cvar, distance_matrix, reduce_scenarios, select_radius_cv
from evgrid.studies.dro.config import DroConfig
from evgrid.studies.dro.model import availability_kw, build_two_stage, radius_sweep
from evgrid.studies.dro.system import DroSystem, FirstStage, ScenarioData, to_model_data

log = logging.getLogger(__name__)


class RecourseEvaluator:
    """Out-of-sample evaluation: one persistent LP with ``batch`` scenario slots and a fixed first stage.

    Built and compiled once (:class:`evgrid.optim.persistent.PersistentLP`); per batch only the numbers
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
        opts = solver or {}
        self.lp = PersistentLP(m, time_limit_s=opts.get("time_limit_s"))
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
        out["table"]["total_cost_usd"] = out["table"]["first_stage_cost_usd"] + out["table"]["recourse_cost_usd"]
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


def select_radius(atoms: dict, cfg: DroConfig) -> tuple[float, pd.DataFrame, dict]:
    """``radius: auto`` -> K-fold CV over the real training days (fit on K-1 folds, score held-out)."""
    robust = cfg.robust
    if robust.radius != "auto":
        return float(robust.radius), pd.DataFrame(columns=["radius", "fold", "score"]), {"radius_source": "parameter"}
    t0 = time.perf_counter()
    sysm, train, seed = atoms["system"], atoms["train"], int(cfg.seed)
    n_gan = atoms["data"].n_scenarios - atoms["n_nominal"]
    gan_data = atoms["data"].subset(np.arange(atoms["n_nominal"], atoms["data"].n_scenarios))
    k_fold = max(2, int(cfg.scenarios.n_nominal) // 2)
    evaluator = _evaluator(atoms, cfg)
    radii = [float(r) for r in robust.radii]
    cache: dict = {}

    def fit_and_score(radius: float, tr: np.ndarray, te: np.ndarray) -> float:
        key = tuple(tr)
        if key not in cache:
            red = reduce_scenarios(atoms["train_features"][tr], min(k_fold, len(tr)), seed)
            nom = tr[red.medoids]
            feats = np.vstack([atoms["train_features"][nom], atoms["gan_atom_features"]])
            ball = WassersteinBall(red.probabilities, distance_matrix(atoms["train_features"][nom], feats), radius)
            tsm = build_two_stage(sysm, train.subset(nom).concat(gan_data), method="dro", ball=ball,
                                  worst_case_weight=float(robust.worst_case_weight), name="dro_cv",
                                  lambda_max=float(robust.lambda_max_usd))
            cache.clear()
            t_fold = time.perf_counter()
            cache[key] = {r: tsm.first_stage() for r in radius_sweep(tsm, radii, float(robust.worst_case_weight),
                                                                       cfg.solver.options())}
            log.info("dro CV fold with %d training days: %d radii solved in %.1f s", len(tr), len(radii),
                     time.perf_counter() - t_fold)
        res = evaluator.evaluate(cache[key][radius], train.subset(te))
        return _score(res["table"]["total_cost_usd"].to_numpy(), robust)

    best, table = select_radius_cv(radii, train.n_scenarios, int(robust.cv_folds), seed, fit_and_score)
    info = {"radius_source": "cross-validation", "cv_seconds": time.perf_counter() - t0, "cv_gan_atoms": n_gan,
            "cv_nominal_atoms_per_fold": k_fold}
    log.info("dro radius by %d-fold CV: %.3f (%.1f s)", int(robust.cv_folds), best, info["cv_seconds"])
    return best, table, info


def evaluate_out_of_sample(first_stages: dict, atoms: dict, sets: dict, cfg: DroConfig
                           ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Fix each method's first stage; solve the recourse on held-out real days and fresh GAN samples."""
    sysm = atoms["system"]
    tests = {"real_heldout": to_model_data(sets["real_test"].channels, sysm, cfg)[0],
             "gan_fresh": to_model_data(sets["gan_test"].channels, sysm, cfg)[0]}
    evaluator = _evaluator(atoms, cfg)
    alpha = float(cfg.robust.cvar_alpha)
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

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
from evgrid.optim.robust import (
    WassersteinBall,
    cvar,
    distance_matrix,
    kfold_indices,
    reduce_scenarios,
    select_radius_cv,
)
from evgrid.studies.dro.config import DroConfig
from evgrid.studies.dro.model import availability_kw, build_two_stage, radius_sweep
from evgrid.studies.dro.system import DroSystem, FirstStage, ScenarioData, to_model_data

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
        self.lp = PersistentLP(m, time_limit_s=opts.get("time_limit_s"), threads=opts.get("threads"),
                               cold_solver=(opts.get("highs_options") or {}).get("solver", "choose"))
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


def _cv_fold_task(task: dict, shared: dict) -> dict:
    """One CV fold on an :mod:`evgrid.compute` worker (plain data in and out, the models are built here):
    k-medoids of the fold's training days -> nominal atoms; one DRO (LP relaxation of the commitment)
    re-solved on one persistent LP over every radius of the grid; each radius's first stage scored on the
    fold's held-out days by one recourse evaluator. ``task = {"fold", "train", "test"}`` (day indices)."""
    from evgrid import compute

    t0 = time.perf_counter()
    cfg: DroConfig = shared["cfg"]
    robust = cfg.robust
    sysm, train, feats_all = shared["system"], shared["train"], shared["train_features"]
    tr, te = np.asarray(task["train"]), np.asarray(task["test"])
    if task.get("integer"):  # integer commitment in the fold's DRO (relax, round, fix per radius; issue 13)
        sysm = replace(sysm, integer_commitment=True)
    radii = [float(r) for r in robust.radii]
    w = float(robust.worst_case_weight)
    threads = compute.solver_threads(None)
    opts = {**cfg.solver.options(), **({} if threads is None else {"threads": int(threads)})}
    k_fold = int(cfg.scenarios.n_nominal)  # same atom count as the final model (issue 13 item 5)
    # the study seed (not the task's): the fold's atoms do not depend on how the folds are scheduled
    red = reduce_scenarios(feats_all[tr], min(k_fold, len(tr)), int(cfg.seed))
    nom = tr[red.medoids]
    feats = np.vstack([feats_all[nom], shared["gan_atom_features"]])
    ball = WassersteinBall(red.probabilities, distance_matrix(feats_all[nom], feats), radii[0])
    tsm = build_two_stage(sysm, train.subset(nom).concat(shared["gan_data"]), method="dro", ball=ball,
                          worst_case_weight=w, name="dro_cv", lambda_max=float(robust.lambda_max_usd))
    t_sweep = time.perf_counter()
    sweep_opts = opts if not sysm.integer_commitment else {
        **opts, "mip_time_limit_s": cfg.solver.mip_time_limit_s, "lp_time_limit_s": cfg.solver.time_limit_s}
    first = {r: tsm.first_stage() for r in radius_sweep(tsm, radii, w, sweep_opts)}
    sweep_s = time.perf_counter() - t_sweep
    evaluator = RecourseEvaluator(sysm, int(cfg.evaluation.oos_batch), shared["template"], opts)
    held = train.subset(te)
    costs = {r: evaluator.evaluate(first[r], held)["table"]["total_cost_usd"].to_numpy() for r in radii}
    return {"fold": task["fold"], "costs": costs, "sweep_s": sweep_s, "task_s": time.perf_counter() - t0}


def select_radius(atoms: dict, cfg: DroConfig, compute_settings=None) -> tuple[float, pd.DataFrame, dict]:
    """``radius: auto`` -> K-fold CV over the real training days (fit on K-1 folds, score held-out).

    One :func:`evgrid.compute.map_tasks` task per fold (``compute_settings``: settings, a ``compute:`` dict
    or a scheduler string; None = ``sync``, in-process), keyed ``fold<k>``."""
    from evgrid import compute

    robust = cfg.robust
    if robust.radius != "auto":
        return float(robust.radius), pd.DataFrame(columns=["radius", "fold", "score"]), {"radius_source": "parameter"}
    t0 = time.perf_counter()
    # CV runs on the LP relaxation of the commitment (radius choice only); the final models are MILPs
    sysm, train, seed = replace(atoms["system"], integer_commitment=False), atoms["train"], int(cfg.seed)
    n_gan = atoms["data"].n_scenarios - atoms["n_nominal"]
    gan_data = atoms["data"].subset(np.arange(atoms["n_nominal"], atoms["data"].n_scenarios))
    k_fold = int(cfg.scenarios.n_nominal)
    radii = [float(r) for r in robust.radii]
    folds = kfold_indices(train.n_scenarios, int(robust.cv_folds), seed)
    shared = {"cfg": cfg, "system": sysm, "train": train, "train_features": atoms["train_features"],
              "gan_atom_features": atoms["gan_atom_features"], "gan_data": gan_data, "template": atoms["data"]}
    tasks = [{"fold": f, "train": tr, "test": te} for f, (tr, te) in enumerate(folds)]
    results = compute.map_tasks(_cv_fold_task, tasks, "sync" if compute_settings is None else compute_settings,
                                keys=[f"fold{f}" for f in range(len(tasks))], shared=shared, desc="dro radius CV")
    by_train = {tuple(t["train"].tolist()): r for t, r in zip(tasks, results, strict=True)}
    for r in results:
        log.info("dro CV fold %d: %d radii solved in %.1f s, task %.1f s", r["fold"], len(radii), r["sweep_s"],
                 r["task_s"])
    per_day: dict[float, list] = {}

    def fit_and_score(radius: float, tr: np.ndarray, te: np.ndarray) -> float:
        costs = by_train[tuple(np.asarray(tr).tolist())]["costs"][radius]
        per_day.setdefault(radius, []).append(costs)
        return _score(costs, robust)

    best_mean, table = select_radius_cv(radii, train.n_scenarios, int(robust.cv_folds), seed, fit_and_score)
    best, rule = one_se_choice(per_day, robust)
    edge = best in (min(radii), max(radii)) and len(radii) > 1 and best != 0.0
    if best == max(radii):
        log.warning("dro CV radius %.3g is the largest of the grid dro.robust.radii: widen the grid", best)
    info = {"radius_source": "cross-validation", "cv_seconds": time.perf_counter() - t0, "cv_gan_atoms": n_gan,
            "cv_nominal_atoms_per_fold": k_fold, "cv_relaxed_commitment": True, "cv_rule": rule,
            "cv_best_mean_radius": best_mean, "cv_radius_at_grid_edge": bool(edge and best == max(radii)),
            "cv_held_out_days": int(sum(len(c) for c in per_day.get(radii[0], [])))}
    log.info("dro radius by %d-fold CV: %.3f (%.1f s)", int(robust.cv_folds), best, info["cv_seconds"])
    return best, table, info


def cv_relaxed_vs_integer(atoms: dict, cfg: DroConfig, n_folds: int | None = None, compute_settings=None
                          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How far the radius chosen by CV on the LP relaxation of the commitment is from the one CV on the
    integer commitment would choose (issue 13 item 1), on the first ``n_folds`` folds of the same split.

    Returns per (variant, fold, radius) the held-out mean cost, and per variant the chosen radius (the
    one-standard-error rule and the best mean) with its CV score."""
    from evgrid import compute

    robust = cfg.robust
    train, seed = atoms["train"], int(cfg.seed)
    folds = kfold_indices(train.n_scenarios, int(robust.cv_folds), seed)[: n_folds or None]
    gan_data = atoms["data"].subset(np.arange(atoms["n_nominal"], atoms["data"].n_scenarios))
    shared = {"cfg": cfg, "system": replace(atoms["system"], integer_commitment=False), "train": train,
              "train_features": atoms["train_features"], "gan_atom_features": atoms["gan_atom_features"],
              "gan_data": gan_data, "template": atoms["data"]}
    tasks = [{"fold": f, "train": tr, "test": te, "integer": integer}
             for integer in (False, True) for f, (tr, te) in enumerate(folds)]
    keys = [("integer" if t["integer"] else "relaxed", t["fold"]) for t in tasks]
    results = compute.map_tasks(_cv_fold_task, tasks, "sync" if compute_settings is None else compute_settings,
                                keys=keys, shared=shared, desc="dro CV relaxed vs integer")
    rows, chosen = [], []
    for variant in ("relaxed", "integer"):
        per_day: dict[float, list] = {}
        secs = 0.0
        for (v, f), r in zip(keys, results, strict=True):
            if v != variant:
                continue
            secs += r["task_s"]
            for rad, costs in r["costs"].items():
                per_day.setdefault(rad, []).append(costs)
                rows.append({"variant": variant, "fold": f, "radius": rad, "score": _score(costs, robust),
                             "sweep_s": r["sweep_s"]})
        best, rule = one_se_choice(per_day, robust)
        mean = {rad: float(np.mean(np.concatenate(c))) for rad, c in per_day.items()}
        chosen.append({"variant": variant, "folds": len(folds), "radius_one_se": best,
                       "radius_best_mean": min(mean, key=mean.get), "score_at_one_se": mean[best],
                       "best_score": min(mean.values()), "task_seconds": secs})
    return pd.DataFrame(rows), pd.DataFrame(chosen)


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


def _oos_task(task: dict, shared: dict) -> pd.DataFrame:
    """Out-of-sample recourse of one first stage on a chunk of one test set, on an :mod:`evgrid.compute`
    worker: one persistent recourse LP built here, re-solved warm batch after batch.
    ``task = {"first_stage", "test_set", "start", "stop"}``; ``atom`` = the day's index in its test set."""
    from evgrid import compute

    threads = compute.solver_threads(None)
    opts = {**shared["solver"], **({} if threads is None else {"threads": int(threads)})}
    evaluator = RecourseEvaluator(shared["system"], shared["batch"], shared["template"], opts)
    data = shared["tests"][task["test_set"]]
    tab = evaluator.evaluate(task["first_stage"], data.subset(np.arange(task["start"], task["stop"])))["table"]
    tab["atom"] = tab["atom"].to_numpy() + int(task["start"])
    return tab


def evaluate_out_of_sample(first_stages: dict, atoms: dict, sets: dict, cfg: DroConfig, compute_settings=None
                           ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Fix each method's first stage; solve the recourse on held-out real days and fresh GAN samples.

    Tasks of :func:`evgrid.compute.map_tasks` (``compute_settings``; None = ``sync``): one per (method, test
    set, chunk of ``evaluation.days_per_task`` days; 0 = the whole test set), keyed by those three."""

    sysm = atoms["system"]
    tests = {"real_heldout": to_model_data(sets["real_test"].channels, sysm, cfg)[0]}
    if "gan_test" in sets:
        tests["gan_fresh"] = to_model_data(sets["gan_test"].channels, sysm, cfg)[0]
    return evaluate_tests(first_stages, atoms, tests, cfg, compute_settings)


def evaluate_tests(first_stages: dict, atoms: dict, tests: dict[str, ScenarioData], cfg: DroConfig,
                   compute_settings=None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """:func:`evaluate_out_of_sample` on test sets already at the model's steps (``{name: ScenarioData}``)."""
    from evgrid import compute

    sysm = atoms["system"]
    alpha = float(cfg.robust.cvar_alpha)
    rows, metrics = [], []
    t0 = time.perf_counter()
    per_task = int(cfg.evaluation.days_per_task)
    tasks, keys = [], []
    for method, fs in first_stages.items():
        if method == "dro_auto":
            continue
        for test_name, data in tests.items():
            n = data.n_scenarios
            step = per_task if per_task > 0 else max(n, 1)
            for start in range(0, n, step):
                tasks.append({"method": method, "test_set": test_name, "first_stage": fs["first_stage"],
                              "start": start, "stop": min(start + step, n)})
                keys.append((method, test_name, start))
    shared = {"system": sysm, "batch": int(cfg.evaluation.oos_batch), "template": atoms["data"],
              "solver": cfg.solver.options(), "tests": tests}
    tables = compute.map_tasks(_oos_task, tasks, "sync" if compute_settings is None else compute_settings,
                               keys=keys, shared=shared, desc="dro out-of-sample recourse")
    parts: dict[tuple, list] = {}
    for t, tab in zip(tasks, tables, strict=True):
        parts.setdefault((t["method"], t["test_set"]), []).append(tab)
    for method, fs in first_stages.items():
        if method == "dro_auto":
            continue
        for test_name in tests:
            tab = pd.concat(parts[(method, test_name)], ignore_index=True)
            tab.insert(0, "test_set", test_name)
            tab.insert(0, "method", method)
            tab["radius"] = fs["radius"]
            rows.append(tab)
            cost = tab["total_cost_usd"].to_numpy()
            gen = tab["renewable_used_kwh"] + tab["conventional_kwh"] + tab["import_kwh"]
            rating_kwh = float(sysm.lanes.rating_kw.sum()) * sysm.step_h * sysm.n_steps
            metrics.append({
                "method": method, "radius": fs["radius"], "test_set": test_name, "n_scenarios": len(tab),
                "integer_commitment": bool(np.all(np.isclose(fs["first_stage"].commitment,
                                                             np.round(fs["first_stage"].commitment)))),
                "solver_status": fs.get("solver_status", ""), "mip_gap": fs.get("mip_gap", np.nan),
                "expected_cost_usd": float(cost.mean()),
                "se_cost_usd": float(cost.std(ddof=1) / np.sqrt(len(cost))) if len(cost) > 1 else np.nan,
                "cvar95_cost_usd": cvar(cost, alpha),
                "loss_cost_usd": float(tab["loss_cost_usd"].mean()), "loss_kwh": float(tab["loss_kwh"].mean()),
                "p_limit_violation": float((tab["load_shed_kwh"] > 1e-6).mean()),
                "lane_unserved_kwh": float(tab["lane_unserved_kwh"].mean()),
                "curtailed_kwh": float(tab["curtailed_kwh"].mean()),
                "load_shed_kwh": float(tab["load_shed_kwh"].mean()),
                # KPIs out of sample (issue 13 item 6); the bounding parameter is named in docs/dro.md
                "renewable_share_paper": float((tab["renewable_used_kwh"] / gen.clip(lower=1e-9)).mean()),
                "lane_served_share": float((tab["lane_served_kwh"] / tab["lane_demand_kwh"].clip(lower=1e-9)).mean()),
                "lane_utilisation_daily": float((tab["lane_served_kwh"] / rating_kwh).mean()),
            })
    summary = pd.concat(rows, ignore_index=True)
    met = paired_vs(pd.DataFrame(metrics), summary, "saa")
    r_cv = float(first_stages["dro_auto"]["radius"]) if "dro_auto" in first_stages else np.nan
    met.insert(2, "is_cv_radius", met["method"].str.startswith("dro_") & np.isclose(met["radius"], r_cv))
    info = {"oos_seconds": time.perf_counter() - t0}
    log.info("dro out-of-sample evaluation: %d recourse problems in %.1f s", len(summary), info["oos_seconds"])
    return summary, met, info

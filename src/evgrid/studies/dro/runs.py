"""Every fan-out of the dro study (:func:`evgrid.compute.map_tasks`): the radius cross-validation, the first
stages of every method, the out-of-sample recourse, the backtest's days and the atoms x shift experiment.

The task functions are module-level (plain data in and out; the Pyomo models are built on the worker). This
module imports :mod:`~evgrid.studies.dro.model`, :mod:`~evgrid.studies.dro.evaluate` and
:mod:`~evgrid.studies.dro.backtest`; none of them imports it back (no import circle)."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from evgrid import compute
from evgrid.grid.network import Network
from evgrid.optim.robust import (
    WassersteinBall,
    check_radius,
    distance_matrix,
    kfold_indices,
    reduce_scenarios,
    select_radius_cv,
    standardise_features,
    worst_case_distribution,
)
from evgrid.studies.dro.backtest import (
    METHODS,
    BacktestConfig,
    evaluate_on_day,
    reference_blocks,
    solve_first_stages,
)
from evgrid.studies.dro.config import DroConfig
from evgrid.studies.dro.evaluate import RecourseEvaluator, _score, cvar, one_se_choice, paired_vs
from evgrid.studies.dro.experiment import METHODS as EXPERIMENT_METHODS
from evgrid.studies.dro.experiment import moment_two_point, sizes_run
from evgrid.studies.dro.model import STAT_KEYS, build_two_stage, first_stage_radii, radius_sweep, solve_stats
from evgrid.studies.dro.system import ScenarioData, feature_blocks, make_system, to_model_data

log = logging.getLogger(__name__)


def _solve_first_stage(tsm, sysm, lp_opts, mip_opts) -> None:
    """The certified integer commitment when the system asks for one (``solve_integer``), else the LP."""
    if sysm.integer_commitment:
        tsm.solve_integer(lp_opts, mip_opts)
    else:
        tsm.solve(lp_opts)


def _cv_fold_task(task: dict, shared: dict) -> dict:
    """One CV fold on an :mod:`evgrid.compute` worker (plain data in and out, the models are built here):
    k-medoids of the fold's training days -> nominal atoms; one DRO (LP relaxation of the commitment)
    re-solved on one persistent LP over every radius of the grid; each radius's first stage scored on the
    fold's held-out days by one recourse evaluator. ``task = {"fold", "train", "test"}`` (day indices)."""
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
    first = {r: tsm.first_stage() for r in radius_sweep(tsm, radii, w, opts, cfg.solver.mip_options())}
    sweep_s = time.perf_counter() - t_sweep
    evaluator = RecourseEvaluator(sysm, int(cfg.evaluation.oos_batch), shared["template"], opts)
    held = train.subset(te)
    costs = {r: evaluator.evaluate(first[r], held)["table"]["total_cost_usd"].to_numpy() for r in radii}
    return {"fold": task["fold"], "costs": costs, "sweep_s": sweep_s, "task_s": time.perf_counter() - t0}


def select_radius(atoms: dict, cfg: DroConfig, compute_settings=None) -> tuple[float, pd.DataFrame, dict]:
    """``radius: auto`` -> K-fold CV over the real training days (fit on K-1 folds, score held-out).

    One :func:`evgrid.compute.map_tasks` task per fold (``compute_settings``: settings, a ``compute:`` dict
    or a scheduler string; None = ``sync``, in-process), keyed ``fold<k>``."""
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


def _solver_dicts(cfg: DroConfig, threads: int | None) -> tuple[dict, dict]:
    """(LP options, MILP options) of ``cfg.solver`` with ``threads`` HiGHS threads."""
    thr = {} if threads is None else {"threads": int(threads)}
    return {**cfg.solver.options(), **thr}, {**cfg.solver.mip_options(), **thr}


def _method_task(task: dict, shared: dict) -> dict:
    """One first stage on an :mod:`evgrid.compute` worker (plain data in and out; the Pyomo model is built
    here): ``task = {"method": "deterministic" | "saa" | "saa_all_days" | "dro", "radius": r}``; ``shared``
    holds the system, the atoms, their nominal probabilities and distances, the radius grid and the config.
    A ``dro`` task also re-solves every atom's recourse with its first stage fixed (issue 13 item 8)."""

    t0 = time.perf_counter()
    cfg: DroConfig = shared["cfg"]
    sysm, data, p = shared["system"], shared["data"], shared["p_nominal"]
    threads = compute.solver_threads(None)
    lp_opts, mip_opts = _solver_dicts(cfg, threads)
    method = task["method"]
    if method != "dro":
        if method == "deterministic":
            tsm = build_two_stage(sysm, shared["nominal"].mean(p), name="deterministic")
        elif method == "saa":
            tsm = build_two_stage(sysm, shared["nominal"], probabilities=p, name="saa")
        elif method == "saa_all_days":
            tsm = build_two_stage(sysm, shared["train_all"], name="saa_all_days")
        else:
            raise ValueError(f"unknown method task {method!r}")
        _solve_first_stage(tsm, sysm, lp_opts, mip_opts)
        return {"first_stage": tsm.first_stage(), "objective": tsm.result.objective,
                "stats": solve_stats(tsm.result), "task_s": time.perf_counter() - t0}
    robust = cfg.robust
    w = float(robust.worst_case_weight)
    ball = WassersteinBall(p, shared["distances"], float(shared["radii"][0]))
    dro_m = build_two_stage(sysm, data, method="dro", ball=ball, worst_case_weight=w, name="dro",
                            lambda_max=float(robust.lambda_max_usd))
    for _ in radius_sweep(dro_m, [float(task["radius"])], w, lp_opts, mip_opts):
        pass
    fs_r = dro_m.first_stage()
    # the LP's recourse values of non-binding atoms are not guaranteed minimal: re-solve every atom's
    # recourse with the first stage fixed and take the worst case of those costs
    evaluator = RecourseEvaluator(sysm, data.n_scenarios, data, lp_opts)
    res = evaluator.evaluate(fs_r, data)["table"]
    return {"first_stage": fs_r, "objective": float(pyo.value(dro_m.model.obj)),
            "lambda": float(pyo.value(dro_m.model.dro.dro_lambda)), "stats": solve_stats(dro_m.result),
            "costs": (res["first_stage_cost_usd"] + res["recourse_cost_usd"]).to_numpy(),
            "costs_lp": np.array([dro_m.first_stage_cost() + q for q in dro_m.scenario_costs()]),
            "task_s": time.perf_counter() - t0}


def solve_methods(atoms: dict, radius: float, cfg: DroConfig, compute_settings=None
                  ) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """First stages of: deterministic (mean forecast), SAA, DRO at every radius and at the chosen one.

    Each first stage is one :func:`evgrid.compute.map_tasks` task (``compute_settings``: a
    :class:`~evgrid.compute.ComputeSettings`, a ``compute:`` dict or a scheduler string; None = ``sync``,
    in-process), keyed by the method (``"dro_r0.4"`` ...)."""
    robust = cfg.robust
    sysm, data, n_nom, p = atoms["system"], atoms["data"], atoms["n_nominal"], atoms["p_nominal"]
    t0 = time.perf_counter()
    # the final (integer) models: the CV radius and the few fixed radii of the report
    radii = first_stage_radii(robust, radius)
    shared = {"cfg": cfg, "system": sysm, "data": data, "nominal": data.subset(np.arange(n_nom)), "p_nominal": p,
              "distances": atoms["distances"], "radii": radii, "train_all": atoms.get("train_all")}
    tasks = [{"method": "deterministic"}, {"method": "saa"}]
    if "train_all" in atoms and robust.saa_all_days:  # SAA on every training day, not only the atoms
        tasks.append({"method": "saa_all_days"})
    tasks += [{"method": "dro", "radius": r} for r in radii]
    keys = [t["method"] if t["method"] != "dro" else f"dro_r{t['radius']:g}" for t in tasks]
    results = compute.map_tasks(_method_task, tasks, "sync" if compute_settings is None else compute_settings,
                                keys=keys, shared=shared, desc="dro first stages")
    out: dict[str, dict] = {}
    rows, wc_rows = [], []
    for name, task, r in zip(keys, tasks, results, strict=True):
        if task["method"] != "dro":
            out[name] = {"first_stage": r["first_stage"], "radius": np.nan, "objective": r["objective"], **r["stats"]}
            continue
        rad, lam, costs, costs_lp = float(task["radius"]), r["lambda"], r["costs"], r["costs_lp"]
        if lam >= 0.999 * float(robust.lambda_max_usd) and rad > 0:
            log.warning("dro radius %.3g: transport multiplier at its bound lambda_max_usd=%g; raise it",
                        rad, float(robust.lambda_max_usd))
        wc = worst_case_distribution(costs, WassersteinBall(p, atoms["distances"], rad))
        obj = r["objective"]
        out[name] = {"first_stage": r["first_stage"], "radius": rad, "objective": obj, "worst_case_cost": wc.value,
                     "lambda": lam, **r["stats"]}
        for j in range(data.n_scenarios):
            wc_rows.append({"method": name, "radius": rad, "atom": j, "source": "real" if j < n_nom else "gan",
                            "nominal_probability": p[j] if j < n_nom else 0.0, "worst_case_weight": wc.weights[j],
                            "cost_usd": costs[j], "cost_in_model_usd": costs_lp[j]})
        rows.append({"method": name, "radius": rad, "objective": obj, "lambda_usd_per_unit_distance": lam,
                     **r["stats"], "expected_cost_nominal": float(p @ costs[:n_nom]), "worst_case_cost": wc.value,
                     "transport_cost": wc.transport_cost})
    out["dro_auto"] = dict(out[f"dro_r{float(radius):g}"])
    for name in ("saa_all_days", "saa", "deterministic"):
        if name in out:
            rows.insert(0, {"method": name, "radius": np.nan, "objective": out[name]["objective"],
                            **{k: out[name][k] for k in STAT_KEYS}})
    log.info("dro: %d first stages solved in %.1f s (task seconds: %s)", len(out), time.perf_counter() - t0,
             ", ".join(f"{k} {r['task_s']:.1f}" for k, r in zip(keys, results, strict=True)))
    return out, pd.DataFrame(rows), pd.DataFrame(wc_rows)


def _oos_task(task: dict, shared: dict) -> pd.DataFrame:
    """Out-of-sample recourse of one first stage on a chunk of one test set, on an :mod:`evgrid.compute`
    worker: one persistent recourse LP built here, re-solved warm batch after batch.
    ``task = {"first_stage", "test_set", "start", "stop"}``; ``atom`` = the day's index in its test set."""
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
                "bound_usd": fs.get("bound_usd", np.nan),
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


def backtest_day(task: dict, seed: int, shared: dict) -> dict:
    """One test date (a :func:`evgrid.compute.map_tasks` task; plain data in and out): reduce the day's
    training days to atoms, solve every method's first stage, evaluate each on the real day."""
    t0, c0 = time.perf_counter(), time.process_time()
    cfg: DroConfig = shared["dro"]
    bt: BacktestConfig = shared["backtest"]
    sysm = make_system(shared["network"], cfg, task["load_profile"], shared["step_minutes"])
    train, _ = to_model_data(task["train"], sysm, cfg)
    day, _ = to_model_data(task["test"], sysm, cfg)
    feats, _ = standardise_features(feature_blocks(train), reference=shared["reference_blocks"])
    red = reduce_scenarios(feats, min(int(cfg.scenarios.n_nominal), train.n_scenarios), seed)
    nominal = train.subset(red.medoids)
    dist = distance_matrix(feats[red.medoids], feats[red.medoids])
    threads = compute.solver_threads(1)
    fss = solve_first_stages(sysm, train, nominal, red.probabilities, dist, shared["radius"], cfg, threads)
    t_solve = time.perf_counter() - t0
    evaluator = RecourseEvaluator(sysm, 1, day, cfg.solver.options())
    rows = []
    for method in METHODS:
        fs = fss[method]
        ev = evaluate_on_day(evaluator, fs["first_stage"], day, sysm, bt.ac_check)
        rows.append({"date": task["date"], "method": method, "radius": fs["radius"],
                     "test_price_date": task["test_price_date"], "n_train_days": train.n_scenarios,
                     "n_atoms": len(red.medoids), **ev, "objective_in_sample_usd": fs["objective"],
                     "solver_status": fs["solver_status"], "mip_gap": fs["mip_gap"], "bound_usd": fs["bound_usd"],
                     "solve_s": fs["solve_s"],
                     "integer_commitment": bool(np.allclose(fs["first_stage"].commitment,
                                                            np.round(fs["first_stage"].commitment)))})
    wall = time.perf_counter() - t0
    for r in rows:
        r["day_seconds"] = wall
        r["first_stage_seconds"] = t_solve
    atoms = [task["train_dates"][i] for i in red.medoids]
    return {"rows": rows, "first_stages": {m: fss[m]["first_stage"] for m in METHODS},
            "atom_dates": atoms, "atom_probabilities": red.probabilities.tolist(), "seconds": wall,
            "cpu_seconds": time.process_time() - c0}


def run_backtest(plan: dict, network: Network, radius: float, cfg: DroConfig, bt: BacktestConfig,
                 settings: compute.ComputeSettings, step_minutes: int) -> tuple[pd.DataFrame, dict, dict]:
    """Every test date as one task on the configured scheduler; per-day table (date x method), the first
    stages and the atoms chosen per date, and run info."""
    t0 = time.perf_counter()
    r = float(radius) if bt.radius == "dro_cv" else float(bt.radius)
    shared = {"network": network, "dro": cfg, "backtest": bt, "radius": check_radius(r, "backtest radius"),
              "step_minutes": int(step_minutes), "reference_blocks": reference_blocks(network, plan, cfg, step_minutes)}
    tasks = plan["tasks"]
    out = compute.map_tasks(backtest_day, tasks, settings, keys=[t["date"] for t in tasks], seed=bt.seed,
                            shared=shared, desc="backtest days")
    daily = pd.DataFrame([row_ for o in out for row_ in o["rows"]])
    daily["date"] = pd.to_datetime(daily["date"])
    first_stages = {t["date"]: {"first_stages": o["first_stages"], "atom_dates": o["atom_dates"],
                                "atom_probabilities": o["atom_probabilities"], "load_profile": t["load_profile"]}
                    for t, o in zip(tasks, out, strict=True)}
    day_s = np.array([o["seconds"] for o in out])
    cpu_s = np.array([o["cpu_seconds"] for o in out])
    info = {"radius": r, "radius_source": "dro pipeline cross-validation (dro_radius_selected)"
            if bt.radius == "dro_cv" else "parameter backtest.radius", "days": len(tasks),
            "wall_seconds": time.perf_counter() - t0, "task_seconds_mean": float(day_s.mean()),
            "task_seconds_max": float(day_s.max()), "task_seconds_sum": float(day_s.sum()),
            "task_cpu_seconds_mean": float(cpu_s.mean()), "task_cpu_seconds_max": float(cpu_s.max()),
            "scheduler": settings.scheduler, "n_workers": settings.n_workers}
    log.info("backtest: %d days x %d methods in %.1f s (%.1f s per day-task)", len(tasks), len(METHODS),
             info["wall_seconds"], info["task_seconds_mean"])
    return daily, first_stages, info


# ------------------------------------------------------------------------------ atoms x shift experiment
def _experiment_cell(cond: dict, n: int, sysm, cfg: DroConfig) -> dict:
    """Model data of one (condition, n): the ``n`` atoms, their features, the extra support, the test days."""
    atoms, _ = to_model_data(cond["pool"].subset(np.arange(n)).channels, sysm, cfg)
    blocks = feature_blocks(atoms)
    feats, _ = standardise_features(blocks)
    extra, extra_feats = None, np.zeros((0, feats.shape[1]))
    if cond["extra_support"] is not None and int(cfg.scenarios.n_gan_atoms) > 0:
        gen, _ = to_model_data(cond["extra_support"].channels, sysm, cfg)
        gf, _ = standardise_features(feature_blocks(gen), reference=blocks)
        red = reduce_scenarios(gf, int(cfg.scenarios.n_gan_atoms), int(cfg.seed) + 1)
        extra, extra_feats = gen.subset(red.medoids), gf[red.medoids]
    test, _ = to_model_data(cond["test"].channels, sysm, cfg)
    return {"atoms": atoms, "feats": feats, "extra": extra, "extra_feats": extra_feats, "test": test}


def _experiment_task(task: dict, shared: dict) -> dict:
    """One (condition, n, method) of the experiment on an :mod:`evgrid.compute` worker: first stage on the
    ``n`` training atoms (DRO: radius by CV on those days only), scored on the condition's held-out days."""
    t0 = time.perf_counter()
    cfg: DroConfig = shared["cfg"]
    n, method = int(task["n"]), task["method"]
    sysm = make_system(shared["network"], cfg, shared["load_profile"], shared["step_minutes"])
    cell = _experiment_cell(shared["conditions"][task["condition"]], n, sysm, cfg)
    atoms = cell["atoms"]
    threads = compute.solver_threads(1)
    lp_opts, mip_opts = _solver_dicts(cfg, threads)
    radius = np.nan
    if method == "dro":
        support = atoms if cell["extra"] is None else atoms.concat(cell["extra"])
        support_feats = np.vstack([cell["feats"], cell["extra_feats"]])
        k = min(int(cfg.experiment.cv_folds), n)
        cv_cfg = replace(cfg, scenarios=replace(cfg.scenarios, n_nominal=n, n_train_days=max(n, 1)),
                         robust=replace(cfg.robust, cv_folds=k, radius="auto"))
        cv_atoms = {"system": sysm, "train": atoms, "train_features": cell["feats"],
                    "gan_atom_features": cell["extra_feats"], "data": support, "n_nominal": n}
        radius, _, _ = select_radius(cv_atoms, cv_cfg, "sync")
        ball = WassersteinBall(np.full(n, 1.0 / n), distance_matrix(cell["feats"], support_feats), float(radius))
        w = float(cfg.robust.worst_case_weight)
        tsm = build_two_stage(sysm, support, method="dro", ball=ball, worst_case_weight=w, name="dro",
                              lambda_max=float(cfg.robust.lambda_max_usd))
        for _ in radius_sweep(tsm, [float(radius)], w, lp_opts, mip_opts):
            pass
    else:
        if method == "deterministic":
            tsm = build_two_stage(sysm, atoms.mean(), name="deterministic")
        elif method == "saa":
            tsm = build_two_stage(sysm, atoms, name="saa")
        elif method == "moment":
            tsm = build_two_stage(sysm, moment_two_point(atoms), name="moment")
        else:
            raise ValueError(f"unknown experiment method {method!r}")
        _solve_first_stage(tsm, sysm, lp_opts, mip_opts)
    fs = tsm.first_stage()
    evaluator = RecourseEvaluator(sysm, int(cfg.evaluation.oos_batch), cell["test"], lp_opts)
    tab = evaluator.evaluate(fs, cell["test"])["table"]
    stats = solve_stats(tsm.result)
    return {"costs": tab["total_cost_usd"].to_numpy(), "unserved_kwh": tab["lane_unserved_kwh"].to_numpy(),
            "radius": float(radius), **stats, "task_s": time.perf_counter() - t0}


def run_experiment(plan: dict, network: Network, cfg: DroConfig, settings, step_minutes: int
                   ) -> tuple[pd.DataFrame, dict]:
    """Every (condition, n, method) of :mod:`evgrid.studies.dro.experiment` as one :func:`evgrid.compute.map_tasks`
    task (keyed by the three); per held-out day and method: total cost, unserved lane energy, the first
    stage's certified gap. Returns the per-day table and run info."""
    t0 = time.perf_counter()
    exp = cfg.experiment
    tasks = [{"condition": c, "n": n, "method": m} for c, cond in plan["conditions"].items()
             for n in sizes_run(exp, cond["pool"].n) for m in EXPERIMENT_METHODS]
    shared = {"cfg": cfg, "network": network, "conditions": plan["conditions"], "load_profile": plan["load_profile"],
              "step_minutes": int(step_minutes)}
    out = compute.map_tasks(_experiment_task, tasks, settings, keys=[(t["condition"], t["n"], t["method"]) for t in tasks],
                            shared=shared, desc="dro atoms x shift experiment")
    rows = []
    for t, r in zip(tasks, out, strict=True):
        for day, (c, u) in enumerate(zip(r["costs"], r["unserved_kwh"], strict=True)):
            rows.append({"condition": t["condition"], "n_atoms": t["n"], "method": t["method"], "day": day,
                         "total_cost_usd": float(c), "lane_unserved_kwh": float(u), "radius": r["radius"],
                         **{k: r[k] for k in STAT_KEYS}, "task_s": r["task_s"]})
    secs = [r["task_s"] for r in out]
    info = {"tasks": len(tasks), "wall_seconds": time.perf_counter() - t0, "task_seconds_sum": float(sum(secs)),
            "task_seconds_max": float(max(secs)) if secs else 0.0, "max_mip_gap": float(max(r["mip_gap"] for r in out))
            if out else np.nan}
    log.info("dro experiment: %d tasks in %.1f s (task seconds %.0f)", len(tasks), info["wall_seconds"],
             info["task_seconds_sum"])
    return pd.DataFrame(rows), info

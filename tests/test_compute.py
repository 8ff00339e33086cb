"""evgrid.compute: the same sweep gives bit-identical results in-process, on a 2-worker local cluster and
on an external ``dask scheduler`` + ``dask worker`` (subprocesses on 127.0.0.1); a worker killed mid-sweep
is replaced and its task re-run with the same result; a bad scheduler address fails fast naming the
setting; seeds depend on the task key only.

Cluster tests share one local cluster and one external cluster (module fixtures) to stay within the CI
budget (2 cores): about 20-30 s in all.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from evgrid import compute
from evgrid.compute import ComputeError, ComputeSettings, TaskError, map_tasks, task_seed

# Workers started by `dask worker` cannot import this test module: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SRC = str(Path(compute.__file__).resolve().parents[1])


# ----------------------------------------------------------------------------------- the sweep
def lp_task(task: dict, seed: int) -> dict:
    """A small seeded transport LP (4 plants x 6 markets) scaled by ``task['scale']``, solved by HiGHS via
    the evgrid solver wrapper with this task's solver threads; plus a seeded numpy draw. Returns plain data."""
    import pyomo.environ as pyo

    from evgrid.optim.solver import solve

    marker = task.get("kill_marker")
    if marker is not None and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-task; Dask must re-run the task elsewhere

    rng = np.random.default_rng(seed)
    cost = rng.uniform(1, 10, size=(4, 6))
    supply = rng.uniform(50, 80, size=4)
    demand = task["scale"] * rng.uniform(20, 40, size=6)
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(4), range(6), bounds=(0, None))
    m.sup = pyo.Constraint(range(4), rule=lambda m, i: sum(m.x[i, j] for j in range(6)) <= supply[i])
    m.dem = pyo.Constraint(range(6), rule=lambda m, j: sum(m.x[i, j] for i in range(4)) >= demand[j])
    m.obj = pyo.Objective(expr=sum(cost[i, j] * m.x[i, j] for i in range(4) for j in range(6)))
    res = solve(m, {"threads": compute.solver_threads(), "seed": seed})
    x = np.array([[pyo.value(m.x[i, j]) for j in range(6)] for i in range(4)])
    return {"key": task["name"], "objective": res.objective, "x": x, "noise": rng.standard_normal(3),
            "threads": compute.solver_threads()}


def _sweep(n: int = 6, kill_marker: str | None = None):
    tasks = [{"name": f"s{i}", "scale": 0.5 + 0.1 * i} for i in range(n)]
    if kill_marker is not None:
        tasks[2]["kill_marker"] = kill_marker
    return tasks, [t["name"] for t in tasks]


def _same(a: list[dict], b: list[dict]) -> bool:
    """Bit-identical: equal keys, floats compared by their bytes."""
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        if ra["key"] != rb["key"] or np.float64(ra["objective"]).tobytes() != np.float64(rb["objective"]).tobytes():
            return False
        if ra["x"].tobytes() != rb["x"].tobytes() or ra["noise"].tobytes() != rb["noise"].tobytes():
            return False
    return True


@pytest.fixture(scope="module")
def reference():
    tasks, keys = _sweep()
    return map_tasks(lp_task, tasks, ComputeSettings(scheduler="sync", progress=False), keys=keys, seed=7)


# ------------------------------------------------------------------------------------ clusters
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def local_settings():
    s = ComputeSettings(scheduler="local", n_workers=2, threads_per_worker=1, progress=False)
    yield s
    compute.shutdown()


@pytest.fixture(scope="module")
def external_cluster(tmp_path_factory):
    """``dask scheduler`` + ``dask worker --nworkers 2`` as subprocesses (own process groups) on 127.0.0.1."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]),
           "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "3"}
    logdir = tmp_path_factory.mktemp("dask")
    procs = []
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--no-dashboard"], env=env, start_new_session=True,
            stdout=open(logdir / "scheduler.log", "w"), stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "dask", "worker", address, "--nworkers", "2", "--nthreads", "1",
             "--no-dashboard", "--death-timeout", "60", "--local-directory", str(logdir)],
            env=env, start_new_session=True, stdout=open(logdir / "worker.log", "w"), stderr=subprocess.STDOUT))
        settings = ComputeSettings(scheduler=address, connect_timeout_s=60, progress=False)
        client = compute.get_client(settings)
        client.wait_for_workers(2, timeout=90)
        yield settings
    finally:
        compute.shutdown()
        for p in reversed(procs):
            _stop(p)


# --------------------------------------------------------------------------------------- tests
def test_settings_validate_and_environment_overrides():
    import yaml

    conf = yaml.safe_load((Path(SRC).parent / "conf" / "base" / "parameters.yml").read_text())["compute"]
    assert ComputeSettings.from_params(conf, environ={}) == ComputeSettings(scheduler="local", n_workers=2)
    with pytest.raises(ComputeError, match=r"unknown compute parameters \['nworkers'\]"):
        ComputeSettings.from_params({"nworkers": 2})
    with pytest.raises(ComputeError, match=r"compute\.scheduler='tcp//host:8786'.*EVGRID_DASK_SCHEDULER"):
        ComputeSettings.from_params({"scheduler": "tcp//host:8786"})
    with pytest.raises(ComputeError, match=r"compute\.n_workers=0"):
        ComputeSettings.from_params({"n_workers": 0})
    with pytest.raises(ComputeError, match=r"compute\.scatter_timeout_s=0: expected seconds in \(0, 3600\]"):
        ComputeSettings.from_params({"scatter_timeout_s": 0})
    with pytest.raises(ComputeError, match=r"compute\.task_timeout_s='1h'"):
        ComputeSettings.from_params({"task_timeout_s": "1h"})
    s = ComputeSettings.from_params({"scheduler": "local", "n_workers": 2},
                                    environ={"EVGRID_DASK_SCHEDULER": "tcp://10.1.2.3:8786"})
    assert s.scheduler == "tcp://10.1.2.3:8786" and s.n_workers == 2
    with pytest.raises(ComputeError, match=r"from \$EVGRID_DASK_SCHEDULER"):
        ComputeSettings.from_params({}, environ={"EVGRID_DASK_SCHEDULER": "hostname-only"})


def test_seeds_depend_on_the_task_key_only():
    assert task_seed(7, ("dro", 3)) == task_seed(7, ["dro", 3])  # canonical form, any process
    assert len({task_seed(7, f"s{i}") for i in range(200)}) == 200
    assert task_seed(7, "s0") != task_seed(8, "s0")
    tasks, keys = _sweep(4)
    fwd = map_tasks(lp_task, tasks, "sync", keys=keys, seed=7)
    rev = map_tasks(lp_task, tasks[::-1], "sync", keys=keys[::-1], seed=7)
    assert _same(fwd, rev[::-1])                   # a task's result does not depend on its position
    assert all(r["threads"] == 1 for r in fwd)     # one solver thread per task
    assert compute.solver_threads() is None        # ... only inside tasks
    with pytest.raises(ValueError, match="unique"):
        map_tasks(lp_task, tasks[:2], "sync", keys=["a", "a"], seed=7)


def test_pyomo_objects_are_refused_and_task_errors_name_the_key():
    import pyomo.environ as pyo

    with pytest.raises(TypeError, match=r"task 'bad' holds a Pyomo object"):
        map_tasks(lp_task, [{"model": pyo.ConcreteModel()}], "sync", keys=["bad"], seed=1)
    with pytest.raises(TaskError, match=r"task 'no-scale' failed: KeyError") as err:
        map_tasks(lp_task, [{"name": "no-scale"}], "sync", keys=["no-scale"], seed=1)
    assert err.value.key == "no-scale"


def test_bad_scheduler_address_fails_fast_naming_the_setting():
    port = _free_port()  # nothing listens there
    t0 = time.perf_counter()
    with pytest.raises(ComputeError, match=rf"compute\.scheduler='tcp://127\.0\.0\.1:{port}'.*no Dask scheduler"):
        map_tasks(lp_task, [{"name": "a", "scale": 1.0}],
                  ComputeSettings(scheduler=f"tcp://127.0.0.1:{port}", connect_timeout_s=2), seed=1)
    assert time.perf_counter() - t0 < 20


def test_local_cluster_matches_in_process_bit_for_bit(local_settings, reference):
    tasks, keys = _sweep()
    out = map_tasks(lp_task, tasks, local_settings, keys=keys, seed=7, desc="lp sweep")
    assert _same(out, reference)
    assert [r["key"] for r in out] == keys
    # workers keep glibc's adaptive malloc (Dask's MALLOC_TRIM_THRESHOLD_ made numpy scoring 2.4x slower)
    envs = compute.get_client(local_settings).run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert len(envs) == 2 and set(envs.values()) == {None}


def test_worker_killed_mid_sweep_is_replaced_and_result_unchanged(local_settings, reference, tmp_path):
    marker = tmp_path / "killed.pid"
    tasks, keys = _sweep(kill_marker=str(marker))
    out = map_tasks(lp_task, tasks, local_settings, keys=keys, seed=7)
    killed = int(marker.read_text())             # the first attempt of task s2 killed its worker ...
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)                       # ... that process is gone ...
    assert _same(out, reference)                 # ... and the re-run gave the same results


def test_external_scheduler_and_workers_match_in_process(external_cluster, reference):
    tasks, keys = _sweep()
    out = map_tasks(lp_task, tasks, external_cluster, keys=keys, seed=7)
    assert _same(out, reference)


# ------------------------------------------------------------------ the studies' fan-outs (issue 17)
def _tariff_fanout(settings):
    """The tariff study's whole fan-out (DSO sweep split over compute.slots() tasks + responses) on the small
    coupled system of tests/studies/tariff."""
    from evgrid.studies.tariff import report
    from tests.studies.tariff.conftest import make_system

    cases = report.run_cases(make_system(**{"uncertainty.gamma_sweep": [0.0, 1.0], "aggregators.max_iterations": 1}),
                             settings)
    out = {f"sweep{k}": (c.objective_usd, c.station_kw, c.tariffs, c.line_flow_kw) for k, c in cases["sweep"].items()}
    for name, r in cases["responses"].items():
        out[name] = (r["response"].objective_usd, r["response"].station_kw, r["tariff"])
    out["iterations"] = cases["iterations"]
    out["checks"] = {c: (v["line_flow_kw"], v["ac_line_kva"]) for c, v in cases["checks"].items()}
    return out


def _planning_fanout(settings):
    """Exact lower-level evaluations of two plans of the small planning system (one task per plan)."""
    from evgrid.studies.planning.config import PlanningConfig
    from evgrid.studies.planning.model import Evaluator
    from evgrid.studies.planning.system import build_system
    from tests.studies.planning.conftest import daily_inputs, small_params

    system = build_system(PlanningConfig.from_params(small_params()), *daily_inputs())
    plans = np.array([[150.0] * system.n_stations, np.linspace(120.0, 250.0, system.n_stations)])
    return [(e.costs(), [(p.station_kw, p.station_price_usd_per_kwh, p.road_flow, p.opf.v_pu) for p in e.periods])
            for e in Evaluator(system, settings)(plans)]


def _parking_fanout(settings):
    """The parking scenarios base and s1 (one task each, own model of the day; no time-limited MILP) on the
    real-data stand-ins of tests/studies/parking with small lots."""
    import copy

    from evgrid.grid.matpower import load_matpower_case
    from evgrid.studies.parking.config import ParkingConfig
    from evgrid.studies.parking.runs import ParkingInputs, run_scenarios
    from evgrid.studies.parking.system import build_system, gan_days, prepare_day, workplace_sessions
    from tests.grid.helpers import CASE33
    from tests.studies.parking import fixtures as fx

    inputs = fx.real_inputs()
    p = copy.deepcopy(fx.params())
    for lot, n in zip(p["lots"], (20, 20, 60), strict=True):
        lot["n_evs"] = n
    p["study"]["scenarios"] = ["base", "s1"]
    cfg = ParkingConfig.from_params(p)
    system = build_system(load_matpower_case(CASE33), inputs["prices_primary"], inputs["load_daily"], cfg)
    sessions = workplace_sessions(inputs["ev_session_features"], cfg)
    prep = prepare_day(gan_days(inputs["ev_times.scenarios"], inputs["pv.scenarios"], sessions, cfg, 1)[0], cfg)
    res = run_scenarios(ParkingInputs(system, prep, [], []), cfg, settings)
    return {k: res[k].drop(columns=["wall_s"], errors="ignore") for k in ("costs", "details", "schedules")}


def _equal(a, b) -> bool:
    """Bit-for-bit equality through dicts, lists, tuples, arrays and frames (NaN == NaN)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, pd.DataFrame):
        return (list(a.columns) == list(b.columns) and a.index.equals(b.index)
                and all(_equal(a[c].to_numpy(), b[c].to_numpy()) for c in a.columns))
    if isinstance(a, pd.Series):
        return a.index.equals(b.index) and _equal(a.to_numpy(), b.to_numpy())
    if isinstance(a, np.ndarray):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind == "O":
            return all(_equal(x, y) for x, y in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True))
        return np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (np.isnan(a) and np.isnan(b))
    return bool(a == b)


@pytest.mark.parametrize("fanout", [_tariff_fanout, _parking_fanout, _planning_fanout],
                         ids=["tariff", "parking", "planning"])
def test_study_fanouts_give_the_same_bits_in_process_and_on_a_2_worker_cluster(fanout, local_settings):
    """What each study computes does not depend on where its tasks run (nor on how the sweep is split:
    sync runs the tariff sweep as 1 task, the cluster as 2)."""
    assert _equal(fanout(ComputeSettings(scheduler="sync", progress=False)), fanout(local_settings))


# ------------------------------------------------------------------------ no unbounded wait (issue 23)
def shared_sum_task(task: dict, seed: int, shared: dict) -> dict:
    """Reads every part of ``shared`` (a dict, as the dro study passes it)."""
    rng = np.random.default_rng(seed)
    return {"key": task["name"], "value": float(shared["a"] @ shared["b"]) * task["k"] + rng.standard_normal(),
            "n": len(shared["names"])}


def test_repeated_maps_with_a_shared_dict_neither_hang_nor_differ(local_settings):
    """The pattern that hung `make test` 78 min: map after map with ``shared`` a dict. Scattered with
    hash=False, a dict's *keys* became the Dask keys ("a", "b", ...), the same in every map; a map's cleanup
    raced with the next map's scatter, and under CPU load tasks were cancelled or the scatter never returned
    (before the fix: a stall within the first few maps in 200 under a busy loop). Every map must finish, each
    equal to the in-process result."""
    rng = np.random.default_rng(3)
    shared = {"a": rng.standard_normal(500), "b": rng.standard_normal(500), "names": ["x", "y"]}
    tasks = [{"name": f"t{i}", "k": i} for i in range(4)]
    keys = [t["name"] for t in tasks]
    ref = map_tasks(shared_sum_task, tasks, "sync", keys=keys, seed=5, shared=shared)
    for rep in range(25):
        out = map_tasks(shared_sum_task, tasks, local_settings, keys=keys, seed=5, shared=shared, desc=f"rep{rep}")
        assert out == ref, rep


def test_a_hung_dask_call_fails_naming_the_setting():
    """A call with no answer raises ComputeError naming the setting (instead of waiting forever)."""
    t0 = time.perf_counter()
    with pytest.raises(ComputeError, match=r"sending x: no answer within compute\.scatter_timeout_s=0\.5 s") as err:
        compute._bounded("sending x", "scatter_timeout_s", 0.5, time.sleep, 30)
    assert err.value.timed_out and time.perf_counter() - t0 < 10
    with pytest.raises(ZeroDivisionError):           # the call's own errors pass through unchanged
        compute._bounded("x", "scatter_timeout_s", 5, lambda: 1 / 0)


def sleepy_task(task: dict) -> float:
    time.sleep(task["sleep_s"])
    return task["sleep_s"]


def test_a_stalled_map_fails_naming_its_tasks_and_the_setting(local_settings):
    """No task finishing within task_timeout_s: TaskError naming the unfinished tasks and the setting (this
    test runs last in the module: the stalled cluster is discarded, not reused)."""
    s = dataclasses.replace(local_settings, task_timeout_s=1.0)
    with pytest.raises(TaskError, match=r"slow map: no task finished within compute\.task_timeout_s=1 s; "
                                        r"2 unfinished, e\.g\. \['slow0', 'slow1'\]"):
        map_tasks(sleepy_task, [{"sleep_s": 20.0}] * 2, s, keys=["slow0", "slow1"], desc="slow map")


def test_a_local_cluster_run_ends_without_traceback_or_error():
    """A script that maps on a local cluster and just exits: the cluster closes at exit (client first, then
    the cluster, workers' heartbeat errors silenced): exit code 0 and nothing alarming on stderr."""
    script = (
        "from evgrid import compute\n"
        "def f(task, shared):\n    return task + shared['x']\n"
        "if __name__ == '__main__':\n"
        "    print(compute.map_tasks(f, [1, 2, 3], {'scheduler': 'local', 'progress': False}, shared={'x': 10}))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "[11, 12, 13]", proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr[-3000:]

"""Fixtures shared by every test package (no file I/O at import time: everything is read in fixtures)."""

import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_leaked_mlflow_run():
    """End any MLflow run a test left active: kedro-mlflow reuses an active run (and its tracking URI and
    experiment) in the next KedroSession of the same process, so one leaked run sends later tests' runs to
    another project's database."""
    yield
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None:
        while mlflow.active_run() is not None:
            mlflow.end_run()


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Small fully connected nets train fastest single-threaded (and do not fight other jobs for cores).

    Acts only when a collected test module imported torch (the GAN tests), so other sessions stay torch-free.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def net33():
    """The Baran-Wu 33-bus feeder (data/01_raw/grids/case33bw.m), no branch ratings."""
    from evgrid.grid.matpower import load_matpower_case
    from tests.grid.helpers import CASE33

    return load_matpower_case(CASE33)


def _params(name: str) -> dict:
    return yaml.safe_load((ROOT / "conf" / "base" / f"parameters_{name}.yml").read_text())[name]


@pytest.fixture(scope="session")
def dwpt_params() -> dict:
    """``conf/base/parameters_dwpt.yml``'s ``dwpt`` block with the feeder path made absolute (read-only:
    copy before changing it, e.g. ``dwpt_params | {...}``)."""
    p = _params("dwpt")
    p["network"]["path"] = str(ROOT / p["network"]["path"])
    return p


@pytest.fixture(scope="session")
def dro_params() -> dict:
    """``conf/base/parameters_dro.yml``'s ``dro`` block (read-only: copy before changing it)."""
    return _params("dro")

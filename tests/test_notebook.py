"""notebooks/starter.ipynb runs headless (nbclient, as `jupyter nbconvert --execute`) on a small run: a
throw-away project copy where only `ingest` has run; the notebook itself builds the dwpt day and re-solves
one case with the import limit changed."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def test_starter_notebook_executes_headless(tmp_path, monkeypatch):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    p = tmp_path / "evgrid"
    shutil.copytree(ROOT / "conf", p / "conf", ignore=shutil.ignore_patterns("local"))
    (p / "conf" / "local").mkdir()
    shutil.copy(ROOT / "pyproject.toml", p / "pyproject.toml")
    (p / "src").mkdir()
    (p / "data").mkdir()
    (p / "data" / "01_raw").symlink_to(ROOT / "data" / "01_raw")
    scen = ROOT / "data" / "07_model_output" / "scenarios" / "pv.parquet"
    if scen.exists():  # a developer checkout with GAN outputs also exercises the scenario plot
        (p / "data" / "07_model_output" / "scenarios").mkdir(parents=True)
        shutil.copy(scen, p / "data" / "07_model_output" / "scenarios" / "pv.parquet")
    monkeypatch.chdir(p)
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):  # the kernel must use the copy's own store
        monkeypatch.delenv(var, raising=False)
    bootstrap_project(p)
    with KedroSession.create(project_path=p) as session:
        session.run(pipeline_names=["ingest"])

    nb = nbformat.read(ROOT / "notebooks" / "starter.ipynb", as_version=4)
    monkeypatch.setenv("EVGRID_PROJECT", str(p))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(p)}}).execute()
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs))
    assert "Error" not in "".join(o.get("ename", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "import <= 3000 kW" in text  # the re-solve with the changed import limit ran
    assert "bought_mwh" in text and "no GAN pyfunc model registered yet" in text
    assert (p / "data" / "05_model_input" / "dwpt" / "day.pkl").exists()

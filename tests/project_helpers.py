"""Shared test helpers: a MemoryDataset the runner keeps, and a throw-away copy of the Kedro project."""

from __future__ import annotations

import shutil
from pathlib import Path

from kedro.io import MemoryDataset

ROOT = Path(__file__).resolve().parents[1]


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so every intermediate output can be inspected."""

    def _release(self) -> None:
        pass


def throwaway_project(p: Path) -> Path:
    """Copy the project's conf (without conf/local) and pyproject.toml into ``p``, with an empty ``src`` and
    an *absolute* MLflow store ``p/mlflow.db`` in conf/local: MLflow caches one store per URI string in a
    process, so a relative ``sqlite:///mlflow.db`` of an earlier test's project would receive this run."""
    shutil.copytree(ROOT / "conf", p / "conf", ignore=shutil.ignore_patterns("local"))
    (p / "conf" / "local").mkdir()
    (p / "conf" / "local" / "mlflow.yml").write_text(
        (ROOT / "conf" / "base" / "mlflow.yml").read_text().replace("sqlite:///mlflow.db", f"sqlite:///{p / 'mlflow.db'}"))
    shutil.copy(ROOT / "pyproject.toml", p / "pyproject.toml")
    (p / "src").mkdir()
    return p

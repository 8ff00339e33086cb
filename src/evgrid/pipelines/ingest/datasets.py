"""``RawFilesDataset``: a catalog entry that resolves one or more raw files (path or glob) to paths.

The Kedro-free parsers in :mod:`evgrid.data` read the files themselves (pvlib needs a path, formats differ
in headers and metadata lines), so the catalog hands them the resolved, sorted list of paths. Point
``filepath`` at your own files (a glob such as ``data/01_raw/irradiance/*.csv`` for several) and set the
matching ``format`` in ``conf/base/parameters_ingest.yml``.
"""

from __future__ import annotations

import glob
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class RawFilesDataset(AbstractDataset[None, list[Path]]):
    """Read-only dataset resolving ``filepath`` (a path or glob pattern) to a sorted list of file paths."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = str(filepath)
        self.metadata = metadata

    def load(self) -> list[Path]:
        paths = sorted(Path(p) for p in glob.glob(self._filepath))
        paths = [p for p in paths if p.is_file()]
        if not paths:
            raise DatasetError(f"RawFilesDataset: no file matches {self._filepath!r}; point the catalog entry "
                               "at your raw file(s) (a path or a glob pattern)")
        return paths

    def save(self, data: None) -> None:
        raise DatasetError("RawFilesDataset is read-only (raw data are never overwritten)")

    def _exists(self) -> bool:
        return bool(glob.glob(self._filepath))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": PurePosixPath(self._filepath).as_posix()}

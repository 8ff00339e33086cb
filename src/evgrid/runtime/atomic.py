"""Atomic file writes: write to a temporary file in the target's folder, then ``os.replace`` it into place.

A reader (another run, another process) therefore sees the previous complete file or the new complete one,
never a truncated one (the ``Parquet file size is 0 bytes`` of four concurrent ``kedro run``). A write that
raises leaves the previous file untouched and no temporary behind.

``make_atomic(dataset)`` applies this to any fsspec-based Kedro dataset on the local file system (every
``pandas.*``, ``json.*``, ``pickle.*``, ``plotly.*``, ``matplotlib.*``, ``text.*`` dataset and their
``MlflowArtifactDataset`` wrappers) by replacing its ``_fs`` with :class:`AtomicFileSystem`, which routes
``open(path, "w...")`` through :func:`atomic_write` and delegates everything else. No catalog entry changes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Any

_TEXT_KW = ("encoding", "errors", "newline")
_UMASK: int | None = None


def _umask() -> int:
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0)
        os.umask(_UMASK)
    return _UMASK


class _AtomicFile:
    """A file object writing to ``<dir>/.<name>.<random>.tmp``; ``close()`` publishes it, an exception
    inside ``with`` (or :meth:`discard`) removes it."""

    def __init__(self, path: str | os.PathLike, mode: str = "wb", **kwargs: Any):
        if "r" in mode or "a" in mode or "+" in mode:
            raise ValueError(f"atomic writes need a write mode ('w' or 'x'), got {mode!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if "x" in mode and self.path.exists():
            raise FileExistsError(self.path)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        self.tmp = Path(tmp)
        text_kw = {k: v for k, v in kwargs.items() if k in _TEXT_KW and v is not None}
        self._f: IO = os.fdopen(fd, mode.replace("x", "w"), **text_kw)
        self._done = False

    def __getattr__(self, name: str) -> Any:
        f = self.__dict__.get("_f")
        if f is None:
            raise AttributeError(name)
        return getattr(f, name)

    def __iter__(self):
        return iter(self._f)

    def write(self, data):
        return self._f.write(data)

    @property
    def closed(self) -> bool:
        return self._done

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return self._f.seekable()

    def discard(self) -> None:
        if self.__dict__.get("_done", True):
            return
        self._done = True
        with contextlib.suppress(OSError):
            self._f.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()

    def close(self) -> None:
        if self._done:
            return
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            os.chmod(self.tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a plain open() gives 0666 & ~umask
            os.replace(self.tmp, self.path)
        except BaseException:
            self.discard()
            raise
        self._done = True

    def __enter__(self) -> _AtomicFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()

    def __del__(self):  # never publish a half-written file from the garbage collector
        with contextlib.suppress(Exception):
            self.discard()


def atomic_write(path: str | os.PathLike, mode: str = "wb", **kwargs: Any) -> _AtomicFile:
    """``with atomic_write(p, "w", encoding="utf-8") as f: f.write(...)``: all or nothing at ``p``."""
    return _AtomicFile(path, mode, **kwargs)


def _local_path(path: Any) -> str:
    p = str(path)
    return p[len("file://"):] if p.startswith("file://") else p


class AtomicFileSystem:
    """Wraps an fsspec ``LocalFileSystem``: write-mode ``open`` is atomic, the rest is delegated."""

    def __init__(self, fs: Any):
        self._inner = fs

    def open(self, path: Any, mode: str = "rb", **kwargs: Any):
        if ("w" in mode or "x" in mode) and "+" not in mode and kwargs.get("compression") is None:
            return atomic_write(_local_path(path), mode, **kwargs)
        return self._inner.open(path, mode, **kwargs)

    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("_inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    def __getstate__(self) -> dict:
        return {"_inner": self._inner}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


def _is_local_fs(fs: Any) -> bool:
    try:
        from fsspec.implementations.local import LocalFileSystem
    except ImportError:  # pragma: no cover - fsspec ships with kedro-datasets
        return False
    return isinstance(fs, LocalFileSystem)


def make_atomic(dataset: Any) -> bool:
    """Make a dataset's local-file saves atomic (idempotent). Returns True when the dataset writes local
    files through fsspec and is now atomic; False for anything else (memory, MLflow metrics, remote)."""
    fs = getattr(dataset, "_fs", None)
    if isinstance(fs, AtomicFileSystem):
        return True
    if fs is None or not _is_local_fs(fs):
        return False
    dataset._fs = AtomicFileSystem(fs)
    return True

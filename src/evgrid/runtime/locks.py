"""Locks: a blocking ``flock`` guard for short critical sections, and output locks between runs.

Two runs that would write the same output files at once are refused: each running run keeps a lock file
``<locks>/<run key>.<pid>.json`` naming its pid (with start time and host), command and output paths.
A new run checks, under the guard, every lock file: one whose process is gone is broken (removed, logged);
a live one sharing an output refuses the new run with the holder's pid and command.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

from .atomic import atomic_write
from .procs import ProcessId

log = logging.getLogger(__name__)


class FileLock:
    """Exclusive advisory lock on ``path`` (``fcntl.flock``), released on exit or when the process dies."""

    def __init__(self, path: str | os.PathLike, timeout_s: float = 300.0):
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._fd: int | None = None

    def __enter__(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise TimeoutError(f"could not lock {self.path} within {self.timeout_s:.0f} s") from None
                time.sleep(0.05)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class OutputLockError(RuntimeError):
    """Another live run is writing some of the same outputs."""


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)[:80] or "run"


class OutputLocks:
    """Lock files in ``directory`` for runs writing output ``paths`` (strings, compared exactly)."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        self._mine: Path | None = None

    def _holders(self) -> list[tuple[Path, dict]]:
        out = []
        for p in sorted(self.dir.glob("*.json")):
            try:
                out.append((p, json.loads(p.read_text(encoding="utf-8"))))
            except (OSError, ValueError):
                continue  # being replaced or corrupt: atomic writes make the first rare; ignore the second
        return out

    def acquire(self, key: str, outputs: Iterable[str], command: str) -> Path:
        """Take the lock for ``outputs`` or raise :class:`OutputLockError` naming the live holder."""
        outputs = sorted(set(outputs))
        me = ProcessId.current()
        with FileLock(self.dir / ".guard"):
            for path, holder in self._holders():
                proc = ProcessId.from_dict(holder.get("process", {}))
                if proc.pid == me.pid and proc.host == me.host:
                    continue  # ours (a second session in the same process after a crash): replace below
                if not proc.alive():
                    log.warning("breaking stale run lock %s: its process %d (%s) is gone",
                                path.name, proc.pid, holder.get("command", "?"))
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                    continue
                shared = sorted(set(outputs) & set(holder.get("outputs", [])))
                if shared:
                    more = f" and {len(shared) - 3} more" if len(shared) > 3 else ""
                    raise OutputLockError(
                        f"another run is writing the same outputs: `{holder.get('command', '?')}` "
                        f"(pid {proc.pid} on {proc.host}, started {holder.get('started_at', '?')}) holds "
                        f"{path} for {', '.join(shared[:3])}{more}. Wait for it to finish (or stop it); a lock "
                        "whose process is gone is broken automatically at the next start.")
            mine = self.dir / f"{_safe(key)}.{me.pid}.json"
            with atomic_write(mine, "w", encoding="utf-8") as f:
                json.dump({"process": me.as_dict(), "command": command, "key": key, "outputs": outputs,
                           "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, f, indent=1)
        self._mine = mine
        return mine

    def release(self) -> None:
        if self._mine is not None:
            with contextlib.suppress(FileNotFoundError):
                self._mine.unlink()
            self._mine = None

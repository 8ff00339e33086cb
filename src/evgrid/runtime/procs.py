"""Process identity: a pid plus its start time (so a recycled pid is not mistaken for the holder)."""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass


def _start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (/proc/<pid>/stat field 22); None off Linux."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) ": state is fields[0]
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[:1] == ["Z"]


def pid_alive(pid: int, start_ticks: int | None = None) -> bool:
    """True while process ``pid`` runs (and, if given, still has the recorded start time)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if _is_zombie(pid):
        return False
    if start_ticks is not None:
        now = _start_ticks(pid)
        if now is not None and now != start_ticks:
            return False  # the pid was recycled by another process
    return True


@dataclass(frozen=True)
class ProcessId:
    """Who holds a lock or runs a run: pid, its start time and the host (pids mean nothing elsewhere)."""

    pid: int
    start_ticks: int | None
    host: str

    @classmethod
    def current(cls) -> ProcessId:
        return cls(os.getpid(), _start_ticks(os.getpid()), socket.gethostname())

    @classmethod
    def from_dict(cls, d: dict) -> ProcessId:
        return cls(int(d.get("pid", -1)), d.get("start_ticks"), str(d.get("host", "")))

    def as_dict(self) -> dict:
        return asdict(self)

    def alive(self) -> bool:
        """False only when we can tell: same host and the process is gone (another host: assume alive)."""
        if self.host != socket.gethostname():
            return True
        return pid_alive(self.pid, self.start_ticks)

"""Run manifests: one JSON per pipeline run key, written when the run starts (``running``) and rewritten
LAST when it ends (``completed`` / ``failed`` / ``killed``), recording what it planned to write, what it wrote
(path, bytes, sha256), its MLflow run id, its process and its command.

``check_upstream`` is the downstream side: for every input another pipeline makes, the latest manifest that
planned that dataset must be ``completed``; a run that failed, was killed, or whose process vanished while
``running`` is refused with the command that remakes it. A file whose hash changed since its run completed
(e.g. copied in by hand) is reported as a warning, not refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .atomic import atomic_write
from .procs import ProcessId

SCHEMA = 1
FINAL = ("completed", "failed", "killed")


class UpstreamIncompleteError(RuntimeError):
    """An input comes from a run that did not complete (or is still running)."""


def hash_path(path: str | os.PathLike) -> tuple[str, int] | None:
    """(sha256 hex, bytes) of a file, or of a folder (names and contents, sorted); None if absent."""
    p = Path(path)
    h = hashlib.sha256()
    if p.is_file():
        files = [(p.name, p)]
    elif p.is_dir():
        files = sorted((str(f.relative_to(p)), f) for f in p.rglob("*") if f.is_file()
                       and not f.name.endswith(".tmp"))
    else:
        return None
    size = 0
    for name, f in files:
        if p.is_dir():
            h.update(name.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(chunk)
                size += len(chunk)
    return h.hexdigest(), size


@dataclass
class RunManifest:
    key: str
    pipelines: list[str]
    command: str
    status: str = "running"
    env: str | None = None
    process: dict = field(default_factory=lambda: ProcessId.current().as_dict())
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    mlflow_run_id: str | None = None
    error: str | None = None
    planned: dict[str, str] = field(default_factory=dict)        # dataset -> path (relative to root)
    outputs: dict[str, dict] = field(default_factory=dict)       # dataset -> {path, sha256, bytes}
    inputs: dict[str, dict] = field(default_factory=dict)        # dataset -> {path, sha256, from_run}
    flags: list[str] = field(default_factory=list)               # meaningless-result flags raised by nodes
    schema: int = SCHEMA

    @property
    def success(self) -> bool:
        return self.status == "completed"

    def path_in(self, directory: str | os.PathLike) -> Path:
        return Path(directory) / f"{self.key}.json"

    def write(self, directory: str | os.PathLike) -> Path:
        out = self.path_in(directory)
        data = asdict(self) | {"success": self.success,
                               "started_at_utc": _iso(self.started_at),
                               "finished_at_utc": _iso(self.finished_at) if self.finished_at else None}
        with atomic_write(out, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        return out

    @classmethod
    def read(cls, path: str | os.PathLike) -> RunManifest:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def effective_status(self) -> str:
        """``running`` only while its process lives; a vanished process reads ``interrupted``."""
        if self.status == "running" and not ProcessId.from_dict(self.process).alive():
            return "interrupted"
        return self.status

    def describe(self) -> str:
        when = _iso(self.started_at)
        st = self.effective_status()
        detail = {
            "interrupted": f"its process {self.process.get('pid')} is gone (killed without notice?)",
            "killed": f"it was stopped by a signal ({self.error or 'SIGTERM/SIGINT'})",
            "failed": f"it failed: {self.error or 'unknown error'}",
            "running": f"it is still running (pid {self.process.get('pid')})",
        }.get(st, st)
        return f"`{self.command}` started {when}: {detail}"


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def load_manifests(directory: str | os.PathLike) -> list[RunManifest]:
    out = []
    for p in sorted(Path(directory).glob("*.json")):
        try:
            out.append(RunManifest.read(p))
        except (OSError, ValueError, TypeError):
            continue
    return out


def check_upstream(needed: dict[str, tuple[str, str]], directory: str | os.PathLike,
                   root: str | os.PathLike) -> tuple[dict[str, dict], list[str]]:
    """Check inputs ``{dataset: (producer pipeline, absolute path)}`` against the manifests in ``directory``.

    Returns ``(lineage, warnings)``: lineage ``{dataset: {path, sha256, from_run}}`` for the new manifest.
    Raises :class:`UpstreamIncompleteError` naming each dataset, the run that did not complete and the
    command to re-run.
    """
    manifests = load_manifests(directory)
    problems: list[str] = []
    warnings: list[str] = []
    lineage: dict[str, dict] = {}
    root = Path(root)
    for ds, (producer, path) in sorted(needed.items()):
        rel = _rel(path, root)
        hashed = hash_path(path)
        writers = [m for m in manifests if ds in m.planned]
        if not writers:
            if hashed is not None:
                warnings.append(f"'{ds}' ({rel}) has no run manifest (made outside a tracked run, e.g. copied "
                                "in): its completeness cannot be checked")
            lineage[ds] = {"path": rel, "sha256": hashed[0] if hashed else None, "from_run": None}
            continue
        last = max(writers, key=lambda m: m.started_at)
        st = last.effective_status()
        if st == "running":
            problems.append(f"'{ds}' ({rel}) is being written now by {last.describe()}: wait for it to finish")
        elif st != "completed":
            problems.append(f"'{ds}' ({rel}) comes from a {producer} run that did not complete "
                            f"({last.describe()}): re-run `kedro run --pipelines={producer}`")
        else:
            rec = last.outputs.get(ds)
            if rec and hashed and rec.get("sha256") != hashed[0]:
                warnings.append(f"'{ds}' ({rel}) changed since `{last.command}` completed "
                                f"({_iso(last.finished_at or last.started_at)}): its content is not that run's")
        lineage[ds] = {"path": rel, "sha256": hashed[0] if hashed else None,
                       "from_run": {"key": last.key, "status": st, "mlflow_run_id": last.mlflow_run_id}}
    if problems:
        raise UpstreamIncompleteError(
            "upstream outputs are not from a completed run: " + "; ".join(problems)
            + f". (Files copied in from a completed run elsewhere: remove the stale manifest in {directory}.)")
    return lineage, warnings


def _rel(path: str | os.PathLike, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)

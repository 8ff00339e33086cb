"""Suite-level check (issue 15, observation 4): the test suite must not edit tracked files (kedro-telemetry
used to add ``[tool.kedro_telemetry]`` to pyproject.toml). The tracked-file diff is taken when this
conftest is collected (before any test runs) and compared when the session ends; a change fails the run."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tracked_diff() -> str | None:
    if not shutil.which("git"):
        return None
    try:
        out = subprocess.run(["git", "diff", "HEAD", "--no-ext-diff", "--binary"], cwd=ROOT, capture_output=True,
                             timeout=60, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    return hashlib.sha256(out).hexdigest()


_BEFORE = _tracked_diff()


def pytest_sessionfinish(session, exitstatus):
    if _BEFORE is None:
        return
    after = _tracked_diff()
    if after is not None and after != _BEFORE:
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                 capture_output=True, text=True).stdout
        session.config.get_terminal_writer().line(
            f"\nERROR: the test suite edited tracked files (git status):\n{changed}", red=True)
        session.exitstatus = 1

"""Data-quality bookkeeping: every cleaning step counts what it removed and why."""

from __future__ import annotations

from collections import defaultdict
from typing import Any


class QualityLog:
    """Counts rows read, rows removed per reason, repaired values and days dropped, for one source.

    ``as_dict()`` gives the JSON-ready record that ends up in ``ingest_data_quality``.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.files: list[str] = []
        self.rows_read = 0
        self.rows_written = 0
        self.days_kept = 0
        self.removed: dict[str, int] = defaultdict(int)
        self.repaired: dict[str, int] = defaultdict(int)
        self.days_dropped: dict[str, int] = defaultdict(int)
        self.notes: list[str] = []
        self.dates: dict[str, dict[str, Any]] = {}

    def read(self, path: object, n_rows: int) -> None:
        self.files.append(str(path))
        self.rows_read += int(n_rows)

    def remove(self, reason: str, n: int) -> None:
        """Record ``n`` rows removed for ``reason`` (zero counts are kept so the report lists every check)."""
        self.removed[reason] += int(n)

    def repair(self, reason: str, n: int) -> None:
        """Record ``n`` values that were kept but changed (averaged duplicates, interpolated steps...)."""
        self.repaired[reason] += int(n)

    def wrote(self, n_rows: int) -> None:
        """Rows of the validated primary table (its unit can differ from the file's: a wide price row holds
        24 hourly values)."""
        self.rows_written += int(n_rows)

    def kept_days(self, n: int) -> None:
        self.days_kept += int(n)

    def drop_days(self, reason: str, n: int) -> None:
        self.days_dropped[reason] += int(n)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "files": list(self.files),
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_removed": dict(self.removed),
            "rows_removed_total": int(sum(self.removed.values())),
            "values_repaired": dict(self.repaired),
            "days_kept": self.days_kept,
            "days_dropped": dict(self.days_dropped),
            "days_dropped_total": int(sum(self.days_dropped.values())),
            "notes": list(self.notes),
            "dates": dict(self.dates),
        }


def merge_quality(*records: dict[str, Any]) -> dict[str, Any]:
    """Merge several ``QualityLog.as_dict()`` records of the same source (e.g. parse + feature step)."""
    out: dict[str, Any] = {
        "source": records[0]["source"],
        "files": [],
        "rows_read": 0,
        "rows_written": 0,
        "days_kept": 0,
        "rows_removed": defaultdict(int),
        "values_repaired": defaultdict(int),
        "days_dropped": defaultdict(int),
        "notes": [],
        "dates": {},
    }
    for r in records:
        out["files"] += [f for f in r.get("files", []) if f not in out["files"]]
        out["rows_read"] += r.get("rows_read", 0)
        out["rows_written"] += r.get("rows_written", 0)
        out["days_kept"] += r.get("days_kept", 0)
        for key in ("rows_removed", "values_repaired", "days_dropped"):
            for k, v in r.get(key, {}).items():
                out[key][k] += v
        out["notes"] += r.get("notes", [])
        out["dates"].update(r.get("dates", {}))
    for key in ("rows_removed", "values_repaired", "days_dropped"):
        out[key] = dict(out[key])
    out["rows_removed_total"] = int(sum(out["rows_removed"].values()))
    out["days_dropped_total"] = int(sum(out["days_dropped"].values()))
    return out

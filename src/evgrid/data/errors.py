"""Ingest errors that always say which file, which column or line, and what was expected."""

from __future__ import annotations

from pathlib import Path


class IngestError(ValueError):
    """Bad raw input.

    The message names the file, the column and/or line (1-based, as a text editor shows it) and what
    was expected, so a user can open the file and fix it.
    """

    def __init__(
        self,
        path: str | Path | None,
        message: str,
        *,
        column: str | None = None,
        line: int | None = None,
        expected: str | None = None,
        got: object = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.column = column
        self.line = line
        self.expected = expected
        self.got = got
        where = [self.path or "<input>"]
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        text = ", ".join(where) + ": " + message
        if expected is not None:
            text += f"; expected {expected}"
        if got is not None:
            text += f", got {got!r}"
        super().__init__(text)

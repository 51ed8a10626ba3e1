"""The run's journal: one JSON event a line, flushed as it happens.

It is the single source every report is rebuilt from, so it is written append-only and read back
tolerantly: a run killed mid-write leaves at most one partial last line, which the reader skips
with a warning instead of failing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mitm_pincheck.errors import InputError

JOURNAL_NAME = "journal.jsonl"


class Journal:
    """Append-only JSONL writer. `emit` is cheap (one small write and flush per event)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file: IO[str] | None = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self.listeners: list = []

    def emit(self, event: str, **fields: Any) -> dict:
        record = {"ts": round(time.time(), 6), "event": event, **fields}
        if self._file is not None:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._file.flush()
        for listener in self.listeners:
            listener(record)
        return record

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


def find_journal(path: str | os.PathLike) -> Path:
    """Accept either the journal file or the output directory that holds it."""
    p = Path(path)
    if p.is_dir():
        p = p / JOURNAL_NAME
    if not p.is_file():
        raise InputError(
            f"{path}: no journal found (expected a {JOURNAL_NAME} or a directory with one)"
        )
    return p


def iter_events(path: Path, warnings: list[str]) -> Iterator[dict]:
    """Events of a journal, in order. Unparseable lines are skipped and reported in `warnings`.

    Reads line by line: a journal of a long session can be hundreds of megabytes."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                # only a line without its "\n" can have been cut off by a kill mid-write
                what = "unreadable line" if line.endswith("\n") else "partial last line"
                warnings.append(f"{path}:{number}: skipped a {what} (the run may have been killed)")
                continue
            if isinstance(record, dict) and isinstance(record.get("event"), str):
                yield record
            else:
                warnings.append(f"{path}:{number}: skipped a line that is not a journal event")


def read_events(path: str | os.PathLike) -> tuple[list[dict], list[str]]:
    """All events of the journal at `path` (file or directory) and warnings about skipped lines."""
    journal = find_journal(path)
    warnings: list[str] = []
    events = list(iter_events(journal, warnings))
    if not any(e["event"] == "run-start" for e in events):
        raise InputError(f"{journal}: not a mitm-pincheck journal (no run-start event)")
    return events, warnings

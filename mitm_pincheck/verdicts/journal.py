"""The run's journal: one JSON event a line, flushed as it happens.

It is the single source every report is rebuilt from, so it is written append-only and read back
tolerantly: a run killed mid-write leaves at most one partial last line, which the reader skips
with a warning instead of failing.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mitm_pincheck.errors import InputError
from mitm_pincheck.verdicts import evidence

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


# Warnings about a journal beyond this many are summed up in one line.
MAX_WARNINGS = 20


def iter_events(path: Path, warnings: list[str]) -> Iterator[dict]:
    """Events of a journal, in order. Unparseable lines are skipped, and fields of the wrong
    type dropped, each reported in `warnings`: whatever the file holds, the reader never fails.

    Reads line by line: a journal of a long session can be hundreds of megabytes."""
    said = len(warnings)
    more = 0

    def warn(number: int, text: str) -> None:
        nonlocal more
        if len(warnings) - said < MAX_WARNINGS:
            warnings.append(f"{evidence.clean_text(path)}:{number}: {text}")
        else:
            more += 1

    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except (ValueError, RecursionError):
                    # only a line without its "\n" can have been cut off by a kill mid-write
                    what = "an unreadable line" if line.endswith("\n") else "a partial last line"
                    warn(number, f"skipped {what} (the run may have been killed)")
                    continue
                if not isinstance(record, dict) or not isinstance(record.get("event"), str):
                    warn(number, "skipped a line that is not a journal event")
                    continue
                yield _checked(record, lambda text, n=number: warn(n, text))
    except OSError as e:
        raise InputError(f"{path}: cannot read the journal ({e.strerror or e})") from None
    finally:
        if more:
            warnings.append(f"{evidence.clean_text(path)}: {more} more warnings like these")


# --- the types each event's fields must have -------------------------------------------------
# A journal is a file anyone can edit, and a report is rebuilt from it: a field of the wrong
# type is dropped (with a warning) rather than let through to crash a writer.

_TEXT = "text"
_TEXTS = "texts"
_FLAG = "flag"
_COUNT = "count"
_OBJECT = "object"

_FIELDS: dict[str, dict[str, str]] = {
    "run-start": {"listen": _TEXT, "mode": _TEXT, "tool": _OBJECT, "scenario": _OBJECT},
    "run-end": {"interrupted": _FLAG},
    "phase-start": {"phase": _TEXT, "index": _COUNT},
    "phase-end": {"phase": _TEXT, "index": _COUNT, "reason": _TEXT},
    "trigger-start": {"phase": _TEXT},
    "trigger-exit": {"phase": _TEXT, "returncode": _COUNT, "stopped": _FLAG},
    "conn": {
        "phase": _TEXT,
        "kind": _TEXT,
        "host": _TEXT,
        "pattern": _TEXT,
        "notes": _TEXTS,
        "client": _TEXT,
    },
    "handshake": {"resumed": _FLAG, "tls_version": _TEXT, "alpn": _TEXT, "session_resumed": _FLAG},
    "handshake-failed": {"alert": _TEXT, "error": _TEXT},
    "alert": {"alert": _TEXT, "after_handshake": _FLAG},
    "request": {
        "method": _TEXT,
        "host": _TEXT,
        "path": _TEXT,
        "header_names": _TEXTS,
        "credentials": _TEXTS,
        "has_query": _FLAG,
    },
    "data": {"direction": _TEXT},
    "closed": {"by": _TEXT},
    "ignored-client": {"client": _TEXT, "host": _TEXT},
    "ca-store": {"store": _TEXT, "path": _TEXT, "serial": _TEXT},
    "connect-refused": {
        "phase": _TEXT,
        "index": _COUNT,
        "host": _TEXT,
        "pattern": _TEXT,
        "status": _COUNT,
        "client": _TEXT,
    },
}
_TOOL = {"name": _TEXT, "version": _TEXT, "mitmproxy": _TEXT}
_SCENARIO = {"name": _TEXT, "file": _TEXT, "app": _TEXT, "phases": _TEXTS, "ca_trust": _TEXT}
_HOST = {"host": _TEXT, "pinned": _FLAG, "expect": _OBJECT, "control": _FLAG, "keys": _OBJECT}
# Latest `ts` a journal can hold: the year 9999 (datetime goes no further).
_MAX_TS = 253402300799.0


def _checked(record: dict, warn) -> dict:
    """`record` with every field of a known event of the right type, texts cleaned and capped."""
    name = record["event"]
    out: dict = {"event": evidence.cap_text(name, 64)}
    for key, value in record.items():
        if key == "event":
            continue
        if key == "ts":
            if _is_time(value):
                out["ts"] = float(value)
            else:
                warn(f"ignored a `ts` that is not a time: {_show(value)}")
            continue
        if key == "id":
            if isinstance(value, str | int) and not isinstance(value, bool):
                out["id"] = evidence.cap_text(value, 128)
            else:
                warn(f"skipped the `id` of a {name} event: not a string")
            continue
        key = evidence.cap_text(key, 64)
        kind = _FIELDS.get(name, {}).get(key)
        checked = _typed(value, kind) if kind is not None else _plain(value, 0)
        if kind is None and checked is _WRONG:
            warn(f"ignored `{key}` of a {name} event: nested too deep or not a finite number")
            continue
        if checked is _WRONG:
            warn(f"ignored `{key}` of a {name} event: expected {_WHAT[kind]}, got {_show(value)}")
            continue
        if name == "run-start" and key == "tool":
            checked = _object(checked, _TOOL, "tool", warn)
        elif name == "run-start" and key == "scenario":
            checked = _scenario(checked, warn)
        out[key] = checked
    return out


_WRONG = object()
_WHAT = {
    _TEXT: "text",
    _TEXTS: "a list of texts",
    _FLAG: "true or false",
    _COUNT: "a whole number",
    _OBJECT: "an object",
}


_MAX_DEPTH = 4
# Items of a list or object in a field no check knows: far more than any real one holds (the
# patterns of a follow-up phase, an app package's pin rules), still a bound.
_MAX_PLAIN_ITEMS = 4096


def _plain(value, depth: int):
    """A field no check knows (a newer writer's?): kept, cleaned, capped and not too deep."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return evidence.cap_text(value)
    if isinstance(value, int | float):
        return value if _is_number(value) and abs(value) < 2**53 else _WRONG
    if depth >= _MAX_DEPTH:
        return _WRONG
    if isinstance(value, list):
        items = [_plain(v, depth + 1) for v in value[:_MAX_PLAIN_ITEMS]]
        return [v for v in items if v is not _WRONG]
    if isinstance(value, dict):
        pairs = list(value.items())[:_MAX_PLAIN_ITEMS]
        out = {evidence.cap_text(k, 64): _plain(v, depth + 1) for k, v in pairs}
        return {k: v for k, v in out.items() if v is not _WRONG}
    return _WRONG


def _typed(value, kind: str):
    if value is None and kind in (_TEXT, _COUNT, _FLAG):
        return None
    if kind == _TEXT:
        return evidence.cap_text(value) if isinstance(value, str) else _WRONG
    if kind == _TEXTS:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return evidence.cap_items(value) if ok else _WRONG
    if kind == _FLAG:
        return value if isinstance(value, bool) else _WRONG
    if kind == _COUNT:
        ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**31
        return value if ok else _WRONG
    return value if isinstance(value, dict) else _WRONG


def _object(raw: dict, fields: dict[str, str], what: str, warn) -> dict:
    """`fields` of `raw` type-checked; other keys kept as plain values (a newer writer's)."""
    out = {}
    for key, value in raw.items():
        if key not in fields and (plain := _plain(value, 1)) is not _WRONG:
            out[evidence.cap_text(key, 64)] = plain
    for key, kind in fields.items():
        if key not in raw:
            continue
        checked = _typed(raw[key], kind)
        if checked is _WRONG:
            warn(f"ignored `{what}.{key}`: expected {_WHAT[kind]}, got {_show(raw[key])}")
        else:
            out[key] = checked
    return out


def _scenario(raw: dict, warn) -> dict:
    out: dict = {}
    plain = {k: v for k, v in raw.items() if k not in ("hosts", "settle", "timeout")}
    out.update(_object(plain, _SCENARIO, "scenario", warn))
    hosts = raw.get("hosts")
    if hosts is not None and not isinstance(hosts, list):
        warn(f"ignored `scenario.hosts`: expected a list, got {_show(hosts)}")
        hosts = None
    out["hosts"] = []
    for i, h in enumerate(hosts or ()):
        if not isinstance(h, dict) or not isinstance(h.get("host"), str):
            warn(f"ignored `scenario.hosts[{i}]`: expected an object with a host")
            continue
        host = _object(h, _HOST, f"scenario.hosts[{i}]", warn)
        expect = host.get("expect") or {}
        host["expect"] = {
            evidence.cap_text(k, 64): evidence.cap_text(v, 64)
            for k, v in expect.items()
            if isinstance(v, str)
        }
        out["hosts"].append(host)
    for key in ("settle", "timeout"):
        if _is_number(raw.get(key)):
            out[key] = raw[key]
    return out


def _is_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _is_time(value) -> bool:
    return _is_number(value) and 0 <= float(value) <= _MAX_TS


def _show(value) -> str:
    """A short, safe description of a wrong value, for a warning."""
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**15:
        return "a number too large"
    return evidence.cap_text(json.dumps(value) if not isinstance(value, float) else repr(value), 40)


def read_events(path: str | os.PathLike) -> tuple[list[dict], list[str]]:
    """All events of the journal at `path` (file or directory) and warnings about skipped lines."""
    journal = find_journal(path)
    warnings: list[str] = []
    events = list(iter_events(journal, warnings))
    if not any(e["event"] == "run-start" for e in events):
        raise InputError(f"{journal}: not a mitm-pincheck journal (no run-start event)")
    return events, warnings

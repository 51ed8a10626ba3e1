"""`report history`: verdicts over releases, a row per host x phase, a column per run.

Built by streaming: runs are read one at a time and reduced at once to a column header (app
version, date, counts) and one byte per row, so a year of nightly runs costs a few hundred
kilobytes however big each report is. Columns are ordered by the run's start time (the order
given when a run has none); along a row, a fail after a pass is a regression and a pass after a
fail a fix (inconclusive runs in between are skipped over: they say nothing either way).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from mitm_pincheck.errors import InputError
from mitm_pincheck.report import runs
from mitm_pincheck.report.proof import column

# One byte per cell.
PASS, FAIL, INCONCLUSIVE, NA, ABSENT = b"p"[0], b"f"[0], b"i"[0], b"n"[0], b"."[0]
_CODE = {"pass": PASS, "fail": FAIL, "inconclusive": INCONCLUSIVE, "n/a": NA}
VERDICT_OF = {PASS: "pass", FAIL: "fail", INCONCLUSIVE: "inconclusive", NA: "n/a", ABSENT: None}

REGRESSION, FIX = "regression", "fix"


@dataclass
class Run:
    label: str
    path: str
    app: str | None
    scenario: str | None
    started: str | None
    summary: dict


@dataclass
class History:
    runs: list[Run]  # columns, oldest first
    rows: list[tuple[str, str, str | None]]  # (host, phase, device)
    cells: list[bytearray]  # per row, one byte per run (column order)
    marks: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, column) -> mark
    notes: list[str] = field(default_factory=list)

    def verdict(self, row: int, column: int) -> str | None:
        return VERDICT_OF[self.cells[row][column]]

    def changes(self) -> Iterator[dict]:
        """Every regression and fix, oldest first."""
        for (r, c), mark in sorted(self.marks.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            host, phase, device = self.rows[r]
            yield {
                "mark": mark,
                "host": host,
                "phase": phase,
                "device": device,
                "run": self.runs[c],
                "column": c,
                "before": self.before(r, c),
                "after": self.verdict(r, c),
            }

    def before(self, row: int, column: int) -> str | None:
        """The last conclusive verdict of `row` before `column`."""
        for c in range(column - 1, -1, -1):
            if self.cells[row][c] in (PASS, FAIL):
                return VERDICT_OF[self.cells[row][c]]
        return None


def build_history(
    paths: Sequence[str], labels: Sequence[str] | None = None, warnings: list[str] | None = None
) -> History:
    if not paths:
        raise InputError("report history: give at least one run directory")
    if labels and len(labels) != len(paths):
        raise InputError(
            f"report history: {len(labels)} --label for {len(paths)} runs: give one per run, "
            "in the same order, or none"
        )
    n = len(paths)
    columns: list[Run] = []
    devices_of: list[str | None] = []
    row_at: dict[tuple[str, str, str | None], int] = {}
    keys: list[tuple[str, str, str | None]] = []
    cells: list[bytearray] = []
    scenarios: dict[str, list[int]] = {}
    gc.disable()  # each report is a tree of fresh dicts that never form cycles
    try:
        for i, path in enumerate(paths):
            report = runs.load_run(path, warnings)
            scenario = report.get("scenario") or {}
            columns.append(
                Run(
                    label=labels[i] if labels else "",
                    path=str(path),
                    app=_text(scenario.get("app")),
                    scenario=_text(scenario.get("name")),
                    started=_text(report.get("started")),
                    summary=_summary(report["results"]),
                )
            )
            devices_of.append(runs.run_device(report))
            scenarios.setdefault(str(scenario.get("name")), []).append(i)
            for row in report["results"]:
                device = row.get("device")
                key = (row["host"], column(row), str(device) if device else None)
                index = row_at.get(key)
                if index is None:
                    index = row_at[key] = len(keys)
                    keys.append(key)
                    cells.append(bytearray([ABSENT]) * n)
                cells[index][i] = _CODE.get(row["verdict"], INCONCLUSIVE)
            del report
    finally:
        gc.enable()
    if not labels:
        for run, label in zip(columns, runs.default_labels(list(paths), devices_of), strict=True):
            run.label = label

    order = _column_order(columns)
    # Rows grouped by host, then phase, then device, each in the order first seen.
    first_host = {k[0]: None for k in keys}
    first_phase = {k[1]: None for k in keys}
    host_at = {h: i for i, h in enumerate(first_host)}
    phase_at = {p: i for i, p in enumerate(first_phase)}
    row_order = sorted(
        range(len(keys)), key=lambda r: (host_at[keys[r][0]], phase_at[keys[r][1]], r)
    )
    history = History(
        runs=[columns[c] for c in order],
        rows=[keys[r] for r in row_order],
        cells=[bytearray(cells[r][c] for c in order) for r in row_order],
    )
    if len(order) > 1 and order == list(range(n)) and not all(r.started for r in columns):
        history.notes.append("Some runs have no start time: columns are in the order given.")
    if len(scenarios) > 1:
        history.notes.append(
            "The runs are of different scenarios ("
            + ", ".join(f"{name!r}: {len(cols)} runs" for name, cols in scenarios.items())
            + "): a host or phase only some of them test is blank elsewhere."
        )
    _mark(history)
    return history


def _column_order(columns: list[Run]) -> list[int]:
    if not all(r.started for r in columns):
        return list(range(len(columns)))
    return sorted(range(len(columns)), key=lambda i: (columns[i].started, i))


def _mark(history: History) -> None:
    for r, row in enumerate(history.cells):
        last = None
        for c, code in enumerate(row):
            if code not in (PASS, FAIL):
                continue
            if last == PASS and code == FAIL:
                history.marks[(r, c)] = REGRESSION
            elif last == FAIL and code == PASS:
                history.marks[(r, c)] = FIX
            last = code


def _summary(results: list) -> dict:
    counts = {"total": len(results), "pass": 0, "fail": 0, "inconclusive": 0, "n/a": 0}
    for row in results:
        verdict = row.get("verdict")
        if verdict in counts:
            counts[verdict] += 1
    if not counts["n/a"]:
        del counts["n/a"]
    return counts


def _text(value) -> str | None:
    return None if value is None else str(value)


def to_dict(history: History) -> dict:
    """history.json: the same grid for machines (verdict words, null where a run lacks the row)."""
    return {
        "runs": [
            {
                "label": r.label,
                "run": r.path,
                "app": r.app,
                "scenario": r.scenario,
                "started": r.started,
                "summary": r.summary,
            }
            for r in history.runs
        ],
        "rows": [
            {
                "host": host,
                "phase": phase,
                **({"device": device} if device else {}),
                "verdicts": [VERDICT_OF[code] for code in history.cells[i]],
            }
            for i, (host, phase, device) in enumerate(history.rows)
        ],
        "changes": [
            {
                "mark": ch["mark"],
                "host": ch["host"],
                "phase": ch["phase"],
                **({"device": ch["device"]} if ch["device"] else {}),
                "run": ch["run"].label,
                "before": ch["before"],
                "after": ch["after"],
            }
            for ch in history.changes()
        ],
        "notes": list(history.notes),
    }


def row_label(key: tuple[str, str, str | None]) -> str:
    host, phase, device = key
    return f"{host} · {phase}" + (f" · {device}" if device else "")


def column_title(run: Run) -> str:
    """`com.shop 4.2 · 2026-11-26`: the app version and the day of the run."""
    day = (run.started or "")[:10]
    parts = [p for p in (run.app, day) if p]
    return " · ".join(parts) or run.label


def by_key(history: History) -> Mapping[tuple[str, str, str | None], int]:
    return {key: i for i, key in enumerate(history.rows)}

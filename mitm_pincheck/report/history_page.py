"""history.html and history.md: the verdict grid over runs, regressions and fixes marked.

The page is `templates/history.html` on the shared `base.html` (self-contained, autoescaped, a
Content-Security-Policy that loads nothing); this module decides what it says. The changes come
first, newest first: that is what a reader opens it for.
"""

from __future__ import annotations

from mitm_pincheck.report import pages
from mitm_pincheck.report.history import (
    FAIL,
    FIX,
    INCONCLUSIVE,
    NA,
    PASS,
    REGRESSION,
    History,
    column_title,
)
from mitm_pincheck.report.markdown import text as _md

MAX_CHANGES = 200  # listed above the grid; the grid itself shows every one
_GLYPH = {PASS: "✓", FAIL: "✗", INCONCLUSIVE: "?", NA: "–"}
_CLASS = {PASS: "p", FAIL: "f", INCONCLUSIVE: "i", NA: "n"}
_MARK_GLYPH = {REGRESSION: "↓", FIX: "↑"}
_MARK_WORD = {REGRESSION: "regression", FIX: "fix"}


def render_history_html(history: History) -> str:
    return pages.render("history.html", **context(history))


def context(history: History) -> dict:
    """What templates/history.html shows. Cells are (css class, glyph, title) triples."""
    changes = list(history.changes())
    regressions = sum(c["mark"] == REGRESSION for c in changes)
    shown = changes[::-1][:MAX_CHANGES]
    marks = history.marks
    rows = []
    for r, (host, phase, device) in enumerate(history.rows):
        cells = []
        for c, code in enumerate(history.cells[r]):
            mark = marks.get((r, c))
            if code not in _GLYPH:
                cells.append(("", "", None))
            elif mark:
                css = f"{_CLASS[code]} {_mark_class(mark)}"
                cells.append((css, _GLYPH[code] + _MARK_GLYPH[mark], _MARK_WORD[mark]))
            else:
                cells.append((_CLASS[code], _GLYPH[code], None))
        rows.append({"host": host, "phase": phase, "device": device, "cells": cells})
    return {
        "title": f"Pinning history: {len(history.runs)} runs",
        "regressions": regressions,
        "fixes": len(changes) - regressions,
        "span": _span(history),
        "notes": list(history.notes),
        "changes": [
            {
                "css": _mark_class(c["mark"]),
                "word": _MARK_WORD[c["mark"]],
                "host": c["host"],
                "phase": c["phase"],
                "device": c["device"] or "",
                "before": c["before"],
                "after": c["after"],
                "column": c["column"],
                "run": column_title(c["run"]),
            }
            for c in shown
        ],
        "older": len(changes) - len(shown),
        "runs": [
            {
                "label": run.label,
                "path": run.path,
                "app": run.app or run.scenario or "",
                "day": (run.started or "")[:10] or run.label,
            }
            for run in history.runs
        ],
        "rows": rows,
    }


def render_history_markdown(history: History) -> str:
    changes = list(history.changes())
    regressions = sum(c["mark"] == REGRESSION for c in changes)
    out = [f"# Pinning history: {len(history.runs)} runs", ""]
    out.append(
        f"**{regressions} regression{'' if regressions == 1 else 's'}**, "
        f"{len(changes) - regressions} fixes, {len(history.rows)} host × phase rows"
        f"{_md(_span(history))}"
    )
    out.append("")
    out += [f"_{_md(n)}_" for n in history.notes]
    if history.notes:
        out.append("")
    out += ["## Changes, newest first", ""]
    if not changes:
        out += ["No verdict changed.", ""]
    else:
        out += ["| change | host | phase | device | verdict | run |", "| --- " * 6 + "|"]
        shown = changes[::-1][:MAX_CHANGES]
        for c in shown:
            cells = [
                f"{_MARK_GLYPH[c['mark']]} {_MARK_WORD[c['mark']]}",
                c["host"],
                c["phase"],
                c["device"] or "",
                f"{c['before']} → {c['after']}",
                column_title(c["run"]),
            ]
            out.append("| " + " | ".join(_md(x) for x in cells) + " |")
        if len(changes) > len(shown):
            out.append(f"\n… and {len(changes) - len(shown)} older changes, marked in the grid.")
        out.append("")
    out += ["## Verdict per run", ""]
    out.append(
        "✓ pass, ✗ fail, ? inconclusive, – n/a (no such key), blank: not in that run; "
        "↓ regression, ↑ fix."
    )
    out.append("")
    header = ["host · phase"] + [column_title(run) for run in history.runs]
    out.append("| " + " | ".join(_md(h) for h in header) + " |")
    out.append("| --- " * len(header) + "|")
    for r, (host, phase, device) in enumerate(history.rows):
        label = f"{host} · {phase}" + (f" · {device}" if device else "")
        cells = [_md(label)]
        for c, code in enumerate(history.cells[r]):
            mark = history.marks.get((r, c))
            cells.append(_GLYPH.get(code, "") + (_MARK_GLYPH[mark] if mark else ""))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def _span(history: History) -> str:
    days = [r.started[:10] for r in history.runs if r.started]
    if not days:
        return ""
    return f", {days[0]} to {days[-1]}" if days[0] != days[-1] else f", {days[0]}"


def _mark_class(mark: str) -> str:
    return "mr" if mark == REGRESSION else "mf"

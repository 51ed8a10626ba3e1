"""history.html and history.md: the verdict grid over runs, regressions and fixes marked.

Self-contained like report.html (inline CSS, a Content-Security-Policy that loads nothing, every
value escaped), and kept to this one module so it can move onto the shared page templates as a
template of its own. The changes come first, newest first: that is what a reader opens it for.
"""

from __future__ import annotations

from html import escape

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
    changes = list(history.changes())
    regressions = sum(c["mark"] == REGRESSION for c in changes)
    fixes = len(changes) - regressions
    span = _span(history)
    title = f"Pinning history: {len(history.runs)} runs"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{_e(title)}</h1>",
        f'<p class="summary"><span class="count f">{regressions} regression'
        f'{"" if regressions == 1 else "s"}</span> · <span class="count p">{fixes} fix'
        f"{'' if fixes == 1 else 'es'}</span> · {len(history.rows)} host × phase rows"
        f"{_e(span)}</p>",
    ]
    parts += [f'<p class="note">{_e(n)}</p>' for n in history.notes]
    parts.append("</header>")
    parts.append(_changes_html(history, changes))
    parts.append(_grid_html(history))
    parts.append(
        "<footer>Made by mitm-pincheck <code>report history</code> from each run's "
        "report.json (or journal).</footer></body></html>"
    )
    return "\n".join(parts) + "\n"


def _changes_html(history: History, changes: list[dict]) -> str:
    if not changes:
        return '<section id="changes"><h2>Changes</h2><p>No verdict changed.</p></section>'
    shown = changes[::-1][:MAX_CHANGES]
    rows = "".join(
        f'<tr><td class="mark {_mark_class(c["mark"])}">{_e(_MARK_WORD[c["mark"]])}</td>'
        f"<td>{_e(c['host'])}</td><td><code>{_e(c['phase'])}</code></td>"
        f"<td>{_e(c['device'] or '')}</td><td>{_e(c['before'])} → {_e(c['after'])}</td>"
        f'<td><a href="#r{c["column"]}">{_e(column_title(c["run"]))}</a></td></tr>'
        for c in shown
    )
    more = len(changes) - len(shown)
    tail = f"<p>… and {more} older changes, marked in the grid.</p>" if more > 0 else ""
    return (
        '<section id="changes"><h2>Changes, newest first</h2>'
        '<table class="list"><thead><tr><th></th><th>host</th><th>phase</th><th>device</th>'
        f"<th>verdict</th><th>run</th></tr></thead><tbody>{rows}</tbody></table>{tail}</section>"
    )


def _grid_html(history: History) -> str:
    head = "".join(
        f'<th scope="col" id="r{c}" title="{_e(run.label)} ({_e(run.path)})">'
        f'<span class="app">{_e(run.app or run.scenario or "")}</span>'
        f'<span class="day">{_e((run.started or "")[:10] or run.label)}</span></th>'
        for c, run in enumerate(history.runs)
    )
    marks = history.marks
    body = []
    for r, (host, phase, device) in enumerate(history.rows):
        tds = []
        for c, code in enumerate(history.cells[r]):
            mark = marks.get((r, c))
            if code not in _GLYPH:
                tds.append("<td></td>")
            elif mark:
                tds.append(
                    f'<td class="{_CLASS[code]} {_mark_class(mark)}" title="{_MARK_WORD[mark]}">'
                    f"{_GLYPH[code]}{_MARK_GLYPH[mark]}</td>"
                )
            else:
                tds.append(f'<td class="{_CLASS[code]}">{_GLYPH[code]}</td>')
        where = f' <span class="dev">{_e(device)}</span>' if device else ""
        body.append(
            f'<tr><th scope="row">{_e(host)} <code>{_e(phase)}</code>{where}</th>'
            f"{''.join(tds)}</tr>"
        )
    return (
        '<section id="grid"><h2>Verdict per run</h2><p class="legend">'
        '<span class="p">✓ pass</span> <span class="f">✗ fail</span> '
        '<span class="i">? inconclusive</span> – n/a (no such key) · blank: not in that run · '
        '<span class="f mr">↓ regression</span> <span class="p mf">↑ fix</span></p>'
        f'<div class="scroll"><table class="grid"><thead><tr><th scope="col">host · phase</th>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div></section>"
    )


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


def _e(value) -> str:
    text = "" if value is None else str(value)
    text = "".join(ch if ch.isprintable() else "\ufffd" for ch in text)
    return escape(text, quote=True)


_CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1rem 1.5rem;
  color: #1f2328; }
h1 { font-size: 1.4rem; margin: 0 0 .3rem; } h2 { font-size: 1.1rem; margin: 1.4rem 0 .4rem; }
code { font: 12.5px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.summary { font-size: 1.05rem; }
.note { background: #fff0b3; color: #6b4c00; padding: .3rem .6rem; }
.count { font-weight: 600; padding: 0 .3rem; border-radius: .25rem; }
.p { background: #dff5e3; color: #0b5a23; } .f { background: #ffdcd8; color: #8a0a1e; }
.i { background: #fff0b3; color: #6b4c00; }
.legend span { padding: 0 .3rem; border-radius: .2rem; }
.list { border-collapse: collapse; } .list th, .list td { border-bottom: 1px solid #c8ccd1;
  padding: .15rem .5rem; text-align: left; }
.mark.mr { color: #8a0a1e; font-weight: 700; } .mark.mf { color: #0b5a23; font-weight: 700; }
.scroll { overflow: auto; max-height: 85vh; }
.grid { border-collapse: separate; border-spacing: 1px; font-size: 12px; }
.grid thead th { position: sticky; top: 0; background: #f6f8fa; z-index: 2; font-weight: normal;
  vertical-align: bottom; min-width: 1.6rem; }
.grid thead th span { display: block; writing-mode: vertical-rl; transform: rotate(180deg);
  white-space: nowrap; }
.grid tbody th { position: sticky; left: 0; background: #fff; z-index: 1; text-align: left;
  font-weight: normal; white-space: nowrap; }
.grid td { text-align: center; min-width: 1.4rem; }
.grid td.mr { outline: 2px solid #8a0a1e; font-weight: 700; }
.grid td.mf { outline: 2px solid #0b5a23; font-weight: 700; }
.dev { color: #57606a; font-size: .85em; }
footer { margin-top: 2rem; color: #57606a; font-size: .8rem; }
"""

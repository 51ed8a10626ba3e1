"""report.html: one self-contained page a person reads at a glance, offline, or on paper.

Inline CSS and script only, and a Content-Security-Policy that forbids loading anything, so the
file behaves the same attached to a ticket as on the machine that made it. Every value from the
report is escaped: host names come from the network (SNI, CONNECT) and are not trusted.
The script only adds conveniences (filter, expand all, open details for printing); without it
every cell still opens with a click or the keyboard because cells are <details>.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from html import escape

from mitm_pincheck.report import baseline, devices, standards
from mitm_pincheck.report.proof import column, grid, host_proofs, needs_proof
from mitm_pincheck.verdicts.kinds import KINDS
from mitm_pincheck.verdicts.verdict import proof_words

BRIEF_PASSES_OVER = 10_000  # rows; above, passing cells carry no evidence (the page stays usable)
_VERDICT_LABEL = {
    "pass": "✓ PASS",
    "fail": "✗ FAIL",
    "inconclusive": "? INCONCLUSIVE",
    "n/a": "– n/a",
}
_STATUS = {0: ("pass", "PASS"), 1: ("fail", "FAIL"), 3: ("inconclusive", "INCONCLUSIVE")}
_CHANGE_NOTE = {
    "regressions": "regression: was {before}",
    "newly_inconclusive": "newly inconclusive: was {before}",
    "fixes": "fixed: was {before}",
}


def render_html(report: Mapping) -> str:
    return "".join(iter_html(report))


def iter_html(report: Mapping) -> Iterator[str]:
    """The page in pieces, for writing without holding it whole (a merge of hundreds of runs
    makes a page of tens of megabytes)."""
    scenario = report.get("scenario") or {}
    status_class, status = _STATUS.get(report.get("exit_code"), ("inconclusive", "UNKNOWN"))
    title = f"Pinning check: {scenario.get('name') or 'scenario'}: {status}"
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
        "base-uri 'none'; form-action 'none'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        _header(report, status_class, status),
        _changes(report),
        _disagreements(report),
        _matrix,
        _problems(report),
        _standards(report),
        _hints(report),
        _footer(report),
        f"<script>{_SCRIPT}</script>",
        "</body>",
        "</html>",
    ]
    for part in parts:
        if part is _matrix:
            yield from _matrix(report)
            yield "\n"
        elif part:
            yield part + "\n"


def _header(report: Mapping, status_class: str, status: str) -> str:
    scenario = report.get("scenario") or {}
    summary = report.get("summary") or {}
    tool = report.get("tool") or {}
    counts = " · ".join(
        f'<span class="count v-{v}" data-count="{v}">{_e(summary.get(v, 0))} {_e(v)}</span>'
        for v in ("fail", "inconclusive", "pass")
    )
    facts = [
        ("Scenario", scenario.get("name")),
        ("Scenario file", scenario.get("file")),
        ("App", scenario.get("app") or "not named in the scenario"),
        ("Started", report.get("started")),
        ("Finished", report.get("finished")),
        ("Duration", _duration(report.get("duration"))),
        ("Tool", f"{tool.get('name', 'mitm-pincheck')} {tool.get('version', '?')}"),
        ("mitmproxy", tool.get("mitmproxy")),
        ("CA trust proof", _trust_sources(report)),
        ("Devices", _device_list(report)),
    ]
    meta = "".join(
        f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in facts if v is not None
    )
    warning = ""
    if report.get("interrupted"):
        warning = (
            '<p class="warning">The run was interrupted: phases that did not finish '
            "are inconclusive.</p>"
        )
    changes = baseline.changes_of(report)
    if changes is not None:
        n = len(changes["regressions"])
        tag = "v-fail" if n else "v-pass"
        counts = (
            f'<span class="count {tag}" data-count="regressions">'
            f"{n} regression{'' if n == 1 else 's'}</span> · {counts}"
        )
    return (
        "<header>"
        f"<h1>Pinning check: {_e(scenario.get('name') or 'scenario')} "
        f'<span class="badge v-{status_class}">{_e(status)}</span></h1>'
        f'<p class="summary" id="summary">{counts} '
        f'<span class="total">({_e(summary.get("total", 0))} checks)</span></p>'
        f'<dl class="meta">{meta}</dl>{warning}'
        "</header>"
    )


def _changes(report: Mapping) -> str:
    changes = baseline.changes_of(report)
    if changes is None:
        return ""
    about = report.get("baseline") or {}
    since = f" (baseline started {_e(about['started'])})" if about.get("started") else ""
    cells = {baseline.change_key(r): (i, r) for i, r in enumerate(report["results"])}
    out = [f'<section id="changes"><h2>Changes since the baseline{since}</h2>']
    if not baseline.has_changes(changes):
        out.append("<p>No verdict changed.</p></section>")
        return "".join(out)
    for key, heading in baseline.CHANGE_KEYS:
        items = changes[key]
        if not items:
            continue
        if key in ("hosts_added", "hosts_gone"):
            hosts = ", ".join(f"<code>{_e(h)}</code>" for h in items)
            out.append(f'<p class="change-{key}"><strong>{_e(heading)}:</strong> {hosts}</p>')
            continue
        rows = []
        for c in items:
            i, row = cells.get(baseline.change_key(c), (None, {}))
            host = _e(c.get("host"))
            if c.get("device"):
                host += f' <span class="sub inline">on {_e(c["device"])}</span>'
            if i is not None:
                host = f'<a href="#c-{i}">{host}</a>'
            rows.append(
                f"<tr><td>{host}</td>"
                f"<td><code>{_e(column(c))}</code></td>"
                f"<td>{_verdict_tag(c.get('before'))}</td><td>{_verdict_tag(c.get('after'))}</td>"
                f"<td>{_e(row.get('reason'))}</td></tr>"
            )
        out.append(
            f'<h3 class="change-{key}">{_e(heading)}: {len(items)}</h3>'
            '<table class="list"><thead><tr><th>host</th><th>phase</th><th>before</th>'
            f"<th>after</th><th>reason now</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    out.append("</section>")
    return "".join(out)


def _matrix(report: Mapping) -> Iterator[str]:
    results = report.get("results") or []
    phases = _phase_order(report)
    hosts = _host_order(report)
    index = {id(r): i for i, r in enumerate(results)}
    changes = baseline.change_index(report)
    platform = standards.platform_of(report)
    grouped = devices.has_devices(report)
    disagree = {(d["host"], d["phase"]) for d in devices.disagreements(report)}
    brief = len(results) > BRIEF_PASSES_OVER

    by_column: dict[str, list] = {}  # one pass, not one per column: a merge has 90,000 rows
    for r in results:
        by_column.setdefault(column(r), []).append(r)
    head = "".join(
        f'<th scope="col" title="{_e(_presents(p))}">'
        f"<code>{_e(p)}</code>{_phase_counts(by_column.get(p, []), None)}</th>"
        for p in phases
    )
    legend = " ".join(
        f'<span class="cell-tag v-{v}">{_e(label)}</span>' for v, label in _VERDICT_LABEL.items()
    )
    title = "Hosts × phases, by device" if grouped else "Hosts × phases"
    yield (
        f'<section id="results"><h2>{title}</h2>'
        f'<p class="legend">{legend} <span class="hint">Click a cell, or focus it and press '
        "Enter, for its reason and evidence.</span></p>"
        '<div class="controls" id="controls" hidden>'
        '<label>Filter hosts <input type="search" id="filter" autocomplete="off"></label> '
        '<label><input type="checkbox" id="only-problems"> only hosts with a fail or '
        "inconclusive</label> "
        '<button type="button" id="expand">Expand all</button> '
        '<button type="button" id="collapse">Collapse all</button> '
        '<span id="shown" aria-live="polite"></span></div>'
    )
    if brief:
        yield (
            f'<p class="hint">{len(results)} checks: a passing cell shows its reason when '
            "pointed at; its evidence is in report.json.</p>"
        )
    yield (
        f'<table class="matrix" id="matrix"><thead><tr><th scope="col">host</th>{head}</tr></thead>'
    )
    if not grouped:
        yield "<tbody>"
    groups = devices.by_device(report) if grouped else {None: results}
    for device, mine in groups.items():
        if grouped:
            yield (
                f'<tbody class="device" data-device="{_e(device)}">'
                f'<tr class="device-head"><th scope="rowgroup" colspan="{len(phases) + 1}">'
                f"{_e(device)} {_phase_counts(mine, None)}</th></tr>"
            )
        # (host, column) -> (index in results, row); a host's n/a row fills its key columns
        cells = {k: (index[id(r)], r) for k, r in grid(mine)[1].items()}
        for host in hosts:
            row_cells = [cells.get((host, p)) for p in phases]
            if grouped and not any(row_cells):
                continue
            problem = any(c and c[1].get("verdict") in ("fail", "inconclusive") for c in row_cells)
            tds = "".join(
                _cell(
                    c[0],
                    c[1],
                    changes.get(baseline.change_key(c[1])),
                    platform,
                    (host, column(c[1])) in disagree,
                    brief,
                )
                if c
                else '<td class="cell v-none"><span class="label">—</span> '
                '<span class="outcome">no result</span></td>'
                for c in row_cells
            )
            yield (
                f'<tr data-host="{_e(host)}"{" class=problem" if problem else ""}>'
                f'<th scope="row">{_host_label(host, row_cells)}</th>{tds}</tr>'
            )
        if grouped:
            yield "</tbody>"
    if not grouped:
        yield "</tbody>"
    yield f"</table>{_phase_legend(phases)}</section>"


def _disagreements(report: Mapping) -> str:
    """Where devices disagree, first: the same build passing on one device and failing on
    another is the first thing to look at."""
    if not devices.has_devices(report):
        return ""
    found = devices.disagreements(report)
    order = devices.device_order(report)
    if not found:
        return (
            '<section id="disagreements"><h2>Where devices disagree</h2>'
            f"<p>Nowhere: every host and phase has the same verdict on all {len(order)} "
            "devices that ran it.</p></section>"
        )
    index = {devices.row_key(r): i for i, r in enumerate(report.get("results") or [])}
    body = []
    for d in found:
        # the verdict of fewest devices first, each with its devices (linked to their cell)
        tags = " · ".join(
            f"{_verdict_tag(verdict)} on "
            + ", ".join(
                f'<a href="#c-{index.get((d["host"], d["phase"], device))}">{_e(device)}</a>'
                for device in names
            )
            for verdict, names in devices.split_by_verdict(d["verdicts"])
        )
        body.append(
            f"<tr><td>{_e(d['host'])}</td><td><code>{_e(d['phase'])}</code></td>"
            f'<td class="verdicts">{tags}</td></tr>'
        )
    return (
        f'<section id="disagreements"><h2>Where devices disagree: {len(found)}</h2>'
        '<table class="list"><thead><tr><th>host</th><th>phase</th><th>verdict per device</th>'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table></section>"
    )


def _cell(
    index: int,
    row: Mapping,
    change,
    platform: str | None,
    disagree: bool = False,
    brief: bool = False,
) -> str:
    """A matrix cell; `brief`: a passing cell of a very big report (a merge of hundreds of runs)
    keeps its reason as a tooltip and leaves the evidence to report.json."""
    verdict = row.get("verdict")
    note = ""
    if change is not None:
        note = f'<span class="change">{_e(_CHANGE_NOTE[change[0]].format(**change[1]))}</span>'
    if disagree:
        note += '<span class="change">devices disagree</span>'
    if brief and verdict == "pass" and change is None:
        return (
            f'<td class="cell v-pass" id="c-{index}" data-verdict="pass" '
            f'title="{_e(row.get("reason"))}"><span class="label">{_VERDICT_LABEL["pass"]}</span> '
            f'<span class="outcome">{_e(row.get("outcome"))}</span>{note}</td>'
        )
    return (
        f'<td class="cell v-{_e(verdict)}" id="c-{index}" data-verdict="{_e(verdict)}">'
        f'<details><summary><span class="label">{_e(_VERDICT_LABEL.get(verdict, verdict))}'
        f'</span> <span class="outcome">{_e(row.get("outcome"))}</span>{note}</summary>'
        f"{_detail(row, platform)}</details></td>"
    )


def _detail(row: Mapping, platform: str | None) -> str:
    evidence = row.get("evidence") or {}
    # host and phase repeat the row and column headers: shown on screen, not on paper.
    facts: list[tuple[str, str]] = [
        ("host", _e(row.get("host"))),
        ("phase", f"<code>{_e(row.get('phase'))}</code>"),
        ("expected", _e(row.get("expected"))),
        ("outcome", _e(row.get("outcome"))),
        ("connections", _e(row.get("connections", 0))),
    ]
    if row.get("device"):
        facts.insert(2, ("device", _e(row["device"])))
    proof = evidence.get("proof")
    if isinstance(proof, Mapping) and proof.get("source"):
        facts.append(("proof of CA trust", _e(proof["source"])))
    outcomes = evidence.get("outcomes") or {}
    if len(outcomes) > 1:  # one kind of outcome is already said by `outcome`
        facts.append(("by connection", _e(", ".join(f"{k} ×{n}" for k, n in outcomes.items()))))
    if evidence.get("alerts"):
        facts.append(("client alerts", _e(", ".join(map(str, evidence["alerts"])))))
    if evidence.get("credentials"):
        leaked = ", ".join(f"<code>{_e(c)}</code>" for c in evidence["credentials"])
        facts.append(("credentials leaked", leaked))
    requests = evidence.get("requests") or []
    if requests:
        shown = requests[: standards.MAX_REQUESTS]
        items = "".join(f"<li><code>{_e(standards.request_line(q))}</code></li>" for q in shown)
        more = len(requests) - len(shown)
        if more > 0:
            items += f"<li>… and {more} more</li>"
        facts.append(("requests", f"<ul>{items}</ul>"))
    if evidence.get("notes"):
        facts.append(("notes", "<br>".join(_e(n) for n in evidence["notes"])))
    for key, label in (("resumed", "resumed"), ("stalled", "stalled")):
        if evidence.get(key):
            facts.append((label, _e(evidence[key])))
    pattern = evidence.get("pattern")
    if pattern and pattern != row.get("host"):
        facts.append(("scenario entry", f"<code>{_e(pattern)}</code>"))
    if "proof" in evidence and needs_proof(row) and row.get("verdict") != "n/a":
        proof = evidence["proof"]
        words = proof_words(proof, row.get("host")) if proof else "none: refusals count for nothing"
        facts.append(("CA trust proof", _e(words)))
    if evidence.get("key"):
        key = evidence["key"]
        facts.append(("key", f"<code>{_e(key.get('file'))}</code> {_e(key.get('pin'))}"))
    found = standards.standards_for(row, platform)
    if found:
        label = "violates" if row.get("verdict") == "fail" else "not verified"
        facts.append(
            (
                label,
                "<br>".join(
                    f'{_e(s.label)}<span class="std-title">: {_e(s.title)}</span>' for s in found
                ),
            )
        )
    dl = "".join(
        f'<dt class="ctx">{_e(k)}</dt><dd class="ctx">{v}</dd>'
        if k in ("host", "phase")
        else f"<dt>{_e(k)}</dt><dd>{v}</dd>"
        for k, v in facts
    )
    return f'<div class="detail"><p class="reason">{_e(row.get("reason"))}</p><dl>{dl}</dl></div>'


def _problems(report: Mapping) -> str:
    rows = [
        (i, r)
        for i, r in enumerate(report.get("results") or [])
        if r.get("verdict") in ("fail", "inconclusive")
    ]
    if not rows:
        return (
            '<section id="problems"><h2>Failing and inconclusive</h2>'
            "<p>None: every host did what the scenario expected.</p></section>"
        )
    rows.sort(key=lambda ir: ir[1].get("verdict") != "fail")
    grouped = devices.has_devices(report)
    body = "".join(
        f"<tr><td>{_verdict_tag(r.get('verdict'))}</td>"
        f'<td><a href="#c-{i}">{_e(r.get("host"))}</a></td><td><code>{_e(r.get("phase"))}'
        "</code></td>" + (f"<td>{_e(r.get('device'))}</td>" if grouped else "") + ""
        f"<td>{_e(r.get('expected'))}</td><td>{_e(r.get('outcome'))}</td>"
        f"<td>{_e(r.get('reason'))}</td></tr>"
        for i, r in rows
    )
    device_th = "<th>device</th>" if grouped else ""
    return (
        '<section id="problems"><h2>Failing and inconclusive</h2>'
        '<table class="list"><thead><tr><th>verdict</th><th>host</th><th>phase</th>'
        f"{device_th}<th>expected</th><th>outcome</th><th>reason</th></tr></thead>"
        f"<tbody>{body}</tbody></table></section>"
    )


def _standards(report: Mapping) -> str:
    platform = standards.platform_of(report)
    rows = "".join(
        f"<tr><td><code>{_e(s.id)}</code></td><td>{_e(s.title)}</td>"
        f"<td>{_e({'any': 'all', 'android': 'Android', 'ios': 'iOS'}[s.platform])}</td></tr>"
        for s in standards.applicable(platform)
    )
    findings = sum(standards.is_finding(r) for r in report.get("results") or [])
    lead = (
        f"{findings} failing check{'s' if findings != 1 else ''} where the app accepted a "
        "forged certificate map to these standards."
        if findings
        else "A check that fails because the app accepted a forged certificate maps to these "
        "standards; this run has none."
    )
    return (
        f'<section id="standards"><h2>Standards</h2><p>{_e(lead)}</p>'
        '<table class="list"><thead><tr><th>ID</th><th>title</th><th>platform</th></tr>'
        f"</thead><tbody>{rows}</tbody></table></section>"
    )


def _hints(report: Mapping) -> str:
    hints = report.get("hints") or []
    if not hints:
        return ""
    items = "".join(f"<li>{_e(h)}</li>" for h in hints)
    return f'<section id="hints"><h2>Hints</h2><ul>{items}</ul></section>'


def _footer(report: Mapping) -> str:
    tool = report.get("tool") or {}
    return (
        f"<footer>Made by {_e(tool.get('name', 'mitm-pincheck'))} "
        f"{_e(tool.get('version', ''))} from the run's journal; rebuild it with "
        "<code>mitm-pincheck report DIR</code>.</footer>"
    )


def _phase_order(report: Mapping) -> list[str]:
    """The columns: the scenario's phases, a backup-key phase once per key (`proof.column`)."""
    results = report.get("results") or []
    phases = grid(results)[0]
    for p in (report.get("scenario") or {}).get("phases") or []:
        if str(p) not in phases and not any(r.get("phase") == p for r in results):
            phases.append(str(p))
    return phases


def _presents(col: str) -> str:
    kind = col.split(" ", 1)[0]
    return KINDS[kind].presents if kind in KINDS else col


def _trust_sources(report: Mapping) -> str | None:
    trust = report.get("ca_trust")
    if not isinstance(trust, Mapping):
        return None
    sources = trust.get("sources") or []
    if not sources:
        return "none (refusals of proxy-CA kinds count for nothing)"
    return ", ".join(map(str, sources))


def _host_order(report: Mapping) -> list[str]:
    """Scenario order; a host seen through a `*.` entry right after that entry, sorted."""
    entries = [
        h.get("host") if isinstance(h, Mapping) else h
        for h in (report.get("scenario") or {}).get("hosts") or []
    ]
    seen: dict[str, str | None] = {}
    for row in report.get("results") or []:
        seen.setdefault(row.get("host"), (row.get("evidence") or {}).get("pattern"))
    first = {host: i for i, host in enumerate(seen)}

    def key(host: str):
        pattern = seen[host] or host
        if pattern in entries:
            return (0, entries.index(pattern), host != pattern, host)
        return (1, first[host], False, host)

    return sorted(seen, key=key)


def _host_label(host: str, row_cells: list) -> str:
    evidence = next(((c[1].get("evidence") or {}) for c in row_cells if c), {})
    extra = []
    pattern = evidence.get("pattern")
    if pattern and pattern != host:
        extra.append(f"via <code>{_e(pattern)}</code>")
    if evidence.get("pinned") is not None:
        extra.append("pinned" if evidence["pinned"] else "not pinned")
    proofs = dict(host_proofs({"results": [c[1] for c in row_cells if c]}))
    if host in proofs:
        extra.append(f"CA trust proof: {_e(proofs[host])}")
    small = f' <span class="sub inline">{" · ".join(extra)}</span>' if extra else ""
    return f'<span class="host">{_e(host)}</span>{small}'


def _phase_counts(results: list, phase: str | None) -> str:
    """What did not pass in `phase` (a column; every column when None)."""
    rows = [r for r in results if phase is None or column(r) == phase]
    bad = [
        f"{n} {v}"
        for v in ("fail", "inconclusive")
        if (n := sum(r.get("verdict") == v for r in rows))
    ]
    text = ", ".join(bad) if bad else "all pass"
    return f'<span class="sub">{_e(text)}</span>'


def _phase_legend(phases: list[str]) -> str:
    kinds = dict.fromkeys(p.split(" ", 1)[0] for p in phases)
    items = "".join(
        f"<li><code>{_e(p)}</code>: {_e(KINDS[p].presents)}</li>" for p in kinds if p in KINDS
    )
    return f'<ul class="phases">{items}</ul>' if items else ""


def _verdict_tag(verdict) -> str:
    label = _VERDICT_LABEL.get(verdict, verdict or "—")
    return f'<span class="cell-tag v-{_e(verdict)}">{_e(label)}</span>'


def _device_list(report: Mapping) -> str | None:
    order = devices.device_order(report)
    if not order:
        return None
    shown = ", ".join(order[:8])
    return f"{len(order)}: {shown}" + (f" and {len(order) - 8} more" if len(order) > 8 else "")


def _yes_no(value) -> str | None:
    return None if value is None else ("yes" if value else "no")


def _duration(seconds) -> str | None:
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return None
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s"


def _e(value) -> str:
    text = "" if value is None else str(value)
    # Control characters are not markup, but they have no business in a page either.
    if not text.isprintable():  # the rare case: a merge of many runs escapes millions of values
        text = "".join(ch if ch.isprintable() or ch in "\t\n" else "\ufffd" for ch in text)
    return escape(text, quote=True)


_CSS = """
:root { --pass-bg:#dff5e3; --pass-fg:#0b5a23; --fail-bg:#ffdcd8; --fail-fg:#8a0a1e;
  --inc-bg:#fff0b3; --inc-fg:#6b4c00; --line:#c8ccd1; --muted:#57606a; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1rem 1.5rem;
  color: #1f2328; background: #fff; }
h1 { font-size: 1.4rem; margin: 0 0 .3rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
code { font: 12.5px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.badge { font-size: .9rem; padding: .1rem .5rem; border-radius: .3rem; vertical-align: middle; }
.summary { font-size: 1.1rem; margin: .2rem 0 .6rem; }
.count { font-weight: 600; padding: 0 .3rem; border-radius: .25rem; }
.total { color: var(--muted); }
.meta { display: flex; flex-wrap: wrap; gap: .2rem 1.5rem; margin: 0; }
.meta div { display: flex; gap: .4rem; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; }
.warning { background: var(--inc-bg); color: var(--inc-fg); padding: .4rem .6rem; }
.v-pass { background: var(--pass-bg); color: var(--pass-fg); }
.v-fail { background: var(--fail-bg); color: var(--fail-fg); }
.v-inconclusive { background: var(--inc-bg); color: var(--inc-fg); }
.v-none { background: #f3f4f6; color: var(--muted); }
.legend .cell-tag, .cell-tag { display: inline-block; padding: 0 .4rem; border-radius: .25rem;
  font-weight: 600; font-size: .85rem; }
.hint { color: var(--muted); font-size: .85rem; }
.controls { margin: .5rem 0; display: flex; flex-wrap: wrap; gap: .4rem 1rem;
  align-items: center; }
.controls[hidden] { display: none; }
#shown { color: var(--muted); }
table { border-collapse: separate; border-spacing: 0; }
.matrix th, .matrix td { border-bottom: 1px solid var(--line); border-right: 1px solid #fff;
  padding: .2rem .5rem; text-align: left; vertical-align: top; }
.matrix thead th { position: sticky; top: 0; background: #f6f8fa; z-index: 2;
  border-bottom: 2px solid var(--line); }
.matrix tbody th { position: sticky; left: 0; background: #fff; z-index: 1; font-weight: normal;
  max-width: 22rem; overflow-wrap: anywhere; }
.matrix .host { font-weight: 600; }
.sub { display: block; font-size: .78rem; color: var(--muted); font-weight: normal; }
.sub.inline { display: inline; }
.matrix td.cell { min-width: 10rem; scroll-margin-top: 4rem; }
.matrix summary { cursor: pointer; white-space: nowrap; }
.matrix summary:focus-visible { outline: 2px solid #0969da; outline-offset: 1px; }
.matrix .label { font-weight: 700; }
.matrix .outcome { font-size: .85rem; }
.matrix .change { display: block; font-size: .78rem; font-weight: 700; white-space: normal; }
.matrix td:target { outline: 3px solid #0969da; }
.detail { width: 24rem; max-width: 80vw; padding: .3rem 0 .4rem; color: #1f2328; }
.detail .reason { margin: .2rem 0 .4rem; font-weight: 600; }
.detail dl { display: grid; grid-template-columns: minmax(0, 8rem) 1fr; gap: .1rem .6rem; margin: 0;
  font-size: .85rem; }
.detail dt { color: var(--muted); }
.detail dd { margin: 0; overflow-wrap: anywhere; }
.detail ul { margin: 0; padding-left: 1rem; }
.list { margin: .3rem 0; }
.list th, .list td { border-bottom: 1px solid var(--line); padding: .2rem .6rem; text-align: left;
  vertical-align: top; }
.list th { background: #f6f8fa; }
.matrix tr.device-head th { background: #eef1f4; font-weight: 700; padding-top: .5rem;
  position: static; }
.verdicts a { text-decoration: none; margin-right: .2rem; }
.phases { color: var(--muted); font-size: .85rem; padding-left: 1.2rem; }
footer { margin-top: 2rem; color: var(--muted); font-size: .8rem; }
tr[hidden] { display: none; }
@media print {
  @page { size: landscape; margin: 10mm; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { margin: 0; font-size: 9pt; }
  .controls, .hint, .detail .ctx, .std-title { display: none !important; }
  .matrix { width: 100%; table-layout: fixed; }
  .matrix thead th:first-child { width: 22%; }
  .matrix thead th, .matrix tbody th { position: static; }
  .matrix thead { display: table-header-group; }
  .matrix tr, .list tr { break-inside: avoid; }
  .matrix td.cell { min-width: 0; }
  .matrix summary { white-space: normal; list-style: none; }
  .detail { width: auto; max-width: none; }
  .detail dl { display: block; }
  .detail dt { display: inline; }
  .detail dt::after { content: ": "; }
  .detail dd { display: inline; }
  .detail dd::after { content: "\\A"; white-space: pre; }
  .detail ul { display: inline; padding: 0; list-style: none; }
  .detail li { display: inline; }
  .detail li + li::before { content: "; "; }
  details::details-content { content-visibility: visible; display: block; }
  a { color: inherit; text-decoration: none; }
}
"""

_SCRIPT = """
(function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll('#matrix tbody tr[data-host]'));
  var details = Array.prototype.slice.call(document.querySelectorAll('details'));
  var filter = document.getElementById('filter');
  var only = document.getElementById('only-problems');
  var shown = document.getElementById('shown');
  document.getElementById('controls').hidden = false;
  function apply() {
    var text = filter.value.trim().toLowerCase(), n = 0;
    rows.forEach(function (row) {
      var ok = (!text || row.getAttribute('data-host').toLowerCase().indexOf(text) >= 0) &&
        (!only.checked || row.classList.contains('problem'));
      row.hidden = !ok;
      if (ok) { n++; }
    });
    shown.textContent = n + ' of ' + rows.length + ' hosts shown';
  }
  function setAll(open) {
    details.forEach(function (d) {
      var row = d.closest('tr');
      if (!row || !row.hidden) { d.open = open; }
    });
  }
  filter.addEventListener('input', apply);
  only.addEventListener('change', apply);
  document.getElementById('expand').addEventListener('click', function () { setAll(true); });
  document.getElementById('collapse').addEventListener('click', function () { setAll(false); });
  function openTarget() {
    var id = location.hash.slice(1);
    var cell = id && document.getElementById(id);
    var d = cell && cell.querySelector('details');
    if (d) { d.open = true; d.querySelector('summary').focus(); }
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
  var before = null;
  window.addEventListener('beforeprint', function () {
    before = details.map(function (d) { return d.open; });
    details.forEach(function (d) { d.open = true; });
  });
  window.addEventListener('afterprint', function () {
    if (before) { details.forEach(function (d, i) { d.open = before[i]; }); before = null; }
  });
  apply();
})();
"""

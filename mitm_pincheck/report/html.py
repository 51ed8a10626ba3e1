"""report.html: one self-contained page a person reads at a glance, offline, or on paper.

The page is `templates/report.html` (which extends `base.html`: inline CSS and script only,
and a Content-Security-Policy that forbids loading anything, so the file behaves the same
attached to a ticket as on the machine that made it). This module only decides what the page
says: the order of hosts and phases, the facts of each cell. Escaping is the template engine's
job (see `pages`): host names come from the network (SNI, CONNECT) and are not trusted.
The facts of a matrix cell are the one exception: `_facts_markup` builds them in Python (a
merge has hundreds of thousands), escaping every value with `pages.text`, as the template would.
The script only adds conveniences (filter, expand all, open details for printing); without it
every cell still opens with a click or the keyboard because cells are <details>.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import SimpleNamespace

from markupsafe import Markup

from mitm_pincheck.report import baseline, devices, pages, standards
from mitm_pincheck.report.pages import text
from mitm_pincheck.report.proof import column, grid, host_proofs, needs_proof
from mitm_pincheck.verdicts.kinds import KINDS
from mitm_pincheck.verdicts.verdict import proof_words

BRIEF_PASSES_OVER = 10_000  # rows; above, passing cells carry no evidence (the page stays usable)
VERDICT_LABEL = {
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
_PLATFORM = {"any": "all", "android": "Android", "ios": "iOS"}


def render_html(report: Mapping) -> str:
    return "".join(iter_html(report))


def iter_html(report: Mapping) -> Iterator[str]:
    """The page in pieces, for writing without holding it whole (a merge of hundreds of runs
    makes a page of tens of megabytes); the matrix's rows are built as they are written."""
    return pages.generate("report.html", **context(report))


def context(report: Mapping) -> dict:
    """What templates/report.html shows, from the report dict."""
    scenario = report.get("scenario") or {}
    summary = report.get("summary") or {}
    tool = report.get("tool") or {}
    status_class, status = _STATUS.get(report.get("exit_code"), ("inconclusive", "UNKNOWN"))
    name = scenario.get("name") or "scenario"
    changes = baseline.changes_of(report)
    found = devices.disagreements(report)  # once: both the section and the matrix's cells use it
    return {
        "title": f"Pinning check: {name}: {status}",
        "scenario_name": name,
        "status_class": status_class,
        "status": status,
        "counts": [(v, summary.get(v, 0)) for v in ("fail", "inconclusive", "pass")],
        "total": summary.get("total", 0),
        "regressions": None if changes is None else len(changes["regressions"]),
        "facts": _facts(report),
        "interrupted": bool(report.get("interrupted")),
        "changes": _changes(report, changes),
        "disagreements": _disagreements(report, found),
        **_matrix(report, found),
        "problems": _problems(report),
        "standards": _standards(report),
        "hints": list(report.get("hints") or []),
        "tool_name": tool.get("name", "mitm-pincheck"),
        "tool_version": tool.get("version", ""),
    }


def _facts(report: Mapping) -> list[tuple[str, object]]:
    scenario = report.get("scenario") or {}
    tool = report.get("tool") or {}
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
    return [(k, v) for k, v in facts if v is not None]


def _changes(report: Mapping, changes: Mapping | None) -> dict | None:
    if changes is None:
        return None
    about = report.get("baseline") or {}
    cells = {baseline.change_key(r): (i, r) for i, r in enumerate(report["results"])}
    groups = []
    if baseline.has_changes(changes):
        for key, heading in baseline.CHANGE_KEYS:
            items = changes[key]
            if not items:
                continue
            if key in ("hosts_added", "hosts_gone"):
                groups.append({"key": key, "heading": heading, "hosts": list(items)})
                continue
            rows = []
            for c in items:
                i, row = cells.get(baseline.change_key(c), (None, {}))
                rows.append(
                    {
                        "index": i,
                        "host": c.get("host"),
                        "device": c.get("device"),
                        "phase": column(c),
                        "before": c.get("before"),
                        "before_label": _label(c.get("before")),
                        "after": c.get("after"),
                        "after_label": _label(c.get("after")),
                        "reason": row.get("reason"),
                    }
                )
            groups.append({"key": key, "heading": heading, "hosts": None, "rows": rows})
    return {"since": about.get("started"), "groups": groups}


def _matrix(report: Mapping, found: list[dict]) -> dict:
    results = report.get("results") or []
    phases = _phase_order(report)
    grouped = devices.has_devices(report)
    by_device = devices.by_device(report) if grouped else {None: results}
    by_column: dict[str, list] = {}  # one pass, not one per column: a merge has 90,000 rows
    for r in results:
        by_column.setdefault(column(r), []).append(r)
    index = {id(r): i for i, r in enumerate(results)}
    shared = {
        "phases": phases,
        "hosts": _host_order(report),
        "changes": baseline.change_index(report),
        "platform": standards.platform_of(report),
        "disagree": {(d["host"], d["phase"]) for d in found},
        "brief": len(results) > BRIEF_PASSES_OVER,
        "esc": _escaper(),
    }
    return {
        "legend": list(VERDICT_LABEL.items()),
        "phases": [
            {
                "name": p,
                "presents": _presents(p),
                "counts": _phase_counts(by_column.get(p, []), None),
            }
            for p in phases
        ],
        "grouped": grouped,
        "brief": shared["brief"],
        "checks": len(results),
        # A group per device (one, unnamed, without devices); rows are made as the page is
        # written, so a merge of hundreds of runs never holds every cell's facts at once.
        "groups": [
            {
                "device": device,
                "counts": _phase_counts(mine, None),
                "rows": _rows(
                    {k: (index[id(r)], r) for k, r in grid(mine)[1].items()}, device, shared
                ),
            }
            for device, mine in by_device.items()
        ],
        "phase_legend": [
            (k, KINDS[k].presents)
            for k in dict.fromkeys(p.split(" ", 1)[0] for p in phases)
            if k in KINDS
        ],
    }


def _rows(cells: Mapping, device: str | None, shared: Mapping) -> Iterator[dict]:
    """The matrix rows of one device; `cells`: (host, column) -> (index in results, row)."""
    phases, changes, platform = shared["phases"], shared["changes"], shared["platform"]
    for host in shared["hosts"]:
        row_cells = [cells.get((host, p)) for p in phases]
        if device is not None and not any(row_cells):
            continue
        evidence = next(((c[1].get("evidence") or {}) for c in row_cells if c), {})
        pattern = evidence.get("pattern")
        pinned = evidence.get("pinned")
        proofs = dict(host_proofs({"results": [c[1] for c in row_cells if c]}))
        yield {
            "host": host,
            "problem": any(
                c and c[1].get("verdict") in ("fail", "inconclusive") for c in row_cells
            ),
            "via": pattern if pattern and pattern != host else None,
            "pinned": None if pinned is None else ("pinned" if pinned else "not pinned"),
            "proof": proofs.get(host),
            "cells": [
                None
                if c is None
                else _cell(
                    c[0],
                    c[1],
                    changes.get(baseline.change_key(c[1])),
                    platform,
                    (host, column(c[1])) in shared["disagree"],
                    shared["brief"],
                    shared["esc"],
                )
                for c in row_cells
            ],
        }


def _disagreements(report: Mapping, found: list[dict]) -> dict | None:
    """Where devices disagree, first: the same build passing on one device and failing on
    another is the first thing to look at."""
    if not devices.has_devices(report):
        return None
    index = {devices.row_key(r): i for i, r in enumerate(report.get("results") or [])}
    rows = [
        {
            "host": d["host"],
            "phase": d["phase"],
            # the verdict of fewest devices first, each with its devices (linked to their cell)
            "groups": [
                (
                    verdict,
                    _label(verdict),
                    [(device, index.get((d["host"], d["phase"], device))) for device in names],
                )
                for verdict, names in devices.split_by_verdict(d["verdicts"])
            ],
        }
        for d in found
    ]
    return {"devices": len(devices.device_order(report)), "rows": rows}


def _cell(
    index: int,
    row: Mapping,
    change,
    platform: str | None,
    disagree: bool = False,
    brief: bool = False,
    esc: Callable[[object], str] | None = None,
) -> SimpleNamespace:
    """A matrix cell (attributes, not a dict: the template reads them without a failed
    getattr each); `brief`: a passing cell of a very big report (a merge of hundreds of runs)
    keeps its reason as a tooltip and leaves the evidence to report.json."""
    verdict = row.get("verdict")
    brief = brief and verdict == "pass" and change is None
    esc = esc or _escaper()
    return SimpleNamespace(
        index=index,
        verdict=verdict,
        label=_label(verdict),
        outcome=row.get("outcome"),
        change=None if change is None else _CHANGE_NOTE[change[0]].format(**change[1]),
        disagree=disagree,
        brief=brief,
        reason=row.get("reason"),
        facts=Markup() if brief else _facts_markup(_detail(row, platform), esc),
    )


def _escaper() -> Callable[[object], str]:
    """`pages.text` as a str, remembering each string's result for one page: hosts, phases,
    outcomes, devices and request lines repeat in thousands of cells of a merge."""
    seen: dict[str, str] = {}

    def esc(value) -> str:
        if type(value) is not str:
            return str(text(value))
        out = seen.get(value)
        if out is None:
            out = seen[value] = str(text(value))
        return out

    return esc


def _facts_markup(facts: list[tuple[str, str, object]], esc: Callable[[object], str]) -> Markup:
    """The <dt>/<dd> pairs of a cell's <dl>; host and phase (`ctx`) are shown on screen only."""
    out = []
    for key, kind, value in facts:
        ctx = ' class="ctx"' if key in ("host", "phase") else ""
        out.append(f"<dt{ctx}>{esc(key)}</dt><dd{ctx}>{_fact_value(kind, value, esc)}</dd>")
    return Markup("".join(out))


def _fact_value(kind: str, value, esc: Callable[[object], str]) -> str:
    """A fact's value as markup; `kind` says how (see `_detail`). Every value goes through
    `esc` (`pages.text`, remembered: see `_escaper`); only the literal tags here are markup."""
    if kind == "code":
        return f"<code>{esc(value)}</code>"
    if kind == "codes":
        return ", ".join(f"<code>{esc(item)}</code>" for item in value)
    if kind == "requests":
        items = "".join(f"<li><code>{esc(item)}</code></li>" for item in value["lines"])
        if value["more"]:
            items += f"<li>… and {esc(value['more'])} more</li>"
        return f"<ul>{items}</ul>"
    if kind == "key":
        return f"<code>{esc(value['file'])}</code> {esc(value['pin'])}"
    if kind == "lines":
        return "<br>".join(esc(item) for item in value)
    if kind == "standards":
        return "<br>".join(
            f'{esc(s.label)}<span class="std-title">: {esc(s.title)}</span>' for s in value
        )
    return esc(value)


def _detail(row: Mapping, platform: str | None) -> list[tuple[str, str, object]]:
    """(label, kind, value): the kind says how `_fact_value` shows the value."""
    evidence = row.get("evidence") or {}
    # host and phase repeat the row and column headers: shown on screen, not on paper.
    facts: list[tuple[str, str, object]] = [
        ("host", "text", row.get("host")),
        ("phase", "code", row.get("phase")),
        ("expected", "text", row.get("expected")),
        ("outcome", "text", row.get("outcome")),
        ("connections", "text", row.get("connections", 0)),
    ]
    if row.get("device"):
        facts.insert(2, ("device", "text", row["device"]))
    outcomes = evidence.get("outcomes") or {}
    if len(outcomes) > 1:  # one kind of outcome is already said by `outcome`
        by = ", ".join(f"{k} ×{n}" for k, n in outcomes.items())
        facts.append(("by connection", "text", by))
    if evidence.get("alerts"):
        facts.append(("client alerts", "text", ", ".join(map(str, evidence["alerts"]))))
    if evidence.get("credentials"):
        facts.append(("credentials leaked", "codes", list(evidence["credentials"])))
    requests = evidence.get("requests") or []
    if requests:
        shown = requests[: standards.MAX_REQUESTS]
        lines = [standards.request_line(q) for q in shown]
        facts.append(("requests", "requests", {"lines": lines, "more": len(requests) - len(shown)}))
    if evidence.get("notes"):
        facts.append(("notes", "lines", list(evidence["notes"])))
    for key in ("resumed", "stalled"):
        if evidence.get(key):
            facts.append((key, "text", evidence[key]))
    pattern = evidence.get("pattern")
    if pattern and pattern != row.get("host"):
        facts.append(("scenario entry", "code", pattern))
    if "proof" in evidence and needs_proof(row) and row.get("verdict") != "n/a":
        proof = evidence["proof"]
        words = proof_words(proof, row.get("host")) if proof else "none: refusals count for nothing"
        facts.append(("CA trust proof", "text", words))
    if evidence.get("key"):
        key = evidence["key"]
        facts.append(("key", "key", {"file": key.get("file"), "pin": key.get("pin")}))
    found = standards.standards_for(row, platform)
    if found:
        label = "violates" if row.get("verdict") == "fail" else "not verified"
        facts.append((label, "standards", list(found)))
    return facts


def _problems(report: Mapping) -> list[SimpleNamespace]:
    rows = [
        (i, r)
        for i, r in enumerate(report.get("results") or [])
        if r.get("verdict") in ("fail", "inconclusive")
    ]
    rows.sort(key=lambda ir: ir[1].get("verdict") != "fail")
    return [
        SimpleNamespace(
            index=i,
            verdict=r.get("verdict"),
            label=_label(r.get("verdict")),
            host=r.get("host"),
            phase=r.get("phase"),
            device=r.get("device"),
            expected=r.get("expected"),
            outcome=r.get("outcome"),
            reason=r.get("reason"),
        )
        for i, r in rows
    ]


def _standards(report: Mapping) -> dict:
    platform = standards.platform_of(report)
    findings = sum(standards.is_finding(r) for r in report.get("results") or [])
    lead = (
        f"{findings} failing check{'s' if findings != 1 else ''} where the app accepted a "
        "forged certificate map to these standards."
        if findings
        else "A check that fails because the app accepted a forged certificate maps to these "
        "standards; this run has none."
    )
    rows = [(s.id, s.title, _PLATFORM[s.platform]) for s in standards.applicable(platform)]
    return {"lead": lead, "rows": rows}


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
        # Several devices: each its own proof (one device's proves nothing for another).
        per_device = [
            f"{d.get('label')}: {_trust_sources(d)}"
            for d in report.get("devices") or ()
            if isinstance(d, Mapping) and isinstance(d.get("ca_trust"), Mapping)
        ]
        return " · ".join(per_device) if per_device else None
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


def _phase_counts(results: list, phase: str | None) -> str:
    """What did not pass in `phase` (a column; every column when None)."""
    rows = [r for r in results if phase is None or column(r) == phase]
    bad = [
        f"{n} {v}"
        for v in ("fail", "inconclusive")
        if (n := sum(r.get("verdict") == v for r in rows))
    ]
    return ", ".join(bad) if bad else "all pass"


def _device_list(report: Mapping) -> str | None:
    order = devices.device_order(report)
    if not order:
        return None
    shown = ", ".join(order[:8])
    return f"{len(order)}: {shown}" + (f" and {len(order) - 8} more" if len(order) > 8 else "")


def _label(verdict) -> str:
    return VERDICT_LABEL.get(verdict, verdict or "—")


def _duration(seconds) -> str | None:
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return None
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s"

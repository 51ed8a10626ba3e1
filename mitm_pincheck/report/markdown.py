"""report.md: the summary for a pull request or a chat message.

Counts first, then what changed since the baseline, then only the rows someone has to act on
(fail and inconclusive) with their reasons. Everything that came from the network or the
scenario is escaped: a host name is not allowed to become a link, an image or a table column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mitm_pincheck.report import baseline, devices, standards
from mitm_pincheck.report.proof import column, trust_line

_VERDICT_LABEL = {"pass": "✅ PASS", "fail": "❌ FAIL", "inconclusive": "⚠️ INCONCLUSIVE"}
_STATUS = {0: "PASS", 1: "FAIL", 3: "INCONCLUSIVE"}
# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that can start
# markup mid-line (emphasis, code, links, HTML, entities), plus `|` which would split a cell.
# Line-start markup (#, -, +) can't occur: every value sits after a prefix or inside a cell.
_MARKUP = set("\\`*_[]<>&|~")
_ESCAPES = str.maketrans({ch: "\\" + ch for ch in _MARKUP})


def render_markdown(report: Mapping) -> str:
    scenario = report.get("scenario") or {}
    summary = report.get("summary") or {}
    tool = report.get("tool") or {}
    status = _STATUS.get(report.get("exit_code"), "UNKNOWN")
    name = scenario.get("name") or "scenario"
    out = [f"# Pinning check: {_text(name)}: {status}", ""]

    counts = (
        f"**{summary.get('fail', 0)} fail**, {summary.get('inconclusive', 0)} inconclusive, "
        f"{summary.get('pass', 0)} pass ({summary.get('total', 0)} checks)"
    )
    changes = baseline.changes_of(report)
    if changes is not None:
        n = len(changes["regressions"])
        counts = f"**{n} regression{'' if n == 1 else 's'}** since the baseline · {counts}"
    out.append(counts)
    out.append("")
    facts = []
    if scenario.get("app"):
        facts.append(f"app {_text(scenario['app'])}")
    if report.get("started"):
        facts.append(f"started {_text(report['started'])}")
    if report.get("duration") is not None:
        facts.append(f"took {_duration(report['duration'])}")
    versions = f"{tool.get('name', 'mitm-pincheck')} {tool.get('version', '?')}"
    if tool.get("mitmproxy"):
        versions += f", mitmproxy {tool['mitmproxy']}"
    facts.append(_text(versions))
    if devices.has_devices(report):
        order = devices.device_order(report)
        facts.append(f"{len(order)} devices: " + ", ".join(_text(d) for d in order))
    out.append(" · ".join(facts))
    if trust := trust_line(report):
        out += ["", _text(trust)]
    if report.get("interrupted"):
        out += ["", "**The run was interrupted**: phases that did not finish are inconclusive."]
    out.append("")

    out += _baseline_section(report)
    out += _disagreements(report)
    out += _problem_rows(report)
    out += _standards_line(report)

    hints = report.get("hints") or []
    if hints:
        out += ["## Hints", ""]
        out += [f"- {_text(h)}" for h in hints]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _baseline_section(report: Mapping) -> list[str]:
    changes = baseline.changes_of(report)
    if changes is None:
        return []
    about = report.get("baseline") or {}
    since = f" (baseline started {_text(about['started'])})" if about.get("started") else ""
    out = [f"## Changes since the baseline{since}", ""]
    if not baseline.has_changes(changes):
        return out + ["No verdict changed.", ""]
    reasons = {baseline.change_key(r): r.get("reason") for r in report["results"]}
    for key, heading in baseline.CHANGE_KEYS:
        items = changes[key]
        if not items:
            continue
        if key in ("hosts_added", "hosts_gone"):
            out.append(f"**{heading}:** " + ", ".join(_text(h) for h in items))
            out.append("")
            continue
        out += [f"### {heading}", "", "| host | phase | before | after | reason |"]
        out.append("| --- | --- | --- | --- | --- |")
        for c in items:
            reason = reasons.get(baseline.change_key(c)) or ""
            host = f"{c.get('host')} on {c['device']}" if c.get("device") else c.get("host")
            cells = [host, column(c), c.get("before"), c.get("after"), reason]
            out.append(_row(cells))
        out.append("")
    return out


def _problem_rows(report: Mapping) -> list[str]:
    rows = [r for r in report.get("results") or [] if r.get("verdict") in ("fail", "inconclusive")]
    if not rows:
        return ["Every host did what its scenario expected.", ""]
    # Fails first; within a verdict, the report's order (phase, then host).
    rows.sort(key=lambda r: r.get("verdict") != "fail")
    grouped = devices.has_devices(report)
    out = ["## Failing and inconclusive", ""]
    if grouped:
        out.append("| verdict | host | phase | device | expected | outcome | reason |")
        out.append("| --- | --- | --- | --- | --- | --- | --- |")
    else:
        out.append("| verdict | host | phase | expected | outcome | reason |")
        out.append("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        label = _VERDICT_LABEL.get(r.get("verdict"), str(r.get("verdict")))
        cells = [r.get("host"), column(r)]
        cells += [r.get("device")] if grouped else []
        cells += [r.get("expected"), r.get("outcome")]
        out.append(f"| {label} " + _row(cells + [_reason(r)]))
    out.append("")
    return out


def _disagreements(report: Mapping) -> list[str]:
    if not devices.has_devices(report):
        return []
    found = devices.disagreements(report)
    if not found:
        return [
            "## Where devices disagree",
            "",
            "Nowhere: every device gave the same verdicts.",
            "",
        ]
    out = [f"## Where devices disagree: {len(found)}", "", "| host | phase | verdict per device |"]
    out.append("| --- | --- | --- |")
    for d in found:
        per = " · ".join(  # the verdict of fewest devices first, with its devices
            f"{_VERDICT_LABEL.get(v, v)} on " + ", ".join(_text(device) for device in names)
            for v, names in devices.split_by_verdict(d["verdicts"])
        )
        out.append(f"| {_text(d['host'])} | {_text(d['phase'])} | {per} |")
    out.append("")
    return out


def _reason(row: Mapping) -> str:
    reason = row.get("reason") or ""
    credentials = (row.get("evidence") or {}).get("credentials") or []
    if credentials and row.get("verdict") == "fail":
        reason += f" Credentials sent: {', '.join(map(str, credentials))}."
    return reason


def _standards_line(report: Mapping) -> list[str]:
    rows = report.get("results") or []
    platform = standards.platform_of(report)
    if not any(standards.standards_for(r, platform) for r in rows):
        return []
    found = standards.applicable(platform)
    failing = sum(standards.is_finding(r) for r in rows)
    lead = "Failing rows where the app accepted a forged certificate" if failing else "Rows"
    refs = "; ".join(f"[{s.label}]({s.url}) {_text(s.title)}" for s in found)
    return [f"**Standards:** {lead} map to {refs}.", ""]


def _row(cells: list) -> str:
    return "| " + " | ".join(_text("" if c is None else c) for c in cells) + " |"


def text(value) -> str:
    """One line of plain text, safe anywhere in Markdown including a table cell (no markup,
    no autolink); other Markdown pages (history.md) use it too."""
    text = " ".join(str(value).split())
    if text.isprintable():
        text = text.translate(_ESCAPES)
    else:
        text = "".join(
            "\\" + ch if ch in _MARKUP else ch if ch.isprintable() else "\ufffd" for ch in text
        )
    return _no_autolinks(text)


# GitHub turns bare URLs (`https://...`), `www.` names and e-mail addresses into live links
# (GFM "autolinks (extension)"). A request path is the app's, or an attacker's, choice. A
# backslash before the `:` of `scheme://` and after `www` breaks those patterns and renders as
# nothing; e-mail addresses are found after escapes are undone, so an empty HTML comment (also
# invisible) goes after each `@`. Checked with cmark-gfm, GitHub's renderer, in the tests.
_AUTOLINK = re.compile(r"(?<=[A-Za-z0-9])(:)(?=//)|(@)|(?<=\b[wW]{3})(\.)")


def _no_autolinks(text: str) -> str:
    if "@" not in text and "//" not in text and "www." not in text.lower():
        return text  # nothing to break: the common case, checked without the pattern
    return _AUTOLINK.sub(lambda m: "@<!-- -->" if m.group() == "@" else "\\" + m.group(), text)


_text = text


def _duration(seconds) -> str:
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s"

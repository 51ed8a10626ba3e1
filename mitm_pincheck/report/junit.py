"""junit.xml: a testcase per host and phase, so CI shows pinning like any other test.

One testsuite per phase (`valid-ca`, ...), testcase classname `pincheck.<phase>`, name
`<host>: expected <expected>`. The name leaves the outcome out on purpose: Jenkins, GitLab and
GitHub track a test's history by classname + name, so the name must stay the same when the
verdict flips, or "this build stopped pinning api.example.com" shows up as a new test instead
of a failing one. The outcome goes in the failure/skipped message and in the `type`.

A report from several devices has one testsuite per device instead (named after it), and the
device in the classname (`pincheck.<device>.<phase>`), so each device's row keeps its history.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from mitm_pincheck.report import baseline, devices, standards
from mitm_pincheck.report.proof import needs_proof, proof_label

_CHANGE_PREFIX = {
    "regressions": "Regression since baseline (was {before})",
    "newly_inconclusive": "Newly inconclusive since baseline (was {before})",
    "fixes": "Fixed since baseline (was {before})",
}


def render_junit(report: Mapping) -> str:
    scenario = report.get("scenario") or {}
    summary = report.get("summary") or {}
    changes = baseline.change_index(report)
    platform = standards.platform_of(report)

    root = ET.Element(
        "testsuites",
        name=_clean(f"mitm-pincheck: {scenario.get('name') or 'scenario'}"),
        tests=str(summary.get("total", len(report.get("results") or []))),
        failures=str(summary.get("fail", 0)),
        skipped=str(summary.get("inconclusive", 0)),
        errors="0",
        time=_seconds(report.get("duration")),
    )
    if report.get("started"):
        root.set("timestamp", str(report["started"]))

    for name, rows in _suites(report).items():
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_clean(name),
            tests=str(len(rows)),
            failures=str(sum(r.get("verdict") == "fail" for r in rows)),
            skipped=str(sum(r.get("verdict") == "inconclusive" for r in rows)),
            errors="0",
            time="0",
        )
        if report.get("started"):
            suite.set("timestamp", str(report["started"]))
        _properties(suite, report, name if devices.has_devices(report) else None)
        # Rows that changed since the baseline first, then the report's order.
        rows = sorted(rows, key=lambda r: baseline.change_key(r) not in changes)
        for row in rows:
            _testcase(suite, row, changes.get(baseline.change_key(row)), platform)

    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _testcase(suite: ET.Element, row: Mapping, change, platform: str | None) -> None:
    phase = str(row.get("phase"))
    device = row.get("device")
    key = f" {row['key']}" if row.get("key") else ""  # each backup key is a test of its own
    case = ET.SubElement(
        suite,
        "testcase",
        classname=_clean(f"pincheck.{device}.{phase}" if device else f"pincheck.{phase}"),
        name=_clean(f"{row.get('host')}{key}: expected {row.get('expected')}"),
        time="0",
    )
    evidence = row.get("evidence") or {}
    if "proof" in evidence and needs_proof(row):
        props = ET.SubElement(case, "properties")
        label = proof_label(evidence["proof"], row.get("host"))
        ET.SubElement(props, "property", name="ca_trust_proof", value=_clean(label))
    reason = _clean(row.get("reason") or "")
    if change is not None:
        key, before = change[0], change[1].get("before")
        reason = _clean(f"{_CHANGE_PREFIX[key].format(before=before)}: {reason}")
    outcome = str(row.get("outcome"))
    verdict = row.get("verdict")
    if verdict == "fail":
        failure = ET.SubElement(case, "failure", message=reason, type=_clean(outcome))
        lines = [f"got {outcome}, expected {row.get('expected')}"]
        lines += standards.evidence_lines(row)
        found = standards.standards_for(row, platform)
        if found:
            lines.append("maps to: " + "; ".join(f"{s.label} ({s.title})" for s in found))
        failure.text = _clean("\n".join(lines))
    elif verdict == "inconclusive":
        skipped = ET.SubElement(case, "skipped", message=reason)
        skipped.text = _clean(f"got {outcome}, expected {row.get('expected')}")
    elif change is not None:
        # A fix: passing tests carry no message element, so say it where viewers show output.
        ET.SubElement(case, "system-out").text = reason


def _properties(suite: ET.Element, report: Mapping, device: str | None = None) -> None:
    tool = report.get("tool") or {}
    scenario = report.get("scenario") or {}
    props = ET.SubElement(suite, "properties")
    values = []
    about: Mapping = {}
    if device is not None:
        about = next(
            (
                d
                for d in report.get("devices") or ()
                if isinstance(d, Mapping) and d.get("label") == device
            ),
            {},
        )
        values += [
            ("device", device),
            ("device.app", about.get("app")),
            ("device.run", about.get("run")),
        ]
    values += [
        ("tool", f"{tool.get('name', 'mitm-pincheck')} {tool.get('version', '')}".strip()),
        ("mitmproxy", tool.get("mitmproxy")),
        ("scenario", scenario.get("name")),
        ("app", scenario.get("app")),
        # A device's own proof first: in a run on several devices one proves nothing for another.
        ("ca_trust", _trust_sources(about) if about.get("ca_trust") else _trust_sources(report)),
        ("interrupted", report.get("interrupted")),
    ]
    changes = baseline.changes_of(report)
    if changes is not None:
        for key, _ in baseline.CHANGE_KEYS:
            items = changes[key]
            text = ", ".join(
                f"{c.get('host')} {c.get('phase')}" if isinstance(c, Mapping) else str(c)
                for c in items
            )
            values.append((f"baseline.{key}", f"{len(items)}: {text}" if items else "0"))
    for name, value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        ET.SubElement(props, "property", name=name, value=_clean(str(value)))


def _suites(report: Mapping) -> dict[str, list]:
    """Suite name -> rows: one suite per device when the report has devices, else per phase.
    n/a rows (a key kind, no key for the host) are not tests at all."""
    results = report.get("results") or []
    if devices.has_devices(report):
        return {
            device: [r for r in rows if r.get("verdict") != "n/a"]
            for device, rows in devices.by_device(report).items()
        }
    phases: dict[str, list] = {}
    for row in results:
        if row.get("verdict") != "n/a":
            phases.setdefault(str(row.get("phase")), []).append(row)
    return phases


def _trust_sources(report: Mapping) -> str | None:
    trust = report.get("ca_trust")
    if not isinstance(trust, Mapping):
        return None
    return ", ".join(map(str, trust.get("sources") or [])) or "none"


def _seconds(value) -> str:
    try:
        return f"{float(value):.3f}"
    except (TypeError, ValueError):
        return "0"


def _clean(text: str) -> str:
    """XML 1.0 can't carry most control characters even escaped; a hostile SNI could hold them."""
    return _NOT_XML.sub("\ufffd", text)


# Everything outside XML 1.0's Char production (lone surrogates included).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

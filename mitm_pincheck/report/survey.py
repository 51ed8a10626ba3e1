"""A survey's outputs: the terminal table, a small plain HTML page, and a draft scenario.

Everything here reads the survey dict of verdicts/survey.py. Host names come from the network
(SNI, CONNECT): they are made printable for the terminal, escaped for the page, and checked as
host names again before they go into the YAML.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping

from mitm_pincheck.verdicts import kinds
from mitm_pincheck.verdicts.outcome import ACCEPTED, REJECTED_AFTER_HANDSHAKE, REJECTED_IN_HANDSHAKE

SURVEY_FILES = ("survey.json", "survey.html", "survey.yaml")


def _printable(text: object) -> str:
    return "".join(c if c.isprintable() else "?" for c in str(text))


def render_text(survey: Mapping) -> str:
    hosts = survey["hosts"]
    if not hosts:
        return (
            "No host was seen: is the device's proxy set to this proxy, and did the app talk? "
            "(Flutter/Dart and some SDKs ignore the system proxy: try --mode wireguard.)\n"
        )
    rows = [
        (_printable(h["host"]), str(h["connections"]), h["outcome"], h["suggests"]) for h in hosts
    ]
    head = ("host", "conns", "outcome", "suggests")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in [head, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(head[3]))
    leaks = [h for h in hosts if h["credentials"]]
    for h in leaks:
        lines.append(
            f"note: {_printable(h['host'])} sent {', '.join(h['credentials'])} over the proxy's "
            "certificate"
        )
    return "\n".join(lines) + "\n"


def render_html(survey: Mapping) -> str:
    """A small, plain page: one table, no scripts, everything escaped."""
    e = html.escape
    title = "mitm-pincheck survey" + (" (passive)" if survey.get("passive") else "")
    rows = "\n".join(
        "<tr>"
        f"<td>{e(str(h['host']))}</td><td>{h['connections']}</td>"
        f"<td>{e(h['outcome'])}{' (' + e(str(h['detail'])) + ')' if h.get('detail') else ''}</td>"
        f"<td>{e(h['suggests'])}</td>"
        f"<td>{e(', '.join(h['credentials']))}</td>"
        "</tr>"
        for h in survey["hosts"]
    )
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{e(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}</style></head><body>\n"
        f"<h1>{e(title)}</h1>\n"
        f"<p>{survey['summary']['hosts']} host(s) seen, {e(str(survey.get('started')))} to "
        f"{e(str(survey.get('finished')))}. The draft scenario is survey.yaml.</p>\n"
        "<table><thead><tr><th>host</th><th>connections</th><th>outcome</th>"
        "<th>suggests</th><th>credentials sent</th></tr></thead><tbody>\n"
        f"{rows}\n</tbody></table>\n</body></html>\n"
    )


def draft_scenario(survey: Mapping) -> str:
    """A scenario YAML with the surveyed hosts, to review and run."""
    from mitm_pincheck.scenario.hostnames import HostNameError, check_host

    lines = [
        "# Drafted by mitm-pincheck survey"
        + (" --passive: hosts seen, none tested." if survey.get("passive") else "."),
        "# Review pinned: for each host, add a trigger, then: mitm-pincheck validate THIS_FILE",
        'name: "survey"',
        "hosts:",
    ]
    count = 0
    for h in survey["hosts"]:
        try:
            host = check_host(str(h["host"]), wildcard_ok=False)
        except HostNameError:
            continue
        outcome = h["outcome"]
        if outcome == ACCEPTED:
            pinned, why = False, "accepted the proxy CA: not pinned"
        elif outcome in (REJECTED_IN_HANDSHAKE, REJECTED_AFTER_HANDSHAKE):
            pinned, why = True, f"{outcome}: pinned, or the CA is not trusted (add keys)"
        else:
            pinned, why = True, f"{outcome}: not tested, set pinned: to what the app must do"
        lines.append(f"  # survey: {why}; {h['connections']} connection(s)")
        lines.append(f"  - host: {json.dumps(host)}")
        lines.append(f"    pinned: {'true' if pinned else 'false'}")
        count += 1
    if not count:
        lines[-1] = "hosts: []  # no host seen: add them by hand"
    lines.append("phases:")
    lines.extend(f"  - {k}" for k in kinds.DEFAULT_PHASES)
    lines.append("# A command that makes the app talk, run at each phase start; null: by hand.")
    lines.append("trigger: null")
    lines.append("settle: 5")
    lines.append("timeout: 60")
    return "\n".join(lines) + "\n"


def render_files(survey: Mapping) -> dict[str, str]:
    return {
        "survey.json": json.dumps(survey, indent=2, ensure_ascii=False) + "\n",
        "survey.html": render_html(survey),
        "survey.yaml": draft_scenario(survey),
    }

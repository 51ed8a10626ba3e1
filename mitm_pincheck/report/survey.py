"""A survey's outputs: the terminal table, a small HTML page, and a draft scenario.

Everything here reads the survey dict of verdicts/survey.py. Host names come from the network
(SNI, CONNECT): they go through `terminal.clean()` for the terminal, are escaped by the
template (templates/survey.html, on the shared base.html) for the page, and are checked as
host names again before they go into the YAML.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from mitm_pincheck.report import pages
from mitm_pincheck.report.terminal import clean
from mitm_pincheck.verdicts import kinds
from mitm_pincheck.verdicts.outcome import ACCEPTED, REJECTED_AFTER_HANDSHAKE, REJECTED_IN_HANDSHAKE

SURVEY_FILES = ("survey.json", "survey.html", "survey.yaml")


def render_text(survey: Mapping) -> str:
    hosts = survey["hosts"]
    if not hosts:
        return (
            "No host was seen: is the device's proxy set to this proxy, and did the app talk? "
            "(Flutter/Dart and some SDKs ignore the system proxy: try --mode wireguard.)\n"
        )
    rows = [
        (clean(h["host"]), clean(h["connections"]), clean(h["outcome"]), clean(h["suggests"]))
        for h in hosts
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
            f"note: {clean(h['host'])} sent {clean(', '.join(h['credentials']))} over the proxy's "
            "certificate"
        )
    return "\n".join(lines) + "\n"


def render_html(survey: Mapping) -> str:
    """A small page: one table of hosts, on the shared base template."""
    return pages.render("survey.html", **html_context(survey))


def html_context(survey: Mapping) -> dict:
    """What templates/survey.html shows."""
    return {
        "title": "mitm-pincheck survey" + (" (passive)" if survey.get("passive") else ""),
        "count": (survey.get("summary") or {}).get("hosts", len(survey.get("hosts") or ())),
        "started": survey.get("started"),
        "finished": survey.get("finished"),
        "hosts": [
            {
                "host": h.get("host"),
                "connections": h.get("connections"),
                "outcome": h.get("outcome"),
                "detail": h.get("detail"),
                "suggests": h.get("suggests"),
                "credentials": ", ".join(map(str, h.get("credentials") or ())),
            }
            for h in survey.get("hosts") or ()
        ],
    }


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

"""Journal events of a survey -> which hosts the app used, and what each did with the proxy CA.

Pure, like results.py: `mitm-pincheck survey` builds its page, its table and the draft scenario
from this dict, and the same journal rebuilds it. A survey has no expectations, so it gives no
verdicts: per host an outcome and what that outcome suggests to test next.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from mitm_pincheck.errors import InputError
from mitm_pincheck.verdicts.outcome import (
    ACCEPTED,
    IDLE,
    NOT_SEEN,
    REJECTED_AFTER_HANDSHAKE,
    REJECTED_IN_HANDSHAKE,
    aggregate,
    classify,
    fold_connections,
)

SCHEMA = 1
PASSED = "passed-through"  # a passive survey's outcome: nothing of ours was shown

SUGGESTS = {
    ACCEPTED: "accepted the proxy CA: not pinned, and the app trusts the CA",
    REJECTED_IN_HANDSHAKE: (
        "refused in the handshake: pinned, or the CA is not trusted: add `keys` and run "
        "`pinned-key`"
    ),
    REJECTED_AFTER_HANDSHAKE: (
        "refused after the handshake: pinned (an app-level check such as OkHttp's "
        "CertificatePinner), or a client that checks late does not trust the CA: add `keys` "
        "and run `pinned-key`"
    ),
    IDLE: "completed the handshake but sent nothing: use the feature that talks to it, longer",
    NOT_SEEN: "no TLS handshake with the proxy's certificate: nothing to tell yet",
    PASSED: "passed through untouched (--passive): survey without --passive to test it",
}


def build_survey(events: Iterable[dict]) -> dict:
    """The survey dict (see docs/internals.md) from a survey run's journal events."""
    control: list[dict] = []
    span: list[float] = []

    def scan():
        for e in events:
            if not isinstance(e, dict):
                continue
            ts = e.get("ts")
            if isinstance(ts, int | float) and not isinstance(ts, bool):
                span.append(float(ts))
            if "id" not in e:
                control.append(e)
            yield e

    conns = fold_connections(scan())
    run_start = next((e for e in control if e.get("event") == "run-start"), None)
    if run_start is None:
        raise InputError("the journal has no run-start event: it is not a mitm-pincheck journal")
    scenario = run_start.get("scenario") or {}
    passive = scenario.get("survey") == "passive"
    run_end = next((e for e in reversed(control) if e.get("event") == "run-end"), None)

    by_host: dict[str, list] = {}
    for c in conns:
        if c.host:
            by_host.setdefault(c.host, []).append(c)
    hosts = []
    for host in sorted(by_host):
        classified = [classify(c) for c in by_host[host]]
        counted = [o for o in classified if o.counted]
        outcome = aggregate(counted)
        detail = next((o.detail for o in counted if o.outcome == outcome), None)
        if passive:
            outcome, detail = PASSED, None
        requests = [r for c in by_host[host] for r in c.requests]
        hosts.append(
            {
                "host": host,
                "connections": len(by_host[host]),
                "outcome": outcome,
                "detail": detail,
                "suggests": SUGGESTS[outcome],
                "alerts": list(dict.fromkeys(a for c in by_host[host] for a in c.alerts)),
                "credentials": list(
                    dict.fromkeys(cred for r in requests for cred in r.credentials)
                ),
            }
        )
    counts: dict[str, int] = {}
    for h in hosts:
        counts[h["outcome"]] = counts.get(h["outcome"], 0) + 1
    return {
        "schema": SCHEMA,
        "kind": "survey",
        "passive": passive,
        "tool": run_start.get("tool") or {},
        "started": _iso(min(span) if span else None),
        "finished": _iso(max(span) if span else None),
        "interrupted": run_end is None or bool(run_end.get("interrupted")),
        "summary": {"hosts": len(hosts), "outcomes": counts},
        "exit_code": 0 if hosts else 3,
        "hosts": hosts,
    }


def is_survey(run_start: Mapping) -> bool:
    return bool((run_start.get("scenario") or {}).get("survey"))


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")

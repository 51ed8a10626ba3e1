"""Hand-built report dicts (docs/internals.md schema) for the report writers' tests."""

from __future__ import annotations

import copy

PHASES = ["valid-ca", "self-signed", "wrong-key"]
HOSTILE_HOST = "<script>document.body.setAttribute('data-pwned','1')</script>.evil.test"


def row(host, phase, expected, outcome, verdict, reason, connections=1, **evidence) -> dict:
    ev = {
        "pattern": evidence.pop("pattern", host),
        "pinned": evidence.pop("pinned", True),
        "outcomes": evidence.pop("outcomes", {outcome: connections} if connections else {}),
        "alerts": evidence.pop("alerts", []),
        "requests": evidence.pop("requests", []),
        "credentials": evidence.pop("credentials", []),
        "notes": evidence.pop("notes", []),
        "resumed": evidence.pop("resumed", 0),
        "stalled": evidence.pop("stalled", 0),
    }
    assert not evidence, evidence
    return {
        "host": host,
        "phase": phase,
        "expected": expected,
        "outcome": outcome,
        "verdict": verdict,
        "reason": reason,
        "connections": connections,
        "evidence": ev,
    }


def finish(report: dict) -> dict:
    """Fill summary and exit_code from the rows, as results.py does."""
    verdicts = [r["verdict"] for r in report["results"]]
    summary = {"total": len(verdicts)}
    for v in ("pass", "fail", "inconclusive"):
        summary[v] = verdicts.count(v)
    exit_code = 1 if summary["fail"] else 3 if summary["inconclusive"] else 0
    rest = {k: v for k, v in report.items() if k not in ("summary", "exit_code")}
    report.clear()
    for key, value in rest.items():  # the schema's order: summary and exit_code before results
        if key == "results":
            report.update(summary=summary, exit_code=exit_code)
        report[key] = value
    return report


def _report(name, app, hosts, results, hints=()) -> dict:
    return finish(
        {
            "schema": 2,
            "tool": {"name": "mitm-pincheck", "version": "0.1.0", "mitmproxy": "11.0.2"},
            "scenario": {
                "name": name,
                "file": "scenarios/shop.yaml",
                "app": app,
                "hosts": hosts,
                "phases": list(PHASES),
            },
            "started": "2026-11-26T20:00:00+00:00",
            "finished": "2026-11-26T20:01:00+00:00",
            "duration": 60.0,
            "interrupted": False,
            "ca_trust": {
                "sources": ["control"],
                "pinned_key": [],
                "control": ["static.cdn.example.com"],
                "device_store": None,
                "declared": False,
            },
            "results": results,
            "hints": list(hints),
        }
    )


def sample_report() -> dict:
    """Four scenario entries, one of them `*.cdn.example.com` seen as two hosts; every verdict,
    a leak with credentials, alerts, notes, an expected-accept failure, hints."""
    hosts = [
        {"host": "api.example.com", "pinned": True, "expect": {}},
        {"host": "auth.example.com", "pinned": True, "expect": {}},
        {"host": "*.cdn.example.com", "pinned": False, "expect": {}},
        {"host": "metrics.thirdparty.net", "pinned": False, "expect": {}},
    ]
    leak = [
        {
            "method": "GET",
            "host": "api.example.com",
            "path": "/v1/me",
            "header_names": ["authorization", "cookie", "host"],
            "credentials": ["authorization", "cookie"],
            "has_query": False,
        },
        {
            "method": "POST",
            "host": "api.example.com",
            "path": "/v1/cart",
            "header_names": ["authorization", "content-type", "host"],
            "credentials": ["authorization"],
            "has_query": True,
        },
    ]
    cdn = {"pattern": "*.cdn.example.com", "pinned": False}
    R = row
    results = [
        R(
            "api.example.com",
            "valid-ca",
            "reject",
            "accepted",
            "fail",
            "Accepted a certificate from the proxy CA and sent 2 requests: not pinned.",
            2,
            requests=leak,
            credentials=["authorization", "cookie"],
        ),
        R(
            "auth.example.com",
            "valid-ca",
            "reject",
            "rejected-after-handshake",
            "pass",
            "Closed the connection after the handshake, before sending data: pinned.",
            1,
            alerts=["certificate_unknown"],
        ),
        R(
            "img.cdn.example.com",
            "valid-ca",
            "accept",
            "accepted",
            "pass",
            "Accepted a certificate from the trusted proxy CA, as an unpinned host should.",
            3,
            requests=[
                {
                    "method": "GET",
                    "host": "img.cdn.example.com",
                    "path": "/a.png",
                    "header_names": ["host"],
                    "credentials": [],
                    "has_query": False,
                }
            ],
            **cdn,
        ),
        R(
            "static.cdn.example.com",
            "valid-ca",
            "accept",
            "not-seen",
            "inconclusive",
            "No connection to this host in this phase.",
            0,
            **cdn,
        ),
        R(
            "metrics.thirdparty.net",
            "valid-ca",
            "accept",
            "rejected-in-handshake",
            "fail",
            "Rejected a certificate from the trusted proxy CA: is this host pinned after all?",
            1,
            pinned=False,
            alerts=["unknown_ca"],
        ),
        R(
            "api.example.com",
            "self-signed",
            "reject",
            "rejected-in-handshake",
            "pass",
            "Rejected the self-signed certificate in the handshake (unknown_ca).",
            1,
            alerts=["unknown_ca"],
        ),
        R(
            "auth.example.com",
            "self-signed",
            "reject",
            "rejected-in-handshake",
            "pass",
            "Rejected the self-signed certificate in the handshake (closed without alert).",
            1,
            resumed=1,
        ),
        R(
            "img.cdn.example.com",
            "self-signed",
            "reject",
            "accepted",
            "fail",
            "Accepted a self-signed certificate: certificate validation is off.",
            1,
            requests=[
                {
                    "method": "GET",
                    "host": "img.cdn.example.com",
                    "path": "/b.png",
                    "header_names": ["cookie", "host"],
                    "credentials": ["cookie"],
                    "has_query": False,
                }
            ],
            credentials=["cookie"],
            **cdn,
        ),
        R(
            "static.cdn.example.com",
            "self-signed",
            "reject",
            "rejected-in-handshake",
            "pass",
            "Rejected the self-signed certificate in the handshake (bad_certificate).",
            1,
            alerts=["bad_certificate"],
            **cdn,
        ),
        R(
            "metrics.thirdparty.net",
            "self-signed",
            "reject",
            "rejected-in-handshake",
            "pass",
            "Rejected the self-signed certificate in the handshake (unknown_ca).",
            1,
            pinned=False,
            alerts=["unknown_ca"],
        ),
        R(
            "api.example.com",
            "wrong-key",
            "reject",
            "rejected-in-handshake",
            "pass",
            "Rejected the certificate with a replaced key (bad_certificate).",
            1,
            alerts=["bad_certificate"],
            notes=["upstream chain unavailable: forged from CA"],
        ),
        R(
            "auth.example.com",
            "wrong-key",
            "reject",
            "not-seen",
            "inconclusive",
            "No connection to this host in this phase.",
            0,
        ),
        R(
            "img.cdn.example.com",
            "wrong-key",
            "reject",
            "idle",
            "inconclusive",
            "The handshake completed but the app sent nothing before the phase ended.",
            1,
            stalled=1,
            **cdn,
        ),
        R(
            "static.cdn.example.com",
            "wrong-key",
            "reject",
            "rejected-in-handshake",
            "pass",
            "Rejected the certificate with a replaced key (decrypt_error).",
            1,
            alerts=["decrypt_error"],
            **cdn,
        ),
        R(
            "metrics.thirdparty.net",
            "wrong-key",
            "reject",
            "rejected-in-handshake",
            "pass",
            "Rejected the certificate with a replaced key (bad_certificate).",
            1,
            pinned=False,
            alerts=["bad_certificate"],
        ),
    ]
    hints = [
        "auth.example.com was not seen in wrong-key: make the trigger exercise the login screen.",
        "metrics.thirdparty.net rejected the trusted CA: mark it `pinned: true` if it pins.",
    ]
    return _report("shop-app release gate", "com.example.shop", hosts, results, hints)


def big_report(n_hosts: int = 50) -> dict:
    """`n_hosts` hosts x 3 phases with a deterministic mix of verdicts."""
    hosts = [f"svc{i:02d}.backend.example.com" for i in range(n_hosts)]
    results = []
    for phase in PHASES:
        for i, host in enumerate(hosts):
            if (i + PHASES.index(phase)) % 7 == 0:
                r = row(
                    host,
                    phase,
                    "reject",
                    "accepted",
                    "fail",
                    "Accepted a forged certificate and sent a request: not pinned.",
                    2,
                    credentials=["authorization"],
                    requests=[
                        {
                            "method": "GET",
                            "host": host,
                            "path": "/v2/items",
                            "header_names": ["authorization", "host"],
                            "credentials": ["authorization"],
                            "has_query": False,
                        }
                    ],
                )
            elif i % 11 == 5:
                r = row(
                    host,
                    phase,
                    "reject",
                    "not-seen",
                    "inconclusive",
                    "No connection to this host in this phase.",
                    0,
                )
            else:
                r = row(
                    host,
                    phase,
                    "reject",
                    "rejected-in-handshake",
                    "pass",
                    "Rejected the certificate in the handshake (unknown_ca).",
                    1,
                    alerts=["unknown_ca"],
                )
            results.append(r)
    entries = [{"host": h, "pinned": True, "expect": {}} for h in hosts]
    return _report("big fleet", "com.example.fleet", entries, results, ["A hint."])


def hostile_report() -> dict:
    """Values that would break out of HTML, Markdown, XML or a terminal if not escaped."""
    report = sample_report()
    report = copy.deepcopy(report)
    report["scenario"]["name"] = "<b>bold</b> | `tick` [x](y)"
    report["scenario"]["hosts"].append({"host": HOSTILE_HOST, "pinned": True, "expect": {}})
    bad = row(
        HOSTILE_HOST,
        "valid-ca",
        "reject",
        "accepted",
        "fail",
        "reason with </td></tr><img src=x onerror=alert(1)> | pipe and \x1b[31mescape\x07",
        1,
        alerts=["<i>alert</i>"],
        credentials=["x-api-key"],
        requests=[
            {
                "method": "GET",
                "host": HOSTILE_HOST,
                "path": '/"><svg onload=alert(1)>',
                "header_names": ["x-api-key"],
                "credentials": ["x-api-key"],
                "has_query": False,
            }
        ],
        notes=["note & <u>u</u>"],
    )
    report["results"].insert(5, bad)
    report["hints"].append("<script>alert('hint')</script>")
    return finish(report)

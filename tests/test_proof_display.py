"""report/proof.py and the writers: the proof of CA trust and the backup-key columns, the same
in every format."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mitm_pincheck.report import proof
from mitm_pincheck.report.html import render_html
from mitm_pincheck.report.junit import render_junit
from mitm_pincheck.report.markdown import render_markdown
from mitm_pincheck.report.table import render_table

API, CDN = "api.example.com", "cdn.example.com"


def row(host, phase, verdict, proof_=None, key=None, outcome="rejected-in-handshake"):
    r = {
        "host": host,
        "phase": phase,
        "expected": "reject" if phase == "valid-ca" else "accept",
        "outcome": outcome,
        "verdict": verdict,
        "reason": f"{host} {phase} {verdict}.",
        "connections": 1,
        "evidence": {"pattern": host, "pinned": host == API, "proof": proof_},
    }
    if key:
        r["key"] = key
    return r


PK = {"source": "pinned-key", "host": API}
REPORT = {
    "schema": 2,
    "scenario": {"name": "s", "phases": ["valid-ca", "pinned-key", "backup-key", "backup-key"]},
    "summary": {"total": 5, "pass": 4, "fail": 1, "inconclusive": 0, "n/a": 2},
    "exit_code": 1,
    "ca_trust": {"sources": ["pinned-key", "control"]},
    "results": [
        row(API, "valid-ca", "pass", PK),
        row(CDN, "valid-ca", "pass", {"source": "control", "host": CDN}, outcome="accepted"),
        row(API, "pinned-key", "pass", PK, outcome="accepted"),
        row(CDN, "pinned-key", "n/a", outcome="n/a"),
        row(API, "backup-key", "pass", PK, key="k/b1.pem", outcome="accepted"),
        row(CDN, "backup-key", "n/a", outcome="n/a"),
        row(API, "backup-key", "fail", PK, key="k/b2.pem"),
    ],
}


def test_columns_give_each_backup_key_its_own_and_spread_na_rows_over_them():
    columns, cells = proof.grid(REPORT["results"])
    assert columns == ["valid-ca", "pinned-key", "backup-key k/b1.pem", "backup-key k/b2.pem"]
    assert cells[(CDN, "backup-key k/b2.pem")]["verdict"] == "n/a"
    assert cells[(API, "backup-key k/b2.pem")]["verdict"] == "fail"


def test_proof_labels_and_the_per_host_line():
    assert proof.proof_label(None) == "none"
    assert proof.proof_label({"source": "control", "host": CDN}, API) == f"control ({CDN})"
    assert proof.proof_label({"source": "control", "host": CDN}, CDN) == "control (itself)"
    assert proof.proof_label({"source": "declared"}) == "declared (scenario's word)"
    assert proof.trust_line(REPORT) == (
        f"CA trust proof: {API} pinned-key · {CDN} control (itself)"
    )


def test_the_terminal_table_shows_the_proof_and_keeps_na_out_of_the_counts():
    text = render_table(REPORT)
    assert "backup-key k/b2.pem" in text.splitlines()[0]
    assert "4 pass, 1 fail, 0 inconclusive (2 n/a, not counted)" in text
    assert f"CA trust proof: {API} pinned-key" in text
    assert f"FAIL {API} (backup-key k/b2.pem)" in text
    assert "n/a" not in "".join(line for line in text.splitlines() if line.startswith("??"))


def test_markdown_html_and_junit_carry_the_proof():
    assert f"CA trust proof: {API} pinned-key" in render_markdown(REPORT)
    html = render_html(REPORT)
    assert "<dt>CA trust proof</dt><dd>pinned-key, control</dd>" in html
    assert "accepted the proxy CA&#39;s certificate with its pinned key" in html
    suites = ET.fromstring(render_junit(REPORT).split("?>", 1)[1])
    cases = suites.findall(".//testcase")
    assert len(cases) == 5  # n/a rows are no tests
    props = {
        c.get("name"): c.find("properties/property").get("value")
        for c in cases
        if c.find("properties") is not None
    }
    assert props[f"{API} k/b2.pem: expected accept"] == "pinned-key"
    assert props[f"{CDN}: expected reject"] == "control (itself)"
    suite_props = {p.get("name"): p.get("value") for p in suites.find("testsuite/properties")}
    assert suite_props["ca_trust"] == "pinned-key, control"

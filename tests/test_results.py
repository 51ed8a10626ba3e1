"""results.py: journal events -> report dict, exactly the report.json shape of docs/internals.md."""

from __future__ import annotations

import json

import pytest

from mitm_pincheck.errors import InputError
from mitm_pincheck.verdicts.results import build_report, exit_code_for

TOP_KEYS = {
    "schema",
    "tool",
    "scenario",
    "started",
    "finished",
    "duration",
    "interrupted",
    "ca_trust",
    "summary",
    "exit_code",
    "results",
    "hints",
    "clients",
}
RESULT_KEYS = {
    "host",
    "phase",
    "expected",
    "outcome",
    "verdict",
    "reason",
    "connections",
    "evidence",
}
EVIDENCE_KEYS = {
    "pattern",
    "pinned",
    "outcomes",
    "alerts",
    "requests",
    "credentials",
    "notes",
    "resumed",
    "stalled",
    "proof",
}
REQUEST_KEYS = {"method", "host", "path", "header_names", "credentials", "has_query"}

API = "api.example.com"
CDN = "cdn.example.com"
T0 = 1_795_000_000.0  # 2026-11-18T...


class Journal:
    """Writes journal events the way the runner and addon do, with a clock."""

    def __init__(
        self, hosts, phases=("valid-ca", "self-signed", "wrong-key"), t0=T0, ca_trust=None
    ):
        self.events: list[dict] = []
        self.t = t0
        self.n = 0
        self.phases = list(phases)
        self.phase: str | None = None
        self.index = -1
        self.add(
            "run-start",
            tool={"name": "mitm-pincheck", "version": "0.1.0", "mitmproxy": "11.0.2"},
            scenario={
                "name": "demo",
                "file": "scenario.yaml",
                "app": "com.example.app",
                "hosts": [
                    h
                    if isinstance(h, dict)
                    else {"host": h[0], "pinned": h[1], "expect": h[2] if len(h) == 3 else {}}
                    for h in hosts
                ],
                "phases": list(phases),
                "ca_trust": ca_trust,
                "settle": 5,
                "timeout": 60,
            },
            listen="127.0.0.1:8080",
            ca={"fingerprint_sha256": "ab" * 32},
        )

    def add(self, name, **fields):
        self.t += 1.0
        self.events.append({"ts": self.t, "event": name, **fields})

    def start(self, phase=None):
        self.index += 1
        self.phase = phase or self.phases[self.index]
        self.add("phase-start", phase=self.phase, index=self.index)

    def end(self, reason="settle"):
        self.add("phase-end", phase=self.phase, index=self.index, reason=reason)

    def finish(self, interrupted=False):
        self.add("run-end", interrupted=interrupted)

    def conn(self, host, pattern=None, notes=()):
        self.n += 1
        cid = f"c{self.n}"
        self.add(
            "conn",
            id=cid,
            phase=self.phase,
            kind=self.phase,
            host=host,
            pattern=pattern or host,
            notes=list(notes),
        )
        return cid

    def accepted(self, host, path="/v1/me", credentials=("authorization",), pattern=None, **kw):
        cid = self.conn(host, pattern)
        self.add("handshake", id=cid, resumed=False, tls_version="TLSv1.3", alpn="h2")
        self.request(cid, host, path, credentials, **kw)
        return cid

    def request(self, cid, host, path="/v1/me", credentials=("authorization",), **kw):
        self.add(
            "request",
            id=cid,
            method="GET",
            host=host,
            path=path,
            header_names=sorted({"host", *credentials}),
            credentials=list(credentials),
            has_query=False,
            **kw,
        )

    def rejected_after(self, host, alert="close_notify", pattern=None, notes=()):
        cid = self.conn(host, pattern, notes)
        self.add("handshake", id=cid, resumed=False, tls_version="TLSv1.3", alpn="h2")
        if alert:
            self.add("alert", id=cid, alert=alert, after_handshake=True)
        self.add("closed", id=cid, by="client")
        return cid

    def rejected_in(self, host, alert="unknown_ca", pattern=None, notes=()):
        cid = self.conn(host, pattern, notes)
        self.add("handshake-failed", id=cid, alert=alert, error="client rejected")
        self.add("closed", id=cid, by="client")
        return cid

    def idle(self, host):
        cid = self.conn(host)
        self.add("handshake", id=cid, resumed=False, tls_version="TLSv1.3", alpn=None)
        self.add("closed", id=cid, by="proxy")
        return cid

    def resumed(self, host):
        cid = self.conn(host)
        self.add("handshake", id=cid, resumed=True, tls_version="TLSv1.3", alpn="h2")
        self.request(cid, host)
        return cid

    def stalled(self, host):
        return self.conn(host)

    def report(self):
        return build_report(self.events)


def row(report, host, phase):
    (r,) = [r for r in report["results"] if r["host"] == host and r["phase"] == phase]
    return r


def control(host: str) -> dict:
    """A host of the same app that it does not pin, marked `control: true`."""
    return {"host": host, "pinned": False, "expect": {}, "control": True}


def okhttp_pinned_run() -> Journal:
    """A pinned API host (OkHttp CertificatePinner) and an unpinned CDN control."""
    j = Journal([(API, True), control(CDN)])
    j.start()
    j.rejected_after(API)
    j.accepted(CDN)
    j.end()
    j.start()
    j.rejected_in(API)
    j.rejected_in(CDN)
    j.end()
    j.start()
    j.rejected_in(API, alert="bad_certificate")
    j.rejected_in(CDN, alert="certificate_unknown")
    j.end()
    j.finish()
    return j


# --- shape ----------------------------------------------------------------------------------------


def test_report_has_exactly_the_schema_keys():
    report = okhttp_pinned_run().report()
    assert set(report) == TOP_KEYS
    assert report["schema"] == 2
    assert set(report["tool"]) == {"name", "version", "mitmproxy"}
    assert set(report["scenario"]) == {"name", "file", "app", "hosts", "phases", "ca_trust"}
    assert set(report["summary"]) == {"total", "pass", "fail", "inconclusive", "n/a"}
    assert set(report["ca_trust"]) == {
        "sources",
        "pinned_key",
        "control",
        "device_store",
        "declared",
    }
    for r in report["results"]:
        assert set(r) == RESULT_KEYS
        assert set(r["evidence"]) == EVIDENCE_KEYS
        for req in r["evidence"]["requests"]:
            assert set(req) == REQUEST_KEYS
    json.dumps(report)  # serialisable as it stands


def test_scenario_and_tool_come_from_run_start():
    report = okhttp_pinned_run().report()
    assert report["tool"] == {"name": "mitm-pincheck", "version": "0.1.0", "mitmproxy": "11.0.2"}
    assert report["scenario"] == {
        "name": "demo",
        "file": "scenario.yaml",
        "app": "com.example.app",
        "hosts": [
            {"host": API, "pinned": True, "expect": {}, "control": False, "keys": None},
            {"host": CDN, "pinned": False, "expect": {}, "control": True, "keys": None},
        ],
        "phases": ["valid-ca", "self-signed", "wrong-key"],
        "ca_trust": None,
    }


def test_times_are_iso_utc_from_first_and_last_event():
    j = okhttp_pinned_run()
    report = j.report()
    first, last = j.events[0]["ts"], j.events[-1]["ts"]
    assert report["started"].endswith("+00:00")
    assert report["started"].startswith("2026-")
    assert report["duration"] == pytest.approx(last - first)
    from datetime import datetime

    assert datetime.fromisoformat(report["finished"]).timestamp() == pytest.approx(last, abs=1)


def test_results_are_ordered_by_phase_then_scenario_host():
    report = okhttp_pinned_run().report()
    assert [(r["phase"], r["host"]) for r in report["results"]] == [
        ("valid-ca", API),
        ("valid-ca", CDN),
        ("self-signed", API),
        ("self-signed", CDN),
        ("wrong-key", API),
        ("wrong-key", CDN),
    ]


def test_build_report_takes_any_iterable_and_ignores_unknown_events():
    j = okhttp_pinned_run()
    noisy = [*j.events[:3], {"ts": T0 + 2.5, "event": "from-the-future", "id": "c1"}, *j.events[3:]]
    assert build_report(iter(noisy)) == j.report()


def test_a_journal_without_run_start_is_an_input_error():
    with pytest.raises(InputError, match="run-start"):
        build_report([{"ts": T0, "event": "phase-start", "phase": "valid-ca", "index": 0}])


# --- verdicts end to end ------------------------------------------------------------------------


def test_okhttp_pinned_app_passes_every_phase():
    report = okhttp_pinned_run().report()
    assert report["ca_trust"]["sources"] == ["control"]
    assert report["ca_trust"]["control"] == [CDN]
    assert [r["verdict"] for r in report["results"]] == ["pass"] * 6
    assert report["summary"] == {"total": 6, "pass": 6, "fail": 0, "inconclusive": 0, "n/a": 0}
    assert report["exit_code"] == 0
    assert report["interrupted"] is False
    assert report["hints"] == []
    api = row(report, API, "valid-ca")
    assert api["expected"] == "reject"
    assert api["outcome"] == "rejected-after-handshake"
    assert api["connections"] == 1
    assert api["evidence"]["alerts"] == ["close_notify"]


def test_credentials_leaked_to_a_pinned_host_fail_with_evidence():
    j = Journal([(API, True)], phases=["valid-ca"])
    j.start()
    j.accepted(API, path="/v1/profile", credentials=("authorization", "cookie"))
    j.end()
    j.finish()
    report = j.report()
    r = row(report, API, "valid-ca")
    assert r["verdict"] == "fail"
    assert r["outcome"] == "accepted"
    assert r["reason"] == (
        "The app accepted a certificate from the proxy CA for api.example.com and sent "
        "GET /v1/profile with Authorization and Cookie: pinning is not enforced."
    )
    assert r["evidence"]["credentials"] == ["authorization", "cookie"]
    assert r["evidence"]["requests"] == [
        {
            "method": "GET",
            "host": API,
            "path": "/v1/profile",
            "header_names": ["authorization", "cookie", "host"],
            "credentials": ["authorization", "cookie"],
            "has_query": False,
        }
    ]
    assert report["exit_code"] == 1


def test_android_style_in_handshake_pin_failure_without_a_control_is_inconclusive():
    j = Journal([(API, True)], phases=["valid-ca"])
    j.start()
    j.rejected_in(API, alert="certificate_unknown")
    j.end()
    j.finish()
    report = j.report()
    r = row(report, API, "valid-ca")
    assert report["ca_trust"]["sources"] == []
    assert r["verdict"] == "inconclusive"
    assert r["evidence"]["proof"] is None
    assert "nothing in this run proves that it trusts the proxy CA" in r["reason"]
    assert report["exit_code"] == 3
    (hint,) = [h for h in report["hints"] if "proof" in h]
    for way in ("keys.current", "control: true", "run --android", "ca_trust: system"):
        assert way in hint


def test_in_handshake_pin_failure_passes_when_a_control_host_proved_ca_trust():
    j = Journal([(API, True), control(CDN)], phases=["valid-ca"])
    j.start()
    j.rejected_in(API, alert="certificate_unknown")
    j.accepted(CDN)
    j.end()
    j.finish()
    report = j.report()
    r = row(report, API, "valid-ca")
    assert r["verdict"] == "pass"
    assert r["evidence"]["proof"] == {"source": "control", "host": CDN}
    assert f"control host {CDN}" in r["reason"]
    assert not any("proof" in h for h in report["hints"])


@pytest.mark.parametrize("refusal", ["rejected_in", "rejected_after"])
def test_a_host_that_is_no_control_proves_nothing_for_another_host(refusal):
    # The browser (or a trust-all debug app) accepts the user-store CA; the app does not.
    j = Journal([(API, True), (CDN, False)], phases=["valid-ca"])
    j.start()
    getattr(j, refusal)(API)
    j.accepted(CDN)
    j.end()
    j.finish()
    report = j.report()
    assert row(report, API, "valid-ca")["verdict"] == "inconclusive"
    assert row(report, API, "valid-ca")["evidence"]["proof"] is None
    assert report["ca_trust"]["sources"] == []
    assert report["exit_code"] == 3


def test_a_completed_handshake_on_another_host_proves_nothing():
    # Was: any handshake under valid-ca proved trust for the whole run. On TLS 1.2 Node
    # completes the handshake and then refuses an untrusted CA: nothing may pass here.
    other = "auth.example.com"
    j = Journal([(API, True), (other, True)], phases=["valid-ca"])
    j.start()
    j.rejected_in(API)
    j.rejected_after(other)
    j.end()
    j.finish()
    report = j.report()
    assert [r["verdict"] for r in report["results"]] == ["inconclusive", "inconclusive"]
    assert report["exit_code"] == 3


def test_a_resumed_handshake_under_valid_ca_does_not_prove_ca_trust():
    j = Journal([(API, True), control(CDN)], phases=["valid-ca"])
    j.start()
    j.rejected_in(API)
    j.resumed(CDN)
    j.end()
    j.finish()
    report = j.report()
    assert report["ca_trust"]["sources"] == []
    assert row(report, API, "valid-ca")["verdict"] == "inconclusive"


def test_a_control_that_only_completes_a_handshake_proves_nothing():
    j = Journal([(API, True), control(CDN)], phases=["valid-ca"])
    j.start()
    j.rejected_in(API)
    j.rejected_after(CDN)
    j.end()
    j.finish()
    assert row(j.report(), API, "valid-ca")["verdict"] == "inconclusive"


def test_a_handshake_under_another_kind_does_not_prove_ca_trust():
    j = Journal([(API, True), control(CDN)], phases=["valid-ca", "self-signed"])
    j.start()
    j.rejected_in(API)
    j.end()
    j.start()
    j.accepted(CDN)  # trust-all client: says nothing about the proxy CA
    j.end()
    j.finish()
    report = j.report()
    assert report["ca_trust"]["sources"] == []
    assert row(report, API, "valid-ca")["verdict"] == "inconclusive"
    assert row(report, CDN, "self-signed")["verdict"] == "fail"


def test_proof_in_a_later_phase_still_counts_for_the_whole_run():
    j = Journal([(API, True), control(CDN)], phases=["expired", "valid-ca"])
    j.start()
    j.rejected_in(API, alert="certificate_expired")
    j.rejected_in(CDN, alert="certificate_expired")
    j.end()
    j.start()
    j.rejected_after(API)
    j.accepted(CDN)
    j.end()
    j.finish()
    report = j.report()
    assert [r["verdict"] for r in report["results"]] == ["pass"] * 4


def test_unpinned_host_rejected_in_handshake_without_proof_is_not_a_false_fail():
    j = Journal([(CDN, False)], phases=["valid-ca"])
    j.start()
    j.rejected_in(CDN)
    j.end()
    j.finish()
    assert row(j.report(), CDN, "valid-ca")["verdict"] == "inconclusive"


def test_expect_override_changes_what_is_expected():
    j = Journal([(CDN, False, {"valid-ca": "reject"})], phases=["valid-ca"])
    j.start()
    j.accepted(CDN)
    j.end()
    j.finish()
    r = row(j.report(), CDN, "valid-ca")
    assert (r["expected"], r["verdict"]) == ("reject", "fail")


def test_proxy_closed_idle_connection_is_inconclusive():
    j = Journal([(API, True)], phases=["self-signed"])
    j.start()
    j.idle(API)
    j.end()
    j.finish()
    r = row(j.report(), API, "self-signed")
    assert (r["outcome"], r["verdict"], r["connections"]) == ("idle", "inconclusive", 1)


def test_one_accepted_connection_beats_rejections_in_the_same_phase():
    j = Journal([(API, True)], phases=["valid-ca"])
    j.start()
    j.rejected_after(API)
    j.rejected_in(API)
    j.accepted(API)
    j.end()
    j.finish()
    r = row(j.report(), API, "valid-ca")
    assert r["outcome"] == "accepted"
    assert r["connections"] == 3
    assert r["evidence"]["outcomes"] == {
        "accepted": 1,
        "rejected-after-handshake": 1,
        "rejected-in-handshake": 1,
    }


def test_connections_are_attributed_to_their_phase():
    j = Journal([(API, True)], phases=["valid-ca", "self-signed"])
    j.start()
    j.rejected_after(API)
    j.end()
    j.start()
    j.end()
    j.finish()
    report = j.report()
    assert row(report, API, "valid-ca")["outcome"] == "rejected-after-handshake"
    assert row(report, API, "self-signed")["outcome"] == "not-seen"


def test_a_kind_repeated_in_the_scenario_keeps_each_phase_apart():
    j = Journal([(API, True), (CDN, False)], phases=["valid-ca", "self-signed", "valid-ca"])
    j.start()
    j.accepted(CDN)
    j.end()
    j.start()
    j.end()
    j.start()
    j.accepted(API)
    j.end()
    j.finish()
    outcomes = [(r["phase"], r["host"], r["outcome"]) for r in j.report()["results"]]
    assert outcomes == [
        ("valid-ca", API, "not-seen"),
        ("valid-ca", CDN, "accepted"),
        ("self-signed", API, "not-seen"),
        ("self-signed", CDN, "not-seen"),
        ("valid-ca", API, "accepted"),
        ("valid-ca", CDN, "not-seen"),
    ]


# --- evidence -----------------------------------------------------------------------------------


def test_resumed_and_stalled_connections_are_evidence_but_not_outcomes():
    j = Journal([(API, True)], phases=["valid-ca"])
    j.start()
    j.resumed(API)
    j.stalled(API)
    j.rejected_after(API)
    j.end()
    j.finish()
    report = j.report()
    r = row(report, API, "valid-ca")
    assert r["connections"] == 1
    assert r["outcome"] == "rejected-after-handshake"
    assert r["evidence"]["outcomes"] == {"rejected-after-handshake": 1}
    assert (r["evidence"]["resumed"], r["evidence"]["stalled"]) == (1, 1)
    assert r["evidence"]["requests"] == []  # the resumed connection's request is no evidence
    assert any("1 connection resumed" in h and "not counted" in h for h in report["hints"])


def test_only_resumed_connections_leave_the_host_not_seen():
    j = Journal([(API, True)], phases=["valid-ca"])
    j.start()
    j.resumed(API)
    j.end()
    j.finish()
    r = row(j.report(), API, "valid-ca")
    assert (r["outcome"], r["verdict"], r["connections"]) == ("not-seen", "inconclusive", 0)


def test_requests_are_capped_at_ten_but_credentials_come_from_all():
    j = Journal([(CDN, False)], phases=["valid-ca"])
    j.start()
    cid = j.accepted(CDN, path="/0", credentials=())
    for i in range(1, 15):
        j.request(cid, CDN, path=f"/{i}", credentials=("cookie",) if i == 14 else ())
    j.end()
    j.finish()
    r = row(j.report(), CDN, "valid-ca")
    assert [q["path"] for q in r["evidence"]["requests"]] == [f"/{i}" for i in range(10)]
    assert r["evidence"]["credentials"] == ["cookie"]


def test_alerts_and_notes_are_deduplicated_in_order():
    j = Journal([(API, True)], phases=["wrong-key"])
    j.start()
    j.rejected_in(API, alert="bad_certificate", notes=["no real chain: forged from scratch"])
    j.rejected_in(API, alert="decrypt_error", notes=["no real chain: forged from scratch"])
    j.rejected_in(API, alert="bad_certificate", notes=["second note"])
    j.end()
    j.finish()
    ev = row(j.report(), API, "wrong-key")["evidence"]
    assert ev["alerts"] == ["bad_certificate", "decrypt_error"]
    assert ev["notes"] == ["no real chain: forged from scratch", "second note"]


def test_fields_outside_the_schema_are_never_copied_into_the_report():
    j = Journal([(API, True)], phases=["valid-ca"])
    j.start()
    cid = j.conn(API)
    j.events[-1]["client_ip"] = "10.0.0.7"
    j.add("handshake", id=cid, resumed=False, tls_version="TLSv1.3", alpn="h2", key="SECRETKEY")
    j.request(
        cid,
        API,
        path="/v1/me?token=SECRETQUERY",
        authorization_value="Bearer SECRETVALUE",
        body="SECRETBODY",
    )
    j.end()
    j.finish()
    j.events[0]["scenario"]["hosts"][0]["password"] = "SECRETSCENARIO"
    j.events[0]["scenario"]["trigger"] = "adb shell SECRETTRIGGER"
    dumped = json.dumps(j.report())
    for leaked in (
        "SECRET",
        "authorization_value",
        "client_ip",
        "10.0.0.7",
        "token",
        "body",
        "password",
        "trigger",
    ):
        assert leaked not in dumped
    assert row(j.report(), API, "valid-ca")["evidence"]["requests"][0]["path"] == "/v1/me"


# --- wildcards ----------------------------------------------------------------------------------


def test_wildcard_pattern_expands_to_every_host_seen_through_it_in_any_phase():
    wild = "*.cdn.example.com"
    j = Journal([(API, True), (wild, False), ("z.example.com", False)], ["valid-ca", "self-signed"])
    j.start()
    j.accepted("b.cdn.example.com", pattern=wild)
    j.end()
    j.start()
    j.rejected_in("a.cdn.example.com", pattern=wild)
    j.end()
    j.finish()
    report = j.report()
    assert [(r["phase"], r["host"], r["outcome"]) for r in report["results"]] == [
        ("valid-ca", API, "not-seen"),
        ("valid-ca", "a.cdn.example.com", "not-seen"),
        ("valid-ca", "b.cdn.example.com", "accepted"),
        ("valid-ca", "z.example.com", "not-seen"),
        ("self-signed", API, "not-seen"),
        ("self-signed", "a.cdn.example.com", "rejected-in-handshake"),
        ("self-signed", "b.cdn.example.com", "not-seen"),
        ("self-signed", "z.example.com", "not-seen"),
    ]
    assert all(r["evidence"]["pattern"] == wild for r in report["results"] if "cdn" in r["host"])


def test_wildcard_pattern_never_seen_keeps_one_row_named_after_the_pattern():
    wild = "*.cdn.example.com"
    j = Journal([(wild, False)], phases=["valid-ca"])
    j.start()
    j.end()
    j.finish()
    report = j.report()
    assert [(r["host"], r["outcome"]) for r in report["results"]] == [(wild, "not-seen")]
    assert any(h.startswith("No host matching *.cdn.example.com") for h in report["hints"])


# --- interrupted runs ---------------------------------------------------------------------------


def test_phases_that_never_started_get_not_seen_rows_saying_the_run_was_interrupted():
    j = Journal([(API, True)], phases=["valid-ca", "self-signed", "wrong-key"], ca_trust="system")
    j.start()
    j.rejected_after(API)
    j.end(reason="interrupted")
    j.finish(interrupted=True)
    report = j.report()
    assert report["interrupted"] is True
    assert row(report, API, "valid-ca")["verdict"] == "pass"
    for phase in ("self-signed", "wrong-key"):
        r = row(report, API, phase)
        assert (r["outcome"], r["verdict"], r["connections"]) == ("not-seen", "inconclusive", 0)
        assert r["reason"] == f"The {phase} phase did not run because the run was interrupted."
        assert r["expected"] == "reject"
        assert set(r["evidence"]) == EVIDENCE_KEYS
    assert report["summary"] == {"total": 3, "pass": 1, "fail": 0, "inconclusive": 2, "n/a": 0}
    assert report["exit_code"] == 3


def test_a_journal_without_run_end_counts_as_interrupted():
    j = Journal([(API, True)], phases=["valid-ca"])
    j.start()
    j.rejected_after(API)
    assert j.report()["interrupted"] is True


def test_a_phase_ended_by_interruption_marks_the_run_interrupted():
    j = Journal([(API, True)], phases=["valid-ca"])
    j.start()
    j.rejected_after(API)
    j.end(reason="interrupted")
    j.finish(interrupted=False)
    assert j.report()["interrupted"] is True


def test_a_host_not_seen_in_a_phase_cut_short_says_so():
    j = Journal([(API, True)], phases=["valid-ca"])
    j.start()
    j.end(reason="interrupted")
    j.finish(interrupted=True)
    r = row(j.report(), API, "valid-ca")
    assert r["outcome"] == "not-seen"
    assert "interrupted" in r["reason"]


# --- hints --------------------------------------------------------------------------------------


def test_a_host_never_seen_in_any_phase_that_ran_hints_at_a_proxy_bypass():
    j = Journal([(API, True), (CDN, False)], phases=["valid-ca", "self-signed"])
    j.start()
    j.accepted(CDN)
    j.end()
    j.start()
    j.end()
    j.finish()
    hints = j.report()["hints"]
    assert (
        "api.example.com was never seen: the app may bypass the system proxy "
        "(Flutter/Dart and some SDKs do); try `--mode wireguard`."
    ) in hints
    assert not any(h.startswith(CDN) for h in hints)


def test_no_bypass_hint_for_phases_that_never_ran():
    j = Journal([(API, True)], phases=["valid-ca", "self-signed"], ca_trust="system")
    j.start()
    j.rejected_after(API)
    j.end(reason="interrupted")
    j.finish(interrupted=True)
    assert j.report()["hints"] == []


def test_ca_hint_only_for_in_handshake_rejections_under_kinds_that_need_ca_trust():
    j = Journal([(API, True)], phases=["self-signed"])
    j.start()
    j.rejected_in(API)
    j.end()
    j.finish()
    report = j.report()
    assert report["ca_trust"]["sources"] == []
    assert row(report, API, "self-signed")["evidence"]["proof"] is None
    assert report["hints"] == []
    assert report["exit_code"] == 0


# --- exit codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "summary, code",
    [
        ({"total": 3, "pass": 3, "fail": 0, "inconclusive": 0}, 0),
        ({"total": 3, "pass": 1, "fail": 1, "inconclusive": 1}, 1),
        ({"total": 3, "pass": 2, "fail": 1, "inconclusive": 0}, 1),
        ({"total": 3, "pass": 2, "fail": 0, "inconclusive": 1}, 3),
        ({"total": 0, "pass": 0, "fail": 0, "inconclusive": 0}, 3),
    ],
)
def test_exit_code_for_summary(summary, code):
    assert exit_code_for(summary) == code


def test_report_exit_code_matches_its_summary():
    for j in (okhttp_pinned_run(),):
        report = j.report()
        assert report["exit_code"] == exit_code_for(report["summary"])


def test_a_wildcard_never_matched_says_so_without_a_double_negative():
    j = Journal([("*.cdn.example.com", False)], phases=["valid-ca"])
    j.start()
    j.end()
    j.finish()
    assert any(
        h.startswith("No host matching *.cdn.example.com was seen:") for h in j.report()["hints"]
    )


# --- proof of CA trust, per host ------------------------------------------------------------------

KEY = {"file": "keys/api.pem", "pin": "sha256/AAAA"}
B1 = {"file": "keys/backup-1.pem", "pin": "sha256/BBBB"}
B2 = {"file": "keys/backup-2.pem", "pin": "sha256/CCCC"}


def keyed(host: str, current=KEY, backup=(B1, B2), pinned=True) -> dict:
    return {
        "host": host,
        "pinned": pinned,
        "expect": {},
        "keys": {"current": current, "backup": list(backup), "at": "leaf"},
    }


def test_pinned_key_accepted_proves_trust_for_that_host_and_its_valid_ca_refusal_passes():
    j = Journal([keyed(API)], phases=["valid-ca", "pinned-key"])
    j.start()
    j.rejected_in(API, alert="certificate_unknown")  # Android NSC: pin checked in the handshake
    j.end()
    j.start()
    j.accepted(API)
    j.end()
    j.finish()
    report = j.report()
    r = row(report, API, "valid-ca")
    assert r["verdict"] == "pass"
    assert r["evidence"]["proof"] == {"source": "pinned-key", "host": API}
    assert "accepted the proxy CA's certificate with its pinned key in this run" in r["reason"]
    pk = row(report, API, "pinned-key")
    assert pk["verdict"] == "pass"
    assert pk["evidence"]["key"] == KEY
    assert "key" not in pk  # one current key per host: the phase names the row
    assert report["ca_trust"]["sources"] == ["pinned-key"]
    assert report["ca_trust"]["pinned_key"] == [API]
    assert report["exit_code"] == 0


def test_pinned_key_refused_leaves_valid_ca_inconclusive():
    j = Journal([keyed(API)], phases=["valid-ca", "pinned-key"])
    j.start()
    j.rejected_in(API)
    j.end()
    j.start()
    j.rejected_in(API)
    j.end()
    j.finish()
    report = j.report()
    assert row(report, API, "valid-ca")["verdict"] == "inconclusive"
    pk = row(report, API, "pinned-key")
    assert pk["verdict"] == "inconclusive"
    assert "not the key it pins" in pk["reason"]
    assert report["exit_code"] == 3


def test_pinned_key_proof_is_per_host_even_under_one_wildcard():
    a, b = "a.example.com", "b.example.com"
    j = Journal([keyed("*.example.com")], phases=["valid-ca", "pinned-key"])
    j.start()
    j.rejected_in(a, pattern="*.example.com")
    j.rejected_in(b, pattern="*.example.com")
    j.end()
    j.start()
    j.accepted(a, pattern="*.example.com")
    j.rejected_in(b, pattern="*.example.com")
    j.end()
    j.finish()
    report = j.report()
    assert row(report, a, "valid-ca")["verdict"] == "pass"
    assert row(report, b, "valid-ca")["verdict"] == "inconclusive"


def backup_run(first: str, second: str) -> dict:
    j = Journal([keyed(API)], phases=["valid-ca", "pinned-key", "backup-key", "backup-key"])
    j.start()
    j.rejected_after(API)
    j.end()
    j.start()
    j.accepted(API)
    j.end()
    for outcome in (first, second):
        j.start()
        getattr(j, outcome)(API)
        j.end()
    j.finish()
    return j.report()


def test_each_backup_key_gets_its_own_row_named_by_its_file():
    report = backup_run("accepted", "rejected_in")
    rows = [r for r in report["results"] if r["phase"] == "backup-key"]
    assert [(r["key"], r["verdict"]) for r in rows] == [
        ("keys/backup-1.pem", "pass"),
        ("keys/backup-2.pem", "fail"),
    ]
    fail = rows[1]
    assert "rotating this server to that key would break the app" in fail["reason"]
    assert "backup key keys/backup-2.pem" in fail["reason"]
    assert fail["evidence"]["key"] == B2
    assert fail["evidence"]["proof"]["source"] == "pinned-key"
    assert report["exit_code"] == 1


def test_a_backup_key_refused_after_the_handshake_fails_too():
    report = backup_run("rejected_after", "accepted")
    rows = [r for r in report["results"] if r["phase"] == "backup-key"]
    assert [r["verdict"] for r in rows] == ["fail", "pass"]


def test_a_backup_key_refused_without_any_proof_is_inconclusive():
    j = Journal([keyed(API, backup=(B1,))], phases=["backup-key"])
    j.start()
    j.rejected_in(API)
    j.end()
    j.finish()
    assert row(j.report(), API, "backup-key")["verdict"] == "inconclusive"


def test_hosts_without_keys_get_one_na_row_per_key_kind_that_counts_for_nothing():
    j = Journal(
        [keyed(API, backup=(B1, B2)), control(CDN)],
        phases=["valid-ca", "pinned-key", "backup-key", "backup-key"],
    )
    j.start()
    j.rejected_in(API)
    j.accepted(CDN)
    j.end()
    for _ in range(3):
        j.start()
        j.accepted(API)
        j.end()
    j.finish()
    report = j.report()
    cdn = [r for r in report["results"] if r["host"] == CDN]
    assert [(r["phase"], r["verdict"]) for r in cdn] == [
        ("valid-ca", "pass"),
        ("pinned-key", "n/a"),
        ("backup-key", "n/a"),
    ]
    assert "no keys.current" in cdn[1]["reason"]
    assert report["summary"] == {"total": 5, "pass": 5, "fail": 0, "inconclusive": 0, "n/a": 2}
    assert report["exit_code"] == 0
    assert report["hints"] == []


def test_a_host_with_fewer_backup_keys_has_no_row_in_the_later_rounds():
    other = "auth.example.com"
    j = Journal(
        [keyed(API, backup=(B1, B2)), keyed(other, backup=(B1,))],
        phases=["backup-key", "backup-key"],
        ca_trust="system",
    )
    for _ in range(2):
        j.start()
        j.accepted(API)
        j.accepted(other)
        j.end()
    j.finish()
    rows = [(r["host"], r.get("key")) for r in j.report()["results"]]
    assert rows == [(API, B1["file"]), (other, B1["file"]), (API, B2["file"])]


def test_only_a_host_that_sent_data_under_valid_ca_is_its_own_proof():
    j = Journal([(CDN, False)], phases=["valid-ca", "expired"])
    j.start()
    j.accepted(CDN)
    j.end()
    j.start()
    j.rejected_in(CDN, alert="certificate_expired")
    j.end()
    j.finish()
    r = row(j.report(), CDN, "expired")
    assert r["verdict"] == "pass"
    assert r["evidence"]["proof"] == {"source": "control", "host": CDN}
    assert "itself accepted" in r["reason"]


def ca_store_run(store: str, path: str | None = None, ca_trust=None) -> dict:
    j = Journal([(API, True)], phases=["valid-ca"], ca_trust=ca_trust)
    j.add("ca-store", store=store, path=path, serial="emulator-5554")
    j.start()
    j.rejected_in(API)
    j.end()
    j.finish()
    return j.report()


def test_the_proxy_ca_in_the_device_system_store_is_proof():
    path = "/apex/com.android.conscrypt/cacerts/c8750f0d.0"
    report = ca_store_run("system", path)
    r = row(report, API, "valid-ca")
    assert r["verdict"] == "pass"
    assert r["evidence"]["proof"] == {"source": "device-store", "path": path}
    assert path in r["reason"]
    assert report["ca_trust"]["sources"] == ["device-store"]
    assert report["ca_trust"]["device_store"]["store"] == "system"


@pytest.mark.parametrize("store", ["user", "none", "unknown"])
def test_the_proxy_ca_only_in_the_user_store_is_no_proof_and_a_hint_says_so(store):
    report = ca_store_run(store)
    assert row(report, API, "valid-ca")["verdict"] == "inconclusive"
    assert report["ca_trust"]["sources"] == []
    assert any("no proof that the app trusts it" in h for h in report["hints"])


def test_ca_trust_system_in_the_scenario_is_declared_proof():
    j = Journal([(API, True)], phases=["valid-ca"], ca_trust="system")
    j.start()
    j.rejected_after(API)
    j.end()
    j.finish()
    report = j.report()
    r = row(report, API, "valid-ca")
    assert r["verdict"] == "pass"
    assert r["evidence"]["proof"] == {"source": "declared"}
    assert "its word, not checked" in r["reason"]
    assert report["ca_trust"]["declared"] is True
    assert report["scenario"]["ca_trust"] == "system"


def test_the_strongest_proof_wins():
    j = Journal(
        [keyed(API), (("auth.example.com", True)), control(CDN)],
        phases=["valid-ca", "pinned-key"],
        ca_trust="system",
    )
    j.add("ca-store", store="system", path="/system/etc/security/cacerts/c8750f0d.0")
    j.start()
    j.rejected_in(API)
    j.rejected_in("auth.example.com")
    j.accepted(CDN)
    j.end()
    j.start()
    j.accepted(API)
    j.end()
    j.finish()
    report = j.report()
    assert row(report, API, "valid-ca")["evidence"]["proof"]["source"] == "pinned-key"
    assert row(report, "auth.example.com", "valid-ca")["evidence"]["proof"]["source"] == "control"
    assert report["ca_trust"]["sources"] == ["pinned-key", "control", "device-store", "declared"]
    j2 = Journal([(API, True)], phases=["valid-ca"], ca_trust="system")
    j2.add("ca-store", store="system", path="/x/c8750f0d.0")
    j2.start()
    j2.rejected_in(API)
    j2.end()
    j2.finish()
    assert row(j2.report(), API, "valid-ca")["evidence"]["proof"]["source"] == "device-store"


def test_the_report_never_copies_key_material_from_the_journal():
    host = keyed(API)
    host["keys"]["current"] = {**KEY, "pem": "-----BEGIN PRIVATE KEY-----SECRET"}
    j = Journal([host], phases=["pinned-key"])
    j.start()
    j.accepted(API)
    j.end()
    j.finish()
    assert "SECRET" not in json.dumps(j.report())


def test_rows_of_phase_gives_one_backup_key_round_at_a_time():
    from mitm_pincheck.verdicts.results import rows_of_phase

    j = Journal(
        [keyed(API, backup=(B1, B2)), (CDN, False)],
        phases=["valid-ca", "backup-key", "backup-key"],
        ca_trust="system",
    )
    for _ in range(3):
        j.start()
        j.accepted(API)
        j.end()
    j.finish()
    report = j.report()
    assert [(r["host"], r["verdict"]) for r in rows_of_phase(report, 0)] == [
        (API, "fail"),  # pinned, and it accepted valid-ca
        (CDN, "inconclusive"),
    ]
    assert [(r["host"], r.get("key")) for r in rows_of_phase(report, 1)] == [
        (API, B1["file"]),
        (CDN, None),
    ]
    assert [(r["host"], r.get("key")) for r in rows_of_phase(report, 2)] == [(API, B2["file"])]
    assert rows_of_phase(report, 3) == []


# --- connections closed unused (issue 11, item 10) ------------------------------------------


def test_a_host_that_accepted_yet_closed_connections_unused_gets_no_pass_for_closing():
    j = Journal([(API, True), (CDN, True)], phases=("passthrough", "valid-ca"), ca_trust="system")
    j.start()
    j.rejected_after(API, alert=None)  # pre-connected, never used
    j.accepted(API)
    j.accepted(CDN)
    j.end()
    j.start()
    j.rejected_after(API, alert=None)
    j.rejected_after(CDN, alert=None)
    j.end()
    j.finish()
    report = j.report()
    api, cdn = row(report, API, "valid-ca"), row(report, CDN, "valid-ca")
    assert (api["outcome"], api["verdict"]) == ("rejected-after-handshake", "inconclusive")
    assert "pre-connecting" in api["reason"]
    assert cdn["verdict"] == "pass"  # it never closed a connection unused where it accepted
    assert report["summary"]["inconclusive"] == 1

"""Follow-up phases: a host hidden behind another host's refusal gets its verdict after all.

The real-client test plays an app whose flow stops at the first refusal: it logs in at
pinned.test (pinning its key) and calls api.svc.test only once that succeeded. Without a
follow-up, api.svc.test is `not-seen` in every forged phase; with one it gets its verdict.
"""

from __future__ import annotations

import ssl

import pytest
from conftest import rows
from cryptography import x509

from mitm_pincheck.backend import spki_pin
from mitm_pincheck.errors import ScenarioError
from mitm_pincheck.scenario import parse
from mitm_pincheck.verdicts import followup, results

LOGIN, API = "pinned.test", "api.svc.test"


# ---------------------------------------------------------------- pure: planning


def _events(*conns: tuple[str, str]) -> list[dict]:
    """Journal events of one round: (pattern, what the client did) per connection."""
    out: list[dict] = [{"event": "phase-start", "phase": "valid-ca", "index": 0}]
    for i, (pattern, did) in enumerate(conns):
        cid = f"c{i}"
        out.append(
            {"event": "conn", "id": cid, "phase": "valid-ca", "host": pattern, "pattern": pattern}
        )
        if did == "refused":
            out.append({"event": "handshake-failed", "id": cid, "alert": "unknown_ca"})
        elif did == "refused-after":
            out += [
                {"event": "handshake", "id": cid},
                {"event": "closed", "id": cid, "by": "client"},
            ]
        elif did == "accepted":
            out += [
                {"event": "handshake", "id": cid},
                {"event": "data", "id": cid, "direction": "client"},
            ]
        elif did == "resumed":
            out.append({"event": "handshake", "id": cid, "resumed": True})
    return out


def test_a_refusal_with_unseen_hosts_plans_a_follow_up_that_shows_only_them():
    nxt = followup.plan("valid-ca", ["a", "b", "c"], _events(("a", "refused-after")), None, 3)
    assert nxt == followup.FollowUp(1, ("b", "c"), ("a",))


def test_refusers_accumulate_over_rounds_and_the_limit_stops_them():
    first = followup.FollowUp(1, ("b", "c"), ("a",))
    nxt = followup.plan("valid-ca", first.shown, _events(("b", "refused")), first, 3)
    assert nxt == followup.FollowUp(2, ("c",), ("a", "b"))
    assert followup.plan("valid-ca", first.shown, _events(("b", "refused")), first, 1) is None


@pytest.mark.parametrize(
    "conns",
    [
        (("a", "accepted"),),  # nothing refused: the unseen hosts are not behind a refusal
        (("a", "refused"), ("b", "accepted")),  # everything seen
        (("a", "resumed"),),  # a resumed session is evidence of nothing
        (),  # nothing at all
    ],
)
def test_no_follow_up_without_a_refusal_hiding_something(conns):
    assert followup.plan("valid-ca", ["a", "b"], _events(*conns), None, 3) is None


def test_no_follow_up_for_passthrough_or_with_max_followups_0():
    events = _events(("a", "refused"))
    assert followup.plan("passthrough", ["a", "b"], events, None, 3) is None
    assert followup.plan("valid-ca", ["a", "b"], events, None, 0) is None


def test_only_hosts_shown_in_the_round_count():
    # "a" was passed through in this round: its connection (if any) decides nothing
    prev = followup.FollowUp(1, ("b",), ("a",))
    assert followup.plan("valid-ca", prev.shown, _events(("a", "refused")), prev, 3) is None


def _journal(second_round: tuple) -> list[dict]:
    scenario = {
        "hosts": [{"host": "a", "pinned": True}, {"host": "b", "pinned": False}],
        "phases": ["valid-ca"],
    }
    events = [{"event": "run-start", "ts": 1.0, "scenario": scenario}]
    events += _events(("a", "refused-after"))
    events.append({"event": "phase-end", "phase": "valid-ca", "index": 0, "reason": "settle"})
    start = {"event": "phase-start", "phase": "valid-ca", "index": 0}
    start.update(followup.FollowUp(1, ("b",), ("a",)).event_fields())
    events.append(start)
    events += [
        {**e, "id": "f" + e["id"]} for e in _events(*second_round) if e["event"] != "phase-start"
    ]
    events.append({"event": "phase-end", "phase": "valid-ca", "index": 0, "reason": "settle"})
    events.append({"event": "run-end", "interrupted": False})
    return events


def test_report_rows_say_a_host_was_seen_in_a_follow_up():
    report = results.build_report(_journal((("b", "accepted"),)))
    b = {r["host"]: r for r in report["results"]}["b"]
    assert b["outcome"] == "accepted" and b["phase"] == "valid-ca"
    assert b["reason"].endswith("Seen once a was passed through (follow-up 1 of this phase).")
    assert b["evidence"]["followup"] == {"round": 1, "passed_through": ["a"], "seen": True}
    a = {r["host"]: r for r in report["results"]}["a"]
    assert "followup" not in a["evidence"] and a["outcome"] == "rejected-after-handshake"


def test_report_rows_say_a_host_stayed_unseen_through_follow_ups():
    report = results.build_report(_journal(()))
    b = {r["host"]: r for r in report["results"]}["b"]
    assert b["outcome"] == "not-seen" and b["verdict"] == "inconclusive"
    assert "Not seen either in 1 follow-up with a passed through" in b["reason"]
    assert b["evidence"]["followup"]["seen"] is False


# ---------------------------------------------------------------- scenario keys


def test_isolate_and_max_followups_default_and_read():
    base = "hosts: [{host: a.example, pinned: true}]\n"
    s = parse(base)
    assert (s.isolate, s.max_followups) == (True, 3)
    s = parse(base + "isolate: false\nmax_followups: 0\n")
    assert (s.isolate, s.max_followups) == (False, 0)
    assert s.to_dict()["isolate"] is False


@pytest.mark.parametrize(
    "line, message",
    [
        ("isolate: 'yes'", "expected true or false"),
        ("max_followups: two", "whole number"),
        ("max_followups: 1.5", "whole number"),
        ("max_followups: -1", "between 0 and 20"),
        ("max_followups: 99", "between 0 and 20"),
    ],
)
def test_bad_followup_keys_name_the_line_and_key(line, message):
    with pytest.raises(ScenarioError) as e:
        parse("hosts: [{host: a.example, pinned: true}]\n" + line + "\n", "s.yaml")
    assert f"s.yaml:2: {line.split(':')[0]}:" in str(e.value) and message in str(e.value)


# ---------------------------------------------------------------- a real client


def _app(device_trust, backend):
    """Log in at LOGIN (pinning its real key); call API only if that succeeded."""
    from mitm_pincheck.demo import _tunnel

    calls: list[str] = []

    def get(env, host: str, pin: str | None) -> bool:
        calls.append(host)
        ctx = ssl.create_default_context(cafile=str(device_trust))
        try:
            with ctx.wrap_socket(_tunnel(env["PINCHECK_PROXY"], host), server_hostname=host) as s:
                leaf = x509.load_der_x509_certificate(s.getpeercert(binary_form=True))
                if pin is not None and spki_pin(leaf) != pin:
                    return False  # CertificatePinner: close without a request
                s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                return s.recv(100).startswith(b"HTTP/1.1 200")
        except (ssl.SSLError, OSError):
            return False

    def client(kind, env):
        if get(env, LOGIN, backend.pin):
            get(env, API, None)

    return client, calls


def test_host_behind_a_refusing_host_is_seen_in_a_follow_up(run_scenario, device_trust, backend):
    client, calls = _app(device_trust, backend)
    report = run_scenario(
        client,
        # API is the app's own unpinned endpoint (control): its acceptance of valid-ca is the
        # proof that makes LOGIN's refusal count (issue 10)
        hosts=[{"host": LOGIN, "pinned": True}, {"host": API, "pinned": False, "control": True}],
        phases=["valid-ca", "self-signed"],
    )
    r = rows(report)
    assert r[(LOGIN, "valid-ca")]["outcome"] == "rejected-after-handshake"
    assert r[(LOGIN, "valid-ca")]["evidence"]["proof"] == {"source": "control", "host": API}
    assert r[(LOGIN, "self-signed")]["outcome"] == "rejected-in-handshake"
    api_ca, api_ss = r[(API, "valid-ca")], r[(API, "self-signed")]
    assert api_ca["outcome"] == "accepted" and api_ca["verdict"] == "pass"
    assert api_ss["outcome"] == "rejected-in-handshake" and api_ss["verdict"] == "pass"
    for row in (api_ca, api_ss):
        assert f"Seen once {LOGIN} was passed through" in row["reason"]
        assert row["evidence"]["followup"] == {"round": 1, "passed_through": [LOGIN], "seen": True}
    assert "followup" not in r[(LOGIN, "valid-ca")]["evidence"]
    assert report["exit_code"] == 0
    assert calls == [LOGIN, LOGIN, API, LOGIN, LOGIN, API]  # each phase, then its follow-up


def test_a_follow_up_settles_on_the_app_traffic_it_passes_through(
    run_scenario, device_trust, backend, tmp_path
):
    """A host the app never calls stays unseen in the follow-up too; the follow-up must still end
    once the app went quiet (settle), not wait out the timeout as if the app had not run."""
    import json

    client, calls = _app(device_trust, backend)
    report = run_scenario(
        client,
        hosts=[{"host": LOGIN, "pinned": True}, {"host": "ghost.test", "pinned": True}],
        phases=["self-signed"],
        timeout=30,
    )
    assert rows(report)[("ghost.test", "self-signed")]["outcome"] == "not-seen"
    assert calls == [LOGIN, LOGIN, API]  # refused; then, passed through, the whole flow
    ends = [
        json.loads(line)
        for line in (tmp_path / "out" / "journal.jsonl").read_text().splitlines()
        if '"phase-end"' in line
    ]
    assert [e["reason"] for e in ends] == ["settle", "settle"]


def test_without_isolate_the_hidden_host_stays_not_seen(run_scenario, device_trust, backend):
    client, calls = _app(device_trust, backend)
    report = run_scenario(
        client,
        hosts=[{"host": LOGIN, "pinned": True}, {"host": API, "pinned": False}],
        phases=["valid-ca"],
        isolate=False,
    )
    row = rows(report)[(API, "valid-ca")]
    assert row["outcome"] == "not-seen" and "followup" not in row["evidence"]
    assert calls == [LOGIN]


def test_live_view_announces_the_follow_up_and_shows_its_rows():
    import io

    from mitm_pincheck.proxy.progress import Progress
    from mitm_pincheck.report.live import LiveView

    out = io.StringIO()
    progress = Progress(LiveView(out, False, ["a", "b"], ["valid-ca"]), 5.0)
    for event in _journal((("b", "accepted"),)):
        progress.on_event(event)
    text = out.getvalue()
    assert (
        "follow-up 1 of valid-ca: b not seen while a refused; again with a passed through" in text
    )
    last_phase = text.rsplit("ended", 1)[1]
    assert "Seen once a was passed through" in last_phase


def test_baselines_compare_follow_up_rows_by_their_own_phase():
    from mitm_pincheck.report.baseline import compare

    seen = results.build_report(_journal((("b", "accepted"),)))
    unseen = results.build_report(_journal(()))
    assert compare(unseen, seen)["newly_inconclusive"] == [
        {"host": "b", "phase": "valid-ca", "before": "pass", "after": "inconclusive"}
    ]
    assert all(not v for v in compare(seen, unseen).values())

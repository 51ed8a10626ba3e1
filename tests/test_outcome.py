"""outcome.py: journal events -> connections -> per-connection outcome -> per-host aggregate."""

from __future__ import annotations

import itertools

import pytest

from mitm_pincheck.verdicts import outcome as oc
from mitm_pincheck.verdicts.outcome import (
    ACCEPTED,
    IDLE,
    NOT_SEEN,
    REJECTED_AFTER_HANDSHAKE,
    REJECTED_IN_HANDSHAKE,
    RESUMED,
    STALLED,
    ConnOutcome,
    aggregate,
    classify,
    fold_connections,
)

_ts = itertools.count(1000)


def ev(name: str, **fields) -> dict:
    return {"ts": float(next(_ts)), "event": name, **fields}


def conn(cid="c1", phase="valid-ca", host="api.example.com", **kw) -> dict:
    fields = {"kind": phase, "pattern": host, "notes": [], **kw}
    return ev("conn", id=cid, phase=phase, host=host, **fields)


def hs(cid="c1", resumed=False) -> dict:
    return ev("handshake", id=cid, resumed=resumed, tls_version="TLSv1.3", alpn="h2")


def failed(cid="c1", alert=None) -> dict:
    return ev("handshake-failed", id=cid, alert=alert, error="client disconnected")


def alert(cid="c1", name="close_notify", after=True) -> dict:
    return ev("alert", id=cid, alert=name, after_handshake=after)


def request(cid="c1", method="GET", path="/v1/me", credentials=("authorization",), **kw) -> dict:
    return ev(
        "request",
        id=cid,
        method=method,
        host="api.example.com",
        path=path,
        header_names=sorted({"host", *credentials}),
        credentials=list(credentials),
        has_query=False,
        **kw,
    )


def data(cid="c1", direction="client") -> dict:
    return ev("data", id=cid, direction=direction)


def closed(cid="c1", by="client") -> dict:
    return ev("closed", id=cid, by=by)


def one(*events) -> ConnOutcome:
    conns = fold_connections(events)
    assert len(conns) == 1
    return classify(conns[0])


# --- per-connection outcomes -----------------------------------------------------------------


def test_a_request_over_our_certificate_is_accepted():
    assert one(conn(), hs(), request()) == ConnOutcome(ACCEPTED, "GET /v1/me")


def test_client_application_data_without_http_is_accepted():
    assert one(conn(), hs(), data(direction="client")).outcome == ACCEPTED


def test_passthrough_client_data_is_accepted_without_any_handshake_event():
    assert one(conn(phase="passthrough"), data(), data(direction="server")).outcome == ACCEPTED


def test_server_data_alone_is_not_acceptance():
    got = one(conn(), hs(), data(direction="server"), closed())
    assert got.outcome == REJECTED_AFTER_HANDSHAKE


def test_handshake_failure_is_rejected_in_handshake_with_the_alert_as_detail():
    assert one(conn(), failed(alert="unknown_ca"), closed()) == ConnOutcome(
        REJECTED_IN_HANDSHAKE, "unknown_ca"
    )


def test_handshake_failure_without_alert_says_closed_without_alert():
    assert one(conn(), failed(alert=None), closed()) == ConnOutcome(
        REJECTED_IN_HANDSHAKE, "closed without alert"
    )


def test_handshake_failure_takes_an_in_handshake_alert_event_when_it_names_none():
    got = one(conn(), alert(name="bad_certificate", after=False), failed(alert=None))
    assert got == ConnOutcome(REJECTED_IN_HANDSHAKE, "bad_certificate")


def test_in_handshake_alert_without_handshake_failed_is_still_a_rejection_in_handshake():
    got = one(conn(), alert(name="certificate_unknown", after=False), closed())
    assert got == ConnOutcome(REJECTED_IN_HANDSHAKE, "certificate_unknown")


def test_okhttp_style_close_after_handshake_is_a_rejection():
    got = one(conn(), hs(), alert(name="close_notify"), closed())
    assert got == ConnOutcome(REJECTED_AFTER_HANDSHAKE, "close_notify")


def test_curl_pinnedpubkey_style_close_without_alert_is_a_rejection_after_handshake():
    got = one(conn(), hs(), closed(by="client"))
    assert got == ConnOutcome(REJECTED_AFTER_HANDSHAKE, "closed without alert")


def test_an_alert_after_the_handshake_is_a_rejection_even_before_the_close_arrives():
    assert one(conn(), hs(), alert(name="bad_certificate")).outcome == REJECTED_AFTER_HANDSHAKE


def test_handshake_without_data_still_open_at_phase_end_is_idle():
    assert one(conn(), hs()).outcome == IDLE


def test_proxy_closed_connection_after_a_handshake_without_data_is_idle():
    assert one(conn(), hs(), closed(by="proxy")).outcome == IDLE


@pytest.mark.parametrize("by", ["server", "", None, "something-new"])
def test_a_close_the_client_did_not_make_is_never_a_rejection(by):
    # The upstream went away first and mitmproxy closed the client: no false pass from that.
    assert one(conn(), hs(), closed(by=by)).outcome == IDLE


def test_data_wins_over_a_later_close_notify():
    assert one(conn(), hs(), request(), alert(name="close_notify"), closed()).outcome == ACCEPTED


def test_resumed_session_is_not_an_outcome_even_when_it_sends_requests():
    got = one(conn(), hs(resumed=True), request(), closed())
    assert got.outcome == RESUMED
    assert not got.counted


def test_connection_that_never_reached_a_handshake_is_stalled():
    got = one(conn())
    assert got.outcome == STALLED
    assert not got.counted


def test_connection_closed_by_the_proxy_before_any_handshake_is_stalled():
    assert one(conn(), closed(by="proxy")).outcome == STALLED


def test_connection_closed_by_the_client_before_any_handshake_result_is_stalled():
    # Garbage or a truncated ClientHello: bytes that never met our certificate.
    assert one(conn(), closed(by="client")).outcome == STALLED


def test_counted_is_true_for_every_real_outcome():
    for word in (ACCEPTED, REJECTED_IN_HANDSHAKE, REJECTED_AFTER_HANDSHAKE, IDLE):
        assert ConnOutcome(word, "").counted


# --- folding ----------------------------------------------------------------------------------


def test_events_about_unknown_ids_are_ignored():
    conns = fold_connections([conn("c1"), hs("zz"), request("zz"), closed("zz"), hs("c1")])
    assert [c.id for c in conns] == ["c1"]
    assert classify(conns[0]).outcome == IDLE


def test_events_that_arrive_before_their_conn_are_ignored():
    conns = fold_connections([request("c1"), conn("c1"), hs("c1"), closed("c1")])
    assert classify(conns[0]).outcome == REJECTED_AFTER_HANDSHAKE


def test_unknown_event_types_and_non_dicts_are_ignored():
    events = [conn(), ev("future-thing", id="c1", x=1), "garbage", None, hs(), closed()]
    assert classify(fold_connections(events)[0]).outcome == REJECTED_AFTER_HANDSHAKE


def test_a_repeated_conn_event_keeps_the_first():
    conns = fold_connections([conn("c1", host="a.example"), conn("c1", host="b.example")])
    assert [(c.id, c.host) for c in conns] == [("c1", "a.example")]


def test_connections_come_back_in_the_order_their_conn_arrived():
    events = [conn("b"), conn("a"), hs("a"), conn("c"), hs("b")]
    assert [c.id for c in fold_connections(events)] == ["b", "a", "c"]


def test_interleaved_connections_are_folded_independently():
    events = [conn("a"), conn("b"), hs("a"), failed("b", "unknown_ca"), request("a"), closed("b")]
    got = {c.id: classify(c).outcome for c in fold_connections(events)}
    assert got == {"a": ACCEPTED, "b": REJECTED_IN_HANDSHAKE}


def test_connection_records_what_the_journal_says():
    events = [
        conn("c1", notes=["wrong-key fallback", "x"]),
        hs("c1"),
        alert("c1", "close_notify"),
        request("c1", credentials=("authorization", "cookie")),
        data("c1", "server"),
        closed("c1", "client"),
        closed("c1", "proxy"),
    ]
    (c,) = fold_connections(events)
    assert (c.id, c.phase, c.kind, c.host, c.pattern) == (
        "c1",
        "valid-ca",
        "valid-ca",
        "api.example.com",
        "api.example.com",
    )
    assert c.notes == ["wrong-key fallback", "x"]
    assert c.handshake_ok and not c.resumed and not c.handshake_failed
    assert c.tls_version == "TLSv1.3" and c.alpn == "h2"
    assert c.alerts_after_handshake == ["close_notify"]
    assert c.requests[0].credentials == ("authorization", "cookie")
    assert c.server_data and not c.client_data
    assert c.closed_by == "client"  # the first close wins


def test_alerts_are_listed_once_in_order():
    events = [
        conn(),
        alert(name="unknown_ca", after=False),
        failed(alert="unknown_ca"),
        alert(name="close_notify", after=True),
    ]
    assert fold_connections(events)[0].alerts == ["unknown_ca", "close_notify"]


def test_connection_takes_the_phase_index_of_the_last_phase_start():
    events = [
        ev("phase-start", phase="valid-ca", index=0),
        conn("a"),
        ev("phase-end", phase="valid-ca", index=0, reason="settle"),
        ev("phase-start", phase="self-signed", index=1),
        conn("b", phase="self-signed"),
    ]
    assert [c.phase_index for c in fold_connections(events)] == [0, 1]


def test_requests_keep_only_the_allowed_fields_and_never_a_query():
    events = [
        conn(),
        hs(),
        request(path="/v1/me?token=SECRET", authorization_value="Bearer SECRET", body="x"),
    ]
    r = fold_connections(events)[0].requests[0]
    assert r.path == "/v1/me"
    assert r.has_query is True
    assert set(r.to_dict()) == set(oc.REQUEST_FIELDS)
    assert "SECRET" not in repr(r)


# --- aggregation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "outcomes, expected",
    [
        ([ACCEPTED, REJECTED_AFTER_HANDSHAKE, REJECTED_IN_HANDSHAKE, IDLE], ACCEPTED),
        ([IDLE, REJECTED_IN_HANDSHAKE, ACCEPTED], ACCEPTED),
        ([REJECTED_IN_HANDSHAKE, REJECTED_AFTER_HANDSHAKE, IDLE], REJECTED_AFTER_HANDSHAKE),
        ([IDLE, REJECTED_IN_HANDSHAKE], REJECTED_IN_HANDSHAKE),
        ([IDLE, IDLE], IDLE),
        ([], NOT_SEEN),
    ],
)
def test_aggregate_keeps_the_strongest_evidence(outcomes, expected):
    assert aggregate(outcomes) == expected


def test_aggregate_ignores_resumed_and_stalled_connections():
    assert aggregate([RESUMED, STALLED]) == NOT_SEEN
    assert aggregate([RESUMED, IDLE, STALLED]) == IDLE


def test_aggregate_takes_conn_outcomes_as_well_as_words():
    assert aggregate([ConnOutcome(IDLE, ""), ConnOutcome(ACCEPTED, "GET /")]) == ACCEPTED


def test_a_single_accepted_connection_among_rejections_wins():
    events = [conn("a"), failed("a", "unknown_ca"), conn("b"), hs("b"), request("b")]
    assert aggregate(classify(c) for c in fold_connections(events)) == ACCEPTED


# ---- what the proxy did is not the client's refusal (issue 11) ------------------------------


def _one(*events) -> ConnOutcome:
    (c,) = fold_connections([conn(), *events])
    return classify(c)


def test_a_handshake_our_side_gave_up_on_is_incompatible_not_a_refusal():
    got = _one(ev("handshake-failed", id="c1", alert=None, proxy_alert="handshake_failure"))
    assert got == ConnOutcome(oc.INCOMPATIBLE, "handshake_failure from the proxy")
    assert got.counted


@pytest.mark.parametrize("name", sorted(oc.INCOMPATIBLE_ALERTS))
def test_alerts_about_the_handshakes_parameters_are_incompatible(name):
    assert _one(failed(alert=name)).outcome == oc.INCOMPATIBLE


def test_the_clients_alert_before_our_certificate_is_incompatible_and_silence_is_nothing():
    before = ev("handshake-failed", id="c1", alert="decode_error", certificate_sent=False)
    assert _one(before).outcome == oc.INCOMPATIBLE
    silent = ev("handshake-failed", id="c1", alert=None, certificate_sent=False)
    assert _one(silent).outcome == STALLED


def test_the_clients_own_alert_first_is_its_refusal_even_if_we_alerted_after():
    event = ev("handshake-failed", id="c1", alert="unknown_ca", proxy_alert=None)
    assert _one(event) == ConnOutcome(REJECTED_IN_HANDSHAKE, "unknown_ca")


def test_journals_without_certificate_sent_keep_their_meaning():
    assert _one(failed(alert="bad_certificate")).outcome == REJECTED_IN_HANDSHAKE


def test_bytes_that_are_not_http_are_acceptance_with_their_size_only():
    got = _one(hs(), ev("data", id="c1", direction="client", bytes=54), closed())
    assert got == ConnOutcome(ACCEPTED, "54 bytes of non-HTTP data")


def test_a_reset_right_after_the_handshake_is_idle_not_a_refusal():
    got = _one(hs(), ev("closed", id="c1", by="client", reset=True))
    assert got.outcome == IDLE
    assert _one(hs(), closed()).outcome == REJECTED_AFTER_HANDSHAKE


def test_incompatible_ranks_below_every_refusal_and_above_idle():
    assert aggregate([oc.INCOMPATIBLE, IDLE]) == oc.INCOMPATIBLE
    assert aggregate([oc.INCOMPATIBLE, REJECTED_IN_HANDSHAKE]) == REJECTED_IN_HANDSHAKE

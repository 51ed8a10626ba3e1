"""verdict.py: outcome + expected + proof of CA trust -> verdict and a one-sentence reason."""

from __future__ import annotations

import itertools
import re

import pytest

from mitm_pincheck.verdicts import kinds
from mitm_pincheck.verdicts.outcome import (
    ACCEPTED,
    IDLE,
    INCOMPATIBLE,
    NOT_SEEN,
    OUTCOMES,
    REJECTED_AFTER_HANDSHAKE,
    REJECTED_IN_HANDSHAKE,
    RESUMED,
    STALLED,
)
from mitm_pincheck.verdicts.verdict import FAIL, INCONCLUSIVE, PASS, Verdict, decide

HOST = "api.example.com"


def oracle(kind: str, expected: str, outcome: str, ca_trust_proven: bool) -> str:
    """DESIGN.md "Verdict rules", written out independently of verdict.py."""
    if outcome in (NOT_SEEN, IDLE, INCOMPATIBLE):  # the proxy could not talk to it: no evidence
        return INCONCLUSIVE
    if (
        outcome == REJECTED_IN_HANDSHAKE
        and kinds.KINDS[kind].needs_ca_trust
        and not ca_trust_proven
    ):
        return INCONCLUSIVE
    did = "accept" if outcome == ACCEPTED else "reject"
    return PASS if did == expected else FAIL


TABLE = list(itertools.product(kinds.KINDS, kinds.EXPECTATIONS, OUTCOMES, (True, False)))


@pytest.mark.parametrize("kind, expected, outcome, proven", TABLE)
def test_every_kind_expectation_outcome_and_proof_gets_the_designed_verdict(
    kind, expected, outcome, proven
):
    got = decide(kind, expected, outcome, proven, host=HOST)
    assert isinstance(got, Verdict)
    assert got.verdict == oracle(kind, expected, outcome, proven)


@pytest.mark.parametrize("kind, expected, outcome, proven", TABLE)
def test_every_reason_is_one_plain_sentence_naming_the_host(kind, expected, outcome, proven):
    reason = decide(
        kind,
        expected,
        outcome,
        proven,
        host=HOST,
        request={"method": "GET", "path": "/v1/profile"},
        credentials=["authorization"],
        alert="unknown_ca",
    ).reason
    assert reason[0].isupper()
    assert reason.endswith(".")
    # One sentence: no sentence break inside (host names and paths have no ". ").
    assert not re.search(r"[.!?]\s", reason[:-1])
    assert "{" not in reason and "}" not in reason
    assert HOST in reason


# --- the no-false-pass rule ------------------------------------------------------------------


def test_valid_ca_rejection_in_handshake_without_proof_of_ca_trust_is_inconclusive():
    got = decide("valid-ca", "reject", REJECTED_IN_HANDSHAKE, False, host=HOST)
    assert got.verdict == INCONCLUSIVE
    assert "proxy CA may not be installed or trusted" in got.reason


def test_valid_ca_rejection_in_handshake_passes_once_ca_trust_is_proven():
    got = decide("valid-ca", "reject", REJECTED_IN_HANDSHAKE, True, host=HOST, alert="unknown_ca")
    assert got.verdict == PASS
    assert "alert unknown_ca" in got.reason
    assert "pinning is enforced" in got.reason


def test_unproven_ca_trust_avoids_a_false_fail_when_acceptance_was_expected():
    got = decide("valid-ca", "accept", REJECTED_IN_HANDSHAKE, False, host=HOST)
    assert got.verdict == INCONCLUSIVE


@pytest.mark.parametrize("kind", [k.name for k in kinds.KINDS.values() if k.needs_ca_trust])
def test_every_kind_chaining_to_the_proxy_ca_needs_proof_for_an_in_handshake_pass(kind):
    assert decide(kind, "reject", REJECTED_IN_HANDSHAKE, False).verdict == INCONCLUSIVE
    assert decide(kind, "reject", REJECTED_IN_HANDSHAKE, True).verdict == PASS


@pytest.mark.parametrize("kind", ["self-signed", "wrong-key", "untrusted-ca"])
def test_kinds_the_device_never_trusts_pass_an_in_handshake_rejection_without_proof(kind):
    assert decide(kind, "reject", REJECTED_IN_HANDSHAKE, False).verdict == PASS


def test_rejection_after_handshake_needs_no_proof_because_it_is_its_own_proof():
    got = decide("valid-ca", "reject", REJECTED_AFTER_HANDSHAKE, False, host=HOST)
    assert got.verdict == PASS


def test_an_unknown_kind_is_treated_cautiously_as_needing_ca_trust():
    assert decide("future-kind", "reject", REJECTED_IN_HANDSHAKE, False).verdict == INCONCLUSIVE
    assert decide("future-kind", "reject", ACCEPTED, False).verdict == FAIL


# --- reasons ----------------------------------------------------------------------------------


def test_a_leak_names_the_request_and_the_credentials_that_went_over_the_forged_connection():
    got = decide(
        "valid-ca",
        "reject",
        ACCEPTED,
        True,
        host=HOST,
        request={"method": "GET", "path": "/v1/profile"},
        credentials=["authorization"],
    )
    assert got == Verdict(
        FAIL,
        "The app accepted a certificate from the proxy CA for api.example.com and sent "
        "GET /v1/profile with Authorization: pinning is not enforced.",
    )


def test_several_credentials_are_listed_in_plain_words():
    reason = decide(
        "self-signed",
        "reject",
        ACCEPTED,
        True,
        host=HOST,
        request={"method": "POST", "path": "/login"},
        credentials=["authorization", "cookie", "x-api-key"],
    ).reason
    assert "sent POST /login with Authorization, Cookie and X-Api-Key:" in reason
    assert "certificate validation is disabled" in reason


def test_a_leak_without_an_http_request_says_application_data():
    reason = decide("wrong-key", "reject", ACCEPTED, True, host=HOST).reason
    assert "sent application data" in reason


def test_reasons_use_only_method_and_path_from_the_request():
    reason = decide(
        "valid-ca",
        "reject",
        ACCEPTED,
        True,
        host=HOST,
        request={"method": "GET", "path": "/v1/me", "query": "token=SECRET", "value": "SECRET"},
    ).reason
    assert "SECRET" not in reason


def test_rejection_without_alert_says_no_alert():
    reason = decide("self-signed", "reject", REJECTED_IN_HANDSHAKE, True, host=HOST).reason
    assert "(no alert)" in reason
    reason = decide(
        "self-signed", "reject", REJECTED_IN_HANDSHAKE, True, alert="closed without alert"
    ).reason
    assert "(no alert)" in reason


def test_okhttp_close_notify_rejection_of_valid_ca_reads_as_pinning_enforced():
    reason = decide("valid-ca", "reject", REJECTED_AFTER_HANDSHAKE, True, alert="close_notify")
    assert "alert close_notify" in reason.reason
    assert "pinning is enforced" in reason.reason


def test_late_rejection_of_a_broken_certificate_says_the_tls_layer_let_it_through():
    reason = decide("self-signed", "reject", REJECTED_AFTER_HANDSHAKE, True, host=HOST).reason
    assert "TLS layer let it through" in reason


def test_not_seen_says_the_app_did_not_connect_or_bypassed_the_proxy():
    reason = decide("valid-ca", "reject", NOT_SEEN, True, host=HOST).reason
    assert reason == (
        "No connection to api.example.com in this phase: the app did not contact it, "
        "or bypassed the proxy."
    )


def test_idle_says_we_cannot_tell():
    reason = decide("valid-ca", "reject", IDLE, True, host=HOST).reason
    assert "no data before the phase ended" in reason


@pytest.mark.parametrize("outcome", [REJECTED_IN_HANDSHAKE, REJECTED_AFTER_HANDSHAKE])
def test_passthrough_rejection_means_the_app_does_not_work_through_the_proxy(outcome):
    got = decide("passthrough", "accept", outcome, False, host=HOST)
    assert got.verdict == FAIL
    assert "does not work through the proxy" in got.reason


def test_passthrough_acceptance_passes():
    got = decide("passthrough", "accept", ACCEPTED, False, host=HOST)
    assert got.verdict == PASS
    assert "real certificate" in got.reason


def test_leak_reasons_are_specific_to_each_kind():
    reasons = {
        kind: decide(kind, "reject", ACCEPTED, True, host=HOST).reason
        for kind, k in kinds.KINDS.items()
        if k.intercepts
    }
    assert len(set(reasons.values())) == len(reasons)


def test_pass_reasons_for_in_handshake_rejections_are_specific_to_each_kind():
    reasons = {
        kind: decide(kind, "reject", REJECTED_IN_HANDSHAKE, True, host=HOST).reason
        for kind, k in kinds.KINDS.items()
        if k.intercepts
    }
    assert len(set(reasons.values())) == len(reasons)


def test_the_reason_never_changes_the_verdict():
    bare = decide("valid-ca", "reject", ACCEPTED, True)
    rich = decide(
        "valid-ca",
        "reject",
        ACCEPTED,
        True,
        host=HOST,
        request={"method": "GET", "path": "/"},
        credentials=["cookie"],
        alert="x",
    )
    assert bare.verdict == rich.verdict == FAIL


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("expected", ["", "maybe", "Accept", None])
def test_an_expectation_other_than_accept_or_reject_is_refused(expected):
    with pytest.raises(ValueError):
        decide("valid-ca", expected, ACCEPTED, True)


@pytest.mark.parametrize("outcome", [RESUMED, STALLED, "nonsense"])
def test_non_outcomes_cannot_be_judged(outcome):
    with pytest.raises(ValueError):
        decide("valid-ca", "reject", outcome, True)


def test_a_reset_after_the_handshake_says_so_and_stays_inconclusive():
    from mitm_pincheck.verdicts.outcome import RESET_AFTER_HANDSHAKE

    got = decide("valid-ca", "reject", IDLE, True, host=HOST, alert=RESET_AFTER_HANDSHAKE)
    assert got.verdict == INCONCLUSIVE
    assert "reset the connection" in got.reason and "not a refusal" in got.reason

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
from mitm_pincheck.verdicts.verdict import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    PROOF_SOURCES,
    Verdict,
    decide,
    proof_words,
)

HOST = "api.example.com"
PROOFS = {
    "pinned-key": {"source": "pinned-key", "host": HOST},
    "control": {"source": "control", "host": "cdn.example.com"},
    "control-self": {"source": "control", "host": HOST},
    "device-store": {"source": "device-store", "path": "/system/etc/security/cacerts/c8750f0d.0"},
    "declared": {"source": "declared"},
    None: None,
}
REFUSED = (REJECTED_IN_HANDSHAKE, REJECTED_AFTER_HANDSHAKE)
PROVEN = {"source": "declared"}


def oracle(kind: str, expected: str, outcome: str, proof) -> str:
    """DESIGN.md "Verdict rules" and issue 10, written out independently of verdict.py."""
    if outcome in (NOT_SEEN, IDLE, INCOMPATIBLE):  # the proxy could not talk to it: no evidence
        return INCONCLUSIVE
    if outcome in REFUSED and kinds.KINDS[kind].needs_ca_trust:
        if kind == "pinned-key":
            return INCONCLUSIVE  # an untrusted CA or a key it does not pin: no finding
        if proof is None:
            return INCONCLUSIVE  # a completed handshake is never proof
    did = "accept" if outcome == ACCEPTED else "reject"
    return PASS if did == expected else FAIL


TABLE = list(itertools.product(kinds.KINDS, kinds.EXPECTATIONS, OUTCOMES, PROOFS))


@pytest.mark.parametrize("kind, expected, outcome, proof", TABLE)
def test_every_kind_expectation_outcome_and_proof_gets_the_designed_verdict(
    kind, expected, outcome, proof
):
    got = decide(kind, expected, outcome, PROOFS[proof], host=HOST)
    assert isinstance(got, Verdict)
    assert got.verdict == oracle(kind, expected, outcome, PROOFS[proof])


@pytest.mark.parametrize("kind, expected, outcome, proof", TABLE)
def test_every_reason_is_one_plain_sentence_naming_the_host(kind, expected, outcome, proof):
    reason = decide(
        kind,
        expected,
        outcome,
        PROOFS[proof],
        host=HOST,
        request={"method": "GET", "path": "/v1/profile"},
        credentials=["authorization"],
        alert="unknown_ca",
        key="keys/backup-2.pem",
    ).reason
    assert reason[0].isupper()
    assert reason.endswith(".")
    # One sentence: no sentence break inside (host names and paths have no ". ").
    assert not re.search(r"[.!?]\s", reason[:-1])
    assert "{" not in reason and "}" not in reason
    assert HOST in reason


# --- the no-false-pass rule ------------------------------------------------------------------


@pytest.mark.parametrize("outcome", REFUSED)
def test_valid_ca_refusal_without_proof_is_inconclusive_and_names_the_four_ways(outcome):
    got = decide("valid-ca", "reject", outcome, None, host=HOST)
    assert got.verdict == INCONCLUSIVE
    assert "nothing in this run proves that it trusts the proxy CA" in got.reason
    for way in ("keys.current", "control: true", "run --android", "ca_trust: system"):
        assert way in got.reason


def test_tls12_close_after_finished_without_proof_is_never_a_pass():
    # Node on TLS 1.2 sends its Finished, then checks the chain and closes: the same signal
    # as OkHttp's pin check. Without proof it says nothing about pinning.
    got = decide("valid-ca", "reject", REJECTED_AFTER_HANDSHAKE, None, host=HOST)
    assert got.verdict == INCONCLUSIVE
    assert "Node" in got.reason


@pytest.mark.parametrize("source", PROOF_SOURCES)
@pytest.mark.parametrize("outcome", REFUSED)
def test_valid_ca_refusal_passes_with_any_proof_and_says_which(source, outcome):
    proof = next(p for p in PROOFS.values() if p and p["source"] == source)
    got = decide("valid-ca", "reject", outcome, proof, host=HOST, alert="unknown_ca")
    assert got.verdict == PASS
    assert "pinning is enforced" in got.reason
    assert proof_words(proof, HOST) in got.reason


def test_declared_proof_says_it_is_the_scenarios_word():
    got = decide("valid-ca", "reject", REJECTED_IN_HANDSHAKE, PROOFS["declared"], host=HOST)
    assert "ca_trust: system; its word, not checked" in got.reason


def test_unproven_ca_trust_avoids_a_false_fail_when_acceptance_was_expected():
    got = decide("valid-ca", "accept", REJECTED_IN_HANDSHAKE, None, host=HOST)
    assert got.verdict == INCONCLUSIVE
    assert decide("valid-ca", "accept", REJECTED_IN_HANDSHAKE, PROVEN).verdict == FAIL


@pytest.mark.parametrize("kind", [k.name for k in kinds.KINDS.values() if k.needs_ca_trust])
@pytest.mark.parametrize("outcome", REFUSED)
def test_every_kind_chaining_to_the_proxy_ca_needs_proof_for_a_refusal_to_count(kind, outcome):
    expected = kinds.KINDS[kind].pinned
    assert decide(kind, expected, outcome, None).verdict == INCONCLUSIVE
    assert decide(kind, "reject", outcome, PROVEN).verdict in (PASS, INCONCLUSIVE)


@pytest.mark.parametrize("kind", ["self-signed", "wrong-key", "untrusted-ca"])
@pytest.mark.parametrize("outcome", REFUSED)
def test_kinds_the_device_never_trusts_pass_a_refusal_without_proof(kind, outcome):
    assert decide(kind, "reject", outcome, None).verdict == PASS


def test_acceptance_needs_no_proof():
    assert decide("valid-ca", "reject", ACCEPTED, None).verdict == FAIL
    assert decide("valid-ca", "accept", ACCEPTED, None).verdict == PASS


def test_an_unknown_kind_is_treated_cautiously_as_needing_ca_trust():
    assert decide("future-kind", "reject", REJECTED_IN_HANDSHAKE, None).verdict == INCONCLUSIVE
    assert decide("future-kind", "reject", REJECTED_AFTER_HANDSHAKE, None).verdict == INCONCLUSIVE
    assert decide("future-kind", "reject", ACCEPTED, None).verdict == FAIL


def test_an_unknown_proof_source_is_refused():
    with pytest.raises(ValueError):
        decide("valid-ca", "reject", REJECTED_IN_HANDSHAKE, {"source": "handshake"})


# --- the key kinds ----------------------------------------------------------------------------


def test_pinned_key_accepted_passes():
    got = decide("pinned-key", "accept", ACCEPTED, PROOFS["pinned-key"], host=HOST)
    assert got.verdict == PASS


@pytest.mark.parametrize("proof", PROOFS)
@pytest.mark.parametrize("outcome", REFUSED)
def test_pinned_key_refused_is_inconclusive_whatever_the_proof(outcome, proof):
    got = decide("pinned-key", "accept", outcome, PROOFS[proof], host=HOST)
    assert got.verdict == INCONCLUSIVE
    assert "does not trust the proxy CA for this host" in got.reason
    assert "not the key it pins" in got.reason
    assert "valid-ca row stays inconclusive" in got.reason


@pytest.mark.parametrize("outcome", REFUSED)
def test_backup_key_refused_with_proof_fails_as_a_rotation_outage(outcome):
    got = decide(
        "backup-key", "accept", outcome, PROOFS["pinned-key"], host=HOST, key="backup-2.pem"
    )
    assert got.verdict == FAIL
    assert "rotating this server to that key would break the app" in got.reason
    assert "backup key backup-2.pem" in got.reason


@pytest.mark.parametrize("outcome", REFUSED)
def test_backup_key_refused_without_proof_is_inconclusive(outcome):
    assert decide("backup-key", "accept", outcome, None, host=HOST).verdict == INCONCLUSIVE


def test_backup_key_accepted_passes():
    got = decide("backup-key", "accept", ACCEPTED, None, host=HOST, key="b.pem")
    assert got.verdict == PASS
    assert "backup key b.pem" in got.reason


# --- reasons ----------------------------------------------------------------------------------


def test_a_leak_names_the_request_and_the_credentials_that_went_over_the_forged_connection():
    got = decide(
        "valid-ca",
        "reject",
        ACCEPTED,
        PROVEN,
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
        PROVEN,
        host=HOST,
        request={"method": "POST", "path": "/login"},
        credentials=["authorization", "cookie", "x-api-key"],
    ).reason
    assert "sent POST /login with Authorization, Cookie and X-Api-Key:" in reason
    assert "certificate validation is disabled" in reason


def test_a_leak_without_an_http_request_says_application_data():
    reason = decide("wrong-key", "reject", ACCEPTED, PROVEN, host=HOST).reason
    assert "sent application data" in reason


def test_reasons_use_only_method_and_path_from_the_request():
    reason = decide(
        "valid-ca",
        "reject",
        ACCEPTED,
        PROVEN,
        host=HOST,
        request={"method": "GET", "path": "/v1/me", "query": "token=SECRET", "value": "SECRET"},
    ).reason
    assert "SECRET" not in reason


def test_rejection_without_alert_says_no_alert():
    reason = decide("self-signed", "reject", REJECTED_IN_HANDSHAKE, PROVEN, host=HOST).reason
    assert "(no alert)" in reason
    reason = decide(
        "self-signed", "reject", REJECTED_IN_HANDSHAKE, PROVEN, alert="closed without alert"
    ).reason
    assert "(no alert)" in reason


def test_okhttp_close_notify_rejection_of_valid_ca_reads_as_pinning_enforced():
    reason = decide("valid-ca", "reject", REJECTED_AFTER_HANDSHAKE, PROVEN, alert="close_notify")
    assert "alert close_notify" in reason.reason
    assert "pinning is enforced" in reason.reason


def test_late_rejection_of_a_broken_certificate_says_the_tls_layer_let_it_through():
    reason = decide("self-signed", "reject", REJECTED_AFTER_HANDSHAKE, PROVEN, host=HOST).reason
    assert "TLS layer let it through" in reason


def test_not_seen_says_the_app_did_not_connect_or_bypassed_the_proxy():
    reason = decide("valid-ca", "reject", NOT_SEEN, PROVEN, host=HOST).reason
    assert reason == (
        "No connection to api.example.com in this phase: the app did not contact it, "
        "or bypassed the proxy."
    )


def test_idle_says_we_cannot_tell():
    reason = decide("valid-ca", "reject", IDLE, PROVEN, host=HOST).reason
    assert "no data before the phase ended" in reason


@pytest.mark.parametrize("outcome", [REJECTED_IN_HANDSHAKE, REJECTED_AFTER_HANDSHAKE])
def test_passthrough_rejection_means_the_app_does_not_work_through_the_proxy(outcome):
    got = decide("passthrough", "accept", outcome, None, host=HOST)
    assert got.verdict == FAIL
    assert "does not work through the proxy" in got.reason


def test_passthrough_acceptance_passes():
    got = decide("passthrough", "accept", ACCEPTED, None, host=HOST)
    assert got.verdict == PASS
    assert "real certificate" in got.reason


def test_leak_reasons_are_specific_to_each_kind():
    reasons = {
        kind: decide(kind, "reject", ACCEPTED, PROVEN, host=HOST).reason
        for kind, k in kinds.KINDS.items()
        if k.intercepts
    }
    assert len(set(reasons.values())) == len(reasons)


def test_pass_reasons_for_in_handshake_rejections_are_specific_to_each_kind():
    reasons = {
        kind: decide(kind, "reject", REJECTED_IN_HANDSHAKE, PROVEN, host=HOST).reason
        for kind, k in kinds.KINDS.items()
        if k.intercepts
    }
    assert len(set(reasons.values())) == len(reasons)


def test_the_reason_never_changes_the_verdict():
    bare = decide("valid-ca", "reject", ACCEPTED, PROVEN)
    rich = decide(
        "valid-ca",
        "reject",
        ACCEPTED,
        PROVEN,
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
        decide("valid-ca", expected, ACCEPTED, PROVEN)


@pytest.mark.parametrize("outcome", [RESUMED, STALLED, "nonsense"])
def test_non_outcomes_cannot_be_judged(outcome):
    with pytest.raises(ValueError):
        decide("valid-ca", "reject", outcome, PROVEN)


def test_a_reset_after_the_handshake_says_so_and_stays_inconclusive():
    from mitm_pincheck.verdicts.outcome import RESET_AFTER_HANDSHAKE

    got = decide("valid-ca", "reject", IDLE, PROVEN, host=HOST, alert=RESET_AFTER_HANDSHAKE)
    assert got.verdict == INCONCLUSIVE
    assert "reset the connection" in got.reason and "not a refusal" in got.reason

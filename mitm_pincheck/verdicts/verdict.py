"""Outcome + expectation + proof of CA trust -> verdict and a one-sentence reason.

Pure. The no-false-pass rule lives here: under a kind whose chain ends at the proxy CA, a
refusal (in the handshake or after it) only counts when the row has a proof that this app
trusts the proxy CA for this host. Without one the app may simply not trust that CA (a CA in
the user store only, the app's own root bundle, a TLS 1.2 stack that checks the chain after
its Finished), and the refusal says nothing about pinning. A completed handshake is never proof.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mitm_pincheck.verdicts import kinds
from mitm_pincheck.verdicts.outcome import (
    ACCEPTED,
    CLOSED_WITHOUT_ALERT,
    IDLE,
    INCOMPATIBLE,
    NOT_SEEN,
    OUTCOMES,
    REJECTED_AFTER_HANDSHAKE,
    REJECTED_IN_HANDSHAKE,
    RESET_AFTER_HANDSHAKE,
)

PASS = "pass"
FAIL = "fail"
INCONCLUSIVE = "inconclusive"
VERDICTS: tuple[str, ...] = (PASS, FAIL, INCONCLUSIVE)
# A row of a key kind for a host the scenario gives no key: shown, never counted.
NOT_APPLICABLE = "n/a"

# Where a proof that the app trusts the proxy CA for a host comes from, strongest first.
PROOF_PINNED_KEY = "pinned-key"
PROOF_CONTROL = "control"
PROOF_DEVICE_STORE = "device-store"
PROOF_DECLARED = "declared"
PROOF_SOURCES: tuple[str, ...] = (
    PROOF_PINNED_KEY,
    PROOF_CONTROL,
    PROOF_DEVICE_STORE,
    PROOF_DECLARED,
)
# The four ways to get a proof, for reasons and hints.
HOW_TO_PROVE = (
    "give the host the key it pins (keys.current) and add the pinned-key phase; "
    "mark a host of the same app that it does not pin as control: true; "
    "install the proxy CA in the device's system store and use run --android; "
    "or, if you know it is a system CA there, say ca_trust: system in the scenario"
)

ACCEPT, REJECT = kinds.ACCEPT, kinds.REJECT


@dataclass(frozen=True)
class Verdict:
    verdict: str  # "pass" | "fail" | "inconclusive"
    reason: str  # one sentence


@dataclass(frozen=True)
class _Words:
    cert: str  # what the client was shown
    broken: str  # what accepting it (when it should be refused) says about the app
    holds: str  # what refusing it says about the app


_KIND_WORDS: dict[str, _Words] = {
    "valid-ca": _Words(
        "a certificate from the proxy CA", "pinning is not enforced", "pinning is enforced"
    ),
    "self-signed": _Words(
        "a self-signed certificate",
        "certificate validation is disabled",
        "certificate validation is on",
    ),
    "wrong-key": _Words(
        "a certificate whose signature does not verify",
        "certificate signatures are not verified",
        "signatures are verified",
    ),
    "spliced-chain": _Words(
        "a self-signed certificate followed by the real server's intermediates",
        "the pin is looked for anywhere in the chain, which is never validated",
        "the chain is validated before any pin",
    ),
    # Passthrough has its own rows in _TABLE; only `cert` is used.
    "passthrough": _Words("the real server's certificate", "", ""),
    "untrusted-ca": _Words(
        "a certificate from a CA the device does not trust",
        "the issuer is not checked against the trust store",
        "untrusted CAs are refused",
    ),
    "wrong-host": _Words(
        "a certificate for another host name",
        "host names are not verified",
        "host names are verified",
    ),
    "expired": _Words(
        "an expired certificate", "expiry dates are not checked", "expiry dates are checked"
    ),
    "not-yet-valid": _Words(
        "a certificate that is not valid yet",
        "validity start dates are not checked",
        "validity start dates are checked",
    ),
    "leaf-as-ca": _Words(
        "a certificate issued by a non-CA certificate",
        "basicConstraints are not checked",
        "basicConstraints are checked",
    ),
    # Expected accept, pinned or not (a scenario may expect a retired key to be refused).
    "pinned-key": _Words(
        "a certificate from the proxy CA with its pinned key",
        "the pinned key is not what it checks",
        "the scenario expects it to refuse this key",
    ),
    "backup-key": _Words(
        "a certificate from the proxy CA with backup key {key}",
        "the pin-set still holds a key the scenario says it must refuse",
        "the scenario expects it to refuse this key",
    ),
}

# (outcome, expected, variant) -> (verdict, template); "*" matches anything. Variants:
# "intercepting" (our certificate), "passthrough" (the real one), "unproven" (an in-handshake
# rejection under a kind that needs CA trust, in a run that never proved that trust).
_ANY = "*"
_TABLE: dict[tuple[str, str, str], tuple[str, str]] = {
    (NOT_SEEN, _ANY, _ANY): (
        INCONCLUSIVE,
        "No connection to {host} in this phase: the app did not contact it, or bypassed the proxy.",
    ),
    (INCOMPATIBLE, _ANY, _ANY): (
        INCONCLUSIVE,
        "The app and the proxy could not agree on a TLS version, cipher or signature algorithm "
        "for {host} ({detail}), so the app never judged {cert}: the handshake-failed error in "
        "the journal says what did not match; report it as a limit of the proxy.",
    ),
    (IDLE, _ANY, _ANY): (
        INCONCLUSIVE,
        "The app completed a handshake with {cert} for {host} but sent no data before the "
        "phase ended, so we cannot tell whether it would have.",
    ),
    (ACCEPTED, REJECT, _ANY): (
        FAIL,
        "The app accepted {cert} for {host} and sent {sent}: {broken}.",
    ),
    (ACCEPTED, REJECT, "passthrough"): (
        FAIL,
        "The app sent {sent} to {host} over the real server's certificate, "
        "but the scenario expects it to refuse that certificate.",
    ),
    (ACCEPTED, ACCEPT, _ANY): (
        PASS,
        "The app accepted {cert} for {host} and sent {sent}, as expected.",
    ),
    (ACCEPTED, ACCEPT, "passthrough"): (
        PASS,
        "The app sent {sent} to {host} through the proxy with the real certificate, as expected.",
    ),
    (REJECTED_AFTER_HANDSHAKE, REJECT, _ANY): (
        PASS,
        "The app completed a handshake with {cert} for {host}, then closed it ({detail}) "
        "without sending data: {after}.",
    ),
    (REJECTED_AFTER_HANDSHAKE, REJECT, "passthrough"): (
        PASS,
        "The app closed its connection to {host} ({detail}) without sending data with the "
        "real certificate, as the scenario expects.",
    ),
    (REJECTED_AFTER_HANDSHAKE, ACCEPT, _ANY): (
        FAIL,
        "The app completed a handshake with {cert} for {host}, then closed it ({detail}) "
        "without sending data, although it should accept this certificate.",
    ),
    (REJECTED_AFTER_HANDSHAKE, ACCEPT, "passthrough"): (
        FAIL,
        "The app closed its connection to {host} ({detail}) without sending data even with "
        "the real certificate: it does not work through the proxy.",
    ),
    (REJECTED_IN_HANDSHAKE, REJECT, _ANY): (
        PASS,
        "The app refused {cert} for {host} during the handshake ({detail}): {holds}.",
    ),
    (REJECTED_IN_HANDSHAKE, REJECT, "passthrough"): (
        PASS,
        "The app refused the real certificate of {host} during the handshake ({detail}), "
        "as the scenario expects.",
    ),
    (REJECTED_IN_HANDSHAKE, ACCEPT, _ANY): (
        FAIL,
        "The app refused {cert} for {host} during the handshake ({detail}), "
        "although it should accept this certificate.",
    ),
    (REJECTED_IN_HANDSHAKE, ACCEPT, "passthrough"): (
        FAIL,
        "The app refused the real certificate of {host} during the handshake ({detail}): "
        "it does not work through the proxy.",
    ),
    (REJECTED_IN_HANDSHAKE, _ANY, "unproven"): (
        INCONCLUSIVE,
        "The app refused {cert} for {host} during the handshake ({detail}), but nothing in this "
        "run proves that it trusts the proxy CA for this host, so the refusal may just be that: "
        "to prove it, " + HOW_TO_PROVE + ".",
    ),
    (REJECTED_AFTER_HANDSHAKE, _ANY, "unproven"): (
        INCONCLUSIVE,
        "The app completed a handshake with {cert} for {host}, then closed it ({detail}) without "
        "sending data, but nothing in this run proves that it trusts the proxy CA for this host "
        "(a TLS 1.2 client such as Node checks the chain after its Finished), so the close may "
        "just be that: to prove it, " + HOW_TO_PROVE + ".",
    ),
    # pinned-key is the control itself: its refusal cannot tell an untrusted CA from a key the
    # app does not pin, neither of which is a finding about pinning.
    (REJECTED_IN_HANDSHAKE, _ANY, "pinned-key"): (
        INCONCLUSIVE,
        "The app refused {cert} for {host} during the handshake ({detail}): either it does not "
        "trust the proxy CA for this host (its own root bundle, a CA in the user store only) or "
        "the scenario's keys.current is not the key it pins; its valid-ca row stays "
        "inconclusive unless another proof holds.",
    ),
    (REJECTED_AFTER_HANDSHAKE, _ANY, "pinned-key"): (
        INCONCLUSIVE,
        "The app completed a handshake with {cert} for {host}, then closed it ({detail}) "
        "without sending data: either it does not trust the proxy CA for this host (its own "
        "root bundle, a CA in the user store only) or the scenario's keys.current is not the "
        "key it pins; its valid-ca row stays inconclusive unless another proof holds.",
    ),
    (REJECTED_IN_HANDSHAKE, ACCEPT, "backup-key"): (
        FAIL,
        "The app refused {cert} for {host} during the handshake ({detail}) although it trusts "
        "the proxy CA here, as {proof}: rotating this server to that key would break the app; "
        "its backup pin is missing or wrong.",
    ),
    (REJECTED_AFTER_HANDSHAKE, ACCEPT, "backup-key"): (
        FAIL,
        "The app completed a handshake with {cert} for {host}, then closed it ({detail}) "
        "without sending data although it trusts the proxy CA here, as {proof}: rotating this "
        "server to that key would break the app; its backup pin is missing or wrong.",
    ),
}


def decide(
    kind: str,
    expected: str,
    outcome: str,
    proof: Mapping | None,
    *,
    host: str | None = None,
    request: Mapping | None = None,
    credentials: Sequence[str] = (),
    alert: str | None = None,
    key: str | None = None,
) -> Verdict:
    """The verdict for one (host, phase).

    `proof` is the row's proof that the app trusts the proxy CA for this host
    (`{"source": ...}`, see `proof_words`), or None. `request` (method, path), `credentials`
    (header names), `alert` (what the client sent) and `key` (the backup key's label) only make
    the reason concrete; they never change the verdict.
    """
    if expected not in kinds.EXPECTATIONS:
        raise ValueError(f"expected must be 'accept' or 'reject', not {expected!r}")
    if outcome not in OUTCOMES:
        raise ValueError(f"not an outcome: {outcome!r}")
    if proof is not None and proof.get("source") not in PROOF_SOURCES:
        raise ValueError(f"not a proof source: {proof.get('source')!r}")
    variant = _variant(kind, outcome, proof)
    verdict, template = _lookup(outcome, expected, variant)
    words = _KIND_WORDS.get(kind) or _Words(
        f"the {kind} certificate", "certificate validation is broken", "as expected"
    )
    cert = words.cert.format(key=key or "(unnamed)")
    reason = template.format(
        host=host or "the host",
        cert=cert,
        broken=words.broken,
        holds=words.holds,
        # After a completed handshake only valid-ca can be the pin at work; for the other kinds
        # the TLS layer let a bad certificate through and something later caught it.
        after=words.holds
        if kind == "valid-ca"
        else "a check after the handshake caught it, though the TLS layer let it through",
        sent=_sent(request, credentials, alert if outcome == ACCEPTED else None),
        detail=_detail(alert),
        proof=proof_words(proof, host) if proof else "",
    )
    if proof is not None and variant == "proven":
        reason = (
            f"{reason[:-1]}; proof that it trusts the proxy CA here: {proof_words(proof, host)}."
        )
    if outcome == IDLE and alert == RESET_AFTER_HANDSHAKE:
        reason = (
            f"The app completed a handshake with {cert} for {host or 'the host'}, then "
            "reset the connection without any data reaching the proxy; a reset throws away "
            "what the app had not yet sent, so this may be a request lost on its way, not a "
            "refusal."
        )
    return Verdict(verdict, reason)


def unused_closes_unreliable(
    kind: str, host: str, detail: str | None, key: str | None = None
) -> Verdict:
    """The verdict of a `rejected-after-handshake` row for a host that, in the same run, also
    closed connections unused under a kind it accepted: it opens connections it may never use
    (pre-connecting), and no wire signal tells such a close from a refusal."""
    words = _KIND_WORDS.get(kind)
    cert = words.cert.format(key=key or "(unnamed)") if words else f"the {kind} certificate"
    return Verdict(
        INCONCLUSIVE,
        f"The app completed a handshake with {cert} for {host or 'the host'}, then closed it "
        f"({_detail(detail)}) without sending data, but in this run it also closed connections "
        "unused under a certificate it accepted (pre-connecting), so its closes after the "
        "handshake are not a reliable refusal signal: judge this host by the kinds refused in "
        "the handshake, or test a build that does not pre-connect.",
    )


def proof_words(proof: Mapping, host: str | None = None) -> str:
    """A proof in words, for reasons and reports."""
    source = proof.get("source")
    host = host or "this host"
    if source == PROOF_PINNED_KEY:
        return f"{host} accepted the proxy CA's certificate with its pinned key in this run"
    if source == PROOF_CONTROL:
        other = proof.get("host")
        if not other or other == host:
            return f"{host} itself accepted the proxy CA's certificate under valid-ca in this run"
        return (
            f"control host {other} of the same app accepted the proxy CA's certificate under "
            "valid-ca in this run"
        )
    if source == PROOF_DEVICE_STORE:
        where = proof.get("path") or "the system store"
        return f"the proxy CA is in the device's system trust store ({where}), checked at the start"
    if source == PROOF_DECLARED:
        return (
            "the scenario declares it a system CA on the device "
            "(ca_trust: system; its word, not checked)"
        )
    return str(source)


def _variant(kind: str, outcome: str, proof: Mapping | None) -> str:
    k = kinds.KINDS.get(kind)
    # An unknown kind is treated as the cautious case: ours, and needing CA trust.
    needs_ca_trust = k.needs_ca_trust if k else True
    intercepts = k.intercepts if k else True
    refused = outcome in (REJECTED_IN_HANDSHAKE, REJECTED_AFTER_HANDSHAKE)
    if refused and needs_ca_trust:
        if kind == "pinned-key":
            return "pinned-key"
        if proof is None:
            return "unproven"
        if kind == "backup-key":
            return "backup-key"
        return "proven"
    return "intercepting" if intercepts else "passthrough"


def _lookup(outcome: str, expected: str, variant: str) -> tuple[str, str]:
    for key in (
        (outcome, expected, variant),
        (outcome, _ANY, variant),
        (outcome, expected, _ANY),
        (outcome, _ANY, _ANY),
    ):
        if key in _TABLE:
            return _TABLE[key]
    raise AssertionError(f"no verdict rule for {outcome} / {expected} / {variant}")


def _sent(request: Mapping | None, credentials: Sequence[str], data: str | None = None) -> str:
    if request and request.get("method"):
        what = f"{request['method']} {request.get('path') or '/'}"
    else:
        what = data or "application data"  # e.g. "54 bytes of non-HTTP data"
    creds = [_header_title(c) for c in credentials]
    if not creds:
        return what
    listed = creds[0] if len(creds) == 1 else ", ".join(creds[:-1]) + " and " + creds[-1]
    return f"{what} with {listed}"


def _detail(alert: str | None) -> str:
    if not alert or alert == CLOSED_WITHOUT_ALERT:
        return "no alert"
    return f"alert {alert}"


def _header_title(name: str) -> str:
    return "-".join(part.capitalize() for part in str(name).split("-"))

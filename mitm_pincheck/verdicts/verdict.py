"""Outcome + expectation + proof of CA trust -> verdict and a one-sentence reason.

Pure. The no-false-pass rule lives here: a rejection in the handshake under a kind that chains to
the proxy CA only counts once the run has proved the client trusts that CA at all; otherwise the
CA may simply not be installed, and the rejection says nothing about pinning.
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
        "The app refused {cert} for {host} during the handshake ({detail}), but no connection "
        "in this run completed a handshake under valid-ca, so the proxy CA may not be "
        "installed or trusted on the device.",
    ),
}


def decide(
    kind: str,
    expected: str,
    outcome: str,
    ca_trust_proven: bool,
    *,
    host: str | None = None,
    request: Mapping | None = None,
    credentials: Sequence[str] = (),
    alert: str | None = None,
) -> Verdict:
    """The verdict for one (host, phase).

    `request` (method, path), `credentials` (header names) and `alert` (what the client sent)
    only make the reason concrete; they never change the verdict.
    """
    if expected not in kinds.EXPECTATIONS:
        raise ValueError(f"expected must be 'accept' or 'reject', not {expected!r}")
    if outcome not in OUTCOMES:
        raise ValueError(f"not an outcome: {outcome!r}")
    variant = _variant(kind, outcome, ca_trust_proven)
    verdict, template = _lookup(outcome, expected, variant)
    words = _KIND_WORDS.get(kind) or _Words(
        f"the {kind} certificate", "certificate validation is broken", "as expected"
    )
    reason = template.format(
        host=host or "the host",
        cert=words.cert,
        broken=words.broken,
        holds=words.holds,
        # After a completed handshake only valid-ca can be the pin at work; for the other kinds
        # the TLS layer let a bad certificate through and something later caught it.
        after=words.holds
        if kind == "valid-ca"
        else "a check after the handshake caught it, though the TLS layer let it through",
        sent=_sent(request, credentials, alert if outcome == ACCEPTED else None),
        detail=_detail(alert),
    )
    if outcome == IDLE and alert == RESET_AFTER_HANDSHAKE:
        reason = (
            f"The app completed a handshake with {words.cert} for {host or 'the host'}, then "
            "reset the connection without any data reaching the proxy; a reset throws away "
            "what the app had not yet sent, so this may be a request lost on its way, not a "
            "refusal."
        )
    return Verdict(verdict, reason)


def unused_closes_unreliable(kind: str, host: str, detail: str | None) -> Verdict:
    """The verdict of a `rejected-after-handshake` row for a host that, in the same run, also
    closed connections unused under a kind it accepted: it opens connections it may never use
    (pre-connecting), and no wire signal tells such a close from a refusal."""
    words = _KIND_WORDS.get(kind)
    cert = words.cert if words else f"the {kind} certificate"
    return Verdict(
        INCONCLUSIVE,
        f"The app completed a handshake with {cert} for {host or 'the host'}, then closed it "
        f"({_detail(detail)}) without sending data, but in this run it also closed connections "
        "unused under a certificate it accepted (pre-connecting), so its closes after the "
        "handshake are not a reliable refusal signal: judge this host by the kinds refused in "
        "the handshake, or test a build that does not pre-connect.",
    )


def _variant(kind: str, outcome: str, ca_trust_proven: bool) -> str:
    k = kinds.KINDS.get(kind)
    # An unknown kind is treated as the cautious case: ours, and needing CA trust.
    needs_ca_trust = k.needs_ca_trust if k else True
    intercepts = k.intercepts if k else True
    if outcome == REJECTED_IN_HANDSHAKE and needs_ca_trust and not ca_trust_proven:
        return "unproven"
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

"""The certificate-kind catalogue: what the proxy can present, and what an app must do with it.

Pure data. `forge.py` builds the certificates, `verdict.py` reads `needs_ca_trust`, the CLI's
`kinds` command and `docs/kinds.md` describe the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ACCEPT = "accept"
REJECT = "reject"
EXPECTATIONS = (ACCEPT, REJECT)


@dataclass(frozen=True)
class Kind:
    name: str
    presents: str
    pinned: str
    unpinned: str
    catches: str
    # The chain leads to the proxy CA, so a refusal (in or after the handshake) is only
    # evidence with a proof that this app trusts that CA for this host (see verdict.py).
    needs_ca_trust: bool
    # False for passthrough: the client sees the real certificate, not one of ours.
    intercepts: bool = True
    # "current" or "backup": the kind presents a key the team gave in the host's `keys:`;
    # hosts without one are passed through in its phase and their rows are n/a.
    key_role: str | None = None


_CATALOGUE = (
    Kind(
        name="valid-ca",
        presents="a leaf for the host issued by the proxy CA the device trusts, "
        "names copied from the real certificate",
        pinned=REJECT,
        unpinned=ACCEPT,
        catches="no pinning at all: any CA in the device's trust store can read the traffic",
        needs_ca_trust=True,
    ),
    Kind(
        name="self-signed",
        presents="a self-signed leaf for the host with a fresh key",
        pinned=REJECT,
        unpinned=REJECT,
        catches="trust-all TrustManagers and disabled certificate validation",
        needs_ca_trust=False,
    ),
    Kind(
        name="wrong-key",
        presents="the real server's chain with the leaf's public key replaced "
        "(its signature no longer verifies)",
        pinned=REJECT,
        unpinned=REJECT,
        catches="validation that only compares names or the chain's shape, never signatures",
        needs_ca_trust=False,
    ),
    Kind(
        name="spliced-chain",
        presents="a self-signed leaf for the host followed by the real server's intermediates "
        "and root",
        pinned=REJECT,
        unpinned=REJECT,
        catches="pins looked for anywhere in the presented chain without validating it first",
        needs_ca_trust=False,
    ),
    Kind(
        name="passthrough",
        presents="nothing of ours: the real server's certificate, untouched",
        pinned=ACCEPT,
        unpinned=ACCEPT,
        catches="a set-up problem: the app does not work through the proxy at all",
        needs_ca_trust=False,
        intercepts=False,
    ),
    Kind(
        name="untrusted-ca",
        presents="a leaf for the host issued by a CA the device does not trust",
        pinned=REJECT,
        unpinned=REJECT,
        catches="clients that accept any CA-signed chain, trusted or not",
        needs_ca_trust=False,
    ),
    Kind(
        name="wrong-host",
        presents="a chain to the trusted proxy CA, but for another host name",
        pinned=REJECT,
        unpinned=REJECT,
        catches="missing host-name verification (ALLOW_ALL_HOSTNAME_VERIFIER, custom verifiers)",
        needs_ca_trust=True,
    ),
    Kind(
        name="expired",
        presents="a chain to the trusted proxy CA with an expired leaf",
        pinned=REJECT,
        unpinned=REJECT,
        catches="validity dates not checked",
        needs_ca_trust=True,
    ),
    Kind(
        name="not-yet-valid",
        presents="a chain to the trusted proxy CA with a leaf that is not valid yet",
        pinned=REJECT,
        unpinned=REJECT,
        catches="validity dates not checked (notBefore ignored)",
        needs_ca_trust=True,
    ),
    Kind(
        name="leaf-as-ca",
        presents="a leaf for the host signed by an end-entity certificate that chains to "
        "the trusted proxy CA",
        pinned=REJECT,
        unpinned=REJECT,
        catches="basicConstraints not checked: any certificate holder can issue for any host",
        needs_ca_trust=True,
    ),
    Kind(
        name="pinned-key",
        presents="a leaf for the host issued by the proxy CA, carrying the key the app pins "
        "(keys.current in the scenario; with keys.at: intermediate, an intermediate carries it)",
        pinned=ACCEPT,
        unpinned=ACCEPT,
        catches="nothing by itself: accepted, it proves that the app trusts the proxy CA for "
        "this host, so its refusal of valid-ca can only be the pin",
        needs_ca_trust=True,
        key_role="current",
    ),
    Kind(
        name="backup-key",
        presents="the same as pinned-key with each backup key (keys.backup), one round each",
        pinned=ACCEPT,
        unpinned=ACCEPT,
        catches="a missing or wrong backup pin: rotating the server to that key would break "
        "the app (a rotation rehearsal)",
        needs_ca_trust=True,
        key_role="backup",
    ),
)

KINDS: dict[str, Kind] = {k.name: k for k in _CATALOGUE}
DEFAULT_PHASES: tuple[str, ...] = ("valid-ca", "self-signed", "wrong-key")
KEY_KINDS: tuple[str, ...] = tuple(k.name for k in _CATALOGUE if k.key_role)


def expected(kind: str, pinned: bool, overrides: Mapping[str, str] | None = None) -> str:
    """What a host under test must do with `kind`: the scenario's override, else the catalogue's."""
    if overrides and kind in overrides:
        return overrides[kind]
    k = KINDS[kind]
    return k.pinned if pinned else k.unpinned

"""The certificates the proxy presents: one small function per kind, `Forge` caches them.

Every negative kind differs from `valid-ca` in exactly one respect (issuer, key, name, dates,
basicConstraints), so a client that accepts it has exactly one bug, and the kind's name says
which. Names we make up carry the organisation "mitm-pincheck", so a tester who opens a
certificate in a packet capture knows where it came from.

Pure crypto: no sockets, no mitmproxy objects except in `authority_from_mitmproxy_confdir`.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mitm_pincheck.proxy import mirror
from mitm_pincheck.verdicts.kinds import KINDS

TOOL = "mitm-pincheck"
UNTRUSTED_CA_FILE = "pincheck-untrusted-ca.pem"
# Apple rejects TLS leaves valid for more than 825 days (398 for publicly trusted CAs); a year
# stays under both, so a rejection of valid-ca is never about the lifetime.
LEAF_LIFETIME = datetime.timedelta(days=365)
# Backdated a day so a device whose clock runs a little behind still sees a valid leaf.
BACKDATE = datetime.timedelta(days=1)
# .invalid is reserved (RFC 2606): it can never be the real host, and resolves nowhere.
WRONG_HOST_NAMES = ("wrong-host.invalid", "pincheck-wrong-host.invalid")
RSA_LEAF_BITS = 2048
# The kinds whose leaves the proxy mints, with an EC and an RSA key each.
MINTED_KINDS = frozenset(
    ("valid-ca", "self-signed", "untrusted-ca", "wrong-host", "expired", "not-yet-valid")
    + ("leaf-as-ca",)
)


@dataclass(frozen=True)
class Forged:
    """What to present: `chain` is leaf first, then the certificates to send after it.

    `extra_leaves` are the same leaf with another key type, sent instead of `chain[0]` to a
    client that cannot use its key (an RSA-only TLS stack shown an EC leaf would fail the
    handshake on our side, which proves nothing about pinning); OpenSSL picks per client.
    """

    chain: tuple[x509.Certificate, ...]
    key: PrivateKeyTypes
    notes: tuple[str, ...] = ()
    extra_leaves: tuple[tuple[x509.Certificate, PrivateKeyTypes], ...] = ()

    @property
    def leaves(self) -> tuple[tuple[x509.Certificate, PrivateKeyTypes], ...]:
        return ((self.chain[0], self.key), *self.extra_leaves)


@dataclass(frozen=True)
class Authority:
    """A CA we can issue from."""

    cert: x509.Certificate
    key: PrivateKeyTypes


# --- the kinds ---------------------------------------------------------------------------------


def valid_ca(host: str, real_leaf: x509.Certificate | None, trusted: Authority) -> Forged:
    """A leaf for the host from the proxy CA the device trusts, names copied from the real one.

    Catches the app that does not pin at all: a well-behaved unpinned app accepts it, a pinning
    app must refuse it although the platform says the chain is fine (OkHttp's CertificatePinner,
    TrustKit, NSURLSession delegates). It is also the control that proves the device trusts the
    proxy CA, so its names match the real certificate's.
    """
    return _leaf_for(host, real_leaf, trusted, _now() - BACKDATE, kind="valid-ca")


def self_signed(host: str, real_leaf: x509.Certificate | None) -> Forged:
    """A self-signed leaf for the host with a fresh key, no CA behind it.

    Catches the trust-all TrustManager / `verify=False` / `ServerTrustPolicy.disableEvaluation`
    shipped from a debug build: any client that checks the chain at all refuses it in the
    handshake (OpenSSL: "self-signed certificate"; alert bad_certificate or unknown_ca).
    """
    start = _now() - BACKDATE
    subject = _self_signed_subject(host, real_leaf)
    names = _alt_names(host, real_leaf)
    leaves = _issue_leaves("self-signed", subject, names, None, start, real_leaf)
    return _forged(leaves, (), _names_note(host, real_leaf))


def wrong_key(host: str, real_chain: Sequence[x509.Certificate] | None) -> Forged:
    """The real server's chain, with the leaf's public key swapped and its signature broken.

    Subject, issuer, serial, dates and extensions are the real ones; only the key (fresh, same
    type and size) and therefore the signature differ. Catches validation that compares names,
    fingerprints of the wrong certificate or the chain's shape but never checks the leaf's
    signature, and "pinning" against the issuer's name rather than a key. A client that checks
    signatures refuses it in the handshake (OpenSSL: "certificate signature failure").
    """
    if not real_chain:
        return _wrong_key_stand_in(host)
    cert, key, notes = mirror.swap_leaf_key(host, real_chain)
    # Exactly what the server sent after its leaf, root included when it sends one: a client
    # that looks the chain up by its shape must see the same shape.
    return Forged((cert, *real_chain[1:]), key, notes)


def spliced_chain(host: str, real_chain: Sequence[x509.Certificate] | None) -> Forged:
    """A self-signed leaf for the host, followed by the real server's intermediates and root.

    Catches pinning that looks for its pin *anywhere in the presented chain* without first
    validating the chain: the pinned intermediate or root is there, so such a client accepts
    a leaf anyone can make from the server's public certificates (pinning libraries have
    shipped this bug). Any client that validates the chain refuses it in the handshake, pinned
    or not. The leaf's key has the real leaf's type and size, so it negotiates as the real one.
    """
    real_leaf = _real_leaf(real_chain or ())
    start = _now() - BACKDATE
    subject = _self_signed_subject(host, real_leaf)
    real_key = real_leaf.public_key() if real_leaf is not None else None
    if isinstance(real_key, rsa.RSAPublicKey):  # (see rsa_leaf_key: never one per host)
        key, notes = rsa_leaf_key("spliced-chain", real_key.key_size), ()
    elif real_key is not None:
        key, notes = mirror.fresh_key_like(real_key)
    else:
        key, notes = _leaf_key(), ()
    cert = _issue(subject, _alt_names(host, real_leaf), key, None, start)
    if len(real_chain or ()) < 2:
        notes += (
            f"real chain for {host} unavailable or a single certificate: presented the "
            "self-signed leaf alone",
        )
    return Forged((cert, *(real_chain or ())[1:]), key, notes + _names_note(host, real_leaf))


def untrusted_ca(host: str, real_leaf: x509.Certificate | None, untrusted: Authority) -> Forged:
    """A leaf like valid-ca's, but issued by a CA the device was never told to trust.

    Catches clients that accept any chain that ends in *a* CA: custom TrustManagers that only
    check the chain is well formed, or that trust every CA they are shown. Correct clients
    refuse it in the handshake with alert unknown_ca ("unable to get local issuer certificate").
    """
    return _leaf_for(host, real_leaf, untrusted, _now() - BACKDATE, kind="untrusted-ca")


def wrong_host(host: str, trusted: Authority) -> Forged:
    """A valid leaf from the trusted proxy CA, but for `wrong-host.invalid`, not for the host.

    Catches missing host-name verification: ALLOW_ALL_HOSTNAME_VERIFIER, a HostnameVerifier
    that returns true, `check_hostname=False`, NSURLSession delegates that only evaluate the
    chain. Nothing about the name can match the host: no copied names, no wildcard.
    """
    name = next(n for n in WRONG_HOST_NAMES if n != host)
    start = _now() - BACKDATE
    leaves = _issue_leaves("wrong-host", _name(name, TOOL), [x509.DNSName(name)], trusted, start)
    return _forged(leaves, ())


def expired(host: str, real_leaf: x509.Certificate | None, trusted: Authority) -> Forged:
    """valid-ca's leaf, but it expired 30 days ago (valid from 60 to 30 days ago).

    Catches clients that never check notAfter: custom X509TrustManagers that skip
    `checkValidity()`, and verify callbacks that clear X509_V_ERR_CERT_HAS_EXPIRED. Correct
    clients refuse it in the handshake with alert certificate_expired.
    """
    now = _now()
    days = datetime.timedelta(days=1)
    return _leaf_for(host, real_leaf, trusted, now - 60 * days, now - 30 * days, kind="expired")


def not_yet_valid(host: str, real_leaf: x509.Certificate | None, trusted: Authority) -> Forged:
    """valid-ca's leaf, but it only becomes valid 30 days from now.

    Catches clients that check notAfter but not notBefore (a hand-written date check is often
    half of one). Correct clients refuse it in the handshake; OpenSSL reports "certificate is
    not yet valid" and sends bad_certificate.
    """
    start = _now() + datetime.timedelta(days=30)
    return _leaf_for(host, real_leaf, trusted, start, kind="not-yet-valid")


def leaf_as_ca(host: str, real_leaf: x509.Certificate | None, trusted: Authority) -> Forged:
    """valid-ca's leaf, signed by an end-entity certificate that the trusted CA issued.

    The middle certificate is an ordinary server certificate (basicConstraints CA:false, no
    keyCertSign), the kind anyone can buy for their own domain. Catches chain validation that
    ignores basicConstraints and key usage: the 2002 IE/Konqueror bug, and hand-written chain
    walkers that only check each signature. Correct clients refuse it in the handshake
    (OpenSSL: "invalid CA certificate").
    """
    start = _now() - BACKDATE
    ee_key = _leaf_key()
    ee_name = _name("mitm-pincheck end-entity certificate, not a CA", TOOL)
    end_entity = _issue(ee_name, [x509.DNSName("not-a-ca.invalid")], ee_key, trusted, start)
    issuer = Authority(end_entity, ee_key)
    return _leaf_for(host, real_leaf, issuer, start, via=(end_entity,), kind="leaf-as-ca")


def pinned_key(
    host: str,
    real_leaf: x509.Certificate | None,
    trusted: Authority,
    key: PrivateKeyTypes,
    at: str = "leaf",
) -> Forged:
    """valid-ca's leaf, but carrying a key the team owns: the one the app pins (pinned-key) or
    one of its backup keys (backup-key). With `at="intermediate"` the proxy CA signs an
    intermediate with that key, which signs a leaf with a fresh key, for apps that pin an
    intermediate the team owns.

    Not a negative kind: every app must accept it, pinned or not. Accepted, it proves that the
    app trusts the proxy CA for this host, so a refusal of valid-ca can only be the pin; a backup
    key refused is the outage a key rotation would cause (a pin-set without that backup pin).
    """
    start = _now() - BACKDATE
    subject, names = _subject(host, real_leaf), _alt_names(host, real_leaf)
    if at == "intermediate":
        inter = _intermediate(key, trusted, start)
        leaf_key = _leaf_key()
        cert = _issue(subject, names, leaf_key, Authority(inter, key), start)
        return Forged((cert, inter), leaf_key, _names_note(host, real_leaf))
    cert = _issue(subject, names, key, trusted, start)
    return Forged((cert,), key, _names_note(host, real_leaf))


def _intermediate(
    key: PrivateKeyTypes, issuer: Authority, start: datetime.datetime
) -> x509.Certificate:
    """A CA certificate for `key`, issued by `issuer`, allowed to issue leaves only."""
    name = _name("mitm-pincheck intermediate with the team's key", TOOL)
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ski(issuer.cert))
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(_not_after(start, issuer))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(digital_signature=True, cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(aki, critical=False)
        .sign(issuer.key, mirror.signing_hash(issuer.key))
    )


# --- the cache ---------------------------------------------------------------------------------


class Forge:
    """Builds each (host, kind) once and hands back the same `Forged` from then on.

    Thread-safe: the addon calls `forge` through `asyncio.to_thread` from many connections at
    once, and two concurrent first calls for one (host, kind) must present the same
    certificate, or a client that pins on first sight would see two. A lock per key keeps
    different hosts from waiting on each other's RSA key generation.
    """

    def __init__(self, trusted: Authority, untrusted: Authority | None = None):
        self.trusted = trusted
        self.untrusted = untrusted or _new_ca("mitm-pincheck untrusted CA (in memory)")
        self._cache: dict[tuple[str, str], Forged] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        leaf = _real_leaf  # the kinds that only copy names need just the leaf
        self._kinds: dict[str, Callable[[str, Sequence[x509.Certificate]], Forged]] = {
            "valid-ca": lambda h, chain: valid_ca(h, leaf(chain), self.trusted),
            "self-signed": lambda h, chain: self_signed(h, leaf(chain)),
            "wrong-key": lambda h, chain: wrong_key(h, chain),
            "spliced-chain": lambda h, chain: spliced_chain(h, chain),
            "untrusted-ca": lambda h, chain: untrusted_ca(h, leaf(chain), self.untrusted),
            "wrong-host": lambda h, chain: wrong_host(h, self.trusted),
            "expired": lambda h, chain: expired(h, leaf(chain), self.trusted),
            "not-yet-valid": lambda h, chain: not_yet_valid(h, leaf(chain), self.trusted),
            "leaf-as-ca": lambda h, chain: leaf_as_ca(h, leaf(chain), self.trusted),
        }

    def forge_with_key(
        self,
        host: str,
        kind: str,
        key: PrivateKeyTypes,
        at: str = "leaf",
        real_chain: Sequence[x509.Certificate] | None = None,
    ) -> Forged:
        """pinned-key / backup-key for `host`, carrying `key` (a key the team owns), cached per
        (host, kind, key, at) like `forge`."""
        host = normalize_host(host)
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        cache_key = (host, f"{kind}:{at}:{public.hex()}")
        return self._cached(
            cache_key,
            lambda: pinned_key(host, _real_leaf(tuple(real_chain or ())), self.trusted, key, at),
        )

    def forge(
        self, host: str, kind: str, real_chain: Sequence[x509.Certificate] | None = None
    ) -> Forged:
        """The certificate chain and key to present to a client for `host` under `kind`.

        `real_chain` (leaf first, as the real server sent it) is only used by the first call
        for a (host, kind); later calls get the cached result whatever they pass.
        """
        make = self._kinds.get(kind)
        if make is None:
            if kind in KINDS and KINDS[kind].key_role:
                raise ValueError(f"kind {kind!r} presents a key of the team's: use forge_with_key")
            if kind in KINDS:
                raise ValueError(f"kind {kind!r} presents the real certificate: nothing to forge")
            raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
        host = normalize_host(host)
        return self._cached((host, kind), lambda: make(host, tuple(real_chain or ())))

    def _cached(self, key: tuple[str, str], make: Callable[[], Forged]) -> Forged:
        if (hit := self._cache.get(key)) is not None:
            return hit
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if (hit := self._cache.get(key)) is None:
                hit = self._cache[key] = make()
            return hit


# --- authorities -------------------------------------------------------------------------------


def load_or_create_untrusted_ca(confdir: Path) -> Authority:
    """The CA behind `untrusted-ca`, kept in `confdir` so runs are comparable.

    Never export or install it: the kind only means something while no device trusts it. The
    file holds a private key, so it is created 0600 (its directory 0700 when we create it).
    """
    confdir = Path(confdir).expanduser()
    path = confdir / UNTRUSTED_CA_FILE
    if path.exists():
        return _read_authority(path.read_bytes())
    confdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    authority = _new_ca("mitm-pincheck untrusted CA (never install this)")
    pem = authority.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + authority.cert.public_bytes(serialization.Encoding.PEM)
    # Written aside and renamed, so a concurrent reader never sees half a file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.replace(tmp, path)
    return authority


def authority_from_mitmproxy_confdir(confdir: Path) -> Authority:
    """The proxy CA the device trusts: mitmproxy's own, created in `confdir` if missing (0600
    keys in a 0700 directory, see ca.py)."""
    from mitm_pincheck.device import ca  # the rest of this module does not need mitmproxy

    info = ca.load_ca(confdir)
    return Authority(info.cert, info.key)


def normalize_host(host: str) -> str:
    """One spelling per host: lower case, no trailing dot or brackets, A-labels, compact IPs."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if not host:
        raise ValueError("empty host name")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    return host if host.isascii() else host.encode("idna").decode("ascii")


# --- helpers -----------------------------------------------------------------------------------


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _leaf_key() -> ec.EllipticCurvePrivateKey:
    # P-256: generated in microseconds, accepted by every TLS stack a phone ships.
    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def rsa_leaf_key(kind: str, bits: int = RSA_LEAF_BITS) -> rsa.RSAPrivateKey:
    """The RSA key of every RSA leaf of `kind`, for the clients that cannot use an EC leaf
    (RSA-only cipher lists, RSA-PSS-only TLS 1.3).

    One per kind for the process, as mitmproxy uses one key for all its leaves: generating an
    RSA key holds the GIL for 50 ms or more, which per host would stall every connection the
    proxy serves. A kind never shows another kind's key, so a client that remembers keys
    cannot carry an acceptance from one phase into the next; hosts are pinned one by one, so
    sharing a key across them changes nothing a pin can see."""
    return rsa.generate_private_key(65537, bits)


def warm_up(kinds) -> None:
    """Make the RSA keys of `kinds` now (at start-up), not on a client's first connection."""
    for kind in kinds:
        if kind in MINTED_KINDS:
            rsa_leaf_key(kind)


def _leaf_keys(
    kind: str, real_leaf: x509.Certificate | None
) -> tuple[PrivateKeyTypes, PrivateKeyTypes]:
    """A fresh EC key and the kind's RSA key, the real leaf's type first (shown in evidence)."""
    ec_key, rsa_key = _leaf_key(), rsa_leaf_key(kind)
    if real_leaf is not None and isinstance(real_leaf.public_key(), rsa.RSAPublicKey):
        return rsa_key, ec_key
    return ec_key, rsa_key


def _issue_leaves(
    kind: str,
    subject: x509.Name,
    alt_names: list[x509.GeneralName],
    issuer: Authority | None,
    not_before: datetime.datetime,
    real_leaf: x509.Certificate | None = None,
    not_after: datetime.datetime | None = None,
) -> tuple[tuple[x509.Certificate, PrivateKeyTypes], ...]:
    """The same leaf with an EC and with an RSA key (`_issue` for each)."""
    leaves = []
    for key in _leaf_keys(kind, real_leaf):
        leaves.append((_issue(subject, alt_names, key, issuer, not_before, not_after), key))
    return tuple(leaves)


def _forged(leaves, via: tuple[x509.Certificate, ...], notes: tuple[str, ...] = ()) -> Forged:
    (cert, key), *extra = leaves
    return Forged((cert, *via), key, notes, tuple(extra))


def _self_signed_subject(host: str, real_leaf: x509.Certificate | None) -> x509.Name:
    cn = _attributes(real_leaf, NameOID.COMMON_NAME)[:1]
    cn = cn or _name(_cn_for(host), TOOL).get_attributes_for_oid(NameOID.COMMON_NAME)
    return x509.Name([*cn, x509.NameAttribute(NameOID.ORGANIZATION_NAME, TOOL)])


def _real_leaf(chain: Sequence[x509.Certificate]) -> x509.Certificate | None:
    return chain[0] if chain else None


def _name(common_name: str | None, organization: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)]
    if common_name:
        attrs.insert(0, x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _cn_for(host: str) -> str | None:
    return host if len(host) <= 64 else None  # a CN is at most 64 characters; the SAN has it


def _attributes(cert: x509.Certificate | None, oid: x509.ObjectIdentifier) -> list:
    return cert.subject.get_attributes_for_oid(oid) if cert is not None else []


def _subject(host: str, real_leaf: x509.Certificate | None) -> x509.Name:
    """The real leaf's CN and O when we have them, so the leaf reads like the real one."""
    copied = _attributes(real_leaf, NameOID.COMMON_NAME)[:1]
    copied += _attributes(real_leaf, NameOID.ORGANIZATION_NAME)[:1]
    return x509.Name(copied) if copied else _name(_cn_for(host), TOOL)


def _alt_names(host: str, real_leaf: x509.Certificate | None) -> list[x509.GeneralName]:
    """The host first, then the real leaf's DNS and IP names, so other names the app uses on
    the same connection (HTTP/2 coalescing) are covered too."""
    try:
        names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(host))]
    except ValueError:
        names = [x509.DNSName(host)]
    if real_leaf is not None:
        try:
            san = real_leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            san = None
        if san is not None:
            for n in san.value:
                if isinstance(n, x509.DNSName | x509.IPAddress) and n not in names:
                    names.append(n)
    return names


def _leaf_for(
    host: str,
    real_leaf: x509.Certificate | None,
    issuer: Authority,
    not_before: datetime.datetime,
    not_after: datetime.datetime | None = None,
    via: tuple[x509.Certificate, ...] = (),
    *,
    kind: str,
) -> Forged:
    """valid-ca's leaf: the real leaf's names, fresh keys; the kinds vary issuer and dates."""
    subject, names = _subject(host, real_leaf), _alt_names(host, real_leaf)
    leaves = _issue_leaves(kind, subject, names, issuer, not_before, real_leaf, not_after)
    return _forged(leaves, via, _names_note(host, real_leaf))


def _names_note(host: str, real_leaf: x509.Certificate | None) -> tuple[str, ...]:
    if real_leaf is not None:
        return ()
    return (f"real certificate for {host} unavailable: the leaf names only {host}",)


def _not_after(start: datetime.datetime, issuer: Authority | None) -> datetime.datetime:
    """A year, but never past the issuer's own expiry: a leaf outliving its CA looks forged."""
    if issuer is None:
        return start + LEAF_LIFETIME
    end = min(start + LEAF_LIFETIME, issuer.cert.not_valid_after_utc)
    if end <= start:
        raise ValueError(
            f"CA {issuer.cert.subject.rfc4514_string()} is only valid until "
            f"{issuer.cert.not_valid_after_utc:%Y-%m-%d}: renew it"
        )
    return end


def _ski(cert: x509.Certificate) -> x509.SubjectKeyIdentifier:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:  # e.g. an old CA: derive it the usual way
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key())


def _issue(
    subject: x509.Name,
    alt_names: list[x509.GeneralName],
    key: PrivateKeyTypes,
    issuer: Authority | None,
    not_before: datetime.datetime,
    not_after: datetime.datetime | None = None,
) -> x509.Certificate:
    """A TLS server leaf as platform verifiers and cryptography's strict verifier expect it;
    `issuer` None makes it self-signed, `not_after` defaults to `_not_after`."""
    public_key = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after or _not_after(not_before, issuer))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(key), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer is None:
        return builder.sign(key, mirror.signing_hash(key))
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ski(issuer.cert))
    builder = builder.add_extension(aki, critical=False)
    return builder.sign(issuer.key, mirror.signing_hash(issuer.key))


def _leaf_key_usage(key: PrivateKeyTypes) -> x509.KeyUsage:
    # An RSA leaf may be used for RSA key exchange (TLS 1.0-1.2 TLS_RSA_* suites), which strict
    # clients (the JDK) refuse without keyEncipherment: a refusal that says nothing of pins.
    return _key_usage(digital_signature=True, key_encipherment=isinstance(key, rsa.RSAPrivateKey))


def _key_usage(
    digital_signature: bool = False, cert_sign: bool = False, key_encipherment: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _new_ca(common_name: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name, TOOL)
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=2))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return Authority(cert, key)


def _read_authority(pem: bytes) -> Authority:
    key = serialization.load_pem_private_key(pem, password=None)
    return Authority(x509.load_pem_x509_certificate(pem), key)


def _wrong_key_stand_in(host: str) -> Forged:
    """No real chain to mirror: a leaf for the host signed by a CA nobody has heard of."""
    key = _leaf_key()
    issuer = _new_ca("mitm-pincheck Stand-in Issuing CA")  # its certificate is never sent
    start = _now() - BACKDATE
    subject = _name(_cn_for(host), TOOL)
    cert = _issue(subject, _alt_names(host, None), key, issuer, start)
    note = f"real chain for {host} unavailable: presented a stand-in leaf with a fresh key instead"
    return Forged((cert,), key, (note,))

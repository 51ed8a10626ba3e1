"""The certificates the proxy presents: one small function per kind, `Forge` caches them.

Every negative kind differs from `valid-ca` in exactly one respect (issuer, key, name, dates,
basicConstraints), so a client that accepts it has exactly one bug, and the kind's name says
which. Names we make up carry the organisation "mitm-pincheck", so a tester who opens a
certificate in a packet capture knows where it came from.

Pure crypto: no sockets, no mitmproxy objects except in `authority_from_mitmproxy_confdir`.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
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


@dataclass(frozen=True)
class Forged:
    """What to present: `chain` is leaf first, then intermediates to send (never a root)."""

    chain: tuple[x509.Certificate, ...]
    key: PrivateKeyTypes
    notes: tuple[str, ...] = ()


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
    return _leaf_for(host, real_leaf, trusted, _now() - BACKDATE)


def self_signed(host: str, real_leaf: x509.Certificate | None) -> Forged:
    """A self-signed leaf for the host with a fresh key, no CA behind it.

    Catches the trust-all TrustManager / `verify=False` / `ServerTrustPolicy.disableEvaluation`
    shipped from a debug build: any client that checks the chain at all refuses it in the
    handshake (OpenSSL: "self-signed certificate"; alert bad_certificate or unknown_ca).
    """
    key = _leaf_key()
    start = _now() - BACKDATE
    cn = _attributes(real_leaf, NameOID.COMMON_NAME)[:1]
    cn = cn or _name(_cn_for(host), TOOL).get_attributes_for_oid(NameOID.COMMON_NAME)
    subject = x509.Name([*cn, x509.NameAttribute(NameOID.ORGANIZATION_NAME, TOOL)])
    cert = _issue(subject, _alt_names(host, real_leaf), key, None, start)
    return Forged((cert,), key, _names_note(host, real_leaf))


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
    intermediates = tuple(c for c in real_chain[1:] if c.subject != c.issuer)  # never a root
    return Forged((cert, *intermediates), key, notes)


def untrusted_ca(host: str, real_leaf: x509.Certificate | None, untrusted: Authority) -> Forged:
    """A leaf like valid-ca's, but issued by a CA the device was never told to trust.

    Catches clients that accept any chain that ends in *a* CA: custom TrustManagers that only
    check the chain is well formed, or that trust every CA they are shown. Correct clients
    refuse it in the handshake with alert unknown_ca ("unable to get local issuer certificate").
    """
    return _leaf_for(host, real_leaf, untrusted, _now() - BACKDATE)


def wrong_host(host: str, trusted: Authority) -> Forged:
    """A valid leaf from the trusted proxy CA, but for `wrong-host.invalid`, not for the host.

    Catches missing host-name verification: ALLOW_ALL_HOSTNAME_VERIFIER, a HostnameVerifier
    that returns true, `check_hostname=False`, NSURLSession delegates that only evaluate the
    chain. Nothing about the name can match the host: no copied names, no wildcard.
    """
    name = next(n for n in WRONG_HOST_NAMES if n != host)
    key = _leaf_key()
    start = _now() - BACKDATE
    cert = _issue(_name(name, TOOL), [x509.DNSName(name)], key, trusted, start)
    return Forged((cert,), key)


def expired(host: str, real_leaf: x509.Certificate | None, trusted: Authority) -> Forged:
    """valid-ca's leaf, but it expired 30 days ago (valid from 60 to 30 days ago).

    Catches clients that never check notAfter: custom X509TrustManagers that skip
    `checkValidity()`, and verify callbacks that clear X509_V_ERR_CERT_HAS_EXPIRED. Correct
    clients refuse it in the handshake with alert certificate_expired.
    """
    now = _now()
    days = datetime.timedelta(days=1)
    return _leaf_for(host, real_leaf, trusted, now - 60 * days, now - 30 * days)


def not_yet_valid(host: str, real_leaf: x509.Certificate | None, trusted: Authority) -> Forged:
    """valid-ca's leaf, but it only becomes valid 30 days from now.

    Catches clients that check notAfter but not notBefore (a hand-written date check is often
    half of one). Correct clients refuse it in the handshake; OpenSSL reports "certificate is
    not yet valid" and sends bad_certificate.
    """
    return _leaf_for(host, real_leaf, trusted, _now() + datetime.timedelta(days=30))


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
    return _leaf_for(host, real_leaf, Authority(end_entity, ee_key), start, via=(end_entity,))


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
            "untrusted-ca": lambda h, chain: untrusted_ca(h, leaf(chain), self.untrusted),
            "wrong-host": lambda h, chain: wrong_host(h, self.trusted),
            "expired": lambda h, chain: expired(h, leaf(chain), self.trusted),
            "not-yet-valid": lambda h, chain: not_yet_valid(h, leaf(chain), self.trusted),
            "leaf-as-ca": lambda h, chain: leaf_as_ca(h, leaf(chain), self.trusted),
        }

    def forge(
        self, host: str, kind: str, real_chain: Sequence[x509.Certificate] | None = None
    ) -> Forged:
        """The certificate chain and key to present to a client for `host` under `kind`.

        `real_chain` (leaf first, as the real server sent it) is only used by the first call
        for a (host, kind); later calls get the cached result whatever they pass.
        """
        make = self._kinds.get(kind)
        if make is None:
            if kind in KINDS:
                raise ValueError(f"kind {kind!r} presents the real certificate: nothing to forge")
            raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
        host = normalize_host(host)
        key = (host, kind)
        if (hit := self._cache.get(key)) is not None:
            return hit
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if (hit := self._cache.get(key)) is None:
                hit = self._cache[key] = make(host, tuple(real_chain or ()))
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
) -> Forged:
    """valid-ca's leaf: the real leaf's names, a fresh key; the kinds vary issuer and dates."""
    key = _leaf_key()
    subject, names = _subject(host, real_leaf), _alt_names(host, real_leaf)
    cert = _issue(subject, names, key, issuer, not_before, not_after)
    return Forged((cert, *via), key, _names_note(host, real_leaf))


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
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer is None:
        return builder.sign(key, mirror.signing_hash(key))
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ski(issuer.cert))
    builder = builder.add_extension(aki, critical=False)
    return builder.sign(issuer.key, mirror.signing_hash(issuer.key))


def _key_usage(digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
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

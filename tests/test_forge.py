"""forge.py: every kind checked by real verifiers (cryptography, `openssl verify`, a real TLS
handshake to Python's ssl), against an upstream-like chain built here. No mocks."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import re
import socket
import ssl
import stat
import struct
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from OpenSSL import SSL

from mitm_pincheck.pins import pins
from mitm_pincheck.proxy import forge
from mitm_pincheck.proxy.forge import Authority, Forge, Forged
from mitm_pincheck.verdicts.kinds import KINDS

HOST = "api.example.test"
REPO = Path(__file__).resolve().parents[1]
NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)
# The key kinds carry a key of the team's: forge_with_key (tests/test_forge_keys.py).
FORGED_KINDS = [k.name for k in KINDS.values() if k.intercepts and not k.key_role]


# --- an upstream-like world, built with cryptography ------------------------------------------


def _name(cn: str, org: str = "Example Test Inc") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _fake_scts() -> x509.UnrecognizedExtension:
    """A syntactically valid SCT list, as public CAs embed: wrong-key must copy it verbatim."""
    sig = b"\x30\x06\x02\x01\x01\x02\x01\x01"
    sct = b"\x00" + bytes(range(32)) + struct.pack(">Q", 1_700_000_000_000) + b"\x00\x00"
    sct += b"\x04\x03" + struct.pack(">H", len(sig)) + sig
    body = struct.pack(">H", len(sct) + 2) + struct.pack(">H", len(sct)) + sct
    return x509.UnrecognizedExtension(
        ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS, b"\x04" + bytes([len(body)]) + body
    )


def _cert(subject, issuer_name, public_key, signer, digest, *, ca, issuer_pub=None, extra=()):
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - 3650 * DAY)
        .not_valid_after(NOW + 3650 * DAY if ca else NOW + 90 * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=not ca and isinstance(public_key, rsa.RSAPublicKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if issuer_pub is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_pub), critical=False
        )
    for ext, critical in extra:
        b = b.add_extension(ext, critical)
    return b.sign(signer, digest)


class Upstream:
    """root -> intermediate -> leaf for HOST, like a public server's chain."""

    def __init__(self, root_key, inter_key, leaf_key, digest):
        self.root = _cert(
            _name("Example Test Root CA"), _name("Example Test Root CA"),
            root_key.public_key(), root_key, digest, ca=True,
        )  # fmt: skip
        self.intermediate = _cert(
            _name("Example Test Issuing CA 1"), self.root.subject, inter_key.public_key(),
            root_key, digest, ca=True, issuer_pub=root_key.public_key(),
        )  # fmt: skip
        sans = x509.SubjectAlternativeName(
            [
                x509.DNSName(HOST),
                x509.DNSName("*.cdn.example.test"),
                x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
            ]
        )
        eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
        self.leaf = _cert(
            _name(HOST), self.intermediate.subject, leaf_key.public_key(), inter_key, digest,
            ca=False, issuer_pub=inter_key.public_key(),
            extra=[(sans, False), (eku, False), (_fake_scts(), False)],
        )  # fmt: skip
        self.chain = (self.leaf, self.intermediate)


@pytest.fixture(scope="module")
def rsa_upstream():
    keys = [rsa.generate_private_key(65537, 2048) for _ in range(3)]
    return Upstream(*keys, hashes.SHA256())


@pytest.fixture(scope="module")
def ec_upstream():
    p384 = ec.SECP384R1()
    keys = ec.generate_private_key(p384), ec.generate_private_key(p384)
    return Upstream(*keys, ec.generate_private_key(ec.SECP256R1()), hashes.SHA384())


@pytest.fixture(scope="module", params=["rsa", "ec"])
def upstream(request, rsa_upstream, ec_upstream):
    return rsa_upstream if request.param == "rsa" else ec_upstream


def _authority(cn: str, not_after: datetime.datetime | None = None) -> Authority:
    """A proxy CA like mitmproxy's (RSA 2048), but valid for years back so that time-shifted
    verification can prove that expired/not-yet-valid fail on the leaf's dates only."""
    key = rsa.generate_private_key(65537, 2048)
    name = _name(cn, "Test Proxy")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - 3650 * DAY)
        .not_valid_after(not_after or NOW + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .sign(key, hashes.SHA256())
    )
    return Authority(cert, key)


@pytest.fixture(scope="module")
def trusted():
    return _authority("Test Proxy CA")


@pytest.fixture(scope="module")
def forger(trusted):
    return Forge(trusted)


# --- verifiers ---------------------------------------------------------------------------------


def _subject(host: str):
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def verify(forged: Forged, roots, host: str = HOST, at: datetime.datetime | None = None):
    """cryptography's own path builder and web-PKI policy; raises VerificationError."""
    verifier = (
        PolicyBuilder()
        .store(Store(list(roots)))
        .time(at or datetime.datetime.now(datetime.UTC))
        .build_server_verifier(_subject(host))
    )
    return verifier.verify(forged.chain[0], list(forged.chain[1:]))


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def openssl_errors(tmp_path, forged: Forged, root: x509.Certificate, host=HOST) -> set[int]:
    """The X509_V_ERR codes `openssl verify` reports. The verify app carries on after expiry,
    invalid-CA and hostname errors, so a single code here means nothing else is wrong."""
    (tmp_path / "root.pem").write_bytes(_pem(root))
    (tmp_path / "leaf.pem").write_bytes(_pem(forged.chain[0]))
    (tmp_path / "untrusted.pem").write_bytes(_pem(*forged.chain[1:]) or b"")
    cmd = ["openssl", "verify", "-CAfile", tmp_path / "root.pem", "-verify_hostname", host]
    cmd += ["-untrusted", tmp_path / "untrusted.pem"] if len(forged.chain) > 1 else []
    out = subprocess.run(cmd + [tmp_path / "leaf.pem"], capture_output=True, text=True)
    codes = {int(c) for c in re.findall(r"error (\d+) at \d+ depth", out.stdout + out.stderr)}
    assert (out.returncode == 0) == (not codes), out.stdout + out.stderr
    return codes


def serve_once(forged: Forged, ca_pem: bytes, server_hostname: str):
    """Serve `forged` from a pyOpenSSL context (cryptography objects only) for one handshake by
    a Python ssl client that trusts `ca_pem`. Returns (client error or None, alert the server
    read or None, bytes the server received after the handshake)."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # X509/PKey objects are deprecated in pyOpenSSL 24.3
        ctx.use_certificate(forged.chain[0])
        for extra in forged.chain[1:]:
            ctx.add_extra_chain_cert(extra)
        ctx.use_privatekey(forged.key)
        ctx.check_privatekey()
    alerts: list[int] = []

    def info(conn, where, ret):
        if where & SSL.SSL_CB_READ_ALERT and ret & 0xFF:  # 0 is close_notify: a clean close
            alerts.append(ret & 0xFF)

    ctx.set_info_callback(info)
    listener = socket.create_server(("127.0.0.1", 0))
    received = bytearray()

    def server():
        sock, _ = listener.accept()
        conn = SSL.Connection(ctx, sock)
        conn.set_accept_state()
        try:
            conn.do_handshake()
            received.extend(conn.recv(100))
            conn.sendall(b"pong")
            conn.shutdown()
        except SSL.Error:
            pass
        finally:
            sock.close()

    thread = threading.Thread(target=server, daemon=True)
    thread.start()
    client = ssl.create_default_context(cadata=ca_pem.decode())
    error = None
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with client.wrap_socket(raw, server_hostname=server_hostname) as tls:
                tls.sendall(b"ping")
                assert tls.recv(4) == b"pong"
    except ssl.SSLCertVerificationError as e:
        error = e
    thread.join(10)
    listener.close()
    return error, (alerts[0] if alerts else None), bytes(received)


def _ext(cert: x509.Certificate, cls):
    return cert.extensions.get_extension_for_class(cls).value


def _sans(cert: x509.Certificate) -> list:
    return list(_ext(cert, x509.SubjectAlternativeName))


# --- valid-ca ---------------------------------------------------------------------------------


def test_valid_ca_verifies_against_the_trusted_ca_for_the_host(upstream, trusted, tmp_path):
    forged = forge.valid_ca(HOST, upstream.leaf, trusted)
    assert len(forged.chain) == 1 and forged.notes == ()
    verify(forged, [trusted.cert])
    assert openssl_errors(tmp_path, forged, trusted.cert) == set()


def test_valid_ca_copies_names_from_the_real_leaf(upstream, trusted):
    leaf = forge.valid_ca(HOST, upstream.leaf, trusted).chain[0]
    assert _sans(leaf) == _sans(upstream.leaf)  # host first, then the rest, no duplicates
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == HOST
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "Example Test Inc"
    )
    assert leaf.issuer == trusted.cert.subject
    # the copied names verify too: the wildcard and the IP address
    verify(forge.valid_ca(HOST, upstream.leaf, trusted), [trusted.cert], "img.cdn.example.test")
    verify(forge.valid_ca(HOST, upstream.leaf, trusted), [trusted.cert], "192.0.2.7")


def test_valid_ca_leaf_is_a_proper_server_certificate(trusted):
    forged = forge.valid_ca(HOST, None, trusted)
    leaf = forged.chain[0]
    assert _ext(leaf, x509.BasicConstraints).ca is False
    assert list(_ext(leaf, x509.ExtendedKeyUsage)) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert _ext(leaf, x509.SubjectKeyIdentifier) == x509.SubjectKeyIdentifier.from_public_key(
        leaf.public_key()
    )
    aki = _ext(leaf, x509.AuthorityKeyIdentifier).key_identifier
    assert aki == _ext(trusted.cert, x509.SubjectKeyIdentifier).digest
    assert isinstance(forged.key, ec.EllipticCurvePrivateKey)
    assert forged.key.curve.name == "secp256r1"
    assert leaf.public_key() == forged.key.public_key()
    now = datetime.datetime.now(datetime.UTC)
    assert leaf.not_valid_before_utc < now - 0.9 * DAY
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= 366 * DAY  # Apple: 825
    assert leaf.serial_number != forge.valid_ca(HOST, None, trusted).chain[0].serial_number


def test_valid_ca_without_a_real_leaf_names_the_host_and_says_so(trusted):
    forged = forge.valid_ca(HOST, None, trusted)
    assert _sans(forged.chain[0]) == [x509.DNSName(HOST)]
    org = forged.chain[0].subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert org[0].value == "mitm-pincheck"
    assert forged.notes == (f"real certificate for {HOST} unavailable: the leaf names only {HOST}",)
    verify(forged, [trusted.cert])


def test_valid_ca_for_an_ip_literal_has_an_ip_san(trusted):
    forged = forge.valid_ca("10.0.2.2", None, trusted)
    assert _sans(forged.chain[0]) == [x509.IPAddress(ipaddress.ip_address("10.0.2.2"))]
    verify(forged, [trusted.cert], "10.0.2.2")


def test_valid_ca_for_a_name_too_long_for_a_common_name_still_verifies(trusted):
    host = ("a" * 60) + ".example.test"
    forged = forge.valid_ca(host, None, trusted)
    assert forged.chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME) == []
    verify(forged, [trusted.cert], host)


def test_valid_ca_never_outlives_its_ca():
    short = _authority("Short-lived CA", not_after=NOW + 100 * DAY)
    leaf = forge.valid_ca(HOST, None, short).chain[0]
    assert leaf.not_valid_after_utc == short.cert.not_valid_after_utc


def test_valid_ca_from_mitmproxys_confdir_serves_a_real_handshake(tmp_path):
    authority = forge.authority_from_mitmproxy_confdir(tmp_path / "conf")
    assert (tmp_path / "conf" / "mitmproxy-ca.pem").exists()
    again = forge.authority_from_mitmproxy_confdir(tmp_path / "conf")
    assert again.cert == authority.cert  # loaded, not recreated
    forged = Forge(authority).forge(HOST, "valid-ca")
    ca_pem = (tmp_path / "conf" / "mitmproxy-ca-cert.pem").read_bytes()  # what a device installs
    error, alert, received = serve_once(forged, ca_pem, HOST)
    assert (error, alert, received) == (None, None, b"ping")


# --- the negative kinds: each fails for exactly its one reason ---------------------------------


def test_self_signed_verifies_against_nothing(upstream, forger, tmp_path):
    forged = forge.self_signed(HOST, upstream.leaf)
    leaf = forged.chain[0]
    assert len(forged.chain) == 1 and leaf.issuer == leaf.subject
    leaf.verify_directly_issued_by(leaf)  # a genuine self-signature, with a fresh key
    assert leaf.public_key() != upstream.leaf.public_key()
    assert _sans(leaf)[0] == x509.DNSName(HOST)
    for roots in ([forger.trusted.cert], [forger.untrusted.cert], [upstream.root]):
        with pytest.raises(VerificationError):
            verify(forged, roots)
    assert openssl_errors(tmp_path, forged, forger.trusted.cert) == {18}  # depth zero self-signed


def test_wrong_key_keeps_everything_but_the_key_and_breaks_the_signature(upstream):
    forged = forge.wrong_key(HOST, upstream.chain)
    real, fake = upstream.leaf, forged.chain[0]
    assert forged.chain[1:] == (upstream.intermediate,)
    assert forged.notes == ()
    assert (fake.subject, fake.issuer, fake.serial_number) == (
        real.subject,
        real.issuer,
        real.serial_number,
    )
    assert (fake.not_valid_before_utc, fake.not_valid_after_utc) == (
        real.not_valid_before_utc,
        real.not_valid_after_utc,
    )
    assert fake.signature_algorithm_oid == real.signature_algorithm_oid
    assert fake.public_key() != real.public_key()
    assert fake.public_key() == forged.key.public_key()
    assert type(fake.public_key()) is type(real.public_key())
    if isinstance(real.public_key(), rsa.RSAPublicKey):
        assert fake.public_key().key_size == real.public_key().key_size
    else:
        assert fake.public_key().curve.name == real.public_key().curve.name
    # every extension byte for byte (SCTs included), except the recomputed key identifier
    real_exts = {e.oid: e for e in real.extensions}
    fake_exts = {e.oid: e for e in fake.extensions}
    assert list(real_exts) == list(fake_exts)
    for oid, ext in real_exts.items():
        assert fake_exts[oid].critical == ext.critical
        if oid != ExtensionOID.SUBJECT_KEY_IDENTIFIER:
            assert fake_exts[oid].value.public_bytes() == ext.value.public_bytes()
    assert _ext(fake, x509.SubjectKeyIdentifier) == x509.SubjectKeyIdentifier.from_public_key(
        fake.public_key()
    )
    with pytest.raises(InvalidSignature):
        fake.verify_directly_issued_by(upstream.intermediate)
    with pytest.raises(VerificationError):
        verify(forged, [upstream.root])


def test_wrong_key_fails_on_the_signature_in_openssl(upstream, tmp_path):
    forged = forge.wrong_key(HOST, upstream.chain)
    assert openssl_errors(tmp_path, forged, upstream.root) == {7}  # certificate signature failure


def test_wrong_key_sends_exactly_the_chain_the_server_sent_root_included(upstream):
    forged = forge.wrong_key(HOST, (*upstream.chain, upstream.root))
    assert forged.chain[1:] == (upstream.intermediate, upstream.root)
    assert forge.wrong_key(HOST, upstream.chain).chain[1:] == (upstream.intermediate,)


def test_spliced_chain_is_a_self_signed_leaf_before_the_real_chain(upstream, tmp_path):
    real = (*upstream.chain, upstream.root)
    forged = forge.spliced_chain(HOST, real)
    leaf = forged.chain[0]
    assert forged.chain[1:] == (upstream.intermediate, upstream.root)  # byte for byte
    assert leaf.issuer == leaf.subject
    leaf.verify_directly_issued_by(leaf)
    assert type(leaf.public_key()) is type(upstream.leaf.public_key())  # negotiates as the real
    assert leaf.public_key() != upstream.leaf.public_key()
    assert HOST in [n.value for n in _sans(leaf) if isinstance(n, x509.DNSName)]
    with pytest.raises(VerificationError):
        verify(forged, [upstream.root])
    assert openssl_errors(tmp_path, forged, upstream.root) == {18}  # self-signed leaf
    assert forged.notes == ()


def test_spliced_chain_without_a_real_chain_says_so(trusted):
    forged = Forge(trusted).forge(HOST, "spliced-chain")
    assert len(forged.chain) == 1 and forged.chain[0].issuer == forged.chain[0].subject
    assert any("unavailable" in n for n in forged.notes)


@pytest.mark.parametrize("kind", ["valid-ca", "self-signed", "untrusted-ca", "expired"])
def test_minted_kinds_offer_the_same_leaf_with_an_ec_and_an_rsa_key(kind, trusted, upstream):
    forged = Forge(trusted).forge(HOST, kind, upstream.chain)
    (first, first_key), (second, second_key) = forged.leaves
    types = {isinstance(c.public_key(), rsa.RSAPublicKey) for c in (first, second)}
    assert types == {True, False}  # one RSA, one EC
    assert first.subject == second.subject and first.issuer == second.issuer
    assert _sans(first) == _sans(second)
    assert first_key.public_key() == first.public_key()
    assert second_key.public_key() == second.public_key()
    for cert in (first, second):  # RSA key exchange needs keyEncipherment (the JDK checks)
        is_rsa = isinstance(cert.public_key(), rsa.RSAPublicKey)
        assert _ext(cert, x509.KeyUsage).key_encipherment is is_rsa
    # the real leaf's key type comes first (the one evidence shows)
    real_is_rsa = isinstance(upstream.leaf.public_key(), rsa.RSAPublicKey)
    assert isinstance(first.public_key(), rsa.RSAPublicKey) == real_is_rsa


def test_wrong_key_without_the_intermediate_reads_the_issuer_key_off_the_signature(upstream):
    forged = forge.wrong_key(HOST, (upstream.leaf,))
    assert forged.chain[0].signature_algorithm_oid == upstream.leaf.signature_algorithm_oid
    assert len(forged.chain[0].signature) == pytest.approx(len(upstream.leaf.signature), abs=2)


def test_wrong_key_mirrors_ed25519_and_rsa_pss():
    ed = Upstream(*(ed25519.Ed25519PrivateKey.generate() for _ in range(3)), None)
    fake = forge.wrong_key(HOST, ed.chain)
    assert isinstance(fake.key, ed25519.Ed25519PrivateKey)
    assert fake.chain[0].signature_algorithm_oid == x509.SignatureAlgorithmOID.ED25519

    key = rsa.generate_private_key(65537, 2048)
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(HOST))
        .issuer_name(_name("PSS CA"))
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .sign(key, hashes.SHA256(), rsa_padding=pss)
    )
    fake = forge.wrong_key(HOST, (leaf,)).chain[0]
    assert fake.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSASSA_PSS
    assert fake.serial_number == 7


def test_wrong_key_signs_with_sha256_when_the_real_leaf_uses_sha1(rsa_upstream):
    # a SHA-1 leaf (cryptography no longer signs those): swap the algorithm OID in the DER
    der = rsa_upstream.leaf.public_bytes(serialization.Encoding.DER)
    sha256_rsa = bytes.fromhex("06092a864886f70d01010b")
    assert der.count(sha256_rsa) == 2
    sha1_leaf = x509.load_der_x509_certificate(der.replace(sha256_rsa, sha256_rsa[:-1] + b"\x05"))
    assert sha1_leaf.signature_hash_algorithm.name == "sha1"
    forged = forge.wrong_key(HOST, (sha1_leaf, rsa_upstream.intermediate))
    assert forged.chain[0].signature_hash_algorithm.name == "sha256"
    assert forged.notes == (f"the real leaf of {HOST} uses sha1: signed with sha256 instead",)


def test_wrong_key_without_a_real_chain_presents_a_stand_in_and_says_so(forger):
    forged = forge.wrong_key(HOST, None)
    assert forged.notes == (
        f"real chain for {HOST} unavailable: presented a stand-in leaf with a fresh key instead",
    )
    leaf = forged.chain[0]
    assert len(forged.chain) == 1
    assert "CA" in leaf.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert leaf.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "mitm-pincheck"
    )
    assert _sans(leaf) == [x509.DNSName(HOST)]
    with pytest.raises(VerificationError):
        verify(forged, [forger.trusted.cert])
    assert forger.forge("no-upstream.example.test", "wrong-key", []).notes == (
        forged.notes[0].replace(HOST, "no-upstream.example.test"),
    )


def test_untrusted_ca_verifies_only_against_the_untrusted_ca(upstream, forger, tmp_path):
    forged = forger.forge("untrusted.example.test", "untrusted-ca", upstream.chain)
    host = "untrusted.example.test"
    verify(forged, [forger.untrusted.cert], host)
    with pytest.raises(VerificationError):
        verify(forged, [forger.trusted.cert], host)
    assert openssl_errors(tmp_path, forged, forger.trusted.cert, host) == {20}  # no local issuer


def test_untrusted_ca_file_is_private_and_reused(tmp_path):
    confdir = tmp_path / "new" / "confdir"
    authority = forge.load_or_create_untrusted_ca(confdir)
    path = confdir / "pincheck-untrusted-ca.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(confdir.stat().st_mode) == 0o700
    assert [p.name for p in confdir.iterdir()] == [path.name]  # no temporary file left behind
    again = forge.load_or_create_untrusted_ca(confdir)
    assert again.cert == authority.cert
    assert again.key.public_key() == authority.cert.public_key()
    assert _ext(authority.cert, x509.BasicConstraints).ca is True
    forged = forge.untrusted_ca(HOST, None, again)
    verify(forged, [authority.cert])


def test_wrong_host_fails_on_the_name_only(upstream, trusted, tmp_path):
    forged = forge.wrong_host(HOST, trusted)
    names = _sans(forged.chain[0])
    assert names == [x509.DNSName("wrong-host.invalid")]
    assert not any(n.value.startswith("*") or n.value == HOST for n in names)
    verify(forged, [trusted.cert], "wrong-host.invalid")  # everything but the name is fine
    with pytest.raises(VerificationError):
        verify(forged, [trusted.cert], HOST)
    assert openssl_errors(tmp_path, forged, trusted.cert) == {62}  # hostname mismatch


def test_wrong_host_never_uses_the_hosts_own_name(trusted):
    forged = forge.wrong_host("wrong-host.invalid", trusted)
    with pytest.raises(VerificationError):
        verify(forged, [trusted.cert], "wrong-host.invalid")


def test_expired_fails_on_time_only(upstream, trusted, tmp_path):
    forged = forge.expired(HOST, upstream.leaf, trusted)
    leaf = forged.chain[0]
    now = datetime.datetime.now(datetime.UTC)
    assert leaf.not_valid_after_utc < now - 29 * DAY
    assert _sans(leaf) == _sans(upstream.leaf)
    with pytest.raises(VerificationError):
        verify(forged, [trusted.cert])
    verify(forged, [trusted.cert], at=now - 45 * DAY)
    assert openssl_errors(tmp_path, forged, trusted.cert) == {10}  # certificate has expired


def test_not_yet_valid_fails_on_time_only(upstream, trusted, tmp_path):
    forged = forge.not_yet_valid(HOST, upstream.leaf, trusted)
    now = datetime.datetime.now(datetime.UTC)
    assert forged.chain[0].not_valid_before_utc > now + 29 * DAY
    with pytest.raises(VerificationError):
        verify(forged, [trusted.cert])
    verify(forged, [trusted.cert], at=now + 31 * DAY)
    assert openssl_errors(tmp_path, forged, trusted.cert) == {9}  # certificate is not yet valid


def test_leaf_as_ca_fails_on_basic_constraints_only(upstream, trusted, tmp_path):
    forged = forge.leaf_as_ca(HOST, upstream.leaf, trusted)
    leaf, middle = forged.chain
    assert _ext(middle, x509.BasicConstraints).ca is False
    assert _ext(middle, x509.KeyUsage).key_cert_sign is False
    assert _sans(leaf) == _sans(upstream.leaf)
    leaf.verify_directly_issued_by(middle)  # every signature is good...
    middle.verify_directly_issued_by(trusted.cert)
    with pytest.raises(VerificationError):  # ...but the middle one is not a CA
        verify(forged, [trusted.cert])
    # invalid CA certificate, key usage does not include certificate signing: both say
    # "the middle certificate is not a CA", which is what an end-entity certificate is
    assert openssl_errors(tmp_path, forged, trusted.cert) == {79, 32}


# what an OpenSSL client (curl, Python, s_client) reports and which alert reaches the proxy
HANDSHAKES = {
    "self-signed": ("self-signed certificate", 48),  # unknown_ca
    "wrong-key": ("certificate signature failure", 51),  # decrypt_error
    "untrusted-ca": ("unable to get local issuer certificate", 48),
    "wrong-host": ("Hostname mismatch", 42),  # bad_certificate
    "expired": ("certificate has expired", 45),  # certificate_expired
    "not-yet-valid": ("certificate is not yet valid", 42),
    "leaf-as-ca": ("invalid CA certificate", 48),
    "spliced-chain": ("self-signed certificate", 48),
}


@pytest.mark.parametrize("kind", list(HANDSHAKES))
def test_openssl_client_rejects_in_the_handshake(kind, rsa_upstream, trusted):
    forged = Forge(trusted).forge(HOST, kind, rsa_upstream.chain)
    trust = rsa_upstream.root if kind == "wrong-key" else trusted.cert
    error, alert, received = serve_once(forged, _pem(trust), HOST)
    assert error is not None and received == b""
    message, expected_alert = HANDSHAKES[kind]
    assert error.verify_message.startswith(message)
    assert alert == expected_alert


# --- the Forge: dispatch, cache, threads -------------------------------------------------------


@pytest.mark.parametrize("kind", FORGED_KINDS)
def test_every_intercepting_kind_in_the_catalogue_can_be_forged(kind, forger, upstream):
    forged = forger.forge(HOST, kind, upstream.chain)
    assert forged.key.public_key() == forged.chain[0].public_key()
    assert all(c.subject != c.issuer for c in forged.chain[1:])  # never a root


def test_passthrough_and_unknown_kinds_are_refused(forger):
    with pytest.raises(ValueError, match="passthrough"):
        forger.forge(HOST, "passthrough")
    with pytest.raises(ValueError, match="unknown kind"):
        forger.forge(HOST, "no-such-kind")


def test_forge_caches_per_host_and_kind(forger, upstream):
    first = forger.forge("cache.example.test", "valid-ca", upstream.chain)
    assert forger.forge("cache.example.test", "valid-ca") is first
    assert forger.forge("CACHE.example.test.", "valid-ca") is first  # one spelling per host
    assert forger.forge("other.example.test", "valid-ca") is not first
    assert forger.forge("cache.example.test", "expired") is not first


def test_concurrent_first_calls_get_one_certificate(trusted, rsa_upstream):
    forger = Forge(trusted)
    start = threading.Barrier(8)
    results: list[Forged] = []

    def call(host):
        start.wait()
        results.append(forger.forge(host, "wrong-key", rsa_upstream.chain))  # RSA: slow

    threads = [threading.Thread(target=call, args=(HOST,)) for _ in range(6)]
    threads += [threading.Thread(target=call, args=(f"h{i}.example.test",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    same = [r for r in results if r is forger.forge(HOST, "wrong-key")]
    assert len(same) == 6
    assert len({id(r) for r in results}) == 3


def test_forge_makes_an_untrusted_ca_in_memory_when_none_is_given(trusted):
    forger = Forge(trusted)
    assert forger.untrusted.cert != trusted.cert
    assert _ext(forger.untrusted.cert, x509.BasicConstraints).ca is True


def test_spki_pin_matches_openssls(tmp_path, rsa_upstream):
    (tmp_path / "leaf.pem").write_bytes(_pem(rsa_upstream.leaf))
    # the recipe OkHttp and curl --pinnedpubkey document
    pubkey = subprocess.run(
        ["openssl", "x509", "-in", tmp_path / "leaf.pem", "-pubkey", "-noout"],
        capture_output=True,
        check=True,
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "der"], input=pubkey, capture_output=True
    ).stdout
    digest = subprocess.run(
        ["openssl", "dgst", "-sha256", "-binary"], input=der, capture_output=True
    ).stdout
    assert pins.spki_pin(rsa_upstream.leaf) == base64.b64encode(digest).decode()


# --- the kinds command -------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "mitm_pincheck", "kinds", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )


def test_kinds_command_lists_every_kind():
    out = _cli()
    assert out.returncode == 0, out.stderr
    for kind in KINDS.values():
        assert kind.name in out.stdout
    assert "pinned" in out.stdout and "unpinned" in out.stdout


def test_kinds_command_json_is_the_catalogue():
    out = _cli("--json")
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert [k["name"] for k in listed] == list(KINDS)
    assert listed[0]["pinned"] == KINDS[listed[0]["name"]].pinned
    assert {"presents", "unpinned", "catches", "needs_ca_trust", "intercepts"} <= set(listed[0])


def test_rsa_leaves_share_one_key_per_kind_never_across_kinds(trusted, upstream):
    # An RSA key takes ~50 ms with the GIL held: one per kind, made at start-up, never per host.
    a = Forge(trusted).forge("a.example.test", "valid-ca", upstream.chain)
    b = Forge(trusted).forge("b.example.test", "valid-ca", upstream.chain)
    c = Forge(trusted).forge("a.example.test", "self-signed", upstream.chain)

    def rsa_key(forged):
        return next(k for _, k in forged.leaves if isinstance(k, rsa.RSAPrivateKey))

    assert rsa_key(a).public_key() == rsa_key(b).public_key()
    assert rsa_key(a).public_key() != rsa_key(c).public_key()
    minted = {k for k in KINDS if KINDS[k].intercepts} - {"wrong-key", "spliced-chain"}
    assert forge.MINTED_KINDS <= minted

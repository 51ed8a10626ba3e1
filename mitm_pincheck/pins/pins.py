"""SPKI pins: compute them, read a chain from a file or from a live server, complete it.

A pin is the base64 SHA-256 of a certificate's DER SubjectPublicKeyInfo. All three platforms
(OkHttp, Android's network security config, iOS `NSPinnedDomains`) use that same value and only
wrap it differently, so one function computes it and three format it.

Nothing here prints; the CLI does.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import ipaddress
import select
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mitm_pincheck.errors import InputError

# Where a certificate in a chain came from: what the server sent (or the file held), or a
# trust anchor added from the local trust store because the server did not send it. Pins on
# root CAs are common, and servers rarely send their root, so without this a correct root
# pin would look like a mismatch.
SERVED = "served"
FILE = "file"
TRUST_STORE = "trust-store"


def spki_pin(cert: x509.Certificate) -> str:
    """Base64 SHA-256 of the certificate's SubjectPublicKeyInfo: what every platform pins."""
    return key_pin(cert.public_key())


def key_pin(public_key) -> str:
    """`spki_pin` of any certificate that carries `public_key` (a server key the team owns)."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def key_file_pin(path: str | Path) -> str:
    """The pin of the key in a PEM file: a private key (unencrypted), a public key or a
    certificate. For `pins audit --keys`: a server key the team may rotate to."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror or e}") from None
    try:
        if b"PRIVATE KEY-----" in data:
            return key_pin(serialization.load_pem_private_key(data, None).public_key())
        if b"PUBLIC KEY-----" in data:
            return key_pin(serialization.load_pem_public_key(data))
        if b"CERTIFICATE-----" in data:
            return spki_pin(x509.load_pem_x509_certificate(data))
    except TypeError:
        raise InputError(f"{p}: the key is encrypted; give its public key instead") from None
    except ValueError as e:
        raise InputError(f"{p}: not a key we can read ({e})") from None
    raise InputError(f"{p}: no PEM private key, public key or certificate in it")


def okhttp_form(pin: str) -> str:
    return f"sha256/{pin}"


def nsc_form(pin: str) -> str:
    return f'<pin digest="SHA-256">{pin}</pin>'


def ios_form(pin: str) -> str:
    return f"<key>SPKI-SHA256-BASE64</key><string>{pin}</string>"


def normalize_pin(text: str) -> str | None:
    """The pin as plain base64 if `text` is a well-formed SHA-256 pin in any usual form, else None.

    Accepts `sha256/…` (OkHttp, TrustKit docs) as well as bare base64.
    """
    value = text.strip()
    if value.startswith("sha256/"):
        value = value[len("sha256/") :]
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 32:
        return None
    return base64.b64encode(raw).decode("ascii")


@dataclass
class ChainCert:
    cert: x509.Certificate
    origin: str  # SERVED, FILE or TRUST_STORE

    @property
    def pin(self) -> str:
        return spki_pin(self.cert)

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string() or "(empty subject)"

    @property
    def issuer(self) -> str:
        return self.cert.issuer.rfc4514_string() or "(empty issuer)"

    @property
    def not_after(self) -> datetime.datetime:
        return self.cert.not_valid_after_utc

    @property
    def is_ca(self) -> bool:
        try:
            return bool(
                self.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            )
        except x509.ExtensionNotFound:
            return _self_signed(self.cert)


@dataclass
class Chain:
    """A chain, leaf first, and how much of it we know."""

    certs: list[ChainCert]
    source: str  # "HOST:PORT" or the file name
    notes: list[str] = field(default_factory=list)

    @property
    def pins(self) -> list[str]:
        return [c.pin for c in self.certs]


def parse_target(text: str, default_port: int = 443) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address -> (host, port)."""
    text = text.strip()
    if not text:
        raise InputError("empty host")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise InputError(f"{text}: missing ']' after the IPv6 address")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise InputError(f"{text}: expected [ADDRESS]:PORT")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host:
        raise InputError(f"{text}: no host name")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InputError(f"{text}: the port must be a number from 1 to 65535")
    return host, int(port_text)


def load_chain_file(path: str | Path) -> Chain:
    """Certificates from a PEM file (any number, leaf first) or a single DER certificate."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror or e}") from None
    certs: list[x509.Certificate]
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError as e:
            raise InputError(f"{p}: not a valid PEM certificate chain: {e}") from None
    else:
        try:
            certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise InputError(
                f"{p}: no certificate found (expected PEM with BEGIN CERTIFICATE, or DER)"
            ) from None
    return Chain([ChainCert(c, FILE) for c in certs], str(p))


def fetch_chain(host: str, port: int = 443, timeout: float = 10.0) -> Chain:
    """The chain a server presents, read without verifying it.

    Verification is off on purpose: the point is to see what the server sends (self-signed,
    expired, a private CA) so its pins can be computed. Nothing is sent after the handshake.
    """
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        raise InputError(f"cannot connect to {host}:{port}: {e.strerror or e}") from None
    sni = None if _is_ip(host) else host
    source = f"{host}:{port}"
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if hasattr(ssl.SSLSocket, "get_unverified_chain"):  # Python 3.13+
            with ctx.wrap_socket(sock, server_hostname=sni) as tls:
                ders = [bytes(c) for c in tls.get_unverified_chain() or []]  # DER, leaf first
            return _chain_from_der(ders, source)
        try:
            return _fetch_with_pyopenssl(sock, sni, timeout, source)
        except ImportError:
            pass
        with ctx.wrap_socket(sock, server_hostname=sni) as tls:
            leaf = tls.getpeercert(binary_form=True)
        chain = _chain_from_der([leaf] if leaf else [], source)
        chain.notes.append(
            "only the leaf certificate could be read (Python before 3.13 without pyOpenSSL): "
            "pins on intermediates are not shown"
        )
        return chain
    except (ssl.SSLError, OSError) as e:
        raise InputError(f"TLS handshake with {host}:{port} failed: {e}") from None
    finally:
        sock.close()


def _fetch_with_pyopenssl(sock: socket.socket, sni: str | None, timeout: float, source: str):
    # pyOpenSSL comes with mitmproxy and, unlike ssl before 3.13, exposes the whole chain.
    from OpenSSL import SSL

    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_verify(SSL.VERIFY_NONE, lambda *args: True)
    conn = SSL.Connection(ctx, sock)
    if sni:
        conn.set_tlsext_host_name(sni.encode("idna"))
    conn.set_connect_state()
    sock.setblocking(False)
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.do_handshake()
            break
        except SSL.WantReadError:
            wait = ([sock], [])
        except SSL.WantWriteError:
            wait = ([], [sock])
        except SSL.Error as e:
            raise ssl.SSLError(f"{e}") from None
        left = deadline - time.monotonic()
        if left <= 0 or not any(select.select(*wait, [], left)):
            raise OSError(f"no TLS handshake within {timeout:g} s")
    certs = conn.get_peer_cert_chain(as_cryptography=True) or []
    return Chain([ChainCert(c, SERVED) for c in certs], source)


def _chain_from_der(ders: list[bytes], source: str) -> Chain:
    certs = [ChainCert(x509.load_der_x509_certificate(d), SERVED) for d in ders]
    if not certs:
        raise InputError(f"{source} sent no certificate")
    return Chain(certs, source)


def complete_chain(chain: Chain, anchors: list[x509.Certificate] | None = None) -> Chain:
    """Append the trust anchor(s) that issued the last certificate, when the chain lacks them.

    Android and TrustKit match pins against the verified chain, which ends in a root from the
    device's store, so a root pin is legitimate even when the server never sends the root.
    """
    if not chain.certs:
        return chain
    if anchors is None:
        anchors = system_anchors()
    certs = list(chain.certs)
    for _ in range(3):
        last = certs[-1].cert
        if _self_signed(last):
            break
        issuer = next((a for a in anchors if _issued_by(last, a)), None)
        if issuer is None or any(c.cert == issuer for c in certs):
            break
        certs.append(ChainCert(issuer, TRUST_STORE))
    return Chain(certs, chain.source, list(chain.notes))


_ANCHORS: list[x509.Certificate] | None = None


def system_anchors() -> list[x509.Certificate]:
    """The local trust store (the system bundle, else certifi's), loaded once."""
    global _ANCHORS
    if _ANCHORS is None:
        found: list[x509.Certificate] = []
        paths = ssl.get_default_verify_paths()
        candidates = [paths.cafile, paths.openssl_cafile]
        try:
            import certifi

            candidates.append(certifi.where())
        except ImportError:
            pass
        for candidate in candidates:
            if not candidate:
                continue
            try:
                found = x509.load_pem_x509_certificates(Path(candidate).read_bytes())
            except (OSError, ValueError):
                continue
            if found:
                break
        _ANCHORS = found
    return _ANCHORS


def _issued_by(cert: x509.Certificate, candidate: x509.Certificate) -> bool:
    if cert.issuer != candidate.subject:
        return False
    try:
        cert.verify_directly_issued_by(candidate)
    except Exception:  # wrong key, unsupported algorithm: not this issuer
        return False
    return True


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and _issued_by(cert, cert)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True

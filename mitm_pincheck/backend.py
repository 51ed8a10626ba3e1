"""A stand-in backend: a small HTTPS server for some host names, with a CA of its own.

The demo uses it as the "real" server behind the proxy, and so do the tests. Its chain is
root -> intermediate -> leaf, like most public servers, so that `wrong-key` and pins on the
intermediate have something real to work on.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import os
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mitm_pincheck.pins.pins import spki_pin


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "stand-in backend"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def ca_certificate(subject: x509.Name, key, issuer: x509.Name, signer, now, path_length=None):
    """A CA certificate for `key`, signed by `signer` (itself for a root), valid 60 days."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=60))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(signer, hashes.SHA256())
    )


def write_private_key(path: Path, key) -> Path:
    """`key` as an unencrypted PEM file only its owner can read (created 0600, never wider)."""
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


@dataclass
class Backend:
    """TLS web server on 127.0.0.1 for `hosts`; `ca_path` is what its clients must trust."""

    directory: Path
    hosts: tuple[str, ...]
    ca_path: Path
    chain_path: Path
    leaf: x509.Certificate
    intermediate: x509.Certificate
    port: int = 0
    requests: list[dict] = field(default_factory=list)
    _server: http.server.ThreadingHTTPServer | None = None
    # The leaf's and the intermediate's private keys alone (0600): what a scenario's
    # keys.current names for pinned-key (keys.at: intermediate for the second).
    key_path: Path | None = None
    intermediate_key_path: Path | None = None

    @property
    def pin(self) -> str:
        return spki_pin(self.leaf)

    @property
    def intermediate_pin(self) -> str:
        return spki_pin(self.intermediate)

    @classmethod
    def create(cls, directory: Path, hosts: Sequence[str]) -> Backend:
        now = datetime.datetime.now(datetime.UTC)
        root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = _name("stand-in root CA")
        root = ca_certificate(root_name, root_key, root_name, root_key, now)
        inter_key = ec.generate_private_key(ec.SECP256R1())
        inter_name = _name("stand-in issuing CA")
        inter = ca_certificate(inter_name, inter_key, root_name, root_key, now, path_length=0)
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(_name(hosts[0]))
            .issuer_name(inter_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName(h) for h in hosts]
                    + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(inter_key.public_key()),
                critical=False,
            )
            .sign(inter_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        ca_path = directory / "backend-ca.pem"
        ca_path.write_bytes(root.public_bytes(pem))
        chain_path = directory / "backend-key-and-chain.pem"
        chain_path.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            + leaf.public_bytes(pem)
            + inter.public_bytes(pem)
        )
        chain_path.chmod(0o600)
        key_path = write_private_key(directory / "backend-key.pem", key)
        inter_key_path = write_private_key(directory / "backend-intermediate-key.pem", inter_key)
        return cls(
            directory,
            tuple(hosts),
            ca_path,
            chain_path,
            leaf,
            inter,
            key_path=key_path,
            intermediate_key_path=inter_key_path,
        )

    def start(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.chain_path)
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's naming)
                requests.append({"path": self.path, "host": self.headers.get("Host")})
                body = json.dumps({"ok": True}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True, name="backend").start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Backend:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

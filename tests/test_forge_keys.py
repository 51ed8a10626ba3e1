"""forge.pinned_key: the proxy CA's certificate carrying a key the team owns, checked by
cryptography's strict verifier and by a real TLS handshake with the pin compared."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import DNSName
from cryptography.x509.verification import PolicyBuilder, Store

from mitm_pincheck.pins.pins import key_pin, spki_pin
from mitm_pincheck.proxy import forge
from mitm_pincheck.proxy.forge import Forge, Forged

HOST = "api.example.test"


@pytest.fixture(scope="module")
def trusted():
    return forge._new_ca("pincheck test proxy CA")


def verify(forged: Forged, root: x509.Certificate) -> list[x509.Certificate]:
    verifier = (
        PolicyBuilder()
        .store(Store([root]))
        .time(datetime.datetime.now(datetime.UTC))
        .build_server_verifier(DNSName(HOST))
    )
    return verifier.verify(forged.chain[0], list(forged.chain[1:]))


@pytest.mark.parametrize(
    "team_key",
    [ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)],
    ids=["ec", "rsa"],
)
def test_pinned_key_at_the_leaf_carries_the_teams_key_and_chains_to_the_proxy_ca(trusted, team_key):
    forged = forge.pinned_key(HOST, None, trusted, team_key)
    verify(forged, trusted.cert)
    assert len(forged.chain) == 1
    assert spki_pin(forged.chain[0]) == key_pin(team_key.public_key())
    assert forged.key is team_key


def test_pinned_key_at_the_intermediate_puts_the_key_in_a_ca_that_signs_a_fresh_leaf(trusted):
    team_key = ec.generate_private_key(ec.SECP256R1())
    forged = forge.pinned_key(HOST, None, trusted, team_key, at="intermediate")
    path = verify(forged, trusted.cert)
    assert len(path) == 3  # leaf, intermediate, proxy CA
    leaf, inter = forged.chain
    assert spki_pin(inter) == key_pin(team_key.public_key())
    assert spki_pin(leaf) != key_pin(team_key.public_key())
    assert inter.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0


def test_the_forge_caches_per_key_so_each_backup_key_gets_its_own_certificate(trusted):
    f = Forge(trusted)
    k1, k2 = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    a = f.forge_with_key(HOST, "backup-key", k1)
    assert f.forge_with_key(HOST, "backup-key", k1) is a
    b = f.forge_with_key(HOST, "backup-key", k2)
    assert spki_pin(b.chain[0]) == key_pin(k2.public_key()) != spki_pin(a.chain[0])
    with pytest.raises(ValueError, match="forge_with_key"):
        f.forge(HOST, "pinned-key")


def test_a_real_tls_client_trusting_the_proxy_ca_sees_the_pinned_key(trusted, tmp_path):
    team_key = ec.generate_private_key(ec.SECP256R1())
    forged = forge.pinned_key(HOST, None, trusted, team_key)
    pem = serialization.Encoding.PEM
    chain_file = tmp_path / "chain.pem"
    chain_file.write_bytes(
        team_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + b"".join(c.public_bytes(pem) for c in forged.chain)
    )
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(chain_file)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cadata=trusted.cert.public_bytes(pem).decode())
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with client_ctx.wrap_socket(raw, server_hostname=HOST) as tls:
            leaf = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
            tls.sendall(b"x")
    thread.join(5)
    listener.close()
    assert spki_pin(leaf) == key_pin(team_key.public_key())

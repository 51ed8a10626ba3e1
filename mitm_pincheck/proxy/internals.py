"""The only places that reach into mitmproxy or pyOpenSSL internals, each tested directly.

mitmproxy has no public API to close a live connection (mitmproxy issue 8045): we close client
connections at a phase change, and an upstream that never finishes its handshake; pyOpenSSL
exposes no `SSL_session_reused`. Everything else uses public APIs, so a mitmproxy
upgrade that breaks something breaks it here, where `tests/test_internals.py` notices.
"""

from __future__ import annotations

from OpenSSL import SSL


def close_client_connection(master, client_id: str) -> bool:
    """Close the live client connection `client_id`; False if it is already gone."""
    proxyserver = master.addons.get("proxyserver")
    handler = getattr(proxyserver, "connections", {}).get(client_id)
    if handler is None:
        return False
    handler.close_connection(handler.client)
    return True


def close_server_connection(master, client_id: str, server) -> bool:
    """Close the upstream connection `server` of client `client_id` if its TLS handshake has
    not completed; False if it did, or is already gone."""
    proxyserver = master.addons.get("proxyserver")
    handler = getattr(proxyserver, "connections", {}).get(client_id)
    if handler is None or server.tls_established or server not in handler.transports:
        return False
    handler.close_connection(server)
    return True


def session_reused(conn: SSL.Connection) -> bool | None:
    """Whether the handshake on `conn` resumed an earlier session; None where unknown."""
    lib = getattr(SSL, "_lib", None)
    reused = getattr(lib, "SSL_session_reused", None)
    raw = getattr(conn, "_ssl", None)
    if reused is None or raw is None:
        return None
    return bool(reused(raw))

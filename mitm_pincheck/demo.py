"""The built-in demo: a stand-in backend, three reference clients, one real run through the proxy.

No device needed. The backend serves a few `*.shop.demo` hosts over TLS with its own CA. The
reference clients behave like the apps the tool is built to judge:

- `pinning` (api.shop.demo) trusts the proxy CA like any device with a user CA installed, but
  checks the server key against a pin after the handshake and closes before sending anything,
  the way OkHttp's CertificatePinner does. Every phase should pass.
- `unpinned` (cdn.shop.demo) validates certificates properly but pins nothing. It is not expected
  to pin (`pinned: false`), so it passes too: it accepts the trusted proxy CA and rejects the rest.
- `trust-all` (pay.shop.demo) accepts any certificate and sends its Authorization header. The
  scenario says that host is pinned, so every phase fails, with the leaked credential as evidence.
- Nobody talks to telemetry.shop.demo: its rows are inconclusive (not seen).
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import threading
from importlib import resources
from pathlib import Path

from cryptography import x509

from mitm_pincheck.backend import Backend, spki_pin

DEMO_HOSTS = ("api.shop.demo", "cdn.shop.demo", "pay.shop.demo", "telemetry.shop.demo")

# What the demo must show: (host, phase) -> verdict. Any other outcome means the tool is wrong.
EXPECTED_VERDICTS = {
    **{("api.shop.demo", k): "pass" for k in ("valid-ca", "self-signed", "wrong-key")},
    **{("cdn.shop.demo", k): "pass" for k in ("valid-ca", "self-signed", "wrong-key")},
    **{("pay.shop.demo", k): "fail" for k in ("valid-ca", "self-signed", "wrong-key")},
    **{
        ("telemetry.shop.demo", k): "inconclusive" for k in ("valid-ca", "self-signed", "wrong-key")
    },
}

CLIENT_OF_HOST = {
    "api.shop.demo": "pinning client (checks a pin after the handshake, like OkHttp)",
    "cdn.shop.demo": "unpinned client (validates certificates, pins nothing)",
    "pay.shop.demo": "trust-all client (accepts any certificate)",
    "telemetry.shop.demo": "no client (never contacted)",
}


def scenario_text() -> str:
    return resources.files("mitm_pincheck").joinpath("data/demo.yaml").read_text()


# ---- reference clients


def _tunnel(proxy_url: str, host: str, port: int = 443, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to host:port through the proxy's CONNECT."""
    proxy = proxy_url.removeprefix("http://")
    phost, _, pport = proxy.rpartition(":")
    sock = socket.create_connection((phost.strip("[]"), int(pport)), timeout=timeout)
    sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            break
        response += chunk
    if not response.startswith(b"HTTP/1.1 200") and not response.startswith(b"HTTP/1.0 200"):
        sock.close()
        raise ConnectionError(f"proxy refused CONNECT {host}: {response[:40]!r}")
    return sock


def _get(tls: ssl.SSLSocket, host: str, headers: dict[str, str] | None = None) -> bytes:
    lines = ["GET /v1/status?session=demo HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = b""
    while chunk := tls.recv(4096):
        data += chunk
    return data


def pinning_client(proxy_url: str, trust: list[Path], pin: str, host: str = "api.shop.demo") -> str:
    """Validates normally, then compares the leaf's SPKI pin before sending anything."""
    context = ssl.create_default_context(cafile=None)
    for path in trust:
        context.load_verify_locations(path)
    try:
        with _tunnel(proxy_url, host) as raw, context.wrap_socket(raw, server_hostname=host) as tls:
            leaf = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
            if spki_pin(leaf) != pin:
                return "pin mismatch: closed before sending"
            _get(tls, host, {"Authorization": "Bearer demo-pinned-token"})
            return "sent request"
    except (ssl.SSLError, OSError) as e:
        return f"rejected: {e.__class__.__name__}"


def unpinned_client(proxy_url: str, trust: list[Path], host: str = "cdn.shop.demo") -> str:
    context = ssl.create_default_context(cafile=None)
    for path in trust:
        context.load_verify_locations(path)
    try:
        with _tunnel(proxy_url, host) as raw, context.wrap_socket(raw, server_hostname=host) as tls:
            _get(tls, host, {"Cookie": "session=demo-cookie"})
            return "sent request"
    except (ssl.SSLError, OSError) as e:
        return f"rejected: {e.__class__.__name__}"


def trust_all_client(proxy_url: str, host: str = "pay.shop.demo") -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with _tunnel(proxy_url, host) as raw, context.wrap_socket(raw, server_hostname=host) as tls:
            _get(tls, host, {"Authorization": "Bearer demo-payment-token"})
            return "sent request"
    except (ssl.SSLError, OSError) as e:
        return f"rejected: {e.__class__.__name__}"


def run_clients(proxy_url: str, proxy_ca: Path, backend: Backend) -> dict[str, str]:
    """Each reference client once, in parallel, as an app would at launch."""
    trust = [backend.ca_path, proxy_ca]  # a phone with the proxy CA installed as a user CA
    jobs = {
        "api.shop.demo": lambda: pinning_client(proxy_url, trust, backend.pin),
        "cdn.shop.demo": lambda: unpinned_client(proxy_url, trust),
        "pay.shop.demo": lambda: trust_all_client(proxy_url),
    }
    results: dict[str, str] = {}
    threads = [
        threading.Thread(target=lambda h=h, f=f: results.__setitem__(h, f()), daemon=True)
        for h, f in jobs.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def check(report: dict) -> list[str]:
    """Rows whose verdict differs from what the reference clients really do."""
    problems = []
    got = {(r["host"], r["phase"]): r["verdict"] for r in report["results"]}
    for key, verdict in EXPECTED_VERDICTS.items():
        if got.get(key) != verdict:
            problems.append(f"{key[0]} / {key[1]}: expected {verdict}, got {got.get(key)}")
    return problems


def temporary_directory() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="pincheck-demo-")

"""The built-in demo: a stand-in backend, three reference clients, one real run through the proxy.

No device needed. The backend serves a few `*.shop.demo` hosts over TLS with its own CA. The
reference clients behave like the apps the tool is built to judge:

- `pinning` (api.shop.demo) trusts the proxy CA like any device with a user CA installed, but
  checks the server key against its pin-set after the handshake and closes before sending
  anything, the way OkHttp's CertificatePinner does. The pin-set holds the backend's key and one
  backup key; the scenario names a second backup key it does not hold. pinned-key (the proxy CA's
  certificate with the backend's own key) is accepted, which proves the client trusts the proxy
  CA for this host, so its refusal of valid-ca is the pin at work: pass. The unpinned backup
  key's row fails: rotating the server to it would break the app.
- `unpinned` (cdn.shop.demo) validates certificates properly but pins nothing. It is not expected
  to pin (`pinned: false`), so it passes too: it accepts the trusted proxy CA and rejects the rest.
  It is the scenario's `control: true` host. It has no keys, so its key-kind rows are n/a.
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
from cryptography.hazmat.primitives.asymmetric import ec

from mitm_pincheck.backend import Backend, spki_pin, write_private_key
from mitm_pincheck.pins.pins import key_pin

DEMO_HOSTS = ("api.shop.demo", "cdn.shop.demo", "pay.shop.demo", "telemetry.shop.demo")
KEY_DIR = "demo-keys"
PINNED_BACKUP = "backup-1.pem"  # in the pinning client's pin-set
UNPINNED_BACKUP = "backup-2.pem"  # not in it: its backup-key row fails

_CORE = ("valid-ca", "self-signed", "wrong-key")
_KEYED = (
    "pinned-key",
    f"backup-key {KEY_DIR}/{PINNED_BACKUP}",
    f"backup-key {KEY_DIR}/{UNPINNED_BACKUP}",
)
# What the demo must show: (host, column) -> verdict, the column being the phase and, for
# backup-key, the key file. Any other verdict means the tool is wrong.
EXPECTED_VERDICTS = {
    **{("api.shop.demo", k): "pass" for k in (*_CORE, *_KEYED[:2])},
    ("api.shop.demo", _KEYED[2]): "fail",
    **{("cdn.shop.demo", k): "pass" for k in _CORE},
    **{("pay.shop.demo", k): "fail" for k in _CORE},
    **{("telemetry.shop.demo", k): "inconclusive" for k in _CORE},
    **{(h, k): "n/a" for h in DEMO_HOSTS[1:] for k in ("pinned-key", "backup-key")},
}
# ... and which proof of CA trust each host's rows rest on.
EXPECTED_PROOFS = {
    "api.shop.demo": "pinned-key",
    "cdn.shop.demo": "control",
    "pay.shop.demo": "control",
    "telemetry.shop.demo": "control",
}

CLIENT_OF_HOST = {
    "api.shop.demo": "pinning client (checks a pin after the handshake, like OkHttp)",
    "cdn.shop.demo": "unpinned client (validates certificates, pins nothing)",
    "pay.shop.demo": "trust-all client (accepts any certificate)",
    "telemetry.shop.demo": "no client (never contacted)",
}


def scenario_text() -> str:
    return resources.files("mitm_pincheck").joinpath("data/demo.yaml").read_text()


def write_keys(directory: Path, backend: Backend | None = None) -> list[str]:
    """The key files demo.yaml names, under `directory` (0600): the backend's own key (or a
    fresh one, to check the scenario without a backend) and two backup keys. Returns the pins
    the pinning client holds: the backend's key and the first backup key, not the second."""
    keys = directory / KEY_DIR
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    current = keys / "backend.pem"
    if backend is not None and backend.key_path is not None:
        current.unlink(missing_ok=True)
        current.write_bytes(backend.key_path.read_bytes())
        current.chmod(0o600)
    else:
        write_private_key(current, ec.generate_private_key(ec.SECP256R1()))
    pins = [backend.pin] if backend is not None else []
    for name in (PINNED_BACKUP, UNPINNED_BACKUP):
        key = ec.generate_private_key(ec.SECP256R1())
        write_private_key(keys / name, key)
        if name == PINNED_BACKUP:
            pins.append(key_pin(key.public_key()))
    return pins


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


def pinning_client(
    proxy_url: str, trust: list[Path], pins: list[str], host: str = "api.shop.demo"
) -> str:
    """Validates normally, then compares the leaf's SPKI pin with its pin-set before sending."""
    context = ssl.create_default_context(cafile=None)
    for path in trust:
        context.load_verify_locations(path)
    try:
        with _tunnel(proxy_url, host) as raw, context.wrap_socket(raw, server_hostname=host) as tls:
            leaf = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
            if spki_pin(leaf) not in pins:
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


def run_clients(
    proxy_url: str, proxy_ca: Path, backend: Backend, pins: list[str]
) -> dict[str, str]:
    """Each reference client once, in parallel, as an app would at launch."""
    trust = [backend.ca_path, proxy_ca]  # a phone with the proxy CA installed as a user CA
    jobs = {
        "api.shop.demo": lambda: pinning_client(proxy_url, trust, pins),
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
    """Rows whose verdict (or proof) differs from what the reference clients really do."""
    from mitm_pincheck.report.proof import needs_proof, row_id

    problems = []
    got = {row_id(r): r for r in report["results"]}
    for key, verdict in EXPECTED_VERDICTS.items():
        found = got.get(key, {}).get("verdict")
        if found != verdict:
            problems.append(f"{key[0]} / {key[1]}: expected {verdict}, got {found}")
    for (host, column), row in got.items():
        if (host, column) not in EXPECTED_VERDICTS:
            problems.append(f"{host} / {column}: a row the demo does not expect")
        proof = (row["evidence"].get("proof") or {}).get("source")
        if needs_proof(row) and row["verdict"] != "n/a" and proof != EXPECTED_PROOFS[host]:
            problems.append(f"{host} / {column}: proof {proof}, expected {EXPECTED_PROOFS[host]}")
    return problems


def temporary_directory() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="pincheck-demo-")

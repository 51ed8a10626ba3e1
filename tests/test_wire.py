"""What the wire says, exactly (issue 11): nothing the proxy did becomes the client's refusal.

Real clients through the real proxy: clients the proxy could not negotiate with, bytes mitmproxy
cannot parse, a trigger killed at the timeout, a request followed by a reset, the server's exact
chain, 0-RTT through passthrough, a phase change while forging, HTTP/2 authority, pre-connects.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import subprocess
import sys
import threading

import pytest
from conftest import need, rows

from mitm_pincheck.verdicts.outcome import classify, fold_connections

SECRET = "Bearer wire-secret-value"


def tunnel(env: dict, host: str) -> socket.socket:
    from mitm_pincheck.demo import _tunnel

    return _tunnel(env["PINCHECK_PROXY"], host)


def trust_all() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def journal(report_dir) -> list[dict]:
    lines = (report_dir / "journal.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def outcomes_by_host(events: list[dict], phase: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for conn in fold_connections(events):
        if conn.phase == phase:
            found.setdefault(conn.host, []).append(classify(conn).outcome)
    return found


def proxy_host_port(env: dict) -> str:
    return env["PINCHECK_PROXY"].removeprefix("http://")


# ---- 1. a handshake the proxy could not do is not a refusal ---------------------------------


def test_clients_the_proxy_must_negotiate_with_and_one_it_cannot(run_scenario, tmp_path):
    """RSA-only, TLS 1.0, DHE-only and RSA-PSS-only clients used to fail on the proxy's EC
    leaf with the proxy's own alert, read as their refusal. Now they negotiate (a trust-all
    client accepts: FAIL); the client nothing could serve (Ed448 only) is `incompatible`."""
    curl, openssl = need("curl"), need("openssl")
    request = (
        "GET /v1/account HTTP/1.1\r\nHost: {}\r\nAuthorization: x\r\nConnection: close\r\n\r\n"
    )

    def curl_as(env, host, *args):
        cmd = [curl, "--silent", "--insecure", "--max-time", "5", "--output", "/dev/null"]
        cmd += ["--proxy", env["PINCHECK_PROXY"], *args, f"https://{host}/v1/account"]
        subprocess.run(cmd, capture_output=True, timeout=20)

    def s_client(env, host, *args):
        cmd = [openssl, "s_client", "-proxy", proxy_host_port(env), "-quiet"]
        cmd += ["-connect", f"{host}:443", "-servername", host, *args]
        subprocess.run(cmd, input=request.format(host), capture_output=True, text=True, timeout=20)

    def client(kind, env):
        curl_as(env, "open.test", "--tls-max", "1.2", "--ciphers", "AES128-SHA")  # RSA only
        curl_as(
            env, "api.svc.test", "--tlsv1.0", "--tls-max", "1.0", "--ciphers", "DEFAULT:@SECLEVEL=0"
        )
        s_client(env, "cdn.svc.test", "-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256")
        s_client(env, "pinned.test", "-tls1_3", "-sigalgs", "ed448")
        s_client(env, "bystander.test", "-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256")

    report = run_scenario(
        client,
        hosts=[
            {"host": h, "pinned": False}
            for h in ("open.test", "api.svc.test", "cdn.svc.test", "pinned.test", "bystander.test")
        ],
        phases=["self-signed", "wrong-key"],
    )
    r = rows(report)
    for host in ("open.test", "api.svc.test", "cdn.svc.test", "bystander.test"):
        row = r[(host, "self-signed")]
        assert (row["outcome"], row["verdict"]) == ("accepted", "fail"), row
    # The real server's key is EC: an RSA-only client cannot talk to it either, and wrong-key
    # shows exactly its chain. No shared algorithm is not a refusal.
    for host in ("open.test", "cdn.svc.test", "bystander.test"):
        row = r[(host, "wrong-key")]
        assert (row["outcome"], row["verdict"]) == ("incompatible", "inconclusive"), row
    assert r[("api.svc.test", "wrong-key")]["outcome"] == "accepted"  # TLS 1.0 with ECDSA
    for phase in ("self-signed", "wrong-key"):
        row = r[("pinned.test", phase)]
        assert (row["outcome"], row["verdict"]) == ("incompatible", "inconclusive"), row
        assert row["evidence"]["alerts"] == []  # the alert was ours, not the client's
        assert "could not agree" in row["reason"]


# ---- 2. any byte after the handshake is acceptance; the proxy's closes are its own -----------


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _h2_headers_frame(authority: str, credential_header: str = "authorization") -> bytes:
    """A HEADERS frame (END_STREAM, END_HEADERS) on stream 1."""
    from hpack import Encoder

    block = Encoder().encode(
        [(":method", "GET"), (":scheme", "https"), (":path", "/v1/h2"),
         (":authority", authority), (credential_header, SECRET)]
    )  # fmt: skip
    return struct.pack(">I", len(block))[1:] + b"\x01\x05" + struct.pack(">I", 1) + block


def _talk(env: dict, host: str, data: bytes, alpn: str | None = None) -> str | None:
    """Send `data` over a TLS connection through the proxy (any certificate accepted), read
    until the proxy closes or goes quiet; returns the negotiated ALPN."""
    context = trust_all()
    if alpn:
        context.set_alpn_protocols([alpn])
    with context.wrap_socket(tunnel(env, host), server_hostname=host) as s:
        negotiated = s.selected_alpn_protocol()
        s.sendall(data)
        s.settimeout(1)  # long enough for an answer; mitmproxy may wait for more forever
        try:
            while s.recv(4096):
                pass
        except (TimeoutError, ssl.SSLError, OSError):
            pass
    return negotiated


def test_any_byte_after_the_handshake_is_acceptance_and_never_journaled(run_scenario, tmp_path):
    host = "open.test"
    payloads = {
        "space in the path": f"GET /a b HTTP/1.1\r\nHost: {host}\r\nX-Api-Key: {SECRET}\r\n\r\n",
        "header without colon": f"GET / HTTP/1.1\r\nHost: {host}\r\nX-Api-Key {SECRET}\r\n\r\n",
        "client-first text": f"LOGIN {SECRET}\r\n",
    }
    # and an HTTP/2 preface where HTTP/1 was negotiated (the stand-in upstream has no h2)

    def client(kind, env):
        for text in payloads.values():
            _talk(env, host, text.encode())
        _talk(env, host, H2_PREFACE + _h2_headers_frame(host), alpn="h2")  # no h2 upstream: HTTP/1

    report = run_scenario(client, hosts=[{"host": host, "pinned": True}], phases=["self-signed"])
    row = rows(report)[(host, "self-signed")]
    assert (row["outcome"], row["verdict"]) == ("accepted", "fail")
    assert row["evidence"]["outcomes"] == {"accepted": 4}
    events = journal(tmp_path / "out")
    conns = [c for c in fold_connections(events) if c.host == host]
    assert all(classify(c).outcome == "accepted" for c in conns)
    # mitmproxy answered the malformed HTTP/1 requests with 400 and closed: its close, not theirs
    closers = sorted(str(c.closed_by) for c in conns)
    assert closers.count("proxy") >= 2, closers
    text = (tmp_path / "out" / "journal.jsonl").read_text() + json.dumps(report)
    assert "wire-secret-value" not in text and "LOGIN" not in text


# ---- 3. phase end: the proxy closes and marks its connections before the trigger dies ---------

IDLE_CLIENT = """
import os, socket, ssl, sys, time
sys.path.insert(0, {path!r})
from mitm_pincheck.demo import _tunnel
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(_tunnel(os.environ["PINCHECK_PROXY"], "pinned.test"),
                    server_hostname="pinned.test")
print("handshake done", flush=True)
if len(sys.argv) > 1:  # tell the test, which then interrupts the run
    socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()
time.sleep(60)
"""


def test_a_client_killed_at_the_timeout_is_idle_not_a_refusal(run_scenario, tmp_path):
    from pathlib import Path

    script = tmp_path / "idle_client.py"
    script.write_text(IDLE_CLIENT.format(path=str(Path(__file__).resolve().parents[1])))
    report = run_scenario(
        trigger=f"{sys.executable} {script}",
        hosts=[{"host": "pinned.test", "pinned": True}],
        phases=["self-signed"],
        timeout=3,
    )
    row = rows(report)[("pinned.test", "self-signed")]
    assert (row["outcome"], row["verdict"]) == ("idle", "inconclusive"), row
    events = journal(tmp_path / "out")
    names = [e["event"] for e in events if e["event"] in ("phase-end", "trigger-exit", "closed")]
    assert names.index("phase-end") < names.index("trigger-exit")
    assert [e["by"] for e in events if e["event"] == "closed"] == ["proxy"]


def test_a_client_killed_at_ctrl_c_is_idle_not_a_refusal(tmp_path, backend, confdir):
    import signal
    from pathlib import Path

    from conftest import write_scenario

    script = tmp_path / "idle_client.py"
    script.write_text(IDLE_CLIENT.format(path=str(Path(__file__).resolve().parents[1])))
    ready = socket.create_server(("127.0.0.1", 0))
    ready.settimeout(30)
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "pinned.test", "pinned": True}],
        phases=["self-signed"],
        trigger=f"{sys.executable} {script} {ready.getsockname()[1]}",
        timeout=60,
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mitm_pincheck", "run", str(scenario), "--out", str(out)]
    cmd += ["--listen", "127.0.0.1:0", "--confdir", str(confdir), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready.accept()[0].close()  # the client completed its handshake and idles
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=30) == 3
    finally:
        proc.kill()
        ready.close()
    row = rows(json.loads((out / "report.json").read_text()))[("pinned.test", "self-signed")]
    assert (row["outcome"], row["verdict"]) == ("idle", "inconclusive"), row
    assert [e["by"] for e in journal(out) if e["event"] == "closed"] == ["proxy"]


# ---- 4. a request followed at once by a reset; no TLS 1.3 tickets -----------------------------


def test_request_then_reset_is_never_a_refusal_and_no_tickets_are_sent(run_scenario):
    tickets = []

    def client(kind, env):
        for _ in range(8):
            s = trust_all().wrap_socket(tunnel(env, "open.test"), server_hostname="open.test")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.sendall(
                f"GET /v1/me HTTP/1.1\r\nHost: open.test\r\nCookie: {SECRET}\r\n\r\n".encode()
            )
            s.close()  # a reset: whatever the kernel still holds is thrown away
        with trust_all().wrap_socket(tunnel(env, "open.test"), server_hostname="open.test") as s:
            version = s.version()
            s.sendall(b"GET / HTTP/1.1\r\nHost: open.test\r\nConnection: close\r\n\r\n")
            while s.recv(4096):  # NewSessionTickets, if any, arrive before the response
                pass
            tickets.append((version, s.session.has_ticket))

    report = run_scenario(
        client, hosts=[{"host": "open.test", "pinned": True}], phases=["self-signed"]
    )
    row = rows(report)[("open.test", "self-signed")]
    assert (row["outcome"], row["verdict"]) == ("accepted", "fail")
    counts = row["evidence"]["outcomes"]
    assert set(counts) <= {"accepted", "idle"}, counts  # a reset is never a refusal
    assert counts["accepted"] >= 1
    assert tickets == [("TLSv1.3", False)]


# ---- 5, 6, 7: the server's exact chain, spliced-chain, 0-RTT through passthrough --------------


@pytest.fixture
def s_server(tmp_path, backend):
    """`openssl s_server` for the backend's names: sends leaf, intermediate *and root*, and
    takes TLS 1.3 early data. Yields its port."""
    from cryptography.hazmat.primitives import serialization

    openssl = need("openssl")
    extra = tmp_path / "intermediate-and-root.pem"
    pem = serialization.Encoding.PEM
    extra.write_bytes(backend.intermediate.public_bytes(pem) + backend.ca_path.read_bytes())
    cmd = [openssl, "s_server", "-accept", "127.0.0.1:0", "-early_data", "-no_anti_replay"]
    cmd += ["-alpn", "h2"]  # so that mitmproxy offers HTTP/2 to clients that ask for it
    cmd += ["-cert", str(backend.chain_path), "-key", str(backend.chain_path)]
    cmd += ["-cert_chain", str(extra)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # bytes: h2 too
    try:
        for line in proc.stdout:  # "ACCEPT 127.0.0.1:PORT" once it listens
            if line.startswith(b"ACCEPT"):
                break
        port = int(line.rsplit(b":", 1)[1])
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep it unblocked
        yield port
    finally:
        proc.kill()
        proc.wait()


def _has_ticket(openssl: str, session) -> bool:
    if not session.exists():
        return False
    cmd = [openssl, "sess_id", "-in", str(session), "-noout", "-text"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    return "TLS session ticket:" in out.stdout


def _pems(text: str) -> list[bytes]:
    from cryptography import x509

    blocks = text.split("-----BEGIN CERTIFICATE-----")[1:]
    pems = [("-----BEGIN CERTIFICATE-----" + b.split("-----END CERTIFICATE-----")[0]
             + "-----END CERTIFICATE-----\n").encode() for b in blocks]  # fmt: skip
    return [x509.load_pem_x509_certificate(p) for p in pems]


def test_exact_chain_spliced_chain_and_early_data_through_passthrough(
    run_scenario, backend, s_server, tmp_path, device_trust
):
    import time

    openssl = need("openssl")
    host = "cdn.svc.test"
    shown: dict[str, list] = {}
    session = tmp_path / "session.pem"
    early = tmp_path / "early.txt"
    early.write_text(f"GET /v1/early HTTP/1.1\r\nHost: {host}\r\n\r\n")

    def s_client(env, *args, **kwargs):
        cmd = [openssl, "s_client", "-proxy", proxy_host_port(env), "-connect", f"{host}:443"]
        return [*cmd, "-servername", host, *args]

    def client(kind, env):
        if kind == "passthrough":
            # A full handshake that keeps the real server's ticket (written when it arrives),
            # then a resumption that sends its request as 0-RTT early data.
            first = subprocess.Popen(
                s_client(env, "-sess_out", str(session), "-ign_eof"),
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            deadline = time.monotonic() + 5
            while not _has_ticket(openssl, session) and time.monotonic() < deadline:
                time.sleep(0.05)  # polling for the ticket, the event itself
            first.kill()
            first.wait()
            out = subprocess.run(
                s_client(env, "-sess_in", str(session), "-early_data", str(early)),
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20,
            )  # fmt: skip
            shown[kind] = ["early data was accepted" in out.stdout.lower()]
        else:
            out = subprocess.run(
                s_client(env, "-showcerts", "-CAfile", str(device_trust), "-verify_return_error"),
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20,
            )  # fmt: skip
            shown[kind] = _pems(out.stdout)

    port = s_server
    report = run_scenario(
        client,
        hosts=[{"host": host, "pinned": True}],
        phases=["passthrough", "wrong-key", "spliced-chain"],
        resolve={host: f"127.0.0.1:{port}"},
    )
    r = rows(report)
    root = _pems(backend.ca_path.read_text())[0]
    # 5: exactly what the server sends, root included; only the leaf differs
    wrong_key = shown["wrong-key"]
    assert wrong_key[1:] == [backend.intermediate, root]
    assert wrong_key[0].public_key() != backend.leaf.public_key()
    # 6: a self-signed leaf for the host in front of the real intermediate and root
    spliced = shown["spliced-chain"]
    assert spliced[1:] == [backend.intermediate, root]
    assert spliced[0].issuer == spliced[0].subject
    for kind in ("wrong-key", "spliced-chain"):
        assert (r[(host, kind)]["outcome"], r[(host, kind)]["verdict"]) == (
            "rejected-in-handshake",
            "pass",
        )
    # 7: early data is data, not an alert
    assert shown["passthrough"] == [True], "the stand-in server did not take the early data"
    events = journal(tmp_path / "out")
    # (the first connection, killed once it had its ticket, is whatever a killed client is)
    assert outcomes_by_host(events, "passthrough")[host][-1] == "accepted"
    assert (r[(host, "passthrough")]["outcome"], r[(host, "passthrough")]["verdict"]) == (
        "accepted",
        "pass",
    )


# ---- 2 and 9: HTTP/2 that mitmproxy refuses is acceptance; evidence names the connection's host


def test_http2_headers_mitmproxy_refuses_are_acceptance_and_evidence_names_the_connection(
    run_scenario, s_server, tmp_path
):
    host = "cdn.svc.test"
    negotiated = []

    def client(kind, env):
        # :authority names another host: the evidence must name the connection's host
        negotiated.append(_talk(env, host, H2_PREFACE + _h2_headers_frame("evil.invalid"), "h2"))
        # an upper-case header name: mitmproxy's HTTP/2 layer answers with GOAWAY
        bad = _h2_headers_frame(host, credential_header="Authorization")
        negotiated.append(_talk(env, host, H2_PREFACE + bad, "h2"))

    report = run_scenario(
        client,
        hosts=[{"host": host, "pinned": True}],
        phases=["self-signed"],
        resolve={host: f"127.0.0.1:{s_server}"},
    )
    assert negotiated == ["h2", "h2"]
    row = rows(report)[(host, "self-signed")]
    assert (row["outcome"], row["verdict"]) == ("accepted", "fail")
    assert row["evidence"]["outcomes"] == {"accepted": 2}
    assert [r["host"] for r in row["evidence"]["requests"]] == [host]
    text = (tmp_path / "out" / "journal.jsonl").read_text()
    assert "evil.invalid" not in text and "wire-secret-value" not in text


# ---- 8: a phase change while the certificate is being forged -----------------------------------


def test_a_phase_change_while_forging_shows_the_new_phase_kind(run_scenario, monkeypatch):
    from mitm_pincheck.proxy import addon as addon_mod
    from mitm_pincheck.proxy import forge as forge_mod

    second_phase = threading.Event()
    real_forge, real_start = forge_mod.Forge.forge, addon_mod.PincheckAddon.start_phase

    def slow_forge(self, host, kind, real_chain=None):
        if kind == "valid-ca":  # still forging when the phase ends
            second_phase.wait(10)
        return real_forge(self, host, kind, real_chain)

    def start_phase(self, index, kind, *args, **kwargs):
        real_start(self, index, kind, *args, **kwargs)
        if index == 1:
            second_phase.set()

    monkeypatch.setattr(forge_mod.Forge, "forge", slow_forge)
    monkeypatch.setattr(addon_mod.PincheckAddon, "start_phase", start_phase)
    seen: list = []

    def connect(env):
        from cryptography import x509

        with trust_all().wrap_socket(tunnel(env, "open.test"), server_hostname="open.test") as s:
            seen.append(x509.load_der_x509_certificate(s.getpeercert(binary_form=True)))

    started: list[threading.Thread] = []

    def client(kind, env):
        if kind == "valid-ca":  # its handshake waits for the forge, past this phase's end
            started.append(threading.Thread(target=connect, args=(env,)))
            started[0].start()
        else:
            started[0].join(15)

    report = run_scenario(
        client, hosts=[{"host": "open.test", "pinned": True}], phases=["valid-ca", "self-signed"],
        timeout=2,
    )  # fmt: skip
    assert len(seen) == 1 and seen[0].issuer == seen[0].subject  # self-signed's, not mitmproxy's
    r = rows(report)
    assert r[("open.test", "valid-ca")]["outcome"] == "not-seen"
    assert r[("open.test", "self-signed")]["connections"] == 1


# ---- 10: connections closed unused ---------------------------------------------------------------


def test_a_host_that_closes_connections_unused_gets_no_pass_for_closing(run_scenario, device_trust):
    def open_and_close(env, request: bool) -> None:
        context = ssl.create_default_context(cafile=str(device_trust))
        with context.wrap_socket(tunnel(env, "pinned.test"), server_hostname="pinned.test") as s:
            if request:
                s.sendall(b"GET / HTTP/1.1\r\nHost: pinned.test\r\nConnection: close\r\n\r\n")
                while s.recv(4096):
                    pass

    def client(kind, env):
        open_and_close(env, request=False)  # pre-connected, never used
        if kind == "passthrough":
            open_and_close(env, request=True)

    report = run_scenario(
        client, hosts=[{"host": "pinned.test", "pinned": True}], phases=["passthrough", "valid-ca"]
    )
    r = rows(report)
    assert r[("pinned.test", "passthrough")]["verdict"] == "pass"
    row = r[("pinned.test", "valid-ca")]
    assert row["outcome"] == "rejected-after-handshake"
    assert row["verdict"] == "inconclusive"
    assert "not a reliable refusal signal" in row["reason"]

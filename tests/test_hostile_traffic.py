"""Hostile traffic during a real run changes no verdict, counts as nobody's outcome, and the
proxy keeps answering: half-open sockets, garbage after CONNECT, truncated ClientHellos,
oversized headers, plain-text junk. Bounded counts: this runs in CI on two cores."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import ssl
import subprocess
import threading
from collections import Counter

from conftest import need, rows

CORE = ["valid-ca", "self-signed", "wrong-key"]
# open.test is the app's own unpinned endpoint: its acceptance of valid-ca proves CA trust
HOSTS = [
    {"host": "pinned.test", "pinned": True},
    {"host": "open.test", "pinned": False, "control": True},
]
HALF_OPEN = 200


def proxy_address(env: dict) -> tuple[str, int]:
    host, _, port = env["PINCHECK_PROXY"].removeprefix("http://").rpartition(":")
    return host.strip("[]"), int(port)


def client_hello(host: str) -> bytes:
    """The bytes of a real ClientHello with `host` as SNI, as Python's ssl would send them."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=host)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    assert hello[:1] == b"\x16" and len(hello) > 100
    return hello


def connect_tunnel(address: tuple[str, int], host: str) -> socket.socket:
    """CONNECT host:443 and read the proxy's answer; the caller then misbehaves on the tunnel."""
    sock = socket.create_connection(address, timeout=5)
    sock.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return sock


def exchange(address: tuple[str, int], payload: bytes, tunnel_to: str | None = None) -> str:
    """Send `payload` (after a CONNECT to `tunnel_to` if given) and half-close; then wait for
    the proxy to hang up. "closed" (it did, as it should), or "timeout" (it never did)."""
    try:
        sock = (
            connect_tunnel(address, tunnel_to)
            if tunnel_to
            else socket.create_connection(address, timeout=5)
        )
        with sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(10)
            while sock.recv(65536):
                pass
    except TimeoutError:
        return "timeout"
    except OSError:
        pass  # reset, broken pipe: hanging up on junk is the proxy's right
    return "closed"


class Hostile:
    """Every kind of hostile client, run in threads alongside the real ones."""

    def __init__(self, address: tuple[str, int]):
        self.address = address
        self.rng = random.Random(20261126)
        self.half_open: list[socket.socket] = []
        self.errors: list[str] = []
        self.unanswered: list[bytes] = []

    def open_half_open(self) -> None:
        """Sockets that connect and then say nothing, or only half a request line."""
        for i in range(HALF_OPEN):
            try:
                s = socket.create_connection(self.address, timeout=5)
            except OSError as e:
                self.errors.append(f"half-open {i}: {e}")
                continue
            if i % 2:
                s.sendall(b"CONNECT pinned.te")  # and never the rest
            self.half_open.append(s)

    def close_half_open(self) -> None:
        for s in self.half_open:
            s.close()

    def jobs(self) -> list:
        rnd = self.rng.randbytes
        hellos = {h: client_hello(h) for h in ("pinned.test", "open.test", "bystander.test")}
        jobs = []
        for host in ("pinned.test", "open.test", "bystander.test"):
            # random bytes in the tunnel (never starting like a TLS record)
            jobs.append((b"\x00" + rnd(2000), host))
            # a ClientHello cut short: header promises more than ever comes
            hello = hellos[host]
            jobs.append((hello[: len(hello) // 2], host))
            jobs.append((hello[:5], host))
            # a record header claiming 16 KB of handshake, then junk
            jobs.append((b"\x16\x03\x01\x40\x00" + rnd(100), host))
        # plain junk straight at the proxy port, no CONNECT
        jobs.append((rnd(4000), None))
        jobs.append((b"GET / HTTP/1.1\r\nHost: \x00\xff\r\n\r\n", None))
        jobs.append((b"CONNECT\r\n\r\n", None))
        jobs.append((b"CONNECT pinned.test:notaport HTTP/1.1\r\n\r\n", None))
        jobs.append((b"\x16\x03\x01\x00\x05hello", None))  # TLS at a plain proxy
        # a 100 KB header on a CONNECT, for a host under test
        big = "X-Junk: " + "a" * 100_000
        request = f"CONNECT pinned.test:443 HTTP/1.1\r\nHost: pinned.test:443\r\n{big}\r\n\r\n"
        jobs.append((request.encode(), None))
        return jobs

    def run(self) -> list[threading.Thread]:
        def one(payload: bytes, host: str | None) -> None:
            if exchange(self.address, payload, host) != "closed":
                self.unanswered.append(payload[:20])

        threads = [
            threading.Thread(target=one, args=(payload, host), daemon=True)
            for payload, host in self.jobs()
        ]
        for t in threads:
            t.start()
        return threads


def curl(env: dict, host: str, *args: str) -> int:
    cmd = [need("curl"), "--silent", "--output", "/dev/null", "--max-time", "10"]
    cmd += ["--proxy", env["PINCHECK_PROXY"], *args, f"https://{host}/v1/ping"]
    return subprocess.run(cmd, capture_output=True, timeout=30).returncode


def real_clients(env: dict, device_trust, backend) -> dict[str, int]:
    """The app: one unpinned and one pinned client, in parallel."""
    codes: dict[str, int] = {}
    jobs = {
        "open.test": ("--cacert", str(device_trust)),
        "pinned.test": ("--cacert", str(device_trust), "--pinnedpubkey", f"sha256//{backend.pin}"),
    }
    threads = [
        threading.Thread(target=lambda h=h, a=a: codes.__setitem__(h, curl(env, h, *a)))
        for h, a in jobs.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return codes


def verdicts(report: dict) -> dict[tuple[str, str], tuple[str, str]]:
    return {k: (r["outcome"], r["verdict"]) for k, r in rows(report).items()}


def test_hostile_traffic_changes_no_verdict_and_counts_for_nobody(
    run_scenario, backend, device_trust, tmp_path
):
    clean = run_scenario(
        lambda kind, env: real_clients(env, device_trust, backend), hosts=HOSTS, phases=CORE
    )

    seen: dict[str, dict] = {}

    def under_attack(kind: str, env: dict) -> None:
        hostile = Hostile(proxy_address(env))
        hostile.open_half_open()
        threads = hostile.run()
        codes = real_clients(env, device_trust, backend)  # while the junk is in flight
        for t in threads:
            t.join(30)
        # the proxy still answers: a host not under test passes through to the real server
        after = curl(env, "bystander.test", "--cacert", str(backend.ca_path))
        hostile.close_half_open()
        seen[kind] = {
            "codes": codes,
            "after": after,
            "errors": hostile.errors,
            "unanswered": hostile.unanswered
            + [b"(still running)"] * sum(t.is_alive() for t in threads),
        }

    report = run_scenario(under_attack, hosts=HOSTS, phases=CORE)

    assert verdicts(report) == verdicts(clean)
    assert {r["verdict"] for r in report["results"]} == {"pass"}
    for kind in CORE:
        assert seen[kind]["errors"] == [], seen[kind]["errors"][:3]
        assert seen[kind]["unanswered"] == [], f"{kind}: the proxy never hung up on these"
        assert seen[kind]["after"] == 0, f"{kind}: the proxy stopped answering"
    # the clients saw what a clean run shows them
    assert seen["valid-ca"]["codes"] == {"open.test": 0, "pinned.test": 90}  # 90: pin mismatch
    # only the real clients' connections count: one per host and phase
    for row in report["results"]:
        assert row["connections"] == 1, row
        assert row["evidence"]["stalled"] == 0, row
    events = [json.loads(line) for line in (tmp_path / "out" / "journal.jsonl").open()]
    conns = Counter((e["phase"], e["host"]) for e in events if e["event"] == "conn")
    assert conns == {(k, h["host"]): 1 for k in CORE for h in HOSTS}


def test_client_gone_before_seeing_the_certificate_is_nobodys_outcome(run_scenario):
    hosts = [*HOSTS, {"host": "api.svc.test", "pinned": True}]  # nobody really talks to it

    def vanishers(kind: str, env: dict) -> None:
        address = proxy_address(env)
        for host in ("api.svc.test", "pinned.test", "bystander.test"):
            hello = client_hello(host)
            for _ in range(3):
                with contextlib.suppress(OSError), connect_tunnel(address, host) as s:
                    s.sendall(hello)  # a full ClientHello, then gone without a word

    report = run_scenario(vanishers, hosts=hosts, phases=["self-signed"], timeout=3)
    for row in report["results"]:
        # no real client: nothing was seen, so nothing can pass
        assert (row["outcome"], row["verdict"]) == ("not-seen", "inconclusive"), row
        assert row["connections"] == 0, row

"""What does mitm-pincheck cost an app, compared with plain mitmproxy?

Each sample is one client connection as an app makes it: TCP to the proxy, CONNECT, a TLS
handshake with the proxy, one GET, the response read. Two proxies run side by side against the
same stand-in upstream (`mitm_pincheck.backend.Backend`, in a helper process):

  A  plain mitmdump (connection_strategy=eager, upstream verified against the backend's CA)
  B  `mitm-pincheck run`, its one phase `valid-ca` kept live by a long trigger, as a user runs
     it: live view on (stderr, here to /dev/null); --pincheck-quiet runs it with -q instead
  C  the same mitmdump with an EC P-256 CA: a control. mitmproxy's leaves carry its CA's key
     (RSA 2048 by default), pincheck's `valid-ca` leaves an EC P-256 key, which is cheaper to
     sign a handshake with; B / C is pincheck's own cost with the crypto made equal.

and are measured in alternating rounds (A B C A B C ...), so drift of the machine hits all alike:
sequential clients, then 50 concurrent clients. Also measured: the first connection to a host
never seen before (certificate forging) against a repeat connection, and a host not under test
(passed through by B, ignored by A and C) against a direct connection to the upstream, how a
burst of new hosts slows connections to a known one, and, in this process, what a journal
write and the live view cost the event loop per connection.

Prints figures, never asserts them. The last line is `ratio_p50=R`: B's median over A's, the
worse of the sequential and the concurrent ratio (the line before it: the same against C).

    .venv/bin/python benchmarks/handshake.py            # about two minutes on 2 cores
    .venv/bin/python benchmarks/handshake.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BENCH_HOST = "bench.test"  # under test in B, intercepted by A
PASS_HOST = "pass.test"  # not under test: B passes it through
FRESH_DOMAIN = "fresh.test"  # <n>.fresh.test: a host nobody has seen yet
PROXIES = ("mitmdump", "pincheck", "mitmdump-ec")  # A, B, C: measured in this order


# ---- the upstream, in a process of its own


def serve_backend(directory: Path) -> None:
    """Helper process: run the stand-in backend until stdin closes."""
    import http.server

    sys.path.insert(0, str(ROOT))
    from mitm_pincheck.backend import Backend

    # http.server listens with a backlog of 5 and does each TLS handshake in its accept loop:
    # 50 clients at once overflow it and wait out a 1 s SYN retransmit, for either proxy.
    http.server.ThreadingHTTPServer.request_queue_size = 1024
    backend = Backend.create(directory, (BENCH_HOST, PASS_HOST, f"*.{FRESH_DOMAIN}"))
    backend.start()
    print(json.dumps({"port": backend.port, "ca": str(backend.ca_path)}), flush=True)
    sys.stdin.read()
    backend.stop()


# ---- one client connection


class Client:
    """A client that trusts the upstream's CA and the proxy CA, like a phone set up for tests."""

    def __init__(self, trust: list[Path], upstream: tuple[str, int]):
        self.context = ssl.create_default_context()
        self.context.load_verify_locations(cadata=None, cafile=str(trust[0]))
        for path in trust[1:]:
            self.context.load_verify_locations(cafile=str(path))
        self.upstream = upstream

    def request(self, proxy: tuple[str, int] | None, sni: str) -> float:
        """Seconds for connect, CONNECT, TLS handshake, GET and the whole response."""
        start = time.perf_counter()
        target = proxy or self.upstream
        sock = socket.create_connection(target, timeout=60)
        try:
            if proxy is not None:
                host, port = self.upstream
                sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                head = _read_head(sock)
                if not head.startswith(b"HTTP/1.1 200"):
                    raise ConnectionError(f"CONNECT refused: {head[:40]!r}")
            with self.context.wrap_socket(sock, server_hostname=sni) as tls:
                request = f"GET /ping HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n"
                tls.sendall(request.encode())
                head = _read_head(tls)
                if not head.startswith(b"HTTP/1.1 200"):
                    raise ConnectionError(f"GET failed: {head[:40]!r}")
                length = int(_header(head, b"content-length") or 0)
                body = head.split(b"\r\n\r\n", 1)[1]
                while len(body) < length:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    body += chunk
            return time.perf_counter() - start
        finally:
            sock.close()

    def issuer(self, proxy: tuple[str, int], sni: str) -> str:
        """The organisation that issued the certificate the proxy presents for `sni`."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        sock = socket.create_connection(proxy, timeout=10)
        host, port = self.upstream
        sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        _read_head(sock)
        with context.wrap_socket(sock, server_hostname=sni) as tls:
            from cryptography import x509

            cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
            return cert.issuer.rfc4514_string()


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


# ---- the proxies


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mitmdump(port: int, confdir: Path, bundle: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "mitmdump"), "-q", "--listen-host", "127.0.0.1", "--listen-port", str(port)]
        + ["--set", f"confdir={confdir}", "--set", "connection_strategy=eager"]
        + ["--set", f"ssl_verify_upstream_trusted_ca={bundle}"]
        + ["--ignore-hosts", PASS_HOST.replace(".", r"\.")],  # the passthrough comparison
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def make_ec_confdir(path: Path) -> Path:
    """A mitmproxy confdir whose CA key is EC P-256 (mitmproxy only ever creates RSA ones)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from mitm_pincheck.backend import ca_certificate

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mitmproxy EC benchmark CA")])
    cert = ca_certificate(name, key, name, key, datetime.datetime.now(datetime.UTC))
    path.mkdir(mode=0o700)
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (path / "mitmproxy-ca.pem").write_bytes(key_pem + cert.public_bytes(pem))
    (path / "mitmproxy-ca-cert.pem").write_bytes(cert.public_bytes(pem))
    return path / "mitmproxy-ca-cert.pem"


def start_pincheck(
    port: int, confdir: Path, backend_ca: Path, work: Path, quiet: bool
) -> subprocess.Popen:
    scenario = work / "bench.yaml"
    scenario.write_text(
        json.dumps(  # JSON is YAML
            {
                "name": "benchmark",
                "hosts": [
                    {"host": BENCH_HOST, "pinned": False},
                    {"host": f"*.{FRESH_DOMAIN}", "pinned": False},
                ],
                "phases": ["valid-ca"],
                "trigger": "sleep 3600",  # keeps the phase live while we measure
                "settle": 1,
                "timeout": 3600,
                "upstream_trust": str(backend_ca),
            }
        )
    )
    return subprocess.Popen(
        [sys.executable, "-m", "mitm_pincheck", "run", str(scenario), "--out", str(work / "out")]
        + ["--listen", f"127.0.0.1:{port}", "--confdir", str(confdir)]
        + (["-q"] if quiet else []),  # default: the live view on stderr, as a user runs it
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        start_new_session=True,  # so the trigger's `sleep` goes with it
    )


def wait_intercepting(client: Client, proxy: tuple[str, int], proc: subprocess.Popen) -> None:
    """Until the proxy presents a certificate of its own CA for the benchmark host."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"proxy on port {proxy[1]} exited with {proc.returncode}")
        with contextlib.suppress(OSError, ssl.SSLError):
            if "mitmproxy" in client.issuer(proxy, BENCH_HOST):
                return
        time.sleep(0.2)
    raise RuntimeError(f"proxy on port {proxy[1]} never intercepted {BENCH_HOST}")


def stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM) if _own_group(proc) else proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL) if _own_group(proc) else proc.kill()
        proc.wait(5)


def _own_group(proc: subprocess.Popen) -> bool:
    try:
        return os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        return False


# ---- measurements


class Samples:
    def __init__(self):
        self.by_name: dict[str, list[float]] = {}
        self.errors: dict[str, list[str]] = {}

    def add(self, name: str, measure: Callable[[], float]) -> None:
        try:
            self.by_name.setdefault(name, []).append(measure())
        except (OSError, ssl.SSLError, ConnectionError) as e:
            self.errors.setdefault(name, []).append(f"{type(e).__name__}: {e}")

    def p(self, name: str, q: int) -> float:
        data = sorted(self.by_name.get(name, []))
        if not data:
            return float("nan")
        if q == 50:
            return statistics.median(data)
        return statistics.quantiles(data, n=100, method="inclusive")[q - 1]


def sequential(samples: Samples, name: str, n: int, measure: Callable[[], float]) -> None:
    for _ in range(n):
        samples.add(name, measure)


def concurrent(
    samples: Samples, name: str, clients: int, waves: int, measure: Callable[[], float]
) -> None:
    """`waves` times, `clients` connections released at the same instant."""
    for _ in range(waves):
        together([lambda: samples.add(name, measure)] * clients)


def together(jobs: list[Callable[[], None]]) -> None:
    """Run every job in a thread of its own, all released at the same instant."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], None]) -> None:
        barrier.wait()
        job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        for future in [pool.submit(run, job) for job in jobs]:
            future.result()


def machine() -> list[str]:
    mem = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from mitmproxy import version

    return [
        f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine: {os.cpu_count()} CPUs ({cpu}), {mem} RAM, {platform.platform()}",
        f"python {platform.python_version()}, mitmproxy {version.VERSION}, "
        f"OpenSSL {ssl.OPENSSL_VERSION.split()[1]}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="A B rounds (default 6)")
    parser.add_argument("--sequential", type=int, default=40, help="per proxy and round")
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent clients")
    parser.add_argument("--waves", type=int, default=2, help="concurrent waves per round")
    parser.add_argument("--fresh", type=int, default=5, help="new hosts per proxy and round")
    parser.add_argument("--burst", type=int, default=10, help="see burst(); 0 to skip")
    parser.add_argument(
        "--pincheck-quiet", action="store_true", help="run B with -q (no live view)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 short rounds")
    parser.add_argument(
        "--live-only", action="store_true", help="only the live view's cost per connection"
    )
    parser.add_argument("--serve-backend", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_backend:
        serve_backend(Path(args.serve_backend))
        return 0
    if args.quick:
        args.rounds, args.sequential, args.waves, args.fresh, args.burst = 2, 10, 1, 2, 5

    sys.path.insert(0, str(ROOT))
    if args.live_only:
        for mode, terminal in (("plain lines", False), ("terminal", True)):
            print_live(mode, live_view_cost(terminal=terminal))
        return 0
    from mitm_pincheck.proxy import forge
    from mitm_pincheck.proxy.runner import upstream_bundle

    with tempfile.TemporaryDirectory(prefix="pincheck-bench-") as tmp:
        work = Path(tmp)
        confdir = work / "confdir"
        forge.authority_from_mitmproxy_confdir(confdir)  # one CA for both proxies
        backend = subprocess.Popen(
            [sys.executable, __file__, "--serve-backend", str(work)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        info = json.loads(backend.stdout.readline())
        backend_ca = Path(info["ca"])
        upstream = ("127.0.0.1", int(info["port"]))
        bundle = upstream_bundle(backend_ca, work)
        ec_ca = make_ec_confdir(work / "confdir-ec")
        client = Client([backend_ca, confdir / "mitmproxy-ca-cert.pem", ec_ca], upstream)
        ports = {name: free_port() for name in PROXIES}
        procs = {
            "mitmdump": start_mitmdump(ports["mitmdump"], confdir, bundle),
            "pincheck": start_pincheck(
                ports["pincheck"], confdir, backend_ca, work, args.pincheck_quiet
            ),
            "mitmdump-ec": start_mitmdump(ports["mitmdump-ec"], ec_ca.parent, bundle),
        }
        try:
            proxies = {name: ("127.0.0.1", port) for name, port in ports.items()}
            for name, proxy in proxies.items():
                wait_intercepting(client, proxy, procs[name])
                for _ in range(10):  # warm up: forge, caches, first upstream connections
                    client.request(proxy, BENCH_HOST)
            samples = run_rounds(args, client, proxies)
            samples.by_name["journal emit"] = journal_emit()
            live = {"plain lines": live_view_cost(), "terminal": live_view_cost(terminal=True)}
        finally:
            for proc in procs.values():
                stop(proc)
            backend.stdin.close()
            backend.wait(10)
        journal = count_events(work / "out" / "journal.jsonl")
    report(args, samples, journal, live)
    return 0


def run_rounds(args, client: Client, proxies: dict[str, tuple[str, int]]) -> Samples:
    samples = Samples()
    fresh = 0
    for round_no in range(args.rounds):
        print(f"round {round_no + 1}/{args.rounds}", file=sys.stderr, flush=True)
        for name, proxy in proxies.items():  # A, B, C, every round

            def bench(proxy=proxy):
                return client.request(proxy, BENCH_HOST)

            sequential(samples, f"seq {name}", args.sequential, bench)
            concurrent(samples, f"conc {name}", args.concurrency, args.waves, bench)
            for _ in range(args.fresh):
                fresh += 1
                host = f"n{fresh}.{FRESH_DOMAIN}"
                samples.add(f"new-host {name}", lambda p=proxy, h=host: client.request(p, h))
                samples.add(f"same-host {name}", lambda p=proxy, h=host: client.request(p, h))
            fresh = burst(samples, client, name, proxy, args.burst, fresh)
            # a host not under test: B passes it through; A is told to ignore it
            sequential(
                samples,
                f"passthrough {name}",
                args.sequential,
                lambda proxy=proxy: client.request(proxy, PASS_HOST),
            )
        sequential(samples, "direct", args.sequential, lambda: client.request(None, PASS_HOST))
    return samples


def burst(
    samples: Samples, client: Client, name: str, proxy: tuple[str, int], size: int, fresh: int
) -> int:
    """Does forging for new hosts stall everyone else? `size` requests to the cached host
    released together with `size` to other hosts: first hosts seen before, then new ones."""
    if size == 0:
        return fresh
    for label in ("cached+cached", "cached+new"):
        others = []
        for _ in range(size):
            fresh += 1
            others.append(f"n{fresh}.{FRESH_DOMAIN}")
        if label == "cached+cached":
            for host in others:  # seen once already: their certificates are cached
                samples.add("warm-up", lambda h=host: client.request(proxy, h))
        jobs = [
            lambda label=label: samples.add(
                f"{label} {name}", lambda: client.request(proxy, BENCH_HOST)
            )
        ] * size
        jobs += [
            lambda label=label, host=host: samples.add(
                f"others-{label} {name}", lambda: client.request(proxy, host)
            )
            for host in others
        ]
        together(jobs)
    return fresh


def count_events(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line).get("event")
                counts[event] = counts.get(event, 0) + 1
    return counts


def live_view_cost(connections: int = 1000, terminal: bool = False) -> dict[str, float]:
    """Milliseconds of event-loop time per connection spent feeding the live view (the default
    of `run` without -q): medians over the first 100 connections of a phase and over the last
    100, the mean over all (which carries the redraws) and the slowest one (a redraw).
    `terminal`: the Rich Live block as on a terminal, its clock advancing 1 ms per connection
    (an app opening 1,000 connections a second, so a redraw every 250); else plain lines."""
    import io

    from mitm_pincheck.proxy.progress import Progress
    from mitm_pincheck.report.live import LiveView

    now = [0.0]
    view = LiveView(
        io.StringIO(), terminal, [BENCH_HOST], ["valid-ca"], clock=lambda: now[0], width=120
    )
    progress = Progress(view, 3600)
    progress.on_event({"ts": 0.0, "event": "phase-start", "phase": "valid-ca", "index": 0})
    per_connection = []
    for i in range(connections):
        cid = f"{i:08d}-0000-4000-8000-000000000000"
        conn = {"event": "conn", "id": cid, "phase": "valid-ca", "kind": "valid-ca"}
        conn |= {"host": BENCH_HOST, "pattern": BENCH_HOST, "notes": []}
        request = {"event": "request", "id": cid, "method": "GET", "host": BENCH_HOST}
        request |= {"path": "/ping", "header_names": ["host"], "credentials": []}
        start = time.perf_counter()
        for event in (
            conn,
            {"event": "handshake", "id": cid, "resumed": False, "tls_version": "TLSv1.3"},
            request | {"has_query": False},
            {"event": "closed", "id": cid, "by": "client"},
        ):
            progress.on_event({"ts": 0.0, **event})
        per_connection.append(time.perf_counter() - start)
        now[0] += 0.001
    progress.close()
    first, last = per_connection[:100], per_connection[-100:]
    return {
        "first": statistics.median(first) * 1000,
        "last": statistics.median(last) * 1000,
        "mean": statistics.fmean(per_connection) * 1000,
        "max": max(per_connection) * 1000,
    }


def print_live(mode: str, ms: dict[str, float]) -> None:
    print(
        f"live view ({mode}), per connection: {ms['first']:.3f} ms for the first 100 of a "
        f"phase, {ms['last']:.3f} ms after 900 more; mean {ms['mean']:.3f} ms, "
        f"max {ms['max']:.2f} ms"
    )


def journal_emit(n: int = 20000) -> list[float]:
    """Seconds per `Journal.emit` of a typical `request` event: it runs on the event loop."""
    from mitm_pincheck.verdicts.journal import Journal

    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "journal.jsonl")
        times = []
        for i in range(n):
            start = time.perf_counter()
            journal.emit(
                "request",
                id=f"{i:08d}-0000-4000-8000-000000000000",
                method="GET",
                host=BENCH_HOST,
                path="/v1/account/profile",
                header_names=["accept", "authorization", "cookie", "host", "user-agent"],
                credentials=["authorization", "cookie"],
                has_query=True,
            )
            times.append(time.perf_counter() - start)
        journal.close()
    return times


def report(args, samples: Samples, journal: dict[str, int], live: dict[str, dict]) -> None:
    for line in machine():
        print(line)
    print(
        f"rounds {args.rounds}: {args.sequential} sequential, {args.waves} x "
        f"{args.concurrency} concurrent, {args.fresh} new hosts per proxy and round"
    )
    print()
    print(f"{'measurement':<28} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7}")
    names = samples.by_name.keys() | samples.errors.keys()
    for name in sorted(names - {"warm-up", "journal emit"}, key=_order):
        n = len(samples.by_name.get(name, []))
        errors = len(samples.errors.get(name, []))
        p50, p95 = samples.p(name, 50) * 1000, samples.p(name, 95) * 1000
        print(f"{name:<28} {n:>5} {p50:>8.2f} {p95:>8.2f} {errors:>7}")
    for name, errors in samples.errors.items():
        print(f"  {name}: {errors[0]}")
    print()
    ratios: dict[str, dict[str, float]] = {"mitmdump": {}, "mitmdump-ec": {}}
    for base, ratio in ratios.items():
        for what in ("seq", "conc", "new-host", "same-host"):
            a, b = samples.p(f"{what} {base}", 50), samples.p(f"{what} pincheck", 50)
            a95, b95 = samples.p(f"{what} {base}", 95), samples.p(f"{what} pincheck", 95)
            ratio[what] = b / a
            print(f"pincheck / {base:<11} {what:<10} p50 {b / a:.3f}   p95 {b95 / a95:.3f}")
    for what in ("passthrough pincheck", "passthrough mitmdump"):
        ratio = samples.p(what, 50) / samples.p("direct", 50)
        print(f"{what} / direct, p50 {ratio:.3f}")
    for name in PROXIES:
        stall = samples.p(f"cached+new {name}", 50) / samples.p(f"cached+cached {name}", 50)
        print(f"{name}: cached host while others are forged / others cached, p50 {stall:.3f}")
    emits = sorted(samples.by_name["journal emit"])
    print(
        f"journal emit: p50 {statistics.median(emits) * 1e6:.1f} us, "
        f"p99 {emits[int(len(emits) * 0.99)] * 1e6:.1f} us, max {emits[-1] * 1e6:.0f} us"
    )
    for mode, ms in live.items():
        print_live(mode, ms)
    # the client trusts the upstream's CA too: make sure B really intercepted what it measured
    measured = sum(
        len(v)
        for k, v in samples.by_name.items()
        if k.endswith(" pincheck") and not k.startswith("passthrough")
    )
    print(
        f"pincheck journal: {journal.get('request', 0)} requests intercepted "
        f"({measured} measured + warm-ups), {journal.get('phase-end', 0)} phase ends"
    )
    worst = {base: max(r["seq"], r["conc"]) for base, r in ratios.items()}
    print(f"ratio_p50_vs_ec_ca={worst['mitmdump-ec']:.3f}")
    print(f"ratio_p50={worst['mitmdump']:.3f}")


def _order(name: str) -> tuple:
    kinds = ["seq", "conc", "new-host", "same-host", "cached+cached", "cached+new"]
    kinds += ["others-cached+cached", "others-cached+new", "passthrough", "direct"]
    head, _, tail = name.partition(" ")
    return (kinds.index(head) if head in kinds else 99, tail)


if __name__ == "__main__":
    sys.exit(main())

"""How long does `mitm-pincheck report` take on a big run, and how much memory?

Writes a synthetic journal of 100,000 connections (a long manual session against an app with
many hosts: every outcome, alerts, requests with credentials, resumptions, stalled
connections), then runs `python -m mitm_pincheck report JOURNAL --out DIR` in a fresh process,
which reads it and writes every report format. Prints the wall time and the peak resident
memory of that process (targets: under 5 s, under 300 MB), then the time of each stage measured
in this process. Prints figures, never asserts them.

    .venv/bin/python benchmarks/report.py [--connections 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHASES = ["valid-ca", "self-signed", "wrong-key"]
EXPLICIT = [f"api{i}.example.com" for i in range(20)]  # hosts named in the scenario
WILDCARDS = {"*.cdn.example.net": 40, "*.img.example.org": 40}  # pattern -> names seen under it
HEADERS = ["accept", "authorization", "content-type", "cookie", "host", "user-agent", "x-api-key"]


def scenario() -> dict:
    hosts = [{"host": h, "pinned": i % 2 == 0, "expect": {}} for i, h in enumerate(EXPLICIT)]
    hosts += [{"host": p, "pinned": False, "expect": {}} for p in WILDCARDS]
    return {
        "name": "synthetic big run",
        "file": "big.yaml",
        "app": "com.example.big 1.0",
        "hosts": hosts,
        "phases": PHASES,
        "settle": 5,
        "timeout": 3600,
    }


def seen_hosts() -> list[tuple[str, str]]:
    """(host, pattern) for every name a connection can go to."""
    names = [(h, h) for h in EXPLICIT]
    for pattern, count in WILDCARDS.items():
        names += [(f"n{i}.{pattern[2:]}", pattern) for i in range(count)]
    return names


def connection_events(rng: random.Random, cid: str, kind: str, ts: float) -> list[dict]:
    """The events of one connection, shaped like the addon's (docs/internals.md)."""
    host, pattern = rng.choice(HOSTS)
    events = [
        {"ts": ts, "event": "conn", "id": cid, "phase": kind, "kind": kind, "host": host}
        | {"pattern": pattern, "notes": []}
    ]
    roll = rng.random()
    handshake = {"ts": ts + 0.01, "event": "handshake", "id": cid, "resumed": False}
    handshake |= {"tls_version": "TLSv1.3", "alpn": "http/1.1"}
    closed = {"ts": ts + 0.2, "event": "closed", "id": cid, "by": "client"}
    if roll < 0.45:  # accepted: one to three requests
        events.append(handshake)
        for n in range(rng.randint(1, 3)):
            names = sorted(rng.sample(HEADERS, rng.randint(2, len(HEADERS))))
            creds = [h for h in names if h in ("authorization", "cookie", "x-api-key")]
            events.append(
                {"ts": ts + 0.02 + n / 100, "event": "request", "id": cid, "method": "GET"}
                | {"host": host, "path": f"/v1/items/{rng.randint(1, 500)}"}
                | {"header_names": names, "credentials": creds, "has_query": n == 0}
            )
        events.append(closed)
    elif roll < 0.70:  # rejected in the handshake, with an alert
        alert = rng.choice(["unknown_ca", "bad_certificate", "certificate_unknown"])
        events.append({"ts": ts + 0.01, "event": "alert", "id": cid, "alert": alert})
        events[-1]["after_handshake"] = False
        events.append({"ts": ts + 0.01, "event": "handshake-failed", "id": cid, "alert": alert})
        events[-1]["error"] = f"The client does not trust the proxy's certificate for {host}"
        events.append(closed)
    elif roll < 0.88:  # rejected after the handshake (a pin check)
        events.append(handshake)
        events.append({"ts": ts + 0.02, "event": "alert", "id": cid, "alert": "close_notify"})
        events[-1]["after_handshake"] = True
        events.append(closed)
    elif roll < 0.95:  # idle, closed by the proxy at the phase change
        events.append(handshake)
        events.append(closed | {"by": "proxy"})
    elif roll < 0.98:  # resumed
        events.append(handshake | {"resumed": True})
        events.append(closed)
    else:  # stalled: never got to a handshake
        events.append(closed)
    return events


HOSTS = seen_hosts()


def write_journal(path: Path, connections: int) -> int:
    """Write the synthetic journal; returns the number of lines."""
    rng = random.Random(20261126)
    ts = 1_795_000_000.0
    lines = 0
    with open(path, "w", encoding="utf-8") as f:

        def emit(record: dict) -> None:
            nonlocal lines
            f.write(json.dumps(record, separators=(",", ":")) + "\n")
            lines += 1

        emit(
            {"ts": ts, "event": "run-start"}
            | {"tool": {"name": "mitm-pincheck", "version": "0.1.0", "mitmproxy": "11.0.2"}}
            | {"scenario": scenario(), "listen": "127.0.0.1:8080"}
            | {"ca": {"fingerprint_sha256": "00:11"}}
        )
        per_phase = connections // len(PHASES)
        for index, kind in enumerate(PHASES):
            emit({"ts": ts, "event": "phase-start", "phase": kind, "index": index})
            emit({"ts": ts, "event": "trigger-start", "phase": kind})
            count = per_phase + (connections % len(PHASES) if index == len(PHASES) - 1 else 0)
            for _ in range(count):
                ts += 0.01
                for record in connection_events(
                    rng, str(uuid.UUID(int=rng.getrandbits(128))), kind, ts
                ):
                    emit(record)
            emit({"ts": ts, "event": "trigger-exit", "phase": kind, "returncode": 0})
            emit({"ts": ts + 1, "event": "phase-end", "phase": kind, "index": index})
            ts += 1
        emit({"ts": ts, "event": "run-end", "interrupted": False})
    return lines


def stages(journal: Path) -> list[tuple[str, float]]:
    """Seconds per stage of `report`, in this process (after the subprocess measurement)."""
    sys.path.insert(0, str(ROOT))
    from mitm_pincheck.report import writers
    from mitm_pincheck.verdicts import results
    from mitm_pincheck.verdicts.journal import iter_events

    timings = []
    start = time.perf_counter()
    report = results.build_report(iter_events(journal, []))
    timings.append(("read the journal, build the report", time.perf_counter() - start))
    for name, render in writers.FORMATS.items():
        start = time.perf_counter()
        text = render(report)
        text = text if isinstance(text, str) else "".join(text)  # some renderers yield pieces
        timings.append((f"render {name} ({len(text) / 1024:.0f} KB)", time.perf_counter() - start))
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pincheck-report-bench-") as tmp:
        journal = Path(tmp) / "journal.jsonl"
        lines = write_journal(journal, args.connections)
        size = journal.stat().st_size / 1024 / 1024
        print(f"journal: {args.connections} connections, {lines} events, {size:.1f} MB")

        out = Path(tmp) / "out"
        start = time.perf_counter()
        p = subprocess.run(
            [sys.executable, "-m", "mitm_pincheck", "report", str(journal), "--out", str(out)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        seconds = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
        if p.returncode not in (0, 1, 3):
            print(p.stderr, file=sys.stderr)
            return 1
        report = json.loads((out / "report.json").read_text())
        rows = len(report["results"])
        conns = sum(r["connections"] for r in report["results"])
        print(f"report: {rows} rows, {conns} connections counted, exit code {p.returncode}")
        for name in sorted(path.name for path in out.iterdir()):
            print(f"  {name}: {(out / name).stat().st_size / 1024:.0f} KB")
        print("stages (in this process):")
        for name, took in stages(journal):
            print(f"  {name:<36} {took:6.2f} s")
        print(f"report_seconds={seconds:.2f} (target < 5)")
        print(f"report_peak_mb={peak_mb:.0f} (target < 300)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

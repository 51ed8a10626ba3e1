"""How long do `report merge` and `report history` take over many runs, and how much memory?

Writes 200 synthetic run directories (each a report.json of 50 hosts x 9 phases = 450 rows,
with evidence: requests with credential names, alerts, outcomes; a nightly date and app version
each, and a few verdicts that flip from night to night), then runs, each in a fresh process,
`mitm-pincheck report merge RUN_DIR... --out DIR` and `mitm-pincheck report history RUN_DIR...
--out DIR`, and prints their wall time and peak resident memory next to the targets (< 10 s,
< 500 MB each). Prints figures, never asserts them.

    .venv/bin/python benchmarks/fleet.py [--runs 200] [--hosts 50]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mitm_pincheck.verdicts.kinds import KINDS, expected  # noqa: E402

# The nine kinds that need nothing from the scenario (pinned-key and backup-key need its keys).
PHASES = [k for k in KINDS if k not in ("pinned-key", "backup-key")][:9]
HEADERS = ["accept", "authorization", "content-type", "cookie", "host", "user-agent"]
# Run the CLI in this fresh process and report its own peak RSS (KiB on Linux) last.
_WRAP = (
    "import resource, sys\n"
    "from mitm_pincheck.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(f'peak_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def base_rows(hosts: list[str], rng: random.Random) -> list[dict]:
    rows = []
    for phase in PHASES:
        for i, host in enumerate(hosts):
            pinned = i % 3 != 0
            exp = expected(phase, pinned)
            verdict = rng.choices(["pass", "fail", "inconclusive"], [0.8, 0.1, 0.1])[0]
            accepted = (verdict == "fail") == (exp == "reject")
            outcome = "accepted" if accepted else "rejected-after-handshake"
            if verdict == "inconclusive":
                outcome = "not-seen"
            conns = 0 if outcome == "not-seen" else rng.randint(1, 4)
            requests = []
            if outcome == "accepted":
                for n in range(min(conns, 3)):
                    names = sorted(rng.sample(HEADERS, 4))
                    requests.append(
                        {"method": "GET", "host": host, "path": f"/v1/items/{n}"}
                        | {"header_names": names, "has_query": False}
                        | {"credentials": [h for h in names if h in ("authorization", "cookie")]}
                    )
            rows.append(
                {
                    "host": host,
                    "phase": phase,
                    "expected": exp,
                    "outcome": outcome,
                    "verdict": verdict,
                    "reason": f"Synthetic {verdict}: {outcome} where {exp} was expected.",
                    "connections": conns,
                    "evidence": {
                        "pattern": host,
                        "pinned": pinned,
                        "outcomes": {outcome: conns} if conns else {},
                        "alerts": ["certificate_unknown"] if "rejected" in outcome else [],
                        "requests": requests,
                        "credentials": sorted({c for r in requests for c in r["credentials"]}),
                        "notes": [],
                        "resumed": 0,
                        "stalled": 0,
                        "proof": {"source": "control"} if KINDS[phase].needs_ca_trust else None,
                    },
                }
            )
    return rows


def write_runs(directory: Path, runs: int, n_hosts: int) -> list[str]:
    rng = random.Random(20261129)
    hosts = [f"svc{i:02d}.backend.example.com" for i in range(n_hosts)]
    rows = base_rows(hosts, rng)
    start = datetime(2025, 11, 29, 2, 0, tzinfo=UTC)
    paths = []
    for night in range(runs):
        for row in rng.sample(rows, 5):  # a few verdicts change every night
            row["verdict"] = rng.choice(["pass", "fail", "inconclusive"])
        summary = {"total": len(rows)}
        for v in ("pass", "fail", "inconclusive"):
            summary[v] = sum(r["verdict"] == v for r in rows)
        when = start + timedelta(days=night)
        report = {
            "schema": 1,
            "tool": {"name": "mitm-pincheck", "version": "0.1.0", "mitmproxy": "11.0.2"},
            "scenario": {
                "name": "nightly",
                "file": "scenarios/shop.yaml",
                "app": f"com.example.shop 4.{night // 7}",
                "hosts": [
                    {"host": h, "pinned": i % 3 != 0, "expect": {}} for i, h in enumerate(hosts)
                ],
                "phases": PHASES,
            },
            "started": when.isoformat(timespec="seconds"),
            "finished": (when + timedelta(minutes=9)).isoformat(timespec="seconds"),
            "duration": 540.0,
            "interrupted": False,
            "ca_trust_proven": True,
            "summary": summary,
            "exit_code": 1 if summary["fail"] else 3 if summary["inconclusive"] else 0,
            "results": rows,
            "hints": [],
        }
        run = directory / f"night-{night:03d}"
        run.mkdir()
        (run / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        paths.append(str(run))
    return paths


def measure(args: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", _WRAP, *args], capture_output=True, text=True, cwd=ROOT
    )
    seconds = time.perf_counter() - start
    peak = [line for line in p.stderr.splitlines() if line.startswith("peak_kb=")]
    peak_mb = int(peak[-1].split("=")[1]) / 1024 if peak else float("nan")
    return seconds, peak_mb, p


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pincheck-fleet-bench-") as tmp:
        tmp_path = Path(tmp)
        runs_dir = tmp_path / "runs"
        runs_dir.mkdir()
        paths = write_runs(runs_dir, args.runs, args.hosts)
        size = sum(f.stat().st_size for f in runs_dir.rglob("report.json")) / 1024 / 1024
        rows = args.hosts * len(PHASES)
        print(f"{args.runs} runs of {args.hosts} hosts x {len(PHASES)} phases ({rows} rows each)")
        print(f"report.json files: {size:.0f} MB in all")

        failed = False
        for command, target_out in (("merge", "merged"), ("history", "history")):
            out = tmp_path / target_out
            seconds, peak_mb, p = measure(["report", command, *paths, "--out", str(out)])
            if p.returncode not in (0, 1, 3):
                print(p.stderr, file=sys.stderr)
                failed = True
                continue
            print(f"report {command}: exit code {p.returncode}")
            for name in sorted(path.name for path in out.iterdir()):
                print(f"  {name}: {(out / name).stat().st_size / 1024:.0f} KB")
            print(f"{command}_seconds={seconds:.2f} (target < 10)")
            print(f"{command}_peak_mb={peak_mb:.0f} (target < 500)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

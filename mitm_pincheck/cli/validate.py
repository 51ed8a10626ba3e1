"""`mitm-pincheck validate SCENARIO`: check a scenario file without starting the proxy."""

from __future__ import annotations

import argparse

from mitm_pincheck import scenario


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a scenario file without running it",
        description="Check a scenario file without running it. Prints a summary and exits 0, "
        "or prints the first problem as FILE:LINE: KEY: MESSAGE and exits 2.",
    )
    parser.add_argument("scenario", metavar="SCENARIO", help="the scenario YAML file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    s = scenario.load(args.scenario)  # ScenarioError goes to the dispatcher: one line, exit 2
    for line in summary(s):
        print(line)
    return 0


def summary(s: scenario.Scenario) -> list[str]:
    pinned = sum(h.pinned for h in s.hosts)
    lines = [f"{s.file}: ok", f"  name:     {s.name}"]
    if s.app:
        lines.append(f"  app:      {s.app}")
    lines.append(f"  hosts:    {len(s.hosts)} ({pinned} pinned, {len(s.hosts) - pinned} unpinned)")
    width = max(len(h.host) for h in s.hosts)
    for h in s.hosts:
        overrides = ", ".join(f"{k}={v}" for k, v in h.expect.items())
        extra = f"  expect {overrides}" if overrides else ""
        if h.control:
            extra += "  control"
        if h.keys:
            names = [h.keys.current.file] if h.keys.current else []
            names += [f"backup {k.file}" for k in h.keys.backup]
            at = " (at the intermediate)" if h.keys.at == "intermediate" else ""
            extra += f"  keys: {', '.join(names)}{at}"
        lines.append(f"    {h.host:<{width}}  {'pinned' if h.pinned else 'unpinned'}{extra}")
    rounds = s.phases.count("backup-key")
    shown = [p for i, p in enumerate(s.phases) if p != "backup-key" or p not in s.phases[:i]]
    if rounds > 1:
        shown = [
            f"backup-key (x{rounds}, one per backup key)" if p == "backup-key" else p for p in shown
        ]
    lines.append(f"  phases:   {', '.join(shown)}")
    if s.ca_trust:
        lines.append(f"  ca_trust: {s.ca_trust} (the scenario's word: declared proof of CA trust)")
    trigger = s.trigger.strip().replace("\n", "\n            ") if s.trigger else None
    lines.append(f"  trigger:  {trigger or 'manual (you make the app talk)'}")
    lines.append(f"  settle:   {s.settle:g}s, timeout: {s.timeout:g}s")
    for host, (ip, port) in s.resolve.items():
        target = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        lines.append(f"  resolve:  {host} -> {target}")
    if s.upstream_trust:
        lines.append(f"  upstream trust: {s.upstream_trust}")
    lines.extend(_followups_and_package(s))
    return lines


def _followups_and_package(s: scenario.Scenario) -> list[str]:
    if s.isolate and s.max_followups:
        what = f"up to {s.max_followups} per phase for hosts hidden behind a refusal"
    else:
        what = "off"
    lines = [f"  follow-ups: {what}"]
    for key in ("apk", "ipa"):
        if path := getattr(s, key, None):
            lines.append(f"  {key}:      {path}")
    return lines

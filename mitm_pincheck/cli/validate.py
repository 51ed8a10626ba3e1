"""`mitm-pincheck validate SCENARIO`: check a scenario file without starting the proxy."""

from __future__ import annotations

import argparse

from mitm_pincheck import scenario
from mitm_pincheck.report import terminal
from mitm_pincheck.report.terminal import clean
from mitm_pincheck.scenario.devices import address_text


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
    out = terminal.console()
    for line in summary(s):
        out.print(line, soft_wrap=True)
    return 0


def summary(s: scenario.Scenario) -> list[str]:
    """The lines to print. Every value from the file goes through `clean()`: a name or an app
    with escape sequences in it must not reach the terminal as such."""
    pinned = sum(h.pinned for h in s.hosts)
    lines = [f"{clean(s.file)}: ok", f"  name:     {clean(s.name)}"]
    if s.app:
        lines.append(f"  app:      {clean(s.app)}")
    lines.append(f"  hosts:    {len(s.hosts)} ({pinned} pinned, {len(s.hosts) - pinned} unpinned)")
    width = max(len(clean(h.host)) for h in s.hosts)
    for h in s.hosts:
        overrides = ", ".join(f"{clean(k)}={clean(v)}" for k, v in h.expect.items())
        extra = f"  expect {overrides}" if overrides else ""
        if h.control:
            extra += "  control"
        if h.keys:
            names = [clean(h.keys.current.file)] if h.keys.current else []
            names += [f"backup {clean(k.file)}" for k in h.keys.backup]
            at = " (at the intermediate)" if h.keys.at == "intermediate" else ""
            extra += f"  keys: {', '.join(names)}{at}"
        host = clean(h.host)
        lines.append(f"    {host:<{width}}  {'pinned' if h.pinned else 'unpinned'}{extra}")
    rounds = s.phases.count("backup-key")
    shown = [p for i, p in enumerate(s.phases) if p != "backup-key" or p not in s.phases[:i]]
    if rounds > 1:
        shown = [
            f"backup-key (x{rounds}, one per backup key)" if p == "backup-key" else p for p in shown
        ]
    lines.append(f"  phases:   {', '.join(map(clean, shown))}")
    if s.ca_trust:
        lines.append(
            f"  ca_trust: {clean(s.ca_trust)} (the scenario's word: declared proof of CA trust)"
        )
    if s.trigger:  # a shell script may span lines: each is cleaned, the breaks are kept
        trigger = "\n            ".join(map(clean, s.trigger.strip().splitlines()))
    else:
        trigger = "manual (you make the app talk)"
    lines.append(f"  trigger:  {trigger}")
    lines.append(f"  settle:   {s.settle:g}s, timeout: {s.timeout:g}s")
    for host, (ip, port) in s.resolve.items():
        lines.append(f"  resolve:  {clean(host)} -> {clean(address_text(ip, port))}")
    if s.upstream_trust:
        lines.append(f"  upstream trust: {clean(s.upstream_trust)}")
    lines.extend(_followups_and_package(s))
    for d in s.devices:
        where = []
        if d.serial and d.serial != d.label:
            where.append(f"serial {d.serial}")
        if d.listen:
            where.append(f"listens on {address_text(*d.listen)}")
        lines.append(
            f"  device:   {clean(d.label)}" + (f" ({clean(', '.join(where))})" if where else "")
        )
    return lines


def _followups_and_package(s: scenario.Scenario) -> list[str]:
    if s.isolate and s.max_followups:
        what = f"up to {s.max_followups} per phase for hosts hidden behind a refusal"
    else:
        what = "off"
    lines = [f"  follow-ups: {what}"]
    for key in ("apk", "ipa"):
        if path := getattr(s, key, None):
            lines.append(f"  {key}:      {clean(path)}")
    return lines

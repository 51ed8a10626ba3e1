"""`mitm-pincheck report JOURNAL|DIR`: rebuild every report format from the journal alone."""

from __future__ import annotations

import argparse
import gc


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="rebuild the reports from a run's journal (optionally against a baseline)",
        description=(
            "Rebuild report.json, report.html, junit.xml and report.md from journal.jsonl alone. "
            "With --baseline, report.json gains regressions (pass -> fail), fixes, newly "
            "inconclusive rows and hosts added or gone, and the exit code is 1 when there is any "
            "regression. A journal cut short by a crash is read up to its last complete line; "
            "lines or fields that cannot be used are skipped with a warning. Exit codes as for "
            "run: 0 all pass, 1 any fail (or regression), 3 inconclusive and no fail, 2 bad "
            "usage or input, 4 mitm-pincheck itself failed (the traceback is in a log file)."
        ),
    )
    p.add_argument(
        "journal", metavar="JOURNAL|DIR", help="journal.jsonl, or the run's output directory"
    )
    p.add_argument(
        "--out", metavar="DIR", help="where to write the reports (default: beside the journal)"
    )
    p.add_argument(
        "--baseline", metavar="REPORT.json", help="an earlier report.json to compare against"
    )
    p.set_defaults(handler=handle)


def load_baseline(path: str) -> dict:
    from mitm_pincheck.report import baseline

    return baseline.load(path)


def handle(args: argparse.Namespace) -> int:
    from mitm_pincheck.cli.run import prepare_out_dir, print_table, say
    from mitm_pincheck.report import baseline, terminal, writers
    from mitm_pincheck.verdicts import results
    from mitm_pincheck.verdicts.journal import find_journal, iter_events

    journal = find_journal(args.journal)
    base = load_baseline(args.baseline) if args.baseline else None
    out = prepare_out_dir(args.out if args.out else str(journal.parent))
    warnings: list[str] = []
    gc.disable()  # ~100,000 live objects that never form cycles: collecting only costs time
    try:
        report = results.build_report(iter_events(journal, warnings))  # streamed
    finally:
        gc.enable()
    for warning in warnings:
        say(f"mitm-pincheck: warning: {warning}")
    if base is not None:
        report = baseline.apply_baseline(report, base)
    writers.write_all(report, out)
    print_table(report)
    if base is not None:
        regressions = report.get("regressions", [])
        for r in regressions:
            key = f" {r['key']}" if r.get("key") else ""  # which backup key
            line = f"REGRESSION {r['host']} / {r['phase']}{key}: {r['before']} -> {r['after']}"
            print(terminal.clean(line))
        if regressions:
            return 1
    return int(report["exit_code"])

"""`mitm-pincheck report JOURNAL|DIR`: rebuild every report format from the journal alone."""

from __future__ import annotations

import argparse
import gc
import json
import sys

from mitm_pincheck.errors import InputError

SUBCOMMANDS = ("rebuild", "merge", "history")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="rebuild a run's reports, merge runs, or show verdicts over runs",
        description=(
            "report JOURNAL|DIR (the same as `report rebuild JOURNAL|DIR`) rebuilds a run's "
            "reports from its journal; `report merge` makes one report from several runs (a CI "
            "matrix: one device each); `report history` shows verdicts over releases. Exit "
            "codes as for run: 0 all pass, 1 any fail (or regression), 3 inconclusive and no "
            "fail, 2 bad usage or input, 4 mitm-pincheck itself failed (the traceback is in a "
            "log file)."
        ),
    )
    # `report DIR` must keep working next to `report merge ...`: a first word that is not a
    # subcommand means `rebuild`.
    base = type(p)
    p.__class__ = _default_subcommand(base)
    sub = p.add_subparsers(
        dest="report_command", metavar="{rebuild,merge,history}", parser_class=base
    )
    _register_rebuild(sub)
    _register_merge(sub)
    _register_history(sub)


def _default_subcommand(base: type) -> type:
    class ReportParser(base):
        def parse_known_args(self, args=None, namespace=None):
            args = list(sys.argv[1:] if args is None else args)
            if args and args[0] not in SUBCOMMANDS and args[0] not in ("-h", "--help"):
                args.insert(0, "rebuild")
            elif not args:
                args = ["rebuild"]  # let rebuild say that JOURNAL|DIR is missing
            return super().parse_known_args(args, namespace)

    return ReportParser


def _register_rebuild(sub) -> None:
    p = sub.add_parser(
        "rebuild",
        help="rebuild the reports from a run's journal (optionally against a baseline); "
        "the default: `report DIR` is `report rebuild DIR`",
        description=(
            "Rebuild report.json, report.html, junit.xml, report.md and report.sarif from "
            "journal.jsonl alone (a survey's journal: survey.json, survey.html and the draft "
            "survey.yaml). "
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


def _register_merge(sub) -> None:
    p = sub.add_parser(
        "merge",
        help="one report from several runs (a CI matrix), rows keyed host x phase x device",
        description=(
            "Merge the runs of a CI matrix (each job one device or OS version) into one report: "
            "rows keyed by host x phase x device, written in every format (report.json, "
            "report.html grouped by device with where devices disagree first, junit.xml with a "
            "suite per device, report.md, report.sarif). A run's device is its --label, else "
            "the device it recorded, else its directory's name. Runs of different scenarios "
            "merge with a note of what differs. Each run is read from its report.json, or "
            "rebuilt from its journal. Exit code as for a run (0, 1, 3); with --baseline, 1 on "
            "any regression; 2 on bad input (nothing is written); 4 if mitm-pincheck itself "
            "failed."
        ),
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="a run's output directory")
    p.add_argument("--out", metavar="DIR", required=True, help="where to write the reports")
    p.add_argument(
        "--label",
        action="append",
        metavar="LABEL",
        help="the device name of each run, once per RUN_DIR in the same order",
    )
    p.add_argument(
        "--baseline", metavar="REPORT.json", help="an earlier (merged) report.json to compare"
    )
    p.set_defaults(handler=handle_merge)


def _register_history(sub) -> None:
    p = sub.add_parser(
        "history",
        help="verdicts over releases: a row per host x phase, a column per run",
        description=(
            "Write history.html, history.md and history.json: a row per host x phase (x device), "
            "a column per run (the scenario's app version and the run's date), ordered by start "
            "time, with regressions (pass -> fail) and fixes (fail -> pass) marked and listed. "
            "Runs are read one at a time, so a year of nightly runs stays fast. Exit code 0, "
            "2 on bad input (nothing is written), 4 if mitm-pincheck itself failed."
        ),
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="a run's output directory")
    p.add_argument("--out", metavar="DIR", required=True, help="where to write the pages")
    p.add_argument(
        "--label", action="append", metavar="LABEL", help="a name for each run, in order"
    )
    p.set_defaults(handler=handle_history)


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
    if _is_survey(journal):
        if base is not None:
            raise InputError("--baseline: a survey has no verdicts to compare")
        return _rebuild_survey(journal, out)
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
            where = f" on {r['device']}" if r.get("device") else ""
            line = (
                f"REGRESSION {r['host']} / {r['phase']}{key}{where}: {r['before']} -> {r['after']}"
            )
            print(terminal.clean(line))
        if regressions:
            return 1
    return int(report["exit_code"])


def _is_survey(journal) -> bool:
    """Whether the journal is a survey's (`mitm-pincheck survey`): its run-start says so."""
    from mitm_pincheck.verdicts.journal import iter_events

    for event in iter_events(journal, []):
        if event.get("event") == "run-start":
            scenario = event.get("scenario")
            return isinstance(scenario, dict) and scenario.get("survey") in ("active", "passive")
    return False


def _rebuild_survey(journal, out) -> int:
    """A survey's files (survey.json, survey.html, the draft survey.yaml) again."""
    from mitm_pincheck.cli.survey import write_survey

    warnings: list[str] = []
    code = write_survey(journal, out, warnings)
    for warning in warnings:
        print(f"mitm-pincheck: warning: {_clean(warning)}", file=sys.stderr)
    return code


def handle_merge(args: argparse.Namespace) -> int:
    from mitm_pincheck.cli.run import prepare_out_dir
    from mitm_pincheck.report import baseline, devices, merge, writers

    base = load_baseline(args.baseline) if args.baseline else None
    gc.disable()  # hundreds of runs of fresh dicts that never form cycles: collecting only costs
    try:
        warnings: list[str] = []
        report = merge.merge_runs(args.runs, args.label, warnings)  # all read before writing
        if base is not None:
            report = baseline.apply_baseline(report, base)
        out = prepare_out_dir(args.out)
        writers.write_all(report, out)
    finally:
        gc.enable()

    for warning in warnings:
        print(f"mitm-pincheck: warning: {_clean(warning)}", file=sys.stderr)
    summary = report["summary"]
    print(
        f"merged {len(report['devices'])} runs: {summary['pass']} pass, {summary['fail']} fail, "
        f"{summary['inconclusive']} inconclusive ({summary['total']} checks)"
    )
    for d in report["devices"]:
        s = d["summary"]
        print(
            f"  {_clean(d['label'])}: {s['pass']} pass, {s['fail']} fail, "
            f"{s['inconclusive']} inconclusive"
        )
    split = devices.disagreements(report)
    if split:
        print(f"devices disagree on {len(split)} host x phase:")
        for d in split[:20]:
            per = ", ".join(f"{_clean(k)} {v}" for k, v in d["verdicts"].items())
            print(f"  {_clean(d['host'])} ({_clean(d['phase'])}): {per}")
        if len(split) > 20:
            print(f"  ... and {len(split) - 20} more (report.html lists them all)")
    for note in report["merged"]["differences"]:
        print(f"note: {_clean(note)}")
    print(f"reports in {_clean(out)}")
    if base is not None:
        regressions = report.get("regressions", [])
        for r in regressions:
            where = f" on {_clean(r['device'])}" if r.get("device") else ""
            print(
                f"REGRESSION {_clean(r['host'])} / {_clean(r['phase'])}{where}: "
                f"{r['before']} -> {r['after']}"
            )
        if regressions:
            return 1
    return int(report["exit_code"])


def handle_history(args: argparse.Namespace) -> int:
    from mitm_pincheck.cli.run import prepare_out_dir
    from mitm_pincheck.report import history, history_page, writers

    warnings: list[str] = []
    grid = history.build_history(args.runs, args.label, warnings)
    for warning in warnings:
        print(f"mitm-pincheck: warning: {_clean(warning)}", file=sys.stderr)
    rendered = {
        "history.html": history_page.render_history_html(grid),
        "history.md": history_page.render_history_markdown(grid),
        "history.json": json.dumps(history.to_dict(grid), indent=1, ensure_ascii=False) + "\n",
    }
    out = prepare_out_dir(args.out)
    for name, text in rendered.items():
        writers.write_atomic(out / name, text)
    changes = list(grid.changes())
    regressions = [c for c in changes if c["mark"] == history.REGRESSION]
    print(
        f"{len(grid.runs)} runs, {len(grid.rows)} host x phase rows: {len(regressions)} "
        f"regressions, {len(changes) - len(regressions)} fixes"
    )
    for c in regressions[-10:]:
        where = f" on {_clean(c['device'])}" if c["device"] else ""
        print(
            f"  REGRESSION {_clean(c['host'])} / {_clean(c['phase'])}{where} in "
            f"{_clean(history.column_title(c['run']))}"
        )
    for note in grid.notes:
        print(f"note: {_clean(note)}")
    print(f"history in {_clean(out)}")
    return 0


def _clean(value) -> str:
    """Printable text only: host names come from the network, labels from a command line."""
    from mitm_pincheck.report import terminal

    return terminal.clean(value)

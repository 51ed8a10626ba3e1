"""`mitm-pincheck survey --out DIR`: which hosts does the app use, and which refuse the proxy CA?"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from mitm_pincheck.errors import InputError

DEFAULT_DURATION = 300.0  # a person using the app by hand: Enter ends it sooner
DEFAULT_SETTLE = 5.0


def register(subparsers) -> None:
    from mitm_pincheck.cli.run import add_android_arguments, add_proxy_arguments

    p = subparsers.add_parser(
        "survey",
        help="find the hosts an app uses and which of them refuse the proxy CA (no scenario)",
        description=(
            "One phase without a scenario: every host the device contacts is shown a "
            "certificate from the proxy CA (valid-ca), or with --passive only passed through. "
            "The phase ends on Enter, after --duration, or once --trigger has exited and "
            "--settle seconds passed without a new connection. Then it lists per host "
            "(SNI or CONNECT name) the connections, the outcome and what that suggests, and "
            "writes journal.jsonl, survey.json, survey.html and a draft scenario survey.yaml "
            "to --out. Exit 0 if a host was seen, 3 if none, 2 for bad usage."
        ),
    )
    p.add_argument("--out", default="pincheck-survey", metavar="DIR", help="output directory")
    p.add_argument(
        "--passive",
        action="store_true",
        help="intercept nothing: pass every connection through and only list the hosts",
    )
    p.add_argument(
        "--trigger",
        metavar="CMD",
        help="a shell command that makes the app talk (as a scenario's trigger)",
    )
    p.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help=f"end the survey after S seconds at most (default {DEFAULT_DURATION:g})",
    )
    p.add_argument(
        "--settle",
        type=float,
        metavar="S",
        help="with --trigger: end S seconds after the last new connection once the trigger "
        f"has exited (default {DEFAULT_SETTLE:g}); without a trigger only Enter or "
        "--duration end it",
    )
    p.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="HOST=IP:PORT",
        help="like curl --resolve: connect to IP:PORT upstream for HOST (repeatable)",
    )
    p.add_argument(
        "--upstream-trust",
        metavar="CA.pem",
        help="extra CAs to verify upstream servers with (a staging backend's CA)",
    )
    add_proxy_arguments(p)
    add_android_arguments(p)
    p.set_defaults(handler=handle)


def _positive(value: float | None, flag: str) -> float | None:
    if value is not None and not value > 0:
        raise InputError(f"{flag} must be a positive number of seconds")
    return value


def _resolve(items: list[str]) -> dict[str, tuple[str, int]]:
    from mitm_pincheck.scenario.hostnames import HostNameError, check_address, check_host

    out = {}
    for item in items:
        host, sep, addr = item.partition("=")
        if not sep:
            raise InputError(f"--resolve {item!r}: expected HOST=IP:PORT")
        try:
            out[check_host(host, wildcard_ok=False)] = check_address(addr)
        except HostNameError as e:
            raise InputError(f"--resolve {item!r}: {e}") from None
    return out


def _upstream_trust(value: str | None) -> Path | None:
    if value is None:
        return None
    from cryptography import x509

    path = Path(value).expanduser().resolve()
    try:
        x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as e:
        raise InputError(f"--upstream-trust {value}: cannot read it ({e.strerror})") from None
    except ValueError:
        raise InputError(f"--upstream-trust {value}: no PEM certificate in it") from None
    return path


def handle(args: argparse.Namespace) -> int:
    from mitm_pincheck.cli import devices
    from mitm_pincheck.cli.run import (
        execute,
        live_progress,
        prepare_out_dir,
        proxy_settings,
        say,
    )
    from mitm_pincheck.proxy.runner import RunConfig
    from mitm_pincheck.report import survey as survey_report
    from mitm_pincheck.scenario.survey import survey_scenario
    from mitm_pincheck.verdicts.journal import JOURNAL_NAME

    duration = _positive(args.duration, "--duration") or DEFAULT_DURATION
    settle = _positive(args.settle, "--settle")
    if args.trigger is not None and not args.trigger.strip():
        raise InputError("--trigger: empty command")
    if settle is not None and not args.trigger:
        raise InputError("--settle needs --trigger: by hand, Enter or --duration end the survey")
    # By hand, a quiet moment is no sign that the person is done: only Enter or the duration.
    settle = min(settle or DEFAULT_SETTLE, duration) if args.trigger else duration
    scenario = survey_scenario(
        passive=args.passive,
        trigger=args.trigger,
        settle=settle,
        timeout=duration,
        resolve=_resolve(args.resolve),
        upstream_trust=_upstream_trust(args.upstream_trust),
    )
    plan = proxy_settings(args)
    if len(plan.devices) > 1:
        raise InputError(
            "survey: one device at a time (its draft scenario is that device's traffic); "
            "give one --serial or --listen"
        )
    out = prepare_out_dir(args.out)
    progress = None if args.quiet else _SurveyProgress(live_progress(scenario))
    config = RunConfig(
        scenario=scenario,
        out_dir=out,
        **plan.run_config(),
        interactive=sys.stdin.isatty() and not args.trigger,
        progress=progress,
        outputs=tuple(survey_report.SURVEY_FILES),  # cleared only once the proxy listens
    )
    if progress is not None:
        config.status = progress.note
    with contextlib.ExitStack() as stack:
        if args.android:
            stack.enter_context(devices.android_proxies(plan, config.status, say))
        try:
            execute(config)
        finally:
            if progress is not None:
                progress.close()
    return write_survey(out / JOURNAL_NAME, out, [])


def write_survey(journal: Path, out: Path, warnings: list[str]) -> int:
    """The survey's files in `out` from its journal, its text on stdout; its exit code. What the
    reading skipped goes into `warnings`. (`survey`, and `report DIR` on a survey's directory.)"""
    from mitm_pincheck.report import survey as survey_report
    from mitm_pincheck.report import terminal
    from mitm_pincheck.report.writers import write_atomic
    from mitm_pincheck.verdicts.journal import iter_events
    from mitm_pincheck.verdicts.survey import build_survey

    survey = build_survey(iter_events(journal, warnings))
    for name, text in survey_report.render_files(survey).items():
        write_atomic(out / name, text)
    console = terminal.console()
    console.print(survey_report.render_text(survey), end="", soft_wrap=True)  # cleaned
    console.print()
    console.print(
        terminal.clean(f"survey: {out}/survey.html, draft scenario: {out}/survey.yaml"),
        soft_wrap=True,
    )
    return int(survey["exit_code"])


class _SurveyProgress:
    """The run's live view (hosts appear as they connect), without a run's verdict line at the
    end: a survey has no expectations."""

    def __init__(self, progress):
        self._progress = progress

    def on_event(self, event: dict) -> None:
        if event.get("event") == "phase-end":
            self._progress.note("survey phase ended")
            return
        self._progress.on_event(event)

    def __getattr__(self, name):
        return getattr(self._progress, name)

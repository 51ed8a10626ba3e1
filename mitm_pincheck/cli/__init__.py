"""Command-line entry point: argument parsing only; each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import tempfile
import traceback

from mitm_pincheck import __version__
from mitm_pincheck.cli import streams
from mitm_pincheck.errors import EXIT_CRASH, InputError

CRASH_LOG = "crash.log"

# Each module has register(subparsers), which adds one subcommand whose parser sets
# handler=function(args) -> exit code.
_COMMAND_MODULES = (
    "run",
    "validate",
    "demo",
    "report",
    "kinds",
    "ca",
    "pins",
    "android",
    "scenario",
    "survey",
)


_NO_COLOR_HELP = "no colours or other styles on the terminal (as does the NO_COLOR variable)"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 already; keep its message short
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mitm-pincheck",
        description=(
            "Intercepting proxy that tells, host by host, whether an app really enforces "
            "certificate pinning. Exit codes: 0 all pass, 1 any fail, "
            "3 inconclusive and no fail, 2 bad usage or input, "
            f"{EXIT_CRASH} mitm-pincheck itself failed (a bug: the traceback is in a log file)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"mitm-pincheck {__version__}")
    parser.add_argument("--no-color", action="store_true", help=_NO_COLOR_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"mitm_pincheck.cli.{name}")
        module.register(sub)
    _add_no_color(sub)
    return parser


def _add_no_color(subparsers: argparse._SubParsersAction) -> None:
    """--no-color is also accepted after a command's name (`run ... --no-color`), at any depth
    (`ca export --no-color`); SUPPRESS keeps a subcommand from resetting the top-level one."""
    for command in subparsers.choices.values():
        command.add_argument(
            "--no-color", action="store_true", default=argparse.SUPPRESS, help=_NO_COLOR_HELP
        )
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_no_color(action)


def main(argv: list[str] | None = None) -> int:
    streams.guard_standard_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    if args.no_color:
        from mitm_pincheck.report import terminal

        terminal.disable_color()
    try:
        return int(handler(args))
    except InputError as e:
        streams.say(f"mitm-pincheck: error: {e}")
        return 2
    except KeyboardInterrupt:
        return 130
    except RecursionError:  # input nested deeper than any real file: still bad input
        streams.say("mitm-pincheck: error: the input is nested too deeply to be read")
        return 2
    except Exception:
        return crashed(args)


def crashed(args: argparse.Namespace) -> int:
    """A bug, not a verdict: one line, the traceback in a log file, and its own exit code so
    that CI never reads a crash as "a check failed" (1)."""
    log = crash_log(getattr(args, "out", None))
    streams.say(
        f"mitm-pincheck: internal error: {streams.last_error()}; this is a bug in "
        f"mitm-pincheck, not a verdict (exit {EXIT_CRASH})"
        + (f"; the traceback is in {log}" if log else "")
    )
    return EXIT_CRASH


def _redacted(argv: list[str]) -> list[str]:
    """The command line without the --proxyauth password."""
    out = []
    for i, arg in enumerate(argv):
        if arg.startswith("--proxyauth="):
            arg = "--proxyauth=***"
        elif i and argv[i - 1] == "--proxyauth":
            arg = "***"
        out.append(arg)
    return out


def crash_log(out: str | None) -> str | None:
    """Write the current traceback to crash.log in --out when that is a directory, else to a
    temporary file; return its path (None if nothing could be written)."""
    text = f"mitm-pincheck {__version__}: {' '.join(_redacted(sys.argv))}\n{traceback.format_exc()}"
    with contextlib.suppress(OSError):
        if out and os.path.isdir(out):
            path = os.path.join(out, CRASH_LOG)
            with open(path, "w", encoding="utf-8", errors="backslashreplace") as f:
                f.write(text)
            return path
    with contextlib.suppress(OSError):
        fd, path = tempfile.mkstemp(prefix="mitm-pincheck-crash-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
        return path
    return None

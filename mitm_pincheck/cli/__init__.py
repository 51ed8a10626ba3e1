"""Command-line entry point: argument parsing only; each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import importlib
import sys

from mitm_pincheck import __version__
from mitm_pincheck.errors import InputError

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
            "3 inconclusive and no fail, 2 bad usage or input."
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
        from mitm_pincheck.report import terminal  # messages quote scenario keys and values

        print(f"mitm-pincheck: error: {terminal.clean(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

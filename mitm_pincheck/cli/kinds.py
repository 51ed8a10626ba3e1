"""`mitm-pincheck kinds`: the certificate kinds the proxy can present, and what they catch."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import textwrap

from mitm_pincheck.verdicts.kinds import KINDS

_COLUMNS = ("kind", "what is presented", "pinned app", "unpinned app", "bug it catches")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "kinds",
        help="list the certificate kinds",
        description="List the certificate kinds a phase can use: what the app is shown, what a "
        "pinned and an unpinned app must do with it, and the bug it catches. "
        "Details: docs/kinds.md.",
    )
    parser.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps([dataclasses.asdict(k) for k in KINDS.values()], indent=2))
    else:
        print("\n".join(table(shutil.get_terminal_size((120, 24)).columns)))
    return 0


def table(width: int) -> list[str]:
    """The catalogue as a text table; the two prose columns wrap to fit `width`."""
    rows = [(k.name, k.presents, k.pinned, k.unpinned, k.catches) for k in KINDS.values()]
    fixed = [max(len(r[i]) for r in [*rows, _COLUMNS]) for i in (0, 2, 3)]
    prose = max(20, (width - sum(fixed) - 2 * (len(_COLUMNS) - 1)) // 2)
    widths = [fixed[0], prose, fixed[1], fixed[2], prose]
    lines = []
    for row in [_COLUMNS, *rows]:
        cells = [
            textwrap.wrap(text, w, break_on_hyphens=False) or [""]
            for text, w in zip(row, widths, strict=True)
        ]
        height = max(len(c) for c in cells)
        for i in range(height):
            parts = [
                (c[i] if i < len(c) else "").ljust(w) for c, w in zip(cells, widths, strict=True)
            ]
            lines.append("  ".join(parts).rstrip())
        if row is _COLUMNS:
            lines.append("  ".join("-" * w for w in widths))
    return lines

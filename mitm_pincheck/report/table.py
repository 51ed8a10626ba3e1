"""The terminal view of a report: a host x phase grid, a summary line, and what did not pass.

Drawn with Rich on a console from `report.terminal`: every host, phase, reason and hint goes in
through `terminal.text()`, so nothing a server or an app sent can reach the terminal as a control
sequence or as markup. The caller's console decides whether styles are written and how wide the
lines may be (unlimited off a terminal, so CI logs keep one line per line).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mitm_pincheck.report import devices, terminal
from mitm_pincheck.report.proof import column, grid, trust_line

_VERDICT_WORD = {"pass": "PASS", "fail": "FAIL", "inconclusive": "??", "n/a": "n/a"}
_OUTCOME_SHORT = {
    "accepted": "accepted",
    "rejected-after-handshake": "rejected after hs",
    "rejected-in-handshake": "rejected in hs",
    "incompatible": "incompatible",
    "idle": "idle",
    "not-seen": "not seen",
}
STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow"}
_GAP = 2
_MIN_HOST = 12
_LEGEND = (
    "What the app did with the certificate the proxy showed it, per host and phase:\n"
    "  accepted           sent application data over it (credentials would leak)\n"
    "  rejected in hs     refused it during the TLS handshake\n"
    "  rejected after hs  finished the handshake, then closed without sending data\n"
    "                     (how OkHttp's CertificatePinner and most app-level pinning refuse)\n"
    "  idle               finished the handshake but sent nothing before the phase ended\n"
    "  not seen           never connected to the host in that phase\n"
    "  n/a                a key kind, and the scenario gives the host no key: not counted\n"
    "Verdicts: PASS the app did what the host's expectation says; FAIL it did the opposite;\n"
    "?? inconclusive: not enough evidence either way (the reason says why).\n"
    "A refusal of a certificate from the proxy CA counts only with a proof that the app\n"
    "trusts that CA for the host: pinned-key, control, device-store or declared.\n"
)


def print_table(out: Console, report: Mapping) -> None:
    """Grid (rows = hosts, columns = phases), summary line, then each non-pass row's reason."""
    results = list(report.get("results") or ())
    if not results:
        out.print("No results: the scenario has no hosts or no phases.")
        return
    grouped = devices.has_devices(report)
    # A report from several devices: one grid per device, under its name.
    for n, (device, mine) in enumerate(
        (devices.by_device(report) if grouped else {None: results}).items()
    ):
        if grouped:
            if n:
                out.print()
            out.print(terminal.text(f"device {device}:"))
        _print_grid(out, mine)
    if grouped and (split := devices.disagreements(report)):
        out.print()
        out.print(Text(f"devices disagree on {len(split)}:"))
        for d in split:
            per = ", ".join(f"{dev} {_VERDICT_WORD.get(v, v)}" for dev, v in d["verdicts"].items())
            body = terminal.text(f"{d['host']} ({d['phase']}): {per}")
            _print_lines(out, _hanging(out, Text(""), 1, body))

    out.print()
    out.print(_summary_line(report, results), soft_wrap=True)
    if trust := trust_line(report):
        _print_lines(out, _hanging(out, Text(""), 1, terminal.text(trust), first_indent=False))
    failing = [r for r in results if r.get("verdict") not in ("pass", "n/a")]
    if failing:
        out.print()
        for r in failing:
            verdict = r.get("verdict")
            word = Text(_VERDICT_WORD.get(verdict, terminal.clean(verdict)), style=_style(verdict))
            where = f" on {r['device']}" if r.get("device") else ""
            line = f"{r.get('host')} ({column(r)}){where}: {r.get('reason', '')}"
            body = terminal.text(line)
            _print_lines(out, _hanging(out, word, 4, body))


def _print_grid(out: Console, results: list[Mapping]) -> None:
    width = out.width
    columns, by_column = grid(results)  # a backup-key phase has a column per key
    phases = _dedupe(terminal.clean(c) for c in columns)
    hosts = _dedupe(terminal.clean(r.get("host")) for r in results)
    cells = {(terminal.clean(h), terminal.clean(c)): r for (h, c), r in by_column.items()}
    # Too wide: first drop the outcome words from the cells, then shorten host names.
    compact = _natural_width(hosts, phases, cells, compact=False) > width
    host_width = None
    if compact and _natural_width(hosts, phases, cells, compact=True) > width:
        rest = _natural_width([], phases, cells, compact=True) + _GAP
        host_width = max(min(width - rest, max(map(len, hosts))), _MIN_HOST)
    _print_lines(out, _grid(hosts, phases, cells, compact, host_width))


def print_hints(out: Console, report: Mapping) -> None:
    """The report's hints, one `hint:` paragraph each (nothing when there are none)."""
    for hint in report.get("hints") or ():
        _print_lines(out, _hanging(out, Text("hint:"), 5, terminal.text(hint)))


def render_table(report: Mapping, color: bool = False, width: int | None = None) -> str:
    """`print_table` as a string; `width=None`: no width limit."""
    return terminal.capture(lambda out: print_table(out, report), color=color, width=width)


def render_hints(report: Mapping, width: int | None = None) -> str:
    """`print_hints` as a string (empty when there are no hints)."""
    return terminal.capture(lambda out: print_hints(out, report), color=False, width=width)


def render_legend() -> str:
    """A few lines for newcomers: what the outcome words and verdicts mean."""
    return _LEGEND


def _grid(
    hosts: list[str], phases: list[str], cells: Mapping, compact: bool, host_width: int | None
) -> Table:
    grid = Table(
        box=None,
        show_edge=False,
        pad_edge=False,
        padding=(0, _GAP // 2),
        header_style="",
        expand=False,
    )
    grid.add_column(
        "host",
        no_wrap=True,
        overflow="ellipsis",
        min_width=host_width,
        max_width=host_width,
    )
    for phase in phases:
        grid.add_column(Text(phase), no_wrap=True)
    for host in hosts:
        row: list[Text] = [Text(host)]
        for phase in phases:
            r = cells.get((host, phase))
            if r is None:
                row.append(Text("-"))
            else:
                row.append(Text.assemble((_cell_text(r, compact), _style(r.get("verdict")))))
        grid.add_row(*row)
    return grid


def _natural_width(hosts: list[str], phases: list[str], cells: Mapping, compact: bool) -> int:
    texts = {key: _cell_text(r, compact) for key, r in cells.items()}
    cols = [max([len(p)] + [len(t) for (_, ph), t in texts.items() if ph == p]) for p in phases]
    host = max([len("host"), *map(len, hosts)]) if hosts else -_GAP
    return host + sum(w + _GAP for w in cols)


def _cell_text(r: Mapping, compact: bool) -> str:
    word = _VERDICT_WORD.get(r.get("verdict"), terminal.clean(r.get("verdict")))
    if compact or r.get("verdict") == "n/a":
        return word
    outcome = r.get("outcome")
    return f"{word} {_OUTCOME_SHORT.get(outcome, terminal.clean(outcome))}"


def _summary_line(report: Mapping, results: list[Mapping]) -> Text:
    summary = report.get("summary") or {}
    counts = [
        f"{terminal.clean(summary.get(v, sum(r.get('verdict') == v for r in results)))} {v}"
        for v in ("pass", "fail", "inconclusive")
    ]
    line = ", ".join(counts)
    if summary.get("n/a"):
        line += f" ({terminal.clean(summary['n/a'])} n/a, not counted)"
    if report.get("interrupted"):
        line += " (the run was interrupted)"
    return Text(line)


def _hanging(
    out: Console, label: Text, label_width: int, body: Text, first_indent: bool = True
) -> list[Text]:
    """`label` then `body` wrapped to the console's width, later lines indented under the body
    (`first_indent=False`: the first line starts at the margin, without the label).
    Lines break at spaces only (a host name or a kind like "self-signed" stays whole); a word
    longer than the line is folded rather than cut."""
    indent = label_width + 1
    room = max(out.width - indent, 10)
    lines = body.wrap(out, room, overflow="fold", no_wrap=out.width < 20)
    lead = Text.assemble(label, " " * (label_width - len(label) + 1)) if first_indent else ""
    first = Text.assemble(lead, lines[0] if lines else "")
    return [first, *(Text.assemble(" " * indent, line) for line in lines[1:])]


def _print_lines(out: Console, renderable) -> None:
    """Print line by line with trailing blanks removed, never wrapped again by the console."""
    lines = renderable if isinstance(renderable, list) else _layout(out, renderable)
    for line in lines:
        line.rstrip()
        out.print(line, soft_wrap=True)


def _layout(out: Console, renderable) -> list[Text]:
    """Lay `renderable` out as Rich would print it, as lines of styled text."""
    options = out.options.update(width=max(out.width, _measure(out, renderable)))
    return [
        Text.assemble(*((seg.text, seg.style) for seg in line if not seg.control))
        for line in out.render_lines(renderable, options, pad=False)
    ]


def _measure(out: Console, renderable) -> int:
    from rich.measure import Measurement

    return Measurement.get(out, out.options.update(width=100_000), renderable).maximum


def _style(verdict) -> str:
    return STYLE.get(verdict, "")


def _dedupe(items: Iterable) -> list:
    return list(dict.fromkeys(items))

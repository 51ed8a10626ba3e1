"""The terminal view of a report: a host x phase grid, a summary line, and what did not pass.

Pure string functions over the report dict; the caller decides where the text goes and whether
the terminal takes colours.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

from mitm_pincheck.report import devices
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
_COLOUR = {"pass": "\x1b[32m", "fail": "\x1b[31m", "inconclusive": "\x1b[33m"}
_RESET = "\x1b[0m"
_GAP = "  "
_MIN_HOST = 12


def render_table(report: Mapping, color: bool = False, width: int | None = None) -> str:
    """Grid (rows = hosts, columns = phases), summary line, then each non-pass row's reason."""
    results = list(report.get("results") or ())
    if not results:
        return "No results: the scenario has no hosts or no phases.\n"
    grouped = devices.has_devices(report)
    lines: list[str] = []
    # A report from several devices: one grid per device, under its name.
    for device, mine in (devices.by_device(report) if grouped else {None: results}).items():
        if grouped:
            lines += ([""] if lines else []) + [f"device {device}:"]
        lines += _fitted(mine, color, width)
    if grouped and (split := devices.disagreements(report)):
        lines += ["", f"devices disagree on {len(split)}:"]
        for d in split:
            per = ", ".join(f"{dev} {_VERDICT_WORD.get(v, v)}" for dev, v in d["verdicts"].items())
            lines += _wrap(f"  {d['host']} ({d['phase']}): {per}", width, "    ")

    out = [*lines, "", _summary_line(report, results)]
    if trust := trust_line(report):
        out.extend(_wrap(trust, width, "  "))
    failing = [r for r in results if r.get("verdict") not in ("pass", "n/a")]
    if failing:
        out.append("")
        for r in failing:
            out.extend(_reason_lines(r, color, width))
    return "\n".join(out) + "\n"


def _fitted(results: list, color: bool, width: int | None) -> list[str]:
    phases, cells = grid(results)
    hosts = _dedupe(r["host"] for r in results)
    # Too wide: first drop the outcome words from the cells, then shorten host names.
    lines = _grid(hosts, phases, cells, color, None, compact=False)
    if width is not None and _visible_width(lines) > width:
        lines = _grid(hosts, phases, cells, color, None, compact=True)
    if width is not None and _visible_width(lines) > width:
        lines = _grid(hosts, phases, cells, color, width, compact=True)
    return lines


def render_hints(report: Mapping, width: int | None = None) -> str:
    """The report's hints, one `hint:` paragraph each (empty string when there are none)."""
    lines = []
    for hint in report.get("hints") or ():
        text = f"hint: {hint}"
        lines.extend(_wrap(text, width, "      "))
    return "\n".join(lines) + "\n" if lines else ""


def render_legend() -> str:
    """A few lines for newcomers: what the outcome words and verdicts mean."""
    return (
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


def _grid(
    hosts: list[str],
    phases: list[str],
    cells: Mapping,
    color: bool,
    width: int | None,
    compact: bool,
) -> list[str]:
    """The grid; with `width`, host names are shortened (down to _MIN_HOST) to fit it."""
    texts = {key: _cell_text(r, compact) for key, r in cells.items()}
    col_widths = [max([len(p)] + [len(texts.get((h, p), "-")) for h in hosts]) for p in phases]
    host_width = max(len("host"), *(len(h) for h in hosts))
    if width is not None:
        room = width - sum(w + len(_GAP) for w in col_widths)
        host_width = max(min(host_width, room), min(host_width, _MIN_HOST))

    header = _GAP.join(
        [_fit("host", host_width), *(p.ljust(w) for p, w in zip(phases, col_widths, strict=True))]
    )
    lines = [header.rstrip()]
    for h in hosts:
        row = [_fit(h, host_width)]
        for p, w in zip(phases, col_widths, strict=True):
            r = cells.get((h, p))
            text = texts.get((h, p), "-").ljust(w)
            row.append(_paint(text, r.get("verdict") if r else None, color))
        lines.append(_GAP.join(row).rstrip())
    return lines


def _cell_text(r: Mapping, compact: bool) -> str:
    word = _VERDICT_WORD.get(r.get("verdict"), str(r.get("verdict")))
    if compact or r.get("verdict") == "n/a":
        return word
    return f"{word} {_OUTCOME_SHORT.get(r.get('outcome'), str(r.get('outcome')))}"


def _summary_line(report: Mapping, results: list[Mapping]) -> str:
    summary = report.get("summary") or {}
    counts = [
        f"{summary.get(v, sum(r.get('verdict') == v for r in results))} {v}"
        for v in ("pass", "fail", "inconclusive")
    ]
    line = ", ".join(counts)
    if summary.get("n/a"):
        line += f" ({summary['n/a']} n/a, not counted)"
    if report.get("interrupted"):
        line += " (the run was interrupted)"
    return line


def _reason_lines(r: Mapping, color: bool, width: int | None) -> list[str]:
    verdict = r.get("verdict")
    word = _VERDICT_WORD.get(verdict, str(verdict)).ljust(4)
    where = f" on {r['device']}" if r.get("device") else ""
    text = f"{r['host']} ({column(r)}){where}: {r.get('reason', '')}"
    indent = " " * (len(word) + 1)
    wrapped = _wrap(text, width - len(indent) if width else None, "")
    first = f"{_paint(word, verdict, color)} {wrapped[0]}"
    return [first, *(indent + line for line in wrapped[1:])]


def _wrap(text: str, width: int | None, indent: str) -> list[str]:
    # Host names, paths and kind names ("self-signed") must never be split across lines.
    if not width or width < 20:
        return [text]
    return textwrap.wrap(
        text, width, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False
    )


def _paint(text: str, verdict: str | None, color: bool) -> str:
    if not color or verdict not in _COLOUR:
        return text
    # Colour the words only, so trailing padding stays plain and line widths stay honest.
    stripped = text.rstrip()
    return f"{_COLOUR[verdict]}{stripped}{_RESET}{text[len(stripped) :]}"


def _fit(text: str, width: int) -> str:
    return text.ljust(width) if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _visible_width(lines: list[str]) -> int:
    return max((len(_strip_ansi(line)) for line in lines), default=0)


def _strip_ansi(text: str) -> str:
    for code in (*_COLOUR.values(), _RESET):
        text = text.replace(code, "")
    return text


def _dedupe(items) -> list:
    return list(dict.fromkeys(items))

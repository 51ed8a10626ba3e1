"""report/terminal.py: clean() lets through exactly what cannot steer a terminal, and the
consoles write styles only where asked."""

from __future__ import annotations

import io
import sys

from mitm_pincheck.report import terminal

STEERING = {
    "ESC": "\x1b",
    "BEL": "\x07",
    "CR": "\r",
    "LF": "\n",
    "BS": "\x08",
    "TAB": "\t",
    "NUL": "\x00",
    "DEL": "\x7f",
    "C1 CSI": "\x9b",
    "C1 OSC": "\x9d",
    "C1 NEL": "\x85",
    "lone surrogate": "\udce9",
    "RLO": "\u202e",
    "LRI": "\u2066",
    "PDI": "\u2069",
    "zero-width space": "\u200b",
    "line separator": "\u2028",
}


def test_every_code_point_is_kept_only_if_printable():
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    cleaned = terminal.clean(every)
    assert len(cleaned) == len(every)
    assert all((a == b) == a.isprintable() for a, b in zip(every, cleaned, strict=True))
    assert set(cleaned) - set(every) <= {"?"}


def test_each_character_that_steers_a_terminal_becomes_a_question_mark():
    for name, ch in STEERING.items():
        assert terminal.clean(f"a{ch}b") == "a?b", name


def test_printable_text_and_markup_pass_unchanged():
    for text in ("api.example.com", "[bold red]x[/]", "café ✓ 日本", "GET /v1?x=1", ""):
        assert terminal.clean(text) == text
    assert terminal.clean(None) == ""
    assert terminal.clean(42) == "42"


def test_text_is_never_read_as_markup():
    out = io.StringIO()
    console = terminal.console(out, terminal=True, color=True, width=80)
    console.print(terminal.text("[bold red]x[/] [link=http://a]y[/link] :smile:"))
    console.print("[bold]also a plain string[/bold]")
    assert out.getvalue() == "[bold red]x[/] [link=http://a]y[/link] :smile:\n" + (
        "[bold]also a plain string[/bold]\n"
    )


def test_a_console_off_a_terminal_writes_no_escape_and_does_not_wrap():
    out = io.StringIO()
    console = terminal.console(out)
    console.print(terminal.text("x" * 500, style="bold red"))
    assert out.getvalue() == "x" * 500 + "\n"

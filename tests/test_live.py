"""report/live.py: the live view on a terminal, and plain event lines everywhere else."""

from __future__ import annotations

import io
import re

from report_samples import PHASES, sample_report

from mitm_pincheck.report.live import MIN_REDRAW_INTERVAL, LiveView

HOSTS = ["api.example.com", "auth.example.com", "*.cdn.example.com", "metrics.thirdparty.net"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Rich's Live goes back to the top of its block: to column 0, then erase-line and up per line.
REDRAW = re.compile(r"\r\x1b\[2K(?:\x1b\[1A\x1b\[2K)*")


def screen(output: str) -> list[str]:
    """What a terminal shows after `output`: a small emulator of the sequences Rich writes
    (CR, LF, cursor up, erase line, erase below); styles and cursor visibility are ignored."""
    rows: list[list[str]] = [[]]
    row = col = 0
    for token in re.findall(r"\x1b\[[0-9;?]*[A-Za-z]|\r|\n|[^\x1b\r\n]", output):
        if token == "\n":
            row, col = row + 1, 0
        elif token == "\r":
            col = 0
        elif token.startswith("\x1b["):
            arg, code = token[2:-1], token[-1]
            n = int(arg) if arg.isdigit() else 1
            if code == "A":
                row = max(row - n, 0)
            elif code == "F":
                row, col = max(row - n, 0), 0
            elif code == "K":
                rows[row] = [] if arg == "2" else rows[row][:col]
            elif code == "J":
                rows[row] = rows[row][:col]
                del rows[row + 1 :]
            continue
        else:
            line = rows[row]
            line.extend(" " * (col - len(line)))
            line[col : col + 1] = [token]
            col += 1
        while len(rows) <= row:
            rows.append([])
    lines = ["".join(r).rstrip() for r in rows]
    while lines and not lines[-1]:
        lines.pop()
    return lines


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def rows_of(phase):
    return [r for r in sample_report()["results"] if r["phase"] == phase]


def view(interactive, clock=None, **kw):
    out = io.StringIO()
    kw.setdefault("width", 120)
    kw.setdefault("height", 30)
    live = LiveView(out, interactive, kw.pop("hosts", HOSTS), PHASES, clock=clock or Clock(), **kw)
    return live, out


def test_plain_mode_prints_one_line_per_event_and_nothing_on_ticks():
    live, out = view(False)
    live.phase_started("valid-ca", 0, 60)
    live.tick(59)
    live.connection("api.example.com", None)
    live.connection("api.example.com", "accepted", new=False)
    live.connection("api.example.com", "accepted")
    live.connection("img.cdn.example.com", "accepted")
    live.tick(30)
    live.phase_ended("valid-ca", rows_of("valid-ca"))
    live.phase_started("self-signed", 1, None)
    live.connection("api.example.com", "rejected-in-handshake")
    live.close()
    lines = out.getvalue().splitlines()
    assert lines == [
        "[pincheck] phase 1/3 valid-ca: started (timeout 1:00)",
        "[pincheck] valid-ca: first connection to api.example.com",
        "[pincheck] valid-ca: first connection to img.cdn.example.com (accepted)",
        "[pincheck] phase 1/3 valid-ca: ended: 2 pass, 2 fail, 1 inconclusive",
        "[pincheck]   FAIL    api.example.com: expected reject, got accepted. Accepted a "
        "certificate from the proxy CA and sent 2 requests: not pinned.",
        "[pincheck]   PASS    auth.example.com: expected reject, got rejected-after-handshake. "
        "Closed the connection after the handshake, before sending data: pinned.",
        "[pincheck]   PASS    img.cdn.example.com: expected accept, got accepted. Accepted a "
        "certificate from the trusted proxy CA, as an unpinned host should.",
        "[pincheck]   INCONCL static.cdn.example.com: expected accept, got not-seen. No "
        "connection to this host in this phase.",
        "[pincheck]   FAIL    metrics.thirdparty.net: expected accept, got "
        "rejected-in-handshake. Rejected a certificate from the trusted proxy CA: is this host "
        "pinned after all?",
        "[pincheck] phase 2/3 self-signed: started (no timeout)",
        "[pincheck] self-signed: first connection to api.example.com (rejected-in-handshake)",
    ]
    assert "\x1b" not in out.getvalue()


def test_plain_mode_never_writes_escape_sequences_even_from_host_names():
    live, out = view(False)
    live.phase_started("valid-ca", 0, 5)
    live.connection("evil\x1b]0;pwned\x07.test", "accepted\x1b[2J")
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()
    assert "evil?]0;pwned?.test" in out.getvalue()


def test_terminal_mode_redraws_the_block_in_place():
    clock = Clock()
    live, out = view(True, clock, color=False)
    live.phase_started("valid-ca", 0, 60)
    first = out.getvalue()
    assert not REDRAW.search(first), "nothing to erase the first time"
    block_lines = first.count("\n") + 1
    clock.now += 1
    live.tick(59)
    second = out.getvalue()[len(first) :]
    assert second.startswith("\r\x1b[2K" + "\x1b[1A\x1b[2K" * (block_lines - 1))
    assert "phase 1/3 valid-ca  0:59 left" in second
    shown = screen(out.getvalue())
    assert len(shown) == block_lines, "redrawn over itself, not below"
    assert shown[0] == "phase 1/3 valid-ca  0:59 left"


def test_terminal_mode_redraws_at_most_four_times_a_second():
    clock = Clock()
    live, out = view(True, clock)
    live.phase_started("valid-ca", 0, 60)
    start = len(REDRAW.findall(out.getvalue()))
    for i in range(200):  # a chatty app: 200 connections in one second
        clock.now += 1 / 200
        live.connection(f"h{i % 7}.example.com", "accepted")
    draws = len(REDRAW.findall(out.getvalue())) - start
    assert 1 <= draws <= 1 / MIN_REDRAW_INTERVAL
    assert MIN_REDRAW_INTERVAL == 0.25

    def h6_connections() -> int:
        row = next(line for line in screen(out.getvalue()) if line.startswith("h6.example.com"))
        return int(row.split()[1])

    assert h6_connections() < 28, "the last connections were held back by the throttle"
    clock.now += 1
    live.tick(58)  # the tick draws what the throttle held back
    assert h6_connections() == 28  # i % 7 == 6 for 28 of the 200


def test_terminal_mode_fills_in_verdicts_and_keeps_a_line_per_finished_phase():
    clock = Clock()
    live, out = view(True, clock, color=False)
    live.phase_started("valid-ca", 0, 60)
    live.connection("img.cdn.example.com", "accepted")
    live.phase_ended("valid-ca", rows_of("valid-ca"))
    live.phase_started("self-signed", 1, 60)
    phase_line = (
        "phase 1/3 valid-ca: 2 pass, 2 fail, 1 inconclusive "
        "(fail: api.example.com, metrics.thirdparty.net)"
    )
    last_block = screen(out.getvalue())
    assert last_block[0] == phase_line
    assert last_block[1].startswith("phase 2/3 self-signed")
    live.close()
    # What stays on screen after close(): the per-phase line, the block erased after it.
    assert screen(out.getvalue()) == [phase_line]
    grid = {line.split()[0]: line.split()[3:] for line in last_block[3:]}
    assert grid["api.example.com"][:2] == ["FAIL", "…"]
    assert grid["auth.example.com"][:2] == ["PASS", "…"]
    assert grid["static.cdn.example.com"][:2] == ["INCONCL", "…"]
    # Hosts seen through *.cdn.example.com stand in for it, right where it was.
    order = [line.split()[0] for line in last_block[3:]]
    assert order == [
        "api.example.com",
        "auth.example.com",
        "img.cdn.example.com",
        "static.cdn.example.com",
        "metrics.thirdparty.net",
    ]


def test_terminal_mode_keeps_the_block_inside_the_screen():
    hosts = [f"svc{i:02d}.backend.example.com" for i in range(50)]
    clock = Clock()
    live, out = view(True, clock, hosts=hosts, width=60, height=20)
    live.phase_started("valid-ca", 0, 60)
    clock.now += 1
    live.connection("svc42.backend.example.com", "accepted")
    lines = screen(out.getvalue())
    assert len(lines) <= 20
    assert all(len(line) < 60 for line in lines)
    plain = "\n".join(lines)
    assert "svc42.backend.example.com" in plain, "the busy host is shown"
    assert re.search(r"… and \d+ more hosts", plain)


def test_terminal_mode_colours_verdicts_unless_told_not_to():
    live, out = view(True, color=True)
    live.phase_started("valid-ca", 0, 60)
    live.phase_ended("valid-ca", rows_of("valid-ca"))
    assert "\x1b[1;31mFAIL" in out.getvalue()
    live, out = view(True, color=False)
    live.phase_started("valid-ca", 0, 60)
    live.phase_ended("valid-ca", rows_of("valid-ca"))
    assert not re.search(r"\x1b\[[0-9;]*m", out.getvalue())


def test_close_is_idempotent_and_later_events_do_not_draw():
    live, out = view(True)
    live.phase_started("valid-ca", 0, 60)
    live.close()
    after = out.getvalue()
    live.close()
    live.tick(3)
    assert out.getvalue() == after


def test_only_a_real_terminal_is_interactive(monkeypatch):
    from mitm_pincheck.report.live import is_interactive

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert not is_interactive(io.StringIO())
    monkeypatch.setenv("TERM", "xterm-256color")
    assert is_interactive(Tty())
    monkeypatch.setenv("TERM", "dumb")
    assert not is_interactive(Tty())


HOSTILE_HOST = (
    "evil\x1b]0;pwned\x07\x1b[2J\x9b2J\x7f\udce9\u202e[bold red]x[/][link=http://a]y.test"
)
# What Rich itself writes on a terminal: cursor up, erase line, cursor hide/show, styles.
RICH_OWN = re.compile(r"\x1b\[(?:1A|2K|\?25[lh]|[0-9;]*m)")


def test_terminal_mode_writes_no_sequence_of_the_network_s_making():
    clock = Clock()
    live, out = view(True, clock, color=True, hosts=[HOSTILE_HOST, "api.example.com"])
    live.phase_started("valid-ca\x1b[2J", 0, 60)
    live.connection(HOSTILE_HOST, "accepted\x1b]0;t\x07")
    live.note(f"trigger said: {HOSTILE_HOST}")
    live.phase_ended("valid-ca\x1b[2J", [{"host": HOSTILE_HOST, "verdict": "fail\x9b"}])
    live.close()
    text = out.getvalue()
    assert text.count("\x1b") == len(RICH_OWN.findall(text)), RICH_OWN.sub("", text)
    for raw in ("\x07", "\x9b", "\x7f", "\udce9", "\u202e"):
        assert raw not in text
    assert "evil?]0;pwned??[2J?2J???[bold red]x[/][link=http://a]y.test" in text
    assert "valid-ca?[2J" in text


def test_plain_mode_writes_hostile_text_inert_and_literal():
    live, out = view(False)
    live.phase_started("valid-ca", 0, 5)
    live.connection(HOSTILE_HOST, None)
    live.note("[bold]note[/bold]\x1b[2J")
    live.phase_ended("valid-ca", [{"host": HOSTILE_HOST, "verdict": "fail", "reason": "r\x9b"}])
    text = out.getvalue()
    assert not any(ch in text for ch in "\x1b\x07\x9b\x7f\udce9\u202e")
    assert "first connection to evil?]0;pwned??[2J?2J???[bold red]x[/][link=http://a]y.test" in text
    assert "[pincheck] [bold]note[/bold]?[2J" in text


def test_no_color_and_the_no_color_flag_turn_styles_off(monkeypatch):
    from mitm_pincheck.report import terminal

    class Tty(io.StringIO):
        def isatty(self):
            return True

    def styled() -> bool:
        out = Tty()
        live = LiveView(out, True, HOSTS, PHASES, clock=Clock(), width=120, height=30)
        live.phase_started("valid-ca", 0, 60)
        live.phase_ended("valid-ca", rows_of("valid-ca"))
        return bool(re.search(r"\x1b\[[0-9;]*m", out.getvalue()))

    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert styled()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not styled()
    monkeypatch.delenv("NO_COLOR")
    terminal.disable_color()
    try:
        assert not styled()
    finally:
        terminal.disable_color(False)


def test_each_backup_key_round_keeps_its_own_column_in_the_grid():
    clock = Clock()
    out = io.StringIO()
    phases = ["valid-ca", "backup-key", "backup-key"]
    live = LiveView(out, True, ["api.example.com"], phases, clock=clock, width=120, height=30)
    live.phase_started("backup-key", 1, 60)
    live.phase_ended("backup-key", [{"host": "api.example.com", "verdict": "pass"}], 1)
    live.phase_started("backup-key", 2, 60)
    live.phase_ended("backup-key", [{"host": "api.example.com", "verdict": "fail"}], 2)
    clock.now += 1
    live.phase_started("wrong-key", 3, 60)  # a kind not in the list gets a column of its own
    grid = {line.split()[0]: line.split()[3:] for line in screen(out.getvalue())[3:]}
    assert grid["api.example.com"] == ["·", "PASS", "FAIL", "…"]
    live.close()

"""Nothing from the network or a scenario reaches a terminal as a control sequence or as Rich
markup, whichever command prints it (issue 12 item 4): a real client sends a request whose
path carries an OSC title, clear-screen, cursor-home, C1 CSI and Rich markup, through the real
proxy, and `run` and `report` print to a real pseudo-terminal (Rich's Live view, colours) and to
a pipe (plain lines); `validate` prints a scenario whose name and app carry escapes."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest
from conftest import write_scenario

from mitm_pincheck.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
# The path as the client sends it (no space: a request line with one is not HTTP). \xff is not
# UTF-8: the journal keeps it as the text "\xff", never as a raw byte or a lone surrogate.
PATH = (
    b"/a\x1b]0;pwned-title\x07/b\x1b[2J\x1b[H/c\xc2\x9b31m/d\x1b[31m/e\xff"
    b"/[bold]1pass,0fail[/]/[link=http://evil.example]x[/link]"
)
# What Rich itself writes on a terminal: styles, cursor up, erase line, cursor hide/show.
RICH_OWN = re.compile(r"\x1b\[(?:[0-9;]*m|1A|2K|\?25[lh])")

CLIENT = f"""
import os, socket, ssl, sys
# what `adb logcat` in a trigger would print of the app's own making
sys.stdout.buffer.write(b"logcat: \\x1b]0;owned\\x07\\x1b[2Jstill here\\n")
sys.stdout.flush()
sys.stderr.buffer.write(b"\\xc2\\x9b31mred\\x1b[H")
proxy = os.environ["PINCHECK_PROXY"].removeprefix("http://")
host, _, port = proxy.rpartition(":")
sock = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
sock.sendall(b"CONNECT pinned.test:443 HTTP/1.1\\r\\nHost: pinned.test:443\\r\\n\\r\\n")
answer = b""
while b"\\r\\n\\r\\n" not in answer:
    answer += sock.recv(4096)
tls = ssl.create_default_context(cafile=os.environ["PINCHECK_CA"]).wrap_socket(
    sock, server_hostname="pinned.test")
tls.sendall(b"GET " + {PATH!r} + b" HTTP/1.1\\r\\nHost: pinned.test\\r\\n"
            b"X-\\x1b[2J\\x1b]0;t\\x07-Evil: 1\\r\\nAuthorization: Bearer x\\r\\n"
            b"Connection: close\\r\\n\\r\\n")
try:
    while tls.recv(65536):
        pass
except OSError:
    pass
"""


def on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run `python -m mitm_pincheck ARGS` with stdout and stderr on a 120x40 pseudo-terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mitm_pincheck", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    code = proc.wait(timeout=120)
    reader.join(timeout=10)
    os.close(master)
    return code, b"".join(chunks).decode("utf-8")  # strict: no raw undecodable byte either


def in_a_pipe(args: list[str], cwd: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    proc = subprocess.run(
        [sys.executable, "-m", "mitm_pincheck", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=120,
    )
    return proc.returncode, (proc.stdout + proc.stderr).decode("utf-8")


def assert_inert(output: str) -> None:
    foreign = RICH_OWN.sub("", output)
    assert "\x1b" not in foreign, repr(foreign[max(foreign.find("\x1b") - 80, 0) :][:200])
    for raw in ("\x07", "\x9b", "\x7f"):
        assert raw not in output, repr(raw)


@pytest.mark.slow
def test_run_and_report_print_nothing_of_the_network_s_making(tmp_path, backend, confdir):
    (tmp_path / "client.py").write_text(CLIENT)
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "pinned.test", "pinned": True}],
        phases=["valid-ca"],
        trigger=f"{sys.executable} {tmp_path / 'client.py'}",
    )
    out = tmp_path / "out"
    run = ["run", str(scenario), "--out", str(out), "--listen", "127.0.0.1:0"]
    code, shown = on_a_terminal([*run, "--confdir", str(confdir)], ROOT)
    assert code == 1, shown  # the app sent its request over our certificate: a fail
    assert_inert(shown)
    assert "\x1b[" in shown, "a terminal gets Rich's live view and colours"
    plain = RICH_OWN.sub("", shown)
    # The path is in the reason line, made visible: every control character a "?" (and the
    # title's ";pwned-title\x07" gone with the path parameters, which are never recorded).
    assert "/a?]0/b?[2J?[H/c?31m/d?[31m/e\\xff/[bold]1pass,0fail[/]" in plain
    assert "[link=http://evil.example]x[/link]" in plain  # markup printed as typed
    # the trigger's own output is shown too, cleaned
    assert "trigger: logcat: ?]0;owned??[2Jstill here" in plain
    assert "trigger: ?31mred?[H" in plain

    code, shown = on_a_terminal(["report", str(out)], ROOT)
    assert code == 1
    assert_inert(shown)
    assert "/a?]0/b?[2J?[H/c?31m" in RICH_OWN.sub("", shown)

    code, shown = in_a_pipe(["report", str(out)], ROOT)
    assert code == 1
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
    assert "/a?]0/b?[2J?[H/c?31m" in shown
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "\x1b" not in page and "\x07" not in page


def test_validate_prints_a_hostile_name_and_app_inert(tmp_path, capsys):
    path = tmp_path / "hostile.yaml"
    path.write_text(
        'name: "shop\\e]0;pwned\\a\\e[2J[bold red]1 pass, 0 fail[/]"\n'
        'app: "com.example\\x9b2J\\u202e\\e[31m"\n'
        "hosts:\n  - host: api.example.com\n    pinned: true\n"
        'trigger: "echo one\\nmore\\e[2J"\n'
    )
    assert cli_main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert not any(ch in out for ch in "\x1b\x07\x9b\u202e")
    assert "  name:     shop?]0;pwned??[2J[bold red]1 pass, 0 fail[/]" in out
    assert "  app:      com.example?2J??[31m" in out
    assert "  trigger:  echo one\n            more?[2J" in out


def test_an_error_quoting_the_scenario_is_printed_inert(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text('name: x\nhosts:\n  - host: api.example.com\n    "pin\\e[2Jned": true\n')
    assert cli_main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mitm-pincheck: error: ") and err.count("\n") == 1
    assert "\x1b" not in err


def test_the_table_is_coloured_on_a_terminal_unless_no_color(tmp_path, monkeypatch):
    import io

    from mitm_pincheck.report import terminal

    journal = tmp_path / "journal.jsonl"
    events = [
        {
            "ts": 1.0,
            "event": "run-start",
            "scenario": {"hosts": [{"host": "a.test", "pinned": True}], "phases": ["valid-ca"]},
        },
        {"ts": 2.0, "event": "phase-start", "phase": "valid-ca", "index": 0},
        {"ts": 3.0, "event": "phase-end", "phase": "valid-ca", "index": 0, "reason": "settle"},
        {"ts": 4.0, "event": "run-end", "interrupted": False},
    ]
    journal.write_text("".join(f"{json.dumps(e)}\n" for e in events))

    class Tty(io.StringIO):
        def isatty(self):
            return True

    def shown(*flags: str) -> str:
        out = Tty()
        with monkeypatch.context() as m:
            m.setattr(sys, "stdout", out)
            try:
                assert cli_main([*flags, "report", str(journal), "--out", str(tmp_path)]) == 3
            finally:
                terminal.disable_color(False)
        return out.getvalue()

    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[33m?? not seen\x1b[0m" in shown()
    assert "\x1b[" not in shown("--no-color") and "?? not seen" in shown("--no-color")
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in shown()

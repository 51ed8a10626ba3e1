"""A run killed with SIGKILL mid-phase leaves a journal that `report` still turns into verdicts:
every complete line counts, a cut last line is skipped with a warning."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys

from conftest import need, rows, write_scenario

PY = sys.executable
PARTIAL = '{"ts":1795725191.9,"event":"conn","id":"cut-off-by-the-kil'


def test_sigkill_mid_phase_leaves_a_journal_report_can_read(
    tmp_path, backend, confdir, device_trust
):
    curl = need("curl")
    ready = socket.create_server(("127.0.0.1", 0))
    ready.settimeout(30)
    # the trigger: one real connection, then it tells us its process group and waits, like an
    # app left open; the kill comes while the phase is live
    say = (
        "import os, socket; s = socket.create_connection(('127.0.0.1', "
        f"{ready.getsockname()[1]})); s.sendall(str(os.getpgrp()).encode())"
    )
    trigger = (
        f'{curl} -s -o /dev/null --max-time 5 --proxy "$PINCHECK_PROXY" '
        f'--cacert {device_trust} https://open.test/v1/me ; {PY} -c "{say}" ; sleep 60'
    )
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "open.test", "pinned": False}],
        phases=["valid-ca", "self-signed"],
        trigger=trigger,
        timeout=60,
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [PY, "-m", "mitm_pincheck", "run", str(scenario), "--out", str(out)]
        + ["--listen", "127.0.0.1:0", "--confdir", str(confdir), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    trigger_group = None
    try:
        conn, _ = ready.accept()  # the trigger ran: phase 1 is live and saw its connection
        with conn:
            conn.settimeout(10)
            trigger_group = int(conn.recv(32))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
        ready.close()
        if trigger_group is not None:  # the trigger has a session of its own: it outlives us
            with contextlib.suppress(ProcessLookupError):
                os.killpg(trigger_group, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL

    journal = out / "journal.jsonl"
    text = journal.read_text()
    assert '"event":"run-end"' not in text  # it really died mid-run
    assert not (out / "report.json").exists()
    if text.endswith("\n"):  # flushed line by line: simulate a write cut by the kill
        with journal.open("a") as f:
            f.write(PARTIAL)
    lines = journal.read_text().split("\n")
    assert all(json.loads(line) for line in lines[:-1] if line)  # every whole line is whole

    p = subprocess.run(
        [PY, "-m", "mitm_pincheck", "report", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode in (0, 1, 3), p.stderr  # a verdict, not "bad input" (2)
    assert p.returncode == 3  # valid-ca passed; self-signed never ran: inconclusive
    assert "partial last line" in p.stderr and f"{journal}:{len(lines)}" in p.stderr
    assert "Traceback" not in p.stderr
    report = json.loads((out / "report.json").read_text())
    r = rows(report)
    assert r[("open.test", "valid-ca")]["outcome"] == "accepted"
    assert r[("open.test", "valid-ca")]["verdict"] == "pass"
    assert r[("open.test", "valid-ca")]["connections"] == 1
    assert r[("open.test", "valid-ca")]["evidence"]["requests"][0]["path"] == "/v1/me"
    assert r[("open.test", "self-signed")]["verdict"] == "inconclusive"
    for name in ("report.html", "junit.xml", "report.md"):
        assert (out / name).stat().st_size > 0, name

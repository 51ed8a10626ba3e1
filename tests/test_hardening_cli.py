"""A tester's mistakes and a run's bad luck (issue 12): a run that cannot start leaves the last
results alone, bad arguments are exit 2 with a clear line, a crash is exit 4 with a log, a
closed output pipe or a signal never loses the reports, and the trigger dies with the run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_scenario

PY = sys.executable
OLD = {"journal.jsonl": '{"event":"old"}\n', "report.json": '{"old": true}\n'}


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PY, "-m", "mitm_pincheck", *args], capture_output=True, text=True, timeout=120, **kwargs
    )


def last_run(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, text in OLD.items():
        (out / name).write_text(text)


def untouched(out: Path) -> bool:
    return {p.name: p.read_text() for p in out.iterdir()} == OLD


@pytest.fixture
def corrupt_confdir(tmp_path, confdir) -> Path:
    bad = tmp_path / "corrupt-ca"
    bad.mkdir(mode=0o700)
    for f in confdir.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
        (bad / f.name).chmod(0o600)
    key = bad / "mitmproxy-ca.pem"
    key.write_bytes(key.read_bytes()[:200] + b"garbage" + key.read_bytes()[300:])
    return bad


@pytest.mark.parametrize(
    "why", ["port in use", "foreign address", "confdir is a file", "proxyauth", "corrupt CA"]
)
def test_a_run_that_cannot_start_leaves_the_last_results_alone(
    why, tmp_path, backend, confdir, corrupt_confdir
):
    scenario = write_scenario(tmp_path, backend, hosts=[{"host": "open.test", "pinned": False}])
    out = tmp_path / "out"
    last_run(out)
    busy = socket.create_server(("127.0.0.1", 0))
    args = ["--listen", "127.0.0.1:0", "--confdir", str(confdir)]
    if why == "port in use":
        args[1] = f"127.0.0.1:{busy.getsockname()[1]}"
    elif why == "foreign address":
        args[1] = "192.0.2.77:0"  # TEST-NET-1: an address of no machine here
    elif why == "confdir is a file":
        args[3] = "/dev/null"
    elif why == "proxyauth":
        args += ["--proxyauth", "ldap:secret"]
    elif why == "corrupt CA":
        args[3] = str(corrupt_confdir)
    with busy:
        started = time.monotonic()
        p = cli("run", str(scenario), "--out", str(out), "-q", *args)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and p.stderr.startswith("mitm-pincheck: error: ")
    assert len(p.stderr.strip().splitlines()) == 1
    assert untouched(out)
    assert time.monotonic() - started < 60  # a corrupt CA used to hang for ever


def test_a_survey_that_cannot_start_leaves_the_last_survey_alone(tmp_path, confdir):
    out = tmp_path / "out"
    out.mkdir()
    last = {name: f"last survey's {name}" for name in ("survey.json", "survey.html", "survey.yaml")}
    for name, text in last.items():
        (out / name).write_text(text)
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        p = cli(
            "survey", "--out", str(out), "--listen", f"127.0.0.1:{port}",
            "--confdir", str(confdir), "--duration", "1", "-q",
        )  # fmt: skip
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert {name: (out / name).read_text() for name in last} == last


def test_demo_with_a_corrupt_ca_is_a_clear_error(tmp_path, corrupt_confdir):
    p = cli("demo", "--out", str(tmp_path / "d"), "--confdir", str(corrupt_confdir), "-q")
    assert p.returncode == 2 and "cannot load the CA" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (["--proxyauth", "user:pa:ss"], "may not contain ':'"),
        (["--proxyauth", "ldap:secret"], "LDAP"),
        (["--proxyauth", "nocolon"], "USER:PASS"),
        (["--confdir", "/dev/null"], "not a directory"),
        (["--confdir", "FILE"], "not a directory"),
        (["--out", "DIR_report.json"], "report.json there is a directory"),
        (["--out", "DIR_journal.jsonl"], "journal.jsonl there is a directory"),
        (["--client", "not-an-address"], "--client"),
    ],
)
def test_bad_arguments_are_exit_2_with_one_clear_line(tmp_path, backend, args, words):
    scenario = write_scenario(tmp_path, backend, hosts=[{"host": "open.test", "pinned": False}])
    (tmp_path / "FILE").write_text("x")
    base = {"--out": str(tmp_path / "out"), "--listen": "127.0.0.1:0", "--confdir": "CONF"}
    base["--confdir"] = str(tmp_path / "conf")
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if value == "FILE":
            value = str(tmp_path / "FILE")
        if value.startswith("DIR_"):
            name = value.removeprefix("DIR_")
            (tmp_path / "out" / name).mkdir(parents=True)
            value = str(tmp_path / "out")
        base[flag] = value
    flat = [x for pair in base.items() for x in pair]
    p = cli("run", str(scenario), *flat)
    assert p.returncode == 2, p.stderr
    assert words in p.stderr and "Traceback" not in p.stderr


def test_a_crash_is_exit_4_with_the_traceback_in_a_log(tmp_path, monkeypatch, capsys):
    from mitm_pincheck.cli import main
    from mitm_pincheck.verdicts import results

    journal = tmp_path / "run" / "journal.jsonl"
    journal.parent.mkdir()
    journal.write_text('{"ts": 1, "event": "run-start", "scenario": {"phases": []}}\n')

    def bug(events):
        raise RuntimeError("a bug in the code")

    monkeypatch.setattr(results, "build_report", bug)
    out = tmp_path / "out"
    assert main(["report", str(journal), "--out", str(out)]) == 4
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: a bug in the code" in err
    assert f"{out}/crash.log" in err
    log = (out / "crash.log").read_text()
    assert "Traceback" in log and "in bug" in log and "Traceback" not in err
    # no --out: the log goes to a temporary file
    assert main(["report", str(journal)]) == 4
    err = capsys.readouterr().err
    temp_log = Path(err.rsplit("the traceback is in ", 1)[1].strip())
    assert "RuntimeError" in temp_log.read_text()
    temp_log.unlink()


def test_help_documents_the_crash_exit_code():
    for args in (["--help"], ["run", "--help"], ["report", "--help"]):
        text = " ".join(cli(*args).stdout.split())
        assert "4 mitm-" in text and "itself failed" in text, args


def slow_trigger(ready_port: int, pid_file: Path, device_trust: Path) -> str:
    say = f"import socket; socket.create_connection(('127.0.0.1', {ready_port}))"
    return (
        f'curl -s -o /dev/null --max-time 5 --proxy "$PINCHECK_PROXY" --cacert {device_trust} '
        f'https://open.test/ ; echo $$ > {pid_file} ; {PY} -c "{say}" ; sleep 60'
    )


def start_run(tmp_path, backend, confdir, device_trust, **popen) -> tuple:
    ready = socket.create_server(("127.0.0.1", 0))
    ready.settimeout(30)
    pid_file = tmp_path / "trigger.pid"
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "open.test", "pinned": False}],
        phases=["valid-ca", "self-signed"],
        trigger=slow_trigger(ready.getsockname()[1], pid_file, device_trust),
        timeout=60,
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [PY, "-m", "mitm_pincheck", "run", str(scenario), "--out", str(out)]
        + ["--listen", "127.0.0.1:0", "--confdir", str(confdir)],
        **popen,
    )
    return proc, ready, out, pid_file


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_after_the_output_pipe_closes_a_signal_still_ends_the_run_with_reports(
    sig, tmp_path, backend, confdir, device_trust
):
    # `run ... 2>&1 | head -1`: the reader is gone after the first line
    read_end, write_end = os.pipe()
    proc, ready, out, _ = start_run(
        tmp_path, backend, confdir, device_trust, stdout=write_end, stderr=write_end
    )
    os.close(write_end)
    try:
        os.read(read_end, 1)
        os.close(read_end)  # like head -1
        ready.accept()[0].close()  # the trigger ran: phase 1 saw its connection
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 3
    finally:
        proc.kill()
        ready.close()
    report = json.loads((out / "report.json").read_text())
    assert report["interrupted"] is True
    assert (out / "report.md").exists()


def test_a_closed_stdout_is_no_traceback(tmp_path, backend, confdir, device_trust):
    # `run ... | true`: stdout is closed before the table is printed
    read_end, write_end = os.pipe()
    os.close(read_end)
    proc, ready, out, _ = start_run(
        tmp_path, backend, confdir, device_trust, stdout=write_end, stderr=subprocess.PIPE
    )
    os.close(write_end)
    try:
        ready.accept()[0].close()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
        ready.close()
    assert proc.returncode == 3, stderr
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr
    assert json.loads((out / "report.json").read_text())["interrupted"] is True


def test_kill_9_of_the_run_ends_its_trigger(tmp_path, backend, confdir, device_trust):
    proc, ready, _, pid_file = start_run(
        tmp_path,
        backend,
        confdir,
        device_trust,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready.accept()[0].close()
        trigger_shell = int(pid_file.read_text())
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
        ready.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(trigger_shell, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{trigger_shell}/stat") as f:
            if f.read().split(") ", 1)[1].startswith("Z"):
                break  # a zombie: dead, waiting for init to reap it
        time.sleep(0.1)
    else:
        os.kill(trigger_shell, signal.SIGKILL)
        pytest.fail("the trigger outlived the run")


def test_a_crash_during_the_run_still_leaves_reports_and_exits_4(
    tmp_path, backend, confdir, monkeypatch, capsys
):
    from mitm_pincheck.cli import main
    from mitm_pincheck.proxy import runner

    async def bug(self):
        raise RuntimeError("a bug in a phase")

    monkeypatch.setattr(runner.Phases, "run_all", bug)
    scenario = write_scenario(tmp_path, backend, hosts=[{"host": "open.test", "pinned": False}])
    out = tmp_path / "out"
    argv = ["run", str(scenario), "--out", str(out), "--listen", "127.0.0.1:0", "-q"]
    argv += ["--proxyauth", "lab:PROXY-PASSWORD"]
    monkeypatch.setattr(sys, "argv", ["mitm-pincheck", *argv])
    assert main([*argv, "--confdir", str(confdir)]) == 4
    assert "a bug in a phase" in capsys.readouterr().err
    log = (out / "crash.log").read_text()
    assert "RuntimeError" in log and "PROXY-PASSWORD" not in log and "--proxyauth ***" in log
    report = json.loads((out / "report.json").read_text())
    assert {r["verdict"] for r in report["results"]} == {"inconclusive"}


def test_the_live_view_says_when_a_second_client_address_appears():
    from mitm_pincheck.proxy.progress import Progress

    class View:
        def __init__(self):
            self.notes = []

        def note(self, text):
            self.notes.append(text)

        def connection(self, *args, **kwargs):
            pass

    view = View()
    progress = Progress(view, 5)
    for cid, client in (("a", "10.0.0.5"), ("b", "10.0.0.5"), ("c", "10.0.0.9")):
        progress.on_event({"event": "conn", "id": cid, "host": "h", "client": client})
    assert len(view.notes) == 1
    assert "more than one client (10.0.0.5, 10.0.0.9)" in view.notes[0]
    assert "--client" in view.notes[0]


@pytest.mark.parametrize("name", ["report.json", "report.md"])
def test_report_into_a_directory_holding_a_directory_named_like_a_report_is_exit_2(
    tmp_path, name, capsys
):
    from mitm_pincheck.cli import main

    journal = Path(__file__).parent / "data" / "corrupt" / "journals" / "ok-valid.jsonl"
    (tmp_path / "out" / name).mkdir(parents=True)
    assert main(["report", str(journal), "--out", str(tmp_path / "out")]) == 2
    assert f"{name} there is a directory" in capsys.readouterr().err

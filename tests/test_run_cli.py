"""The run as a user drives it: CLI with a shell trigger, Ctrl-C, phases, the mitmdump script."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import need, rows, write_scenario

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PY, "-m", "mitm_pincheck", *args], capture_output=True, text=True, timeout=120, **kwargs
    )


def curl_trigger(host: str, *extra: str) -> str:
    """A shell trigger: curl as "the app", configured from the PINCHECK_* environment."""
    return (
        f'curl -s -o /dev/null --max-time 5 --proxy "$PINCHECK_PROXY" {" ".join(extra)} '
        f'-H "Cookie: sid=cookie-secret-value" "https://{host}/api?key=query-secret-value"'
        " || true"
    )


def test_run_cli_with_curl_as_the_app(tmp_path, backend, confdir, device_trust):
    need("curl")
    trigger = " ; ".join(
        [
            curl_trigger("open.test", "--cacert", str(device_trust)),
            curl_trigger(
                "pinned.test",
                "--cacert",
                str(device_trust),
                "--pinnedpubkey",
                f"sha256//{backend.pin}",
            ),
        ]
    )
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[
            {"host": "pinned.test", "pinned": True},
            {"host": "open.test", "pinned": False, "control": True},
        ],
        trigger=trigger,
    )
    out = tmp_path / "out"
    p = cli(
        "run",
        str(scenario),
        "--out",
        str(out),
        "--listen",
        "127.0.0.1:0",
        "--confdir",
        str(confdir),
    )
    assert p.returncode == 0, p.stderr
    assert "pinned.test" in p.stdout and "open.test" in p.stdout
    report = json.loads((out / "report.json").read_text())
    assert len(report["results"]) == 6
    assert {r["verdict"] for r in report["results"]} == {"pass"}
    assert rows(report)[("pinned.test", "valid-ca")]["outcome"] == "rejected-after-handshake"
    assert rows(report)[("pinned.test", "valid-ca")]["evidence"]["proof"]["source"] == "control"
    assert rows(report)[("open.test", "valid-ca")]["outcome"] == "accepted"
    assert rows(report)[("open.test", "valid-ca")]["evidence"]["credentials"] == ["cookie"]
    for path in out.iterdir():
        data = path.read_bytes()
        assert b"cookie-secret-value" not in data and b"query-secret-value" not in data, path
    # trigger-start/exit recorded, trigger command itself not (it may hold tokens)
    journal = (out / "journal.jsonl").read_text()
    assert '"event":"trigger-exit"' in journal
    assert "--pinnedpubkey" not in journal
    # `report` rebuilds the same verdicts from the journal alone
    rebuilt = tmp_path / "rebuilt"
    p2 = cli("report", str(out), "--out", str(rebuilt))
    assert p2.returncode == 0, p2.stderr
    again = json.loads((rebuilt / "report.json").read_text())
    assert [(r["host"], r["phase"], r["verdict"]) for r in again["results"]] == [
        (r["host"], r["phase"], r["verdict"]) for r in report["results"]
    ]


def test_run_exit_code_1_on_fail_and_3_on_inconclusive(tmp_path, backend, confdir):
    need("curl")
    failing = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "pinned.test", "pinned": True}],
        phases=["self-signed"],
        trigger=curl_trigger("pinned.test", "--insecure"),
    )
    p = cli(
        "run",
        str(failing),
        "--out",
        str(tmp_path / "a"),
        "--listen",
        "127.0.0.1:0",
        "--confdir",
        str(confdir),
    )
    assert p.returncode == 1, p.stderr
    unseen = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "pinned.test", "pinned": True}],
        phases=["self-signed"],
        trigger="true",
        timeout=1,
    )
    p = cli(
        "run",
        str(unseen),
        "--out",
        str(tmp_path / "b"),
        "--listen",
        "127.0.0.1:0",
        "--confdir",
        str(confdir),
    )
    assert p.returncode == 3, p.stderr
    assert "not seen" in p.stdout


def test_bad_scenario_exits_2_and_starts_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nhosts:\n  - host: api.example.com\n    pinned: maybe\n")
    out = tmp_path / "out"
    p = cli("run", str(bad), "--out", str(out), "--listen", "127.0.0.1:0")
    assert p.returncode == 2
    assert f"{bad}:4" in p.stderr and "pinned" in p.stderr
    assert "Traceback" not in p.stderr
    assert not out.exists()


def test_bad_listen_address_exits_2(tmp_path, backend):
    scenario = write_scenario(tmp_path, backend, hosts=[{"host": "pinned.test", "pinned": True}])
    p = cli("run", str(scenario), "--out", str(tmp_path / "o"), "--listen", "nonsense")
    assert p.returncode == 2 and "--listen" in p.stderr


def test_port_in_use_exits_2_with_a_message(tmp_path, backend, confdir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        scenario = write_scenario(
            tmp_path, backend, hosts=[{"host": "pinned.test", "pinned": True}]
        )
        p = cli(
            "run",
            str(scenario),
            "--out",
            str(tmp_path / "o"),
            "--listen",
            f"127.0.0.1:{port}",
            "--confdir",
            str(confdir),
        )
    assert p.returncode == 2, p.stderr
    assert "could not start the proxy" in p.stderr


def test_ctrl_c_ends_the_run_and_still_writes_the_report(tmp_path, backend, confdir, device_trust):
    need("curl")
    ready = socket.create_server(("127.0.0.1", 0))
    ready.settimeout(30)
    say_ready = f"import socket; socket.create_connection(('127.0.0.1', {ready.getsockname()[1]}))"
    # the trigger makes one accepted connection, says so, then waits (like an app left open)
    trigger = curl_trigger("open.test", "--cacert", str(device_trust))
    trigger += f' ; {PY} -c "{say_ready}" ; sleep 60'
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "open.test", "pinned": False}],
        trigger=trigger,
        timeout=60,
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [PY, "-m", "mitm_pincheck", "run", str(scenario), "--out", str(out)]
        + ["--listen", "127.0.0.1:0", "--confdir", str(confdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready.accept()[0].close()  # the trigger ran: phase 1 is live and saw its connection
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
        ready.close()
    assert proc.returncode == 3, stderr
    report = json.loads((out / "report.json").read_text())
    assert report["interrupted"] is True
    r = rows(report)
    assert r[("open.test", "valid-ca")]["outcome"] == "accepted"
    assert r[("open.test", "self-signed")]["outcome"] == "not-seen"
    assert "interrupted" in r[("open.test", "self-signed")]["reason"]
    assert "Traceback" not in stderr


def test_a_new_phase_closes_live_connections_so_the_app_must_reconnect(run_scenario, device_trust):
    from mitm_pincheck.demo import _tunnel

    held: dict[str, ssl.SSLSocket] = {}
    saw_eof = threading.Event()

    def client(kind, env):
        if kind == "valid-ca":
            ctx = ssl.create_default_context(cafile=str(device_trust))
            s = ctx.wrap_socket(
                _tunnel(env["PINCHECK_PROXY"], "open.test"), server_hostname="open.test"
            )
            held["conn"] = s  # handshake done, nothing sent: left open like a pooled connection
        else:
            s = held["conn"]
            s.settimeout(5)
            try:
                if s.recv(1) == b"":
                    saw_eof.set()
            except (ssl.SSLError, OSError):
                saw_eof.set()
            s.close()

    report = run_scenario(
        client, hosts=[{"host": "open.test", "pinned": False}], phases=["valid-ca", "self-signed"]
    )
    assert saw_eof.is_set(), "the proxy did not close the connection at the phase change"
    r = rows(report)
    assert r[("open.test", "valid-ca")]["outcome"] == "idle"
    assert r[("open.test", "valid-ca")]["verdict"] == "inconclusive"
    assert r[("open.test", "self-signed")]["outcome"] == "not-seen"


@pytest.mark.parametrize("tool", ["mitmdump", "mitmweb"])
def test_script_addon_runs_the_scenario_in_mitmdump_and_mitmweb(
    tool, tmp_path, backend, confdir, device_trust
):
    need("curl")
    extra = ["--no-web-open-browser", "--web-port", "0"] if tool == "mitmweb" else ["-q"]
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "open.test", "pinned": False}],
        phases=["valid-ca", "self-signed"],
        trigger=curl_trigger("open.test", "--cacert", str(device_trust)),
    )
    out = tmp_path / "out"
    p = subprocess.run(
        [str(Path(PY).parent / tool), *extra, "-s", str(REPO / "addons" / "pincheck.py")]
        + ["--set", f"pincheck_scenario={scenario}", "--set", f"pincheck_out={out}"]
        + ["--set", f"confdir={confdir}", "--listen-host", "127.0.0.1", "--listen-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert p.returncode == 0, p.stderr
    report = json.loads((out / "report.json").read_text())
    r = rows(report)
    assert r[("open.test", "valid-ca")]["verdict"] == "pass"
    assert r[("open.test", "valid-ca")]["outcome"] == "accepted"
    assert r[("open.test", "self-signed")]["outcome"] == "rejected-in-handshake"


@pytest.mark.parametrize("clients, counted", [("127.0.0.1", True), ("192.0.2.0/24", False)])
def test_script_addon_counts_only_the_clients_of_pincheck_client(
    clients, counted, tmp_path, backend, confdir, device_trust
):
    need("curl")
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "open.test", "pinned": False}],
        phases=["self-signed"],
        trigger=curl_trigger("open.test", "--cacert", str(device_trust)),
    )
    out = tmp_path / "out"
    p = subprocess.run(
        [str(Path(PY).parent / "mitmdump"), "-q", "-s", str(REPO / "addons" / "pincheck.py")]
        + ["--set", f"pincheck_scenario={scenario}", "--set", f"pincheck_out={out}"]
        + ["--set", f"pincheck_client={clients}", "--set", f"confdir={confdir}"]
        + ["--listen-host", "127.0.0.1", "--listen-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert p.returncode == 0, p.stderr
    report = json.loads((out / "report.json").read_text())
    row = rows(report)[("open.test", "self-signed")]
    if counted:
        assert row["outcome"] == "rejected-in-handshake" and row["verdict"] == "pass"
    else:  # curl, from 127.0.0.1, is a stranger here: passed through, never a verdict
        assert row["outcome"] == "not-seen" and row["verdict"] == "inconclusive"
        assert report["clients"]["ignored"], report["clients"]


def test_mitmdump_script_addon_refuses_a_bad_pincheck_client(tmp_path):
    p = subprocess.run(
        [str(Path(PY).parent / "mitmdump"), "-s", str(REPO / "addons" / "pincheck.py")]
        + ["--set", "pincheck_client=not-an-address", "--listen-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode != 0
    assert "pincheck_client 'not-an-address'" in (p.stdout + p.stderr)


def test_mitmdump_script_addon_reports_a_bad_scenario(tmp_path):
    mitmdump = Path(PY).parent / "mitmdump"
    bad = tmp_path / "bad.yaml"
    bad.write_text("hosts: []\n")
    p = subprocess.run(
        [str(mitmdump), "-s", str(REPO / "addons" / "pincheck.py")]
        + ["--set", f"pincheck_scenario={bad}", "--listen-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode != 0
    assert "hosts" in (p.stdout + p.stderr)


def test_a_new_run_removes_the_previous_runs_reports_first(run_scenario, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text('{"stale": true}')
    (out / "junit.xml").write_text("<stale/>")
    seen = {}

    def client(kind, env):
        seen["files during the run"] = sorted(p.name for p in out.iterdir())

    run_scenario(
        client, hosts=[{"host": "open.test", "pinned": False}], phases=["valid-ca"], timeout=1
    )
    assert seen["files during the run"] == ["journal.jsonl"]

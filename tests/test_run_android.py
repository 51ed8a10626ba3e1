"""`run --android` against a STAND-IN adb (tests/fake_adb/adb): no device is involved. The
device's proxy must point at the run while it lasts and be cleared afterwards, also on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from conftest import write_scenario

FAKE_ADB_DIR = Path(__file__).parent / "fake_adb"


def stand_in_adb_env(tmp_path: Path, device: dict | None) -> dict:
    state = tmp_path / "adb-state.json"
    state.write_text(json.dumps({"devices": [device] if device else []}))
    (tmp_path / "adb-log.jsonl").write_text("")
    return {
        **os.environ,
        "PATH": os.pathsep.join(
            [str(FAKE_ADB_DIR), os.path.dirname(sys.executable), os.environ["PATH"]]
        ),
        "FAKE_ADB_STATE": str(state),
        "FAKE_ADB_LOG": str(tmp_path / "adb-log.jsonl"),
    }


def emulator() -> dict:
    return {
        "serial": "emulator-5554",
        "state": "device",
        "api": 34,
        "release": "14",
        "emulator": True,
        "rooted": False,
        "root_allowed": True,
        "writable_system": False,
        "dirs": ["/apex/com.android.conscrypt/cacerts"],
        "files": [],
        "proxy": None,
        "reverse": [],
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def device_state(env: dict) -> dict:
    return json.loads(Path(env["FAKE_ADB_STATE"]).read_text())["devices"][0]


def test_stand_in_adb_run_android_sets_the_proxy_for_the_run_and_clears_it(
    tmp_path, backend, confdir
):
    env = stand_in_adb_env(tmp_path, emulator())
    port = free_port()
    during = tmp_path / "proxy-during-phase.txt"
    read_proxy = (
        f'{sys.executable} -c "import json,os; '
        "print(json.load(open(os.environ['FAKE_ADB_STATE']))['devices'][0]['proxy'])\""
    )
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "open.test", "pinned": False}],
        phases=["self-signed"],
        trigger=f"{read_proxy} >> {during}",
        timeout=1,
    )
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "mitm_pincheck",
            "run",
            str(scenario),
            "--out",
            str(tmp_path / "out"),
        ]
        + ["--listen", f"127.0.0.1:{port}", "--confdir", str(confdir), "--android"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert p.returncode == 3, p.stderr  # nobody connected: inconclusive
    assert during.read_text().strip() == f"127.0.0.1:{port}"
    after = device_state(env)
    assert after["proxy"] in (None, ":0")
    assert after["reverse"] == []
    assert "proxy cleared" in p.stderr


def test_stand_in_adb_run_android_clears_the_proxy_after_ctrl_c(tmp_path, backend, confdir):
    env = stand_in_adb_env(tmp_path, emulator())
    ready = socket.create_server(("127.0.0.1", 0))
    ready.settimeout(30)
    say = f"import socket; socket.create_connection(('127.0.0.1', {ready.getsockname()[1]}))"
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "open.test", "pinned": False}],
        trigger=f'{sys.executable} -c "{say}"; sleep 60',
        timeout=60,
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mitm_pincheck",
            "run",
            str(scenario),
            "--out",
            str(tmp_path / "out"),
        ]
        + ["--listen", f"127.0.0.1:{free_port()}", "--confdir", str(confdir), "--android"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        ready.accept()[0].close()
        assert device_state(env)["proxy"].startswith("127.0.0.1:")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
        ready.close()
    assert device_state(env)["proxy"] in (None, ":0"), stderr
    assert (tmp_path / "out" / "report.json").exists()


def test_stand_in_adb_run_android_without_a_device_exits_2_before_starting(tmp_path, backend):
    env = stand_in_adb_env(tmp_path, None)
    scenario = write_scenario(tmp_path, backend, hosts=[{"host": "open.test", "pinned": False}])
    out = tmp_path / "out"
    p = subprocess.run(
        [sys.executable, "-m", "mitm_pincheck", "run", str(scenario), "--out", str(out)]
        + ["--listen", "127.0.0.1:18089", "--android"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not out.exists()


def test_run_android_needs_a_fixed_port(tmp_path, backend):
    scenario = write_scenario(tmp_path, backend, hosts=[{"host": "open.test", "pinned": False}])
    p = subprocess.run(
        [sys.executable, "-m", "mitm_pincheck", "run", str(scenario), "--out", str(tmp_path / "o")]
        + ["--listen", "127.0.0.1:0", "--android"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2 and "fixed --listen port" in p.stderr


def test_stand_in_adb_run_android_counts_only_the_device_by_default(tmp_path, backend, confdir):
    # another client on this machine (127.0.0.2; the emulator comes through adb reverse, from
    # 127.0.0.1) completes a handshake with a host under test and closes: it must not count
    env = stand_in_adb_env(tmp_path, emulator())
    stranger = tmp_path / "stranger.py"
    stranger.write_text(
        "import os, socket, ssl\n"
        "host, port = os.environ['PINCHECK_PROXY'].rsplit('/', 1)[1].rsplit(':', 1)\n"
        "s = socket.create_connection((host, int(port)), source_address=('127.0.0.2', 0))\n"
        "s.sendall(b'CONNECT open.test:443 HTTP/1.1\\r\\nHost: open.test:443\\r\\n\\r\\n')\n"
        "s.recv(4096)\n"
        "ctx = ssl.create_default_context()\n"
        "ctx.check_hostname = False\n"
        "ctx.verify_mode = ssl.CERT_NONE\n"
        "ctx.wrap_socket(s, server_hostname='open.test').close()\n"
    )
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "open.test", "pinned": True}],
        phases=["self-signed"],
        trigger=f"{sys.executable} {stranger}",
        timeout=1,
    )
    p = subprocess.run(
        [sys.executable, "-m", "mitm_pincheck", "run", str(scenario), "--out"]
        + [str(tmp_path / "out"), "--listen", f"127.0.0.1:{free_port()}"]
        + ["--confdir", str(confdir), "--android"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert p.returncode == 3, p.stderr  # not a pass: the stranger's close is nobody's verdict
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["results"][0]["outcome"] == "not-seen"
    assert report["clients"]["ignored"] == [{"address": "127.0.0.2", "hosts": ["open.test"]}]

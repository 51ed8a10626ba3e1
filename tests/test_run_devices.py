"""Several devices in one run: a listener each, events tagged with the device whose listener
took them, a trigger per device, proofs of CA trust per device.

Real clients (curl) through each listener; Android devices are the STAND-IN adb's
(tests/fake_adb/adb), with two emulators."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import need, write_scenario
from test_run_android import emulator, free_port, stand_in_adb_env

from mitm_pincheck.device import ca as ca_mod


def _events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]


def _row(report: dict, host: str, phase: str, device: str) -> dict:
    found = [
        r
        for r in report["results"]
        if (r["host"], r["phase"], r.get("device")) == (host, phase, device)
    ]
    assert len(found) == 1, [(r["host"], r["phase"], r.get("device")) for r in report["results"]]
    return found[0]


def _cli(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mitm_pincheck", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )


def test_two_emulators_each_get_their_listener_their_trigger_and_their_own_proof(
    tmp_path, backend, confdir
):
    """emulator-5554 holds the proxy CA in its system store, emulator-5556 does not: the
    same refusal is a pass on the first and inconclusive on the second."""
    need("curl")
    info = ca_mod.load_ca(confdir)
    store_path = f"/apex/com.android.conscrypt/cacerts/{info.android_system_name}"
    trusting = {**emulator(), "files": [store_path], "pushed": {store_path: info.pem.decode()}}
    other = {**emulator(), "serial": "emulator-5556", "release": "9", "api": 28}
    env = stand_in_adb_env(tmp_path, trusting)
    state = Path(env["FAKE_ADB_STATE"])
    state.write_text(json.dumps({"devices": [trusting, other]}))
    seen = tmp_path / "trigger-env.txt"
    # Each trigger: what it was given, the proxy adb set on *its* device at that moment, and a
    # client that trusts only the real CA (a pinning app: refuses every proxy certificate).
    proxy_now = (
        f"{sys.executable} -c \"import json,os; print(next(d['proxy'] for d in "
        "json.load(open(os.environ['FAKE_ADB_STATE']))['devices'] "
        "if d['serial'] == os.environ['PINCHECK_SERIAL']))\""
    )
    trigger = (
        f'echo "$PINCHECK_PHASE $PINCHECK_SERIAL $PINCHECK_DEVICE $ANDROID_SERIAL '
        f'$PINCHECK_PROXY $({proxy_now})" >> {seen}; '
        f"curl --silent --max-time 5 --proxy $PINCHECK_PROXY --cacert {backend.ca_path} "
        "https://pinned.test/ -o /dev/null; true"
    )
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "pinned.test", "pinned": True}],
        phases=["valid-ca", "self-signed"],
        trigger=trigger,
    )
    out = tmp_path / "out"
    ports = [free_port(), free_port()]
    p = _cli(
        ["run", str(scenario), "--out", str(out), "--confdir", str(confdir), "--android"]
        + ["--serial", "emulator-5554", "--serial", "emulator-5556"]
        + ["--listen", f"127.0.0.1:{ports[0]}", "--listen", f"127.0.0.1:{ports[1]}"],
        env,
    )
    assert p.returncode == 3, p.stderr  # inconclusive on emulator-5556, no fail

    # each trigger ran with its own device's serial and listener, and adb had set that
    # device's proxy to that listener
    lines = sorted(seen.read_text().split("\n")[:-1])
    assert len(lines) == 4, lines
    for line in lines:
        phase, serial, label, android_serial, proxy, device_proxy = line.split()
        port = ports[["emulator-5554", "emulator-5556"].index(serial)]
        assert (label, android_serial) == (serial, serial)
        assert proxy == f"http://127.0.0.1:{port}"
        assert device_proxy == f"127.0.0.1:{port}"
    # ... and both were cleared after the run
    after = json.loads(state.read_text())["devices"]
    assert [(d["proxy"] in (None, ":0"), d["reverse"]) for d in after] == [(True, [])] * 2

    events = _events(out)
    start = events[0]
    assert [(d["label"], d["serial"]) for d in start["devices"]] == [
        ("emulator-5554", "emulator-5554"),
        ("emulator-5556", "emulator-5556"),
    ]
    assert [d["listen"] for d in start["devices"]] == [f"127.0.0.1:{p}" for p in ports]
    stores = {e["device"]: e["store"] for e in events if e["event"] == "ca-store"}
    assert stores == {"emulator-5554": "system", "emulator-5556": "unknown"}
    conns = [e for e in events if e["event"] == "conn"]
    for phase in ("valid-ca", "self-signed"):
        tagged = sorted(e["device"] for e in conns if e["phase"] == phase)
        assert set(tagged) == {"emulator-5554", "emulator-5556"}, tagged
    triggers = sorted(e["device"] for e in events if e["event"] == "trigger-start")
    assert triggers == ["emulator-5554"] * 2 + ["emulator-5556"] * 2

    report = json.loads((out / "report.json").read_text())
    proven = _row(report, "pinned.test", "valid-ca", "emulator-5554")
    assert (proven["outcome"], proven["verdict"]) == ("rejected-in-handshake", "pass")
    assert proven["evidence"]["proof"] == {"source": "device-store", "path": store_path}
    # the other emulator's store proves nothing for this one
    unproven = _row(report, "pinned.test", "valid-ca", "emulator-5556")
    assert (unproven["outcome"], unproven["verdict"]) == ("rejected-in-handshake", "inconclusive")
    assert unproven["evidence"]["proof"] is None
    for device in ("emulator-5554", "emulator-5556"):
        assert _row(report, "pinned.test", "self-signed", device)["verdict"] == "pass"


def test_devices_set_up_by_hand_are_told_apart_by_listener_and_disagree(tmp_path, backend, confdir):
    """Two labelled listeners, no adb. `strict` pins (refuses every proxy certificate),
    `lax` trusts anything, and its app connects only after its trigger has exited: the phase
    must wait for it rather than settle on the first device's quiet."""
    need("curl")
    curl = "curl --silent --max-time 5 --proxy $PINCHECK_PROXY https://pinned.test/ -o /dev/null"
    trigger = (
        'if [ "$PINCHECK_DEVICE" = strict ]; then '
        f"{curl} --cacert {backend.ca_path}; "
        f"else (sleep 1; {curl} --insecure) >/dev/null 2>&1 & fi; true"
    )
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "pinned.test", "pinned": True}],
        phases=["self-signed"],
        trigger=trigger,
    )
    out = tmp_path / "out"
    ports = [free_port(), free_port()]
    p = _cli(
        ["run", str(scenario), "--out", str(out), "--confdir", str(confdir), "-q"]
        + ["--listen", f"strict=127.0.0.1:{ports[0]}", "--listen", f"lax=127.0.0.1:{ports[1]}"]
    )
    assert p.returncode == 1, p.stderr  # the lax device fails

    events = _events(out)
    assert [d["label"] for d in events[0]["devices"]] == ["strict", "lax"]
    assert all(d["serial"] is None for d in events[0]["devices"])
    report = json.loads((out / "report.json").read_text())
    strict = _row(report, "pinned.test", "self-signed", "strict")
    lax = _row(report, "pinned.test", "self-signed", "lax")
    assert (strict["outcome"], strict["verdict"]) == ("rejected-in-handshake", "pass")
    assert (lax["outcome"], lax["verdict"]) == ("accepted", "fail")
    end = next(e for e in events if e["event"] == "phase-end")
    assert end["reason"] == "settle"  # ended by the quiet after *both* devices, not the timeout

    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert sorted(s.get("name") for s in suites) == ["lax", "strict"]
    markdown = (out / "report.md").read_text()
    assert "Where devices disagree" in markdown and "lax" in markdown
    assert "device strict:" in p.stdout and "device lax:" in p.stdout


def test_a_listener_that_cannot_start_names_its_device_and_touches_nothing(
    tmp_path, backend, confdir
):
    scenario = write_scenario(
        tmp_path, backend, hosts=[{"host": "pinned.test", "pinned": True}], phases=["self-signed"]
    )
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{}")  # the last run's: must survive a failed start
    port = free_port()
    p = _cli(
        ["run", str(scenario), "--out", str(out), "--confdir", str(confdir), "-q"]
        + ["--listen", f"a=127.0.0.1:{port}", "--listen", "b=192.0.2.1:8080"]
    )
    assert p.returncode == 2, p.stderr
    assert "192.0.2.1:8080" in p.stderr
    assert (out / "report.json").read_text() == "{}"
    assert not (out / "journal.jsonl").exists()

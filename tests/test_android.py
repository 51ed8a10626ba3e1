"""`mitm-pincheck android ...` against a STAND-IN adb (tests/fake_adb/adb): a script that logs
its arguments and answers like adb from a JSON description of a device. No device involved."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from mitm_pincheck.cli import main
from mitm_pincheck.device import android, ca
from mitm_pincheck.errors import InputError

FAKE_ADB_DIR = Path(__file__).parent / "fake_adb"
APEX = "/apex/com.android.conscrypt/cacerts"
SYSTEM = "/system/etc/security/cacerts"


def emulator(**over) -> dict:
    dev = {
        "serial": "emulator-5554",
        "state": "device",
        "api": 34,
        "release": "14",
        "emulator": True,
        "rooted": False,
        "root_allowed": True,
        "writable_system": False,
        "dirs": [APEX, SYSTEM],
        "files": [],
        "proxy": None,
        "reverse": [],
    }
    dev.update(over)
    return dev


def phone(**over) -> dict:
    return (
        emulator(
            serial="R58M1234ABC", emulator=False, root_allowed=False, **{"api": 33, "release": "13"}
        )
        | over
    )


class StandInAdb:
    def __init__(self, tmp: Path, devices: list[dict]):
        self.log = tmp / "adb-log.jsonl"
        self.state = tmp / "adb-state.json"
        self.log.write_text("")
        self.state.write_text(json.dumps({"devices": devices}))

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def device_calls(self) -> list[list[str]]:
        """Calls after `-s SERIAL`, without the device-info queries every command starts with."""
        out = []
        for argv in self.calls():
            if argv[:1] == ["-s"]:
                argv = argv[2:]
            if argv in (["devices"], ["shell", "getprop"]):
                continue
            out.append(argv)
        return out

    def device(self, i: int = 0) -> dict:
        return json.loads(self.state.read_text())["devices"][i]


@pytest.fixture
def adb(tmp_path, monkeypatch):
    # The stand-in runs on `python3` from PATH: put this interpreter's directory first, so no
    # slow version-manager shim runs for each of the dozens of calls.
    path = [str(FAKE_ADB_DIR), os.path.dirname(sys.executable), os.environ["PATH"]]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)

    def make(*devices: dict) -> StandInAdb:
        fake = StandInAdb(tmp_path, list(devices))
        monkeypatch.setenv("FAKE_ADB_LOG", str(fake.log))
        monkeypatch.setenv("FAKE_ADB_STATE", str(fake.state))
        return fake

    return make


@pytest.fixture(scope="module")
def confdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ca")
    ca.load_ca(path)
    return path


# ---------------------------------------------------------------- proxy


def test_stand_in_adb_proxy_on_emulator_reverses_the_port_and_uses_loopback(adb, capsys):
    fake = adb(emulator())
    assert main(["android", "proxy", "on", "--port", "8081"]) == 0
    assert fake.device_calls() == [
        ["shell", "settings", "get", "global", "http_proxy"],
        ["reverse", "tcp:8081", "tcp:8081"],
        ["shell", "settings", "put", "global", "http_proxy", "127.0.0.1:8081"],
    ]
    assert all(argv[:2] == ["-s", "emulator-5554"] for argv in fake.calls()[1:])
    assert fake.device()["proxy"] == "127.0.0.1:8081"
    assert "127.0.0.1:8081" in capsys.readouterr().out


def test_stand_in_adb_proxy_on_real_device_uses_the_given_host_address(adb):
    fake = adb(phone())
    assert main(["android", "proxy", "on", "--port", "8080", "--host-ip", "192.168.1.20"]) == 0
    assert ["reverse", "tcp:8080", "tcp:8080"] not in fake.device_calls()
    assert fake.device()["proxy"] == "192.168.1.20:8080"


def test_stand_in_adb_proxy_on_real_device_defaults_to_the_default_route_address(adb):
    try:
        expected = android.lan_address()
    except InputError:
        pytest.skip("this machine has no default route")
    fake = adb(phone())
    assert main(["android", "proxy", "on"]) == 0
    assert fake.device()["proxy"] == f"{expected}:8080"
    assert not expected.startswith("127.")


def test_stand_in_adb_proxy_off_restores_the_device_after_a_crashed_run(adb, capsys):
    # What a run that died mid-phase leaves behind: proxy on, reverse rule in place.
    fake = adb(emulator(proxy="127.0.0.1:8081", reverse=["tcp:8081"]))
    assert main(["android", "proxy", "off"]) == 0
    assert fake.device_calls() == [
        ["shell", "settings", "get", "global", "http_proxy"],
        ["shell", "settings", "delete", "global", "http_proxy"],
        ["shell", "settings", "put", "global", "http_proxy", ":0"],
        ["reverse", "--list"],
        ["reverse", "--remove", "tcp:8081"],
    ]
    assert fake.device()["reverse"] == []
    out = capsys.readouterr().out
    assert "was 127.0.0.1:8081" in out and "removed adb reverse tcp:8081" in out


def test_stand_in_adb_proxy_off_is_safe_when_nothing_is_set(adb):
    fake = adb(emulator())
    assert main(["android", "proxy", "off"]) == 0
    assert ["shell", "settings", "put", "global", "http_proxy", ":0"] in fake.device_calls()
    assert not any(argv[:2] == ["reverse", "--remove"] for argv in fake.device_calls())


def test_stand_in_adb_library_calls_for_run_android_round_trip(adb):
    fake = adb(emulator())
    dev = android.proxy_on(None, 9090)
    assert dev.proxy == "127.0.0.1:9090" and dev.emulator and dev.api == 34
    android.proxy_off(None)
    state = fake.device()
    assert state["proxy"] == ":0" and state["reverse"] == []


def test_stand_in_adb_serial_picks_one_of_several_devices(adb):
    fake = adb(emulator(), phone())
    assert main(["android", "proxy", "on", "--serial", "emulator-5554"]) == 0
    assert fake.device(0)["proxy"] == "127.0.0.1:8080"
    assert fake.device(1)["proxy"] is None


def test_stand_in_adb_several_devices_without_serial_is_exit_2(adb, capsys):
    adb(emulator(), phone())
    assert main(["android", "proxy", "on"]) == 2
    err = capsys.readouterr().err
    assert "several devices" in err and "--serial" in err and len(err.strip().splitlines()) == 1


def test_stand_in_adb_no_device_is_exit_2_with_one_line(adb, capsys):
    adb()
    assert main(["android", "proxy", "on"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no Android device connected" in err and len(err.splitlines()) == 1


def test_stand_in_adb_unauthorized_device_says_what_to_do(adb, capsys):
    adb(phone(state="unauthorized"))
    assert main(["android", "doctor"]) == 2
    assert "Allow USB debugging" in capsys.readouterr().err


def test_no_adb_on_path_is_exit_2_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["android", "proxy", "off"]) == 2
    err = capsys.readouterr().err.strip()
    assert "adb not found on PATH" in err and len(err.splitlines()) == 1


# ---------------------------------------------------------------- install-ca


def test_stand_in_adb_install_ca_uses_the_apex_path_when_the_apex_store_exists(
    adb, confdir, capsys
):
    fake = adb(emulator())
    name = ca.load_ca(confdir).android_system_name
    assert main(["android", "install-ca", "--confdir", str(confdir)]) == 0
    calls = fake.device_calls()
    assert ["root"] in calls
    assert ["remount"] not in calls
    assert ["shell", "sh", "/data/local/tmp/mitm-pincheck-ca.sh"] in calls
    script = fake.device()["pushed"]["/data/local/tmp/mitm-pincheck-ca.sh"]
    assert "mount -t tmpfs tmpfs" in script
    assert 'mount --bind "$STORE" "$APEX"' in script and APEX in script
    assert "nsenter --mount=/proc/$Z/ns/mnt" in script  # zygote
    assert "nsenter --mount=/proc/$P/ns/mnt" in script  # running apps
    assert f"/data/local/tmp/{name}" in fake.device()["pushed"]
    assert f"{APEX}/{name}" in capsys.readouterr().out


def test_stand_in_adb_install_ca_remounts_where_only_the_system_store_exists(adb, confdir):
    fake = adb(emulator(api=33, release="13", dirs=[SYSTEM], writable_system=True))
    name = ca.load_ca(confdir).android_system_name
    assert main(["android", "install-ca", "--confdir", str(confdir)]) == 0
    calls = fake.device_calls()
    assert ["remount"] in calls
    push = next(c for c in calls if c[0] == "push")
    assert push[2] == f"{SYSTEM}/{name}"
    assert ["shell", f"chmod 644 {SYSTEM}/{name}"] in calls
    assert not any(c[:2] == ["shell", "sh"] for c in calls)
    assert "BEGIN CERTIFICATE" in fake.device()["pushed"][f"{SYSTEM}/{name}"]


def test_stand_in_adb_install_ca_trusts_the_directory_not_the_api_level(adb, confdir):
    # An API 34 image without the APEX store (vendor build): the remount path, not the APEX one.
    fake = adb(emulator(api=34, dirs=[SYSTEM], writable_system=True))
    assert main(["android", "install-ca", "--confdir", str(confdir)]) == 0
    assert ["remount"] in fake.device_calls()


def test_stand_in_adb_install_ca_without_writable_system_says_how(adb, confdir, capsys):
    adb(emulator(api=30, release="11", dirs=[SYSTEM]))
    assert main(["android", "install-ca", "--confdir", str(confdir)]) == 2
    assert "-writable-system" in capsys.readouterr().err


def test_stand_in_adb_install_ca_on_a_real_device_gives_user_store_steps(adb, confdir, capsys):
    fake = adb(phone())
    assert main(["android", "install-ca", "--confdir", str(confdir)]) == 0
    calls = fake.device_calls()
    assert ["root"] not in calls
    push = next(c for c in calls if c[0] == "push")
    assert push[2] == "/sdcard/Download/mitm-pincheck-ca.cer"
    out = capsys.readouterr().out
    assert "Install a certificate" in out and "API 24" in out


def test_stand_in_adb_install_ca_on_a_play_store_emulator_falls_back_to_user_store(
    adb, confdir, capsys
):
    fake = adb(emulator(root_allowed=False))
    assert main(["android", "install-ca", "--confdir", str(confdir)]) == 0
    assert ["root"] in fake.device_calls()
    out = capsys.readouterr().out
    assert "cannot run as root" in out and "/sdcard/Download/mitm-pincheck-ca.cer" in out


# ---------------------------------------------------------------- doctor


def test_stand_in_adb_doctor_on_a_fresh_device_reports_problems(adb, confdir, capsys):
    adb(emulator())
    assert main(["android", "doctor", "--confdir", str(confdir)]) == 1
    out = capsys.readouterr().out
    assert "Android 14, API 34" in out
    assert "CA in system store:" in out and "no" in out
    assert "unknown (needs root" in out
    assert "global HTTP proxy:" in out and "not set" in out
    assert "API 24+" in out  # user CAs are ignored by modern apps
    assert "WireGuard" in out
    assert "the device does not trust the proxy CA" in out


def test_stand_in_adb_doctor_on_a_ready_emulator_is_exit_0(adb, confdir, capsys):
    name = ca.load_ca(confdir).android_system_name
    adb(
        emulator(
            rooted=True,
            files=[f"{APEX}/{name}", f"{SYSTEM}/{name}"],
            proxy="127.0.0.1:8080",
            reverse=["tcp:8080"],
        )
    )
    assert main(["android", "doctor", "--confdir", str(confdir), "--port", "8080"]) == 0
    out = capsys.readouterr().out
    assert "Problems" not in out
    assert "127.0.0.1:8080" in out and "CA in user store:" in out


def test_stand_in_adb_doctor_spots_a_loopback_proxy_without_reverse(adb, confdir, capsys):
    adb(emulator(proxy="127.0.0.1:8080"))
    assert main(["android", "doctor", "--confdir", str(confdir)]) == 1
    assert "no 'adb reverse tcp:8080'" in capsys.readouterr().out


def test_stand_in_adb_doctor_spots_a_ca_in_system_that_android_14_does_not_read(
    adb, confdir, capsys
):
    name = ca.load_ca(confdir).android_system_name
    adb(emulator(files=[f"{SYSTEM}/{name}"], proxy="127.0.0.1:8080", reverse=["tcp:8080"]))
    assert main(["android", "doctor", "--confdir", str(confdir)]) == 1
    assert "Conscrypt APEX store: apps do not see it" in capsys.readouterr().out


def test_android_help_texts_exist(capsys):
    for argv in (["android"], ["android", "proxy"], ["android", "install-ca"]):
        with pytest.raises(SystemExit) as e:
            main([*argv, "--help"])
        assert e.value.code == 0
    assert "doctor" in capsys.readouterr().out

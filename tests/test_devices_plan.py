"""Which devices a run tests and where each listens: the scenario's `devices:`, --serial and
--listen, checked before anything starts (no sockets; adb is the STAND-IN of tests/fake_adb)."""

from __future__ import annotations

import json

import pytest
from test_run_android import emulator, stand_in_adb_env

from mitm_pincheck.cli import build_parser
from mitm_pincheck.cli import devices as plan_mod
from mitm_pincheck.errors import InputError, ScenarioError
from mitm_pincheck.scenario import parse
from mitm_pincheck.verdicts import followup

HOSTS = "hosts: [{host: pinned.test, pinned: true}]\n"


def _args(*extra: str):
    return build_parser().parse_args(["run", "s.yaml", "--out", "o", *extra])


def _plan(tmp_path, *extra: str, scenario: str = ""):
    return plan_mod.plan(
        _args("--confdir", str(tmp_path / "conf"), *extra), parse(HOSTS + scenario)
    )


@pytest.fixture
def two_emulators(tmp_path, monkeypatch):
    env = stand_in_adb_env(tmp_path, emulator())
    second = {**emulator(), "serial": "emulator-5556"}
    with open(env["FAKE_ADB_STATE"], "w") as f:
        json.dump({"devices": [emulator(), second]}, f)
    for name in ("PATH", "FAKE_ADB_STATE", "FAKE_ADB_LOG"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    return env


# ---------------------------------------------------------------- the scenario's devices:


def test_scenario_devices_read_serial_label_and_listen():
    s = parse(
        HOSTS + "devices:\n  - serial: emulator-5554\n    label: android-14\n"
        "  - {serial: emulator-5556}\n  - {label: iphone-15, listen: '[::]:8082'}\n"
    )
    assert [(d.label, d.serial, d.listen) for d in s.devices] == [
        ("android-14", "emulator-5554", None),
        ("emulator-5556", "emulator-5556", None),
        ("iphone-15", None, ("::", 8082)),
    ]
    assert parse(HOSTS).devices == ()


@pytest.mark.parametrize(
    "text, message",
    [
        ("devices: []", "devices: expected a list of devices, found an empty list"),
        ("devices: emulator-5554", "devices: expected a list of devices"),
        ("devices: [emulator-5554]", "devices[0]: expected a mapping, found text"),
        ("devices: [{label: x}]", "devices[0]: give the device's adb serial"),
        ("devices: [{listen: '0.0.0.0:1'}]", "devices[0]: a device without serial needs a label"),
        ("devices: [{serial: a}, {serial: a}]", "devices[1].serial: the same serial as"),
        ("devices: [{serial: a, label: x}, {serial: b, label: x}]", "devices[1].label: the same"),
        (
            "devices: [{label: a, listen: '0.0.0.0:9'}, {label: b, listen: '0.0.0.0:9'}]",
            "devices[1].listen: the same listen",
        ),
        ("devices: [{serial: 'a b'}]", "devices[0].serial: 'a b': expected an adb serial"),
        ("devices: [{serial: x, label: 'a/b'}]", "devices[0].label: 'a/b': a device label is"),
        ("devices: [{serial: x, listen: 8081}]", "devices[0].listen: write HOST:PORT"),
        ("devices: [{serial: x, listen: 'here'}]", "devices[0].listen: 'here': expected HOST:P"),
        ("devices: [{serial: x, port: 1}]", "devices[0].port: unknown key; valid keys here"),
    ],
)
def test_bad_scenario_devices_name_the_line_and_key(text, message):
    with pytest.raises(ScenarioError) as e:
        parse(HOSTS + text)
    assert f"<string>:2: {message}" in str(e.value)


def test_too_many_devices_for_one_run():
    entries = ", ".join(f"{{serial: emulator-{5554 + 2 * i}}}" for i in range(33))
    with pytest.raises(ScenarioError, match="at most 32"):
        parse(HOSTS + f"devices: [{entries}]")


# ---------------------------------------------------------------- without adb: --listen


def test_one_unlabelled_listen_is_a_run_without_devices(tmp_path):
    plan = _plan(tmp_path, "--listen", "127.0.0.1:0")
    assert (plan.listen_host, plan.listen_port, plan.devices) == ("127.0.0.1", 0, ())
    assert _plan(tmp_path).listen_port == 8080  # the default


def test_listen_labels_and_defaults(tmp_path):
    plan = _plan(tmp_path, "--listen", "pixel=0.0.0.0:8081", "--listen", "[::1]:8082")
    assert [(d.label, d.host, d.port, d.serial) for d in plan.devices] == [
        ("pixel", "0.0.0.0", 8081, None),
        ("[::1]:8082", "::1", 8082, None),
    ]
    one = _plan(tmp_path, "--listen", "iphone=0.0.0.0:8081").devices
    assert [d.label for d in one] == ["iphone"]  # one device, named: its rows say so


def test_the_scenarios_devices_set_up_by_hand(tmp_path):
    devices = (
        "devices: [{label: a, listen: '127.0.0.1:9001'}, "
        "{label: b, serial: s, listen: '127.0.0.1:9002'}]\n"
    )
    plan = _plan(tmp_path, scenario=devices)
    assert [(d.label, d.port, d.serial) for d in plan.devices] == [
        ("a", 9001, None),
        ("b", 9002, "s"),  # (PINCHECK_SERIAL for its trigger)
    ]
    # --listen replaces them
    assert _plan(tmp_path, "--listen", "127.0.0.1:0", scenario=devices).devices == ()


@pytest.mark.parametrize(
    "extra, scenario, message",
    [
        (["--serial", "x"], "", "--serial needs --android"),
        (
            ["--listen", "a=127.0.0.1:1", "--listen", "a=127.0.0.1:2"],
            "",
            "two devices are labelled 'a'",
        ),
        (
            ["--listen", "a=127.0.0.1:1", "--listen", "b=127.0.0.1:1"],
            "",
            "both listen on 127.0.0.1:1",
        ),
        (["--listen", "a/b=127.0.0.1:1"], "", "a device label is"),
        (["--listen", "a=nowhere"], "", "expected HOST:PORT or LABEL=HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], "", "expected HOST:PORT"),
        (
            ["--listen", "a=127.0.0.1:1", "--listen", "b=127.0.0.1:2", "--mode", "regular@9000"],
            "",
            "names its own listener",
        ),
        (
            ["--listen", "a=127.0.0.1:1", "--listen", "b=127.0.0.1:2", "--mode", "local"],
            "",
            "has no listener of its own",
        ),
        ([], "devices: [{serial: emulator-5554}]\n", "has no listen: give it one"),
    ],
)
def test_bad_device_options_are_exit_2_errors(tmp_path, extra, scenario, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace("[", r"\[")):
        _plan(tmp_path, *extra, scenario=scenario)


# ---------------------------------------------------------------- with adb: --serial


def test_serials_get_the_ports_after_the_first(tmp_path, two_emulators):
    plan = _plan(
        tmp_path,
        "--android",
        "--listen",
        "0.0.0.0:9100",
        "--serial",
        "emulator-5554",
        "--serial",
        "emulator-5556",
    )
    assert [(d.label, d.serial, d.host, d.port) for d in plan.devices] == [
        ("emulator-5554", "emulator-5554", "0.0.0.0", 9100),
        ("emulator-5556", "emulator-5556", "0.0.0.0", 9101),
    ]
    # emulators reach the proxy through adb reverse: from loopback, on their own listener
    assert all(str(d.clients[0]) == "127.0.0.1/32" for d in plan.devices)


def test_the_scenarios_serials_and_labels_with_android(tmp_path, two_emulators):
    devices = (
        "devices: [{serial: emulator-5556, label: android-9}, "
        "{serial: emulator-5554, label: android-14}]\n"
    )
    plan = _plan(tmp_path, "--android", scenario=devices)
    assert [(d.label, d.serial, d.port) for d in plan.devices] == [
        ("android-9", "emulator-5556", 8080),
        ("android-14", "emulator-5554", 8081),
    ]
    # --serial picks among them, keeping their labels; one --listen per device pairs in order
    plan = _plan(
        tmp_path,
        "--android",
        "--serial",
        "emulator-5554",
        "--listen",
        "127.0.0.1:9300",
        scenario=devices,
    )
    assert [(d.label, d.port) for d in plan.devices] == [("android-14", 9300)]


def test_one_android_device_is_named_by_its_serial(tmp_path, two_emulators, monkeypatch):
    monkeypatch.setenv("ANDROID_SERIAL", "emulator-5556")
    plan = _plan(tmp_path, "--android", "--listen", "127.0.0.1:9200")
    assert [(d.label, d.serial, d.port) for d in plan.devices] == [
        ("emulator-5556", "emulator-5556", 9200)
    ]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--android", "--serial", "emulator-5554", "--serial", "emulator-5554"], "given twice"),
        (["--android", "--serial", "emulator-9"], "no device emulator-9"),
        (["--android"], "several devices connected"),
        (
            ["--android", "--serial", "emulator-5554", "--serial", "emulator-5556"]
            + ["--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2", "--listen", "127.0.0.1:3"],
            "3 --listen for 2 devices",
        ),
        (["--android", "--serial", "emulator-5554", "--listen", "127.0.0.1:0"], "fixed --listen"),
        (
            ["--android", "--serial", "emulator-5554", "--serial", "emulator-5556"]
            + ["--listen", "127.0.0.1:65535"],
            "choose a lower one",
        ),
    ],
)
def test_bad_android_device_options(tmp_path, two_emulators, extra, message):
    with pytest.raises(InputError, match=message):
        _plan(tmp_path, *extra)


def test_android_and_hand_set_devices_of_the_scenario_in_one_run(tmp_path, two_emulators):
    devices = (
        "devices: [{serial: emulator-5554}, {label: iphone, listen: '0.0.0.0:8090'}, "
        "{serial: emulator-5556}]\n"
    )
    plan = _plan(tmp_path, "--android", "--listen", "127.0.0.1:9400", scenario=devices)
    assert [(d.label, d.serial, d.host, d.port) for d in plan.devices] == [
        ("emulator-5554", "emulator-5554", "127.0.0.1", 9400),
        ("iphone", None, "0.0.0.0", 8090),  # its proxy is set by hand: adb never touches it
        ("emulator-5556", "emulator-5556", "127.0.0.1", 9401),
    ]
    assert plan.devices[1].clients is None  # every client of its listener counts
    assert sorted(plan.adb) == ["emulator-5554", "emulator-5556"]


def test_survey_takes_one_device(tmp_path):
    from mitm_pincheck.cli import main

    out = tmp_path / "o"
    code = main(
        ["survey", "--out", str(out), "--confdir", str(tmp_path / "c")]
        + ["--listen", "a=127.0.0.1:1", "--listen", "b=127.0.0.1:2"]
    )
    assert code == 2 and not out.exists()


# ---------------------------------------------------------------- follow-ups per device


def _conn(cid: str, pattern: str, device: str, refused: bool) -> list[dict]:
    conn = {"event": "conn", "id": cid, "phase": "valid-ca", "host": pattern, "pattern": pattern}
    conn["device"] = device
    if refused:
        return [conn, {"event": "handshake-failed", "id": cid, "alert": "unknown_ca"}]
    return [
        conn,
        {"event": "handshake", "id": cid},
        {"event": "data", "id": cid, "direction": "client"},
    ]


def test_a_follow_up_is_planned_from_each_devices_own_round():
    start = [{"event": "phase-start", "phase": "valid-ca", "index": 0}]
    # a: login refused, api unseen (a follow-up is due); b: both accepted
    events = (
        start
        + _conn("1", "login", "a", refused=True)
        + _conn("2", "login", "b", refused=False)
        + _conn("3", "api", "b", refused=False)
    )
    nxt = followup.plan_devices("valid-ca", ["login", "api"], events, None, 3, ["a", "b"])
    assert nxt is not None and (nxt.shown, nxt.passed_through) == (("api",), ("login",))
    # judged across devices, b's acceptance of api would have hidden a's need for it
    assert followup.plan("valid-ca", ["login", "api"], events, None, 3) is None
    # no device needs one
    quiet = start + _conn("4", "login", "a", refused=False) + _conn("5", "api", "a", False)
    assert followup.plan_devices("valid-ca", ["login", "api"], quiet, None, 3, ["a", "b"]) is None


def test_split_by_device_keeps_shared_events_for_every_device():
    events = [{"event": "phase-start"}] + _conn("1", "x", "a", True) + _conn("2", "x", "zz", True)
    split = followup.split_by_device(events, ["a", "b"])
    assert [e["event"] for e in split["a"]] == ["phase-start", "conn", "handshake-failed"]
    assert [e["event"] for e in split["b"]] == ["phase-start"]  # zz is no device of the run

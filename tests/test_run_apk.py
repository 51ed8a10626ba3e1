"""`run --apk` / `apk:`: the run records the package's pins, and the rows name the configured
pin-set of a host that refused valid-ca, and the audit finding behind an acceptance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import need, rows, write_scenario
from test_apk import build_apk

from mitm_pincheck.cli import main
from mitm_pincheck.verdicts import apppins


def _nsc(pin: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<network-security-config>
  <domain-config>
    <domain>pinned.test</domain>
    <pin-set expiration="2099-01-01"><pin digest="SHA-256">{pin}</pin>
      <pin digest="SHA-256">nZDBuFApxSrN26U4p+ZeAgfoQFEokta1rWoh1XXQE+c=</pin></pin-set>
  </domain-config>
  <domain-config>
    <domain>open.test</domain>
    <pin-set expiration="2020-01-01"><pin digest="SHA-256">{pin}</pin>
      <pin digest="SHA-256">nZDBuFApxSrN26U4p+ZeAgfoQFEokta1rWoh1XXQE+c=</pin></pin-set>
  </domain-config>
</network-security-config>
"""


def test_run_with_apk_names_the_pin_set_and_the_expired_one(
    tmp_path, backend, confdir, device_trust
):
    curl = need("curl")
    apk = build_apk(tmp_path / "apk", nsc_text=_nsc(backend.pin))
    base = f'{curl} -s -o /dev/null --max-time 5 --proxy "$PINCHECK_PROXY" --cacert {device_trust}'
    trigger = (
        f"{base} --pinnedpubkey sha256//{backend.pin} https://pinned.test/; "
        f"{base} https://open.test/; true"
    )
    # open.test: the app's pin-set for it expired, so the app accepts the proxy CA: a fail whose
    # row must say why
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "pinned.test", "pinned": True}, {"host": "open.test", "pinned": True}],
        phases=["valid-ca"],
        trigger=trigger,
        apk=str(apk),
    )
    out = tmp_path / "out"
    argv = ["run", str(scenario), "--out", str(out), "--listen", "127.0.0.1:0", "-q"]
    assert main(argv + ["--confdir", str(confdir)]) == 1
    report = json.loads((out / "report.json").read_text())
    r = rows(report)
    pinned = r[("pinned.test", "valid-ca")]
    assert pinned["outcome"] == "rejected-after-handshake"
    assert (
        "The app pins it: res/xml/a1.xml: pin-set, 2 pin(s), expires 2099-01-01."
        in (pinned["reason"])
    )
    opened = r[("open.test", "valid-ca")]
    assert opened["verdict"] == "fail"
    assert "pins audit: pin-set-expired: the pin-set expired on 2020-01-01" in opened["reason"]
    assert opened["evidence"]["app_config"]["findings"] == ["pin-set-expired"]
    events = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    package = apppins.package_event(events)
    assert package["app_id"] == "com.example.shop" and package["file"] == "app.apk"
    assert {rule["name"] for rule in package["rules"]} == {"pinned.test", "open.test"}


def test_run_with_a_broken_apk_is_exit_2_before_anything_starts(tmp_path, backend, capsys):
    bad = tmp_path / "bad.apk"
    bad.write_bytes(b"not a zip")
    scenario = write_scenario(tmp_path, backend, hosts=[{"host": "pinned.test", "pinned": True}])
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--out", str(out), "--apk", str(bad)]) == 2
    assert "not a zip archive" in capsys.readouterr().err
    assert not (out / "journal.jsonl").exists()


def test_scenario_apk_key_must_name_a_file(tmp_path):
    from mitm_pincheck.errors import ScenarioError
    from mitm_pincheck.scenario import parse

    with pytest.raises(ScenarioError) as e:
        parse("hosts: [{host: a.example, pinned: true}]\napk: nope.apk\n", "s.yaml", tmp_path)
    assert "s.yaml:2: apk: no such file 'nope.apk'" in str(e.value)


@pytest.mark.parametrize(
    "outcome, phase, expect",
    [
        ("rejected-in-handshake", "valid-ca", "The app pins it: nsc"),
        ("accepted", "valid-ca", "pins audit: pin-set-expired"),
        ("rejected-in-handshake", "self-signed", None),  # refusing self-signed says nothing
    ],
)
def test_annotate_only_adds_words(outcome, phase, expect):
    package = {
        "rules": [
            {
                "name": "example.com",
                "include_subdomains": True,
                "pinned": True,
                "origin": "nsc",
                "findings": [{"code": "pin-set-expired", "message": "expired"}],
            }
        ],
        "findings": [],
    }
    row = {
        "host": "api.example.com",
        "phase": phase,
        "outcome": outcome,
        "verdict": "x",
        "reason": "R.",
        "evidence": {},
    }
    out = apppins.annotate(dict(row, evidence={}), package)
    assert out["verdict"] == "x" and out["outcome"] == outcome
    if expect:
        assert expect in out["reason"]
    else:
        assert out["reason"] == "R."


def test_script_mode_records_the_scenarios_apk_too(tmp_path, backend, confdir):
    """`mitmdump -s addons/pincheck.py` with a scenario naming `apk:` journals the package as
    `run` does, and leaves no temporary trust bundle behind."""
    apk = build_apk(tmp_path / "apk", nsc_text=_nsc(backend.pin))
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "pinned.test", "pinned": True}],
        phases=["self-signed"],
        timeout=0.5,
        settle=0.5,
        apk=str(apk),
    )
    out = tmp_path / "out"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    mitmdump = Path(sys.executable).parent / "mitmdump"
    addon = Path(__file__).resolve().parent.parent / "addons" / "pincheck.py"
    p = subprocess.run(
        [str(mitmdump), "-q", "-s", str(addon)]
        + ["--set", f"pincheck_scenario={scenario}", "--set", f"pincheck_out={out}"]
        + ["--set", f"confdir={confdir}", "--listen-host", "127.0.0.1", "--listen-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": "", "TMPDIR": str(tmp)},
    )
    assert p.returncode == 0, p.stderr
    events = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    package = apppins.package_event(events)
    assert package is not None and package["file"] == "app.apk"
    assert not [f.name for f in tmp.iterdir() if f.name.startswith("pincheck-")]

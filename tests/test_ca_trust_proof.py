"""Issue 10, with real clients through the real proxy: a refusal of a proxy-CA certificate only
counts with a proof that this app trusts the proxy CA for this host, and each row says which.

Node on TLS 1.2 completes the handshake and then refuses an untrusted CA; a client trusting the
proxy CA next to one that does not proves nothing for it; an in-handshake pinning JDK client
(the pin checked inside checkServerTrusted, as Android's network security config does) is
proven by pinned-key and judged on its backup keys; `ca_trust: system` is declared proof; the
stand-in adb's system store is device-store proof, its user store none.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import need, rows, write_scenario
from cryptography.hazmat.primitives.asymmetric import ec
from test_run_android import emulator, free_port, stand_in_adb_env

from mitm_pincheck.backend import write_private_key
from mitm_pincheck.device import ca as ca_mod
from mitm_pincheck.pins.pins import key_pin

CLIENTS = Path(__file__).parent / "clients"


def curl(env: dict, host: str, trust: Path, *args: str) -> int:
    cmd = [need("curl"), "--silent", "--output", "/dev/null", "--max-time", "5"]
    cmd += [
        "--proxy",
        env["PINCHECK_PROXY"],
        "--cacert",
        str(trust),
        *args,
        f"https://{host}/v1/me",
    ]
    return subprocess.run(cmd, capture_output=True, timeout=20).returncode


def node(env: dict, trust: Path, host: str, max_version: str = "TLSv1.2") -> str:
    cmd = [need("node"), str(CLIENTS / "pin_client.js"), env["PINCHECK_PROXY"], str(trust), "-"]
    cmd.append(f"unpinned={host}")
    run_env = {**env, "PIN_CLIENT_MAX_TLS": max_version}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=run_env).stdout


def test_node_on_tls12_not_trusting_the_proxy_ca_and_a_browser_that_does_prove_nothing(
    run_scenario, backend, device_trust
):
    # The app (Node, TLS 1.2) trusts only the real root: it completes each handshake, then
    # refuses the proxy CA. Next to it a "browser" (curl) trusts the proxy CA, as on a phone
    # with a user CA. Before issue 10 that was a PASS for every row and exit 0.
    phases = ["valid-ca", "wrong-host", "expired"]

    def clients(kind: str, env: dict) -> None:
        node(env, backend.ca_path, "pinned.test")
        curl(env, "open.test", device_trust)

    report = run_scenario(
        clients,
        hosts=[{"host": "pinned.test", "pinned": True}, {"host": "open.test", "pinned": False}],
        phases=phases,
    )
    r = rows(report)
    assert r[("pinned.test", "valid-ca")]["outcome"] == "rejected-after-handshake"
    for phase in phases:
        row = r[("pinned.test", phase)]
        assert row["outcome"] in ("rejected-after-handshake", "rejected-in-handshake"), row
        assert row["verdict"] == "inconclusive", row
        assert row["evidence"]["proof"] is None
    assert r[("open.test", "valid-ca")]["verdict"] == "pass"  # it accepted: no proof needed
    assert report["ca_trust"]["sources"] == []
    assert report["exit_code"] == 3
    assert any("pinned.test" in h and "ca_trust: system" in h for h in report["hints"])


def test_curl_pinning_with_ca_trust_system_passes_with_declared_proof(
    run_scenario, backend, device_trust
):
    report = run_scenario(
        lambda kind, env: curl(
            env, "pinned.test", device_trust, "--pinnedpubkey", f"sha256//{backend.pin}"
        ),
        hosts=[{"host": "pinned.test", "pinned": True}],
        phases=["valid-ca"],
        ca_trust="system",
    )
    row = rows(report)[("pinned.test", "valid-ca")]
    assert (row["outcome"], row["verdict"]) == ("rejected-after-handshake", "pass")
    assert row["evidence"]["proof"] == {"source": "declared"}
    assert "its word, not checked" in row["reason"]
    assert report["ca_trust"] == {
        "sources": ["declared"],
        "pinned_key": [],
        "control": [],
        "device_store": None,
        "declared": True,
    }


# --- an in-handshake pinning JDK client, pinned-key and backup-key ------------------------------


@pytest.fixture(scope="module")
def nsc_client(tmp_path_factory) -> list[str]:
    """`java -cp DIR NscPinClient`, compiled here: plain JDK, no OkHttp."""
    javac, java = need("javac"), need("java")
    out = tmp_path_factory.mktemp("nsc")
    p = subprocess.run(
        [javac, "-nowarn", "-d", str(out)]
        + [str(CLIENTS / "NscPinClient.java"), str(CLIENTS / "DeviceTrust.java")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    return [java, "-cp", str(out), "NscPinClient"]


def test_in_handshake_pinning_client_is_proven_by_pinned_key_and_judged_on_each_backup_key(
    run_scenario, backend, device_trust, nsc_client, tmp_path
):
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "current.pem").write_bytes(backend.key_path.read_bytes())
    (keys / "current.pem").chmod(0o600)
    backups = {}
    for name in ("pinned-backup.pem", "forgotten-backup.pem"):
        key = ec.generate_private_key(ec.SECP256R1())
        write_private_key(keys / name, key)
        backups[name] = key_pin(key.public_key())
    pins = [backend.pin, backups["pinned-backup.pem"]]  # the app forgot one backup pin
    keyless: dict[str, list[int]] = {}

    def app(kind: str, env: dict) -> None:
        # open.test has no keys: in the key phases it must see the real server, untouched
        keyless.setdefault(kind, []).append(curl(env, "open.test", backend.ca_path))
        proxy = env["PINCHECK_PROXY"].removeprefix("http://")
        host, _, port = proxy.rpartition(":")
        subprocess.run(
            [*nsc_client, host, port, str(device_trust), "pinned.test", *pins],
            capture_output=True,
            text=True,
            timeout=30,
        )

    report = run_scenario(
        app,
        hosts=[
            {
                "host": "pinned.test",
                "pinned": True,
                "keys": {
                    "current": "keys/current.pem",
                    "backup": ["keys/pinned-backup.pem", "keys/forgotten-backup.pem"],
                },
            },
            {"host": "open.test", "pinned": False},
        ],
        phases=["valid-ca", "pinned-key", "backup-key"],
    )
    results = {(r["host"], r["phase"], r.get("key")): r for r in report["results"]}
    valid = results[("pinned.test", "valid-ca", None)]
    assert valid["outcome"] == "rejected-in-handshake"  # the pin, inside checkServerTrusted
    assert valid["verdict"] == "pass"
    assert valid["evidence"]["proof"] == {"source": "pinned-key", "host": "pinned.test"}
    pinned_key = results[("pinned.test", "pinned-key", None)]
    assert (pinned_key["outcome"], pinned_key["verdict"]) == ("accepted", "pass")
    good = results[("pinned.test", "backup-key", "keys/pinned-backup.pem")]
    assert (good["outcome"], good["verdict"]) == ("accepted", "pass")
    bad = results[("pinned.test", "backup-key", "keys/forgotten-backup.pem")]
    assert (bad["outcome"], bad["verdict"]) == ("rejected-in-handshake", "fail")
    assert "rotating this server to that key would break the app" in bad["reason"]
    assert bad["evidence"]["key"]["pin"] == f"sha256/{backups['forgotten-backup.pem']}"
    # open.test has no keys: passed through, n/a, not counted
    assert results[("open.test", "pinned-key", None)]["verdict"] == "n/a"
    assert results[("open.test", "backup-key", None)]["verdict"] == "n/a"
    assert ("open.test", "backup-key", "keys/forgotten-backup.pem") not in results
    assert keyless["pinned-key"] == [0] and keyless["backup-key"] == [0, 0]  # passed through
    assert keyless["valid-ca"] == [60]  # (curl: the proxy CA is not in its trust: intercepted)
    assert report["summary"]["n/a"] == 2
    assert report["ca_trust"]["pinned_key"] == ["pinned.test"]
    assert report["exit_code"] == 1
    # no key material in the journal or any report
    journal = (tmp_path / "out" / "journal.jsonl").read_text()
    assert "PRIVATE KEY" not in journal and "PRIVATE KEY" not in json.dumps(report)
    # the journal reads back clean: every field of ours has the type the reader expects
    from mitm_pincheck.verdicts.journal import read_events

    assert read_events(tmp_path / "out")[1] == []
    # a keyless host passed through in a key phase is no host hidden behind a refusal
    events = [json.loads(line) for line in journal.splitlines()]
    followups = [e for e in events if e["event"] == "phase-start" and e.get("followup")]
    assert not [e for e in followups if e["phase"] in ("pinned-key", "backup-key")]


# --- the device's trust store, through the stand-in adb -------------------------------------------


def _store_run(tmp_path, backend, confdir, device: dict) -> tuple[dict, str]:
    env = stand_in_adb_env(tmp_path, device)
    refuse = (
        f"curl --silent --max-time 5 --proxy $PINCHECK_PROXY --cacert {backend.ca_path} "
        "https://pinned.test/ -o /dev/null"
    )
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "pinned.test", "pinned": True}],
        phases=["valid-ca"],
        trigger=refuse,
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mitm_pincheck", "run", str(scenario), "--out", str(out)]
    cmd += ["--listen", f"127.0.0.1:{free_port()}", "--confdir", str(confdir), "--android"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode in (0, 3), p.stderr
    return json.loads((out / "report.json").read_text()), p.stderr


def _ca(confdir) -> tuple[str, str]:
    info = ca_mod.load_ca(confdir)
    return info.pem.decode(), info.android_system_name


def test_stand_in_adb_with_the_proxy_ca_in_the_system_store_is_device_store_proof(
    tmp_path, backend, confdir
):
    need("curl")
    pem, name = _ca(confdir)
    path = f"/apex/com.android.conscrypt/cacerts/{name}"
    device = {**emulator(), "files": [path], "pushed": {path: pem}}
    report, stderr = _store_run(tmp_path, backend, confdir, device)
    row = report["results"][0]
    assert (row["outcome"], row["verdict"]) == ("rejected-in-handshake", "pass")
    assert row["evidence"]["proof"] == {"source": "device-store", "path": path}
    assert report["ca_trust"]["device_store"]["store"] == "system"
    assert "is in the device's system store" in stderr


def test_stand_in_adb_with_another_certificate_under_the_ca_name_is_no_proof(
    tmp_path, backend, confdir
):
    need("curl")
    _, name = _ca(confdir)
    path = f"/apex/com.android.conscrypt/cacerts/{name}"
    other = backend.ca_path.read_text()  # same file name, not our CA: compared byte for byte
    device = {**emulator(), "files": [path], "pushed": {path: other}}
    report, stderr = _store_run(tmp_path, backend, confdir, device)
    assert report["results"][0]["verdict"] == "inconclusive"
    assert "another certificate with the same subject hash" in stderr


def test_stand_in_adb_with_the_proxy_ca_only_in_the_user_store_is_no_proof(
    tmp_path, backend, confdir
):
    need("curl")
    pem, name = _ca(confdir)
    path = f"/data/misc/user/0/cacerts-added/{name}"
    device = {**emulator(), "rooted": True, "files": [path], "pushed": {path: pem}}
    report, stderr = _store_run(tmp_path, backend, confdir, device)
    row = report["results"][0]
    assert (row["outcome"], row["verdict"]) == ("rejected-in-handshake", "inconclusive")
    assert row["evidence"]["proof"] is None
    assert report["ca_trust"]["device_store"]["store"] == "user"
    assert "only in the device's user store: that is no proof" in stderr
    assert any("only in the device's user store" in h for h in report["hints"])
    journal = (tmp_path / "out" / "journal.jsonl").read_text().splitlines()
    names = [json.loads(line)["event"] for line in journal]
    assert names.index("ca-store") < names.index("phase-start")

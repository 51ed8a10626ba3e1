"""scenario/keys.py: `keys`, `control` and `ca_trust`, and an error for each way to err."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from mitm_pincheck.errors import ScenarioError
from mitm_pincheck.pins.pins import key_pin
from mitm_pincheck.scenario import parse


def write_key(path: Path, key=None, mode: int = 0o600, password: bytes | None = None) -> Path:
    key = key or ec.generate_private_key(ec.SECP256R1())
    enc = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    )
    path.chmod(mode)
    return path


def scenario(keys_yaml: str, phases: str = "[valid-ca, pinned-key, backup-key]", extra="") -> str:
    return (
        "hosts:\n"
        "  - host: api.example.com\n"
        "    pinned: true\n"
        f"    keys: {keys_yaml}\n"  # line 4
        "  - host: cdn.example.com\n"
        "    pinned: false\n"
        "    control: true\n"
        f"phases: {phases}\n" + extra
    )


def error_for(text: str, tmp_path: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse(text, "s.yaml", tmp_path)
    return info.value


def test_keys_control_and_ca_trust_are_read(tmp_path):
    cur = write_key(tmp_path / "keys/api.pem")
    write_key(tmp_path / "keys/b1.pem")
    write_key(tmp_path / "keys/b2.pem")
    s = parse(
        scenario(
            "{current: keys/api.pem, backup: [keys/b1.pem, keys/b2.pem]}",
            extra="ca_trust: system\n",
        ),
        "s.yaml",
        tmp_path,
    )
    api, cdn = s.hosts
    assert api.keys.current.file == "keys/api.pem"
    assert api.keys.current.path == cur.resolve()
    public = serialization.load_pem_private_key(cur.read_bytes(), None).public_key()
    assert api.keys.current.pin == f"sha256/{key_pin(public)}"
    assert [k.file for k in api.keys.backup] == ["keys/b1.pem", "keys/b2.pem"]
    assert api.keys.at == "leaf"
    assert (api.control, cdn.control) == (False, True)
    assert s.ca_trust == "system"
    # backup-key runs once per backup key
    assert s.phases == ("valid-ca", "pinned-key", "backup-key", "backup-key")
    assert s.key_for(api, 1).file == "keys/api.pem"
    assert s.key_for(api, 2).file == "keys/b1.pem"
    assert s.key_for(api, 3).file == "keys/b2.pem"
    assert s.key_for(cdn, 1) is None
    assert s.key_for(api, 0) is None


def test_the_journal_gets_key_files_and_pins_never_key_material(tmp_path):
    cur = write_key(tmp_path / "api.pem")
    s = parse(scenario("{current: api.pem, at: intermediate}", "[pinned-key]"), "s.yaml", tmp_path)
    d = s.to_dict()
    (api, cdn) = d["hosts"]
    assert api["keys"] == {
        "current": {"file": "api.pem", "pin": s.hosts[0].keys.current.pin},
        "backup": [],
        "at": "intermediate",
    }
    assert cdn["control"] is True and "keys" not in cdn
    assert d["ca_trust"] is None
    assert "PRIVATE" not in str(d) and str(tmp_path) not in str(d)
    assert cur.read_bytes()  # untouched


def test_a_single_backup_key_may_be_written_without_a_list(tmp_path):
    write_key(tmp_path / "b.pem")
    s = parse(scenario("{backup: b.pem}", "[backup-key]"), "s.yaml", tmp_path)
    assert [k.file for k in s.hosts[0].keys.backup] == ["b.pem"]


@pytest.mark.parametrize(
    "keys_yaml, phases, message",
    [
        ("{current: nope.pem}", "[pinned-key]", "nope.pem: no such file"),
        ("{current: .}", "[pinned-key]", "not a file"),
        ("{current: 12}", "[pinned-key]", "expected the path of a PEM private key"),
        ("{}", "[pinned-key]", "give at least one key"),
        ("keys/api.pem", "[pinned-key]", "expected a mapping"),
        ("{current: api.pem, curent: api.pem}", "[pinned-key]", "did you mean 'current'"),
        ("{current: api.pem, at: root}", "[pinned-key]", "expected leaf or intermediate"),
        ("{backup: []}", "[backup-key]", "expected a list of key files"),
        ("{backup: [api.pem, api.pem]}", "[backup-key]", "holds the same key as api.pem"),
    ],
)
def test_bad_keys_name_the_file_line_and_key(tmp_path, keys_yaml, phases, message):
    write_key(tmp_path / "api.pem")
    e = error_for(scenario(keys_yaml, phases), tmp_path)
    assert e.line == 4
    assert e.key.startswith("hosts[0].keys")
    assert message in str(e)


def test_a_world_readable_key_file_is_refused(tmp_path):
    write_key(tmp_path / "api.pem", mode=0o644)
    e = error_for(scenario("{current: api.pem}", "[pinned-key]"), tmp_path)
    assert str(e).startswith("s.yaml:4: hosts[0].keys.current: ")
    assert "readable by every user of this machine (mode 0644)" in str(e)
    assert "chmod 600" in str(e)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_key_file_is_refused(tmp_path):
    write_key(tmp_path / "api.pem", mode=0o200)
    e = error_for(scenario("{current: api.pem}", "[pinned-key]"), tmp_path)
    assert "not readable by this user" in str(e)


def test_an_encrypted_key_is_refused_with_how_to_decrypt(tmp_path):
    write_key(tmp_path / "api.pem", password=b"secret")
    e = error_for(scenario("{current: api.pem}", "[pinned-key]"), tmp_path)
    assert "encrypted" in str(e) and "openssl pkey" in str(e)


def test_a_certificate_is_not_a_key(tmp_path):
    (tmp_path / "api.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    (tmp_path / "api.pem").chmod(0o600)
    e = error_for(scenario("{current: api.pem}", "[pinned-key]"), tmp_path)
    assert "holds a certificate" in str(e)


def test_garbage_and_der_are_refused(tmp_path):
    (tmp_path / "api.pem").write_bytes(b"\x30\x82\x01\x00garbage")
    (tmp_path / "api.pem").chmod(0o600)
    assert "not a PEM file" in str(
        error_for(scenario("{current: api.pem}", "[pinned-key]"), tmp_path)
    )
    (tmp_path / "api.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    assert "not a private key we can read" in str(
        error_for(scenario("{current: api.pem}", "[pinned-key]"), tmp_path)
    )


def test_a_key_that_cannot_sign_for_tls_is_refused(tmp_path):
    write_key(tmp_path / "api.pem", key=dsa.generate_private_key(2048))
    e = error_for(scenario("{current: api.pem}", "[pinned-key]"), tmp_path)
    assert "cannot sign for a TLS server" in str(e)


def test_rsa_keys_are_fine(tmp_path):
    write_key(tmp_path / "api.pem", key=rsa.generate_private_key(65537, 2048))
    s = parse(scenario("{current: api.pem}", "[pinned-key]"), "s.yaml", tmp_path)
    assert s.hosts[0].keys.current.pin.startswith("sha256/")


@pytest.mark.parametrize(
    "phases, which", [("[pinned-key]", "keys.current"), ("[backup-key]", "keys.backup")]
)
def test_a_key_phase_without_any_host_having_that_key_is_refused(tmp_path, phases, which):
    text = f"hosts:\n  - host: api.example.com\n    pinned: true\nphases: {phases}\n"
    e = error_for(text, tmp_path)
    assert (e.line, e.key) == (4, "phases")
    assert which in str(e)


def test_a_control_host_must_be_unpinned(tmp_path):
    text = "hosts:\n  - host: cdn.example.com\n    pinned: true\n    control: true\n"
    e = error_for(text, tmp_path)
    assert (e.line, e.key) == (4, "hosts[0].control")
    assert "pinned: false" in str(e)


def test_control_must_be_a_boolean(tmp_path):
    text = "hosts:\n  - host: cdn.example.com\n    pinned: false\n    control: 'yes'\n"
    e = error_for(text, tmp_path)
    assert "expected true or false" in str(e)


@pytest.mark.parametrize("value", ["user", "true", "[system]", "System"])
def test_ca_trust_only_knows_system(tmp_path, value):
    text = f"hosts:\n  - host: a.example.com\n    pinned: true\nca_trust: {value}\n"
    e = error_for(text, tmp_path)
    assert (e.line, e.key) == (4, "ca_trust")
    assert "expected system" in str(e)

"""`pins audit --keys` / `--scenario`: the team's server keys against the config's pin-sets, each
missing backup key named instead of the generic no-backup-pin."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mitm_pincheck.backend import write_private_key
from mitm_pincheck.cli import main
from mitm_pincheck.pins import audit
from mitm_pincheck.pins.pins import key_file_pin, key_pin

NSC = """<?xml version="1.0" encoding="utf-8"?>
<network-security-config>
  <domain-config>
    <domain includeSubdomains="true">api.example.com</domain>
    <pin-set>
      <pin digest="SHA-256">{current}</pin>
    </pin-set>
  </domain-config>
  <domain-config>
    <domain>rotated.example.com</domain>
    <pin-set>
      <pin digest="SHA-256">{current}</pin>
      <pin digest="SHA-256">{backup}</pin>
    </pin-set>
  </domain-config>
</network-security-config>
"""


def keys(tmp_path, n=3):
    out = []
    for i in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        out.append((write_private_key(tmp_path / f"key-{i}.pem", key), key_pin(key.public_key())))
    return out


def test_key_file_pin_reads_private_keys_public_keys_and_certificates(tmp_path):
    ((path, pin),) = keys(tmp_path, 1)
    assert key_file_pin(path) == pin
    public = serialization.load_pem_private_key(path.read_bytes(), None).public_key()
    pub = tmp_path / "pub.pem"
    pub.write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert key_file_pin(pub) == pin


def test_a_backup_key_missing_from_the_pin_set_is_named_instead_of_no_backup_pin(tmp_path):
    (cur, cur_pin), (bak, bak_pin), _ = keys(tmp_path)
    config = audit.parse_nsc(NSC.format(current=cur_pin, backup=bak_pin).encode(), "nsc.xml")
    found = audit.audit(config, keys=[audit.TeamKey("next.pem", bak_pin, "api.example.com")])
    codes = [(f.code, f.domain) for f in found]
    assert ("backup-key-not-pinned", "api.example.com") in codes
    assert ("no-backup-pin", "api.example.com") not in codes
    (f,) = [f for f in found if f.code == "backup-key-not-pinned"]
    assert "next.pem" in f.message and bak_pin in f.message
    assert f.severity == audit.ERROR
    # the domain that pins it has nothing to say about that key
    ok = audit.audit(config, keys=[audit.TeamKey("next.pem", bak_pin, "rotated.example.com")])
    assert not [f for f in ok if f.code.endswith("-not-pinned")]


def test_pins_audit_keys_on_the_command_line(tmp_path, capsys):
    (cur, cur_pin), (bak, bak_pin), (other, _) = keys(tmp_path)
    nsc = tmp_path / "nsc.xml"
    nsc.write_text(NSC.format(current=cur_pin, backup=bak_pin))
    argv = ["pins", "audit", "--nsc", str(nsc), "--keys", str(bak), str(other), "--json"]
    assert main(argv) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    missing = [
        (f["domain"], f["message"].split()[2])
        for f in findings
        if f["code"] == "backup-key-not-pinned"
    ]
    assert ("api.example.com", str(bak)) in missing
    assert ("rotated.example.com", str(bak)) not in missing
    # the key no pin-set holds is named for both pinned domains
    assert sorted(d for d, m in missing if m == str(other)) == [
        "api.example.com",
        "rotated.example.com",
    ]


def test_pins_audit_takes_the_keys_from_a_scenario(tmp_path, capsys):
    (cur, cur_pin), (bak, bak_pin), (other, _) = keys(tmp_path)
    nsc = tmp_path / "nsc.xml"
    nsc.write_text(NSC.format(current=cur_pin, backup=bak_pin))
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "hosts:\n"
        "  - host: rotated.example.com\n"
        "    pinned: true\n"
        f"    keys: {{current: {cur.name}, backup: [{bak.name}, {other.name}]}}\n"
    )
    assert main(["pins", "audit", "--nsc", str(nsc), "--scenario", str(scenario)]) == 1
    out = capsys.readouterr().out
    assert "backup-key-not-pinned" in out and other.name in out
    assert f"backup key {bak.name}" not in out  # that one is pinned
    assert "current-key-not-pinned" not in out

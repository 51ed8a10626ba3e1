"""`pins audit` and `scenario from-config` over configs with planted flaws and clean ones.

The planted files (tests/data/audit/*_flawed.*) have one flaw per domain, marked FLAW in
comments; every one must be found exactly once, and the clean files must give nothing."""

from __future__ import annotations

import collections
import datetime
import json
import plistlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from test_pins import make_chain

from mitm_pincheck.cli import main
from mitm_pincheck.pins import audit, pins

DATA = Path(__file__).parent / "data" / "audit"
# The planted files hold fixed dates; audit them as of this day so expiring stays expiring.
AS_OF = datetime.datetime(2026, 6, 1, 12, tzinfo=datetime.UTC)
BACKUP = "nZDBuFApxSrN26U4p+ZeAgfoQFEokta1rWoh1XXQE+c="
OTHER = "ag7TCzwXTk0FXHmGVh1yhcJ9Sad0sv8y5QxKRE9Mb/U="

NSC_FLAWS = [
    ("user-ca-trusted", "*"),
    ("pin-set-expired", "expired.example.com"),
    ("pin-set-expiring", "expiring.example.com"),
    ("no-backup-pin", "single.example.com"),
    ("override-pins", "override.example.com"),
    ("user-ca-trusted", "usertrust.example.com"),
    ("pin-malformed", "malformed.example.com"),
    ("pin-malformed", "sha1.example.com"),
    ("pinning-not-enforced", "reportonly.example.com"),
]
PLIST_FLAWS = [
    ("no-backup-pin", "single.example.com"),
    ("leaf-only-pins", "leaf.example.com"),
    ("pin-malformed", "malformed.example.com"),
    ("pin-malformed", "empty.example.com"),
    ("pin-set-expired", "tsk-expired.example.com"),
]
TRUSTKIT_FLAWS = [
    ("pin-set-expired", "expired.example.com"),
    ("pin-set-expiring", "expiring.example.com"),
    ("no-backup-pin", "single.example.com"),
    ("pinning-not-enforced", "reportonly.example.com"),
    ("pin-malformed", "malformed.example.com"),
]
FLAWED = [
    ("nsc_flawed.xml", audit.NSC, NSC_FLAWS),
    ("Info_flawed.plist", audit.PLIST, PLIST_FLAWS),
    ("Info_flawed_binary.plist", audit.PLIST, PLIST_FLAWS),
    ("trustkit_flawed.json", audit.TRUSTKIT, TRUSTKIT_FLAWS),
]
CLEAN = [
    ("nsc_clean.xml", audit.NSC),
    ("Info_clean.plist", audit.PLIST),
    ("Info_clean_binary.plist", audit.PLIST),
    ("trustkit_clean.json", audit.TRUSTKIT),
]
OPTION = {audit.NSC: "--nsc", audit.PLIST: "--plist", audit.TRUSTKIT: "--trustkit"}


@pytest.mark.parametrize("name,kind,expected", FLAWED)
def test_every_planted_flaw_is_found_exactly_once(name, kind, expected):
    findings = audit.audit(audit.load_config(DATA / name, kind), now=AS_OF)
    found = collections.Counter((f.code, f.domain) for f in findings)
    assert found == collections.Counter(expected)
    for f in findings:
        assert f.severity == audit.SEVERITY[f.code]
        assert f.message


@pytest.mark.parametrize("name,kind", CLEAN)
def test_a_clean_config_gives_no_findings(name, kind):
    assert audit.audit(audit.load_config(DATA / name, kind), now=AS_OF) == []


def test_the_binary_plists_hold_the_same_data_as_the_xml_ones():
    for n in ("flawed", "clean"):
        assert (DATA / f"Info_{n}_binary.plist").read_bytes().startswith(b"bplist00")
        xml = plistlib.loads((DATA / f"Info_{n}.plist").read_bytes())
        assert plistlib.loads((DATA / f"Info_{n}_binary.plist").read_bytes()) == xml


def test_the_format_is_recognised_without_being_told():
    for name, kind, _ in FLAWED:
        assert audit.load_config(DATA / name).platform == kind


def test_severities_follow_the_issue():
    errors = {"pin-set-expired", "pin-mismatch", "override-pins", "user-ca-trusted"}
    errors |= {"pin-malformed"}
    warnings = {"no-backup-pin", "leaf-only-pins", "pin-set-expiring", "cert-expiring"}
    assert {c for c, s in audit.SEVERITY.items() if s == audit.WARNING} == warnings
    assert errors <= {c for c, s in audit.SEVERITY.items() if s == audit.ERROR}


# ---------------------------------------------------------------- CLI


@pytest.mark.parametrize("name,kind,expected", FLAWED)
def test_cli_json_lists_the_findings_and_exits_1(name, kind, expected, capsys):
    assert main(["pins", "audit", OPTION[kind], str(DATA / name), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == ["findings"]
    for f in doc["findings"]:
        assert set(f) == {"code", "severity", "domain", "message"}
    # the CLI audits as of today, so a date-dependent flaw may have moved on: compare with that
    today = audit.audit(audit.load_config(DATA / name, kind))
    assert doc["findings"] == [f.to_dict() for f in today]


@pytest.mark.parametrize("name,kind", CLEAN)
def test_cli_clean_config_exits_0(name, kind, capsys):
    assert main(["pins", "audit", OPTION[kind], str(DATA / name)]) == 0
    assert "No findings" in capsys.readouterr().out
    assert main(["pins", "audit", OPTION[kind], str(DATA / name), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"findings": []}


def test_cli_warnings_alone_exit_0(tmp_path, capsys):
    single = tmp_path / "single.json"
    single.write_text(
        json.dumps({"TSKPinnedDomains": {"a.example.com": {"TSKPublicKeyHashes": [BACKUP]}}})
    )
    assert main(["pins", "audit", "--trustkit", str(single)]) == 0
    assert "no-backup-pin" in capsys.readouterr().out


@pytest.mark.parametrize(
    "option,content,message",
    [
        ("--nsc", "<network-security-config>", "not valid XML"),
        ("--nsc", "<manifest/>", "expected <network-security-config>"),
        ("--plist", "not a plist", "not a valid property list"),
        ("--trustkit", "{]", "not valid JSON"),
        ("--trustkit", '{"a": 1}', "no TSKPinnedDomains"),
    ],
)
def test_cli_bad_file_is_exit_2_with_one_line(tmp_path, capsys, option, content, message):
    bad = tmp_path / "bad"
    bad.write_text(content)
    assert main(["pins", "audit", option, str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_missing_file_is_exit_2(tmp_path, capsys):
    assert main(["pins", "audit", "--nsc", str(tmp_path / "nope.xml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_host_needs_a_chain_and_a_chain_needs_a_host(tmp_path, capsys):
    nsc = str(DATA / "nsc_clean.xml")
    assert main(["pins", "audit", "--nsc", nsc, "--host", "api.example.com"]) == 2
    assert main(["pins", "audit", "--nsc", nsc, "--chain", str(tmp_path / "c.pem")]) == 2
    err = capsys.readouterr().err
    assert "--host needs --chain" in err and "--chain needs --host" in err


def test_cli_host_that_nothing_pins_is_exit_2(tmp_path, capsys):
    chain = make_chain(tmp_path)
    argv = ["pins", "audit", "--nsc", str(DATA / "nsc_clean.xml"), "--host", "cdn.example.com"]
    assert main([*argv, "--chain", str(chain["dir"] / "chain.pem")]) == 2
    assert "cdn.example.com is not pinned" in capsys.readouterr().err


# ---------------------------------------------------------------- against a chain


def nsc_with(tmp_path: Path, *pin_values: str, domain: str = "api.example.com") -> Path:
    body = "".join(f'<pin digest="SHA-256">{p}</pin>' for p in pin_values)
    path = tmp_path / "nsc.xml"
    path.write_text(
        "<network-security-config><domain-config>"
        f'<domain includeSubdomains="true">{domain}</domain><pin-set>{body}</pin-set>'
        "</domain-config></network-security-config>"
    )
    return path


def audit_json(argv, capsys) -> tuple[int, list[dict]]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)["findings"]


def test_pin_mismatch_with_host_and_chain(tmp_path, capsys):
    chain = make_chain(tmp_path)
    argv = ["pins", "audit", "--nsc", str(DATA / "nsc_clean.xml"), "--host", "api.example.com"]
    code, findings = audit_json([*argv, "--chain", str(chain["dir"] / "chain.pem")], capsys)
    assert code == 1
    assert [(f["code"], f["domain"]) for f in findings] == [("pin-mismatch", "api.example.com")]


def test_a_subdomain_is_checked_against_its_parent_pins(tmp_path, capsys):
    chain = make_chain(tmp_path)
    argv = ["pins", "audit", "--nsc", str(DATA / "nsc_clean.xml"), "--host", "v2.api.example.com"]
    code, findings = audit_json([*argv, "--chain", str(chain["dir"] / "chain.pem")], capsys)
    assert code == 1 and findings[0]["code"] == "pin-mismatch"


def test_an_intermediate_pin_with_a_backup_is_clean(tmp_path, capsys):
    chain = make_chain(tmp_path)
    nsc = nsc_with(tmp_path, pins.spki_pin(chain["inter"]), BACKUP)
    argv = ["pins", "audit", "--nsc", str(nsc), "--host", "api.example.com"]
    code, findings = audit_json([*argv, "--chain", str(chain["dir"] / "chain.pem")], capsys)
    assert (code, findings) == (0, [])


def test_leaf_only_pins_are_a_warning(tmp_path, capsys):
    chain = make_chain(tmp_path)
    nsc = nsc_with(tmp_path, pins.spki_pin(chain["leaf"]), BACKUP)
    argv = ["pins", "audit", "--nsc", str(nsc), "--host", "api.example.com"]
    code, findings = audit_json([*argv, "--chain", str(chain["dir"] / "chain.pem")], capsys)
    assert code == 0
    assert [(f["code"], f["severity"]) for f in findings] == [("leaf-only-pins", "warning")]


def test_a_pinned_certificate_about_to_expire_is_a_warning(tmp_path, capsys):
    chain = make_chain(tmp_path, leaf_days=5)
    nsc = nsc_with(tmp_path, pins.spki_pin(chain["leaf"]), pins.spki_pin(chain["inter"]))
    argv = ["pins", "audit", "--nsc", str(nsc), "--host", "api.example.com"]
    argv += ["--chain", str(chain["dir"] / "chain.pem")]
    code, findings = audit_json(argv, capsys)
    assert code == 0
    assert [f["code"] for f in findings] == ["cert-expiring"]
    assert "CN=api.example.com" in findings[0]["message"]
    # with a shorter horizon it is not worth a word yet
    assert audit_json([*argv, "--warn-days", "2"], capsys) == (0, [])


def test_a_root_pin_matches_through_the_trust_store(tmp_path):
    chain = make_chain(tmp_path)
    config = audit.load_config(nsc_with(tmp_path, pins.spki_pin(chain["root"]), BACKUP))
    served = pins.load_chain_file(chain["dir"] / "chain.pem")
    assert [f.code for f in audit.audit(config, {"api.example.com": served})] == ["pin-mismatch"]
    full = pins.complete_chain(served, anchors=[chain["root"]])
    assert audit.audit(config, {"api.example.com": full}) == []


def test_ios_leaf_and_ca_pins_must_both_match(tmp_path):
    chain = make_chain(tmp_path)
    leaf, inter = pins.spki_pin(chain["leaf"]), pins.spki_pin(chain["inter"])

    def plist(leaves, cas) -> audit.PinConfig:
        spec = {
            "NSPinnedLeafIdentities": [{"SPKI-SHA256-BASE64": p} for p in leaves],
            "NSPinnedCAIdentities": [{"SPKI-SHA256-BASE64": p} for p in cas],
        }
        data = {"NSAppTransportSecurity": {"NSPinnedDomains": {"api.example.com": spec}}}
        return audit.parse_plist(plistlib.dumps(data))

    served = {"api.example.com": pins.load_chain_file(chain["dir"] / "chain.pem")}
    assert audit.audit(plist([leaf, BACKUP], [inter, OTHER]), served) == []
    wrong_leaf = audit.audit(plist([OTHER, BACKUP], [inter, OTHER]), served)
    assert [f.code for f in wrong_leaf] == ["pin-mismatch"]
    # a CA pin that matches only the leaf does not count: iOS wants a CA there
    wrong_ca = audit.audit(plist([], [leaf, BACKUP]), served)
    assert [f.code for f in wrong_ca] == ["pin-mismatch"]


def test_pins_in_okhttp_form_are_understood(tmp_path):
    chain = make_chain(tmp_path)
    tk = tmp_path / "tk.json"
    hashes = [f"sha256/{pins.spki_pin(chain['inter'])}", BACKUP]
    tk.write_text(
        json.dumps({"TSKPinnedDomains": {"api.example.com": {"TSKPublicKeyHashes": hashes}}})
    )
    served = {"api.example.com": pins.load_chain_file(chain["dir"] / "chain.pem")}
    assert audit.audit(audit.load_config(tk), served) == []


def test_an_expired_pin_set_is_not_also_a_mismatch(tmp_path):
    chain = make_chain(tmp_path)
    served = {"expired.example.com": pins.load_chain_file(chain["dir"] / "chain.pem")}
    findings = audit.audit(audit.load_config(DATA / "nsc_flawed.xml"), served, now=AS_OF)
    assert [f.code for f in findings if f.domain == "expired.example.com"] == ["pin-set-expired"]


# ---------------------------------------------------------------- scenario from-config


def _scenario_module():
    try:
        from mitm_pincheck import scenario
    except ImportError:
        pytest.skip("mitm_pincheck.scenario does not exist yet")
    return scenario


@pytest.mark.parametrize("name", [n for n, _, _ in FLAWED] + [n for n, _ in CLEAN])
def test_scenario_from_config_output_validates(name, tmp_path, capsys):
    scenario = _scenario_module()
    out = tmp_path / "s.yaml"
    assert main(["scenario", "from-config", str(DATA / name), "--out", str(out)]) == 0
    parsed = scenario.parse(out.read_text(), str(out))
    assert parsed.hosts
    assert parsed.trigger is None


def test_scenario_from_config_maps_domains_to_hosts(capsys):
    scenario = _scenario_module()
    assert main(["scenario", "from-config", str(DATA / "nsc_clean.xml")]) == 0
    parsed = scenario.parse(capsys.readouterr().out)
    hosts = {h.host: h.pinned for h in parsed.hosts}
    assert hosts == {
        "api.example.com": True,
        "*.api.example.com": True,  # includeSubdomains
        "auth.example.com": True,
        "legacy.api.example.com": True,  # nested: inherits the pin-set
        "cdn.example.com": False,  # a control
    }


def test_scenario_from_config_takes_the_app_from_the_plist(capsys):
    scenario = _scenario_module()
    assert main(["scenario", "from-config", str(DATA / "Info_clean_binary.plist")]) == 0
    assert scenario.parse(capsys.readouterr().out).app == "com.example.clean"


def test_scenario_from_config_will_not_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "s.yaml"
    out.write_text("keep me")
    src = str(DATA / "trustkit_clean.json")
    assert main(["scenario", "from-config", src, "--out", str(out)]) == 2
    assert out.read_text() == "keep me"
    assert main(["scenario", "from-config", src, "--out", str(out), "--force"]) == 0


def test_scenario_from_config_unknown_format_is_exit_2(tmp_path, capsys):
    f = tmp_path / "x.txt"
    f.write_bytes(serialization.Encoding.PEM.value.encode())
    assert main(["scenario", "from-config", str(f)]) == 2
    assert "not a network security config" in capsys.readouterr().err

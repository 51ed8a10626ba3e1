"""`scenario from-ipa` and `pins audit --ipa` over IPA-shaped zips with a binary Info.plist."""

from __future__ import annotations

import json
import plistlib
import zipfile
from pathlib import Path

import pytest

from mitm_pincheck.cli import main
from mitm_pincheck.pins.ipa import load_ipa

LEAF = "7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y="
CA = "fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE="
BACKUP = "nZDBuFApxSrN26U4p+ZeAgfoQFEokta1rWoh1XXQE+c="

INFO = {
    "CFBundleIdentifier": "com.example.shop",
    "CFBundleShortVersionString": "3.1.4",
    "CFBundleVersion": "314",
    "CFBundleDisplayName": "Shop",
    "NSAppTransportSecurity": {
        "NSPinnedDomains": {
            "api.example.com": {
                "NSIncludesSubdomains": True,
                "NSPinnedLeafIdentities": [{"SPKI-SHA256-BASE64": LEAF}],
                "NSPinnedCAIdentities": [
                    {"SPKI-SHA256-BASE64": CA},
                    {"SPKI-SHA256-BASE64": BACKUP},
                ],
            },
        },
        "NSExceptionDomains": {
            "legacy.example.com": {"NSExceptionAllowsInsecureHTTPLoads": True},
            "api.example.com": {"NSIncludesSubdomains": True},
        },
    },
    "TSKConfiguration": {
        "TSKPinnedDomains": {
            "pay.example.com": {
                "TSKPublicKeyHashes": [CA, BACKUP],
                "TSKExpirationDate": "2020-01-01",
            }
        }
    },
}


def build_ipa(tmp: Path, info: dict | bytes = INFO, app: str = "Shop.app", extra=()) -> Path:
    ipa = tmp / "Shop.ipa"
    data = info if isinstance(info, bytes) else plistlib.dumps(info, fmt=plistlib.FMT_BINARY)
    with zipfile.ZipFile(ipa, "w") as zf:
        zf.writestr(f"Payload/{app}/Info.plist", data)
        # A framework's own Info.plist must not be taken for the app's.
        zf.writestr(
            f"Payload/{app}/Frameworks/Net.framework/Info.plist",
            plistlib.dumps({"CFBundleIdentifier": "com.vendor.net"}, fmt=plistlib.FMT_BINARY),
        )
        zf.writestr(f"Payload/{app}/Shop", b"\xcf\xfa\xed\xfe")
        for name, body in extra:
            zf.writestr(name, body)
    return ipa


def test_ipa_reads_bundle_ats_pins_exceptions_and_trustkit(tmp_path):
    app = load_ipa(build_ipa(tmp_path))
    assert (app.app_id, app.version, app.build, app.label) == (
        "com.example.shop",
        "3.1.4",
        "314",
        "Shop",
    )
    assert app.config_file == "Payload/Shop.app/Info.plist"
    api = app.config.rule_for("v2.api.example.com")
    assert api.include_subdomains
    assert api.pin_set.valid("leaf") == {LEAF} and api.pin_set.valid("ca") == {CA, BACKUP}
    assert app.config.rule_for("pay.example.com").pin_set.engine == "TrustKit"
    legacy = app.config.rule_for("legacy.example.com")
    assert legacy.pin_set is None


def test_scenario_from_ipa_marks_pinned_and_exception_domains(tmp_path, capsys):
    from mitm_pincheck import scenario

    assert main(["scenario", "from-ipa", str(build_ipa(tmp_path))]) == 0
    text = capsys.readouterr().out
    parsed = scenario.parse(text)
    assert parsed.app == "com.example.shop" and parsed.name == "Shop 3.1.4"
    assert {h.host: h.pinned for h in parsed.hosts} == {
        "api.example.com": True,
        "*.api.example.com": True,
        "pay.example.com": True,
        "legacy.example.com": False,
    }
    assert "# Info.plist NSPinnedDomains: 3 pin(s)" in text
    assert "# Info.plist TrustKit TSKConfiguration: 2 pin(s)" in text
    assert "# Info.plist NSExceptionDomains: configured, not pinned" in text
    assert "pin-set expired 2020-01-01" in text


def test_pins_audit_ipa_finds_the_expired_trustkit_domain(tmp_path, capsys):
    assert main(["pins", "audit", "--ipa", str(build_ipa(tmp_path)), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert ("pin-set-expired", "pay.example.com") in {
        (f["code"], f["domain"]) for f in out["findings"]
    }
    assert out["app"]["platform"] == "ios"


def test_xml_info_plist_is_read_too(tmp_path):
    app = load_ipa(build_ipa(tmp_path, plistlib.dumps(INFO)))
    assert app.config.rule_for("api.example.com").pin_set is not None


BROKEN = {
    "not-a-zip": "not a zip archive",
    "no-payload": "no Payload/NAME.app/Info.plist",
    "plist-garbage": "not a valid property list",
    "two-apps": "more than one app",
    "no-bundle-id": "no CFBundleIdentifier",
    "pinned-not-a-dict": "NSPinnedDomains is not a dictionary",
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_ipa_is_a_clear_exit_2(kind, tmp_path, capsys):
    if kind == "not-a-zip":
        ipa = tmp_path / "x.ipa"
        ipa.write_bytes(b"bplist00 but not a zip")
    elif kind == "no-payload":
        ipa = tmp_path / "x.ipa"
        with zipfile.ZipFile(ipa, "w") as zf:
            zf.writestr("Shop.app/Info.plist", plistlib.dumps(INFO))
    elif kind == "plist-garbage":
        ipa = build_ipa(tmp_path, b"bplist00\xff\xff\xff garbage")
    elif kind == "two-apps":
        ipa = build_ipa(tmp_path, extra=[("Payload/Other.app/Info.plist", plistlib.dumps(INFO))])
    elif kind == "no-bundle-id":
        ipa = build_ipa(tmp_path, {"CFBundleName": "Shop"})
    else:
        ipa = build_ipa(tmp_path, {**INFO, "NSAppTransportSecurity": {"NSPinnedDomains": [1]}})
    for argv in (["scenario", "from-ipa", str(ipa)], ["pins", "audit", "--ipa", str(ipa)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert BROKEN[kind] in err and "Traceback" not in err

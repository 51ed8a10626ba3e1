"""`scenario from-apk` and `pins audit --apk` over real APKs built by aapt, and broken ones.

Every APK here is compiled by Debian's aapt against android-framework-res, so the manifest and the
network security config are real binary XML and the config is reached through a real
resources.arsc. The code pins are in a classes.dex assembled by smali from a CertificatePinner
call as javac/d8 emit it.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest
from conftest import need

from mitm_pincheck.cli import main
from mitm_pincheck.pins import audit
from mitm_pincheck.pins.apk import load_apk

FRAMEWORK = Path("/usr/share/android-framework-res/framework-res.apk")
PIN_A = "7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y="
PIN_B = "fwza0LRMXouZHRC8Ei+4PyuldPDcf3UKgO/04cDM1oE="
PIN_C = "nZDBuFApxSrN26U4p+ZeAgfoQFEokta1rWoh1XXQE+c="

MANIFEST = """<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android"
    package="com.example.shop" android:versionCode="42" android:versionName="3.1.4">
  <application android:label="@string/app_name" {nsc}/>
</manifest>
"""
# Named like a release build's shrunk resource, not network_security_config.xml.
PINNING = f"""<?xml version="1.0" encoding="utf-8"?>
<network-security-config>
  <base-config cleartextTrafficPermitted="false"/>
  <domain-config>
    <domain includeSubdomains="true">api.example.com</domain>
    <pin-set expiration="2099-01-01">
      <pin digest="SHA-256">{PIN_A}</pin>
      <pin digest="SHA-256">{PIN_B}</pin>
    </pin-set>
  </domain-config>
  <domain-config>
    <domain>old.example.com</domain>
    <pin-set expiration="2020-01-01"><pin digest="SHA-256">{PIN_A}</pin>
      <pin digest="SHA-256">{PIN_B}</pin></pin-set>
  </domain-config>
  <domain-config><domain>cdn.example.com</domain></domain-config>
  <debug-overrides><trust-anchors><certificates src="user"/></trust-anchors></debug-overrides>
</network-security-config>
"""
# A decoy under the conventional name: the manifest does not name it, so it must not be read.
DECOY = """<?xml version="1.0" encoding="utf-8"?>
<network-security-config>
  <domain-config><domain>decoy.example.com</domain>
    <pin-set><pin digest="SHA-256">AAAA</pin></pin-set></domain-config>
</network-security-config>
"""
STRINGS = """<?xml version="1.0" encoding="utf-8"?>
<resources><string name="app_name">Shop</string></resources>
"""
# new CertificatePinner.Builder().add("pay.example.com", PIN_C).add("*.img.example.com", sha1)
# .build(); and a pin loaded on its own, in a method that names no host.
ADD = (
    "Lokhttp3/CertificatePinner$Builder;->add(Ljava/lang/String;[Ljava/lang/String;)"
    "Lokhttp3/CertificatePinner$Builder;"
)
SMALI = f"""
.class public Lcom/example/shop/a;
.super Ljava/lang/Object;

.method public static b()Lokhttp3/CertificatePinner;
    .registers 6
    new-instance v0, Lokhttp3/CertificatePinner$Builder;
    invoke-direct {{v0}}, Lokhttp3/CertificatePinner$Builder;-><init>()V
    const/4 v1, 0x1
    new-array v2, v1, [Ljava/lang/String;
    const-string v3, "pay.example.com"
    const/4 v4, 0x0
    const-string v5, "sha256/{PIN_C}"
    aput-object v5, v2, v4
    invoke-virtual {{v0, v3, v2}}, {ADD}
    const-string v3, "*.img.example.com"
    const-string v5, "sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    aput-object v5, v2, v4
    invoke-virtual {{v0, v3, v2}}, {ADD}
    invoke-virtual {{v0}}, Lokhttp3/CertificatePinner$Builder;->build()Lokhttp3/CertificatePinner;
    move-result-object v0
    return-object v0
.end method

.method public static c()Ljava/lang/String;
    .registers 1
    const-string v0, "sha256/{PIN_B}"
    return-object v0
.end method
"""


def build_apk(
    tmp: Path,
    *,
    nsc_name: str | None = "a1",
    dex: bytes | None = None,
    nsc_text: str = PINNING,
) -> Path:
    """A real APK from aapt: the manifest names res/xml/NSC_NAME.xml as its config."""
    need("aapt")
    if not FRAMEWORK.exists():
        pytest.skip("android-framework-res is not installed")
    src = tmp / "src"
    (src / "res" / "xml").mkdir(parents=True)
    (src / "res" / "values").mkdir(parents=True)
    (src / "res" / "values" / "strings.xml").write_text(STRINGS)
    (src / "res" / "xml" / "network_security_config.xml").write_text(DECOY)
    attr = ""
    if nsc_name:
        (src / "res" / "xml" / f"{nsc_name}.xml").write_text(nsc_text)
        attr = f'android:networkSecurityConfig="@xml/{nsc_name}"'
    (src / "AndroidManifest.xml").write_text(MANIFEST.format(nsc=attr))
    apk = tmp / "app.apk"
    subprocess.run(
        ["aapt", "package", "-f", "-M", "AndroidManifest.xml", "-S", "res", "-I", str(FRAMEWORK)]
        + ["-F", str(apk)],
        cwd=src,
        check=True,
        capture_output=True,
    )
    if dex is not None:
        with zipfile.ZipFile(apk, "a") as zf:
            zf.writestr("classes.dex", dex)
    return apk


@pytest.fixture(scope="module")
def classes_dex(tmp_path_factory) -> bytes:
    need("smali")
    tmp = tmp_path_factory.mktemp("dex")
    (tmp / "a.smali").write_text(SMALI)
    subprocess.run(
        ["smali", "assemble", "-o", str(tmp / "classes.dex"), str(tmp / "a.smali")],
        check=True,
        capture_output=True,
    )
    return (tmp / "classes.dex").read_bytes()


@pytest.fixture(scope="module")
def shop_apk(tmp_path_factory, classes_dex) -> Path:
    return build_apk(tmp_path_factory.mktemp("shop"), dex=classes_dex)


def rezip(src: Path, dst: Path, drop=(), replace=None) -> Path:
    """A copy of the APK without the members in `drop`, with members replaced by `replace`."""
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename in drop:
                continue
            zout.writestr(item.filename, replace.get(item.filename, zin.read(item.filename)))
    return dst


# ---------------------------------------------------------------- reading


def test_apk_config_is_found_through_resources_arsc_not_by_file_name(shop_apk):
    app = load_apk(shop_apk)
    assert (app.app_id, app.version, app.build, app.label) == (
        "com.example.shop",
        "3.1.4",
        "42",
        "Shop",
    )
    assert app.config_file == "res/xml/a1.xml"
    names = {r.name for r in app.config.rules}
    assert "decoy.example.com" not in names
    assert {"api.example.com", "old.example.com", "cdn.example.com"} <= names
    api = app.config.rule_for("v2.api.example.com")
    assert api.include_subdomains and api.pin_set.valid() == {PIN_A, PIN_B}


def test_apk_pins_in_code_are_found_with_the_host_loaded_before_them(shop_apk):
    pins = {p.pin: p for p in load_apk(shop_apk).code_pins}
    assert pins[f"sha256/{PIN_C}"].host == "pay.example.com"
    assert pins[f"sha256/{PIN_C}"].where == "classes.dex: com.example.shop.a.b()"
    assert pins["sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA="].host == "*.img.example.com"
    assert pins[f"sha256/{PIN_B}"].host is None  # c() names no host


def test_scenario_from_apk_lists_pinned_and_configured_hosts_with_their_origin(
    shop_apk, tmp_path, capsys
):
    from mitm_pincheck import scenario

    out = tmp_path / "shop.yaml"
    assert main(["scenario", "from-apk", str(shop_apk), "--out", str(out)]) == 0
    text = out.read_text()
    parsed = scenario.parse(text, str(out))
    assert parsed.app == "com.example.shop"
    assert parsed.name == "Shop 3.1.4"
    assert {h.host: h.pinned for h in parsed.hosts} == {
        "api.example.com": True,
        "*.api.example.com": True,
        "old.example.com": True,
        "cdn.example.com": False,
        "pay.example.com": True,
        "*.img.example.com": True,  # OkHttp's "*." is one label: not img.example.com itself
    }
    lines = text.splitlines()
    comment_above = {
        line.split('"')[1]: lines[i - 1] for i, line in enumerate(lines) if "- host:" in line
    }
    assert "res/xml/a1.xml: pin-set, 2 pin(s)" in comment_above["api.example.com"]
    assert "found in code" in comment_above["pay.example.com"]
    assert "a.b()" in comment_above["pay.example.com"]
    assert "domain-config without pins" in comment_above["cdn.example.com"]
    assert "expired 2020-01-01" in comment_above["old.example.com"]
    assert "host that could be told" in text  # the pin in c() is reported as a note


def test_pins_audit_apk_names_the_expired_pin_set_and_the_code_pins(shop_apk, capsys):
    assert main(["pins", "audit", "--apk", str(shop_apk), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    codes = {(f["code"], f["domain"]) for f in out["findings"]}
    assert ("pin-set-expired", "old.example.com") in codes
    assert ("no-backup-pin", "pay.example.com (OkHttp, in code)") in codes
    assert not any(d == "cdn.example.com" for _, d in codes)
    assert out["app"]["app_id"] == "com.example.shop"
    assert out["app"]["config_file"] == "res/xml/a1.xml"
    assert {p["host"] for p in out["app"]["code_pins"]} == {
        "pay.example.com",
        "*.img.example.com",
        None,
    }


def test_pins_audit_apk_prints_the_app_and_found_in_code(shop_apk, capsys):
    main(["pins", "audit", "--apk", str(shop_apk)])
    out = capsys.readouterr().out
    assert "Android app com.example.shop 3.1.4 (42)" in out
    assert f"found in code: sha256/{PIN_C} for pay.example.com" in out
    assert "pin-set-expired" in out


def test_apk_without_a_config_or_code_pins_has_nothing_to_draft(tmp_path, capsys):
    apk = build_apk(tmp_path, nsc_name=None)
    app = load_apk(apk)
    assert app.config.rules == [] and "names no network security config" in app.notes[0]
    assert main(["scenario", "from-apk", str(apk)]) == 2
    assert "mitm-pincheck survey" in capsys.readouterr().err


# ---------------------------------------------------------------- broken packages


@pytest.fixture(scope="module")
def plain_apk(tmp_path_factory) -> Path:
    return build_apk(tmp_path_factory.mktemp("plain"))


def _broken(kind: str, plain: Path, tmp: Path) -> Path:
    bad = tmp / "bad.apk"
    data = plain.read_bytes()
    if kind == "not-a-zip":
        bad.write_bytes(b"MZ\x90\x00 this is not an apk" * 10)
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif kind == "no-manifest":
        rezip(plain, bad, drop={"AndroidManifest.xml"})
    elif kind == "manifest-garbage":
        rezip(plain, bad, replace={"AndroidManifest.xml": b"\x03\x00\x08\x00" + b"\xff" * 64})
    elif kind == "manifest-plain-text":
        rezip(plain, bad, replace={"AndroidManifest.xml": MANIFEST.format(nsc="").encode()})
    elif kind == "arsc-missing":
        rezip(plain, bad, drop={"resources.arsc"})
    elif kind == "arsc-garbage":
        rezip(plain, bad, replace={"resources.arsc": b"\x02\x00\x0c\x00" + b"\x00" * 40})
    elif kind == "config-file-missing":
        rezip(plain, bad, drop={"res/xml/a1.xml"})
    elif kind == "config-garbage":
        rezip(plain, bad, replace={"res/xml/a1.xml": b"\x03\x00\x08\x00\x10\x00\x00\x00junk"})
    elif kind == "directory":
        bad.mkdir()
    return bad


BROKEN = {
    "not-a-zip": "not a zip archive",
    "empty": "not a zip archive",
    "truncated": "not a zip archive",
    "no-manifest": "no AndroidManifest.xml",
    "manifest-garbage": "AndroidManifest.xml: not valid binary XML",
    "manifest-plain-text": "plain-text XML",
    "arsc-missing": "no resources.arsc",
    "arsc-garbage": "resources.arsc",
    "config-file-missing": "res/xml/a1.xml, which is not in the package",
    "config-garbage": "res/xml/a1.xml: not valid binary XML",
    "directory": "is a directory",
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
@pytest.mark.parametrize("command", ["scenario", "audit"])
def test_broken_apk_is_a_clear_exit_2(kind, command, plain_apk, tmp_path, capsys):
    bad = _broken(kind, plain_apk, tmp_path)
    out = tmp_path / "s.yaml"
    argv = (
        ["scenario", "from-apk", str(bad), "--out", str(out)]
        if command == "scenario"
        else ["pins", "audit", "--apk", str(bad)]
    )
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert BROKEN[kind] in captured.err
    assert captured.err.startswith("mitm-pincheck: error: ")
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists()


def test_missing_apk_is_exit_2(tmp_path, capsys):
    assert main(["pins", "audit", "--apk", str(tmp_path / "nope.apk")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_dex_without_pin_strings_is_not_parsed(tmp_path):
    apk = build_apk(tmp_path, dex=b"dex\n035\x00 garbage, but no pin in it")
    assert load_apk(apk).notes == []


def test_an_unreadable_dex_is_a_note_not_a_failure(tmp_path):
    apk = build_apk(tmp_path, dex=b"dex\n035\x00" + b"\x00" * 40 + f"sha256/{PIN_A}".encode())
    app = load_apk(apk)
    assert any("classes.dex could not be read" in n for n in app.notes)
    assert app.config_file == "res/xml/a1.xml"


def test_the_audit_rules_are_those_of_pins_audit_nsc(shop_apk, tmp_path):
    """The config read from the APK gives the findings the same file gives as --nsc."""
    nsc = tmp_path / "a1.xml"
    nsc.write_text(PINNING)
    plain = audit.audit(audit.load_config(nsc, audit.NSC))
    from_apk = audit.audit(load_apk(shop_apk).config)
    assert {(f.code, f.domain) for f in plain} <= {(f.code, f.domain) for f in from_apk}

"""`mitm-pincheck ca` and `ca export`, checked against openssl where openssl has the answer."""

from __future__ import annotations

import datetime
import os
import plistlib
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mitm_pincheck.cli import main
from mitm_pincheck.device import ca


def openssl(*args: str, input: bytes | None = None) -> bytes:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return subprocess.run(["openssl", *args], input=input, capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def confdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("home") / "mitmproxy-conf"
    old = os.umask(0o022)  # a usual umask: the 0700/0600 must not depend on the caller's
    try:
        ca.load_ca(path)
    finally:
        os.umask(old)
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_ca_has_its_keys_0600_in_a_0700_directory(confdir):
    assert mode(confdir) == 0o700
    for name in ca.KEY_FILES:
        assert mode(confdir / name) == 0o600, name
    assert (confdir / "mitmproxy-ca-cert.pem").exists()


def test_ca_shows_location_fingerprint_pin_and_expiry(confdir, capsys):
    assert main(["ca", "--confdir", str(confdir)]) == 0
    out = capsys.readouterr().out
    pem = (confdir / "mitmproxy-ca-cert.pem").read_bytes()
    fingerprint = openssl("x509", "-noout", "-fingerprint", "-sha256", input=pem).decode()
    assert fingerprint.strip().split("=", 1)[1] in out
    assert str(confdir / "mitmproxy-ca-cert.pem") in out
    assert f"sha256/{openssl_pin(pem)}" in out
    not_after = x509.load_pem_x509_certificate(pem).not_valid_after_utc
    assert f"{not_after:%Y-%m-%d}" in out


def test_ca_creates_a_missing_ca_and_says_so(tmp_path, capsys):
    assert main(["ca", "--confdir", str(tmp_path / "new")]) == 0
    assert "created a new CA" in capsys.readouterr().err
    assert (tmp_path / "new" / "mitmproxy-ca.pem").exists()


def test_a_key_readable_by_others_gets_a_warning(tmp_path, confdir, capsys):
    loose = tmp_path / "loose"
    shutil.copytree(confdir, loose)
    (loose / "mitmproxy-ca.pem").chmod(0o644)
    assert main(["ca", "--confdir", str(loose)]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "mitmproxy-ca.pem" in err and "0644" in err
    assert "chmod 600" in err
    assert "mitmproxy-ca.p12" not in err  # still 0600: no warning for it


def test_export_names_the_android_file_like_openssl_subject_hash_old(tmp_path, confdir, capsys):
    out = tmp_path / "export"
    assert main(["ca", "export", "--out", str(out), "--confdir", str(confdir)]) == 0
    pem = (out / "mitm-pincheck-ca.pem").read_bytes()
    expected = openssl("x509", "-subject_hash_old", "-noout", input=pem).decode().strip()
    assert (out / f"{expected}.0").read_bytes() == pem
    assert f"{expected}.0" in capsys.readouterr().out
    # DER for the user store and iOS
    der = (out / "mitm-pincheck-ca.cer").read_bytes()
    assert x509.load_der_x509_certificate(der) == x509.load_pem_x509_certificate(pem)
    # no key ever leaves the confdir
    assert not any(b"PRIVATE KEY" in f.read_bytes() for f in out.iterdir())


def test_export_confdir_given_before_the_subcommand_is_used(tmp_path, confdir):
    out = tmp_path / "export"
    assert main(["ca", "--confdir", str(confdir), "export", "--out", str(out)]) == 0
    assert (out / "mitm-pincheck-ca.pem").read_bytes() == ca.load_ca(confdir).pem


def test_mobileconfig_loads_with_plistlib_and_carries_the_der(tmp_path, confdir):
    result = ca.export(ca.load_ca(confdir), tmp_path)
    profile = plistlib.loads(result.mobileconfig.read_bytes())
    assert profile["PayloadType"] == "Configuration"
    (payload,) = profile["PayloadContent"]
    assert payload["PayloadType"] == "com.apple.security.root"
    assert payload["PayloadContent"] == result.der.read_bytes()
    # exporting again gives the same profile: iOS then replaces it instead of adding a second
    assert ca.mobileconfig(ca.load_ca(confdir).cert) == result.mobileconfig.read_bytes()


def test_subject_hash_old_matches_openssl_for_an_unusual_subject(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Prüfstelle GmbH"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "QA"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Test Root ✓ 2"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    expected = openssl("x509", "-subject_hash_old", "-noout", input=pem).decode().strip()
    assert ca.subject_hash_old(cert) == expected


def test_a_confdir_that_is_a_file_is_exit_2(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["ca", "--confdir", str(f)]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_export_without_out_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["ca", "export"])
    assert e.value.code == 2
    assert "--out" in capsys.readouterr().err


def openssl_pin(pem: bytes) -> str:
    pub = openssl("x509", "-pubkey", "-noout", input=pem)
    der = openssl("pkey", "-pubin", "-outform", "der", input=pub)
    digest = openssl("dgst", "-sha256", "-binary", input=der)
    return openssl("base64", input=digest).decode().strip()

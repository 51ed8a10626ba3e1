"""`mitm-pincheck pins show`: pins from a file and from a live local TLS server, checked
against openssl's pipeline (the one Apple and Android document)."""

from __future__ import annotations

import datetime
import json
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mitm_pincheck.cli import main
from mitm_pincheck.errors import InputError
from mitm_pincheck.pins import pins

NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(subject, key, issuer, issuer_key, ca: bool, days: int = 30, san: str | None = None):
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + days * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_chain(directory: Path, leaf_days: int = 90, host: str = "api.example.com") -> dict:
    """root -> intermediate -> leaf; writes chain.pem (leaf, intermediate) and leaf.key."""
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    root = _issue("Test Root", keys[0], "Test Root", keys[0], ca=True, days=3650)
    inter = _issue("Test Intermediate", keys[1], "Test Root", keys[0], ca=True, days=1000)
    leaf = _issue(host, keys[2], "Test Intermediate", keys[1], False, leaf_days, san=host)
    directory.mkdir(parents=True, exist_ok=True)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    (directory / "chain.pem").write_bytes(pem(leaf) + pem(inter))
    (directory / "root.pem").write_bytes(pem(root))
    (directory / "leaf.key").write_bytes(
        keys[2].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {"root": root, "inter": inter, "leaf": leaf, "dir": directory}


def openssl_pin(pem: bytes) -> str:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")

    def run(*args, data):
        return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True)

    pub = run("x509", "-pubkey", "-noout", data=pem).stdout
    der = run("pkey", "-pubin", "-outform", "der", data=pub).stdout
    digest = run("dgst", "-sha256", "-binary", data=der).stdout
    return run("base64", data=digest).stdout.decode().strip()


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict:
    return make_chain(tmp_path_factory.mktemp("chain"))


@pytest.fixture(scope="module")
def tls_server(chain):
    """A TLS server on 127.0.0.1 serving leaf + intermediate; answers handshakes until closed."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain["dir"] / "chain.pem", chain["dir"] / "leaf.key")
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.settimeout(5)
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)  # until the client closes
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def test_pins_show_file_prints_all_three_forms_with_the_openssl_pin(chain, capsys):
    assert main(["pins", "show", "--file", str(chain["dir"] / "chain.pem")]) == 0
    out = capsys.readouterr().out
    for which in ("leaf", "inter"):
        cert = chain[which]
        pin = openssl_pin(cert.public_bytes(serialization.Encoding.PEM))
        assert pins.spki_pin(cert) == pin
        assert f"sha256/{pin}" in out
        assert f'<pin digest="SHA-256">{pin}</pin>' in out
        assert f"<key>SPKI-SHA256-BASE64</key><string>{pin}</string>" in out
        assert cert.subject.rfc4514_string() in out
    assert "issuer:   CN=Test Root" in out
    assert f"{chain['leaf'].not_valid_after_utc:%Y-%m-%d}" in out


def test_pins_show_reads_a_single_der_certificate(tmp_path, chain, capsys):
    der = tmp_path / "leaf.cer"
    der.write_bytes(chain["leaf"].public_bytes(serialization.Encoding.DER))
    assert main(["pins", "show", "--file", str(der)]) == 0
    assert f"sha256/{pins.spki_pin(chain['leaf'])}" in capsys.readouterr().out


def test_pins_show_live_reads_the_chain_from_a_local_tls_server(tls_server, chain, capsys):
    assert main(["pins", "show", f"127.0.0.1:{tls_server}"]) == 0
    captured = capsys.readouterr()
    assert f"sha256/{pins.spki_pin(chain['leaf'])}" in captured.out
    if "only the leaf" not in captured.err:  # Python < 3.13 without pyOpenSSL: leaf only
        assert f"sha256/{pins.spki_pin(chain['inter'])}" in captured.out
        assert "2 certificate(s)" in captured.out


def test_pins_show_unreachable_server_is_exit_2_with_one_line(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        assert main(["pins", "show", f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot connect to 127.0.0.1" in err and len(err.splitlines()) == 1


def test_pins_show_bad_file_is_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.pem"
    bad.write_text("hello")
    assert main(["pins", "show", "--file", str(bad)]) == 2
    assert "no certificate found" in capsys.readouterr().err
    assert main(["pins", "show", "--file", str(tmp_path / "missing.pem")]) == 2


def test_pins_show_needs_a_host_or_a_file(capsys):
    with pytest.raises(SystemExit) as e:
        main(["pins", "show"])
    assert e.value.code == 2


def test_complete_chain_adds_the_root_from_the_trust_store(chain):
    loaded = pins.load_chain_file(chain["dir"] / "chain.pem")
    full = pins.complete_chain(loaded, anchors=[chain["root"]])
    assert [c.origin for c in full.certs] == [pins.FILE, pins.FILE, pins.TRUST_STORE]
    assert full.certs[-1].cert == chain["root"]
    # an unrelated store adds nothing
    assert len(pins.complete_chain(loaded, anchors=[chain["leaf"]]).certs) == 2


@pytest.mark.parametrize(
    "text,expected",
    [
        ("example.com", ("example.com", 443)),
        ("example.com:8443", ("example.com", 8443)),
        ("127.0.0.1:9", ("127.0.0.1", 9)),
        ("[::1]:8443", ("::1", 8443)),
        ("::1", ("::1", 443)),
    ],
)
def test_parse_target(text, expected):
    assert pins.parse_target(text) == expected


@pytest.mark.parametrize("text", ["example.com:0", "example.com:http", "[::1", ":443"])
def test_parse_target_refuses_nonsense(text):
    with pytest.raises(InputError):
        pins.parse_target(text)


def test_normalize_pin_accepts_okhttp_form_and_refuses_short_digests():
    pin = "nZDBuFApxSrN26U4p+ZeAgfoQFEokta1rWoh1XXQE+c="
    assert pins.normalize_pin(f"sha256/{pin}") == pin
    assert pins.normalize_pin("c2hvcnQ=") is None
    assert pins.normalize_pin("not base64!") is None


def test_audit_live_checks_the_pins_against_the_server_chain(tmp_path, tls_server, chain, capsys):
    good = tmp_path / "good.xml"
    inter_pin = pins.spki_pin(chain["inter"])
    backup = "nZDBuFApxSrN26U4p+ZeAgfoQFEokta1rWoh1XXQE+c="
    nsc = (
        "<network-security-config><domain-config><domain>127.0.0.1</domain><pin-set>"
        f'<pin digest="SHA-256">{{}}</pin><pin digest="SHA-256">{backup}</pin>'
        "</pin-set></domain-config></network-security-config>"
    )
    good.write_text(nsc.format(inter_pin))
    target = f"127.0.0.1:{tls_server}"
    argv = ["pins", "audit", "--nsc", str(good), "--host", target, "--live", "--json"]
    code = main(argv)
    findings = json.loads(capsys.readouterr().out)["findings"]
    if code == 0:
        assert findings == []
    else:  # leaf-only fetch (old Python without pyOpenSSL) cannot see the intermediate
        pytest.skip("only the leaf could be read from the server")
    bad = tmp_path / "bad.xml"
    bad.write_text(nsc.format("ag7TCzwXTk0FXHmGVh1yhcJ9Sad0sv8y5QxKRE9Mb/U="))
    assert main(["pins", "audit", "--nsc", str(bad), "--host", target, "--live", "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [f["code"] for f in findings] == ["pin-mismatch"]
    assert findings[0]["domain"] == "127.0.0.1"

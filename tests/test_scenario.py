"""Scenario files: parsing, defaults, host matching, and an error for every way to get one wrong."""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mitm_pincheck.cli import main as cli_main
from mitm_pincheck.errors import InputError, ScenarioError
from mitm_pincheck.scenario import HostSpec, Scenario, load, parse
from mitm_pincheck.scenario.hostnames import HostNameError, check_address, check_host
from mitm_pincheck.verdicts import kinds

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "data" / "bad_scenarios"
SCENARIOS = ROOT / "scenarios"
HOSTS = "hosts:\n  - host: api.example.com\n    pinned: true\n"  # lines 1-3


def error_for(text: str, **kw) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse(text, "s.yaml", **kw)
    return info.value


def make_pem(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "staging CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


# -- reading a good file --------------------------------------------------------------------------


def test_minimal_scenario_gets_the_documented_defaults():
    s = parse(HOSTS, "some/dir/shop.yaml")
    assert s.name == "shop"
    assert s.file == "some/dir/shop.yaml"
    assert s.hosts == (HostSpec("api.example.com", True),)
    assert s.hosts[0].line == 2
    assert s.hosts[0].expect == {}
    assert s.phases == kinds.DEFAULT_PHASES
    assert s.trigger is None
    assert s.settle == 5.0 and s.timeout == 60.0
    assert s.resolve == {}
    assert s.upstream_trust is None
    assert s.app is None


def test_text_without_a_file_name_has_no_file_and_a_generic_name():
    s = parse(HOSTS)
    assert s.file is None
    assert s.name == "scenario"


def test_every_key_is_read_into_typed_fields(tmp_path):
    make_pem(tmp_path / "ca.pem")
    text = """\
name: shop-android
app: com.example.shop 4.2.0
hosts:
  - host: API.Example.com.
    pinned: yes
  - host: "*.cdn.example.com"
    pinned: off
    expect:
      expired: accept
      valid-ca: reject
phases: [wrong-key, valid-ca, passthrough]
trigger: adb shell monkey -p com.example.shop 1
settle: 2.5
timeout: 30
resolve:
  API.example.com: 10.0.2.2:8443
  auth.example.com: "[::1]:443"
upstream_trust: ca.pem
"""
    s = parse(text, "shop.yaml", base_dir=tmp_path)
    assert s.name == "shop-android"
    assert s.app == "com.example.shop 4.2.0"
    assert [(h.host, h.pinned, h.line) for h in s.hosts] == [
        ("api.example.com", True, 4),
        ("*.cdn.example.com", False, 6),
    ]
    assert dict(s.hosts[1].expect) == {"expired": "accept", "valid-ca": "reject"}
    assert s.phases == ("wrong-key", "valid-ca", "passthrough")
    assert s.trigger == "adb shell monkey -p com.example.shop 1"
    assert s.settle == 2.5 and isinstance(s.settle, float)
    assert s.timeout == 30.0 and isinstance(s.timeout, float)
    assert dict(s.resolve) == {
        "api.example.com": ("10.0.2.2", 8443),
        "auth.example.com": ("::1", 443),
    }
    assert s.upstream_trust == (tmp_path / "ca.pem").resolve()
    assert s.upstream_trust.is_absolute()


@pytest.mark.parametrize("word,value", [("true", True), ("yes", True), ("On", True), ("no", False)])
def test_pinned_accepts_what_yaml_reads_as_a_boolean(word, value):
    s = parse(f"hosts:\n  - host: a.example.com\n    pinned: {word}\n")
    assert s.hosts[0].pinned is value


def test_trigger_null_means_manual_mode():
    assert parse(HOSTS + "trigger: null\n").trigger is None
    assert parse(HOSTS + "trigger:\n").trigger is None


def test_multi_line_trigger_is_kept_verbatim():
    s = parse(HOSTS + "trigger: |\n  adb shell am force-stop x\n  adb shell monkey -p x 1\n")
    assert s.trigger == "adb shell am force-stop x\nadb shell monkey -p x 1\n"


def test_settle_equal_to_timeout_is_allowed():
    s = parse(HOSTS + "settle: 10\ntimeout: 10\n")
    assert s.settle == s.timeout == 10.0


def test_null_expect_resolve_app_and_upstream_trust_mean_absent():
    s = parse(HOSTS + "    expect:\napp:\nresolve:\nupstream_trust:\n")
    assert s.hosts[0].expect == {} and s.app is None
    assert s.resolve == {} and s.upstream_trust is None


def test_yaml_anchors_and_aliases_work_for_repeated_values():
    s = parse(
        "hosts:\n"
        "  - {host: a.example.com, pinned: &p true}\n"
        "  - {host: b.example.com, pinned: *p}\n"
    )
    assert [h.pinned for h in s.hosts] == [True, True]


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + HOSTS.encode())
    assert load(path).hosts[0].host == "api.example.com"


def test_load_accepts_a_path_object_and_keeps_the_name_as_given(tmp_path):
    path = tmp_path / "my-app.yaml"
    path.write_text(HOSTS)
    s = load(path)
    assert s.file == str(path) and s.name == "my-app"


# -- host names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written,canonical",
    [
        ("api.example.com", "api.example.com"),
        ("API.Example.COM", "api.example.com"),
        ("api.example.com.", "api.example.com"),
        ("*.Example.com", "*.example.com"),
        ("*.cdn.example.com.", "*.cdn.example.com"),
        ("*.example.co.uk", "*.example.co.uk"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a-b.c-d.example", "a-b.c-d.example"),
        ("localhost", "localhost"),
        ("192.0.2.10", "192.0.2.10"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("[::1]", "::1"),
        ("a" * 63 + ".example.com", "a" * 63 + ".example.com"),
    ],
)
def test_valid_host_names_are_normalised(written, canonical):
    assert check_host(written) == canonical


@pytest.mark.parametrize(
    "written,says",
    [
        ("https://api.example.com", "without 'https://': 'api.example.com'"),
        ("http://api.example.com:8080/x", "without 'http://': 'api.example.com'"),
        ("api.example.com:443", "without the port ':443': 'api.example.com'"),
        ("[::1]:443", "without the port"),
        ("api.example.com/v1/login", "without the path '/v1/login'"),
        ("api.example.com?x=1", "without the query"),
        ("user@api.example.com", "without a user name"),
        ("api example.com", "no spaces"),
        (" api.example.com", "remove the spaces"),
        ("", "empty"),
        ("*", "bare '*' would intercept every host"),
        ("*.com", "every host under a top-level domain"),
        ("*.com.", "every host under a top-level domain"),
        ("a*.example.com", "write '*.example.com'"),
        ("*example.com", "write '*.example.com'"),
        ("**.example.com", "write '*.example.com'"),
        ("*.*.example.com", "whole first label"),
        ("api.*.example.com", "whole first label"),
        ("example.*", "whole first label"),
        ("*.10.0.0.1", "not an IP address"),
        ("-api.example.com", "starts or ends with '-'"),
        ("api-.example.com", "starts or ends with '-'"),
        ("api_v2.example.com", "'_' is not allowed"),
        ("api..example.com", "empty label"),
        (".example.com", "empty label"),
        ("a" * 64 + ".example.com", "at most 63"),
        (".".join(["abcdefghi"] * 26), "at most 253"),
        ("256.1.1.1", "not a valid IPv4 address"),
        ("01.2.3.4", "not a valid IPv4 address"),
        ("example.123", "last label"),
        ("2001:db8::zz", "not a valid IPv6 address"),
        ("bücher.example", "'xn--bcher-kva.example'"),
    ],
)
def test_bad_host_names_say_what_to_write_instead(written, says):
    with pytest.raises(HostNameError) as info:
        check_host(written)
    assert says in str(info.value)
    assert "\n" not in str(info.value)


def test_a_wildcard_is_refused_where_an_exact_name_is_needed():
    with pytest.raises(HostNameError, match="exact host name"):
        check_host("*.example.com", wildcard_ok=False)


@pytest.mark.parametrize(
    "written,parsed",
    [
        ("127.0.0.1:8443", ("127.0.0.1", 8443)),
        ("10.0.2.2:1", ("10.0.2.2", 1)),
        ("10.0.2.2:65535", ("10.0.2.2", 65535)),
        ("[::1]:443", ("::1", 443)),
        ("[2001:DB8::0:1]:8443", ("2001:db8::1", 8443)),
    ],
)
def test_resolve_targets_are_ip_and_port(written, parsed):
    assert check_address(written) == parsed


@pytest.mark.parametrize(
    "written,says",
    [
        ("10.0.2.2", "has no port; add it: '10.0.2.2:443'"),
        ("10.0.2.2:0", "1 to 65535"),
        ("10.0.2.2:65536", "1 to 65535"),
        ("10.0.2.2:https", "1 to 65535"),
        ("10.0.2.2:", "1 to 65535"),
        ("10.0.2.2:\u0664\u0664\u0663", "1 to 65535"),
        ("staging.example.com:443", "not an IP address"),
        ("::1:443", "brackets: '[::1]:443'"),
        ("[::1]", "needs a port"),
        ("[nope]:443", "not a valid IPv6 address"),
    ],
)
def test_bad_resolve_targets_say_what_to_write(written, says):
    with pytest.raises(HostNameError) as info:
        check_address(written)
    assert says in str(info.value)


# -- matching -------------------------------------------------------------------------------------


def test_exact_host_matches_case_insensitively_and_ignores_a_trailing_dot():
    h = HostSpec("api.example.com", True)
    assert h.matches("api.example.com")
    assert h.matches("API.Example.Com.")
    assert not h.matches("x.api.example.com")
    assert not h.matches("example.com")
    assert not h.matches("")


def test_wildcard_matches_any_depth_but_not_the_apex():
    h = HostSpec("*.example.com", False)
    assert h.matches("a.example.com")
    assert h.matches("a.b.example.com")
    assert h.matches("A.B.C.Example.COM.")
    assert not h.matches("example.com")
    assert not h.matches("example.com.")
    assert not h.matches(".example.com")


def test_wildcard_does_not_match_a_name_that_only_ends_with_the_same_letters():
    h = HostSpec("*.example.com", False)
    assert not h.matches("badexample.com")
    assert not h.matches("a.badexample.com")
    assert not h.matches("a.example.com.evil.net")


def test_ipv6_host_matches_any_spelling_of_the_address():
    h = parse("hosts:\n  - host: '2001:db8:0::1'\n    pinned: true\n").hosts[0]
    assert h.host == "2001:db8::1"
    assert h.matches("2001:DB8:0:0:0:0:0:1")
    assert h.matches("[2001:db8::1]")


def test_hostspec_built_in_code_is_normalised_like_one_from_a_file():
    h = HostSpec("API.Example.com.", True, {"valid-ca": "accept"})
    assert h.host == "api.example.com"
    assert (
        h
        == parse(
            "hosts:\n - {host: api.example.com, pinned: true, expect: {valid-ca: accept}}"
        ).hosts[0]
    )


def _scenario(*hosts: str) -> Scenario:
    return Scenario(name="t", hosts=tuple(HostSpec(h, True, line=i) for i, h in enumerate(hosts)))


def test_exact_entry_beats_a_wildcard_whatever_the_order():
    for order in (("*.example.com", "api.example.com"), ("api.example.com", "*.example.com")):
        assert _scenario(*order).host_for("API.example.com.").host == "api.example.com"


def test_longest_wildcard_wins():
    s = _scenario("*.example.com", "*.cdn.example.com", "*.img.cdn.example.com")
    assert s.host_for("a.img.cdn.example.com").host == "*.img.cdn.example.com"
    assert s.host_for("x.y.cdn.example.com").host == "*.cdn.example.com"
    assert s.host_for("cdn.example.com").host == "*.example.com"
    assert s.host_for("api.example.com").host == "*.example.com"


def test_host_for_a_host_not_under_test_is_none():
    s = _scenario("api.example.com", "*.cdn.example.com")
    assert s.host_for("example.com") is None
    assert s.host_for("cdn.example.com") is None
    assert s.host_for("google.com") is None


def test_expected_uses_the_override_then_the_catalogue():
    pinned = HostSpec("a.example.com", True, {"expired": "accept"})
    unpinned = HostSpec("b.example.com", False)
    assert pinned.expected("expired") == "accept"
    assert pinned.expected("valid-ca") == "reject"
    assert pinned.expected("passthrough") == "accept"
    assert unpinned.expected("valid-ca") == "accept"
    assert unpinned.expected("self-signed") == "reject"


# -- what the journal gets ------------------------------------------------------------------------


def test_to_dict_has_the_journal_shape_and_no_trigger_or_resolve():
    text = (
        "name: shop\napp: shop 1.0\n" + HOSTS + "    expect: {valid-ca: accept}\n"
        "trigger: \"curl -H 'Authorization: Bearer s3cret' https://ci/start\"\n"
        "resolve: {api.example.com: '10.1.2.3:443'}\n"
    )
    d = parse(text, "dir/shop.yaml").to_dict()
    assert d == {
        "name": "shop",
        "file": "dir/shop.yaml",
        "app": "shop 1.0",
        "hosts": [
            {
                "host": "api.example.com",
                "pinned": True,
                "expect": {"valid-ca": "accept"},
                "control": False,
            }
        ],
        "phases": list(kinds.DEFAULT_PHASES),
        "ca_trust": None,
        "settle": 5.0,
        "timeout": 60.0,
        "isolate": True,
        "max_followups": 3,
    }
    dumped = json.dumps(d)
    assert "s3cret" not in dumped and "10.1.2.3" not in dumped


def test_scenario_and_hostspec_are_frozen_and_hashable():
    s = parse(HOSTS + "    expect: {expired: accept}\nresolve: {a.example.com: '10.0.0.1:1'}\n")
    with pytest.raises(AttributeError):
        s.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.hosts[0].expect["expired"] = "reject"  # type: ignore[index]
    with pytest.raises(TypeError):
        s.resolve["b"] = ("1.1.1.1", 1)  # type: ignore[index]
    assert {s.hosts[0]: 1}[s.hosts[0]] == 1
    assert hash(s) == hash(s)


# -- upstream_trust -------------------------------------------------------------------------------


def test_upstream_trust_is_relative_to_the_scenario_file_not_the_cwd(tmp_path, monkeypatch):
    pem = make_pem(tmp_path / "certs" / "ca.pem")
    scenario_file = tmp_path / "scenarios" / "shop.yaml"
    scenario_file.parent.mkdir()
    scenario_file.write_text(HOSTS + "upstream_trust: ../certs/ca.pem\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load(os.path.relpath(scenario_file)).upstream_trust == pem.resolve()


def test_parse_resolves_upstream_trust_against_base_dir(tmp_path):
    pem = make_pem(tmp_path / "ca.pem")
    assert parse(HOSTS + "upstream_trust: ca.pem\n", base_dir=tmp_path).upstream_trust == pem


def test_upstream_trust_may_be_absolute(tmp_path):
    pem = make_pem(tmp_path / "ca.pem")
    assert parse(HOSTS + f"upstream_trust: {pem}\n").upstream_trust == pem


def test_upstream_trust_with_several_certificates_is_accepted(tmp_path):
    a, b = make_pem(tmp_path / "a.pem"), make_pem(tmp_path / "b.pem")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(a.read_bytes() + b"# comment\n" + b.read_bytes())
    assert parse(HOSTS + "upstream_trust: bundle.pem\n", base_dir=tmp_path).upstream_trust == bundle


def test_upstream_trust_missing_file_says_where_it_looked(tmp_path):
    e = error_for(HOSTS + "upstream_trust: nope/ca.pem\n", base_dir=tmp_path)
    assert (e.key, e.line) == ("upstream_trust", 4)
    assert str(tmp_path / "nope" / "ca.pem") in e.message
    assert "scenario file's directory" in e.message


def test_upstream_trust_with_only_a_private_key_is_refused(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    e = error_for(HOSTS + "upstream_trust: key.pem\n", base_dir=tmp_path)
    assert (e.key, e.line) == ("upstream_trust", 4)
    assert "no usable PEM certificate" in e.message


def test_upstream_trust_in_der_form_suggests_the_conversion(tmp_path):
    pem = make_pem(tmp_path / "ca.pem")
    der = x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(serialization.Encoding.DER)
    (tmp_path / "ca.der").write_bytes(der)
    e = error_for(HOSTS + "upstream_trust: ca.der\n", base_dir=tmp_path)
    assert "openssl x509 -inform der" in e.message


def test_upstream_trust_with_a_broken_certificate_block_is_refused(tmp_path):
    (tmp_path / "bad.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    )
    e = error_for(HOSTS + "upstream_trust: bad.pem\n", base_dir=tmp_path)
    assert "does not parse" in e.message


# -- errors, one rule at a time -------------------------------------------------------------------

ERRORS = [
    # (scenario text, key, line, part of the message)
    ("", None, 1, "empty"),
    ("# only a comment\n", None, 1, "empty"),
    ("- a\n- b\n", None, 1, "found a list"),
    ("just text\n", None, 1, "found text"),
    ("name: x\n", "hosts", 1, "missing"),
    ("hosts: []\n", "hosts", 1, "at least one host"),
    ("hosts: {a: 1}\n", "hosts", 1, "'- host: api.example.com'"),
    ("hosts:\n  - api.example.com\n", "hosts[0]", 2, "'- host: api.example.com'"),
    ("hosts:\n  - pinned: true\n", "hosts[0].host", 2, "missing"),
    ("hosts:\n  - host: a.example.com\n", "hosts[0].pinned", 2, "'pinned: true'"),
    ("hosts:\n  - host: a.example.com\n    pinned: 'true'\n", "hosts[0].pinned", 3, "in quotes"),
    ("hosts:\n  - host: a.example.com\n    pinned: 0\n", "hosts[0].pinned", 3, "a number"),
    ("hosts:\n  - host: a.example.com\n    pinned:\n", "hosts[0].pinned", 3, "found nothing"),
    ("hosts:\n  - host: a.example.com\n    pinned: [true]\n", "hosts[0].pinned", 3, "a list"),
    ("hosts:\n  - host: 8080\n    pinned: true\n", "hosts[0].host", 2, "found a number"),
    ("hosts:\n  - host: https://a.example.com\n    pinned: true\n", "hosts[0].host", 2, "https"),
    (HOSTS + "    pined: true\n", "hosts[0].pined", 4, "did you mean 'pinned'?"),
    (HOSTS + "    colour: red\n", "hosts[0].colour", 4, "valid keys here: host, pinned, expect"),
    (HOSTS + "    pinned: false\n", "hosts[0].pinned", 4, "first set on line 3"),
    (
        HOSTS + "  - host: API.example.com.\n    pinned: false\n",
        "hosts[1].host",
        4,
        "lines 2 and 4",
    ),
    (
        HOSTS
        + "  - host: '*.Example.com'\n    pinned: false\n"
        + "  - host: '*.example.com'\n    pinned: true\n",
        "hosts[2].host",
        6,
        "lines 4 and 6",
    ),
    (HOSTS + "    expect: [valid-ca]\n", "hosts[0].expect", 4, "kind: accept|reject"),
    (
        HOSTS + "    expect: {valid-CA: accept}\n",
        "hosts[0].expect.valid-CA",
        4,
        "did you mean 'valid-ca'?",
    ),
    (HOSTS + "    expect: {valid-ca: yes}\n", "hosts[0].expect.valid-ca", 4, "accept or reject"),
    (HOSTS + "    expect: {valid-ca: Accept}\n", "hosts[0].expect.valid-ca", 4, "accept or reject"),
    (HOSTS + "timout: 3\n", "timout", 4, "did you mean 'timeout'?"),
    (HOSTS + "colour: red\n", "colour", 4, "valid keys here: name, app, hosts"),
    ("pinned: true\n" + HOSTS, "pinned", 1, "indent it below a '- host:' line"),
    (HOSTS + "    phases: [valid-ca]\n", "hosts[0].phases", 4, "remove its indentation"),
    (HOSTS + "hosts: []\n", "hosts", 4, "duplicate key (first set on line 1)"),
    (HOSTS + "name: 12\n", "name", 4, "quote it: name: '12'"),
    (HOSTS + "name: ''\n", "name", 4, "empty"),
    (HOSTS + "name:\n", "name", 4, "found nothing"),
    (HOSTS + "app: [a]\n", "app", 4, "found a list"),
    (HOSTS + "phases: valid-ca\n", "phases", 4, "write phases: [valid-ca]"),
    (HOSTS + "phases: []\n", "phases", 4, "remove the key for the default"),
    (HOSTS + "phases:\n", "phases", 4, "found nothing"),
    (HOSTS + "phases: [valid-ca, expird]\n", "phases[1]", 4, "did you mean 'expired'?"),
    (HOSTS + "phases:\n  - valid-ca\n  - bogus\n", "phases[1]", 6, "kinds: valid-ca, self-signed"),
    (HOSTS + "phases:\n  - valid-ca\n  - valid-ca\n", "phases[1]", 6, "already a phase (line 5)"),
    (HOSTS + "phases: [valid-ca, 3]\n", "phases[1]", 4, "expected a kind name"),
    (HOSTS + "trigger: ''\n", "trigger", 4, "empty command"),
    (HOSTS + "trigger: '   '\n", "trigger", 4, "empty command"),
    (HOSTS + "trigger: 42\n", "trigger", 4, "found a number"),
    (HOSTS + "settle: 0\n", "settle", 4, "positive"),
    (HOSTS + "settle: -1.5\n", "settle", 4, "positive"),
    (HOSTS + "settle: .nan\n", "settle", 4, "positive"),
    (HOSTS + "settle: 5s\n", "settle", 4, "found text ('5s')"),
    (HOSTS + "settle: '5'\n", "settle", 4, "found text"),
    (HOSTS + "settle: yes\n", "settle", 4, "true/false"),
    (HOSTS + "settle:\n", "settle", 4, "found nothing"),
    (HOSTS + "settle: 2024-01-01\n", "settle", 4, "expected a number"),
    (HOSTS + "timeout: 0\n", "timeout", 4, "positive"),
    (HOSTS + "timeout: -.inf\n", "timeout", 4, "positive"),
    (HOSTS + "settle: 20\ntimeout: 10\n", "settle", 4, "longer than timeout"),
    (HOSTS + "timeout: 1\n", "timeout", 4, "settle (5s) is longer than timeout (1s)"),
    (HOSTS + "resolve: [a]\n", "resolve", 4, "expected a mapping"),
    (HOSTS + "resolve: {a.example.com: 10.0.0.1}\n", "resolve.a.example.com", 4, "has no port"),
    (HOSTS + "resolve: {a.example.com: 443}\n", "resolve.a.example.com", 4, "'127.0.0.1:8443'"),
    (HOSTS + "resolve:\n  a.example.com: [::1]:443\n", "yaml", 5, "quote values that contain"),
    (
        HOSTS + "resolve:\n  a.example.com: [10.0.0.1, 443]\n",
        "resolve.a.example.com",
        5,
        "one quoted",
    ),
    (
        HOSTS + "resolve: {'https://a.example.com': '10.0.0.1:1'}\n",
        "resolve.https://a.example.com",
        4,
        "without 'https://'",
    ),
    (
        HOSTS + "resolve: {'*.example.com': '10.0.0.1:1'}\n",
        "resolve.*.example.com",
        4,
        "exact host",
    ),
    (
        HOSTS + "resolve:\n  a.example.com: '10.0.0.1:1'\n  A.example.com.: '10.0.0.2:1'\n",
        "resolve.A.example.com.",
        6,
        "listed twice (lines 5 and 6)",
    ),
    (HOSTS + "upstream_trust: 7\n", "upstream_trust", 4, "expected text"),
    (HOSTS + "upstream_trust: ''\n", "upstream_trust", 4, "empty"),
    (HOSTS + "upstream_trust: .\n", "upstream_trust", 4, "not a file"),
    (HOSTS + "name: !!python/object/apply:os.system [id]\n", "name", 4, "unsupported YAML tag"),
    (HOSTS + "name: !!binary aGk=\n", "name", 4, "unsupported YAML tag"),
    (HOSTS + "? [a, b]\n: c\n", None, 4, "plain names"),
    ("hosts: &h\n  - *h\n", "hosts[0]", 1, "each host is a mapping"),
    ("name: 'shop\nhosts: []\n", "yaml", 1, "close the quote"),
    ("hosts: [a\n", "yaml", 1, "close the quote or bracket"),
    ("hosts:\n  - host: a\n     pinned: true\n", "yaml", 3, "check indentation"),
    ("hosts:\n\t- host: a\n", "yaml", 2, "tab"),
    ("name: a\n---\nname: b\n", "yaml", 2, "second YAML document"),
    ("name: a\x07\n", "yaml", 1, "not allowed in YAML"),
]


@pytest.mark.parametrize("text,key,line,says", ERRORS, ids=[f"{e[1]}@{e[2]}" for e in ERRORS])
def test_each_mistake_is_reported_with_its_key_and_line(text, key, line, says, tmp_path):
    e = error_for(text, base_dir=tmp_path)
    assert (e.key, e.line) == (key, line), str(e)
    assert says in e.message, str(e)
    assert "\n" not in str(e)
    assert str(e).startswith(f"s.yaml:{line}: " + (f"{key}: " if key else ""))


def test_a_scenario_error_is_an_input_error_so_the_cli_exits_2():
    assert issubclass(ScenarioError, InputError)


def test_the_first_problem_in_the_file_is_the_one_reported():
    e = error_for(HOSTS + "settle: 0\ntimeout: 0\n")
    assert e.key == "settle"


def test_unknown_kind_lists_all_valid_kinds():
    e = error_for(HOSTS + "phases: [mitm]\n")
    assert all(name in e.message for name in kinds.KINDS)
    assert "did you mean" not in e.message


def test_missing_file_is_an_error_without_a_line(tmp_path):
    with pytest.raises(ScenarioError) as info:
        load(tmp_path / "nope.yaml")
    assert info.value.line is None and info.value.key is None
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: no such file; check the path"


def test_a_directory_is_not_a_scenario(tmp_path):
    with pytest.raises(ScenarioError, match="is a directory") as info:
        load(tmp_path)
    assert info.value.line is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_an_unreadable_file_is_an_error(tmp_path):
    path = tmp_path / "locked.yaml"
    path.write_text(HOSTS)
    path.chmod(0)
    with pytest.raises(ScenarioError, match="can't read it") as info:
        load(path)
    assert info.value.line is None


def test_a_file_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: shop\nhosts:\n  - host: café.example.com\n".encode("latin-1"))
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert (info.value.line, info.value.key) == (3, "yaml")
    assert "UTF-8" in info.value.message


def test_self_referencing_aliases_do_not_hang_the_checker():
    e = error_for("name: &n [*n]\nhosts: []\n")
    assert e.key == "name"


# -- the corpus of bad files, through the real command line ---------------------------------------

CORPUS = sorted(BAD.glob("*.yaml"))
EXPECT = re.compile(rb"# expect: (\S+) @ (\d+)\n")


def _expectation(path: Path) -> tuple[str | None, int]:
    m = EXPECT.match(path.read_bytes())
    assert m, f"{path.name}: first line must be '# expect: KEY @ LINE'"
    key = m.group(1).decode()
    return (None if key == "-" else key), int(m.group(2))


def test_the_corpus_has_at_least_32_bad_files():
    assert len(CORPUS) >= 32


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_file_fails_with_the_expected_key_and_line(path):
    key, line = _expectation(path)
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert (info.value.key, info.value.line) == (key, line), str(info.value)


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_validate_reports_a_bad_file_on_one_line_and_exits_2(path):
    key, line = _expectation(path)
    rel = path.relative_to(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "mitm_pincheck", "validate", str(rel)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"mitm-pincheck: error: {rel}:{line}: ")
    if key:
        assert f"{rel}:{line}: {key}: " in lines[0]
    assert proc.stdout == ""


def test_validate_exits_0_and_summarises_a_good_file():
    proc = subprocess.run(
        [sys.executable, "-m", "mitm_pincheck", "validate", "scenarios/android-example.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    assert "shop-android" in out
    assert "4 (2 pinned, 2 unpinned)" in out
    assert "*.cdn.example.com" in out
    assert "adb shell am force-stop com.example.shop" in out


def test_validate_says_manual_when_there_is_no_trigger(tmp_path, capsys):
    path = tmp_path / "manual.yaml"
    path.write_text(HOSTS + "  - host: b.example.com\n    pinned: false\n")
    assert cli_main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "manual" in out
    assert "2 (1 pinned, 1 unpinned)" in out
    assert "valid-ca, self-signed, wrong-key" in out
    assert "5s" in out and "60s" in out


def test_validate_of_a_missing_file_exits_2_with_one_line(tmp_path, capsys):
    assert cli_main(["validate", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err


# -- shipped scenarios ----------------------------------------------------------------------------

SHIPPED = sorted(SCENARIOS.glob("*.yaml")) + sorted(SCENARIOS.glob("*.yml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_scenario_validates(path, tmp_path):
    if path.name == "demo.yaml":
        # its key files are written by the demo, next to its copy of the scenario
        from mitm_pincheck import demo

        demo.write_keys(tmp_path)
        path = Path(tmp_path / "demo.yaml")
        path.write_text(demo.scenario_text())
    s = load(path)
    assert s.hosts


def test_the_android_example_shows_every_feature():
    s = load(SCENARIOS / "android-example.yaml")
    assert any(h.pinned for h in s.hosts) and any(not h.pinned for h in s.hosts)
    assert any(h.host.startswith("*.") for h in s.hosts)
    assert any(h.expect for h in s.hosts)
    assert any(h.control for h in s.hosts)
    assert s.trigger and s.trigger.startswith("adb ")

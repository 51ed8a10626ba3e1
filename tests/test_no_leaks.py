"""A security tool must not leak what it intercepts: plant unique secrets in headers, cookies,
query strings and bodies of real clients (accepted and rejected ones), run the CLI, then look
for every secret, raw, URL-encoded and base64-encoded, in every file the run wrote and in its
output."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import subprocess
import sys
import urllib.parse
from pathlib import Path

from conftest import need, rows, write_scenario

PY = sys.executable


def plant() -> dict[str, str]:
    """Environment variable -> a value that exists nowhere else."""
    names = [
        "AUTH_OPEN",
        "COOKIE_OPEN",
        "APIKEY_OPEN",
        "QUERY_OPEN",
        "BODY_PINNED",
        "AUTH_PINNED",
        "QUERY_PINNED",
        "AUTH_ALL",
        "COOKIE_ALL",
        "APIKEY_ALL",
        "QUERY_ALL",
        "BODY_ALL",
        "BASIC_USER",
        "BASIC_PASS",
        "BODY_BYSTANDER",
    ]
    # a "/" and a "+" so URL- and base64-encoded forms differ from the raw one
    return {f"PC_{n}": f"pc{n.lower()}-{secrets.token_hex(12)}/+x" for n in names}


def forms(value: str) -> set[bytes]:
    raw = value.encode()
    return {
        raw,
        urllib.parse.quote(value, safe="").encode(),
        urllib.parse.quote_plus(value).encode(),
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        base64.b64encode(raw).rstrip(b"="),
        value.split("-", 1)[1][:24].encode(),  # the random part alone
    }


def trigger_for(curl: str, backend_ca: Path) -> str:
    """Shell trigger: the secrets come from the environment, so the scenario holds none."""
    base = f'{curl} -s -o /dev/null --max-time 5 --proxy "$PINCHECK_PROXY"'
    trust = 'cat "$PINCHECK_CA" ' + str(backend_ca) + ' > "$PWD/trust-$PINCHECK_PHASE.pem"'
    cacert = '--cacert "$PWD/trust-$PINCHECK_PHASE.pem"'
    return " ; ".join(
        [
            trust,
            # unpinned app, trusts the proxy CA: accepted under valid-ca, rejected otherwise
            f'{base} {cacert} -G --data-urlencode "token=$PC_QUERY_OPEN"'
            ' -H "Authorization: Bearer $PC_AUTH_OPEN" -b "sid=$PC_COOKIE_OPEN"'
            ' -H "X-Api-Key: $PC_APIKEY_OPEN" https://open.test/v1/me',
            # pinned app: refuses after the handshake, never sends its body or headers
            f"{base} {cacert} --pinnedpubkey sha256//$PINNED_PIN"
            ' -H "Authorization: Bearer $PC_AUTH_PINNED" -d "card=$PC_BODY_PINNED"'
            ' "https://pinned.test/v1/pay?session=$PC_QUERY_PINNED"',
            # trust-all app: accepts everything and sends it all
            f'{base} -k -H "Authorization: Bearer $PC_AUTH_ALL" -b "sid=$PC_COOKIE_ALL"'
            ' -H "X-Api-Key: $PC_APIKEY_ALL" -d "password=$PC_BODY_ALL"'
            ' "https://api.svc.test/v1/login?otp=$PC_QUERY_ALL"',
            f'{base} -k -u "$PC_BASIC_USER:$PC_BASIC_PASS" https://api.svc.test/v1/basic',
            # a host not under test: passed through, never decrypted
            f'{base} --cacert {backend_ca} -d "x=$PC_BODY_BYSTANDER" https://bystander.test/',
            "true",
        ]
    )


def test_no_intercepted_secret_reaches_any_file_or_output(tmp_path, backend):
    curl = need("curl")
    planted = plant()
    home = tmp_path / "home"  # the run's confdir, cwd and out dir all live here
    home.mkdir()
    scenario = write_scenario(
        home,
        backend,
        hosts=[
            {"host": "open.test", "pinned": False},
            {"host": "pinned.test", "pinned": True},
            {"host": "api.svc.test", "pinned": True},
        ],
        trigger=trigger_for(curl, backend.ca_path),
    )
    text = scenario.read_text()
    assert not any(v in text for v in planted.values())
    env = {**os.environ, **planted, "PINNED_PIN": backend.pin}
    p = subprocess.run(
        [PY, "-m", "mitm_pincheck", "run", str(scenario), "--out", str(home / "out")]
        + ["--listen", "127.0.0.1:0", "--confdir", str(home / "confdir")],
        capture_output=True,
        timeout=120,
        cwd=home,
        env=env,
    )
    assert p.returncode == 1, p.stderr.decode(errors="replace")  # api.svc.test fails

    # the clients really sent what was planted, and the proxy saw it: the test means something
    report = json.loads((home / "out" / "report.json").read_text())
    r = rows(report)
    assert r[("open.test", "valid-ca")]["outcome"] == "accepted"
    assert set(r[("open.test", "valid-ca")]["evidence"]["credentials"]) == {
        "authorization",
        "cookie",
        "x-api-key",
    }
    assert r[("pinned.test", "valid-ca")]["outcome"] == "rejected-after-handshake"
    for kind in ("valid-ca", "self-signed", "wrong-key"):
        assert r[("api.svc.test", kind)]["outcome"] == "accepted"
        assert r[("api.svc.test", kind)]["evidence"]["requests"][0]["has_query"] is True

    written = [path for path in home.rglob("*") if path.is_file()]
    names = {path.name for path in written}
    assert {
        "journal.jsonl",
        "report.json",
        "report.html",
        "junit.xml",
        "report.md",
        "report.sarif",
    } <= names
    places = {str(path): path.read_bytes() for path in written}
    places["stdout"], places["stderr"] = p.stdout, p.stderr
    leaks = [
        f"{name} ({var}) in {where}"
        for var, value in planted.items()
        for name in sorted(forms(value), key=len)
        for where, data in places.items()
        if name in data
    ]
    assert leaks == []

    # the CA this run created: keys 0600 in a 0700 directory
    confdir = home / "confdir"
    assert stat.S_IMODE(confdir.stat().st_mode) == 0o700
    keys = [f for f in confdir.iterdir() if b"PRIVATE KEY" in f.read_bytes()]
    keys.append(confdir / "mitmproxy-ca.p12")  # PKCS#12: the key, not in PEM
    assert len(keys) >= 3, keys
    assert {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in keys} == {
        f.name: oct(0o600) for f in keys
    }

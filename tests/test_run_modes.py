"""Proxy modes and proxy authentication, with curl as the app."""

from __future__ import annotations

import subprocess

from conftest import need, rows


def test_socks5_mode_intercepts_like_the_http_proxy(run_scenario, device_trust):
    curl = need("curl")
    seen_proxy = []

    def client(kind, env):
        seen_proxy.append(env["PINCHECK_PROXY"])
        subprocess.run(
            [curl, "-s", "-o", "/dev/null", "--max-time", "5", "--cacert", str(device_trust)]
            + ["--proxy", env["PINCHECK_PROXY"], "https://open.test/"],
            timeout=20,
        )

    report = run_scenario(
        client,
        mode="socks5",
        hosts=[{"host": "open.test", "pinned": False}],
        phases=["valid-ca", "self-signed"],
    )
    assert seen_proxy[0].startswith("socks5h://127.0.0.1:")
    r = rows(report)
    assert r[("open.test", "valid-ca")]["outcome"] == "accepted"
    assert r[("open.test", "self-signed")]["outcome"] == "rejected-in-handshake"
    assert report["exit_code"] == 0


def test_proxyauth_refuses_clients_without_the_credentials(run_scenario, device_trust):
    curl = need("curl")
    codes = {}

    def client(kind, env):
        with_auth = env["PINCHECK_PROXY"]
        assert "tester:s3cret@" in with_auth
        without = with_auth.replace("tester:s3cret@", "")
        for name, proxy in (("without", without), ("with", with_auth)):
            codes[name] = subprocess.run(
                [curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5"]
                + ["--cacert", str(device_trust), "--proxy", proxy, "https://open.test/"],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout

    report = run_scenario(
        client,
        proxyauth="tester:s3cret",
        hosts=[{"host": "open.test", "pinned": False}],
        phases=["valid-ca"],
    )
    assert codes["with"] == "200"
    assert codes["without"] != "200"
    row = rows(report)[("open.test", "valid-ca")]
    assert row["outcome"] == "accepted"
    assert row["connections"] == 1  # the refused CONNECT never reached a TLS handshake

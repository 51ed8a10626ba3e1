"""Proxy modes and proxy authentication, with curl as the app."""

from __future__ import annotations

import json
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


def test_wireguard_mode_prints_the_client_configuration(tmp_path, backend, confdir):
    import socket
    import sys

    from conftest import write_scenario

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    scenario = write_scenario(
        tmp_path,
        backend,
        hosts=[{"host": "open.test", "pinned": False}],
        phases=["valid-ca"],
        trigger="true",
        timeout=1,
    )
    p = subprocess.run(
        [sys.executable, "-m", "mitm_pincheck", "run", str(scenario), "--out", str(tmp_path / "o")]
        + ["--mode", "wireguard", "--listen", f"127.0.0.1:{port}", "--confdir", str(confdir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 3, p.stderr  # nothing connected
    assert "[Interface]" in p.stderr and "[Peer]" in p.stderr
    assert f"Endpoint = 127.0.0.1:{port}" in p.stderr
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert any("WireGuard tunnel" in h for h in report["hints"])
    assert not any("try `--mode wireguard`" in h for h in report["hints"])
    # the WireGuard keys are for the tester's screen only, never the run's files
    private_key = p.stderr.split("PrivateKey = ", 1)[1].split()[0]
    for path in (tmp_path / "o").iterdir():
        assert private_key not in path.read_text(), path


def test_unknown_mode_is_bad_usage(tmp_path, backend):
    import sys

    from conftest import write_scenario

    scenario = write_scenario(tmp_path, backend, hosts=[{"host": "open.test", "pinned": False}])
    p = subprocess.run(
        [sys.executable, "-m", "mitm_pincheck", "run", str(scenario), "--out", str(tmp_path / "o")]
        + ["--mode", "carrier-pigeon"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2 and "--mode" in p.stderr
    assert not (tmp_path / "o").exists()


def test_the_proxy_keeps_mitmproxys_block_global_protection(run_scenario):
    from mitmproxy import ctx

    seen = {}

    def client(kind, env):
        seen["block_global"] = ctx.options.block_global
        seen["block_private"] = ctx.options.block_private

    run_scenario(
        client, hosts=[{"host": "open.test", "pinned": False}], phases=["valid-ca"], timeout=1
    )
    assert seen == {"block_global": True, "block_private": False}

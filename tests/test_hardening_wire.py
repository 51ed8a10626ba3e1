"""Hostile requests through the real proxy (issue 12): any bytes, no secrets outside the
documented fields, bounded evidence, and clients that --client leaves out."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import subprocess

from conftest import need, rows

from mitm_pincheck.demo import _tunnel
from mitm_pincheck.report import writers

SECRETS = ("SECRET-PARAM", "SECRET-ENCODED-QUERY", "SECRET-HOST-VALUE", "SECRET-QUERY")


def send_over_tls(env: dict, trust, host: str, request: bytes, source: str | None = None) -> None:
    """One request over a tunnel to `host`, trusting the device's store; `source` binds the
    client's address (127.0.0.2 is another client on the same machine)."""
    context = ssl.create_default_context(cafile=str(trust))
    if source is None:
        raw = _tunnel(env["PINCHECK_PROXY"], host)
    else:
        proxy = env["PINCHECK_PROXY"].removeprefix("http://")
        phost, _, pport = proxy.rpartition(":")
        raw = socket.create_connection((phost, int(pport)), timeout=5, source_address=(source, 0))
        raw.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
        assert raw.recv(4096).startswith(b"HTTP/1.1 200")
    with context.wrap_socket(raw, server_hostname=host) as tls:
        tls.sendall(request)
        tls.settimeout(5)
        try:
            tls.recv(4096)
        except (TimeoutError, OSError):
            pass


def hostile_request(host: str) -> bytes:
    many = b"".join(b"x-h%03d: 1\r\n" % i for i in range(100))
    return (
        b"GET /caf\xe9;jsessionid=SECRET-PARAM/go/https://evil.example/www.evil.example/a@b.example"
        b"%3Ftoken=SECRET-ENCODED-QUERY/x"
        b"?q=SECRET-QUERY HTTP/1.1\r\n"
        b"Host: user:SECRET-HOST-VALUE@" + host.encode() + b"\r\n"
        b"Authorization : x\r\n"
        b"X-\xff-Bad: 1\r\n" + b"L" * 3000 + b": 1\r\n" + many + b"Connection: close\r\n\r\n"
    )


def test_hostile_bytes_secrets_and_huge_headers_reach_no_report(
    run_scenario, device_trust, tmp_path
):
    def client(kind, env):
        send_over_tls(env, device_trust, "open.test", hostile_request("open.test"))

    report = run_scenario(  # pinned, so that the accepted request is a fail row in report.md
        client, hosts=[{"host": "open.test", "pinned": True}], phases=["valid-ca"], timeout=3
    )
    out = tmp_path / "out"
    writers.write_all(report, out)
    # every report was written: one non-UTF-8 byte no longer loses the run
    for name in ("report.json", "report.html", "junit.xml", "report.md", "journal.jsonl"):
        text = (out / name).read_text(encoding="utf-8")
        for secret in SECRETS:
            assert secret not in text, (name, secret)
        assert len(text) < 200_000, name
    row = rows(report)[("open.test", "valid-ca")]
    assert row["outcome"] == "accepted"
    request = row["evidence"]["requests"][0]
    assert request["path"] == "/caf\\xe9/go/https://evil.example/www.evil.example/a@b.example"
    assert request["host"] == "open.test"
    assert request["has_query"] is True
    assert "authorization" in request["credentials"]  # `Authorization : x` counts
    names = request["header_names"]
    assert "x-\\xff-bad" in names
    assert len(names) == 65 and names[-1].startswith("…[") and "more cut" in names[-1]
    long_name = next(n for n in names if n.startswith("lll"))
    assert len(long_name) < 600 and "more characters cut" in long_name
    json.loads((out / "report.json").read_text(encoding="utf-8"))
    # GitHub's renderer makes no link of the URL, the www. name or the e-mail address in the path
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "evil" in markdown
    html = subprocess.run(
        [need("cmark-gfm"), "-e", "autolink", "-e", "table"],
        input=markdown,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    links = re.findall(r'href="([^"]*)"', html)
    assert "evil.example" in html and links  # the standards' own links stay links
    assert not [link for link in links if "example" in link], links


def test_only_clients_named_by_client_count_and_others_are_listed(
    run_scenario, device_trust, tmp_path, backend, confdir
):
    import asyncio
    import ipaddress

    from conftest import write_scenario

    from mitm_pincheck import scenario as scenario_mod
    from mitm_pincheck.proxy.runner import RunConfig, run

    request = b"GET / HTTP/1.1\r\nHost: open.test\r\nConnection: close\r\n\r\n"

    async def trigger(kind, env):
        await asyncio.to_thread(send_over_tls, env, device_trust, "open.test", request, "127.0.0.2")

    path = write_scenario(
        tmp_path, backend, hosts=[{"host": "open.test", "pinned": True}], timeout=3
    )
    config = RunConfig(
        scenario=scenario_mod.load(path),
        out_dir=tmp_path / "out",
        listen_host="127.0.0.1",
        listen_port=0,
        confdir=confdir,
        trigger_fn=trigger,
        clients=(ipaddress.ip_network("127.0.0.1/32"),),
    )
    report = asyncio.run(run(config))
    # the stranger's accepted connection is no evidence: the pinned host stays not seen
    assert {r["outcome"] for r in report["results"]} == {"not-seen"}
    assert report["clients"]["ignored"] == [{"address": "127.0.0.2", "hosts": ["open.test"]}]
    assert any("127.0.0.2" in h and "not counted" in h for h in report["hints"])


def test_connections_from_two_addresses_are_reported(run_scenario, device_trust):
    request = b"GET / HTTP/1.1\r\nHost: open.test\r\nConnection: close\r\n\r\n"

    def client(kind, env):
        send_over_tls(env, device_trust, "open.test", request, "127.0.0.1")
        send_over_tls(env, device_trust, "open.test", request, "127.0.0.2")

    report = run_scenario(
        client, hosts=[{"host": "open.test", "pinned": False}], phases=["valid-ca"], timeout=3
    )
    counted = {c["address"] for c in report["clients"]["counted"]}
    assert counted == {"127.0.0.1", "127.0.0.2"}
    assert any("2 client addresses" in h and "--client" in h for h in report["hints"])


def test_a_refused_connect_is_not_reported_as_never_contacted(run_scenario, device_trust):
    from test_hostile_traffic import proxy_address

    with socket.socket() as probe:  # a port where nothing listens: the real server is down
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    answers = []

    def client(kind, env):
        # head and body may come in one read or two: read until the body's words are in
        with socket.create_connection(proxy_address(env), timeout=5) as sock:
            sock.sendall(b"CONNECT open.test:443 HTTP/1.1\r\nHost: open.test:443\r\n\r\n")
            answer = b""
            while b"Cannot conn" not in answer and (chunk := sock.recv(4096)):
                answer += chunk
            answers.append(answer)

    report = run_scenario(
        client,
        hosts=[{"host": "open.test", "pinned": True}],
        phases=["passthrough"],
        resolve={"open.test": f"127.0.0.1:{dead}"},
    )
    assert answers and answers[0].startswith(b"HTTP/1.1 502"), answers  # mitmproxy's 502
    assert b"Cannot conn" in answers[0], answers
    row = rows(report)[("open.test", "passthrough")]
    assert row["outcome"] == "not-seen" and row["verdict"] == "inconclusive"
    assert "asked the proxy for open.test once (CONNECT)" in row["reason"]
    assert "502" in row["reason"] and "did not contact" not in row["reason"]
    assert not any("never seen" in h or "wireguard" in h for h in report["hints"])


def test_stalled_connections_are_not_reported_as_never_contacted(run_scenario):
    from test_hostile_traffic import client_hello, connect_tunnel, proxy_address

    # an upstream that accepts and never answers; the app sends its ClientHello, then nothing
    # more until the phase ends and the proxy closes the connection
    with socket.create_server(("127.0.0.1", 0)) as silent:

        def client(kind, env):
            with connect_tunnel(proxy_address(env), "open.test") as sock:
                sock.sendall(client_hello("open.test"))
                sock.settimeout(30)
                with contextlib.suppress(OSError):
                    while sock.recv(4096):
                        pass

        report = run_scenario(
            client,
            hosts=[{"host": "open.test", "pinned": True}],
            phases=["self-signed"],
            resolve={"open.test": f"127.0.0.1:{silent.getsockname()[1]}"},
            timeout=6,
        )
    row = rows(report)[("open.test", "self-signed")]
    assert row["outcome"] == "not-seen" and row["evidence"]["stalled"] == 1
    assert "opened 1 connection to open.test" in row["reason"]
    assert "did not contact" not in row["reason"]
    assert not any("never seen" in h for h in report["hints"])

"""Real TLS clients through the real proxy against a stand-in upstream: outcomes and verdicts."""

from __future__ import annotations

import socket
import ssl
import subprocess

import pytest
from conftest import need, rows

from mitm_pincheck.backend import spki_pin

CORE = ["valid-ca", "self-signed", "wrong-key"]
SECRET = "Bearer s3cr3t-token-value"


def curl(env: dict, host: str, *args: str) -> int:
    """curl through the proxy, as "the app"; returns curl's exit code."""
    cmd = [
        need("curl"),
        "--silent",
        "--output",
        "/dev/null",
        "--max-time",
        "5",
        "--proxy",
        env["PINCHECK_PROXY"],
        "-H",
        f"Authorization: {SECRET}",
        *args,
        f"https://{host}/v1/account?token=query-secret",
    ]
    return subprocess.run(cmd, capture_output=True, timeout=20).returncode


def test_unpinned_curl_accepts_the_proxy_ca_and_rejects_the_rest(run_scenario, device_trust):
    report = run_scenario(
        lambda kind, env: curl(env, "open.test", "--cacert", str(device_trust)),
        hosts=[{"host": "open.test", "pinned": False}],
        phases=CORE,
    )
    r = rows(report)
    assert r[("open.test", "valid-ca")]["outcome"] == "accepted"
    assert r[("open.test", "self-signed")]["outcome"] == "rejected-in-handshake"
    assert r[("open.test", "wrong-key")]["outcome"] == "rejected-in-handshake"
    assert {row["verdict"] for row in report["results"]} == {"pass"}
    assert report["exit_code"] == 0
    assert "unknown_ca" in r[("open.test", "self-signed")]["evidence"]["alerts"]
    # the real chain was fetched (eager upstream connect): no stand-in, no fallback note
    assert r[("open.test", "wrong-key")]["evidence"]["notes"] == []
    assert r[("open.test", "valid-ca")]["evidence"]["notes"] == []


def test_curl_pinnedpubkey_rejects_after_the_handshake(
    run_scenario, device_trust, backend, tmp_path
):
    # keys.current is the server's own key: curl accepts it from the proxy CA, which proves
    # that it trusts the proxy CA for this host, so its refusal of valid-ca is the pin.
    (tmp_path / "server.pem").write_bytes(backend.key_path.read_bytes())
    (tmp_path / "server.pem").chmod(0o600)
    report = run_scenario(
        lambda kind, env: curl(
            env,
            "pinned.test",
            "--cacert",
            str(device_trust),
            "--pinnedpubkey",
            f"sha256//{backend.pin}",
        ),
        hosts=[{"host": "pinned.test", "pinned": True, "keys": {"current": "server.pem"}}],
        phases=[*CORE, "pinned-key"],
    )
    r = rows(report)
    assert r[("pinned.test", "valid-ca")]["outcome"] == "rejected-after-handshake"
    assert r[("pinned.test", "valid-ca")]["verdict"] == "pass"
    assert r[("pinned.test", "valid-ca")]["evidence"]["proof"]["source"] == "pinned-key"
    assert r[("pinned.test", "pinned-key")]["outcome"] == "accepted"
    assert r[("pinned.test", "self-signed")]["outcome"] == "rejected-in-handshake"
    assert r[("pinned.test", "wrong-key")]["outcome"] == "rejected-in-handshake"
    assert report["exit_code"] == 0
    assert report["ca_trust"]["sources"] == ["pinned-key"]


def test_trust_all_curl_fails_every_phase_and_names_the_leaked_credential(run_scenario, tmp_path):
    report = run_scenario(
        lambda kind, env: curl(env, "pinned.test", "--insecure"),
        hosts=[{"host": "pinned.test", "pinned": True}],
        phases=CORE,
    )
    for row in report["results"]:
        assert row["outcome"] == "accepted"
        assert row["verdict"] == "fail"
        assert "authorization" in row["evidence"]["credentials"]
        request = row["evidence"]["requests"][0]
        assert request["path"] == "/v1/account"
        assert request["has_query"] is True
    assert report["exit_code"] == 1
    # nothing of the traffic's values reaches any file the run wrote
    for path in (tmp_path / "out").iterdir():
        data = path.read_bytes()
        assert b"s3cr3t" not in data, path
        assert b"query-secret" not in data, path


def test_openssl_s_client_through_the_proxy(run_scenario, device_trust):
    openssl = need("openssl")

    def s_client(kind, env):
        proxy = env["PINCHECK_PROXY"].removeprefix("http://")
        subprocess.run(
            [openssl, "s_client", "-proxy", proxy, "-connect", "open.test:443"]
            + ["-servername", "open.test", "-CAfile", str(device_trust), "-verify_return_error"]
            + ["-verify_hostname", "open.test", "-quiet"],
            input=b"GET / HTTP/1.1\r\nHost: open.test\r\nConnection: close\r\n\r\n",
            capture_output=True,
            timeout=20,
        )

    report = run_scenario(s_client, hosts=[{"host": "open.test", "pinned": False}], phases=CORE)
    r = rows(report)
    assert r[("open.test", "valid-ca")]["outcome"] == "accepted"
    assert r[("open.test", "self-signed")]["outcome"] == "rejected-in-handshake"
    assert r[("open.test", "wrong-key")]["outcome"] == "rejected-in-handshake"
    assert report["exit_code"] == 0


def _tunnel(env: dict, host: str) -> socket.socket:
    from mitm_pincheck.demo import _tunnel as tunnel

    return tunnel(env["PINCHECK_PROXY"], host)


def test_python_ssl_pin_check_after_handshake_and_handshake_rejection(
    run_scenario, device_trust, backend
):
    def client(kind, env):
        ctx = ssl.create_default_context(cafile=str(device_trust))
        try:
            with ctx.wrap_socket(_tunnel(env, "pinned.test"), server_hostname="pinned.test") as s:
                from cryptography import x509

                leaf = x509.load_der_x509_certificate(s.getpeercert(binary_form=True))
                if spki_pin(leaf) != backend.pin:
                    return  # OkHttp-style: close without sending anything
                s.sendall(b"GET / HTTP/1.1\r\nHost: pinned.test\r\nConnection: close\r\n\r\n")
                s.recv(100)
        except ssl.SSLError:
            pass

    report = run_scenario(
        client, hosts=[{"host": "pinned.test", "pinned": True}], phases=CORE, ca_trust="system"
    )
    r = rows(report)
    assert r[("pinned.test", "valid-ca")]["outcome"] == "rejected-after-handshake"
    assert r[("pinned.test", "valid-ca")]["evidence"]["proof"] == {"source": "declared"}
    assert r[("pinned.test", "self-signed")]["outcome"] == "rejected-in-handshake"
    assert r[("pinned.test", "wrong-key")]["outcome"] == "rejected-in-handshake"
    assert {row["verdict"] for row in report["results"]} == {"pass"}


def test_no_false_pass_when_the_proxy_ca_is_not_installed(run_scenario, backend):
    # the device trusts only the real root: every valid-ca handshake fails, nothing proves the CA
    report = run_scenario(
        lambda kind, env: curl(env, "pinned.test", "--cacert", str(backend.ca_path)),
        hosts=[{"host": "pinned.test", "pinned": True}],
        phases=["valid-ca"],
    )
    row = rows(report)[("pinned.test", "valid-ca")]
    assert row["outcome"] == "rejected-in-handshake"
    assert row["verdict"] == "inconclusive"
    assert "CA" in row["reason"]
    assert report["ca_trust"]["sources"] == []
    assert report["exit_code"] == 3


def test_in_handshake_rejection_passes_once_a_control_host_of_the_app_proved_ca_trust(
    run_scenario, backend, device_trust
):
    def client(kind, env):
        curl(env, "open.test", "--cacert", str(device_trust))  # trusts the proxy CA
        curl(env, "pinned.test", "--cacert", str(backend.ca_path))  # rejects it in the handshake

    report = run_scenario(
        client,
        hosts=[
            {"host": "pinned.test", "pinned": True},
            {"host": "open.test", "pinned": False, "control": True},
        ],
        phases=["valid-ca"],
    )
    r = rows(report)
    assert r[("open.test", "valid-ca")]["verdict"] == "pass"
    assert r[("pinned.test", "valid-ca")]["outcome"] == "rejected-in-handshake"
    assert r[("pinned.test", "valid-ca")]["verdict"] == "pass"
    assert r[("pinned.test", "valid-ca")]["evidence"]["proof"] == {
        "source": "control",
        "host": "open.test",
    }


def test_host_never_contacted_is_inconclusive_not_seen(run_scenario, device_trust):
    report = run_scenario(
        lambda kind, env: curl(env, "open.test", "--cacert", str(device_trust)),
        hosts=[{"host": "open.test", "pinned": False}, {"host": "pinned.test", "pinned": True}],
        phases=["self-signed"],
        settle=0.2,
    )
    row = rows(report)[("pinned.test", "self-signed")]
    assert row["outcome"] == "not-seen"
    assert row["verdict"] == "inconclusive"
    assert row["connections"] == 0


def test_hosts_not_under_test_pass_through_with_the_real_certificate(run_scenario, backend):
    codes = []
    report = run_scenario(
        lambda kind, env: codes.append(
            curl(env, "bystander.test", "--cacert", str(backend.ca_path))
        ),
        hosts=[{"host": "pinned.test", "pinned": True}],
        phases=["self-signed"],
        timeout=2,
    )
    assert codes == [0]  # the real chain reached curl: it trusts only the real root
    assert rows(report)[("pinned.test", "self-signed")]["outcome"] == "not-seen"


def test_wildcard_host_gets_a_row_per_name_seen(run_scenario, device_trust):
    def client(kind, env):
        curl(env, "cdn.svc.test", "--cacert", str(device_trust))
        curl(env, "api.svc.test", "--cacert", str(device_trust))
        curl(env, "open.test", "--cacert", str(device_trust))  # not under test

    report = run_scenario(
        client, hosts=[{"host": "*.svc.test", "pinned": False}], phases=["valid-ca"]
    )
    assert [row["host"] for row in report["results"]] == ["api.svc.test", "cdn.svc.test"]
    assert all(row["evidence"]["pattern"] == "*.svc.test" for row in report["results"])
    assert {row["verdict"] for row in report["results"]} == {"pass"}


@pytest.mark.parametrize("max_version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_session_resumption_is_refused(run_scenario, device_trust, max_version):
    reused = []

    def client(kind, env):
        ctx = ssl.create_default_context(cafile=str(device_trust))
        ctx.maximum_version = max_version
        session = None
        for _ in range(2):
            with ctx.wrap_socket(
                _tunnel(env, "open.test"), server_hostname="open.test", session=session
            ) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: open.test\r\nConnection: close\r\n\r\n")
                while s.recv(4096):
                    pass
                reused.append(s.session_reused)
                session = s.session

    report = run_scenario(
        client, hosts=[{"host": "open.test", "pinned": False}], phases=["valid-ca"]
    )
    assert reused == [False, False]
    row = rows(report)[("open.test", "valid-ca")]
    assert row["connections"] == 2
    assert row["evidence"]["resumed"] == 0


def test_openssl_resumption_attempt_gets_a_new_session(run_scenario, device_trust, tmp_path):
    openssl = need("openssl")
    outputs = []
    sess = tmp_path / "session.pem"

    def client(kind, env):
        proxy = env["PINCHECK_PROXY"].removeprefix("http://")
        base = [openssl, "s_client", "-proxy", proxy, "-connect", "open.test:443"]
        base += ["-servername", "open.test", "-CAfile", str(device_trust), "-tls1_2"]
        first = subprocess.run(
            base + ["-sess_out", str(sess)], input=b"Q\n", capture_output=True, timeout=20
        )
        outputs.append(first.stdout.decode(errors="replace"))
        if sess.exists():  # only if the proxy handed out something resumable
            second = subprocess.run(
                base + ["-sess_in", str(sess)], input=b"Q\n", capture_output=True, timeout=20
            )
            outputs.append(second.stdout.decode(errors="replace"))

    run_scenario(client, hosts=[{"host": "open.test", "pinned": False}], phases=["valid-ca"])
    assert "New," in outputs[0]
    # No session id and no ticket: there is nothing to resume, so s_client saves no session.
    assert not sess.exists() or ("New," in outputs[1] and "Reused," not in outputs[1])
    assert "TLS session ticket:" not in outputs[0]

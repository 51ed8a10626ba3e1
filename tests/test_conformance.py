"""The conformance matrix: real client stacks through the real proxy, every kind, every cell.

Each client stack runs one scenario with every kind as a phase (catalogue order); each of its
variants talks to a host of its own, so one run covers them all. The "device" trusts the
stand-in upstream's root plus the proxy CA, as a phone with a user-installed CA does. For every
(variant, kind) the test asserts the outcome the proxy saw, the alert where there is one, and
the verdict. The cells are what these clients really do, bugs included: a trust-all OkHttp
fails every negative kind, and `openssl s_client` without `-verify_hostname` accepts a
certificate for another host.

`make conformance` (tools/conformance.py) runs this module and writes the matrix to
docs/conformance.md; `test_the_committed_matrix_is_current` keeps that file honest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import write_scenario
from cryptography import x509

from mitm_pincheck.backend import Backend, spki_pin
from mitm_pincheck.verdicts.kinds import KINDS

REPO = Path(__file__).resolve().parents[1]
CLIENTS = Path(__file__).resolve().parent / "clients"
DOC = REPO / "docs" / "conformance.md"
DOC_ENV = "PINCHECK_CONFORMANCE_DOC"  # set by tools/conformance.py: write the matrix there
JARS = ("/usr/share/java/okhttp.jar", "/usr/share/java/okio.jar")
KIND_ORDER = tuple(KINDS)
SETTLE = 0.5

# ---- the matrix ----------------------------------------------------------------------------
#
# A cell is "OUTCOME VERDICT": OUTCOME is `accepted`, `in:ALERT` (rejected in the handshake) or
# `after:ALERT` (rejected after it), ALERT being the first alert the proxy received, or `none`;
# VERDICT is pass, FAIL or inconclusive.

# Refused by every correct client: the kinds that intercept, less valid-ca and the key kinds.
NEGATIVE = tuple(
    k for k, kind in KINDS.items() if k != "valid-ca" and kind.intercepts and not kind.key_role
)
ACCEPTS = "accepted pass"
# Every variant's host has keys.current = the upstream's own key (the intermediate's for the
# intermediate pin), so pinned-key is accepted by all and proves, per host, that the client
# trusts the proxy CA; and one backup key no variant pins, so a pinning client's backup-key
# row is the rotation outage (FAIL) and an unpinned one accepts it.
KEYS_OK = {"pinned-key": ACCEPTS, "backup-key": ACCEPTS}


def _passes(cells: dict[str, str]) -> dict[str, str]:
    return {kind: f"{outcome} pass" for kind, outcome in cells.items()}


# What each TLS stack's own certificate check does with the kinds every client must refuse.
OPENSSL_REFUSES = _passes(
    {
        "self-signed": "in:unknown_ca",
        "wrong-key": "in:decrypt_error",
        "untrusted-ca": "in:unknown_ca",
        "wrong-host": "in:bad_certificate",
        "expired": "in:certificate_expired",
        "not-yet-valid": "in:bad_certificate",
        "leaf-as-ca": "in:unknown_ca",
        "spliced-chain": "in:unknown_ca",
    }
)
# The JDK sends certificate_unknown for every trust failure; OkHttp checks the host name after
# the handshake and closes with user_canceled + close_notify, as the JDK closes TLS 1.3.
JDK_REFUSES = _passes(
    {**{k: "in:certificate_unknown" for k in NEGATIVE}, "wrong-host": "after:user_canceled"}
)
# curl checks the host name itself once OpenSSL's handshake is done.
CURL_REFUSES = {**OPENSSL_REFUSES, "wrong-host": "after:close_notify pass"}
# Node verifies in JavaScript after OpenSSL's handshake, then destroys the socket before its
# Finished leaves: no alert, and from the proxy the handshake never completed.
NODE_REFUSES = _passes({k: "in:none" for k in NEGATIVE})
NODE12_REFUSES = _passes({k: "after:none" for k in NEGATIVE})
TRUSTS_ALL = {k: "accepted FAIL" for k in NEGATIVE}
# A JDK TrustManager that accepts any chain carrying the pinned intermediate, unvalidated: the
# real intermediate comes with wrong-key and spliced-chain, nowhere else.
PINS_ANYWHERE = {
    **JDK_REFUSES,
    "wrong-host": "in:certificate_unknown pass",
    "wrong-key": "accepted FAIL",
    "spliced-chain": "accepted FAIL",
}
# The stand-in upstream's key is EC: a client limited to RSA certificates cannot talk to it
# (passthrough: the server refuses it; wrong-key and spliced-chain keep its key type), and the
# proxy says so instead of calling it a refusal.
RSA_ONLY = {
    **CURL_REFUSES,
    "passthrough": "not-seen inconclusive",
    "wrong-key": "incompatible inconclusive",
    "spliced-chain": "incompatible inconclusive",
}


@dataclass(frozen=True)
class Variant:
    host: str
    stack: str
    mode: str  # what the stack's client is told to be
    label: str
    pinned: bool
    cells: dict[str, str]
    tls: str = "1.3"  # the highest version the client offers
    at: str = "leaf"  # where the pinned key sits: keys.at in the scenario

    def __post_init__(self):
        assert sorted(self.cells) == sorted(KIND_ORDER), self.host


OKHTTP = "OkHttp 3.13 on the JDK"
CURL = "curl"
NODE = "Node.js tls"
OPENSSL = "openssl s_client"
PYTHON = "Python ssl"

VARIANTS = (
    Variant(
        "okhttp-leaf.conf.test",
        OKHTTP,
        "leaf-pin",
        "CertificatePinner on the leaf key",
        pinned=True,
        cells={
            "valid-ca": "after:user_canceled pass",
            "passthrough": ACCEPTS,
            **JDK_REFUSES,
            **KEYS_OK,
            "backup-key": "after:user_canceled FAIL",
        },
    ),
    Variant(
        "okhttp-intermediate.conf.test",
        OKHTTP,
        "intermediate-pin",
        "CertificatePinner on the intermediate key",
        pinned=True,
        cells={
            "valid-ca": "after:user_canceled pass",
            "passthrough": ACCEPTS,
            **JDK_REFUSES,
            **KEYS_OK,
            "backup-key": "after:user_canceled FAIL",
        },
        at="intermediate",
    ),
    Variant(
        "okhttp-unpinned.conf.test",
        OKHTTP,
        "unpinned",
        "device trust store, no pins",
        pinned=False,
        cells={"valid-ca": ACCEPTS, "passthrough": ACCEPTS, **JDK_REFUSES, **KEYS_OK},
    ),
    Variant(
        "okhttp-trustall.conf.test",
        OKHTTP,
        "trust-all",
        "trust-all TrustManager and HostnameVerifier",
        pinned=False,
        cells={"valid-ca": ACCEPTS, "passthrough": ACCEPTS, **TRUSTS_ALL, **KEYS_OK},
    ),
    Variant(
        "okhttp-chainpin.conf.test",
        OKHTTP,
        "chain-pin",
        "pin looked for anywhere in the presented chain, chain not validated",
        pinned=True,
        cells={
            "valid-ca": "in:certificate_unknown pass",
            "passthrough": ACCEPTS,
            **PINS_ANYWHERE,
            "pinned-key": ACCEPTS,
            "backup-key": "in:certificate_unknown FAIL",
        },
        at="intermediate",
    ),
    Variant(
        "curl-pinned.conf.test",
        CURL,
        "pinned",
        "`--pinnedpubkey` on the leaf key",
        pinned=True,
        cells={
            "valid-ca": "after:close_notify pass",
            "passthrough": ACCEPTS,
            **CURL_REFUSES,
            **KEYS_OK,
            "backup-key": "after:close_notify FAIL",
        },
    ),
    Variant(
        "curl-unpinned.conf.test",
        CURL,
        "unpinned",
        "`--cacert` only",
        pinned=False,
        cells={"valid-ca": ACCEPTS, "passthrough": ACCEPTS, **CURL_REFUSES, **KEYS_OK},
    ),
    Variant(
        "curl-rsa.conf.test",
        CURL,
        "rsa-only",
        "`--tls-max 1.2 --ciphers aRSA`: RSA certificates only",
        pinned=False,
        # the team's keys are EC, like the upstream's: no certificate it can use
        cells={
            "valid-ca": ACCEPTS,
            **RSA_ONLY,
            "pinned-key": "incompatible inconclusive",
            "backup-key": "incompatible inconclusive",
        },
        tls="1.2",
    ),
    Variant(
        "curl-tls12.conf.test",
        CURL,
        "tls12",
        "`--tls-max 1.2`, `--cacert` only",
        pinned=False,
        cells={"valid-ca": ACCEPTS, "passthrough": ACCEPTS, **CURL_REFUSES, **KEYS_OK},
        tls="1.2",
    ),
    Variant(
        "node-pinned.conf.test",
        NODE,
        "pinned",
        "leaf pin checked in `checkServerIdentity`",
        pinned=True,
        cells={
            "valid-ca": "in:none pass",
            "passthrough": ACCEPTS,
            **NODE_REFUSES,
            **KEYS_OK,
            "backup-key": "in:none FAIL",
        },
    ),
    Variant(
        "node-unpinned.conf.test",
        NODE,
        "unpinned",
        "`ca` option only",
        pinned=False,
        cells={"valid-ca": ACCEPTS, "passthrough": ACCEPTS, **NODE_REFUSES, **KEYS_OK},
    ),
    # On TLS 1.2 Node sends its Finished before it verifies: every refusal moves after the
    # handshake. Only a proof of CA trust (pinned-key here) lets such a refusal count.
    Variant(
        "node12-pinned.conf.test",
        NODE,
        "pinned@TLSv1.2",
        "leaf pin checked in `checkServerIdentity`",
        pinned=True,
        cells={
            "valid-ca": "after:none pass",
            "passthrough": ACCEPTS,
            **NODE12_REFUSES,
            **KEYS_OK,
            "backup-key": "after:none FAIL",
        },
        tls="1.2",
    ),
    Variant(
        "node12-unpinned.conf.test",
        NODE,
        "unpinned@TLSv1.2",
        "`ca` option only",
        pinned=False,
        cells={"valid-ca": ACCEPTS, "passthrough": ACCEPTS, **NODE12_REFUSES, **KEYS_OK},
        tls="1.2",
    ),
    Variant(
        "openssl-nohostname.conf.test",
        OPENSSL,
        "no-hostname",
        "`-verify_return_error`, no `-verify_hostname`",
        pinned=False,
        cells={
            "valid-ca": ACCEPTS,
            "passthrough": ACCEPTS,
            **OPENSSL_REFUSES,
            "wrong-host": "accepted FAIL",  # it checks the chain, not the name
            **KEYS_OK,
        },
    ),
    Variant(
        "openssl-hostname.conf.test",
        OPENSSL,
        "hostname",
        "`-verify_return_error -verify_hostname`",
        pinned=False,
        cells={"valid-ca": ACCEPTS, "passthrough": ACCEPTS, **OPENSSL_REFUSES, **KEYS_OK},
    ),
    Variant(
        "python-pinned.conf.test",
        PYTHON,
        "pinned",
        "default context, leaf pin checked after the handshake",
        pinned=True,
        cells={
            "valid-ca": "after:none pass",
            "passthrough": ACCEPTS,
            **OPENSSL_REFUSES,
            **KEYS_OK,
            "backup-key": "after:none FAIL",
        },
    ),
    Variant(
        "python-unpinned.conf.test",
        PYTHON,
        "unpinned",
        "`ssl.create_default_context(cafile=...)`",
        pinned=False,
        cells={"valid-ca": ACCEPTS, "passthrough": ACCEPTS, **OPENSSL_REFUSES, **KEYS_OK},
    ),
)
STACKS = tuple(dict.fromkeys(v.stack for v in VARIANTS))
HOSTS = tuple(v.host for v in VARIANTS)

# What each run saw, for the doc: host -> kind -> cell; and what the clients said.
OBSERVED: dict[str, dict[str, str]] = {}
SAID: dict[str, dict[str, list[str]]] = {}


def cell_of(row: dict) -> str:
    """A report row as a matrix cell."""
    outcome = row["outcome"]
    verdict = "FAIL" if row["verdict"] == "fail" else row["verdict"]
    if outcome in ("rejected-in-handshake", "rejected-after-handshake"):
        alerts = row["evidence"]["alerts"]
        where = "in" if outcome == "rejected-in-handshake" else "after"
        outcome = f"{where}:{alerts[0] if alerts else 'none'}"
    return f"{outcome} {verdict}"


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> Backend:
    """The "real" server for every variant's host: root -> intermediate -> leaf."""
    with Backend.create(tmp_path_factory.mktemp("conformance-upstream"), HOSTS) as b:
        yield b


@pytest.fixture(scope="module")
def phone_trust(tmp_path_factory, upstream, proxy_ca) -> Path:
    """The device's trust store: the real root plus the user-installed proxy CA."""
    path = tmp_path_factory.mktemp("conformance-trust") / "device-trust.pem"
    path.write_bytes(upstream.ca_path.read_bytes() + proxy_ca.read_bytes())
    return path


def _missing(what: str) -> None:
    """Skip a stack whose client is not installed; but a run that writes the doc needs all."""
    (pytest.fail if os.environ.get(DOC_ENV) else pytest.skip)(f"{what} (.ci/run installs it)")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        _missing(f"{name} is not installed")
    return path


@pytest.fixture(scope="module")
def okhttp_command(tmp_path_factory) -> list[str]:
    """`java ... PinClient`, compiled here against Debian's OkHttp and Okio jars."""
    javac, java = _tool("javac"), _tool("java")
    missing = [jar for jar in JARS if not Path(jar).exists()]
    if missing:
        _missing(f"{', '.join(missing)} not found: Debian's libokhttp-java is not installed")
    out = tmp_path_factory.mktemp("pinclient")
    classpath = ":".join(JARS)
    javac_run = subprocess.run(
        [javac, "-nowarn", "-cp", classpath, "-d", str(out)]
        + [str(CLIENTS / "PinClient.java"), str(CLIENTS / "DeviceTrust.java")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert javac_run.returncode == 0, f"PinClient.java does not compile:\n{javac_run.stderr}"
    # C1 only and class-data sharing: each phase starts a JVM, and start-up is most of it.
    return [java, "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-cp", f"{classpath}:{out}"]


# ---- the client stacks: each is (kind, env) -> what the clients printed ------------------------


def _proxy(env: dict) -> tuple[str, str]:
    host, _, port = env["PINCHECK_PROXY"].removeprefix("http://").rpartition(":")
    return host, port


def _run(cmd: list[str], **kwargs) -> list[str]:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, **kwargs)
    return (p.stdout + p.stderr).strip().splitlines()


def okhttp_stack(request, upstream, trust) -> Callable[[str, dict], list[str]]:
    command = request.getfixturevalue("okhttp_command")

    def run(kind, env):
        host, port = _proxy(env)
        specs = [f"{v.mode}={v.host}" for v in _of(OKHTTP)]
        pins = [upstream.pin, upstream.intermediate_pin]
        return _run([*command, "PinClient", host, port, str(trust), *pins, *specs])

    return run


def curl_stack(request, upstream, trust):
    curl = _tool("curl")

    def one(env, host, *args):
        cmd = [curl, "--silent", "--show-error", "--output", "/dev/null", "--max-time", "5"]
        cmd += ["--proxy", env["PINCHECK_PROXY"], "--cacert", str(trust), *args]
        cmd += ["-H", "Authorization: Bearer curl-secret", f"https://{host}/v1/account"]
        return _run(cmd) or ["ok"]

    def run(kind, env):
        pinned = one(env, _host(CURL, "pinned"), "--pinnedpubkey", f"sha256//{upstream.pin}")
        rsa = one(env, _host(CURL, "rsa-only"), "--tls-max", "1.2", "--ciphers", "aRSA")
        tls12 = one(env, _host(CURL, "tls12"), "--tls-max", "1.2")
        return pinned + one(env, _host(CURL, "unpinned")) + rsa + tls12

    return run


def node_stack(request, upstream, trust):
    node = _tool("node")

    def run(kind, env):
        specs = [f"{v.mode}={v.host}" for v in _of(NODE)]
        script = str(CLIENTS / "pin_client.js")
        return _run([node, script, env["PINCHECK_PROXY"], str(trust), upstream.pin, *specs])

    return run


def openssl_stack(request, upstream, trust):
    openssl = _tool("openssl")

    def one(env, host, *args):
        host_port = ":".join(_proxy(env))
        cmd = [openssl, "s_client", "-proxy", host_port, "-connect", f"{host}:443"]
        cmd += ["-servername", host, "-CAfile", str(trust), "-verify_return_error", "-quiet"]
        request = f"GET /v1/account HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        lines = _run([*cmd, *args], input=request)
        return [line for line in lines if "error" in line or line.startswith("HTTP/")][:2]

    def run(kind, env):
        host = _host(OPENSSL, "hostname")
        return one(env, _host(OPENSSL, "no-hostname")) + one(env, host, "-verify_hostname", host)

    return run


def python_stack(request, upstream, trust):
    from mitm_pincheck.demo import _tunnel

    def one(env, host, pin):
        context = ssl.create_default_context(cafile=str(trust))
        try:
            raw = _tunnel(env["PINCHECK_PROXY"], host)
            with context.wrap_socket(raw, server_hostname=host) as s:
                leaf = x509.load_der_x509_certificate(s.getpeercert(binary_form=True))
                if pin and spki_pin(leaf) != pin:
                    return "pin mismatch: closed without sending"
                s.sendall(f"GET /v1/account HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                return s.recv(100).split(b"\r\n", 1)[0].decode()
        except (OSError, ssl.SSLError) as e:
            return f"{type(e).__name__}: {e}"

    def run(kind, env):
        return [
            one(env, _host(PYTHON, "pinned"), upstream.pin),
            one(env, _host(PYTHON, "unpinned"), None),
        ]

    return run


STACK_CLIENTS = {
    OKHTTP: okhttp_stack,
    CURL: curl_stack,
    NODE: node_stack,
    OPENSSL: openssl_stack,
    PYTHON: python_stack,
}


def _of(stack: str) -> list[Variant]:
    return [v for v in VARIANTS if v.stack == stack]


def _host(stack: str, mode: str) -> str:
    return next(v.host for v in _of(stack) if v.mode == mode)


# ---- running a stack -----------------------------------------------------------------------


def run_scenario(tmp_path, upstream, confdir, client, **fields) -> dict:
    """Run a scenario through the real proxy; `client(kind, env)` is the trigger, in a thread."""
    from mitm_pincheck import scenario as scenario_mod
    from mitm_pincheck.proxy.runner import RunConfig, run

    async def trigger(kind: str, env: dict) -> None:
        await asyncio.to_thread(client, kind, env)

    config = RunConfig(
        scenario=scenario_mod.load(write_scenario(tmp_path, upstream, **fields)),
        out_dir=tmp_path / "out",
        listen_host="127.0.0.1",
        listen_port=0,
        confdir=confdir,
        trigger_fn=trigger,
    )
    return asyncio.run(run(config))


def run_stack(tmp_path, upstream, confdir, stack, client) -> dict:
    said = SAID[stack] = {}

    def trigger(kind, env):
        said.setdefault(kind, []).extend(client(kind, env))

    keys = _key_files(tmp_path, upstream)
    return run_scenario(
        tmp_path,
        upstream,
        confdir,
        trigger,
        name=f"conformance: {stack}",
        hosts=[
            {
                "host": v.host,
                "pinned": v.pinned,
                "keys": {"current": keys[v.at], "backup": [keys["backup"]], "at": v.at},
            }
            for v in _of(stack)
        ],
        phases=list(KIND_ORDER),
        settle=SETTLE,
        timeout=20,
    )


def _key_files(directory: Path, upstream: Backend) -> dict[str, str]:
    """The upstream's own keys and a backup key nobody pins, as the scenario names them."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from mitm_pincheck.backend import write_private_key

    keys = directory / "keys"
    keys.mkdir(exist_ok=True)
    for name, source in (
        ("leaf", upstream.key_path),
        ("intermediate", upstream.intermediate_key_path),
    ):
        (keys / f"{name}.pem").unlink(missing_ok=True)
        (keys / f"{name}.pem").write_bytes(source.read_bytes())
        (keys / f"{name}.pem").chmod(0o600)
    write_private_key(keys / "backup.pem", ec.generate_private_key(ec.SECP256R1()))
    return {
        "leaf": "keys/leaf.pem",
        "intermediate": "keys/intermediate.pem",
        "backup": "keys/backup.pem",
    }


@pytest.mark.slow
@pytest.mark.parametrize("stack", STACKS)
def test_every_kind_against_a_real_client_stack(
    stack, request, tmp_path, upstream, confdir, phone_trust
):
    client = STACK_CLIENTS[stack](request, upstream, phone_trust)
    report = run_stack(tmp_path, upstream, confdir, stack, client)
    rows = {(r["host"], r["phase"]): r for r in report["results"]}
    got, want = {}, {}
    for v in _of(stack):
        OBSERVED[v.host] = {k: cell_of(rows[(v.host, k)]) for k in KIND_ORDER}
        for kind in KIND_ORDER:
            got[(v.mode, kind)] = OBSERVED[v.host][kind]
            want[(v.mode, kind)] = v.cells[kind]
    said = "\n".join(f"  {k}: {' | '.join(lines)}" for k, lines in SAID[stack].items())
    assert got == want, f"{stack}: the clients said\n{said}"
    # Every refusal of a proxy-CA kind rests on a proof for its own host: a pinning client's on
    # its pinned-key acceptance, an unpinned one's on that or its own acceptance of valid-ca.
    for v in _of(stack):
        for kind in KIND_ORDER:
            row = rows[(v.host, kind)]
            if KINDS[kind].needs_ca_trust and row["outcome"].startswith("rejected"):
                proof = row["evidence"]["proof"]
                assert proof is not None and proof["host"] == v.host, (v.host, kind)
                if v.pinned:
                    assert proof["source"] == "pinned-key", (v.host, kind)


# ---- passthrough: what the proxy reads off records it cannot decrypt ------------------------


@pytest.mark.slow
def test_passthrough_outcomes_from_the_records(tmp_path, upstream, confdir, phone_trust):
    """Accepted, refused in the handshake, closed after it: each recognized without a key."""
    from mitm_pincheck.demo import _tunnel

    hosts = {
        "request": "python-unpinned.conf.test",
        "refuses": "python-pinned.conf.test",
        "closes": "curl-unpinned.conf.test",
        "polite": "curl-pinned.conf.test",
        "idle": "node-pinned.conf.test",
    }
    opened: list[ssl.SSLSocket] = []

    def client(kind, env):
        trusting = ssl.create_default_context(cafile=str(phone_trust))
        proxy = env["PINCHECK_PROXY"]
        host = hosts["request"]
        with trusting.wrap_socket(_tunnel(proxy, host), server_hostname=host) as s:
            s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            while s.recv(4096):
                pass
        strict = ssl.create_default_context()  # the system store: no stand-in root
        with pytest.raises(ssl.SSLCertVerificationError):
            strict.wrap_socket(_tunnel(proxy, hosts["refuses"]), server_hostname=hosts["refuses"])
        tls12 = ssl.create_default_context(cafile=str(phone_trust))
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        s = tls12.wrap_socket(_tunnel(proxy, hosts["closes"]), server_hostname=hosts["closes"])
        socket.socket(fileno=s.detach()).close()  # no close_notify: just the TCP close
        s = trusting.wrap_socket(_tunnel(proxy, hosts["polite"]), server_hostname=hosts["polite"])
        with contextlib.suppress(OSError):  # the server may close before answering in kind
            s.unwrap()
        s.close()
        idle = _tunnel(proxy, hosts["idle"])
        opened.append(trusting.wrap_socket(idle, server_hostname=hosts["idle"]))

    report = run_scenario(
        tmp_path,
        upstream,
        confdir,
        client,
        hosts=[{"host": h, "pinned": False} for h in hosts.values()],
        phases=["passthrough"],
        settle=0.3,
    )
    rows = {r["host"]: r for r in report["results"] if r["phase"] == "passthrough"}
    assert rows[hosts["request"]]["outcome"] == "accepted"
    assert rows[hosts["request"]]["verdict"] == "pass"
    assert rows[hosts["refuses"]]["outcome"] == "rejected-in-handshake"
    assert rows[hosts["refuses"]]["evidence"]["alerts"] == ["unknown_ca"]
    assert rows[hosts["refuses"]]["verdict"] == "fail"  # it does not work through the proxy
    assert rows[hosts["closes"]]["outcome"] == "rejected-after-handshake"
    assert rows[hosts["polite"]]["outcome"] == "rejected-after-handshake"
    assert rows[hosts["polite"]]["evidence"]["alerts"] == ["encrypted"]
    # still open when the phase ended: the phase's end closed it, and nobody refused anything
    assert rows[hosts["idle"]]["outcome"] == "idle"
    assert opened[0].recv(10) == b""
    opened[0].close()
    events = _journal(tmp_path / "out")
    idle_id = next(e["id"] for e in events if e.get("host") == hosts["idle"])
    assert {"event": "closed", "id": idle_id, "by": "proxy"} in events
    assert {e.get("tls_version") for e in events if e["event"] == "handshake"} == {
        "TLSv1.2",
        "TLSv1.3",
    }


@pytest.mark.slow
def test_hosts_not_under_test_stay_untouched_in_a_passthrough_phase(tmp_path, upstream, confdir):
    """No tracking, no hooks: the rest of the device keeps working exactly as before."""
    from mitm_pincheck.demo import _tunnel

    answers = []

    def client(kind, env):
        real_only = ssl.create_default_context(cafile=str(upstream.ca_path))
        host = "python-pinned.conf.test"
        with real_only.wrap_socket(_tunnel(env["PINCHECK_PROXY"], host), server_hostname=host) as s:
            s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            answers.append(s.recv(12))

    run_scenario(
        tmp_path,
        upstream,
        confdir,
        client,
        hosts=[{"host": "python-unpinned.conf.test", "pinned": False}],
        phases=["passthrough"],
        settle=0.2,
        timeout=2,
    )
    assert answers == [b"HTTP/1.1 200"]
    assert [e for e in _journal(tmp_path / "out") if e["event"] == "conn"] == []


def _journal(out: Path) -> list[dict]:
    events = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    for e in events:
        e.pop("ts", None)
    return events


# ---- the document --------------------------------------------------------------------------

MARK_START = "<!-- matrix: generated by `make conformance`; edit around it, not inside -->"
MARK_END = "<!-- matrix end -->"
SYMBOL = {"pass": "✅", "FAIL": "❌", "inconclusive": "❔"}


def render_matrix(observed: dict[str, dict[str, str]] | None = None) -> str:
    """The matrix as a Markdown table: what was observed (host -> kind -> cell), a mismatch
    marked with what was expected; without `observed`, the expected cells."""
    head = ["client", "variant", "TLS", "pinned", *(f"`{k}`" for k in KIND_ORDER)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for v in VARIANTS:
        row = [v.stack, v.label, v.tls, "yes" if v.pinned else "no"]
        for kind in KIND_ORDER:
            want = v.cells[kind]
            if observed is None:
                row.append(_render_cell(want))
            elif (got := observed.get(v.host, {}).get(kind)) is None:
                row.append("not run")
            else:
                row.append(_render_cell(got) + ("" if got == want else f" (expected {want})"))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _render_cell(cell: str) -> str:
    outcome, verdict = cell.rsplit(" ", 1)
    if ":" in outcome:
        where, alert = outcome.split(":", 1)
        outcome = f"{where} handshake, " + ("no alert" if alert == "none" else f"`{alert}`")
    return f"{SYMBOL[verdict]} {outcome}"


def client_versions() -> str:
    """One line naming the clients that produced the matrix."""

    def version(*cmd: str, word: int = 1) -> str:
        if shutil.which(cmd[0]) is None:
            return "missing"
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        words = (p.stdout or p.stderr).split()
        return words[word].strip('"') if len(words) > word else "?"

    jars = sorted(Path(JARS[0]).parent.glob("okhttp-[0-9]*.jar"))
    okhttp = jars[-1].stem.removeprefix("okhttp-") if jars else "?"
    return (
        f"Measured with OkHttp {okhttp} on OpenJDK {version('java', '-version', word=2)}, "
        f"curl {version('curl', '--version')}, Node.js {version('node', '--version', word=0)}, "
        f"OpenSSL {version('openssl', 'version')}, Python {sys.version.split()[0]} "
        f"({' '.join(ssl.OPENSSL_VERSION.split()[:2])})."
    )


def write_doc(path: Path, observed: dict[str, dict[str, str]]) -> None:
    """Replace the generated part of `path` with the matrix; keep the prose around it."""
    text = path.read_text() if path.exists() else f"# Conformance\n\n{MARK_START}\n{MARK_END}\n"
    before, rest = text.split(MARK_START, 1)
    after = rest.split(MARK_END, 1)[1]
    block = f"{client_versions()}\n\n{render_matrix(observed)}"
    path.write_text(f"{before}{MARK_START}\n{block}\n{MARK_END}{after}")


def test_the_committed_matrix_is_current():
    generated = DOC.read_text().split(MARK_START, 1)[1].split(MARK_END, 1)[0]
    table = "\n".join(line for line in generated.splitlines() if line.startswith("|"))
    assert table == render_matrix(), "run `make conformance` and commit docs/conformance.md"


@pytest.fixture(scope="module", autouse=True)
def _write_the_doc():
    yield
    target = os.environ.get(DOC_ENV)
    if target and OBSERVED:
        write_doc(Path(target), OBSERVED)
        print(f"\nwrote {target}", file=sys.stderr)

"""An upstream that is down, silent, or serves garbage: the forged kinds need no upstream, so a
certificate is still presented and judged; `wrong-key` says it fell back; nothing hangs past the
scenario's `timeout`. One run covers all three upstreams (one host each), to keep CI fast."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import threading
import time

import pytest
from conftest import need, rows, write_scenario

PHASES = ["valid-ca", "self-signed", "wrong-key"]
TIMEOUT = 6  # per phase; curl gives up just before it
UPSTREAMS = ("closed", "silent", "garbage")


def host_of(upstream: str) -> str:
    return f"{upstream}.test"


class BadUpstreams:
    """A closed port, a server that accepts and never answers, a server that answers junk."""

    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.closed_port = s.getsockname()[1]  # nothing listens here once it is closed
        self.silent = socket.create_server(("127.0.0.1", 0))
        self.garbage = socket.create_server(("127.0.0.1", 0))
        self.held: list[socket.socket] = []
        for server, answer in ((self.silent, None), (self.garbage, self._junk)):
            threading.Thread(target=self._serve, args=(server, answer), daemon=True).start()

    @staticmethod
    def _junk(conn: socket.socket) -> None:
        conn.recv(4096)  # the ClientHello
        conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n" + bytes(range(256)) * 4)
        conn.close()

    def _serve(self, server: socket.socket, answer) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed at teardown
            self.held.append(conn)
            if answer is not None:
                with contextlib.suppress(OSError):
                    answer(conn)

    def resolve(self) -> dict[str, str]:
        return {
            host_of("closed"): f"127.0.0.1:{self.closed_port}",
            host_of("silent"): f"127.0.0.1:{self.silent.getsockname()[1]}",
            host_of("garbage"): f"127.0.0.1:{self.garbage.getsockname()[1]}",
        }

    def close(self) -> None:
        for s in [self.silent, self.garbage, *self.held]:
            with contextlib.suppress(OSError):
                s.close()


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, backend, confdir):
    """One run, three hosts under test whose upstreams misbehave; curl -k as the app."""
    from mitm_pincheck import scenario as scenario_mod
    from mitm_pincheck.proxy.runner import RunConfig, run

    curl = need("curl")
    upstreams = BadUpstreams()
    tmp = tmp_path_factory.mktemp("bad-upstream")
    path = write_scenario(
        tmp,
        backend,
        hosts=[{"host": host_of(u), "pinned": True} for u in UPSTREAMS],
        phases=PHASES,
        timeout=TIMEOUT,
        resolve=upstreams.resolve(),
    )
    codes: dict[tuple[str, str], int] = {}

    def one(kind: str, env: dict, upstream: str) -> None:
        cmd = [curl, "--silent", "--insecure", "--output", "/dev/null"]
        cmd += ["--max-time", str(TIMEOUT - 0.5), "--proxy", env["PINCHECK_PROXY"]]
        cmd += [f"https://{host_of(upstream)}/v1/ping"]
        codes[(host_of(upstream), kind)] = subprocess.run(cmd, capture_output=True).returncode

    async def trigger(kind: str, env: dict) -> None:
        await asyncio.gather(*(asyncio.to_thread(one, kind, env, u) for u in UPSTREAMS))

    config = RunConfig(
        scenario=scenario_mod.load(path),
        out_dir=tmp / "out",
        listen_host="127.0.0.1",
        listen_port=0,
        confdir=confdir,
        trigger_fn=trigger,
    )
    started = time.monotonic()
    try:
        report = asyncio.run(run(config))
    finally:
        upstreams.close()
    return {"report": report, "elapsed": time.monotonic() - started, "codes": codes}


def test_nothing_hangs_past_the_timeout(bad_run):
    limit = len(PHASES) * TIMEOUT + 5
    assert bad_run["elapsed"] <= limit
    assert bad_run["report"]["duration"] <= limit
    assert bad_run["report"]["interrupted"] is False


def assert_presented_and_judged(report: dict, upstream: str) -> None:
    host = host_of(upstream)
    r = rows(report)
    for kind in PHASES:
        row = r[(host, kind)]
        # curl -k accepts whatever it is shown: a certificate was presented and the request sent
        assert row["outcome"] == "accepted", (kind, row["outcome"], row["reason"])
        assert row["verdict"] == "fail", row  # host is pinned: the trust-all client leaks
        assert row["connections"] >= 1
    notes = r[(host, "wrong-key")]["evidence"]["notes"]
    assert any("unavailable" in n and "stand-in" in n for n in notes), notes
    names_note = r[(host, "valid-ca")]["evidence"]["notes"]
    assert any("unavailable" in n for n in names_note), names_note


def test_upstream_serving_garbage_still_gets_every_forged_kind(bad_run):
    assert_presented_and_judged(bad_run["report"], "garbage")


def test_upstream_port_closed_still_gets_every_forged_kind(bad_run):
    assert_presented_and_judged(bad_run["report"], "closed")


def test_upstream_that_never_answers_still_gets_every_forged_kind(bad_run):
    assert_presented_and_judged(bad_run["report"], "silent")

"""The reaches into mitmproxy and pyOpenSSL internals (mitm_pincheck/internals.py), on real
objects where they exist. The end-to-end effect (a phase change closes live connections) is in
tests/test_run_cli.py."""

from __future__ import annotations

import asyncio

import pytest
from mitmproxy import connection, options
from mitmproxy.tools.dump import DumpMaster
from OpenSSL import SSL

from mitm_pincheck.proxy import internals


class _Handler:
    """Has the two attributes of mitmproxy's ProxyConnectionHandler that internals.py uses."""

    def __init__(self, server=None):
        self.client = connection.Client(
            peername=("127.0.0.1", 1), sockname=("127.0.0.1", 2), timestamp_start=0
        )
        self.transports = {server: object()} if server is not None else {}
        self.closed = []

    def close_connection(self, conn):
        self.closed.append(conn)


def _with_master(fn):
    async def go():
        master = DumpMaster(options.Options(), with_termlog=False, with_dumper=False)
        return fn(master, master.addons.get("proxyserver").connections)

    return asyncio.run(go())


def test_proxyserver_keeps_live_connections_where_internals_looks():
    assert _with_master(lambda master, conns: isinstance(conns, dict))


@pytest.mark.parametrize("registered", [True, False])
def test_close_client_connection_closes_the_registered_client(registered):
    handler = _Handler()

    def go(master, conns):
        if registered:
            conns["cid"] = handler
        return internals.close_client_connection(master, "cid")

    assert _with_master(go) is registered
    assert handler.closed == ([handler.client] if registered else [])


def test_close_server_connection_only_while_its_handshake_is_pending():
    server = connection.Server(address=("127.0.0.1", 443))
    handler = _Handler(server)

    def go(master, conns):
        conns["cid"] = handler
        first = internals.close_server_connection(master, "cid", server)
        server.timestamp_tls_setup = 1.0  # the upstream handshake completed
        second = internals.close_server_connection(master, "cid", server)
        gone = internals.close_server_connection(master, "other", server)
        return first, second, gone

    assert _with_master(go) == (True, False, False)
    assert handler.closed == [server]


def test_session_reused_reads_a_real_connection():
    conn = SSL.Connection(SSL.Context(SSL.TLS_METHOD))
    assert internals.session_reused(conn) is False

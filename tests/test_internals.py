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
        self.transports = {self.client: object()}
        if server is not None:
            self.transports[server] = object()
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


# ---- issue 11: tickets, ciphers, decrypted reads, the proxy's closes, resets -------------------


def _handshake(server: SSL.Connection, client: SSL.Connection) -> None:
    """Drive an in-memory handshake (and its tickets) between two pyOpenSSL connections."""
    for _ in range(10):
        for conn in (client, server):
            try:
                conn.do_handshake()
            except SSL.WantReadError:
                pass
        for a, b in ((client, server), (server, client)):
            try:
                b.bio_write(a.bio_read(65536))
            except SSL.WantReadError:
                pass


def _server_context(tmp_path) -> SSL.Context:
    from mitm_pincheck.proxy import forge

    forged = forge.self_signed("internals.test", None)
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.use_certificate(forged.chain[0])
    context.use_privatekey(forged.key)
    return context


def _tickets_sent(context: SSL.Context) -> int:
    states = []
    context.set_info_callback(lambda conn, where, ret: states.append(conn.get_state_string()))
    server = SSL.Connection(context)
    server.set_accept_state()
    client = SSL.Connection(SSL.Context(SSL.TLS_CLIENT_METHOD))
    client.set_connect_state()
    _handshake(server, client)
    assert server.get_protocol_version_name() == "TLSv1.3"
    return states.count(b"SSLv3/TLS write session ticket")


def test_disable_session_tickets_stops_tls13_new_session_tickets(tmp_path):
    assert _tickets_sent(_server_context(tmp_path)) > 0  # OpenSSL's default: two tickets
    context = _server_context(tmp_path)
    assert internals.disable_session_tickets(context) is True
    assert _tickets_sent(context) == 0


def test_elf_symbols_finds_local_functions_of_the_bound_openssl():
    from cryptography.hazmat.bindings import _rust

    found = internals.elf_symbols(_rust.__file__, ("SSL_CTX_set_num_tickets", "no_such_symbol"))
    assert set(found) == {"SSL_CTX_set_num_tickets"} and found["SSL_CTX_set_num_tickets"] > 0
    assert internals.elf_symbols(__file__, ("anything",)) == {}  # not an ELF file


def test_every_tls13_cipher_is_offered(tmp_path):
    context = _server_context(tmp_path)
    assert internals.allow_every_tls13_cipher(context) is True
    server = SSL.Connection(context)
    server.set_accept_state()
    client_context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    SSL._lib.SSL_CTX_set_ciphersuites(client_context._context, b"TLS_AES_128_CCM_SHA256")
    client = SSL.Connection(client_context)
    client.set_connect_state()
    _handshake(server, client)
    assert server.get_cipher_name() == "TLS_AES_128_CCM_SHA256"


def test_observed_connection_reports_every_decrypted_read(tmp_path):
    server = internals.ObservedConnection(_server_context(tmp_path))
    reads = []
    server.on_data = reads.append
    server.set_accept_state()
    client = SSL.Connection(SSL.Context(SSL.TLS_CLIENT_METHOD))
    client.set_connect_state()
    _handshake(server, client)
    client.send(b"not http at all")
    server.bio_write(client.bio_read(65536))
    assert server.recv(65535) == b"not http at all"
    assert reads == [15]


def test_watch_proxy_close_sees_closes_the_layers_send_through_the_tls_layer():
    from mitmproxy.proxy import commands, context, layers

    client = connection.Client(
        peername=("127.0.0.1", 1), sockname=("127.0.0.1", 2), timestamp_start=0
    )
    ctx = context.Context(client, options.Options())
    layers.ServerTLSLayer(ctx)
    tls_layer = layers.ClientTLSLayer(ctx)
    calls = []
    internals.watch_proxy_close(tls_layer, lambda: calls.append("closing"))
    emitted = list(tls_layer.send_close(commands.CloseConnection(client)))
    assert calls == ["closing"]
    assert [type(c).__name__ for c in emitted] == ["CloseConnection"]


def test_a_reset_keeps_the_bytes_that_came_before_it_and_is_reported():
    async def go():
        reader = asyncio.StreamReader()
        reader.__class__ = internals._DrainingReader
        resets = []
        reader.on_reset = lambda: resets.append(True)
        reader.feed_data(b"GET / HTTP/1.1\r\n")
        reader.set_exception(ConnectionResetError())
        first = await reader.read(65535)
        with pytest.raises(ConnectionResetError):
            await reader.read(65535)
        return first, resets

    assert asyncio.run(go()) == (b"GET / HTTP/1.1\r\n", [True])


def test_read_before_reset_and_quick_acks_on_a_live_proxy_connection():
    """Both reaches find the client's reader and socket where mitmproxy keeps them."""
    import socket

    async def go():
        a, b = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=a)
        handler = _Handler()

        class _IO:
            pass

        io = _IO()
        io.reader, io.writer = reader, writer
        handler.transports = {handler.client: io}
        master = DumpMaster(options.Options(), with_termlog=False, with_dumper=False)
        master.addons.get("proxyserver").connections["cid"] = handler
        hooked = internals.read_before_reset(master, "cid", lambda: None)
        gone = internals.read_before_reset(master, "other")
        acked = internals.acknowledge_at_once(master, "cid")
        writer.close()
        b.close()
        return hooked, gone, type(reader) is internals._DrainingReader, acked

    hooked, gone, swapped, acked = asyncio.run(go())
    assert (hooked, gone, swapped) == (True, False, True)
    assert acked is False  # a Unix socketpair has no TCP_QUICKACK; a TCP socket does


def test_enable_dhe_finds_mitmproxys_dh_parameters(tmp_path):
    async def go():
        opts = options.Options(confdir=str(tmp_path))
        master = DumpMaster(opts, with_termlog=False, with_dumper=False)
        master.addons.get("tlsconfig").configure({"confdir"})
        return internals.enable_dhe(master, SSL.Context(SSL.TLS_SERVER_METHOD))

    assert asyncio.run(go()) is True

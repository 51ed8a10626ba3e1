"""The only places that reach into mitmproxy or pyOpenSSL internals, each tested directly.

mitmproxy has no public API to close a live connection (mitmproxy issue 8045): we close client
connections at a phase change, and an upstream that never finishes its handshake; pyOpenSSL
exposes no `SSL_session_reused`, no `SSL_CTX_set_num_tickets` and no TLS 1.3 cipher-suite
setter; and the two things the wire must tell us whatever the HTTP layers make of it (the
client sent decrypted bytes; the proxy, not the client, closed first) are only visible where
mitmproxy's TLS layer calls `recv` and `send_close`. Everything else uses public APIs, so a
mitmproxy upgrade that breaks something breaks it here, where `tests/test_internals.py` notices.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import mmap
import socket
import struct
from collections.abc import Callable

from OpenSSL import SSL

# Every TLS 1.3 suite OpenSSL has; its default leaves out the two CCM ones.
TLS13_CIPHERSUITES = (
    b"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
    b"TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256"
)


class ObservedConnection(SSL.Connection):
    """An `SSL.Connection` that reports every decrypted read to `on_data(n)`.

    mitmproxy's TLS layer reads the client's application data with `recv`, before any HTTP
    layer parses it: so bytes a client sent count even when mitmproxy answers 400 or GOAWAY,
    or waits forever for headers that never come.
    """

    on_data: Callable[[int], None] | None = None

    def recv(self, bufsiz, flags=None):
        data = super().recv(bufsiz, flags)
        if data and self.on_data is not None:
            self.on_data(len(data))
        return data


def watch_proxy_close(tls_layer, on_close: Callable[[], None]) -> None:
    """Call `on_close()` whenever the layers above `tls_layer` close its connection (an error
    response, a GOAWAY, a failed upstream): mitmproxy's TunnelLayer routes every such close
    through `send_close`. Whether the client had closed first is for `on_close` to tell."""
    original = tls_layer.send_close

    def send_close(command):
        on_close()
        yield from original(command)

    tls_layer.send_close = send_close


class _DrainingReader(asyncio.StreamReader):
    """A StreamReader that hands out the bytes it holds before the error that followed them,
    and says when that error is a reset.

    asyncio's raises a connection reset as soon as it has recorded it, dropping what it had
    already read: a TLS 1.3 client's Finished, request and reset may arrive together."""

    on_reset: Callable[[], None] | None = None

    async def read(self, n=-1):
        if self._exception is not None and self._buffer and n != 0:
            size = len(self._buffer) if n < 0 else n
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
            return data
        try:
            return await super().read(n)
        except ConnectionResetError:
            if self.on_reset is not None:
                self.on_reset()
            raise


def read_before_reset(master, client_id: str, on_reset: Callable[[], None] | None = None) -> bool:
    """Make the proxy read every byte the client `client_id` sent before a reset, and call
    `on_reset()` if the client resets the connection (see `_DrainingReader`); False if the
    connection is gone or not read through an asyncio StreamReader (e.g. WireGuard mode)."""
    proxyserver = master.addons.get("proxyserver")
    handler = getattr(proxyserver, "connections", {}).get(client_id)
    io = handler.transports.get(handler.client) if handler is not None else None
    reader = getattr(io, "reader", None)
    if type(reader) is asyncio.StreamReader:
        reader.__class__ = _DrainingReader
    if not isinstance(reader, _DrainingReader):
        return False
    reader.on_reset = on_reset
    return True


def acknowledge_at_once(master, client_id: str) -> bool:
    """Have the kernel acknowledge the client's next segments at once (TCP_QUICKACK).

    Armed once our last handshake flight is written, so that the ACK of a TLS 1.3 client's
    Finished goes out at once instead of up to 40 ms later: a client whose request waits for
    that ACK (Nagle) and then resets the connection would otherwise lose its request before
    it ever reached us. False where it could not be set."""
    proxyserver = master.addons.get("proxyserver")
    handler = getattr(proxyserver, "connections", {}).get(client_id)
    io = handler.transports.get(handler.client) if handler is not None else None
    writer = getattr(io, "writer", None)
    get_extra_info = getattr(writer, "get_extra_info", None)
    sock = get_extra_info("socket") if get_extra_info is not None else None
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if sock is None or quickack is None or sock.type != socket.SOCK_STREAM:
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
    except OSError:
        return False
    return True


def enable_dhe(master, context: SSL.Context) -> bool:
    """Give `context` mitmproxy's own Diffie-Hellman parameters, as TlsConfig does for its
    contexts, so that a client offering only DHE suites can negotiate; False if not found."""
    tlsconfig = master.addons.get("tlsconfig")
    dhparams = getattr(getattr(tlsconfig, "certstore", None), "dhparams", None)
    set_tmp_dh = getattr(SSL._lib, "SSL_CTX_set_tmp_dh", None)
    if dhparams is None or set_tmp_dh is None:
        return False
    return bool(set_tmp_dh(context._context, dhparams))


def allow_every_tls13_cipher(context: SSL.Context) -> bool:
    """Offer every TLS 1.3 cipher suite OpenSSL has; False where the binding lacks the call."""
    set_suites = getattr(SSL._lib, "SSL_CTX_set_ciphersuites", None)
    raw = getattr(context, "_context", None)
    if set_suites is None or raw is None:
        return False
    return bool(set_suites(raw, TLS13_CIPHERSUITES))


def close_client_connection(master, client_id: str) -> bool:
    """Close the live client connection `client_id`; False if it is already gone."""
    proxyserver = master.addons.get("proxyserver")
    handler = getattr(proxyserver, "connections", {}).get(client_id)
    if handler is None or handler.client not in handler.transports:
        return False  # gone, or its socket already closed and only the hooks are left to run
    handler.close_connection(handler.client)
    return True


def close_server_connection(master, client_id: str, server) -> bool:
    """Close the upstream connection `server` of client `client_id` if its TLS handshake has
    not completed; False if it did, or is already gone."""
    proxyserver = master.addons.get("proxyserver")
    handler = getattr(proxyserver, "connections", {}).get(client_id)
    if handler is None or server.tls_established or server not in handler.transports:
        return False
    handler.close_connection(server)
    return True


def session_reused(conn: SSL.Connection) -> bool | None:
    """Whether the handshake on `conn` resumed an earlier session; None where unknown."""
    lib = getattr(SSL, "_lib", None)
    reused = getattr(lib, "SSL_session_reused", None)
    raw = getattr(conn, "_ssl", None)
    if reused is None or raw is None:
        return None
    return bool(reused(raw))


def disable_session_tickets(context: SSL.Context) -> bool:
    """`SSL_CTX_set_num_tickets(ctx, 0)`: no TLS 1.3 NewSessionTicket at all; False where
    it cannot be done (then OpenSSL sends its default two).

    `OP_NO_TICKET` does not stop TLS 1.3 tickets, and the binding pyOpenSSL uses does not
    export `SSL_CTX_set_num_tickets`. The function is in the OpenSSL that cryptography links
    statically, only as a local symbol: it is found by name in that library's ELF symbol table
    and checked with its getter (the default is 2, then 0) before being trusted.
    """
    functions = _num_tickets_functions()
    raw = getattr(context, "_context", None)
    if functions is None or raw is None:
        return False
    get, set_ = functions
    pointer = int(SSL._ffi.cast("uintptr_t", raw))
    if not set_(pointer, 0):
        return False
    return get(pointer) == 0


@functools.cache
def _num_tickets_functions():
    """(SSL_CTX_get_num_tickets, SSL_CTX_set_num_tickets) as ctypes functions, or None."""
    try:
        from cryptography.hazmat.bindings import _rust

        path = _rust.__file__
        symbols = elf_symbols(
            path, ("SSL_CTX_get_num_tickets", "SSL_CTX_set_num_tickets", "PyInit__rust")
        )
        if len(symbols) != 3:
            return None
        library = ctypes.CDLL(path)  # already loaded: the same mapping
        base = ctypes.cast(library.PyInit__rust, ctypes.c_void_p).value - symbols["PyInit__rust"]
        get = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p)(
            base + symbols["SSL_CTX_get_num_tickets"]
        )
        set_ = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)(
            base + symbols["SSL_CTX_set_num_tickets"]
        )
        probe = SSL.Context(SSL.TLS_SERVER_METHOD)
        pointer = int(SSL._ffi.cast("uintptr_t", probe._context))
        if get(pointer) != 2 or not set_(pointer, 0) or get(pointer) != 0:
            return None  # not the functions we think they are: do not use them
        return get, set_
    except Exception:  # no ELF, a stripped library, another layout: go without
        return None


def elf_symbols(path: str, names: tuple[str, ...]) -> dict[str, int]:
    """The values (addresses relative to the load base) of the function symbols `names` in
    the ELF64 little-endian file at `path`, from its full symbol table; missing ones left out."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as elf:
        if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
            return {}
        shoff, _, _, _, _, shentsize, shnum = struct.unpack_from("<QIHHHHH", elf, 0x28)
        sections = [
            struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)
        ]
        found: dict[str, int] = {}
        for sh_type, sh_offset, sh_size, sh_link, sh_entsize in (
            (s[1], s[4], s[5], s[6], s[9]) for s in sections
        ):
            if sh_type != 2 or sh_entsize != 24:  # SHT_SYMTAB
                continue
            strtab_offset, strtab_size = sections[sh_link][4], sections[sh_link][5]
            wanted = {}
            for name in names:
                needle = b"\0" + name.encode() + b"\0"
                at = elf.find(needle, strtab_offset, strtab_offset + strtab_size)
                if at >= 0:
                    wanted[at + 1 - strtab_offset] = name
            for st_name, st_info, _, _, st_value, _ in struct.iter_unpack(
                "<IBBHQQ", elf[sh_offset : sh_offset + sh_size]
            ):
                if st_name in wanted and st_info & 0xF == 2 and st_value:  # STT_FUNC
                    found[wanted[st_name]] = st_value
        return found

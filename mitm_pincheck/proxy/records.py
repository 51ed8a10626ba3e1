"""What a TLS connection we do not decrypt says about the client: read from its record layer.

In a `passthrough` phase the app talks to the real server through the proxy, end to end; the
proxy holds no key. What it can still see is the record layer: each record's type and length,
the plaintext part of the handshake (ServerHello, and in TLS 1.2 everything up to
ChangeCipherSpec) and plaintext alerts. That is enough to tell the three things a verdict needs:

- the client refused the certificate during the handshake: a plaintext alert with its code
  (TLS 1.2; OpenSSL sends it in the clear in TLS 1.3 too), an encrypted alert where the client's
  Finished should be (TLS 1.3: about 19 bytes, where a Finished is 45 or more), or a close
  right after the server's flight;
- the handshake completed: the client's Finished (TLS 1.2: an encrypted handshake record after
  its ChangeCipherSpec; TLS 1.3: its first encrypted record after ServerHello);
- the client sent application data: TLS 1.2: any application-data record; TLS 1.3: an encrypted
  record after its Finished that is larger than an alert, or 0-RTT early data: the first
  application-data record of a client whose ClientHello offered early_data (its small
  EndOfEarlyData after the ServerHello is then no alert).

Pure: bytes in, events out. No sockets, no mitmproxy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

CHANGE_CIPHER_SPEC = 20
ALERT = 21
HANDSHAKE = 22
APPLICATION_DATA = 23
HEARTBEAT = 24
RECORD_TYPES = frozenset({CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT})

HEADER_SIZE = 5
# RFC 5246 6.2.3: a record is never longer than 2^14 + 2048 bytes, whatever the version.
MAX_RECORD = 2**14 + 2048

CLIENT_HELLO = 1
SERVER_HELLO = 2
CERTIFICATE = 11
EXT_PRE_SHARED_KEY = 41
EXT_EARLY_DATA = 42
EXT_SUPPORTED_VERSIONS = 43
# RFC 8446 4.1.3: a ServerHello with this random is a HelloRetryRequest, not the real one.
HELLO_RETRY_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)

TLS_VERSIONS = {
    0x0300: "SSLv3",
    0x0301: "TLSv1",
    0x0302: "TLSv1.1",
    0x0303: "TLSv1.2",
    0x0304: "TLSv1.3",
}

# TLS 1.3 record sizes (content + content-type byte + AEAD tag). A Finished is 4 + 32 bytes of
# verify data at least (SHA-256), with at least an 8-byte tag (CCM_8): 45. An alert is 2 bytes:
# 19 with a 16-byte tag. Anything up to this is taken for an alert, leaving room for padding.
TLS13_ALERT_MAX = 24


class NotTls(ValueError):
    """The bytes are not a TLS record stream."""


@dataclass(frozen=True)
class RecordHeader:
    type: int
    version: int
    length: int


def parse_header(data: bytes | bytearray | memoryview) -> RecordHeader | None:
    """The record header at the start of `data`; None until 5 bytes are there.

    Raises NotTls for a header no TLS stack writes (unknown type, major version other than 3,
    a length over the protocol's limit).
    """
    if len(data) < HEADER_SIZE:
        return None
    rtype, major, minor = data[0], data[1], data[2]
    length = int.from_bytes(data[3:5], "big")
    if rtype not in RECORD_TYPES or major != 3 or length > MAX_RECORD:
        raise NotTls(f"not a TLS record header: {bytes(data[:HEADER_SIZE]).hex()}")
    return RecordHeader(rtype, (major << 8) | minor, length)


@dataclass(frozen=True)
class ServerHello:
    version: int  # the negotiated version: supported_versions if present, else legacy_version
    hello_retry: bool  # a HelloRetryRequest: the real ServerHello is still to come
    psk: bool  # TLS 1.3 pre_shared_key accepted: a resumed session, no certificate sent


def parse_server_hello(body: bytes) -> ServerHello:
    """The parts of a ServerHello body (after the 4-byte handshake header) that matter here."""
    try:
        legacy_version = int.from_bytes(body[0:2], "big")
        random = body[2:34]
        pos = 34
        pos += 1 + body[pos]  # legacy_session_id_echo
        pos += 2 + 1  # cipher_suite, legacy_compression_method
        version, psk = legacy_version, False
        if pos < len(body):
            end = pos + 2 + int.from_bytes(body[pos : pos + 2], "big")
            pos += 2
            while pos + 4 <= end:
                ext = int.from_bytes(body[pos : pos + 2], "big")
                size = int.from_bytes(body[pos + 2 : pos + 4], "big")
                value = body[pos + 4 : pos + 4 + size]
                if ext == EXT_SUPPORTED_VERSIONS and len(value) == 2:
                    version = int.from_bytes(value, "big")
                elif ext == EXT_PRE_SHARED_KEY:
                    psk = True
                pos += 4 + size
        if len(random) != 32 or pos > len(body):
            raise IndexError
    except IndexError:
        raise NotTls("truncated ServerHello") from None
    return ServerHello(version, random == HELLO_RETRY_RANDOM, psk)


def client_hello_extensions(body: bytes) -> list[int]:
    """The extension types of a ClientHello body (after the 4-byte handshake header)."""
    try:
        pos = 2 + 32  # legacy_version, random
        pos += 1 + body[pos]  # legacy_session_id
        pos += 2 + int.from_bytes(body[pos : pos + 2], "big")  # cipher_suites
        pos += 1 + body[pos]  # legacy_compression_methods
        if pos >= len(body):
            return []
        end = pos + 2 + int.from_bytes(body[pos : pos + 2], "big")
        pos += 2
        types = []
        while pos + 4 <= min(end, len(body)):
            types.append(int.from_bytes(body[pos : pos + 2], "big"))
            pos += 4 + int.from_bytes(body[pos + 2 : pos + 4], "big")
        return types
    except IndexError:
        raise NotTls("truncated ClientHello") from None


# ---- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handshake:
    """The client finished the handshake: it accepted the certificate it was shown."""

    tls_version: str
    resumed: bool  # an earlier session was resumed: no certificate was shown at all


@dataclass(frozen=True)
class HandshakeFailed:
    """The client refused during the handshake. `alert` is None when it was encrypted (TLS 1.3)
    or when the client closed without one; `encrypted` tells the two apart."""

    alert: int | None
    encrypted: bool = False


@dataclass(frozen=True)
class Alert:
    """The client sent an alert after its Finished and before any application data. Always
    encrypted at that point, so there is no code: a close_notify looks the same as a refusal."""

    alert: int | None = None


@dataclass(frozen=True)
class Data:
    """Application data, `direction` "client" or "server"; each is reported once."""

    direction: str


Event = Handshake | HandshakeFailed | Alert | Data


# ---- the observer ---------------------------------------------------------------------------


class _Stream:
    """One direction's bytes cut into records; keeps a record's body only when asked to."""

    def __init__(self) -> None:
        self.buf = bytearray()  # the header being read, then the body being kept
        self.header: RecordHeader | None = None
        self.skip = 0  # body bytes still to pass over unread

    def records(
        self, data: bytes, wants_body: Callable[[RecordHeader], bool]
    ) -> Iterator[tuple[RecordHeader, bytes]]:
        """Complete records in `data` (after what came before), as (header, body or b"").

        A generator, so `wants_body` sees the state left by the records before."""
        view = memoryview(data)
        while view:
            if self.skip:
                n = min(self.skip, len(view))
                self.skip -= n
                view = view[n:]
                if not self.skip:
                    yield self._complete(b"")
                continue
            if self.header is None:
                need = HEADER_SIZE - len(self.buf)
                self.buf += view[:need]
                view = view[need:]
                header = parse_header(self.buf)
                if header is None:
                    continue
                self.buf.clear()
                self.header = header
                if not header.length:
                    yield self._complete(b"")
                    continue
                if not wants_body(header):
                    self.skip = header.length
                    continue
            need = self.header.length - len(self.buf)
            self.buf += view[:need]
            view = view[need:]
            if len(self.buf) == self.header.length:
                body = bytes(self.buf)
                self.buf.clear()
                yield self._complete(body)

    def _complete(self, body: bytes) -> tuple[RecordHeader, bytes]:
        header, self.header = self.header, None
        assert header is not None
        return header, body


class TlsObserver:
    """Feed it both directions of one connection in arrival order; it returns events.

    `feed(from_client, data)` takes the bytes as they arrive, cut anywhere. `end()` says the
    connection is gone and returns the last event, if any. It stops reading once there is
    nothing more to learn: the handshake failed, the client sent application data and the
    server answered, or the bytes turned out not to be TLS.
    """

    def __init__(self) -> None:
        self._client = _Stream()
        self._server = _Stream()
        # The server's plaintext handshake messages: the header of the one being read, then
        # its body if it is the ServerHello; other messages are skipped unread.
        self._message = bytearray()
        self._message_skip = 0
        self.version: int | None = None  # from the real ServerHello (not a HelloRetryRequest)
        self.resumed = False
        self.server_hello = False
        self.server_certificate = False  # the server sent a Certificate in the clear (<= 1.2)
        self.server_encrypted = False
        self.client_encrypted = False
        self.server_alert: int | None = None  # a plaintext alert from the server: its refusal
        self.client_finished = False
        self.server_finished = False
        self.handshake_done = False
        self.failed = False
        self.client_data = False
        self.server_data = False
        self.after_handshake_alert = False
        self.not_tls: str | None = None
        self._client_records_13 = 0  # TLS 1.3: encrypted client records after ServerHello
        self._hello = bytearray()  # the client's ClientHello while it is being read
        self.hello_read = False
        self.early_data_offered = False  # its ClientHello has early_data: 0-RTT data follows

    @property
    def tls13(self) -> bool:
        return self.version == 0x0304

    @property
    def done(self) -> bool:
        """Nothing more to learn: further bytes are not even looked at."""
        return bool(self.not_tls) or self.failed or (self.client_data and self.server_data)

    def feed(self, from_client: bool, data: bytes) -> list[Event]:
        if self.done or not data:
            return []
        stream = self._client if from_client else self._server
        events: list[Event] = []
        try:
            for header, body in stream.records(data, lambda h: self._wants_body(from_client, h)):
                if from_client:
                    self._client_record(header, body, events)
                else:
                    self._server_record(header, body, events)
                if self.done:
                    break
        except NotTls as e:
            self.not_tls = str(e)
        return events

    def end(self) -> list[Event]:
        """The connection closed. A client that walks away once the server's flight has started
        (after ServerHello), without finishing and without an alert, refused in the handshake;
        unless the server had refused first with an alert."""
        if self.done or self.handshake_done or self.client_finished or self.client_data:
            return []
        if self.server_hello and self.server_alert is None:
            self.failed = True
            return [HandshakeFailed(None)]
        return []

    # ---- the client

    def _wants_body(self, from_client: bool, header: RecordHeader) -> bool:
        if from_client:
            if header.type == HANDSHAKE:
                return not self.hello_read
            return header.type == ALERT and not self.client_encrypted
        if self.server_encrypted:
            return False
        return header.type in (ALERT, HANDSHAKE)

    def _client_record(self, header: RecordHeader, body: bytes, events: list[Event]) -> None:
        if header.type == ALERT:
            # Plaintext alerts are two bytes, level and code; encrypted ones are longer.
            self._client_alert(body[1] if len(body) == 2 else None, events)
        elif header.type == CHANGE_CIPHER_SPEC:
            if self.server_hello and not self.tls13:
                self.client_encrypted = True
        elif header.type == HANDSHAKE:
            if not self.hello_read:
                self._client_hello(body)
            elif self.client_encrypted and not self.tls13:  # TLS 1.2: its encrypted Finished
                self.client_finished = True
                self._maybe_done(events)
        elif header.type == APPLICATION_DATA:
            if self.early_data_offered:
                # 0-RTT: whatever arrives first is its early data (the ServerHello may have
                # passed it on the way); what follows, EndOfEarlyData included, is no alert.
                self.client_encrypted = True
                if not self.client_data:
                    self.client_data = True
                    events.append(Data("client"))
                return
            if not self.server_hello:
                return  # not a TLS stream we understand: nothing the server showed yet
            if self.tls13:
                self._client_record_13(header, events)
            elif self.client_finished:
                self._client_sent_data(events)

    def _client_hello(self, body: bytes) -> None:
        """Read the client's first handshake message, which may span records."""
        self._hello += body
        if len(self._hello) < 4:
            return
        size = int.from_bytes(self._hello[1:4], "big")
        if self._hello[0] != CLIENT_HELLO or size > 4 * MAX_RECORD:
            self.hello_read = True
            self._hello.clear()
            return
        if len(self._hello) >= 4 + size:
            extensions = client_hello_extensions(bytes(self._hello[4 : 4 + size]))
            self.early_data_offered = EXT_EARLY_DATA in extensions
            self.hello_read = True
            self._hello.clear()

    def _client_record_13(self, header: RecordHeader, events: list[Event]) -> None:
        self.client_encrypted = True
        self._client_records_13 += 1
        small = header.length <= TLS13_ALERT_MAX
        if self._client_records_13 == 1:
            if small:  # an alert where its Finished should be
                self._client_alert(None, events)
            else:
                self.client_finished = True
                self._maybe_done(events)
        elif small:
            self._client_alert(None, events)
        else:
            self._client_sent_data(events)

    def _client_alert(self, code: int | None, events: list[Event]) -> None:
        if self.client_data:
            return  # a close_notify after a request says nothing
        if self.client_finished:
            if not self.after_handshake_alert:
                self.after_handshake_alert = True
                events.append(Alert(code))
        else:
            self.failed = True
            events.append(HandshakeFailed(code, encrypted=code is None))

    def _client_sent_data(self, events: list[Event]) -> None:
        if self.client_data:
            return
        if not self.handshake_done:  # TLS 1.2 False Start: data before the server's Finished
            self.handshake_done = True
            events.append(self._handshake())
        self.client_data = True
        events.append(Data("client"))

    # ---- the server

    def _server_record(self, header: RecordHeader, body: bytes, events: list[Event]) -> None:
        if header.type == ALERT:
            if len(body) == 2:
                self.server_alert = body[1]
        elif header.type == HANDSHAKE:
            if not self.server_encrypted:
                self._server_handshake(body)
            elif not self.tls13:  # TLS 1.2: the server's encrypted Finished
                self.server_finished = True
                self._maybe_done(events)
        elif header.type == CHANGE_CIPHER_SPEC:
            if self.server_hello and not self.tls13:
                self.server_encrypted = True
                self.resumed = not self.server_certificate  # an abbreviated handshake
        elif header.type == APPLICATION_DATA:
            if self.client_data and not self.server_data:
                self.server_data = True
                events.append(Data("server"))

    def _server_handshake(self, data: bytes) -> None:
        """Read the server's plaintext handshake messages, which may span records."""
        view = memoryview(data)
        while view and not self.server_encrypted:
            if self._message_skip:
                n = min(self._message_skip, len(view))
                self._message_skip -= n
                view = view[n:]
                continue
            need = 4 - len(self._message) if len(self._message) < 4 else 0
            if need:
                self._message += view[:need]
                view = view[need:]
                if len(self._message) < 4:
                    return
                mtype, size = self._message[0], int.from_bytes(self._message[1:4], "big")
                if mtype != SERVER_HELLO:
                    self.server_certificate |= mtype == CERTIFICATE
                    self._message.clear()
                    self._message_skip = size
                    continue
                if size > MAX_RECORD:
                    raise NotTls("ServerHello too large")
            size = int.from_bytes(self._message[1:4], "big")
            need = 4 + size - len(self._message)
            self._message += view[:need]
            view = view[need:]
            if len(self._message) == 4 + size:
                hello = parse_server_hello(bytes(self._message[4:]))
                self._message.clear()
                if not hello.hello_retry:
                    self.server_hello = True
                    self.version = hello.version
                    if self.tls13:  # everything after the ServerHello is encrypted
                        self.resumed = hello.psk
                        self.server_encrypted = True

    def _maybe_done(self, events: list[Event]) -> None:
        if self.handshake_done:
            return
        # TLS 1.3: the server's Finished came in its first flight, the client's is the last.
        if self.client_finished and (self.tls13 or self.server_finished):
            self.handshake_done = True
            events.append(self._handshake())

    def _handshake(self) -> Handshake:
        version = self.version or 0
        return Handshake(TLS_VERSIONS.get(version, f"0x{version:04x}"), self.resumed)

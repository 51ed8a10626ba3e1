"""records.py: what an undecrypted TLS connection says about the client, read off real bytes.

The transcripts are real handshakes between two Python `ssl` objects over MemoryBIOs (OpenSSL on
both sides), TLS 1.2 and 1.3, accepted and refused; a few shapes OpenSSL never writes (an
encrypted alert instead of the client's Finished, early data, False Start) are cut from real
transcripts. No sockets.
"""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mitm_pincheck.proxy import records
from mitm_pincheck.proxy.records import Alert, Data, Handshake, HandshakeFailed, TlsObserver

HOST = "api.records.test"
TLS12, TLS13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
VERSIONS = pytest.mark.parametrize("version", [TLS12, TLS13], ids=["tls1.2", "tls1.3"])
NAMES = {TLS12: "TLSv1.2", TLS13: "TLSv1.3"}
UNKNOWN_CA, BAD_CERTIFICATE, CERTIFICATE_EXPIRED = 48, 42, 45

Transcript = list[tuple[bool, bytes]]  # (from the client, bytes), in the order they flowed


# ---- a small PKI and a handshake over memory ------------------------------------------------


def _cert(cn, key, issuer=None, *, ca=False, san=None, days=(-1, 30)):
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days[0]))
        .not_valid_after(now + datetime.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


@dataclass
class Pki:
    ca: str  # PEM files
    leaf: str
    other_ca: str
    wrong_host: str
    expired: str


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    pem = serialization.Encoding.PEM

    def key_and_chain(name, key, cert):
        path = d / name
        path.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            + cert.public_bytes(pem)
        )
        return str(path)

    ca_key, other_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = _cert("records CA", ca_key, ca=True)
    other = _cert("another CA", other_key, ca=True)
    (d / "ca.pem").write_bytes(ca.public_bytes(pem))
    (d / "other.pem").write_bytes(other.public_bytes(pem))
    key = ec.generate_private_key(ec.SECP256R1())
    return Pki(
        ca=str(d / "ca.pem"),
        leaf=key_and_chain("leaf.pem", key, _cert(HOST, key, (ca, ca_key), san=HOST)),
        other_ca=str(d / "other.pem"),
        wrong_host=key_and_chain(
            "wrong.pem", key, _cert("x", key, (ca, ca_key), san="wrong-host.invalid")
        ),
        expired=key_and_chain(
            "expired.pem", key, _cert(HOST, key, (ca, ca_key), san=HOST, days=(-60, -30))
        ),
    )


@dataclass
class Pair:
    """A client and a server `ssl` object joined by MemoryBIOs; `wire` is what flowed."""

    client: ssl.SSLObject
    server: ssl.SSLObject
    bios: tuple[ssl.MemoryBIO, ...]
    wire: Transcript = field(default_factory=list)
    error: ssl.SSLError | None = None  # the client's

    def pump(self, deliver_client: bool = True) -> bool:
        c_in, c_out, s_in, s_out = self.bios
        moved = False
        if out := c_out.read():
            moved = True
            if deliver_client:
                self.wire.append((True, out))
                s_in.write(out)
        if out := s_out.read():
            moved = True
            self.wire.append((False, out))
            c_in.write(out)
        return moved

    def handshake(self) -> Pair:
        for _ in range(10):
            for side in (self.client, self.server):
                try:
                    side.do_handshake()
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError as e:
                    if side is self.client and self.error is None:
                        self.error = e
            if not self.pump() and (self.error or self._done()):
                break
        return self

    def _done(self) -> bool:
        try:
            self.client.do_handshake()
            self.server.do_handshake()
        except ssl.SSLError:
            return False
        return True

    def request(self, size: int = 60) -> Pair:
        """The client sends `size` bytes of application data, the server reads them and
        answers (in TLS 1.3 it also sends its session tickets first)."""
        self.client.write(b"G" * size)
        self.pump()
        assert len(self._read(self.server)) == size
        self.server.write(b"HTTP/1.1 200 OK\r\n\r\n")
        self.pump()
        self._read(self.client)
        return self

    def close(self) -> Pair:
        """The client closes politely (close_notify)."""
        try:
            self.client.unwrap()
        except ssl.SSLWantReadError:
            pass
        self.pump()
        return self

    @staticmethod
    def _read(side: ssl.SSLObject) -> bytes:
        data = b""
        while True:
            try:
                data += side.read(1 << 16)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                return data


def pair(
    pki: Pki,
    version: ssl.TLSVersion,
    *,
    chain: str | None = None,
    trust: str | None = None,
    session: ssl.SSLSession | None = None,
    server_context: ssl.SSLContext | None = None,
    client_context: ssl.SSLContext | None = None,
) -> Pair:
    server_ctx = server_context or ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(chain or pki.leaf)
    server_ctx.maximum_version = version
    client_ctx = client_context or ssl.create_default_context(cafile=trust or pki.ca)
    client_ctx.maximum_version = version
    bios = tuple(ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(bios[0], bios[1], server_hostname=HOST, session=session)
    server = server_ctx.wrap_bio(bios[2], bios[3], server_side=True)
    return Pair(client, server, bios)


def observe(wire: Transcript, *, end: bool = False, observer: TlsObserver | None = None):
    obs = observer or TlsObserver()
    events = []
    for from_client, data in wire:
        events += obs.feed(from_client, data)
    if end:
        events += obs.end()
    return events


def bytewise(wire: Transcript) -> Transcript:
    return [(d, data[i : i + 1]) for d, data in wire for i in range(len(data))]


def records_of(data: bytes) -> list[bytes]:
    out = []
    while data:
        size = 5 + int.from_bytes(data[3:5], "big")
        out.append(data[:size])
        data = data[size:]
    return out


# ---- accepted ------------------------------------------------------------------------------


@VERSIONS
def test_a_request_and_its_answer_is_a_handshake_then_data_both_ways(pki, version):
    p = pair(pki, version).handshake().request()
    assert p.error is None
    assert observe(p.wire, end=True) == [
        Handshake(NAMES[version], resumed=False),
        Data("client"),
        Data("server"),
    ]


@VERSIONS
def test_fed_a_byte_at_a_time_it_says_the_same(pki, version):
    p = pair(pki, version).handshake().request()
    assert observe(bytewise(p.wire)) == observe(p.wire)


@VERSIONS
def test_both_directions_in_one_piece_says_the_same(pki, version):
    p = pair(pki, version).handshake().request()
    client = b"".join(d for c, d in p.wire if c)
    server = b"".join(d for c, d in p.wire if not c)
    # The server's flight first, then the whole client stream: the order a proxy may see
    # when it reads slowly. The client's Finished still comes after the ServerHello.
    hello, rest = records_of(client)[0], client[len(records_of(client)[0]) :]
    obs = TlsObserver()
    events = obs.feed(True, hello) + obs.feed(False, server[:-200]) + obs.feed(True, rest)
    events += obs.feed(False, server[-200:])
    assert events[0] == Handshake(NAMES[version], resumed=False)
    assert Data("client") in events


@VERSIONS
def test_a_large_upload_is_one_data_event(pki, version):
    p = pair(pki, version).handshake().request(size=200_000)
    events = observe(p.wire)
    assert events.count(Data("client")) == 1
    assert events[-1] == Data("server")


@VERSIONS
def test_after_data_both_ways_it_stops_reading(pki, version):
    p = pair(pki, version).handshake().request()
    obs = TlsObserver()
    observe(p.wire, observer=obs)
    assert obs.done
    assert obs.feed(True, b"\x00garbage that is not a record") == []
    assert obs.not_tls is None
    p.close()
    assert obs.feed(True, p.wire[-1][1]) == []


def test_a_hello_retry_request_is_not_the_server_hello(pki):
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.set_ecdh_curve("secp384r1")  # the client's key share is X25519: HRR
    p = pair(pki, TLS13, server_context=server_ctx).handshake().request()
    server_flights = [d for c, d in p.wire if not c]
    first = records_of(server_flights[0])[0]
    hello = records.parse_server_hello(first[9:])
    assert hello.hello_retry and hello.version == 0x0304
    assert observe(p.wire) == [Handshake("TLSv1.3", False), Data("client"), Data("server")]


# ---- resumed -------------------------------------------------------------------------------


@VERSIONS
def test_a_resumed_session_is_reported_as_resumed(pki, version):
    contexts = {
        "server_context": ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER),
        "client_context": ssl.create_default_context(cafile=pki.ca),
    }
    first = pair(pki, version, **contexts).handshake().request()
    assert first.client.session is not None
    again = pair(pki, version, session=first.client.session, **contexts)
    again.handshake().request()
    assert again.client.session_reused
    assert observe(again.wire)[0] == Handshake(NAMES[version], resumed=True)


# ---- refused in the handshake --------------------------------------------------------------


@VERSIONS
@pytest.mark.parametrize(
    ("case", "alert"),
    [("untrusted", UNKNOWN_CA), ("wrong-host", BAD_CERTIFICATE), ("expired", CERTIFICATE_EXPIRED)],
)
def test_openssl_refuses_with_a_plaintext_alert_that_names_the_reason(pki, version, case, alert):
    kwargs = {
        "untrusted": {"trust": pki.other_ca},
        "wrong-host": {"chain": pki.wrong_host},
        "expired": {"chain": pki.expired},
    }[case]
    p = pair(pki, version, **kwargs).handshake()
    assert isinstance(p.error, ssl.SSLCertVerificationError)
    # even in TLS 1.3, OpenSSL sends this alert before it switched to its handshake keys
    last = p.wire[-1]
    assert last[0] and last[1][0] == records.ALERT and len(last[1]) == 7
    assert observe(p.wire, end=True) == [HandshakeFailed(alert)]
    assert observe(bytewise(p.wire), end=True) == [HandshakeFailed(alert)]


def test_an_encrypted_alert_where_the_finished_should_be_is_a_refusal(pki):
    # BoringSSL and Java encrypt this alert with the handshake keys: 19 bytes of ciphertext.
    p = pair(pki, TLS13).handshake()
    wire = [(c, d) for c, d in p.wire if not c or d[0] == records.HANDSHAKE]  # the ClientHello
    wire.append((True, bytes.fromhex("140303000101") + b"\x17\x03\x03\x00\x13" + bytes(19)))
    obs = TlsObserver()
    assert observe(wire, observer=obs) == [HandshakeFailed(None, encrypted=True)]
    assert obs.end() == []


@VERSIONS
def test_a_client_that_walks_away_after_the_servers_flight_refused(pki, version):
    p = pair(pki, version).handshake()
    wire = p.wire[:2]  # ClientHello, the server's flight; then nothing from the client
    assert observe(wire) == []
    assert observe(wire, end=True) == [HandshakeFailed(None)]


def test_a_connection_that_ends_before_the_server_hello_says_nothing(pki):
    p = pair(pki, TLS13).handshake()
    assert observe(p.wire[:1], end=True) == []  # no certificate was ever shown


def test_a_server_alert_before_the_client_answered_is_not_the_clients_refusal(pki):
    p = pair(pki, TLS12).handshake()
    wire = p.wire[:2] + [(False, bytes.fromhex("15030300020228"))]  # handshake_failure
    obs = TlsObserver()
    assert observe(wire, observer=obs, end=True) == []
    assert obs.server_alert == 40


# ---- refused after the handshake -----------------------------------------------------------


@VERSIONS
def test_close_notify_after_the_handshake_is_an_alert_after_the_handshake(pki, version):
    p = pair(pki, version).handshake().close()
    assert observe(p.wire, end=True) == [Handshake(NAMES[version], False), Alert(None)]


@VERSIONS
def test_a_silent_close_after_the_handshake_leaves_only_the_handshake(pki, version):
    # pinning that closes the socket without an alert: the `closed` event says the rest
    p = pair(pki, version).handshake()
    assert observe(p.wire, end=True) == [Handshake(NAMES[version], False)]


@VERSIONS
def test_close_notify_after_a_request_is_not_reported(pki, version):
    p = pair(pki, version).handshake()
    p.client.write(b"GET / HTTP/1.1\r\n\r\n")
    p.pump()
    p.close()
    assert observe(p.wire) == [Handshake(NAMES[version], False), Data("client")]


def test_tls13_server_records_before_the_request_are_not_data(pki):
    # the server's session tickets arrive after the client's Finished: not an answer
    p = pair(pki, TLS13).handshake()
    p.server.write(b"")  # nothing; the tickets are already on the wire
    p.pump()
    server_after = [d for c, d in p.wire[3:] if not c]
    assert server_after and all(d[0] == records.APPLICATION_DATA for d in server_after)
    assert observe(p.wire) == [Handshake("TLSv1.3", False)]


# ---- shapes OpenSSL does not write, cut from real transcripts ------------------------------


def _with_early_data_offered(client_hello: bytes) -> bytes:
    """The ClientHello record with an empty early_data extension added, lengths fixed up."""
    body = client_hello[5 + 4 :]
    pos = 2 + 32
    pos += 1 + body[pos]
    pos += 2 + int.from_bytes(body[pos : pos + 2], "big")
    pos += 1 + body[pos]
    ext_len = int.from_bytes(body[pos : pos + 2], "big") + 4
    body = body[:pos] + ext_len.to_bytes(2, "big") + body[pos + 2 :] + b"\x00\x2a\x00\x00"
    message = b"\x01" + len(body).to_bytes(3, "big") + body
    return client_hello[:3] + len(message).to_bytes(2, "big") + message


def test_client_hello_extensions_are_read_off_a_real_hello(pki):
    p = pair(pki, TLS13).handshake()
    hello = p.wire[0][1]
    types = records.client_hello_extensions(hello[9:])
    assert records.EXT_SUPPORTED_VERSIONS in types and records.EXT_EARLY_DATA not in types
    offered = records.client_hello_extensions(_with_early_data_offered(hello)[9:])
    assert offered[-1] == records.EXT_EARLY_DATA


@pytest.mark.parametrize("before_server_hello", [True, False])
def test_tls13_early_data_is_acceptance_and_its_end_is_no_alert(pki, before_server_hello):
    # 0-RTT: the request rides along with the ClientHello; after the ServerHello comes the
    # small EndOfEarlyData, which must not be read as an alert where the Finished should be.
    p = pair(pki, TLS13).handshake()
    hello = _with_early_data_offered(p.wire[0][1])
    early = (True, b"\x17\x03\x03\x00\x40" + bytes(64))
    end_of_early_data = (True, b"\x17\x03\x03\x00\x15" + bytes(21))
    server = [w for w in p.wire[1:] if not w[0]][:1]
    rest = [w for w in p.wire[1:] if w not in server]
    if before_server_hello:
        wire = [(True, hello), early, *server, end_of_early_data, *rest]
    else:
        wire = [(True, hello), *server, early, end_of_early_data, *rest]
    events = observe(wire, end=True)
    assert Data("client") in events
    assert not any(isinstance(e, HandshakeFailed | Alert) for e in events)


def test_tls13_early_data_before_the_server_hello_is_not_application_data(pki):
    p = pair(pki, TLS13).handshake().request()
    early = b"\x17\x03\x03\x00\x40" + bytes(64)
    wire = [p.wire[0], (True, early), *p.wire[1:]]
    assert observe(wire)[0] == Handshake("TLSv1.3", False)


def test_tls12_false_start_data_before_the_servers_finished_completes_the_handshake(pki):
    p = pair(pki, TLS12).handshake()
    client_flight = p.wire[2][1]
    wire = [*p.wire[:3], (True, b"\x17\x03\x03\x00\x30" + bytes(48))]  # no server Finished yet
    assert client_flight.startswith(b"\x16\x03\x03")
    assert observe(wire) == [Handshake("TLSv1.2", False), Data("client")]


# ---- not TLS, and the parsers --------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x80\x2e\x01\x00\x02",  # an SSLv2-style ClientHello
        b"\x16\x02\x00\x00\x05hello",  # major version 2
        b"\x16\x03\x01\x48\x01",  # longer than any record may be
    ],
)
def test_bytes_that_are_not_tls_say_nothing_and_stop_the_reading(data):
    obs = TlsObserver()
    assert obs.feed(True, data) == []
    assert obs.not_tls and obs.done
    assert obs.end() == []


def test_parse_header_waits_for_five_bytes_and_reads_them():
    assert records.parse_header(b"\x17\x03") is None
    h = records.parse_header(b"\x17\x03\x03\x01\x00rest")
    assert h == records.RecordHeader(records.APPLICATION_DATA, 0x0303, 256)
    with pytest.raises(records.NotTls):
        records.parse_header(b"\x19\x03\x03\x00\x01")


def test_parse_server_hello_refuses_a_truncated_one():
    with pytest.raises(records.NotTls):
        records.parse_server_hello(b"\x03\x03" + bytes(10))


def test_a_server_hello_without_extensions_is_its_legacy_version():
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\xc0\x2f" + b"\x00"
    assert records.parse_server_hello(body) == records.ServerHello(0x0303, False, False)


def test_empty_feeds_and_split_headers_are_fine(pki):
    p = pair(pki, TLS12).handshake().request()
    wire: Transcript = []
    for direction, data in p.wire:
        wire += [(direction, b""), (direction, data[:3]), (direction, data[3:])]
    assert observe(wire) == observe(p.wire)


@VERSIONS
def test_after_a_refusal_nothing_more_is_read_and_end_adds_nothing(pki, version):
    p = pair(pki, version, trust=pki.other_ca).handshake()
    obs = TlsObserver()
    assert observe(p.wire, observer=obs) == [HandshakeFailed(UNKNOWN_CA)]
    assert obs.done
    assert obs.feed(True, b"\x17\x03\x03\x00\x40" + bytes(64)) == []
    assert obs.end() == [] and obs.end() == []


def test_end_after_a_walk_away_reports_it_once(pki):
    p = pair(pki, TLS13).handshake()
    obs = TlsObserver()
    observe(p.wire[:2], observer=obs)
    assert obs.end() == [HandshakeFailed(None)]
    assert obs.end() == []

"""The mitmproxy addon: hooks only. It turns hook calls into journal events.

For each TLS connection to a host under test it presents the current phase's certificate kind on
a TLS context of its own (one per host, kind and phase: no tickets, no session cache, so nothing
from an earlier phase can be resumed), and records what the client then does: the alert it sends,
whether the handshake completes, whether application data follows. Hosts not under test are
passed through untouched. Which phase is live is decided by `runner.py`.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from mitmproxy import connection, ctx, http, tcp, tls
from mitmproxy.addons.tlsconfig import AppData, alpn_select_callback
from mitmproxy.net import tls as net_tls
from mitmproxy.proxy import events, layer, layers, server_hooks
from mitmproxy.proxy.layers import modes
from mitmproxy.proxy.layers.tls import parse_client_hello
from OpenSSL import SSL

from mitm_pincheck.proxy import forge as forging
from mitm_pincheck.proxy import internals, records
from mitm_pincheck.scenario import HostSpec, Scenario
from mitm_pincheck.scenario.keys import load_private_key
from mitm_pincheck.verdicts import evidence
from mitm_pincheck.verdicts.journal import Journal
from mitm_pincheck.verdicts.kinds import KINDS

logger = logging.getLogger("mitm_pincheck")

# TLS alert descriptions (RFC 8446 section 6 and RFC 5246 section 7.2)
ALERTS = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    22: "record_overflow",
    40: "handshake_failure",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    109: "missing_extension",
    110: "unsupported_extension",
    112: "unrecognized_name",
    113: "bad_certificate_status_response",
    115: "unknown_psk_identity",
    116: "certificate_required",
    120: "no_application_protocol",
}

# Header names whose presence (never their value) is evidence that a credential was sent.
CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "x-auth-token",
        "x-access-token",
        "x-session-token",
        "x-csrf-token",
        "x-xsrf-token",
        "x-amz-security-token",
    }
)
# Every cipher OpenSSL has, the weak ones included: the proxy must not be the reason a
# handshake fails (an old RSA-only stack refused by us would look like a refusal by it).
CLIENT_CIPHERS = "ALL:@SECLEVEL=0"
# SSL_state_string_long once OpenSSL has written our Certificate message (TLS 1.0 to 1.3).
CERTIFICATE_STATE = b"SSLv3/TLS write certificate"
FINISHED_STATE = b"SSLv3/TLS write finished"
# How long a client's handshake may wait for the upstream's (mitmproxy asks the real server
# first, to copy its names): past this, the forged kinds go ahead without the real chain.
UPSTREAM_TLS_TIMEOUT = 3.0

_CREDENTIAL_WORDS = ("token", "auth", "secret", "session", "apikey", "api-key", "password")


def alert_name(code: int) -> str:
    return ALERTS.get(code, f"alert_{code}")


def credential_headers(names: list[str]) -> list[str]:
    """The header names among `names` that carry credentials."""
    return [
        n
        for n in names
        if n in CREDENTIAL_HEADERS
        or (n.startswith("x-") and any(w in n for w in _CREDENTIAL_WORDS))
    ]


@dataclass
class Phase:
    index: int
    kind: str
    contexts: dict[str, SSL.Context] = field(default_factory=dict)
    last_connection: float = 0.0  # time.monotonic() of the newest connection
    # The devices the app talked on in this phase ("" in a run without devices): empty until
    # its first connection.
    talked: set[str] = field(default_factory=set)
    # A follow-up phase shows the kind only to these patterns; the other hosts under test are
    # passed through untouched and unrecorded, as hosts not under test are. None: all of them.
    only: frozenset[str] | None = None


@dataclass
class _Tracked:
    """What the addon must remember about one intercepted client connection."""

    id: str
    host: str
    phase: int
    kind: str
    handshake_done: bool = False
    handshake_alert: str | None = None  # the first alert the client sent in the handshake
    proxy_alert: str | None = None  # ours, when we gave up on the handshake before the client
    certificate_sent: bool = False  # OpenSSL wrote our Certificate message
    data_journaled: set[str] = field(default_factory=set)  # directions with a `data` event
    closed_by: str | None = None  # "proxy" while we are closing it; "server" if upstream went first
    reset: bool = False  # the client reset the connection (TCP RST) rather than closing it
    observer: records.TlsObserver | None = None  # passthrough: reads the undecrypted records


class PincheckAddon:
    def __init__(
        self,
        scenario: Scenario | None = None,
        journal: Journal | None = None,
        clients: tuple | None = None,
    ):
        self.scenario = scenario
        self.journal = journal
        # --client: the networks whose connections count; None: every client's
        self.clients = clients
        # Several devices (proxy/listeners.py): mode (full spec) -> device label, and per
        # device the networks whose connections count on its listener. Empty: one device.
        self.listeners: dict[str, str] = {}
        self.device_clients: dict[str, tuple | None] = {}
        # (address, host, device) already journaled
        self._ignored_clients: set[tuple[str, str, str]] = set()
        self.phase: Phase | None = None
        self.forge: forging.Forge | None = None
        self.activity = asyncio.Event()  # set on every new connection to a host under test
        self.started = asyncio.Event()  # set once mitmproxy listens
        self._tracked: dict[str, _Tracked] = {}
        self._pending: dict[str, tuple[str, HostSpec]] = {}  # client id -> host seen in ClientHello
        self._forging: dict[tuple[str, str], asyncio.Future] = {}
        self._team_keys: dict[Path, object] = {}  # key file -> private key, for the key kinds

    def running(self):
        if self.forge is None:
            try:
                self.forge = make_forge(Path(ctx.options.confdir).expanduser())
            except Exception as e:  # e.g. a corrupt CA in script mode: say so and stop
                logger.error(f"mitm-pincheck: cannot load the proxy CA: {e}")
                ctx.master.shutdown()
                return
        if self.scenario is not None:
            forging.warm_up(self.scenario.phases)
        self.started.set()

    # ---- phases (called by runner.py)

    def start_phase(
        self, index: int, kind: str, only: frozenset[str] | None = None, **fields
    ) -> None:
        """Start phase `index`; `only` and `fields` for a follow-up (verdicts/followup.py)."""
        self.close_live("proxy")
        self.phase = Phase(index, kind, only=only)
        self._emit("phase-start", phase=kind, index=index, **fields)

    def end_phase(self, reason: str) -> None:
        if self.phase is None:
            return
        self._emit("phase-end", phase=self.phase.kind, index=self.phase.index, reason=reason)
        self.phase = None
        self.close_live("proxy")

    def close_live(self, by: str) -> int:
        """Close every live intercepted client connection, so the app must reconnect."""
        closed = 0
        for tracked in list(self._tracked.values()):
            tracked.closed_by = tracked.closed_by or by
            if internals.close_client_connection(ctx.master, tracked.id):
                closed += 1
        return closed

    # ---- hooks

    def server_connect(self, data: server_hooks.ServerConnectionHookData):
        # like curl --resolve: the upstream goes elsewhere, the SNI stays the host's name
        if self.scenario is None or not data.server.address:
            return
        target = self.scenario.resolve.get(str(data.server.address[0]).lower().rstrip("."))
        if target is not None:
            data.server.address = target

    def next_layer(self, nextlayer: layer.NextLayer):
        # Passthrough of a host under test: relay the TLS bytes untouched, but through a TCP
        # layer whose hooks fire, so records.py can tell from the records what the client did.
        # (mitmproxy's own way, ignore_connection in tls_clienthello, fires no hook at all.)
        if nextlayer.layer is not None or self.scenario is None or self.phase is None:
            return
        context = nextlayer.context
        if KINDS[self.phase.kind].intercepts or not context.server.address:
            return
        data = nextlayer.data_client()
        if context.client.transport_protocol != "tcp" or not net_tls.starts_like_tls_record(data):
            return
        try:
            hello = parse_client_hello(data)  # None while incomplete: the CONNECT host decides
        except ValueError:
            return
        sni = hello.sni if hello else None
        host = sni or str(context.server.address[0])
        spec = self._under_test(host)
        if spec is None:
            return  # not under test: tls_clienthello ignores it, as any other host
        if not self._counts(context.client, host):
            return  # tls_clienthello passes it through
        tracked = self._track(context.client, host.lower().rstrip("."), spec)
        tracked.observer = records.TlsObserver()
        nextlayer.layer = _PassthroughLayer(context, tracked)

    def http_connect(self, flow: http.HTTPFlow):
        # An upstream that is down must not turn CONNECT into a 502 for a host under test: the
        # forged kinds need no upstream (they fall back, with a note), so answer the CONNECT
        # ourselves; the TLS layer still tries the upstream first, and goes ahead without it.
        if flow.response is not None or self.scenario is None or self.phase is None:
            return  # (e.g. proxyauth already answered 407)
        spec = self._under_test(flow.request.host)
        if not KINDS[self.phase.kind].intercepts or spec is None or self._keyless(spec):
            return  # hosts passed through see the real server's answer, 502 included
        if not self._client_allowed(flow.client_conn):
            return
        now = time.time()
        flow.response = http.Response(
            flow.request.data.http_version,
            200,
            b"Connection established",
            http.Headers(),
            b"",
            None,
            now,
            now,
        )  # what mitmproxy itself sends: no headers (Android's -http-proxy needs that)

    def http_connect_error(self, flow: http.HTTPFlow):
        # The app asked for a host under test and the proxy refused (in passthrough the real
        # server must answer; 502 when it is down, 407 without credentials): not "not seen".
        if self.scenario is None or self.phase is None or flow.response is None:
            return
        host = str(flow.request.host).lower().rstrip(".")
        spec = self._under_test(host)
        if spec is None or not self._client_allowed(flow.client_conn):
            return
        self._app_talked(flow.client_conn)
        self._emit(
            "connect-refused",
            phase=self.phase.kind,
            index=self.phase.index,
            host=evidence.cap_text(host),
            pattern=spec.host,
            status=flow.response.status_code,
            client=client_address(flow.client_conn),
            **self._device_field(flow.client_conn),
        )

    def tls_start_server(self, data: tls.TlsData):
        # A server that accepts and never answers would hold the client's handshake for
        # mitmproxy's idle timeout (10 min): give up on it after UPSTREAM_TLS_TIMEOUT.
        client_id = data.context.client.id
        if client_id in self._pending:
            asyncio.get_running_loop().call_later(
                UPSTREAM_TLS_TIMEOUT,
                internals.close_server_connection,
                ctx.master,
                client_id,
                data.conn,
            )

    def tls_clienthello(self, data: tls.ClientHelloData):
        if self.scenario is None or self.phase is None:
            data.ignore_connection = True
            return
        host = data.client_hello.sni or (
            data.context.server.address[0] if data.context.server.address else None
        )
        spec = self._under_test(str(host)) if host else None
        if spec is None or self._keyless(spec):
            # not under test (the device keeps working), or a key kind and the scenario gives
            # this host no key: its row is n/a
            data.ignore_connection = True
            if spec is None and host and self._passed_through_by_followup(str(host)):
                if self._client_allowed(data.context.client):
                    # the app's flow ran: the follow-up may settle
                    self._app_talked(data.context.client)
            return
        if not self._counts(data.context.client, str(host)):
            data.ignore_connection = True  # another client than --client: passed through
            return
        host = str(host).lower().rstrip(".")
        if not KINDS[self.phase.kind].intercepts:
            # next_layer missed it (no CONNECT host, or the addon runs after mitmproxy's
            # NextLayer): pass it through unobserved; it is counted but gets no outcome.
            data.ignore_connection = True
            self._track(data.context.client, host, spec)
            return
        self._pending[data.context.client.id] = (host, spec)

    async def tls_start_client(self, data: tls.TlsData):
        pending = self._pending.pop(data.conn.id, None)
        if pending is None or data.ssl_conn is not None:
            return
        host, spec = pending
        real_chain = [
            x509.load_pem_x509_certificate(c.to_pem()) for c in data.context.server.certificate_list
        ]
        # The phase may change while we forge: then forge the new phase's kind. Never leave
        # ssl_conn empty, or mitmproxy would present its own certificate, untracked.
        while True:
            phase = self.phase
            if phase is None or not KINDS[phase.kind].intercepts:
                self._refuse(data, f"no phase presents a certificate for {host} now")
                return
            team_key = None
            if KINDS[phase.kind].key_role and self.scenario is not None:
                team_key = self.scenario.key_for(spec, phase.index)
                if team_key is None:  # (the phase changed to a key kind it has no key for)
                    self._refuse(data, f"{phase.kind} has no key for {host}")
                    return
            try:
                if team_key is not None:
                    at = spec.keys.at if spec.keys else "leaf"
                    forged = await self._forged(host, phase.kind, real_chain, team_key.path, at)
                else:
                    forged = await self._forged(host, phase.kind, real_chain)
            except Exception as e:
                logger.exception(f"mitm-pincheck: could not forge {phase.kind} for {host}")
                self._refuse(data, f"{phase.kind} for {host} could not be made: {e}")
                return
            if self.phase is phase:
                break
        context = phase.contexts.get(host)
        if context is None:
            context = phase.contexts[host] = self._make_context(forged)
        conn = internals.ObservedConnection(context)
        if len(data.context.layers) == 2 and isinstance(data.context.layers[0], modes.HttpProxy):
            client_alpn: bytes | None = b"http/1.1"  # as TlsConfig: no CONNECT over HTTP/2
        else:
            client_alpn = data.context.client.alpn
        app_data = AppData(
            client_alpn=client_alpn,
            server_alpn=data.context.server.alpn,
            http2=ctx.options.http2,
        )
        tracked = self._track(data.conn, host, spec, forged.notes)
        app_data["pincheck"] = tracked  # type: ignore[typeddict-unknown-key]
        conn.set_app_data(app_data)
        conn.on_data = lambda size: self._client_data(tracked, size)
        client = data.conn

        def proxy_closing() -> None:
            # The layers above closed the client's connection (an error response, a GOAWAY,
            # a failed upstream) while the client could still send: the proxy went first.
            if tracked.closed_by is None and client.state & connection.ConnectionState.CAN_READ:
                tracked.closed_by = "proxy"

        if data.context.layers and isinstance(data.context.layers[-1], layers.ClientTLSLayer):
            internals.watch_proxy_close(data.context.layers[-1], proxy_closing)
        internals.read_before_reset(ctx.master, client.id, lambda: self._reset(tracked))
        internals.acknowledge_at_once(ctx.master, client.id)
        conn.set_accept_state()
        data.ssl_conn = conn

    def _refuse(self, data: tls.TlsData, why: str) -> None:
        """Close a client connection to a host under test instead of presenting anything."""
        logger.info(f"mitm-pincheck: closing a connection: {why}")
        data.ssl_conn = SSL.Connection(self._no_certificate)  # fails at once, on our side
        data.ssl_conn.set_accept_state()
        internals.close_client_connection(ctx.master, data.conn.id)

    def tls_established_client(self, data: tls.TlsData):
        tracked = self._tracked.get(data.conn.id)
        if tracked is None:
            return
        tracked.handshake_done = True
        resumed = internals.session_reused(data.ssl_conn) if data.ssl_conn else None
        self._emit(
            "handshake",
            id=tracked.id,
            resumed=bool(resumed),
            tls_version=data.conn.tls_version,
            alpn=data.conn.alpn.decode("ascii", "replace") if data.conn.alpn else None,
        )

    def tls_failed_client(self, data: tls.TlsData):
        tracked = self._tracked.get(data.conn.id)
        if tracked is None:
            return
        if not tracked.certificate_sent and not (tracked.handshake_alert or tracked.proxy_alert):
            # Gone before our certificate went out (mitmproxy: "connection closed early",
            # e.g. it gave up while we waited for the upstream): it never saw our certificate,
            # so this is no rejection. Without a handshake event it stays "stalled".
            return
        if tracked.closed_by in ("proxy", "server"):
            # We (at a phase change) or the upstream ended a handshake the client had left
            # hanging: not the client's refusal. Without a handshake event it stays "stalled".
            return
        self._emit(
            "handshake-failed",
            id=tracked.id,
            alert=tracked.handshake_alert,
            error=str(data.conn.error or ""),
            proxy_alert=tracked.proxy_alert,
            certificate_sent=tracked.certificate_sent,
        )

    def requestheaders(self, flow: http.HTTPFlow):
        tracked = self._tracked.get(flow.client_conn.id)
        if tracked is None:
            return
        names = sorted({header_name(name) for name in flow.request.headers.keys()})
        path, had_query = evidence.split_path(flow.request.path)
        self._emit(
            "request",
            id=tracked.id,
            method=evidence.cap_text(flow.request.method, 32),
            host=tracked.host,  # the connection's host: a Host header's value may hold secrets
            path=path,
            header_names=evidence.cap_items(names),
            credentials=evidence.cap_items(credential_headers(names)),
            has_query=had_query,
        )

    def tcp_message(self, flow: tcp.TCPFlow):
        tracked = self._tracked.get(flow.client_conn.id)
        if tracked is None or not flow.messages:
            return
        if tracked.observer is not None:
            message = flow.messages[-1]
            self._observed(tracked, tracked.observer.feed(message.from_client, message.content))
            del flow.messages[:-1]  # opaque TLS records: do not keep a long download in memory
            return
        direction = "client" if flow.messages[-1].from_client else "server"
        if direction not in tracked.data_journaled:  # one event per direction is the evidence
            tracked.data_journaled.add(direction)
            self._emit("data", id=tracked.id, direction=direction)

    def tcp_end(self, flow: tcp.TCPFlow):
        tracked = self._tracked.get(flow.client_conn.id)
        if tracked is not None and tracked.observer is not None:
            self._observed(tracked, tracked.observer.end())

    tcp_error = tcp_end

    def server_disconnected(self, data: server_hooks.ServerConnectionHookData):
        tracked = self._tracked.get(data.client.id)
        # mitmproxy also closes the upstream when the client went first, and may say so before
        # client_disconnected: only a client that can still send was left by the server.
        client_open = bool(data.client.state & connection.ConnectionState.CAN_READ)
        if tracked is not None and tracked.closed_by is None and client_open:
            tracked.closed_by = "server"

    def client_disconnected(self, client: connection.Client):
        self._pending.pop(client.id, None)
        tracked = self._tracked.pop(client.id, None)
        if tracked is not None:
            if tracked.observer is not None:
                self._observed(tracked, tracked.observer.end())
            fields = {"reset": True} if tracked.reset else {}
            self._emit("closed", id=tracked.id, by=tracked.closed_by or "client", **fields)

    # ---- helpers

    def _under_test(self, host: str) -> HostSpec | None:
        """The scenario entry for `host`, unless this (follow-up) phase passes it through."""
        spec = self.scenario.host_for(host) if self.scenario is not None else None
        only = self.phase.only if self.phase is not None else None
        if spec is not None and only is not None and spec.host not in only:
            return None
        return spec

    def _app_talked(self, client: connection.Client) -> None:
        """The app did talk in this phase: the phase may settle once it goes quiet."""
        assert self.phase is not None
        self.phase.talked.add(self.device_of(client) or "")
        self.phase.last_connection = time.monotonic()
        self.activity.set()

    def _passed_through_by_followup(self, host: str) -> bool:
        """A host under test that this follow-up phase passes through (it refused earlier)."""
        phase = self.phase
        if phase is None or phase.only is None or self.scenario is None:
            return False
        return self.scenario.host_for(host) is not None

    def _track(self, client: connection.Client, host: str, spec: HostSpec, notes=()) -> _Tracked:
        assert self.phase is not None
        tracked = _Tracked(id=client.id, host=host, phase=self.phase.index, kind=self.phase.kind)
        self._tracked[client.id] = tracked
        self._app_talked(client)
        self._emit(
            "conn",
            id=client.id,
            phase=self.phase.kind,
            kind=self.phase.kind,
            host=evidence.cap_text(host),
            pattern=spec.host,
            notes=list(notes),
            client=client_address(client),
            **self._device_field(client),
        )
        return tracked

    def _reset(self, tracked: _Tracked) -> None:
        # A client that resets discards what it had not sent yet (SO_LINGER 0, or unread data
        # in its buffers): a request may have been lost on its way, so this close is no refusal.
        if tracked.closed_by is None:
            tracked.closed_by = "client"
            tracked.reset = True

    def _client_data(self, tracked: _Tracked, size: int) -> None:
        """The client sent `size` decrypted bytes: acceptance, whatever they are."""
        if "client" not in tracked.data_journaled:
            tracked.data_journaled.add("client")
            self._emit("data", id=tracked.id, direction="client", bytes=size)

    def device_of(self, client: connection.Client) -> str | None:
        """The device whose listener accepted `client`; None in a run without devices.

        From the server that accepted the connection, never from anything the client sent."""
        if not self.listeners:
            return None
        mode = getattr(client, "proxy_mode", None)
        return self.listeners.get(getattr(mode, "full_spec", ""))

    def _device_field(self, client: connection.Client) -> dict:
        """`device=...` for a journal event, in a run with devices."""
        return {"device": self.device_of(client)} if self.listeners else {}

    def _client_allowed(self, client: connection.Client) -> bool:
        if self.listeners:
            device = self.device_of(client)
            if device is None:  # a listener of no device: nothing it carries counts
                return False
            networks = self.device_clients.get(device, self.clients)
        else:
            networks = self.clients
        if networks is None:
            return True
        try:
            address = ipaddress.ip_address(client_address(client) or "")
        except ValueError:
            return False
        return any(address.version == net.version and address in net for net in networks)

    def _counts(self, client: connection.Client, host: str) -> bool:
        """Whether this client's connection to a host under test counts; a client outside
        --client is journaled once per host (`ignored-client`) and passed through."""
        if self._client_allowed(client):
            return True
        key = (
            client_address(client) or "?",
            evidence.cap_text(host.lower().rstrip(".")),
            self.device_of(client) or "",
        )
        if key not in self._ignored_clients:
            self._ignored_clients.add(key)
            self._emit("ignored-client", client=key[0], host=key[1], **self._device_field(client))
        return False

    def _observed(self, tracked: _Tracked, found: list[records.Event]) -> None:
        """Journal events for what records.py read off a passthrough connection."""
        for event in found:
            if isinstance(event, records.Handshake):
                tracked.handshake_done = True
                # `resumed` means "was shown no certificate of ours": never in passthrough,
                # where resuming the real server's session is as good a proof as a full one.
                self._emit(
                    "handshake",
                    id=tracked.id,
                    resumed=False,
                    tls_version=event.tls_version,
                    alpn=None,
                    session_resumed=event.resumed,
                )
            elif isinstance(event, records.HandshakeFailed):
                if tracked.closed_by in ("proxy", "server"):
                    continue  # we, or the server, ended it: not the client's refusal
                alert = _record_alert(event.alert, event.encrypted)
                self._emit(
                    "handshake-failed",
                    id=tracked.id,
                    alert=alert,
                    error="the client sent an alert" if alert else "the client closed",
                )
            elif isinstance(event, records.Alert):
                alert = _record_alert(event.alert, encrypted=True)
                self._emit("alert", id=tracked.id, alert=alert, after_handshake=True)
            elif isinstance(event, records.Data):
                self._emit("data", id=tracked.id, direction=event.direction)

    def _keyless(self, spec: HostSpec) -> bool:
        """A key kind's phase, and the scenario gives this host no key for it."""
        phase = self.phase
        if phase is None or self.scenario is None or not KINDS[phase.kind].key_role:
            return False
        return self.scenario.key_for(spec, phase.index) is None

    async def _forged(
        self,
        host: str,
        kind: str,
        real_chain: list[x509.Certificate],
        key_file: Path | None = None,
        at: str = "leaf",
    ):
        """Forge once per (host, kind, key), off the event loop; concurrent first calls share it."""
        key = (host, f"{kind}:{key_file}:{at}" if key_file else kind)
        future = self._forging.get(key)
        if future is None:
            assert self.forge is not None
            if key_file is None:
                call = asyncio.to_thread(self.forge.forge, host, kind, real_chain or None)
            else:
                team_key = self._team_keys.get(key_file)
                if team_key is None:
                    team_key = self._team_keys[key_file] = load_private_key(key_file)
                call = asyncio.to_thread(
                    self.forge.forge_with_key, host, kind, team_key, at, real_chain or None
                )
            future = asyncio.ensure_future(call)
            self._forging[key] = future
        return await future

    def _make_context(self, forged: forging.Forged) -> SSL.Context:
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        # Negotiate wherever the real server would: a handshake that fails for want of a shared
        # version, cipher or signature algorithm says nothing about the client's checks. So
        # every version from TLS 1.0, every cipher OpenSSL has, and an EC and an RSA leaf.
        max_version = net_tls.Version[ctx.options.tls_version_client_max]
        context.set_min_proto_version(SSL.TLS1_VERSION)
        context.set_max_proto_version(max_version.value)
        context.set_cipher_list((ctx.options.ciphers_client or CLIENT_CIPHERS).encode())
        internals.allow_every_tls13_cipher(context)
        internals.enable_dhe(ctx.master, context)
        # Resumption would let a client skip certificate checks: make it impossible. No TLS 1.3
        # tickets either: they are written after the client's Finished, and a write to a
        # client that already reset the connection would lose the request it sent.
        context.set_options(SSL.OP_NO_TICKET | SSL.OP_NO_COMPRESSION)
        context.set_session_cache_mode(SSL.SESS_CACHE_OFF)
        if not internals.disable_session_tickets(context):
            logger.debug("mitm-pincheck: TLS 1.3 session tickets could not be turned off")
        for cert, key in forged.leaves:
            context.use_certificate(cert)
            context.use_privatekey(key)
        for cert in forged.chain[1:]:
            context.add_extra_chain_cert(cert)
        context.set_alpn_select_callback(alpn_select_callback)
        context.set_info_callback(self._on_tls_info)
        return context

    @functools.cached_property
    def _no_certificate(self) -> SSL.Context:
        return SSL.Context(SSL.TLS_SERVER_METHOD)

    def _on_tls_info(self, conn: SSL.Connection, where: int, ret: int) -> None:
        # Runs inside OpenSSL: must never raise.
        try:
            tracked = conn.get_app_data()["pincheck"]
            if where & SSL.SSL_CB_LOOP:
                # Called as OpenSSL leaves a state: this one means our Certificate is written.
                state = conn.get_state_string()
                if state == CERTIFICATE_STATE:
                    tracked.certificate_sent = True
                elif state == FINISHED_STATE and not tracked.handshake_done:
                    self._acknowledge_soon(tracked.id)
                return
            if not where & SSL.SSL_CB_ALERT:
                return
            name = alert_name(ret & 0xFF)
            # SSL_CB_READ_ALERT and SSL_CB_WRITE_ALERT share the SSL_CB_ALERT bit: test the
            # direction bit, or our own alerts would pass for the client's.
            if where & SSL.SSL_CB_WRITE:
                if not tracked.handshake_done and tracked.handshake_alert is None:
                    tracked.proxy_alert = tracked.proxy_alert or name
                return
            if not where & SSL.SSL_CB_READ:
                return
            if not tracked.handshake_done:
                tracked.handshake_alert = tracked.handshake_alert or name
            elif tracked.id in self._tracked and tracked.closed_by is None:
                # (a close_notify answering our own or the upstream's close is no refusal)
                self._emit("alert", id=tracked.id, alert=name, after_handshake=True)
        except Exception:  # pragma: no cover - defensive
            logger.exception("mitm-pincheck: could not record a TLS alert")

    def _acknowledge_soon(self, client_id: str) -> None:
        """Once our last handshake flight is out (after this loop turn): see
        internals.acknowledge_at_once."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not inside mitmproxy's loop: nothing to speed up
            return
        loop.call_soon(internals.acknowledge_at_once, ctx.master, client_id)

    def _emit(self, event: str, **fields) -> None:
        if self.journal is not None:
            self.journal.emit(event, **fields)


class _PassthroughLayer(layers.TCPLayer):
    """mitmproxy's TCP relay, noting which side closed first. Hooks cannot tell: mitmproxy
    fires server_disconnected before client_disconnected whoever closed."""

    def __init__(self, context, tracked: _Tracked):
        super().__init__(context)
        self.tracked = tracked

    def handle_event(self, event: events.Event):
        if isinstance(event, events.ConnectionClosed) and self.tracked.closed_by is None:
            client = event.connection is self.context.client
            self.tracked.closed_by = "client" if client else "server"
        yield from super().handle_event(event)


def client_address(client: connection.Client) -> str | None:
    """The client's IP address (no port), IPv4-mapped IPv6 written as IPv4."""
    peer = getattr(client, "peername", None)
    if not peer:
        return None
    try:
        address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    except ValueError:
        return evidence.cap_text(peer[0], 64)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def header_name(name: str) -> str:
    """A header name as recorded: lower case, cleaned and capped, spaces before the colon
    gone (`Authorization : x` is still an Authorization header to many servers)."""
    return evidence.cap_text(name.strip().lower(), 128)


def _record_alert(code: int | None, encrypted: bool) -> str | None:
    if code is not None:
        return alert_name(code)
    return "encrypted" if encrypted else None


def make_forge(confdir: Path) -> forging.Forge:
    trusted = forging.authority_from_mitmproxy_confdir(confdir)
    return forging.Forge(trusted, forging.load_or_create_untrusted_ca(confdir))

"""Journal events -> connections -> what the client did with each one -> one outcome per host.

Pure: takes the event dicts of `docs/internals.md` and returns data. The rules here are the
"Outcome classification" section of that document; `verdict.py` turns outcomes into verdicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mitm_pincheck.verdicts import evidence

ACCEPTED = "accepted"
REJECTED_IN_HANDSHAKE = "rejected-in-handshake"
REJECTED_AFTER_HANDSHAKE = "rejected-after-handshake"
# The handshake failed on the proxy's side (no shared version, cipher or signature algorithm:
# our alert, not the client's), or the client left before it was shown our certificate with
# an alert about the handshake itself. Not a refusal of anything: inconclusive.
INCOMPATIBLE = "incompatible"
IDLE = "idle"
NOT_SEEN = "not-seen"

# Strongest evidence first: this is also the aggregation order.
OUTCOMES: tuple[str, ...] = (
    ACCEPTED,
    REJECTED_AFTER_HANDSHAKE,
    REJECTED_IN_HANDSHAKE,
    INCOMPATIBLE,
    IDLE,
    NOT_SEEN,
)

# Recorded for evidence, never an outcome: a resumed session shows the client no certificate,
# and a connection that never reached a TLS handshake with our certificate says nothing.
RESUMED = "resumed"
STALLED = "stalled"
NON_OUTCOMES: tuple[str, ...] = (RESUMED, STALLED)

CLOSED_WITHOUT_ALERT = "closed without alert"
RESET_AFTER_HANDSHAKE = "reset right after the handshake: data may have been lost"

# Alerts a client sends about the handshake's parameters, never about a certificate: the
# client could not negotiate with the proxy, which says nothing about what it trusts.
INCOMPATIBLE_ALERTS = frozenset(
    {
        "protocol_version",
        "insufficient_security",
        "no_application_protocol",
        "unsupported_extension",
        "missing_extension",
    }
)

# The only request fields that may leave the journal (never header values or query strings).
REQUEST_FIELDS: tuple[str, ...] = (
    "method",
    "host",
    "path",
    "header_names",
    "credentials",
    "has_query",
)


@dataclass(frozen=True)
class Request:
    method: str
    host: str
    path: str
    header_names: tuple[str, ...] = ()
    credentials: tuple[str, ...] = ()
    has_query: bool = False

    @classmethod
    def from_event(cls, event: dict) -> Request:
        # Copy the allowed fields one by one: whatever else the event carries stays behind.
        return cls(
            method=str(event.get("method") or ""),
            host=str(event.get("host") or ""),
            path=path_without_query(str(event.get("path") or "")),
            header_names=tuple(str(h) for h in event.get("header_names") or ()),
            credentials=tuple(str(c) for c in event.get("credentials") or ()),
            has_query=bool(event.get("has_query"))
            or evidence.split_path(str(event.get("path") or ""))[1],
        )

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "host": self.host,
            "path": self.path,
            "header_names": list(self.header_names),
            "credentials": list(self.credentials),
            "has_query": self.has_query,
        }


@dataclass
class Connection:
    """Everything the journal says about one client connection, in arrival order."""

    id: str
    phase: str
    kind: str
    host: str
    pattern: str
    notes: list[str] = field(default_factory=list)
    # Position of the phase in the scenario, from the last `phase-start` before the `conn`.
    phase_index: int | None = None
    opened_at: float | None = None
    handshake_ok: bool = False
    resumed: bool = False
    tls_version: str | None = None
    alpn: str | None = None
    handshake_failed: bool = False
    handshake_alert: str | None = None  # from `handshake-failed`
    handshake_error: str | None = None
    # Our own alert, when the proxy gave up on the handshake before the client sent any.
    proxy_alert: str | None = None
    # False when the client left before our certificate went out (journals from before this
    # field: assumed sent, as they only journaled such failures).
    certificate_sent: bool = True
    alerts_in_handshake: list[str] = field(default_factory=list)
    alerts_after_handshake: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    client_data: bool = False
    client_bytes: int | None = None  # size of the first decrypted read, when known
    server_data: bool = False
    closed_by: str | None = None  # "client" | "proxy" | "server" | None
    reset: bool = False  # the client's close was a TCP reset
    # The `conn` event's `device` label, in a run on several devices (None: a run as before).
    device: str | None = None

    @property
    def alerts(self) -> list[str]:
        """Every alert the client sent on this connection, in order, without repeats."""
        names = [self.handshake_alert] if self.handshake_alert else []
        return _dedupe([*self.alerts_in_handshake, *names, *self.alerts_after_handshake])


@dataclass(frozen=True)
class ConnOutcome:
    outcome: str  # one of OUTCOMES (never NOT_SEEN) or NON_OUTCOMES
    detail: str  # the alert name, "closed without alert", the first request, ...

    @property
    def counted(self) -> bool:
        return self.outcome not in NON_OUTCOMES


def fold_connections(events: Iterable[dict]) -> list[Connection]:
    """Fold journal events into connections, in the order their `conn` events arrived.

    Events about an id whose `conn` has not arrived (yet) are ignored, as are unknown events.
    """
    folder = Folder()
    for ev in events:
        folder.add(ev)
    return list(folder.connections.values())


class Folder:
    """`fold_connections` one event at a time, for the live view: O(1) per event."""

    def __init__(self) -> None:
        self.connections: dict[str, Connection] = {}
        self._phase_index: int | None = None

    def add(self, ev: object) -> Connection | None:
        """Fold `ev` in; returns the connection it was about, if any."""
        if not isinstance(ev, dict):
            return None
        name = ev.get("event")
        if name == "phase-start":
            index = ev.get("index")
            self._phase_index = index if isinstance(index, int) else self._phase_index
            return None
        cid = ev.get("id")
        if cid is None:
            return None
        cid = str(cid)
        conn = self.connections.get(cid)
        if name == "conn":
            if conn is None:  # a repeated `conn` adds nothing
                conn = self.connections[cid] = _new_connection(cid, ev, self._phase_index)
            return conn
        if conn is not None:
            _apply(conn, name, ev)
        return conn


def _new_connection(cid: str, ev: dict, phase_index: int | None) -> Connection:
    host = str(ev.get("host") or "")
    ts = ev.get("ts")
    return Connection(
        id=cid,
        phase=str(ev.get("phase") or ""),
        kind=str(ev.get("kind") or ev.get("phase") or ""),
        host=host,
        pattern=str(ev.get("pattern") or host),
        notes=[str(n) for n in ev.get("notes") or ()],
        phase_index=phase_index,
        opened_at=float(ts) if isinstance(ts, int | float) else None,
        device=ev["device"] if isinstance(ev.get("device"), str) else None,
    )


def _apply(conn: Connection, name: object, ev: dict) -> None:
    if name == "handshake":
        conn.handshake_ok = True
        conn.resumed = conn.resumed or bool(ev.get("resumed"))
        conn.tls_version = ev.get("tls_version") or conn.tls_version
        conn.alpn = ev.get("alpn") or conn.alpn
    elif name == "handshake-failed":
        conn.handshake_failed = True
        conn.handshake_alert = ev.get("alert") or conn.handshake_alert
        conn.handshake_error = ev.get("error") or conn.handshake_error
        conn.proxy_alert = ev.get("proxy_alert") or conn.proxy_alert
        if ev.get("certificate_sent") is False:
            conn.certificate_sent = False
    elif name == "alert":
        alert = ev.get("alert")
        if alert:
            after = ev.get("after_handshake")
            if after is None:  # not said: infer from what we know so far
                after = conn.handshake_ok
            target = conn.alerts_after_handshake if after else conn.alerts_in_handshake
            target.append(str(alert))
    elif name == "request":
        conn.requests.append(Request.from_event(ev))
    elif name == "data":
        if ev.get("direction") == "server":
            conn.server_data = True
        else:
            conn.client_data = True
            size = ev.get("bytes")
            if conn.client_bytes is None and isinstance(size, int) and not isinstance(size, bool):
                conn.client_bytes = size
    elif name == "closed":
        if conn.closed_by is None:
            # Only "client" is a refusal; "proxy", "server" (the upstream went away first) or
            # anything unknown is not the client's doing, so it must never turn into a pass.
            conn.closed_by = str(ev.get("by") or "unknown")
            conn.reset = bool(ev.get("reset"))


def classify(conn: Connection) -> ConnOutcome:
    """What the client did with one connection (docs/internals.md, "Outcome classification")."""
    if conn.resumed:
        return ConnOutcome(RESUMED, "resumed an earlier TLS session")
    if conn.requests:
        r = conn.requests[0]
        return ConnOutcome(ACCEPTED, f"{r.method} {r.path}".strip())
    if conn.client_data:
        if conn.client_bytes:
            return ConnOutcome(ACCEPTED, f"{conn.client_bytes} bytes of non-HTTP data")
        return ConnOutcome(ACCEPTED, "application data")
    if conn.handshake_failed:
        alert = conn.handshake_alert or _first(conn.alerts_in_handshake)
        if conn.proxy_alert and not alert:
            return ConnOutcome(INCOMPATIBLE, f"{conn.proxy_alert} from the proxy")
        if alert in INCOMPATIBLE_ALERTS:
            return ConnOutcome(INCOMPATIBLE, f"{alert} from the client")
        if not conn.certificate_sent:
            if alert:
                return ConnOutcome(INCOMPATIBLE, f"{alert} from the client, before our certificate")
            return ConnOutcome(STALLED, "gone before our certificate was sent")
        return ConnOutcome(REJECTED_IN_HANDSHAKE, alert or CLOSED_WITHOUT_ALERT)
    if conn.handshake_ok:
        if conn.alerts_after_handshake:
            # close_notify counts too: OkHttp's CertificatePinner closes politely.
            return ConnOutcome(REJECTED_AFTER_HANDSHAKE, conn.alerts_after_handshake[0])
        if conn.closed_by == "client" and conn.reset:
            # A reset throws away what the client had not sent yet: a request held back by
            # Nagle until our ACK came is lost with it. Not a refusal we can tell from a leak.
            return ConnOutcome(IDLE, RESET_AFTER_HANDSHAKE)
        if conn.closed_by == "client":
            return ConnOutcome(REJECTED_AFTER_HANDSHAKE, CLOSED_WITHOUT_ALERT)
        # Still open at phase end, or closed by us (or by the upstream's going away).
        return ConnOutcome(IDLE, "no data before the phase ended")
    if conn.alerts_in_handshake:
        # The client refused during the handshake even though no handshake-failed arrived.
        return ConnOutcome(REJECTED_IN_HANDSHAKE, conn.alerts_in_handshake[0])
    return ConnOutcome(STALLED, "no TLS handshake with our certificate")


def aggregate(outcomes: Iterable[str | ConnOutcome]) -> str:
    """One outcome for a (host, phase): the strongest evidence among its connections."""
    seen = {o.outcome if isinstance(o, ConnOutcome) else o for o in outcomes}
    for word in OUTCOMES:
        if word in seen:
            return word
    return NOT_SEEN


def path_without_query(path: str) -> str:
    """The path of a request target without its query string, fragment, encoded query or
    path parameters (`;jsessionid=...`), capped (evidence.py)."""
    return evidence.safe_path(path)


def _first(items: list[str]) -> str | None:
    return items[0] if items else None


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))

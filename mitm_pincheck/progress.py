"""Feeds the live view from journal events, so what a person sees is what the journal says."""

from __future__ import annotations

from mitm_pincheck import results
from mitm_pincheck.outcome import aggregate, classify, fold_connections
from mitm_pincheck.report.live import LiveView

_CONNECTION_EVENTS = frozenset(
    {"conn", "handshake", "handshake-failed", "alert", "request", "data", "closed"}
)


class Progress:
    def __init__(self, view: LiveView, timeout: float | None):
        self.view = view
        self.timeout = timeout
        self._events: list[dict] = []
        self._phase_events: list[dict] = []
        self._host_of: dict[str, str] = {}

    def on_event(self, event: dict) -> None:
        self._events.append(event)
        name = event.get("event")
        if name == "phase-start":
            self._phase_events = []
            self.view.phase_started(event["phase"], event["index"], self.timeout)
        elif name in _CONNECTION_EVENTS:
            if name == "conn":
                self._host_of[event["id"]] = event["host"]
            host = self._host_of.get(event.get("id", ""))
            if host is None:
                return
            self._phase_events.append(event)
            self.view.connection(host, self._outcome_so_far(host), new=name == "conn")
        elif name == "phase-end":
            report = results.build_report(self._events)
            rows = [r for r in report["results"] if r["phase"] == event["phase"]]
            self.view.phase_ended(event["phase"], rows)

    def note(self, text: str) -> None:
        self.view.note(text.strip())

    def tick(self, time_left: float | None) -> None:
        self.view.tick(time_left)

    def close(self) -> None:
        self.view.close()

    def _outcome_so_far(self, host: str) -> str | None:
        connections = [c for c in fold_connections(self._phase_events) if c.host == host]
        counted = [o for o in map(classify, connections) if o.counted]
        return aggregate(counted) if counted else None

"""Feeds the live view from journal events, so what a person sees is what the journal says.

In a run on several devices each connection's `device` keeps its cells apart: the same host on
two devices is two cells, and two devices are two clients, not a second client of one device."""

from __future__ import annotations

from collections import Counter

from mitm_pincheck.report.live import LiveView
from mitm_pincheck.verdicts import devices, results
from mitm_pincheck.verdicts.outcome import Folder, aggregate, classify

_CONNECTION_EVENTS = frozenset(
    {"conn", "handshake", "handshake-failed", "alert", "request", "data", "closed"}
)


class Progress:
    def __init__(self, view: LiveView, timeout: float | None):
        self.view = view
        self.timeout = timeout
        self._events: list[dict] = []
        # This phase's connections, folded as their events arrive, and per host how many of
        # them have each (counted) outcome: the live cell is updated in O(1) per event.
        self._phase = Folder()
        self._outcome_of: dict[str, str | None] = {}  # connection id -> its counted outcome
        # (host, device) -> outcome -> connections; device None in a run without devices
        self._counts: dict[tuple[str, str | None], Counter[str]] = {}
        # device -> client addresses of its connections to hosts under test
        self._clients: dict[str | None, set[str]] = {}
        # The run's devices when it has several (`run-start.devices`); else none: a run on one
        # device shows its cells as a run without devices does, like its report.
        self._devices: list[str] = []

    def on_event(self, event: dict) -> None:
        self._events.append(event)
        name = event.get("event")
        if name == "run-start":
            labels = [d["label"] for d in devices.of_run_start(event.get("devices"))]
            self._devices = labels if len(labels) > 1 else []
            self.view.add_devices(self._devices)
        if name == "conn":
            self._new_client(event.get("client"), self._device(event.get("device")))
        if name == "phase-start":
            if event.get("followup"):
                self.view.note(followup_note(event))
            self._phase, self._outcome_of, self._counts = Folder(), {}, {}
            self._phase.add(event)
            self.view.phase_started(event["phase"], event["index"], self.timeout)
        elif name in _CONNECTION_EVENTS:
            conn = self._phase.add(event)
            if conn is None:
                return  # not a connection of this phase
            cell = (conn.host, self._device(conn.device))
            counts = self._counts.setdefault(cell, Counter())
            if (old := self._outcome_of.get(conn.id)) is not None:
                counts[old] -= 1
            outcome = classify(conn)
            self._outcome_of[conn.id] = outcome.outcome if outcome.counted else None
            if outcome.counted:
                counts[outcome.outcome] += 1
            self.view.connection(
                conn.host, self._outcome_so_far(cell), new=name == "conn", device=cell[1]
            )
        elif name == "phase-end":
            report = results.build_report(self._events)
            index = event.get("index")
            if isinstance(index, int):
                rows = results.rows_of_phase(report, index)
            else:
                rows = [r for r in report["results"] if r["phase"] == event["phase"]]
            self.view.phase_ended(event["phase"], rows, index if isinstance(index, int) else None)

    def _device(self, tag: object) -> str | None:
        """The device a connection's cells belong to: its tag in a run on several devices."""
        return str(tag) if self._devices and isinstance(tag, str) and tag else None

    def _new_client(self, address: object, device: str | None = None) -> None:
        clients = self._clients.setdefault(device, set())
        if not isinstance(address, str) or address in clients:
            return
        clients.add(address)
        if len(clients) == 2:
            where = f" of {device}" if device else ""
            self.note(
                f"warning: connections to hosts under test{where} come from more than one client "
                f"({', '.join(sorted(clients))}); use --client to count only the device"
            )

    def note(self, text: str) -> None:
        self.view.note(text.strip())

    def tick(self, time_left: float | None) -> None:
        self.view.tick(time_left)

    def close(self) -> None:
        self.view.close()

    def _outcome_so_far(self, cell: tuple[str, str | None]) -> str | None:
        seen = [outcome for outcome, n in self._counts.get(cell, Counter()).items() if n > 0]
        return aggregate(seen) if seen else None


def followup_note(event: dict) -> str:
    """The line announcing a follow-up phase (verdicts/followup.py)."""
    shown = ", ".join(str(p) for p in event.get("shown") or ())
    passed = ", ".join(str(p) for p in event.get("passed_through") or ())
    return (
        f"follow-up {event.get('followup')} of {event.get('phase')}: {shown} not seen while "
        f"{passed} refused; again with {passed} passed through"
    )

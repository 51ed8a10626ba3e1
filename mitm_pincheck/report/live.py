"""The live view of a run: which phase, how long it has left, who connected, verdicts so far.

On a terminal it is a Rich `Live` block redrawn in place (at most four times a second), with a
one-line summary of each finished phase printed above it. When the output is not a terminal (CI
logs) it prints plain lines, only when something happens, and never an escape sequence. It only
writes to the stream it was given: no threads (Rich's auto-refresh is off), no timers. The runner
calls `tick()` about once a second, which also draws anything a throttled event left pending.
Host names come from the network and phases from the scenario: all text goes through
`terminal.clean()` / `terminal.text()` (see report/terminal.py).

A run on several devices has a grid row per host and device (`host · device`): each device's
connections and verdicts in a row of their own, so one device's never hide another's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TextIO

from rich.console import Group
from rich.live import Live
from rich.text import Text

from mitm_pincheck.report import terminal
from mitm_pincheck.report.terminal import clean

MIN_REDRAW_INTERVAL = 0.25  # seconds: at most ~4 redraws a second, however busy the app is
_LABEL = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCL"}
_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "inconclusive": "yellow",
    "dim": "dim",
    "bold": "bold",
}
_PREFIX = "[pincheck] "


def is_interactive(stream: TextIO) -> bool:
    """Redraw in place only on a real terminal that understands cursor movement."""
    return terminal.is_terminal(stream)


class LiveView:
    def __init__(
        self,
        stream: TextIO,
        interactive: bool,
        hosts: list[str],
        phases: list[str],
        *,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
        height: int | None = None,
        color: bool | None = None,
        devices: list[str] | None = None,
    ) -> None:
        self._interactive = interactive
        if color is None:
            color = interactive and terminal.wants_color(stream)
        self._console = terminal.console(
            stream, terminal=interactive, color=interactive and color, width=width, height=height
        )
        if interactive:
            # One column spare: a line that fills the last column wraps on some terminals.
            self._console.width = max(self._console.width - 1, 10)
        self._height = self._console.height if interactive else 24
        self._hosts = list(dict.fromkeys(clean(h) for h in hosts))
        self._phases = [clean(p) for p in phases]
        # Device labels, in the run's order; a device first seen in an event is added. While
        # none is known, a row per host (device None), as in a run without devices.
        # One device alone is shown as a run without devices, as its report is.
        labels = list(dict.fromkeys(clean(d) for d in devices or ()))
        self._devices: list[str] = labels if len(labels) > 1 else []
        self._clock = clock
        self._phase: str | None = None
        self._index = 0
        self._timeout: float | None = None
        self._time_left: float | None = None
        # Keyed by (host, device): device None in a run without devices.
        self._connections: dict[tuple[str, str | None], int] = {}
        self._outcomes: dict[tuple[str, str | None], str | None] = {}
        self._verdicts: dict[tuple[str, str | None, int], str] = {}
        self._live: Live | None = None
        self._last_draw: float | None = None
        self._closed = False

    # Events from the runner.

    def phase_started(self, phase: str, index: int, timeout: float | None) -> None:
        """A phase began; `index` is 0-based, `timeout` in seconds or None (waits for Enter)."""
        phase = clean(phase)
        self._phase, self._index, self._timeout = phase, index, timeout
        self._time_left = timeout
        self._connections.clear()
        self._outcomes.clear()
        self._column(phase, index)
        if self._interactive:
            self._redraw(force=True)
        else:
            limit = "no timeout" if timeout is None else f"timeout {_clock(timeout)}"
            self._line(f"phase {self._position()} {phase}: started ({limit})")

    def connection(
        self, host: str, outcome_so_far: str | None, new: bool = True, device: str | None = None
    ) -> None:
        """A client connected to `host` (`new=False`: only its outcome so far changed), from
        `device` in a run on several devices. Called per journal event on the event loop: O(1)
        unless a redraw is due."""
        host = clean(host)
        cell = (host, self._add_device(device))
        first = cell not in self._connections
        self._add_host(host)
        self._connections[cell] = self._connections.get(cell, 0) + (1 if new else 0)
        self._outcomes[cell] = outcome_so_far
        if self._interactive:
            self._redraw()
        elif first and new:
            seen = f" ({clean(outcome_so_far)})" if outcome_so_far else ""
            self._line(f"{self._phase or '-'}: first connection to {_name(*cell)}{seen}")

    def tick(self, time_left: float | None) -> None:
        """Time passes: `time_left` in seconds, or None when the phase has no timeout."""
        self._time_left = time_left
        if self._interactive:
            self._redraw()

    def phase_ended(self, phase: str, rows: Iterable[Mapping], index: int | None = None) -> None:
        """The phase's result rows (as in report.json) are in: fill in its verdicts. `index`
        tells apart phases of one name (a backup-key round per backup key)."""
        phase = clean(phase)
        rows = list(rows)
        column = self._column(phase, index)
        for row in rows:
            host = clean(row.get("host"))
            self._add_host(host)
            device = self._add_device(row.get("device"))
            self._verdicts[(host, device, column)] = str(row.get("verdict"))
        counts = {v: sum(r.get("verdict") == v for r in rows) for v in _LABEL}
        summary = ", ".join(f"{n} {v}" for v, n in counts.items())
        if self._interactive:
            failing = [
                _name(r.get("host"), r.get("device")) for r in rows if r.get("verdict") == "fail"
            ]
            text = f"phase {self._position(phase)} {phase}: {summary}"
            if failing:
                text += " (fail: " + ", ".join(failing) + ")"
            if self._phase == phase:
                self._phase = None
            self._above(Text(text, style=_STYLE["fail"] if failing else ""))
        else:
            self._line(f"phase {self._position(phase)} {phase}: ended: {summary}")
            for row in rows:
                verdict = row.get("verdict")
                label = _LABEL.get(verdict, clean(verdict).upper())
                self._line(
                    f"  {label:<7} {_name(row.get('host'), row.get('device'))}: "
                    f"expected {clean(row.get('expected'))}"
                    f", got {clean(row.get('outcome'))}. {clean(row.get('reason') or '')}".rstrip()
                )

    def note(self, text: str) -> None:
        """A line of its own above the live block (trigger status, instructions)."""
        if self._interactive:
            self._above(terminal.text(text))
        else:
            self._line(clean(text))

    def close(self) -> None:
        """Remove the live block (the final table follows it); the phase lines stay."""
        if self._closed:
            return
        self._closed = True
        if self._live is not None:
            self._live.stop()  # transient: the block is erased, the cursor shown again
            self._live = None

    def _add_host(self, host: str) -> None:
        """A host seen through a `*.` entry goes right after that entry and its other hosts,
        and stands in for it, as in the report."""
        if host in self._hosts:
            return
        pattern = next((p for p in self._hosts if p.startswith("*.") and _covers(p, host)), None)
        if pattern is None:
            self._hosts.append(host)
            return
        last = max(i for i, h in enumerate(self._hosts) if _covers(pattern, h))
        self._hosts.insert(last + 1, host)

    def add_devices(self, labels: Iterable[str]) -> None:
        """The run's devices, in its order (from `run-start`), before any of them connects;
        one device alone is shown as a run without devices."""
        labels = list(labels)
        if len(labels) > 1:
            for label in labels:
                self._add_device(label)

    def _add_device(self, device: object) -> str | None:
        if not device:
            return None
        device = clean(device)
        if device not in self._devices:
            self._devices.append(device)
        return device

    def _shown_rows(self) -> list[tuple[str, str | None]]:
        """The grid's rows: (host, device) per shown host and device, hosts first."""
        devices: list[str | None] = list(self._devices) or [None]
        return [(host, device) for host in self._shown_hosts() for device in devices]

    def _shown_hosts(self) -> list[str]:
        """The hosts to draw: a `*.` entry disappears once a host was seen through it."""
        return [
            h
            for h in self._hosts
            if not (h.startswith("*.") and any(_covers(h, o) for o in self._hosts if o != h))
        ]

    # Drawing.

    def _redraw(self, force: bool = False) -> None:
        if self._closed:
            return
        now = self._clock()
        if not force and self._last_draw is not None:
            if now - self._last_draw < MIN_REDRAW_INTERVAL:
                return  # the next tick draws it
        self._last_draw = now
        if self._live is None:
            self._live = Live(
                self._block(),
                console=self._console,
                auto_refresh=False,  # we redraw on events and ticks: no thread
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
                vertical_overflow="crop",
            )
            self._live.start(refresh=True)
        else:
            self._live.update(self._block(), refresh=True)

    def _above(self, line: Text) -> None:
        """Print `line` above the block (Rich moves the block down), then redraw the block."""
        if self._closed:
            self._console.print(line, no_wrap=True, crop=True)
            return
        if self._live is not None:
            self._live.update(self._block())  # printing re-draws the block: make it current
        self._console.print(line, no_wrap=True, crop=True)
        self._redraw(force=True)

    def _block(self) -> Group:
        if self._phase is None:
            head = Text("waiting for the next phase" if self._verdicts else "starting", style="dim")
        else:
            if self._time_left is None:
                left = "no timeout: press Enter to end the phase"
            else:
                left = f"{_clock(max(self._time_left, 0))} left"
            head = Text.assemble(f"phase {self._position()} ", (self._phase, "bold"), f"  {left}")
        all_rows = self._shown_rows()
        host_w = min(max([len(_name(*r)) for r in all_rows] + [4]), 40)
        col_w = [max(len(p), 7) for p in self._phases]
        header = f"{'host':<{host_w}}  {'conns':>5}  {'outcome so far':<24}"
        header += "".join(f"  {p:<{w}}" for p, w in zip(self._phases, col_w, strict=True))
        lines = [head, Text(header.rstrip(), style="dim")]

        room = max(self._height - 3, 3)
        shown = all_rows
        if len(shown) > room:
            # Too many to show: the ones with something happening come first.
            busy = [r for r in shown if r in self._connections or self._has_fail(r)]
            shown = (busy + [r for r in shown if r not in busy])[: room - 1]
        for cell in shown:
            name = _name(*cell)
            name = name if len(name) <= host_w else name[: host_w - 1] + "…"
            count = self._connections.get(cell, 0)
            now = clean(self._outcomes.get(cell)) if cell in self._outcomes else "-"
            line = Text(f"{name:<{host_w}}  {count:>5}  {now[:24]:<24}")
            current = self._column(self._phase, self._index) if self._phase else None
            for column, w in enumerate(col_w):
                verdict = self._verdicts.get((*cell, column))
                line.append("  ")
                if verdict is not None:
                    line.append(f"{_LABEL.get(verdict, clean(verdict)):<{w}}", _STYLE.get(verdict))
                else:
                    line.append(f"{'…' if column == current else '·':<{w}}", "dim")
            line.rstrip()
            lines.append(line)
        if len(shown) < len(all_rows):
            more = len(all_rows) - len(shown)
            what = "rows" if self._devices else "hosts"
            lines.append(Text(f"… and {more} more {what}", style="dim"))
        for line in lines:
            line.no_wrap, line.overflow = True, "crop"  # a wrapped line would smear the block
        return Group(*lines)

    def _column(self, phase: str, index: int | None) -> int:
        """The grid column of a phase: its index when that column has its name (the scenario's
        phases, in order), else the first column of that name (a new name gets a column)."""
        if isinstance(index, int) and 0 <= index < len(self._phases):
            if self._phases[index] == phase:
                return index
        if phase not in self._phases:
            self._phases.append(phase)
        return self._phases.index(phase)

    def _has_fail(self, cell: tuple[str, str | None]) -> bool:
        return any(v == "fail" for (*c, _), v in self._verdicts.items() if tuple(c) == cell)

    def _position(self, phase: str | None = None) -> str:
        index = self._index
        if phase is not None and phase != self._phase and phase in self._phases:
            index = self._phases.index(phase)
        return f"{index + 1}/{len(self._phases)}"

    def _line(self, text: str) -> None:
        """Plain mode: one line, already cleaned, as it is (no wrapping, no styles)."""
        self._console.print(Text(_PREFIX + text), soft_wrap=True)
        self._console.file.flush()


def _name(host: object, device: object = None) -> str:
    """A grid row's name: the host, and in a run on several devices its device."""
    return f"{clean(host)} · {clean(device)}" if device else clean(host)


def _covers(entry: str, host: str) -> bool:
    """`*.cdn.example.com` covers `img.cdn.example.com` (and itself)."""
    if entry == host:
        return True
    return entry.startswith("*.") and host.endswith(entry[1:]) and len(host) > len(entry) - 1


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"

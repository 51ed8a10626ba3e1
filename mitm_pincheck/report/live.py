"""The live view of a run: which phase, how long it has left, who connected, verdicts so far.

On a terminal it redraws one small block in place (cursor up + clear, at most four times a
second) and leaves a one-line summary of each finished phase above it. When the output is not
a terminal (CI logs) it prints plain lines, only when something happens, and never an escape
sequence. It only writes to the stream it was given: no threads, no timers. The runner calls
`tick()` about once a second, which also draws anything a throttled event left pending.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TextIO

MIN_REDRAW_INTERVAL = 0.25  # seconds: at most ~4 redraws a second, however busy the app is
_LABEL = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCL"}
_SGR = {"pass": "32", "fail": "1;31", "inconclusive": "33", "dim": "2", "bold": "1"}
_PREFIX = "[pincheck] "


def is_interactive(stream: TextIO) -> bool:
    """Redraw in place only on a real terminal that understands cursor movement."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


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
    ) -> None:
        self._out = stream
        self._interactive = interactive
        self._hosts = list(dict.fromkeys(hosts))
        self._phases = list(phases)
        self._clock = clock
        size = shutil.get_terminal_size((100, 24)) if interactive else os.terminal_size((100, 24))
        self._width = width or size.columns
        self._height = height or size.lines
        self._color = interactive and (color if color is not None else "NO_COLOR" not in os.environ)
        self._phase: str | None = None
        self._index = 0
        self._timeout: float | None = None
        self._time_left: float | None = None
        self._connections: dict[str, int] = {}
        self._outcomes: dict[str, str | None] = {}
        self._verdicts: dict[tuple[str, str], str] = {}
        self._drawn = 0
        self._last_draw: float | None = None
        self._closed = False

    # Events from the runner.

    def phase_started(self, phase: str, index: int, timeout: float | None) -> None:
        """A phase began; `index` is 0-based, `timeout` in seconds or None (waits for Enter)."""
        self._phase, self._index, self._timeout = phase, index, timeout
        self._time_left = timeout
        self._connections.clear()
        self._outcomes.clear()
        if phase not in self._phases:
            self._phases.append(phase)
        if self._interactive:
            self._redraw(force=True)
        else:
            limit = "no timeout" if timeout is None else f"timeout {_clock(timeout)}"
            self._line(f"phase {self._position()} {_safe(phase)}: started ({limit})")

    def connection(self, host: str, outcome_so_far: str | None, new: bool = True) -> None:
        """A client connected to `host` (`new=False`: only its outcome so far changed)."""
        first = host not in self._connections
        self._add_host(host)
        self._connections[host] = self._connections.get(host, 0) + (1 if new else 0)
        self._outcomes[host] = outcome_so_far
        if self._interactive:
            self._redraw()
        elif first and new:
            seen = f" ({_safe(outcome_so_far)})" if outcome_so_far else ""
            phase = _safe(self._phase or "-")
            self._line(f"{phase}: first connection to {_safe(host)}{seen}")

    def tick(self, time_left: float | None) -> None:
        """Time passes: `time_left` in seconds, or None when the phase has no timeout."""
        self._time_left = time_left
        if self._interactive:
            self._redraw()

    def phase_ended(self, phase: str, rows: Iterable[Mapping]) -> None:
        """The phase's result rows (as in report.json) are in: fill in its verdicts."""
        rows = list(rows)
        for row in rows:
            host = str(row.get("host"))
            self._add_host(host)
            self._verdicts[(host, phase)] = str(row.get("verdict"))
        counts = {v: sum(r.get("verdict") == v for r in rows) for v in _LABEL}
        summary = ", ".join(f"{n} {v}" for v, n in counts.items())
        if self._interactive:
            failing = [_safe(r.get("host")) for r in rows if r.get("verdict") == "fail"]
            text = f"phase {self._position(phase)} {_safe(phase)}: {summary}"
            if failing:
                text += " (fail: " + ", ".join(failing) + ")"
            self._erase()
            self._write(self._fit([(text, "fail" if failing else None)]) + "\n")
            if self._phase == phase:
                self._phase = None
            self._redraw(force=True)
        else:
            self._line(f"phase {self._position(phase)} {_safe(phase)}: ended: {summary}")
            for row in rows:
                label = _LABEL.get(row.get("verdict"), str(row.get("verdict")).upper())
                self._line(
                    f"  {label:<7} {_safe(row.get('host'))}: expected {row.get('expected')}, "
                    f"got {row.get('outcome')}. {_safe(row.get('reason') or '')}".rstrip()
                )

    def note(self, text: str) -> None:
        """A line of its own above the live block (trigger status, instructions)."""
        if self._interactive:
            self._erase()
            self._write(_safe(text) + "\n")
            self._redraw(force=True)
        else:
            self._line(text)

    def close(self) -> None:
        """Remove the live block (the final table follows it); the phase lines stay."""
        if self._closed:
            return
        if self._interactive:
            self._erase()
        self._closed = True

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
        lines = self._block()
        self._write(self._cursor_back() + "".join(line + "\n" for line in lines))
        self._drawn = len(lines)

    def _erase(self) -> None:
        if self._drawn:
            self._write(self._cursor_back())
            self._drawn = 0

    def _cursor_back(self) -> str:
        # CPL: to the start of the line N lines up; ED: clear from there to the end of screen.
        return f"\x1b[{self._drawn}F\x1b[J" if self._drawn else ""

    def _block(self) -> list[str]:
        if self._phase is None:
            head = [("waiting for the next phase" if self._verdicts else "starting", "dim")]
        else:
            if self._time_left is None:
                left = "no timeout: press Enter to end the phase"
            else:
                left = f"{_clock(max(self._time_left, 0))} left"
            head = [
                (f"phase {self._position()} ", None),
                (_safe(self._phase), "bold"),
                (f"  {left}", None),
            ]
        all_hosts = self._shown_hosts()
        host_w = min(max([len(_safe(h)) for h in all_hosts] + [4]), 40)
        col_w = [max(len(_safe(p)), 7) for p in self._phases]
        header = f"{'host':<{host_w}}  {'conns':>5}  {'outcome so far':<24}"
        header += "".join(f"  {_safe(p):<{w}}" for p, w in zip(self._phases, col_w, strict=True))
        lines = [self._fit(head), self._fit([(header, "dim")])]

        room = max(self._height - 3, 3)
        hosts = all_hosts
        if len(hosts) > room:
            # Too many to show: the ones with something happening come first.
            busy = [h for h in hosts if h in self._connections or self._has_fail(h)]
            hosts = (busy + [h for h in hosts if h not in busy])[: room - 1]
        for host in hosts:
            name = _safe(host)
            if len(name) > host_w:
                name = name[: host_w - 1] + "…"
            count = self._connections.get(host, 0)
            now = _safe(self._outcomes.get(host)) if host in self._outcomes else "-"
            parts: list[tuple[str, str | None]] = [
                (f"{name:<{host_w}}  {count:>5}  {now[:24]:<24}", None)
            ]
            for phase, w in zip(self._phases, col_w, strict=True):
                verdict = self._verdicts.get((host, phase))
                if verdict is not None:
                    cell = (f"{_LABEL.get(verdict, verdict):<{w}}", verdict)
                else:
                    cell = (f"{'…' if phase == self._phase else '·':<{w}}", "dim")
                parts += [("  ", None), cell]
            lines.append(self._fit(parts))
        if len(hosts) < len(all_hosts):
            lines.append(self._fit([(f"… and {len(all_hosts) - len(hosts)} more hosts", "dim")]))
        return lines

    def _has_fail(self, host: str) -> bool:
        return any(v == "fail" for (h, _), v in self._verdicts.items() if h == host)

    def _fit(self, parts: list[tuple[str, str | None]]) -> str:
        """Join (text, style) parts, cut to the terminal width: a wrapped line would make the
        cursor-up count wrong and smear the block down the screen."""
        room = max(self._width - 1, 10)
        out = []
        if parts:
            parts = [*parts[:-1], (parts[-1][0].rstrip(), parts[-1][1])]
        for text, style in parts:
            if room <= 0:
                break
            text = text[:room]
            room -= len(text)
            if style and self._color:
                out.append(f"\x1b[{_SGR[style]}m{text}\x1b[0m")
            else:
                out.append(text)
        return "".join(out)

    def _position(self, phase: str | None = None) -> str:
        index = self._index
        if phase is not None and phase != self._phase and phase in self._phases:
            index = self._phases.index(phase)
        return f"{index + 1}/{len(self._phases)}"

    def _line(self, text: str) -> None:
        self._write(_PREFIX + text + "\n")

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()


def _covers(entry: str, host: str) -> bool:
    """`*.cdn.example.com` covers `img.cdn.example.com` (and itself)."""
    if entry == host:
        return True
    return entry.startswith("*.") and host.endswith(entry[1:]) and len(host) > len(entry) - 1


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _safe(value) -> str:
    """Host names come from the network: never let one write escape sequences to a terminal."""
    text = "" if value is None else str(value)
    return "".join(ch if ch.isprintable() else "?" for ch in text)

"""What a "not seen" row did see: the app reached the proxy for the host, but no connection
with an outcome followed. "The app did not contact it" (and a hint to try WireGuard) would send
the tester the wrong way.

Two such cases: a CONNECT the proxy refused (in passthrough the real server must answer, and
when it is down mitmproxy answers 502; or 407 without the proxy credentials), journaled as
`connect-refused`; and connections that stalled before any TLS handshake with our certificate
(counted in the row's `evidence.stalled`).
"""

from __future__ import annotations

from collections.abc import Mapping

from mitm_pincheck.verdicts.outcome import NOT_SEEN


class Refusals:
    """`connect-refused` events, per (pattern, host, phase): how many, with which statuses."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str, str], list[int]] = {}

    def add(self, event: Mapping) -> None:
        if event.get("event") != "connect-refused":
            return
        pattern, host, phase = event.get("pattern"), event.get("host"), event.get("phase")
        if not all(isinstance(v, str) for v in (pattern, host, phase)):
            return
        status = event.get("status")
        statuses = self.seen.setdefault((pattern, host, phase), [])
        if len(statuses) < 1000:
            statuses.append(status if isinstance(status, int) else 0)

    def of_row(self, row: Mapping) -> list[int]:
        pattern = (row.get("evidence") or {}).get("pattern", row.get("host"))
        found: list[int] = []
        for (p, host, phase), statuses in self.seen.items():
            if p == pattern and phase == row.get("phase") and row.get("host") in (host, p):
                found += statuses
        return found


def reword(results: list[dict], refusals: Refusals) -> set[str]:
    """Give each "not seen" row that did see something a reason that says what; return the
    hosts of those rows (their "never seen" hint would be wrong)."""
    approached: set[str] = set()
    for row in results:
        if row.get("outcome") != NOT_SEEN or row.get("reason", "").startswith("The "):
            continue  # ("The ... phase did not run": nothing to add)
        host = row["host"]
        statuses = refusals.of_row(row)
        stalled = (row.get("evidence") or {}).get("stalled") or 0
        if statuses:
            approached.add(host)
            row["reason"] = (
                f"The app asked the proxy for {host} {_times(len(statuses))} (CONNECT), but the "
                f"proxy refused it ({_statuses(statuses)}), so no TLS connection followed: "
                "this says nothing about pinning."
            )
        elif stalled:
            approached.add(host)
            row["reason"] = (
                f"The app opened {_times(stalled, 'connection')} to {host} through the proxy, but "
                "none reached a TLS handshake with the proxy's certificate (the app or the "
                "network stalled, or it gave up first): this says nothing about pinning."
            )
    return approached


def _times(n: int, word: str = "") -> str:
    if word:
        return f"{n} {word}" + ("" if n == 1 else "s")
    return "once" if n == 1 else f"{n} times"


_WHY = {
    502: "502: the real server could not be reached; start it, or check `resolve:`",
    407: "407: no proxy credentials; give the app the --proxyauth user and password",
}


def _statuses(statuses: list[int]) -> str:
    return "; ".join(_WHY.get(s, f"HTTP {s}") for s in dict.fromkeys(statuses))

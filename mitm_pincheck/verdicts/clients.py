"""Which client addresses the verdicts rest on, and which were left out (--client).

Any client that reaches the proxy can open a connection to a host under test, and a
self-signed or wrong-key row needs no proof: a peer on the LAN that completes a handshake and
closes would turn "not seen" into a pass. The report says when connections to hosts under test
came from more than one address, and lists the clients that --client passed through.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from mitm_pincheck.errors import InputError


def parse_networks(values: Iterable[str] | None, option: str = "--client") -> tuple | None:
    """Client addresses or networks as given by the tester (an address is a network of one);
    None when none are given: then every client counts."""
    networks = []
    for value in values or ():
        try:
            networks.append(ipaddress.ip_network(value.strip().strip("[]"), strict=False))
        except ValueError:
            raise InputError(
                f"{option} {value!r}: expected an IP address or network, e.g. 192.168.1.23 "
                "or 192.168.1.0/24"
            ) from None
    return tuple(networks) or None


class Clients:
    """Collects client addresses from journal events, one event at a time."""

    def __init__(self) -> None:
        self.counted: dict[str, int] = {}  # address -> connections to hosts under test
        self.ignored: dict[str, list[str]] = {}  # address -> hosts under test it asked for

    def add(self, event: Mapping) -> None:
        name = event.get("event")
        if name == "conn":
            address = event.get("client")
            if isinstance(address, str) and address:
                self.counted[address] = self.counted.get(address, 0) + 1
        elif name == "ignored-client":
            address, host = event.get("client"), event.get("host")
            if isinstance(address, str) and isinstance(host, str):
                hosts = self.ignored.setdefault(address, [])
                if host not in hosts and len(hosts) < 64:
                    hosts.append(host)

    def to_dict(self) -> dict:
        return {
            "counted": [{"address": a, "connections": n} for a, n in self.counted.items()],
            "ignored": [{"address": a, "hosts": h} for a, h in self.ignored.items()],
        }

    def hints(self) -> list[str]:
        hints = []
        if len(self.counted) > 1:
            shown = ", ".join(list(self.counted)[:5]) + (", ..." if len(self.counted) > 5 else "")
            hints.append(
                f"Connections to hosts under test came from {len(self.counted)} client "
                f"addresses ({shown}): any of them, not only the app's device, may have made "
                "these verdicts. Run again with --client ADDRESS (the device's) to count only it."
            )
        if self.ignored:
            shown = ", ".join(list(self.ignored)[:5]) + (", ..." if len(self.ignored) > 5 else "")
            hints.append(
                f"Connections from {shown} were passed through and not counted (not a --client)."
            )
        return hints

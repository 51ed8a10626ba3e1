"""The typed scenario: what a run needs to know about each host under test and each phase."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from mitm_pincheck.verdicts import kinds

if TYPE_CHECKING:
    from mitm_pincheck.scenario.devices import DeviceSpec
    from mitm_pincheck.scenario.keys import HostKeys, KeyFile

DEFAULT_SETTLE = 5.0
DEFAULT_TIMEOUT = 60.0

TOP_KEYS = (
    "name",
    "app",
    "hosts",
    "phases",
    "trigger",
    "settle",
    "timeout",
    "resolve",
    "upstream_trust",
    "ca_trust",
    "isolate",
    "max_followups",
    "apk",
    "ipa",
    "devices",
)
HOST_KEYS = ("host", "pinned", "expect", "control", "keys")


def _canonical(name: str) -> str:
    """The form host names are compared in: lower case, no trailing dot, IPv6 compressed."""
    name = name.strip().lower()
    if name.endswith("."):
        name = name[:-1]
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if ":" in name:
        try:
            return ipaddress.IPv6Address(name).compressed
        except ValueError:
            pass
    return name


@dataclass(frozen=True)
class HostSpec:
    """One host under test: an exact name, an IP literal, or `*.example.com`."""

    host: str
    pinned: bool
    expect: Mapping[str, str] = field(default_factory=dict, hash=False)
    line: int | None = field(default=None, compare=False)
    # An endpoint of the same app that it does not pin: its acceptance of valid-ca proves that
    # the app trusts the proxy CA.
    control: bool = False
    keys: HostKeys | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "host", _canonical(self.host))
        object.__setattr__(self, "expect", MappingProxyType(dict(self.expect)))

    @property
    def wildcard(self) -> bool:
        return self.host.startswith("*.")

    def matches(self, name: str) -> bool:
        """Exact name, or for `*.example.com` any subdomain at any depth but not the apex."""
        name = _canonical(name)
        if self.wildcard:
            suffix = self.host[1:]  # ".example.com"
            return len(name) > len(suffix) and name.endswith(suffix)
        return name == self.host

    def expected(self, kind: str) -> str:
        return kinds.expected(kind, self.pinned, self.expect)


@dataclass(frozen=True)
class Scenario:
    name: str
    file: str | None = None
    hosts: tuple[HostSpec, ...] = ()
    phases: tuple[str, ...] = kinds.DEFAULT_PHASES
    trigger: str | None = None
    settle: float = DEFAULT_SETTLE
    timeout: float = DEFAULT_TIMEOUT
    resolve: Mapping[str, tuple[str, int]] = field(default_factory=dict, hash=False)
    upstream_trust: Path | None = None
    app: str | None = None
    ca_trust: str | None = None  # "system": the tester vouches the proxy CA is a system CA
    # Follow-up phases (scenario/followups.py): repeat a phase for hosts a refusal hid.
    isolate: bool = True
    max_followups: int = 3
    # The app package whose pinning configuration the run records (scenario/apppackage.py).
    apk: Path | None = None
    ipa: Path | None = None
    # The devices one run tests at once, a listener each (scenario/devices.py); () for one.
    devices: tuple[DeviceSpec, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "hosts", tuple(self.hosts))
        object.__setattr__(self, "phases", tuple(self.phases))
        object.__setattr__(self, "devices", tuple(self.devices))
        object.__setattr__(self, "resolve", MappingProxyType(dict(self.resolve)))

    def host_for(self, name: str) -> HostSpec | None:
        """The entry that covers `name`: an exact entry wins, then the longest wildcard."""
        found = [h for h in self.hosts if h.matches(name)]
        exact = [h for h in found if not h.wildcard]
        if exact:
            return exact[0]
        return max(found, key=lambda h: len(h.host), default=None)

    def key_for(self, spec: HostSpec, index: int) -> KeyFile | None:
        """The key `spec` is shown in phase `index` (pinned-key, backup-key), else None."""
        from mitm_pincheck.scenario.keys import key_for_round

        return key_for_round(self.phases, index, spec.keys)

    def to_dict(self) -> dict:
        """What the journal records. No trigger and no resolve: commands may carry tokens."""
        return {
            "name": self.name,
            "file": self.file,
            "app": self.app,
            "hosts": [
                {
                    "host": h.host,
                    "pinned": h.pinned,
                    "expect": dict(h.expect),
                    "control": h.control,
                    # (no `keys` at all for a host without: the journal types it as an object)
                    **({"keys": h.keys.to_dict()} if h.keys else {}),
                }
                for h in self.hosts
            ],
            "phases": list(self.phases),
            "ca_trust": self.ca_trust,
            "settle": self.settle,
            "timeout": self.timeout,
            "isolate": self.isolate,
            "max_followups": self.max_followups,
        }

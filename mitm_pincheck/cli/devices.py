"""Which devices a run tests, and the listener of each: --serial, --listen, the scenario's devices.

One device and one unlabelled --listen is a run as it always was. Several devices (or one with a
name) get a listener each (proxy/listeners.py): with --android the proxy of each is set through
adb to its own port, and set back at the end; devices set up by hand are named by --listen
LABEL=HOST:PORT or by the scenario's `devices:`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mitm_pincheck.errors import InputError
from mitm_pincheck.proxy.listeners import RunDevice, listen_problem
from mitm_pincheck.scenario import Scenario
from mitm_pincheck.scenario.devices import (
    DeviceSpec,
    address_text,
    label_problem,
    parse_address,
)

DEFAULT_LISTEN = "0.0.0.0:8080"


@dataclass
class ProxyPlan:
    """The proxy options of `run` and `survey`, checked before anything starts."""

    listen_host: str
    listen_port: int
    mode: str
    proxyauth: str | None
    clients: tuple | None  # --client: every listener's; a device's own in RunDevice.clients
    confdir: Path
    devices: tuple[RunDevice, ...] = ()
    adb: dict[str, object] = field(default_factory=dict)  # serial -> device.android.Device

    def run_config(self) -> dict:
        """The fields of proxy.runner.RunConfig this plan sets."""
        return {
            "listen_host": self.listen_host,
            "listen_port": self.listen_port,
            "confdir": self.confdir,
            "mode": self.mode,
            "proxyauth": self.proxyauth,
            "clients": self.clients,
            "devices": self.devices,
        }


def parse_listen(value: str) -> tuple[str | None, str, int]:
    """`[LABEL=]HOST:PORT` as (label or None, host, port)."""
    label, sep, address = value.partition("=")
    if not sep:
        label, address = "", value
    parsed = parse_address(address)
    if parsed is None:
        raise InputError(
            f"--listen {value!r}: expected HOST:PORT or LABEL=HOST:PORT, e.g. 0.0.0.0:8080 or "
            "pixel-7=0.0.0.0:8081"
        )
    label = label.strip()
    if sep and (problem := label_problem(label)):
        raise InputError(f"--listen {value!r}: {problem}")
    return label or None, parsed[0], parsed[1]


def plan(args: argparse.Namespace, scenario: Scenario | None) -> ProxyPlan:
    """The listeners and devices of this run; every error before anything starts (exit 2)."""
    from mitm_pincheck.cli.run import check_confdir, check_mode, check_proxyauth, parse_clients

    listens = [parse_listen(v) for v in (args.listen or ())]
    serials = list(args.serial or ())
    mode = check_mode(args.mode)
    proxyauth = check_proxyauth(args.proxyauth)
    clients = parse_clients(args.client)
    confdir = check_confdir(args.confdir)
    if len(set(serials)) != len(serials):
        raise InputError("--serial: the same device is given twice")
    if serials and not args.android:
        raise InputError(
            "--serial needs --android (the device whose proxy the run sets through adb); for "
            "a device whose proxy you set by hand, give --listen LABEL=HOST:PORT"
        )
    from_scenario = scenario.devices if scenario is not None else ()
    if args.android:  # the devices: --serial, else the scenario's; --listen: their ports
        devices, adb = _android_devices(serials, listens, from_scenario, clients)
    else:  # the devices: --listen, else the scenario's
        devices, adb = _hand_set_devices(listens, () if listens else from_scenario), {}
    first = listens[0] if listens else parse_listen(DEFAULT_LISTEN)
    plan = ProxyPlan(first[1], first[2], mode, proxyauth, clients, confdir, tuple(devices), adb)
    _check_devices(plan)
    return plan


def _hand_set_devices(
    listens: list[tuple[str | None, str, int]], from_scenario: tuple[DeviceSpec, ...]
) -> list[RunDevice]:
    if len(listens) == 1 and listens[0][0] is None:
        return []  # one listener, no name: a run as it always was
    if listens:
        return [RunDevice(label or address_text(h, p), h, p) for label, h, p in listens]
    missing = [d for d in from_scenario if d.listen is None]
    if missing:
        raise InputError(
            f"the scenario's device {missing[0].label} has no listen: give it one "
            "(listen: 0.0.0.0:8081) for a device set up by hand, or run with --android to "
            "set its proxy through adb"
        )
    return [RunDevice(d.label, d.listen[0], d.listen[1], d.serial) for d in from_scenario]  # type: ignore[index]


def _android_devices(
    serials: list[str],
    listens: list[tuple[str | None, str, int]],
    from_scenario: tuple[DeviceSpec, ...],
    clients: tuple | None,
) -> tuple[list[RunDevice], dict]:
    from mitm_pincheck.cli.run import parse_clients
    from mitm_pincheck.device import android

    if any(port == 0 for _, _, port in listens):  # said before adb is even looked for
        raise InputError("--android needs a fixed --listen port, e.g. --listen 0.0.0.0:8080")
    if not serials and from_scenario and len(listens) <= 1:
        specs = list(from_scenario)  # those without a serial were set up by hand: no adb
    else:
        # each device connected now: no adb, or a device missing, is said before anything
        named = {d.serial: d for d in from_scenario}
        specs = [named.get(s) or DeviceSpec(s, s) for s in serials] or [None]
    adb: dict = {}
    for i, spec in enumerate(specs):
        if spec is None or spec.serial:
            device = android.connect(spec.serial if spec else None)
            specs[i] = spec or DeviceSpec(device.serial, device.serial)
            adb[device.serial] = device
    if len(listens) not in (0, 1, len(specs)):
        raise InputError(
            f"{len(listens)} --listen for {len(specs)} devices: give one (the first device's; "
            "the others get the ports after it) or one per device, in the order of --serial"
        )
    devices = []
    counted = 0  # devices given a port after --listen's so far
    for i, spec in enumerate(specs):
        if len(listens) == len(specs):
            label, host, port = listens[i]
            label = label or spec.label
        elif spec.listen is not None and (not spec.serial or (not listens and spec.listen[1])):
            label, (host, port) = spec.label, spec.listen  # the scenario's own listener
        else:
            _, host, base = listens[0] if listens else parse_listen(DEFAULT_LISTEN)
            label, port = spec.label, base + counted
            counted += 1
        if not spec.serial:  # set up by hand: its proxy is the tester's, not adb's
            devices.append(RunDevice(label, host, port, None, clients))
            continue
        if port == 0:
            raise InputError("--android needs a fixed --listen port, e.g. --listen 0.0.0.0:8080")
        if port > 65535:
            raise InputError(
                f"--listen port {port - counted + 1}: {len(specs)} devices need the ports up "
                f"to {port}; choose a lower one"
            )
        serial = spec.serial
        mine = clients
        if mine is None:
            mine = parse_clients(android.client_addresses(adb[serial]))
            if mine is None:
                print(
                    f"mitm-pincheck: warning: cannot tell {serial}'s address, so every client "
                    f"of its listener counts; pass --client with the device's address",
                    file=sys.stderr,
                )
        devices.append(RunDevice(label, host, port, serial, mine))
    return devices, adb


def _check_devices(plan: ProxyPlan) -> None:
    if not plan.devices:
        return
    if problem := listen_problem(plan.mode):
        raise InputError(problem)
    labels: dict[str, RunDevice] = {}
    addresses: dict[tuple[str, int], RunDevice] = {}
    for d in plan.devices:
        if d.label in labels:
            raise InputError(
                f"two devices are labelled {d.label!r}: give each its own (--listen "
                "LABEL=HOST:PORT, or label: in the scenario's devices)"
            )
        labels[d.label] = d
        # port 0 picks a new port each time, but mitmproxy takes each address once
        if (d.host, d.port) in addresses:
            other = addresses[(d.host, d.port)]
            raise InputError(
                f"devices {other.label} and {d.label} both listen on "
                f"{address_text(d.host, d.port)}: each device needs a listener of its own"
            )
        addresses[(d.host, d.port)] = d


# ---------------------------------------------------------------- adb: each device's proxy and CA


@contextlib.contextmanager
def android_proxies(plan: ProxyPlan, status, say):
    """With --android: each device's proxy points at its own listener for the duration of the
    run, and is cleared after it, also on Ctrl-C, on error, and when setting a later one fails."""
    from mitm_pincheck.device import android

    tell = status or say
    done: list[RunDevice] = []
    try:
        for d in plan.devices:
            if not d.serial:
                continue
            device = android.proxy_on(d.serial, d.port)
            done.append(d)
            tell(f"android: {_named(d)} now uses the proxy {device.proxy}")
            if not device.emulator and d.host.startswith("127."):
                tell(
                    f"android: warning: {d.serial} is a real device but its proxy listens on "
                    f"{d.host} only; use --listen 0.0.0.0:{d.port}"
                )
        yield
    finally:
        for d in done:
            try:
                android.proxy_off(d.serial, d.port)
                tell(f"android: proxy cleared on {_named(d)}")
            except InputError as e:
                say(
                    f"mitm-pincheck: warning: could not clear the proxy of {d.serial} ({e}); "
                    f"run `mitm-pincheck android proxy off --serial {d.serial}`"
                )


def android_ca_stores(plan: ProxyPlan, confdir: Path, status, say) -> list[dict]:
    """With --android: where each device holds the proxy CA, said now, as `ca-store` events.
    Only a device's system store is proof that (platform-trusting) apps on it trust it."""
    from mitm_pincheck.device import android, ca

    info = ca.load_ca(confdir)
    tell = status or say
    events = []
    for d in plan.devices:
        if not d.serial:
            continue
        found = android.ca_store(d.serial, info.der, info.android_system_name)
        events.append({**found.event(), "device": d.label})
        who = f"android: {_named(d)}: " if len(plan.devices) > 1 else "android: "
        if found.store == "system":
            tell(
                f"{who}the proxy CA is in the device's system store ({found.path}): proof that "
                "apps using the platform trust store trust it"
            )
        else:
            where = {
                "user": "only in the device's user store",
                "none": "in neither of the device's trust stores",
            }.get(
                found.store, "not in the device's system store (its user store needs root to read)"
            )
            tell(
                f"{who}the proxy CA is {where}: that is no proof the app trusts it (apps "
                "targeting Android 7+ ignore user CAs), so refusals of proxy-CA certificates stay "
                "inconclusive without another proof ('mitm-pincheck android install-ca' on an "
                "emulator, keys.current with pinned-key, a control host, or ca_trust: system)"
            )
        for note in found.notes:
            tell(f"{who}{note}")
    return events


def _named(d: RunDevice) -> str:
    return d.serial if d.label == d.serial else f"{d.label} ({d.serial})"

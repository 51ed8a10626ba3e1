"""Reading `devices`: the devices one run tests at once, each on a listener of its own.

    devices:
      - serial: emulator-5554        # an adb serial: `run --android` sets its proxy through adb
        label: android-14            # the name rows and reports use (default: the serial)
      - serial: emulator-5556
        label: android-9
      - label: iphone-15             # a device whose proxy was set by hand
        listen: 0.0.0.0:8082         # ... to this listener

Each device gets its own listener, so every connection is known to come from one device (two
emulators behind `adb reverse` both connect from 127.0.0.1: the address cannot tell them apart,
the port can). `--serial` and `--listen` on the command line replace this list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mitm_pincheck.scenario.nodes import TAG_INT, NodeReader, describe, join_key, line_of

DEVICE_KEYS = ("label", "serial", "listen")
MAX_DEVICES = 32  # one listener and one trigger each: more is a fleet, run it as a CI matrix
# Labels name rows, JUnit suites and report sections: letters, digits and a little punctuation,
# no '/' (merged reports write `run/device`) and nothing a terminal or a page would interpret.
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+@ -]{0,63}")
# adb serials: emulator-5554, R58M12ABCDE, 192.168.1.5:5555, adb-XYZ._adb-tls-connect._tcp
_SERIAL = re.compile(r"[A-Za-z0-9._:@+-]{1,128}")
_HOST = re.compile(r"[A-Za-z0-9._:%-]{1,253}")


@dataclass(frozen=True)
class DeviceSpec:
    """One device of a run: a label, and its adb serial and/or the listener it is set up for."""

    label: str
    serial: str | None = None
    listen: tuple[str, int] | None = None  # (host, port); None: from --listen
    line: int | None = None


def label_problem(label: str) -> str | None:
    """Why `label` cannot name a device, or None."""
    if _LABEL.fullmatch(label) and not label.endswith(" "):
        return None
    return (
        "a device label is 1 to 64 letters, digits, spaces or . _ : + @ -, starting with a "
        "letter or digit (no '/'), e.g. pixel-7-android-14"
    )


def serial_problem(serial: str) -> str | None:
    if _SERIAL.fullmatch(serial):
        return None
    return "expected an adb serial as 'adb devices' lists it, e.g. emulator-5554"


def address_text(host: str, port: int) -> str:
    """HOST:PORT as a person writes it: an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(value: str) -> tuple[str, int] | None:
    """HOST:PORT (IPv6 in brackets) as (host, port), or None when it is not one."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        return None
    host = host.strip("[]") or "0.0.0.0"
    if not _HOST.fullmatch(host):  # a name or an address: nothing else reaches a report
        return None
    return host, int(port)


class DevicesReader(NodeReader):
    def top_devices(self, node: Node, key: str) -> tuple[DeviceSpec, ...]:
        if not isinstance(node, SequenceNode) or not node.value:
            found = "an empty list" if isinstance(node, SequenceNode) else describe(node)
            raise self.error(
                node,
                key,
                f"expected a list of devices, found {found}; write e.g. "
                "devices: [{serial: emulator-5554}, {serial: emulator-5556}]",
            )
        if len(node.value) > MAX_DEVICES:
            raise self.error(
                node,
                key,
                f"{len(node.value)} devices; one run takes at most {MAX_DEVICES} (run more as "
                "jobs of a CI matrix and join them with 'mitm-pincheck report merge')",
            )
        devices = [self._device(item, join_key(key, i)) for i, item in enumerate(node.value)]
        for what in ("serial", "label", "listen"):
            first: dict = {}
            for i, d in enumerate(devices):
                value = getattr(d, what)
                if what == "listen" and value is not None:
                    value = value if value[1] else None  # port 0 is a new port each time
                if value is None:
                    continue
                if value in first:
                    raise self.error(
                        d.line,
                        join_key(join_key(key, i), what),
                        f"the same {what} as the device of line {first[value]}; each device "
                        f"needs its own {what}",
                    )
                first[value] = d.line
        return tuple(devices)

    def _device(self, node: Node, key: str) -> DeviceSpec:
        if not isinstance(node, MappingNode):
            example = node.value if isinstance(node, ScalarNode) else "emulator-5554"
            raise self.error(
                node, key, f"expected a mapping, found {describe(node)}; write - serial: {example}"
            )
        values: dict[str, str | tuple[str, int]] = {}
        for name, k, v in self.items(node, key, "a mapping (serial:, label:, listen:)"):
            if name not in DEVICE_KEYS:
                raise self.unknown(k, key, name, DEVICE_KEYS)
            where = join_key(key, name)
            if name == "listen":
                values[name] = self._listen(v, where)
                continue
            text = self.text(v, where, f"{name}: emulator-5554").strip()
            problem = label_problem(text) if name == "label" else serial_problem(text)
            if problem:
                raise self.error(v, where, f"{text[:80]!r}: {problem}")
            values[name] = text
        serial = values.get("serial")
        listen = values.get("listen")
        if serial is None and listen is None:
            raise self.error(
                node,
                key,
                "give the device's adb serial (serial: emulator-5554) or, for a device set up "
                "by hand, the listener its proxy points at (listen: 0.0.0.0:8081)",
            )
        label = values.get("label") or serial
        if label is None:
            raise self.error(node, key, "a device without serial needs a label (label: iphone-15)")
        return DeviceSpec(str(label), serial, listen, line_of(node))  # type: ignore[arg-type]

    def _listen(self, node: Node, key: str) -> tuple[str, int]:
        if isinstance(node, ScalarNode) and node.tag == TAG_INT:
            raise self.error(node, key, f"write HOST:PORT, e.g. listen: 0.0.0.0:{node.value}")
        text = self.text(node, key, "listen: 0.0.0.0:8081")
        address = parse_address(text)
        if address is None:
            raise self.error(node, key, f"{text[:80]!r}: expected HOST:PORT, e.g. 0.0.0.0:8081")
        return address

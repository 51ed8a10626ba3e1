"""Several devices in one run: a listener each, so every connection is known to come from one.

Two emulators behind `adb reverse` both connect from 127.0.0.1, and phones behind one Wi-Fi
router may share an address: the client address cannot say which device a connection is from.
The listener it reached can. Each device gets a mitmproxy mode of its own (`regular@HOST:PORT`,
mitmproxy serves them all at once), and the addon reads a connection's device off the mode of the
server that accepted it (`Client.proxy_mode`), never off anything the client sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from mitmproxy.proxy import mode_specs

from mitm_pincheck.scenario.devices import address_text


@dataclass(frozen=True)
class RunDevice:
    """One device of a run: its label, the listener its proxy points at, and who counts there."""

    label: str
    host: str
    port: int  # 0: a free port, picked when the proxy starts (tests, or devices set up after)
    serial: str | None = None  # adb serial: the trigger gets it as PINCHECK_SERIAL
    # The client networks whose connections count on this listener (--client, or what adb says
    # the device's addresses are); None: every client of this listener.
    clients: tuple | None = None

    def mode_spec(self, mode: str) -> str:
        """The mitmproxy mode serving this device: `mode` bound to this device's listener."""
        return f"{mode}@{address_text(self.host, self.port)}"

    def record(self, listen: str) -> dict:
        """The device as `run-start` records it (`listen`: the address it really got)."""
        return {"label": self.label, "serial": self.serial, "listen": listen}


def mode_key(spec: str) -> str:
    """The form a mode is compared in: what `Client.proxy_mode.full_spec` says of it."""
    return mode_specs.ProxyMode.parse(spec).full_spec


def listen_problem(mode: str) -> str | None:
    """Why `mode` cannot serve one device per listener, or None."""
    parsed = mode_specs.ProxyMode.parse(mode)
    if parsed.custom_listen_host is not None or parsed.custom_listen_port is not None:
        return (
            f"--mode {mode} names its own listener; with several devices each gets one from "
            "--listen: give the mode without '@'"
        )
    if parsed.listen_port() is None:
        return f"--mode {mode} has no listener of its own, so devices cannot be told apart"
    return None

"""Runs a scenario: embeds mitmproxy with the addon, then drives the phases.

A phase starts by switching every host under test to the phase's kind and closing their live
connections (so the app must reconnect and see the new certificate), then runs the trigger. It
ends at `timeout`, or once at least one connection was seen, the trigger has exited and `settle`
seconds passed without a new connection (or on Enter, when a person drives the app by hand).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from mitmproxy import options as mitm_options
from mitmproxy.proxy import mode_specs
from mitmproxy.tools.dump import DumpMaster

from mitm_pincheck import __version__
from mitm_pincheck.device import ca
from mitm_pincheck.errors import InputError
from mitm_pincheck.proxy import forge as forging
from mitm_pincheck.proxy import guard
from mitm_pincheck.proxy.addon import PincheckAddon
from mitm_pincheck.proxy.listeners import RunDevice, mode_key
from mitm_pincheck.report.terminal import clean
from mitm_pincheck.scenario import Scenario
from mitm_pincheck.scenario.devices import address_text
from mitm_pincheck.verdicts import followup, results
from mitm_pincheck.verdicts.journal import JOURNAL_NAME, Journal, iter_events
from mitm_pincheck.verdicts.kinds import KINDS

logger = logging.getLogger("mitm_pincheck")


def mitmproxy_version() -> str:
    from mitmproxy import version

    return version.VERSION


@dataclass
class RunConfig:
    scenario: Scenario
    out_dir: Path
    listen_host: str = "0.0.0.0"
    listen_port: int = 8080
    confdir: Path = field(default_factory=lambda: Path("~/.mitmproxy").expanduser())
    mode: str = "regular"
    proxyauth: str | None = None  # "user:pass" for shared lab networks
    interactive: bool = False  # a person at a terminal: Enter ends a phase in manual mode
    status: Callable[[str], None] | None = None  # one line of progress for a person
    # Called (awaited) instead of the scenario's trigger, e.g. the demo's built-in clients.
    trigger_fn: Callable[[str, dict[str, str]], object] | None = None
    progress: object | None = None  # progress.Progress: the live view, fed journal events
    # `run --android`: where each device holds the proxy CA (device.android.CaStore.event(),
    # with `device` in a run with devices), journaled as `ca-store` before the first phase
    ca_stores: list[dict] = field(default_factory=list)
    # Only connections from these client networks count (--client); None: every client.
    clients: tuple | None = None
    journal_path: Path | None = None  # set once this run's journal exists (the proxy listens)
    # The app package's pinning configuration (pins/package.py run_record), journaled as
    # `app-package` before the first phase.
    app_package: dict | None = None
    # Files of this run's kind beside the reports (survey.*), cleared with them once it listens
    outputs: tuple[str, ...] = ()
    # Several devices (or one with a name): a listener each, in step (proxy/listeners.py).
    # Empty: one listener at listen_host:listen_port, as `mode` says.
    devices: tuple[RunDevice, ...] = ()


class Phases:
    """Drives the phases of a scenario against a running addon."""

    def __init__(
        self,
        addon: PincheckAddon,
        config: RunConfig,
        proxy_url: str,
        ca_path: Path,
        device_urls: dict[str, str] | None = None,
    ):
        self.addon = addon
        self.config = config
        self.scenario = config.scenario
        self.proxy_url = proxy_url
        self.ca_path = ca_path
        self.device_urls = device_urls or {}  # device label -> the proxy URL of its listener
        self._round_events: list[dict] = []  # this phase round's journal events (follow-ups)
        if addon.journal is not None:
            addon.journal.listeners.append(self._collect_round)

    def trigger_env(self, kind: str, device: RunDevice | None = None) -> dict[str, str]:
        env = {
            **os.environ,
            "PINCHECK_PHASE": kind,
            "PINCHECK_PROXY": self.proxy_url,
            "PINCHECK_CA": str(self.ca_path),
        }
        if device is not None:  # this device's trigger: its own listener, its own adb serial
            env["PINCHECK_PROXY"] = self.device_urls.get(device.label, "")
            env["PINCHECK_DEVICE"] = device.label
            if device.serial:
                env["PINCHECK_SERIAL"] = device.serial
                env["ANDROID_SERIAL"] = device.serial  # so a bare `adb` reaches this device
        return env

    async def run_all(self) -> None:
        self._record_app_package()
        phases = self.scenario.phases
        for index, kind in enumerate(phases):
            if self.config.progress is None:
                self._status(f"phase {index + 1}/{len(phases)}: {kind}")
            self.addon.start_phase(index, kind)
            try:
                await self._run_phase(kind)
            finally:
                self.addon.end_phase("interrupted")  # nothing to do if the phase ended itself
            await self._run_followups(index, kind)

    def _record_app_package(self) -> None:
        if self.config.app_package is not None:
            self.addon._emit("app-package", **self.config.app_package)

    # ---- follow-up phases (verdicts/followup.py): hosts hidden behind a refusal

    def _collect_round(self, event: dict) -> None:
        if event.get("event") == "phase-start":
            self._round_events = []
        self._round_events.append(event)

    async def _run_followups(self, index: int, kind: str) -> None:
        """Repeat phase `index` for the hosts it left unseen while another host refused, with
        the refusing hosts passed through, while that brings hosts in (`isolate`)."""
        if not self.scenario.isolate:
            return
        # A key kind shows only the hosts with a key for this round; the rest were passed
        # through (n/a rows), so their silence is no reason to follow up.
        keyed = KINDS[kind].key_role is not None
        shown: tuple[str, ...] = tuple(
            h.host
            for h in self.scenario.hosts
            if not keyed or self.scenario.key_for(h, index) is not None
        )
        previous: followup.FollowUp | None = None
        while True:
            limit = self.scenario.max_followups
            if len(self.config.devices) > 1:  # each device's round judged on its own
                labels = [d.label for d in self.config.devices]
                nxt = followup.plan_devices(
                    kind, shown, self._round_events, previous, limit, labels
                )
            else:
                nxt = followup.plan(kind, shown, self._round_events, previous, limit)
            if nxt is None:
                return
            if self.config.progress is None:  # the live view says so from the journal event
                self._status(
                    f"  follow-up {nxt.round}: {', '.join(nxt.shown)} not seen while "
                    f"{', '.join(nxt.passed_through)} refused; again with those passed through"
                )
            self.addon.start_phase(index, kind, only=frozenset(nxt.shown), **nxt.event_fields())
            try:
                await self._run_phase(kind)
            finally:
                self.addon.end_phase("interrupted")  # nothing to do if the phase ended itself
            previous, shown = nxt, nxt.shown

    async def _run_phase(self, kind: str) -> None:
        triggers: list[asyncio.Task] = []
        # One trigger per device, all at once: the phase is live on every device together.
        for device in self.config.devices or (None,):
            env = self.trigger_env(kind, device)
            if self.config.trigger_fn is not None:
                triggers.append(asyncio.ensure_future(self._call_trigger_fn(kind, env, device)))
            elif self.scenario.trigger:
                triggers.append(asyncio.ensure_future(self._run_trigger(kind, env, device)))
        enter: asyncio.Future | None = None
        if not triggers and self.config.interactive:
            self._status(
                f"  use the app now ({kind} is live); press Enter when done "
                f"(or wait: settle {self.scenario.settle:g}s, timeout {self.scenario.timeout:g}s)"
            )
            enter = _enter_pressed()
        reason = "interrupted"
        try:
            reason = await self._wait_for_end(triggers, enter)
        finally:
            if enter is not None:
                enter.cancel()
            # End the phase, closing and marking every live connection, *before* stopping the
            # triggers: the kernel closes the connections of a client we kill, and that close
            # must read as ours, never as the client's refusal.
            self.addon.end_phase(reason)
            for trigger in triggers:
                if not trigger.done():
                    trigger.cancel()
            for trigger in triggers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await trigger

    def _every_device_talked(self, phase) -> bool:
        """Whether the app talked in this phase on every device (one device: at all), so the
        phase may settle: one device's quiet app must not end the phase for a slower one."""
        if not self.config.devices:
            return bool(phase.talked)
        return all(d.label in phase.talked for d in self.config.devices)

    async def _wait_for_end(self, triggers: list[asyncio.Task], enter) -> str:
        loop = asyncio.get_running_loop()
        settle, deadline = self.scenario.settle, loop.time() + self.scenario.timeout
        phase = self.addon.phase
        assert phase is not None
        progress = self.config.progress
        while True:
            now = loop.time()
            if progress is not None:
                progress.tick(deadline - now)
            if now >= deadline:
                return "timeout"
            if enter is not None and enter.done():
                return "enter"
            trigger_done = all(t.done() for t in triggers)
            wake = deadline
            if trigger_done and self._every_device_talked(phase):
                quiet_since = time.monotonic() - phase.last_connection
                if quiet_since >= settle:
                    return "settle"
                wake = min(wake, now + settle - quiet_since)
            if progress is not None:
                wake = min(wake, now + 1.0)  # the live view's clock
            self.addon.activity.clear()
            waits = [asyncio.ensure_future(self.addon.activity.wait())]
            waits += [t for t in triggers if not t.done()]
            if enter is not None:
                waits.append(enter)
            await asyncio.wait(waits, timeout=max(0.0, wake - now), return_when="FIRST_COMPLETED")
            waits[0].cancel()

    async def _call_trigger_fn(
        self, kind: str, env: dict[str, str], device: RunDevice | None = None
    ) -> None:
        tag = {"device": device.label} if device is not None else {}
        self.addon._emit("trigger-start", phase=kind, **tag)
        returncode = 0
        try:
            result = self.config.trigger_fn(kind, env)
            if asyncio.iscoroutine(result):
                await result
        except asyncio.CancelledError:
            self.addon._emit("trigger-exit", phase=kind, returncode=None, stopped=True, **tag)
            raise
        except Exception:
            logger.exception("the built-in trigger failed")
            returncode = 1
        self.addon._emit("trigger-exit", phase=kind, returncode=returncode, stopped=False, **tag)

    async def _run_trigger(
        self, kind: str, env: dict[str, str], device: RunDevice | None = None
    ) -> None:
        tag = {"device": device.label} if device is not None else {}
        # With several devices, each line of output says whose trigger wrote it.
        prefix = f"trigger [{device.label}]" if len(self.config.devices) > 1 and device else ""
        self.addon._emit("trigger-start", phase=kind, **tag)
        proc = await asyncio.create_subprocess_exec(
            # guard.py runs the command and ends it if this process dies, even by kill -9
            sys.executable,
            guard.__file__,
            str(os.getpid()),
            self.scenario.trigger,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            # Its output is read and shown cleaned: a trigger such as `adb logcat` prints what
            # the app wrote, which must not reach the terminal as escape sequences.
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group, so we can stop all of it
        )
        relay = asyncio.ensure_future(self._relay_output(proc.stdout, prefix or "trigger"))
        try:
            returncode = await proc.wait()
        except asyncio.CancelledError:
            await _stop_process_group(proc)
            await _finish(relay)
            self.addon._emit(
                "trigger-exit", phase=kind, returncode=proc.returncode, stopped=True, **tag
            )
            raise
        await _finish(relay)
        if returncode != 0:
            self._status(f"  {prefix or 'trigger'} exited with status {returncode}")
        self.addon._emit("trigger-exit", phase=kind, returncode=returncode, stopped=False, **tag)

    async def _relay_output(self, stream: asyncio.StreamReader, prefix: str = "trigger") -> None:
        """The trigger's output, a line at a time, cleaned, through the live view."""
        pending = b""
        while chunk := await stream.read(TRIGGER_LINE_MAX):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) >= TRIGGER_LINE_MAX:  # no line break in sight: show what there is
                lines.append(pending)
                pending = b""
            for line in lines:
                self._trigger_line(line, prefix)
        if pending:
            self._trigger_line(pending, prefix)

    def _trigger_line(self, raw: bytes, prefix: str = "trigger") -> None:
        line = f"  {clean(prefix)}: " + clean(raw.decode("utf-8", "replace").rstrip("\r"))
        if self.config.status is not None:
            self.config.status(line)
        else:  # -q: no live view, but the trigger's words still reach the tester
            with contextlib.suppress(OSError, ValueError):
                print(line, file=sys.stderr, flush=True)

    def _status(self, line: str) -> None:
        if self.config.status is not None:
            self.config.status(line)


async def _finish(relay: asyncio.Future) -> None:
    """Let the trigger's last output through; a process it left in the background that keeps
    the output open does not hold the phase (its later writes find the pipe closed)."""
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(relay), TRIGGER_DRAIN)
    relay.cancel()


async def _stop_process_group(proc: asyncio.subprocess.Process) -> None:
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(proc.wait(), grace)
            return
        except TimeoutError:
            continue


def _enter_pressed() -> asyncio.Future:
    """A future that completes when a line is read from stdin (a person pressed Enter)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()
    fd = sys.stdin.fileno()

    def on_readable():
        with contextlib.suppress(Exception):
            os.read(fd, 4096)
        if not future.done():
            future.set_result(None)

    loop.add_reader(fd, on_readable)
    future.add_done_callback(lambda _: loop.remove_reader(fd))
    return future


def fresh_journal(out_dir: Path, outputs: tuple[str, ...] = ()) -> Journal:
    """A new journal in `out_dir`. An earlier run's journal and reports (and `outputs`) go first,
    so a run that dies cannot leave its new journal beside an old report that seems to belong
    to it."""
    from mitm_pincheck.report.writers import FORMATS

    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (JOURNAL_NAME, *FORMATS, *outputs):
        (out_dir / name).unlink(missing_ok=True)
    return Journal(out_dir / JOURNAL_NAME)


def emit_run_start(
    journal: Journal,
    scenario: Scenario,
    master,
    mode: str,
    ca_cert: x509.Certificate,
    devices: list[dict] | None = None,
) -> None:
    journal.emit(
        "run-start",
        tool={"name": "mitm-pincheck", "version": __version__, "mitmproxy": mitmproxy_version()},
        scenario=scenario.to_dict(),
        listen=_listen_address(master),
        mode=mode,
        ca={"fingerprint_sha256": ca_cert.fingerprint(hashes.SHA256()).hex(":")},
        **({"devices": devices} if devices else {}),
    )


def upstream_bundle(extra: Path, directory: Path) -> Path:
    """The system trust store plus `extra`, as one file for mitmproxy's upstream verification."""
    import certifi

    bundle = directory / "upstream-trust.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + extra.read_bytes())
    return bundle


def _loopback_url(host: str, port: int, scheme: str = "http", auth: str | None = None) -> str:
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    userinfo = ""
    if auth:  # percent-encoded: a password may hold @ / % : or spaces
        user, _, password = auth.partition(":")
        userinfo = f"{quote(user, safe='')}:{quote(password, safe='')}@"
    return f"{scheme}://{userinfo}{host}:{port}"


# The URL scheme a client uses to reach the proxy in each mode; modes without one (wireguard,
# transparent, local, ...) have no proxy URL: the device's traffic is routed to them instead.
# The trigger's output is shown a line at a time; a longer run without a line break is cut here.
TRIGGER_LINE_MAX = 4096
# After the trigger exits, how long its last output may take to arrive through the pipe.
TRIGGER_DRAIN = 0.5

_PROXY_SCHEMES = {"regular": "http", "socks5": "socks5h", "upstream": "http"}


def proxy_url(addrs, mode: str, host: str | None = None, auth: str | None = None) -> str:
    """The URL a trigger reaches the proxy at, on loopback when it listens everywhere; empty
    for modes without one (wireguard, transparent, ...) or when nothing listens."""
    scheme = _PROXY_SCHEMES.get(mode_specs.ProxyMode.parse(mode).type_name)
    if not addrs or scheme is None:
        return ""
    return _loopback_url(host or str(addrs[0][0]), int(addrs[0][1]), scheme, auth)


def describe_servers(master) -> list[str]:
    """Lines a person needs to connect a device, e.g. the WireGuard client configuration."""
    lines = []
    for instance in master.addons.get("proxyserver").servers:
        client_conf = getattr(instance, "client_conf", None)
        if callable(client_conf) and (conf := client_conf()):
            lines.append(
                "WireGuard mode: load this client configuration on the device "
                "(WireGuard app, 'Create from file or QR code'):"
            )
            lines.append(conf)
    return lines


async def run(config: RunConfig) -> dict:
    """Run the scenario and return the report dict; the journal and reports are in out_dir.

    Nothing in out_dir is touched until the proxy listens: a run that cannot start (port in
    use, bad CA, bad option) leaves the last run's journal and reports as they were."""
    scenario = config.scenario
    out_dir = config.out_dir
    forge = load_forge(config.confdir, config.status)

    specs = [d.mode_spec(config.mode) for d in config.devices] or [config.mode]
    opts = mitm_options.Options(
        listen_host=config.listen_host,
        listen_port=config.listen_port,
        confdir=str(config.confdir),
        mode=specs,
    )
    master = DumpMaster(opts, with_termlog=False, with_dumper=False)
    for name in ("errorcheck", "readfilestdin"):  # they would sys.exit() or read our stdin
        if addon_obj := master.addons.get(name):
            master.addons.remove(addon_obj)
    addon = PincheckAddon(scenario, None, clients=config.clients)
    addon.forge = forge
    if config.devices:
        addon.listeners = {
            mode_key(spec): d.label for spec, d in zip(specs, config.devices, strict=True)
        }
        addon.device_clients = {d.label: d.clients for d in config.devices}
    master.addons.add(addon)
    _move_before(master, addon, "nextlayer")  # our next_layer and TLS hooks run first

    journal: Journal | None = None
    with tempfile.TemporaryDirectory(prefix="pincheck-") as tmp:
        deferred: dict = {"connection_strategy": "eager"}
        if config.proxyauth:
            deferred["proxyauth"] = config.proxyauth
        if scenario.upstream_trust is not None:
            deferred["ssl_verify_upstream_trusted_ca"] = str(
                upstream_bundle(scenario.upstream_trust, Path(tmp))
            )
        try:
            opts.update_defer(**deferred)
        except Exception as e:  # mitmproxy's OptionsError: its message names the option
            raise InputError(f"mitmproxy refused an option: {e}") from None
        master_task = asyncio.ensure_future(master.run())
        interrupted = started = False
        try:
            url, listening = await _wait_listening(master, master_task, addon, config, specs)
            journal = fresh_journal(out_dir, config.outputs)
            config.journal_path = journal.path
            if config.progress is not None:
                journal.listeners.append(config.progress.on_event)
            addon.journal = journal
            for line in describe_servers(master):
                if config.status is not None:
                    config.status(line)
            devices = [
                d.record(address) for d, (address, _) in zip(config.devices, listening, strict=True)
            ]
            emit_run_start(
                journal, scenario, master, config.mode, addon.forge.trusted.cert, devices
            )
            for found in config.ca_stores:
                journal.emit(results.CA_STORE_EVENT, **found)
            started = True
            urls = {d.label: u for d, (_, u) in zip(config.devices, listening, strict=True)}
            phases = Phases(addon, config, url, config.confdir / ca.CERT_FILE, urls)
            await phases.run_all()
        except (asyncio.CancelledError, KeyboardInterrupt):
            interrupted = True
        finally:
            if started and journal is not None:
                journal.emit("run-end", interrupted=interrupted)
            master.shutdown()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(master_task, 10)
            if journal is not None:
                journal.close()

    if journal is None:  # interrupted before the proxy listened: nothing was run or touched
        raise InputError("interrupted before the proxy started; nothing was run")
    warnings: list[str] = []
    report = results.build_report(iter_events(journal.path, warnings))  # streamed
    for warning in warnings:
        logger.warning(warning)
    return report


def load_forge(confdir: Path, status: Callable[[str], None] | None) -> forging.Forge:
    """The proxy CA (and the untrusted one), loaded before anything starts: a corrupt or
    unreadable CA is a clear error here, not a proxy that never comes up."""
    try:
        info = ca.load_ca(confdir)
        forge = forging.Forge(
            forging.Authority(info.cert, info.key), forging.load_or_create_untrusted_ca(confdir)
        )
    except InputError:
        raise
    except (OSError, ValueError, TypeError) as e:
        raise InputError(f"--confdir {confdir}: cannot load the CAs: {e}") from None
    for warning in info.warnings:  # a CA key others can read: `ca` says the same
        if status is not None:
            status(f"warning: {warning}")
        else:
            logger.warning(warning)
    return forge


def _device_listeners(
    master, config: RunConfig, specs: list[str], why: str | None
) -> list[tuple[str, str]]:
    """(address, proxy URL) of each device's listener, in device order. mitmproxy starts the
    servers it can and logs the others: a device without its listener would have nothing to
    say, so that is a failed start (port in use, or not an address of this machine)."""
    if not config.devices:
        return []
    by_mode = {
        instance.mode.full_spec: list(instance.listen_addrs)
        for instance in master.addons.get("proxyserver").servers
    }
    out = []
    for spec, device in zip(specs, config.devices, strict=True):
        addrs = by_mode.get(mode_key(spec)) or []
        if not addrs:
            where = address_text(device.host, device.port)
            raise InputError(
                f"could not start the proxy for device {device.label} on {where} "
                f"({why or _NOT_BOUND})"
            )
        url = proxy_url(addrs, config.mode, device.host, config.proxyauth)
        out.append((address_text(str(addrs[0][0]), int(addrs[0][1])), url))
    return out


def _listen_address(master) -> str:
    addrs = master.addons.get("proxyserver").listen_addrs()
    if not addrs:
        return ""
    host, port = addrs[0][0], addrs[0][1]
    return address_text(str(host), port)


def _move_before(master, addon, name: str) -> None:
    """Put `addon` before the addon `name` in the chain, so our hooks run first."""
    chain = master.addons.chain
    target = master.addons.get(name)
    if target is None or addon not in chain:
        return
    chain.remove(addon)
    chain.insert(chain.index(target), addon)


async def _wait_listening(
    master, master_task: asyncio.Future, addon, config: RunConfig, specs: list[str]
) -> tuple[str, list[tuple[str, str]]]:
    """The proxy's loopback URL once it listens, and each device's (address, URL);
    mitmproxy calls `running` after binding.

    mitmproxy logs why a server did not start (and carries on): that line is the message."""
    errors = _ErrorLines()
    logging.getLogger().addHandler(errors)
    try:
        started = asyncio.ensure_future(addon.started.wait())
        await asyncio.wait([started, master_task], return_when="FIRST_COMPLETED")
        started.cancel()
    finally:
        logging.getLogger().removeHandler(errors)
    why = errors.lines[0] if errors.lines else None
    addrs = master.addons.get("proxyserver").listen_addrs()
    if not addon.started.is_set() or not addrs:
        if config.devices:
            where = "on " + ", ".join(address_text(d.host, d.port) for d in config.devices)
            why = why or _NOT_BOUND
        elif mode_specs.ProxyMode.parse(config.mode).type_name in _PROXY_SCHEMES:
            where = f"on {config.listen_host}:{config.listen_port}"
            why = why or _NOT_BOUND
        else:
            where = f"in {config.mode} mode"
            why = why or "see mitmproxy's documentation of this mode for what it needs"
        raise InputError(f"could not start the proxy {where} ({why})")
    listening = _device_listeners(master, config, specs, why)
    # (a wildcard address is reached on loopback: proxy_url says so)
    return proxy_url(addrs, config.mode, config.listen_host, config.proxyauth), listening


# Why a listener did not start, when mitmproxy logged no reason.
_NOT_BOUND = "address in use, or not an address of this machine?"


class _ErrorLines(logging.Handler):
    """Collects the error lines mitmproxy logs while it starts its servers."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.lines.append(" ".join(record.getMessage().split())[:300])


async def drive_standalone(addon: PincheckAddon, app_package: dict | None = None) -> None:
    """Script mode (`mitmdump -s addons/pincheck.py`): run the phases, write reports, shut down."""
    from mitmproxy import ctx

    from mitm_pincheck.report import writers

    scenario = addon.scenario
    assert scenario is not None
    out_dir = Path(ctx.options.pincheck_out)
    addon.journal = fresh_journal(out_dir)
    journal_path = addon.journal.path
    url = proxy_url(ctx.master.addons.get("proxyserver").listen_addrs(), ctx.options.mode[0])
    confdir = Path(ctx.options.confdir).expanduser()
    config = RunConfig(
        scenario=scenario,
        out_dir=out_dir,
        confdir=confdir,
        status=lambda line: logger.info(f"pincheck: {line.strip()}"),
        app_package=app_package,
    )
    mode = ",".join(ctx.options.mode)
    emit_run_start(addon.journal, scenario, ctx.master, mode, addon.forge.trusted.cert)
    interrupted = False
    try:
        await Phases(addon, config, url, confdir / ca.CERT_FILE).run_all()
    except asyncio.CancelledError:
        interrupted = True
    finally:
        addon.journal.emit("run-end", interrupted=interrupted)
        addon.journal.close()
        report = results.build_report(iter_events(journal_path, []))
        writers.write_all(report, out_dir)
        s = report["summary"]
        logger.warning(
            f"pincheck: done: {s['pass']} pass, {s['fail']} fail, "
            f"{s['inconclusive']} inconclusive; report in {out_dir}"
        )
        addon.journal = None
        if not interrupted and not ctx.options.pincheck_keep_running:
            ctx.master.shutdown()

"""`mitm-pincheck run SCENARIO --out DIR`: the proxy, phase by phase, then the reports."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from mitm_pincheck.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run",
        help="run a scenario: intercept the hosts under test phase by phase and write verdicts",
        description=(
            "Start the proxy, run every phase of SCENARIO (each host under test is shown the "
            "phase's certificate kind; other hosts pass through), then write journal.jsonl and "
            "the reports to --out and print a host x phase table. Ctrl-C (or SIGTERM, SIGHUP) ends "
            "the run and still writes the report of what was seen. Nothing in --out is touched "
            "until the proxy listens. Exit codes: 0 all pass, 1 any fail, "
            "3 inconclusive and no fail, 2 bad usage or input, 4 mitm-pincheck itself failed "
            "(the traceback is in --out/crash.log)."
        ),
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file (YAML)")
    p.add_argument(
        "--out", required=True, metavar="DIR", help="output directory for journal and reports"
    )
    package = p.add_mutually_exclusive_group()
    package.add_argument(
        "--apk",
        metavar="APP.apk",
        help="record this APK's pin-sets and code pins in the journal and name them in the "
        "rows (as 'apk:' in the scenario)",
    )
    package.add_argument("--ipa", metavar="APP.ipa", help="the same for an iOS IPA ('ipa:')")
    add_proxy_arguments(p)
    add_android_arguments(p)
    p.set_defaults(handler=handle)


def add_proxy_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--listen",
        action="append",
        metavar="[LABEL=]HOST:PORT",
        help="where the proxy listens (default 0.0.0.0:8080: reachable from a device on the "
        "same network; mitmproxy still refuses clients from public addresses). "
        "Port 0 picks a free port. Repeatable: one listener per device, each set up by hand "
        "to use its own (--listen pixel-7=0.0.0.0:8081 --listen pixel-4=0.0.0.0:8082); rows "
        "then say which device they are from. With --android: the first device's port, the "
        "next devices get the ports after it (or one --listen per --serial)",
    )
    p.add_argument(
        "--confdir",
        default="~/.mitmproxy",
        metavar="DIR",
        help="mitmproxy's configuration directory holding the proxy CA the device trusts "
        "(default ~/.mitmproxy; created if missing)",
    )
    p.add_argument(
        "--mode",
        default="regular",
        metavar="MODE",
        help="mitmproxy mode passed through as is: regular (default), socks5, wireguard, "
        "transparent, local, ...",
    )
    p.add_argument(
        "--proxyauth",
        metavar="USER:PASS",
        help="require these proxy credentials from clients (for shared lab networks); the "
        "trigger's PINCHECK_PROXY carries them (percent-encoded). The password may not "
        "contain ':'",
    )
    p.add_argument(
        "--client",
        action="append",
        metavar="ADDR|CIDR",
        help="count only connections from this client address or network (repeatable); "
        "connections from other clients are passed through untouched and listed in the "
        "report, so another device or app cannot forge a verdict. Default: every client, "
        "or with --android the device",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines, just the table")


def add_android_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--android",
        action="store_true",
        help="set the Android device's proxy (through adb) before the first phase and clear it "
        "after the last, also on Ctrl-C or error; needs a fixed --listen port. Also looks for "
        "the proxy CA in the device's system store: found there, it is proof that apps using "
        "the platform trust store trust it (device-store)",
    )
    p.add_argument(
        "--serial",
        action="append",
        metavar="S",
        help="with --android: the adb serial of the device (default: the scenario's devices, "
        "else $ANDROID_SERIAL, else the only one). Repeatable: several devices in one run, in "
        "step, each on a listener of its own, each trigger with PINCHECK_SERIAL set",
    )


def check_mode(value: str) -> str:
    from mitmproxy.proxy import mode_specs

    try:
        mode_specs.ProxyMode.parse(value)
    except ValueError as e:
        raise InputError(f"--mode {value!r}: {e}") from None
    return value


def check_proxyauth(value: str | None) -> str | None:
    """USER:PASS, as mitmproxy's single-user form takes it (its `@file` and `ldap...` forms
    would leave the trigger without credentials to use)."""
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise InputError("--proxyauth: expected USER:PASS")
    if ":" in password:
        raise InputError(
            "--proxyauth: the password may not contain ':' (mitmproxy reads USER:PASS with "
            "exactly one ':'); choose another password"
        )
    if user.lower().startswith("ldap") or user.startswith("@"):
        raise InputError(
            f"--proxyauth: a user name starting with {user[:5]!r} is read by mitmproxy as an "
            "LDAP or htpasswd setting, not USER:PASS; choose another user name"
        )
    if any(not c.isprintable() for c in value):
        raise InputError("--proxyauth: control characters are not allowed")
    return value


def parse_clients(values: list[str] | None) -> tuple | None:
    """--client values as networks (an address is a network of one)."""
    from mitm_pincheck.verdicts.clients import parse_networks

    return parse_networks(values)


def check_confdir(value: str) -> Path:
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"--confdir {value}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise InputError(f"--confdir {value}: cannot create it ({e.strerror or e})") from None
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise InputError(f"--confdir {value}: not readable and writable")
    return path


def prepare_out_dir(value: str) -> Path:
    """The output directory, checked (created if missing, nothing in it touched): the journal
    and the reports must be able to take their places."""
    from mitm_pincheck.report.writers import FORMATS
    from mitm_pincheck.verdicts.journal import JOURNAL_NAME

    out = Path(value)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {value}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out {value}: cannot create it ({e.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(f"--out {value}: not writable")
    for name in (JOURNAL_NAME, *FORMATS):
        target = out / name
        if target.is_dir() and not target.is_symlink():
            raise InputError(
                f"--out {value}: {name} there is a directory; the reports need that name "
                "for a file: move it away or choose another --out"
            )
    return out


# Signals that end a run with the report of what was seen: Ctrl-C, `kill`, a closed terminal.
END_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def execute(config, *, quiet: bool = False) -> dict:
    """Run the scenario in a fresh event loop; Ctrl-C, SIGTERM or SIGHUP end it and keep what
    was seen."""
    from mitm_pincheck.proxy import runner

    async def main() -> dict:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in END_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, _interrupt, task, config)
        try:
            return await runner.run(config)
        finally:
            for sig in END_SIGNALS:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)

    return asyncio.run(main())


def _interrupt(task: asyncio.Task, config) -> None:
    task.cancel()  # first: nothing below may keep the signal from ending the run
    if config.status is not None:
        with contextlib.suppress(Exception):
            config.status("interrupted: ending the phase and writing the report of what was seen")


def live_progress(scenario):
    """The live view on stderr (stdout keeps the final table): redrawn on a terminal, plain
    lines in a CI log. A run's devices it learns from the journal's run-start."""
    from mitm_pincheck.proxy.progress import Progress
    from mitm_pincheck.report.live import LiveView, is_interactive

    view = LiveView(
        sys.stderr,
        is_interactive(sys.stderr),
        [h.host for h in scenario.hosts],
        list(scenario.phases),
    )
    return Progress(view, scenario.timeout)


def print_table(report: dict) -> None:
    """The host x phase table and the hints, fitted to the terminal when there is one."""
    from mitm_pincheck.report import table, terminal

    out = terminal.console()
    table.print_table(out, report)
    if report.get("hints"):
        out.print()
        table.print_hints(out, report)


def say(line: str) -> None:
    """One line of ours on stderr; whatever it quotes (paths, device names) is cleaned."""
    from mitm_pincheck.cli import streams

    streams.say(line)


def status_printer(quiet: bool):
    return None if quiet else say


def salvage_reports(config) -> None:
    """A crash during the run: the journal is complete up to it, so write the reports from it
    before the crash is reported (best effort: a second failure leaves the first one's log)."""
    from mitm_pincheck.report import writers
    from mitm_pincheck.verdicts import results
    from mitm_pincheck.verdicts.journal import iter_events

    if config.journal_path is None:
        return
    with contextlib.suppress(Exception):
        report = results.build_report(iter_events(config.journal_path, []))
        writers.write_all(report, config.out_dir)


def app_package_record(args, scenario) -> dict | None:
    """The `app-package` record of --apk/--ipa, or of the scenario's apk:/ipa:."""
    candidates = [(getattr(args, k, None), k) for k in ("apk", "ipa")]
    candidates += [(getattr(scenario, k, None), k) for k in ("apk", "ipa")]
    path, kind = next(((p, k) for p, k in candidates if p), (None, None))
    if path is None:
        return None
    from mitm_pincheck.pins.package import load_package, run_record

    return run_record(load_package(path, kind))


def proxy_settings(args: argparse.Namespace, scenario=None):
    """The proxy options shared by `run` and `survey`, checked before anything starts
    (cli/devices.py): the listeners, and with --android each device must answer, and only its
    connections count on its listener unless --client says otherwise."""
    from mitm_pincheck.cli import devices

    return devices.plan(args, scenario)


def handle(args: argparse.Namespace) -> int:
    from mitm_pincheck import scenario as scenario_mod
    from mitm_pincheck.cli import devices
    from mitm_pincheck.proxy.runner import RunConfig
    from mitm_pincheck.report import terminal, writers

    scenario = scenario_mod.load(args.scenario)
    plan = proxy_settings(args, scenario)
    app_package = app_package_record(args, scenario)  # a broken package: exit 2 before starting
    out = prepare_out_dir(args.out)
    config = RunConfig(
        scenario=scenario,
        out_dir=out,
        **plan.run_config(),
        interactive=sys.stdin.isatty() and not scenario.trigger,
        progress=None if args.quiet else live_progress(scenario),
        app_package=app_package,
    )
    if config.progress is not None:
        config.status = config.progress.note
    with contextlib.ExitStack() as stack:
        if args.android:
            stack.enter_context(devices.android_proxies(plan, config.status, say))
            config.ca_stores = devices.android_ca_stores(plan, plan.confdir, config.status, say)
        try:
            report = execute(config)
        except InputError:
            raise
        except Exception:
            salvage_reports(config)
            raise
        finally:
            if config.progress is not None:
                config.progress.close()
    writers.write_all(report, out)
    print_table(report)
    print()
    print(terminal.clean(f"reports: {out}/report.json (journal: {out}/journal.jsonl)"))
    return int(report["exit_code"])

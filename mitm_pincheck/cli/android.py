"""`mitm-pincheck android`: proxy on/off, CA install and a set-up check, through adb."""

from __future__ import annotations

import sys

from mitm_pincheck.device import android, ca
from mitm_pincheck.report.terminal import clean

_SERIAL_HELP = "device serial from 'adb devices' (default: $ANDROID_SERIAL, else the only device)"
_CONFDIR_HELP = "mitmproxy's configuration directory holding the CA (default: ~/.mitmproxy)"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "android",
        help="set up an Android device or emulator: proxy, CA, and a check of both (uses adb)",
        description=(
            "Prepare an Android device or emulator for a pinning test through adb (found on "
            "PATH). See docs/devices.md for what each step does and why."
        ),
    )
    sub = p.add_subparsers(dest="android_command", metavar="SUBCOMMAND", required=True)

    proxy = sub.add_parser(
        "proxy",
        help="set or clear the device's global HTTP proxy",
        description=(
            "on: point the global HTTP proxy at this machine. An emulator gets 'adb reverse "
            "tcp:PORT tcp:PORT' and the proxy 127.0.0.1:PORT; a real device gets this "
            "machine's LAN address (the proxy must listen on it, e.g. --listen 0.0.0.0:PORT). "
            "off: clear the proxy and the adb reverse rule; it reads the state from the "
            "device, so it also repairs a device left proxied by a run that crashed."
        ),
    )
    proxy.add_argument("state", choices=("on", "off"), help="on: set the proxy; off: clear it")
    proxy.add_argument("--serial", metavar="S", help=_SERIAL_HELP)
    proxy.add_argument(
        "--port",
        type=int,
        metavar="P",
        help="proxy port on this machine (on: default 8080; off: also remove its adb reverse)",
    )
    proxy.add_argument(
        "--host-ip",
        metavar="IP",
        help="real devices: the address of this machine the device can reach "
        "(default: the address of the default-route interface)",
    )
    proxy.set_defaults(handler=_proxy)

    inst = sub.add_parser(
        "install-ca",
        help="install the proxy CA: system store on a rooted emulator, else user-store steps",
        description=(
            "Install the proxy CA. On an emulator where adbd can run as root (Google APIs "
            "images), into the system store: with adb remount where /system/etc/security/"
            "cacerts is the store (Android 13 and older; start the emulator with "
            "-writable-system), or, where /apex/com.android.conscrypt/cacerts exists "
            "(Android 14+), into a tmpfs copy bind-mounted into zygote and running apps (lost "
            "at reboot). On a real device or a Google Play image: copy the certificate to "
            "Downloads and print the steps for the user store."
        ),
    )
    inst.add_argument("--serial", metavar="S", help=_SERIAL_HELP)
    inst.add_argument("--confdir", metavar="DIR", help=_CONFDIR_HELP)
    inst.set_defaults(handler=_install)

    doc = sub.add_parser(
        "doctor",
        help="check the device: Android version, where the CA is, the proxy, what it means",
        description=(
            "Report the Android version, whether the proxy CA is in the system or user store, "
            "the current proxy setting, and what that means for the app under test. "
            "Exit 0 when ready, 1 when a set-up problem would spoil the test."
        ),
    )
    doc.add_argument("--serial", metavar="S", help=_SERIAL_HELP)
    doc.add_argument("--confdir", metavar="DIR", help=_CONFDIR_HELP)
    doc.add_argument(
        "--port", type=int, metavar="P", help="the proxy port you intend to use, to check it"
    )
    doc.set_defaults(handler=_doctor)


def _proxy(args) -> int:
    if args.state == "on":
        dev = android.proxy_on(args.serial, args.port or 8080, args.host_ip)
        if dev.previous_proxy and dev.previous_proxy != dev.proxy:
            print(f"note: replaced the previous proxy {clean(dev.previous_proxy)}", file=sys.stderr)
        print(f"{clean(dev.label)}: HTTP proxy set to {clean(dev.proxy)}")
        if dev.emulator:
            print(f"adb reverse tcp:{args.port or 8080} forwards the emulator's loopback here.")
        else:
            print(
                f"Make the proxy listen where the device can reach it "
                f"(--listen 0.0.0.0:{args.port or 8080}) and keep both on the same network."
            )
        print("Clear it afterwards with: mitm-pincheck android proxy off")
        return 0
    dev = android.proxy_off(args.serial, args.port)
    was = f" (was {clean(dev.previous_proxy)})" if dev.previous_proxy else " (none was set)"
    print(f"{clean(dev.label)}: HTTP proxy cleared{was}")
    for p in dev.removed_reverse:
        print(f"removed adb reverse tcp:{p}")
    return 0


def _load_ca(confdir):
    info = ca.load_ca(confdir)
    if info.created:
        print(f"mitm-pincheck: created a new CA in {info.confdir}", file=sys.stderr)
    for warning in info.warnings:
        print(f"mitm-pincheck: warning: {warning}", file=sys.stderr)
    return info


def _install(args) -> int:
    info = _load_ca(args.confdir)
    result = android.install_ca(args.serial, info.pem, info.android_system_name)
    where = {
        "user": "copied for the user store to",
        "system": "installed in the system store at",
        "system-apex": "installed in the system store at",
    }[result.store]
    print(f"{clean(result.device.label)}: CA {where} {clean(result.path)}")
    for note in result.notes:
        print(f"- {clean(note)}")
    return 0


def _doctor(args) -> int:
    info = _load_ca(args.confdir)
    d = android.doctor(args.serial, info.android_system_name, args.port)
    d.facts.insert(1, ("proxy CA", f"{info.subject} ({info.android_system_name})"))
    width = max(len(k) for k, _ in d.facts)
    for key, value in d.facts:
        print(f"{key + ':':<{width + 1}} {clean(value)}")  # the device's words
    if d.problems:
        print("\nProblems:")
        for problem in d.problems:
            print(f"- {clean(problem)}")
    print("\nWhat it means:")
    for line in d.advice:
        print(f"- {clean(line)}")
    return 1 if d.problems else 0

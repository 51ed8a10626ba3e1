"""`mitm-pincheck ca`: where the proxy CA is and what it is; `ca export`: files for devices."""

from __future__ import annotations

import argparse
import datetime
import sys

from mitm_pincheck.device import ca

_CONFDIR_HELP = (
    "mitmproxy's configuration directory holding the CA (default: ~/.mitmproxy); "
    "a CA is created there if there is none"
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ca",
        help="show the proxy CA (location, fingerprint, pin, expiry) or export it for devices",
        description=(
            "Show where the proxy CA is, its SHA-256 fingerprint, its SPKI pin and its expiry. "
            "The CA is mitmproxy's own, so a device set up for mitmproxy is set up for "
            "mitm-pincheck. 'ca export' writes the files a device needs to trust it."
        ),
    )
    p.add_argument("--confdir", metavar="DIR", help=_CONFDIR_HELP)
    p.set_defaults(handler=_show)
    sub = p.add_subparsers(dest="ca_command", metavar="SUBCOMMAND")
    e = sub.add_parser(
        "export",
        help="write the CA certificate as PEM, DER (.cer), Android system-store file "
        "and iOS profile",
        description=(
            "Write the CA certificate (never its key) as: PEM; DER (.cer) for Android's user "
            "store and iOS; <subject_hash_old>.0 for Android's system store; and a "
            ".mobileconfig profile for iOS. See docs/devices.md for installing them."
        ),
    )
    e.add_argument("--out", metavar="DIR", required=True, help="directory to write into")
    # SUPPRESS: otherwise this default would overwrite `ca --confdir X export`.
    e.add_argument("--confdir", metavar="DIR", default=argparse.SUPPRESS, help=_CONFDIR_HELP)
    e.set_defaults(handler=_export)


def _load(args) -> ca.CaInfo:
    info = ca.load_ca(args.confdir)
    if info.created:
        print(f"mitm-pincheck: created a new CA in {info.confdir}", file=sys.stderr)
    for warning in info.warnings:
        print(f"mitm-pincheck: warning: {warning}", file=sys.stderr)
    return info


def _show(args) -> int:
    info = _load(args)
    days = (info.not_after - datetime.datetime.now(datetime.UTC)).days
    expiry = f"{info.not_after:%Y-%m-%d %H:%M} UTC"
    expiry += f" (in {days} days)" if days >= 0 else " (EXPIRED)"
    rows = [
        ("certificate", str(info.cert_file)),
        ("private key", str(info.key_file)),
        ("subject", info.subject),
        ("SHA-256", info.fingerprint_sha256),
        ("SPKI pin", f"sha256/{info.spki_pin}"),
        ("expires", expiry),
        ("Android system store name", info.android_system_name),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key + ':':<{width + 1}} {value}")
    print("Export it for devices with: mitm-pincheck ca export --out DIR")
    return 0


def _export(args) -> int:
    info = _load(args)
    result = ca.export(info, args.out)
    notes = {
        result.pem: "PEM (curl, desktop tools, PINCHECK_CA)",
        result.der: "DER: Android user store (Settings > Security), iOS (AirDrop or mail)",
        result.android_system: "Android system store (rooted emulator: "
        "mitm-pincheck android install-ca)",
        result.mobileconfig: "iOS profile: install, then enable full trust in "
        "Settings > General > About > Certificate Trust Settings",
    }
    for path, note in notes.items():
        print(f"{path}  {note}")
    return 0

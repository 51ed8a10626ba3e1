"""`mitm-pincheck scenario from-config`: a starting scenario from the app's own pin config."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

from mitm_pincheck.errors import InputError
from mitm_pincheck.pins import audit
from mitm_pincheck.pins.package import ANDROID, AppPackage
from mitm_pincheck.report.terminal import clean
from mitm_pincheck.verdicts import kinds


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "scenario",
        help="generate scenario files",
        description="Generate scenario files to edit and run.",
    )
    sub = p.add_subparsers(dest="scenario_command", metavar="SUBCOMMAND", required=True)
    f = sub.add_parser(
        "from-config",
        help="write a scenario whose hosts come from a pinning configuration",
        description=(
            "Write a scenario YAML listing the domains of an Android network security config, "
            "an iOS Info.plist (NSPinnedDomains, TSKConfiguration) or a TrustKit JSON file: "
            "domains with pins become pinned: true, the others pinned: false and control: true "
            "(the app's own unpinned endpoints: their acceptance of valid-ca proves the app "
            "trusts the proxy CA). "
            "A domain that includes its subdomains becomes two entries: the domain and '*.domain'. "
            "Add a trigger, then check it with 'mitm-pincheck validate'."
        ),
    )
    f.add_argument("file", metavar="FILE", help="network_security_config.xml, Info.plist or JSON")
    f.add_argument("--out", metavar="FILE", help="write the scenario here (default: stdout)")
    f.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    f.set_defaults(handler=_from_config)
    for flag, what, example in (
        (
            "apk",
            "an Android APK",
            "the manifest's network security config, OkHttp pins in the code",
        ),
        ("ipa", "an iOS IPA", "Info.plist's NSPinnedDomains and NSExceptionDomains, TrustKit"),
    ):
        a = sub.add_parser(
            f"from-{flag}",
            help=f"write a scenario whose hosts come from {what}'s own pinning configuration",
            description=(
                f"Read {what} ({example}) and write a scenario YAML: pinned domains become "
                "pinned: true, other configured domains pinned: false; a comment above each host "
                "says where it came from. The app's id and version go into name and app. "
                "Add a trigger, then check it with 'mitm-pincheck validate'."
            ),
        )
        a.add_argument("file", metavar=f"APP.{flag}", help=f"the .{flag} file")
        a.add_argument("--out", metavar="FILE", help="write the scenario here (default: stdout)")
        a.add_argument("--force", action="store_true", help="overwrite --out if it exists")
        a.set_defaults(handler=_from_package, package_kind=flag)


def _from_config(args) -> int:
    config = audit.load_config(args.file)
    return _write(args, *scenario_yaml(config))


def _from_package(args) -> int:
    from mitm_pincheck.pins.package import load_package

    package = load_package(args.file, args.package_kind)
    return _write(args, *scenario_yaml(package.config, package))


def _write(args, text: str, skipped: list[tuple[str, str]]) -> int:
    for pattern, why in skipped:
        print(
            f"mitm-pincheck: note: left out {clean(repr(pattern))}: {clean(why)}", file=sys.stderr
        )
    if not args.out:
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    if out.exists() and not args.force:
        raise InputError(f"{out} exists; pass --force to overwrite it, or choose another --out")
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write {out}: {e.strerror or e}") from None
    print(f"wrote {out}; check it with: mitm-pincheck validate {out}", file=sys.stderr)
    return 0


def scenario_yaml(
    config: audit.PinConfig,
    package: AppPackage | None = None,
) -> tuple[str, list[tuple[str, str]]]:
    """Scenario YAML for the domains of `config`, and the (pattern, reason) left out.

    Comments flag domains whose pinning the config itself already defeats; for an app package,
    each host also says where it came from (the config file, or the code).
    """
    today = datetime.date.today()
    entries: dict[str, tuple[bool, list[str]]] = {}  # pattern -> (pinned, comments)
    skipped: list[tuple[str, str]] = []
    for rule in config.rules:
        ps = rule.pin_set
        pinned = ps is not None
        comments = [package.origin(rule)] if package is not None else []
        if ps is not None and ps.expiration is not None and ps.expiration <= today:
            comments.append(
                f"pin-set expired {ps.expiration}: the platform ignores it, expect failures"
            )
        elif ps is not None and not ps.enforced:
            comments.append("pinning is report-only (enforcePinning false): expect failures")
        if package is not None:
            patterns = package.patterns(rule)
        else:
            patterns = [rule.name] + ([f"*.{rule.name}"] if rule.include_subdomains else [])
        for pattern in patterns:
            why = _unusable(pattern)
            if why:
                skipped.append((pattern, why))
                continue
            old = entries.get(pattern)
            if old is None:
                entries[pattern] = (pinned, comments)
            elif pinned and not old[0]:
                # Listed twice (e.g. once pinned, once only for cleartext): pinned wins.
                entries[pattern] = (True, comments + old[1])
            elif package is not None:
                entries[pattern] = (old[0], old[1] + [c for c in comments if c not in old[1]])
    if not entries:
        if package is not None:
            raise InputError(
                f"{package.file}: no domains found to put in a scenario (no network security "
                "config domains, no pins in the code): run 'mitm-pincheck survey' to see which "
                "hosts the app talks to"
            )
        raise InputError(f"{config.file}: no domains found to put in a scenario")

    if package is not None:
        name = f"{package.label or package.app_id} {package.version or ''}".strip()
        app = package.app_id
        command = "from-apk" if package.platform == ANDROID else "from-ipa"
        lines = [
            f"# Generated by mitm-pincheck scenario {command} from {package.file}",
            "# "
            + _one_line(
                package.title + (f", {json.dumps(package.label)}" if package.label else "")
            ),
        ]
        lines += [f"# note: {_one_line(n)}" for n in package.notes]
        lines += [
            "# Review the hosts, add a trigger, then:",
            "#   mitm-pincheck validate THIS_FILE",
        ]
    else:
        name = config.app or Path(config.file).stem.replace("_", "-").lower() or "from-config"
        app = config.app
        lines = [
            f"# Generated by mitm-pincheck scenario from-config from {config.file}",
            f"# ({audit.PLATFORM_NAMES[config.platform]}). Review the hosts, add a trigger, then:",
            "#   mitm-pincheck validate THIS_FILE",
        ]
    lines.append(f"name: {json.dumps(name)}")
    if app:
        lines.append(f"app: {json.dumps(app)}")
    lines.append("hosts:")
    for pattern, (pinned, comments) in entries.items():
        lines.extend(f"  # {_one_line(c)}" for c in comments)
        lines.append(f"  - host: {json.dumps(pattern)}")
        lines.append(f"    pinned: {'true' if pinned else 'false'}")
        if pinned:
            lines.append(
                "    # keys: {current: KEY.pem, backup: [NEXT.pem]}  # + phases pinned-key,"
            )
            lines.append("    #   backup-key: proves CA trust for this host, rehearses rotation")
        else:
            lines.append("    control: true")
    lines.append("phases:")
    lines.extend(f"  - {k}" for k in kinds.DEFAULT_PHASES)
    lines.append("# ca_trust: system  # only if the proxy CA is a system CA on the device")
    lines.append("# A command that makes the app talk, run at each phase start; null: by hand.")
    lines.append("trigger: null")
    lines.append("settle: 5")
    lines.append("timeout: 60")
    return "\n".join(lines) + "\n", skipped


def _one_line(text: str) -> str:
    """Text from a package, safe inside a YAML comment: one line, printable."""
    from mitm_pincheck.pins.package import printable

    return printable(text)


def _unusable(pattern: str) -> str | None:
    """Why the scenario would refuse `pattern`, or None."""
    from mitm_pincheck.scenario.hostnames import HostNameError, check_host

    try:
        check_host(pattern)
    except HostNameError as e:
        return str(e)
    return None

"""`mitm-pincheck pins show`: a chain's SPKI pins; `pins audit`: flaws in an app's pin config."""

from __future__ import annotations

import datetime
import json
import sys

from mitm_pincheck.errors import InputError
from mitm_pincheck.pins import audit, pins
from mitm_pincheck.report.terminal import clean


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pins",
        help="show a certificate chain's SPKI pins, or audit an app's pinning configuration",
        description="Work with SPKI pins: compute them from a chain, or audit an app's "
        "pinning configuration for expired pin-sets, missing backups and mismatches.",
    )
    sub = p.add_subparsers(dest="pins_command", metavar="SUBCOMMAND", required=True)

    s = sub.add_parser(
        "show",
        help="print each certificate of a chain with its pin in OkHttp, Android and iOS form",
        description=(
            "Print each certificate of a server's chain (or of a PEM/DER file) with subject, "
            "issuer, expiry and its SPKI pin as OkHttp (sha256/...), Android network security "
            'config (<pin digest="SHA-256">) and iOS (SPKI-SHA256-BASE64) want it. The server\'s '
            "certificate is read without verifying it; nothing is sent after the handshake. "
            "A root from the local trust store that the server did not send is added and marked."
        ),
    )
    target = s.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "target", nargs="?", metavar="HOST[:PORT]", help="server to read the chain from (port 443)"
    )
    target.add_argument("--file", metavar="CHAIN.pem", help="PEM chain (leaf first) or DER file")
    s.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="connect/handshake timeout (10)"
    )
    s.set_defaults(handler=_show)

    a = sub.add_parser(
        "audit",
        help="find flaws in an Android network security config, iOS Info.plist or TrustKit config",
        description=(
            "Check an app's pinning configuration: expired or expiring pin-sets, single pins "
            "without backup, overridePins and user CAs outside debug-overrides, malformed pins; "
            "and, given a chain (--host with --chain, or --live), pins that match nothing, "
            "pinned certificates about to expire and pins on the leaf only. "
            "Exit 1 if an error-severity finding exists, 0 otherwise, 2 for a bad file."
        ),
    )
    src = a.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--nsc",
        metavar="FILE.xml",
        help="Android network security config, as decoded by apktool (res/xml/...)",
    )
    src.add_argument(
        "--plist",
        metavar="Info.plist",
        help="iOS Info.plist, XML or binary (NSPinnedDomains, and TSKConfiguration if present)",
    )
    src.add_argument("--trustkit", metavar="FILE", help="TrustKit configuration (JSON)")
    src.add_argument(
        "--apk",
        metavar="APP.apk",
        help="Android APK: the network security config its manifest names, and OkHttp "
        "CertificatePinner pins compiled into its code",
    )
    src.add_argument(
        "--ipa",
        metavar="APP.ipa",
        help="iOS IPA: NSPinnedDomains and TSKConfiguration in Payload/NAME.app/Info.plist",
    )
    a.add_argument(
        "--host",
        metavar="HOST[:PORT]",
        help="check the pins of the domain that covers HOST against --chain or the live server",
    )
    chain = a.add_mutually_exclusive_group()
    chain.add_argument(
        "--chain", metavar="CHAIN.pem", help="the chain HOST serves (PEM, leaf first); needs --host"
    )
    chain.add_argument(
        "--live",
        action="store_true",
        help="read the chain from the server: HOST if --host is given, else every pinned domain "
        "on port 443 (network access; verification off, nothing sent after the handshake)",
    )
    keys = a.add_mutually_exclusive_group()
    keys.add_argument(
        "--keys",
        nargs="+",
        metavar="FILE",
        help="server keys the team may rotate to (PEM private key, public key or certificate): "
        "each one missing from the pin-set (of --host's domain, else of every pinned domain) "
        "is named, instead of the generic no-backup-pin",
    )
    keys.add_argument(
        "--scenario",
        metavar="SCENARIO",
        help="take the keys from a scenario's hosts (keys.current and keys.backup), each checked "
        "against the pin-set of its host's domain",
    )
    a.add_argument("--json", action="store_true", help='print {"findings": [...]} as JSON')
    a.add_argument(
        "--warn-days",
        type=int,
        default=30,
        metavar="N",
        help="warn about pin-sets and pinned certificates that expire within N days (30)",
    )
    a.set_defaults(handler=_audit)


def _show(args) -> int:
    if args.file:
        chain = pins.load_chain_file(args.file)
        what = "in the file"
    else:
        host, port = pins.parse_target(args.target)
        chain = pins.fetch_chain(host, port, args.timeout)
        what = "sent by the server"
    chain = pins.complete_chain(chain)
    for note in chain.notes:
        print(f"mitm-pincheck: note: {clean(note)}", file=sys.stderr)
    print(f"Chain of {clean(chain.source)}: {len(chain.certs)} certificate(s), leaf first")
    now = datetime.datetime.now(datetime.UTC)
    for i, c in enumerate(chain.certs):
        role = "leaf" if i == 0 else ("CA" if c.is_ca else "certificate")
        origin = what if c.origin != pins.TRUST_STORE else "from the local trust store, not sent"
        days = (c.not_after - now).days
        expiry = f"{c.not_after:%Y-%m-%d} " + (f"(in {days} days)" if days >= 0 else "(EXPIRED)")
        print()
        print(f"[{i}] {role} ({origin})")
        print(f"    subject:  {clean(c.subject)}")  # the server's words
        print(f"    issuer:   {clean(c.issuer)}")
        print(f"    expires:  {expiry}")
        print(f"    OkHttp:   {pins.okhttp_form(c.pin)}")
        print(f"    Android:  {pins.nsc_form(c.pin)}")
        print(f"    iOS:      {pins.ios_form(c.pin)}")
    if len(chain.certs) > 1:
        print()
        print(
            "Pin a CA key (intermediate or root) plus a backup: a leaf-only pin breaks the app "
            "at the next certificate renewal with a new key."
        )
    return 0


def _audit(args) -> int:
    if args.warn_days < 0:
        raise InputError("--warn-days must be 0 or more")
    if args.chain and not args.host:
        raise InputError("--chain needs --host: the host name that serves this chain")
    if args.host and not (args.chain or args.live):
        raise InputError("--host needs --chain CHAIN.pem or --live")
    package = None
    if args.apk or args.ipa:
        from mitm_pincheck.pins.package import load_package

        package = load_package(args.apk or args.ipa, "apk" if args.apk else "ipa")
        config = package.config
    elif args.nsc:
        config = audit.load_config(args.nsc, audit.NSC)
    elif args.plist:
        config = audit.load_config(args.plist, audit.PLIST)
    else:
        config = audit.load_config(args.trustkit, audit.TRUSTKIT)

    chains: dict[str, pins.Chain] = {}
    if args.host:
        host, port = pins.parse_target(args.host)
        rule = config.rule_for(host)
        if rule is None or rule.pin_set is None:
            pinned = ", ".join(r.pattern for r in config.pinned_rules) or "none"
            raise InputError(f"{host} is not pinned by {config.file} (pinned: {pinned})")
        if args.chain:
            chains[host] = pins.load_chain_file(args.chain)
        else:
            chains[host] = pins.fetch_chain(host, port)
    elif args.live:
        for rule in config.pinned_rules:
            if rule.name in chains:
                continue
            try:
                chains[rule.name] = pins.fetch_chain(rule.name, 443)
            except InputError as e:
                print(
                    f"mitm-pincheck: note: skipped {clean(rule.name)}: {clean(e)}", file=sys.stderr
                )
    chains = {h: pins.complete_chain(c) for h, c in chains.items()}
    for chain in chains.values():
        for note in chain.notes:
            print(f"mitm-pincheck: note: {clean(chain.source)}: {clean(note)}", file=sys.stderr)

    findings = audit.audit(config, chains, warn_days=args.warn_days, keys=_team_keys(args))
    if args.json:
        out = {"findings": [f.to_dict() for f in findings]}
        if package is not None:
            out["app"] = package.to_dict()
            out["notes"] = package.notes
        print(json.dumps(out, indent=2))
    elif package is not None:
        _print_package(package)
        _print_findings(config, findings, header=False)
    else:
        _print_findings(config, findings)
    return 1 if any(f.severity == audit.ERROR for f in findings) else 0


def _team_keys(args) -> list[audit.TeamKey]:
    host = pins.parse_target(args.host)[0] if args.host else None
    if args.keys:
        return [audit.TeamKey(f, pins.key_file_pin(f), host) for f in args.keys]
    if not args.scenario:
        return []
    from mitm_pincheck import scenario

    s = scenario.load(args.scenario)
    out = []
    for h in s.hosts:
        if not h.keys:
            continue
        name = h.host[2:] if h.wildcard else h.host
        for role, found in (("current", [h.keys.current]), ("backup", list(h.keys.backup))):
            for k in found:
                if k is not None:
                    out.append(audit.TeamKey(k.file, k.pin.removeprefix("sha256/"), name, role))
    return out


def _print_package(package) -> None:
    kind = "Android app" if package.platform == "android" else "iOS app"
    label = f' "{clean(package.label)}"' if package.label else ""
    print(f"{clean(package.file)}: {kind} {clean(package.title)}{label}")
    if package.config_file:
        print(f"  pinning config: {clean(package.config_file)}")
    for p in package.code_pins:
        host = clean(p.host) if p.host else "host not told by the code"
        print(f"  found in code: {clean(p.pin)} for {host} ({clean(p.where)})")
    for note in package.notes:
        print(f"  note: {clean(note)}")


def _print_findings(
    config: audit.PinConfig, findings: list[audit.Finding], header: bool = True
) -> None:
    if header:
        print(f"{clean(config.file)}: {audit.PLATFORM_NAMES[config.platform]}")
    pinned = len(config.pinned_rules)
    if not findings:
        print(f"No findings ({pinned} pinned domain(s) checked).")
        return
    code_w = max(len(f.code) for f in findings)
    for f in findings:
        print(f"  {f.severity:<7}  {f.code:<{code_w}}  {clean(f.domain)}: {clean(f.message)}")
    errors = sum(f.severity == audit.ERROR for f in findings)
    print(
        f"{len(findings)} finding(s): {errors} error(s), {len(findings) - errors} warning(s) "
        f"({pinned} pinned domain(s) checked)."
    )

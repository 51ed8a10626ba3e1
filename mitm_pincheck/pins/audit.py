"""Audit an app's pinning configuration before the outage, not after it.

Three sources, one model: Android's network security config (as decoded by apktool), iOS
`NSAppTransportSecurity`/`NSPinnedDomains` in Info.plist (XML or binary), and TrustKit's
settings (JSON, or `TSKConfiguration` in Info.plist). Each parses to a `PinConfig`: domain
rules pointing at pin sets, plus the trust-anchor findings that only the parser can see.
`audit()` then checks the pin sets, and the chains it is given, and returns findings.

Pure: reads the file it is asked to parse, never the network or the terminal.
"""

from __future__ import annotations

import datetime
import json
import plistlib
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mitm_pincheck.errors import InputError
from mitm_pincheck.pins.pins import Chain, normalize_pin

ERROR = "error"
WARNING = "warning"

SEVERITY = {
    "pin-set-expired": ERROR,
    "pin-mismatch": ERROR,
    "override-pins": ERROR,
    "user-ca-trusted": ERROR,
    "pin-malformed": ERROR,
    "pinning-not-enforced": ERROR,
    "no-backup-pin": WARNING,
    "backup-key-not-pinned": ERROR,
    "current-key-not-pinned": ERROR,
    "leaf-only-pins": WARNING,
    "pin-set-expiring": WARNING,
    "cert-expiring": WARNING,
}

NSC = "nsc"
PLIST = "plist"
TRUSTKIT = "trustkit"
PLATFORM_NAMES = {
    NSC: "Android network security config",
    PLIST: "iOS Info.plist (App Transport Security)",
    TRUSTKIT: "TrustKit configuration",
}

# Pin roles. Android and TrustKit accept a pin anywhere in the verified chain; iOS keeps
# leaf pins and CA pins apart, and when both are given both must match.
ANY = "any"
LEAF = "leaf"
CA = "ca"

ALL_DOMAINS = "*"  # the `domain` of a finding about a setting that applies everywhere


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    domain: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def finding(code: str, domain: str, message: str) -> Finding:
    return Finding(code, SEVERITY[code], domain, message)


@dataclass(frozen=True)
class Pin:
    value: str  # as written in the file
    role: str = ANY
    digest: str = "SHA-256"

    @property
    def normalized(self) -> str | None:
        """The base64 SHA-256, or None if the pin cannot be one."""
        if self.digest.upper() != "SHA-256":
            return None
        return normalize_pin(self.value)


@dataclass(eq=False)
class PinSet:
    label: str  # the domain(s) that declared it, for findings
    pins: list[Pin]
    expiration: datetime.date | None = None
    enforced: bool = True
    engine: str = "Android"  # who enforces it: Android, iOS or TrustKit (messages only)

    def valid(self, role: str | None = None) -> set[str]:
        return {
            p.normalized
            for p in self.pins
            if p.normalized is not None and (role is None or p.role == role)
        }

    @property
    def roles(self) -> list[str]:
        return sorted({p.role for p in self.pins})


@dataclass
class DomainRule:
    name: str  # lower case, no trailing dot
    include_subdomains: bool
    pin_set: PinSet | None

    def matches(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host == self.name or (self.include_subdomains and host.endswith("." + self.name))

    @property
    def pattern(self) -> str:
        return f"*.{self.name}" if self.include_subdomains else self.name


@dataclass
class PinConfig:
    file: str
    platform: str  # NSC, PLIST or TRUSTKIT
    app: str | None = None  # the bundle id, when the file names it
    rules: list[DomainRule] = field(default_factory=list)
    pin_sets: list[PinSet] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # seen while parsing

    def rule_for(self, host: str) -> DomainRule | None:
        """The most specific rule for `host`, as Android and ATS choose it."""
        matching = [r for r in self.rules if r.matches(host)]
        exact = [r for r in matching if r.name == host.lower().rstrip(".")]
        if exact:
            return exact[0]
        return max(matching, key=lambda r: len(r.name), default=None)

    @property
    def pinned_rules(self) -> list[DomainRule]:
        return [r for r in self.rules if r.pin_set is not None]


# ---------------------------------------------------------------- loading


def load_config(path: str | Path, kind: str | None = None) -> PinConfig:
    """Parse `path` as `kind` (NSC, PLIST, TRUSTKIT), or guess the kind from the content."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror or e}") from None
    if kind is None:
        kind = _guess_kind(data)
        if kind is None:
            raise InputError(f"{p}: not a network security config, an Info.plist or TrustKit JSON")
    parser = {NSC: parse_nsc, PLIST: parse_plist, TRUSTKIT: parse_trustkit}[kind]
    return parser(data, str(p))


def _guess_kind(data: bytes) -> str | None:
    head = data.lstrip()[:4096]
    if head.startswith(b"bplist") or b"<plist" in head:
        return PLIST
    if b"<network-security-config" in head:
        return NSC
    if head.startswith(b"{"):
        return TRUSTKIT
    return None


def parse_nsc(data: bytes, file: str = "<nsc>") -> PinConfig:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise InputError(f"{file}: not valid XML: {e}") from None
    if root.tag != "network-security-config":
        raise InputError(
            f"{file}: the root element is <{root.tag}>, expected <network-security-config> "
            "(decode the APK with apktool first: binary XML is not readable)"
        )
    config = PinConfig(file, NSC)
    for child in root:
        if child.tag == "base-config":
            _nsc_anchors(config, child, ALL_DOMAINS, "base-config")
        elif child.tag == "domain-config":
            _nsc_domain_config(config, child, inherited=None)
        # debug-overrides: only in debuggable builds, where user CAs and overridePins are fine.
    return config


def _nsc_domain_config(config: PinConfig, elem: ET.Element, inherited: PinSet | None) -> None:
    domains = [d for d in elem.findall("domain") if (d.text or "").strip()]
    names = [(d.text or "").strip().lower().rstrip(".") for d in domains]
    label = ", ".join(names) or "(domain-config without a domain)"
    pin_set = inherited
    pin_elem = elem.find("pin-set")
    if pin_elem is not None:
        pin_set = _nsc_pin_set(config, pin_elem, label)
        tk = elem.find("trustkit-config")  # TrustKit for Android extends the NSC
        if tk is not None and tk.get("enforcePinning", "true").lower() == "false":
            pin_set.enforced = False
        config.pin_sets.append(pin_set)
    for d, name in zip(domains, names, strict=True):
        include = d.get("includeSubdomains", "false").lower() == "true"
        config.rules.append(DomainRule(name, include, pin_set))
    _nsc_anchors(config, elem, label, "domain-config")
    for nested in elem.findall("domain-config"):
        _nsc_domain_config(config, nested, pin_set)


def _nsc_pin_set(config: PinConfig, elem: ET.Element, label: str) -> PinSet:
    expiration = None
    raw = elem.get("expiration")
    if raw is not None:
        try:
            expiration = datetime.date.fromisoformat(raw.strip())
        except ValueError:
            config.findings.append(
                finding(
                    "pin-malformed",
                    label,
                    f'pin-set expiration="{raw}" is not a yyyy-MM-dd date: Android refuses '
                    "the whole network security config",
                )
            )
    pins = [
        Pin((p.text or "").strip(), ANY, p.get("digest", "(missing)")) for p in elem.findall("pin")
    ]
    return PinSet(label, pins, expiration, engine="Android")


def _nsc_anchors(config: PinConfig, elem: ET.Element, domain: str, where: str) -> None:
    anchors = elem.find("trust-anchors")
    if anchors is None:
        return
    for cert in anchors.findall("certificates"):
        src = cert.get("src", "")
        if src == "user":
            config.findings.append(
                finding(
                    "user-ca-trusted",
                    domain,
                    f'{where} trusts src="user" outside debug-overrides: any CA the device '
                    "user installs (or is tricked into installing) can intercept this traffic "
                    "in release builds",
                )
            )
        if cert.get("overridePins", "false").lower() == "true":
            config.findings.append(
                finding(
                    "override-pins",
                    domain,
                    f'{where} sets overridePins="true" on src="{src}" outside '
                    "debug-overrides: any CA from that source bypasses the pins",
                )
            )


def parse_plist(data: bytes, file: str = "<Info.plist>") -> PinConfig:
    try:
        root = plistlib.loads(data)
    except Exception as e:  # plistlib raises several unrelated types for a broken file
        raise InputError(f"{file}: not a valid property list: {e}") from None
    if not isinstance(root, dict):
        raise InputError(f"{file}: the property list's top level is not a dictionary")
    bundle_id = root.get("CFBundleIdentifier")
    config = PinConfig(file, PLIST, app=bundle_id if isinstance(bundle_id, str) else None)
    ats = root.get("NSAppTransportSecurity", {})
    pinned = ats.get("NSPinnedDomains", {}) if isinstance(ats, dict) else {}
    if not isinstance(pinned, dict):
        raise InputError(f"{file}: NSAppTransportSecurity.NSPinnedDomains is not a dictionary")
    for name, spec in pinned.items():
        if not isinstance(spec, dict):
            config.findings.append(finding("pin-malformed", name, "the entry is not a dictionary"))
            continue
        pins = []
        for key, role in (("NSPinnedLeafIdentities", LEAF), ("NSPinnedCAIdentities", CA)):
            for item in spec.get(key, []) or []:
                value = item.get("SPKI-SHA256-BASE64", "") if isinstance(item, dict) else ""
                pins.append(Pin(str(value), role))
        pin_set = PinSet(name, pins, engine="iOS")
        config.pin_sets.append(pin_set)
        include = bool(spec.get("NSIncludesSubdomains", False))
        config.rules.append(DomainRule(name.lower().rstrip("."), include, pin_set))
    tsk = root.get("TSKConfiguration")
    if isinstance(tsk, dict):
        _trustkit_into(config, tsk)
    return config


def parse_trustkit(data: bytes, file: str = "<trustkit.json>") -> PinConfig:
    try:
        root = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{file}: not valid JSON: {e}") from None
    if isinstance(root, dict) and isinstance(root.get("TSKConfiguration"), dict):
        root = root["TSKConfiguration"]
    if not isinstance(root, dict) or "TSKPinnedDomains" not in root:
        raise InputError(f"{file}: no TSKPinnedDomains: not a TrustKit configuration")
    config = PinConfig(file, TRUSTKIT)
    _trustkit_into(config, root)
    return config


def _trustkit_into(config: PinConfig, tsk: Mapping) -> None:
    domains = tsk.get("TSKPinnedDomains", {})
    if not isinstance(domains, dict):
        raise InputError(f"{config.file}: TSKPinnedDomains is not a dictionary")
    for name, spec in domains.items():
        if not isinstance(spec, dict):
            config.findings.append(finding("pin-malformed", name, "the entry is not a dictionary"))
            continue
        expiration = None
        raw = spec.get("TSKExpirationDate")
        if raw is not None:
            try:
                expiration = (
                    raw.date()
                    if isinstance(raw, datetime.datetime)
                    else datetime.date.fromisoformat(str(raw).strip())
                )
            except ValueError:
                config.findings.append(
                    finding(
                        "pin-malformed",
                        name,
                        f'TSKExpirationDate "{raw}" is not a yyyy-MM-dd date: '
                        "TrustKit refuses the configuration",
                    )
                )
        hashes = spec.get("TSKPublicKeyHashes", []) or []
        pins = [Pin(str(h)) for h in hashes] if isinstance(hashes, list) else []
        enforced = bool(spec.get("TSKEnforcePinning", True))
        pin_set = PinSet(name, pins, expiration, enforced, engine="TrustKit")
        config.pin_sets.append(pin_set)
        include = bool(spec.get("TSKIncludeSubdomains", False))
        config.rules.append(DomainRule(name.lower().rstrip("."), include, pin_set))


# ---------------------------------------------------------------- checking


@dataclass(frozen=True)
class TeamKey:
    """A server key the team owns: `label` names it (its file), `pin` is its base64 SPKI hash;
    `host` None means every pinned domain; `role` is "backup" or "current"."""

    label: str
    pin: str
    host: str | None = None
    role: str = "backup"


def check_keys(config: PinConfig, keys: Iterable[TeamKey]) -> list[Finding]:
    """Each team key that the pin-set of its domain lacks, by name. A backup key missing is the
    outage the next rotation causes; the current key missing, one that happens today."""
    out: list[Finding] = []
    for key in keys:
        rules = [config.rule_for(key.host)] if key.host else config.pinned_rules
        for rule in rules:
            if rule is None or rule.pin_set is None:
                continue
            ps = rule.pin_set
            if key.pin in ps.valid():
                continue
            if key.role == "current":
                out.append(
                    finding(
                        "current-key-not-pinned",
                        ps.label,
                        f"the server's key {key.label} (sha256/{key.pin}) is not in the pin-set: "
                        "the app refuses the server it talks to today",
                    )
                )
            else:
                out.append(
                    finding(
                        "backup-key-not-pinned",
                        ps.label,
                        f"backup key {key.label} (sha256/{key.pin}) is not in the pin-set: "
                        "rotating the server to it breaks the app until users update it",
                    )
                )
    return out


def audit(
    config: PinConfig,
    chains: Mapping[str, Chain] | None = None,
    warn_days: int = 30,
    now: datetime.datetime | None = None,
    keys: Iterable[TeamKey] = (),
) -> list[Finding]:
    """All findings for `config`; `chains` maps a host name to the chain it serves, `keys` are
    the team's server keys (a backup key missing from a pin-set is named instead of the generic
    no-backup-pin)."""
    now = now or datetime.datetime.now(datetime.UTC)
    findings = list(config.findings)
    named = check_keys(config, keys)
    for pin_set in config.pin_sets:
        specific = any(
            f.domain == pin_set.label and f.code == "backup-key-not-pinned" for f in named
        )
        findings.extend(
            f
            for f in _check_pin_set(pin_set, warn_days, now.date())
            if not (specific and f.code == "no-backup-pin")
        )
    findings.extend(named)
    for host, chain in (chains or {}).items():
        rule = config.rule_for(host)
        if rule is None or rule.pin_set is None:
            continue
        findings.extend(_check_chain(rule.pin_set, host, chain, warn_days, now))
    return findings


def _check_pin_set(ps: PinSet, warn_days: int, today: datetime.date) -> Iterable[Finding]:
    where = ps.label
    platform = ps.engine
    if ps.expiration is not None:
        left = (ps.expiration - today).days
        if left <= 0:
            yield finding(
                "pin-set-expired",
                where,
                f"the pin-set expired on {ps.expiration}: {platform} ignores an expired "
                "pin-set, so pinning is OFF for this domain",
            )
        elif left <= warn_days:
            yield finding(
                "pin-set-expiring",
                where,
                f"the pin-set expires on {ps.expiration} (in {left} days): after that, "
                "pinning silently turns off; ship an update with a later date first",
            )
    if not ps.enforced:
        yield finding(
            "pinning-not-enforced",
            where,
            "enforcePinning is false: a pin mismatch is only reported, the connection goes on",
        )
    if not ps.pins:
        yield finding(
            "pin-malformed",
            where,
            "the pin set has no pins at all: nothing is pinned for this domain",
        )
        return
    for pin in ps.pins:
        if pin.normalized is None:
            why = (
                f'digest "{pin.digest}" is not SHA-256'
                if pin.digest.upper() != "SHA-256"
                else "not the base64 of a 32-byte SHA-256 digest"
            )
            yield finding("pin-malformed", where, f'pin "{pin.value}": {why}')
    thin = [role for role in ps.roles if len(ps.valid(role)) == 1]
    if thin:
        what = {ANY: "only one pin", LEAF: "only one leaf pin", CA: "only one CA pin"}
        detail = " and ".join(what[r] for r in thin)
        extra = (
            " (TrustKit refuses to start with fewer than two pins)"
            if ps.engine == "TrustKit"
            else ""
        )
        yield finding(
            "no-backup-pin",
            where,
            f"{detail}, no backup: the next key change breaks the app until users update it{extra}",
        )
    if ps.valid(LEAF) and not ps.valid(CA):
        yield finding(
            "leaf-only-pins",
            where,
            "only NSPinnedLeafIdentities: the next certificate renewal with a new key "
            "breaks the app; pin an intermediate or root CA as well",
        )


def _check_chain(
    ps: PinSet,
    host: str,
    chain: Chain,
    warn_days: int,
    now: datetime.datetime,
) -> Iterable[Finding]:
    if not chain.certs:
        return
    if ps.expiration is not None and ps.expiration <= now.date():
        return  # pinning is off anyway; pin-set-expired already says so
    chain_pins = [c.pin for c in chain.certs]
    leaf_pin, ca_pins = chain_pins[0], chain_pins[1:]
    if ANY in ps.roles:
        missing = not (ps.valid() & set(chain_pins))
    else:
        missing = bool(ps.valid(LEAF)) and leaf_pin not in ps.valid(LEAF)
        missing |= bool(ps.valid(CA)) and not (ps.valid(CA) & set(ca_pins))
    if missing:
        yield finding(
            "pin-mismatch",
            host,
            f"no pin of {ps.label} matches the chain of {chain.source} "
            f"({len(chain.certs)} certificates, leaf {chain.certs[0].subject}): "
            "the app cannot connect to this server",
        )
        return
    pinned = set(ps.valid())
    for c in chain.certs:
        if c.pin not in pinned:
            continue
        left = (c.not_after - now).days
        if left <= warn_days:
            when = f"expired on {c.not_after:%Y-%m-%d}" if left < 0 else f"expires in {left} days"
            yield finding(
                "cert-expiring",
                host,
                f"the pinned certificate {c.subject} {when} ({c.not_after:%Y-%m-%d}): if its "
                "replacement gets a new key, the app breaks",
            )
    if ANY in ps.roles and leaf_pin in pinned and not (pinned & set(ca_pins)):
        others = len(pinned) - 1
        yield finding(
            "leaf-only-pins",
            host,
            "only the leaf's key is pinned in this chain: the next certificate renewal with "
            "a new key breaks the app"
            + (
                f" unless one of the {others} other pins is the key prepared for it"
                if others
                else ""
            ),
        )

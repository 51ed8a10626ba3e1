"""Read an IPA's pinning: Payload/NAME.app/Info.plist, binary or XML.

ATS pins (`NSAppTransportSecurity` -> `NSPinnedDomains`) and a TrustKit configuration kept in
Info.plist (`TSKConfiguration`) go through the same parser as `pins audit --plist`; the domains
of `NSExceptionDomains` are configured but not pinned, and become unpinned rules.
"""

from __future__ import annotations

import re
from pathlib import Path

from mitm_pincheck.errors import InputError
from mitm_pincheck.pins import audit
from mitm_pincheck.pins.package import IOS, AppPackage, open_zip, read_member

# The app's own Info.plist, not those of the frameworks and extensions inside it.
_INFO_PLIST = re.compile(r"Payload/[^/]+\.app/Info\.plist")


def load_ipa(path: str | Path) -> AppPackage:
    """Everything the IPA at `path` says about pinning. Raises InputError for a broken package."""
    file = str(path)
    with open_zip(path, "IPA") as zf:
        plists = sorted(n for n in zf.namelist() if _INFO_PLIST.fullmatch(n))
        if not plists:
            raise InputError(f"{file}: no Payload/NAME.app/Info.plist in the archive: not an IPA")
        if len(plists) > 1:
            raise InputError(f"{file}: more than one app in Payload/ ({', '.join(plists)})")
        name = plists[0]
        data = read_member(zf, name, file)
    config = audit.parse_plist(data, f"{file}!{name}")
    info = _plist_dict(data)
    bundle_id = _string(info.get("CFBundleIdentifier"))
    if not bundle_id:
        raise InputError(f"{file}: {name} has no CFBundleIdentifier")
    app = AppPackage(
        file,
        IOS,
        bundle_id,
        version=_string(info.get("CFBundleShortVersionString")),
        build=_string(info.get("CFBundleVersion")),
        label=_string(info.get("CFBundleDisplayName")) or _string(info.get("CFBundleName")),
        config=audit.PinConfig(config.file, audit.PLIST, app=bundle_id),
        config_file=name,
    )
    app.config.findings.extend(config.findings)
    app.config.pin_sets.extend(config.pin_sets)
    for rule in config.rules:
        source = (
            "TrustKit TSKConfiguration" if rule.pin_set.engine == "TrustKit" else "NSPinnedDomains"
        )
        app.add_rule(rule, f"Info.plist {source}: {len(rule.pin_set.pins)} pin(s)")
    pinned = {r.name for r in config.rules}
    ats = info.get("NSAppTransportSecurity")
    exceptions = ats.get("NSExceptionDomains") if isinstance(ats, dict) else None
    if isinstance(exceptions, dict):
        for domain, spec in exceptions.items():
            d = str(domain).lower().rstrip(".")
            if d in pinned:
                continue
            include = isinstance(spec, dict) and bool(spec.get("NSIncludesSubdomains", False))
            rule = audit.DomainRule(d, include, None)
            app.add_rule(rule, "Info.plist NSExceptionDomains: configured, not pinned")
    return app


def _plist_dict(data: bytes) -> dict:
    import plistlib

    try:
        root = plistlib.loads(data)
    except Exception:  # parse_plist has already said what is wrong
        return {}
    return root if isinstance(root, dict) else {}


def _string(value) -> str | None:
    return value if isinstance(value, str) and value else None

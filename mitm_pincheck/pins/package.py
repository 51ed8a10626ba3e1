"""An app package (APK or IPA) as far as pinning goes: who it is, and what it pins where.

`pins/apk.py` and `pins/ipa.py` fill an `AppPackage`; `scenario from-apk|from-ipa` and
`pins audit --apk|--ipa` read it. Every domain rule keeps a line saying where it came from, so
that a drafted scenario can tell the tester why a host is in it.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from mitm_pincheck.errors import InputError
from mitm_pincheck.pins.audit import DomainRule, PinConfig

ANDROID = "android"
IOS = "ios"


@dataclass(frozen=True)
class CodePin:
    """A pin string compiled into the app's code (OkHttp CertificatePinner style)."""

    pin: str  # as in the code: sha256/BASE64 or sha1/BASE64
    host: str | None  # the host pattern loaded just before it, when one was
    where: str  # classes.dex: com.example.Net.pinner(), or the string table

    def to_dict(self) -> dict:
        return {"pin": self.pin, "host": self.host, "where": self.where}


@dataclass
class AppPackage:
    file: str
    platform: str  # ANDROID or IOS
    app_id: str  # package name or bundle id
    version: str | None = None  # versionName / CFBundleShortVersionString
    build: str | None = None  # versionCode / CFBundleVersion
    label: str | None = None  # the name a user sees, when the package says it plainly
    config: PinConfig | None = None  # the declared config and the code pins, as audit rules
    config_file: str | None = None  # where the declared config is, inside the package
    code_pins: list[CodePin] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _origins: dict[int, str] = field(default_factory=dict, repr=False)
    _patterns: dict[int, list[str]] = field(default_factory=dict, repr=False)

    def add_rule(self, rule: DomainRule, origin: str, patterns: list[str] | None = None) -> None:
        """Add `rule`, saying where it came from; `patterns`: its scenario host patterns when
        they are not the rule's name (and `*.name` if it includes subdomains)."""
        assert self.config is not None
        self.config.rules.append(rule)
        self._origins[id(rule)] = origin
        if patterns is not None:
            self._patterns[id(rule)] = patterns

    def patterns(self, rule: DomainRule) -> list[str]:
        default = [rule.name] + ([f"*.{rule.name}"] if rule.include_subdomains else [])
        return self._patterns.get(id(rule), default)

    def note_origin(self, rule: DomainRule, origin: str) -> None:
        self._origins[id(rule)] = origin

    def origin(self, rule: DomainRule) -> str:
        return self._origins.get(id(rule), self.config_file or self.file)

    @property
    def title(self) -> str:
        """`com.example.shop 3.1.4 (42)`, as far as the package tells."""
        text = self.app_id
        if self.version:
            text += f" {self.version}"
        if self.build and self.build != self.version:
            text += f" ({self.build})"
        return text

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "platform": self.platform,
            "app_id": self.app_id,
            "version": self.version,
            "build": self.build,
            "label": self.label,
            "config_file": self.config_file,
            "code_pins": [p.to_dict() for p in self.code_pins],
        }


def printable(text: str) -> str:
    """Text from a package, safe for a terminal or a YAML comment: one line, no controls."""
    return "".join(c if c.isprintable() else "?" for c in str(text))


def open_zip(path: str | Path, what: str) -> zipfile.ZipFile:
    """The package as a zip, or an InputError that says why it is not one."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p}: is a directory; give the {what} file")
    try:
        zf = zipfile.ZipFile(p)
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror or e}") from None
    except (zipfile.BadZipFile, ValueError, EOFError) as e:
        raise InputError(
            f"{p}: not a readable {what}: not a zip archive, or a truncated one ({e})"
        ) from None
    return zf


def read_member(zf: zipfile.ZipFile, name: str, file: str) -> bytes:
    try:
        return zf.read(name)
    except KeyError:
        raise InputError(f"{file}: {name} is missing from the package") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        raise InputError(f"{file}: {name} cannot be read from the package: {e}") from None
    except Exception as e:  # zlib.error and friends from a damaged member
        raise InputError(f"{file}: {name} cannot be read from the package: {e}") from None


def load_package(path: str | Path, kind: str) -> AppPackage:
    """Read the APK (`kind` "apk") or IPA ("ipa") at `path`."""
    if kind == "apk":
        from mitm_pincheck.pins.apk import load_apk

        return load_apk(path)
    from mitm_pincheck.pins.ipa import load_ipa

    return load_ipa(path)


def run_record(app: AppPackage, warn_days: int = 30) -> dict:
    """What a run's journal keeps of the package (`app-package` event): its rules with where
    they came from, the pins found in code, and the audit findings of each rule."""
    from mitm_pincheck.pins import audit as audit_mod

    config = app.config
    findings = audit_mod.audit(config, warn_days=warn_days) if config is not None else []

    def concerns(f: audit_mod.Finding, rule: DomainRule) -> bool:
        if rule.pin_set is not None and f.domain == rule.pin_set.label:
            return True
        return rule.name in [d.strip() for d in f.domain.split(",")]

    rules = []
    for rule in config.rules if config is not None else []:
        ps = rule.pin_set
        rules.append(
            {
                "name": rule.name,
                "include_subdomains": rule.include_subdomains,
                "pinned": ps is not None,
                "pins": len(ps.pins) if ps is not None else 0,
                "expiration": ps.expiration.isoformat() if ps and ps.expiration else None,
                "enforced": ps.enforced if ps is not None else None,
                "engine": ps.engine if ps is not None else None,
                "origin": app.origin(rule),
                "findings": [
                    {"code": f.code, "severity": f.severity, "message": f.message}
                    for f in findings
                    if concerns(f, rule)
                ],
            }
        )
    return {
        "file": Path(app.file).name,
        "platform": app.platform,
        "app_id": app.app_id,
        "version": app.version,
        "build": app.build,
        "config_file": app.config_file,
        "rules": rules,
        "code_pins": [p.to_dict() for p in app.code_pins],
        "findings": [
            {"code": f.code, "severity": f.severity, "message": f.message}
            for f in findings
            if f.domain == audit_mod.ALL_DOMAINS
        ],
    }

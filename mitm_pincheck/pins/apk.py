"""Read an APK's pinning: the manifest, the network security config it names, pins in the code.

The binary XML, resources.arsc and DEX are read by androguard, imported here only (it takes a
fifth of a second to import, and only APK commands need it). The zip itself is opened with the
standard library first, so that a broken package gets a plain error and not a library's trace.

The config file is found the way the platform finds it: `android:networkSecurityConfig` is a
resource id, resolved through resources.arsc. Release builds (R8, resource shrinking) rename
resource files to `res/a1.xml`, so the file name proves nothing.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from mitm_pincheck.errors import InputError
from mitm_pincheck.pins import audit
from mitm_pincheck.pins.package import ANDROID, AppPackage, CodePin, open_zip, read_member

MANIFEST = "AndroidManifest.xml"
ARSC = "resources.arsc"
_ANDROID_NS = "{http://schemas.android.com/apk/res/android}"
_DEX_NAME = re.compile(r"classes\d*\.dex")
# An OkHttp CertificatePinner pin: "sha256/" or "sha1/" and the base64 of the digest.
_CODE_PIN = re.compile(r"sha(?:256|1)/[A-Za-z0-9+/]{20,}={0,2}")
# A host pattern as CertificatePinner takes it: a name, "*.name" or "**.name".
_HOST_PATTERN = re.compile(
    r"(?:\*\*?\.)?(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,62}"
)


def _androguard():
    """androguard's AXML, resources and DEX readers, with its chatty logger silenced."""
    try:
        from loguru import logger

        logger.disable("androguard")
        from androguard.core.axml import ARSCParser, AXMLPrinter
        from androguard.core.dex import DEX
    except ImportError as e:
        raise InputError(
            f"reading an APK needs androguard, which is missing ({e}); reinstall mitm-pincheck "
            "with its dependencies (pip install -e .)"
        ) from None

    return AXMLPrinter, ARSCParser, DEX


def load_apk(path: str | Path) -> AppPackage:
    """Everything the APK at `path` says about pinning. Raises InputError for a broken package."""
    file = str(path)
    AXMLPrinter, ARSCParser, DEX = _androguard()
    with open_zip(path, "APK") as zf:
        names = set(zf.namelist())
        if MANIFEST not in names:
            raise InputError(
                f"{file}: no {MANIFEST} in the archive: not an APK (an .aab bundle or a split "
                "APK? give the base APK, as installed on the device)"
            )
        manifest = _binary_xml(AXMLPrinter, read_member(zf, MANIFEST, file), f"{file}: {MANIFEST}")
        if manifest.tag != "manifest":
            raise InputError(f"{file}: {MANIFEST}: the root element is <{manifest.tag}>")
        package = manifest.get("package")
        if not package:
            raise InputError(f"{file}: {MANIFEST}: <manifest> has no package attribute")
        arsc = None
        if ARSC in names:
            try:
                arsc = ARSCParser(read_member(zf, ARSC, file))
            except InputError:
                raise
            except Exception as e:
                raise InputError(f"{file}: {ARSC} is not a valid resource table ({e})") from None

        app = AppPackage(
            file,
            ANDROID,
            package,
            version=_text(arsc, manifest.get(_ANDROID_NS + "versionName")),
            build=manifest.get(_ANDROID_NS + "versionCode"),
        )
        application = manifest.find("application")
        if application is not None:
            app.label = _text(arsc, application.get(_ANDROID_NS + "label"))
        app.config = audit.PinConfig(file, audit.NSC, app=package)
        ref = (
            application.get(_ANDROID_NS + "networkSecurityConfig")
            if application is not None
            else None
        )
        if ref:
            _read_nsc(app, zf, names, ref, arsc, AXMLPrinter)
        else:
            app.notes.append(
                "the manifest names no network security config: Android's defaults apply "
                "(system CAs only for apps targeting Android 7 or later), nothing is pinned there"
            )
        _read_code_pins(app, zf, sorted(n for n in names if _DEX_NAME.fullmatch(n)), DEX)
    return app


def _binary_xml(AXMLPrinter, data: bytes, where: str):
    """The element tree of a binary XML file, or an InputError."""
    if data.lstrip().startswith(b"<"):
        raise InputError(
            f"{where}: plain-text XML, not the compiled binary XML of a built APK "
            "(give the APK that the build produced)"
        )
    try:
        printer = AXMLPrinter(data)
        root = printer.get_xml_obj() if printer.is_valid() else None
    except Exception as e:
        raise InputError(f"{where}: not valid binary XML ({e})") from None
    if root is None:
        raise InputError(f"{where}: not valid binary XML (damaged or not compiled by aapt)")
    return root


def _resource_id(ref: str) -> int | None:
    """0x7f120000 for the manifest's `@7F120000`, None for anything else."""
    if ref.startswith("@") and not ref.startswith("@android:"):
        try:
            return int(ref[1:], 16)
        except ValueError:
            return None
    return None


def _text(arsc, value: str | None) -> str | None:
    """A manifest string, followed through resources.arsc when it is a reference."""
    if value is None:
        return None
    rid = _resource_id(value)
    if rid is None:
        return value
    resolved = _resolve(arsc, rid)
    return resolved[0] if resolved else None


def _resolve(arsc, rid: int) -> list[str]:
    """The values of resource `rid` in every configuration, default configuration first."""
    if arsc is None:
        return []
    try:
        configs = arsc.get_resolved_res_configs(rid)
    except Exception:
        return []
    default = [v for c, v in configs if c.is_default()] if configs else []
    rest = [v for c, v in configs if v not in default]
    return [v for v in default + rest if isinstance(v, str)]


def _read_nsc(app: AppPackage, zf: zipfile.ZipFile, names: set[str], ref, arsc, AXMLPrinter):
    file = app.file
    what = f"android:networkSecurityConfig={ref}"
    rid = _resource_id(ref)
    if rid is None:
        raise InputError(f"{file}: {MANIFEST}: {what} is not a resource reference")
    if arsc is None:
        raise InputError(
            f"{file}: {MANIFEST} names a network security config ({what}) but the APK has no "
            f"{ARSC} to resolve it: the package is incomplete"
        )
    paths = _resolve(arsc, rid)
    if not paths:
        raise InputError(
            f"{file}: {what}: resource 0x{rid:08x} is not in {ARSC}: the package is damaged"
        )
    path = paths[0]
    if len(set(paths)) > 1:
        others = ", ".join(sorted(set(paths) - {path}))
        app.notes.append(
            f"the network security config has variants per device configuration ({others}); "
            f"only the default one, {path}, was read"
        )
    if path not in names:
        raise InputError(f"{file}: {what} resolves to {path}, which is not in the package")
    where = f"{file}: {path}"
    root = _binary_xml(AXMLPrinter, read_member(zf, path, file), where)
    from lxml import etree  # androguard's own dependency

    nsc = audit.parse_nsc(etree.tostring(root), f"{file}!{path}")
    app.config_file = path
    app.config.findings.extend(nsc.findings)
    app.config.pin_sets.extend(nsc.pin_sets)
    for rule in nsc.rules:
        if rule.pin_set is not None:
            n = len(rule.pin_set.pins)
            exp = rule.pin_set.expiration
            origin = f"{path}: pin-set, {n} pin(s)" + (f", expires {exp}" if exp else "")
        else:
            origin = f"{path}: domain-config without pins"
        app.add_rule(rule, origin)


def _read_code_pins(app: AppPackage, zf: zipfile.ZipFile, dex_names: list[str], DEX) -> None:
    found: list[CodePin] = []
    for name in dex_names:
        data = read_member(zf, name, app.file)
        if b"sha256/" not in data and b"sha1/" not in data:
            continue  # DEX strings are MUTF-8: an ASCII pin would be there as is
        try:
            dex = DEX(data)
            strings = [str(s) for s in dex.get_strings()]
        except Exception as e:
            app.notes.append(
                f"{name} could not be read ({e}): pins compiled into it are not listed"
            )
            continue
        pins = {s for s in strings if _CODE_PIN.fullmatch(s)}
        if not pins:
            continue
        placed = _pins_in_methods(dex, pins, name)
        found.extend(placed)
        seen = {p.pin for p in placed}
        found.extend(
            CodePin(p, None, f"{name}: string table") for p in sorted(pins) if p not in seen
        )
    app.code_pins = found
    _code_rules(app)


def _pins_in_methods(dex, pins: set[str], dex_name: str) -> list[CodePin]:
    """Each pin loaded by a method, with the host pattern that method loaded last before it.

    CertificatePinner.Builder().add("api.example.com", "sha256/...") compiles to const-string
    of the host, then of each pin, then the call; R8 renames the classes but not the strings.
    """
    out: list[CodePin] = []
    for method in dex.get_encoded_methods():
        host = None
        try:
            instructions = list(method.get_instructions())
        except Exception:
            continue
        for ins in instructions:
            if not ins.get_name().startswith("const-string"):
                continue
            value = str(ins.get_raw_string())
            if value in pins:
                cls = method.get_class_name().strip("L;").replace("/", ".")
                where = f"{dex_name}: {cls}.{method.get_name()}()"
                out.append(CodePin(value, host, where))
            elif _HOST_PATTERN.fullmatch(value) and not _looks_like_class(value):
                host = value.lower()
    return out


def _looks_like_class(value: str) -> bool:
    """`com.example.Foo`: a Java name, not a host (hosts are lower case, classes capitalised)."""
    last = value.rsplit(".", 1)[-1]
    return last[:1].isupper()


def _code_rules(app: AppPackage) -> None:
    """Code pins with a host become pinned rules, checked like a declared pin-set."""
    by_host: dict[str, list[CodePin]] = {}
    for p in app.code_pins:
        if p.host:
            by_host.setdefault(p.host, []).append(p)
    for host, code_pins in by_host.items():
        # OkHttp: "*.x" is one label under x, "**.x" is x and everything under it.
        include = host.startswith("*")
        name = host.lstrip("*").lstrip(".")
        patterns = [f"*.{name}"] if host.startswith("*.") else None
        pins = [
            audit.Pin(p.pin.split("/", 1)[1], audit.ANY, "SHA-256")
            for p in code_pins
            if p.pin.startswith("sha256/")
        ]
        pin_set = audit.PinSet(f"{host} (OkHttp, in code)", pins, engine="OkHttp")
        if pins:  # sha1 pins only: nothing the SHA-256 checks can compare
            app.config.pin_sets.append(pin_set)
        wheres = sorted({p.where for p in code_pins})
        origin = f"found in code: {len(code_pins)} pin(s) in {', '.join(wheres)}"
        app.add_rule(audit.DomainRule(name, include, pin_set), origin, patterns)
    unplaced = [p for p in app.code_pins if not p.host]
    if unplaced:
        app.notes.append(
            f"{len(unplaced)} pin(s) found in code with no host that could be told from the code "
            "around them: check which host they guard"
        )

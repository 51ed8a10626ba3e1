"""The proxy CA: where it lives, what it is, and every file a device needs to trust it.

The CA is mitmproxy's own (`mitmproxy-ca.pem` in the confdir, default `~/.mitmproxy`), so a
device set up for mitmproxy is set up for mitm-pincheck and the other way round.

Nothing here prints: problems a user should hear about are returned as `warnings`.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import plistlib
import stat
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from mitm_pincheck.errors import InputError
from mitm_pincheck.pins.pins import spki_pin

DEFAULT_CONFDIR = "~/.mitmproxy"
BASENAME = "mitmproxy"
KEY_SIZE = 2048
# Files that hold the CA's private key. Whoever reads one can intercept every device that
# trusts the CA, hence 0600 and the warning.
KEY_FILES = (f"{BASENAME}-ca.pem", f"{BASENAME}-ca.p12")
CERT_FILE = f"{BASENAME}-ca-cert.pem"
EXPORT_STEM = "mitm-pincheck-ca"


@dataclass
class CaInfo:
    confdir: Path
    cert: x509.Certificate
    created: bool = False
    warnings: list[str] = field(default_factory=list)
    key: PrivateKeyTypes | None = field(default=None, repr=False)  # what forge.py signs with

    @property
    def cert_file(self) -> Path:
        return self.confdir / CERT_FILE

    @property
    def key_file(self) -> Path:
        return self.confdir / KEY_FILES[0]

    @property
    def fingerprint_sha256(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex(":").upper()

    @property
    def spki_pin(self) -> str:
        return spki_pin(self.cert)

    @property
    def not_after(self) -> datetime.datetime:
        return self.cert.not_valid_after_utc

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def android_system_name(self) -> str:
        return android_system_name(self.cert)


def confdir_path(confdir: str | os.PathLike | None = None) -> Path:
    return Path(confdir if confdir is not None else DEFAULT_CONFDIR).expanduser()


def load_ca(confdir: str | os.PathLike | None = None, create: bool = True) -> CaInfo:
    """The CA in `confdir`, created (as mitmproxy would) when there is none yet."""
    path = confdir_path(confdir)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: the confdir is a file, not a directory")
    ca_file = path / KEY_FILES[0]
    created = False
    if not ca_file.exists():
        if not create:
            raise InputError(f"no CA in {path} (expected {ca_file.name})")
        _create(path)
        created = True
    try:
        from mitmproxy import certs

        store = certs.CertStore.from_store(path, BASENAME, KEY_SIZE)
        cert = x509.load_pem_x509_certificate(store.default_ca.to_pem())
    except (ValueError, TypeError, OSError) as e:
        raise InputError(f"{ca_file}: cannot load the CA: {e}") from None
    return CaInfo(path, cert, created, key_permission_warnings(path), store.default_privatekey)


def _create(path: Path) -> None:
    from mitmproxy import certs

    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        certs.CertStore.from_store(path, BASENAME, KEY_SIZE)
        # mitmproxy writes the keys under a 0077 umask, but the directory keeps the process
        # umask; make both explicit rather than depend on it.
        path.chmod(0o700)
        for name in KEY_FILES:
            if (path / name).exists():
                (path / name).chmod(0o600)
    except OSError as e:
        raise InputError(f"cannot create a CA in {path}: {e.strerror or e}") from None


def key_permission_warnings(confdir: str | os.PathLike) -> list[str]:
    """One warning per CA key file that users other than the owner can read."""
    warnings = []
    for name in KEY_FILES:
        f = Path(confdir) / name
        try:
            mode = stat.S_IMODE(f.stat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            warnings.append(
                f"{f} holds the CA private key and is readable by others (mode {mode:04o}); "
                f"anyone who reads it can intercept every device that trusts this CA: "
                f"chmod 600 {f}"
            )
    return warnings


def subject_hash_old(cert: x509.Certificate) -> str:
    """OpenSSL's `x509 -subject_hash_old`: MD5 of the subject's DER, first 4 bytes little-endian.

    Android's system store names each CA file `<this hash>.0`; a wrong name and the CA is
    silently ignored. The subject bytes are taken verbatim from the certificate, because
    re-encoding the name (string types, ordering) could change the hash.
    """
    digest = hashlib.md5(_raw_subject(cert.public_bytes(serialization.Encoding.DER))).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def android_system_name(cert: x509.Certificate) -> str:
    return f"{subject_hash_old(cert)}.0"


def _raw_subject(der: bytes) -> bytes:
    """The DER bytes (tag and length included) of TBSCertificate.subject."""
    _, start, _ = _tlv(der, 0)  # Certificate SEQUENCE
    _, pos, tbs_end = _tlv(der, start)  # TBSCertificate SEQUENCE
    if der[pos] == 0xA0:  # [0] EXPLICIT version
        pos = _tlv(der, pos)[2]
    for _ in range(4):  # serialNumber, signature, issuer, validity
        pos = _tlv(der, pos)[2]
    _, _, end = _tlv(der, pos)
    if end > tbs_end:
        raise ValueError("subject runs past the TBSCertificate")
    return der[pos:end]


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, end) of the DER element at `pos`."""
    tag = data[pos]
    length = data[pos + 1]
    start = pos + 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[start : start + n], "big")
        start += n
    return tag, start, start + length


def mobileconfig(cert: x509.Certificate) -> bytes:
    """An iOS configuration profile that installs the CA as a root certificate.

    Installing it is only half the job on iOS: the user must then enable full trust in
    Settings > General > About > Certificate Trust Settings. UUIDs derive from the
    fingerprint so exporting twice gives the same profile, and iOS replaces rather than
    duplicates it.
    """
    der = cert.public_bytes(serialization.Encoding.DER)
    fp = cert.fingerprint(hashes.SHA256()).hex()
    cert_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mitm-pincheck:ca-cert:{fp}")).upper()
    profile_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mitm-pincheck:profile:{fp}")).upper()
    name = _common_name(cert)
    profile = {
        "PayloadContent": [
            {
                "PayloadCertificateFileName": f"{EXPORT_STEM}.cer",
                "PayloadContent": der,
                "PayloadDescription": "Root certificate of the mitm-pincheck test proxy.",
                "PayloadDisplayName": name,
                "PayloadIdentifier": f"org.mitm-pincheck.ca.{cert_uuid}",
                "PayloadType": "com.apple.security.root",
                "PayloadUUID": cert_uuid,
                "PayloadVersion": 1,
            }
        ],
        "PayloadDescription": (
            "Lets this device trust the mitm-pincheck proxy, to test certificate pinning. "
            "Remove it when testing is done."
        ),
        "PayloadDisplayName": f"mitm-pincheck test CA ({name})",
        "PayloadIdentifier": f"org.mitm-pincheck.profile.{profile_uuid}",
        "PayloadRemovalDisallowed": False,
        "PayloadType": "Configuration",
        "PayloadUUID": profile_uuid,
        "PayloadVersion": 1,
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


@dataclass
class Exported:
    pem: Path
    der: Path
    android_system: Path
    mobileconfig: Path

    def files(self) -> list[Path]:
        return [self.pem, self.der, self.android_system, self.mobileconfig]


def export(info: CaInfo, out_dir: str | os.PathLike) -> Exported:
    """Write the CA certificate (never its key) in every form a device needs."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        result = Exported(
            pem=out / f"{EXPORT_STEM}.pem",
            der=out / f"{EXPORT_STEM}.cer",
            android_system=out / info.android_system_name,
            mobileconfig=out / f"{EXPORT_STEM}.mobileconfig",
        )
        _replace(result.pem, info.pem)
        _replace(result.der, info.der)
        # Android's own store files are PEM (with a text dump in front, which is optional).
        _replace(result.android_system, info.pem)
        _replace(result.mobileconfig, mobileconfig(info.cert))
    except OSError as e:
        raise InputError(f"cannot write to {out}: {e.strerror or e}") from None
    return result


def _replace(path: Path, data: bytes) -> None:
    """Write `data` as a new file renamed over `path`: a symlink planted at `path` is replaced,
    never followed (it could point at a file of the user's, or into the confdir)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

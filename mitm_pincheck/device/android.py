"""Android devices through `adb`: the proxy setting, the CA, and a check of both.

Half of a pinning test's failures are set-up failures, and most of them are here: the CA is in a
store the app does not read, the proxy points somewhere the device cannot reach, or a previous
run left the proxy on and the device offline. Every function asks the device for its state
instead of trusting what we remember, so `proxy_off` repairs a device after a crashed run too.

Nothing here prints: results come back as data, the CLI words them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mitm_pincheck.errors import InputError

SYSTEM_STORE = "/system/etc/security/cacerts"
APEX_STORE = "/apex/com.android.conscrypt/cacerts"  # Android 14+: what apps really read
USER_STORE = "/data/misc/user/0/cacerts-added"  # readable by root only
DEVICE_TMP = "/data/local/tmp"
DEVICE_DOWNLOADS = "/sdcard/Download"
NO_PROXY = ("", "null", ":0")  # what `settings get global http_proxy` says when none is set
# A documentation address (RFC 5737): connecting a UDP socket to it sends nothing, but makes
# the kernel pick the interface of the default route.
_ROUTE_PROBE = ("192.0.2.1", 9)


# ---------------------------------------------------------------- adb and the device


def find_adb() -> str:
    """The adb executable on PATH, or an InputError that says how to get one."""
    path = shutil.which("adb")
    if not path:
        raise InputError(
            "adb not found on PATH: install Android platform-tools "
            "(https://developer.android.com/tools/releases/platform-tools) "
            "and add its directory to PATH"
        )
    return path


@dataclass
class Device:
    serial: str
    adb: str
    emulator: bool = False
    api: int | None = None
    release: str = "?"
    proxy: str | None = None  # what proxy_on set
    previous_proxy: str | None = None  # what was set before proxy_on or proxy_off
    removed_reverse: list[int] = field(default_factory=list)  # proxy_off's adb reverse removals

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        """`adb -s SERIAL ARGS...`; stdout, or InputError with adb's own words if it fails."""
        return _adb(self.adb, ["-s", self.serial, *args], check=check, timeout=timeout)

    def shell(self, command: str, check: bool = True) -> str:
        return self.run("shell", command, check=check).strip()

    def getprops(self) -> dict[str, str]:
        """All system properties, from one `getprop` call: `[name]: [value]` a line."""
        props = {}
        for line in self.run("shell", "getprop", check=False).splitlines():
            m = re.match(r"\[([^\]]+)\]: \[(.*)\]$", line.strip())
            if m:
                props[m.group(1)] = m.group(2)
        return props

    def exists(self, path: str, kind: str = "-e") -> bool:
        return self.shell(f"[ {kind} {path} ] && echo yes || echo no", check=False) == "yes"

    def is_root(self) -> bool:
        return self.shell("id -u", check=False) == "0"

    def get_proxy(self) -> str | None:
        value = self.run("shell", "settings", "get", "global", "http_proxy", check=False).strip()
        return None if value in NO_PROXY else value

    def reverse_ports(self) -> list[int]:
        """Device-side ports of `adb reverse` rules, from `adb reverse --list`."""
        ports = []
        for line in self.run("reverse", "--list", check=False).splitlines():
            for word in line.split()[1:2]:  # "<serial or transport> tcp:REMOTE tcp:LOCAL"
                if word.startswith("tcp:") and word[4:].isdigit():
                    ports.append(int(word[4:]))
        return ports

    @property
    def label(self) -> str:
        what = "emulator" if self.emulator else "device"
        return f"{what} {self.serial} (Android {self.release}, API {self.api or '?'})"


def _adb(adb: str, args: list[str], check: bool = True, timeout: float = 60) -> str:
    try:
        proc = subprocess.run(
            [adb, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise InputError(f"adb {' '.join(args)} did not answer within {timeout:g} s") from None
    except OSError as e:
        raise InputError(f"cannot run {adb}: {e.strerror or e}") from None
    if check and proc.returncode != 0:
        said = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise InputError(f"adb {' '.join(args)} failed: {said[-1] if said else 'no message'}")
    return proc.stdout


def list_devices(adb: str) -> list[tuple[str, str]]:
    """(serial, state) for each line of `adb devices`."""
    out = _adb(adb, ["devices"])
    found = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("*"):
            found.append((parts[0], " ".join(parts[1:])))
    return found


_STATE_HINTS = {
    "unauthorized": "unlock it and accept the 'Allow USB debugging' prompt",
    "offline": "reconnect it, or restart adb with 'adb kill-server'",
}


def connect(serial: str | None = None) -> Device:
    """The device to work on: `serial`, else $ANDROID_SERIAL, else the only one connected."""
    adb = find_adb()
    serial = serial or os.environ.get("ANDROID_SERIAL") or None
    devices = list_devices(adb)
    if serial:
        state = dict(devices).get(serial)
        if state is None:
            listed = ", ".join(s for s, _ in devices) or "none"
            raise InputError(f"no device {serial} (adb devices lists: {listed})")
    else:
        ready = [s for s, st in devices if st == "device"]
        if not devices:
            raise InputError(
                "no Android device connected: start an emulator or plug in a device with "
                "USB debugging on ('adb devices' lists none)"
            )
        if len(ready) > 1:
            raise InputError(
                f"several devices connected ({', '.join(ready)}): choose one with --serial"
            )
        serial = ready[0] if ready else devices[0][0]
        state = dict(devices)[serial]
    if state != "device":
        hint = _STATE_HINTS.get(state, "check 'adb devices'")
        raise InputError(f"device {serial} is {state}: {hint}")
    dev = Device(serial, adb)
    props = dev.getprops()
    sdk = props.get("ro.build.version.sdk", "")
    dev.api = int(sdk) if sdk.isdigit() else None
    dev.release = props.get("ro.build.version.release") or "?"
    dev.emulator = serial.startswith("emulator-") or "1" in (
        props.get("ro.kernel.qemu"),
        props.get("ro.boot.qemu"),
    )
    return dev


# ---------------------------------------------------------------- proxy


def lan_address() -> str:
    """This machine's address on the default-route interface, found without sending a packet."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(_ROUTE_PROBE)
            address = s.getsockname()[0]
    except OSError:
        address = "0.0.0.0"
    if ipaddress.ip_address(address).is_loopback or address == "0.0.0.0":
        raise InputError(
            "cannot tell this machine's LAN address (no default route): pass --host-ip with "
            "the address the device can reach"
        )
    return address


def client_addresses(dev: Device) -> list[str]:
    """Where the device's connections to the proxy come from, for --client's default.

    An emulator reaches the proxy through `adb reverse`, so from this machine's loopback; a
    real device from its own Wi-Fi address. Empty when it cannot be told."""
    if dev.emulator:
        return ["127.0.0.1", "::1"]
    found = []
    text = dev.shell("ip -o addr show", check=False) or ""
    for line in text.splitlines():
        parts = line.split()
        for i, word in enumerate(parts[:-1]):
            if word in ("inet", "inet6"):
                with contextlib.suppress(ValueError):
                    address = ipaddress.ip_interface(parts[i + 1]).ip
                    if not (address.is_loopback or address.is_link_local):
                        found.append(str(address))
    return found


def proxy_on(serial: str | None, port: int, host_ip: str | None = None) -> Device:
    """Point the device's global HTTP proxy at this machine's port `port`.

    An emulator gets `adb reverse`, so its own 127.0.0.1:port reaches the proxy whatever the
    host's network looks like. A real device gets this machine's LAN address: the proxy must
    then listen on that interface (e.g. --listen 0.0.0.0:PORT), and the device must be on the
    same network.
    """
    _check_port(port)
    dev = connect(serial)
    dev.previous_proxy = dev.get_proxy()
    if dev.emulator:
        dev.run("reverse", f"tcp:{port}", f"tcp:{port}")
        dev.proxy = f"127.0.0.1:{port}"
    else:
        dev.proxy = f"{host_ip or lan_address()}:{port}"
    dev.run("shell", "settings", "put", "global", "http_proxy", dev.proxy)
    return dev


def proxy_off(serial: str | None, port: int | None = None) -> Device:
    """Clear the global HTTP proxy and our `adb reverse` rule, whatever state the device is in.

    Reads the proxy from the device rather than from memory, so it also cleans up after a run
    that crashed. `settings delete` alone only takes effect after a reboot on some versions;
    `http_proxy :0` takes effect at once, hence both.
    """
    dev = connect(serial)
    dev.previous_proxy = dev.get_proxy()
    ports = {port} if port else set()
    if dev.previous_proxy:
        host, _, p = dev.previous_proxy.rpartition(":")
        if host in ("127.0.0.1", "localhost") and p.isdigit():
            ports.add(int(p))
    dev.run("shell", "settings", "delete", "global", "http_proxy")
    dev.run("shell", "settings", "put", "global", "http_proxy", ":0")
    reversed_ports = set(dev.reverse_ports())
    for p in sorted(ports & reversed_ports):
        dev.run("reverse", "--remove", f"tcp:{p}", check=False)
        dev.removed_reverse.append(p)
    return dev


def _check_port(port: int) -> None:
    if not 0 < port < 65536:
        raise InputError(f"port {port}: must be 1 to 65535")


# ---------------------------------------------------------------- CA


USER_STORE_STEPS = (
    "On the device: Settings > Security (or Security & privacy) > More security settings > "
    "Encryption & credentials > Install a certificate > CA certificate, and pick {file} "
    "from Downloads.",
    "Apps targeting Android 7 (API 24) or later ignore user CAs unless their network "
    'security config trusts <certificates src="user"/>: for those, the valid-ca phase '
    "tests the trust configuration, not the pinning, and its verdicts stay inconclusive.",
    "For the system store, use an emulator with a Google APIs image (not Google Play): "
    "'mitm-pincheck android install-ca' then installs it there.",
)


@dataclass
class Installed:
    device: Device
    store: str  # "user", "system" (remount) or "system-apex" (Android 14+ tmpfs and bind mounts)
    path: str  # where the certificate went on the device
    notes: list[str] = field(default_factory=list)


def install_ca(serial: str | None, pem: bytes, system_name: str) -> Installed:
    """Put the CA where apps read it: the system store on a rooted emulator, else the user store.

    `system_name` is `<subject_hash_old>.0`. Which system-store procedure to use is decided by
    the directory that exists, not by the API level: vendor builds and betas blur the line.
    """
    dev = connect(serial)
    root_note = None
    if dev.emulator:
        root_note = _become_root(dev)
    if not dev.emulator or root_note:
        return _install_user(dev, pem, [root_note] if root_note else [])
    if dev.exists(APEX_STORE, "-d"):
        return _install_apex(dev, pem, system_name)
    return _install_remount(dev, pem, system_name)


def _become_root(dev: Device) -> str | None:
    """None once adbd runs as root, else why it cannot."""
    if dev.is_root():
        return None
    said = dev.run("root", check=False).strip()
    dev.run("wait-for-device", check=False)
    if dev.is_root():
        return None
    return (
        f"adbd cannot run as root on this emulator ({said or 'adb root refused'}): "
        "it is a Google Play image; the user store is the only option there"
    )


def _push_temp(dev: Device, data: bytes, name: str, dest_dir: str) -> str:
    with tempfile.TemporaryDirectory(prefix="pincheck-") as tmp:
        local = Path(tmp) / name
        local.write_bytes(data)
        remote = f"{dest_dir}/{name}"
        dev.run("push", str(local), remote)
    return remote


def _install_user(dev: Device, pem: bytes, notes: list[str]) -> Installed:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    remote = _push_temp(dev, der, "mitm-pincheck-ca.cer", DEVICE_DOWNLOADS)
    steps = [s.format(file="mitm-pincheck-ca.cer") for s in USER_STORE_STEPS]
    return Installed(dev, "user", remote, notes + steps)


def _install_remount(dev: Device, pem: bytes, name: str) -> Installed:
    said = dev.run("remount", check=False)
    if "reboot" in said.lower():
        raise InputError(
            f"adb remount on {dev.serial} asks for a reboot (verity was just disabled): "
            "run 'adb reboot', wait for the device, then run install-ca again"
        )
    if "succeeded" not in said.lower() and "remounted" not in said.lower():
        raise InputError(
            f"cannot make /system writable on {dev.serial} ({said.strip() or 'adb remount failed'})"
            ": start the emulator with -writable-system (emulator -avd NAME -writable-system), "
            "then run install-ca again"
        )
    remote = _push_temp(dev, pem, name, SYSTEM_STORE)
    dev.shell(f"chmod 644 {remote}")
    return Installed(
        dev,
        "system",
        remote,
        [
            "Installed in the system store; it stays after a reboot as long as the emulator "
            "starts with -writable-system.",
            "Restart the app under test so it reloads its trust store.",
        ],
    )


# Android 14 reads CAs from the Conscrypt APEX, which is read-only and mounted per process
# namespace. So: copy the store to a tmpfs over /system/etc/security/cacerts, add ours, bind
# it over the APEX directory, and repeat the bind inside zygote's namespace (new apps) and each
# running app's namespace (apps already started). Lost at reboot by design.
_APEX_SCRIPT = """\
set -e
STORE={system}
APEX={apex}
COPY={tmp}/mitm-pincheck-cacerts
rm -rf "$COPY"
mkdir -p -m 700 "$COPY"
cp "$APEX"/* "$COPY"/
mount -t tmpfs tmpfs "$STORE"
cp "$COPY"/* "$STORE"/
cp {cert} "$STORE"/{name}
chown root:root "$STORE"/*
chmod 644 "$STORE"/*
chcon u:object_r:system_file:s0 "$STORE"/*
mount --bind "$STORE" "$APEX"
for Z in $(pidof zygote zygote64 || true); do
  nsenter --mount=/proc/$Z/ns/mnt -- /bin/mount --bind "$STORE" "$APEX" || true
  for P in $(ps -o PID -P $Z | grep -v PID); do
    nsenter --mount=/proc/$P/ns/mnt -- /bin/mount --bind "$STORE" "$APEX" || true
  done
done
rm -rf "$COPY" {cert}
[ -f "$APEX"/{name} ] && echo "mitm-pincheck: installed"
"""


def _install_apex(dev: Device, pem: bytes, name: str) -> Installed:
    cert = _push_temp(dev, pem, name, DEVICE_TMP)
    script = _APEX_SCRIPT.format(
        system=SYSTEM_STORE, apex=APEX_STORE, tmp=DEVICE_TMP, cert=cert, name=name
    )
    remote = _push_temp(dev, script.encode(), "mitm-pincheck-ca.sh", DEVICE_TMP)
    said = dev.run("shell", "sh", remote, check=False)
    dev.run("shell", "rm", "-f", remote, check=False)
    if "mitm-pincheck: installed" not in said:
        last = said.strip().splitlines()[-1:] or ["no output"]
        raise InputError(
            f"installing in the Conscrypt APEX store failed on {dev.serial}: {last[0]}"
        )
    return Installed(
        dev,
        "system-apex",
        f"{APEX_STORE}/{name}",
        [
            "Installed in the Conscrypt APEX store (Android 14+) for new and running apps.",
            "This does not survive a reboot: run install-ca again after each boot.",
        ],
    )


# ---------------------------------------------------------------- where the CA is


@dataclass
class CaStore:
    """Where the device holds the proxy CA, as the journal's `ca-store` event records it.

    `store` is "system" only when the certificate in the store apps read (the Conscrypt APEX
    where it exists, else /system/etc/security/cacerts; the mount `install-ca` makes shows up
    in both) is ours, byte for byte: only then is it proof that platform-trusting apps trust it.
    """

    serial: str
    store: str  # "system", "user", "none" or "unknown" (not in system; user store unreadable)
    path: str | None
    notes: list[str] = field(default_factory=list)

    def event(self) -> dict:
        return {"store": self.store, "path": self.path, "serial": self.serial}


def ca_store(serial: str | None, cert_der: bytes, system_name: str) -> CaStore:
    """Look for the proxy CA (`cert_der`) in the device's stores, comparing the certificate."""
    dev = connect(serial)
    apex = dev.exists(APEX_STORE, "-d")
    system_path = f"{APEX_STORE if apex else SYSTEM_STORE}/{system_name}"
    notes: list[str] = []
    if dev.exists(system_path, "-f"):
        if _holds(dev, system_path, cert_der):
            return CaStore(dev.serial, "system", system_path)
        notes.append(
            f"{system_path} holds another certificate with the same subject hash, not this "
            "proxy CA (another confdir?): run 'mitm-pincheck android install-ca' again"
        )
    elif apex and dev.exists(f"{SYSTEM_STORE}/{system_name}", "-f"):
        notes.append(
            f"the proxy CA is in {SYSTEM_STORE}, but this Android reads the Conscrypt APEX "
            "store: apps do not see it"
        )
    user_path = f"{USER_STORE}/{system_name}"
    if dev.is_root():
        if dev.exists(user_path, "-f") and _holds(dev, user_path, cert_der):
            return CaStore(dev.serial, "user", user_path, notes)
        return CaStore(dev.serial, "none", None, notes)
    return CaStore(dev.serial, "unknown", None, notes)


def _holds(dev: Device, path: str, cert_der: bytes) -> bool:
    """Whether the file at `path` on the device holds exactly the certificate `cert_der`
    (Android's store files are PEM, sometimes followed or preceded by `openssl x509 -text`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    text = dev.run("shell", "cat", path, check=False)
    try:
        certs = x509.load_pem_x509_certificates(text.encode("ascii", "replace"))
    except ValueError:
        return False
    return any(c.public_bytes(serialization.Encoding.DER) == cert_der for c in certs)


# ---------------------------------------------------------------- doctor


@dataclass
class Diagnosis:
    device: Device
    facts: list[tuple[str, str]]
    problems: list[str]  # set-up faults that make verdicts inconclusive or wrong
    advice: list[str]  # what the facts mean for the app under test


def doctor(serial: str | None, system_name: str, port: int | None = None) -> Diagnosis:
    """What this device will and won't trust and reach, and what that means for a test."""
    dev = connect(serial)
    facts: list[tuple[str, str]] = [
        ("device", dev.label),
    ]
    problems: list[str] = []
    advice: list[str] = []
    root = dev.is_root()
    facts.append(("adb as root", "yes" if root else "no"))

    apex = dev.exists(APEX_STORE, "-d")
    in_system = dev.exists(f"{SYSTEM_STORE}/{system_name}", "-f")
    in_apex = apex and dev.exists(f"{APEX_STORE}/{system_name}", "-f")
    effective_system = in_apex if apex else in_system
    store_desc = "Conscrypt APEX (Android 14+)" if apex else SYSTEM_STORE
    facts.append(("system store", store_desc))
    if apex:
        facts.append(("CA in system store", _yes_no(in_apex)))
        if in_system and not in_apex:
            problems.append(
                "the CA is in /system/etc/security/cacerts, but this Android reads the "
                "Conscrypt APEX store: apps do not see it. Run 'mitm-pincheck android install-ca'."
            )
    else:
        facts.append(("CA in system store", _yes_no(in_system)))
    if root:
        in_user: bool | None = dev.exists(f"{USER_STORE}/{system_name}", "-f")
        facts.append(("CA in user store", _yes_no(in_user)))
    else:
        in_user = None
        facts.append(
            ("CA in user store", "unknown (needs root; see Settings > Trusted credentials > User)")
        )

    if not effective_system and in_user is False:
        problems.append(
            "the device does not trust the proxy CA: valid-ca results will be inconclusive. "
            "Run 'mitm-pincheck android install-ca'."
        )
    elif not effective_system and in_user is None:
        advice.append(
            "The CA is not in the system store and the user store cannot be read without "
            "root: unless you installed it there, the device does not trust the proxy CA and "
            "valid-ca results will be inconclusive ('mitm-pincheck android install-ca')."
        )
    if not effective_system and (dev.api or 0) >= 24:
        advice.append(
            "CA not in the system store: apps targeting API 24+ (Android 7) ignore user CAs "
            'unless their network security config trusts <certificates src="user"/> '
            "(in debug-overrides: debuggable builds only). For them, a rejected valid-ca phase "
            "shows missing trust, not pinning."
        )
    if apex and effective_system:
        advice.append("The APEX install does not survive a reboot: run install-ca after each boot.")

    proxy = dev.get_proxy()
    facts.append(("global HTTP proxy", proxy or "not set"))
    reversed_ports = dev.reverse_ports()
    if reversed_ports:
        facts.append(("adb reverse", ", ".join(f"tcp:{p}" for p in reversed_ports)))
    if not proxy:
        problems.append(
            "no proxy set: the app's traffic will not reach mitm-pincheck. "
            "Run 'mitm-pincheck android proxy on --port PORT'."
        )
    else:
        host, _, p = proxy.rpartition(":")
        if host in ("127.0.0.1", "localhost") and p.isdigit() and int(p) not in reversed_ports:
            problems.append(
                f"the proxy is {proxy}, the device's own loopback, but no 'adb reverse tcp:{p}' "
                "forwards it: the device has no network. Run 'mitm-pincheck android proxy on' "
                "again, or 'proxy off'."
            )
        if port and p.isdigit() and int(p) != port:
            problems.append(f"the proxy points at port {p}, not {port}")
    advice.append(
        "Apps that ignore the system proxy (Flutter/Dart, some games and SDKs) show up as "
        "not-seen: run mitmproxy in WireGuard mode for them (docs/devices.md)."
    )
    return Diagnosis(dev, facts, problems, advice)


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")

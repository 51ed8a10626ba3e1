"""Reading what a run may believe about the app's trust in the proxy CA: a host's `keys` (the
server keys the app pins, for the pinned-key and backup-key kinds), `control: true`, and the
top-level `ca_trust: system`.

A key file is a server's private key, so it is checked the way ssh checks one: it must exist, be
a PEM private key we can read, and not be readable by every user of the machine. Only its path
(as the scenario writes it) and its SPKI pin ever leave this module; the key itself is loaded
again by the proxy when it forges.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mitm_pincheck.pins.pins import key_pin
from mitm_pincheck.scenario.nodes import TAG_NULL, TAG_STR, NodeReader, describe, join_key
from mitm_pincheck.verdicts import kinds

KEYS_KEYS = ("current", "backup", "at")
KEY_AT = ("leaf", "intermediate")
CA_TRUST = ("system",)


@dataclass(frozen=True)
class KeyFile:
    """A server key the team owns: `file` as the scenario names it, `path` resolved."""

    file: str
    path: Path
    pin: str  # sha256/BASE64 of its SubjectPublicKeyInfo

    def to_dict(self) -> dict:
        return {"file": self.file, "pin": self.pin}


@dataclass(frozen=True)
class HostKeys:
    current: KeyFile | None = None
    backup: tuple[KeyFile, ...] = ()
    at: str = "leaf"  # "intermediate": the app pins an intermediate key the team owns

    def to_dict(self) -> dict:
        return {
            "current": self.current.to_dict() if self.current else None,
            "backup": [k.to_dict() for k in self.backup],
            "at": self.at,
        }


def load_private_key(path: Path):
    """The key in `path` (checked by the reader when the scenario was loaded)."""
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)


def key_for_round(phases: tuple[str, ...], index: int, keys: HostKeys | None) -> KeyFile | None:
    """The key a host is shown in phase `index`: keys.current under pinned-key; under the j-th
    backup-key round its j-th backup key; None when it has none (it is passed through)."""
    kind = phases[index]
    if keys is None:
        return None
    if kind == "pinned-key":
        return keys.current
    if kind == "backup-key":
        j = phases[:index].count("backup-key")
        return keys.backup[j] if j < len(keys.backup) else None
    return None


def expand_backup_rounds(phases: tuple[str, ...], rounds: int) -> tuple[str, ...]:
    """`backup-key` once per backup key: each round shows every host its next backup key."""
    out: list[str] = []
    for p in phases:
        out.extend([p] * max(1, rounds) if p == "backup-key" else [p])
    return tuple(out)


class KeysReader(NodeReader):
    def host_control(self, node: Node, key: str) -> bool:
        return self.boolean(node, key, "control: true")

    def host_keys(self, node: Node, key: str) -> HostKeys:
        example = "keys: {current: keys/api.pem, backup: [keys/api-next.pem]}"
        if not isinstance(node, MappingNode):
            raise self.error(
                node, key, f"expected a mapping, found {describe(node)}; write e.g. {example}"
            )
        found: dict = {}
        for name, k, v in self.items(node, key, "a mapping"):
            where = join_key(key, name)
            if name not in KEYS_KEYS:
                raise self.unknown(k, key, name, KEYS_KEYS)
            if name == "current":
                found["current"] = self.key_file(v, where)
            elif name == "backup":
                found["backup"] = self.key_list(v, where)
            else:
                if not (isinstance(v, ScalarNode) and v.tag == TAG_STR and v.value in KEY_AT):
                    raise self.error(
                        v,
                        where,
                        f"expected leaf or intermediate, found {describe(v)}; write at: leaf "
                        "(the app pins the server's own key) or at: intermediate",
                    )
                found["at"] = v.value
        if not found.get("current") and not found.get("backup"):
            raise self.error(
                node, key, f"give at least one key (current: or backup:); write e.g. {example}"
            )
        return HostKeys(found.get("current"), found.get("backup", ()), found.get("at", "leaf"))

    def key_list(self, node: Node, key: str) -> tuple[KeyFile, ...]:
        if isinstance(node, ScalarNode) and node.tag == TAG_STR:
            return (self.key_file(node, join_key(key, 0)),)
        if not isinstance(node, SequenceNode) or not node.value:
            raise self.error(
                node,
                key,
                f"expected a list of key files, found {describe(node)}; write e.g. "
                "backup: [keys/api-next.pem]",
            )
        keys = [self.key_file(item, join_key(key, i)) for i, item in enumerate(node.value)]
        pins: dict[str, str] = {}
        for i, k in enumerate(keys):
            if k.pin in pins:
                raise self.error(
                    node.value[i],
                    join_key(key, i),
                    f"{k.file} holds the same key as {pins[k.pin]}; list each backup key once",
                )
            pins[k.pin] = k.file
        return tuple(keys)

    def key_file(self, node: Node, key: str) -> KeyFile:
        if not (isinstance(node, ScalarNode) and node.tag == TAG_STR and node.value.strip()):
            raise self.error(
                node,
                key,
                f"expected the path of a PEM private key, found {describe(node)}; "
                "write e.g. keys/api.pem (relative to the scenario file)",
            )
        written = node.value.strip()
        path = Path(written).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        try:
            st = path.stat()
        except FileNotFoundError:
            raise self.error(node, key, f"{path}: no such file; check the path") from None
        except OSError as e:
            raise self.error(node, key, f"{path}: can't read it: {e.strerror or e}") from None
        if not stat.S_ISREG(st.st_mode):
            raise self.error(node, key, f"{path}: not a file; give the path of a PEM private key")
        if st.st_mode & stat.S_IROTH:
            raise self.error(
                node,
                key,
                f"{path} is readable by every user of this machine (mode "
                f"{stat.S_IMODE(st.st_mode):04o}); a server's private key must not be: "
                f"run chmod 600 {path}",
            )
        try:
            data = path.read_bytes()
        except PermissionError:
            raise self.error(
                node, key, f"{path}: not readable by this user; check its owner and mode"
            ) from None
        except OSError as e:
            raise self.error(node, key, f"{path}: can't read it: {e.strerror or e}") from None
        private = self._private_key(data, node, key, path)
        return KeyFile(written, path.resolve(), f"sha256/{key_pin(private.public_key())}")

    def _private_key(self, data: bytes, node: Node, key: str, path: Path):
        if b"-----BEGIN" not in data:
            raise self.error(
                node,
                key,
                f"{path}: not a PEM file; convert it, e.g. openssl pkey -in KEY.der -inform DER "
                "-out KEY.pem",
            )
        if b"PRIVATE KEY-----" not in data:
            found = "a certificate" if b"CERTIFICATE-----" in data else "no private key"
            raise self.error(
                node,
                key,
                f"{path}: holds {found}; give the server's private key (BEGIN PRIVATE KEY)",
            )
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except TypeError:
            raise self.error(
                node,
                key,
                f"{path}: the key is encrypted; give an unencrypted copy (chmod 600), e.g. "
                "openssl pkey -in KEY -out KEY.plain.pem",
            ) from None
        except Exception:  # cryptography raises several kinds for a file it cannot parse
            raise self.error(node, key, f"{path}: not a private key we can read") from None
        if not isinstance(
            private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        ):
            raise self.error(
                node,
                key,
                f"{path}: a {type(private).__name__} cannot sign for a TLS server; "
                "give an RSA, EC or Ed25519 key",
            )
        return private

    def top_ca_trust(self, node: Node, key: str) -> str | None:
        if isinstance(node, ScalarNode) and node.tag == TAG_NULL:
            return None
        if not (isinstance(node, ScalarNode) and node.tag == TAG_STR and node.value in CA_TRUST):
            found = repr(node.value) if isinstance(node, ScalarNode) else describe(node)
            raise self.error(
                node,
                key,
                f"expected system, found {found}; write ca_trust: system only if the proxy CA "
                "is a system CA on the device (the report will say it is the scenario's word), "
                "or remove the key",
            )
        return node.value

    def check_key_phases(self, hosts, phases: tuple[str, ...], phases_node: Node | None) -> None:
        """A key kind among the phases needs a host that has such a key."""
        for kind in kinds.KEY_KINDS:
            if kind not in phases:
                continue
            role = kinds.KINDS[kind].key_role
            has = any(
                h.keys and (h.keys.current if role == "current" else h.keys.backup) for h in hosts
            )
            if not has:
                which = "keys.current" if role == "current" else "keys.backup"
                raise self.error(
                    phases_node,
                    "phases",
                    f"{kind} needs a host with {which} (the key the app pins, a PEM file); "
                    f"add keys to a host or remove {kind}",
                )

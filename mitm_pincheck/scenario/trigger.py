"""Reading how the app is made to talk and where its hosts are: `trigger`, `resolve`,
`upstream_trust`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cryptography import x509
from yaml.nodes import Node, ScalarNode, SequenceNode

from mitm_pincheck.scenario.hostnames import HostNameError, check_address, check_host
from mitm_pincheck.scenario.nodes import TAG_NULL, TAG_STR, NodeReader, describe, join_key, line_of


class TriggerReader(NodeReader):
    def top_trigger(self, node: Node, key: str) -> str | None:
        if isinstance(node, ScalarNode) and node.tag == TAG_NULL:
            return None  # manual mode: a person makes the app talk
        if isinstance(node, ScalarNode) and node.tag == TAG_STR and not node.value.strip():
            raise self.error(
                node,
                key,
                "empty command; write a shell command, or 'trigger: null' to make the "
                "app talk by hand",
            )
        return self.text(node, key, "trigger: 'adb shell monkey -p com.example.shop 1'")

    def top_resolve(self, node: Node, key: str) -> Mapping[str, tuple[str, int]]:
        if isinstance(node, ScalarNode) and node.tag == TAG_NULL:
            return {}
        out: dict[str, tuple[str, int]] = {}
        lines: dict[str, int] = {}
        for name, k, v in self.items(node, key, "a mapping of host: 'ip:port'"):
            path = join_key(key, name)
            try:
                host = check_host(name, wildcard_ok=False)
            except HostNameError as e:
                raise self.error(k, path, str(e)) from None
            if host in lines:
                raise self.error(
                    k,
                    path,
                    f"{host!r} is listed twice (lines {lines[host]} and {line_of(k)}); keep one",
                )
            lines[host] = line_of(k)
            if isinstance(v, SequenceNode):
                raise self.error(
                    v,
                    path,
                    f"found a list; write 'ip:port' as one quoted value: {name}: '[::1]:8443'",
                )
            if not (isinstance(v, ScalarNode) and v.tag == TAG_STR):
                raise self.error(
                    v,
                    path,
                    f"expected 'ip:port', found {describe(v)}; write e.g. {name}: '127.0.0.1:8443'",
                )
            try:
                out[host] = check_address(v.value)
            except HostNameError as e:
                raise self.error(v, path, str(e)) from None
        return out

    def top_upstream_trust(self, node: Node, key: str) -> Path | None:
        if isinstance(node, ScalarNode) and node.tag == TAG_NULL:
            return None
        raw = self.text(node, key, "upstream_trust: certs/test-backend-ca.pem")
        path = (self.base_dir / Path(raw).expanduser()).resolve()
        where = f"{raw!r} (looked for {path})" if not Path(raw).is_absolute() else repr(raw)
        if not path.exists():
            raise self.error(
                node,
                key,
                f"no such file {where}; relative paths start at the scenario file's directory",
            )
        if not path.is_file():
            raise self.error(
                node, key, f"{where} is not a file; give a PEM file of CA certificates"
            )
        try:
            data = path.read_bytes()
        except OSError as e:
            raise self.error(node, key, f"can't read {where}: {e.strerror or e}") from None
        try:
            x509.load_pem_x509_certificates(data)
        except ValueError:
            hint = (
                "it has no '-----BEGIN CERTIFICATE-----' block; if it is DER, convert it with "
                "openssl x509 -inform der -in FILE -out FILE.pem"
                if b"-----BEGIN CERTIFICATE-----" not in data
                else "a certificate block in it does not parse; export the CA again as PEM"
            )
            raise self.error(node, key, f"no usable PEM certificate in {where}: {hint}") from None
        return path

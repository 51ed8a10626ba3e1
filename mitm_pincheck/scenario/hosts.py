"""Reading `hosts`: each host under test, its name or pattern, `pinned` and `expect`."""

from __future__ import annotations

from collections.abc import Mapping

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mitm_pincheck.scenario.hostnames import HostNameError, check_host
from mitm_pincheck.scenario.keys import KeysReader
from mitm_pincheck.scenario.model import HOST_KEYS, HostSpec
from mitm_pincheck.scenario.nodes import (
    TAG_NULL,
    TAG_STR,
    describe,
    did_you_mean,
    join_key,
    line_of,
)
from mitm_pincheck.verdicts import kinds


class HostsReader(KeysReader):
    def top_hosts(self, node: Node, key: str) -> tuple[HostSpec, ...]:
        if not isinstance(node, SequenceNode):
            raise self.error(
                node,
                key,
                f"expected a list, found {describe(node)}; start each entry with "
                "'- host: api.example.com' and give it 'pinned: true' or 'pinned: false'",
            )
        if not node.value:
            raise self.error(
                node,
                key,
                "empty; list at least one host under test, e.g. "
                "- {host: api.example.com, pinned: true}",
            )
        hosts: list[HostSpec] = []
        lines: dict[str, int] = {}
        for i, item in enumerate(node.value):
            spec = self.host_entry(item, join_key(key, i))
            if spec.host in lines:
                if lines[spec.host] == spec.line:  # the same entry again, through a YAML alias
                    why = f"the entry of line {spec.line} is used again through a YAML alias (*)"
                else:
                    why = f"lines {lines[spec.host]} and {spec.line}"
                raise self.error(
                    spec.line,
                    join_key(join_key(key, i), "host"),
                    f"{spec.host!r} is listed twice ({why}); keep one entry",
                )
            lines[spec.host] = spec.line
            hosts.append(spec)
        return tuple(hosts)

    def host_entry(self, node: Node, key: str) -> HostSpec:
        if not isinstance(node, MappingNode):
            example = node.value if isinstance(node, ScalarNode) else "api.example.com"
            raise self.error(
                node,
                key,
                f"each host is a mapping, found {describe(node)}; write "
                f"'- host: {example}' and 'pinned: true' (or false) under it",
            )
        found: dict = {}
        line = line_of(node)
        for name, k, v in self.items(node, key, "a mapping"):
            if name not in HOST_KEYS:
                raise self.unknown(k, key, name, HOST_KEYS)
            if name == "host":
                found["host"] = self.host_name(v, join_key(key, name), wildcard_ok=True)
                line = line_of(v)
            elif name == "pinned":
                found["pinned"] = self.boolean(
                    v, join_key(key, name), "pinned: true or pinned: false"
                )
            elif name == "control":
                found["control"] = self.host_control(v, join_key(key, name))
                control_node = v
            elif name == "keys":
                found["keys"] = self.host_keys(v, join_key(key, name))
            else:
                found["expect"] = self.expect(v, join_key(key, name))
        if "host" not in found:
            raise self.error(
                node,
                join_key(key, "host"),
                "missing; write the host name, e.g. host: api.example.com",
            )
        if "pinned" not in found:
            raise self.error(
                node,
                join_key(key, "pinned"),
                "missing; write 'pinned: true' if the app pins this "
                "host's certificate, 'pinned: false' if not",
            )
        if found.get("control") and found["pinned"]:
            raise self.error(
                control_node,
                join_key(key, "control"),
                "a control host is one the app does not pin (its acceptance of valid-ca proves "
                "the app trusts the proxy CA): set pinned: false, or remove control: true",
            )
        return HostSpec(
            found["host"],
            found["pinned"],
            found.get("expect", {}),
            line,
            control=found.get("control", False),
            keys=found.get("keys"),
        )

    def expect(self, node: Node, key: str) -> Mapping[str, str]:
        if isinstance(node, ScalarNode) and node.tag == TAG_NULL:
            return {}
        out: dict[str, str] = {}
        for name, k, v in self.items(node, key, "a mapping of kind: accept|reject"):
            if name not in kinds.KINDS:
                valid = tuple(kinds.KINDS)
                raise self.error(
                    k,
                    join_key(key, name),
                    f"unknown kind {name!r}; {did_you_mean(name, valid)}kinds: {', '.join(valid)}",
                )
            if not (
                isinstance(v, ScalarNode) and v.tag == TAG_STR and v.value in kinds.EXPECTATIONS
            ):
                found = repr(v.value) if isinstance(v, ScalarNode) else describe(v)
                raise self.error(
                    v,
                    join_key(key, name),
                    f"expected accept or reject, found {found}; write "
                    f"{name}: accept or {name}: reject",
                )
            out[name] = v.value
        return out

    def host_name(self, node: Node, key: str, wildcard_ok: bool) -> str:
        if not (isinstance(node, ScalarNode) and node.tag == TAG_STR):
            raise self.error(
                node,
                key,
                f"expected a host name, found {describe(node)}; write e.g. api.example.com",
            )
        try:
            return check_host(node.value, wildcard_ok=wildcard_ok)
        except HostNameError as e:
            raise self.error(node, key, str(e)) from None

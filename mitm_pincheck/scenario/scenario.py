"""Scenario files: YAML -> a typed `Scenario`; every error names the file, the line and the key.

The YAML is composed into nodes (never constructed wholesale) and walked by hand, because only
nodes know their line: a QA engineer with a 60-line scenario needs `shop.yaml:23: hosts[4].pinned`,
not "expected bool". Plain YAML also keeps the last of two duplicate keys without a word, which is
how a `pinned: false` written under a `pinned: true` silently turns a host's expectation around.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import yaml
from cryptography import x509
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mitm_pincheck.errors import ScenarioError
from mitm_pincheck.scenario.hostnames import HostNameError, check_address, check_host
from mitm_pincheck.verdicts import kinds

DEFAULT_SETTLE = 5.0
DEFAULT_TIMEOUT = 60.0

TOP_KEYS = (
    "name",
    "app",
    "hosts",
    "phases",
    "trigger",
    "settle",
    "timeout",
    "resolve",
    "upstream_trust",
)
HOST_KEYS = ("host", "pinned", "expect")

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"


def _canonical(name: str) -> str:
    """The form host names are compared in: lower case, no trailing dot, IPv6 compressed."""
    name = name.strip().lower()
    if name.endswith("."):
        name = name[:-1]
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if ":" in name:
        try:
            return ipaddress.IPv6Address(name).compressed
        except ValueError:
            pass
    return name


@dataclass(frozen=True)
class HostSpec:
    """One host under test: an exact name, an IP literal, or `*.example.com`."""

    host: str
    pinned: bool
    expect: Mapping[str, str] = field(default_factory=dict, hash=False)
    line: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "host", _canonical(self.host))
        object.__setattr__(self, "expect", MappingProxyType(dict(self.expect)))

    @property
    def wildcard(self) -> bool:
        return self.host.startswith("*.")

    def matches(self, name: str) -> bool:
        """Exact name, or for `*.example.com` any subdomain at any depth but not the apex."""
        name = _canonical(name)
        if self.wildcard:
            suffix = self.host[1:]  # ".example.com"
            return len(name) > len(suffix) and name.endswith(suffix)
        return name == self.host

    def expected(self, kind: str) -> str:
        return kinds.expected(kind, self.pinned, self.expect)


@dataclass(frozen=True)
class Scenario:
    name: str
    file: str | None = None
    hosts: tuple[HostSpec, ...] = ()
    phases: tuple[str, ...] = kinds.DEFAULT_PHASES
    trigger: str | None = None
    settle: float = DEFAULT_SETTLE
    timeout: float = DEFAULT_TIMEOUT
    resolve: Mapping[str, tuple[str, int]] = field(default_factory=dict, hash=False)
    upstream_trust: Path | None = None
    app: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "hosts", tuple(self.hosts))
        object.__setattr__(self, "phases", tuple(self.phases))
        object.__setattr__(self, "resolve", MappingProxyType(dict(self.resolve)))

    def host_for(self, name: str) -> HostSpec | None:
        """The entry that covers `name`: an exact entry wins, then the longest wildcard."""
        found = [h for h in self.hosts if h.matches(name)]
        exact = [h for h in found if not h.wildcard]
        if exact:
            return exact[0]
        return max(found, key=lambda h: len(h.host), default=None)

    def to_dict(self) -> dict:
        """What the journal records. No trigger and no resolve: commands may carry tokens."""
        return {
            "name": self.name,
            "file": self.file,
            "app": self.app,
            "hosts": [
                {"host": h.host, "pinned": h.pinned, "expect": dict(h.expect)} for h in self.hosts
            ],
            "phases": list(self.phases),
            "settle": self.settle,
            "timeout": self.timeout,
        }


def load(path: str | os.PathLike) -> Scenario:
    """Read and check a scenario file. Raises ScenarioError."""
    file = os.fspath(path)
    p = Path(file)
    if p.is_dir():
        raise ScenarioError(file, None, None, "is a directory; give the path of a .yaml file")
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(file, None, None, "no such file; check the path") from None
    except OSError as e:
        raise ScenarioError(file, None, None, f"can't read it: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ScenarioError(file, line, "yaml", "not UTF-8 text; save the file as UTF-8") from None
    return parse(text, file, p.resolve().parent)


def parse(text: str, file: str = "<string>", base_dir: Path | None = None) -> Scenario:
    """Check scenario YAML. `base_dir` anchors relative paths (default: the current directory)."""
    return _Reader(file, base_dir if base_dir is not None else Path.cwd()).scenario(text)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _join(prefix: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{prefix}[{name}]"
    return f"{prefix}.{name}" if prefix else name


def _describe(node: Node) -> str:
    """What the user wrote, in words: for 'expected X, found Y' messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return {
        _STR: "text",
        _INT: "a number",
        _FLOAT: "a number",
        _BOOL: f"true/false ({node.value})",
        _NULL: "nothing",
    }.get(node.tag, f"a {node.tag.rsplit(':', 1)[-1]} ({node.value!r})")


def _did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


class _Reader:
    """One scenario file being checked: walks the nodes, raises at the first problem."""

    def __init__(self, file: str, base_dir: Path):
        self.file = file
        self.base_dir = base_dir

    def error(self, where: Node | int | None, key: str | None, message: str) -> ScenarioError:
        line = _line(where) if isinstance(where, Node) else where
        return ScenarioError(self.file, line, key, " ".join(message.split()))

    # -- YAML and generic shapes --------------------------------------------------------------

    def compose(self, text: str) -> Node | None:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as e:
            raise self.yaml_error(e) from None
        except yaml.reader.ReaderError as e:
            line = text[: e.position].count("\n") + 1
            raise self.error(
                line, "yaml", f"character {e.character!r} is not allowed in YAML; remove it"
            ) from None
        except yaml.YAMLError as e:  # no position known
            raise self.error(None, "yaml", str(e)) from None
        if root is not None:
            self.check_tags(root, "", set())
        return root

    def yaml_error(self, e: yaml.MarkedYAMLError) -> ScenarioError:
        problem, context = e.problem or "", e.context or ""
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        if "'\\t'" in problem:
            return self.error(line, "yaml", "a tab character; indent with spaces, YAML has no tabs")
        if "another document" in problem:
            return self.error(
                line,
                "yaml",
                "a second YAML document starts here; a scenario is one document: "
                "remove this '---' and what follows, or split the file",
            )
        if ("end of stream" in problem or "<stream end>" in problem) and e.context_mark:
            # The end of the file is a useless place to point at: point where the thing began.
            return self.error(
                e.context_mark.line + 1,
                "yaml",
                f"the file ends {context} that starts here; close the quote or bracket",
            )
        detail = (
            f" ({context} on line {e.context_mark.line + 1})" if context and e.context_mark else ""
        )
        return self.error(
            line,
            "yaml",
            f"{problem or 'not valid YAML'}{detail}; check indentation, and quote "
            "values that contain ': ', '#', '[' or '{'",
        )

    _PLAIN_TAGS = frozenset(
        f"tag:yaml.org,2002:{t}"
        for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")
    )

    def check_tags(self, node: Node, key: str, seen: set[int]) -> None:
        """Refuse explicit YAML tags (!foo, !!binary, !!python/...): a scenario is plain data."""
        if id(node) in seen:  # aliases can make the node graph cyclic
            return
        seen.add(id(node))
        if node.tag not in self._PLAIN_TAGS:
            raise self.error(
                node,
                key or None,
                f"unsupported YAML tag {node.tag!r}; remove the tag, or quote the whole value",
            )
        if isinstance(node, MappingNode):
            for k, v in node.value:
                self.check_tags(k, key, seen)
                self.check_tags(
                    v, _join(key, str(k.value)) if isinstance(k, ScalarNode) else key, seen
                )
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                self.check_tags(item, _join(key, i), seen)

    def scalar(self, node: ScalarNode, key: str):
        try:
            return yaml.constructor.SafeConstructor().construct_object(node)
        except yaml.YAMLError:
            raise self.error(
                node, key, f"unsupported YAML tag {node.tag!r}; remove the tag"
            ) from None

    def items(self, node: Node, key: str, what: str) -> list[tuple[str, Node, Node]]:
        """A mapping's (name, key node, value node), in file order, refusing duplicate keys."""
        if not isinstance(node, MappingNode):
            raise self.error(node, key or None, f"expected {what}, found {_describe(node)}")
        seen: dict[str, Node] = {}
        out = []
        for k, v in node.value:
            if not isinstance(k, ScalarNode):
                raise self.error(k, key or None, "keys must be plain names, not lists or mappings")
            name = str(k.value)
            if name in seen:
                raise self.error(
                    k,
                    _join(key, name),
                    f"duplicate key (first set on line {_line(seen[name])}); keep only one",
                )
            seen[name] = k
            out.append((name, k, v))
        return out

    def unknown(self, k: Node, key: str, name: str, valid: tuple[str, ...]) -> ScenarioError:
        if name in HOST_KEYS and valid is TOP_KEYS:
            hint = "it belongs to an entry under hosts: indent it below a '- host:' line"
        elif name in TOP_KEYS and valid is HOST_KEYS:
            hint = "it belongs at the top level: remove its indentation"
        else:
            hint = f"{_did_you_mean(name, valid)}valid keys here: {', '.join(valid)}"
        return self.error(k, _join(key, name), f"unknown key; {hint}")

    def text(self, node: Node, key: str, example: str) -> str:
        if not (isinstance(node, ScalarNode) and node.tag == _STR):
            hint = (
                f"quote it: {key.rsplit('.', 1)[-1]}: '{node.value}'"
                if isinstance(node, ScalarNode) and node.tag != _NULL
                else f"write e.g. {example}"
            )
            raise self.error(node, key, f"expected text, found {_describe(node)}; {hint}")
        value = node.value
        if not value.strip():
            raise self.error(node, key, f"empty; write e.g. {example}, or remove the key")
        return value

    def number(self, node: Node, key: str) -> float:
        if not (isinstance(node, ScalarNode) and node.tag in (_INT, _FLOAT)):
            found = _describe(node)
            if isinstance(node, ScalarNode) and node.tag == _STR:
                found = f"text ({node.value!r})"
            raise self.error(
                node,
                key,
                f"expected a number of seconds, found {found}; write e.g. {key}: 5, "
                "or remove the key for the default",
            )
        value = float(self.scalar(node, key))
        if not math.isfinite(value) or value <= 0:
            raise self.error(
                node,
                key,
                f"must be a positive number of seconds, not {node.value}; write e.g. {key}: 5",
            )
        return value

    def boolean(self, node: Node, key: str, example: str) -> bool:
        if not (isinstance(node, ScalarNode) and node.tag == _BOOL):
            found = _describe(node)
            if isinstance(node, ScalarNode) and node.tag == _STR:
                found = f"text ({node.value!r}) "
                found += "in quotes" if node.style in ("'", '"') else ""
            raise self.error(
                node,
                key,
                f"expected true or false, found {found.strip()}; write {example} (no quotes)",
            )
        return bool(self.scalar(node, key))

    def kind(self, node: Node, key: str) -> str:
        valid = tuple(kinds.KINDS)
        if not (isinstance(node, ScalarNode) and node.tag == _STR):
            raise self.error(
                node,
                key,
                f"expected a kind name, found {_describe(node)}; kinds: {', '.join(valid)}",
            )
        if node.value not in kinds.KINDS:
            raise self.error(
                node,
                key,
                f"unknown kind {node.value!r}; {_did_you_mean(node.value, valid)}"
                f"kinds: {', '.join(valid)}",
            )
        return node.value

    # -- the scenario --------------------------------------------------------------------------

    def scenario(self, text: str) -> Scenario:
        root = self.compose(text)
        if root is None:
            raise self.error(
                1, None, "the file is empty; a scenario needs at least 'hosts:' with one entry"
            )
        if not isinstance(root, MappingNode):
            raise self.error(
                root,
                None,
                f"expected a mapping of keys (name:, hosts:, ...) at the top, found "
                f"{_describe(root)}",
            )
        values: dict = {}
        nodes: dict[str, Node] = {}
        for name, k, v in self.items(root, "", "a mapping"):
            if name not in TOP_KEYS:
                raise self.unknown(k, "", name, TOP_KEYS)
            nodes[name] = v
            values[name] = getattr(self, f"top_{name}")(v, name)
        if "hosts" not in values:
            raise self.error(
                root,
                "hosts",
                "missing; list the hosts under test, e.g. hosts: [{host: api.example.com, "
                "pinned: true}]",
            )
        settle = values.get("settle", DEFAULT_SETTLE)
        timeout = values.get("timeout", DEFAULT_TIMEOUT)
        if settle > timeout:
            key = "settle" if "settle" in nodes else "timeout"
            raise self.error(
                nodes[key],
                key,
                f"settle ({settle:g}s) is longer than timeout ({timeout:g}s), so a phase could "
                "never settle; make settle shorter or timeout longer",
            )
        default_name = "scenario" if self.file == "<string>" else Path(self.file).stem
        return Scenario(
            name=values.get("name") or default_name,
            file=None if self.file == "<string>" else self.file,
            hosts=values["hosts"],
            phases=values.get("phases", kinds.DEFAULT_PHASES),
            trigger=values.get("trigger"),
            settle=settle,
            timeout=timeout,
            resolve=values.get("resolve", {}),
            upstream_trust=values.get("upstream_trust"),
            app=values.get("app"),
        )

    def top_name(self, node: Node, key: str) -> str:
        return self.text(node, key, "name: shop-android")

    def top_app(self, node: Node, key: str) -> str | None:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return None
        return self.text(node, key, "app: 'com.example.shop 4.2.0'")

    def top_trigger(self, node: Node, key: str) -> str | None:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return None  # manual mode: a person makes the app talk
        if isinstance(node, ScalarNode) and node.tag == _STR and not node.value.strip():
            raise self.error(
                node,
                key,
                "empty command; write a shell command, or 'trigger: null' to make the "
                "app talk by hand",
            )
        return self.text(node, key, "trigger: 'adb shell monkey -p com.example.shop 1'")

    def top_settle(self, node: Node, key: str) -> float:
        return self.number(node, key)

    def top_timeout(self, node: Node, key: str) -> float:
        return self.number(node, key)

    def top_phases(self, node: Node, key: str) -> tuple[str, ...]:
        if not isinstance(node, SequenceNode):
            hint = (
                f"phases: [{node.value}]"
                if isinstance(node, ScalarNode) and node.tag == _STR
                else f"phases: [{', '.join(kinds.DEFAULT_PHASES)}]"
            )
            raise self.error(
                node, key, f"expected a list of kinds, found {_describe(node)}; write {hint}"
            )
        if not node.value:
            raise self.error(
                node,
                key,
                "empty; list at least one kind, or remove the key for the default "
                f"({', '.join(kinds.DEFAULT_PHASES)})",
            )
        phases: list[str] = []
        lines: dict[str, int] = {}
        for i, item in enumerate(node.value):
            kind = self.kind(item, _join(key, i))
            if kind in lines:
                raise self.error(
                    item,
                    _join(key, i),
                    f"{kind!r} is already a phase (line {lines[kind]}); list each kind once",
                )
            lines[kind] = _line(item)
            phases.append(kind)
        return tuple(phases)

    def top_hosts(self, node: Node, key: str) -> tuple[HostSpec, ...]:
        if not isinstance(node, SequenceNode):
            raise self.error(
                node,
                key,
                f"expected a list, found {_describe(node)}; start each entry with "
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
            spec = self.host_entry(item, _join(key, i))
            if spec.host in lines:
                raise self.error(
                    spec.line,
                    _join(_join(key, i), "host"),
                    f"{spec.host!r} is listed twice (lines {lines[spec.host]} and {spec.line}); "
                    "keep one entry",
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
                f"each host is a mapping, found {_describe(node)}; write "
                f"'- host: {example}' and 'pinned: true' (or false) under it",
            )
        found: dict = {}
        line = _line(node)
        for name, k, v in self.items(node, key, "a mapping"):
            if name not in HOST_KEYS:
                raise self.unknown(k, key, name, HOST_KEYS)
            if name == "host":
                found["host"] = self.host_name(v, _join(key, name), wildcard_ok=True)
                line = _line(v)
            elif name == "pinned":
                found["pinned"] = self.boolean(v, _join(key, name), "pinned: true or pinned: false")
            else:
                found["expect"] = self.expect(v, _join(key, name))
        if "host" not in found:
            raise self.error(
                node, _join(key, "host"), "missing; write the host name, e.g. host: api.example.com"
            )
        if "pinned" not in found:
            raise self.error(
                node,
                _join(key, "pinned"),
                "missing; write 'pinned: true' if the app pins this "
                "host's certificate, 'pinned: false' if not",
            )
        return HostSpec(found["host"], found["pinned"], found.get("expect", {}), line)

    def expect(self, node: Node, key: str) -> Mapping[str, str]:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return {}
        out: dict[str, str] = {}
        for name, k, v in self.items(node, key, "a mapping of kind: accept|reject"):
            if name not in kinds.KINDS:
                valid = tuple(kinds.KINDS)
                raise self.error(
                    k,
                    _join(key, name),
                    f"unknown kind {name!r}; {_did_you_mean(name, valid)}kinds: {', '.join(valid)}",
                )
            if not (isinstance(v, ScalarNode) and v.tag == _STR and v.value in kinds.EXPECTATIONS):
                found = repr(v.value) if isinstance(v, ScalarNode) else _describe(v)
                raise self.error(
                    v,
                    _join(key, name),
                    f"expected accept or reject, found {found}; write "
                    f"{name}: accept or {name}: reject",
                )
            out[name] = v.value
        return out

    def host_name(self, node: Node, key: str, wildcard_ok: bool) -> str:
        if not (isinstance(node, ScalarNode) and node.tag == _STR):
            raise self.error(
                node,
                key,
                f"expected a host name, found {_describe(node)}; write e.g. api.example.com",
            )
        try:
            return check_host(node.value, wildcard_ok=wildcard_ok)
        except HostNameError as e:
            raise self.error(node, key, str(e)) from None

    def top_resolve(self, node: Node, key: str) -> Mapping[str, tuple[str, int]]:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return {}
        out: dict[str, tuple[str, int]] = {}
        lines: dict[str, int] = {}
        for name, k, v in self.items(node, key, "a mapping of host: 'ip:port'"):
            path = _join(key, name)
            try:
                host = check_host(name, wildcard_ok=False)
            except HostNameError as e:
                raise self.error(k, path, str(e)) from None
            if host in lines:
                raise self.error(
                    k,
                    path,
                    f"{host!r} is listed twice (lines {lines[host]} and {_line(k)}); keep one",
                )
            lines[host] = _line(k)
            if isinstance(v, SequenceNode):
                raise self.error(
                    v,
                    path,
                    f"found a list; write 'ip:port' as one quoted value: {name}: '[::1]:8443'",
                )
            if not (isinstance(v, ScalarNode) and v.tag == _STR):
                raise self.error(
                    v,
                    path,
                    f"expected 'ip:port', found {_describe(v)}; write e.g. "
                    f"{name}: '127.0.0.1:8443'",
                )
            try:
                out[host] = check_address(v.value)
            except HostNameError as e:
                raise self.error(v, path, str(e)) from None
        return out

    def top_upstream_trust(self, node: Node, key: str) -> Path | None:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
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

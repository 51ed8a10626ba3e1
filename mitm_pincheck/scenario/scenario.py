"""Scenario files: YAML -> a typed `Scenario`; every error names the file, the line and the key.

The YAML is composed into nodes (never constructed wholesale) and walked by hand, because only
nodes know their line: a QA engineer with a 60-line scenario needs `shop.yaml:23: hosts[4].pinned`,
not "expected bool". Plain YAML also keeps the last of two duplicate keys without a word, which is
how a `pinned: false` written under a `pinned: true` silently turns a host's expectation around.
"""

from __future__ import annotations

import os
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode

from mitm_pincheck.errors import ScenarioError
from mitm_pincheck.scenario.apppackage import AppPackageReader
from mitm_pincheck.scenario.devices import DevicesReader
from mitm_pincheck.scenario.followups import FollowupReader
from mitm_pincheck.scenario.hosts import HostsReader
from mitm_pincheck.scenario.keys import expand_backup_rounds
from mitm_pincheck.scenario.model import (
    DEFAULT_SETTLE,
    DEFAULT_TIMEOUT,
    TOP_KEYS,
    Scenario,
)
from mitm_pincheck.scenario.nodes import TAG_NULL, describe
from mitm_pincheck.scenario.timing import TimingReader
from mitm_pincheck.scenario.trigger import TriggerReader
from mitm_pincheck.verdicts import kinds


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


class _Reader(
    HostsReader, TimingReader, TriggerReader, FollowupReader, AppPackageReader, DevicesReader
):
    """A whole scenario file: the top-level keys, each read by the `top_<key>` of its reader."""

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
                f"{describe(root)}",
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
        phases = values.get("phases", kinds.DEFAULT_PHASES)
        self.check_key_phases(values["hosts"], phases, nodes.get("phases"))
        rounds = max((len(h.keys.backup) for h in values["hosts"] if h.keys), default=1)
        return Scenario(
            name=values.get("name") or default_name,
            file=None if self.file == "<string>" else self.file,
            hosts=values["hosts"],
            phases=expand_backup_rounds(phases, rounds),
            trigger=values.get("trigger"),
            settle=settle,
            timeout=timeout,
            resolve=values.get("resolve", {}),
            upstream_trust=values.get("upstream_trust"),
            app=values.get("app"),
            ca_trust=values.get("ca_trust"),
            **self.followup_settings(values),
            **self.package_settings(values),
            devices=values.get("devices", ()),
        )

    def top_name(self, node: Node, key: str) -> str:
        return self.text(node, key, "name: shop-android")

    def top_app(self, node: Node, key: str) -> str | None:
        if isinstance(node, ScalarNode) and node.tag == TAG_NULL:
            return None
        return self.text(node, key, "app: 'com.example.shop 4.2.0'")

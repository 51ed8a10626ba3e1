"""Reading `phases`, `settle` and `timeout`."""

from __future__ import annotations

from yaml.nodes import Node, ScalarNode, SequenceNode

from mitm_pincheck.scenario.nodes import TAG_STR, NodeReader, describe, join_key, line_of
from mitm_pincheck.verdicts import kinds


class TimingReader(NodeReader):
    def top_settle(self, node: Node, key: str) -> float:
        return self.number(node, key)

    def top_timeout(self, node: Node, key: str) -> float:
        return self.number(node, key)

    def top_phases(self, node: Node, key: str) -> tuple[str, ...]:
        if not isinstance(node, SequenceNode):
            hint = (
                f"phases: [{node.value}]"
                if isinstance(node, ScalarNode) and node.tag == TAG_STR
                else f"phases: [{', '.join(kinds.DEFAULT_PHASES)}]"
            )
            raise self.error(
                node, key, f"expected a list of kinds, found {describe(node)}; write {hint}"
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
            kind = self.kind(item, join_key(key, i))
            if kind in lines:
                raise self.error(
                    item,
                    join_key(key, i),
                    f"{kind!r} is already a phase (line {lines[kind]}); list each kind once",
                )
            lines[kind] = line_of(item)
            phases.append(kind)
        return tuple(phases)

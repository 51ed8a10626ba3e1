"""Reading `isolate` and `max_followups`: follow-up phases for flows blocked by a refusal.

An app that stops at the first host refusing the phase's certificate never reaches the hosts
behind it, so they are `not-seen` in every forged phase. With `isolate: true` (the default) the
run then repeats the phase with the refusing hosts passed through and only the unseen hosts shown
the kind, up to `max_followups` times per phase.
"""

from __future__ import annotations

from yaml.nodes import Node, ScalarNode

from mitm_pincheck.scenario.nodes import TAG_INT, NodeReader, describe

DEFAULT_ISOLATE = True
DEFAULT_MAX_FOLLOWUPS = 3
MAX_FOLLOWUPS_LIMIT = 20  # a phase repeated more often than this is a typo, not a plan


class FollowupReader(NodeReader):
    def top_isolate(self, node: Node, key: str) -> bool:
        return self.boolean(node, key, "isolate: false")

    def top_max_followups(self, node: Node, key: str) -> int:
        if not (isinstance(node, ScalarNode) and node.tag == TAG_INT):
            raise self.error(
                node,
                key,
                f"expected a whole number of follow-up phases, found {describe(node)}; "
                f"write e.g. {key}: {DEFAULT_MAX_FOLLOWUPS}, or {key}: 0 for none",
            )
        value = int(self.scalar(node, key))
        if not 0 <= value <= MAX_FOLLOWUPS_LIMIT:
            raise self.error(
                node,
                key,
                f"must be between 0 and {MAX_FOLLOWUPS_LIMIT}, not {node.value}; "
                f"write e.g. {key}: {DEFAULT_MAX_FOLLOWUPS}",
            )
        return value

    @staticmethod
    def followup_settings(values: dict) -> dict:
        """The Scenario fields these keys set, with their defaults."""
        return {
            "isolate": values.get("isolate", DEFAULT_ISOLATE),
            "max_followups": values.get("max_followups", DEFAULT_MAX_FOLLOWUPS),
        }

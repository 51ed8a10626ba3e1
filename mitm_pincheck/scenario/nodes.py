"""Reading YAML nodes with their lines: the shapes (text, number, boolean, kind, mapping) that
every scenario key is read as, and errors that name the file, the line and the key."""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mitm_pincheck.errors import ScenarioError
from mitm_pincheck.scenario.model import HOST_KEYS, TOP_KEYS
from mitm_pincheck.verdicts import kinds

TAG_STR = "tag:yaml.org,2002:str"
TAG_INT = "tag:yaml.org,2002:int"
TAG_FLOAT = "tag:yaml.org,2002:float"
TAG_BOOL = "tag:yaml.org,2002:bool"
TAG_NULL = "tag:yaml.org,2002:null"


# Longest settle or timeout: a day. More is a typo, and would overflow the event loop's timers.
MAX_SECONDS = 86400.0
_EXPONENT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+\Z")


def _plain_exponent(node: Node) -> bool:
    """An unquoted `1e3` or `2.5E-1`, which YAML 1.1 reads as text (it wants `1.0e+3`)."""
    return (
        isinstance(node, ScalarNode)
        and node.tag == TAG_STR
        and node.style is None
        and bool(_EXPONENT.match(node.value))
    )


def line_of(node: Node) -> int:
    return node.start_mark.line + 1


def join_key(prefix: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{prefix}[{name}]"
    return f"{prefix}.{name}" if prefix else name


def describe(node: Node) -> str:
    """What the user wrote, in words: for 'expected X, found Y' messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return {
        TAG_STR: "text",
        TAG_INT: "a number",
        TAG_FLOAT: "a number",
        TAG_BOOL: f"true/false ({node.value})",
        TAG_NULL: "nothing",
    }.get(node.tag, f"a {node.tag.rsplit(':', 1)[-1]} ({node.value!r})")


def did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


class NodeReader:
    """One scenario file being checked: the YAML, and the generic shapes every key is read as.

    The readers of hosts, timing and trigger add the `top_<key>` methods; raises at the first
    problem."""

    def __init__(self, file: str, base_dir: Path):
        self.file = file
        self.base_dir = base_dir

    def error(self, where: Node | int | None, key: str | None, message: str) -> ScenarioError:
        line = line_of(where) if isinstance(where, Node) else where
        return ScenarioError(self.file, line, key, " ".join(message.split()))

    # -- YAML and generic shapes --------------------------------------------------------------

    def compose(self, text: str) -> Node | None:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
            if root is not None:
                self.check_tags(root, "", set())
        except RecursionError:
            raise self.error(
                None,
                "yaml",
                "nested too deeply to be a scenario (lists or mappings inside "
                "each other hundreds of levels deep); check the brackets",
            ) from None
        except yaml.MarkedYAMLError as e:
            raise self.yaml_error(e) from None
        except yaml.reader.ReaderError as e:
            line = text[: e.position].count("\n") + 1
            raise self.error(
                line, "yaml", f"character {e.character!r} is not allowed in YAML; remove it"
            ) from None
        except yaml.YAMLError as e:  # no position known
            raise self.error(None, "yaml", str(e)) from None
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
                    v, join_key(key, str(k.value)) if isinstance(k, ScalarNode) else key, seen
                )
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                self.check_tags(item, join_key(key, i), seen)

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
            raise self.error(node, key or None, f"expected {what}, found {describe(node)}")
        seen: dict[str, Node] = {}
        out = []
        for k, v in node.value:
            if not isinstance(k, ScalarNode):
                raise self.error(k, key or None, "keys must be plain names, not lists or mappings")
            name = str(k.value)
            if name in seen:
                raise self.error(
                    k,
                    join_key(key, name),
                    f"duplicate key (first set on line {line_of(seen[name])}); keep only one",
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
            hint = f"{did_you_mean(name, valid)}valid keys here: {', '.join(valid)}"
        return self.error(k, join_key(key, name), f"unknown key; {hint}")

    def text(self, node: Node, key: str, example: str) -> str:
        if not (isinstance(node, ScalarNode) and node.tag == TAG_STR):
            hint = (
                f"quote it: {key.rsplit('.', 1)[-1]}: '{node.value}'"
                if isinstance(node, ScalarNode) and node.tag != TAG_NULL
                else f"write e.g. {example}"
            )
            raise self.error(node, key, f"expected text, found {describe(node)}; {hint}")
        value = node.value
        if not value.strip():
            raise self.error(node, key, f"empty; write e.g. {example}, or remove the key")
        return value

    def number(self, node: Node, key: str) -> float:
        if _plain_exponent(node):  # `1e3`: YAML 1.1 calls it text, every person a number
            value = float(node.value)
        elif isinstance(node, ScalarNode) and node.tag in (TAG_INT, TAG_FLOAT):
            value = float(self.scalar(node, key))
        else:
            found = describe(node)
            if isinstance(node, ScalarNode) and node.tag == TAG_STR:
                found = f"text ({node.value!r})"
            raise self.error(
                node,
                key,
                f"expected a number of seconds, found {found}; write e.g. {key}: 5, "
                "or remove the key for the default",
            )
        if not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
            raise self.error(
                node,
                key,
                f"must be a positive number of seconds, at most {MAX_SECONDS:g} (a day), "
                f"not {node.value}; write e.g. {key}: 5",
            )
        return value

    def boolean(self, node: Node, key: str, example: str) -> bool:
        if not (isinstance(node, ScalarNode) and node.tag == TAG_BOOL):
            found = describe(node)
            if isinstance(node, ScalarNode) and node.tag == TAG_STR:
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
        if not (isinstance(node, ScalarNode) and node.tag == TAG_STR):
            raise self.error(
                node,
                key,
                f"expected a kind name, found {describe(node)}; kinds: {', '.join(valid)}",
            )
        if node.value not in kinds.KINDS:
            raise self.error(
                node,
                key,
                f"unknown kind {node.value!r}; {did_you_mean(node.value, valid)}"
                f"kinds: {', '.join(valid)}",
            )
        return node.value

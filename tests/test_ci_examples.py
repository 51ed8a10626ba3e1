"""examples/ci/: the CI recipes parse as YAML and every mitm-pincheck command in them exists.

Each command line is parsed with the real argument parser (`cli.build_parser()`), so a
renamed subcommand or flag, or a missing required argument, fails here before it fails in
someone's pipeline.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from mitm_pincheck.cli import build_parser

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "ci"
FILES = sorted(EXAMPLES.glob("*.yml"))
_OPERATORS = {";", "&&", "||", "|", "&", "(", ")", ">", ">>", "<"}
_KEYWORDS = {"then", "else", "do", "if", "!", "time", "exec"}


_SHELL_KEYS = {"run", "script", "before_script", "after_script"}  # GitHub and GitLab


def shell(node, key: str | None = None) -> list[str]:
    """Every piece of shell in a CI file: the strings under run:, script: and the like."""
    if isinstance(node, str):
        return [node] if key in _SHELL_KEYS else []
    if isinstance(node, dict):
        return [s for k, value in node.items() for s in shell(value, str(k))]
    if isinstance(node, list):
        return [s for item in node for s in shell(item, key)]
    return []


def commands(text: str) -> list[list[str]]:
    """The argument lists of every `mitm-pincheck ...` in a piece of shell."""
    text = re.sub(r"\$\{\{.*?\}\}", "EXPR", text)  # GitHub expressions: one word
    text = text.replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        if "mitm-pincheck" not in line:
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        for i, token in enumerate(tokens):
            # only where a command starts: not a step's name, not `pip install mitm-pincheck`
            before = tokens[i - 1] if i else ";"
            if token != "mitm-pincheck" or not (_is_operator(before) or before in _KEYWORDS):
                continue
            args = []
            for t in tokens[i + 1 :]:
                if _is_operator(t):
                    break
                args.append(t)
            found.append(args)
    return found


def _is_operator(token: str) -> bool:
    return token in _OPERATORS or set(token) <= set(";&|()<>")


def all_commands(path: Path) -> list[list[str]]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [c for s in shell(doc) for c in commands(s)]


def test_there_are_recipes_for_github_and_gitlab():
    assert {p.name for p in FILES} == {"github-actions.yml", "gitlab-ci.yml"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_mitm_pincheck_command_in_a_recipe_parses(path):
    found = all_commands(path)
    used = {tuple(args[:2]) for args in found}
    # the recipe does what docs/ci.md says: CA, run on the device, gate on a baseline, merge
    assert {("android", "install-ca"), ("report", "merge")} <= used
    assert any(args[0] == "run" and "--android" in args for args in found)
    assert any(args[0] == "report" and "--baseline" in args for args in found)
    parser = build_parser()
    for args in found:
        try:
            parsed = parser.parse_args(args)
        except SystemExit:
            pytest.fail(f"{path.name}: `mitm-pincheck {shlex.join(args)}` does not parse")
        assert callable(getattr(parsed, "handler", None)), args


def test_a_command_that_does_not_exist_is_caught():
    """The check above means something: a wrong flag or subcommand fails to parse."""
    parser = build_parser()
    for args in (["report", "merge", "x", "--output", "y"], ["run", "s.yaml"], ["rport", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(args)
    assert commands('foo && mitm-pincheck report "a b" --out ${{ x.y }} | tee log') == [
        ["report", "a b", "--out", "EXPR"]
    ]
    assert commands("pip install mitm-pincheck\nif x; then mitm-pincheck ca; fi") == [["ca"]]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_recipes_upload_junit_sarif_and_html(path):
    text = path.read_text(encoding="utf-8")
    assert "junit.xml" in text
    assert "report.sarif" in text
    # the whole output directory (report.html with it) is kept as an artifact
    assert re.search(r"path(s)?: \[?(pincheck-out|runs)/", text)

"""Every HTML page template, rendered with hostile values in every string, comes out inert: no
markup, attribute or script of the input's making, no control characters, valid UTF-8.

A page added to report/templates/ must be added to PAGES below (the test says so): it maps the
template to a function that renders it from a report dict whose strings the test poisons.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from html.parser import HTMLParser

import pytest
from report_samples import sample_report

from mitm_pincheck.report import baseline, pages, survey
from mitm_pincheck.report.html import render_html

HOSTILE = (
    "<script>alert(1)</script>\"'><svg onload=alert(2)><b x='1'>]]>"
    "\x1b]0;title\x07\x1b[2J\x9b31m\x00\x7f\udce9\u202e[bold red]x[/]&amp;"
)


def _with_baseline(report: dict) -> str:
    before = copy.deepcopy(report)  # a regression, a fix, newly inconclusive, hosts added, gone
    rows = before["results"]
    rows[0]["verdict"], rows[1]["verdict"], rows[3]["verdict"] = "pass", "fail", "pass"
    last = rows[-1]["host"]
    for row in rows:
        if row["host"] == last:
            row["host"] = "gone.example.com"
    return render_html(baseline.apply_baseline(report, before))


def _survey() -> dict:
    from mitm_pincheck.verdicts.survey import build_survey

    events = [{"event": "run-start", "ts": 1.0, "scenario": {"hosts": [], "survey": "active"}}]
    for i, (host, close) in enumerate([("ok.example.com", False), ("pinned.example.com", True)]):
        events.append({"event": "conn", "id": str(i), "phase": "valid-ca", "host": host})
        events.append({"event": "handshake", "id": str(i)})
        if close:
            events.append({"event": "closed", "id": str(i), "by": "client"})
        else:
            events.append({"event": "request", "id": str(i), "method": "GET", "path": "/"})
            events[-1]["credentials"] = ["cookie"]
    events.append({"event": "run-end", "ts": 2.0, "interrupted": False})
    return build_survey(events)


def _history(report: dict) -> str:
    """history.html over two runs of `report`, the second with a regression."""
    import tempfile

    from mitm_pincheck.report import writers
    from mitm_pincheck.report.history import build_history
    from mitm_pincheck.report.history_page import render_history_html

    report = copy.deepcopy(report)
    report["results"][1]["verdict"] = "pass"  # verdicts are poisoned too: set one plainly
    later = copy.deepcopy(report)
    later["started"] = "2026-11-27T20:00:00+00:00"
    later["results"][1]["verdict"] = "fail"
    with tempfile.TemporaryDirectory() as tmp:
        writers.write_all(report, f"{tmp}/a")
        writers.write_all(later, f"{tmp}/b")
        return render_history_html(build_history([f"{tmp}/a", f"{tmp}/b"], ["a", "b"]))


# template -> (a sample of its input, ways to render it): each is run clean and poisoned.
PAGES: dict[str, tuple[Callable[[], dict], list[Callable[[dict], str]]]] = {
    "report.html": (sample_report, [render_html, _with_baseline]),
    "survey.html": (_survey, [survey.render_html]),
    "history.html": (sample_report, [_history]),
}


def poison(value):
    """Every string in `value` (not the dict keys: they are the schema) gets HOSTILE added."""
    if isinstance(value, str):
        return value + HOSTILE
    if isinstance(value, dict):
        return {k: poison(v) for k, v in value.items()}
    if isinstance(value, list):
        return [poison(v) for v in value]
    return value


class Markup(HTMLParser):
    """The (tag, attribute) pairs a browser would build, and the text of <script> elements."""

    def __init__(self, page: str):
        super().__init__()
        self.pairs: set[tuple[str, str]] = set()
        self.scripts = 0
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.pairs.add((tag, ""))
        self.pairs |= {(tag, name) for name, _ in attrs}
        self.scripts += tag == "script"


def renderings():
    for template in pages.page_templates():
        sample, renders = PAGES.get(template, (None, [None]))
        for render in renders:
            name = f"{template}-{getattr(render, '__name__', '')}"
            yield pytest.param(template, sample, render, id=name)


@pytest.mark.parametrize("template,sample,render", list(renderings()))
def test_a_page_renders_hostile_values_as_inert_text(template, sample, render):
    assert render is not None, f"add {template} to PAGES in {__file__}"
    clean = render(sample())
    page = render(poison(sample()))

    page.encode("utf-8")  # lone surrogates would raise here, and in the writer
    assert "\ufffd" in page, "the surrogates and control characters were replaced"
    bad = {ch for ch in page if not ch.isprintable() and ch not in "\n\t"}
    assert not bad, f"characters a page must not carry: {sorted(map(hex, map(ord, bad)))}"
    assert "<script>alert" not in page and "<svg" not in page and "]]>" not in page
    assert "]]&gt;" in page and "&lt;script&gt;alert(1)" in page
    # No element or attribute that the clean page does not have: the input made no markup.
    found, expected = Markup(page), Markup(clean)
    assert found.pairs <= expected.pairs, found.pairs - expected.pairs
    assert found.scripts == expected.scripts == 1


def test_every_page_template_extends_the_base():
    for template in pages.page_templates():
        source = pages.environment().loader.get_source(pages.environment(), template)[0]
        assert '{% extends "base.html" %}' in source, template


def test_the_templates_ship_with_the_package():
    """pyproject.toml's package-data names them, so a non-editable install has them."""
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["package-data"]
    assert "templates/*" in data["mitm_pincheck.report"]
    names = set(pages.environment().list_templates())
    assert {"base.html", "base.css", "base.js", "report.html"} <= names


def test_a_cells_facts_are_built_escaped_value_by_value():
    """A matrix cell's facts are markup built in Python (html._facts_markup, for speed): every
    kind of fact shows its values as text, and only the tags the template used to write."""
    from types import SimpleNamespace

    from mitm_pincheck.report.html import _escaper, _facts_markup

    def facts(v):
        return [
            ("host", "text", v),
            ("phase", "code", v),
            ("connections", "text", 3),
            ("credentials leaked", "codes", [v, v]),
            ("requests", "requests", {"lines": [v, v], "more": 2}),
            ("key", "key", {"file": v, "pin": v}),
            ("notes", "lines", [v, v]),
            ("violates", "standards", [SimpleNamespace(label=v, title=v)] * 2),
            ("resumed", "text", None),
        ]

    assert _facts_markup(facts("a"), _escaper()) == (
        '<dt class="ctx">host</dt><dd class="ctx">a</dd>'
        '<dt class="ctx">phase</dt><dd class="ctx"><code>a</code></dd>'
        "<dt>connections</dt><dd>3</dd>"
        "<dt>credentials leaked</dt><dd><code>a</code>, <code>a</code></dd>"
        "<dt>requests</dt><dd><ul><li><code>a</code></li><li><code>a</code></li>"
        "<li>… and 2 more</li></ul></dd>"
        "<dt>key</dt><dd><code>a</code> a</dd>"
        "<dt>notes</dt><dd>a<br>a</dd>"
        '<dt>violates</dt><dd>a<span class="std-title">: a</span><br>'
        'a<span class="std-title">: a</span></dd>'
        "<dt>resumed</dt><dd></dd>"
    )
    esc = _escaper()  # remembers each string's escaped form: the second time is the same
    hostile = str(_facts_markup(facts(HOSTILE), esc))
    assert str(_facts_markup(facts(HOSTILE), esc)) == hostile
    assert "<script>alert" not in hostile and "<svg" not in hostile and "]]&gt;" in hostile
    assert not {ch for ch in hostile if not ch.isprintable()}
    assert Markup(hostile).pairs == Markup(str(_facts_markup(facts("a"), _escaper()))).pairs

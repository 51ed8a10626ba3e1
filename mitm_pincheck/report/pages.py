"""The HTML pages: Jinja2 templates shipped in `report/templates/`, rendered with autoescaping.

Every page extends `base.html` (the Content-Security-Policy, the shared styles and scripts), so a
new page is a template and a function that builds its context; docs/internals.md says how.
Autoescaping makes every `{{ value }}` text, never markup, whatever a server or an app sent.
`finalize` adds what escaping does not do: characters that are not printable (control
characters, lone surrogates from undecodable bytes, bidi overrides) become U+FFFD, so the page
is valid UTF-8 and shows no invisible reordering.

`text` is the same two steps for markup built in Python (a matrix cell's facts, which a big merge
has hundreds of thousands of: one template macro call per fact took seconds): whatever it builds
passes every value from a report through `text`, and only literal tags around them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

TEMPLATES = "templates"


@functools.cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("mitm_pincheck.report", TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name is an error, not an empty cell
        finalize=_printable,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )


def render(template: str, **context) -> str:
    """The page `template` (a name in report/templates/) filled with `context`."""
    return environment().get_template(template).render(**context)


def generate(template: str, **context) -> Iterator[str]:
    """The page `template` in pieces, as the template engine makes them (for big pages)."""
    return environment().get_template(template).generate(**context)


def page_templates() -> list[str]:
    """Every template that is a page (extends base.html); partials start with `_` or `base`."""
    return [
        name
        for name in environment().list_templates(extensions=["html"])
        if not name.startswith(("_", "base"))
    ]


def text(value) -> Markup:
    """`value` as a template shows `{{ value }}`: `finalize` (printable; None is empty), then
    escaped. Markup passes as it is, as in a template."""
    return escape(_printable(value))


def _printable(value) -> object:
    if value is None:
        return ""
    if isinstance(value, Markup):  # already made safe: a macro's output
        return value
    text = str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in "\t\n" else "\ufffd" for ch in text)

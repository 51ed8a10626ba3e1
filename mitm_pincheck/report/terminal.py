"""The one door to the terminal: every command prints through a Rich console made here, and every
string from the network or a scenario goes through `clean()` on its way in.

Why a step of our own: Rich drops only BEL, BS, VT, FF and CR from text. ESC, the C1 controls
(U+009B is a one-byte CSI on many terminals), DEL, lone surrogates (undecodable bytes kept by
`surrogateescape`) and bidi overrides pass through, so a request path could set the window title,
clear the screen or draw a fake table. `clean()` replaces every character Python does not call
printable with "?". Text built with `text()` is never parsed as Rich markup, so `[bold red]` or
`[link=...]` in a host name prints as typed; the consoles have markup, emoji and highlighting off
as a second guard.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # Rich is imported when something is printed, not by every command's --help
    from rich.console import Console
    from rich.style import Style
    from rich.text import Text

REPLACEMENT = "?"

# Set by the command line's --no-color; NO_COLOR (https://no-color.org) is read at each console.
_color_disabled = False


def disable_color(disabled: bool = True) -> None:
    """--no-color: no console made after this call writes colours or other styles."""
    global _color_disabled
    _color_disabled = disabled


def clean(value: object) -> str:
    """`value` as text that cannot move the cursor, set a title or reorder the line: every
    non-printable character (C0 and C1 controls, DEL, line breaks, lone surrogates, bidi and
    other format characters) becomes "?"."""
    text = "" if value is None else str(value)
    if text.isprintable():  # the common case, in C: the live view calls this per connection
        return text
    return "".join(ch if ch.isprintable() else REPLACEMENT for ch in text)


def text(value: object, style: str | Style | None = None) -> Text:
    """Untrusted `value` as Rich text: cleaned, styled as a whole, never read as markup."""
    from rich.text import Text

    return Text(clean(value), style=style or "")


def wants_color(stream: TextIO) -> bool:
    """Colours only on a terminal, and neither NO_COLOR nor --no-color given."""
    if _color_disabled or os.environ.get("NO_COLOR"):
        return False
    return is_terminal(stream)


def is_terminal(stream: TextIO) -> bool:
    """A real terminal that understands cursor movement (not a pipe, a file or TERM=dumb)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


def console(
    stream: TextIO | None = None,
    *,
    terminal: bool | None = None,
    color: bool | None = None,
    width: int | None = None,
    height: int | None = None,
) -> Console:
    """A console over `stream` (default stdout). `terminal`: whether cursor movement and styles
    may be written (default: the stream is a terminal); `color`: styles (default: a terminal,
    no NO_COLOR, no --no-color); `width`: default the terminal's, or unlimited off a terminal,
    so that logs keep one line per line."""
    from rich.console import Console

    stream = stream if stream is not None else sys.stdout
    if terminal is None:
        terminal = is_terminal(stream)
    if color is None:
        color = terminal and wants_color(stream)
    if width is None and not terminal:
        width = 100_000
    return Console(
        file=stream,
        force_terminal=terminal,
        no_color=not color,
        color_system="standard" if color else None,
        width=width,
        height=height,
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=False,
        force_interactive=terminal,
        legacy_windows=False,
        tab_size=1,
    )


def capture(renderable_fn, *, color: bool, width: int | None) -> str:
    """What `renderable_fn(console)` prints, as a string (for tests and the plain-text paths)."""
    import io

    buffer = io.StringIO()
    out = console(buffer, terminal=color, color=color, width=width or 100_000)
    renderable_fn(out)
    return buffer.getvalue()

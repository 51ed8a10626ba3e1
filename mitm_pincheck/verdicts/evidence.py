"""Making a value from the network fit to record: any bytes, bounded size, no secrets.

An app (or anyone on the network) chooses the request paths and header names the journal
records. They may hold bytes that are not UTF-8 (mitmproxy keeps them as lone surrogates, which
no UTF-8 file can hold), be megabytes long, or carry secrets in places the documented fields do
not name (`;jsessionid=`, an encoded `?`). Everything recorded passes through here, when it is
journaled and again when a journal is read back, so an old or hand-edited journal gets the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Caps per recorded value and per list, generous for real traffic: a real path is rarely
# longer than a few hundred characters, a real request has a few dozen headers.
MAX_TEXT = 512
MAX_ITEMS = 64

_SURROGATE = re.compile("[\ud800-\udfff]")
# An encoded `?` or `#` (also encoded again: %253F) starts a query the server may decode.
_ENCODED_QUERY = re.compile(r"%(?:25)*(?:3f|23)", re.IGNORECASE)
# A path parameter (`;jsessionid=...`), literal or encoded, runs to the end of its segment.
_PARAM = re.compile(r"(?:;|%(?:25)*3b)[^/]*", re.IGNORECASE)


def clean_text(value: object) -> str:
    """`value` as text any UTF-8 writer takes: each byte that was not UTF-8 becomes `\\xNN`."""
    text = value if isinstance(value, str) else str(value)
    if not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(_escape_surrogate, text)


def _escape_surrogate(m: re.Match) -> str:
    code = ord(m.group())
    # mitmproxy's surrogateescape maps byte 0xNN to U+DCNN (0x80..0xff)
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def cap_text(value: object, limit: int = MAX_TEXT) -> str:
    """Clean `value` and cut it to `limit` characters, saying how much was cut."""
    text = clean_text(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[{len(text) - limit} more characters cut]"


def cap_items(items: Iterable[object], limit: int = MAX_ITEMS) -> list[str]:
    """Each item cleaned and capped; at most `limit` of them, the last saying how many were cut."""
    out: list[str] = []
    extra = 0
    for item in items:
        if len(out) < limit:
            out.append(cap_text(item))
        else:
            extra += 1
    if extra:
        out.append(f"…[{extra} more cut]")
    return out


def split_path(target: str) -> tuple[str, bool]:
    """(the path of a request target fit to record, whether a query was cut).

    Cut: the query and fragment, an encoded `?` or `#` and all after it, and path parameters
    (`;jsessionid=...`), which servers use exactly like a query, for session ids too."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    had_query = len(path) != len(target)
    if m := _ENCODED_QUERY.search(path):
        path, had_query = path[: m.start()], True
    path = _PARAM.sub("", path)
    return cap_text(path), had_query


def safe_path(target: str) -> str:
    return split_path(target)[0]

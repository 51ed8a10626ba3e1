"""Write every report format from one report dict, each file atomically.

Every format is written to a temporary name in the same directory before the first one is
renamed over the old file, so a rendering error leaves the previous set untouched and a reader
(CI, a person with the HTML open) never sees half a file.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from mitm_pincheck.report.html import iter_html
from mitm_pincheck.report.junit import render_junit
from mitm_pincheck.report.markdown import render_markdown
from mitm_pincheck.report.sarif import render_sarif

ROW_PER_LINE_OVER = 5_000  # rows


def render_json(report: Mapping) -> str:
    return "".join(iter_json(report))


def iter_json(report: Mapping) -> Iterator[str]:
    """Indented JSON; a very big report (a merge of hundreds of runs) puts each result row on
    one line instead, in pieces: the same data, written by json's C encoder (indenting is pure
    Python, several times slower and a multiple of the file in memory)."""
    results = report.get("results")
    if not isinstance(results, list) or len(results) <= ROW_PER_LINE_OVER:
        yield json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
        return
    compact = json.JSONEncoder(ensure_ascii=False).encode
    yield "{\n"
    for i, (key, value) in enumerate(report.items()):
        comma = "," if i < len(report) - 1 else ""
        if key == "results":
            yield '  "results": ['
            for n, row in enumerate(value):
                yield ("\n    " if n == 0 else ",\n    ") + compact(row)
            yield f"\n  ]{comma}\n"
        else:
            yield f"  {compact(key)}: {compact(value)}{comma}\n"
    yield "}\n"


# File name -> renderer, in the order they are written (and returned). A renderer returns the
# text, or an iterator of its pieces (written as they come, never held whole).
FORMATS: dict[str, Callable[[Mapping], str | Iterable[str]]] = {
    "report.json": iter_json,
    "report.html": iter_html,
    "junit.xml": render_junit,
    "report.md": render_markdown,
    "report.sarif": render_sarif,
}


def render_all(report: Mapping) -> dict[str, str]:
    """File name -> contents, for every format."""
    return {name: _text(render(report)) for name, render in FORMATS.items()}


def write_all(report: Mapping, out_dir: Path) -> list[Path]:
    """Write report.json, report.html, junit.xml, report.md and report.sarif into `out_dir`
    (created if missing); return their paths.

    Each format is written to a temporary file, piece by piece, before the next is rendered (a
    merge of hundreds of runs makes reports of tens of megabytes each); only when all are on
    disk do they replace the old files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done: list[tuple[Path, Path]] = []
    try:
        for name, render in FORMATS.items():
            done.append((_write_temporary(out_dir / name, render(report)), out_dir / name))
    except BaseException:
        for tmp, _ in done:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, path in done:
        os.replace(tmp, path)
    return [path for _, path in done]


def write_atomic(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` via a temporary file in the same directory + os.replace."""
    path = Path(path)
    os.replace(_write_temporary(path, text), path)
    return path


def _write_temporary(path: Path, text: str | Iterable[str]) -> Path:
    """`text` (or its pieces) in a fresh temporary file beside `path`, synced; removed again
    on failure."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open with 0o666 lets the umask decide the mode, like a plain open() would; a
    # NamedTemporaryFile would leave every report 0600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="\n") as f:
            if isinstance(text, str):
                f.write(text)
            else:
                for piece in text:
                    f.write(piece)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _text(rendered: str | Iterable[str]) -> str:
    return rendered if isinstance(rendered, str) else "".join(rendered)

"""Write every report format from one report dict, each file atomically.

All formats are rendered before the first file is written, so a rendering error leaves the
previous set untouched, and each file is written to a temporary name in the same directory and
renamed over the old one, so a reader (CI, a person with the HTML open) never sees half a file.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

from mitm_pincheck.report.html import render_html
from mitm_pincheck.report.junit import render_junit
from mitm_pincheck.report.markdown import render_markdown


def render_json(report: Mapping) -> str:
    return json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


# File name -> renderer, in the order they are written (and returned).
FORMATS: dict[str, Callable[[Mapping], str]] = {
    "report.json": render_json,
    "report.html": render_html,
    "junit.xml": render_junit,
    "report.md": render_markdown,
}


def render_all(report: Mapping) -> dict[str, str]:
    """File name -> contents, for every format."""
    return {name: render(report) for name, render in FORMATS.items()}


def write_all(report: Mapping, out_dir: Path) -> list[Path]:
    """Write report.json, report.html, junit.xml and report.md into `out_dir` (created if
    missing); return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered = render_all(report)
    return [write_atomic(out_dir / name, text) for name, text in rendered.items()]


def write_atomic(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` via a temporary file in the same directory + os.replace."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open with 0o666 lets the umask decide the mode, like a plain open() would; a
    # NamedTemporaryFile would leave every report 0600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path

"""stdout and stderr that survive their reader going away.

`mitm-pincheck run ... | head -1` closes the pipe after one line. A write after that raises
BrokenPipeError wherever it happens (a progress line inside a signal handler, the final table),
and the run would lose its reports or ignore Ctrl-C. Once a stream's reader is gone, its writes
go nowhere and the run carries on to its reports.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys


class _Guarded:
    """A text stream whose writes are dropped once its pipe is closed."""

    def __init__(self, stream):
        self._stream = stream
        self.closed_pipe = False

    def write(self, text: str) -> int:
        if not self.closed_pipe:
            try:
                return self._stream.write(text)
            except OSError as e:
                self._gone(e)
        return len(text)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self._stream.flush()
            except OSError as e:
                self._gone(e)

    def _gone(self, e: OSError) -> None:
        if not isinstance(e, BrokenPipeError) and e.errno not in (errno.EPIPE, errno.EIO):
            raise e
        self.closed_pipe = True
        # Point the descriptor at /dev/null, so the interpreter's own flush at exit (and any
        # writer that bypasses this object) does not fail either.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name):  # isatty, fileno, encoding, buffer, ...
        return getattr(self._stream, name)


def guard_standard_streams() -> None:
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _Guarded):
            setattr(sys, name, _Guarded(stream))


def say(line: str) -> None:
    """One line on stderr, whatever state stderr is in. Whatever it quotes (a scenario's keys,
    a path, a device's name) goes through `terminal.clean()`: one line, no control sequence."""
    from mitm_pincheck.report.terminal import clean

    with contextlib.suppress(Exception):
        print(clean(line), file=sys.stderr, flush=True)


def last_error() -> str:
    """The exception being handled, in one short line."""
    e = sys.exc_info()[1]
    from mitm_pincheck.report.terminal import clean

    text = " ".join(f"{type(e).__name__}: {e}".split()) if e is not None else "unknown error"
    return clean(text[:300])

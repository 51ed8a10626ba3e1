"""Runs a trigger command so that it ends with the run, even when the run is killed with -9.

The runner starts `python guard.py RUNNER_PID COMMAND` as the leader of a new process group
(so that stopping a phase can stop everything the trigger started). A process group outlives
its parent, so the guard asks Linux for a signal when the runner dies (PR_SET_PDEATHSIG) and
then ends its whole group: the shell and whatever it started. Standard library only, and run
by path, so it works wherever the runner's Python does (mitmdump's included).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
GRACE = 3.0  # seconds between SIGTERM and SIGKILL for the trigger's processes


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _end_group(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.killpg(0, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                time.sleep(0.05)
        except ChildProcessError:
            break
    with contextlib.suppress(OSError):
        os.killpg(0, signal.SIGKILL)  # this process too
    os._exit(128 + signal.SIGTERM)


def main(argv: list[str]) -> int:
    runner_pid, command = int(argv[1]), argv[2]
    signal.signal(signal.SIGTERM, _end_group)
    signal.signal(signal.SIGHUP, _end_group)
    die_with_parent(signal.SIGTERM)
    if os.getppid() != runner_pid:  # the runner died before the request took effect
        return 128 + signal.SIGTERM
    child = subprocess.Popen(["/bin/sh", "-c", command])
    while True:
        try:
            returncode = child.wait()
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries already
            continue
    if returncode < 0:  # killed by a signal: end the same way, so the runner sees it
        signal.signal(-returncode, signal.SIG_DFL)
        os.kill(os.getpid(), -returncode)
    return returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))

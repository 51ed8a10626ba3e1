"""Run the conformance matrix against the real client stacks and write docs/conformance.md.

    python tools/conformance.py          (what `make conformance` runs)

It runs tests/test_conformance.py with PINCHECK_CONFORMANCE_DOC set: every client stack must be
installed (a missing one fails instead of being skipped), and the table between the markers
in docs/conformance.md is replaced with what the clients did; the prose around it is kept.
Exit status is pytest's: 0 when every cell matched what the test expects.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "conformance.md"


def main() -> int:
    env = {**os.environ, "PINCHECK_CONFORMANCE_DOC": str(DOC)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    cmd += ["tests/test_conformance.py", "-k", "every_kind"]
    return subprocess.call(cmd, cwd=REPO, env=env)


if __name__ == "__main__":
    sys.exit(main())

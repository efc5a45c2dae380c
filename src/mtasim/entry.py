"""The ``mtasim`` command's entry point: loads the command line, catching a Ctrl-C that arrives while the
libraries are still loading (the first half second), so that it too ends in one line, not a traceback."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        print("mtasim: interrupted while starting; nothing was written", file=sys.stderr)
        return 130
    return run()

"""Reading log files: plain or gzip'd (by content, not name), line by line, never whole.

A binary, empty or unreadable file is refused with one line naming it (:class:`LogError`). Several
files are merged by time (:func:`merge`): rotated files may come in any order, and their lines out of
order across files end up in time order.
"""

from __future__ import annotations

import gzip
import heapq
import zlib
from collections.abc import Callable, Iterable, Iterator

from ..config import ConfigError
from .events import Event

__all__ = ["LogError", "read_lines", "merge"]

_GZIP_MAGIC = b"\x1f\x8b"
_PROBE = 8192


class LogError(ConfigError):
    """Bad log input: ``FILE: what was expected`` (exit status 2 like every input error)."""

    def __init__(self, source: str, expected: str, line: int | None = None):
        super().__init__(source, f"line {line}" if line else "", expected)


def _open(path: str):
    try:
        raw = open(path, "rb")
    except IsADirectoryError:
        raise LogError(path, "expected a log file, got a directory") from None
    except OSError as exc:
        raise LogError(path, f"cannot read it: {exc.strerror or exc}") from None
    head = raw.peek(_PROBE)[:_PROBE] if hasattr(raw, "peek") else b""
    if head.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=raw, mode="rb"), True
    return raw, False


def read_lines(path: str) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each line of ``path`` (gzip'd or not), newline stripped, streamed.

    UTF-8 with undecodable bytes replaced (a log is not a text the user wrote); a NUL byte in the
    first 8 KiB means it is not a text log at all."""
    handle, zipped = _open(path)
    what = "the gzip data" if zipped else "it"
    n = 0
    try:
        with handle:
            first = True
            for raw in handle:
                if first:
                    if b"\0" in raw[:_PROBE]:
                        raise LogError(path, "expected a text log, got binary data (a NUL byte in the first line)")
                    raw = raw.removeprefix(b"\xef\xbb\xbf")
                    first = False
                n += 1
                yield n, raw.decode("utf-8", "replace").rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as exc:
        raise LogError(path, f"cannot read {what}: {getattr(exc, 'strerror', None) or exc}",
                       n + 1 if n else None) from None
    if n == 0:
        raise LogError(path, "the file is empty: expected a mail log")


def merge(streams: Iterable[Iterator[Event]]) -> Iterator[Event]:
    """The events of several files in time order (each file's own order kept for equal times)."""
    return heapq.merge(*streams, key=_time)


_time: Callable[[Event], float] = lambda e: e.time_s      # noqa: E731

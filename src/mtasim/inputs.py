"""Reading untrusted input safely: files that must be regular files of bounded size and UTF-8 text, YAML
with bounded nesting and size and no tags beyond plain data, names that are safe in headers and logs, and
the limits on work that a run may ask for (lifted with ``--no-limits`` or ``MTASIM_NO_LIMITS=1``).

Every refusal is a :class:`~mtasim.config.ConfigError`: one line naming the file (or flag), the key and
what was expected.
"""

from __future__ import annotations

import math
import os
import re
import stat
from typing import Any

import yaml

from .config import ConfigError

__all__ = ["MAX_FILE_BYTES", "MAX_YAML_DEPTH", "MAX_YAML_NODES", "MAX_ATTEMPTS_PER_MESSAGE",
           "MAX_WARNINGS_PER_MESSAGE", "read_text_file", "regular_file_size", "load_yaml", "load_yaml_value",
           "escape", "limits_enabled", "set_limits", "format_bytes", "check_domain_name", "DOMAIN_NAME", "check_work",
           "work_per_message"]

#: Input files (scenarios, imported configurations) larger than this are refused before reading.
MAX_FILE_BYTES = 64 * 2**20
#: Deepest nesting of lists and mappings a YAML document may have (a scenario needs fewer than 10).
MAX_YAML_DEPTH = 64
#: Most YAML nodes a document may have, aliases counted at their full size (each time they are used).
MAX_YAML_NODES = 1_000_000
#: Most attempts one message may get (when every attempt fails) unless limits are lifted.
MAX_ATTEMPTS_PER_MESSAGE = 100_000
#: Most delay warnings one message may get unless limits are lifted.
MAX_WARNINGS_PER_MESSAGE = 10_000

_LIMITS = {"on": os.environ.get("MTASIM_NO_LIMITS", "").strip() in ("", "0")}


def limits_enabled() -> bool:
    """Whether the work limits apply (``--no-limits`` or ``MTASIM_NO_LIMITS=1`` lift them)."""
    return _LIMITS["on"]


def set_limits(on: bool) -> None:
    _LIMITS["on"] = bool(on)


# -- showing untrusted text --------------------------------------------------------------------------
def escape(text: str) -> str:
    """``text`` with every non-printable character (newline, CR, ESC, ...) written as a Python escape, so
    that it stays on one line and nothing raw reaches a terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def format_bytes(n: float) -> str:
    """``7.5 GiB``, ``2.0 KiB``, ``512 B``: a size or a memory estimate for an error line."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} B"


# -- files -------------------------------------------------------------------------------------------
def read_text_file(path: str | os.PathLike, *, encoding: str = "utf-8", source: str | None = None,
                   max_bytes: int | None = None) -> str:
    """The text of a regular file of at most ``max_bytes``, decoded strictly; ConfigError otherwise.

    The file is opened without blocking and checked with fstat before anything is read, so that a FIFO,
    a device (/dev/zero) or a directory is refused at once instead of hanging or filling memory."""
    source = source if source is not None else str(path)
    max_bytes = MAX_FILE_BYTES if max_bytes is None else max_bytes
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise ConfigError(source, "", "no such file") from None
    except IsADirectoryError:
        raise ConfigError(source, "", "cannot read the file: it is a directory") from None
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read the file ({exc.strerror or exc.__class__.__name__})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(source, "", "cannot read the file: it is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(source, "", f"cannot read the file: expected a regular file, got {_file_kind(info.st_mode)}")
        if info.st_size > max_bytes:
            raise ConfigError(source, "", f"expected a file of at most {max_bytes // 2**20} MB, got "
                              f"{info.st_size / 2**20:,.0f} MB")
        with os.fdopen(fd, "rb") as f:
            fd = -1
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read the file ({exc.strerror or exc.__class__.__name__})") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > max_bytes:
        raise ConfigError(source, "", f"expected a file of at most {max_bytes // 2**20} MB")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ConfigError(source, "", f"cannot read the file: expected a text file, got binary data (a NUL byte at offset {nul:,})")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ConfigError(source, "", f"cannot read the file: expected UTF-8 text, got an undecodable byte 0x{data[exc.start]:02x} at "
                          f"offset {exc.start:,}") from None


def regular_file_size(path: str | os.PathLike, source: str | None = None) -> int:
    """The size in bytes of ``path`` if it is a regular file; ConfigError naming what it is otherwise (a
    FIFO would hang the reader, a device never end). For files read as a stream rather than whole, such
    as the result CSVs ``plot`` reads; a missing file is FileNotFoundError, for the caller to explain."""
    source = source if source is not None else str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read the file ({exc.strerror or exc.__class__.__name__})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(source, "", "cannot read the file: it is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(source, "", "cannot read the file: expected a regular file, got "
                          f"{_file_kind(info.st_mode)}")
    return info.st_size


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "something that is not a regular file"


# -- YAML --------------------------------------------------------------------------------------------
class _LimitError(yaml.YAMLError):
    def __init__(self, problem: str, mark: Any):
        super().__init__(problem)
        self.problem, self.problem_mark = problem, mark


class _Bounded:
    """Composer hooks refusing nesting deeper than MAX_YAML_DEPTH and more than MAX_YAML_NODES nodes
    (aliases counted at their full size each time they are used, so that "billion laughs" is refused)."""

    def _start_bounds(self) -> None:
        self._depth = 0
        self._weights: dict[int, int] = {}
        self._total = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)
            self._count(self._weights.get(id(node), 1), event.start_mark)
            return node
        event = self.peek_event()
        nested = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        if nested:
            self._depth += 1
            if self._depth > MAX_YAML_DEPTH:
                raise _LimitError(f"nested deeper than {MAX_YAML_DEPTH} levels", event.start_mark)
        before = self._total
        self._count(1, event.start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1
        if event.anchor is not None:
            self._weights[id(node)] = self._total - before
        return node

    def _count(self, n: int, mark: Any) -> None:
        self._total += n
        if self._total > MAX_YAML_NODES:
            raise _LimitError(f"more than {MAX_YAML_NODES:,} values (aliases counted each time they are used)",
                              mark)

    def construct_yaml_timestamp(self, node: Any) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(None, None, f"not a valid date or time ({exc})",
                                                    node.start_mark) from None


class SafeDataLoader(_Bounded, yaml.SafeLoader):
    """SafeLoader (plain data only) that refuses duplicate keys, keys that are not scalars, and documents
    nested too deeply or too large (:class:`_Bounded`)."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._start_bounds()


if getattr(yaml, "__with_libyaml__", False):
    from yaml.composer import Composer
    from yaml.constructor import SafeConstructor
    from yaml.cyaml import CParser
    from yaml.resolver import Resolver

    class _FastSafeDataLoader(_Bounded, Composer, CParser, SafeConstructor, Resolver):
        """The same with libyaml's parser (about five times faster); composed in Python for the bounds."""

        def __init__(self, stream: Any):
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._start_bounds()

    _LOADERS: tuple[type, ...] = (SafeDataLoader, _FastSafeDataLoader)
else:                                                           # pragma: no cover - PyYAML without libyaml
    _LOADERS = (SafeDataLoader,)


def _construct_mapping(loader: SafeDataLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "expected a plain key (text or a number), got a "
                f"{'list' if isinstance(key_node, yaml.SequenceNode) else 'mapping'} as a key", key_node.start_mark)
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, f"expected a plain key, got {key!r}",
                                                    key_node.start_mark) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
    return loader.construct_mapping(node, deep=deep)


for _loader in _LOADERS:
    # yaml_constructors is per class (copied on the first add_constructor): both loaders get both
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _loader.add_constructor("tag:yaml.org,2002:timestamp", _Bounded.construct_yaml_timestamp)


def load_yaml(text: str, source: str, where: str = "") -> Any:
    """Parse YAML ``text`` with :class:`SafeDataLoader`; any problem is one ConfigError naming ``source``,
    the line and column (after ``where``, e.g. the flag's key) and the problem."""
    try:
        return yaml.load(text, Loader=_LOADERS[-1])  # noqa: S506 - safe: SafeConstructor only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        where = ", ".join(p for p in (where, at) if p)
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["unreadable"])[0]
        raise ConfigError(source, where, f"invalid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(source, where, "invalid YAML: nested too deeply") from None


def load_yaml_value(text: str, source: str) -> Any:
    """A ``--set NAME=VALUE`` value: YAML plain data only (no tags that build objects), errors in one line."""
    return load_yaml(text, source)


# -- names in headers and logs ---------------------------------------------------------------------------
#: A domain or host name (RFC 5321 §4.1.2 Domain, RFC 1123 §2.1): dot-separated labels of letters, digits and
#: hyphens, not starting or ending with a hyphen, at most 63 characters each and 253 in all.
DOMAIN_NAME = re.compile(r"^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                         r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


def check_domain_name(node: Any, what: str = "a domain name such as partner.example") -> str:
    """The node's text if it is a valid domain name (RFC 5321), else a ConfigError saying so."""
    name = node.as_text()
    if not DOMAIN_NAME.match(name):
        raise node.error(f"expected {what} (letters, digits, hyphens and dots; labels of at most 63 "
                         f"characters, 253 in all), got {name!r}")
    return name


# -- work a sender asks for ----------------------------------------------------------------------------
#: Attempts traced at most to estimate a sender's work; beyond, the rate so far is extrapolated.
_PROBE_ATTEMPTS = 2_000


def work_per_message(sender: Any, horizon_s: float | None) -> tuple[float, float, float]:
    """Estimated (attempts, delay warnings, seconds in the queue) of one message whose every attempt fails:
    the most the sender can spend on a message. Traced with mtasim.sender.trace_schedule for a 4xx reply, a
    refused and a timed-out connection, cut short after a few thousand attempts and extrapolated at the rate
    so far to the expiry, the attempt limit or the horizon (infinite when none bounds it)."""
    from dataclasses import replace

    from .sender import trace_schedule

    quiet = replace(sender, delay_warning_s=None, delay_warning_later_s=(), delay_warning_repeat_s=None)
    attempts = life = 0.0
    for failure in ("451 4.3.0 x", "refused", "timeout"):
        trace = trace_schedule(quiet, until_s=horizon_s, failure=failure, max_attempts=_PROBE_ATTEMPTS)
        n = len(trace.attempts_s)
        if trace.give_up_s is not None:
            count, end = float(n), trace.give_up_s
        elif n < _PROBE_ATTEMPTS:                   # stopped at the horizon
            count, end = float(n), float(horizon_s or 0.0)
        else:                                       # cut short: extrapolate at the rate so far
            last = float(trace.attempts_s[-1])
            bounds = [b for b in (sender.expiry_s, horizon_s) if b is not None]
            end = min(bounds) if bounds else math.inf
            if sender.max_attempts is not None:
                end = min(end, last / n * sender.max_attempts) if last > 0 else end
            count = math.inf if last <= 0 or math.isinf(end) else n * end / last
            if sender.max_attempts is not None:
                count = min(count, float(sender.max_attempts))
        attempts, life = max(attempts, count), max(life, end)
    warnings = 0.0
    if sender.delay_warning_s is not None:
        warnings = 1.0 + len(sender.delay_warning_later_s)
        if sender.delay_warning_repeat_s:
            warnings += life / sender.delay_warning_repeat_s
    return attempts, warnings, life


def check_work(sender: Any, horizon_s: float | None, source: str, key: str = "sender") -> None:
    """Refuse, before anything runs, a sender that would try one message more than MAX_ATTEMPTS_PER_MESSAGE
    times or warn about it more than MAX_WARNINGS_PER_MESSAGE times (unless limits are lifted)."""
    if not limits_enabled():
        return
    attempts, warnings, life = work_per_message(sender, horizon_s)
    lift = "; --no-limits (or MTASIM_NO_LIMITS=1) runs it anyway"
    if attempts > MAX_ATTEMPTS_PER_MESSAGE:
        from .durations import format_duration
        over = "without end" if math.isinf(life) else f"over {format_duration(life)}"
        about = "unbounded" if math.isinf(attempts) else f"about {attempts:,.0f}"
        raise ConfigError(source, key,
                          f"expected at most {MAX_ATTEMPTS_PER_MESSAGE:,} attempts per message, got {about} for a "
                          f"message that never gets through ({over}): a longer wait, a shorter expiry or a "
                          f"horizon{lift}")
    if warnings > MAX_WARNINGS_PER_MESSAGE:
        from .durations import format_duration
        raise ConfigError(source, f"{key}.delay_warning_repeat" if key else "delay_warning_repeat",
                          f"expected at most {MAX_WARNINGS_PER_MESSAGE:,} delay warnings per message, got about "
                          f"{warnings:,.0f} (one every {format_duration(sender.delay_warning_repeat_s or 0)} over "
                          f"{format_duration(life)}){lift}")

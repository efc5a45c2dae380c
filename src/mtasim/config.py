"""Strict, path-aware reading of parsed YAML nodes.

Every scenario error must name the file, the key path (``recipients[0].outages[1].end``) and what was
expected, and a typo'd key must be refused with the closest known key. :class:`Node` carries the path
with the value so that schedules, presets and recipients can read their own sections and still report
errors in that one shape.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import Any, TypeVar, overload

from .durations import MAX_DURATION_S, DurationError, format_duration, parse_duration

__all__ = ["ConfigError", "Node", "closest"]

T = TypeVar("T")
#: Whole numbers beyond this (about 1.8e308, the largest float) are refused as numbers.
_LARGEST_WHOLE = 2**1023
_MISSING = object()
#: Where a moment is a timestamp rather than a duration since the start: it begins with a date.
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}")


class ConfigError(ValueError):
    """Bad input. ``str(error)`` is the one line shown to the user."""

    def __init__(self, source: str, path: str, expected: str):
        self.source, self.path, self.expected = source, path, expected
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {expected}")


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name a typo most likely meant, or None."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    if not matches:
        lowered = {k.lower(): k for k in known}
        if name.lower() in lowered:
            return lowered[name.lower()]
    return matches[0] if matches else None


class Node:
    """A value from the scenario with its key path; mapping nodes track which keys were read."""

    def __init__(self, value: Any, source: str, path: str = ""):
        self.value = value
        self.source = source
        self.path = path
        self._used: set[str] = set()

    # -- errors ---------------------------------------------------------------------------------
    def error(self, expected: str, key: str | None = None) -> ConfigError:
        return ConfigError(self.source, self._join(key) if key is not None else self.path, expected)

    def _join(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    # -- structure ------------------------------------------------------------------------------
    def require_mapping(self, what: str = "a mapping of keys") -> "Node":
        if not isinstance(self.value, dict):
            raise self.error(f"expected {what}, got {_describe(self.value)}")
        bad = [k for k in self.value if not isinstance(k, str)]
        if bad:
            raise self.error(f"expected text keys, got {bad[0]!r}")
        return self

    def has(self, key: str) -> bool:
        return isinstance(self.value, dict) and key in self.value and self.value[key] is not None

    def child(self, key: str | int) -> "Node":
        if isinstance(key, str):
            self._used.add(key)
        return Node(self.value[key], self.source, self._join(key))

    @overload
    def get(self, key: str) -> "Node": ...

    @overload
    def get(self, key: str, default: Any) -> "Node | None": ...

    def get(self, key: str, default: Any = _MISSING) -> "Node | None":
        """The child node, or None when absent and a default was given; an error when required."""
        self.require_mapping()
        if key in self.value and self.value[key] is not None:
            return self.child(key)
        self._used.add(key)
        if default is _MISSING:
            # A missing required key is most often a typo of it among the keys nobody asked for.
            typo = closest(key, [k for k in self.value if k not in self._used])
            if typo is None:
                raise self.error(f"missing required key '{key}'", key)
            raise self.error(f"unknown key '{typo}'; did you mean '{key}'?", typo)
        return None

    def items(self) -> Iterator[tuple[str, "Node"]]:
        self.require_mapping()
        for key in list(self.value):
            yield key, self.child(key)

    def elements(self, what: str = "a list") -> list["Node"]:
        if not isinstance(self.value, list):
            raise self.error(f"expected {what}, got {_describe(self.value)}")
        return [Node(v, self.source, self._join(i)) for i, v in enumerate(self.value)]

    def finish(self, extra_known: Iterable[str] = (), hint: Callable[[str], str | None] | None = None) -> None:
        """Refuse keys nobody read, suggesting the closest key that was read (or ``extra_known``)."""
        if not isinstance(self.value, dict):
            return
        known = self._used | set(extra_known)
        for key in self.value:
            if key not in self._used:
                extra = hint(key) if hint else None
                guess = closest(key, known)
                message = f"unknown key '{key}'"
                if extra:
                    message += f"; {extra}"
                elif guess:
                    message += f"; did you mean '{guess}'?"
                else:
                    message += f"; known keys: {', '.join(sorted(known))}"
                raise self.error(message, key)

    # -- scalars --------------------------------------------------------------------------------
    def as_duration(self, *, allow_zero: bool = False) -> float:
        try:
            return parse_duration(self.value, allow_zero=allow_zero)
        except DurationError as exc:
            raise self.error(str(exc)) from None

    def as_time(self, scenario_start: datetime, *, allow_zero: bool = False) -> float:
        """A moment in seconds since t = 0: a duration since the start, or an ISO 8601 timestamp
        (``2026-11-27T18:00:00+01:00``; YAML may already give a datetime or a date) taken relative to the
        scenario's start, so that windows can be written as the times people know them by. A timestamp
        without a zone is read on the start's clock (its UTC offset); one before the start is an error."""
        value = self.value
        if isinstance(value, str) and _TIMESTAMP.match(value.strip()):
            try:
                value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise self.error(f"expected an ISO 8601 timestamp such as 2026-11-27T18:00:00+01:00, "
                                 f"got {value!r}") from None
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        if not isinstance(value, datetime):
            try:
                return parse_duration(value, allow_zero=allow_zero)
            except DurationError as exc:
                text = str(exc)
                if text.startswith("expected a duration such as"):         # neither form: name both
                    text = ("expected a duration since the start such as 1h30m or an ISO 8601 timestamp such as "
                            f"2026-11-27T18:00:00+01:00{text[text.rindex(', got '):]}")
                raise self.error(text) from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=scenario_start.tzinfo)
        seconds = (value - scenario_start).total_seconds()
        if seconds < 0 or (seconds == 0 and not allow_zero):
            before = f", {format_duration(-seconds)} before it" if seconds < 0 else ""
            after = "at or after" if allow_zero else "after"
            raise self.error(f"expected a time {after} the scenario's start ({scenario_start.isoformat()}), "
                             f"got {value.isoformat()}{before}")
        if seconds > MAX_DURATION_S:
            raise self.error(f"expected a time within 100 years of the scenario's start "
                             f"({scenario_start.isoformat()}), got {value.isoformat()}")
        return seconds

    def as_number(self, *, minimum: float | None = None, maximum: float | None = None,
                  integer: bool = False, exclusive_minimum: bool = False) -> float:
        value = self.value
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        # NaN (YAML .nan) passes every comparison and infinity every minimum: refuse both here; a whole
        # number too large for a float (10**400) is refused rather than overflowing later.
        if ok and isinstance(value, float):
            ok = math.isfinite(value) and (not integer or value.is_integer())
        elif ok and abs(value) > _LARGEST_WHOLE:
            ok = False
        what = "a whole number" if integer else "a number"
        bounds = _bounds_text(minimum, maximum, exclusive_minimum)
        if not ok:
            raise self.error(f"expected {what}{bounds}, got {_describe(value)}")
        if minimum is not None and (value < minimum or (exclusive_minimum and value == minimum)):
            raise self.error(f"expected {what}{bounds}, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.error(f"expected {what}{bounds}, got {value!r}")
        return int(value) if integer else float(value)

    def as_text(self) -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.error(f"expected text, got {_describe(self.value)}")
        return self.value.strip()

    def as_choice(self, choices: Iterable[str]) -> str:
        choices = list(choices)
        text = self.value if isinstance(self.value, str) else None
        if text not in choices:
            guess = closest(str(self.value), choices) if text else None
            tip = f"; did you mean '{guess}'?" if guess else ""
            raise self.error(f"expected one of {', '.join(choices)}, got {self.value!r}{tip}")
        return text

    # -- convenience on mappings ------------------------------------------------------------------
    def duration(self, key: str, default: Any = _MISSING, *, allow_zero: bool = False) -> Any:
        node = self.get(key, default)
        return default if node is None else node.as_duration(allow_zero=allow_zero)

    def time(self, key: str, scenario_start: datetime, default: Any = _MISSING, *, allow_zero: bool = False
             ) -> Any:
        """A moment (:meth:`as_time`): a duration since the start or a timestamp."""
        node = self.get(key, default)
        return default if node is None else node.as_time(scenario_start, allow_zero=allow_zero)

    def number(self, key: str, default: Any = _MISSING, **bounds: Any) -> Any:
        node = self.get(key, default)
        return default if node is None else node.as_number(**bounds)

    def text(self, key: str, default: Any = _MISSING) -> Any:
        node = self.get(key, default)
        return default if node is None else node.as_text()

    def choice(self, key: str, choices: Iterable[str], default: Any = _MISSING) -> Any:
        node = self.get(key, default)
        return default if node is None else node.as_choice(choices)


def _bounds_text(minimum: float | None, maximum: float | None, exclusive_minimum: bool) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if exclusive_minimum else '>='} {minimum:g}")
    if maximum is not None:
        parts.append(f"<= {maximum:g}")
    return (" " + " and ".join(parts)) if parts else ""


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text):,} characters)"

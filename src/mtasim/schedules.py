"""Retry schedules: after the k-th failed attempt, how long until the message is due again (or never).

A schedule is one small protocol, :class:`Schedule`; each kind is a frozen dataclass that reads its own
section of the scenario (``from_node``) and answers :meth:`Schedule.waits` for arrays of failures. The rule
is written once, vectorised: the scalar :meth:`Schedule.wait_after` (one failure) comes from
:class:`VectorSchedule`, which runs ``waits`` on arrays of length one, so every caller gets the same bits.
The wait is measured from the failed attempt's time. Queue-runner alignment and giving up are the
sender's business (:mod:`mtasim.sender`), not the schedule's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from .config import Node
from .durations import format_duration

__all__ = [
    "Schedule", "VectorSchedule", "HistorySchedule", "FixedSchedule", "ExponentialSchedule", "ListSchedule",
    "AgeBasedSchedule", "ByFailureSchedule", "SCHEDULE_KINDS", "schedule_from_node", "register_schedule",
    "integer_table",
]


@runtime_checkable
class Schedule(Protocol):
    """What the senders and engines ask of a schedule.

    A kind implements the rule once, as :meth:`waits` on arrays; :meth:`wait_after` is the same rule on
    one failure and is not written by hand: inherit it from :class:`VectorSchedule`.
    """

    kind: ClassVar[str]
    #: True when the rule uses its random draw ``u`` (the engines only draw when needed).
    uses_random: bool

    def waits(self, failures: np.ndarray, age_s: np.ndarray, u: np.ndarray | float,
              connection_failure: np.ndarray) -> np.ndarray:
        """Seconds from each ``failures``-th failed attempt (1-based) until the message is due; NaN where
        the schedule has no further attempt (the message gives up at this failure).

        ``age_s`` is the message's age at that failure, ``u`` a seeded draw in (0, 1] (an array, or one
        float for every element) and ``connection_failure`` tells a refused/timed-out connection from a
        4xx reply. The one implementation of the rule: both engines use it.
        """

    def wait_after(self, failures: int, age_s: float, u: float, connection_failure: bool) -> float | None:
        """:meth:`waits` on one failure: a float, or None for NaN (no further attempt). Derived by
        :class:`VectorSchedule`, never written by hand."""

    def describe(self) -> str:
        """One line for humans."""

    # A schedule that also depends on its own past (Exim's G rule compares the previous planned wait with
    # the gap that really passed) sets ``needs_history = True``, implements the vectorised
    # ``waits_history(failures, age_s, u, connection_failure, prev_wait_s, prev_gap_s)`` (NaN previous
    # values mark the first failure) and inherits the scalar ``wait_after_history`` from
    # :class:`HistorySchedule`.


def _one(value: float) -> float | None:
    """A result of ``waits`` as the scalar protocol gives it: None for NaN, else a Python float."""
    wait = float(value)
    return None if math.isnan(wait) else wait


def _one_u(u: float | np.ndarray) -> float | np.ndarray:
    """The draw as ``waits`` takes it: a float stays a float (broadcast), an array is made length one."""
    return u if np.ndim(u) == 0 else np.asarray(u, dtype=np.float64).reshape(1)


def _one_prev(value: float | None) -> np.ndarray:
    """A previous wait or gap as a length-one array (None, like NaN, marks the first failure)."""
    return np.array([math.nan if value is None else value], dtype=np.float64)


class VectorSchedule:
    """Mixin: :meth:`wait_after` from the class's vectorised :meth:`waits`, run on arrays of length one.

    No fields and no ``__eq__``/``__hash__`` of its own, so a frozen dataclass that inherits it stays a
    frozen dataclass with its generated equality and hash.
    """

    __slots__ = ()

    @property
    def min_wait_s(self) -> float:
        """A lower bound of every wait this schedule can give (0: none known). The DES batches the
        attempts of a destination with connection slots over stretches this long (engine.lines)."""
        return 0.0

    def waits(self, failures, age_s, u, connection_failure) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement waits()")

    def wait_after(self, failures: int, age_s: float, u: float, connection_failure: bool) -> float | None:
        """Seconds from the ``failures``-th failure until the message is due, None for no further attempt:
        :meth:`waits` on one element (same arithmetic, same bits)."""
        return _one(self.waits(np.array([failures]), np.array([age_s], dtype=np.float64), _one_u(u),
                               np.array([connection_failure], dtype=bool))[0])


class HistorySchedule(VectorSchedule):
    """Mixin for schedules with ``needs_history``: :meth:`wait_after_history` from :meth:`waits_history`.

    ``prev_wait_s`` (the previous planned wait) and ``prev_gap_s`` (the time that really passed since the
    previous failure) are NaN (or None) at the first failure.
    """

    __slots__ = ()
    needs_history: ClassVar[bool] = True

    def waits_history(self, failures, age_s, u, connection_failure, prev_wait_s=None,
                      prev_gap_s=None) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement waits_history()")

    def wait_after_history(self, failures: int, age_s: float, u: float, connection_failure: bool,
                           prev_wait_s: float | None, prev_gap_s: float | None) -> float | None:
        """:meth:`waits_history` on one element: a float, or None for no further attempt."""
        return _one(self.waits_history(np.array([failures]), np.array([age_s], dtype=np.float64), _one_u(u),
                                       np.array([connection_failure], dtype=bool), _one_prev(prev_wait_s),
                                       _one_prev(prev_gap_s))[0])


def integer_table(fn: Callable[[int], float], ints: np.ndarray) -> np.ndarray:
    """``fn(k)`` for each integer ``k`` of ``ints``, called once per distinct value (for Python's float
    power: ``np.power`` can differ from it in the last bit, and both engines must compute the same waits).

    A table of every value from 0 to the largest when that is small, else only the values present (a
    huge failure count must not build a huge table)."""
    k = np.asarray(ints, dtype=np.int64)
    if k.size == 0:
        return np.empty(k.shape)
    low, high = int(k.min()), int(k.max())
    if low >= 0 and high < max(64, k.size):
        return np.array([fn(e) for e in range(high + 1)], dtype=np.float64)[k]
    present, where = np.unique(k, return_inverse=True)
    return np.array([fn(int(e)) for e in present], dtype=np.float64)[where].reshape(k.shape)


@dataclass(frozen=True)
class FixedSchedule(VectorSchedule):
    """Wait the same ``interval`` after every failure (Sendmail's queue runs, Exchange's ladder rungs)."""

    interval_s: float
    kind: ClassVar[str] = "fixed"
    uses_random: ClassVar[bool] = False

    @property
    def min_wait_s(self) -> float:
        return self.interval_s

    @classmethod
    def from_node(cls, node: Node) -> "FixedSchedule":
        return cls(node.duration("interval"))

    def waits(self, failures, age_s, u, connection_failure) -> np.ndarray:
        return np.full(len(failures), self.interval_s)

    def describe(self) -> str:
        return f"fixed every {format_duration(self.interval_s)}"


JITTER_KINDS = ("none", "full", "equal")
_LOG_FLOAT_MAX = math.log(1.7e308)


@dataclass(frozen=True)
class ExponentialSchedule(VectorSchedule):
    """``min(first * factor**(k-1), max)`` after the k-th failure, optionally jittered.

    Jitter follows the usual back-off vocabulary: ``full`` draws the wait uniformly in (0, base],
    ``equal`` in (base/2, base]; the draw comes from the seeded per-attempt stream.
    """

    first_s: float
    factor: float = 2.0
    max_s: float = math.inf
    jitter: str = "none"
    kind: ClassVar[str] = "exponential"

    @property
    def uses_random(self) -> bool:
        return self.jitter != "none"

    @classmethod
    def from_node(cls, node: Node) -> "ExponentialSchedule":
        first = node.duration("first")
        factor = node.number("factor", 2.0, minimum=1.0)
        max_s = node.duration("max", math.inf)
        if max_s < first:
            raise node.error(f"expected max >= first ({format_duration(first)})", "max")
        return cls(first, factor, max_s, node.choice("jitter", JITTER_KINDS, "none"))

    def base_waits(self, failures) -> np.ndarray:
        """The un-jittered wait after each failure."""
        exponent = np.asarray(failures, dtype=np.float64) - 1.0
        if self.factor > 1.0:
            # Decide the cap (and an overflowing power) on logarithms, so a huge failure count gives the
            # cap, or inf without a cap, instead of an OverflowError.
            log_wait = math.log(self.first_s) + exponent * math.log(self.factor)
            capped = log_wait >= math.log(self.max_s)
            huge = log_wait > _LOG_FLOAT_MAX
        else:
            capped = huge = np.zeros(exponent.shape, dtype=bool)
        exps = np.where(capped | huge, 0, exponent).astype(np.int64)
        base = np.minimum(self.first_s * integer_table(lambda e: self.factor ** e, exps), self.max_s)
        return np.where(capped, self.max_s, np.where(huge, math.inf, base))

    @property
    def min_wait_s(self) -> float:
        if self.factor < 1.0 or self.jitter == "full":   # shrinking waits; full jitter can draw next to 0
            return 0.0
        least = min(self.first_s, self.max_s)
        return least / 2 if self.jitter == "equal" else least

    def waits(self, failures, age_s, u, connection_failure) -> np.ndarray:
        base = self.base_waits(failures)
        if self.jitter == "full":
            return base * u
        if self.jitter == "equal":
            return base * (0.5 + 0.5 * u)
        return base

    def describe(self) -> str:
        cap = "" if math.isinf(self.max_s) else f", max {format_duration(self.max_s)}"
        jitter = "" if self.jitter == "none" else f", {self.jitter} jitter"
        return f"exponential from {format_duration(self.first_s)} x{self.factor:g}{cap}{jitter}"


@dataclass(frozen=True)
class ListSchedule(VectorSchedule):
    """The k-th wait is the k-th item; past the end repeat the last item or stop (give up)."""

    intervals_s: tuple[float, ...]
    then: str = "repeat"
    kind: ClassVar[str] = "list"
    uses_random: ClassVar[bool] = False

    @property
    def min_wait_s(self) -> float:
        return min(self.intervals_s)

    @classmethod
    def from_node(cls, node: Node) -> "ListSchedule":
        items = node.get("intervals").elements("a list of durations such as [5m, 15m, 1h]")
        if not items:
            raise node.error("expected at least one interval", "intervals")
        return cls(tuple(item.as_duration() for item in items), node.choice("then", ("repeat", "stop"), "repeat"))

    def waits(self, failures, age_s, u, connection_failure) -> np.ndarray:
        table = np.append(np.asarray(self.intervals_s), self.intervals_s[-1] if self.then == "repeat" else np.nan)
        return table[np.minimum(np.asarray(failures) - 1, len(self.intervals_s))]

    def describe(self) -> str:
        items = ", ".join(format_duration(s) for s in self.intervals_s)
        return f"list [{items}] then {self.then}"


@dataclass(frozen=True)
class AgeBasedSchedule(VectorSchedule):
    """Wait as long as the message has been queued, clamped to [min, max] (Postfix's qmgr)."""

    min_s: float
    max_s: float
    kind: ClassVar[str] = "age-based"
    uses_random: ClassVar[bool] = False

    @property
    def min_wait_s(self) -> float:
        return min(self.min_s, self.max_s)

    @classmethod
    def from_node(cls, node: Node) -> "AgeBasedSchedule":
        low, high = node.duration("min"), node.duration("max")
        if high < low:
            raise node.error(f"expected max >= min ({format_duration(low)})", "max")
        return cls(low, high)

    def waits(self, failures, age_s, u, connection_failure) -> np.ndarray:
        return np.minimum(np.maximum(age_s, self.min_s), self.max_s)

    def describe(self) -> str:
        return f"age-based, clamped to [{format_duration(self.min_s)}, {format_duration(self.max_s)}]"


@dataclass(frozen=True)
class ByFailureSchedule(VectorSchedule):
    """One schedule for connection failures, another for 4xx replies (Exchange's two retry timers)."""

    connection: Schedule
    reply: Schedule
    kind: ClassVar[str] = "by-failure"

    @property
    def uses_random(self) -> bool:
        return self.connection.uses_random or self.reply.uses_random

    @property
    def min_wait_s(self) -> float:
        return min(getattr(self.connection, "min_wait_s", 0.0), getattr(self.reply, "min_wait_s", 0.0))

    @classmethod
    def from_node(cls, node: Node) -> "ByFailureSchedule":
        return cls(schedule_from_node(node.get("connection")), schedule_from_node(node.get("reply")))

    def waits(self, failures, age_s, u, connection_failure) -> np.ndarray:
        return np.where(connection_failure, self.connection.waits(failures, age_s, u, connection_failure),
                        self.reply.waits(failures, age_s, u, connection_failure))

    def describe(self) -> str:
        return f"connection failures: {self.connection.describe()}; 4xx replies: {self.reply.describe()}"


SCHEDULE_KINDS: dict[str, Any] = {
    cls.kind: cls
    for cls in (FixedSchedule, ExponentialSchedule, ListSchedule, AgeBasedSchedule, ByFailureSchedule)
}


def register_schedule(cls: Any) -> Any:
    """Class decorator: make an MTA-specific schedule (defined in its preset's module) a ``kind`` that
    custom senders can name too. The class needs ``kind``, ``from_node``, ``waits`` (the rule, vectorised;
    NaN for no further attempt) and ``describe``, and inherits :class:`VectorSchedule` for the scalar
    ``wait_after`` (a schedule with ``needs_history`` implements ``waits_history`` and inherits
    :class:`HistorySchedule`): the scalar form is derived, never written by hand."""
    if cls.kind in SCHEDULE_KINDS and SCHEDULE_KINDS[cls.kind] is not cls:
        raise ValueError(f"schedule kind '{cls.kind}' is defined twice")
    SCHEDULE_KINDS[cls.kind] = cls
    return cls


def schedule_from_node(node: Node) -> Schedule:
    """Read ``{kind: ..., ...}`` into a schedule, refusing unknown kinds and keys."""
    node.require_mapping("a schedule such as {kind: exponential, first: 5m, max: 1h}")
    kind = node.choice("kind", SCHEDULE_KINDS)
    schedule = SCHEDULE_KINDS[kind].from_node(node)
    node.finish()
    return schedule

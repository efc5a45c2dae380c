"""Which of several messages due at one moment an MTA takes first: a modelling choice per preset.

Order only matters where messages are coupled (host-level state: the first messages of a queue run to a
refusing host connect, fail and get the host marked down; the rest are held back without a connection).
Every engine takes the events of one moment in this order (docs/queue-order-and-clocks.md):

1. attempts still under way that end now (a timed-out connection started earlier) finish first;
2. then messages whose give-up timer fires now;
3. then the new attempts, in the MTA's queue order:

* ``due`` (Postfix, Exchange, OpenSMTPD and the others): by due time, then arrival, then message id. No
  MTA of these keeps a priority within a scan (Postfix's ``qmgr_active_feed()`` takes queue files in
  directory-scan order), so the earliest-due-first stand-in is deterministic and documented.
* ``fewest-tries`` (Sendmail): each queue run sorts by priority, and every failed try adds
  ``RetryFactor`` to a job's priority value (smaller runs first), so jobs with the fewest tries run
  first (similar size, class and recipients assumed); ties by arrival, then id.
* ``random`` (Exim): a queue runner takes messages in an arbitrary order unless ``queue_run_in_order``
  is set; the draw is counter-based per (message, attempt), from the run's own seeded stream.
* ``arrival`` (Exim with ``queue_run_in_order``): by arrival, then id.

Sources: sendmail/queue.c ``sortq()``/``workcmpf0()`` (8.11 and earlier: ``orderq()``), cf/README
(``QueueSortOrder``, ``RetryFactor``); Exim's specification, ``queue_run_in_order`` and option ``-q``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .rng import uniform_array

__all__ = ["QueueOrder", "QUEUE_ORDERS", "queue_order", "COMPLETE", "GIVE_UP", "ATTEMPT"]

#: What a message's pending event is, in the order the events of one moment are taken.
COMPLETE, GIVE_UP, ATTEMPT = 0, 1, 2


@dataclass(frozen=True)
class QueueOrder:
    """Sort keys of one moment's events; ``keys`` lists them least significant first (np.lexsort)."""

    name: ClassVar[str] = "due"

    def attempt_keys(self, due, arrival, failures, ids, random_key: int) -> list[np.ndarray]:
        return [ids, arrival, due]

    def sort(self, phase: np.ndarray, due: np.ndarray, arrival: np.ndarray, failures: np.ndarray,
             ids: np.ndarray, random_key: int) -> np.ndarray:
        """The permutation that puts one moment's events in order: completions, then give-ups (each by
        message id), then attempts in this queue order."""
        return np.lexsort(self.keys(phase, due, arrival, failures, ids, random_key))

    def key(self, phase: int, due: float, arrival: float, failures: int, i: int, random_key: int) -> tuple:
        """One event's place in its moment, as a tuple (the reference engine's heap): the same
        :meth:`attempt_keys` on plain numbers, most significant first."""
        keys = self.attempt_keys(due, arrival, failures, i, random_key)[1:] if phase == ATTEMPT else []
        return (phase, *(float(k) for k in reversed(keys)), i)

    def keys(self, phase, due, arrival, failures, ids, random_key: int) -> list[np.ndarray]:
        """The sort keys, least significant first (np.lexsort); the first key is always the id."""
        attempt = phase == ATTEMPT
        keys = self.attempt_keys(due, arrival, failures, ids, random_key)
        return [ids, *(np.where(attempt, k, 0) for k in keys[1:]), phase]


@dataclass(frozen=True)
class FewestTries(QueueOrder):
    name: ClassVar[str] = "fewest-tries"

    def attempt_keys(self, due, arrival, failures, ids, random_key: int) -> list[np.ndarray]:
        return [ids, arrival, failures]


@dataclass(frozen=True)
class RandomOrder(QueueOrder):
    name: ClassVar[str] = "random"

    def attempt_keys(self, due, arrival, failures, ids, random_key: int) -> list[np.ndarray]:
        return [ids, uniform_array(random_key, ids, failures + 1)]


@dataclass(frozen=True)
class ArrivalOrder(QueueOrder):
    name: ClassVar[str] = "arrival"

    def attempt_keys(self, due, arrival, failures, ids, random_key: int) -> list[np.ndarray]:
        return [ids, arrival]


QUEUE_ORDERS: dict[str, QueueOrder] = {o.name: o for o in (QueueOrder(), FewestTries(), RandomOrder(),
                                                           ArrivalOrder())}


def queue_order(name: str) -> QueueOrder:
    """The order called ``name``; ValueError naming the choices otherwise."""
    try:
        return QUEUE_ORDERS[name]
    except KeyError:
        raise ValueError(f"queue_order must be one of {', '.join(QUEUE_ORDERS)}") from None

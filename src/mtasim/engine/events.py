"""When a run's events happen, in SimPy's terms: pending message events by clock time, and the arrival
process's events. Used by the DES (:mod:`mtasim.engine.des`), which needs SimPy's exact clock arithmetic
and event order without a SimPy event per message."""

from __future__ import annotations

import heapq
import itertools
import math

import numpy as np

__all__ = ["PendingEvents", "ArrivalProcess", "SOURCE_RANK"]

SOURCE_RANK = (1 << 40) - 1                 # the arrival process's event, in any moment (mtasim.engine.des)


class PendingEvents:
    """Pending message events: a heap of runs of message ids, each run sorted by event time (a lone
    event is kept as plain numbers, which is cheaper)."""

    def __init__(self, ordered: bool = True) -> None:
        self.heap: list = []
        self._count = itertools.count()
        #: False: runs are kept unsorted and only ever popped all at once (no host state: one quiet stretch)
        self.ordered = ordered

    def push(self, ids: np.ndarray, times: np.ndarray) -> None:
        if len(ids) > 1 and self.ordered:
            order = np.argsort(times, kind="stable")
            ids, times = ids[order], times[order]
        if len(ids):
            first = float(times[0] if self.ordered else times.min())
            heapq.heappush(self.heap, (first, next(self._count), ids, times))

    def push_one(self, i: int, time: float) -> None:
        heapq.heappush(self.heap, (time, next(self._count), i, None))

    def first_time(self) -> float:
        return self.heap[0][0] if self.heap else math.inf

    def count_before(self, bound: float, enough: int) -> int:
        """How many events are pending before ``bound``, counting no further than ``enough`` (and giving
        up, with a count above it, when that would take long)."""
        count = 0
        for looked, (first, _, ids, times) in enumerate(self.heap):
            if count > enough or looked > 4 * enough:
                return enough + 1
            if first < bound:
                count += 1 if times is None else int(np.searchsorted(times, bound, side="left"))
        return count

    def pop_before(self, bound: float) -> np.ndarray:
        """Every pending event earlier than ``bound``."""
        if not self.ordered:                        # every event is before the horizon, the only bound
            parts, self.heap = [np.atleast_1d(entry[2]) for entry in self.heap], []
            return np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return self._pop(bound, "left")

    def pop_at(self, time: float) -> np.ndarray:
        """Every pending event at exactly ``time`` (the earliest)."""
        return self._pop(time, "right")

    def _pop(self, time: float, side: str) -> np.ndarray:
        parts, lone = [], []
        heap = self.heap
        while heap and (heap[0][0] < time or side == "right" and heap[0][0] == time):
            _, _, ids, times = heapq.heappop(heap)
            if times is None:
                lone.append(ids)
                continue
            j = int(np.searchsorted(times, time, side=side))
            parts.append(ids[:j])
            if j < len(ids):
                heapq.heappush(heap, (float(times[j]), next(self._count), ids[j:], times[j:]))
        if lone:
            parts.append(np.array(lone, dtype=np.int64))
        return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros(0, np.int64)


class ArrivalProcess:
    """The arrival process's events as SimPy runs them: event k happens at clock time ``time[k]`` and
    starts messages ``lo[k]:hi[k]``. The first is at 0 and starts the messages arriving at 0; a later one
    comes for an arrival later than the clock, which advances by (arrival - clock), nearly always landing
    exactly on the arrival (checked; else replayed one by one)."""

    def __init__(self, arrivals: np.ndarray, stop: float):
        n = int(np.searchsorted(arrivals, stop, side="left"))
        a = arrivals[:n]
        first = int(np.searchsorted(a, 0.0, side="right"))   # the first arrival after 0
        firsts = (np.concatenate(([first], first + 1 + np.flatnonzero(np.diff(a[first:]) > 0))) if first < n
                  else np.zeros(0, np.int64))
        times = a[firsts]
        previous = np.concatenate(([0.0], times[:-1]))
        if not np.array_equal(previous + np.maximum(0.0, times - previous), times):
            clock, times_l, lo_l = 0.0, [], []
            for i in range(first, n):
                t = float(a[i])
                if t > clock:
                    clock = clock + max(0.0, t - clock)
                    times_l.append(clock)
                    lo_l.append(i)
            times, firsts = np.array(times_l), np.array(lo_l, dtype=np.int64)
        self.n = n
        self.time = np.concatenate(([0.0], times))
        self.lo = np.concatenate(([0], firsts)).astype(np.int64)
        #: When each event's creator (the previous event) ran; the first is created before everything.
        self.by_time = np.concatenate(([-math.inf], self.time[:-1]))
        self._event_of: np.ndarray | None = None

    def creator_times(self, clock: np.ndarray) -> np.ndarray:
        """When the creator of the arrival process's event at each ``clock`` ran (NaN: no event then)."""
        k = np.minimum(np.searchsorted(self.time, clock, side="left"), len(self.time) - 1)
        return np.where(self.time[k] == clock, self.by_time[k], np.nan)

    def after(self, clock: np.ndarray, by_time: np.ndarray, by_rank: np.ndarray) -> np.ndarray:
        """Whether events at ``clock`` created at (by_time, by_rank) run after the arrival process's
        event at that clock time (False where there is none)."""
        source_by = self.creator_times(clock)
        return (by_time > source_by) | (by_time == source_by) & (by_rank >= SOURCE_RANK)

    def creator_at(self, clock: float) -> float | None:
        """When the creator of the arrival process's event at ``clock`` ran (None: no event then)."""
        k = int(np.searchsorted(self.time, clock, side="left"))
        return float(self.by_time[k]) if k < len(self.time) and self.time[k] == clock else None

    def starts(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For messages ``ids`` (ascending): the source events that start them (clock times, creator
        times), where each event's messages begin in ``ids``, and each message's place among its event's
        starts (1, 2, ...)."""
        ids = ids[ids < self.n]
        if self._event_of is None:                 # which event starts each message
            self._event_of = np.repeat(np.arange(len(self.lo)), np.diff(np.append(self.lo, self.n)))
        k = self._event_of[ids]
        begins = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1]))) if len(k) else np.zeros(0, np.int64)
        events = k[begins]
        return self.time[events], self.by_time[events], np.append(begins, len(ids)), ids - self.lo[k] + 1

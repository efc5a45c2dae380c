"""A calendar's pending events by time: a heap of runs of message ids, each run sorted by time.

The DES (:mod:`mtasim.engine.des`) parks each moment's next events as one run; popping takes every event
before a bound (a quiet stretch) or every event of the earliest time (a moment). Order within a moment is
not this module's business: the DES sorts a moment's events by the MTA's queue order (mtasim.queue_order).
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import Literal

import numpy as np

__all__ = ["PendingEvents"]


class PendingEvents:
    """Pending message events: a heap of (first time, sequence, ids, times) runs sorted by time."""

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, np.ndarray, np.ndarray]] = []
        self._count = itertools.count()

    def push(self, ids: np.ndarray, times: np.ndarray) -> None:
        if len(ids) > 1:
            order = np.argsort(times, kind="stable")
            ids, times = ids[order], times[order]
        if len(ids):
            heapq.heappush(self.heap, (float(times[0]), next(self._count), ids, times))

    def first_time(self) -> float:
        return self.heap[0][0] if self.heap else math.inf

    def pop_before(self, bound: float) -> np.ndarray:
        """Every pending event earlier than ``bound``."""
        return self._pop(bound, "left")

    def pop_at(self, time: float) -> np.ndarray:
        """Every pending event at ``time`` or earlier (the earliest time: one moment)."""
        return self._pop(time, "right")

    def _pop(self, time: float, side: Literal["left", "right"]) -> np.ndarray:
        parts = []
        heap = self.heap
        while heap and (heap[0][0] < time or side == "right" and heap[0][0] == time):
            _, _, ids, times = heapq.heappop(heap)
            j = int(np.searchsorted(times, time, side=side))
            parts.append(ids[:j])
            if j < len(ids):
                heapq.heappush(heap, (float(times[j]), next(self._count), ids[j:], times[j:]))
        return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros(0, np.int64)

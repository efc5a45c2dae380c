"""Message arrivals and their assignment to recipient domains.

Arrival times are drawn once per run from the ``ARRIVALS`` stream and sorted, so message ids follow
arrival order; recipients are drawn from the ``RECIPIENTS`` stream. Both are bulk NumPy draws.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from .config import Node
from .durations import DurationError, format_duration, parse_duration
from .rng import Purpose, generator

__all__ = ["Workload", "workload_from_node", "assign_recipients", "MAX_MESSAGES", "parse_rate"]

#: Refuse scenarios beyond this: about 50 bytes per message of records plus the engine's working set.
MAX_MESSAGES = 100_000_000
ARRIVAL_KINDS = ("at", "times", "uniform", "poisson")


@dataclass(frozen=True)
class Workload:
    """``count`` messages (None for poisson: drawn) arriving by ``kind``."""

    kind: str
    count: int | None
    start_s: float = 0.0
    end_s: float = 0.0
    times_s: tuple[float, ...] = ()
    rate_per_s: float = 0.0

    @property
    def expected_count(self) -> float:
        if self.kind == "poisson":
            return self.rate_per_s * (self.end_s - self.start_s)
        return float(self.count)

    def arrivals(self, seed: int) -> np.ndarray:
        """Sorted arrival times in seconds, one per message."""
        rng = generator(seed, Purpose.ARRIVALS)
        if self.kind == "at":
            return np.full(self.count, self.start_s, dtype=np.float64)
        if self.kind == "times":
            return np.sort(np.asarray(self.times_s, dtype=np.float64))
        if self.kind == "uniform":
            return np.sort(rng.uniform(self.start_s, self.end_s, self.count))
        count = int(rng.poisson(self.expected_count))
        return np.sort(rng.uniform(self.start_s, self.end_s, count))

    def describe(self) -> str:
        if self.kind == "at":
            return f"{self.count} messages at {format_duration(self.start_s)}"
        if self.kind == "times":
            return f"{len(self.times_s)} messages at given times"
        if self.kind == "uniform":
            return f"{self.count} messages uniform in [{format_duration(self.start_s)}, {format_duration(self.end_s)})"
        return (f"poisson {self.rate_per_s * 3600:g}/h in [{format_duration(self.start_s)}, "
                f"{format_duration(self.end_s)}), about {self.expected_count:,.0f} messages")


def assign_recipients(shares: list[float], domains: list[int], first_domain: np.ndarray, n: int,
                      seed: int) -> np.ndarray:
    """Concrete domain index per message: an entry drawn by share, then one of its ``domains`` uniformly."""
    rng = generator(seed, Purpose.RECIPIENTS)
    if len(shares) == 1:
        entry = np.zeros(n, dtype=np.int64)
    else:
        p = np.asarray(shares, dtype=np.float64)
        entry = rng.choice(len(shares), size=n, p=p / p.sum())
    index = np.asarray(first_domain, dtype=np.int64)[entry]
    counts = np.asarray(domains, dtype=np.int64)
    if counts.max(initial=1) > 1:
        index = index + rng.integers(0, counts[entry])
    return index.astype(np.int32)


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\S+)\s*$")


def parse_rate(value: object) -> float:
    """``"120/h"``, ``"5/30m"`` or a plain number (per second) -> messages per second."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _RATE.match(value) if isinstance(value, str) else None
    if match:
        unit = match.group(2)
        try:
            per_s = parse_duration(unit if unit[0].isdigit() else "1" + unit)
        except DurationError:
            per_s = None
        if per_s and float(match.group(1)) > 0:
            return float(match.group(1)) / per_s
    raise ValueError(f"expected a rate > 0 such as 120/h or 5/30m, got {value!r}")


def workload_from_node(node: Node, scenario_start: datetime) -> Workload:
    """``messages:``. Arrival times and windows are durations since t = 0 or ISO 8601 timestamps, read
    against ``scenario_start`` (the scenario's ``start``), as outage windows are."""
    node.require_mapping("a mapping such as {count: 2000, arrival: {kind: uniform, start: 0h, end: 24h}}")
    count_node = node.get("count", None)
    count = None
    if count_node is not None:
        count = count_node.as_number(integer=True, minimum=1)
        if count > MAX_MESSAGES:
            if count < 10**15:
                raise count_node.error(f"expected at most {MAX_MESSAGES:,} messages (the records alone would "
                                       f"need about {count * 50 // 10**9:,} GB of memory), got {count:,}")
            raise count_node.error(f"expected at most {MAX_MESSAGES:,} messages, got about "
                                   f"10^{len(str(count)) - 1}")
    arrival = node.get("arrival", None)
    if arrival is None:
        if count is None:
            raise node.error("missing required key 'count'", "count")
        node.finish()
        return Workload("at", count)
    arrival.require_mapping("an arrival such as {kind: uniform, start: 0h, end: 24h}")
    kind = arrival.choice("kind", ARRIVAL_KINDS)
    workload = _read_arrival(arrival, kind, count, node, scenario_start)
    arrival.finish()
    node.finish()
    return workload


def _read_arrival(arrival: Node, kind: str, count: int | None, node: Node, start: datetime) -> Workload:
    if kind == "times":
        items = arrival.get("times").elements("a list of times such as [0s, 10m, 1h]")
        if not items:
            raise arrival.error("expected at least one time", "times")
        times = tuple(item.as_time(start, allow_zero=True) for item in items)
        if len(times) > MAX_MESSAGES:
            raise arrival.error(f"expected at most {MAX_MESSAGES:,} times", "times")
        if count is not None and count != len(times):
            raise node.error(f"expected count to match the {len(times)} arrival times, got {count}", "count")
        return Workload("times", len(times), times_s=times)
    if kind == "poisson":
        if count is not None:
            raise node.error("expected no count with poisson arrivals (the rate decides it)", "count")
        rate_node = arrival.get("rate")
        try:
            rate = parse_rate(rate_node.value)
        except ValueError as exc:
            raise rate_node.error(str(exc)) from None
        begin, end = _window(arrival, start)
        expected = rate * (end - begin)
        if expected > MAX_MESSAGES:
            raise rate_node.error(f"expected at most {MAX_MESSAGES:,} messages, but this rate over "
                                  f"[start, end) gives about {expected:,.0f}")
        return Workload("poisson", None, begin, end, rate_per_s=rate)
    if count is None:
        raise node.error(f"missing required key 'count' (needed by {kind} arrivals)", "count")
    if kind == "at":
        return Workload("at", count, arrival.time("time", start, 0.0, allow_zero=True))
    begin, end = _window(arrival, start)
    return Workload("uniform", count, begin, end)


def _window(arrival: Node, start: datetime) -> tuple[float, float]:
    begin = arrival.time("start", start, 0.0, allow_zero=True)
    end = arrival.time("end", start)
    if end <= begin:
        raise arrival.error(f"expected end after start ({format_duration(begin)})", "end")
    return begin, end

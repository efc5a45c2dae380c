"""Outages: the windows during which a recipient domain fails every attempt, given or drawn.

Outages are data (half-open windows ``[start, end)``), queried at an attempt's start time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ..config import Node
from ..durations import format_duration
from .replies import Reply, failure_reply

__all__ = ["Outage", "Distribution", "RandomOutage", "DISTRIBUTION_KINDS", "outages_from_node",
           "random_outage_from_node", "failure_from_node", "distribution_from_node", "DEFAULT_FAILURE"]


@dataclass(frozen=True)
class Outage:
    """During ``[start_s, end_s)`` every attempt gets ``reply``."""

    start_s: float
    end_s: float
    reply: Reply


@dataclass(frozen=True)
class Distribution:
    """A duration drawn per domain (or per outage of a process): ``fixed`` (value), ``uniform`` (low, high),
    ``lognormal`` (median, sigma), ``exponential`` (mean) or ``empirical`` (``values``, drawn uniformly).
    Repair times are usually modelled as lognormal (docs/provider-and-recipient-facts.md B.5)."""

    kind: str
    a: float
    b: float = 0.0
    #: ``empirical``: the values drawn from, each equally likely.
    values: tuple[float, ...] = ()

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "fixed":
            return np.full(n, self.a)
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b, n)
        if self.kind == "exponential":
            return rng.exponential(self.a, n)
        if self.kind == "empirical":
            return np.asarray(self.values)[rng.integers(0, len(self.values), n)]
        return self.a * np.exp(self.b * rng.standard_normal(n))

    def from_uniforms(self, u1, u2):
        """Draws from uniforms in (0, 1] (counter-based, mtasim.rng), arrays or plain floats: the same (u1, u2)
        give the same value whichever engine asks, one at a time or vectorised. Lognormal uses Box-Muller."""
        if self.kind == "fixed":
            return self.a + 0.0 * u1
        if self.kind == "uniform":
            return self.a + (self.b - self.a) * u1
        if self.kind == "exponential":
            return -self.a * np.log(u1)
        if self.kind == "empirical":
            values = np.asarray(self.values)
            return values[np.minimum(np.asarray(u1 * len(values)).astype(np.int64), len(values) - 1)]
        z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
        return self.a * np.exp(self.b * z)

    @property
    def mean(self) -> float:
        """The expected value (the window-count estimate of an outage process divides by it)."""
        if self.kind == "uniform":
            return (self.a + self.b) / 2
        if self.kind == "lognormal":
            return self.a * math.exp(self.b ** 2 / 2)
        if self.kind == "empirical":
            return float(np.mean(self.values))
        return self.a

    def describe(self) -> str:
        if self.kind == "fixed":
            return format_duration(self.a)
        if self.kind == "uniform":
            return f"uniform [{format_duration(self.a)}, {format_duration(self.b)})"
        if self.kind == "exponential":
            return f"exponential (mean {format_duration(self.a)})"
        if self.kind == "empirical":
            return f"one of {', '.join(format_duration(v) for v in self.values)}"
        return f"lognormal (median {format_duration(self.a)}, sigma {self.b:g})"


@dataclass(frozen=True)
class RandomOutage:
    """One outage per domain, its start and duration drawn from the seeded ``OUTAGES`` stream."""

    start: Distribution
    duration: Distribution
    reply: Reply

    def describe(self) -> str:
        return (f"one outage per domain starting {self.start.describe()}, lasting {self.duration.describe()}, "
                f"{self.reply.text}")


#: An outage's reply when it names no ``failure``.
DEFAULT_FAILURE = "451 4.3.0 Mail server temporarily unavailable"


def failure_from_node(item: Node, timeout_s: float) -> Reply:
    failure = item.get("failure", None)
    if failure is None:
        return failure_reply(DEFAULT_FAILURE, timeout_s)
    try:
        return failure_reply(failure.as_text(), timeout_s)
    except ValueError as exc:
        raise failure.error(str(exc)) from None


def random_outage_from_node(node: Node | None, timeout_s: float) -> RandomOutage | None:
    if node is None:
        return None
    node.require_mapping("a random outage such as {start: {kind: uniform, min: 0h, max: 24h}, "
                         "duration: {kind: lognormal, median: 1h, sigma: 1.5}}")
    start_node = node.get("start", None)
    start = Distribution("fixed", 0.0) if start_node is None else distribution_from_node(start_node, allow_zero=True)
    duration = distribution_from_node(node.get("duration"), allow_zero=False)
    reply = failure_from_node(node, timeout_s)
    node.finish()
    return RandomOutage(start, duration, reply)


DISTRIBUTION_KINDS = ("fixed", "uniform", "lognormal", "exponential", "empirical")


def distribution_from_node(node: Node, *, allow_zero: bool) -> Distribution:
    """A duration (fixed) or ``{kind: fixed, value}`` / ``{kind: uniform, min, max}`` /
    ``{kind: lognormal, median, sigma}`` / ``{kind: exponential, mean}`` / ``{kind: empirical, values: [...]}``.
    ``allow_zero``: whether a draw of zero makes sense (a start may be 0, a duration may not)."""
    if not isinstance(node.value, dict):
        return Distribution("fixed", node.as_duration(allow_zero=allow_zero))
    kind = node.choice("kind", DISTRIBUTION_KINDS)
    if kind == "fixed":
        dist = Distribution("fixed", node.duration("value", allow_zero=allow_zero))
    elif kind == "uniform":
        low = node.duration("min", allow_zero=True)
        high = node.duration("max")
        if high <= low:
            raise node.error(f"expected max greater than min ({format_duration(low)})", "max")
        dist = Distribution("uniform", low, high)
    elif kind == "exponential":
        dist = Distribution("exponential", node.duration("mean"))
    elif kind == "empirical":
        items = node.get("values").elements("a list of durations such as [30m, 2h, 1d]")
        if not items:
            raise node.error("expected at least one value", "values")
        values = tuple(item.as_duration(allow_zero=allow_zero) for item in items)
        dist = Distribution("empirical", 0.0, values=values)
    else:
        dist = Distribution("lognormal", node.duration("median"),
                            node.number("sigma", minimum=0.0, maximum=10.0))
    node.finish()
    return dist


def outages_from_node(outage_list: Node | None, timeout_s: float, scenario_start: datetime) -> tuple[Outage, ...]:
    """A recipient's ``outages:`` list: windows that must not overlap. ``start`` and ``end`` are durations
    since t = 0 or timestamps, resolved against ``scenario_start`` (the scenario's ``start``)."""
    if outage_list is None:
        return ()
    outages: list[Outage] = []
    for item in outage_list.elements("a list of outages"):
        item.require_mapping("an outage such as {start: 2h, end: 32h, failure: refused}")
        start = item.get("start").as_time(scenario_start, allow_zero=True)
        end = item.get("end").as_time(scenario_start)
        if end <= start:
            raise item.error(f"expected end after start ({format_duration(start)})", "end")
        reply = failure_from_node(item, timeout_s)
        item.finish()
        for j, other in enumerate(outages):
            if start < other.end_s and other.start_s < end:
                raise item.error(f"expected outages of one recipient not to overlap; this one overlaps "
                                 f"{outage_list.path}[{j}]")
        outages.append(Outage(start, end, reply))
    return tuple(outages)

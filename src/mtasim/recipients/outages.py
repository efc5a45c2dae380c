"""Outages: the windows during which a recipient domain fails every attempt, given or drawn.

Outages are data (half-open windows ``[start, end)``), queried at an attempt's start time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Node
from ..durations import format_duration
from .replies import Reply, failure_reply

__all__ = ["Outage", "Distribution", "RandomOutage", "DISTRIBUTION_KINDS", "outages_from_node",
           "random_outage_from_node", "failure_from_node"]


@dataclass(frozen=True)
class Outage:
    """During ``[start_s, end_s)`` every attempt gets ``reply``."""

    start_s: float
    end_s: float
    reply: Reply


@dataclass(frozen=True)
class Distribution:
    """A duration drawn per domain: ``fixed`` (value), ``uniform`` (low, high) or ``lognormal`` (median,
    sigma). Repair times are usually modelled as lognormal (docs/provider-and-recipient-facts.md B.5)."""

    kind: str
    a: float
    b: float = 0.0

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "fixed":
            return np.full(n, self.a)
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b, n)
        return self.a * np.exp(self.b * rng.standard_normal(n))

    def describe(self) -> str:
        if self.kind == "fixed":
            return format_duration(self.a)
        if self.kind == "uniform":
            return f"uniform [{format_duration(self.a)}, {format_duration(self.b)})"
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


_DEFAULT_FAILURE = "451 4.3.0 Mail server temporarily unavailable"


def failure_from_node(item: Node, timeout_s: float) -> Reply:
    failure = item.get("failure", None)
    try:
        return failure_reply(failure.as_text() if failure else _DEFAULT_FAILURE, timeout_s)
    except ValueError as exc:
        raise failure.error(str(exc)) from None


def random_outage_from_node(node: Node | None, timeout_s: float) -> RandomOutage | None:
    if node is None:
        return None
    node.require_mapping("a random outage such as {start: {kind: uniform, min: 0h, max: 24h}, "
                         "duration: {kind: lognormal, median: 1h, sigma: 1.5}}")
    start_node = node.get("start", None)
    start = Distribution("fixed", 0.0) if start_node is None else _distribution_from_node(start_node, allow_zero=True)
    duration = _distribution_from_node(node.get("duration"), allow_zero=False)
    reply = failure_from_node(node, timeout_s)
    node.finish()
    return RandomOutage(start, duration, reply)


DISTRIBUTION_KINDS = ("fixed", "uniform", "lognormal")


def _distribution_from_node(node: Node, *, allow_zero: bool) -> Distribution:
    """A duration (fixed) or ``{kind: uniform, min, max}`` / ``{kind: lognormal, median, sigma}``."""
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
    else:
        dist = Distribution("lognormal", node.duration("median"),
                            node.number("sigma", minimum=0.0, maximum=10.0))
    node.finish()
    return dist


def outages_from_node(outage_list: Node | None, timeout_s: float) -> tuple[Outage, ...]:
    """A recipient's ``outages:`` list: windows that must not overlap."""
    if outage_list is None:
        return ()
    outages: list[Outage] = []
    for item in outage_list.elements("a list of outages"):
        item.require_mapping("an outage such as {start: 2h, end: 32h, failure: refused}")
        start = item.duration("start", allow_zero=True)
        end = item.duration("end")
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

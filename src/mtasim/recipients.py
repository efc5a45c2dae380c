"""What a recipient domain answers to an attempt that starts at time t.

Outages are data (half-open windows ``[start, end)``), queried at the attempt's start time; outside them
the recipient accepts the message. Replies are parsed once, when the scenario is read.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from .config import Node
from .durations import format_duration
from .rng import Purpose, generator

__all__ = [
    "AttemptResult", "Reply", "Outage", "Recipient", "RandomOutage", "Distribution", "parse_reply",
    "recipient_from_node", "realize_recipients",
    "DELIVERED_REPLY", "DEFAULT_CONNECT_TIMEOUT_S",
]

DEFAULT_CONNECT_TIMEOUT_S = 30.0


class AttemptResult(IntEnum):
    """What one attempt did (the ``result`` column of attempts.csv)."""

    DELIVERED = 0
    DEFERRED = 1   # 4xx reply
    REFUSED = 2    # connection refused (instant)
    TIMEOUT = 3    # connection timed out (lasts the connect timeout)
    REJECTED = 4   # 5xx reply: the message bounces
    SUSPENDED = 5  # no connection: host-level state held the message back (mtasim.hosts)

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def is_connection_failure(self) -> bool:
        return self in (AttemptResult.REFUSED, AttemptResult.TIMEOUT)


@dataclass(frozen=True)
class Reply:
    """The answer to one attempt: what happened, the enhanced status, the text, how long it took."""

    result: AttemptResult
    status: str
    text: str
    duration_s: float = 0.0


DELIVERED_REPLY = Reply(AttemptResult.DELIVERED, "2.0.0", "250 2.0.0 OK")

_REPLY = re.compile(r"^([245])(\d\d)(?:[ -]+([245])\.(\d{1,3})\.(\d{1,3}))?(?:\s+(.*))?$")


def parse_reply(text: str) -> Reply:
    """Read an SMTP reply such as ``451 4.3.0 Try later``; the basic code's class decides the result.

    Without an enhanced status code the status is ``<class>.0.0``. Raises ValueError naming what was
    expected.
    """
    match = _REPLY.match(text.strip())
    if not match or match.group(1) not in "45":
        raise ValueError(
            f"expected a 4xx or 5xx SMTP reply such as \"451 4.3.0 Try again later\", "
            f"or refused, or timeout, got {text!r}"
        )
    klass = match.group(1)
    status = ".".join(match.group(i) for i in (3, 4, 5)) if match.group(3) else f"{klass}.0.0"
    result = AttemptResult.DEFERRED if klass == "4" else AttemptResult.REJECTED
    return Reply(result, status, text.strip())


def failure_reply(spec: str, connect_timeout_s: float) -> Reply:
    """The reply for an outage's ``failure``: ``refused``, ``timeout`` or an SMTP reply string."""
    if spec == "refused":
        return Reply(AttemptResult.REFUSED, "4.4.1", "connect: Connection refused")
    if spec == "timeout":
        return Reply(AttemptResult.TIMEOUT, "4.4.1", "connect: Connection timed out", connect_timeout_s)
    return parse_reply(spec)


@dataclass(frozen=True)
class Outage:
    """During ``[start_s, end_s)`` every attempt gets ``reply``."""

    start_s: float
    end_s: float
    reply: Reply


@dataclass(frozen=True)
class Recipient:
    """One recipient domain: its share of the messages and its outage windows (sorted, disjoint)."""

    domain: str
    share: float = 1.0
    outages: tuple[Outage, ...] = ()
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    #: This entry stands for this many independent domains (each draws its own random outage).
    domains: int = 1
    random_outage: "RandomOutage | None" = None
    _starts: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.outages, key=lambda o: o.start_s))
        for before, after in zip(ordered, ordered[1:]):
            if after.start_s < before.end_s:
                raise ValueError("outage windows of one recipient must not overlap")
        object.__setattr__(self, "outages", ordered)
        object.__setattr__(self, "_starts", tuple(o.start_s for o in ordered))

    def reply_at(self, t: float) -> Reply:
        """The reply to an attempt starting at ``t`` (outages are half-open ``[start, end)``)."""
        outage = self.outage_at(t)
        return DELIVERED_REPLY if outage is None else outage.reply

    def outage_at(self, t: float) -> Outage | None:
        """The outage window containing ``t``, if any."""
        i = bisect.bisect_right(self._starts, t) - 1
        if i >= 0 and t < self.outages[i].end_s:
            return self.outages[i]
        return None

    def describe(self) -> str:
        windows = ", ".join(
            f"[{format_duration(o.start_s)}, {format_duration(o.end_s)}) {o.reply.text}" for o in self.outages
        )
        if self.random_outage is not None:
            windows = self.random_outage.describe()
        many = f" x {self.domains} domains" if self.domains > 1 else ""
        return f"{self.domain}{many} (share {self.share:g}): " + (windows or "no outage")


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


def realize_recipients(recipients: tuple[Recipient, ...], seed: int) -> tuple[list[Recipient], np.ndarray]:
    """Concrete domains for one run: each entry expanded to its ``domains`` copies with their random
    outages drawn. Returns the domains and, per entry, the index of its first domain."""
    rng = generator(seed, Purpose.OUTAGES)
    concrete: list[Recipient] = []
    first = np.zeros(len(recipients), dtype=np.int64)
    for j, entry in enumerate(recipients):
        first[j] = len(concrete)
        if entry.domains == 1 and entry.random_outage is None:
            concrete.append(entry)
            continue
        starts = ends = None
        if entry.random_outage is not None:
            starts = entry.random_outage.start.draw(rng, entry.domains)
            ends = starts + entry.random_outage.duration.draw(rng, entry.domains)
        width = len(str(entry.domains))
        for k in range(entry.domains):
            name = entry.domain if entry.domains == 1 else f"{entry.domain}#{k:0{width}d}"
            outages = entry.outages
            if starts is not None and ends[k] > starts[k]:
                outages = (Outage(float(starts[k]), float(ends[k]), entry.random_outage.reply),)
            concrete.append(Recipient(name, entry.share, outages, entry.connect_timeout_s))
    return concrete, first


def recipient_from_node(node: Node) -> Recipient:
    node.require_mapping("a recipient such as {domain: partner.example, outages: [...]}")
    domain = node.text("domain")
    share = node.number("share", 1.0, minimum=0.0, exclusive_minimum=True)
    timeout_s = node.duration("connect_timeout", DEFAULT_CONNECT_TIMEOUT_S)
    domains = int(node.number("domains", 1, integer=True, minimum=1, maximum=1_000_000))
    random_outage = _random_outage_from_node(node.get("random_outage", None), timeout_s)
    outages: list[Outage] = []
    outage_list = node.get("outages", None)
    if outage_list is not None and random_outage is not None:
        raise outage_list.error("expected either outages or random_outage, not both")
    for item in outage_list.elements("a list of outages") if outage_list else []:
        item.require_mapping("an outage such as {start: 2h, end: 32h, failure: refused}")
        start = item.duration("start", allow_zero=True)
        end = item.duration("end")
        if end <= start:
            raise item.error(f"expected end after start ({format_duration(start)})", "end")
        reply = _failure_from_node(item, timeout_s)
        item.finish()
        for j, other in enumerate(outages):
            if start < other.end_s and other.start_s < end:
                raise item.error(f"expected outages of one recipient not to overlap; this one overlaps "
                                 f"{node.path}.outages[{j}]")
        outages.append(Outage(start, end, reply))
    node.finish()
    return Recipient(domain, share, tuple(outages), timeout_s, domains, random_outage)


_DEFAULT_FAILURE = "451 4.3.0 Mail server temporarily unavailable"


def _failure_from_node(item: Node, timeout_s: float) -> Reply:
    failure = item.get("failure", None)
    try:
        return failure_reply(failure.as_text() if failure else _DEFAULT_FAILURE, timeout_s)
    except ValueError as exc:
        raise failure.error(str(exc)) from None


def _random_outage_from_node(node: Node | None, timeout_s: float) -> RandomOutage | None:
    if node is None:
        return None
    node.require_mapping("a random outage such as {start: {kind: uniform, min: 0h, max: 24h}, "
                         "duration: {kind: lognormal, median: 1h, sigma: 1.5}}")
    start_node = node.get("start", None)
    start = Distribution("fixed", 0.0) if start_node is None else _distribution_from_node(start_node, allow_zero=True)
    duration = _distribution_from_node(node.get("duration"), allow_zero=False)
    reply = _failure_from_node(node, timeout_s)
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

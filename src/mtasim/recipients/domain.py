"""One recipient domain: its share of the messages, its outages and how it answers otherwise."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from ..config import Node
from ..durations import format_duration
from ..rng import Purpose, generator
from .outages import Outage, RandomOutage, outages_from_node, random_outage_from_node
from .replies import DEFAULT_CONNECT_TIMEOUT_S, DELIVERED_REPLY, Reply

__all__ = ["Recipient", "recipient_from_node", "realize_recipients"]


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
    random_outage = random_outage_from_node(node.get("random_outage", None), timeout_s)
    outage_list = node.get("outages", None)
    if outage_list is not None and random_outage is not None:
        raise outage_list.error("expected either outages or random_outage, not both")
    outages = outages_from_node(outage_list, timeout_s)
    node.finish()
    return Recipient(domain, share, outages, timeout_s, domains, random_outage)



"""What a recipient domain answers to an attempt that starts at time t.

Outages are data (half-open windows ``[start, end)``), queried at the attempt's start time; outside them
the recipient accepts the message. Replies are parsed once, when the scenario is read.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from enum import IntEnum

from .config import Node
from .durations import format_duration

__all__ = [
    "AttemptResult", "Reply", "Outage", "Recipient", "parse_reply", "recipient_from_node",
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
        i = bisect.bisect_right(self._starts, t) - 1
        if i >= 0 and t < self.outages[i].end_s:
            return self.outages[i].reply
        return DELIVERED_REPLY

    def describe(self) -> str:
        windows = ", ".join(
            f"[{format_duration(o.start_s)}, {format_duration(o.end_s)}) {o.reply.text}" for o in self.outages
        )
        return f"{self.domain} (share {self.share:g}): " + (windows or "no outage")


def recipient_from_node(node: Node) -> Recipient:
    node.require_mapping("a recipient such as {domain: partner.example, outages: [...]}")
    domain = node.text("domain")
    share = node.number("share", 1.0, minimum=0.0, exclusive_minimum=True)
    timeout_s = node.duration("connect_timeout", DEFAULT_CONNECT_TIMEOUT_S)
    outages: list[Outage] = []
    outage_list = node.get("outages", None)
    for item in outage_list.elements("a list of outages") if outage_list else []:
        item.require_mapping("an outage such as {start: 2h, end: 32h, failure: refused}")
        start = item.duration("start", allow_zero=True)
        end = item.duration("end")
        if end <= start:
            raise item.error(f"expected end after start ({format_duration(start)})", "end")
        failure = item.get("failure", "451 4.3.0 Mail server temporarily unavailable")
        spec = failure.as_text() if failure else "451 4.3.0 Mail server temporarily unavailable"
        try:
            reply = failure_reply(spec, timeout_s)
        except ValueError as exc:
            raise failure.error(str(exc)) from None
        item.finish()
        for j, other in enumerate(outages):
            if start < other.end_s and other.start_s < end:
                raise item.error(f"expected outages of one recipient not to overlap; this one overlaps "
                                 f"{node.path}.outages[{j}]")
        outages.append(Outage(start, end, reply))
    node.finish()
    return Recipient(domain, share, tuple(outages), timeout_s)

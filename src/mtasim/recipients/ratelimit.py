"""A recipient's capacity: a token bucket per domain, answering a throttle reply when it is empty, and a
limit on the sender's simultaneous connections, answering at the greeting when it is reached.

Large receivers throttle a sender that sends too fast: Gmail answers ``450 4.2.1 ... receiving mail too
quickly`` or ``421 4.7.28``, Yahoo ``421 4.7.0 [TSS04]``, Microsoft ``451 4.7.650``
(docs/provider-and-recipient-facts.md B.4). Vendors do not publish their limits, so the model is the
usual one: a bucket of ``burst`` tokens refilled at ``rate`` per second, full at the start; every attempt
that reaches the up server takes a token, and an attempt that finds none gets the throttle reply instead.
The bucket couples every message to one domain, so only the DES and the reference engine run it, taking
a moment's attempts in the sending MTA's queue order.

A connection limit is the server's cap on simultaneous sessions from one client (Postfix's
``smtpd_client_connection_count_limit``, counted by anvil(8), answers ``421 4.7.0 <host> Error: too many
connections from <ip>`` at the greeting, postfix/src/smtpd/smtpd.c); a sending MTA whose concurrency is
above it sees the excess sessions refused while the others deliver (Exim 4.96 against a server
answering ``421 4.7.0 Too many connections`` to its fifth connection: docs/mta-retry-facts.md §12).
Both limits are asked through one :class:`ServerGate` per domain, in the order a session meets them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from ..config import Node
from ..durations import DurationError, format_duration, parse_duration
from .replies import AttemptResult, Reply, parse_reply

__all__ = ["RateLimit", "TokenBucket", "ConnectionLimit", "ServerGate", "rate_limit_from_node",
           "connection_limit_from_node", "parse_rate", "format_rate"]

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*/\s*(\S+)\s*$")
_UNIT = {"s": "1s", "sec": "1s", "m": "1m", "min": "1m", "h": "1h", "hour": "1h", "d": "1d", "day": "1d"}


def parse_rate(text: object) -> float:
    """``"100/h"``, ``"5/10m"`` or ``"2/s"`` -> messages per second. Raises ValueError naming the form."""
    match = _RATE.match(str(text))
    if match:
        try:
            per = parse_duration(_UNIT.get(match.group(2), match.group(2)))
        except DurationError:
            per = math.nan
        count = float(match.group(1))
        if per > 0 and count > 0 and math.isfinite(count):
            return count / per
    raise ValueError(f"expected a rate above zero such as 100/h, 5/10m or 2/s, got {text!r}")


def format_rate(per_s: float) -> str:
    """The rate in the first unit (s, m, h, d) that makes it a whole number, else per hour."""
    for unit, seconds in (("s", 1.0), ("m", 60.0), ("h", 3600.0), ("d", 86400.0)):
        count = per_s * seconds
        if count >= 1 and abs(count - round(count)) < 1e-9 * count:
            return f"{round(count)}/{unit}"
    return f"{per_s * 3600:g}/h"


@dataclass(frozen=True)
class RateLimit:
    """``burst`` tokens, refilled at ``rate_per_s``; an attempt without a token gets ``reply``."""

    rate_per_s: float
    burst: float
    reply: Reply

    def new_bucket(self) -> "TokenBucket":
        return TokenBucket(self)

    def describe(self) -> str:
        advice = f", advising a retry after {format_duration(self.reply.retry_after_s)}" \
            if self.reply.retry_after_s else ""
        return f"rate limit {format_rate(self.rate_per_s)} (burst {self.burst:g}): {self.reply.text}{advice}"


class TokenBucket:
    """One domain's bucket for one run. The engines call :meth:`take` in event order, once per attempt
    that reaches the up server."""

    __slots__ = ("limit", "tokens", "at")

    def __init__(self, limit: RateLimit):
        self.limit = limit
        self.tokens = limit.burst
        self.at = -math.inf

    def take(self, t: float) -> bool:
        """Whether an attempt at ``t`` finds a token (and takes it)."""
        if t > self.at > -math.inf:
            self.tokens = min(self.limit.burst, self.tokens + (t - self.at) * self.limit.rate_per_s)
        self.at = max(self.at, t)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


#: What a server at its connection limit answers by default (the §12 runs' scripted server; Postfix's
#: smtpd adds its host name and the client's address to the same 421 4.7.0).
TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections"


@dataclass(frozen=True)
class ConnectionLimit:
    """At most ``connections`` sessions from the sender at once; one more gets ``reply`` at the greeting
    (it takes no token and no transaction time; a 421 ends the session)."""

    connections: int
    reply: Reply

    def describe(self) -> str:
        return f"at most {self.connections} connections at once: {self.reply.text}"


class ServerGate:
    """One domain's server-side capacity for one run, asked once per attempt that reaches the up server,
    in event order: the connection limit at the greeting first, then the bucket's token at RCPT."""

    __slots__ = ("connections", "bucket")

    def __init__(self, connections: ConnectionLimit | None, rate: RateLimit | None):
        self.connections = connections
        self.bucket = rate.new_bucket() if rate is not None else None

    def refusal(self, t: float, open_connections: int) -> Reply | None:
        """None when an attempt at ``t``, with ``open_connections`` other sessions of the sender open to the
        domain, gets through; else the limit's reply."""
        if self.connections is not None and open_connections >= self.connections.connections:
            return self.connections.reply
        if self.bucket is not None and not self.bucket.take(t):
            return self.bucket.limit.reply
        return None

    @property
    def replies(self) -> list[Reply]:
        """Every reply :meth:`refusal` can give."""
        return [limit.reply for limit in (self.connections, self.bucket and self.bucket.limit) if limit]


def connection_limit_from_node(node: Node | None) -> ConnectionLimit | None:
    """``max_connections: 4`` or ``max_connections: {connections: 4, reply: "421 4.7.0 Too many connections"}``."""
    if node is None:
        return None
    if not isinstance(node.value, dict):
        count = node.as_number(integer=True, minimum=1, maximum=1_000_000)
        return ConnectionLimit(int(count), replace(parse_reply(TOO_MANY_CONNECTIONS), at_greeting=True))
    node.require_mapping('a number of connections, or {connections: 4, reply: "421 4.7.0 Too many connections"}')
    count = node.number("connections", integer=True, minimum=1, maximum=1_000_000)
    reply = _deferral_reply(node, TOO_MANY_CONNECTIONS, f"a 4xx reply such as {TOO_MANY_CONNECTIONS!r}")
    node.finish()
    return ConnectionLimit(int(count), replace(reply, at_greeting=True))


def _deferral_reply(node: Node, default: str, expected: str) -> Reply:
    """The limit's ``reply`` key (``default`` when absent), which must be a 4xx: a limit defers."""
    reply_node = node.get("reply", None)
    text = reply_node.as_text() if reply_node is not None else default
    try:
        reply = parse_reply(text)
    except ValueError as exc:
        raise (reply_node or node).error(str(exc)) from None
    if reply.result != AttemptResult.DEFERRED:
        raise (reply_node or node).error(f"expected {expected}, got {text!r}")
    return reply


def rate_limit_from_node(node: Node | None) -> RateLimit | None:
    """``rate_limit: {rate: 100/h, burst: 20, reply: "421 4.7.0 Try again later, closing connection"}``."""
    if node is None:
        return None
    node.require_mapping('a token bucket such as {rate: 100/h, burst: 20, reply: "421 4.7.0 Try again later"}')
    rate_node = node.get("rate")
    try:
        rate = parse_rate(rate_node.value)
    except ValueError as exc:
        raise rate_node.error(str(exc)) from None
    burst = node.number("burst", 1.0, minimum=1.0, maximum=1e9)
    if math.isnan(burst):
        raise node.error("expected a number of tokens of at least 1, got nan", "burst")
    reply = _deferral_reply(node, "421 4.7.0 Try again later, closing connection", "a 4xx throttle reply")
    advice = node.duration("retry_after", 0.0, allow_zero=True)
    if advice:
        reply = replace(reply, retry_after_s=advice)
    node.finish()
    return RateLimit(rate, burst, reply)


"""Replies: what one attempt gets back (an SMTP reply, a refused or a timed-out connection)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:                       # pragma: no cover - for type checkers only (behaviour imports this module)
    from .behaviour import Behaviour

__all__ = ["AttemptResult", "Reply", "HostAnswer", "parse_reply", "failure_reply", "DELIVERED_REPLY", "DEFAULT_CONNECT_TIMEOUT_S"]

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
    #: A wait the reply advises before the next try (Yahoo's TSS04: 4 h); honoured only by senders that
    #: say so (Sender.honours_retry_after).
    retry_after_s: float = 0.0
    #: The server ended the session at its greeting (a connection limit's 421): no transaction took place.
    at_greeting: bool = False
    #: With MX hosts: which host gave this answer and what it does while up (mtasim.engine.mx); None for a
    #: domain's single server.
    via: Optional["HostAnswer"] = None

    @property
    def holds_transaction(self) -> bool:
        """Whether an attempt so answered by an up server went through an SMTP transaction (and so takes
        the recipient's transaction time): not a failed or held-back connection, not a greeting refusal."""
        return not (self.at_greeting or self.result in (AttemptResult.REFUSED, AttemptResult.TIMEOUT,
                                                          AttemptResult.SUSPENDED))

    @property
    def closes_connection(self) -> bool:
        """A 421 ends the session (RFC 5321 §3.8): Postfix counts it against the site, like a refused connection."""
        return self.text.startswith("421")


@dataclass(frozen=True)
class HostAnswer:
    """An MX host reached by an attempt (mtasim.engine.mx): its place in preference order, whether it is a
    backup MX, the rules it answers by while up, and (Postfix) what the attempt gets from the hosts after it
    when those rules defer the message."""

    rank: int
    backup: bool = False
    #: What the host says besides 250 while up (a :class:`~mtasim.recipients.behaviour.Behaviour`); None:
    #: it accepts.
    rules: Optional["Behaviour"] = None
    #: The answer of the hosts after this one when its rules defer (Postfix passes the recipient on,
    #: ``smtp_rcpt_fail()``); None: the deferral is the attempt's answer.
    fallback: Optional["Reply"] = None


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



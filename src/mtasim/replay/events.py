"""One event read off a mail log, the same record whichever program wrote the line.

Parsers (mtasim.replay.postfix, .exim, .exchange) turn lines into these; mtasim.replay.reconstruct
builds messages and destinations from them and never sees a log line.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..recipients import AttemptResult

__all__ = ["Kind", "Event", "domain_of"]


class Kind(Enum):
    ARRIVAL = "arrival"      # the message entered the queue (Postfix cleanup/smtpd, Exim <=, Exchange RECEIVE)
    ATTEMPT = "attempt"      # one delivery pass for one recipient: connected or held back, with its reply
    NOTICE = "notice"        # a notification to the sender (delay warning; after the final: the bounce);
                             # its own queue id in ``reply``, so its delivery is not taken for mail
    EXPIRED = "expired"      # the message (recipient "": every recipient still queued) was given up
    REMOVED = "removed"      # the queue file is gone (Postfix removed, Exim Completed)


@dataclass(frozen=True, slots=True)
class Event:
    """``time_s``: UTC epoch seconds. ``key``: the queue id (Postfix), message id (Exim, Exchange).
    For attempts: ``result`` (SUSPENDED: a pass without a connection), the relay, the reply text as
    the remote server gave it (or ``refused``/``timeout``) and the DSN status the log shows."""

    time_s: float
    key: str
    kind: Kind
    recipient: str = ""
    result: AttemptResult | None = None
    relay: str = ""
    reply: str = ""
    status: str = ""


def domain_of(address: str) -> str:
    """The destination of a recipient address: its domain, lower case."""
    return address.rsplit("@", 1)[-1].strip().lower().rstrip(".") if "@" in address else ""

"""Whether a sender hands a connection that just finished with one message to the next message for the same
destination, so that message skips the connection set-up (TCP, greeting, EHLO, STARTTLS: a recipient's
``connection_setup``).

Real MTAs do so while a destination has a backlog, within limits:

- **Postfix** ``smtp_connection_cache_on_demand`` (yes): a session is cached after a mail transaction while
  the destination has mail waiting, whatever the transaction's outcome, unless the server closed it (a 421)
  or it is *expired*: used more than ``smtp_connection_reuse_time_limit`` (300 s) after it was opened, or
  reused ``smtp_connection_reuse_count_limit`` times (0: no limit) (postfix/src/smtp/smtp.h
  ``THIS_SESSION_IS_EXPIRED``; postconf(5)). ``no``: every delivery opens its own connection.
- **Exim** passes the connection on only when a message was delivered down it, to another message waiting
  for the same host, until ``connection_max_messages`` (500; 0: no limit) messages went down it (Exim spec,
  "The smtp transport": multiple messages on a single connection).

In the model a connection frees when its attempt's answer is in; at that moment, if the rule lets it, it
goes to an attempt of the same destination that starts then (the waiting line's first, in queue order),
which takes no set-up time. A connection no attempt takes at that moment is closed. The per-message steps
(mtasim.engine.reference.MessageCalendar) apply this rule; the DES runs such destinations on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .durations import format_duration

__all__ = ["ConnectionReuse", "Connection"]


@dataclass(frozen=True)
class ConnectionReuse:
    """How long and for how many messages a connection is used, and after which answers it is passed on."""

    #: Messages sent down one connection at most (None: no limit).
    max_messages: int | None = None
    #: Seconds after the connection was opened past which it is not used again (None: no limit).
    max_age_s: float | None = None
    #: True: passed on after any answer the server gave without closing the session (Postfix); False: only
    #: after a delivery (Exim).
    after_deferral: bool = True

    def passes_on(self, connection: "Connection", now: float, delivered: bool) -> bool:
        """Whether ``connection``, finishing a message at ``now``, may carry the next one."""
        if not (delivered or self.after_deferral):
            return False
        if self.max_messages is not None and connection.messages >= self.max_messages:
            return False
        return self.max_age_s is None or now - connection.opened_s <= self.max_age_s

    def describe(self) -> str:
        limits = [f"{self.max_messages} messages" if self.max_messages else "",
                  f"{format_duration(self.max_age_s)} after it opens" if self.max_age_s is not None else ""]
        text = " or ".join(x for x in limits if x) or "no limit"
        after = "any answer" if self.after_deferral else "a delivery"
        return f"passed on after {after}, up to {text}"


@dataclass
class Connection:
    """One open connection: when it was opened and how many messages went down it."""

    opened_s: float
    messages: int = 1

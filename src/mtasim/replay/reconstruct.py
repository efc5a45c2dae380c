"""Events -> messages and destinations: what the log shows happened, and the outages it implies.

A message here is one recipient of one queued message (Postfix queue id, Exim or Exchange message id),
as in ``mtasim run``: its arrival (None when the log starts after it), every pass with its time, relay
and reply (SUSPENDED: held back without a connection), the delay warnings, the outcome (delivered at
the first 2xx, bounced at a 5xx, expired when the MTA gave up, queued when the log ends first) and its
status. Notifications (delay warnings, bounces) are not messages of their own: their delivery to the
sender is left out. Nothing depends on the order the events come in.

Outages are inferred per destination from the passes that connected (or tried to): a window runs from
the first failure after a success to the first success after failures. Neither boundary is observed,
only bracketed: the outage began after the last success (``start_after_s``, None when the log starts
in it) and by the first failure (``start_by_s``); it ended after the last failure (``end_after_s``) and
by the first success (``end_by_s``, None when the log ends in it).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..recipients import AttemptResult
from ..results import Outcome
from .events import Event, Kind, domain_of

__all__ = ["Attempt", "Message", "Outage", "Reconstruction", "reconstruct", "failure_kind"]


@dataclass(frozen=True)
class Attempt:
    time_s: float
    result: AttemptResult
    relay: str
    reply: str
    status: str


@dataclass
class Message:
    key: str
    recipient: str
    domain: str
    arrival_s: float | None
    attempts: list[Attempt]
    outcome: Outcome
    final_s: float | None
    status: str
    warnings: list[float]

    @property
    def first_seen_s(self) -> float:
        times = [t for t in (self.arrival_s, *(a.time_s for a in self.attempts), self.final_s) if t is not None]
        return min(times)


@dataclass
class Outage:
    """One inferred window at a destination (epoch seconds); ``runs``: consecutive failures of one kind
    as ``(kind, first, last, count)``."""

    domain: str
    start_after_s: float | None
    start_by_s: float
    end_after_s: float
    end_by_s: float | None
    runs: list[tuple[str, float, float, int]] = field(default_factory=list)

    @property
    def failures(self) -> Counter:
        out: Counter = Counter()
        for kind, _, _, n in self.runs:
            out[kind] += n
        return out

    @property
    def kind(self) -> str:
        """The failure seen most often in the window (ties: the first seen)."""
        return self.failures.most_common(1)[0][0]


@dataclass
class Reconstruction:
    messages: list[Message]           # ordered by arrival (first sight for unknown arrivals), key, recipient
    outages: list[Outage]
    first_s: float                    # the earliest event kept
    last_s: float                     # the latest event read
    events: int


def failure_kind(a: Attempt) -> str:
    """``refused``, ``timeout`` or the 4xx reply text of a failed pass."""
    if a.result == AttemptResult.REFUSED:
        return "refused"
    if a.result == AttemptResult.TIMEOUT:
        return "timeout"
    return a.reply


def reconstruct(events: Iterable[Event]) -> Reconstruction:
    """Read every event once (the log is streamed) and build messages and outages."""
    arrival: dict[str, float] = {}
    notices: dict[str, list[float]] = {}
    expired_key: dict[str, Event] = {}
    expired_rcpt: dict[tuple[str, str], Event] = {}
    attempts: dict[tuple[str, str], list[Attempt]] = {}
    notifications: set[str] = set()          # the notices' own ids: their delivery is not the sender's mail
    last, n = -math.inf, 0
    for e in events:
        n += 1
        last = max(last, e.time_s)
        if e.kind == Kind.ARRIVAL:
            arrival[e.key] = min(arrival.get(e.key, e.time_s), e.time_s)
        elif e.kind == Kind.NOTICE:
            notices.setdefault(e.key, []).append(e.time_s)
            if e.reply:
                notifications.add(e.reply)
        elif e.kind == Kind.EXPIRED:
            if e.recipient:
                expired_rcpt.setdefault((e.key, e.recipient), e)
            else:
                expired_key.setdefault(e.key, e)
        elif e.kind == Kind.ATTEMPT and e.result is not None:
            attempts.setdefault((e.key, e.recipient), []).append(
                Attempt(e.time_s, e.result, e.relay, e.reply, e.status))
    messages = [_message(key, rcpt, attempts.get((key, rcpt), []), arrival.get(key), notices.get(key, []),
                         expired_rcpt.get((key, rcpt)) or expired_key.get(key))
                for key, rcpt in set(attempts) | set(expired_rcpt) if key not in notifications]
    messages.sort(key=lambda m: (m.arrival_s if m.arrival_s is not None else m.first_seen_s, m.key, m.recipient))
    first = min((m.first_seen_s for m in messages), default=0.0)
    return Reconstruction(messages, infer_outages(messages), first, last if n else 0.0, n)


def _message(key: str, rcpt: str, tries: list[Attempt], arrival: float | None, notices: list[float],
             expiry: Event | None) -> Message:
    tries.sort(key=lambda a: a.time_s)
    outcome, final, status = Outcome.QUEUED, None, tries[-1].status if tries else ""
    for a in tries:
        if a.result == AttemptResult.DELIVERED:
            outcome, final, status = Outcome.DELIVERED, a.time_s, a.status
            break
        if a.result == AttemptResult.REJECTED:
            outcome, final, status = Outcome.BOUNCED, a.time_s, a.status
            break
    else:
        if expiry is not None:
            outcome, final = Outcome.EXPIRED, expiry.time_s
            status = expiry.status or status
    if final is not None:
        tries = [a for a in tries if a.time_s <= final]
    if arrival is not None and arrival > min((a.time_s for a in tries), default=arrival):
        arrival = None                       # the arrival line seen is not this message's (ids reused)
    ended = final if final is not None and outcome in (Outcome.EXPIRED, Outcome.BOUNCED) else math.inf
    warnings = sorted(t for t in notices if t < ended)
    return Message(key, rcpt, domain_of(rcpt), arrival, tries, outcome, final, status, warnings)


def infer_outages(messages: list[Message]) -> list[Outage]:
    """Each destination's windows from its passes that connected or tried to (held-back passes do not
    probe the destination), in time order."""
    by_domain: dict[str, list[tuple[float, str | None]]] = {}
    for m in messages:
        for a in m.attempts:
            if a.result == AttemptResult.SUSPENDED:
                continue
            up = a.result in (AttemptResult.DELIVERED, AttemptResult.REJECTED)
            by_domain.setdefault(m.domain, []).append((a.time_s, None if up else failure_kind(a)))
    out: list[Outage] = []
    for domain in sorted(by_domain):
        seq = sorted(by_domain[domain], key=lambda x: (x[0], x[1] is not None))
        last_up: float | None = None
        cur: Outage | None = None
        for t, kind in seq:
            if kind is None:
                if cur is not None:
                    cur.end_by_s = t
                    out.append(cur)
                    cur = None
                last_up = t
                continue
            if cur is None:
                cur = Outage(domain, last_up, t, t, None)
            cur.end_after_s = t
            if cur.runs and cur.runs[-1][0] == kind:
                cur.runs[-1] = (kind, cur.runs[-1][1], t, cur.runs[-1][3] + 1)
            else:
                cur.runs.append((kind, t, t, 1))
        if cur is not None:
            out.append(cur)
    return out

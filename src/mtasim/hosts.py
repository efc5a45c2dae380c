"""Host-level state: what a sending MTA remembers about a destination across messages.

Real MTAs do not let every queued message find out for itself that a destination is down: Postfix marks
a destination dead after a few failed connections and defers the rest of its mail without connecting,
Sendmail caches a host's failure (for one queue run, or for ``Timeout.hoststatus`` with a host-status
directory). Such state couples messages to each other, so the fast engine cannot run it
(:func:`mtasim.engine.des_only_features`); the DES and the reference engine apply it to the events of a
moment in the MTA's queue order (mtasim.queue_order). An attempt that the state skips is recorded with
result ``suspended``: it counts as a pass of the message (its own schedule continues) but made no
connection.

A policy is a small frozen description on the :class:`~mtasim.sender.Sender`; ``new_state(sender)`` gives
the mutable state of one destination for one run (the sender: its clock, for whole-second MTAs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol

from .recipients import AttemptResult, Reply

if TYPE_CHECKING:
    from .schedules import Schedule
    from .sender import Sender

__all__ = ["HostPolicy", "HostState", "DecidingHostState", "NextStep", "PostfixDeadDestination", "SendmailHostStatus", "OpenSMTPDRouteDisable",
           "EximHostRetry", "ExchangeRetryQueue",
           "suspended_reply", "connection_failures_possible", "concurrency_window",
           "note_busy"]


class NextStep(NamedTuple):
    """Exactly one of ``attempt_s`` and ``give_up_s`` is set; ``due_s`` is when the schedule made the
    message due (before queue-runner alignment), when there is a next attempt."""

    attempt_s: float | None
    give_up_s: float | None
    due_s: float | None = None


def suspended_reply(cause: Reply | None, prefix: str) -> Reply:
    """The deferral of a message the host state held back: the cached failure's status, no connection."""
    assert cause is not None, "a state holds messages back only after a failure"
    return Reply(AttemptResult.SUSPENDED, cause.status, f"{prefix}{cause.text}")


class HostState(Protocol):
    """The mutable state of one destination for one run."""

    def before_attempt(self, t: float, arrival_s: float = 0.0) -> Reply | None:
        """None to connect; else the deferral to record without connecting."""

    def after_attempt(self, t: float, reply: Reply) -> None:
        """Learn from a real attempt's reply."""

    def quiet(self) -> tuple[Reply | None, float] | None:
        """``(decision, until)`` when every attempt before ``until`` is decided without changing this
        state: ``decision`` None connects (provided the reply is not a connection failure), a Reply holds the
        attempt back; None when the next attempt may change the state. The batched DES advances the
        messages of a quiet destination together; an ``until`` on the early side is always safe."""


class DecidingHostState(HostState, Protocol):
    """A state that also sets a message's next step after a connection failure or a held-back pass
    (Exim's host record, Exchange's queue in Retry); its policy has ``decides_next_step = True``."""

    def next_step(self, t: float, arrival_s: float, sender: "Sender") -> NextStep | None:
        """The next attempt or the give-up that the host dictates, or None to leave the message's own."""


class HostPolicy(Protocol):
    #: What the fast engine names when it refuses a scenario that needs this state.
    feature: str
    #: Whether its states are DecidingHostStates.
    decides_next_step: bool

    def new_state(self, sender: "Sender") -> HostState:
        """Fresh state for one destination (the sender: its clock and rules)."""

    def matters(self, recipients) -> bool:
        """Whether this state can change anything for these recipients (else every engine may run)."""


def concurrency_window(state: HostState) -> float:
    """How many deliveries to the destination the state lets run at once (Postfix's window; else no bound)."""
    window = getattr(state, "concurrency_window", None)
    return window() if window is not None else math.inf


def note_busy(state: HostState, deliveries: int) -> None:
    """Tell a state with a concurrency window how many deliveries are under way or waiting for a slot."""
    if hasattr(state, "busy"):
        state.busy = deliveries


def connection_failures_possible(recipients) -> bool:
    """Whether any recipient refuses or times out connections: the only failures the host-level states
    modelled here learn from (a 4xx at RCPT never marks a Postfix destination dead)."""
    for r in recipients:
        if any(reply.result.is_connection_failure or reply.closes_connection for reply in r.failure_replies):
            return True
    return False


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PostfixDeadDestination:
    """Postfix qmgr's destination window and dead destination (docs/mta-retry-facts.md §1, §12;
    postfix/src/qmgr/qmgr_queue.c ``qmgr_queue_throttle()`` / ``qmgr_queue_unthrottle()``, called from
    qmgr_deliver.c after each delivery).

    A destination's in-memory queue starts with a concurrency window of ``initial_window``
    (initial_destination_concurrency 5) and never runs more deliveries at once than the window (nor than
    default_destination_concurrency_limit, the sender's ``concurrency``).

    * A delivery without a site-level problem (delivered, or a 4xx/5xx at RCPT) is positive feedback:
      the failed-cohort count is cleared, and while the window is below both the limit and the busy
      deliveries plus ``initial_window``, ``1/window`` is added to a success counter; each time it
      reaches 1 (with half a step of rounding margin) the window grows by one. So a slow destination's
      window climbs from 5 to 20 by one per window's worth of deliveries.
    * A site-level failure (connection refused or timed out, a 421 that ends the session) adds
      1/window to the failed-cohort count; when that reaches ``cohort_limit`` the destination is dead
      for ``dead_for_s`` (minimal_backoff_time): messages tried meanwhile are deferred without a
      connection, "delivery temporarily suspended". Otherwise the negative feedback (1) is taken off a
      failure counter and the window shrinks by one for each unit it falls below half a step (the first
      failure after growth takes two off the window: the code's overshoot guard), never below 1.
    * Postfix throws the in-memory queue away when it empties, so an attempt with no other delivery busy
      more than ``idle_s`` after the last starts from a fresh queue (a single message retried alone never
      adds up failures); the un-dead timer also starts a fresh queue.
    """

    dead_for_s: float = 300.0
    cohort_limit: float = 1.0
    initial_window: int = 5
    negative_feedback: int = 1
    idle_s: float = 1.0
    decides_next_step: ClassVar[bool] = False
    feature: str = "Postfix's dead-destination state (default_destination_concurrency_failed_cohort_limit)"

    def new_state(self, sender: "Sender") -> "_PostfixState":
        return _PostfixState(self, sender)

    def matters(self, recipients) -> bool:
        """Connection failures mark destinations dead; slow servers make the window limit concurrency."""
        return connection_failures_possible(recipients) or any(r.transaction_time is not None for r in recipients)


class _PostfixState:
    def __init__(self, policy: PostfixDeadDestination, sender: "Sender"):
        self.p = policy
        self.limit = math.inf if sender.concurrency is None else float(sender.concurrency)
        #: deliveries to the destination under way (the one being learnt from included) or waiting for a
        #: slot, which Postfix would start as soon as one frees (set by the calendar that holds connection
        #: slots; 0 where attempts take no time)
        self.busy = 0
        self.dead_until = -1.0
        self.last_t = -1e300
        self.cause: Reply | None = None
        self.window = self.failed = self.success = self.failure = 0.0
        self._fresh()

    def before_attempt(self, t: float, arrival_s: float = 0.0) -> Reply | None:
        if t < self.dead_until:
            return suspended_reply(self.cause, "delivery temporarily suspended: ")
        if t >= self.dead_until > 0:               # the un-mark timer fired: a fresh queue
            self.dead_until = -1.0
            self._fresh()
        return None

    def after_attempt(self, t: float, reply: Reply) -> None:
        if self.busy <= 1 and t - self.last_t > self.p.idle_s:
            self._fresh()
        self.last_t = t
        if reply.result.is_connection_failure or reply.closes_connection:   # 421: the site ended the session
            self._throttle(t, reply)
        elif reply.result != AttemptResult.SUSPENDED:
            self._unthrottle()

    def _throttle(self, t: float, reply: Reply) -> None:
        self.failed += 1.0 / self.window
        if self.p.cohort_limit > 0 and self.failed >= self.p.cohort_limit - 1e-12:
            self.dead_until = t + self.p.dead_for_s
            self.cause = reply
            return
        feedback = float(self.p.negative_feedback)
        self.failure -= feedback
        while self.failure - feedback / 2 < 0:
            self.window -= 1.0
            self.success = 0.0
            self.failure += 1.0
        self.window = max(1.0, self.window)

    def _unthrottle(self) -> None:
        self.failed = 0.0
        if self.window < self.limit and self.window < self.busy + self.p.initial_window:
            feedback = 1.0 / self.window                # default_destination_concurrency_positive_feedback
            self.success += feedback
            while self.success + feedback / 2 >= 1.0:
                self.window += 1.0
                self.success -= 1.0
                self.failure = 0.0
            self.window = min(self.window, self.limit)

    def _fresh(self) -> None:
        self.window = float(self.p.initial_window)
        self.failed = self.success = self.failure = 0.0

    def concurrency_window(self) -> float:
        """How many deliveries to the destination may be under way at once."""
        return min(self.window, self.limit)

    def quiet(self) -> tuple[Reply | None, float] | None:
        if self.dead_until > 0:
            return suspended_reply(self.cause, "delivery temporarily suspended: "), self.dead_until
        # at rest: an answered attempt refreshes what is already fresh (last_t only matters when not at
        # rest; with nothing busy the window cannot grow past its initial size)
        if self.failed == 0.0 and self.failure == 0.0 and self.window == float(self.p.initial_window):
            return None, math.inf
        return None


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SendmailHostStatus:
    """Sendmail's host-status (MCI) cache (docs/mta-retry-facts.md §3, §12; sendmail/mci.c, deliver.c).

    After a failed connection the host's status is cached: without ``HostStatusDirectory`` only inside
    one queue-run process, so the other messages for that host in the same run are skipped without a
    connection; with it (Debian), for ``Timeout.hoststatus`` across runs. A skipped job still counts as
    processed (its expiry and warning checks run). Within a run the jobs with the fewest tries go first
    (the preset's ``fewest-tries`` queue order), so they are the ones that get the connection.
    """

    hoststatus_s: float = 1800.0
    persistent: bool = False
    decides_next_step: ClassVar[bool] = False
    feature: str = "Sendmail's host-status cache"

    def new_state(self, sender: "Sender") -> "_SendmailState":
        return _SendmailState(self, sender)

    def matters(self, recipients) -> bool:
        return connection_failures_possible(recipients)


class _SendmailState:
    def __init__(self, policy: SendmailHostStatus, sender: "Sender"):
        self.p = policy
        self.failed_at: float | None = None
        self.cause: Reply | None = None

    def before_attempt(self, t: float, arrival_s: float = 0.0) -> Reply | None:
        if self.failed_at is None:
            return None
        fresh = (t - self.failed_at < self.p.hoststatus_s) if self.p.persistent else (t == self.failed_at)
        return suspended_reply(self.cause, "") if fresh else None

    def after_attempt(self, t: float, reply: Reply) -> None:
        if reply.result.is_connection_failure:
            self.failed_at, self.cause = t, reply
        elif reply.result in (AttemptResult.DELIVERED, AttemptResult.DEFERRED, AttemptResult.REJECTED):
            self.failed_at = None                     # the host answered

    def quiet(self) -> tuple[Reply | None, float] | None:
        if self.failed_at is None:
            return None, math.inf
        if self.p.persistent:                        # held while t - failed_at < hoststatus: stop early
            until = self.failed_at + self.p.hoststatus_s
            return suspended_reply(self.cause, ""), until - 1e-9 * max(1.0, abs(until))
        return None


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpenSMTPDRouteDisable:
    """OpenSMTPD's route backoff (docs/mta-retry-facts.md §5, §12; usr.sbin/smtpd/mta.c mta_route_disable()).

    A failed connection on a route disables it for ``base_s`` x penalty^2 (capped at ``max_s``); the
    penalty rises by one per such failure and falls by one when the timer re-enables the route, so with
    one connection at a time every disable lasts 15 s. An envelope dispatched while the route is disabled
    is deferred without connecting and still uses up a retry step. Deferred envelopes are not pulled
    forward when the route recovers (as the 6.8 run showed).
    """

    base_s: float = 15.0
    max_s: float = 3600.0
    decides_next_step: ClassVar[bool] = False
    feature: str = "OpenSMTPD's route disabling"

    def new_state(self, sender: "Sender") -> "_RouteState":
        return _RouteState(self, sender)

    def matters(self, recipients) -> bool:
        return connection_failures_possible(recipients)


class _RouteState:
    def __init__(self, policy: OpenSMTPDRouteDisable, sender: "Sender"):
        self.p = policy
        self.penalty = 0
        self.disabled_until: float | None = None
        self.cause: Reply | None = None

    def before_attempt(self, t: float, arrival_s: float = 0.0) -> Reply | None:
        if self.disabled_until is not None:
            if t < self.disabled_until:
                return suspended_reply(self.cause, "route disabled: ")
            self.disabled_until = None              # the timer re-enabled the route
            self.penalty = max(0, self.penalty - 1)
        return None

    def after_attempt(self, t: float, reply: Reply) -> None:
        if reply.result.is_connection_failure:
            self.penalty += 1
            self.disabled_until = t + min(self.p.base_s * self.penalty ** 2, self.p.max_s)
            self.cause = reply

    def quiet(self) -> tuple[Reply | None, float] | None:
        if self.disabled_until is None:
            return None, math.inf
        return suspended_reply(self.cause, "route disabled: "), self.disabled_until


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EximHostRetry:
    """Exim's per-host retry records for connection failures (docs/mta-retry-facts.md §2, §12; src/src/retry.c).

    One record per destination, shared by every message to it: the first failure opens it
    (first_failed = last_try = next_try = now), each later failed connection moves ``next_try`` by the
    retry rules (``schedule``: an EximSchedule, fed the record's failing interval and its last planned and
    actual gaps), a host that answers deletes it. A message tried before ``next_try`` is skipped without a
    connection ("retry time not reached") and waits for the record's next try, so the messages to one
    host follow one schedule and some never get a connection of their own. Once the record's failing
    interval passes the final cutoff every message to the host fails "retry timeout exceeded" at its next
    pass, even one that arrived minutes ago; a message older than the final cutoff gets one forced attempt
    (the ultimate address timeout). A 4xx to RCPT is keyed per address: the message's own schedule.
    H rules draw their random gap with the nominal draw 1 here.
    """

    schedule: Any                               # an EximSchedule (mtasim.presets.exim)
    decides_next_step: ClassVar[bool] = True
    feature: str = "Exim's per-host retry records"

    def new_state(self, sender: "Sender") -> "_EximHostState":
        return _EximHostState(self, sender)

    def matters(self, recipients) -> bool:
        return connection_failures_possible(recipients)


class _EximHostState:
    def __init__(self, policy: EximHostRetry, sender: "Sender"):
        self.clock = sender.clock
        self.schedule = policy.schedule
        self.timeout_s = policy.schedule.timeout_age_s        # final cutoff + Exim's 1 s clock
        self.record: list[float] | None = None               # [first_failed, last_try, next_try, failures]
        self.expired = False
        self.cause: Reply | None = None

    def _forced(self, t: float, arrival_s: float) -> bool:
        return self.clock(t) - self.clock(arrival_s) >= self.timeout_s              # the ultimate address timeout

    def before_attempt(self, t: float, arrival_s: float = 0.0) -> Reply | None:
        if self.record is None or self._forced(t, arrival_s):
            return None
        if self.expired:
            return suspended_reply(self.cause, "all hosts have been failing for a long time: ")
        if t < self.record[2]:
            return suspended_reply(self.cause, "retry time not reached: ")
        return None

    def after_attempt(self, t: float, reply: Reply) -> None:
        if not reply.result.is_connection_failure:
            self.record, self.expired = None, False          # the host answered: the record goes
            return
        self.cause = reply
        t = float(self.clock(t))                            # Exim's retry records keep whole seconds
        if self.record is None:
            self.record = [t, t, t, 0]
        first, last, next_try, previous = self.record
        failures = int(previous) + 1
        prev_wait = next_try - last if failures > 1 else math.nan
        prev_gap = t - last if failures > 1 else math.nan
        wait = self.schedule.wait_after_history(failures, t - first, 1.0, True, prev_wait, prev_gap)
        if wait is None:
            self.expired = True
            wait = 0.0
        self.record = [first, t, t + wait, failures]

    def quiet(self) -> tuple[Reply | None, float] | None:
        # with a record, what a message is told depends on its own age (the forced attempt): not quiet
        return (None, math.inf) if self.record is None and not self.expired else None

    def next_step(self, t: float, arrival_s: float, sender: "Sender") -> NextStep | None:
        """After a connection failure or a skipped pass: wait for the record's next try (or the
        message's ultimate timeout), or give up once the record (or the message) is past the cutoff."""
        if self.record is None:
            return None
        if self.expired or self._forced(t, arrival_s):
            return NextStep(None, t)
        due = min(self.record[2], float(self.clock(arrival_s)) + self.timeout_s)
        return NextStep(sender.next_scan(due, t), None, due)


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExchangeRetryQueue:
    """Exchange's next-hop queue in Retry (docs/provider-and-recipient-facts.md A.2; learn.microsoft.com
    "Message retry, resubmit, and expiration intervals").

    A failed connection puts the destination's queue into Retry: the queue, not each message, tries to
    connect again, on the glitch -> transient -> outbound-connection-failure ladder (``ladder``, the
    preset's connection schedule, counted per queue). Messages for that destination wait for the queue's
    next try (new mail joins the wait); when it connects, every waiting message goes out at once. A 4xx
    reply to one message is message-level: that message waits MessageRetryInterval on its own. The
    message still expires at exactly its own MessageExpirationTimeout (at-deadline).
    """

    ladder: "Schedule"                          # the connection-failure schedule of the preset
    decides_next_step: ClassVar[bool] = True
    feature: str = "Exchange's per-destination retry queue"

    def new_state(self, sender: "Sender") -> "_ExchangeQueueState":
        return _ExchangeQueueState(self, sender)

    def matters(self, recipients) -> bool:
        return connection_failures_possible(recipients)


class _ExchangeQueueState:
    def __init__(self, policy: ExchangeRetryQueue, sender: "Sender"):
        self.ladder = policy.ladder
        self.failures = 0
        self.next_try: float | None = None
        self.cause: Reply | None = None

    def before_attempt(self, t: float, arrival_s: float = 0.0) -> Reply | None:
        if self.next_try is not None and t < self.next_try:
            return suspended_reply(self.cause, "queue in Retry: ")
        return None

    def after_attempt(self, t: float, reply: Reply) -> None:
        if reply.result.is_connection_failure:
            self.failures += 1
            wait = self.ladder.wait_after(self.failures, 0.0, 1.0, True)
            self.next_try = t + (math.inf if wait is None else wait)
            self.cause = reply
        else:
            self.failures, self.next_try = 0, None          # the queue connected: out of Retry

    def quiet(self) -> tuple[Reply | None, float] | None:
        # in Retry, each held message's next step depends on its own expiry: not quiet
        return (None, math.inf) if self.next_try is None else None

    def next_step(self, t: float, arrival_s: float, sender: "Sender") -> NextStep | None:
        if self.next_try is None:
            return None
        due = self.next_try
        if sender.expiry_s is not None and not sender.give_up.survives(due - arrival_s, sender.expiry_s):
            return NextStep(None, max(arrival_s + sender.expiry_s, t))
        return NextStep(sender.next_scan(due, t), None, due)

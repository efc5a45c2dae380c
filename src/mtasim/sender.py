"""The sending MTA's per-message policy: when the next attempt happens, when it gives up, when it warns.

Pure logic shared by every engine and by ``mtasim schedule``, written once, vectorised (the scalar forms
run the same code on arrays of length one). The rules are README, Semantics:

* the schedule gives the time the message becomes *due*, measured from the failed attempt;
* with a queue runner of period P and phase φ the attempt happens at the first scan
  ``φ + kP >= due - tolerance`` strictly after the failure; without one, exactly at ``due``;
* giving up is a rule object (mtasim.giveup): ``last-attempt``, ``at-deadline``, ``next-wait``,
  ``before-attempt`` or ``attempts``;
* delay warnings at ``arrival + W`` (``age``), or at failures (``next-failure``, ``next-due``);
* whole-second MTAs (Postfix, Exim, Sendmail) read every time through :meth:`Sender.clock` first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from .connection_reuse import ConnectionReuse
from .durations import format_duration
from .giveup import AGE_TOLERANCE_S, GIVE_UP_RULES, FailureAges, GiveUpRule, give_up_rule
from .hosts import HostPolicy, NextStep
from .queue_order import queue_order
from .recipients import AttemptResult, Reply, failure_reply
from .schedules import HistorySchedule, Schedule

__all__ = ["GIVE_UP_RULES", "WARNING_TIMINGS", "AGE_TOLERANCE_S", "Sender", "NextStep", "NextSteps", "Trace",
           "trace_schedule"]

WARNING_TIMINGS = ("age", "next-failure", "next-due")
#: ``expiry_status`` value meaning "report the last deferral's status" (Postfix).
LAST_STATUS = "last"
#: ``expiry_status`` value: the last deferral's status with its class made permanent (Haraka).
LAST_PERMANENT_STATUS = "last-permanent"
_EPS = 1e-9


class NextSteps(NamedTuple):
    """:meth:`Sender.after_failures` for many messages: NaN where not applicable; ``ages`` is what the
    give-up rule looked at (the kernel reads the decisive age off it)."""

    attempt_s: np.ndarray
    give_up_s: np.ndarray
    due_s: np.ndarray
    ages: FailureAges


@dataclass(frozen=True)
class Sender:
    """A sending MTA's retry policy in generic terms (presets translate their own names into this)."""

    schedule: Schedule
    #: The give-up rule (mtasim.giveup): a rule object, or its name.
    give_up: GiveUpRule = field(default_factory=lambda: give_up_rule("last-attempt"))
    expiry_s: float | None = None
    max_attempts: int | None = None
    #: With ``attempts``: give up at the max_attempts-th failure, or (Postal) when the message is next
    #: picked up, without attempting it.
    attempts_give_up_at: str = "failure"
    queue_run_s: float = 0.0
    queue_run_phase_s: float = 0.0
    #: A scan takes a message due up to this many seconds later (Postfix: 1 s).
    queue_run_tolerance_s: float = 0.0
    delay_warning_s: float | None = None
    delay_warning_at: str = "age"
    delay_warning_tolerance_s: float = 0.0
    #: Ages of further warnings after the first (ascending), e.g. Exim's list or OpenSMTPD's warn-intervals.
    delay_warning_later_s: tuple[float, ...] = ()
    #: After the last listed age, one more warning every this long (Exim repeats the last gap).
    delay_warning_repeat_s: float | None = None
    #: Status reported on giving up; ``"last"`` keeps the last deferral's status.
    expiry_status: str = "4.4.7"
    expiry_reply: str = "4.4.7 delivery time expired"
    preset: str | None = None
    #: Host-level state (mtasim.hosts), shared by the messages to one destination; DES only.
    host_policy: HostPolicy | None = None
    #: Which of several messages due at one moment goes first (mtasim.queue_order).
    queue_order: str = "due"
    #: Connections to one destination at once (None: no limit). Matters only when attempts take time
    #: (a recipient's transaction_time); the DES serves waiting attempts in queue order.
    concurrency: int | None = None
    #: Exim: a destination with mail waiting gains one delivery connection per queue run (each ``-q``
    #: runner keeps one), so its k-th connection opens only at the (k-1)-th queue run after its first.
    #: False: all ``concurrency`` connections at once. See :meth:`connections_allowed`.
    connection_ramp: bool = False
    #: Whether a connection that finished with one message carries the next to the same destination, which
    #: then skips a recipient's ``connection_setup`` (mtasim.connection_reuse); None: every attempt opens its
    #: own connection.
    connection_reuse: ConnectionReuse | None = ConnectionReuse()
    #: MX hosts tried per attempt, in preference order (None: every host; Postfix smtp_mx_address_limit 5).
    mx_limit: int | None = None
    #: MX hosts that may answer one attempt (mtasim.engine.mx): 1, the first that answers ends it (Exim,
    #: Exchange as modelled); Postfix smtp_mx_session_limit 2: a deferring host passes the message on to the
    #: next one; None: no limit.
    mx_session_limit: int | None = 1
    #: Whether a reply's advised wait (Yahoo's "retry after 4 h") lengthens the next wait. No modelled MTA
    #: reads it from the reply text; some senders (ESPs) adapt to it.
    honours_retry_after: bool = False
    #: True for MTAs that keep time in whole seconds (Postfix, Exim, Sendmail: ``time_t``): arrival,
    #: failure and due times are truncated to the second of the wall clock before any arithmetic.
    whole_seconds: bool = False
    #: The fractional second of the scenario's ``start`` (where the wall clock's seconds begin).
    clock_offset_s: float = 0.0
    #: How a preset whose schedule depends on its expiry rebuilds itself for another window (Exim: the
    #: retry rules' final cutoff); None: only ``expiry_s`` changes. See :meth:`with_expiry`.
    expiry_hook: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "give_up", give_up_rule(self.give_up))
        if self.give_up.counts_attempts:
            if not self.max_attempts or self.max_attempts < 1:
                raise ValueError("give_up 'attempts' needs max_attempts >= 1")
        elif self.expiry_s is None or self.expiry_s < 0:
            raise ValueError(f"give_up '{self.give_up}' needs an expiry")
        if self.attempts_give_up_at not in ("failure", "next-attempt"):
            raise ValueError("attempts_give_up_at must be 'failure' or 'next-attempt'")
        if self.delay_warning_at not in WARNING_TIMINGS:
            raise ValueError(f"delay_warning_at must be one of {', '.join(WARNING_TIMINGS)}")
        queue_order(self.queue_order)                   # ValueError naming the choices

    # -- the clock -------------------------------------------------------------------------------
    def clock(self, t):
        """``t`` as this MTA reads its clock: the start of its wall-clock second for whole-second MTAs
        (scalars or arrays), else unchanged."""
        if not self.whole_seconds:
            return t
        if not self.clock_offset_s:
            return np.floor(t)
        return np.floor(t + self.clock_offset_s) - self.clock_offset_s

    # -- the rules (vectorised; each scalar form below is the same code on arrays of length one) ----
    def next_scans(self, due_s: np.ndarray, failed_at_s: np.ndarray) -> np.ndarray:
        """When the attempt for a message due at ``due_s`` happens: the first queue-runner scan at or after
        ``due - tolerance`` and strictly after the failure; without a queue runner, at ``due``."""
        if self.queue_run_s <= 0:
            return due_s
        period, phase = self.queue_run_s, self.queue_run_phase_s
        k = np.ceil((due_s - self.queue_run_tolerance_s - phase) / period - _EPS)
        scan = phase + k * period
        late = scan <= failed_at_s + _EPS
        if late.any():
            scan = np.where(late, phase + (np.floor((failed_at_s - phase) / period + _EPS) + 1) * period, scan)
        return scan

    def connections_allowed(self, since_s: float, now_s: float) -> float:
        """How many connections to one destination may be open at ``now_s`` when its current busy spell
        (connections open or mail waiting for one, without a break) began at ``since_s``: ``concurrency``
        (no limit: inf), and with :attr:`connection_ramp` one more per queue run since then."""
        limit = math.inf if self.concurrency is None else float(self.concurrency)
        if not self.connection_ramp or self.queue_run_s <= 0:
            return limit
        if not math.isfinite(since_s):                  # no spell yet: the next attempt begins one
            return min(limit, 1.0)
        period, phase = self.queue_run_s, self.queue_run_phase_s
        runs = math.floor((now_s - phase) / period + _EPS) - math.floor((since_s - phase) / period + _EPS)
        return min(limit, 1.0 + runs)

    def next_connection_at(self, since_s: float, now_s: float) -> float:
        """When :meth:`connections_allowed` next grows after ``now_s`` (inf when it never does)."""
        if not self.connection_ramp or self.queue_run_s <= 0 or \
                self.connections_allowed(since_s, now_s) >= (self.concurrency or math.inf):
            return math.inf
        period, phase = self.queue_run_s, self.queue_run_phase_s
        return phase + (math.floor((now_s - phase) / period + _EPS) + 1) * period

    @property
    def min_retry_gap_s(self) -> float:
        """A lower bound of the time from a failed attempt's end to the message's next attempt: the
        schedule's least wait, less a queue runner's tolerance and two whole-second truncations (the
        failure's and the due time's). 0 when none is known."""
        least = getattr(self.schedule, "min_wait_s", 0.0)
        return max(0.0, least - self.queue_run_tolerance_s - (2.0 if self.whole_seconds else 0.0))

    def after_failures(self, failures: np.ndarray, arrival_s: np.ndarray, now_s: np.ndarray,
                       u: np.ndarray | float, connection_failure: np.ndarray,
                       prev_wait_s: np.ndarray | None = None, prev_gap_s: np.ndarray | None = None,
                       advised_wait_s: np.ndarray | None = None) -> NextSteps:
        """What follows each message's ``failures``-th failed attempt, which ended at ``now_s``.

        ``prev_wait_s`` (the wait planned after the previous failure) and ``prev_gap_s`` (the time from the
        previous failure to this one, on this sender's clock) are only needed by schedules with
        ``needs_history``; NaN at the first failure. ``advised_wait_s``: the wait each reply advised (0: none),
        a lower bound of the wait when the sender honours it.
        """
        arrival_c = self.clock(arrival_s)
        now_c = self.clock(now_s)
        age = now_c - arrival_c
        schedule = self.schedule
        if isinstance(schedule, HistorySchedule):
            wait = schedule.waits_history(failures, age, u, connection_failure, prev_wait_s, prev_gap_s)
        else:
            wait = schedule.waits(failures, age, u, connection_failure)
        if advised_wait_s is not None and self.honours_retry_after:
            wait = np.maximum(wait, advised_wait_s)
        due = self.clock(now_c + wait)                          # whole-second MTAs: a whole second too
        never = ~np.isfinite(due)                               # no further attempt, ever (NaN or inf)
        if never.any():
            due = np.where(never, np.nan, due)
            attempt = self.next_scans(np.where(never, now_s, due), now_s)
        else:
            never, attempt = None, self.next_scans(due, now_s)
        attempt_age = self.clock(attempt) - arrival_c if self.give_up.by_attempt_age else None
        ages = FailureAges(failures, arrival_s, now_s, age, due - arrival_c, attempt, attempt_age, never)
        give_up = self.give_up.give_up_times(self, ages)
        go = np.isnan(give_up)
        if go.all():
            return NextSteps(attempt, give_up, due, ages)
        return NextSteps(np.where(go, attempt, np.nan), give_up, np.where(go, due, np.nan), ages)

    def next_scan(self, due_s: float, failed_at_s: float) -> float:
        """:meth:`next_scans` for one message."""
        return float(self.next_scans(np.array([due_s], dtype=float), np.array([failed_at_s], dtype=float))[0])

    def after_failure(self, failures: int, arrival_s: float, now_s: float, u: float,
                      connection_failure: bool, prev_wait_s: float = math.nan,
                      prev_gap_s: float = math.nan) -> NextStep:
        """:meth:`after_failures` for one message (``mtasim schedule``, the reference steps)."""
        one = np.array
        history = (one([prev_wait_s], dtype=float), one([prev_gap_s], dtype=float)) if self.needs_history else ()
        steps = self.after_failures(one([failures]), one([arrival_s], dtype=float), one([now_s], dtype=float),
                                    u, one([connection_failure]), *history)
        attempt, give_up, due = (float(a[0]) for a in steps[:3])
        return NextStep(None if math.isnan(attempt) else attempt, None if math.isnan(give_up) else give_up,
                        None if math.isnan(due) else due)

    def with_expiry(self, expiry_s: float) -> "Sender":
        """This sender with another expiry window (curves, tuning), rebuilt by its preset where the
        window also shapes the schedule."""
        if self.expiry_hook is not None:
            return self.expiry_hook(expiry_s)
        return replace(self, expiry_s=expiry_s)

    def expiry_shapes_schedule(self, expiry_s: float) -> bool:
        """Whether another window changes more than the give-up (then one run cannot answer for every
        window: mtasim.curve)."""
        other = self.with_expiry(expiry_s)
        return other.schedule != self.schedule or other.host_policy != self.host_policy

    @property
    def needs_history(self) -> bool:
        """Whether the schedule looks at the previous wait and gap (Exim's G and H rules)."""
        return isinstance(self.schedule, HistorySchedule)

    def warning_age(self, k):
        """The age of the k-th delay warning (0-based; scalars or integer arrays); NaN/None when there is
        none: the first, then the later list, then every repeat gap after the last."""
        if self.delay_warning_s is None:
            return None if np.isscalar(k) else np.full(np.shape(k), np.nan)
        ages = np.array((self.delay_warning_s, *self.delay_warning_later_s))
        k_arr = np.asarray(k)
        listed = ages[np.minimum(k_arr, len(ages) - 1)]
        if self.delay_warning_repeat_s:
            beyond = ages[-1] + (k_arr - len(ages) + 1) * self.delay_warning_repeat_s
        else:
            beyond = np.nan
        out = np.where(k_arr < len(ages), listed, beyond)
        if np.isscalar(k):
            value = float(out)
            return None if math.isnan(value) else value
        return out

    def warnings_due_at_failures(self, arrival_s: np.ndarray, now_s: np.ndarray, next_attempt_s: np.ndarray,
                                 sent: np.ndarray) -> np.ndarray:
        """How many warnings a failure at ``now_s`` that does not end the message sends, ``sent`` having
        gone out before. ``next-failure`` (Postfix, Sendmail, Courier, Exim): one, once the age reaches the
        next warning age; ``next-due`` (OpenSMTPD): one for each warning age the next attempt reaches."""
        count = np.zeros(len(now_s), dtype=np.int64)
        if not self.warns_at_failures:
            return count
        when = now_s if self.delay_warning_at == "next-failure" else next_attempt_s
        age = self.clock(when) - self.clock(arrival_s)
        active = np.ones(len(now_s), dtype=bool)
        while active.any():
            warn_age = self.warning_age(sent + count)
            with np.errstate(invalid="ignore"):
                due = active & ~np.isnan(warn_age) & (age >= warn_age - self.delay_warning_tolerance_s)
            count += due
            active = due if self.delay_warning_at == "next-due" else np.zeros_like(due)
        return count

    def warnings_due_at_failure(self, arrival_s: float, now_s: float, next_attempt_s: float, sent: int) -> int:
        """:meth:`warnings_due_at_failures` for one message."""
        one = np.array
        return int(self.warnings_due_at_failures(one([arrival_s], dtype=float), one([now_s], dtype=float),
                                                 one([next_attempt_s], dtype=float), one([sent]))[0])

    def warnings_by_age(self, arrival_s: np.ndarray, end_s: np.ndarray) -> np.ndarray:
        """``age`` timing: how many warning ages fall strictly before each message's end (its final time,
        or the horizon while queued)."""
        # Times, not ages, are compared (arrival + age < end): a warning meant for exactly the moment the
        # message ends must not slip in by a rounding step.
        ages = np.array((self.delay_warning_s, *self.delay_warning_later_s))
        count = (arrival_s[:, None] + ages[None, :] < end_s[:, None]).sum(axis=1)
        if self.delay_warning_repeat_s:
            r = self.delay_warning_repeat_s
            last = arrival_s + ages[-1]
            with np.errstate(invalid="ignore"):
                extra = np.ceil((end_s - last) / r) - 1
            extra = np.where(np.isfinite(extra) & (extra > 0), extra, 0)
            extra = np.where((extra > 0) & (last + extra * r >= end_s), extra - 1, extra)     # exact boundary
            extra = np.where(np.isfinite(end_s) & (last + (extra + 1) * r < end_s), extra + 1, extra)
            count = count + np.where(count == len(ages), extra, 0).astype(np.int64)
        return count

    @property
    def warns_by_age(self) -> bool:
        return self.delay_warning_s is not None and self.delay_warning_at == "age"

    @property
    def warns_at_failures(self) -> bool:
        """Warnings are sent at failed attempts (``next-failure``, ``next-due``), not by age alone."""
        return self.delay_warning_s is not None and self.delay_warning_at != "age"

    def final_status(self, last_deferral_status: str) -> str:
        """The status on giving up: fixed, the last deferral's (``last``, Postfix) or the last deferral's
        turned permanent (``last-permanent``: 4.x.x -> 5.x.x, Haraka)."""
        if self.expiry_status == LAST_STATUS:
            return last_deferral_status
        if self.expiry_status == LAST_PERMANENT_STATUS:
            return "5" + last_deferral_status[1:] if last_deferral_status.startswith("4") else last_deferral_status
        return self.expiry_status

    # -- for humans ------------------------------------------------------------------------------
    def describe(self) -> list[str]:
        lines = [f"schedule: {self.schedule.describe()}"]
        if self.queue_run_s > 0:
            lines.append(f"queue runner: every {format_duration(self.queue_run_s)}"
                         f" (phase {format_duration(self.queue_run_phase_s)})")
        if self.give_up.counts_attempts:
            lines.append(f"gives up after {self.max_attempts} failed attempts")
        else:
            lines.append(f"expiry: {format_duration(self.expiry_s or 0.0)} ({self.give_up})")
        if self.delay_warning_s is not None:
            ages = ", ".join(format_duration(a) for a in (self.delay_warning_s, *self.delay_warning_later_s))
            repeat = (f", then every {format_duration(self.delay_warning_repeat_s)}"
                      if self.delay_warning_repeat_s else "")
            lines.append(f"delay warning: {ages}{repeat} ({self.delay_warning_at})")
        status = {LAST_STATUS: "the last deferral's status",
                  LAST_PERMANENT_STATUS: "the last deferral's status made permanent (4.x.x -> 5.x.x)"
                  }.get(self.expiry_status, self.expiry_status)
        lines.append(f"status on giving up: {status}")
        if self.concurrency is not None:
            lines.append(f"connections per destination: {self.concurrency} (with a recipient's transaction_time)")
        if self.connection_reuse is None:
            lines.append("connection reuse: none, every attempt opens its own")
        elif self.connection_reuse != ConnectionReuse():
            lines.append(f"connection reuse: {self.connection_reuse.describe()}")
        if self.honours_retry_after:
            lines.append("honours a reply's advised retry time")
        return lines


class Trace(NamedTuple):
    """One message's fate against a recipient that never answers (``mtasim schedule``)."""

    attempts_s: list[float]
    give_up_s: float | None
    status: str
    warnings_s: list[float]


def trace_schedule(sender: Sender, *, until_s: float | None = None, failure: str = "refused",
                   draw: Callable[[int], float] | None = None, max_attempts: int | None = None) -> Trace:
    """Attempt times of one message arriving at t = 0 whose every attempt fails with ``failure``.

    ``draw(attempt)`` supplies the jitter draw; by default the nominal value 1 (no shortening).
    Stops at the give-up, or before the first attempt later than ``until_s``, or (no give-up: a trace
    cut short, for estimates of the work a sender asks for) after ``max_attempts`` attempts.
    """
    reply: Reply = failure_reply(failure, 30.0)
    attempts: list[float] = []
    warnings: list[float] = []
    t = 0.0
    prev_end = prev_wait = math.nan
    while True:
        if (until_s is not None and t > until_s) or (max_attempts is not None and len(attempts) >= max_attempts):
            return Trace(attempts, None, reply.status, warnings)
        attempts.append(t)
        end = t + reply.duration_s
        end_c = float(sender.clock(end))                  # on the sender's clock, as the engines keep it
        step = sender.after_failure(len(attempts), 0.0, end, draw(len(attempts)) if draw else 1.0,
                                    reply.result in (AttemptResult.REFUSED, AttemptResult.TIMEOUT),
                                    prev_wait, end_c - prev_end)
        if step.due_s is not None:
            prev_end, prev_wait = end_c, step.due_s - end_c
        if step.give_up_s is not None:
            if sender.warns_by_age:
                count = int(sender.warnings_by_age(np.array([0.0]), np.array([step.give_up_s]))[0])
                warnings.extend(sender.warning_age(k) for k in range(count))
            return Trace(attempts, step.give_up_s, sender.final_status(reply.status), warnings)
        assert step.attempt_s is not None                 # no give-up: a next attempt
        warnings.extend([end] * sender.warnings_due_at_failure(0.0, end, step.attempt_s, len(warnings)))
        t = step.attempt_s

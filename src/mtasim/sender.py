"""The sending MTA's per-message policy: when the next attempt happens, when it gives up, when it warns.

This is pure logic shared by every engine and by ``mtasim schedule``. The rules are DESIGN §2:

* the schedule gives the time the message becomes *due*, measured from the failed attempt;
* with a queue runner of period P and phase φ the attempt happens at the first scan
  ``φ + kP >= due - tolerance`` strictly after the failure; without one, exactly at ``due``;
* giving up is one of ``last-attempt``, ``at-deadline``, ``next-wait`` or ``attempts``;
* a delay warning is sent once, at ``arrival + W`` (``age``) or at the first failure at or after it
  that does not end the message (``next-failure``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from .durations import format_duration
from .recipients import AttemptResult, Reply, failure_reply
from .schedules import Schedule

__all__ = ["GIVE_UP_RULES", "WARNING_TIMINGS", "Sender", "NextStep", "Trace", "trace_schedule"]

GIVE_UP_RULES = ("last-attempt", "at-deadline", "next-wait", "before-attempt", "attempts")
WARNING_TIMINGS = ("age", "next-failure", "next-due")
#: ``expiry_status`` value meaning "report the last deferral's status" (Postfix).
LAST_STATUS = "last"
#: ``expiry_status`` value: the last deferral's status with its class made permanent (Haraka).
LAST_PERMANENT_STATUS = "last-permanent"
_EPS = 1e-9
#: Ages within this of the expiry count as equal to it. Attempt times are sums of waits, so an attempt
#: meant for exactly arrival + expiry can land a rounding step either side; every rule and every curve
#: compares ages through :func:`survives` so that they all agree.
AGE_TOLERANCE_S = 1e-6


def survives(age_s, expiry_s: float, give_up: str):
    """Whether a decisive age lets a message through an expiry window (scalars or NumPy arrays).

    ``last-attempt``/``at-deadline``: the age must be below the window; ``next-wait``: not beyond it.
    """
    if give_up == "next-wait":
        return age_s <= expiry_s + AGE_TOLERANCE_S
    return age_s < expiry_s - AGE_TOLERANCE_S


#: Rules under which a message survives a window iff the age of its final attempt is below it.
BY_ATTEMPT_AGE = ("at-deadline", "before-attempt")


class NextStep(NamedTuple):
    """Exactly one of ``attempt_s`` and ``give_up_s`` is set; ``due_s`` is when the schedule made the
    message due (before queue-runner alignment), when there is a next attempt."""

    attempt_s: float | None
    give_up_s: float | None
    due_s: float | None = None


@dataclass(frozen=True)
class Sender:
    """A sending MTA's retry policy in generic terms (presets translate their own names into this)."""

    schedule: Schedule
    give_up: str = "last-attempt"
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
    host_policy: Any = None
    #: How a preset whose schedule depends on its expiry rebuilds itself for another window (Exim: the
    #: retry rules' final cutoff); None: only ``expiry_s`` changes. See :meth:`with_expiry`.
    expiry_hook: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.give_up not in GIVE_UP_RULES:
            raise ValueError(f"give_up must be one of {', '.join(GIVE_UP_RULES)}")
        if self.give_up == "attempts":
            if not self.max_attempts or self.max_attempts < 1:
                raise ValueError("give_up 'attempts' needs max_attempts >= 1")
        elif self.expiry_s is None or self.expiry_s < 0:
            raise ValueError(f"give_up '{self.give_up}' needs an expiry")
        if self.attempts_give_up_at not in ("failure", "next-attempt"):
            raise ValueError("attempts_give_up_at must be 'failure' or 'next-attempt'")
        if self.delay_warning_at not in WARNING_TIMINGS:
            raise ValueError(f"delay_warning_at must be one of {', '.join(WARNING_TIMINGS)}")

    # -- the rules -----------------------------------------------------------------------------
    def next_scan(self, due_s: float, failed_at_s: float) -> float:
        """When the attempt for a message due at ``due_s`` happens (queue-runner alignment)."""
        if self.queue_run_s <= 0:
            return due_s
        period, phase = self.queue_run_s, self.queue_run_phase_s
        k = math.ceil((due_s - self.queue_run_tolerance_s - phase) / period - _EPS)
        scan = phase + k * period
        if scan <= failed_at_s + _EPS:
            scan = phase + (math.floor((failed_at_s - phase) / period + _EPS) + 1) * period
        return scan

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
        return getattr(self.schedule, "needs_history", False)

    def after_failure(self, failures: int, arrival_s: float, now_s: float, u: float,
                      connection_failure: bool, prev_wait_s: float = math.nan,
                      prev_gap_s: float = math.nan) -> NextStep:
        """Decide what follows the ``failures``-th failed attempt, which ended at ``now_s``.

        ``prev_wait_s`` (the wait planned after the previous failure) and ``prev_gap_s`` (the time from the
        previous failure to this one) are only needed by schedules with ``needs_history``; NaN at the first.
        """
        out_of_attempts = self.give_up == "attempts" and failures >= self.max_attempts
        if out_of_attempts and self.attempts_give_up_at == "failure":
            return NextStep(None, now_s)
        age_s = now_s - arrival_s
        if self.give_up == "last-attempt" and not survives(age_s, self.expiry_s, "last-attempt"):
            return NextStep(None, now_s)
        if self.needs_history:
            wait_s = self.schedule.wait_after_history(failures, age_s, u, connection_failure, prev_wait_s,
                                                      prev_gap_s)
        else:
            wait_s = self.schedule.wait_after(failures, age_s, u, connection_failure)
        if wait_s is None or math.isinf(wait_s):   # no further attempt, ever: give up here
            return NextStep(None, now_s)
        due_s = now_s + wait_s
        # Rules compare ages (time - arrival) through survives(), never times with arrival + expiry:
        # curves read the same ages off a single run (mtasim.curve) and must agree exactly.
        if self.give_up == "next-wait" and not survives(due_s - arrival_s, self.expiry_s, "next-wait"):
            return NextStep(None, now_s)
        attempt_s = self.next_scan(due_s, now_s)
        if self.give_up == "at-deadline" and not survives(attempt_s - arrival_s, self.expiry_s, "at-deadline"):
            return NextStep(None, max(arrival_s + self.expiry_s, now_s))
        if out_of_attempts or (self.give_up == "before-attempt"
                               and not survives(attempt_s - arrival_s, self.expiry_s, "before-attempt")):
            return NextStep(None, attempt_s)
        return NextStep(attempt_s, None, due_s)

    def next_scans(self, due_s: np.ndarray, failed_at_s: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`next_scan`, same arithmetic."""
        if self.queue_run_s <= 0:
            return due_s
        period, phase = self.queue_run_s, self.queue_run_phase_s
        k = np.ceil((due_s - self.queue_run_tolerance_s - phase) / period - _EPS)
        scan = phase + k * period
        late = scan <= failed_at_s + _EPS
        if late.any():
            scan = np.where(late, phase + (np.floor((failed_at_s - phase) / period + _EPS) + 1) * period, scan)
        return scan

    def after_failures(self, failures: np.ndarray, arrival_s: np.ndarray, now_s: np.ndarray, u: np.ndarray | float,
                       connection_failure: np.ndarray, prev_wait_s: np.ndarray | None = None,
                       prev_gap_s: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised :meth:`after_failure`: (attempt_s, give_up_s, due_s), NaN where not applicable."""
        n = len(now_s)
        nan = np.full(n, np.nan)
        age_s = now_s - arrival_s
        out_of_attempts = np.zeros(n, dtype=bool)
        if self.give_up == "attempts" and self.attempts_give_up_at == "failure":
            stop = failures >= self.max_attempts
        elif self.give_up == "attempts":
            stop = np.zeros(n, dtype=bool)
            out_of_attempts = failures >= self.max_attempts
        elif self.give_up == "last-attempt":
            stop = ~survives(age_s, self.expiry_s, "last-attempt")
        else:
            stop = np.zeros(n, dtype=bool)
        if self.needs_history:
            wait_s = self.schedule.waits_history(failures, age_s, u, connection_failure, prev_wait_s, prev_gap_s)
        else:
            wait_s = self.schedule.waits(failures, age_s, u, connection_failure)
        stop |= np.isnan(wait_s) | np.isinf(wait_s)
        with np.errstate(invalid="ignore"):
            due_s = now_s + np.where(stop, 0.0, wait_s)
        if self.give_up == "next-wait":
            stop |= ~survives(due_s - arrival_s, self.expiry_s, "next-wait")
        attempt_s = self.next_scans(due_s, now_s)
        give_up_s = np.where(stop, now_s, nan)
        if self.give_up == "at-deadline":
            late = ~stop & ~survives(attempt_s - arrival_s, self.expiry_s, "at-deadline")
            give_up_s = np.where(late, np.maximum(arrival_s + self.expiry_s, now_s), give_up_s)
            stop |= late
        if self.give_up == "before-attempt":
            out_of_attempts = ~survives(attempt_s - arrival_s, self.expiry_s, "before-attempt")
        late = ~stop & out_of_attempts
        give_up_s = np.where(late, attempt_s, give_up_s)
        stop |= late
        return np.where(stop, nan, attempt_s), give_up_s, np.where(stop, nan, due_s)

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

    def warnings_due_at_failure(self, arrival_s: float, now_s: float, next_attempt_s: float, sent: int) -> int:
        """How many warnings a failure at ``now_s`` that does not end the message sends, ``sent`` having
        gone out before. ``next-failure`` (Postfix, Sendmail, Courier, Exim): one, once the age reaches the
        next warning age; ``next-due`` (OpenSMTPD): one for each warning age the next attempt reaches."""
        if self.delay_warning_s is None or self.delay_warning_at == "age":
            return 0
        when = now_s if self.delay_warning_at == "next-failure" else next_attempt_s
        count = 0
        while True:
            age = self.warning_age(sent + count)
            if age is None or when - arrival_s < age - self.delay_warning_tolerance_s:
                return count
            count += 1
            if self.delay_warning_at == "next-failure":
                return count

    def warnings_due_at_failures(self, arrival_s: np.ndarray, now_s: np.ndarray, next_attempt_s: np.ndarray,
                                 sent: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`warnings_due_at_failure`."""
        count = np.zeros(len(now_s), dtype=np.int64)
        if self.delay_warning_s is None or self.delay_warning_at == "age":
            return count
        when = now_s if self.delay_warning_at == "next-failure" else next_attempt_s
        active = np.ones(len(now_s), dtype=bool)
        while active.any():
            age = self.warning_age(sent + count)
            with np.errstate(invalid="ignore"):
                due = active & ~np.isnan(age) & (when - arrival_s >= age - self.delay_warning_tolerance_s)
            count += due
            active = due if self.delay_warning_at == "next-due" else np.zeros_like(due)
        return count

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
        if self.give_up == "attempts":
            lines.append(f"gives up after {self.max_attempts} failed attempts")
        else:
            lines.append(f"expiry: {format_duration(self.expiry_s)} ({self.give_up})")
        if self.delay_warning_s is not None:
            ages = ", ".join(format_duration(a) for a in (self.delay_warning_s, *self.delay_warning_later_s))
            repeat = (f", then every {format_duration(self.delay_warning_repeat_s)}"
                      if self.delay_warning_repeat_s else "")
            lines.append(f"delay warning: {ages}{repeat} ({self.delay_warning_at})")
        status = {LAST_STATUS: "the last deferral's status",
                  LAST_PERMANENT_STATUS: "the last deferral's status made permanent (4.x.x -> 5.x.x)"
                  }.get(self.expiry_status, self.expiry_status)
        lines.append(f"status on giving up: {status}")
        return lines


class Trace(NamedTuple):
    """One message's fate against a recipient that never answers (``mtasim schedule``)."""

    attempts_s: list[float]
    give_up_s: float | None
    status: str
    warnings_s: list[float]


def trace_schedule(sender: Sender, *, until_s: float | None = None, failure: str = "refused",
                   draw: "callable | None" = None) -> Trace:
    """Attempt times of one message arriving at t = 0 whose every attempt fails with ``failure``.

    ``draw(attempt)`` supplies the jitter draw; by default the nominal value 1 (no shortening).
    Stops at the give-up, or before the first attempt later than ``until_s``.
    """
    reply: Reply = failure_reply(failure, 30.0)
    attempts: list[float] = []
    warnings: list[float] = []
    t = 0.0
    prev_end = prev_wait = math.nan
    while True:
        if until_s is not None and t > until_s:
            return Trace(attempts, None, reply.status, warnings)
        attempts.append(t)
        end = t + reply.duration_s
        step = sender.after_failure(len(attempts), 0.0, end, draw(len(attempts)) if draw else 1.0,
                                    reply.result in (AttemptResult.REFUSED, AttemptResult.TIMEOUT),
                                    prev_wait, end - prev_end)
        if step.due_s is not None:
            prev_end, prev_wait = end, step.due_s - end
        if step.give_up_s is not None:
            if sender.warns_by_age:
                count = int(sender.warnings_by_age(np.array([0.0]), np.array([step.give_up_s]))[0])
                warnings.extend(sender.warning_age(k) for k in range(count))
            return Trace(attempts, step.give_up_s, sender.final_status(reply.status), warnings)
        warnings.extend([end] * sender.warnings_due_at_failure(0.0, end, step.attempt_s, len(warnings)))
        t = step.attempt_s

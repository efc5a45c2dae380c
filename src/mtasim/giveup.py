"""Give-up rules: when a sending MTA stops retrying a message (README, Semantics, rule 4), one strategy object each.

A rule answers three questions, always from ages (time − arrival, on the sender's clock), never from
absolute times, so that a delivery-vs-expiry curve read off one long run (:mod:`mtasim.curve`) agrees
exactly with explicit runs:

* :meth:`GiveUpRule.give_up_times` — the vectorised decision after a failed attempt (the engines);
* :meth:`GiveUpRule.survives` — whether a message's *decisive age* gets it through a window;
* :meth:`GiveUpRule.window_needed` — the shortest window a decisive age survives (``mtasim tune``).

Which age is decisive is the rule's too: the age of the final attempt (``by_attempt_age``), the age at
the last failure that did not end the message (``last-attempt``), or the largest due age (``next-wait``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

__all__ = ["GiveUpRule", "FailureAges", "GIVE_UP_RULES", "give_up_rule", "AGE_TOLERANCE_S"]

#: Ages within this of the expiry count as equal to it. Attempt times are sums of waits, so an attempt
#: meant for exactly arrival + expiry can land a rounding step either side; every rule and every curve
#: compares ages through :meth:`GiveUpRule.survives` so that they all agree.
AGE_TOLERANCE_S = 1e-6


class FailureAges(NamedTuple):
    """What a rule looks at after a failed attempt, one entry per message (NumPy arrays)."""

    failures: np.ndarray      # failed attempts so far, this one included
    arrival: np.ndarray       # arrival times
    now: np.ndarray           # when the failed attempt ended
    age: np.ndarray           # its age on the sender's clock
    due_age: np.ndarray       # the age at which the schedule makes the message due again (NaN: never)
    attempt: np.ndarray       # the time of the next attempt (queue-runner aligned)
    attempt_age: np.ndarray | None   # its age on the sender's clock (rules with ``by_attempt_age`` only)
    never: np.ndarray | None  # where the schedule has no further attempt (None: nowhere)


@dataclass(frozen=True)
class GiveUpRule:
    """The default rule shape; subclasses override what differs. ``expiry_s`` or ``max_attempts`` and
    ``attempts_give_up_at`` come from the sender."""

    name: ClassVar[str] = ""
    #: True: the decisive age is the age of the message's final attempt.
    by_attempt_age: ClassVar[bool] = False
    #: True: the window is a number of failed attempts, not an age (no curves, no tuning).
    counts_attempts: ClassVar[bool] = False

    def __str__(self) -> str:
        return self.name

    def survives(self, age_s, expiry_s):
        """Whether a decisive age gets a message through a window (scalars or arrays): below it."""
        return age_s < expiry_s - AGE_TOLERANCE_S

    def window_needed(self, decisive: np.ndarray) -> np.ndarray:
        """The shortest whole-second window each decisive age survives (inf stays inf)."""
        return np.floor(np.maximum(decisive + AGE_TOLERANCE_S, -1.0)) + 1.0

    def give_up_times(self, sender, f: FailureAges) -> np.ndarray:
        """When each message gives up after this failure (NaN: it is attempted again at ``f.attempt``).
        Common to every rule: a schedule without a further attempt gives up now."""
        if f.never is None:
            return np.full(len(f.now), np.nan)
        return np.where(f.never, f.now, np.nan)

    def decisive_after_failure(self, decisive: np.ndarray, f: FailureAges) -> np.ndarray:
        """The decisive age of a message that goes on after this failure."""
        return decisive

    def gives_up_later(self, sender) -> bool:
        """Whether a give-up can come after the failure that decides it (a timer, or the next pickup):
        then an engine keeps a pending give-up event for the message."""
        return False

    def gave_up_waiting(self, sender, arrival_s: float, start_s: float) -> float | None:
        """When a message that waited in line for a connection slot until ``start_s`` gave up meanwhile
        (None: it did not). Only rules that look at the next attempt's time give up while waiting."""
        return None

    def _late_start(self, sender, arrival_s: float, start_s: float) -> bool:
        age = float(sender.clock(np.array([start_s]))[0] - sender.clock(np.array([arrival_s]))[0])
        return not self.survives(age, sender.expiry_s)

    def too_late(self, sender, f: FailureAges) -> np.ndarray:
        """Where the next attempt would come at or after the deadline (rules that look at it)."""
        late = ~self.survives(f.attempt_age, sender.expiry_s)
        return late if f.never is None else late & ~f.never


@dataclass(frozen=True)
class LastAttempt(GiveUpRule):
    """Postfix, Exim, qmail, Courier: after a failure at age >= expiry, give up now; the first attempt
    at or after the deadline is still made (and can deliver)."""

    name: ClassVar[str] = "last-attempt"

    def give_up_times(self, sender, f: FailureAges) -> np.ndarray:
        late = ~self.survives(f.age, sender.expiry_s)
        if f.never is not None:
            late |= f.never
        return np.where(late, f.now, np.nan)

    def decisive_after_failure(self, decisive: np.ndarray, f: FailureAges) -> np.ndarray:
        return f.age


@dataclass(frozen=True)
class AtDeadline(GiveUpRule):
    """Exchange, OpenSMTPD: a timer at exactly arrival + expiry; no attempt at or after it."""

    name: ClassVar[str] = "at-deadline"
    by_attempt_age: ClassVar[bool] = True

    def gives_up_later(self, sender) -> bool:
        return True

    def give_up_times(self, sender, f: FailureAges) -> np.ndarray:
        return np.where(self.too_late(sender, f), np.maximum(f.arrival + sender.expiry_s, f.now),
                        super().give_up_times(sender, f))

    def gave_up_waiting(self, sender, arrival_s: float, start_s: float) -> float | None:
        return arrival_s + sender.expiry_s if self._late_start(sender, arrival_s, start_s) else None


@dataclass(frozen=True)
class BeforeAttempt(GiveUpRule):
    """chasquid and some hosted senders: the expiry is checked when the message is next picked up, which
    ends it there, without an attempt."""

    name: ClassVar[str] = "before-attempt"
    by_attempt_age: ClassVar[bool] = True

    def gives_up_later(self, sender) -> bool:
        return True

    def give_up_times(self, sender, f: FailureAges) -> np.ndarray:
        return np.where(self.too_late(sender, f), f.attempt, super().give_up_times(sender, f))

    def gave_up_waiting(self, sender, arrival_s: float, start_s: float) -> float | None:
        return start_s if self._late_start(sender, arrival_s, start_s) else None


@dataclass(frozen=True)
class NextWait(GiveUpRule):
    """KumoMTA: after a failure, give up now if the next due time is beyond the deadline."""

    name: ClassVar[str] = "next-wait"

    def survives(self, age_s, expiry_s):
        return age_s <= expiry_s + AGE_TOLERANCE_S

    def window_needed(self, decisive: np.ndarray) -> np.ndarray:
        return np.ceil(np.maximum(decisive - AGE_TOLERANCE_S, 0.0))

    def give_up_times(self, sender, f: FailureAges) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            late = ~self.survives(f.due_age, sender.expiry_s)
        return np.where(late, f.now, super().give_up_times(sender, f))

    def decisive_after_failure(self, decisive: np.ndarray, f: FailureAges) -> np.ndarray:
        return np.maximum(decisive, f.due_age)


@dataclass(frozen=True)
class Attempts(GiveUpRule):
    """Haraka, Postal: after the N-th failed attempt (at that failure, or when next picked up)."""

    name: ClassVar[str] = "attempts"
    counts_attempts: ClassVar[bool] = True

    def gives_up_later(self, sender) -> bool:
        return sender.attempts_give_up_at != "failure"

    def give_up_times(self, sender, f: FailureAges) -> np.ndarray:
        out = f.failures >= sender.max_attempts
        if sender.attempts_give_up_at == "failure":
            when = f.now
        else:                                   # when next picked up (now, if there is no next pickup)
            when = f.attempt if f.never is None else np.where(f.never, f.now, f.attempt)
        return np.where(out, when, super().give_up_times(sender, f))


GIVE_UP_RULES: dict[str, GiveUpRule] = {rule.name: rule for rule in
                                        (LastAttempt(), AtDeadline(), NextWait(), BeforeAttempt(), Attempts())}


def give_up_rule(name: "str | GiveUpRule") -> GiveUpRule:
    """The rule called ``name`` (a rule passes through); ValueError naming the choices otherwise."""
    if isinstance(name, GiveUpRule):
        return name
    try:
        return GIVE_UP_RULES[name]
    except (KeyError, TypeError):
        raise ValueError(f"give_up must be one of {', '.join(GIVE_UP_RULES)}") from None

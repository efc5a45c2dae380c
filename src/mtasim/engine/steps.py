"""One message's life, step by step: the reference semantics of DESIGN §2, written plainly.

Every rule is applied event by event, using the pure policy in :mod:`mtasim.sender`, the recipient
replies in :mod:`mtasim.recipients` and the host-level state of :mod:`mtasim.hosts`. The straightforward
SimPy model in ``benchmarks/baselines/des_per_message.py`` (one SimPy process per message) drives these
steps; it is the yardstick the batched DES (:mod:`mtasim.engine.des`) must match message by message.
"""

from __future__ import annotations

import math

import numpy as np

from ..recipients import DELIVERED_REPLY, AttemptResult, Recipient
from ..results import Outcome, Recorder
from ..rng import Purpose, stream_key, uniform
from ..sender import BY_ATTEMPT_AGE, Sender

__all__ = ["message_steps"]


def message_steps(sender: Sender, recipients: list[Recipient], horizon: float | None, seed: int,
                  arrivals: np.ndarray, recipient_of: np.ndarray, recorder: Recorder):
    """``steps(i)``: message i's life as a generator that yields the logical time of its next step (an
    attempt, the end of a timed-out attempt, or the give-up) and records everything into ``recorder``.
    The per-message SimPy baseline in benchmarks/baselines drives these, one SimPy process each."""
    jitter_key = stream_key(seed, Purpose.JITTER)
    uses_random = sender.schedule.uses_random
    stop = math.inf if horizon is None else horizon
    by_attempt_age = sender.give_up in BY_ATTEMPT_AGE
    by_failure_age = sender.give_up == "last-attempt"
    by_due_age = sender.give_up == "next-wait"
    warn_at_failure = sender.delay_warning_s is not None and sender.delay_warning_at != "age"

    # SimPy's clock is the sum of the delays so far, which can differ from the intended time by a
    # rounding step; the rules therefore run on exact logical times (``t``), the clock only orders events.
    policy = sender.host_policy if sender.host_policy is not None and sender.host_policy.matters(recipients) \
        else None
    host_states: dict[int, object] = {}
    host_decides = policy is not None and hasattr(policy.new_state(), "next_step")

    def message(i: int):
        arrival = float(arrivals[i])
        recipient = recipients[recipient_of[i]]
        host = None
        if policy is not None:
            host = host_states.get(recipient_of[i])
            if host is None:
                host = host_states[recipient_of[i]] = policy.new_state()
        failures = 0
        warned = 0                  # delay warnings sent so far
        t = arrival
        decisive = -math.inf        # what decides survival under a shorter expiry (see Recorder)
        outage_end = math.nan       # end of the outage behind the last failure
        prev_failure = prev_wait = math.nan      # for schedules with history (Exim)
        while True:
            outage = recipient.outage_at(t)
            reply = DELIVERED_REPLY if outage is None else outage.reply
            held = host.before_attempt(t, arrival) if host is not None else None
            if held is not None:
                reply = held
            recorder.attempt(i, failures + 1, t, reply.result, reply.text)
            if by_attempt_age:
                decisive = t - arrival
            if reply.duration_s:
                t += reply.duration_s
                if t >= stop:                      # still connecting at the horizon: its (known) deferral
                    recorder.defer(i, reply.status)
                    return
                yield t
            if host is not None and held is None:
                host.after_attempt(t, reply)
            if reply.result == AttemptResult.DELIVERED:
                recorder.finish(i, Outcome.DELIVERED, reply.status, t, decisive, t - outage_end)
                return
            if reply.result == AttemptResult.REJECTED:
                recorder.finish(i, Outcome.BOUNCED, reply.status, t, decisive)
                return
            failures += 1
            if outage is not None:
                outage_end = outage.end_s
            recorder.defer(i, reply.status)
            u = uniform(jitter_key, i, failures) if uses_random else 1.0
            step = sender.after_failure(failures, arrival, t, u, reply.result.is_connection_failure,
                                        prev_wait, t - prev_failure)
            if host_decides and (reply.result.is_connection_failure or held is not None):
                step = host.next_step(t, arrival, sender, step) or step
            if step.due_s is not None:
                prev_failure, prev_wait = t, step.due_s - t
            if step.give_up_s is not None:
                if step.give_up_s >= stop:
                    return
                if step.give_up_s > t:
                    yield step.give_up_s
                recorder.finish(i, Outcome.EXPIRED, sender.final_status(reply.status), step.give_up_s, math.inf)
                return
            if by_failure_age:
                decisive = t - arrival
            elif by_due_age:
                decisive = max(decisive, step.due_s - arrival)
            if warn_at_failure:
                count = sender.warnings_due_at_failure(arrival, t, step.attempt_s, warned)
                if count:
                    warned += count
                    recorder.warn(i, t, count)
            t = step.attempt_s
            if t >= stop:
                return
            yield t

    return message

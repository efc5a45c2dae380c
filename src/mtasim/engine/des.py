"""The SimPy model: one process per message in flight, started at its arrival.

This is the reference engine: every rule of DESIGN §2 is applied event by event, using the pure
policy in :mod:`mtasim.sender` and the recipient replies in :mod:`mtasim.recipients`. Records go
straight into the :class:`~mtasim.results.Recorder` arrays; a message's process ends (and is freed)
when the message finishes. The only module that imports simpy.
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from ..recipients import AttemptResult
from ..results import Outcome, Recorder
from ..rng import Purpose, stream_key, uniform
from ..scenario import Scenario

__all__ = ["run_des"]


def run_des(scenario: Scenario, seed: int, arrivals: np.ndarray, recipient_of: np.ndarray,
            recorder: Recorder) -> float | None:
    """Simulate every message into ``recorder``; returns the horizon actually used (None = to the end)."""
    env = simpy.Environment()
    sender = scenario.sender
    recipients = scenario.recipients
    jitter_key = stream_key(seed, Purpose.JITTER)
    uses_random = sender.schedule.uses_random
    n = len(arrivals)

    def message(i: int):
        arrival = env.now
        recipient = recipients[recipient_of[i]]
        failures = 0
        warned = False
        while True:
            start = env.now
            reply = recipient.reply_at(start)
            recorder.attempt(i, failures + 1, start, reply.result, reply.text)
            if reply.duration_s:
                yield env.timeout(reply.duration_s)
            now = env.now
            if reply.result == AttemptResult.DELIVERED:
                recorder.finish(i, Outcome.DELIVERED, reply.status, now)
                return
            if reply.result == AttemptResult.REJECTED:
                recorder.finish(i, Outcome.BOUNCED, reply.status, now)
                return
            failures += 1
            recorder.defer(i, reply.status)
            u = uniform(jitter_key, i, failures) if uses_random else 1.0
            step = sender.after_failure(failures, arrival, now, u, reply.result.is_connection_failure)
            if step.give_up_s is not None:
                if step.give_up_s > now:
                    yield env.timeout(step.give_up_s - now)
                recorder.finish(i, Outcome.EXPIRED, sender.final_status(reply.status), env.now)
                return
            if not warned and sender.warns_at_failure(arrival, now):
                warned = True
                recorder.warn(i, now)
            yield env.timeout(step.attempt_s - now)

    def source():
        for i in range(n):
            t = arrivals[i]
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(message(i))

    env.process(source())
    horizon = scenario.horizon_s
    env.run(until=horizon)
    _warn_by_age(scenario, recorder, horizon)
    return horizon


def _warn_by_age(scenario: Scenario, recorder: Recorder, horizon: float | None) -> None:
    """``age`` timing: a warning at arrival + W for every message not finished by then (vectorised)."""
    sender = scenario.sender
    if not sender.warns_by_age:
        return
    warn_at = recorder.arrival_s + sender.delay_warning_s
    end = np.where(np.isnan(recorder.final_s), math.inf if horizon is None else horizon, recorder.final_s)
    queued_past = np.isnan(recorder.final_s) & (warn_at < end)
    finished_past = ~np.isnan(recorder.final_s) & (recorder.final_s > warn_at)
    mask = queued_past | finished_past
    recorder.warned_s[mask] = warn_at[mask]

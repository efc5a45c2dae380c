"""The reference engine: one message's life step by step (DESIGN §2), written plainly, driven by a heap.

This is the oracle the other engines are tested against (``mtasim.simulate(..., engine="reference")``).
Each message is a generator that applies the rules event by event, with the host-level state of
:mod:`mtasim.hosts` where the sender has one; a heap runs the messages' events in the documented order
of :mod:`mtasim.queue_order` — time, then (connections ending, give-up timers, attempts), then the MTA's
queue order. It calls the sender's rules on one message at a time, so it is slow: for tests and small
scenarios.
"""

from __future__ import annotations

import heapq
import math
from typing import cast

import numpy as np

from ..hosts import DecidingHostState, HostState
from ..queue_order import ATTEMPT, COMPLETE, GIVE_UP, queue_order
from ..recipients import DELIVERED_REPLY, AttemptResult, Recipient
from ..results import Outcome, Recorder
from ..rng import Purpose, stream_key, uniform
from ..sender import Sender
from .kernel import Kernel

__all__ = ["run_reference"]


def run_reference(sender: Sender, recipients: list[Recipient], horizon: float | None, seed: int,
                  arrivals: np.ndarray, recipient_of: np.ndarray, recorder: Recorder) -> float | None:
    """Simulate every message into ``recorder``, one event at a time; returns the horizon used."""
    calendar = MessageCalendar(sender, recipients, horizon, seed, arrivals, recipient_of, recorder,
                               np.arange(len(arrivals)))
    while calendar.heap:
        calendar.run_moment()
    Kernel(sender, recipients, recorder, seed, horizon).finish()
    return horizon


class MessageCalendar:
    """Messages ``ids`` as generators of their own steps, on a heap keyed by (time, kind, queue order, id).
    The DES runs destinations too small for batching on one of these (mtasim.engine.des)."""

    def __init__(self, sender: Sender, recipients: list[Recipient], horizon: float | None, seed: int,
                 arrivals: np.ndarray, recipient_of: np.ndarray, recorder: Recorder, ids: np.ndarray):
        self.stop = math.inf if horizon is None else horizon
        self.arrivals = arrivals
        self.order, self.order_key = queue_order(sender.queue_order), stream_key(seed, Purpose.ORDER)
        self.message = _message_steps(sender, recipients, self.stop, seed, arrivals, recipient_of, recorder)
        self.heap = [(self.key(i, float(arrivals[i]), ATTEMPT, float(arrivals[i]), 0), i, None)
                     for i in ids.tolist() if arrivals[i] < self.stop]
        heapq.heapify(self.heap)

    def key(self, i: int, t: float, phase: int, due: float, failures: int) -> tuple:
        one = np.array
        keys = self.order.keys(one([phase]), one([due]), one([float(self.arrivals[i])]), one([failures]), one([i]),
                               self.order_key)
        return (t, *(float(k[0]) for k in reversed(keys)))

    def first_time(self) -> float:
        return self.heap[0][0][0] if self.heap else math.inf

    def run_moment(self) -> None:
        """Every event at the earliest time, in order (events it creates at that time included)."""
        now = self.first_time()
        heap = self.heap
        while heap and heap[0][0][0] == now:
            _, i, steps = heapq.heappop(heap)
            if steps is None:
                steps = self.message(i)
            event = next(steps, None)
            if event is not None:
                heapq.heappush(heap, (self.key(i, *event), i, steps))


def _message_steps(sender: Sender, recipients: list[Recipient], stop: float, seed: int, arrivals: np.ndarray,
                   recipient_of: np.ndarray, recorder: Recorder):
    """``message(i)``: message i's life as a generator. Each ``next()`` runs its pending event and yields
    the next one as (time, kind, due time, failures so far), or ends."""
    jitter_key = stream_key(seed, Purpose.JITTER)
    rule = sender.give_up
    warn_at_failure = sender.delay_warning_s is not None and sender.delay_warning_at != "age"
    policy = sender.host_policy if sender.host_policy is not None and sender.host_policy.matters(recipients) \
        else None
    host_states: dict[int, HostState] = {}
    one = np.array

    def message(i: int):
        arrival = float(arrivals[i])
        recipient = recipients[recipient_of[i]]
        host: HostState | None = None
        if policy is not None:
            host = host_states.get(recipient_of[i])
            if host is None:
                host = host_states[recipient_of[i]] = policy.new_state(sender)
        failures = warned = 0
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
            if rule.by_attempt_age:
                decisive = float(sender.clock(t) - sender.clock(arrival))
            if reply.duration_s:
                t += reply.duration_s
                if t >= stop:                      # still connecting at the horizon: its (known) deferral
                    recorder.defer(i, reply.status)
                    return
                yield t, COMPLETE, t, failures
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
            u = uniform(jitter_key, i, failures) if sender.schedule.uses_random else 1.0
            now_c = float(sender.clock(t))
            history = (one([prev_wait]), one([now_c - prev_failure])) if sender.needs_history else ()
            steps = sender.after_failures(one([failures]), one([arrival]), one([t]), u,
                                          one([reply.result.is_connection_failure]), *history)
            attempt_s, give_up_s, due_s = (float(v[0]) for v in steps[:3])
            if policy is not None and policy.decides_next_step and (reply.result.is_connection_failure
                                                                    or held is not None):
                decided = cast(DecidingHostState, host).next_step(t, arrival, sender)
                if decided is not None:
                    attempt_s, give_up_s, due_s = (math.nan if v is None else v for v in decided)
            if not math.isnan(due_s):
                prev_failure, prev_wait = now_c, due_s - now_c
            if not math.isnan(give_up_s):
                if give_up_s >= stop:
                    return
                if give_up_s > t:
                    yield give_up_s, GIVE_UP, give_up_s, failures
                recorder.finish(i, Outcome.EXPIRED, sender.final_status(reply.status), give_up_s, math.inf)
                return
            decisive = float(rule.decisive_after_failure(one([decisive]), steps.ages)[0])
            if warn_at_failure:
                count = sender.warnings_due_at_failure(arrival, t, attempt_s, warned)
                if count:
                    warned += count
                    recorder.warn(i, t, count)
            t = attempt_s
            if t >= stop:
                return
            yield t, ATTEMPT, due_s, failures

    return message

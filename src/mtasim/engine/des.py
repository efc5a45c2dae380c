"""The discrete-event engine: one SimPy process per destination queue, each with a calendar of its
pending messages keyed by (time, the MTA's queue order, message id).

What an event does is the rule kernel's business (:mod:`mtasim.engine.kernel`, shared with the fast
engine); this module decides *when* and *in which order* events run, and applies host-level state
(:mod:`mtasim.hosts`), the one thing that couples messages — and only messages to one destination:

* **A calendar per destination queue.** Each destination with host state and at least ``_OWN_QUEUE``
  messages gets its own calendar and SimPy process. The smaller ones share one calendar of the reference
  engine's per-message steps (mtasim.engine.reference.MessageCalendar: the same order, event by event;
  array operations on a handful of events cost more than they save). Messages without host state share
  calendars of ``_CHUNK`` messages. A destination whose attempts wait for the sender's connection slots
  has a calendar of stretches (mtasim.engine.lines). SimPy is the clock.
* **Moments in the MTA's order.** The events of one moment are taken in the order of
  :mod:`mtasim.queue_order` (connections under way end first, then give-up timers, then new attempts in
  the preset's queue order). A destination whose state may change at this moment has its events applied
  to its state one by one in that order; the others are decided as a whole.
* **Quiet stretches.** A state only changes on connection failures. While a destination is *quiet*
  (:meth:`HostState.quiet`: at rest with no connection failure ahead, or holding everything back until a
  known time) the order of its events cannot change any result, so every event before the first moment
  at which some destination could change is run in lock step, as the fast engine does.
"""

from __future__ import annotations

import heapq
import math
from typing import cast

import numpy as np
import simpy

from ..hosts import DecidingHostState, HostState
from ..queue_order import ATTEMPT, COMPLETE, GIVE_UP, queue_order
from ..recipients import Recipient, Reply
from ..results import Recorder
from ..sender import Sender
from .events import PendingEvents
from .kernel import FIELDS, Batch, Kernel
from .lines import LineCalendar, runs_in_stretches
from .reference import MessageCalendar, one_by_one

__all__ = ["run_des"]

#: Destinations with fewer messages share one calendar of per-message steps: below about 1,000 messages
#: (spread over days) few events share a moment and array operations cost more than they save (measured
#: with benchmarks/engines.py's scenario over 1-200 destinations).
_OWN_QUEUE = 1000
_CHUNK = 1 << 15                            # without host state, calendars of this many (see fast.CHUNK)
#: A rate limit takes its attempts one at a time in queue order (each takes a token), so its destinations
#: never have quiet stretches. They run in stretches of the sender's shortest retry gap (engine.lines)
#: where there is one and no host state; else on the reference's per-message steps, ~6x faster than
#: moments of arrays (a 3,000-message throttled drain: 6 s against 39 s), whatever the queue's size.
_OWN_QUEUE_RATE_LIMITED = math.inf
#: Destinations whose attempts wait for the sender's connection slots run in stretches of the sender's
#: shortest retry gap (engine.lines.LineCalendar) where it can; the others of reference.one_by_one (no
#: known gap, host state besides the slots, shared greylist triplets, MX hosts answering by their own rules,
#: a connection set-up time) run on that per-message calendar.


class _Store:
    """Every parked message's pending event (the FIELDS of a Batch, one row per message)."""

    def __init__(self, first: Batch):
        n = int(first.id.max(initial=-1)) + 1
        self.arrays = {name: np.zeros((n, *a.shape[1:]), dtype=a.dtype) for name in FIELDS
                       if (a := getattr(first, name)) is not None}

    def put(self, b: Batch) -> None:
        for name, a in self.arrays.items():
            a[b.id] = getattr(b, name)

    def get(self, ids: np.ndarray) -> Batch:
        return Batch(**{name: a[ids] if (a := self.arrays.get(name)) is not None else None for name in FIELDS})


class _Destination:
    """What the engine keeps about one destination with host state: the state, the recipient's rate
    limit, its connection-failure windows (when the state can next change on its own attempts) and its
    connections under way."""

    def __init__(self, state: HostState | None, recipient: Recipient):
        self.state = state
        self.gate = recipient.new_gate()        # a rate limit here (connection limits go one by one)
        self.failing = sorted((o.start_s, o.end_s) for o in recipient.outages
                              if o.reply.result.is_connection_failure or o.reply.closes_connection)
        self.next_window = 0
        self.timeouts: list[float] = []         # when pending timed-out connections end: they teach the state

    def quiet_until(self, now: float) -> tuple[Reply | None, float]:
        """(held deferral or None, time) such that every event of this destination before that time is
        decided alike without changing its state; the time is ``now`` when none is (a rate limit: every
        attempt takes a token, so its attempts always go one by one in queue order)."""
        if self.gate is not None:
            return None, now
        if self.state is None:
            return None, math.inf
        quiet = self.state.quiet()
        if quiet is None:
            return None, now
        decision, until = quiet
        if decision is None:                    # connects: safe until the next connection failure
            while self.next_window < len(self.failing) and self.failing[self.next_window][1] <= now:
                self.next_window += 1
            if self.next_window < len(self.failing):
                until = min(until, self.failing[self.next_window][0])
        while self.timeouts and self.timeouts[0] < now:
            heapq.heappop(self.timeouts)
        return decision, min(until, self.timeouts[0]) if self.timeouts else until


class _Calendar:
    """The pending events of one destination queue (or of several small ones, or of independent
    messages), and the SimPy process that runs them."""

    def __init__(self, run: "_Run", first: Batch, domains: dict[int, _Destination]):
        self.run, self.kernel = run, run.kernel
        self.domains = domains
        self.watched = np.fromiter(domains, dtype=np.int64, count=len(domains))
        self.pending = PendingEvents()
        self.first = first if not domains else None
        if domains:
            self.park(first)

    def park(self, b: Batch | None) -> None:
        """Put events back on the calendar; connections under way bound their destination's quiet time."""
        if b is None or not len(b):
            return
        run = self.run
        assert run.store is not None                # calendars with host state park their events
        run.store.put(b)
        np.minimum.at(run.next_event, b.domain, b.t)
        np.add.at(run.pending, b.domain, 1)
        timed = (b.phase == COMPLETE) & self.kernel.table.connection[b.reply]
        for d, t in zip(b.domain[timed].tolist(), b.t[timed].tolist()):
            heapq.heappush(self.domains[d].timeouts, t)
            run.bound[d] = min(run.bound[d], t)
        self.pending.push(b.id, b.t)

    def _take(self, ids: np.ndarray) -> Batch:
        assert self.run.store is not None
        b = self.run.store.get(ids)
        np.subtract.at(self.run.pending, b.domain, 1)
        return b

    def process(self, env: simpy.Environment):
        """The SimPy process: each moment (or quiet stretch) in time order."""
        stop = self.kernel.stop
        if self.first is not None:              # independent messages: one stretch to the end
            if len(self.first):
                yield env.timeout(max(0.0, float(self.first.t[0]) - env.now))
                self.kernel.run_until(self.first, stop)
            return
        while True:
            now = self.pending.first_time()
            if now >= stop:
                return
            if now > env.now:
                yield env.timeout(now - env.now)
            cap = self._quiet_until(now)
            if cap > now:
                self._stretch(cap)
            else:
                self._moment(now)

    def _quiet_until(self, now: float) -> float:
        """The first time at which an event of some watched destination might change its state."""
        run = self.run
        for d in self.watched[run.bound[self.watched] <= now].tolist():
            run.held[d], run.bound[d] = self._decision(d, now)
        w = self.watched
        next_event = np.where(run.pending[w] > 0, run.next_event[w], math.inf)
        return float(np.maximum(run.bound[w], next_event).min())

    def _decision(self, d: int, now: float) -> tuple[int, float]:
        decision, until = self.domains[d].quiet_until(now)
        return (-1 if decision is None else self.kernel.table.index(decision)), until

    def _stretch(self, cap: float) -> None:
        """Every event before ``cap``, in lock step: no state can change, so order cannot matter."""
        b = self._take(self.pending.pop_before(cap))
        self.run.next_event[b.domain] = cap                  # a lower bound of what stays pending
        for lo in range(0, len(b), _CHUNK):                 # in cache-sized chunks (see fast.CHUNK)
            self.park(self.kernel.run_until(b.take(slice(lo, lo + _CHUNK)), cap, self.run.held))

    def _moment(self, now: float) -> None:
        """Every event at ``now``, in the MTA's order; destinations whose state may change here apply
        their events to it one by one."""
        run, kernel = self.run, self.kernel
        b = self._take(self.pending.pop_at(now))
        b = b.take(run.order.sort(b.phase, b.due, b.arrival, b.failures, b.id, kernel.order_key))
        run.next_event[b.domain] = now
        reply, end = kernel.replies(b)
        changing = run.bound[b.domain] <= now
        held = np.where(changing | (b.phase != ATTEMPT), -1, run.held[b.domain])
        reply = np.where(held >= 0, held, reply).astype(np.int32)
        host = None
        touched = np.unique(b.domain[changing]).tolist()
        if changing.any():
            host = np.full((len(b), 3), np.nan)
            for j in np.flatnonzero(changing).tolist():
                self._apply(b, j, reply, host, now)
        self.park(kernel.step(b, reply, end, host if run.host_decides else None))
        for d in touched:
            run.held[d], run.bound[d] = self._decision(d, now)

    def _apply(self, b: Batch, j: int, reply: np.ndarray, host: np.ndarray, now: float) -> None:
        """Event ``j`` of a moment meets its destination's state (the reference steps' order)."""
        table, sender = self.kernel.table, self.kernel.sender
        destination = self.domains[int(b.domain[j])]
        state, gate = destination.state, destination.gate
        answer = table.replies[reply[j]]
        held = None
        if b.phase[j] == ATTEMPT:
            held = state.before_attempt(now, float(b.arrival[j])) if state is not None else None
            if held is not None:
                reply[j] = table.index(held)
            else:
                refusal = gate.refusal(now, 0) if gate is not None and table.meets_limits[reply[j]] else None
                if refusal is not None:
                    reply[j] = table.index(refusal)
                    answer = refusal if refusal.closes_connection else answer
                if state is not None and not answer.duration_s:
                    state.after_attempt(now, answer)
        elif b.phase[j] == COMPLETE and state is not None and answer.duration_s:    # a timed-out connection
            state.after_attempt(now, answer)
        if state is None or b.phase[j] == GIVE_UP:
            return
        failed = held is not None or (answer.result.is_connection_failure
                                      and (b.phase[j] == COMPLETE or not answer.duration_s))
        if failed and self.run.host_decides:
            step = cast(DecidingHostState, state).next_step(now, float(b.arrival[j]), sender)
            if step is not None:
                host[j] = [math.nan if v is None else v for v in step]


class _Run:
    """One simulation: the kernel, the parked events and the calendars."""

    def __init__(self, sender: Sender, recipients: list[Recipient], horizon: float | None, seed: int,
                 arrivals: np.ndarray, recipient_of: np.ndarray, recorder: Recorder):
        self.kernel = Kernel(sender, recipients, recorder, seed, horizon)
        self.order = queue_order(sender.queue_order)
        started = int(np.searchsorted(arrivals, self.kernel.stop, side="left"))
        policy = sender.host_policy
        coupled = policy is not None and policy.matters(recipients)
        coupled |= any(r.rate_limit is not None or one_by_one(sender, r) for r in recipients)
        first = Batch.arriving(np.arange(started, dtype=np.int64), arrivals, recipient_of,
                               self.kernel.fields(ordered=coupled), self.kernel.grey_width)
        n_domains = len(recipients)
        self.bound = np.full(n_domains, -math.inf)             # states to look at before they are trusted
        self.next_event = np.full(n_domains, math.inf)      # a lower bound, where events are pending
        self.pending = np.zeros(n_domains, dtype=np.int64)
        self.held = np.full(n_domains, -1, dtype=np.int32)
        self.host_decides = policy is not None and policy.matters(recipients) and policy.decides_next_step
        self.store: _Store | None = None
        self.calendars: list[_Calendar | LineCalendar | MessageCalendar] = []
        if not coupled:
            self.calendars = [_Calendar(self, first.take(slice(lo, lo + _CHUNK)), {})
                              for lo in range(0, started, _CHUNK)]
            return
        self.store = _Store(first)
        counts = np.bincount(first.domain, minlength=n_domains)
        limited = np.array([r.rate_limit is not None for r in recipients], dtype=bool)
        stepped = np.array([one_by_one(sender, r) for r in recipients], dtype=bool)
        matters = policy is not None and policy.matters(recipients)
        in_line = np.array([counts[d] > 0 and (stepped[d] or limited[d]) and runs_in_stretches(sender, r, matters)
                            for d, r in enumerate(recipients)], dtype=bool)
        own = (counts >= np.where(limited, _OWN_QUEUE_RATE_LIMITED, _OWN_QUEUE)) & ~stepped & ~in_line
        self.calendars = [_Calendar(self, first.take(first.domain == d), {d: self._destination(d, recipients)})
                          for d in np.flatnonzero(own).tolist()]
        self.calendars += [LineCalendar(self.kernel, self.store, first.take(first.domain == d), d, recipients[d],
                                        self.order) for d in np.flatnonzero(in_line).tolist()]
        small = ~own[first.domain] & ~in_line[first.domain]
        if small.any():                         # too few messages per destination for batching to pay
            self.calendars.append(MessageCalendar(sender, recipients, horizon, seed, arrivals, recipient_of, recorder,
                                                  first.id[small]))

    def _destination(self, d: int, recipients: list[Recipient]) -> _Destination:
        policy = self.kernel.sender.host_policy
        state = policy.new_state(self.kernel.sender) if policy is not None and policy.matters(recipients) else None
        return _Destination(state, recipients[d])


def _one_by_one(calendar: MessageCalendar, env: simpy.Environment):
    """The SimPy process of the per-message calendar: the reference steps, message by message. Its
    destinations share nothing with the other calendars', so it runs every moment before the next event
    SimPy has scheduled for them in one go (one SimPy step, not one per moment)."""
    while calendar.heap:
        now = calendar.first_time()
        if now > env.now:
            yield env.timeout(now - env.now)
        calendar.run_moment()
        while calendar.heap and calendar.first_time() < env.peek():
            calendar.run_moment()


def run_des(sender: Sender, recipients: list[Recipient], horizon: float | None, seed: int,
            arrivals: np.ndarray, recipient_of: np.ndarray, recorder: Recorder) -> float | None:
    """Simulate every message into ``recorder``; returns the horizon used (None = to the end)."""
    run = _Run(sender, recipients, horizon, seed, arrivals, recipient_of, recorder)
    env = simpy.Environment()
    for calendar in run.calendars:
        if isinstance(calendar, (_Calendar, LineCalendar)):
            env.process(calendar.process(env))
        else:                                               # the per-message steps' calendar
            env.process(_one_by_one(cast(MessageCalendar, calendar), env))
    env.run()
    run.kernel.finish()
    return horizon

"""The discrete-event engine: messages advance in batches, in exactly the order SimPy would run them.

The rules are those of the reference steps (:mod:`mtasim.engine.steps`): this module changes how events
are scheduled, never what an event does. The straightforward model — one SimPy process per message —
is kept in ``benchmarks/baselines/des_per_message.py``; this engine gives the same per-message results
and attempt tables (tested), much faster, because:

* **Events are batched.** Pending message events sit in a heap of runs sorted by time; every event at
  one moment (a queue-runner scan, a burst of arrivals) is handled by one set of array operations, with
  the vectorised twins of the sender's rules that the fast engine uses (a moment of a few events is run
  event by event with the scalar rules, which is cheaper).
* **Destinations run separately.** Host-level state (:mod:`mtasim.hosts`) is the only thing that
  couples messages, and only messages to one destination, so each destination is simulated on its own.
  Destinations with few messages (fewer than ``_OWN_ENGINE``) share a plain event loop instead, which
  runs the reference steps message by message: few of their events share a moment, so batching would
  not pay.
* **Quiet stretches are advanced wholesale.** A state only changes on connection failures. While a
  destination is *quiet* (:meth:`HostState.quiet`: at rest and no connection failure due, or holding
  everything back until a known time), the order of its events cannot change any result, so all its
  events before the next moment that could change the state are advanced together, as the fast engine
  does. Without host-level state the whole run is one quiet stretch.
* **Order is rebuilt, not replayed.** Where order matters it is SimPy's: time, then urgent (a message's
  first step, run right after the arrival process's event that starts it) before normal, then creation
  order — the order in which the events' creators ran. So every event carries its creator's clock time
  and rank within that time, and a stretch's ranks are worked out after it, for the moments that need
  them. Ranks only have to order events of one destination and the arrival process's events (which
  create no host-state events), so they are counted per destination, with every arrival-process event at
  rank ``SOURCE_RANK`` and the events after it in its moment above it.

SimPy keeps the clock: one process advances ``env.now`` to every moment the engine handles.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import math

import numpy as np
import simpy

from ..recipients import AttemptResult, Recipient
from ..results import Outcome, Recorder
from ..rng import Purpose, stream_key, uniform, uniform_array
from ..sender import BY_ATTEMPT_AGE, NextStep, Sender
from .events import SOURCE_RANK, ArrivalProcess, PendingEvents
from .outage_table import OutageTable
from .steps import message_steps

__all__ = ["run_des"]

ATTEMPT, COMPLETE, GIVE_UP = 0, 1, 2        # what a message's pending event is
AFTER_SOURCE = 1 << 40                      # added to the rank of an event after it in its moment
_LATER = 1 << 62                            # sort key of a creator whose rank is not known yet
_SMALL = 12                                 # moments with at most this many events run event by event
_OWN_ENGINE = 250                           # destinations with fewer messages run message by message
_STRETCH_ROWS = 1 << 21                     # about how many events one quiet stretch logs at most
_CHUNK = 1 << 20                            # without host state, messages run in chunks of this many
_URGENT, _NORMAL = 0, 1                     # SimPy's event priorities
_NO_STEP = NextStep(None, None)


def _slack(t: float) -> float:
    """A margin far above the rounding between an event's clock time and its exact time."""
    return 1e-9 * max(1.0, abs(t))


class _Messages:
    """Every message's pending event and what its rules remember, shared by the destinations' engines."""

    def __init__(self, arrivals: np.ndarray, recipient_of: np.ndarray, history: bool):
        n = len(arrivals)
        self.arrival = arrivals
        self.domain = recipient_of.astype(np.int64)
        self.t = arrivals.astype(np.float64).copy()          # the event's exact time
        self.clock = np.zeros(n)                              # the event's SimPy time
        self.phase = np.zeros(n, dtype=np.int8)
        self.failures = np.zeros(n, dtype=np.int64)
        self.warned = np.zeros(n, dtype=np.int64)
        self.decisive = np.full(n, -np.inf)
        self.outage_end = np.full(n, np.nan)                  # the outage behind the last failure
        self.attempt_end = np.full(n, np.nan)                 # the outage behind the attempt under way
        self.reply = np.zeros(n, dtype=np.int32)              # the reply of the attempt under way
        if history:
            self.prev_failure = np.full(n, np.nan)
            self.prev_wait = np.full(n, np.nan)
        # the event's creator: its clock time and rank (or, until the quiet stretch it ran in is ranked,
        # its row in that stretch's log)
        self.by_time = np.zeros(n)
        self.by_rank = np.zeros(n, dtype=np.int64)
        self.by_log = np.full(n, -1, dtype=np.int64)


class _Engine:
    """The messages of one destination (or, without host-level state, one chunk of all messages) from
    arrival to the end."""

    def __init__(self, run: "_Run", ids: np.ndarray, state, failing: list[tuple[float, float]]):
        self.run, self.m, self.table = run, run.messages, run.table
        self.state = state                                     # the destination's host state, or None
        self.failing, self.failing_next = failing, 0           # its connection-failure windows
        self.pending = PendingEvents(ordered=state is not None)
        self.src_time, self.src_by, self.src_begin, self.src_sub = run.source.starts(ids)
        self.src_ids = ids[ids < run.source.n]
        self.next_src = 0
        self.timeouts: list[float] = []        # clock times of pending timed-out connections: they change state
        self.last_time, self.last_count = -math.inf, 0      # the last ranked time, ranks used at it
        self.held = -1
        self.now = 0.0
        self.span = math.inf                   # how far one quiet stretch may reach (bounds its log)

    # -- the loop ------------------------------------------------------------------------------------
    def steps(self):
        """Generator: runs every event, yielding the clock time of each moment or stretch it starts."""
        while True:
            now = min(self.pending.first_time(),
                      self.src_time[self.next_src] if self.next_src < len(self.src_time) else math.inf)
            if now >= self.run.stop:
                return
            yield now
            self.now = now
            bound = self._quiet_until(now)
            if self.state is None or bound > now and self._more_than_a_few_before(bound):
                self._advance_quietly(bound)
            else:
                self._moment(now)

    def _more_than_a_few_before(self, bound: float) -> bool:
        """Whether more than a few events are pending before ``bound`` (else running them one moment at
        a time is cheaper than a quiet stretch)."""
        count = 0
        if self.next_src < len(self.src_time):
            k1 = int(np.searchsorted(self.src_time, bound, side="left"))
            count = int(self.src_begin[max(k1, self.next_src)] - self.src_begin[self.next_src])
        return count + self.pending.count_before(bound, _SMALL - count) > _SMALL

    def _quiet_until(self, now: float) -> float:
        """The clock time before which no event can change the host state (``now`` when one might)."""
        if self.state is None:
            return self.run.stop                    # nothing couples messages: one quiet stretch to the end
        quiet = self.state.quiet()
        if quiet is None:
            return now
        decision, bound = quiet
        if decision is None:
            spans, k = self.failing, self.failing_next
            while k < len(spans) and spans[k][1] <= now - _slack(now):
                k += 1
            self.failing_next = k
            if k < len(spans):
                bound = min(bound, spans[k][0])
            self.held = -1
        else:
            self.held = self.table.index(decision)
        while self.timeouts and self.timeouts[0] < now:
            heapq.heappop(self.timeouts)
        if self.timeouts:
            bound = min(bound, self.timeouts[0])
        bound = min(bound, self.run.stop)
        return bound - _slack(bound) if bound < math.inf else bound

    # -- quiet stretches ---------------------------------------------------------------------------
    def _advance_quietly(self, bound: float) -> None:
        """Run every event before ``bound`` (none can change the host state, so their order cannot
        matter), then rank them as SimPy would have run them, so later moments can order their events."""
        m = self.m
        logs: list[tuple] = []
        created: list[np.ndarray] = []
        rows = 0
        start = self.now
        if self.state is not None:                  # bound the stretch's log (and memory):
            if start + self.span < bound:           # ... as long as the last one's, if that was too long
                bound = max(start + self.span, float(np.nextafter(start, math.inf)))
            k = int(np.searchsorted(self.src_begin, self.src_begin[self.next_src] + _STRETCH_ROWS))
            if k < len(self.src_time):              # ... and taking in so many new messages at most
                bound = min(bound, float(self.src_time[k]))
        ranked = self.state is not None             # without host state, order never matters
        while True:
            ids = self.pending.pop_before(bound)
            k0 = self.next_src
            k1 = max(k0, int(np.searchsorted(self.src_time, bound, side="left")))
            if not len(ids) and k1 == k0:
                break
            if ranked:
                logs.append((m.clock[ids], m.by_time[ids], m.by_rank[ids], m.by_log[ids],
                             np.zeros(len(ids), np.int64)))
            if k1 > k0:                             # messages started by the arrival process, right after it
                lo, hi = self.src_begin[k0], self.src_begin[k1]
                starts = self.src_ids[lo:hi]
                which = np.repeat(np.arange(k0, k1), np.diff(self.src_begin[k0:k1 + 1]))
                m.clock[starts] = self.src_time[which]
                if ranked:
                    logs.append((self.src_time[which], self.src_by[which], np.full(hi - lo, SOURCE_RANK),
                                 np.full(hi - lo, -1), self.src_sub[lo:hi]))
                self.next_src = k1
                ids = np.concatenate((ids, starts))
            if not ranked:
                self.run.process(ids, self)
                continue
            held = np.where(m.phase[ids] == ATTEMPT, self.held, -1)
            created.append(self.run.process(ids, self, held=held, log=rows + np.arange(len(ids))))
            rows += len(ids)
        if not logs:
            return
        rank = self._rank(*(np.concatenate(c) for c in zip(*logs)))
        for ids in created:                         # creators that ran here now have their ranks
            ids = ids[m.by_log[ids] >= 0]
            m.by_rank[ids] = rank[m.by_log[ids]]
            m.by_log[ids] = -1
        if rows > _STRETCH_ROWS:                    # keep the next stretch's log (and memory) bounded
            self.span = (self.last_time - start) * _STRETCH_ROWS / rows
        elif rows < _STRETCH_ROWS // 4:
            self.span = math.inf

    def _rank(self, clock, by_time, by_rank, by_log, by_sub) -> np.ndarray:
        """Each logged event's rank in its moment, in SimPy's order: by its creator's (time, rank), then
        its place among the messages one arrival-process event starts.

        One sort settles every moment except those where two events' creators ran at one same time in
        this stretch, or one ran at the time of the arrival-process event it is compared with: their
        ranks are only known once that time is ranked. Those moments are re-sorted in time order, so
        creators come first; one with events created at their own time (a zero wait) until it settles.
        """
        creator = np.where(by_log >= 0, _LATER + by_log, by_rank)
        order = np.argsort(clock, kind="stable")
        c = clock[order]
        new_time = np.empty(len(order), dtype=bool)
        new_time[0] = True
        new_time[1:] = c[1:] != c[:-1]
        moment = np.cumsum(new_time) - 1
        ct, cc = by_time[order], creator[order]
        # only moments with events of different creators need sorting (messages started by one arrival-
        # process event share their creator and are logged in their order already)
        mixed = ~new_time[1:] & ((ct[1:] != ct[:-1]) | (cc[1:] != cc[:-1]))
        if mixed.any():
            to_sort = np.zeros(int(moment[-1]) + 1, dtype=bool)
            to_sort[moment[1:][mixed]] = True
            rows = to_sort[moment]
            sub = order[rows]
            order[rows] = sub[np.lexsort((by_sub[sub], creator[sub], by_time[sub], moment[rows]))]
        start = np.maximum.accumulate(np.where(new_time, np.arange(len(order)), 0))
        carried = self.last_count if c[0] == self.last_time else 0      # this time also had a moment
        position = np.arange(len(order)) - start + np.where(c == c[0], carried, 0)
        bt, bl = by_time[order], by_log[order]
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = position + AFTER_SOURCE * self.run.source.after(c, bt, by_rank[order])
        # moments whose order (or place after the arrival process) hangs on creators ranked in this stretch
        tied = ~new_time[1:] & (bt[1:] == bt[:-1]) & (bl[1:] >= 0) & (bl[:-1] >= 0) & (bl[1:] != bl[:-1])
        redo = np.zeros(int(moment[-1]) + 1, dtype=bool)
        redo[moment[1:][tied]] = True
        source = self.run.source
        redo[moment[(bl >= 0) & (bt == source.creator_times(c))]] = True
        edges = np.append(np.flatnonzero(new_time), len(order))
        for j in np.flatnonzero(redo).tolist():
            a, b = int(edges[j]), int(edges[j + 1])
            members = order[a:b]
            offset = carried if c[a] == c[0] else 0
            logged = by_log[members]
            same_time = (logged >= 0) & (by_time[members] == c[a])
            while True:
                creator_rank = np.where(logged >= 0, rank[np.maximum(logged, 0)], by_rank[members])
                new = np.empty(b - a, dtype=np.int64)
                new[np.lexsort((by_sub[members], creator_rank, by_time[members]))] = offset + np.arange(b - a)
                new += AFTER_SOURCE * source.after(clock[members], by_time[members], creator_rank)
                settled = np.array_equal(new, rank[members])
                rank[members] = new
                if settled or not same_time.any():
                    break
        self.last_time = float(c[-1])
        self.last_count = len(order) - int(start[-1]) + (carried if c[-1] == c[0] else 0)
        return rank

    # -- moments where order matters ---------------------------------------------------------------
    def _moment(self, now: float) -> None:
        """Every event at clock time ``now``, in SimPy's order where they touch the host state."""
        m = self.m
        ids = self.pending.pop_at(now)
        k = self.next_src
        if k < len(self.src_time) and self.src_time[k] == now:
            lo, hi = self.src_begin[k], self.src_begin[k + 1]
            starts = self.src_ids[lo:hi]
            m.clock[starts] = now
            self.next_src += 1
        else:
            lo = hi = 0
            starts = ids[:0]
        while self.timeouts and self.timeouts[0] <= now:
            heapq.heappop(self.timeouts)
        offset = self.last_count if now == self.last_time else 0
        count = len(ids) + len(starts)
        self.last_time, self.last_count = now, offset + count
        if count <= _SMALL:                         # a few events: sorted and run one by one
            events = [(m.by_time.item(i), m.by_rank.item(i), 0, i) for i in ids.tolist()]
            if len(starts):
                events += [(self.src_by[k], SOURCE_RANK, sub, i)
                           for sub, i in zip(self.src_sub[lo:hi].tolist(), starts.tolist())]
            events.sort()
            source_by = self.run.source.creator_at(now)
            for q, (by_time, by_rank, _, i) in enumerate(events):
                after = source_by is not None and (by_time > source_by
                                                   or by_time == source_by and by_rank >= SOURCE_RANK)
                self.run.process_one(i, offset + q + (AFTER_SOURCE if after else 0), self)
            return
        by_time, by_rank, by_sub = m.by_time[ids], m.by_rank[ids], np.zeros(len(ids), np.int64)
        if len(starts):
            ids = np.concatenate((ids, starts))
            by_time = np.concatenate((by_time, np.full(hi - lo, self.src_by[k])))
            by_rank = np.concatenate((by_rank, np.full(hi - lo, SOURCE_RANK)))
            by_sub = np.concatenate((by_sub, self.src_sub[lo:hi]))
        order = np.lexsort((by_sub, by_rank, by_time))
        ids = ids[order]
        rank = offset + np.arange(len(ids)) + AFTER_SOURCE * self.run.source.after(
            np.full(len(ids), now), by_time[order], by_rank[order])
        reply, end = self.run.replies(ids)
        held, steps = self._host(ids, reply) if self.state is not None else (None, None)
        self.run.process(ids, self, reply=reply, end=end, held=held, steps=steps, rank=rank)

    def _host(self, ids: np.ndarray, reply: np.ndarray):
        """Apply the host states event by event in order, a run that a quiet state decides alike at once.
        Returns the held-back deferral per event (-1: connect) and host-decided next steps by position."""
        m, table = self.m, self.table
        held = np.full(len(ids), -1, dtype=np.int32)
        steps: dict[int, NextStep] = {}
        phase, t = m.phase[ids], m.t[ids]
        connection = table.connection[reply]
        timed = table.duration[reply] > 0
        state = self.state
        k = 0
        while k < len(ids):
            quiet = state.quiet()
            if quiet is not None:
                decision, until = quiet
                kinds = phase[k:]
                if decision is None:
                    alike = (kinds == GIVE_UP) | ~connection[k:] & ((kinds == COMPLETE) | (t[k:] < until))
                else:
                    alike = (kinds == GIVE_UP) | (kinds == ATTEMPT) & (t[k:] < until)
                j = len(alike) if alike.all() else int(np.argmin(alike))
                if decision is not None:
                    held[k + np.flatnonzero(kinds[:j] == ATTEMPT)] = table.index(decision)
                k += j
                if k == len(ids):
                    break
            p, k = k, k + 1
            i, tp, kind = int(ids[p]), float(t[p]), phase[p]
            if kind == GIVE_UP:
                continue
            failure = False
            if kind == ATTEMPT:
                hold = state.before_attempt(tp, float(m.arrival[i]))
                if hold is not None:
                    held[p] = table.index(hold)
                    failure = True
                elif not timed[p]:
                    state.after_attempt(tp, table.replies[reply[p]])
                    failure = connection[p]
            else:
                state.after_attempt(tp, table.replies[reply[p]])
                failure = connection[p]
            if failure and self.run.host_decides:
                step = state.next_step(tp, float(m.arrival[i]), self.run.sender, _NO_STEP)
                if step is not None:
                    steps[p] = step
        return held, steps

    def schedule(self, ids: np.ndarray, clock: np.ndarray, timed_out: np.ndarray | None) -> None:
        """Queue next events; ``timed_out`` marks connections timing out, which will change the state."""
        self.pending.push(ids, clock)
        if self.state is not None and timed_out is not None:
            for c in clock[timed_out].tolist():
                heapq.heappush(self.timeouts, c)


class _Stepper:
    """Destinations with few messages: every message's reference steps (:mod:`mtasim.engine.steps`), one
    event at a time in SimPy's order, from one heap of (time, urgent-before-normal, creation order). Few
    events share a moment there, so batching would not pay. Events of other destinations are left out
    (they cannot change these results); the arrival process's events all stay in, keeping creation order."""

    def __init__(self, run: "_Run", ids: np.ndarray, inputs: tuple):
        self.run, self.ids = run, ids
        self.message = message_steps(*inputs)

    def steps(self):
        """Generator: runs every event of these messages, yielding the clock time of each new moment."""
        source, stop, message = self.run.source, self.run.stop, self.message
        queue: list = []
        sequence = itertools.count()
        clock = 0.0
        ids = self.ids[self.ids < source.n]
        event_of = (np.searchsorted(source.lo, ids, side="right") - 1).tolist()
        ids = ids.tolist()

        def arrivals():
            """The arrival process: its k-th event at clock time source.time[k] starts its messages here."""
            j = 0
            for k, time in enumerate(source.time.tolist()):
                if k:
                    yield time                      # computed with SimPy's arithmetic: lands exactly there
                while j < len(ids) and event_of[j] == k:
                    heapq.heappush(queue, (time, _URGENT, next(sequence), message(ids[j])))
                    j += 1

        heapq.heappush(queue, (0.0, _URGENT, next(sequence), arrivals()))
        last = -math.inf
        while queue:
            time = queue[0][0]
            if time >= stop:
                return
            if time > last:
                yield time
                last = time
            _, _, _, generator = heapq.heappop(queue)
            clock = time
            try:
                target = next(generator)
            except StopIteration:
                continue
            heapq.heappush(queue, (clock + max(0.0, target - clock), _NORMAL, next(sequence), generator))


class _Run:
    """What every destination's engine shares: the sender, the records, the message arrays, the rules."""

    def __init__(self, sender: Sender, recipients: list[Recipient], horizon: float | None, seed: int,
                 arrivals: np.ndarray, recipient_of: np.ndarray, recorder: Recorder):
        self.sender, self.recipients, self.recorder = sender, recipients, recorder
        self.stop = math.inf if horizon is None else horizon
        self.table = OutageTable(recipients, recorder, sender)
        self.key = stream_key(seed, Purpose.JITTER)
        self.uses_random = sender.schedule.uses_random
        self.history = sender.needs_history
        self.messages = _Messages(arrivals, recipient_of, self.history)
        self.source = ArrivalProcess(arrivals, self.stop)
        policy = sender.host_policy
        active = policy is not None and policy.matters(recipients)
        if not active:                              # independent messages: chunks bound the memory
            self.engines = [_Engine(self, np.arange(lo, min(lo + _CHUNK, len(arrivals)), dtype=np.int64), None, [])
                            for lo in range(0, len(arrivals), _CHUNK)]
            self.host_decides = False
            return
        self.engines: list = []
        self.host_decides = hasattr(policy.new_state(), "next_step")
        by_domain = np.argsort(recipient_of, kind="stable")            # ids grouped by domain, ascending
        edges = np.searchsorted(recipient_of[by_domain], np.arange(len(recipients) + 1))
        few: list[np.ndarray] = []
        for d, r in enumerate(recipients):
            ids = by_domain[edges[d]:edges[d + 1]].astype(np.int64)
            if len(ids) >= _OWN_ENGINE:
                failing = sorted((o.start_s, o.end_s) for o in r.outages if o.reply.result.is_connection_failure)
                self.engines.append(_Engine(self, ids, policy.new_state(), failing))
            elif len(ids):
                few.append(ids)
        if few:
            self.engines.append(_Stepper(self, np.sort(np.concatenate(few)), (sender, recipients, horizon, seed,
                                                                              arrivals, recipient_of, recorder)))

    def simulate(self, env: simpy.Environment):
        """The one SimPy process: runs the destinations' engines side by side in clock order."""
        runners = [e.steps() for e in self.engines]
        queue = []
        for j, r in enumerate(runners):
            t = next(r, None)
            if t is not None:
                queue.append((t, j))
        heapq.heapify(queue)
        while queue:
            t, j = heapq.heappop(queue)
            if t > env.now:
                yield env.timeout(t - env.now)
            t = next(runners[j], None)
            if t is not None:
                heapq.heappush(queue, (t, j))

    # -- what events do (arrays) ------------------------------------------------------------------
    def replies(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each event's reply (looked up for attempts, remembered for completions) and outage end."""
        m = self.messages
        reply, end = m.reply[ids].copy(), m.attempt_end[ids].copy()
        attempt = m.phase[ids] == ATTEMPT
        if attempt.any():
            reply[attempt], end[attempt] = self.table.lookup(m.domain[ids[attempt]], m.t[ids[attempt]])
        return reply, end

    def process(self, ids, engine: _Engine, *, reply=None, end=None, held=None, steps=None, rank=None,
                log=None) -> np.ndarray:
        """Run one event of each message in ``ids`` (the vectorised twin of the reference steps) and
        schedule what follows; returns the ids that got a next event. ``rank`` (or ``log``) identifies
        each event as the creator of that next event."""
        m, tbl, rec, sender, stop = self.messages, self.table, self.recorder, self.sender, self.stop
        if reply is None:
            reply, end = self.replies(ids)
        if held is not None:
            reply = np.where(held >= 0, held, reply)
        phase = m.phase[ids]
        position = np.arange(len(ids))
        nxt_pos, nxt_time = [], []

        attempt = phase == ATTEMPT
        answered = phase == COMPLETE
        if attempt.any():
            ia, ta, ra = ids[attempt], m.t[ids[attempt]], reply[attempt]
            rec.attempts_batch(ia, m.failures[ia] + 1, ta, tbl.result[ra], tbl.text_id[ra])
            if sender.give_up in BY_ATTEMPT_AGE:
                m.decisive[ia] = ta - m.arrival[ia]
            m.attempt_end[ia], m.reply[ia] = end[attempt], ra
            duration = tbl.duration[ra]
            timed = duration > 0
            if timed.any():                                   # the reply comes when the attempt ends
                it, tn, rt = ia[timed], ta[timed] + duration[timed], ra[timed]
                late = tn >= stop                             # still connecting at the horizon
                rec.status[it[late]] = tbl.status_id[rt[late]]
                m.t[it[~late]] = tn[~late]
                m.phase[it[~late]] = COMPLETE
                nxt_pos.append(position[attempt][timed][~late])
                nxt_time.append(tn[~late])
            answered |= attempt & (tbl.duration[reply] == 0)

        expiring = phase == GIVE_UP
        if expiring.any():
            ie = ids[expiring]
            rec.finish_batch(ie, Outcome.EXPIRED, tbl.final_status_id[m.reply[ie]], m.t[ie], np.inf)

        if answered.any():
            self._answer(ids, position[answered], reply[answered], end[answered], steps, nxt_pos, nxt_time)

        if not nxt_pos:
            return np.zeros(0, np.int64)
        pos = np.concatenate(nxt_pos)
        target = np.concatenate(nxt_time)
        nid = ids[pos]
        now = m.clock[nid]
        clock = now + np.maximum(0.0, target - now)             # as SimPy schedules a timeout
        keep = clock < stop
        pos, nid, clock, now = pos[keep], nid[keep], clock[keep], now[keep]
        m.clock[nid], m.by_time[nid] = clock, now
        if log is not None:
            m.by_log[nid] = log[pos]
        elif rank is not None:                  # (neither: no host state, order never matters)
            m.by_rank[nid], m.by_log[nid] = rank[pos], -1
        engine.schedule(nid, clock, (m.phase[nid] == COMPLETE) & tbl.connection[m.reply[nid]])
        return nid

    def _answer(self, ids, pos, reply, end, steps, nxt_pos, nxt_time) -> None:
        """The reply is in: delivered, bounced, or a failure whose next step the rules decide."""
        m, tbl, rec, sender, stop = self.messages, self.table, self.recorder, self.sender, self.stop
        x = ids[pos]
        t, result = m.t[x], tbl.result[reply]
        done = result == AttemptResult.DELIVERED
        if done.any():
            xd = x[done]
            rec.finish_batch(xd, Outcome.DELIVERED, tbl.status_id[reply[done]], t[done], m.decisive[xd],
                             t[done] - m.outage_end[xd])
        bounced = result == AttemptResult.REJECTED
        if bounced.any():
            xb = x[bounced]
            rec.finish_batch(xb, Outcome.BOUNCED, tbl.status_id[reply[bounced]], t[bounced], m.decisive[xb])
        failed = ~done & ~bounced
        if not failed.any():
            return
        x, t, reply, end, pos = x[failed], t[failed], reply[failed], end[failed], pos[failed]
        failures = m.failures[x] + 1
        m.failures[x] = failures
        m.outage_end[x] = np.where(np.isnan(end), m.outage_end[x], end)
        rec.status[x] = tbl.status_id[reply]
        arrival = m.arrival[x]
        u = uniform_array(self.key, x, failures) if self.uses_random else 1.0
        history = (m.prev_wait[x], t - m.prev_failure[x]) if self.history else ()
        attempt_s, give_up_s, due_s = sender.after_failures(failures, arrival, t, u, tbl.connection[reply], *history)
        if steps:                                          # the host state decided (Exim, Exchange)
            where = {int(p): j for j, p in enumerate(pos.tolist())}
            for p, step in steps.items():
                j = where.get(p)
                if j is not None:
                    attempt_s[j], give_up_s[j], due_s[j] = (math.nan if v is None else v for v in step)
        if self.history:
            planned = ~np.isnan(due_s)
            m.prev_failure[x[planned]] = t[planned]
            m.prev_wait[x[planned]] = due_s[planned] - t[planned]
        gives_up = ~np.isnan(give_up_s)
        if gives_up.any():
            now = gives_up & (give_up_s < stop) & ~(give_up_s > t)
            rec.finish_batch(x[now], Outcome.EXPIRED, tbl.final_status_id[reply[now]], give_up_s[now], np.inf)
            later = gives_up & (give_up_s < stop) & (give_up_s > t)
            xl = x[later]
            m.t[xl], m.phase[xl], m.reply[xl] = give_up_s[later], GIVE_UP, reply[later]
            nxt_pos.append(pos[later])
            nxt_time.append(give_up_s[later])
        go = ~gives_up
        if sender.give_up == "last-attempt":
            m.decisive[x[go]] = t[go] - arrival[go]
        elif sender.give_up == "next-wait":
            m.decisive[x[go]] = np.maximum(m.decisive[x[go]], due_s[go] - arrival[go])
        if sender.delay_warning_s is not None and sender.delay_warning_at != "age":
            count = np.where(go, sender.warnings_due_at_failures(arrival, t, attempt_s, m.warned[x]), 0)
            if count.any():
                rec.warn_batch(x, t, count)
                m.warned[x] += count
        go &= attempt_s < stop
        xg = x[go]
        m.t[xg], m.phase[xg] = attempt_s[go], ATTEMPT
        nxt_pos.append(pos[go])
        nxt_time.append(attempt_s[go])

    # -- what one event does (scalars, for moments of a few events) --------------------------------
    def process_one(self, i: int, rank: int, engine: _Engine) -> None:
        """The reference step for message ``i``'s pending event, host state included; the scalar twin of
        :meth:`process` (same rules, same arithmetic)."""
        m, tbl, rec, sender, stop, state = (self.messages, self.table, self.recorder, self.sender, self.stop,
                                            engine.state)
        t, kind = m.t.item(i), m.phase.item(i)
        if kind == GIVE_UP:
            rec.finish(i, Outcome.EXPIRED, sender.final_status(tbl.replies[m.reply[i]].status), t, math.inf)
            return
        arrival = m.arrival.item(i)
        held = None
        if kind == ATTEMPT:
            outage = self.recipients[m.domain.item(i)].outage_at(t)
            reply = tbl.replies[0] if outage is None else outage.reply
            end = math.nan if outage is None else outage.end_s
            if state is not None:
                held = state.before_attempt(t, arrival)
                if held is not None:
                    reply = held
            rec.attempt(i, m.failures.item(i) + 1, t, reply.result, reply.text)
            if sender.give_up in BY_ATTEMPT_AGE:
                m.decisive[i] = t - arrival
            if reply.duration_s:
                t += reply.duration_s
                if t >= stop:
                    rec.defer(i, reply.status)
                    return
                m.attempt_end[i], m.reply[i], m.t[i], m.phase[i] = end, tbl.index(reply), t, COMPLETE
                self._schedule_one(i, t, rank, engine, reply.result.is_connection_failure)
                return
            if state is not None and held is None:
                state.after_attempt(t, reply)
        else:
            reply, end = tbl.replies[m.reply.item(i)], m.attempt_end.item(i)
            if state is not None:
                state.after_attempt(t, reply)
        if reply.result == AttemptResult.DELIVERED:
            rec.finish(i, Outcome.DELIVERED, reply.status, t, m.decisive.item(i), t - m.outage_end.item(i))
            return
        if reply.result == AttemptResult.REJECTED:
            rec.finish(i, Outcome.BOUNCED, reply.status, t, m.decisive.item(i))
            return
        failures = m.failures.item(i) + 1
        m.failures[i] = failures
        if not math.isnan(end):
            m.outage_end[i] = end
        rec.defer(i, reply.status)
        u = uniform(self.key, i, failures) if self.uses_random else 1.0
        if self.history:
            step = sender.after_failure(failures, arrival, t, u, reply.result.is_connection_failure,
                                        float(m.prev_wait[i]), t - float(m.prev_failure[i]))
        else:
            step = sender.after_failure(failures, arrival, t, u, reply.result.is_connection_failure)
        if self.host_decides and (reply.result.is_connection_failure or held is not None):
            step = state.next_step(t, arrival, sender, step) or step
        if step.due_s is not None and self.history:
            m.prev_failure[i], m.prev_wait[i] = t, step.due_s - t
        if step.give_up_s is not None:
            if step.give_up_s >= stop:
                return
            if step.give_up_s > t:
                m.t[i], m.phase[i], m.reply[i] = step.give_up_s, GIVE_UP, tbl.index(reply)
                self._schedule_one(i, step.give_up_s, rank, engine, False)
                return
            rec.finish(i, Outcome.EXPIRED, sender.final_status(reply.status), step.give_up_s, math.inf)
            return
        if sender.give_up == "last-attempt":
            m.decisive[i] = t - arrival
        elif sender.give_up == "next-wait":
            m.decisive[i] = max(float(m.decisive[i]), step.due_s - arrival)
        if sender.delay_warning_s is not None and sender.delay_warning_at != "age":
            count = sender.warnings_due_at_failure(arrival, t, step.attempt_s, int(m.warned[i]))
            if count:
                m.warned[i] += count
                rec.warn(i, t, count)
        if step.attempt_s >= stop:
            return
        m.t[i], m.phase[i] = step.attempt_s, ATTEMPT
        self._schedule_one(i, step.attempt_s, rank, engine, False)

    def _schedule_one(self, i: int, target: float, rank: int, engine: _Engine, timed_out: bool) -> None:
        m = self.messages
        now = m.clock.item(i)
        clock = now + max(0.0, target - now)                   # as SimPy schedules a timeout
        if clock >= self.stop:
            return
        m.clock[i], m.by_time[i], m.by_rank[i], m.by_log[i] = clock, now, rank, -1
        engine.pending.push_one(i, clock)
        if timed_out and engine.state is not None:
            heapq.heappush(engine.timeouts, clock)


def run_des(sender: Sender, recipients: list[Recipient], horizon: float | None, seed: int,
            arrivals: np.ndarray, recipient_of: np.ndarray, recorder: Recorder) -> float | None:
    """Simulate every message into ``recorder``; returns the horizon used (None = to the end)."""
    env = simpy.Environment()
    env.process(_Run(sender, recipients, horizon, seed, arrivals, recipient_of, recorder).simulate(env))
    # message-by-message steps allocate many short-lived generators without reference cycles; the cyclic
    # garbage collector would only rescan them, so it is paused for the run
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        env.run()
    finally:
        if was_enabled:
            gc.enable()
    return horizon

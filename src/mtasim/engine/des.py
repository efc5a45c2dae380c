"""The discrete-event engine: messages advance in batches, in exactly the order SimPy would run them.

The rules are those of the reference steps (:mod:`mtasim.engine.steps`): this module changes how events
are scheduled, never what an event does. The straightforward model — one SimPy process per message —
is kept in ``benchmarks/baselines/des_per_message.py``; this engine gives the same per-message results
and attempt tables (tested), much faster, because:

* **Events are batched.** Pending message events sit in a heap of runs sorted by time; every event at
  one time (a queue-runner scan, a burst of arrivals) is handled by one set of array operations, with
  the vectorised twins of the sender's rules that the fast engine uses.
* **Quiet stretches are advanced wholesale.** Host-level state (:mod:`mtasim.hosts`) is the only thing
  that couples messages, and it only changes on connection failures. While every destination is
  *quiet* (:meth:`HostState.quiet`: at rest and no connection failure due, or holding everything back
  until a known time), the order of events cannot change any result, so all events before the first
  moment that could change a state are advanced together, like the fast engine does.
* **Order is rebuilt, not replayed.** Where order matters — the events of one moment that touch a
  destination's state — it is SimPy's: time, then urgent (a message's first step) before normal,
  then creation order. Creation order is the order in which the events' creators ran, so every event
  carries its creator's (time, rank within that time) and the ranks of a moment are sorted out when it
  is needed, also for the moments advanced wholesale.

SimPy keeps the clock: one process advances ``env.now`` to every moment the engine handles.
"""

from __future__ import annotations

import heapq
import itertools
import math

import numpy as np
import simpy

from ..recipients import AttemptResult, Recipient
from ..results import Outcome, Recorder
from ..rng import Purpose, stream_key, uniform_array
from ..sender import BY_ATTEMPT_AGE, NextStep, Sender
from .outage_table import OutageTable

__all__ = ["run_des"]

ATTEMPT, COMPLETE, GIVE_UP = 0, 1, 2        # what a message's pending event is
_NO_STEP = NextStep(None, None)


def _slack(t: float) -> float:
    """A margin far above the rounding between an event's clock time and its exact time."""
    return 1e-9 * max(1.0, abs(t))


class _Pending:
    """Pending message events: a heap of runs of message ids, each run sorted by event time."""

    def __init__(self) -> None:
        self.heap: list = []
        self._count = itertools.count()

    def push(self, ids: np.ndarray, times: np.ndarray) -> None:
        if len(ids):
            order = np.argsort(times, kind="stable")
            ids, times = ids[order], times[order]
            heapq.heappush(self.heap, (float(times[0]), next(self._count), ids, times))

    def first_time(self) -> float:
        return self.heap[0][0] if self.heap else math.inf

    def pop_before(self, bound: float) -> np.ndarray:
        """Every pending event earlier than ``bound``."""
        parts = []
        while self.heap and self.heap[0][0] < bound:
            _, _, ids, times = heapq.heappop(self.heap)
            j = int(np.searchsorted(times, bound, side="left"))
            parts.append(ids[:j])
            if j < len(ids):
                heapq.heappush(self.heap, (float(times[j]), next(self._count), ids[j:], times[j:]))
        return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def pop_at(self, time: float) -> np.ndarray:
        """Every pending event at exactly ``time`` (the earliest)."""
        parts = []
        while self.heap and self.heap[0][0] == time:
            _, _, ids, times = heapq.heappop(self.heap)
            j = int(np.searchsorted(times, time, side="right"))
            parts.append(ids[:j])
            if j < len(ids):
                heapq.heappush(self.heap, (float(times[j]), next(self._count), ids[j:], times[j:]))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _source_events(arrivals: np.ndarray, stop: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arrival process's events as SimPy runs them: its k-th event happens at clock time T[k] and
    starts messages lo[k]:hi[k]. The first is at 0 and starts the messages arriving at 0; a later one
    comes for an arrival later than the clock, which advances by (arrival - clock), nearly always landing
    exactly on the arrival (checked; else replayed one by one)."""
    n = int(np.searchsorted(arrivals, stop, side="left"))
    a = arrivals[:n]
    first = int(np.searchsorted(a, 0.0, side="right"))      # the first arrival after 0
    firsts = np.concatenate(([first], first + 1 + np.flatnonzero(np.diff(a[first:]) > 0))) if first < n \
        else np.zeros(0, np.int64)
    times = a[firsts]
    previous = np.concatenate(([0.0], times[:-1]))
    if not np.array_equal(previous + np.maximum(0.0, times - previous), times):
        clock, times_l, lo_l = 0.0, [], []
        for i in range(first, n):
            t = float(a[i])
            if t > clock:
                clock = clock + max(0.0, t - clock)
                times_l.append(clock)
                lo_l.append(i)
        times, firsts = np.array(times_l), np.array(lo_l, dtype=np.int64)
    lo = np.concatenate(([0], firsts)).astype(np.int64)
    return np.concatenate(([0.0], times)), lo, np.concatenate((lo[1:], [n])).astype(np.int64)


class _Engine:
    def __init__(self, sender: Sender, recipients: list[Recipient], horizon: float | None, seed: int,
                 arrivals: np.ndarray, recipient_of: np.ndarray, recorder: Recorder):
        n = len(arrivals)
        self.sender, self.recorder = sender, recorder
        self.stop = math.inf if horizon is None else horizon
        self.table = OutageTable(recipients, recorder, sender)
        self.key = stream_key(seed, Purpose.JITTER)
        self.history = sender.needs_history
        policy = sender.host_policy
        self.active = policy is not None and policy.matters(recipients)
        self.states = [policy.new_state() for _ in recipients] if self.active else []
        self.host_decides = self.active and hasattr(self.states[0], "next_step")
        # per destination: its connection-failure windows, the only times a state at rest can change
        self.failing = []
        for r in recipients:
            spans = sorted((o.start_s, o.end_s) for o in r.outages if o.reply.result.is_connection_failure)
            self.failing.append(spans)
        self.failing_next = [0] * len(recipients)

        # every message's pending event and what its rules remember
        self.arrival = arrivals
        self.domain = recipient_of.astype(np.int64)
        self.t = arrivals.astype(np.float64).copy()        # the event's exact time
        self.clock = np.zeros(n)                            # the event's SimPy time
        self.phase = np.zeros(n, dtype=np.int8)
        self.failures = np.zeros(n, dtype=np.int64)
        self.warned = np.zeros(n, dtype=np.int64)
        self.decisive = np.full(n, -np.inf)
        self.outage_end = np.full(n, np.nan)                # the outage behind the last failure
        self.attempt_end = np.full(n, np.nan)               # the outage behind the attempt under way
        self.reply = np.zeros(n, dtype=np.int32)            # the reply of the attempt under way
        if self.history:
            self.prev_failure = np.full(n, np.nan)
            self.prev_wait = np.full(n, np.nan)
        # the event's creator: its clock time and rank within that time (or, until the quiet stretch it
        # ran in is ranked, its index in that stretch's log), and its place among a source event's starts
        self.by_time = np.zeros(n)
        self.by_rank = np.zeros(n, dtype=np.int64)
        self.by_log = np.full(n, -1, dtype=np.int64)
        self.by_sub = np.zeros(n, dtype=np.int64)

        self.pending = _Pending()
        self.src_time, self.src_lo, self.src_hi = _source_events(arrivals, self.stop)
        self.next_src = 0
        # the next source event's creator (the previous source event); the first one is created urgently
        self.src_by = (-math.inf, 0, -1)                    # (time, rank, log index)
        self.timeouts: list[float] = []                     # times of pending timed-out attempts that can
        self.last_time, self.last_count = -math.inf, 0      # ... change a state; ranks used so far at a time

    # -- the loop ------------------------------------------------------------------------------------
    def run(self, env: simpy.Environment):
        while True:
            now = min(self.pending.first_time(),
                      self.src_time[self.next_src] if self.next_src < len(self.src_time) else math.inf)
            if now >= self.stop or now == math.inf:
                return
            if now > env.now:
                yield env.timeout(now - env.now)
            bound = self._quiet_until(now)
            if bound > now:
                self._advance_quietly(bound)
            else:
                self._moment(now)

    def _quiet_until(self, now: float) -> float:
        """The clock time before which no event can change a host state (``now`` when one might)."""
        bound = self.stop
        if not self.active:
            return bound                    # nothing couples messages: one quiet stretch to the end
        self.held_by = np.full(len(self.states), -1, dtype=np.int32)
        for d, state in enumerate(self.states):
            quiet = state.quiet()
            if quiet is None:
                return now
            decision, until = quiet
            if decision is None:
                spans, k = self.failing[d], self.failing_next[d]
                while k < len(spans) and spans[k][1] <= now - _slack(now):
                    k += 1
                self.failing_next[d] = k
                if k < len(spans):
                    until = min(until, spans[k][0])
            else:
                self.held_by[d] = self.table.index(decision)
            bound = min(bound, until)
        while self.timeouts and self.timeouts[0] < now:
            heapq.heappop(self.timeouts)
        if self.timeouts:
            bound = min(bound, self.timeouts[0])
        return bound - _slack(bound) if bound < math.inf else bound

    # -- quiet stretches ---------------------------------------------------------------------------
    def _advance_quietly(self, bound: float) -> None:
        """Run every event before ``bound`` (none can change a host state, so their order cannot matter),
        then rank them as SimPy would have run them, so later moments can order their events."""
        logs: list[tuple] = []
        created: list[np.ndarray] = []
        base = 0
        while True:
            ids = self.pending.pop_before(bound)
            k0 = self.next_src
            k1 = max(k0, int(np.searchsorted(self.src_time, bound, side="left")))
            if not len(ids) and k1 == k0:
                break
            logs.append((self.clock[ids], self.by_time[ids], self.by_rank[ids], self.by_log[ids], self.by_sub[ids]))
            members, index = ids, base + np.arange(len(ids))
            base += len(ids)
            if k1 > k0:
                starts, source_rows, start_rows = self._start(k0, k1, base)
                logs += [source_rows, start_rows]
                members = np.concatenate((ids, starts))
                index = np.concatenate((index, base + (k1 - k0) + np.arange(len(starts))))
                base += (k1 - k0) + len(starts)
            held = None
            if self.active:
                held = np.where(self.phase[members] == ATTEMPT, self.held_by[self.domain[members]], -1)
            created.append(self._process(members, held=held, log=index))
        if not logs or not self.active:
            return                                        # without host state, order never matters
        rank = self._rank(*(np.concatenate(c) for c in zip(*logs)))
        for ids in created:                               # creators that ran here now have their ranks
            ids = ids[self.by_log[ids] >= 0]
            self.by_rank[ids] = rank[self.by_log[ids]]
            self.by_log[ids] = -1
        if self.src_by[2] >= 0:
            self.src_by = (self.src_by[0], int(rank[self.src_by[2]]), -1)

    def _start(self, k0: int, k1: int, first_log: int) -> tuple[np.ndarray, tuple, tuple]:
        """Source events k0..k1-1 (logged from ``first_log`` on) and the messages they start, each start
        right after its source event (urgent), in id order. Returns the started ids and both log rows."""
        count = k1 - k0
        by_time = np.concatenate(([self.src_by[0]], self.src_time[k0:k1 - 1]))
        by_rank = np.concatenate(([self.src_by[1]], np.full(count - 1, -1, dtype=np.int64)))
        by_log = np.concatenate(([self.src_by[2]], first_log + np.arange(count - 1)))
        source_rows = (self.src_time[k0:k1], by_time, by_rank, by_log, np.zeros(count, dtype=np.int64))
        self.src_by = (float(self.src_time[k1 - 1]), -1, first_log + count - 1)
        self.next_src = k1
        starts = np.arange(self.src_lo[k0], self.src_hi[k1 - 1], dtype=np.int64)
        which = np.repeat(np.arange(count), self.src_hi[k0:k1] - self.src_lo[k0:k1])
        clock = self.src_time[k0:k1][which]
        self.clock[starts] = clock
        start_rows = (clock, by_time[which], by_rank[which], by_log[which], starts - self.src_lo[k0:k1][which] + 1)
        return starts, source_rows, start_rows

    def _rank(self, clock, by_time, by_rank, by_log, by_sub) -> np.ndarray:
        """Each logged event's rank among the events at its clock time, in SimPy's order: by its
        creator's (time, rank), then its place among a source event's starts.

        One sort settles every time except those where two events' creators ran at one same time in this
        stretch (their ranks are only known once that time is ranked); those times are re-sorted in time
        order, so creators come first. An event created at its own time (a zero wait) sorts after its
        creator, so such a time is re-sorted until its ranks settle.
        """
        # creators that ran in this stretch sort after those ranked before at the same time
        creator = np.where(by_log >= 0, (1 << 62) + by_log, by_rank)
        order = np.argsort(clock, kind="stable")
        c = clock[order]
        new_time = np.empty(len(order), dtype=bool)
        new_time[0] = True
        new_time[1:] = c[1:] != c[:-1]
        slice_of = np.cumsum(new_time) - 1
        # only times with events of different creators need sorting (a source event and the messages it
        # starts share a creator and are logged in their order already)
        ct, cc = by_time[order], creator[order]
        mixed = ~new_time[1:] & ((ct[1:] != ct[:-1]) | (cc[1:] != cc[:-1]))
        if mixed.any():
            sort_slice = np.zeros(int(slice_of[-1]) + 1, dtype=bool)
            sort_slice[slice_of[1:][mixed]] = True
            rows = sort_slice[slice_of]
            sub = order[rows]
            order[rows] = sub[np.lexsort((by_sub[sub], creator[sub], by_time[sub], slice_of[rows]))]
        start = np.maximum.accumulate(np.where(new_time, np.arange(len(order)), 0))
        carried = self.last_count if c[0] == self.last_time else 0     # this time also had a moment
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order)) - start + np.where(c == c[0], carried, 0)
        bt, bl = by_time[order], by_log[order]
        tied = ~new_time[1:] & (bt[1:] == bt[:-1]) & (bl[1:] >= 0) & (bl[:-1] >= 0) & (bl[1:] != bl[:-1])
        edges = np.append(np.flatnonzero(new_time), len(order))
        for j in np.unique(start[1:][tied]).tolist():
            b = int(edges[np.searchsorted(edges, j, side="right")])
            members = order[j:b]
            offset = carried if c[j] == c[0] else 0
            logged = by_log[members]
            same_time = (logged >= 0) & (by_time[members] == c[j])
            while True:
                creator_rank = np.where(logged >= 0, rank[np.maximum(logged, 0)], by_rank[members])
                new = np.empty(b - j, dtype=np.int64)
                new[np.lexsort((by_sub[members], creator_rank, by_time[members]))] = offset + np.arange(b - j)
                settled = np.array_equal(new, rank[members])
                rank[members] = new
                if settled or not same_time.any():
                    break
        self.last_time = float(c[-1])
        self.last_count = len(order) - int(start[-1]) + (carried if c[-1] == c[0] else 0)
        return rank

    # -- moments where order matters ---------------------------------------------------------------
    def _moment(self, now: float) -> None:
        """Every event at clock time ``now``, one by one in SimPy's order where they touch a host state."""
        ids = self.pending.pop_at(now) if self.pending.first_time() == now else np.zeros(0, np.int64)
        by_time, by_rank, by_sub = self.by_time[ids], self.by_rank[ids], self.by_sub[ids]
        with_source = self.next_src < len(self.src_time) and self.src_time[self.next_src] == now
        if with_source:
            k = self.next_src
            starts = np.arange(self.src_lo[k], self.src_hi[k], dtype=np.int64)
            self.clock[starts] = now
            s_time, s_rank = self.src_by[0], self.src_by[1]
            ids = np.concatenate((ids, [-1], starts))
            by_time = np.concatenate((by_time, np.full(len(starts) + 1, s_time)))
            by_rank = np.concatenate((by_rank, np.full(len(starts) + 1, s_rank)))
            by_sub = np.concatenate((by_sub, np.arange(len(starts) + 1)))
        order = np.lexsort((by_sub, by_rank, by_time))
        ids = ids[order]
        offset = self.last_count if now == self.last_time else 0
        rank = offset + np.arange(len(ids))
        self.last_time, self.last_count = now, offset + len(ids)
        if with_source:
            at = int(np.flatnonzero(ids == -1)[0])
            self.src_by = (now, int(rank[at]), -1)
            self.next_src += 1
            ids, rank = np.delete(ids, at), np.delete(rank, at)
        while self.timeouts and self.timeouts[0] <= now:
            heapq.heappop(self.timeouts)
        if not len(ids):
            return
        reply, end = self._replies(ids)
        held, steps = self._host(ids, reply) if self.active else (None, None)
        self._process(ids, reply=reply, end=end, held=held, steps=steps, rank=rank)

    def _host(self, ids: np.ndarray, reply: np.ndarray):
        """Apply the host states, event by event in order (runs that a quiet state decides alike at once).
        Returns the held-back deferral per event (-1: connect) and host-decided next steps by position."""
        held = np.full(len(ids), -1, dtype=np.int32)
        steps: dict[int, NextStep] = {}
        phase, t = self.phase[ids], self.t[ids]
        connection = self.table.connection[reply]
        timed = self.table.duration[reply] > 0
        domains = self.domain[ids]
        for d in (np.unique(domains) if len(ids) > 1 else domains):
            at = np.flatnonzero(domains == d) if len(ids) > 1 else np.zeros(1, np.int64)
            state, k = self.states[d], 0
            while k < len(at):
                quiet = state.quiet()
                if quiet is not None:
                    decision, until = quiet
                    rest = at[k:]
                    if decision is None:
                        alike = (phase[rest] == GIVE_UP) | ~connection[rest] & (
                            (phase[rest] == COMPLETE) | (t[rest] < until))
                    else:
                        alike = (phase[rest] == GIVE_UP) | (phase[rest] == ATTEMPT) & (t[rest] < until)
                    j = len(rest) if alike.all() else int(np.argmin(alike))
                    if decision is not None:
                        run = rest[:j]
                        held[run[phase[run] == ATTEMPT]] = self.table.index(decision)
                    k += j
                    if k == len(at):
                        break
                p = at[k]
                k += 1
                i, tp, kind = int(ids[p]), float(t[p]), phase[p]
                if kind == GIVE_UP:
                    continue
                failure = False
                if kind == ATTEMPT:
                    hold = state.before_attempt(tp, float(self.arrival[i]))
                    if hold is not None:
                        held[p] = self.table.index(hold)
                        failure = True
                    elif not timed[p]:
                        state.after_attempt(tp, self.table.replies[reply[p]])
                        failure = connection[p]
                else:
                    state.after_attempt(tp, self.table.replies[reply[p]])
                    failure = connection[p]
                if failure and self.host_decides:
                    step = state.next_step(tp, float(self.arrival[i]), self.sender, _NO_STEP)
                    if step is not None:
                        steps[p] = step
        return held, steps

    # -- what events do --------------------------------------------------------------------------
    def _replies(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each event's reply (looked up for attempts, remembered for completions) and outage end."""
        reply, end = self.reply[ids].copy(), self.attempt_end[ids].copy()
        attempt = self.phase[ids] == ATTEMPT
        if attempt.any():
            reply[attempt], end[attempt] = self.table.lookup(self.domain[ids[attempt]], self.t[ids[attempt]])
        return reply, end

    def _process(self, ids, *, reply=None, end=None, held=None, steps=None, rank=None, log=None) -> np.ndarray:
        """Run one event of each message in ``ids`` (the vectorised twin of the reference steps) and
        schedule what follows; returns the ids that got a next event. ``rank`` (or ``log``) identifies
        each event as the creator of that next event."""
        tbl, rec, sender, stop = self.table, self.recorder, self.sender, self.stop
        if reply is None:
            reply, end = self._replies(ids)
        if held is not None:
            reply = np.where(held >= 0, held, reply)
        phase = self.phase[ids]
        position = np.arange(len(ids))
        nxt_pos, nxt_time = [], []

        attempt = phase == ATTEMPT
        if attempt.any():
            ia, ta, ra = ids[attempt], self.t[ids[attempt]], reply[attempt]
            rec.attempts_batch(ia, self.failures[ia] + 1, ta, tbl.result[ra], tbl.text_id[ra])
            if sender.give_up in BY_ATTEMPT_AGE:
                self.decisive[ia] = ta - self.arrival[ia]
            self.attempt_end[ia], self.reply[ia] = end[attempt], ra
            duration = tbl.duration[ra]
            timed = duration > 0
            if timed.any():                                   # the reply comes when the attempt ends
                it, tn = ia[timed], ta[timed] + duration[timed]
                late = tn >= stop                             # still connecting at the horizon
                rec.status[it[late]] = tbl.status_id[ra[timed][late]]
                self.t[it[~late]] = tn[~late]
                self.phase[it[~late]] = COMPLETE
                nxt_pos.append(position[attempt][timed][~late])
                nxt_time.append(tn[~late])
            answered = attempt & (tbl.duration[reply] == 0)
        else:
            answered = attempt
        answered |= phase == COMPLETE

        expiring = phase == GIVE_UP
        if expiring.any():
            ie = ids[expiring]
            rec.finish_batch(ie, Outcome.EXPIRED, tbl.final_status_id[self.reply[ie]], self.t[ie], np.inf)

        if answered.any():
            self._answer(ids, position[answered], reply[answered], end[answered], steps, nxt_pos, nxt_time)

        if not nxt_pos:
            return np.zeros(0, np.int64)
        pos = np.concatenate(nxt_pos)
        target = np.concatenate(nxt_time)
        nid = ids[pos]
        now = self.clock[nid]
        clock = now + np.maximum(0.0, target - now)             # as SimPy schedules a timeout
        keep = clock < stop
        pos, nid, clock, now = pos[keep], nid[keep], clock[keep], now[keep]
        self.clock[nid] = clock
        self.by_time[nid], self.by_sub[nid] = now, 0
        if log is not None:
            self.by_log[nid] = log[pos]
        else:
            self.by_rank[nid], self.by_log[nid] = rank[pos], -1
        self.pending.push(nid, clock)
        if self.active:                     # a connection timing out will change its destination's state
            ending = (self.phase[nid] == COMPLETE) & tbl.connection[self.reply[nid]]
            for c in clock[ending].tolist():
                heapq.heappush(self.timeouts, c)
        return nid

    def _answer(self, ids, pos, reply, end, steps, nxt_pos, nxt_time) -> None:
        """The reply is in: delivered, bounced, or a failure whose next step the rules decide."""
        tbl, rec, sender, stop = self.table, self.recorder, self.sender, self.stop
        x = ids[pos]
        t, result = self.t[x], tbl.result[reply]
        done = result == AttemptResult.DELIVERED
        if done.any():
            xd = x[done]
            rec.finish_batch(xd, Outcome.DELIVERED, tbl.status_id[reply[done]], t[done], self.decisive[xd],
                             t[done] - self.outage_end[xd])
        bounced = result == AttemptResult.REJECTED
        if bounced.any():
            xb = x[bounced]
            rec.finish_batch(xb, Outcome.BOUNCED, tbl.status_id[reply[bounced]], t[bounced], self.decisive[xb])
        failed = ~done & ~bounced
        if not failed.any():
            return
        x, t, reply, end, pos = x[failed], t[failed], reply[failed], end[failed], pos[failed]
        failures = self.failures[x] + 1
        self.failures[x] = failures
        self.outage_end[x] = np.where(np.isnan(end), self.outage_end[x], end)
        rec.status[x] = tbl.status_id[reply]
        arrival = self.arrival[x]
        u = uniform_array(self.key, x, failures) if sender.schedule.uses_random else 1.0
        history = (self.prev_wait[x], t - self.prev_failure[x]) if self.history else ()
        attempt_s, give_up_s, due_s = sender.after_failures(failures, arrival, t, u, tbl.connection[reply], *history)
        if steps:                                          # the host state decided (Exim, Exchange)
            where = {int(p): j for j, p in enumerate(pos.tolist())}
            for p, step in steps.items():
                j = where.get(p)
                if j is not None:
                    attempt_s[j], give_up_s[j], due_s[j] = (math.nan if v is None else v for v in step)
        if self.history:
            planned = ~np.isnan(due_s)
            self.prev_failure[x[planned]] = t[planned]
            self.prev_wait[x[planned]] = due_s[planned] - t[planned]
        gives_up = ~np.isnan(give_up_s)
        if gives_up.any():
            now = gives_up & (give_up_s < stop) & ~(give_up_s > t)
            rec.finish_batch(x[now], Outcome.EXPIRED, tbl.final_status_id[reply[now]], give_up_s[now], np.inf)
            later = gives_up & (give_up_s < stop) & (give_up_s > t)
            xl = x[later]
            self.t[xl], self.phase[xl], self.reply[xl] = give_up_s[later], GIVE_UP, reply[later]
            nxt_pos.append(pos[later])
            nxt_time.append(give_up_s[later])
        go = ~gives_up
        if sender.give_up == "last-attempt":
            self.decisive[x[go]] = t[go] - arrival[go]
        elif sender.give_up == "next-wait":
            self.decisive[x[go]] = np.maximum(self.decisive[x[go]], due_s[go] - arrival[go])
        if sender.delay_warning_s is not None and sender.delay_warning_at != "age":
            count = np.where(go, sender.warnings_due_at_failures(arrival, t, attempt_s, self.warned[x]), 0)
            if count.any():
                rec.warn_batch(x, t, count)
                self.warned[x] += count
        go &= attempt_s < stop
        xg = x[go]
        self.t[xg], self.phase[xg] = attempt_s[go], ATTEMPT
        nxt_pos.append(pos[go])
        nxt_time.append(attempt_s[go])


def run_des(sender: Sender, recipients: list[Recipient], horizon: float | None, seed: int,
            arrivals: np.ndarray, recipient_of: np.ndarray, recorder: Recorder) -> float | None:
    """Simulate every message into ``recorder``; returns the horizon used (None = to the end)."""
    env = simpy.Environment()
    env.process(_Engine(sender, recipients, horizon, seed, arrivals, recipient_of, recorder).run(env))
    env.run()
    return horizon

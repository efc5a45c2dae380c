"""A destination whose attempts wait in line for the sender's connection slots, or take a recipient's
tokens, run in stretches.

The rules are the per-message calendar's (mtasim.engine.reference.MessageCalendar, the oracle): an attempt
that finds every one of the sender's ``concurrency`` connections to the destination busy waits in the
destination's line, served in the MTA's queue order as connections free up; at one moment connections
ending come first, then the line and the attempts falling due compete in queue order; a recipient's rate
limit hands out its tokens, and its connection limit refuses sessions beyond it, in the order attempts
start (mtasim.recipients.ratelimit.ServerGate); an attempt that waited past an at-deadline
sender's deadline gives up instead.

What makes batches possible: after a failed attempt ends, the message's next attempt is at least the
sender's shortest retry gap later (:attr:`mtasim.sender.Sender.min_retry_gap_s`). So no attempt that
starts in a stretch of that length can put a new attempt into it: the stretch's starts follow from the
attempts already due, the line and the connections under way alone. A plain scan works out who starts
when (a few heap operations per attempt), and the rule kernel then runs every start of the stretch, and
every connection that ends in it, as one vectorised step.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from ..queue_order import ATTEMPT, QueueOrder
from ..recipients import Recipient
from ..results import Outcome
from ..sender import Sender
from .behaviour_table import reached_up_server
from .events import PendingEvents
from .kernel import Batch, Kernel
from .mx import has_host_rules

__all__ = ["LineCalendar", "runs_in_stretches"]

_push, _pop = heapq.heappush, heapq.heappop


def runs_in_stretches(sender: Sender, recipient: Recipient, host_state_matters: bool) -> bool:
    """Whether a destination with connection slots can run here: its sender has a known shortest retry
    gap, no host state couples its messages beyond the slots, they share no greylist triplets, no MX
    host answers by rules that may pass the message on to another host (whose time the scan would not see
    before the slot is taken), and opening a connection takes no time (which attempt reuses which
    connection is the per-message steps' business)."""
    grey = recipient.greylist
    return sender.min_retry_gap_s > 0 and not host_state_matters and not (grey is not None and grey.addresses) \
        and not has_host_rules(recipient) and recipient.connection_setup is None


class LineCalendar:
    """One destination's pending events, its connections under way and its line; see the module."""

    def __init__(self, kernel: Kernel, store, first: Batch, domain: int, recipient: Recipient,
                 order: QueueOrder):
        sender = kernel.sender
        self.kernel, self.store, self.order = kernel, store, order
        self.domain, self.recipient = domain, recipient
        self.sender = sender
        self.since = -math.inf                      # when the current busy spell began (Sender.connections_allowed)
        self.clock = -math.inf                      # the last moment the scans have dealt with
        self.gap = sender.min_retry_gap_s
        self.gate = recipient.new_gate()            # its rate limit and connection limit, if any
        self.busy: list[float] = []                  # when each connection under way ends
        self.line: list[tuple] = []                  # (queue key, id, due at, transaction time, arrival, failures)
        self.pending = PendingEvents()
        self.park(first)

    def park(self, b: Batch | None) -> None:
        if b is None or not len(b):
            return
        self.store.put(b)
        self.pending.push(b.id, b.t)

    def process(self, env):
        """The SimPy process: stretch after stretch, each starting at the next event (or, while attempts
        wait, the next connection to end or queue run to add one)."""
        stop = self.kernel.stop
        while True:
            now = self.pending.first_time()
            if self.line:
                now = min(now, self.busy[0] if self.busy else math.inf,
                          self.sender.next_connection_at(self.since, self.clock))
            if now >= stop:
                self._queued_in_line()
                return
            if now > env.now:
                yield env.timeout(now - env.now)
            self._stretch(now, min(now + self.gap, stop))

    def _stretch(self, start: float, end: float) -> None:
        kernel = self.kernel
        b = self.store.get(self.pending.pop_before(end))
        attempts = b.phase == ATTEMPT
        others = b.take(~attempts)
        if len(others):                          # connections ending, give-up timers: no slot business
            self.park(kernel.step(others, *kernel.replies(others)))
        started, times, refused, expired, expired_at = self._scan(b.take(attempts), end)
        if expired:
            g = self.store.get(np.array(expired, dtype=np.int64))
            status = kernel.table.final_status_id[g.reply]
            kernel.recorder.finish_batch(g.id, Outcome.EXPIRED, status, np.array(expired_at), np.full(len(g), np.inf))
        if not started:
            return
        s = self.store.get(np.array(started, dtype=np.int64))
        s.t = np.array(times)
        reply, outage_end = kernel.replies(s)
        if self.gate is not None:                    # the limits' replies, where they answered instead
            by_limit = np.array(refused, dtype=np.int32)
            reply = np.where(by_limit >= 0, by_limit, reply).astype(np.int32)
        self.park(kernel.step(s, reply, outage_end))

    def allowed(self, now: float) -> float:
        """How many connections may be open at ``now`` (the sender's rule, growing with queue runs for Exim)."""
        return self.sender.connections_allowed(self.since, now)

    def _scan(self, b: Batch, end: float):
        """Who starts when before ``end``; see :class:`_Scan`."""
        return _Scan(self, b, end).run()

    def _queued_in_line(self) -> None:
        """At the horizon: messages still waiting keep their last deferral's status."""
        if not self.line:
            return
        ids = np.array([entry[1] for entry in self.line], dtype=np.int64)
        g = self.store.get(ids)
        failed = g.failures > 0
        self.kernel.recorder.status[g.id[failed]] = self.kernel.table.status_id[g.reply[failed]]


class _Scan:
    """Who of one stretch starts when. The new attempts come in time and queue order; at each moment (an
    attempt falling due, or a connection ending while others wait) connections ending free their slots
    first, then the free slots go to the best queue keys among the waiting line and the attempts due.
    :meth:`run` returns the starts (ids, times, the reply of a limit that refused them or -1) and the
    messages that gave up while waiting
    (ids, times). Most attempts start when they fall due: their answers come from one vectorised lookup
    and they need no queue key; those that wait look theirs up one by one at their start."""

    def __init__(self, calendar: LineCalendar, b: Batch, end: float):
        kernel, table = calendar.kernel, calendar.kernel.table
        self.calendar, self.sender, self.end, self.n = calendar, kernel.sender, end, len(b)
        took = kernel.transaction.draw(b.domain, b.id, b.failures + 1, np.ones(len(b), dtype=bool)) \
            if kernel.transaction is not None else np.zeros(len(b))
        keys = calendar.order.attempt_keys(b.due, b.arrival, b.failures, b.id, kernel.order_key)
        order = np.lexsort([*keys, b.t])
        self.columns = [k[order].tolist() for k in reversed(keys)]   # the queue key, most significant first
        self.ids = self.columns[-1]
        own_reply, own_end = table.lookup(b.domain[order], b.t[order])
        self.ts, self.ds = b.t[order].tolist(), took[order].tolist()
        self.arrivals, self.failures = b.arrival[order].tolist(), b.failures[order].tolist()
        self.own_reply, self.up = own_reply.tolist(), np.isnan(own_end).tolist()
        self.gate, self.busy, self.ready = calendar.gate, calendar.busy, calendar.line
        sender = kernel.sender
        #: Exim's queue runs add connections (Sender.connections_allowed); else the limit is a constant
        self.ramps = sender.connection_ramp and sender.queue_run_s > 0
        self.slots = math.inf if sender.concurrency is None else float(sender.concurrency)
        #: the limits' replies by index, indexed before the per-reply lists below are read
        self.refusal_index = {r: table.index(r) for r in self.gate.replies} if self.gate is not None else {}
        self.table, self.duration = table, table.duration.tolist()
        self.meets_limits = table.meets_limits.tolist()
        # per reply: whether an attempt answered so reached an up server (with no outage window / in one)
        results, transacts = table.result, table.transacts
        self.reached_up = reached_up_server(transacts, results, np.full(len(results), np.nan)).tolist()
        self.reached_in_window = reached_up_server(transacts, results, np.zeros(len(results))).tolist()
        self.started: list[int] = []
        self.times: list[float] = []
        self.refused: list[int] = []
        self.start_id, self.start_time, self.start_refused = self.started.append, self.times.append, self.refused.append
        self.expired: list[int] = []
        self.expired_at: list[float] = []

    def begin(self, i: int, now: float, reply: int, no_window: bool, d: float, waited: bool = False) -> None:
        """Attempt of message ``i`` starts at ``now`` (after waiting in line, or not): the server's limits,
        and the connection it holds."""
        if self.ramps:
            calendar = self.calendar
            calendar.clock = now
            if not waited and not self.busy and not self.ready:
                calendar.since = now                         # the destination's busy spell begins
        refused = -1
        if self.gate is not None and self.meets_limits[reply]:
            refusal = self.gate.refusal(now, len(self.busy))
            if refusal is not None:
                reply = refused = self.refusal_index[refusal]
        spent = self.duration[reply]
        if d and (self.reached_up if no_window else self.reached_in_window)[reply]:
            spent += d
        if spent > 0:
            _push(self.busy, now + spent)
        self.start_id(i)
        self.start_time(now)
        self.start_refused(refused)

    def serve(self, now: float) -> None:
        """Free slots go to the waiting line's best keys, at ``now``."""
        ready, busy, sender = self.ready, self.busy, self.sender
        self.calendar.clock = now
        while ready and len(busy) < self.allowed(now):
            key, i, t, d, arrival, fails = _pop(ready)
            if now > t and fails:
                gave_up = sender.give_up.gave_up_waiting(sender, arrival, now)
                if gave_up is not None:
                    self.expired.append(i)
                    self.expired_at.append(gave_up)
                    continue
            outage = self.calendar.recipient.outage_at(now)      # it waited: its answer at its start
            reply, no_window = (0, True) if outage is None else (self.table.index(outage.reply), False)
            self.begin(i, now, reply, no_window, d, waited=True)

    def allowed(self, now: float) -> float:
        """How many connections may be open at ``now``."""
        return self.calendar.allowed(now) if self.ramps else self.slots

    def next_wake(self) -> float:
        """While attempts wait: the next connection to end, or queue run to add one (Exim)."""
        wake = self.busy[0] if self.busy else math.inf
        if self.ramps:
            calendar = self.calendar
            wake = min(wake, self.sender.next_connection_at(calendar.since, calendar.clock))
        return wake

    def run(self):
        ts, n, busy, ready = self.ts, self.n, self.busy, self.ready
        ids, own_reply, up, ds, begin = self.ids, self.own_reply, self.up, self.ds, self.begin
        slots, ramps, allowed = self.slots, self.ramps, self.allowed
        k = 0
        while True:
            t_next = ts[k] if k < n else self.end
            while ready and (busy and busy[0] < t_next or ramps and self.next_wake() < t_next):
                now = self.next_wake()                       # a connection ends, or a run adds one
                while busy and busy[0] <= now:
                    _pop(busy)
                self.serve(now)
            if k >= n:
                break
            now = t_next
            while busy and busy[0] <= now:                   # connections ending come first
                _pop(busy)
            if not ready and len(busy) < (allowed(now) if ramps else slots) and (k + 1 == n or ts[k + 1] != now):
                begin(ids[k], now, own_reply[k], up[k], ds[k])    # the common case: one attempt, no line
                k += 1
            else:
                k = self.fall_due(k, now)
        return self.started, self.times, self.refused, self.expired, self.expired_at

    def fall_due(self, k: int, now: float) -> int:
        """The attempts from ``k`` on that fall due at ``now`` start at once while there is no line and a
        free slot, else join the line; then the line is served. Returns the first attempt due later."""
        ts, n, ready, busy, ids = self.ts, self.n, self.ready, self.busy, self.ids
        while k < n and ts[k] == now:
            if ready or len(busy) >= self.allowed(now):
                key = tuple(c[k] for c in self.columns)
                _push(ready, (key, ids[k], now, self.ds[k], self.arrivals[k], self.failures[k]))
            else:
                self.begin(ids[k], now, self.own_reply[k], self.up[k], self.ds[k])
            k += 1
        if ready:
            self.serve(now)
        return k

"""A destination whose attempts wait in line for the sender's connection slots, or take a recipient's
tokens, run in stretches.

The rules are the per-message calendar's (mtasim.engine.reference.MessageCalendar, the oracle): an attempt
that finds every one of the sender's ``concurrency`` connections to the destination busy waits in the
destination's line, served in the MTA's queue order as connections free up; at one moment connections
ending come first, then the line and the attempts falling due compete in queue order; a recipient's rate
limit hands out its tokens in the order attempts start; an attempt that waited past an at-deadline
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
from ..recipients import DELIVERED_REPLY, Recipient
from ..sender import Sender
from .behaviour_table import reached_up_server
from .events import PendingEvents
from .kernel import Batch, Kernel

__all__ = ["LineCalendar", "runs_in_stretches"]


def runs_in_stretches(sender: Sender, recipient: Recipient, host_state_matters: bool) -> bool:
    """Whether a destination with connection slots can run here: its sender has a known shortest retry
    gap, no host state couples its messages beyond the slots, and they share no greylist triplets."""
    grey = recipient.greylist
    return sender.min_retry_gap_s > 0 and not host_state_matters and not (grey is not None and grey.addresses)


class LineCalendar:
    """One destination's pending events, its connections under way and its line; see the module."""

    def __init__(self, kernel: Kernel, store, first: Batch, domain: int, recipient: Recipient,
                 order: QueueOrder):
        sender = kernel.sender
        self.kernel, self.store, self.order = kernel, store, order
        self.domain, self.recipient = domain, recipient
        self.slots = sender.concurrency if sender.concurrency is not None else math.inf   # a rate limit only
        self.gap = sender.min_retry_gap_s
        self.bucket = recipient.rate_limit.new_bucket() if recipient.rate_limit is not None else None
        self.busy: list[float] = []                  # when each connection under way ends
        self.line: list[tuple] = []                  # (queue-order key, message id, due at) waiting for one
        self.pending = PendingEvents()
        self.park(first)

    def park(self, b: Batch | None) -> None:
        if b is None or not len(b):
            return
        self.store.put(b)
        self.pending.push(b.id, b.t)

    def process(self, env):
        """The SimPy process: stretch after stretch, each starting at the next event (or the next
        connection to end while attempts wait)."""
        stop = self.kernel.stop
        while True:
            now = self.pending.first_time()
            if self.line and self.busy:
                now = min(now, self.busy[0])
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
        self._join_line(b.take(attempts))
        started, times, throttled, expired, expired_at = self._scan(end)
        if expired:
            g = self.store.get(np.array(expired, dtype=np.int64))
            status = kernel.table.final_status_id[g.reply]
            kernel.recorder.finish_batch(g.id, _EXPIRED, status, np.array(expired_at), np.full(len(g), np.inf))
        if not started:
            return
        s = self.store.get(np.array(started, dtype=np.int64))
        s.t = np.array(times)
        reply, outage_end = kernel.replies(s)
        if self.bucket is not None and any(throttled):
            held = np.array(throttled, dtype=bool)
            reply = np.where(held, kernel.table.index(self.bucket.limit.reply), reply).astype(np.int32)
        self.park(kernel.step(s, reply, outage_end))

    def _join_line(self, b: Batch) -> None:
        """Attempts falling due join the line, each with its transaction time should it reach the up server
        (drawn here for all at once, the kernel's own draw)."""
        kernel = self.kernel
        took = kernel.transaction.draw(b.domain, b.id, b.failures + 1, np.ones(len(b), dtype=bool)) \
            if kernel.transaction is not None else np.zeros(len(b))
        # every entry is an attempt: its queue-order key is QueueOrder.key's without the phase
        keys = self.order.attempt_keys(b.due, b.arrival, b.failures, b.id, kernel.order_key)
        columns = [k.tolist() for k in reversed(keys)]        # most significant first, the id last
        for key, t, d, arrival, failures in zip(zip(*columns), b.t.tolist(), took.tolist(), b.arrival.tolist(),
                                                b.failures.tolist()):
            heapq.heappush(self.line, (t, key, key[-1], d, arrival, failures))

    def _scan(self, end: float):
        """Who starts when before ``end``: moments in time order (a connection ending, or an attempt falling
        due); at each, connections ending free their slots first, then the free slots go to the best queue
        keys among the line and the attempts due. Returns the starts (ids, times, throttled) and the
        messages that gave up while waiting (ids, times)."""
        sender, kernel = self.kernel.sender, self.kernel
        recipient, bucket, busy = self.recipient, self.bucket, self.busy
        due_line = self.line                            # waiting or falling due, by due time
        ready: list[tuple] = []                         # due and waiting, by queue key
        started: list[int] = []
        times: list[float] = []
        throttled: list[bool] = []
        expired: list[int] = []
        expired_at: list[float] = []
        reaches: dict[tuple[int, bool], bool] = {}       # reached_up_server per (reply, in an outage)
        while True:
            t_due = due_line[0][0] if due_line else math.inf
            t_end = busy[0] if (busy and ready) else math.inf
            now = min(t_due, t_end)
            if now >= end:
                break
            while busy and busy[0] <= now:                  # connections ending first
                heapq.heappop(busy)
            while due_line and due_line[0][0] <= now:
                t, k, i, d, arrival, failures = heapq.heappop(due_line)
                heapq.heappush(ready, (k, i, t, d, arrival, failures))
            while ready and len(busy) < self.slots:
                k, i, t, d, arrival, failures = heapq.heappop(ready)
                if now > t and failures:
                    gave_up = sender.give_up.gave_up_waiting(sender, arrival, now)
                    if gave_up is not None:
                        expired.append(i)
                        expired_at.append(gave_up)
                        continue
                outage = recipient.outage_at(now)
                reply = DELIVERED_REPLY if outage is None else outage.reply
                held = bucket is not None and reply is DELIVERED_REPLY and not bucket.take(now)
                if held and bucket is not None:
                    reply = bucket.limit.reply
                took = reply.duration_s
                if d:
                    where = (int(reply.result), outage is None)
                    reached = reaches.get(where)
                    if reached is None:
                        reached = reaches[where] = bool(reached_up_server(
                            np.array([where[0]]), np.array([math.nan if where[1] else 0.0]))[0])
                    took += d if reached else 0.0
                if took > 0:
                    heapq.heappush(busy, now + took)
                started.append(i)
                times.append(now)
                throttled.append(held)
        self.line = [(t, k, i, d, a, f) for k, i, t, d, a, f in ready]    # still waiting: back by due time
        self.line.extend(due_line)
        heapq.heapify(self.line)
        return started, times, throttled, expired, expired_at

    def _queued_in_line(self) -> None:
        """At the horizon: messages still waiting keep their last deferral's status."""
        if not self.line:
            return
        ids = np.array([entry[2] for entry in self.line], dtype=np.int64)
        g = self.store.get(ids)
        failed = g.failures > 0
        self.kernel.recorder.status[g.id[failed]] = self.kernel.table.status_id[g.reply[failed]]


from ..results import Outcome  # noqa: E402  (kept last: results imports nothing from the engine)

_EXPIRED = Outcome.EXPIRED

"""The sender's rules, once, vectorised over the messages acted on at one moment (or one lock step).

Both engines run this code: the fast engine in lock step over every pending message, the DES over the
events of one destination at one moment (and over quiet stretches, where no event can change a host
state). A :class:`Batch` is a set of pending events, one per message, as parallel arrays; :meth:`Kernel.step`
runs each event (an attempt, the end of a timed-out connection, or a give-up timer) and returns the
messages' next events. Host-level state (mtasim.hosts) is not the kernel's business: the DES decides,
in the MTA's queue order, which attempts it holds back and which next steps it dictates, and passes
those decisions in.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..queue_order import ATTEMPT, COMPLETE, GIVE_UP
from ..recipients import AttemptResult, Recipient
from ..results import Outcome, Recorder
from ..rng import Purpose, stream_key, uniform_array
from ..sender import Sender
from .behaviour_table import BehaviourTable, TransactionTimes, any_behaviour, reached_up_server
from .outage_table import OutageTable

__all__ = ["Batch", "Kernel", "ATTEMPT", "COMPLETE", "GIVE_UP"]

#: A message's pending event and what its rules remember. ``due``: when it became due (the queue order);
#: ``reply``/``attempt_end``: the reply and outage end of a connection under way (or the last deferral
#: of a message waiting for its give-up timer); ``prev_*``: for schedules with history (Exim); ``grey``:
#: the message's greylist triplet (NaN unseen, first-seen time, -inf passed; engine.behaviour_table).
FIELDS = ("id", "domain", "arrival", "t", "phase", "failures", "warned", "decisive", "outage_end", "due",
          "reply", "attempt_end", "prev_failure", "prev_wait", "grey")
#: Fields a run may do without (None in its batches): each costs a copy per lock step.
OPTIONAL = {"domain", "phase", "warned", "due", "reply", "attempt_end", "prev_failure", "prev_wait", "grey"}


class Batch:
    """Pending events, one per message, as parallel arrays (see FIELDS)."""

    __slots__ = FIELDS

    id: np.ndarray
    domain: np.ndarray
    arrival: np.ndarray
    t: np.ndarray
    phase: np.ndarray
    failures: np.ndarray
    warned: np.ndarray
    decisive: np.ndarray
    outage_end: np.ndarray
    due: np.ndarray
    reply: np.ndarray
    attempt_end: np.ndarray
    prev_failure: np.ndarray
    prev_wait: np.ndarray
    grey: np.ndarray

    def __init__(self, **arrays: Any) -> None:
        for name in FIELDS:
            setattr(self, name, arrays[name])

    @classmethod
    def arriving(cls, ids: np.ndarray, arrivals: np.ndarray, domains: np.ndarray,
                 fields: frozenset[str] = frozenset(FIELDS), grey_width: int = 1) -> "Batch":
        """Each message's first attempt, at its arrival; optional fields not in ``fields`` are None.
        ``grey_width``: greylist triplets per message (one per MX host rank that greylists)."""
        n = len(ids)
        arrival = arrivals[ids].astype(np.float64)
        nan = np.full(n, np.nan)
        arrays = dict(id=lambda: ids.astype(np.int64), domain=lambda: domains[ids].astype(np.int64),
                      arrival=lambda: arrival, t=lambda: arrival, phase=lambda: np.full(n, ATTEMPT, dtype=np.int8),
                      failures=lambda: np.zeros(n, dtype=np.int64), warned=lambda: np.zeros(n, dtype=np.int64),
                      decisive=lambda: np.full(n, -np.inf), outage_end=lambda: nan, due=lambda: arrival,
                      reply=lambda: np.zeros(n, dtype=np.int32), attempt_end=lambda: nan, prev_failure=lambda: nan,
                      prev_wait=lambda: nan,
                      grey=lambda: np.full((n, grey_width) if grey_width > 1 else n, np.nan))
        return cls(**{k: (make() if k in fields else None) for k, make in arrays.items()})

    def __len__(self) -> int:
        return len(self.id)

    def take(self, which: "np.ndarray | slice") -> "Batch":
        """The events selected by a mask or an index array (copies)."""
        if isinstance(which, np.ndarray) and which.dtype == bool:
            which = np.flatnonzero(which)           # one pass over the mask, then a take per field
        if isinstance(which, slice):
            return Batch(**{name: None if (a := getattr(self, name)) is None else a[which] for name in FIELDS})
        return Batch(**{name: None if (a := getattr(self, name)) is None else a.take(which, axis=0)
                        for name in FIELDS})

    @staticmethod
    def concat(parts: list["Batch"]) -> "Batch | None":
        parts = [p for p in parts if len(p)]
        if len(parts) <= 1:
            return parts[0] if parts else None
        return Batch(**{name: None if getattr(parts[0], name) is None else
                        np.concatenate([getattr(p, name) for p in parts]) for name in FIELDS})

    def attempts(self) -> np.ndarray | None:
        """Which events are attempts (None: all of them)."""
        return None if self.phase is None else self.phase == ATTEMPT


class Kernel:
    """The rules of one run: a sender, its recipients' replies, the recorder, the horizon and the seed."""

    def __init__(self, sender: Sender, recipients: list[Recipient], recorder: Recorder, seed: int,
                 horizon: float | None):
        self.sender, self.recorder = sender, recorder
        self.table = OutageTable(recipients, recorder, sender)
        self.behaviour = BehaviourTable(recipients, self.table, seed) if any_behaviour(recipients) else None
        timed = any(d.transaction_time is not None for d in recipients)
        self.transaction = TransactionTimes(recipients, seed) if timed else None
        #: connection set-up times (the per-message steps add them: mtasim.connection_reuse)
        self.setup = TransactionTimes(recipients, seed, "connection_setup") \
            if any(d.connection_setup is not None for d in recipients) else None
        self.stop = math.inf if horizon is None else horizon
        self.horizon = horizon
        self.jitter_key = stream_key(seed, Purpose.JITTER)
        self.order_key = stream_key(seed, Purpose.ORDER)
        self.warn_at_failure = sender.warns_at_failures
        #: greylist triplets per message (one per MX host rank that greylists; Batch.arriving)
        self.grey_width = self.behaviour.grey_width if self.behaviour is not None else 1

    def fields(self, ordered: bool) -> frozenset[str]:
        """The fields this run's batches need (``ordered``: the DES sorts moments by due time)."""
        sender = self.sender
        later = self.table.any_timed or self.transaction is not None or sender.give_up.gives_up_later(sender) \
            or ordered
        need = set(FIELDS) - OPTIONAL
        need |= {"phase", "reply", "attempt_end"} if later else set()
        need |= {"warned"} if self.warn_at_failure else set()
        need |= {"due", "domain"} if ordered else set()
        need |= {"domain"} if len(self.table.starts) > 1 else set()      # one domain: no lookup by domain
        need |= {"prev_failure", "prev_wait"} if sender.needs_history else set()
        need |= {"grey"} if self.behaviour is not None and self.behaviour.any_greylist else set()
        return frozenset(need)

    # -- replies ------------------------------------------------------------------------------------
    def replies(self, b: Batch, held: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Each event's reply index and outage end: looked up for attempts (or the host state's held
        deferral, ``held`` per domain, -1 to connect), remembered for the others."""
        attempt = b.attempts()
        if attempt is None or attempt.all():
            reply, end = self.table.lookup(b.domain, b.t)
        else:
            reply, end = b.reply.copy(), b.attempt_end.copy()
            if attempt.any():
                domain = None if b.domain is None else b.domain[attempt]
                reply[attempt], end[attempt] = self.table.lookup(domain, b.t[attempt])
        if held is not None:
            hold = held[b.domain]
            use = hold >= 0 if attempt is None else attempt & (hold >= 0)
            reply = np.where(use, hold, reply).astype(np.int32)
        return reply, end

    # -- one event of each message ------------------------------------------------------------------
    def step(self, b: Batch, reply: np.ndarray, end: np.ndarray, host: np.ndarray | None = None) -> Batch | None:
        """Run one event of each message in ``b``; return their next events (None if there are none).
        ``host``: (n, 3) next steps (attempt, give-up, due; NaN where the host state did not decide)."""
        parts: list[Batch] = []
        attempt = b.attempts()
        if attempt is None or attempt.all():
            self._attempts(b, reply, end, host, parts)
            return Batch.concat(parts)
        if attempt.any():
            self._attempts(b.take(attempt), reply[attempt], end[attempt], None if host is None else host[attempt],
                           parts)
        answered = b.phase == COMPLETE
        if answered.any():
            self._answers(b.take(answered), reply[answered], end[answered],
                          None if host is None else host[answered], parts)
        expiring = b.phase == GIVE_UP
        if expiring.any():
            g = b.take(expiring)
            self.recorder.finish_batch(g.id, Outcome.EXPIRED, self.table.final_status_id[g.reply], g.t, np.inf)
        return Batch.concat(parts)

    def _attempts(self, b: Batch, reply, end, host, parts: list[Batch]) -> None:
        """Attempts start: recorded; a timed-out connection answers when it ends, the others now."""
        tbl, sender = self.table, self.sender
        if self.behaviour is not None:                      # an up server: what it says besides 250
            reply, grey = self.behaviour.respond(reply, b.domain, b.id, b.failures + 1, b.t, b.grey)
            if grey is not None:
                b.grey = grey
        if self.recorder.every:
            self.recorder.attempts_batch(b.id, b.failures + 1, b.t, tbl.result[reply], tbl.text_id[reply])
        else:                                               # counted only (held-back passes apart): no table
            self.recorder.attempts_batch(b.id, b.failures + 1, b.t,
                                         tbl.result[reply] if tbl.any_suspended else None, None)
        if sender.give_up.by_attempt_age:
            b.decisive = sender.clock(b.t) - sender.clock(b.arrival)
        duration = tbl.duration[reply] if tbl.any_timed else np.zeros(0)
        if self.transaction is not None:                    # the SMTP transaction of attempts that connected
            reached = reached_up_server(tbl.transacts[reply], tbl.result[reply], end)
            took = self.transaction.draw(b.domain, b.id, b.failures + 1, reached)
            duration = took if not tbl.any_timed else duration + took      # took is 0 where no transaction
        timed = duration > 0
        if timed.any():
            c = b.take(timed)
            c.t, c.reply, c.attempt_end = c.t + duration[timed], reply[timed], end[timed]
            c.phase = np.full(len(c), COMPLETE, dtype=np.int8)
            late = c.t >= self.stop                         # still connecting at the horizon: queued
            self.recorder.status[c.id[late]] = tbl.status_id[c.reply[late]]
            parts.append(c.take(~late))
            now = ~timed
            b, reply, end, host = b.take(now), reply[now], end[now], None if host is None else host[now]
        self._answers(b, reply, end, host, parts)

    def _answers(self, b: Batch, reply, end, host, parts: list[Batch]) -> None:
        """Replies are in: delivered, bounced, or a failure whose next step the rules decide."""
        tbl, rec = self.table, self.recorder
        # reply 0 delivers; with MX hosts so do deliveries through another host or after a timeout
        done = tbl.delivers[reply] if tbl.any_late_delivery else reply == 0
        if tbl.any_rejected:
            bounced = tbl.result[reply] == AttemptResult.REJECTED
            failed = ~(done | bounced)
        else:
            bounced, failed = done[:0], ~done
        if not failed.all():
            if done.any():
                t = b.t[done]
                if rec.via is not None:                     # the MX host that accepted (mtasim.engine.mx)
                    rec.via[b.id[done]] = tbl.rank[reply[done]]
                rec.finish_batch(b.id[done], Outcome.DELIVERED, tbl.status_id[0], t, b.decisive[done],
                                 t - b.outage_end[done])
            if bounced.any():
                rec.finish_batch(b.id[bounced], Outcome.BOUNCED, tbl.status_id[reply[bounced]], b.t[bounced],
                                 b.decisive[bounced])
            if not failed.any():
                return
            b, reply, end, host = b.take(failed), reply[failed], end[failed], None if host is None else host[failed]
        self._failures(b, reply, end, host, parts)

    def _failures(self, b: Batch, reply, end, host, parts: list[Batch]) -> None:
        """The schedule, the give-up rule and the warnings after each failed attempt."""
        tbl, rec, sender, stop = self.table, self.recorder, self.sender, self.stop
        b.failures = b.failures + 1
        b.outage_end = np.where(np.isnan(end), b.outage_end, end)
        u = uniform_array(self.jitter_key, b.id, b.failures) if sender.schedule.uses_random else 1.0
        now_c = sender.clock(b.t) if sender.needs_history else None
        history = dict(prev_wait_s=b.prev_wait, prev_gap_s=now_c - b.prev_failure) if now_c is not None else {}
        advice = tbl.advice[reply] if tbl.any_advice and sender.honours_retry_after else None
        attempt, give_up, due, ages = sender.after_failures(b.failures, b.arrival, b.t, u, tbl.connection[reply],
                                                            **history, advised_wait_s=advice)
        if host is not None:                                  # the host state decided (Exim, Exchange)
            decided = ~(np.isnan(host[:, 0]) & np.isnan(host[:, 1]))
            attempt = np.where(decided, host[:, 0], attempt)
            give_up = np.where(decided, host[:, 1], give_up)
            due = np.where(decided, host[:, 2], due)
        if now_c is not None:
            planned = ~np.isnan(due)
            b.prev_failure = np.where(planned, now_c, b.prev_failure)
            b.prev_wait = np.where(planned, due - now_c, b.prev_wait)
        gives_up = ~np.isnan(give_up)
        if gives_up.any():
            ends = gives_up & (give_up < stop)
            rec.status[b.id[gives_up & ~ends]] = tbl.status_id[reply[gives_up & ~ends]]     # queued at the horizon
            now = ends & ~(give_up > b.t)
            rec.finish_batch(b.id[now], Outcome.EXPIRED, tbl.final_status_id[reply[now]], give_up[now], np.inf)
            later = ends & (give_up > b.t)
            if later.any():
                g = b.take(later)
                g.t, g.reply, g.phase = give_up[later], reply[later], np.full(len(g), GIVE_UP, dtype=np.int8)
                parts.append(g)
        go = ~gives_up
        decisive = sender.give_up.decisive_after_failure(b.decisive, ages)
        b.decisive = decisive if not gives_up.any() else np.where(go, decisive, b.decisive)
        if self.warn_at_failure:
            count = np.where(go, sender.warnings_due_at_failures(b.arrival, b.t, attempt, b.warned), 0)
            if count.any():
                rec.warn_batch(b.id, b.t, count)
                b.warned = b.warned + count
        queued = go & ~(attempt < stop) if stop < math.inf else go[:0]     # next attempt past the horizon
        if queued.any():
            rec.status[b.id[queued]] = tbl.status_id[reply[queued]]
            go &= ~queued
        if not go.all():
            b, attempt, due, reply = b.take(go), attempt[go], due[go], reply[go]
        b.t = attempt
        if b.due is not None:
            b.due = due
        if b.reply is not None:                 # the last deferral (a message that waits in line may give up)
            b.reply = reply
        if b.phase is not None and (b.phase != ATTEMPT).any():
            b.phase = np.full(len(b), ATTEMPT, dtype=np.int8)
        parts.append(b)

    # -- lock step ----------------------------------------------------------------------------------
    def run_until(self, b: Batch | None, bound: float, held: np.ndarray | None = None) -> Batch | None:
        """Run every event before ``bound`` in lock step (their order cannot matter: nothing they do
        couples them); return the events at or after it. ``held``: per domain, the host state's held
        deferral for every attempt before ``bound`` (-1: connect)."""
        parked: list[Batch] = []
        while b is not None and len(b):
            b = self.step(b, *self.replies(b, held))
            if b is not None and bound < self.stop:
                later = b.t >= bound
                if later.any():
                    parked.append(b.take(later))
                    b = b.take(~later)
        return Batch.concat(parked)

    def finish(self) -> None:
        """After the last event: delay warnings of the ``age`` timing, which depend only on each message's
        arrival and end (its final time, or the horizon while queued)."""
        sender, rec = self.sender, self.recorder
        if not sender.warns_by_age:
            return
        end = np.where(np.isnan(rec.final_s), self.stop, rec.final_s)
        counts = sender.warnings_by_age(rec.arrival_s, end)
        listed = (sender.delay_warning_s, *sender.delay_warning_later_s)
        for k in range(int(counts.max(initial=0))):       # one call per warning: ids unique in each
            ids = np.flatnonzero(counts > k)
            if k < len(listed):
                times = rec.arrival_s[ids] + listed[k]
            else:
                repeat = sender.delay_warning_repeat_s or 0.0          # counts > len(listed) only with a repeat
                times = (rec.arrival_s[ids] + listed[-1]) + (k - len(listed) + 1) * repeat
            rec.warn_batch(ids, times, np.ones(len(ids), dtype=np.int64))

"""The reference engine: one message's life step by step (README, Semantics), written plainly, driven by a heap.

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

from ..connection_reuse import Connection
from ..hosts import DecidingHostState, HostState, concurrency_window, note_busy
from ..queue_order import ATTEMPT, COMPLETE, GIVE_UP, queue_order
from ..recipients import DELIVERED_REPLY, AttemptResult, Recipient, Reply
from ..recipients.ratelimit import ServerGate
from ..results import Outcome, Recorder
from ..rng import Purpose, stream_key, uniform
from ..sender import Sender
from .behaviour_table import reached_up_server
from .kernel import Kernel
from .mx import has_host_rules

__all__ = ["run_reference", "MessageCalendar", "one_by_one"]


def run_reference(sender: Sender, recipients: list[Recipient], horizon: float | None, seed: int,
                  arrivals: np.ndarray, recipient_of: np.ndarray, recorder: Recorder) -> float | None:
    """Simulate every message into ``recorder``, one event at a time; returns the horizon used."""
    calendar = MessageCalendar(sender, recipients, horizon, seed, arrivals, recipient_of, recorder,
                               np.arange(len(arrivals)))
    while calendar.heap:
        calendar.run_moment()
    Kernel(sender, recipients, recorder, seed, horizon).finish()
    return horizon


def one_by_one(sender: Sender, recipient: Recipient) -> bool:
    """Whether the DES's moments of arrays cannot run this destination: its attempts wait in line for the
    sender's connection slots (engine.lines runs those in stretches where it can), or take time while a
    host state learns from them when they end, or its messages share
    greylist triplets (state the kernel's batches do not keep), or the server limits the sender's sessions,
    or opening a connection takes time (which attempt reuses which connection: mtasim.connection_reuse), or
    a host state learns from attempts whose MX hosts answer by their own rules (a deferral passed on to the
    next host takes that host's time, known only once the rules answered): the per-message steps run them."""
    grey = recipient.greylist
    policy = sender.host_policy
    learns = policy is not None and policy.matters([recipient])
    timed = recipient.transaction_time is not None and (sender.concurrency is not None or learns)
    return timed or recipient.max_connections is not None or bool(grey is not None and grey.addresses) \
        or recipient.connection_setup is not None or (learns and has_host_rules(recipient))


class MessageCalendar:
    """Messages ``ids`` as generators of their own steps, on a heap keyed by (time, kind, queue order, id).
    The DES runs destinations too small for batching on one of these (mtasim.engine.des), and those whose
    attempts wait for the sender's connection slots or a recipient's tokens.

    Connection slots (``Sender.concurrency``, for recipients whose attempts take time): an attempt that
    finds every slot of its destination busy waits in the destination's line, ordered by the MTA's queue
    order; a slot frees when its attempt's answer is in (connections ending come first in a moment), and
    the line's first message then competes, in queue order, with the attempts due at that moment."""

    def __init__(self, sender: Sender, recipients: list[Recipient], horizon: float | None, seed: int,
                 arrivals: np.ndarray, recipient_of: np.ndarray, recorder: Recorder, ids: np.ndarray):
        self.stop = math.inf if horizon is None else horizon
        self.arrivals = arrivals.tolist()                 # plain floats: one conversion, not one per event
        self.order, self.order_key = queue_order(sender.queue_order), stream_key(seed, Purpose.ORDER)
        self.message, self.run = _message_steps(sender, recipients, self.stop, seed, arrivals, recipient_of, recorder)
        self.domain_of = recipient_of
        self.slots = self.run.slots = {
            d: _Slots(d) for d, r in enumerate(recipients)
            if (sender.concurrency is not None and r.transaction_time is not None) or r.max_connections is not None
            or r.connection_setup is not None}
        self.connection: dict[int, Connection] = {}         # the connection each holding message's attempt uses
        self.holding: set[int] = set()                    # messages whose attempt holds a slot
        self.heap = [(self.key(i, self.arrivals[i], ATTEMPT, self.arrivals[i], 0), i, None)
                     for i in ids.tolist() if self.arrivals[i] < self.stop]
        heapq.heapify(self.heap)

    def key(self, i: int, t: float, phase: int, due: float, failures: int) -> tuple:
        return (t, *self.order.key(phase, due, self.arrivals[i], failures, i, self.order_key))

    def first_time(self) -> float:
        return self.heap[0][0][0] if self.heap else math.inf

    def run_moment(self) -> None:
        """Every event at the earliest time, in order (events it creates at that time included)."""
        now = self.first_time()
        heap, run = self.heap, self.run
        run.now = now
        while heap and heap[0][0][0] == now:
            key, i, steps = heapq.heappop(heap)
            if i < 0:                                       # a queue run adds a connection (Exim)
                self._call_from_line(-1 - i, now)
                continue
            d = int(self.domain_of[i])
            slots = self.slots.get(d) if self.slots else None
            if slots is not None and i not in self.holding and key[1] == ATTEMPT and not self._take_slot(slots, key,
                                                                                                        i, steps, now):
                continue
            if slots is not None and i in self.holding and d in run.hosts:   # what the window sees: the
                note_busy(run.hosts[d], slots.open + len(slots.called) + len(slots.line))   # or ready to
            if steps is None:                                                # replace them
                steps = self.message(i)
            event = next(steps, None)
            if event is not None:
                heapq.heappush(heap, (self.key(i, *event), i, steps))
            if slots is not None and i in self.holding and (event is None or event[1] != COMPLETE):
                self.holding.discard(i)                     # its answer is in: the slot frees
                slots.open -= 1
                self._release(slots, i, now)
                self._call_from_line(d, now)

    def _take_slot(self, slots: "_Slots", key: tuple, i: int, steps, now: float) -> bool:
        """Message ``i``'s attempt takes a connection slot, or waits in the destination's line (False)."""
        slots.called.discard(i)
        if not (slots.open or slots.line or slots.called):
            slots.since = now                               # the destination's busy spell begins
        if slots.open >= self._allowed(slots, now):         # every connection busy: wait in line
            heapq.heappush(slots.line, (key[1:], i, steps))
            self._wake_at_next_run(slots, now)
            return False
        slots.open += 1
        self.holding.add(i)
        self._connect(slots, i, now)
        return True

    def _connect(self, slots: "_Slots", i: int, now: float) -> None:
        """Message ``i``'s attempt takes a connection that finished with another message at this moment, if
        one was passed on (it then skips the set-up), else opens one (mtasim.connection_reuse)."""
        if slots.warm and slots.warm_at == now:
            connection = slots.warm.pop(0)
            connection.messages += 1
            self.run.reused.add(i)
        else:
            connection = Connection(now)
        self.connection[i] = connection

    def _release(self, slots: "_Slots", i: int, now: float) -> None:
        """Message ``i``'s answer is in: its connection passes on to an attempt starting now, or closes."""
        connection = self.connection.pop(i, None)
        usable, delivered = self.run.sessions.pop(i, (False, False))
        reuse = self.run.sender.connection_reuse
        if connection is None or not usable or reuse is None or not reuse.passes_on(connection, now, delivered):
            return
        if slots.warm_at != now:
            slots.warm, slots.warm_at = [], now
        slots.warm.append(connection)

    def _call_from_line(self, d: int, now: float) -> None:
        """The line's best compete now, in queue order, with the attempts falling due (one that finds no
        room after all goes back in line); a grown window or a new queue run lets in more than one."""
        slots = self.slots[d]
        if slots.wake == now:
            slots.wake = math.inf
        room = self._allowed(slots, now) - slots.open - len(slots.called)
        while slots.line and room > 0:
            rest, j, waiting = heapq.heappop(slots.line)
            heapq.heappush(self.heap, ((now, *rest), j, waiting))
            slots.called.add(j)
            room -= 1
        if slots.line:
            self._wake_at_next_run(slots, now)

    def _wake_at_next_run(self, slots: "_Slots", now: float) -> None:
        """With mail waiting, the next queue run that may add a connection calls the line (Exim)."""
        at = self.run.sender.next_connection_at(slots.since, now)
        if at < slots.wake and at < self.stop:
            slots.wake = at
            heapq.heappush(self.heap, ((at, -1), -1 - slots.domain, None))   # before the moment's events

    def _allowed(self, slots: "_Slots", now: float) -> float:
        """How many connections the destination may have open: the sender's slots (growing with queue runs
        for Exim), within the host state's concurrency window where it keeps one (Postfix)."""
        allowed = self.run.sender.connections_allowed(slots.since, now)
        host = self.run.hosts.get(slots.domain)
        return min(allowed, concurrency_window(host)) if host is not None else allowed


class SharedTriplets:
    """A greylist's memory of the triplets messages share, per recipient address: NaN unseen, the first-seen
    time, or passed (-inf) and when last seen (a passed triplet is forgotten ``memory_s`` after that)."""

    def __init__(self, memory_s: float):
        self.memory_s = memory_s
        self.grey: dict[int, float] = {}
        self.seen: dict[int, float] = {}

    def state(self, address: int, t: float) -> float:
        grey = self.grey.get(address, math.nan)
        if grey == -math.inf and t - self.seen[address] > self.memory_s:
            return math.nan
        return grey

    def remember(self, address: int, grey: float, t: float) -> None:
        self.grey[address] = grey
        if grey == -math.inf:
            self.seen[address] = t


class _Slots:
    """One destination's connection slots: how many are open (an attempt's own included while it is
    answered), when its busy spell began, the attempts waiting for one, those called from the line to
    compete for a slot that freed at this moment, and when a queue run next calls the line."""

    __slots__ = ("domain", "open", "since", "line", "called", "wake", "warm", "warm_at")

    def __init__(self, domain: int):
        self.domain = domain
        self.open = 0
        self.since = -math.inf
        self.line: list[tuple] = []
        self.called: set[int] = set()
        self.wake = math.inf
        self.warm: list[Connection] = []                   # connections passed on at ``warm_at``, in order
        self.warm_at = -math.inf


def _message_steps(sender: Sender, recipients: list[Recipient], stop: float, seed: int, arrivals: np.ndarray,
                   recipient_of: np.ndarray, recorder: Recorder):
    """``message(i)``: message i's life as a generator. Each ``next()`` runs its pending event and yields
    the next one as (time, kind, due time, failures so far), or ends."""
    policy = sender.host_policy if sender.host_policy is not None and sender.host_policy.matters(recipients) \
        else None
    run = _Run(sender, recipients, stop, seed, recorder, policy)
    run.kernel = Kernel(sender, recipients, recorder, seed, None)

    def message(i: int):
        d = int(recipient_of[i])
        host = None
        if policy is not None:
            host = run.hosts.get(d)
            if host is None:
                host = run.hosts[d] = policy.new_state(sender)
        if d not in run.gates:
            run.gates[d] = recipients[d].new_gate()
        grey = recipients[d].greylist
        if grey is not None and grey.addresses and d not in run.triplets:
            run.triplets[d] = SharedTriplets(grey.memory_s)
        return _Message(run, i, float(arrivals[i]), d, recipients[d], host).life()

    return message, run


class _Run:
    """What the messages of one reference run share."""

    def __init__(self, sender: Sender, recipients: list[Recipient], stop: float, seed: int,
                 recorder: Recorder, policy):
        self.sender, self.recipients, self.stop = sender, recipients, stop
        self.jitter_key, self.recorder, self.policy = stream_key(seed, Purpose.JITTER), recorder, policy
        self.hosts: dict[int, HostState] = {}
        self.gates: dict[int, ServerGate | None] = {}   # the recipients' limits (mtasim.recipients.ratelimit)
        self.slots: dict[int, _Slots] = {}       # connection slots, where attempts hold them (MessageCalendar)
        self.triplets: dict[int, SharedTriplets] = {}   # greylists whose triplets messages share
        self.address_key = stream_key(seed, Purpose.ADDRESSES)
        self.kernel: Kernel | None = None         # its recipients' behaviour rules (engine.behaviour_table)
        self.decides = policy is not None and policy.decides_next_step
        self.reused: set[int] = set()             # messages whose attempt runs down a connection passed on
        #: per message whose answer just came: (its session stays usable, it was delivered)
        self.sessions: dict[int, tuple[bool, bool]] = {}
        self.now = -math.inf                      # the calendar's current moment


class _Message:
    """One message, written plainly: what it remembers and what each of its events does."""

    def __init__(self, run: _Run, i: int, arrival: float, domain: int, recipient: Recipient, host: HostState | None):
        self.run, self.i, self.arrival, self.recipient, self.host = run, i, arrival, recipient, host
        self.domain = domain
        #: its greylist triplets as a batch of one (one per MX host rank that greylists): unseen, first seen
        #: at, passed (-inf)
        self.grey: np.ndarray = run.kernel.behaviour.new_triplets(1) if run.kernel and run.kernel.behaviour \
            else np.full(1, np.nan)
        grey = recipient.greylist
        #: which of the domain's addresses it goes to, when they share triplets
        self.address = int(uniform(run.address_key, i, 0) * grey.addresses) if grey and grey.addresses else 0
        self.failures = self.warned = 0
        self.decisive = -math.inf           # what decides survival under a shorter expiry (see Recorder)
        self.outage_end = math.nan          # end of the outage behind the last failure
        self.prev_failure = self.prev_wait = math.nan      # for schedules with history (Exim)

    def life(self):
        run, sender, recorder, i = self.run, self.run.sender, self.run.recorder, self.i
        t = self.arrival
        reply = None
        kernel = run.kernel
        timed = kernel is not None and (kernel.transaction is not None or kernel.setup is not None)
        while True:
            if run.now > t and reply is not None:     # it waited in line for a connection slot
                gave_up = sender.give_up.gave_up_waiting(sender, self.arrival, run.now)
                if gave_up is not None:
                    recorder.finish(i, Outcome.EXPIRED, sender.final_status(reply.status), gave_up, math.inf)
                    return
            t = max(t, run.now)             # an attempt that waited in line for a connection slot starts now
            outage, held, site, reply = self._answer(t)
            recorder.attempt(i, self.failures + 1, t, reply.result, reply.text)
            if sender.give_up.by_attempt_age:
                self.decisive = float(sender.clock(t) - sender.clock(self.arrival))
            learns = self.host is not None and held is None
            duration = self._duration(reply, outage) if timed else reply.duration_s     # else a timeout's only
            if learns and not duration:            # refused, or answered at once: the host state knows now
                self.host.after_attempt(t, site)
            if duration:
                t += duration
                if t >= run.stop:                  # still connecting at the horizon: its (known) deferral
                    recorder.defer(i, reply.status)
                    return
                yield t, COMPLETE, t, self.failures
            if learns and duration:                # a timed-out connection or a transaction: when it ends
                self.host.after_attempt(t, site)
            if reply.result in (AttemptResult.DELIVERED, AttemptResult.REJECTED):
                self._finish(reply, t)
                return
            if outage is not None:
                self.outage_end = outage.end_s
            attempt_s, give_up_s, due_s = self._after_failure(reply, held is not None, t)
            if not math.isnan(give_up_s):
                if give_up_s >= run.stop:
                    return
                if give_up_s > t:
                    yield give_up_s, GIVE_UP, give_up_s, self.failures
                recorder.finish(i, Outcome.EXPIRED, sender.final_status(reply.status), give_up_s, math.inf)
                return
            t = attempt_s
            if t >= run.stop:
                return
            yield t, ATTEMPT, due_s, self.failures

    def _answer(self, t: float) -> tuple:
        """What an attempt at ``t`` gets, in the order a real attempt meets them: the outage (or the MX
        hosts' answer), the host state holding it back, the rate limit, the behaviour while up. Returns
        (outage, held-back deferral or None, what the host state learns, the reply)."""
        outage = self.recipient.outage_at(t)
        reply = DELIVERED_REPLY if outage is None else outage.reply
        if reply.result == AttemptResult.DELIVERED:
            outage = None           # delivered through another MX host, or by an up host's rules: no outage
        held = self.host.before_attempt(t, self.arrival) if self.host is not None else None
        reply = held or reply
        site = reply                # what the host state learns: the connection's fate, not the RCPT reply
        gate = self.run.gates.get(self.domain)
        kernel = self.run.kernel
        assert kernel is not None
        if gate is not None and self._meets_limits(reply):
            slots = self.run.slots.get(self.domain)
            refusal = gate.refusal(t, slots.open - 1 if slots is not None else 0)    # its own session aside
            if refusal is not None:
                reply = refusal
                site = reply if reply.closes_connection else site     # a 421 throttle ends the session
        return outage, held, site, self._while_up(t, reply)

    def _duration(self, reply: Reply, outage) -> float:
        """How long the attempt takes: a timeout's time, and where it reached an up server (the kernel's rule
        reached_up_server) its transaction and the set-up of its connection."""
        reached = bool(reached_up_server(np.array([reply.holds_transaction]), np.array([int(reply.result)]),
                                         np.array([math.nan if outage is None else 0.0]))[0])
        return reply.duration_s + self._transaction_time(reached) + self._connection_time(reply, reached)

    def _connection_time(self, reply: Reply, reached: bool) -> float:
        """How long opening the attempt's connection takes (none when it runs down one passed on to it), and
        what its session leaves for the next message: usable unless the server closed it (a 421) or the
        attempt never reached an up server."""
        run = self.run
        kernel = run.kernel
        assert kernel is not None
        if kernel.setup is None:
            return 0.0
        run.sessions[self.i] = (reached and not reply.closes_connection, reply.result == AttemptResult.DELIVERED)
        if self.i in run.reused:
            run.reused.discard(self.i)
            return 0.0
        return kernel.setup.one(self.domain, self.i, self.failures + 1, reached)

    def _meets_limits(self, reply: Reply) -> bool:
        """Whether ``reply`` is an up primary server's 250, which the domain's limits stand before."""
        table = cast(Kernel, self.run.kernel).table
        i = table.index(reply)                          # first: a new reply grows the table's arrays
        return bool(table.meets_limits[i])

    def _transaction_time(self, reached: bool) -> float:
        """How long the SMTP transaction of an attempt takes: drawn where it reached an up server (``reached``,
        the kernel's rule reached_up_server), else none."""
        kernel = self.run.kernel
        assert kernel is not None
        if kernel.transaction is None:
            return 0.0
        return kernel.transaction.one(self.domain, self.i, self.failures + 1, reached)

    def _while_up(self, t: float, reply: Reply) -> Reply:
        """What an up server answers besides 250, where ``reply`` reached one: the behaviour rules (the
        kernel's BehaviourTable.respond) on arrays of length one."""
        kernel = self.run.kernel
        assert kernel is not None
        behaviour = kernel.behaviour
        if behaviour is None:
            return reply
        one = np.array
        shared = self.run.triplets.get(self.domain)
        grey_in = self.grey if shared is None else one([shared.state(self.address, t)])
        said, grey = behaviour.respond(one([kernel.table.index(reply)], dtype=np.int64), one([self.domain]),
                                       one([self.i]), one([self.failures + 1]), one([t]), grey_in)
        if grey is not None:
            if shared is None:
                self.grey = grey
            else:
                shared.remember(self.address, float(grey[0]), t)
        return kernel.table.replies[int(said[0])]

    def _finish(self, reply: Reply, t: float) -> None:
        if reply.result == AttemptResult.DELIVERED:
            if self.run.recorder.via is not None:       # the MX host that accepted (mtasim.engine.mx)
                self.run.recorder.via[self.i] = reply.via.rank if reply.via is not None else 0
            self.run.recorder.finish(self.i, Outcome.DELIVERED, reply.status, t, self.decisive, t - self.outage_end)
        else:
            self.run.recorder.finish(self.i, Outcome.BOUNCED, reply.status, t, self.decisive)

    def _after_failure(self, reply: Reply, held: bool, t: float) -> tuple[float, float, float]:
        """The sender's rules after a failed attempt (the host's, where it decides): (attempt, give-up, due)."""
        run, sender, one = self.run, self.run.sender, np.array
        self.failures += 1
        run.recorder.defer(self.i, reply.status)
        u = uniform(run.jitter_key, self.i, self.failures) if sender.schedule.uses_random else 1.0
        now_c = float(sender.clock(t))
        history = dict(prev_wait_s=one([self.prev_wait]), prev_gap_s=one([now_c - self.prev_failure])) \
            if sender.needs_history else {}
        advice = one([reply.retry_after_s]) if reply.retry_after_s else None
        steps = sender.after_failures(one([self.failures]), one([self.arrival]), one([t]), u,
                                      one([reply.result.is_connection_failure]), **history, advised_wait_s=advice)
        attempt_s, give_up_s, due_s = (float(v[0]) for v in steps[:3])
        if run.decides and (reply.result.is_connection_failure or held):
            decided = cast(DecidingHostState, self.host).next_step(t, self.arrival, sender)
            if decided is not None:
                attempt_s, give_up_s, due_s = (math.nan if v is None else v for v in decided)
        if not math.isnan(due_s):
            self.prev_failure, self.prev_wait = now_c, due_s - now_c
        if math.isnan(give_up_s):
            self.decisive = float(sender.give_up.decisive_after_failure(one([self.decisive]), steps.ages)[0])
            self._warn(t, attempt_s)
        return attempt_s, give_up_s, due_s

    def _warn(self, t: float, attempt_s: float) -> None:
        sender = self.run.sender
        if not sender.warns_at_failures:
            return
        count = sender.warnings_due_at_failure(self.arrival, t, attempt_s, self.warned)
        if count:
            self.warned += count
            self.run.recorder.warn(self.i, t, count)

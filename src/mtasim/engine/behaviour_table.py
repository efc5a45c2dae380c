"""Every domain's behaviour while up (mtasim.recipients.behaviour) and its transaction times as arrays,
and their rules vectorised.

The rules are written here once: the kernel applies them to the attempts of a lock step or a moment,
the reference engine to one attempt at a time (arrays of length one).
"""

from __future__ import annotations

import numpy as np

from ..recipients import AttemptResult, Distribution, Recipient
from ..recipients.behaviour import Behaviour
from ..rng import Purpose, stream_key, uniform, uniform_array
from .outage_table import OutageTable

__all__ = ["BehaviourTable", "any_behaviour", "TransactionTimes"]

#: The counter of a message's own draw (its recipient address's fate); attempts count from 1.
_FATE = 0


def any_behaviour(domains: list[Recipient]) -> bool:
    return any(d.behaviour is not None and d.behaviour.active for d in domains)


class BehaviourTable:
    """Per domain: fate shares, greylisting and random deferrals, as arrays indexed by domain."""

    def __init__(self, domains: list[Recipient], table: OutageTable, seed: int):
        none = Behaviour()
        rules = [d.behaviour or none for d in domains]
        n = len(rules)
        self.unknown = np.array([b.unknown_user for b in rules])
        self.fated = self.unknown + np.array([b.mailbox_full for b in rules])
        self.unknown_reply = np.array([table.index(b.unknown_user_reply) for b in rules], dtype=np.int32)
        self.full_reply = np.array([table.index(b.mailbox_full_reply) for b in rules], dtype=np.int32)
        self.any_fate = bool(self.fated.any())
        greylists = [b.greylist for b in rules]
        self.any_greylist = any(g is not None for g in greylists)
        self.greylisted = np.array([g is not None for g in greylists])
        self.grey_delay = np.array([g.delay_s if g else 0.0 for g in greylists])
        self.grey_window = np.array([g.window_s if g else np.inf for g in greylists])
        self.grey_reply = np.array([table.index(g.reply) if g else 0 for g in greylists], dtype=np.int32)
        tempfails = [b.tempfail for b in rules]
        width = max((len(t.replies) for t in tempfails if t), default=0)
        self.any_tempfail = width > 0
        self.p = np.array([t.p if t else 0.0 for t in tempfails])
        self.cumulative = np.full((n, max(width, 1)), 2.0)       # 2 > any draw: never past the last reply
        self.tempfail_reply = np.zeros((n, max(width, 1)), dtype=np.int32)
        for i, t in enumerate(tempfails):
            if t is None:
                continue
            weights = np.asarray(t.weights) / sum(t.weights)
            self.cumulative[i, :len(weights) - 1] = np.cumsum(weights)[:-1]
            self.tempfail_reply[i, :len(weights)] = [table.index(r) for r in t.replies]
        self.key = stream_key(seed, Purpose.REPLIES)

    def answer(self, domain: np.ndarray | None, ids: np.ndarray, attempt: np.ndarray, t: np.ndarray,
               grey: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """The reply index (0: accepted) of attempts that reached an up server, and each message's greylist
        triplet after it (``grey``: NaN never seen by the greylist, a time: first seen, -inf: passed)."""
        d = np.zeros(len(ids), dtype=np.int64) if domain is None else domain
        reply = np.zeros(len(ids), dtype=np.int32)
        open_ = np.ones(len(ids), dtype=bool)                      # not yet answered by a rule
        if self.any_fate:
            u = uniform_array(self.key, ids, _FATE)
            unknown = u <= self.unknown[d]
            full = ~unknown & (u <= self.fated[d])
            reply = np.where(unknown, self.unknown_reply[d], np.where(full, self.full_reply[d], reply))
            open_ = ~(unknown | full)
        if self.any_greylist:
            assert grey is not None
            checked = open_ & self.greylisted[d] & (grey != -np.inf)
            first, grey = grey, grey.copy()
            fresh = checked & (np.isnan(first) | (t - first > self.grey_window[d]))   # unknown or lapsed
            early = checked & ~fresh & (t - first < self.grey_delay[d])
            deferred = fresh | early
            reply = np.where(deferred, self.grey_reply[d], reply)
            grey[fresh] = t[fresh]
            grey[checked & ~deferred] = -np.inf
            open_ &= ~deferred
        if self.any_tempfail:
            u = uniform_array(self.key, ids, attempt)
            hit = open_ & (u <= self.p[d])
            if hit.any():
                x = u[hit] / self.p[d[hit]]
                k = (self.cumulative[d[hit]] < x[:, None]).sum(axis=1)
                reply[hit] = self.tempfail_reply[d[hit], k]
        return reply, grey


def reached_up_server(transacts: np.ndarray, result: np.ndarray, outage_end: np.ndarray) -> np.ndarray:
    """Which attempts went through an SMTP transaction with a server that was up (their reply holds one:
    :attr:`mtasim.recipients.Reply.holds_transaction`, the table's ``transacts``; and no outage window
    answered them with its failure): only these take the recipient's transaction time; an outage answers
    at once, a failed or held-back connection takes its own time or none. A window that delivers (through
    another MX host) reached an up server."""
    return transacts & (np.isnan(outage_end) | (result == AttemptResult.DELIVERED))


class TransactionTimes:
    """How long each attempt that reached the up server takes: drawn per (message id, attempt number) from
    its domain's ``transaction_time``, so every engine draws the same."""

    def __init__(self, domains: list[Recipient], seed: int):
        kinds: dict[Distribution, int] = {}
        self.which = np.array([kinds.setdefault(d.transaction_time, len(kinds)) if d.transaction_time else -1
                               for d in domains], dtype=np.int64)
        self.distributions = list(kinds)
        self.key = stream_key(seed, Purpose.DURATION)
        self.key2 = self.key ^ 0x5DEECE66D                 # a second independent uniform (Box-Muller)

    def one(self, domain: int, message_id: int, attempt: int, reached: bool) -> float:
        """:meth:`draw` for one attempt (the reference steps): the same draws, as plain floats."""
        k = int(self.which[domain])
        if k < 0 or not reached:
            return 0.0
        u1, u2 = uniform(self.key, message_id, attempt), uniform(self.key2, message_id, attempt)
        return float(self.distributions[k].from_uniforms(u1, u2))

    def draw(self, domain: np.ndarray | None, ids: np.ndarray, attempt: np.ndarray, reached: np.ndarray
             ) -> np.ndarray:
        """Seconds per attempt (0 where the domain has none or the attempt did not reach the up server)."""
        which = np.full(len(ids), self.which[0]) if domain is None else self.which[domain]
        out = np.zeros(len(ids))
        timed = (which >= 0) & reached
        if not timed.any():
            return out
        u1 = uniform_array(self.key, ids[timed], attempt[timed])
        u2 = uniform_array(self.key2, ids[timed], attempt[timed])
        kinds = which[timed]
        drawn = np.zeros(len(u1))
        for k, dist in enumerate(self.distributions):
            mine = kinds == k
            if mine.any():
                drawn[mine] = dist.from_uniforms(u1[mine], u2[mine])
        out[timed] = drawn
        return out

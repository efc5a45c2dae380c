"""Every domain's behaviour while up (mtasim.recipients.behaviour) and its transaction times as arrays,
and their rules vectorised.

The rules are written here once: the kernel applies them to the attempts of a lock step or a moment,
the reference engine to one attempt at a time (arrays of length one).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..recipients import AttemptResult, Distribution, Recipient
from ..recipients.behaviour import Behaviour
from ..rng import Purpose, stream_key, uniform, uniform_array
from .outage_table import OutageTable

__all__ = ["BehaviourTable", "any_behaviour", "TransactionTimes"]

#: The counter of a message's own draw (its recipient address's fate); attempts count from 1.
_FATE = 0


def any_behaviour(domains: list[Recipient]) -> bool:
    """Whether any domain, or any MX host of one (its answers name its rules), says more than 250 while up."""
    return any(d.behaviour is not None and d.behaviour.active for d in domains) or \
        any(o.reply.via is not None and o.reply.via.rules is not None for d in domains for o in d.answers)


class BehaviourTable:
    """Fate shares, greylisting and random deferrals, as arrays indexed by rule row: one row per domain
    (what its single server says while up), then one per MX host's rules (``Reply.via.rules``, found among
    the table's replies, mtasim.engine.mx). A host's row keeps its rank: its greylist triplets are its own
    (column ``rank`` of a message's triplets) and so are its random draws."""

    def __init__(self, domains: list[Recipient], table: OutageTable, seed: int):
        none = Behaviour()
        rules = [d.behaviour or none for d in domains]
        ranks = [0] * len(domains)
        self.table = table
        #: per reply index: the rule row its host answers by (-1: none; reply 0 takes its domain's row) and
        #: the index of what the hosts after it answer when those rules defer (-1: nothing)
        self._row: list[int] = []
        self._fallback: list[int] = []
        rows: dict[tuple[Behaviour, int], int] = {}
        k = 0
        while k < len(table.replies):       # fallbacks join the table as they are found, and are read in turn
            via = table.replies[k].via
            row = fallback = -1
            if via is not None and via.rules is not None:
                row = rows.get((via.rules, via.rank), -1)
                if row < 0:
                    row = rows[(via.rules, via.rank)] = len(rules)
                    rules.append(via.rules)
                    ranks.append(via.rank)
                if via.fallback is not None:
                    fallback = table.index(via.fallback)
            self._row.append(row)
            self._fallback.append(fallback)
            k += 1
        self.rows = np.array(self._row, dtype=np.int64)
        self.fallbacks = np.array(self._fallback, dtype=np.int64)
        self.rank = np.array(ranks, dtype=np.int64)
        #: whether some MX host answers by its own rules (else every row is a domain's single server, rank 0)
        self.any_host_rules = len(rules) > len(domains)
        n = len(rules)
        self.unknown = np.array([b.unknown_user for b in rules])
        self.fated = self.unknown + np.array([b.mailbox_full for b in rules])
        self.unknown_reply = np.array([table.index(b.unknown_user_reply) for b in rules], dtype=np.int32)
        self.full_reply = np.array([table.index(b.mailbox_full_reply) for b in rules], dtype=np.int32)
        self.any_fate = bool(self.fated.any())
        greylists = [b.greylist for b in rules]
        self.any_greylist = any(g is not None for g in greylists)
        #: How many greylist triplets a message keeps: one per MX host rank that greylists (1: a plain array)
        self.grey_width = 1 + max((r for r, g in zip(ranks, greylists) if g is not None), default=0)
        self.greylisted = np.array([g is not None for g in greylists])
        #: each row's column among a message's triplets (its rank where it greylists; 0, untouched, elsewhere)
        self.grey_column = np.where(self.greylisted, self.rank, 0)
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

    def new_triplets(self, n: int) -> np.ndarray:
        """``n`` messages' greylist triplets before any attempt: never seen (NaN), one per greylisting rank."""
        return np.full(n if self.grey_width == 1 else (n, self.grey_width), np.nan)

    def respond(self, reply: np.ndarray, domain: np.ndarray | None, ids: np.ndarray, attempt: np.ndarray,
                t: np.ndarray, grey: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """The replies of attempts after the rules of the server they reached: ``reply`` (table indices) as
        the windows gave them; where that is an up server with rules (reply 0: the domain's own; an MX
        host's: its own), those rules answer, and a deferral either is the answer (after the time the
        attempt spent on hosts before) or, under Postfix, passes the message on to the hosts after it
        (``HostAnswer.fallback``), whose up host's rules answer in turn. Returns the replies and the
        messages' triplets after them."""
        reply = reply.copy()
        todo = np.flatnonzero(reply == 0)
        if not self.any_host_rules:                 # single servers only: their rules answer their 250s
            if len(todo):
                reply[todo], grey_up = self.answer(None if domain is None else domain[todo], ids[todo],
                                                   attempt[todo], t[todo], None if grey is None else grey[todo])
                if grey_up is not None:
                    assert grey is not None
                    grey[todo] = grey_up
            return reply, grey
        row = np.where(reply == 0, 0 if domain is None else domain, self._rows_of(reply))
        todo = np.flatnonzero(row >= 0)
        while len(todo):
            said, g = self.answer(row[todo], ids[todo], attempt[todo], t[todo], None if grey is None else grey[todo])
            if g is not None:
                assert grey is not None
                grey[todo] = g
            deferred = said != 0
            d = todo[deferred]
            fallback = self.fallbacks[reply[d]]
            onward = fallback >= 0
            here = d[~onward]
            if len(here):
                reply[here] = self._after(said[deferred][~onward], self.table.duration[reply[here]])
            moved = d[onward]
            reply[moved] = fallback[onward]
            row[moved] = self._rows_of(fallback[onward])
            todo = moved[row[moved] >= 0]
        return reply, grey

    def _rows_of(self, reply: np.ndarray) -> np.ndarray:
        """The MX host rule row of each reply (-1: none; replies the table gained after this one was built,
        a limit's refusal or a held-back pass, have none)."""
        known = reply < len(self.rows)
        return np.where(known, self.rows[np.where(known, reply, 0)], -1)

    def _after(self, said: np.ndarray, spent: np.ndarray) -> np.ndarray:
        """The rules' replies ``said``, each after ``spent`` seconds on hosts tried before (the same reply with
        that much more time, added to the table where new)."""
        if not spent.any():
            return said
        out = said.copy()
        for k, s in {(int(k), float(s)) for k, s in zip(said[spent > 0], spent[spent > 0])}:
            base = self.table.replies[k]
            out[(said == k) & (spent == s)] = self.table.index(replace(base, duration_s=base.duration_s + s))
        return out

    def answer(self, row: np.ndarray | None, ids: np.ndarray, attempt: np.ndarray, t: np.ndarray,
               grey: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """The reply index (0: accepted) of attempts that reached an up server answering by rule ``row`` (a
        domain's or an MX host's), and each message's greylist triplets after it (``grey``: NaN never seen by
        the greylist, a time: first seen, -inf: passed; one column per greylisting rank when several)."""
        d = np.zeros(len(ids), dtype=np.int64) if row is None else row
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
            column = self.grey_column[d] if grey.ndim > 1 else None
            first = grey if column is None else grey[np.arange(len(d)), column]
            checked = open_ & self.greylisted[d] & (first != -np.inf)
            fresh = checked & (np.isnan(first) | (t - first > self.grey_window[d]))   # unknown or lapsed
            early = checked & ~fresh & (t - first < self.grey_delay[d])
            deferred = fresh | early
            reply = np.where(deferred, self.grey_reply[d], reply)
            after = first.copy() if column is None else first     # (fancy indexing copied it already)
            after[fresh] = t[fresh]
            after[checked & ~deferred] = -np.inf
            if column is None:
                grey = after
            else:
                grey[np.arange(len(d)), column] = after
            open_ &= ~deferred
        if self.any_tempfail:
            # each host its own draw: rank k counts its attempts in the k-th block of 2^32 (rank 0 as a
            # domain's single server does)
            u = uniform_array(self.key, ids, attempt + (self.rank[d] << 32) if self.any_host_rules else attempt)
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
    its domain's ``transaction_time`` (or, with ``field="connection_setup"``, how long opening its
    connection takes, from an independent stream), so every engine draws the same."""

    def __init__(self, domains: list[Recipient], seed: int, field: str = "transaction_time"):
        kinds: dict[Distribution, int] = {}
        times = [getattr(d, field) for d in domains]
        self.which = np.array([kinds.setdefault(x, len(kinds)) if x else -1 for x in times], dtype=np.int64)
        self.distributions = list(kinds)
        self.key = stream_key(seed, Purpose.DURATION) ^ (0 if field == "transaction_time" else 0x9E3779B97F4A7C)
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

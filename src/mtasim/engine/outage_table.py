"""Every domain's outage windows and every distinct reply as arrays, for the engines' vectorised lookups."""

from __future__ import annotations

import numpy as np

from ..recipients import DELIVERED_REPLY, AttemptResult, Recipient, Reply
from ..results import Recorder
from ..sender import Sender

__all__ = ["OutageTable"]


class OutageTable:
    """Every domain's outage windows as padded 2-D arrays, and the distinct replies as arrays."""

    def __init__(self, domains: list[Recipient], recorder: Recorder, sender: Sender):
        replies: list[Reply] = [DELIVERED_REPLY]
        index: dict[Reply, int] = {DELIVERED_REPLY: 0}
        # a domain's windows: its outages, or with MX hosts its answers (mtasim.engine.mx)
        width = max((len(d.windows) for d in domains), default=0)
        self.starts = np.full((len(domains), width), np.inf)
        self.ends = np.full((len(domains), width), np.inf)
        self.reply = np.zeros((len(domains), width), dtype=np.int32)
        for i, d in enumerate(domains):
            for j, o in enumerate(d.windows):
                if o.reply not in index:
                    index[o.reply] = len(replies)
                    replies.append(o.reply)
                self.starts[i, j], self.ends[i, j], self.reply[i, j] = o.start_s, o.end_s, index[o.reply]
        self.width = width
        self.replies, self._index = replies, index
        # a window in which the attempt is delivered (through another MX host, or an up host named by its
        # rules) is not an outage: its attempts get no outage end
        delivering = np.array([r.result == AttemptResult.DELIVERED for r in replies])[self.reply]
        self.outage_ends = np.where(delivering, np.nan, self.ends)
        if len(domains) == 1:               # one domain: its window bounds interleaved, for one search
            self._bounds = np.column_stack((self.starts[0], self.ends[0])).ravel()
            # searchsorted gives k: odd inside window k // 2, even outside any: each k's reply and end
            inside = np.arange(2 * width + 1) % 2 == 1
            window = np.minimum(np.arange(2 * width + 1) // 2, max(width - 1, 0))
            self._reply_at = np.where(inside, self.reply[0, window] if width else 0, 0).astype(np.int32)
            self._end_at = np.where(inside, self.outage_ends[0, window] if width else np.nan, np.nan)
        self._recorder, self._sender = recorder, sender
        self._arrays(replies)

    def _arrays(self, replies: list[Reply]) -> None:
        recorder, sender = self._recorder, self._sender
        self.result = np.array([r.result for r in replies], dtype=np.int8)
        self.duration = np.array([r.duration_s for r in replies])
        #: The wait each reply advises (mtasim.recipients.ratelimit's retry_after), 0 for most.
        self.advice = np.array([r.retry_after_s for r in replies])
        self.any_advice = bool(self.advice.any())
        #: Whether any reply takes time (timeouts): else attempts answer at once.
        self.any_timed = bool((self.duration > 0).any())
        self.any_rejected = bool((self.result == AttemptResult.REJECTED).any())
        #: Whether a reply is a pass host-level state held back (the DES adds them as it goes).
        self.any_suspended = bool((self.result == AttemptResult.SUSPENDED).any())
        #: Which replies deliver: the plain 250 (index 0) and, with MX hosts, deliveries through another host
        #: or after a timed-out one (mtasim.engine.mx); ``any_late_delivery`` says whether there are such.
        self.delivers = self.result == AttemptResult.DELIVERED
        self.any_late_delivery = bool(self.delivers[1:].any())
        self.connection = np.array([r.result.is_connection_failure for r in replies])
        #: The MX host that gave each reply (its rank; 0 for a domain's single server), and whether the reply
        #: is an up primary server's 250, which the domain's rate and connection limits stand before.
        self.rank = np.array([r.via.rank if r.via is not None else 0 for r in replies], dtype=np.int16)
        self.meets_limits = np.array([i == 0 or (r.via is not None and not r.via.backup and
                                                 r.result == AttemptResult.DELIVERED)
                                      for i, r in enumerate(replies)], dtype=bool)
        #: Which replies come out of an SMTP transaction (Reply.holds_transaction).
        self.transacts = np.array([r.holds_transaction for r in replies], dtype=bool)
        self.text_id = np.array([recorder.replies(r.text) for r in replies], dtype=np.int32)
        self.status_id = np.array([recorder.statuses(r.status) for r in replies], dtype=np.int32)
        #: The status each reply leaves on a message that gives up after it (Sender.final_status).
        self.final_status_id = np.array([recorder.statuses(sender.final_status(r.status)) for r in replies],
                                        dtype=np.int32)
        self.statuses = [r.status for r in replies]

    def index(self, reply: Reply) -> int:
        """The index of ``reply`` in the reply arrays, added if new (the DES's held-back deferrals)."""
        i = self._index.get(reply)
        if i is None:
            i = self._index[reply] = len(self.replies)
            self.replies.append(reply)
            self._arrays(self.replies)
        return i

    def lookup(self, domain: np.ndarray | None, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reply index and outage end (NaN outside outages) for attempts starting at ``t``.

        Windows of a domain are sorted and disjoint, so the only candidate is the last window starting
        at or before t: found by comparing every window when there are few, else by binary search.
        """
        if self.width == 0:
            return np.zeros(len(t), dtype=np.int32), np.full(len(t), np.nan)
        if len(self.starts) == 1:                          # one domain: one search among its bounds
            bound = np.searchsorted(self._bounds, t, side="right")
            return self._reply_at[bound], self._end_at[bound]
        if self.width <= 4:
            j = np.zeros(len(t), dtype=np.int64)
            for k in range(1, self.width):
                j += self.starts[domain, k] <= t
        else:
            lo = np.zeros(len(t), dtype=np.int64)          # invariant: windows < lo start at or before t
            hi = np.full(len(t), self.width, dtype=np.int64)
            for _ in range(int(self.width).bit_length()):
                mid = (lo + hi) >> 1
                below = self.starts[domain, np.minimum(mid, self.width - 1)] <= t
                below &= mid < hi
                lo = np.where(below, mid + 1, lo)
                hi = np.where(below, hi, mid)
            j = np.maximum(lo - 1, 0)
        start, end = self.starts[domain, j], self.ends[domain, j]
        hit = (start <= t) & (t < end)
        return np.where(hit, self.reply[domain, j], 0).astype(np.int32), \
            np.where(hit, self.outage_ends[domain, j], np.nan)

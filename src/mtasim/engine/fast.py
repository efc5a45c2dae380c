"""The vectorised engine: every pending message's next attempt computed at once with NumPy.

Without state shared between messages each message's fate depends only on its own arrival, its
recipient's outage windows and its own random draws, so messages can be advanced in lock step: one
loop iteration makes the next attempt of every message still pending. Outage lookup compares each
message's attempt time with its domain's windows (padded to the most windows any domain has); the
schedule, queue-runner alignment and give-up rules are the vectorised twins of the ones the DES uses
(:meth:`Sender.after_failures`, :meth:`Schedule.waits`), with the same arithmetic, and per-attempt
draws come from the same counter-based stream, so both engines give identical per-message results.
Messages are processed in chunks to bound memory.
"""

from __future__ import annotations

import math

import numpy as np

from ..recipients import AttemptResult, Recipient
from ..results import Outcome, Recorder
from ..rng import Purpose, stream_key, uniform_array
from ..sender import BY_ATTEMPT_AGE, Sender
from .outage_table import OutageTable

__all__ = ["run_fast", "CHUNK"]

CHUNK = 1 << 20


def run_fast(sender: Sender, domains: list[Recipient], horizon: float | None, seed: int,
             arrivals: np.ndarray, recipient_of: np.ndarray, recorder: Recorder) -> float | None:
    """Simulate every message into ``recorder``; returns the horizon used (None = to the end)."""
    table = OutageTable(domains, recorder, sender)
    stop = math.inf if horizon is None else horizon
    key = stream_key(seed, Purpose.JITTER)
    for lo in range(0, len(arrivals), CHUNK):
        _run_chunk(sender, table, stop, key, np.arange(lo, min(lo + CHUNK, len(arrivals))), arrivals,
                   recipient_of, recorder)
    return horizon


def _run_chunk(sender: Sender, table: OutageTable, stop: float, key: int, ids: np.ndarray,
               arrivals: np.ndarray, recipient_of: np.ndarray, recorder: Recorder) -> None:
    rule = sender.give_up
    warn_at_failure = sender.delay_warning_s is not None and sender.delay_warning_at != "age"
    arrival = arrivals[ids]
    keep = arrival < stop
    ids, arrival = ids[keep], arrival[keep]
    t = arrival.copy()
    domain = recipient_of[ids].astype(np.int64)
    failures = np.zeros(len(ids), dtype=np.int64)
    decisive = np.full(len(ids), -np.inf)
    outage_end = np.full(len(ids), np.nan)
    warned = np.zeros(len(ids), dtype=np.int64)          # delay warnings sent so far
    history = sender.needs_history                    # only Exim's schedule looks at its past
    prev_failure = np.full(len(ids), np.nan)
    prev_wait = np.full(len(ids), np.nan)

    while len(ids):
        reply, end = table.lookup(domain, t)
        result = table.result[reply]
        recorder.attempts_batch(ids, failures + 1, t, result, table.text_id[reply])
        if rule in BY_ATTEMPT_AGE:
            decisive = t - arrival
        t = t + table.duration[reply]
        alive = ~((table.duration[reply] > 0) & (t >= stop))      # a timeout running past the horizon
        recorder.status[ids[~alive]] = table.status_id[reply[~alive]]   # ... is queued with its deferral

        done = alive & (result == AttemptResult.DELIVERED)
        recorder.finish_batch(ids[done], Outcome.DELIVERED, table.status_id[reply[done]], t[done],
                              decisive[done], t[done] - outage_end[done])
        done = alive & (result == AttemptResult.REJECTED)
        recorder.finish_batch(ids[done], Outcome.BOUNCED, table.status_id[reply[done]], t[done], decisive[done])

        failed = alive & (result != AttemptResult.DELIVERED) & (result != AttemptResult.REJECTED)
        recorder.status[ids[failed]] = table.status_id[reply[failed]]
        ids, arrival, t, domain = ids[failed], arrival[failed], t[failed], domain[failed]
        failures, decisive, warned = failures[failed] + 1, decisive[failed], warned[failed]
        if history:
            prev_failure, prev_wait = prev_failure[failed], prev_wait[failed]
        outage_end, reply = end[failed], reply[failed]

        u = uniform_array(key, ids, failures) if sender.schedule.uses_random else 1.0
        attempt_s, give_up_s, due_s = sender.after_failures(failures, arrival, t, u, table.connection[reply],
                                                            *((prev_wait, t - prev_failure) if history else ()))
        if history:
            prev_failure, prev_wait = t, due_s - t
        gives_up = ~np.isnan(give_up_s)
        ends = gives_up & (give_up_s < stop)
        recorder.finish_batch(ids[ends], Outcome.EXPIRED, table.final_status_id[reply[ends]], give_up_s[ends],
                              np.inf)

        go = ~gives_up
        if rule == "last-attempt":
            decisive = np.where(go, t - arrival, decisive)
        elif rule == "next-wait":
            decisive = np.where(go, np.maximum(decisive, due_s - arrival), decisive)
        if warn_at_failure:
            count = np.where(go, sender.warnings_due_at_failures(arrival, t, attempt_s, warned), 0)
            if count.any():
                recorder.warn_batch(ids, t, count)
                warned = warned + count
        go &= attempt_s < stop
        ids, arrival, t, domain = ids[go], arrival[go], attempt_s[go], domain[go]
        failures, decisive, warned, outage_end = failures[go], decisive[go], warned[go], outage_end[go]
        if history:
            prev_failure, prev_wait = prev_failure[go], prev_wait[go]

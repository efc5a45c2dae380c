"""The queue over time, derived after a run from the per-message records (no engine involved).

A message is *in the queue* at time t when it has arrived and not yet finished: ``arrival_s <= t <
final_s`` (a queued message's ``final_s`` is NaN: it stays in the queue). A message delivered at its
first attempt (``final_s == arrival_s``) is never in the queue.

- :func:`queue_series`: per interval and recipient entry, the messages queued at the interval's start
  and the attempts, deliveries and expiries within it (``queue.csv``).
- :func:`queue_summary`: ``peak_queue``/``peak_queue_s`` (exact, from the arrival and final times),
  ``recovery_s``, ``drain_time_s`` and ``expired_after_recovery`` (summary.json).
- :func:`qshape_text`: the queue at one moment in the layout of Postfix's ``qshape(1)``.
- :func:`parse_moment`: ``30h``, an ISO timestamp or ``"Sat 06:00"`` -> seconds since the start.

Everything is vectorised over messages (searchsorted, bincount); loops run over intervals, domains or
outage windows only.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

import numpy as np

from .durations import DurationError, format_duration, next_weekday_time, parse_duration, parse_weekday_time
from .results import Outcome, csv_cell

__all__ = ["QUEUE_COLUMNS", "TOTAL", "QueueSeries", "QueueViewError", "auto_interval", "queue_series",
           "peak_queue", "recovery_time", "drain_time", "expired_after_recovery_mask", "queue_summary",
           "qshape_counts", "qshape_bucket", "qshape_text", "parse_moment"]

QUEUE_COLUMNS = ("time_s", "destination", "queued", "attempts", "deliveries", "expired")
#: The destination name of the block that adds up every recipient entry.
TOTAL = "*"
#: The automatic interval keeps queue.csv at most this many intervals long.
MAX_AUTO_INTERVALS = 2000
#: A chosen --queue-interval may give at most this many intervals.
MAX_INTERVALS = 100_000
#: Interval lengths the automatic choice picks from (the shortest that fits): 5 min up to a week.
_STEPS_S = (300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)


class QueueViewError(ValueError):
    """A bad interval or moment; the text is the whole line the CLI shows."""


# -- the queue per interval (queue.csv) -----------------------------------------------------------------
@dataclass(frozen=True)
class QueueSeries:
    """Per destination (one per recipient entry of the scenario, then :data:`TOTAL`) and interval
    ``[times_s[k], times_s[k] + interval_s)``: ``queued`` at the interval's start, and the ``attempts``,
    ``deliveries`` and ``expired`` counted within it. ``attempts`` is None when the run did not record
    every attempt (its times are unknown)."""

    interval_s: float
    times_s: np.ndarray
    destinations: list[str]
    queued: np.ndarray
    attempts: np.ndarray | None
    deliveries: np.ndarray
    expired: np.ndarray

    def write_csv(self, f) -> None:
        """queue.csv: one block of rows per destination, in time order; attempts empty when unknown."""
        w = csv.writer(f, lineterminator="\n")
        w.writerow(QUEUE_COLUMNS)
        times = [csv_cell(t) for t in self.times_s]
        for g, name in enumerate(self.destinations):
            attempts = self.attempts[g].tolist() if self.attempts is not None else [""] * len(times)
            w.writerows(zip(times, [name] * len(times), self.queued[g].tolist(), attempts,
                            self.deliveries[g].tolist(), self.expired[g].tolist()))


def auto_interval(end_s: float) -> float:
    """The shortest of 5 min, 10 min, 15 min, 30 min, 1 h, 2 h, 3 h, 6 h, 12 h, 1 d, 2 d, 1 w (or a
    multiple of a week) that covers ``[0, end_s]`` in at most :data:`MAX_AUTO_INTERVALS` intervals."""
    for step in _STEPS_S:
        if _interval_count(end_s, step) <= MAX_AUTO_INTERVALS:
            return float(step)
    week = _STEPS_S[-1]
    return float(week * math.ceil(end_s / ((MAX_AUTO_INTERVALS - 1) * week)))


def _interval_count(end_s: float, step: float) -> int:
    return int(end_s // step) + 1


def queue_end_s(result: Any) -> float:
    """The last moment anything happens: the last arrival, final time or attempt, or the horizon when
    messages are still queued there."""
    m = result.messages
    ends = [0.0]
    if len(m):
        ends.append(float(np.max(m.arrival_s)))
        done = np.isfinite(m.final_s)
        if done.any():
            ends.append(float(np.max(m.final_s[done])))
        if not done.all() and result.horizon_s is not None:
            ends.append(float(result.horizon_s))
    if result.attempts is not None and len(result.attempts):
        ends.append(float(np.max(result.attempts.time_s)))
    return max(ends)


def destination_groups(result: Any) -> tuple[np.ndarray, list[str]]:
    """Each concrete domain's group (its recipient entry; an entry with ``domains: N`` is one group) and
    the groups' names. Falls back to one group per domain when the domains do not match the entries."""
    entries = result.scenario.recipients
    counts = [int(getattr(e, "domains", 1)) for e in entries]
    names = list(result.messages.recipients)
    if sum(counts) == len(names):
        return np.repeat(np.arange(len(entries)), counts), [e.domain for e in entries]
    return np.arange(len(names)), names


def attempts_complete(result: Any) -> bool:
    """Whether every attempt of the run is in the attempt table (not only every n-th message's)."""
    return result.attempts is not None and len(result.attempts) == int(result.total_attempts)


def queue_series(result: Any, interval_s: float | None = None, *, count_attempts: bool | None = None
                 ) -> QueueSeries:
    """The queue per interval and recipient entry (see :class:`QueueSeries`); ``interval_s`` None picks
    one with :func:`auto_interval`. Attempts are counted when ``count_attempts`` (None: whenever every
    attempt was recorded; True needs that too). Raises :class:`QueueViewError` for an interval giving
    more than :data:`MAX_INTERVALS` intervals."""
    end = queue_end_s(result)
    if interval_s is None:
        interval_s = auto_interval(end)
    elif not interval_s > 0:
        raise QueueViewError(f"--queue-interval: expected a duration > 0, got {interval_s!r}")
    n = _interval_count(end, interval_s)
    if n > MAX_INTERVALS:
        shortest = format_duration(math.ceil(end / (MAX_INTERVALS - 1)))
        raise QueueViewError(f"--queue-interval {format_duration(interval_s)}: {n:,} intervals over this run "
                             f"({format_duration(end)}); expected at most {MAX_INTERVALS:,}: choose {shortest} or more")
    times = np.arange(n) * float(interval_s)
    group_of_domain, names = destination_groups(result)
    groups = len(names)
    m = result.messages
    group = group_of_domain[m.recipient].astype(np.int64) if len(m) else np.zeros(0, np.int64)

    def per_interval(which: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Counts of events at times ``t`` (of groups ``which``) per group and interval they fall in."""
        k = np.searchsorted(times, t, side="right") - 1
        return np.bincount(which * n + k, minlength=groups * n).reshape(groups, n)

    def by_start(which: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Per group and interval: how many of the times ``t`` are <= that interval's start."""
        k = np.searchsorted(times, t, side="left")          # first interval starting at or after t
        ok = k < n
        counts = np.bincount(which[ok] * n + k[ok], minlength=groups * n).reshape(groups, n)
        return np.cumsum(counts, axis=1)

    done = np.isfinite(m.final_s)
    queued = by_start(group, m.arrival_s) - by_start(group[done], m.final_s[done])
    delivered = m.outcome == Outcome.DELIVERED
    expired = m.outcome == Outcome.EXPIRED
    deliveries = per_interval(group[delivered], m.final_s[delivered])
    expiries = per_interval(group[expired], m.final_s[expired])
    attempts = None
    if count_attempts is not False and attempts_complete(result):
        a = result.attempts
        attempts = per_interval(group[a.message_id], a.time_s) if len(a) else np.zeros((groups, n), np.int64)
    total = lambda x: np.vstack([x, x.sum(axis=0, keepdims=True)])   # noqa: E731
    return QueueSeries(float(interval_s), times, names + [TOTAL], total(queued),
                       None if attempts is None else total(attempts), total(deliveries), total(expiries))


# -- summary fields -----------------------------------------------------------------------------------------
def peak_queue(arrival_s: np.ndarray, final_s: np.ndarray) -> tuple[int, float | None]:
    """The most messages in the queue at once and the first moment it held that many (None when the
    queue was always empty). Exact: the queue after every event time, all events of a moment applied."""
    done = np.isfinite(final_s)
    t = np.concatenate([arrival_s, final_s[done]])
    if len(t) == 0:
        return 0, None
    step = np.concatenate([np.ones(len(arrival_s), np.int64), np.full(int(done.sum()), -1, np.int64)])
    order = np.argsort(t, kind="stable")
    t, level = t[order], np.cumsum(step[order])
    last_of_moment = np.ones(len(t), dtype=bool)
    last_of_moment[:-1] = t[1:] != t[:-1]
    t, level = t[last_of_moment], level[last_of_moment]
    k = int(np.argmax(level))
    return (int(level[k]), float(t[k])) if level[k] > 0 else (0, None)


def _outage_windows(domains: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every outage window as (domain index, start, end), sorted by domain, then start (windows of a
    domain are disjoint, so also by end)."""
    rows = [(i, o.start_s, o.end_s) for i, d in enumerate(domains) for o in d.outages]
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    arr = np.array(rows, dtype=float)
    order = np.lexsort((arr[:, 1], arr[:, 0]))
    arr = arr[order]
    return arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2]


def _last_window(window_domain: np.ndarray, window_t: np.ndarray, domain: np.ndarray, t: np.ndarray, *,
                 strict: bool) -> np.ndarray:
    """For each query (``domain``, ``t``): the index of the last window of the same domain whose time
    (``window_t``, ascending within each domain as the windows are sorted) is <= t (``strict``: < t), or -1.

    Windows and queries are merged in (domain, time) order, windows first at equal times (last when
    ``strict``); the answer is the running maximum of the window indices seen, kept when it belongs to
    the query's domain."""
    nw = len(window_domain)
    kind = np.concatenate([np.full(nw, 1 if strict else 0, np.int8), np.full(len(t), 0 if strict else 1, np.int8)])
    order = np.lexsort((kind, np.concatenate([window_t, t]), np.concatenate([window_domain, domain])))
    index = np.concatenate([np.arange(nw), np.full(len(t), -1)])[order]
    last = np.maximum.accumulate(index) if len(index) else index
    query = np.concatenate([np.full(nw, -1), np.arange(len(t))])[order]
    is_query = query >= 0
    out = np.full(len(t), -1, dtype=np.int64)
    w, q = last[is_query], query[is_query]
    ok = (w >= 0) & (window_domain[np.maximum(w, 0)] == domain[q])
    out[q[ok]] = w[ok]
    return out


def _domains(result: Any) -> Sequence[Any]:
    return getattr(result, "domains", None) or result.scenario.recipients


def recovery_time(result: Any) -> float | None:
    """The end of the last outage that held mail back: the latest end of any domain's outage window at
    which a message to that domain was in the queue (arrived at or before it, not finished). None when
    no outage ended with mail waiting for it."""
    wd, _, we = _outage_windows(_domains(result))
    m = result.messages
    if len(wd) == 0 or len(m) == 0:
        return None
    final = np.where(np.isnan(m.final_s), np.inf, m.final_s)
    # Each message's last window of its domain ending before it finished: it waited at that end when it
    # had arrived by then (and then at no later end of its domain's windows).
    w = _last_window(wd, we, m.recipient.astype(np.int64), final, strict=True)
    ends = we[np.maximum(w, 0)]
    waited = (w >= 0) & (m.arrival_s <= ends)
    return float(np.max(ends[waited])) if waited.any() else None


def drain_time(result: Any, recovery_s: float | None = None) -> float | None:
    """Seconds from the recovery (:func:`recovery_time`) to the last delivery of a message that was in
    the queue at that moment (arrived at or before it, not yet finished), whatever its destination. None
    when there is no recovery or none of those messages was delivered."""
    end = recovery_time(result) if recovery_s is None else recovery_s
    if end is None:
        return None
    m = result.messages
    waiting = (m.arrival_s <= end) & ~(m.final_s <= end) & (m.outcome == Outcome.DELIVERED)
    if not waiting.any():
        return None
    return float(np.max(m.final_s[waiting]) - end)


def expired_after_recovery_mask(result: Any) -> np.ndarray:
    """Per message: it expired at a time t when its own domain was not in an outage window (windows are
    half-open, so t equal to a window's end is outside it) and at least one outage of that domain had
    ended at or before t. These are the messages the recovered recipient would have taken, had the
    sender retried before giving up."""
    m = result.messages
    out = np.zeros(len(m), dtype=bool)
    wd, ws, we = _outage_windows(_domains(result))
    ids = np.flatnonzero(m.outcome == Outcome.EXPIRED)
    if len(wd) == 0 or len(ids) == 0:
        return out
    t = m.final_s[ids]
    # The last window starting at or before t: t is inside it unless it has ended, and then an outage of
    # the domain has ended; with no such window no outage of the domain has begun.
    w = _last_window(wd, ws, m.recipient[ids].astype(np.int64), t, strict=False)
    out[ids] = (w >= 0) & (t >= we[np.maximum(w, 0)])
    return out


def queue_summary(result: Any) -> dict[str, Any]:
    """The summary fields about the queue: peak_queue, peak_queue_s, recovery_s, drain_time_s,
    expired_after_recovery."""
    m = result.messages
    peak, when = peak_queue(m.arrival_s, m.final_s)
    recovery = recovery_time(result)
    return {"peak_queue": peak, "peak_queue_s": when, "recovery_s": recovery,
            "drain_time_s": None if recovery is None else drain_time(result, recovery),
            "expired_after_recovery": int(np.count_nonzero(expired_after_recovery_mask(result)))}


# -- qshape ---------------------------------------------------------------------------------------------------
# Postfix's qshape(1), postfix/auxiliary/qshape/qshape.pl (github.com/vdukhovni/postfix), with its
# defaults: $tick = 5 minutes, $bnum = 10 buckets, $width = 80 columns, $dwidth = 18. Its sub bucket():
#     my $m = ($now - $qt) / (60 * $tick);
#     return 1 if ($m < 1);
#     my $b = 2 + int(log($m) / log(2));  $b < $bnum ? $b : $bnum;
# i.e. the column headed L holds ages in [L/2, L) minutes (the first [0, 5)), "1280+" ages >= 1280 min:
# an age of exactly 5 min is in column 10. Here floor(log2(m)) comes exactly from frexp (Perl's
# log(m)/log(2) is exact at the powers of two that matter: 1 .. 256).
QSHAPE_TICK_MIN = 5
QSHAPE_BUCKETS = 10
QSHAPE_WIDTH = 80
QSHAPE_MIN_DOMAIN_WIDTH = 18
QSHAPE_HEADINGS = ("T",) + tuple(str(QSHAPE_TICK_MIN * 2 ** k) for k in range(QSHAPE_BUCKETS - 1)) \
    + (f"{QSHAPE_TICK_MIN * 2 ** (QSHAPE_BUCKETS - 2)}+",)


def qshape_bucket(age_s: np.ndarray | float) -> np.ndarray:
    """qshape's bucket (1 .. 10: the columns 5, 10, 20, ... 1280, 1280+) of each message age in seconds."""
    m = np.asarray(age_s, dtype=float) / (60.0 * QSHAPE_TICK_MIN)
    _, exponent = np.frexp(np.maximum(m, 1.0))           # m = mantissa * 2**exponent, mantissa in [0.5, 1)
    b = np.where(m < 1, 1, 2 + (exponent - 1))
    return np.minimum(b, QSHAPE_BUCKETS).astype(np.int64)


def qshape_counts(result: Any, at_s: float) -> tuple[list[str], np.ndarray]:
    """The queue at ``at_s`` per concrete domain holding messages: names and counts (rows: domains, columns:
    total then the 10 age buckets), in qshape's order (most messages first, then shorter names; ties by
    name, where qshape's order is Perl's hash order). The TOTAL row is not included."""
    m = result.messages
    here = (m.arrival_s <= at_s) & ~(m.final_s <= at_s)
    domains, row = np.unique(m.recipient[here], return_inverse=True)
    cols = QSHAPE_BUCKETS + 1
    counts = np.bincount(row * cols + qshape_bucket(at_s - m.arrival_s[here]),
                         minlength=len(domains) * cols).reshape(len(domains), cols)
    counts[:, 0] = counts[:, 1:].sum(axis=1)
    names = [m.recipients[int(d)] for d in domains]
    order = sorted(range(len(names)), key=lambda i: (-int(counts[i, 0]), len(names[i]), names[i]))
    return [names[i] for i in order], counts[order]


def qshape_text(result: Any, at_s: float) -> str:
    """The queue at ``at_s`` laid out as ``qshape(1)`` prints it: a heading line, the TOTAL row, then one
    row per domain (qshape's sub results and sub pdomain, with every domain, as when not on a terminal).
    qshape sorts TOTAL with the domains; here it is always the first row, as it is unless a domain name
    shorter than five letters holds every message."""
    names, counts = qshape_counts(result, at_s)
    total = counts.sum(axis=0) if len(counts) else np.zeros(QSHAPE_BUCKETS + 1, np.int64)
    widths = []
    for head, count in zip(QSHAPE_HEADINGS, total.tolist()):
        size = max(len(str(count)), len(head))
        widths.append(size + 1 if size > 2 else 3)
    domain_width = max(QSHAPE_WIDTH - sum(widths), QSHAPE_MIN_DOMAIN_WIDTH)

    def line(name: str, cells: Sequence[Any]) -> str:
        if len(name) > domain_width:
            name = "+" + name[len(name) - domain_width + 1:]
        return name.rjust(domain_width) + "".join(str(c).rjust(w) for c, w in zip(cells, widths))

    lines = [line("", QSHAPE_HEADINGS), line("TOTAL", total.tolist())]
    lines += [line(name, row.tolist()) for name, row in zip(names, counts)]
    return "\n".join(lines) + "\n"


# -- moments ------------------------------------------------------------------------------------------------
def parse_moment(text: str, start: datetime, option: str = "--qshape") -> float:
    """Seconds since ``start`` of a moment given as a duration since the start (``30h``), an ISO 8601
    timestamp (without a zone: on the start's clock, as outage timestamps) or a weekday and time
    (``"Sat 06:00"``: the first such moment at or after the start, on the start's clock). Raises
    QueueViewError."""
    text = str(text).strip()
    if text.startswith("-"):
        raise QueueViewError(f"{option}: {text} is before the scenario's start; expected a moment at or after it")
    try:
        return parse_duration(text, allow_zero=True)
    except DurationError:
        pass
    try:
        weekday, time_of_day = parse_weekday_time(text)
        return next_weekday_time(start, weekday, time_of_day)
    except DurationError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise QueueViewError(f"{option}: expected a duration since the start (30h), an ISO timestamp "
                             f"(2026-01-03T06:00:00Z) or a weekday and time (\"Sat 06:00\"), got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=start.tzinfo or timezone.utc)
    offset = (moment - start).total_seconds()
    if offset < 0:
        raise QueueViewError(f"{option}: {text} is before the scenario's start {start.isoformat()}; expected a "
                             f"moment at or after it")
    return offset

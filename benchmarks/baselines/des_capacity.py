"""Speed yardstick for the capacity case of benchmarks/engines.py: the straightforward SimPy model of a
sender with ``concurrency`` connection slots mailing one throttling destination, one SimPy process per
message. Written from the contract below, not from mtasim's engine, so the benchmark's check against
``mtasim.simulate(engine="des")`` is a check of two independent implementations.

The model (a custom sender, one recipient domain, no queue runner, no jitter, no horizon):

* the first attempt of message ``i`` is due at its arrival; an attempt that fails and ends at ``t``
  expires the message at ``t`` if ``t - arrival >= expiry_s`` (give-up rule ``last-attempt``; ages within
  1 µs of the expiry count as equal, since attempt times are sums of waits), else the
  next attempt is due at ``t + interval_s`` (schedule ``fixed``);
* every attempt occupies one of ``concurrency`` slots (a ``simpy.PriorityResource``) from its start to
  its end, ``start + d`` (``start`` when the outage answers it: a server that is down answers at once); an attempt due when no slot is free waits in the destination's line, and a
  freed slot goes to the waiting attempt with the smallest (due time, arrival, message id); attempts due
  at that very moment compete by the same key; at one moment attempt ends come before attempt starts;
* the reply is decided at the start: inside the outage [``outage_start_s``, ``outage_end_s``) it is
  ``451`` and takes no token; otherwise the attempt takes a token from the bucket (full with ``burst``
  tokens at t = 0, refilled at ``rate_per_s`` up to ``burst``), or gets ``421`` when fewer than one is
  left; delivered at the end when it got a token, else a failure at the end;
* ``d = median_s * exp(sigma * z)``, ``z = sqrt(-2 ln u1) cos(2 pi u2)``, with ``u1``, ``u2`` the
  counter-based draws of :func:`mtasim.rng.uniform` for (message id, attempt number counted from 1)
  under the keys ``stream_key(seed, DURATION)`` and that key ``^ 0x5DEECE66D`` (shared input, like the
  arrival times, not the model).

SimPy details, and why: a message waits for its due time on a timeout scheduled after every other
event of that moment (ends, releases and grants are NORMAL, due times come after them, in message-id
order), so at one moment the ends free their slots first, the line is served before what falls due
then, and what falls due together starts (and takes its tokens) in (arrival, id) order, as the key says.
SimPy's stock ``PriorityResource`` re-sorts its whole line on every request (quadratic in the line, which
holds most of the backlog once the slots saturate); this one keeps the line in a heap, so the yardstick
is not slowed down by that.

    .venv/bin/python benchmarks/baselines/des_capacity.py     # self-checks and messages/s at 10^4, 10^5
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import simpy
from simpy.core import NORMAL

from mtasim.rng import stream_key, uniform

#: Ages within this of the expiry count as equal to it (as mtasim's give-up rules do: an attempt meant for
#: exactly arrival + expiry lands a rounding step either side of it).
AGE_TOLERANCE_S = 1e-6

__all__ = ["DELIVERED", "EXPIRED", "DURATION", "KEY2_XOR", "run", "durations"]

DELIVERED, EXPIRED = 0, 1          # as mtasim.Outcome (every message ends one of these: no horizon)
DURATION = 6                       # mtasim.rng.Purpose.DURATION
KEY2_XOR = 0x5DEECE66D


def durations(seed: int, median_s: float, sigma: float):
    """``d(message_id, attempt)``: the attempt's transaction time in seconds."""
    key1 = stream_key(seed, DURATION)
    key2 = key1 ^ KEY2_XOR
    exp, sqrt, log, cos, two_pi = math.exp, math.sqrt, math.log, math.cos, 2.0 * math.pi

    def d(i: int, attempt: int) -> float:
        z = sqrt(-2.0 * log(uniform(key1, i, attempt))) * cos(two_pi * uniform(key2, i, attempt))
        return median_s * exp(sigma * z)
    return d


class _HeapLine:
    """The put queue of the slots: SimPy's resources only look at and pop its first entry."""

    def __init__(self):
        self._heap = []

    def append(self, request) -> None:
        heapq.heappush(self._heap, (request.key, request))     # keys are unique: (due, arrival, id), ...

    def __getitem__(self, index: int):
        assert index == 0
        return self._heap[0][1]

    def pop(self, index: int):
        assert index == 0
        return heapq.heappop(self._heap)[1]

    def __len__(self) -> int:
        return len(self._heap)


class _Slots(simpy.PriorityResource):
    PutQueue = _HeapLine


class _Due(simpy.Timeout):
    """A timeout at an attempt's due time, after every NORMAL event of that moment, message ids in order."""

    def __init__(self, env: simpy.Environment, delay: float, message_id: int):
        # as simpy.Timeout.__init__, but with a priority below NORMAL's
        self.env, self.callbacks, self._value, self._delay, self._ok = env, [], None, delay, True
        env.schedule(self, NORMAL + 1 + message_id, delay)


class _Bucket:
    """A token bucket, full at t = 0."""

    def __init__(self, rate_per_s: float, burst: float):
        self.rate, self.burst, self.tokens, self.t = rate_per_s, burst, burst, 0.0

    def take(self, t: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (t - self.t) * self.rate)
        self.t = t
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def run(arrivals, concurrency: int, interval_s: float, expiry_s: float, outage_start_s: float = math.inf,
        outage_end_s: float = math.inf, rate_per_s: float | None = None, burst: float = 1.0,
        median_s: float = 1.0, sigma: float = 0.0, seed: int = 0, trace: list | None = None):
    """(outcome int8, final_s float64, attempts int64), one entry per message (``arrivals`` sorted, ids are
    their indices). ``rate_per_s=None``: no rate limit. ``trace``: a list to append every attempt to, as
    (message id, attempt, due, start, end, delivered)."""
    arrivals = np.asarray(arrivals, dtype=np.float64)
    n = len(arrivals)
    outcome = np.full(n, -1, dtype=np.int8)
    final = np.full(n, np.nan)
    attempts = np.zeros(n, dtype=np.int64)
    env = simpy.Environment()
    slots = _Slots(env, capacity=concurrency)
    bucket = _Bucket(rate_per_s, burst) if rate_per_s is not None else None
    d = durations(seed, median_s, sigma)
    s0, s1 = outage_start_s, outage_end_s

    def message(i: int, arrival: float):
        due = arrival
        yield _Due(env, max(0.0, arrival - env.now), i)
        k = 0
        while True:
            with slots.request(priority=(due, arrival, i)) as slot:
                yield slot
                start = env.now
                k += 1
                down = s0 <= start < s1
                ok = not down and (bucket is None or bucket.take(start))
                yield env.timeout(0.0 if down else d(i, k))
            end = env.now
            if trace is not None:
                trace.append((i, k, due, start, end, ok))
            if ok:
                outcome[i], final[i], attempts[i] = DELIVERED, end, k
                return
            if end - arrival >= expiry_s - AGE_TOLERANCE_S:
                outcome[i], final[i], attempts[i] = EXPIRED, end, k
                return
            due = end + interval_s
            yield _Due(env, interval_s, i)

    def source():
        for i, t in enumerate(arrivals.tolist()):
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(message(i, t))

    env.process(source())
    env.run()
    assert (outcome >= 0).all(), "a message neither delivered nor expired"
    return outcome, final, attempts


# -- self-check -------------------------------------------------------------------------------------
def _plain(arrivals, concurrency, interval_s, expiry_s, outage_start_s=math.inf, outage_end_s=math.inf,
           rate_per_s=None, burst=1.0, median_s=1.0, sigma=0.0, seed=0):
    """The same contract as a plain event loop (one heap of ends and due times, one heap for the line),
    independent of SimPy, for :func:`_check`."""
    arrivals = [float(x) for x in arrivals]
    n = len(arrivals)
    out = [None] * n
    d = durations(seed, median_s, sigma)
    tokens, last = burst, 0.0
    events = [(t, 1, (t, t, i), 1) for i, t in enumerate(arrivals)]     # (time, 0 end | 1 due, key, attempt)
    heapq.heapify(events)
    line, free = [], concurrency
    pending = {}                                                        # message id -> (ok, attempt)
    while events or line:
        now = events[0][0]
        while events and events[0][0] == now:
            _, kind, key, k = heapq.heappop(events)
            if kind == 1:
                heapq.heappush(line, (key, k))
                continue
            free += 1
            i = key[2]
            ok, k = pending.pop(i)
            if ok:
                out[i] = (DELIVERED, now, k)
            elif now - arrivals[i] >= expiry_s - AGE_TOLERANCE_S:
                out[i] = (EXPIRED, now, k)
            else:
                heapq.heappush(events, (now + interval_s, 1, (now + interval_s, arrivals[i], i), k + 1))
        while free and line:
            key, k = heapq.heappop(line)
            i = key[2]
            free -= 1
            down = outage_start_s <= now < outage_end_s
            ok = not down
            if ok and rate_per_s is not None:
                tokens, last = min(burst, tokens + (now - last) * rate_per_s), now
                ok = tokens >= 1.0
                tokens -= 1.0 if ok else 0.0
            pending[i] = (ok, k)
            heapq.heappush(events, (now + (0.0 if down else d(i, k)), 0, (0.0, 0.0, i), k))
    return out


def _check_trace(trace, concurrency):
    """At most ``concurrency`` attempts at once, none before it is due, and none waiting while a slot is free."""
    starts = sorted((start, 1) for _, _, _, start, _, _ in trace)
    ends = sorted((end, 0) for _, _, _, _, end, _ in trace)
    busy = peak = 0
    for _, kind in sorted(starts + ends):                 # ends first at one moment
        busy += 1 if kind else -1
        peak = max(peak, busy)
    assert peak <= concurrency, f"{peak} attempts at once"
    end_times = {end for *_, end, _ in trace}
    for _, _, due, start, _, _ in trace:
        assert start >= due
        assert start == due or start in end_times, "an attempt waited although no slot was taken"
    return peak


def _check(case: dict, arrivals) -> dict:
    trace: list = []
    outcome, final, attempts = run(arrivals, **case, trace=trace)
    ref = _plain(arrivals, **case)
    assert outcome.tolist() == [r[0] for r in ref], "outcomes differ from the plain event loop"
    assert attempts.tolist() == [r[2] for r in ref], "attempt counts differ from the plain event loop"
    assert np.array_equal(final, np.array([r[1] for r in ref])), "final times differ from the plain event loop"
    peak = _check_trace(trace, case["concurrency"])
    waited = sum(start > due for _, _, due, start, _, _ in trace)
    outage = sum(case["outage_start_s"] <= start < case["outage_end_s"] for _, _, _, start, _, _ in trace)
    throttled = sum(not ok for *_, ok in trace) - outage
    return dict(delivered=int((outcome == DELIVERED).sum()), expired=int((outcome == EXPIRED).sum()),
                attempts=int(attempts.sum()), waited=waited, outage=outage, throttled=throttled, peak=peak)


def _hand_cases() -> None:
    # C = 1, 10 s per attempt, 360 messages due together at the end of an outage: one every 10 s.
    s1 = 7200.0
    outcome, final, attempts = run(np.full(360, s1), concurrency=1, interval_s=600.0, expiry_s=86400.0,
                                   outage_start_s=3600.0, outage_end_s=s1, median_s=10.0, sigma=0.0)
    assert (outcome == DELIVERED).all() and (attempts == 1).all()
    assert final.tolist() == [s1 + 10.0 * (k + 1) for k in range(360)] and final.max() == s1 + 3600.0
    # the same 360 arriving one second into a 2 h outage: the first attempts and every retry fail until 2 h
    outcome, final, attempts = run(np.full(360, 1.0), concurrency=1, interval_s=600.0, expiry_s=86400.0,
                                   outage_start_s=0.0, outage_end_s=s1, median_s=10.0, sigma=0.0)
    assert (outcome == DELIVERED).all() and final.max() > s1 + 3600.0 - 1e-9
    # a bucket of 2 refilled at 1/h, retries every 30 min, 5 messages at t = 0, 1 ms per attempt:
    # delivered at (about) 0, 0, 1 h, 2 h and 3 h after 1, 1, 3, 5 and 7 attempts
    outcome, final, attempts = run(np.zeros(5), concurrency=20, interval_s=1800.0, expiry_s=86400.0,
                                   rate_per_s=1 / 3600, burst=2, median_s=1e-3, sigma=0.0)
    assert (outcome == DELIVERED).all() and attempts.tolist() == [1, 1, 3, 5, 7]
    assert np.allclose(final, [0, 0, 3600, 7200, 10800], atol=0.01), final
    # the same with a 2 h 30 min expiry: message 4 fails its attempt at (about) 2 h 30 min and expires
    outcome, final, attempts = run(np.zeros(5), concurrency=20, interval_s=1800.0, expiry_s=9000.0,
                                   rate_per_s=1 / 3600, burst=2, median_s=1e-3, sigma=0.0)
    assert outcome.tolist() == [DELIVERED, DELIVERED, DELIVERED, DELIVERED, EXPIRED], outcome
    # lognormal draws: median and spread as asked
    d = durations(1, 2.0, 0.5)
    z = np.log([d(i, k) / 2.0 for i in range(20000) for k in (1, 2)]) / 0.5
    assert abs(np.median(z)) < 0.03 and abs(z.std() - 1.0) < 0.02
    print("hand cases: 360 messages at C = 1, 10 s each: last delivery exactly 3600 s after the outage; "
          "bucket B = 2, 1/h: delivered at 0, 0, 1 h, 2 h, 3 h after 1, 1, 3, 5, 7 attempts; lognormal draws")


def _main() -> None:
    import statistics
    import sys
    import time
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from engines import capacity_arrivals, capacity_case

    _hand_cases()
    for n in (2000, 10000):
        stats = _check(capacity_case(n), capacity_arrivals(n))
        print(f"plain event loop, {n:,} messages of the benchmark scenario: identical per message; {stats}")
    # exact ties: 10 s attempts, retries 10 min after, arrivals on whole minutes (several per minute), so
    # ends, due times and arrivals coincide; 3 slots, an outage, a bucket and a 2 h expiry
    ties = dict(concurrency=3, interval_s=600.0, expiry_s=7200.0, outage_start_s=1200.0, outage_end_s=4800.0,
                rate_per_s=1 / 30, burst=5, median_s=10.0, sigma=0.0, seed=0)
    stats = _check(ties, np.sort(np.random.default_rng(0).integers(0, 120, 600) * 60.0))
    print(f"plain event loop, 600 messages with exact ties: identical per message; {stats}")
    for n in (10**4, 10**5):
        case, times = capacity_case(n), []
        for _ in range(3):
            start = time.perf_counter()
            outcome, final, attempts = run(capacity_arrivals(n), **case)
            times.append(time.perf_counter() - start)
        print(f"{n:>10,} messages: {n / statistics.median(times):>10,.0f} messages/s (median of 3)   "
              f"delivered {(outcome == DELIVERED).sum():,}, expired {(outcome == EXPIRED).sum():,}   "
              f"{attempts.sum() / n:.2f} attempts/message, at most {attempts.max()}", flush=True)


if __name__ == "__main__":
    _main()

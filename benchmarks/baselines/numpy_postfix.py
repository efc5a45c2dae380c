"""Yardstick for the fast engine's speed: Postfix's retry arithmetic as a plain, attempt-synchronous NumPy loop.

This is a yardstick, not a model. It does only what one Postfix qmgr (whole-second clocks) does to
messages bound for one domain with fixed outage windows, and only as much as it takes to get each
message's outcome, final time and attempt count:

* the first attempt is at the arrival; an attempt at ``t`` fails iff an outage window [start, end)
  holds ``t`` (refused connections and 451 replies alike, both instantaneous), else it delivers at ``t``;
* after a failure at ``t``, with ``a = floor(arrival)`` and ``n = floor(t)``: the message expires at ``t``
  if ``n - a >= maximal_queue_lifetime``; otherwise it is due at ``n + clamp(n - a, minimal_backoff_time,
  maximal_backoff_time)`` and retried at the first queue scan ``phase + k * queue_run_delay`` at or after
  ``due - 1`` that is strictly later than ``t``;
* with a horizon, a message whose next attempt would be at or after it stays queued, and messages that
  arrive at or after it are never attempted.

Left out, on purpose: the attempt table, statuses and reply texts, delay warnings, decisive ages, several
recipients, random outages, timeouts (attempts that take time), jitter, host-level state (Postfix's dead
destination), every other preset and every give-up rule but Postfix's, and input checking beyond what
:func:`from_scenario` asserts. All messages advance in lock step: iteration k makes every pending message's
k-th attempt, and the arrays of pending messages are compressed with boolean masks after each step.

How it is used: a benchmark builds the Postfix scenario of benchmarks/engines.py (without host state),
times ``run(**from_scenario(sc))`` and the fast engine in one process, reports "fast engine time / this
loop's time" (target <= 1.5), and checks that both give the same outcomes, final times and attempt counts.
Note the outcome codes here are 0 delivered, 1 expired, 2 queued (``mtasim.Outcome.QUEUED`` is 3).

    .venv/bin/python benchmarks/baselines/numpy_postfix.py     # self-check and messages/s
"""

from __future__ import annotations

import numpy as np

__all__ = ["DELIVERED", "EXPIRED", "QUEUED", "run", "from_scenario"]

DELIVERED, EXPIRED, QUEUED = 0, 1, 2
_EPS = 1e-9


def run(arrivals, starts, ends, connection, lifetime_s, min_backoff_s, max_backoff_s, period_s, phase_s,
        horizon_s=None):
    """(outcome int8, final_s float64 with NaN when queued, attempts int64), one entry per message.

    ``arrivals`` sorted ascending; ``starts``/``ends`` the sorted, disjoint half-open outage windows;
    ``connection`` (refused vs 451) is accepted for completeness but does not change Postfix's arithmetic.
    """
    arrivals = np.asarray(arrivals, dtype=np.float64)
    starts = np.asarray(starts, dtype=np.float64)
    ends_after = np.concatenate(([-np.inf], np.asarray(ends, dtype=np.float64)))  # [j]: end of window j-1
    lifetime, low, high = float(lifetime_s), float(min_backoff_s), float(max_backoff_s)
    period, phase = float(period_s), float(phase_s)
    stop = np.inf if horizon_s is None else float(horizon_s)

    m = len(arrivals)
    outcome = np.full(m, QUEUED, dtype=np.int8)
    final = np.full(m, np.nan)
    attempts = np.zeros(m, dtype=np.int64)

    live = int(np.searchsorted(arrivals, stop, side="left"))   # arrivals at or after the horizon: untouched
    idx = np.arange(live)
    t = arrivals[:live].copy()
    a = np.floor(t)
    k = 0
    while idx.size:
        k += 1                                   # every pending message makes its k-th attempt at t
        fail = t < ends_after[np.searchsorted(starts, t, side="right")]
        ok = ~fail
        done = idx[ok]
        outcome[done] = DELIVERED
        final[done] = t[ok]
        attempts[done] = k
        idx, t, a = idx[fail], t[fail], a[fail]

        n = np.floor(t)
        age = n - a
        gone = age >= lifetime
        if gone.any():
            done = idx[gone]
            outcome[done] = EXPIRED
            final[done] = t[gone]
            attempts[done] = k
            keep = ~gone
            idx, t, a, n, age = idx[keep], t[keep], a[keep], n[keep], age[keep]

        due = n + np.minimum(np.maximum(age, low), high)
        scan = phase + np.ceil((due - 1.0 - phase) / period - _EPS) * period
        late = scan <= t + _EPS
        if late.any():
            scan[late] = phase + (np.floor((t[late] - phase) / period + _EPS) + 1) * period
        if horizon_s is not None:
            held = scan >= stop
            if held.any():
                attempts[idx[held]] = k            # stays queued: outcome QUEUED, final NaN already
                keep = ~held
                idx, a, scan = idx[keep], a[keep], scan[keep]
        t = scan
    return outcome, final, attempts


def from_scenario(scenario) -> dict:
    """``run``'s keyword arguments for a Postfix-preset scenario with one recipient and fixed outages."""
    sender = scenario.sender
    assert sender.preset == "postfix" and getattr(sender, "host_policy", None) is None, \
        "needs the postfix preset without host state"
    assert sender.queue_run_s > 0 and getattr(sender, "queue_run_tolerance_s", 1.0) == 1.0
    assert scenario.start.microsecond == 0, "needs a start on a whole second"
    assert len(scenario.recipients) == 1, "needs exactly one recipient"
    recipient = scenario.recipients[0]
    assert recipient.random_outage is None and recipient.domains == 1, "needs fixed outages"
    outages = recipient.outages
    assert all(o.reply.duration_s == 0 for o in outages), "needs instantaneous failures"
    return dict(
        arrivals=scenario.workload.arrivals(scenario.seed),
        starts=np.array([o.start_s for o in outages], dtype=np.float64),
        ends=np.array([o.end_s for o in outages], dtype=np.float64),
        connection=np.array([o.reply.result.is_connection_failure for o in outages], dtype=bool),
        lifetime_s=sender.expiry_s,
        min_backoff_s=sender.schedule.min_s,
        max_backoff_s=sender.schedule.max_s,
        period_s=sender.queue_run_s,
        phase_s=sender.queue_run_phase_s,
        horizon_s=scenario.horizon_s,
    )


# -- self-check -------------------------------------------------------------------------------------
def _scenario(messages: int):
    """The benchmark scenario (benchmarks/engines.py), without host-level state."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from engines import scenario

    return scenario(messages)


def _scalar(arrivals, starts, ends, connection, lifetime_s, min_backoff_s, max_backoff_s, period_s, phase_s,
            horizon_s=None):
    """The same rules, one message at a time in plain Python (independent of ``run``)."""
    import bisect
    import math

    stop = math.inf if horizon_s is None else horizon_s
    starts, ends = [float(x) for x in starts], [float(x) for x in ends]
    out = []
    for arrival in (float(x) for x in arrivals):
        if arrival >= stop:
            out.append((QUEUED, math.nan, 0))
            continue
        t, count = arrival, 0
        while True:
            count += 1
            j = bisect.bisect_right(starts, t) - 1
            if not (j >= 0 and t < ends[j]):
                out.append((DELIVERED, t, count))
                break
            age = math.floor(t) - math.floor(arrival)
            if age >= lifetime_s:
                out.append((EXPIRED, t, count))
                break
            due = math.floor(t) + min(max(age, min_backoff_s), max_backoff_s)
            k = math.ceil((due - 1 - phase_s) / period_s - 1e-9)
            s = phase_s + k * period_s
            if s <= t + 1e-9:
                s = phase_s + (math.floor((t - phase_s) / period_s + 1e-9) + 1) * period_s
            if s >= stop:
                out.append((QUEUED, math.nan, count))
                break
            t = s
    return out


def _check(inputs: dict, first: int) -> None:
    """``run`` against ``_scalar`` on the first ``first`` messages and on ``first`` messages spread over the
    whole arrival span (every outage window): as given, with a 40 h horizon (plus arrivals at and after
    it), and with a 30 min lifetime (the benchmark scenario expires nothing)."""
    stride = max(1, len(inputs["arrivals"]) // first)
    for arrivals in (inputs["arrivals"][:first], inputs["arrivals"][::stride][:first]):
        for horizon, lifetime in ((inputs["horizon_s"], inputs["lifetime_s"]), (40 * 3600.0, inputs["lifetime_s"]),
                                  (inputs["horizon_s"], 1800.0)):
            sub = dict(inputs, arrivals=arrivals, horizon_s=horizon, lifetime_s=lifetime)
            if horizon is not None:
                sub["arrivals"] = np.sort(np.concatenate((arrivals, [horizon, horizon + 5.5])))
            outcome, final, attempts = run(**sub)
            ref = _scalar(**sub)
            assert outcome.tolist() == [r[0] for r in ref], "outcomes differ"
            assert attempts.tolist() == [r[2] for r in ref], "attempt counts differ"
            assert np.array_equal(final, np.array([r[1] for r in ref]), equal_nan=True), "final times differ"
            if horizon is not None:
                assert (outcome == QUEUED).any()
            if lifetime != inputs["lifetime_s"]:
                assert (outcome == EXPIRED).any()


def _main() -> None:
    import time

    for messages in (10**5, 10**6):
        inputs = from_scenario(_scenario(messages))
        if messages == 10**5:
            _check(inputs, 2000)
            print("scalar check: identical on the first 2,000 messages and on 2,000 spread over 3 days "
                  "(as given, with a 40 h horizon, with a 30 min lifetime)")
        times = []
        for _ in range(5):
            start = time.perf_counter()
            outcome, final, attempts = run(**inputs)
            times.append(time.perf_counter() - start)
        rate = messages / float(np.median(times))
        counts = np.bincount(outcome, minlength=3)
        print(f"{messages:>10,} messages: {rate:>12,.0f} messages/s (median of 5)   "
              f"delivered {counts[DELIVERED]:,}, expired {counts[EXPIRED]:,}, queued {counts[QUEUED]:,}   "
              f"{attempts.sum() / messages:.2f} attempts/message, at most {attempts.max()}")


if __name__ == "__main__":
    _main()

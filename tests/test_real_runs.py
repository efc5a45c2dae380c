"""The mechanics seen when Postfix 3.7.11 and Exim 4.96 were run against greylisting, throttling and slow
servers, with their timings compressed to seconds (docs/mta-retry-facts.md §12, "Against greylisting,
throttling and slow servers"). Each test sets up the run's situation and checks the rule the run showed;
the expected numbers are worked out by hand from the presets' rules in each docstring."""

from __future__ import annotations

import numpy as np

import mtasim
from mtasim import Outcome
from mtasim.recipients import AttemptResult

from helpers import run_every_engine

#: The compressed Postfix of the runs: 5 s deferred-queue scans, back-off 5..40 s, 300 s lifetime.
POSTFIX_FAST = {"preset": "postfix", "queue_run_delay": "5s", "minimal_backoff_time": "5s",
                "maximal_backoff_time": "40s", "maximal_queue_lifetime": "300s"}
#: The compressed Exim of the runs: F every 10 s for a minute, then G from 20 s by 1.5; -q5s.
EXIM_FAST = {"preset": "exim", "retry_rules": "* * F,60s,10s; G,300s,20s,1.5", "queue_interval": "5s",
             "delay_warning": "60s"}


def scenario(sender: dict, recipient: dict, messages: dict) -> mtasim.Scenario:
    return mtasim.scenario_from_dict({"name": "real run", "seed": 1, "sender": sender, "messages": messages,
                                      "recipients": [{"domain": "lab.example", **recipient}]}, "run.yaml")


GREYLIST_8S = {"greylist": {"delay": "8s", "window": "1h"}}
TEN_ARRIVALS = {"count": 10, "arrival": {"kind": "times", "times": list(range(10))}}


def test_postfix_retries_a_greylisted_message_too_early_so_most_need_a_third_attempt():
    """A message arriving at a s is retried at the first 5 s scan at or after a + 5 - 1 (the wait is its
    age clamped to 5 s, and qmgr takes a file up to one second early). That retry passes an 8 s greylist
    only if it comes at least 8 s after the first attempt: for a = 2 (scan 10) and a = 7 (scan 15). The
    others are deferred again and pass at the third attempt."""
    r = run_every_engine(scenario(POSTFIX_FAST, GREYLIST_8S, TEN_ARRIVALS))
    assert (r.messages.outcome == Outcome.DELIVERED).all()
    scans = [5 * int(np.ceil((a + 4) / 5)) for a in range(10)]
    assert [r.attempts.for_message(i)[1] for i in range(10)] == scans
    assert r.messages.attempts.tolist() == [2 if scan - a >= 8 else 3 for a, scan in enumerate(scans)]
    assert (r.messages.attempts == 3).sum() == 8


def test_exims_10s_f_interval_passes_the_same_greylist_at_the_second_attempt():
    r = run_every_engine(scenario(EXIM_FAST, GREYLIST_8S, TEN_ARRIVALS))
    assert (r.messages.attempts == 2).all()
    assert all(r.attempts.for_message(i)[1] - i >= 10 for i in range(10))


def test_postfix_drains_a_slow_server_at_concurrency_over_transaction_time():
    """20 messages at once, a server taking 1 s per message, a destination concurrency of 2: two reused
    connections deliver two messages a second, the last at 10 s."""
    r = run_every_engine(scenario({**POSTFIX_FAST, "default_destination_concurrency_limit": 2},
                                  {"transaction_time": "1s"}, {"count": 20, "arrival": {"kind": "at", "time": 0}}))
    assert np.allclose(np.sort(r.messages.final_s), np.repeat(np.arange(1.0, 11.0), 2))


#: The server refuses connections until 120 s, then throttles: a bucket of 5, one token per 5 s, answering
#: 421 and closing the connection.
THROTTLED = {"outages": [{"start": 0, "end": "120s", "failure": "refused"}],
             "rate_limit": {"rate": "1/5s", "burst": 5}}
QUEUED = {"count": 60, "arrival": {"kind": "uniform", "start": 0, "end": "60s"}}


def _held_back_by_421(r) -> list[float]:
    a = r.attempts
    return [t for t, k, res in zip(a.time_s, a.reply, a.result)
            if res == AttemptResult.SUSPENDED and a.replies[k].startswith("delivery temporarily suspended: 421")]


def test_postfix_drains_a_throttled_server_in_rounds_and_messages_expire_while_it_is_up():
    """When the server comes back at 120 s, the first attempts take the bucket's 5 tokens; the 421s that
    follow close the session and mark the destination dead, so the rest of the queue is held back
    ("delivery temporarily suspended: 421 ...") until it is retried: the drain goes in rounds of what the
    bucket refilled, and the oldest messages reach their 300 s lifetime with the server up."""
    r = run_every_engine(scenario(POSTFIX_FAST, THROTTLED, QUEUED))
    m = r.messages
    assert np.count_nonzero(m.final_s[m.outcome == Outcome.DELIVERED] == 120.0) == 5
    held = _held_back_by_421(r)
    assert held and min(held) > 120.0
    expired = m.outcome == Outcome.EXPIRED
    assert expired.any() and (m.final_s[expired] > 120.0).all()
    assert m.count(Outcome.DELIVERED) + m.count(Outcome.EXPIRED) == 60


def test_exim_has_no_destination_wide_dead_state_for_a_421():
    """The same throttle under Exim: every message of a queue run opens its own connection and gets the
    421 itself; no pass is held back on account of the 421."""
    r = run_every_engine(scenario(EXIM_FAST, THROTTLED, QUEUED))
    a = r.attempts
    throttled = [t for t, k in zip(a.time_s, a.reply) if a.replies[k].startswith("421")]
    assert len(throttled) > 60 and min(throttled) >= 120.0
    assert _held_back_by_421(r) == []


def test_exims_connections_to_a_slow_server_grow_by_one_per_queue_run():
    """100 messages deferred together (451 until 60 s, retried every 10 s on the F rule) are all due at the
    60 s queue run, to a server taking 1 s per message: that run's runner delivers one a second, each later
    -q5s run adds a runner and a connection up to queue_run_max 5, so 5, 10, 15, 20, 25 and 25 messages
    arrive in the 5-second spans after 60 s, the last at 90 s."""
    r = run_every_engine(scenario(EXIM_FAST, {"transaction_time": "1s",
                                              "outages": [{"start": 0, "end": "60s", "failure": "451 4.3.0 down"}]},
                                  {"count": 100, "arrival": {"kind": "at", "time": 0}}))
    after = r.messages.final_s - 60.0
    spans = np.bincount(np.ceil(after / 5.0).astype(int) - 1)
    assert spans.tolist() == [5, 10, 15, 20, 25, 25]
    assert after.max() == 30.0

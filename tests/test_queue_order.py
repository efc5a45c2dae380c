"""Known answers for the order of one moment's attempts (mtasim.queue_order, docs/queue-order-and-clocks.md).

Order only shows where host-level state couples the messages to one destination (mtasim.hosts): of the
messages due at one queue run to a refusing host, the first in the preset's queue order connects and is
refused, the state then holds the others back without a connection (result ``suspended``). Each test
below works out by hand which message gets the connection at every run, from the documented rules, and
asserts exactly that; the mutation tests show that perturbing the order key breaks those answers.

Every helper returns :func:`queue_runs`: ``{time: (ids refused, ids suspended)}``, each id tuple sorted.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from conftest import scenario

import mtasim
import mtasim.queue_order
from mtasim.recipients import AttemptResult
from mtasim.rng import Purpose, stream_key, uniform_array

ENGINES = ["des", "reference"]
REFUSING = [{"start": 0, "end": "1d", "failure": "refused"}]


def queue_runs(result) -> dict[float, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Per attempt time: (ids that connected and were refused, ids held back without a connection)."""
    a = result.attempts
    runs: dict[float, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for i, t, r in zip(a.message_id.tolist(), a.time_s.tolist(), a.result.tolist()):
        assert r in (AttemptResult.REFUSED, AttemptResult.SUSPENDED), f"message {i} at {t}: result {r}"
        runs[t][r == AttemptResult.SUSPENDED].append(i)
    return {t: (tuple(sorted(c)), tuple(sorted(s))) for t, (c, s) in sorted(runs.items())}


def run(sender: dict, times: list, engine: str = "des", seed: int = 1):
    sc = scenario(sender, REFUSING, {"arrival": {"kind": "times", "times": times}}, seed=seed)
    result = mtasim.simulate(sc, engine=engine, attempts=True)
    assert result.engine == engine
    return result


# ------------------------------------------------------------------------------------------------
# 1. Sendmail: fewest tries first
# ------------------------------------------------------------------------------------------------
#: Sendmail without HostStatusDirectory: a refused host is cached for the rest of one queue run only.
SENDMAIL = {"preset": "sendmail", "HostStatusDirectory": "", "Timeout.queuereturn": "1h", "Timeout.queuewarn": 0}
#: Messages A (id 0) at 1 min and B (id 1) at 10 min, as in the issue.
ISSUE_ARRIVALS = ["1m", "10m"]

#: QueueInterval 7m, MinQueueAge 0: runs at 420 k s, every job is retried at the next run.
#:   A: 60 (alone, tries 0 -> refused), 420 (alone: refused); B: 600 (its arrival, alone: refused).
#:   840: A has 2 tries, B 1 -> B first: refused, host cached for the run, A suspended.
#:   Every pass (suspended too) is a try, so at each later run A has one try more than B: B connects,
#:   A is skipped, through 3780. Timeout.queuereturn 1h bounces A at its first pass at age >= 3600
#:   (3780 = 60 + 3720) and B at 4200 (= 600 + 3600), when B is alone.
SENDMAIL_7M = {**SENDMAIL, "QueueInterval": "7m"}
SENDMAIL_7M_RUNS = {60.0: ((0,), ()), 420.0: ((0,), ()), 600.0: ((1,), ()),
                    **{420.0 * k: ((1,), (0,)) for k in range(2, 10)},          # 840 .. 3780
                    4200.0: ((1,), ())}

#: QueueInterval 4m, MinQueueAge 6m: a job is retried at the first run at least 6 min after its last
#: try (runs at 240 k s; due = last + 360, the first run >= due, strictly after the try).
#:   A: 60 -> due 420 -> run 480 (alone: refused) -> due 840 -> run 960.
#:   B: 600 (arrival: refused) -> due 960 -> run 960: both due in one run for the first time.
#:   960: A 2 tries, B 1 -> B refused, A suspended; both due +360 -> the next run 480 s later, so the
#:   same at 1440, 1920, ..., 3840. A bounces at 3840 (age 3780 >= 3600), B at 4320 (age 3720) alone.
SENDMAIL_MQA = {**SENDMAIL, "QueueInterval": "4m", "MinQueueAge": "6m"}
SENDMAIL_MQA_RUNS = {60.0: ((0,), ()), 480.0: ((0,), ()), 600.0: ((1,), ()),
                     **{480.0 * k: ((1,), (0,)) for k in range(2, 9)},          # 960 .. 3840
                     4320.0: ((1,), ())}

SENDMAIL_CASES = {"7m": (SENDMAIL_7M, SENDMAIL_7M_RUNS), "4m-MinQueueAge-6m": (SENDMAIL_MQA, SENDMAIL_MQA_RUNS)}


def sendmail_runs(case: str, engine: str = "des"):
    sender, _ = SENDMAIL_CASES[case]
    return queue_runs(run(sender, ISSUE_ARRIVALS, engine))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", sorted(SENDMAIL_CASES))
def test_sendmail_fewest_tries_gives_the_newer_message_the_connection(case, engine):
    """The issue's example: A (1 min) and B (10 min) to a host refusing throughout, Sendmail's per-run
    host-status cache. Each queue run sorts by priority, every try adds RetryFactor, so the message with
    fewer tries goes first: once both are due in one run, B (newer, fewer tries) connects and is refused
    in every run and A, which keeps one try ahead of it, is skipped in every run without a connection
    (see SENDMAIL_7M_RUNS and SENDMAIL_MQA_RUNS for the hand computation, run by run)."""
    assert sendmail_runs(case, engine) == SENDMAIL_CASES[case][1]


# ------------------------------------------------------------------------------------------------
# 2. Postfix (and the other `due` presets): due time, then arrival, then id
# ------------------------------------------------------------------------------------------------
#: Scans every 100 s; wait = clamp(age, 10 s, 1000 s); the first failure at window 1 adds 1/1 to the
#: failed cohort >= limit 1: the destination is dead for minimal_backoff_time (10 s) after every refusal,
#: so of the messages of one scan exactly the first connects. Apart from the 95.7 s arrival (meant to be
#: held), every scan and arrival below comes >= 10 s after the last refusal and meets a live destination.
POSTFIX = {"preset": "postfix", "queue_run_delay": "100s", "minimal_backoff_time": "10s",
           "maximal_backoff_time": "1000s", "maximal_queue_lifetime": "450s",
           "default_destination_concurrency_failed_cohort_limit": 1, "initial_destination_concurrency": 1}

#: Due time decides (arrivals 0, 120, 160 s: ids 0, 1, 2; a scan takes what is due by scan + 1 s):
#:   id0: 0 (age 0, wait 10, due 10) -> scan 100 (age 100: due 200) -> scan 200.
#:   id1: 120 (dead since 100 only until 110: refused; due 130) -> scan 200.
#:   id2: 160 (refused; due 170) -> scan 200.
#:   200: dues 200, 130, 170 -> id1 connects (neither the oldest nor the newest), ids 0, 2 suspended.
#:        Next: id0 age 200 -> due 400 -> 400; id1 age 80 -> due 280 -> 300; id2 age 40 -> due 240 -> 300.
#:   300: dues 280 (id1), 240 (id2) -> id2 connects, id1 suspended. id1 age 180 -> due 480 -> 500;
#:        id2 age 140 -> due 440 -> 500.
#:   400: id0 alone (age 400 < 450: due 800 -> 800).
#:   500: dues 480 (id1), 440 (id2) -> id2 connects. id1 age 380 -> due 880 -> 900; id2 age 340 -> due
#:        840 -> 900.
#:   800: id0 alone, age 800 >= 450: expires after this pass.
#:   900: dues 880, 840 -> id2 connects, id1 suspended; both past 450 s: expire.
DUE_TIMES = [0, 120, 160]
DUE_RUNS = {0.0: ((0,), ()), 100.0: ((0,), ()), 120.0: ((1,), ()), 160.0: ((2,), ()), 200.0: ((1,), (0, 2)),
            300.0: ((2,), (1,)), 400.0: ((0,), ()), 500.0: ((2,), (1,)), 800.0: ((0,), ()), 900.0: ((2,), (1,))}

#: The two tie cases use a 250 s lifetime, so that they end early: Postfix gives up after a failed pass
#: whose whole-second age is >= maximal_queue_lifetime.
TIE_LIFETIME = "250s"

#: Equal due times, arrival decides (whole-second clock): arrivals 95.2 and 95.7 s both read 95 on
#: Postfix's clock, so both are due 95 + 10 = 105 -> scan 200 (the first >= 104 after the failure).
#:   95.2: id0 refused, dead until 105.2; 95.7: id1 suspended (still due 105).
#:   200: same due, id0 arrived first -> id0 connects, id1 suspended; both age 105 -> due 305 -> scan 400.
#:   400: the same; both age 305 >= 250: expire.
ARRIVAL_TIMES = [95.2, 95.7]
ARRIVAL_RUNS = {95.2: ((0,), ()), 95.7: ((), (1,)), 200.0: ((0,), (1,)), 400.0: ((0,), (1,))}

#: Equal due times and arrivals, the id decides: three messages at 30 s.
#:   30: id0 connects (the lowest id), ids 1, 2 suspended; all due 40 -> scan 100.
#:   100: id0 connects; all age 70 -> due 170 -> scan 200. 200: the same; age 170 -> due 370 -> scan 400.
#:   400: the same; age 370 >= 250: all expire.
ID_TIMES = [30, 30, 30]
ID_RUNS = {30.0: ((0,), (1, 2)), 100.0: ((0,), (1, 2)), 200.0: ((0,), (1, 2)), 400.0: ((0,), (1, 2))}

POSTFIX_CASES = {
    "due": (DUE_TIMES, {}, DUE_RUNS),
    "arrival": (ARRIVAL_TIMES, {"maximal_queue_lifetime": TIE_LIFETIME}, ARRIVAL_RUNS),
    "id": (ID_TIMES, {"maximal_queue_lifetime": TIE_LIFETIME}, ID_RUNS),
}


def postfix_case_runs(case: str, engine: str = "des"):
    times, params, _ = POSTFIX_CASES[case]
    return queue_runs(run({**POSTFIX, **params}, times, engine))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", sorted(POSTFIX_CASES))
def test_postfix_earliest_due_then_oldest_then_lowest_id_connects(case, engine):
    """Postfix's dead destination after one refusal (cohort limit 1, initial concurrency 1): of the
    messages due at one scan the first by (due time, arrival, id) connects and the rest are "delivery
    temporarily suspended". ``due``: at the 200 s scan the message due earliest (id 1, due 130 s) connects,
    not the oldest (id 0, due 200 s) nor the newest; at 300, 500, 900 s the newer id 2 (due earlier) wins
    over id 1. ``arrival``: equal due times (whole-second clock), the older wins. ``id``: equal due and
    arrival, the lowest id wins. (Ids follow arrival order, so arrival and id differ only on equal
    arrivals.) The hand computation is in the comments at DUE_RUNS, ARRIVAL_RUNS and ID_RUNS."""
    assert postfix_case_runs(case, engine) == POSTFIX_CASES[case][2]


def test_postfix_suspended_passes_say_delivery_temporarily_suspended():
    """The held-back passes of the ``due`` case are the dead destination's, not connection attempts."""
    a = run(POSTFIX, DUE_TIMES).attempts
    held = [a.replies[k] for k, r in zip(a.reply, a.result) if r == AttemptResult.SUSPENDED]
    assert len(held) == 5 and all(h.startswith("delivery temporarily suspended: ") for h in held)


# ------------------------------------------------------------------------------------------------
# 3. Exim: random per (message, attempt), or arrival with queue_run_in_order
# ------------------------------------------------------------------------------------------------
#: The §12 compressed rules. Arrivals 0, 1, 2, 3 s: id 0 is refused at 0 and opens the host's retry
#: record (next try 10 s); ids 1..3 meet "retry time not reached" at arrival and wait for the record's
#: next try, so from 10 s on all four are due at every run the record allows: F,60s,10s gives 10 .. 70,
#: then G,300s,20s,1.5: 90, 120, 165, 232.5 -> the 5 s run at 235; then the record is past its cutoff and
#: every message (age >= 301 s) gets its forced last attempt at 305 and fails (EXIM_ALONE of test_hosts).
EXIM = {"preset": "exim", "retry_rules": "F,60s,10s; G,300s,20s,1.5", "queue_interval": "5s", "delay_warning": 0}
EXIM_TIMES = [0, 1, 2, 3]
EXIM_SHARED_RUNS = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 90.0, 120.0, 165.0, 235.0]


def exim_runs(seed: int, engine: str = "des", **params):
    return queue_runs(run({**EXIM, **params}, EXIM_TIMES, engine, seed=seed))


def exim_expected(owner_of_run) -> dict:
    """The known answer, given who connects at each shared run."""
    expected = {0.0: ((0,), ()), 1.0: ((), (1,)), 2.0: ((), (2,)), 3.0: ((), (3,))}
    for k, t in enumerate(EXIM_SHARED_RUNS, 1):
        owner = owner_of_run(k)
        expected[t] = ((owner,), tuple(i for i in range(4) if i != owner))
    expected[305.0] = ((0, 1, 2, 3), ())
    return expected


def exim_random_owner(seed: int, k: int) -> int:
    """Who connects at the k-th shared run: every message has made k passes, so this is its attempt k + 1;
    the documented key is one draw per (message, attempt) from the run's ORDER stream, smallest first."""
    ids = np.arange(4)
    keys = uniform_array(stream_key(seed, Purpose.ORDER), ids, np.full(4, k + 1))
    return int(np.lexsort([ids, keys])[0])


@pytest.mark.parametrize("engine", ENGINES)
def test_exim_random_order_is_the_seeded_key_and_reproducible(engine):
    """One seed: two runs give the same owners, and they are the ones the documented key predicts (one
    connection per shared run, the other three skipped); some other seed in 0..50 gives other owners."""
    first = exim_runs(1, engine)
    assert exim_runs(1, engine) == first
    assert first == exim_expected(lambda k: exim_random_owner(1, k))
    assert first != exim_expected(lambda k: 0), "seed 1 happens to give arrival order: pick another seed"
    others = [s for s in range(51) if s != 1 and exim_runs(s, engine) != first]
    assert others, "no seed in 0..50 changes which message gets the connection"
    s = others[0]
    assert exim_runs(s, engine) == exim_expected(lambda k: exim_random_owner(s, k))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exim_queue_run_in_order_gives_the_oldest_every_connection(engine, seed):
    """queue_run_in_order = 1: (arrival, id), so the oldest message (id 0) connects at every shared run
    and the others are always skipped, whatever the seed."""
    assert exim_runs(seed, engine, queue_run_in_order=1) == exim_expected(lambda k: 0)


# ------------------------------------------------------------------------------------------------
# 4. Mutations: a perturbed order key must break the known answers
# ------------------------------------------------------------------------------------------------
def test_reversed_fewest_tries_breaks_the_sendmail_answer(monkeypatch):
    """Most tries first (the reverse of Sendmail's priority): A, one try ahead, now takes every shared
    run's connection and B is skipped, so the known answer no longer holds."""
    assert sendmail_runs("7m") == SENDMAIL_7M_RUNS
    monkeypatch.setattr(mtasim.queue_order.FewestTries, "attempt_keys",
                        lambda self, due, arrival, failures, ids, key: [ids, arrival, -failures])
    mutated = sendmail_runs("7m")
    assert mutated != SENDMAIL_7M_RUNS
    assert all(mutated[420.0 * k] == ((0,), (1,)) for k in range(2, 10))


#: The order's first key is always replaced by the id (QueueOrder.keys), so a perturbation goes further up.
DUE_MUTATIONS = {
    "latest-due-first": ("due", lambda self, due, arrival, failures, ids, key: [ids, arrival, -due],
                         {200.0: ((0,), (1, 2))}),
    "newest-first-on-equal-due": ("arrival", lambda self, due, arrival, failures, ids, key: [ids, -arrival, due],
                                  {200.0: ((1,), (0,))}),
    "reversed-ids": ("id", lambda self, due, arrival, failures, ids, key: [ids, -ids, arrival, due],
                     {30.0: ((2,), (0, 1))}),
}


@pytest.mark.parametrize("mutation", sorted(DUE_MUTATIONS))
def test_perturbed_due_order_breaks_the_postfix_answer(mutation, monkeypatch):
    """Each perturbation of (due, arrival, id) flips the scan where its key decides."""
    case, keys, flipped = DUE_MUTATIONS[mutation]
    expected = POSTFIX_CASES[case][2]
    assert postfix_case_runs(case) == expected
    monkeypatch.setattr(mtasim.queue_order.QueueOrder, "attempt_keys", keys)
    mutated = postfix_case_runs(case)
    assert mutated != expected
    assert {t: mutated[t] for t in flipped} == flipped

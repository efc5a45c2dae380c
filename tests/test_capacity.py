"""A queue with finite capacity: attempts that take time (a recipient's ``transaction_time``) and the
sender's connection slots per destination (``concurrency``; Postfix default_destination_concurrency_limit,
Exchange MaxPerDomainOutboundConnections). Known answers computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mtasim
import mtasim.engine.des as des
from mtasim.engine import EngineUnavailableError
from mtasim.recipients import AttemptResult
from mtasim.results import Outcome

from helpers import assert_same, refused_in_one_line, run_every_engine

HOUR = 3600.0


def scenario(sender: dict, recipient: dict, messages: dict, seed: int = 3):
    return mtasim.scenario_from_dict({"name": "capacity", "seed": seed, "sender": sender, "messages": messages,
                                      "recipients": [{"domain": "slow.example", **recipient}]}, "capacity.yaml")


#: 360 messages arrive during an outage of refused connections (instant: no slot held) that ends at 6 h,
#: exactly at a queue run, so all 360 are due at 6:00:00 together.
DRAIN = dict(recipient={"transaction_time": "10s", "outages": [{"start": 0, "end": "6h", "failure": "refused"}]},
             messages={"count": 360, "arrival": {"kind": "uniform", "start": 0, "end": "5h"}})


@pytest.mark.parametrize("slots, drain_s", [(1, 3600.0), (2, 1800.0), (4, 900.0)])
def test_the_drain_takes_queue_size_times_transaction_time_over_the_slots(slots, drain_s):
    sender = {"schedule": {"kind": "fixed", "interval": "5m"}, "queue_run": "10m", "expiry": "5d",
              "concurrency": slots}
    r = run_every_engine(scenario(sender, **DRAIN))
    m = r.messages
    assert (m.outcome == Outcome.DELIVERED).all()
    assert m.final_s.max() == pytest.approx(6 * HOUR + drain_s)
    ends = np.sort(m.final_s)
    # slots deliveries every 10 s: the k-th group of `slots` messages ends at 6 h + 10 s * k
    assert np.allclose(ends, 6 * HOUR + 10.0 * (np.arange(360) // slots + 1))
    # attempts start when a slot frees, never two on one slot at once
    last = r.attempts.attempt == np.repeat(m.attempts, m.attempts)
    starts = np.sort(r.attempts.time_s[last])
    assert np.allclose(starts, ends - 10.0)


def test_without_a_connection_limit_every_attempt_just_takes_its_time():
    sender = {"schedule": {"kind": "fixed", "interval": "5m"}, "queue_run": "10m", "expiry": "5d"}
    r = run_every_engine(scenario(sender, **DRAIN))                  # the fast engine runs it too
    assert np.allclose(r.messages.final_s, 6 * HOUR + 10.0)


def test_a_deferral_counts_from_the_end_of_its_transaction():
    # The server is up but greylists: the first attempt takes 30 s, the fixed 10 min wait starts after it.
    sender = {"schedule": {"kind": "fixed", "interval": "10m"}, "expiry": "5d"}
    r = run_every_engine(scenario(sender, {"transaction_time": "30s", "greylist": {"delay": "5m", "window": "1d"}},
                         {"count": 1, "arrival": {"kind": "at", "time": 0}}))
    assert np.allclose(r.attempts.for_message(0), [0, 630])
    assert r.messages.final_s[0] == pytest.approx(660)


def test_lognormal_transaction_times_have_the_right_median_and_mean():
    sender = {"schedule": {"kind": "fixed", "interval": "10m"}, "expiry": "1d"}
    r = run_every_engine(scenario(sender, {"transaction_time": {"kind": "lognormal", "median": "2s", "sigma": 0.5}},
                         {"count": 20000, "arrival": {"kind": "uniform", "start": 0, "end": "1d"}}))
    took = r.messages.final_s - r.messages.arrival_s
    assert np.median(took) == pytest.approx(2.0, rel=0.03)
    assert took.mean() == pytest.approx(2.0 * math.exp(0.125), rel=0.03)


def test_presets_bring_their_own_connection_limits():
    recipient, messages = DRAIN["recipient"], DRAIN["messages"]
    postfix = scenario({"preset": "postfix", "default_destination_concurrency_limit": 2}, recipient, messages)
    assert postfix.sender.concurrency == 2
    assert scenario({"preset": "postfix"}, recipient, messages).sender.concurrency == 20
    assert scenario({"preset": "exchange-server"}, recipient, messages).sender.concurrency == 20
    r = run_every_engine(postfix)
    assert (r.messages.outcome == Outcome.DELIVERED).all()
    # two slots, 10 s each: never more than two deliveries in any 10 s
    ends = np.sort(r.messages.final_s)
    assert (ends[2:] - ends[:-2] >= 10.0 - 1e-9).all()


def test_the_fast_engine_refuses_connection_limits_naming_them():
    sc = scenario({"schedule": {"kind": "fixed", "interval": "5m"}, "expiry": "1d", "concurrency": 3},
                  {"transaction_time": "1s"}, {"count": 5})
    with pytest.raises(EngineUnavailableError, match=r"connection limit \(3 per destination\).*"
                                                     r"recipients\[0\]\.transaction_time"):
        mtasim.simulate(sc, engine="fast")


@pytest.mark.parametrize("sender, recipient, expected", [
    ({"concurrency": 0}, {}, "sender.concurrency: expected a whole number >= 1"),
    ({"concurrency": 2.5}, {}, "sender.concurrency: expected a whole number"),
    ({}, {"transaction_time": "-3s"}, "recipients[0].transaction_time"),
    ({}, {"transaction_time": {"kind": "lognormal", "median": "2s"}}, "sigma"),
])
def test_bad_capacity_keys_give_one_line_and_exit_2(tmp_path, capsys, sender, recipient, expected):
    data = {"name": "bad", "sender": {"schedule": {"kind": "fixed", "interval": "5m"}, "expiry": "1d", **sender},
            "messages": {"count": 3}, "recipients": [{"domain": "r.example", **recipient}]}
    assert expected in refused_in_one_line(tmp_path, capsys, data)


@pytest.mark.parametrize("dist", [{"kind": "lognormal", "median": "2s", "sigma": 0.5}, "7s",
                                  {"kind": "uniform", "min": "1s", "max": "4s"}, {"kind": "exponential", "mean": "3s"},
                                  {"kind": "empirical", "values": ["1s", "5s", "9s"]}])
def test_one_attempts_transaction_time_is_the_vectorised_draw(dist):
    """The reference steps draw one attempt at a time with plain floats; the kernel draws arrays. Same bits."""
    from mtasim.engine.behaviour_table import TransactionTimes
    sc = scenario({"schedule": {"kind": "fixed", "interval": "5m"}, "expiry": "1d"},
                  {"transaction_time": dist}, {"count": 3})
    times = TransactionTimes(list(sc.recipients), seed=11)
    rng = np.random.default_rng(0)
    ids, attempts = rng.integers(0, 10**6, 300), rng.integers(1, 40, 300)
    reached = rng.random(300) < 0.7
    drawn = times.draw(np.zeros(300, dtype=np.int64), ids, attempts, reached)
    one = [times.one(0, int(i), int(a), bool(r)) for i, a, r in zip(ids, attempts, reached)]
    assert np.array_equal(drawn, np.array(one))
    assert (drawn[~reached] == 0).all() and (drawn[reached] > 0).all()


def test_outage_answers_take_no_transaction_time():
    """A server that is down answers at once (even with a 4xx); only attempts that reach it up take time."""
    sender = {"schedule": {"kind": "fixed", "interval": "10m"}, "expiry": "5d"}
    r = run_every_engine(scenario(sender, {"transaction_time": "30s",
                                  "outages": [{"start": 0, "end": "25m", "failure": "451 4.3.0 down"}]},
                         {"count": 1, "arrival": {"kind": "at", "time": 0}}))
    assert np.allclose(r.attempts.for_message(0), [0, 600, 1200, 1800])
    assert r.messages.final_s[0] == pytest.approx(1830)


# -- the DES's stretches against the reference's per-message steps ---------------------------------------
STRETCH_CASES = {
    "postfix, bucket": ({"preset": "postfix", "default_destination_concurrency_limit": 3},
                        {"rate_limit": {"rate": "30/h", "burst": 5},
                         "outages": [{"start": "1h", "end": "5h", "failure": "451 4.3.0 down"}]}),
    "exchange at-deadline": ({"preset": "exchange-server", "MessageExpirationTimeout": "04:00:00",
                              "MaxPerDomainOutboundConnections": 2},
                             {"outages": [{"start": "30m", "end": "3h", "failure": "451 4.3.0 down"}]}),
    "custom, timeouts hold slots": ({"schedule": {"kind": "exponential", "first": "5m", "factor": 2, "max": "1h"},
                                     "queue_run": "5m", "expiry": "6h", "concurrency": 2},
                                    {"connect_timeout": "90s",
                                     "outages": [{"start": "1h", "end": "2h", "failure": "timeout"}],
                                     "behaviour": "flaky"}),
    "full jitter (no known gap: per-message steps)": (
        {"schedule": {"kind": "exponential", "first": "5m", "factor": 2, "max": "1h", "jitter": "full"},
         "expiry": "6h", "concurrency": 2}, {"outages": [{"start": "1h", "end": "2h", "failure": "refused"}]}),
}


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("case", list(STRETCH_CASES))
def test_stretches_of_the_shortest_retry_gap_equal_the_per_message_steps(case, seed):
    """The DES runs a destination with connection slots in stretches no longer than the sender's shortest
    retry gap (engine.lines); the reference runs each message's steps one by one. Same results, message by
    message, with lines forming (slow transactions), tokens, timeouts and at-deadline give-ups."""
    sender, recipient = STRETCH_CASES[case]
    sc = scenario(sender, {"transaction_time": {"kind": "lognormal", "median": "40s", "sigma": 0.6}, **recipient},
                  {"count": 600, "arrival": {"kind": "uniform", "start": 0, "end": "8h"}}, seed=seed)
    expected = mtasim.simulate(sc, engine="reference", attempts=True)
    made = []

    class Counted(des.LineCalendar):
        def __init__(self, *args):
            made.append(self)
            super().__init__(*args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(des, "LineCalendar", Counted)
        got = mtasim.simulate(sc, engine="des", attempts=True)
    assert_same(expected, got)
    # stretches need a known shortest retry gap and no host state that a 421 or a refusal could change
    assert bool(made) == (case in ("exchange at-deadline", "custom, timeouts hold slots"))


# -- the recipient's connection limit (max_connections) -----------------------------------------------------
def _most_at_once(r) -> int:
    """The largest number of transactions under way at one moment (each lasts until its message's next
    event: here the delivery, whose final_s ends it)."""
    a, m = r.attempts, r.messages
    ok = np.array([reply.startswith("250") for reply in np.array(a.replies)[a.reply]])
    starts = a.time_s[ok]
    ends = m.final_s[a.message_id[ok]]
    events = sorted([(t, 1) for t in starts] + [(t, -1) for t in ends])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def test_a_server_limit_below_the_senders_concurrency_refuses_the_excess_at_the_greeting():
    """12 messages due together when a refusing outage ends at 6 h; the sender opens 5 connections, the
    server takes 4 (10 s each): 4 are delivered at 6:00:10, the other 8 get "421 4.7.0 Too many connections"
    at once (no transaction time) and retry at the next 10-minute queue run, where again 4 get in."""
    sender = {"schedule": {"kind": "fixed", "interval": "5m"}, "queue_run": "10m", "expiry": "5d", "concurrency": 5}
    recipient = {**DRAIN["recipient"], "max_connections": 4}
    r = run_every_engine(scenario(sender, recipient, {**DRAIN["messages"], "count": 12}))
    m, a = r.messages, r.attempts
    assert (m.outcome == Outcome.DELIVERED).all()
    assert np.allclose(np.sort(m.final_s) - 6 * HOUR, [10] * 4 + [610] * 4 + [1210] * 4)
    refused = np.array([a.replies[k] == "421 4.7.0 Too many connections" for k in a.reply])
    assert np.allclose(np.sort(a.time_s[refused]) - 6 * HOUR, [0] * 8 + [600] * 4)
    assert _most_at_once(r) == 4


def test_without_a_transaction_time_a_connection_limit_is_refused(tmp_path, capsys):
    data = {"name": "bad", "sender": {"schedule": {"kind": "fixed", "interval": "5m"}, "expiry": "1d"},
            "messages": {"count": 3}, "recipients": [{"domain": "r.example", "max_connections": 4}]}
    assert "recipients[0].max_connections: expected a transaction_time" in refused_in_one_line(tmp_path, capsys, data)


@pytest.mark.parametrize("value, expected", [
    (0, "recipients[0].max_connections: expected a whole number >= 1"),
    ({"connections": 4, "reply": "550 5.7.1 go away"}, "recipients[0].max_connections.reply: expected a 4xx reply"),
    ({"reply": "421 4.7.0 busy"}, "recipients[0].max_connections.connections"),
])
def test_bad_connection_limits_give_one_line(tmp_path, capsys, value, expected):
    data = {"name": "bad", "sender": {"schedule": {"kind": "fixed", "interval": "5m"}, "expiry": "1d"},
            "messages": {"count": 3},
            "recipients": [{"domain": "r.example", "transaction_time": "1s", "max_connections": value}]}
    assert expected in refused_in_one_line(tmp_path, capsys, data)


def test_the_fast_engine_refuses_a_server_connection_limit_naming_it():
    sc = scenario({"schedule": {"kind": "fixed", "interval": "5m"}, "expiry": "1d"},
                  {"transaction_time": "1s", "max_connections": 2}, {"count": 5})
    with pytest.raises(EngineUnavailableError, match=r"recipients\[0\]\.max_connections"):
        mtasim.simulate(sc, engine="fast")


# -- Postfix's concurrency window (qmgr_queue.c: initial_destination_concurrency and its feedback) -------------
def _delivered_per_round(r, length=10.0) -> list[int]:
    rounds = np.round(r.messages.final_s / length).astype(int)
    return np.bincount(rounds)[1:].tolist()


def test_postfix_starts_a_slow_destination_at_5_connections_and_adds_one_per_window_of_deliveries():
    """100 messages at once to a server that takes 10 s each: the window starts at
    initial_destination_concurrency 5 and grows by one when a window's worth of deliveries has come back
    (positive feedback 1/window each), so the rounds deliver 5, 6, 7, ... 14, then the last 5."""
    sc = scenario({"preset": "postfix"}, {"transaction_time": "10s"},
                  {"count": 100, "arrival": {"kind": "at", "time": 0}})
    r = run_every_engine(sc)
    assert _delivered_per_round(r) == [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 5]


def test_postfix_window_stops_at_the_destination_concurrency_limit():
    sc = scenario({"preset": "postfix", "default_destination_concurrency_limit": 7}, {"transaction_time": "10s"},
                  {"count": 60, "arrival": {"kind": "at", "time": 0}})
    assert _delivered_per_round(run_every_engine(sc)) == [5, 6, 7, 7, 7, 7, 7, 7, 7]


def test_postfix_settles_at_a_servers_connection_limit_without_marking_it_dead():
    """A server taking 4 sessions: Postfix's fifth session gets the 421, which shrinks the window (to 3,
    the overshoot guard) without reaching a failed cohort, because deliveries in between clear the count;
    the window grows back to 5 and the cycle repeats. No pass is ever held back, never more than 4
    transactions are under way, and every message is delivered."""
    sc = scenario({"preset": "postfix"}, {"transaction_time": "10s", "max_connections": 4},
                  {"count": 60, "arrival": {"kind": "at", "time": 0}})
    r = run_every_engine(sc)
    a = r.attempts
    assert (r.messages.outcome == Outcome.DELIVERED).all()
    assert not (a.result == AttemptResult.SUSPENDED).any()
    refused = sorted(t for t, k in zip(a.time_s, a.reply) if a.replies[k].startswith("421"))
    assert refused[:3] == [0.0, 20.0, 40.0]            # every other round opens a fifth session
    assert _most_at_once(r) == 4

"""Opening a connection takes time (a recipient's ``connection_setup``) and a sender may pass a connection that
finished with one message on to the next (mtasim.connection_reuse). Known answers worked by hand; the DES
and the reference engine agree message by message (the DES runs such destinations on the per-message steps)."""

from __future__ import annotations

import numpy as np
import pytest

import mtasim
from mtasim.engine import EngineUnavailableError, des_only_features
from mtasim.results import Outcome

from helpers import assert_same, refused_in_one_line

HOURLY = {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "5d"}
ONE_SECOND = {"transaction_time": {"kind": "fixed", "value": "1s"},
              "connection_setup": {"kind": "fixed", "value": "0.5s"}}


def scenario(sender, n, **recipient):
    return mtasim.scenario_from_dict({
        "name": "reuse", "seed": 5, "sender": sender,
        "messages": {"arrival": {"kind": "times", "times": ["0s"] * n}},
        "recipients": [{"domain": "slow.example", **ONE_SECOND, **recipient}]}, "reuse.yaml")


def run(sc):
    """On the DES and the reference engine, which agree; every message accounted for."""
    des, ref = (mtasim.simulate(sc, engine=e, attempts=True) for e in ("des", "reference"))
    assert_same(des, ref)
    m = des.messages
    assert sum(m.count(o) for o in Outcome) == len(m)
    return des


@pytest.mark.parametrize("reuse, last", [
    # two connections, each opened once (0.5 s) then carrying its 50 messages back to back: 0.5 + 50 x 1 s
    ({}, 50.5),
    # no reuse: every message opens its own connection, 50 x 1.5 s per slot
    ({"connection_reuse": False}, 75.0),
    # 10 messages per connection: each slot opens 5 connections, 50 x 1 s + 5 x 0.5 s
    ({"connection_reuse": {"messages": 10}}, 52.5),
])
def test_a_backlog_drains_faster_down_reused_connections(reuse, last):
    r = run(scenario({**HOURLY, "concurrency": 2, **reuse}, 100))
    assert r.messages.count(Outcome.DELIVERED) == 100
    assert r.messages.final_s.max() == pytest.approx(last)


POSTFIX_ONE = {"preset": "postfix", "default_destination_concurrency_limit": 1, "initial_destination_concurrency": 1,
               "smtp_connection_reuse_time_limit": "5s"}


@pytest.mark.parametrize("params, last", [
    # a connection opened at 0 carries messages ending at 1.5, 2.5, 3.5, 4.5 and 5.5 (at 4.5 it is 4.5 s old,
    # within the 5 s limit; at 5.5 it is expired and closes): 5 messages per 5.5 s, 20 in 22 s
    ({}, 22.0),
    # reused once at most (smtp_connection_reuse_count_limit 1: used twice): 1.5 + 1 s per pair, 10 pairs
    ({"smtp_connection_reuse_count_limit": 1}, 25.0),
    # no connection cache: 20 x 1.5 s
    ({"smtp_connection_cache_on_demand": "no"}, 30.0),
    ({"smtp_connection_cache_on_demand": False}, 30.0),
])
def test_postfix_reuses_a_connection_within_its_time_and_count_limits(params, last):
    r = run(scenario({**POSTFIX_ONE, **params}, 20))
    assert r.messages.count(Outcome.DELIVERED) == 20
    assert r.messages.final_s.max() == pytest.approx(last)


def test_exim_closes_a_connection_after_connection_max_messages():
    """One queue runner's connection carries 3 messages (1.5, 2.5, 3.5 s), then a new one opens: 12 messages in
    4 x 3.5 s."""
    r = run(scenario({"preset": "exim", "queue_run_max": 1, "connection_max_messages": 3}, 12))
    assert sorted(r.messages.final_s)[:6] == pytest.approx([1.5, 2.5, 3.5, 5.0, 6.0, 7.0])
    assert r.messages.final_s.max() == pytest.approx(14.0)


@pytest.mark.parametrize("after, starts", [
    # Postfix's rule: a deferred message's session is still good, so it goes to the next message
    ("answer", [0.0, 1.5, 2.5, 3.5]),
    # Exim's: only a delivery passes the connection on; every greylisted message opens its own
    ("delivery", [0.0, 1.5, 3.0, 4.5]),
])
def test_a_deferral_passes_the_connection_on_only_under_the_postfix_rule(after, starts):
    sc = scenario({**HOURLY, "concurrency": 1, "connection_reuse": {"after": after}}, 4,
                  greylist={"delay": "30m", "window": "4h"})
    r = run(sc)
    a = r.attempts
    first = np.sort(a.time_s[a.attempt == 1])
    assert first == pytest.approx(starts)


def test_a_421_that_closes_the_session_is_not_reused():
    """A flaky server that answers every attempt with a 421 closing the connection: no connection outlives its
    message, so each of the 3 first attempts pays the set-up: 0, 1.5, 3.0."""
    sc = scenario({**HOURLY, "concurrency": 1}, 3,
                  tempfail={"p": 1.0, "replies": "421 4.7.0 Try again later, closing connection"})
    a = run(sc).attempts
    assert np.sort(a.time_s[a.attempt == 1]) == pytest.approx([0.0, 1.5, 3.0])


def test_without_a_connection_limit_every_attempt_opens_its_own():
    r = run(scenario(HOURLY, 5))
    assert list(r.messages.final_s) == pytest.approx([1.5] * 5)


def test_connection_setup_needs_the_des():
    sc = scenario(HOURLY, 3)
    assert des_only_features(sc) == ["the connection set-up time of slow.example (recipients[0].connection_setup)"]
    with pytest.raises(EngineUnavailableError, match="connection_setup"):
        mtasim.simulate(sc, engine="fast")


def test_validate_describes_the_reuse_rule():
    sc = mtasim.scenario_from_dict({
        "name": "x", "sender": {"preset": "exim"}, "messages": {"arrival": {"kind": "times", "times": ["0s"]}},
        "recipients": [{"domain": "a.example", **ONE_SECOND}]}, "x.yaml")
    assert "connection reuse: passed on after a delivery, up to 500 messages" in sc.sender.describe()
    postfix = mtasim.PRESETS["postfix"].sender({"smtp_connection_reuse_count_limit": 4})
    assert "connection reuse: passed on after any answer, up to 5 messages or 5m after it opens" in postfix.describe()
    assert sc.recipients[0].describe().endswith("; opening a connection 0.5s")


@pytest.mark.parametrize("sender, recipient, expected", [
    ({**HOURLY, "connection_reuse": {"messages": 0}}, {}, "sender.connection_reuse.messages"),
    ({**HOURLY, "connection_reuse": {"after": "sometimes"}}, {}, "sender.connection_reuse.after"),
    ({**HOURLY, "connection_reuse": "often"}, {}, "sender.connection_reuse"),
    ({**HOURLY, "connection_reuse": {"time": "-5s"}}, {}, "sender.connection_reuse.time"),
    ({"preset": "postfix", "smtp_connection_cache_on_demand": "maybe"}, {},
     "sender.smtp_connection_cache_on_demand: expected yes or no"),
    ({"preset": "exim", "connection_max_messages": -1}, {}, "sender.connection_max_messages"),
    (HOURLY, {"connection_setup": {"kind": "fixed", "value": "-1s"}}, "recipients[0].connection_setup"),
])
def test_bad_connection_settings_give_one_line_and_exit_2(tmp_path, capsys, sender, recipient, expected):
    data = {"name": "bad", "sender": sender, "messages": {"arrival": {"kind": "times", "times": ["1h"]}},
            "recipients": [{"domain": "a.example", **recipient}]}
    assert expected in refused_in_one_line(tmp_path, capsys, data)

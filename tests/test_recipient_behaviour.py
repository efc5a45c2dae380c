"""Recipients that answer like real servers while up: greylisting, random deferrals, unknown users and
full mailboxes, token-bucket rate limits, and the named library (``behaviour: postgrey``).

Known answers are computed by hand from the documented semantics (README "Recipient behaviour")."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

import mtasim
from mtasim.cli import main
from mtasim.engine import EngineUnavailableError, des_only_features
from mtasim.recipients import AttemptResult
from mtasim.results import Outcome

from helpers import assert_same, refused_in_one_line, run_every_engine

MIN = 60.0
HOUR = 3600.0


def scenario(recipient: dict, *, sender: dict | None = None, messages: dict | None = None, seed: int = 5):
    data = {"name": "behaviour test", "seed": seed,
            "sender": sender or {"preset": "exchange-server"},
            "messages": messages or {"count": 50, "arrival": {"kind": "times",
                                                             "times": [f"{k * 7}m" for k in range(50)]}},
            "recipients": [{"domain": "r.example", **recipient}]}
    return mtasim.scenario_from_dict(data, "test.yaml")


def attempt_times(result, i):
    return result.attempts.for_message(i) - result.messages.arrival_s[i]


# -- greylisting ------------------------------------------------------------------------------------
def test_postgrey_and_exchange_server_deliver_at_the_second_attempt_fifteen_minutes_after_arrival():
    r = run_every_engine(scenario({"behaviour": "postgrey"}))
    m = r.messages
    assert (m.outcome == Outcome.DELIVERED).all()
    assert (m.attempts == 2).all()
    assert np.allclose(m.final_s - m.arrival_s, 15 * MIN)          # Exchange's 15 min message retry
    first = r.attempts.reply[r.attempts.attempt == 1]
    assert {r.attempts.replies[k] for k in first} == {
        "450 4.2.0 Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/r.example.html"}


def test_spamd_makes_a_mailgun_sender_need_its_third_attempt():
    # Mailgun retries after 10 and 15 min: 10 min is before spamd's 25 min passtime, 25 min is not.
    r = run_every_engine(scenario({"behaviour": "spamd"}, sender={"preset": "mailgun"}))
    m = r.messages
    assert (m.outcome == Outcome.DELIVERED).all() and (m.attempts == 3).all()
    assert np.allclose(attempt_times(r, 0), [0, 10 * MIN, 25 * MIN])
    assert r.attempts.replies[r.attempts.reply[0]] == "451 Temporary failure, please try again later."


@pytest.mark.parametrize("interval_h, delivered", [(4, True), (5, False)])
def test_a_retry_after_the_greylist_window_starts_over(interval_h, delivered):
    # spamd keeps a grey entry 4 h: a retry at exactly 4 h passes; every retry 5 h apart is a new triplet.
    sender = {"schedule": {"kind": "fixed", "interval": f"{interval_h}h"}, "expiry": "1d"}
    r = run_every_engine(scenario({"behaviour": "spamd"}, sender=sender,
                         messages={"count": 3, "arrival": {"kind": "times", "times": [0, 60, 120]}}))
    m = r.messages
    if delivered:
        assert (m.outcome == Outcome.DELIVERED).all() and (m.attempts == 2).all()
    else:
        assert (m.outcome == Outcome.EXPIRED).all()
        assert (r.attempts.result == AttemptResult.DEFERRED).all()


def test_a_retry_before_the_delay_does_not_move_the_first_seen_time():
    # postgrey (5 min delay), retries every 2 min: deferred at 0, 2, 4 min, passes at 6 min (not 2 + 5).
    sender = {"schedule": {"kind": "fixed", "interval": "2m"}, "expiry": "1h"}
    r = run_every_engine(scenario({"behaviour": "postgrey"}, sender=sender,
                         messages={"count": 1, "arrival": {"kind": "at", "time": 0}}))
    assert np.allclose(attempt_times(r, 0), [0, 2 * MIN, 4 * MIN, 6 * MIN])
    assert r.messages.outcome[0] == Outcome.DELIVERED


def test_the_greylist_never_sees_attempts_that_found_the_server_down():
    # Down for the first 30 min: the greylist first sees the attempt at 30 min, passes the one at 45 min.
    r = run_every_engine(scenario({"behaviour": "postgrey", "outages": [{"start": 0, "end": "30m", "failure": "refused"}]},
                         sender={"schedule": {"kind": "fixed", "interval": "15m"}, "expiry": "1d"},
                         messages={"count": 1, "arrival": {"kind": "at", "time": 0}}))
    assert np.allclose(attempt_times(r, 0), [0, 15 * MIN, 30 * MIN, 45 * MIN])
    assert [r.attempts.result[k] for k in range(4)] == [AttemptResult.REFUSED] * 2 + \
        [AttemptResult.DEFERRED, AttemptResult.DELIVERED]


# -- per-message fates and random deferrals ---------------------------------------------------------
def _binomial_ok(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + 1


def test_unknown_users_bounce_at_once_and_full_mailboxes_expire():
    n = 4000
    r = run_every_engine(scenario({"unknown_user": 0.1, "mailbox_full": 0.05},
                         sender={"preset": "postfix", "maximal_queue_lifetime": "1h"},
                         messages={"count": n, "arrival": {"kind": "uniform", "start": 0, "end": "1h"}}))
    m = r.messages
    bounced, expired = m.outcome == Outcome.BOUNCED, m.outcome == Outcome.EXPIRED
    assert _binomial_ok(int(bounced.sum()), n, 0.1) and _binomial_ok(int(expired.sum()), n, 0.05)
    assert (m.attempts[bounced] == 1).all() and {m.status_text(i) for i in np.flatnonzero(bounced)} == {"5.1.1"}
    assert {m.status_text(i) for i in np.flatnonzero(expired)} == {"4.2.2"}    # Postfix keeps the last deferral's
    assert (m.outcome[~(bounced | expired)] == Outcome.DELIVERED).all()


def test_random_deferrals_follow_the_probability_and_the_reply_mix():
    r = run_every_engine(scenario({"tempfail": {"p": 0.3, "replies": {"421 4.7.0 Try again later": 3,
                                                              "451 4.3.0 Local error": 1}}},
                         sender={"schedule": {"kind": "fixed", "interval": "10m"}, "expiry": "1d"},
                         messages={"count": 3000, "arrival": {"kind": "uniform", "start": 0, "end": "1h"}}))
    a = r.attempts
    n = len(a)
    deferred = a.result == AttemptResult.DEFERRED
    assert _binomial_ok(int(deferred.sum()), n, 0.3)
    texts = np.array([a.replies[k] for k in a.reply[deferred]])
    assert _binomial_ok(int((texts == "421 4.7.0 Try again later").sum()), int(deferred.sum()), 0.75)
    # each message's attempts: deferrals then one delivery, so attempts per message ~ geometric(0.7)
    assert (r.messages.outcome == Outcome.DELIVERED).all()
    assert abs(r.messages.attempts.mean() - 1 / 0.7) < 0.05


def test_the_same_seed_gives_the_same_answers_and_another_seed_others():
    sc = scenario({"behaviour": "flaky"}, sender={"schedule": {"kind": "fixed", "interval": "10m"}, "expiry": "1d"})
    a, b = (mtasim.simulate(sc, engine="fast", attempts=True) for _ in range(2))
    assert_same(a, b)
    c = mtasim.simulate(sc, 99, engine="fast", attempts=True)
    assert not np.array_equal(a.messages.attempts, c.messages.attempts)


# -- rate limits --------------------------------------------------------------------------------------
def test_a_token_bucket_lets_its_burst_through_then_one_message_per_refill():
    # burst 2, 1 token per hour, retries every 30 min, 5 messages at t=0: delivered at 0, 0, 1 h, 2 h, 3 h
    # (half a token at each half hour is not enough), in queue order (due time, then arrival, then id).
    r = run_every_engine(scenario({"rate_limit": {"rate": "1/h", "burst": 2}},
                         sender={"schedule": {"kind": "fixed", "interval": "30m"}, "expiry": "1d"},
                         messages={"count": 5, "arrival": {"kind": "at", "time": 0}}))
    m = r.messages
    assert np.allclose(m.final_s, [0, 0, HOUR, 2 * HOUR, 3 * HOUR])
    assert list(m.attempts) == [1, 1, 3, 5, 7]
    throttled = r.attempts.result == AttemptResult.DEFERRED
    assert {r.attempts.replies[k] for k in r.attempts.reply[throttled]} == {
        "421 4.7.0 Try again later, closing connection"}


def test_a_throttled_drain_after_a_long_outage_outlives_the_outage():
    # 10 h outage, 300 messages queued, a bucket of 10/h: the drain takes about 30 h, so under a 24 h
    # expiry the oldest messages expire after the server is back (the 3,000 at 100/h, scaled).
    data = {"schedule": {"kind": "fixed", "interval": "10m"}, "expiry": "24h"}
    sc = scenario({"outages": [{"start": 0, "end": "10h", "failure": "451 4.3.0 down"}],
                   "rate_limit": {"rate": "10/h", "burst": 1}},
                  sender=data, messages={"count": 300, "arrival": {"kind": "uniform", "start": 0, "end": "10h"}})
    r = run_every_engine(sc)
    m = r.messages
    delivered, expired = m.outcome == Outcome.DELIVERED, m.outcome == Outcome.EXPIRED
    assert expired.any() and (m.final_s[expired] > 10 * HOUR).all()        # expired while the server was up
    assert delivered.sum() + expired.sum() == 300
    # at most one delivery per 6 min after the outage: 10 per hour
    served = np.sort(m.final_s[delivered])
    assert (np.diff(served) >= 6 * MIN - 1e-6).all()
    unlimited = mtasim.simulate(scenario({"outages": [{"start": 0, "end": "10h", "failure": "451 4.3.0 down"}]},
                                         sender=data, messages={"count": 300, "arrival": {
                                             "kind": "uniform", "start": 0, "end": "10h"}}), engine="fast")
    assert (unlimited.messages.outcome == Outcome.DELIVERED).all()

    long = mtasim.simulate(scenario({"outages": [{"start": 0, "end": "10h", "failure": "451 4.3.0 down"}],
                                     "rate_limit": {"rate": "10/h", "burst": 1}},
                                    sender={**data, "expiry": "5d"},
                                    messages={"count": 300, "arrival": {"kind": "uniform", "start": 0, "end": "10h"}}))
    drain_h = (np.nanmax(long.messages.final_s) - 10 * HOUR) / HOUR
    # At most burst + rate x T deliveries in T hours: T >= (300 - 1) / 10. A token that fills waits for
    # the next attempt, and attempts thin out as the queue empties, so the drain runs somewhat longer.
    assert (300 - 1) / 10 <= drain_h <= 36


def test_the_fast_engine_refuses_a_rate_limit_naming_it():
    sc = scenario({"behaviour": "gmail"})
    with pytest.raises(EngineUnavailableError, match=r"rate limit of r.example \(recipients\[0\].rate_limit\)"):
        mtasim.simulate(sc, engine="fast")
    assert mtasim.simulate(sc).engine == "des"


# -- the library and its overrides --------------------------------------------------------------------
def test_own_keys_override_a_named_behaviour_one_level_deep():
    sc = scenario({"behaviour": "postgrey", "greylist": {"delay": "20m"}})
    grey = sc.recipients[0].behaviour.greylist
    assert (grey.delay_s, grey.window_s) == (20 * MIN, 2 * 86400.0)
    assert "Greylisted" in grey.reply.text


def test_mtasim_recipients_lists_every_named_behaviour_with_its_sources(capsys):
    assert main(["recipients", "--json"]) == 0
    listed = yaml.safe_load(capsys.readouterr().out)
    assert set(listed) == {"postgrey", "spamd", "flaky", "gmail", "yahoo", "m365-inbound"}
    assert all(v["sources"] and v["confidence"] for v in listed.values())
    for name in listed:                                        # every entry reads as a valid recipient
        scenario({"behaviour": name})


# -- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("recipient, expected", [
    ({"behaviour": "postgray"}, "did you mean 'postgrey'?"),
    ({"tempfail": {"p": 1.5}}, "recipients[0].tempfail.p: expected a number >= 0 and <= 1"),
    ({"tempfail": {"p": float("nan")}}, "recipients[0].tempfail.p"),
    ({"tempfail": {"p": 0.2, "replies": {"try later": 1}}}, "expected a 4xx or 5xx SMTP reply"),
    ({"unknown_user": -0.1}, "recipients[0].unknown_user"),
    ({"unknown_user": 0.7, "mailbox_full": 0.5}, "at most 1"),
    ({"rate_limit": {"rate": "0/h"}}, "recipients[0].rate_limit.rate: expected a rate above zero"),
    ({"rate_limit": {"rate": "100/h", "reply": "550 5.7.1 no"}}, "expected a 4xx throttle reply"),
    ({"greylist": {"delay": "1h", "window": "30m"}}, "retry window longer than the delay"),
    ({"greylist": {"delay": "5m", "window": "1d", "reply": "550 5.7.1 no"}}, "expected a 4xx reply"),
])
def test_bad_behaviour_keys_give_one_line_and_exit_2(tmp_path, capsys, recipient, expected):
    data = {"name": "bad", "sender": {"preset": "postfix"}, "messages": {"count": 3},
            "recipients": [{"domain": "r.example", **recipient}]}
    assert expected in refused_in_one_line(tmp_path, capsys, data)


# -- advised back-off and 421s that end the session -----------------------------------------------------
@pytest.mark.parametrize("honour, second_attempt_s", [(True, 4 * HOUR), (False, 10 * MIN)])
def test_a_sender_that_honours_yahoos_advice_waits_four_hours(honour, second_attempt_s):
    # one token: message 0 takes it, message 1 gets the TSS04 deferral advising a retry after 4 h
    sender = {"schedule": {"kind": "fixed", "interval": "10m"}, "expiry": "1d", "honour_retry_after": honour}
    r = run_every_engine(scenario({"behaviour": "yahoo", "rate_limit": {"rate": "1/h", "burst": 1}}, sender=sender,
                         messages={"count": 2, "arrival": {"kind": "at", "time": 0}}))
    assert np.allclose(attempt_times(r, 1)[:2], [0, second_attempt_s])
    assert "[TSS04]" in r.attempts.replies[r.attempts.reply[r.attempts.message_id == 1][0]]


@pytest.mark.parametrize("reply, suspended", [("421 4.7.0 Try again later, closing connection", True),
                                              ("450 4.2.1 receiving mail too quickly", False)])
def test_postfix_marks_a_destination_dead_on_a_421_throttle_but_not_on_a_450(reply, suspended):
    # 200 messages queued behind an outage of 451s (never marks dead), then a bucket of 20: the 421s that
    # end sessions add up to a dead destination, and the rest of the queue is held back without connecting.
    sc = scenario({"outages": [{"start": 0, "end": "2h", "failure": "451 4.3.0 down"}],
                   "rate_limit": {"rate": "60/h", "burst": 20, "reply": reply}},
                  sender={"preset": "postfix"},
                  messages={"count": 200, "arrival": {"kind": "uniform", "start": 0, "end": "1h"}})
    assert des_only_features(sc)
    r = run_every_engine(sc)
    held = r.attempts.result == AttemptResult.SUSPENDED
    assert held.any() == suspended
    if suspended:
        texts = {r.attempts.replies[k] for k in r.attempts.reply[held]}
        assert texts == {f"delivery temporarily suspended: {reply}"}


# -- greylist triplets shared between messages ------------------------------------------------------------
def test_messages_to_one_address_share_its_triplet():
    # one address: message 0 at 0 s is deferred (first seen 0); message 1 at 60 s is too early (deferred, first
    # seen stays 0); message 2 at 400 s is 400 s after the first sight, past postgrey's 300 s: it passes and
    # the triplet is remembered, so message 3 at 500 s and the retries at 900 and 960 s pass at once.
    sender = {"schedule": {"kind": "fixed", "interval": "15m"}, "expiry": "1d"}
    sc = scenario({"behaviour": "postgrey", "greylist": {"addresses": 1}}, sender=sender,
                  messages={"count": 4, "arrival": {"kind": "times", "times": [0, 60, 400, 500]}})
    with pytest.raises(EngineUnavailableError, match=r"recipients\[0\]\.greylist\.addresses"):
        mtasim.simulate(sc, engine="fast")
    r = run_every_engine(sc)
    assert list(r.messages.attempts) == [2, 2, 1, 1]
    assert np.allclose(r.messages.final_s, [900, 960, 400, 500])


def test_a_passed_triplet_is_forgotten_memory_after_it_was_last_seen():
    sender = {"schedule": {"kind": "fixed", "interval": "10m"}, "expiry": "1d"}
    sc = scenario({"behaviour": "postgrey", "greylist": {"addresses": 1, "memory": "1h"}}, sender=sender,
                  messages={"count": 3, "arrival": {"kind": "times", "times": [0, 3000, 7000]}})
    r = run_every_engine(sc)
    # 0: deferred, passes at 600 (seen 600); 3000: remembered (seen 3000); 7000: 4000 s after -> forgotten
    assert list(r.messages.attempts) == [2, 1, 2]
    assert np.allclose(r.messages.final_s, [600, 3000, 7600])


def test_many_addresses_spread_the_messages():
    sender = {"schedule": {"kind": "fixed", "interval": "15m"}, "expiry": "1d"}
    n, addresses = 2000, 50
    r = run_every_engine(scenario({"behaviour": "postgrey", "greylist": {"addresses": addresses}}, sender=sender,
                         messages={"count": n, "arrival": {"kind": "uniform", "start": 0, "end": "2h"}}))
    # each address's first message is deferred; once an address has passed, its later mail goes straight through
    deferred_first = int((r.messages.attempts > 1).sum())
    assert addresses <= deferred_first < 0.25 * n
    assert (r.messages.outcome == Outcome.DELIVERED).all()

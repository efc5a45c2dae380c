"""Sender rules through the engine (README, Semantics): attempt times, give-up rules and their boundaries,
queue-runner alignment, failure kinds, delay warnings, the horizon and jitter reproducibility.

Every expected time below is worked out by hand from the rule named in the test's docstring.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import HOUR, MIN, run_one, scenario

import mtasim
from mtasim import ConfigError, Outcome
from mtasim.recipients import AttemptResult


def fixed(interval, **sender):
    """A custom sender with a fixed schedule plus the given generic keys."""
    return {"schedule": {"kind": "fixed", "interval": interval}, **sender}


def down(end, start=0, failure=None):
    """One outage window [start, end) (default failure: 451 4.3.0)."""
    window = {"start": start, "end": end}
    if failure is not None:
        window["failure"] = failure
    return [window]


def fate(result, i=0):
    """(outcome, final_s, status, attempts) of message i."""
    m = result.messages
    return Outcome(int(m.outcome[i])), float(m.final_s[i]), m.status_text(i), int(m.attempts[i])


# -- (a) first attempt and the half-open outage -------------------------------------------------
def test_first_attempt_at_arrival_and_delivery_at_outage_end():
    """First attempt at arrival; outage [0, 3h) is half-open, so the attempt at exactly 3h delivers."""
    result, times = run_one(fixed("1h", expiry="10h"), down("3h"))
    assert times == pytest.approx([0, 1 * HOUR, 2 * HOUR, 3 * HOUR])
    assert fate(result) == (Outcome.DELIVERED, pytest.approx(3 * HOUR), "2.0.0", 4)


def test_no_outage_delivers_at_arrival():
    """Without an outage the first attempt, at arrival, delivers."""
    result, times = run_one(fixed("1h", expiry="10h"), [], arrival=17 * MIN)
    assert times == pytest.approx([17 * MIN])
    assert fate(result) == (Outcome.DELIVERED, pytest.approx(17 * MIN), "2.0.0", 1)


def test_outage_starting_later_is_half_open_at_its_start():
    """An attempt at exactly an outage's start fails (start is inside [start, end))."""
    outages = [{"start": "1h", "end": "2h"}]
    sender = fixed("1h", expiry="10h")
    # Arrival at 1h: first attempt at 1h is inside [1h, 2h); the retry at 2h is outside.
    result, times = run_one(sender, outages, arrival=1 * HOUR)
    assert times == pytest.approx([1 * HOUR, 2 * HOUR])
    assert fate(result) == (Outcome.DELIVERED, pytest.approx(2 * HOUR), "2.0.0", 2)


# -- (b) last-attempt ---------------------------------------------------------------------------
def test_last_attempt_failure_at_exact_expiry_age_expires_then():
    """last-attempt: a failure at age == expiry expires at that failure (after the attempt is made)."""
    result, times = run_one(fixed("1h", expiry="3h", give_up="last-attempt"), down("10h"))
    assert times == pytest.approx([0, 1 * HOUR, 2 * HOUR, 3 * HOUR])
    assert fate(result) == (Outcome.EXPIRED, pytest.approx(3 * HOUR), "4.4.7", 4)


def test_last_attempt_first_attempt_after_deadline_is_made():
    """last-attempt: with expiry 2h30m the 2h failure is young enough, so the 3h attempt is still made."""
    result, times = run_one(fixed("1h", expiry="2h30m", give_up="last-attempt"), down("10h"))
    assert times == pytest.approx([0, 1 * HOUR, 2 * HOUR, 3 * HOUR])
    assert fate(result) == (Outcome.EXPIRED, pytest.approx(3 * HOUR), "4.4.7", 4)


def test_last_attempt_attempt_at_deadline_can_deliver():
    """last-attempt: the attempt at the deadline still delivers when the outage has just ended."""
    result, times = run_one(fixed("1h", expiry="3h", give_up="last-attempt"), down("3h"))
    assert times == pytest.approx([0, 1 * HOUR, 2 * HOUR, 3 * HOUR])
    assert fate(result) == (Outcome.DELIVERED, pytest.approx(3 * HOUR), "2.0.0", 4)


def test_last_attempt_age_is_measured_from_arrival():
    """last-attempt: the age is now - arrival (arrival 30m, expiry 3h: expires at the 3h30m failure)."""
    result, times = run_one(fixed("1h", expiry="3h"), down("10h"), arrival=30 * MIN)
    assert times == pytest.approx([30 * MIN, 90 * MIN, 150 * MIN, 210 * MIN])
    assert fate(result) == (Outcome.EXPIRED, pytest.approx(210 * MIN), "4.4.7", 4)


def test_last_attempt_is_the_default_give_up_rule():
    """A custom sender without give_up uses last-attempt."""
    sc = scenario(fixed("1h", expiry="3h"))
    assert sc.sender.give_up.name == "last-attempt"


def test_last_attempt_expiry_zero_means_one_attempt():
    """last-attempt with expiry 0: the first failure (age 0 >= 0) ends the message."""
    result, times = run_one(fixed("1h", expiry=0), down("10h"))
    assert times == pytest.approx([0])
    assert fate(result) == (Outcome.EXPIRED, pytest.approx(0.0), "4.4.7", 1)


# -- (c) at-deadline ----------------------------------------------------------------------------
def test_at_deadline_expires_at_exactly_the_deadline_without_attempt():
    """at-deadline: expires at arrival + expiry, no attempt at or after it (next due 3h == deadline)."""
    result, times = run_one(fixed("1h", expiry="3h", give_up="at-deadline"), down("10h"))
    assert times == pytest.approx([0, 1 * HOUR, 2 * HOUR])
    assert fate(result) == (Outcome.EXPIRED, pytest.approx(3 * HOUR), "4.4.7", 3)


def test_at_deadline_outage_ending_at_deadline_still_expires():
    """at-deadline: an outage ending exactly at the deadline does not help; no attempt is made there."""
    result, times = run_one(fixed("1h", expiry="3h", give_up="at-deadline"), down("3h"))
    assert times == pytest.approx([0, 1 * HOUR, 2 * HOUR])
    assert fate(result) == (Outcome.EXPIRED, pytest.approx(3 * HOUR), "4.4.7", 3)


def test_at_deadline_between_attempts():
    """at-deadline: expiry 2h30m gives up at 2h30m, between the 2h attempt and the 3h it would make."""
    result, times = run_one(fixed("1h", expiry="2h30m", give_up="at-deadline"), down("10h"))
    assert times == pytest.approx([0, 1 * HOUR, 2 * HOUR])
    assert fate(result) == (Outcome.EXPIRED, pytest.approx(150 * MIN), "4.4.7", 3)


def test_at_deadline_counts_from_arrival():
    """at-deadline: the deadline is arrival + expiry (arrival 30m, expiry 3h: 3h30m)."""
    result, times = run_one(fixed("1h", expiry="3h", give_up="at-deadline"), down("10h"), arrival=30 * MIN)
    assert times == pytest.approx([30 * MIN, 90 * MIN, 150 * MIN])
    assert fate(result) == (Outcome.EXPIRED, pytest.approx(210 * MIN), "4.4.7", 3)


def test_at_deadline_delivers_before_the_deadline():
    """at-deadline: an attempt before the deadline after the outage delivers."""
    result, times = run_one(fixed("1h", expiry="3h", give_up="at-deadline"), down("1h30m"))
    assert times == pytest.approx([0, 1 * HOUR, 2 * HOUR])
    assert fate(result) == (Outcome.DELIVERED, pytest.approx(2 * HOUR), "2.0.0", 3)


# -- (d) next-wait ------------------------------------------------------------------------------
def test_next_wait_expires_when_next_due_is_past_the_deadline():
    """next-wait: after the 2h failure the next due time 3h > 2h30m, so it expires at 2h."""
    result, times = run_one(fixed("1h", expiry="2h30m", give_up="next-wait"), down("10h"))
    assert times == pytest.approx([0, 1 * HOUR, 2 * HOUR])
    assert fate(result) == (Outcome.EXPIRED, pytest.approx(2 * HOUR), "4.4.7", 3)


def test_next_wait_due_exactly_at_deadline_is_attempted():
    """next-wait: a due time equal to the deadline (3h) is not beyond it, so the 3h attempt is made."""
    result, times = run_one(fixed("1h", expiry="3h", give_up="next-wait"), down("10h"))
    assert times == pytest.approx([0, 1 * HOUR, 2 * HOUR, 3 * HOUR])
    assert fate(result) == (Outcome.EXPIRED, pytest.approx(3 * HOUR), "4.4.7", 4)


# -- (e) attempts -------------------------------------------------------------------------------
def test_attempts_rule_expires_at_the_nth_failure():
    """attempts: with max_attempts 3 the third failure ends the message, at that failure."""
    sender = fixed("1h", give_up="attempts", max_attempts=3)
    result, times = run_one(sender, down("10h"))
    assert times == pytest.approx([0, 1 * HOUR, 2 * HOUR])
    assert fate(result) == (Outcome.EXPIRED, pytest.approx(2 * HOUR), "4.4.7", 3)


def test_attempts_rule_last_allowed_attempt_can_deliver():
    """attempts: the third attempt is still made and delivers when the outage is over."""
    sender = fixed("1h", give_up="attempts", max_attempts=3)
    result, times = run_one(sender, down("2h"))
    assert times == pytest.approx([0, 1 * HOUR, 2 * HOUR])
    assert fate(result) == (Outcome.DELIVERED, pytest.approx(2 * HOUR), "2.0.0", 3)


def test_attempts_rule_refuses_an_expiry():
    """attempts counts attempts only: an expiry next to it is a ConfigError naming sender.expiry."""
    with pytest.raises(ConfigError, match=r"sender\.expiry"):
        scenario(fixed("1h", give_up="attempts", max_attempts=3, expiry="1d"))


def test_max_attempts_without_attempts_rule_refused():
    """max_attempts only applies with give_up: attempts."""
    with pytest.raises(ConfigError, match=r"sender\.max_attempts"):
        scenario(fixed("1h", expiry="1d", max_attempts=3))


def test_unknown_give_up_rule_suggests():
    """An unknown give_up rule is refused with the closest rule."""
    with pytest.raises(ConfigError, match=r"sender\.give_up.*did you mean 'at-deadline'"):
        scenario(fixed("1h", expiry="1d", give_up="at-dedline"))


# -- (f) list then stop -------------------------------------------------------------------------
def test_list_then_stop_expires_at_the_failure_past_the_list():
    """list then stop: waits 10m, 20m, then the third failure (past the list) ends the message."""
    sender = {"schedule": {"kind": "list", "intervals": ["10m", "20m"], "then": "stop"}, "expiry": "10h"}
    result, times = run_one(sender, down("10h"))
    assert times == pytest.approx([0, 10 * MIN, 30 * MIN])
    assert fate(result) == (Outcome.EXPIRED, pytest.approx(30 * MIN), "4.4.7", 3)


def test_list_then_repeat_keeps_the_last_interval():
    """list then repeat: waits 10m, 20m, 20m, ... until the outage ends."""
    sender = {"schedule": {"kind": "list", "intervals": ["10m", "20m"]}, "expiry": "10h"}
    result, times = run_one(sender, down("1h"))
    assert times == pytest.approx([0, 10 * MIN, 30 * MIN, 50 * MIN, 70 * MIN])
    assert fate(result) == (Outcome.DELIVERED, pytest.approx(70 * MIN), "2.0.0", 5)


# -- (g) queue-runner alignment -----------------------------------------------------------------
def test_queue_run_attempt_at_first_scan_after_due():
    """Queue runner 5m, phase 0: arrival 2m attempts at once; due 12m -> scan 15m; then due 25m is a scan."""
    sender = fixed("10m", expiry="10h", queue_run="5m")
    result, times = run_one(sender, down("30m"), arrival=2 * MIN)
    assert times == pytest.approx([2 * MIN, 15 * MIN, 25 * MIN, 35 * MIN])
    assert fate(result) == (Outcome.DELIVERED, pytest.approx(35 * MIN), "2.0.0", 4)


def test_queue_run_phase_shifts_the_scans():
    """Queue runner 5m, phase 1m: scans at 1m + 5m*k, so due 12m -> 16m, due 26m -> 26m."""
    sender = fixed("10m", expiry="10h", queue_run="5m", queue_run_phase="1m")
    result, times = run_one(sender, down("30m"), arrival=2 * MIN)
    assert times == pytest.approx([2 * MIN, 16 * MIN, 26 * MIN, 36 * MIN])
    assert fate(result) == (Outcome.DELIVERED, pytest.approx(36 * MIN), "2.0.0", 4)


def test_queue_run_tolerance_takes_a_message_due_just_after_the_scan():
    """Tolerance 1s: a message due exactly 1s after a scan (5m + 1s) goes at that scan (5m)."""
    sender = fixed("301s", expiry="10h", queue_run="5m", queue_run_tolerance="1s")
    result, times = run_one(sender, down("12m"))
    # 0 -> due 301 s -> scan 300 s; 300 -> due 601 -> 600; 600 -> due 901 -> 900 (outage over)
    assert times == pytest.approx([0, 5 * MIN, 10 * MIN, 15 * MIN])
    assert fate(result)[0] == Outcome.DELIVERED


def test_queue_run_without_tolerance_waits_for_the_next_scan():
    """No tolerance: due 5m + 1s misses the 5m scan and goes at 10m."""
    sender = fixed("301s", expiry="10h", queue_run="5m")
    result, times = run_one(sender, down("12m"))
    # 0 -> due 301 -> 600; 600 -> due 901 -> 1200 (outage over)
    assert times == pytest.approx([0, 10 * MIN, 20 * MIN])
    assert fate(result) == (Outcome.DELIVERED, pytest.approx(20 * MIN), "2.0.0", 3)


def test_queue_run_due_before_the_next_scan_waits_for_it():
    """A wait shorter than the scan period still waits for the next scan strictly after the failure."""
    sender = fixed("1m", expiry="10h", queue_run="5m", queue_run_tolerance="1s")
    result, times = run_one(sender, down("7m"))
    assert times == pytest.approx([0, 5 * MIN, 10 * MIN])
    assert fate(result) == (Outcome.DELIVERED, pytest.approx(10 * MIN), "2.0.0", 3)


def test_without_queue_runner_attempt_exactly_at_due():
    """No queue runner: the retry is exactly at the due time (arrival 2m, wait 10m -> 12m)."""
    result, times = run_one(fixed("10m", expiry="10h"), down("20m"), arrival=2 * MIN)
    assert times == pytest.approx([2 * MIN, 12 * MIN, 22 * MIN])


# -- (h) failure kinds --------------------------------------------------------------------------
def test_timeout_lasts_the_connect_timeout_and_wait_counts_from_its_end():
    """timeout: the attempt lasts 30 s (default connect timeout); the wait runs from its end."""
    result, times = run_one(fixed("10m", expiry="10h"), down("20m", failure="timeout"))
    # 0 -> ends 30 s -> due 630 s; 630 -> ends 660 -> due 1260 (>= 20m: delivered)
    assert times == pytest.approx([0, 630, 1260])
    assert fate(result) == (Outcome.DELIVERED, pytest.approx(1260), "2.0.0", 3)
    results = result.attempts.result.tolist()
    assert results == [AttemptResult.TIMEOUT, AttemptResult.TIMEOUT, AttemptResult.DELIVERED]


def test_timeout_uses_the_recipients_connect_timeout():
    """timeout: a recipient's connect_timeout (45 s) sets the attempt's length."""
    recipients = [{"domain": "r.example", "connect_timeout": "45s",
                   "outages": [{"start": 0, "end": "20m", "failure": "timeout"}]}]
    result, times = run_one(fixed("10m", expiry="10h"), recipients=recipients)
    # 0 -> ends 45 -> due 645; 645 -> ends 690 -> due 1290 (delivered)
    assert times == pytest.approx([0, 645, 1290])
    assert fate(result)[:2] == (Outcome.DELIVERED, pytest.approx(1290))


def test_timeout_expiry_is_judged_at_the_attempts_end():
    """last-attempt with timeouts: age is taken at the attempt's end, and the message ends then."""
    result, times = run_one(fixed("1h", expiry="3h"), down("10h", failure="timeout"))
    # attempts start 0, 1h0m30s, 2h1m, 3h1m30s; the last ends at 3h2m (age >= 3h)
    assert times == pytest.approx([0, 3630, 7260, 10890])
    assert fate(result) == (Outcome.EXPIRED, pytest.approx(10920), "4.4.7", 4)


def test_timeout_status_is_4_4_1():
    """timeout: the deferral status is 4.4.1 (seen as the last status when the expiry keeps it)."""
    result, _ = run_one(fixed("1h", expiry="1h", expiry_status="last"), down("10h", failure="timeout"))
    assert fate(result)[2] == "4.4.1"


def test_refused_is_instant_with_status_4_4_1():
    """refused: zero-length attempt, status 4.4.1 (kept by expiry_status: last)."""
    result, times = run_one(fixed("1h", expiry="2h", expiry_status="last"), down("10h", failure="refused"))
    assert times == pytest.approx([0, 1 * HOUR, 2 * HOUR])
    assert fate(result) == (Outcome.EXPIRED, pytest.approx(2 * HOUR), "4.4.1", 3)
    assert set(result.attempts.result.tolist()) == {AttemptResult.REFUSED}


def test_4xx_reply_status_is_the_replys():
    """A 4xx reply defers with its own enhanced status (kept by expiry_status: last)."""
    result, _ = run_one(fixed("1h", expiry="1h", expiry_status="last"),
                        down("10h", failure="452 4.2.2 mailbox full"))
    assert fate(result) == (Outcome.EXPIRED, pytest.approx(1 * HOUR), "4.2.2", 2)
    assert set(result.attempts.result.tolist()) == {AttemptResult.DEFERRED}


def test_5xx_reply_bounces_with_its_status():
    """A 5xx reply bounces the message at once with the reply's status."""
    result, times = run_one(fixed("1h", expiry="10h"), down("10h", failure="550 5.1.1 no such user"))
    assert times == pytest.approx([0])
    assert fate(result) == (Outcome.BOUNCED, pytest.approx(0.0), "5.1.1", 1)
    assert result.attempts.result.tolist() == [AttemptResult.REJECTED]


def test_5xx_after_deferrals_bounces_at_that_attempt():
    """451 during [0, 1h), 550 during [1h, 10h): deferred at 0, bounced at the 1h attempt."""
    outages = [{"start": 0, "end": "1h", "failure": "451 4.3.0 try later"},
               {"start": "1h", "end": "10h", "failure": "550 5.1.1 no such user"}]
    result, times = run_one(fixed("1h", expiry="10h"), outages)
    assert times == pytest.approx([0, 1 * HOUR])
    assert fate(result) == (Outcome.BOUNCED, pytest.approx(1 * HOUR), "5.1.1", 2)


# -- (i) delay warnings -------------------------------------------------------------------------
def warned(result, i=0):
    return float(result.messages.warned_s[i])


def test_age_warning_at_exactly_arrival_plus_w():
    """age timing: one warning at exactly arrival + W when the message is still queued then."""
    result, _ = run_one(fixed("1h", expiry="10h", delay_warning="2h"), down("5h"), arrival=30 * MIN)
    assert warned(result) == pytest.approx(30 * MIN + 2 * HOUR)
    assert result.summary()["delay_warnings"] == 1


def test_age_warning_not_sent_when_finished_at_w():
    """age timing: a message delivered exactly at arrival + W is finished by then: no warning."""
    result, _ = run_one(fixed("1h", expiry="10h", delay_warning="2h"), down("1h30m"))
    assert fate(result)[:2] == (Outcome.DELIVERED, pytest.approx(2 * HOUR))
    assert math.isnan(warned(result))


def test_age_warning_not_sent_when_delivered_before_w():
    """age timing: a message delivered before arrival + W gets no warning."""
    result, _ = run_one(fixed("1h", expiry="10h", delay_warning="2h"), down("30m"))
    assert math.isnan(warned(result))
    assert result.summary()["delay_warnings"] == 0


def test_age_warning_for_message_expiring_after_w():
    """age timing: a message that expires after arrival + W was warned at arrival + W."""
    result, _ = run_one(fixed("1h", expiry="3h", give_up="at-deadline", delay_warning="1h30m"), down("10h"))
    assert fate(result)[0] == Outcome.EXPIRED
    assert warned(result) == pytest.approx(90 * MIN)


def test_age_warning_for_message_queued_at_horizon():
    """age timing: a message still queued at the horizon, past arrival + W, was warned at arrival + W."""
    result, _ = run_one(fixed("1h", expiry="10h", delay_warning="2h"), down("10h"), horizon="3h")
    assert fate(result)[0] == Outcome.QUEUED
    assert warned(result) == pytest.approx(2 * HOUR)


def test_next_failure_warning_at_first_failure_at_or_after_w():
    """next-failure timing: warned at the first failure at or after W (W = 2h30m -> the 3h failure), once."""
    sender = fixed("1h", expiry="10h", delay_warning="2h30m", delay_warning_at="next-failure")
    result, _ = run_one(sender, down("5h"))
    assert fate(result)[:2] == (Outcome.DELIVERED, pytest.approx(5 * HOUR))
    assert warned(result) == pytest.approx(3 * HOUR)      # not 4h: at most one warning
    assert result.summary()["delay_warnings"] == 1


def test_next_failure_warning_at_a_failure_exactly_at_w():
    """next-failure timing: a failure exactly at W sends the warning."""
    sender = fixed("1h", expiry="10h", delay_warning="2h", delay_warning_at="next-failure")
    result, _ = run_one(sender, down("5h"))
    assert warned(result) == pytest.approx(2 * HOUR)


def test_next_failure_warning_not_sent_by_the_failure_that_ends_the_message():
    """next-failure timing: the failure that ends the message (expiry at 3h) does not warn."""
    sender = fixed("1h", expiry="3h", delay_warning="3h", delay_warning_at="next-failure")
    result, _ = run_one(sender, down("10h"))
    assert fate(result)[:2] == (Outcome.EXPIRED, pytest.approx(3 * HOUR))
    assert math.isnan(warned(result))


def test_next_failure_warning_not_sent_without_failure_after_w():
    """next-failure timing: a message delivered at the first attempt after W is never warned."""
    sender = fixed("1h", expiry="10h", delay_warning="2h30m", delay_warning_at="next-failure")
    result, _ = run_one(sender, down("2h30m"))
    assert fate(result)[:2] == (Outcome.DELIVERED, pytest.approx(3 * HOUR))
    assert math.isnan(warned(result))


# -- (j) horizon --------------------------------------------------------------------------------
def test_message_retrying_at_horizon_is_queued_with_last_status():
    """horizon: a message still retrying is 'queued', final_s NaN, status = the last deferral's."""
    result, times = run_one(fixed("1h", expiry="10h"), down("10h", failure="451 4.7.1 greylisted"),
                            horizon="2h30m")
    assert times == pytest.approx([0, 1 * HOUR, 2 * HOUR])
    outcome, final_s, status, attempts = fate(result)
    assert outcome == Outcome.QUEUED
    assert math.isnan(final_s)
    assert status == "4.7.1"
    assert attempts == 3
    assert result.counts() == {"delivered": 0, "expired": 0, "bounced": 0, "queued": 1}


def test_nothing_happens_at_the_horizon():
    """horizon: an attempt due exactly at the horizon (2h) is not made."""
    result, times = run_one(fixed("1h", expiry="10h"), down("1h30m"), horizon="2h")
    assert times == pytest.approx([0, 1 * HOUR])
    assert fate(result)[0] == Outcome.QUEUED


def test_finished_before_horizon_is_not_queued():
    """horizon: a message delivered before the horizon keeps its outcome."""
    result, _ = run_one(fixed("1h", expiry="10h"), down("1h"), horizon="5h")
    assert fate(result) == (Outcome.DELIVERED, pytest.approx(1 * HOUR), "2.0.0", 2)


def test_conservation_with_mixed_outcomes():
    """delivered + expired + bounced + queued = submitted (arrivals spread so all four outcomes occur)."""
    sc = scenario(
        fixed("1h", expiry="2h", give_up="at-deadline"),
        [{"start": "1h", "end": "4h"}, {"start": "4h", "end": "6h", "failure": "550 5.1.1 no such user"},
         {"start": "6h30m", "end": "10h"}],
        {"count": 6, "arrival": {"kind": "times", "times": ["0", "1h", "3h30m", "4h", "6h", "6h30m"]}},
        horizon="7h",
    )
    result = mtasim.simulate(sc)
    # 0: delivered at 0; 1h: retries 1h, 2h, expires at 3h; 3h30m: 3h30m defers, 4h30m bounces;
    # 4h: bounced at 4h; 6h: delivered at 6h; 6h30m: defers, next try 7h30m is past the 7h horizon.
    assert result.messages.outcome.tolist() == [Outcome.DELIVERED, Outcome.EXPIRED, Outcome.BOUNCED,
                                                Outcome.BOUNCED, Outcome.DELIVERED, Outcome.QUEUED]
    np.testing.assert_allclose(result.messages.final_s, [0, 3 * HOUR, 4.5 * HOUR, 4 * HOUR, 6 * HOUR, np.nan])
    counts = result.counts()
    assert sum(counts.values()) == len(result.messages) == 6


# -- (k) jitter ---------------------------------------------------------------------------------
JITTERED = {"schedule": {"kind": "exponential", "first": "10m", "factor": 2, "max": "2h", "jitter": "full"},
            "expiry": "12h"}


def test_jitter_same_seed_same_times():
    """jitter: the same seed gives the same attempt times."""
    _, a = run_one(JITTERED, down("1d"), seed=11)
    _, b = run_one(JITTERED, down("1d"), seed=11)
    assert a == b
    assert len(a) > 5


def test_jitter_different_seed_different_times():
    """jitter: a different seed gives different attempt times."""
    _, a = run_one(JITTERED, down("1d"), seed=11)
    _, b = run_one(JITTERED, down("1d"), seed=12)
    assert a[0] == b[0] == 0
    assert a[1:] != b[1:]


def test_simulate_seed_argument_overrides_scenario_seed():
    """simulate(seed=...) replaces the scenario's seed: same seed, same times."""
    sc = scenario(JITTERED, down("1d"), seed=11)
    a = mtasim.simulate(sc, attempts=True).attempts.for_message(0)
    b = mtasim.simulate(scenario(JITTERED, down("1d"), seed=99), seed=11, attempts=True).attempts.for_message(0)
    assert np.array_equal(a, b)


def test_full_jitter_waits_within_bounds():
    """jitter full: each wait lies in (0, base] with base = min(10m * 2**(k-1), 2h)."""
    _, times = run_one(JITTERED, down("1d"), seed=3)
    gaps = np.diff(times)
    bases = np.minimum(10 * MIN * 2.0 ** np.arange(len(gaps)), 2 * HOUR)
    assert np.all(gaps > 0)
    assert np.all(gaps <= bases + 1e-9)
    assert np.any(gaps < bases)          # the draws did shorten some waits


def test_jitter_messages_get_independent_draws():
    """jitter: two messages arriving together under the same seed do not share their retry times."""
    sc = scenario(JITTERED, down("1d"), {"count": 2, "arrival": {"kind": "at", "time": 0}}, seed=5)
    result = mtasim.simulate(sc, attempts=True)
    assert result.attempts.for_message(0).tolist() != result.attempts.for_message(1).tolist()


@pytest.mark.parametrize("engine", ["des", "fast"])
@pytest.mark.parametrize("arrival", [0.1, 17.3, 41.123456789])
def test_failure_meant_for_exactly_the_expiry_age_expires_despite_rounding(engine, arrival):
    """last-attempt: a failure at arrival + 2 x 1260 s reaches a 2520 s expiry even when the summed
    attempt time lands a rounding step short (ages count within 1 µs)."""
    sc = scenario({"schedule": {"kind": "fixed", "interval": 1260}, "expiry": 2520},
                  [{"start": 0, "end": "10h"}], {"count": 1, "arrival": {"kind": "at", "time": arrival}})
    m = mtasim.simulate(sc, engine=engine).messages
    assert m.outcome[0] == Outcome.EXPIRED and m.attempts[0] == 3, (Outcome(m.outcome[0]).label, m.attempts[0])
    assert m.final_s[0] == pytest.approx(arrival + 2520, abs=1e-6)


@pytest.mark.parametrize("engine", ["des", "fast"])
def test_before_attempt_gives_up_at_the_first_attempt_due_past_the_expiry(engine):
    """before-attempt (chasquid): fixed 1h, expiry 2.5h, always failing: attempts 0, 1h, 2h; the attempt due at
    3h is not made and the message expires at 3h (not at 2.5h)."""
    sc = scenario({"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "2h30m", "give_up": "before-attempt"},
                  [{"start": 0, "end": "10h"}])
    result = mtasim.simulate(sc, engine=engine, attempts=True)
    m = result.messages
    assert result.attempts.for_message(0).tolist() == [0, HOUR, 2 * HOUR]
    assert (Outcome(m.outcome[0]), m.final_s[0]) == (Outcome.EXPIRED, 3 * HOUR)


@pytest.mark.parametrize("engine", ["des", "fast"])
def test_attempts_given_up_at_next_pickup(engine):
    """attempts with attempts_give_up_at next-attempt (Postal): 3 failed attempts at 0, 1h, 2h, then the
    message is failed when next picked up, at 3h, without a 4th attempt."""
    sc = scenario({"schedule": {"kind": "fixed", "interval": "1h"}, "give_up": "attempts", "max_attempts": 3,
                   "attempts_give_up_at": "next-attempt"}, [{"start": 0, "end": "10h"}])
    m = mtasim.simulate(sc, engine=engine).messages
    assert (Outcome(m.outcome[0]), m.attempts[0], m.final_s[0]) == (Outcome.EXPIRED, 3, 3 * HOUR)


@pytest.mark.parametrize("engine", ["des", "fast"])
@pytest.mark.parametrize("timing, warned_at", [("next-due", 2 * HOUR), ("next-failure", 3 * HOUR)])
def test_next_due_warns_at_the_failure_whose_next_attempt_reaches_the_mark(engine, timing, warned_at):
    """W = 2.5h, hourly retries: next-due (OpenSMTPD) warns at the 2h failure (next try 3h >= 2.5h);
    next-failure warns at the 3h failure."""
    sc = scenario({"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "10h", "delay_warning": "2h30m",
                   "delay_warning_at": timing}, [{"start": 0, "end": "5h"}])
    m = mtasim.simulate(sc, engine=engine).messages
    assert m.warned_s[0] == warned_at


@pytest.mark.parametrize("engine", ["des", "fast"])
@pytest.mark.parametrize("expiry_status, failure, expected", [
    ("last", "451 4.3.0 busy", "4.3.0"), ("last-permanent", "451 4.3.0 busy", "5.3.0"),
    ("last-permanent", "refused", "5.4.1"), ("5.4.7", "refused", "5.4.7")])
def test_expiry_status_kinds(engine, expiry_status, failure, expected):
    """expiry_status: a fixed code, the last deferral's status, or that status made permanent (Haraka)."""
    sc = scenario({"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "2h", "expiry_status": expiry_status},
                  [{"start": 0, "end": "10h", "failure": failure}])
    m = mtasim.simulate(sc, engine=engine).messages
    assert (Outcome(m.outcome[0]), m.status_text(0)) == (Outcome.EXPIRED, expected)


@pytest.mark.parametrize("engine", ["des", "fast"])
@pytest.mark.parametrize("timing, expected_h", [
    ("age", [1, 3, 5, 7]),                 # exactly at the ages 1h, 3h, then every 2h, before delivery at 8h
    ("next-failure", [1, 3, 5, 7]),        # the hourly failures reach each age exactly
    ("next-due", [0, 2, 4, 6]),            # the failure whose next try reaches each age
])
def test_several_delay_warnings(engine, timing, expected_h):
    """delay_warning [1h, 3h] with delay_warning_repeat 2h against an 8 h outage with hourly retries: four
    warnings, the summary counts them, warned_s keeps the first."""
    sc = scenario({"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "1d", "delay_warning": ["1h", "3h"],
                   "delay_warning_repeat": "2h", "delay_warning_at": timing}, [{"start": 0, "end": "8h"}])
    result = mtasim.simulate(sc, engine=engine)
    assert result.warnings[1].tolist() == [h * HOUR for h in expected_h]
    assert result.summary()["delay_warnings"] == 4
    assert result.messages.warned_s[0] == expected_h[0] * HOUR


def test_delay_warning_list_must_ascend():
    """A delay_warning list out of order is refused naming the item."""
    with pytest.raises(ConfigError, match=r"delay_warning\[1\]: expected ages in ascending order"):
        scenario({"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "1d", "delay_warning": ["3h", "1h"]})

"""Sendmail and Courier presets reproduce the worked examples and refuse bad native parameters.

Sendmail: docs/mta-retry-facts.md §3, the §10 row (721 queue-run passes) and the §12 run of 8.17.1.9.
Courier: §8.1 and the §10 row (238 attempts, the code's 30 min first long wait). Every expected time is
computed by hand below. Neither preset has jitter, so the nominal trace is the only trace.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from conftest import HOUR, MIN, run_one, scenario
from helpers import assert_same, both

import mtasim
from mtasim import ConfigError, Outcome, get_preset, trace_schedule
from mtasim.cli import main
from mtasim.durations import format_hms
from mtasim.presets.courier import CourierSchedule
from mtasim.presets.sendmail import pintvl
from mtasim.recipients import AttemptResult

DAY = 86400.0
REPLY_451 = "451 4.3.0 Mail server temporarily unavailable"


def preset_sender(**sender):
    """The Sender a scenario with ``sender: {preset: ..., <native parameters>}`` produces."""
    data = {"name": "t", "messages": {"count": 1}, "recipients": [{"domain": "r.example"}],
            "sender": copy.deepcopy(sender)}
    return mtasim.scenario_from_dict(data).sender


def cli_schedule(capsys, *argv):
    assert main(["schedule", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def engines_scenario(sender, outages, count=40, end="6h", seed=3):
    return mtasim.scenario_from_dict({
        "name": "engines", "seed": seed, "sender": sender,
        "messages": {"count": count, "arrival": {"kind": "uniform", "start": 0, "end": end}},
        "recipients": [{"domain": "down.example", "outages": outages}, {"domain": "up.example", "share": 0.3}],
    })


# == Sendmail =========================================================================================
# §10 row: -q10m aligned with arrival, MinQueueAge 0 -> the job is processed at every run 0:00, 0:10, ...
# Timeout.queuereturn 5 d = 432000 s = 720 runs, checked after each processing with >=, so the pass at
# 120:00 is the last: 721 passes. queuewarn 4 h = run 24, processed at exactly 4:00 (>=).
SENDMAIL_ATTEMPTS = [600.0 * k for k in range(721)]


def test_sendmail_worked_example_row():
    """Sendmail §10: 721 passes 0:00, 0:10, ... 120:00, give-up at 120:00 with 4.4.7, one warning at 4:00."""
    trace = trace_schedule(get_preset("sendmail").sender())
    assert len(trace.attempts_s) == 721
    assert trace.attempts_s == pytest.approx(SENDMAIL_ATTEMPTS)
    assert [format_hms(t) for t in trace.attempts_s[:3]] == ["0:00:00", "0:10:00", "0:20:00"]
    assert format_hms(trace.attempts_s[-1]) == "120:00:00"
    assert trace.give_up_s == pytest.approx(5 * DAY)
    assert format_hms(trace.give_up_s) == "120:00:00"
    assert trace.status == "4.4.7"
    assert trace.warnings_s == pytest.approx([4 * HOUR])


def test_sendmail_worked_example_row_through_cli(capsys):
    """`mtasim schedule sendmail --json` prints the same 721 passes, give-up, 4.4.7 and 4:00 warning."""
    out = cli_schedule(capsys, "sendmail")
    assert out["preset"] == "sendmail"
    assert out["attempts_s"] == pytest.approx(SENDMAIL_ATTEMPTS)
    assert out["give_up_s"] == pytest.approx(432000.0)
    assert out["status"] == "4.4.7"
    assert out["delay_warnings_s"] == pytest.approx([14400.0])


def test_sendmail_engine_matches_the_worked_example():
    """Through the engine, a host refusing for 6 d sees the 721 passes; expired at 120:00, 4.4.7, warned 4:00."""
    result, times = run_one({"preset": "sendmail"}, [{"start": 0, "end": "6d", "failure": "refused"}])
    assert times == pytest.approx(SENDMAIL_ATTEMPTS)
    m = result.messages
    assert m.outcome[0] == Outcome.EXPIRED
    assert m.final_s[0] == pytest.approx(432000.0)
    assert m.status_text(0) == "4.4.7"
    assert m.warned_s[0] == pytest.approx(4 * HOUR)


def test_sendmail_status_is_4_4_7_whatever_the_deferral():
    """The bounce carries 4.4.7 even when every deferral was a 451 4.3.0 (class 4 kept, not the last status)."""
    trace = trace_schedule(get_preset("sendmail").sender(), failure=REPLY_451)
    assert trace.status == "4.4.7"
    assert trace.attempts_s == pytest.approx(SENDMAIL_ATTEMPTS)


def test_sendmail_compressed_run_of_section_12():
    """§12 timings (-q5s, MinQueueAge 10s, queuewarn 1m, queuereturn 5m): a try every 10 s, 4.4.7 at 300 s."""
    # Tries at 0..300 s; the bounce comes after the try whose age is >= 5m (300 s); the warning at the first
    # failure whose age is >= 1m (60 s). Host-status skipping (the other §12 observation) is host-level.
    sender = preset_sender(preset="sendmail", QueueInterval="5s", MinQueueAge="10s",
                           **{"Timeout.queuewarn": "1m", "Timeout.queuereturn": "5m"})
    trace = trace_schedule(sender)
    # due = last try + 10 s, runs every 5 s from 0: every due time is a run, so 0, 10, ..., 300.
    assert trace.attempts_s == pytest.approx([10.0 * k for k in range(31)])
    assert trace.give_up_s == pytest.approx(300.0)
    assert trace.status == "4.4.7"
    assert trace.warnings_s == pytest.approx([60.0])


def test_sendmail_compressed_run_through_engine_with_451():
    """§12 through the engine against a 451 server: same 31 tries, expired at 300 s with 4.4.7, warned at 60 s."""
    sender = {"preset": "sendmail", "QueueInterval": "5s", "MinQueueAge": "10s",
              "Timeout.queuewarn": "1m", "Timeout.queuereturn": "5m"}
    result, times = run_one(sender, [{"start": 0, "end": "1h", "failure": REPLY_451}])
    assert times == pytest.approx([10.0 * k for k in range(31)])
    m = result.messages
    assert (m.outcome[0], m.status_text(0)) == (Outcome.EXPIRED, "4.4.7")
    assert m.final_s[0] == pytest.approx(300.0)
    assert m.warned_s[0] == pytest.approx(60.0)


def test_sendmail_min_queue_age_waits_for_a_later_run():
    """MinQueueAge 25m with 10 min runs: due 25 min after each try, taken by the 30 min run: every 30 min."""
    trace = trace_schedule(preset_sender(preset="sendmail", MinQueueAge="25m"), until_s=3 * HOUR)
    assert trace.attempts_s == pytest.approx([30 * MIN * k for k in range(7)])


def test_sendmail_min_queue_age_equal_to_the_interval_is_not_too_young():
    """A job exactly MinQueueAge old is eligible (too young only when age < MinQueueAge): 10m/10m -> every run."""
    trace = trace_schedule(preset_sender(preset="sendmail", MinQueueAge="10m"), until_s=HOUR)
    assert trace.attempts_s == pytest.approx([10 * MIN * k for k in range(7)])


def test_sendmail_max_queue_age_doubles_and_ignores_min_queue_age():
    """MaxQueueAge 1h: the wait is the age at the last try capped at 1 h, and MinQueueAge is then ignored."""
    # 0 (wait 0) -> 0:10 (wait 10m) -> 0:20 -> 0:40 -> 1:20 (wait capped at 1h) -> 2:20 -> 3:20 -> 4:20
    for extra in ({}, {"MinQueueAge": "30m"}):
        trace = trace_schedule(preset_sender(preset="sendmail", MaxQueueAge="1h", **extra), until_s=4.5 * HOUR)
        assert trace.attempts_s == pytest.approx([m * MIN for m in (0, 10, 20, 40, 80, 140, 200, 260)])


def test_sendmail_queuereturn_boundary_is_inclusive():
    """queuereturn 120:00:01: the 120:00 pass (age < queuereturn) goes on; 120:10 bounces (722 passes)."""
    trace = trace_schedule(preset_sender(preset="sendmail", **{"Timeout.queuereturn": 5 * DAY + 1}))
    assert len(trace.attempts_s) == 722
    assert trace.give_up_s == pytest.approx(120 * HOUR + 10 * MIN)


def test_sendmail_queuereturn_zero_bounces_after_the_first_attempt():
    """Timeout.queuereturn 0: the first attempt is made, then the message bounces at once (age 0 >= 0)."""
    trace = trace_schedule(preset_sender(preset="sendmail", **{"Timeout.queuereturn": 0}))
    assert trace.attempts_s == [0.0]
    assert trace.give_up_s == 0.0
    assert trace.warnings_s == []


def test_sendmail_queuewarn_boundary_and_off():
    """queuewarn 4h + 1 s: the 4:00 pass is too early, the warning goes at 4:10; queuewarn 0: no warning."""
    late = trace_schedule(preset_sender(preset="sendmail", **{"Timeout.queuewarn": 4 * HOUR + 1}))
    assert late.warnings_s == pytest.approx([4 * HOUR + 10 * MIN])
    off = trace_schedule(preset_sender(preset="sendmail", **{"Timeout.queuewarn": 0}))
    assert off.warnings_s == []


def test_sendmail_queue_run_phase_and_debian_name():
    """queue_run_phase 3m shifts the runs to 0:03, 0:13, ...; QUEUE_INTERVAL (Debian's name) sets the interval."""
    trace = trace_schedule(preset_sender(preset="sendmail", queue_run_phase="3m"), until_s=HOUR)
    assert trace.attempts_s == pytest.approx([0, 3 * MIN, 13 * MIN, 23 * MIN, 33 * MIN, 43 * MIN, 53 * MIN])
    hourly = trace_schedule(preset_sender(preset="sendmail", QUEUE_INTERVAL="1h"))
    assert hourly.attempts_s == pytest.approx([HOUR * k for k in range(121)])


def test_sendmail_engine_delivers_at_the_first_run_after_the_outage():
    """A 65 min refusal without the host-status cache: retried at every 10 min run, delivered by the 1:10
    run, 8 attempts."""
    result, times = run_one({"preset": "sendmail", "Timeout.hoststatus": 0},
                            [{"start": 0, "end": "65m", "failure": "refused"}])
    assert times == pytest.approx([10 * MIN * k for k in range(8)])
    assert result.messages.outcome[0] == Outcome.DELIVERED
    assert result.messages.final_s[0] == pytest.approx(70 * MIN)


def test_sendmail_bounce_text_uses_pintvl():
    """The bounce text is "Cannot send message for 5 days"; pintvl spells weeks, days, hours, minutes, seconds."""
    assert get_preset("sendmail").sender().expiry_reply == "Cannot send message for 5 days"
    assert pintvl(7 * DAY + 2 * HOUR) == "1 week, 2 hours"
    assert pintvl(HOUR + 61) == "1 hour, 1 minute, 1 second"
    assert pintvl(0) == "zero seconds"


def test_sendmail_queue_interval_zero_refused():
    """QueueInterval 0 (no queue runs: never retried) is refused with the range."""
    with pytest.raises(ConfigError, match=r"sender\.QueueInterval: expected a duration >= 1s"):
        preset_sender(preset="sendmail", QueueInterval=0)


def test_sendmail_unknown_key_suggests_the_option():
    """A misspelt option suggests Sendmail's name for it."""
    with pytest.raises(ConfigError, match=r"sender\.MinQueAge: unknown key 'MinQueAge'; did you mean 'MinQueueAge'"):
        preset_sender(preset="sendmail", MinQueAge="10m")


def test_sendmail_host_status_cache_reconnects_every_30_minutes():
    """Debian's persistent host status: the refused host is cached for 30 min, so the 10 min runs connect
    only at 0, 30, 60 and 90 min (the rest are `suspended` passes); delivered at 1:30 after 10 passes."""
    result, times = run_one({"preset": "sendmail"}, [{"start": 0, "end": "65m", "failure": "refused"}])
    a = result.attempts
    assert times == pytest.approx([10 * MIN * k for k in range(10)])
    suspended = [t for t, r in zip(a.time_s, a.result) if r == AttemptResult.SUSPENDED]
    assert suspended == pytest.approx([10 * MIN * k for k in (1, 2, 4, 5, 7, 8)])
    assert result.messages.final_s[0] == pytest.approx(90 * MIN) and result.engine == "des"


def test_sendmail_without_host_status_directory_skips_only_within_a_run():
    """Without HostStatusDirectory the cache lives for one queue run: three messages due at the same run,
    the first refused, the other two skipped in that run; every run connects again."""
    sc = scenario({"preset": "sendmail", "HostStatusDirectory": ""},
                  [{"start": 0, "end": "25m", "failure": "refused"}],
                  {"count": 3, "arrival": {"kind": "at", "time": "1m"}})
    a = mtasim.simulate(sc, attempts=True).attempts
    # all three arrive at 1m (first attempts, each a "run" of its own at that instant: the first refusal
    # is cached for that instant), then runs at 10 and 20 min refuse one and skip two, the 30 min run delivers
    for t in (60.0, 10 * MIN, 20 * MIN):
        results = sorted(int(r) for r, x in zip(a.result, a.time_s) if x == t)
        assert results == [AttemptResult.REFUSED, AttemptResult.SUSPENDED, AttemptResult.SUSPENDED], (t, results)
    assert sorted(int(r) for r, x in zip(a.result, a.time_s) if x == 30 * MIN) == [AttemptResult.DELIVERED] * 3


def test_sendmail_engines_agree():
    """DES and fast engine give identical per-message results for Sendmail with a refusing-then-451 outage."""
    sc = engines_scenario({"preset": "sendmail", "Timeout.hoststatus": 0, "Timeout.queuereturn": "8h",
                           "Timeout.queuewarn": "2h",
                           "MinQueueAge": "15m", "queue_run_phase": "4m"},
                          [{"start": "1h", "end": "5h", "failure": "refused"},
                           {"start": "5h", "end": "14h", "failure": REPLY_451}])
    des, quick = both(sc)
    assert set(des.messages.outcome) >= {Outcome.EXPIRED, Outcome.DELIVERED}
    assert_same(des, quick)


# == Courier ==========================================================================================
# §10 row (code behaviour): bursts of 3 tries 5 min apart; after the 3rd, 6th, 9th, ... completion wait
# 15 min * 2**min(n/3, 3) = 30, 60, then 120 min. Burst starts: 0, 0:40, 1:50, 4:00, then every 2:10 (the
# 120 min wait + two 5 min gaps). Burst j >= 3 starts at 240 + 130 (j - 3) min; the last before 7 d
# (10080 min) starts at 240 + 130*75 = 9990 (166:30), its 3rd try is 166:40, then 120 min -> 168:40, the first
# completion at or after 7 d: 4*3 + 75*3 + 1 = 238 attempts.
COURIER_BURSTS = [0, 40, 110, 240] + [240 + 130 * j for j in range(1, 76)]
COURIER_ATTEMPTS = [(s + d) * MIN for s in COURIER_BURSTS for d in (0, 5, 10)] + [10120 * MIN]


def test_courier_worked_example_row():
    """Courier §10: 238 attempts in bursts, give-up at 168:40 with 5.0.0, the delayed DSN at the 4:00 failure."""
    trace = trace_schedule(get_preset("courier").sender())
    assert len(trace.attempts_s) == 238
    assert trace.attempts_s == pytest.approx(COURIER_ATTEMPTS)
    assert [format_hms(t) for t in trace.attempts_s[:12]] == [
        "0:00:00", "0:05:00", "0:10:00", "0:40:00", "0:45:00", "0:50:00",
        "1:50:00", "1:55:00", "2:00:00", "4:00:00", "4:05:00", "4:10:00"]
    assert [format_hms(t) for t in trace.attempts_s[-4:]] == ["166:30:00", "166:35:00", "166:40:00", "168:40:00"]
    assert trace.give_up_s == pytest.approx(168 * HOUR + 40 * MIN)
    assert trace.status == "5.0.0"
    assert trace.warnings_s == pytest.approx([4 * HOUR])


def test_courier_worked_example_row_through_cli(capsys):
    """`mtasim schedule courier --json` prints the same 238 attempts, 168:40 give-up, 5.0.0, warning at 4:00."""
    out = cli_schedule(capsys, "courier")
    assert out["attempts_s"] == pytest.approx(COURIER_ATTEMPTS)
    assert out["give_up_s"] == pytest.approx(607200.0)
    assert out["status"] == "5.0.0"
    assert out["delay_warnings_s"] == pytest.approx([14400.0])


def test_courier_first_long_wait_follows_the_code_not_the_doc():
    """After the 3rd completion n/beta is already 1, so the wait is gamma*2 = 30 min (0:10 -> 0:40), not 15."""
    trace = trace_schedule(get_preset("courier").sender(), until_s=HOUR)
    assert np.diff(trace.attempts_s)[2] == pytest.approx(30 * MIN)
    assert trace.attempts_s[3] == pytest.approx(40 * MIN)


def test_courier_overrides_change_the_bursts():
    """retryalpha 1m, retrybeta 2, retrygamma 10m, retrymaxdelta 1: bursts of 2 tries 1 min apart, then 20 min."""
    # n odd -> 1 min; n even -> 10 min * 2**min(n/2, 1) = 20 min: 0, 1, 21, 22, 42, 43, 63 min
    sender = preset_sender(preset="courier", retryalpha="1m", retrybeta=2, retrygamma="10m", retrymaxdelta=1)
    trace = trace_schedule(sender, until_s=63 * MIN)
    assert trace.attempts_s == pytest.approx([m * MIN for m in (0, 1, 21, 22, 42, 43, 63)])


def test_courier_maxdelta_zero_gives_the_doc_like_gamma():
    """retrymaxdelta 0 caps the exponent at 0: every burst is followed by retrygamma (15 min)."""
    trace = trace_schedule(preset_sender(preset="courier", retrymaxdelta=0), until_s=HOUR + 30 * MIN)
    # bursts start every 10 + 15 = 25 min
    assert trace.attempts_s == pytest.approx([(25 * j + d) * MIN for j in range(4) for d in (0, 5, 10)])


def test_courier_queuetime_boundary_is_inclusive():
    """queuetime is reached at now >= expiry: queuetime 166:40 bounces at the 166:40 completion, 166:40:01 at 168:40."""
    exact = trace_schedule(preset_sender(preset="courier", queuetime=10000 * MIN))
    assert len(exact.attempts_s) == 237
    assert exact.give_up_s == pytest.approx(10000 * MIN)
    later = trace_schedule(preset_sender(preset="courier", queuetime=10000 * MIN + 1))
    assert len(later.attempts_s) == 238
    assert later.give_up_s == pytest.approx(10120 * MIN)


def test_courier_warntime_boundary_and_off():
    """warntime 4:00:01 moves the delayed DSN to the 4:05 failure; warntime 0 sends none."""
    late = trace_schedule(preset_sender(preset="courier", warntime=4 * HOUR + 1))
    assert late.warnings_s == pytest.approx([4 * HOUR + 5 * MIN])
    assert trace_schedule(preset_sender(preset="courier", warntime=0)).warnings_s == []


def test_courier_no_warning_on_the_expiring_attempt():
    """queuetime 1h, warntime 1h: the first completion past 1 h (1:50) bounces; the failure DSN wins, no warning."""
    trace = trace_schedule(preset_sender(preset="courier", queuetime="1h", warntime="1h"))
    assert trace.attempts_s == pytest.approx([m * MIN for m in (0, 5, 10, 40, 45, 50, 110)])
    assert trace.give_up_s == pytest.approx(110 * MIN)
    assert trace.warnings_s == []


def test_courier_engine_delivers_after_a_3h_outage():
    """A 3 h refusal: tries at 0..2:00 fail, the 4:00 try (first of the 4th burst) delivers; no DSN yet."""
    result, times = run_one({"preset": "courier"}, [{"start": 0, "end": "3h", "failure": "refused"}])
    assert times == pytest.approx([m * MIN for m in (0, 5, 10, 40, 45, 50, 110, 115, 120, 240)])
    m = result.messages
    assert m.outcome[0] == Outcome.DELIVERED
    assert m.final_s[0] == pytest.approx(4 * HOUR)
    assert np.isnan(m.warned_s[0])


def test_courier_timeouts_count_from_completion():
    """Waits run from each attempt's completion: with 30 s connect timeouts the 2nd try is at 5:30, the 3rd at 11:00."""
    trace = trace_schedule(get_preset("courier").sender(), failure="timeout", until_s=15 * MIN)
    assert trace.attempts_s == pytest.approx([0, 330, 660])


def test_courier_retrybeta_zero_refused():
    """retrybeta 0 (a division by zero in msgq::done) is refused with the range."""
    with pytest.raises(ConfigError, match=r"sender\.retrybeta: expected a whole number >= 1"):
        preset_sender(preset="courier", retrybeta=0)


def test_courier_retrymaxdelta_and_retryalpha_ranges():
    """retrymaxdelta above 62 (1L << n) and retryalpha 0 are refused, naming the key and the range."""
    with pytest.raises(ConfigError, match=r"sender\.retrymaxdelta: expected a whole number >= 0 and <= 62"):
        preset_sender(preset="courier", retrymaxdelta=63)
    with pytest.raises(ConfigError, match=r"sender\.retryalpha: expected a duration >= 1s"):
        preset_sender(preset="courier", retryalpha=0)


def test_courier_schedule_kind_in_a_custom_sender():
    """`schedule: {kind: courier}` names the registered kind with Courier's defaults (and native keys)."""
    sc = mtasim.scenario_from_dict({
        "name": "t", "messages": {"count": 1}, "recipients": [{"domain": "r.example"}],
        "sender": {"schedule": {"kind": "courier", "retrygamma": "10m"}, "expiry": "2h"}})
    assert sc.sender.schedule == CourierSchedule(300.0, 3, 600.0, 3)
    with pytest.raises(ConfigError, match=r"sender\.schedule\.retrybeta: expected a whole number >= 1"):
        mtasim.scenario_from_dict({
            "name": "t", "messages": {"count": 1}, "recipients": [{"domain": "r.example"}],
            "sender": {"schedule": {"kind": "courier", "retrybeta": 0}, "expiry": "2h"}})


def test_courier_vectorised_waits_equal_scalar_waits():
    """CourierSchedule.waits is wait_after element by element, bit for bit."""
    schedule = CourierSchedule(300.0, 3, 900.0, 3)
    k = np.random.default_rng(4).integers(1, 400, 1000)
    vec = schedule.waits(k, np.zeros(len(k)), 1.0, np.zeros(len(k), dtype=bool))
    assert vec.tolist() == [schedule.wait_after(int(n), 0.0, 1.0, False) for n in k]


def test_courier_engines_agree():
    """DES and fast engine give identical per-message results for Courier (timeouts, then 451s; warnings)."""
    sc = engines_scenario({"preset": "courier", "queuetime": "1d", "warntime": "3h"},
                          [{"start": "30m", "end": "10h", "failure": "timeout"},
                           {"start": "10h", "end": "40h", "failure": REPLY_451}], count=60)
    des, quick = both(sc)
    assert set(des.messages.outcome) >= {Outcome.EXPIRED, Outcome.DELIVERED}
    assert_same(des, quick)

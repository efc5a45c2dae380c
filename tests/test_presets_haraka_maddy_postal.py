"""The haraka, maddy and postal presets (give-up by count) reproduce their worked examples and refuse bad values.

Haraka: docs/mta-retry-facts.md §6 and its §10 row (waits 2^(i+5) s, the 13th failure bounces at 72:48, 4.x.x made
5.x.x). maddy: §8.4 and its §10 row (15 min x int(1.25^(n-1)) as the code computes it, the 20th failure is
final at 66:00). Postal: §8.2 and its §10 row (5 min x 1.3^n, 18 attempts, hard-failed without a try at the
next pick-up, 30:57:35). None of them has jitter, so the default draw is the row's nominal case and the CLI
prints the same times. Every expected time is worked out by hand here.
"""

from __future__ import annotations

import copy
import json
from itertools import accumulate

import numpy as np
import pytest
from conftest import HOUR, MIN, run_one
from helpers import assert_same, both

import mtasim
from mtasim import ConfigError, Outcome, get_preset, trace_schedule
from mtasim.cli import main
from mtasim.durations import format_hms
from mtasim.presets import PresetValueError
from mtasim.presets.haraka import parse_temp_fail_intervals
from mtasim.presets.maddy import MaddySchedule

REPLY_451 = "451 4.3.0 Mail server temporarily unavailable"
BASE = {"name": "t", "messages": {"count": 1}, "recipients": [{"domain": "r.example"}]}


def preset_sender(**sender):
    """The Sender a scenario with ``sender: {preset: ..., <native parameters>}`` produces."""
    data = copy.deepcopy(BASE)
    data["sender"] = sender
    return mtasim.scenario_from_dict(data).sender


def cli_schedule(capsys, *args):
    """`mtasim schedule ... --json` parsed."""
    assert main(["schedule", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def attempt_times(waits):
    """Attempt times of a message whose every attempt fails at once: 0, then the running sums of the waits."""
    return [0.0, *accumulate(waits)]


def outage_scenario(sender, seed=11):
    """60 messages over 6 h to a domain refusing for 20 h, one timing out for 3 h and one answering 451 for 5 d."""
    return mtasim.scenario_from_dict({
        "name": "outage", "seed": seed, "sender": sender,
        "messages": {"count": 60, "arrival": {"kind": "uniform", "start": 0, "end": "6h"}},
        "recipients": [
            {"domain": "down.example", "outages": [{"start": "1h", "end": "21h", "failure": "refused"}]},
            {"domain": "slow.example", "outages": [{"start": 0, "end": "3h", "failure": "timeout"}]},
            {"domain": "busy.example", "outages": [{"start": 0, "end": "5d", "failure": REPLY_451}]},
        ],
    })


def outcomes(result):
    return {Outcome(int(o)) for o in result.messages.outcome}


# ================================================================================================
# Haraka
# ================================================================================================
# §10: waits 2^6 .. 2^17 s; attempts 0:00, 0:01:04, 0:03:12, ..., 72:48:00; sum 2^6..2^17 = 2^18 - 64 = 262080 s.
HARAKA_WAITS = [2.0 ** (i + 5) for i in range(1, 13)]
HARAKA_ATTEMPTS = attempt_times(HARAKA_WAITS)
HARAKA_ROW = ["0:00:00", "0:01:04", "0:03:12", "0:07:28", "0:16:00", "0:33:04", "1:07:12", "2:15:28", "4:32:00",
              "9:05:04", "18:11:12", "36:23:28", "72:48:00"]


def test_haraka_worked_example_row():
    """Haraka §10 row: 13 attempts, the 13th failure bounces at 72:48:00 with 4.4.1 made 5.4.1, no warning."""
    trace = trace_schedule(get_preset("haraka").sender())
    assert len(trace.attempts_s) == 13
    assert trace.attempts_s == HARAKA_ATTEMPTS
    assert [format_hms(t) for t in trace.attempts_s] == HARAKA_ROW
    assert trace.give_up_s == 262080.0 == 2.0 ** 18 - 64
    assert trace.status == "5.4.1"
    assert trace.warnings_s == []


def test_haraka_cli_json_matches_the_row(capsys):
    """`mtasim schedule haraka --json` prints the §10 row (Haraka has no jitter)."""
    out = cli_schedule(capsys, "haraka")
    assert out["attempts_s"] == HARAKA_ATTEMPTS
    assert out["give_up_s"] == 262080.0
    assert out["status"] == "5.4.1"
    assert out["delay_warnings_s"] == []


def test_haraka_4xx_reply_made_permanent():
    """A 451 4.3.0 outage ends with 5.3.0: the leading 4 of the last status becomes 5."""
    trace = trace_schedule(get_preset("haraka").sender(), failure=REPLY_451)
    assert trace.attempts_s == HARAKA_ATTEMPTS
    assert trace.status == "5.3.0"


def test_haraka_max_temp_failures_override():
    """maxTempFailures 5: waits 64, 128, 256, 512 s; the 5th failure bounces at 960 s."""
    trace = trace_schedule(preset_sender(preset="haraka", maxTempFailures=5))
    assert trace.attempts_s == [0.0, 64.0, 192.0, 448.0, 960.0]
    assert trace.give_up_s == 960.0


def test_haraka_max_temp_failures_one_bounces_at_once():
    """maxTempFailures 1: no waits, the first temporary failure bounces."""
    trace = trace_schedule(preset_sender(preset="haraka", maxTempFailures=1))
    assert trace.attempts_s == [0.0]
    assert trace.give_up_s == 0.0
    assert trace.status == "5.4.1"


def test_haraka_temp_fail_intervals_override(capsys):
    """temp_fail_intervals "1m, 5m*2, 1h*3": 7 attempts at 0, 1m, 6m, 11m, 1h11m, 2h11m, 3h11m, then bounce."""
    expected = attempt_times([60, 300, 300, 3600, 3600, 3600])
    trace = trace_schedule(preset_sender(preset="haraka", temp_fail_intervals="1m, 5m*2, 1h*3"))
    assert trace.attempts_s == expected
    assert trace.give_up_s == 3 * HOUR + 11 * MIN
    out = cli_schedule(capsys, "haraka", "--set", "temp_fail_intervals=1m, 5m*2, 1h*3")
    assert out["attempts_s"] == expected


def test_haraka_temp_fail_intervals_take_precedence():
    """Given both, temp_fail_intervals wins over maxTempFailures (set_temp_fail_intervals rule 1)."""
    trace = trace_schedule(preset_sender(preset="haraka", maxTempFailures=3, temp_fail_intervals="10s*4"))
    assert trace.attempts_s == [0.0, 10.0, 20.0, 30.0, 40.0]


def test_haraka_none_bounces_at_the_first_failure():
    """temp_fail_intervals "none" (any case, any spaces): bounce at the first temporary failure."""
    trace = trace_schedule(preset_sender(preset="haraka", temp_fail_intervals=" None "))
    assert trace.attempts_s == [0.0]
    assert trace.give_up_s == 0.0


@pytest.mark.parametrize("text, expected", [
    # Haraka's own test cases (test/outbound/index.js "set_temp_fail_intervals coverage"):
    ("10s, 1m*2", (10, 60, 60)),
    ("30s, 1m, 5m, 9m, 15m*3, 30m*2, 1h*3, 2h*3, 1d",
     (30, 60, 300, 540, 900, 900, 900, 1800, 1800, 3600, 3600, 3600, 7200, 7200, 7200, 86400)),
    ("none", ()),
    # Number() reads decimals; case and whitespace are ignored; a zero count adds nothing.
    ("1.5M, 5 s * 2, 1h*0", (90, 5, 5)),
])
def test_haraka_interval_syntax(text, expected):
    """temp_fail_intervals parses as Haraka's set_temp_fail_intervals() does."""
    assert parse_temp_fail_intervals(text) == tuple(float(x) for x in expected)


@pytest.mark.parametrize("text, element, message", [
    ("1m, 4s", 1, "delay time too small, should be >=5 seconds"),
    ("1m*2*3", 0, r"too many \*"),
    ("1m*1.5", 0, "multiplier is not an integer"),
    ("5m, 1x", 1, "invalid time span symbol"),
    ("abcm", 0, "invalid number or symbol"),
    ("m", 0, "invalid time span"),
    ("   ", 0, "nothing specified"),
    ("1m*0", 0, "unexpected parsing result"),
])
def test_haraka_bad_intervals_refused(text, element, message):
    """A malformed temp_fail_intervals is refused with Haraka's own message and element number."""
    with pytest.raises(ConfigError, match=rf"sender\.temp_fail_intervals: temp_fail_intervals syntax error "
                                          rf"parsing element {element}: {message}"):
        preset_sender(preset="haraka", temp_fail_intervals=text)


def test_haraka_python_api_parses_interval_text():
    """Preset.sender() given temp_fail_intervals as text parses it as the YAML path does, and refuses bad text."""
    assert get_preset("haraka").sender({"temp_fail_intervals": "1m*2"}).schedule.intervals_s == (60.0, 60.0)
    with pytest.raises(PresetValueError, match="parsing element 0: invalid time span symbol"):
        get_preset("haraka").sender({"temp_fail_intervals": "1y"})


def test_haraka_intervals_must_be_text():
    """temp_fail_intervals given as a number (not Haraka's text syntax) is refused, naming the key."""
    with pytest.raises(ConfigError, match=r"sender\.temp_fail_intervals: expected text such as"):
        preset_sender(preset="haraka", temp_fail_intervals=60)


@pytest.mark.parametrize("value", [0, 101, 2.5])
def test_haraka_max_temp_failures_range(value):
    """maxTempFailures is a whole number 1..100; outside is refused with the range."""
    with pytest.raises(ConfigError, match=r"sender\.maxTempFailures: expected a whole number >= 1 and <= 100"):
        preset_sender(preset="haraka", maxTempFailures=value)


def test_haraka_engine_delivers_after_outage():
    """Refused until 3 h: tries at 0 .. 2:15:28 fail, the 4:32:00 try (the 9th) delivers."""
    result, times = run_one({"preset": "haraka"}, [{"start": 0, "end": "3h", "failure": "refused"}])
    assert times == HARAKA_ATTEMPTS[:9]
    assert result.messages.outcome[0] == Outcome.DELIVERED
    assert result.messages.final_s[0] == 4 * HOUR + 32 * MIN


def test_haraka_engine_bounces_at_the_13th_failure():
    """Through the engine, a 451 for 4 days: 13 attempts, expired at 72:48 with 5.3.0."""
    result, times = run_one({"preset": "haraka"}, [{"start": 0, "end": "4d"}])
    assert times == HARAKA_ATTEMPTS
    m = result.messages
    assert m.outcome[0] == Outcome.EXPIRED and m.final_s[0] == 262080.0
    assert m.status_text(0) == "5.3.0"


def test_haraka_engines_agree():
    """DES and fast engine agree message by message on haraka through refusals, timeouts and 451s."""
    des, quick = both(outage_scenario({"preset": "haraka", "temp_fail_intervals": "10m*3, 1h*6"}))
    assert_same(des, quick)
    assert outcomes(des) == {Outcome.DELIVERED, Outcome.EXPIRED}


# ================================================================================================
# maddy
# ================================================================================================
# §8.4: wait after the n-th failure = 15 min x int(1.25^(n-1)); int(1.25^k) for k = 0..18 is
# 1, 1, 1, 1, 2, 3, 3, 4, 5, 7, 9, 11, 14, 18, 22, 28, 35, 44, 55 (1.25^4 = 2.44, 1.25^9 = 7.45, ...).
MADDY_FACTORS = [1, 1, 1, 1, 2, 3, 3, 4, 5, 7, 9, 11, 14, 18, 22, 28, 35, 44, 55]
MADDY_ATTEMPTS = attempt_times([15 * MIN * f for f in MADDY_FACTORS])
MADDY_ROW = ["0:00:00", "0:15:00", "0:30:00", "0:45:00", "1:00:00", "1:30:00", "2:15:00", "3:00:00", "4:00:00",
             "5:15:00", "7:00:00", "9:15:00", "12:00:00", "15:30:00", "20:00:00", "25:30:00", "32:30:00",
             "41:15:00", "52:15:00", "66:00:00"]


def test_maddy_worked_example_row():
    """maddy §10 row: 20 attempts, the 20th failure is final at 66:00:00, the last error's status, no warning."""
    trace = trace_schedule(get_preset("maddy").sender())
    assert len(trace.attempts_s) == 20
    assert trace.attempts_s == MADDY_ATTEMPTS
    assert [format_hms(t) for t in trace.attempts_s] == MADDY_ROW
    assert trace.give_up_s == 66 * HOUR
    assert trace.status == "4.4.1"           # emitDSN: Status = the last error's enhanced code, unchanged
    assert trace.warnings_s == []


def test_maddy_cli_json_matches_the_row(capsys):
    """`mtasim schedule maddy --json` prints the §10 row (no jitter)."""
    out = cli_schedule(capsys, "maddy")
    assert out["attempts_s"] == MADDY_ATTEMPTS
    assert out["give_up_s"] == 66 * HOUR
    assert out["status"] == "4.4.1"


def test_maddy_status_is_the_last_reply():
    """A 451 4.3.0 outage ends with 4.3.0 (maddy does not rewrite the class)."""
    assert trace_schedule(get_preset("maddy").sender(), failure=REPLY_451).status == "4.3.0"


def test_maddy_factor_is_truncated_before_multiplying():
    """After the 5th failure the wait is 15 min x int(1.25^4 = 2.44) = 30 min, not 36.6 min (the docs' smooth curve)."""
    schedule = MaddySchedule()
    assert schedule.wait_after(5, 0.0, 1.0, True) == 30 * MIN
    assert schedule.wait_after(10, 0.0, 1.0, True) == 105 * MIN      # int(1.25^9 = 7.45) = 7


def test_maddy_max_tries_override():
    """max_tries 5: tries at 0, 15, 30, 45, 60 min; the 5th failure is final at 1:00:00."""
    trace = trace_schedule(preset_sender(preset="maddy", max_tries=5))
    assert trace.attempts_s == [0.0, 15 * MIN, 30 * MIN, 45 * MIN, 60 * MIN]
    assert trace.give_up_s == HOUR


def test_maddy_max_tries_one():
    """max_tries 1: TriesCount 0 + 1 == 1 at the first failure, which is final."""
    trace = trace_schedule(preset_sender(preset="maddy", max_tries=1))
    assert trace.attempts_s == [0.0]
    assert trace.give_up_s == 0.0


def test_maddy_max_tries_upper_limit_builds():
    """max_tries 74 (the largest whose waits fit Go's time.Duration): the last wait is 15 min x int(1.25^72)."""
    trace = trace_schedule(preset_sender(preset="maddy", max_tries=74))
    assert len(trace.attempts_s) == 74
    assert trace.attempts_s[-1] - trace.attempts_s[-2] == 15 * MIN * int(1.25 ** 72)


@pytest.mark.parametrize("value", [0, 75, -1])
def test_maddy_max_tries_range(value):
    """max_tries outside 1..74 is refused with the range (0 would never match TriesCount+1; 75 overflows)."""
    with pytest.raises(ConfigError, match=r"sender\.max_tries: expected a whole number >= 1 and <= 74"):
        preset_sender(preset="maddy", max_tries=value)


def test_maddy_schedule_from_yaml_and_vectorised():
    """A custom sender may name {kind: maddy, first: 10m, scale: 2}; waits() equals wait_after() bit for bit."""
    data = copy.deepcopy(BASE)
    data["sender"] = {"schedule": {"kind": "maddy", "first": "10m", "scale": 2}, "expiry": "2h"}
    sender = mtasim.scenario_from_dict(data).sender
    assert sender.schedule == MaddySchedule(10 * MIN, 2.0)
    # waits 10, 20, 40, 80 min: 0, 10, 30, 70, 150 min; the try at 150 min is past 2 h, so it is the last.
    assert trace_schedule(sender).attempts_s == [0.0, 10 * MIN, 30 * MIN, 70 * MIN, 150 * MIN]
    schedule = MaddySchedule()
    k = np.random.default_rng(3).integers(1, 3000, 500)
    vec = schedule.waits(k, np.zeros(500), 1.0, np.zeros(500, dtype=bool))
    assert [schedule.wait_after(int(n), 0.0, 1.0, False) for n in k] == vec.tolist()
    assert np.isinf(vec[k > 3200]).all() and np.isfinite(vec[k < 3000]).all()


def test_maddy_scale_below_one_refused():
    """{kind: maddy, scale: 0.5} is refused (int(0.5^n) would make every wait 0)."""
    data = copy.deepcopy(BASE)
    data["sender"] = {"schedule": {"kind": "maddy", "scale": 0.5}, "expiry": "2h"}
    with pytest.raises(ConfigError, match=r"sender\.schedule\.scale: expected a number >= 1"):
        mtasim.scenario_from_dict(data)


def test_maddy_engine_expires_at_66h():
    """Through the engine, refused for 4 days: 20 tries, expired at 66:00 with 4.4.1."""
    result, times = run_one({"preset": "maddy"}, [{"start": 0, "end": "4d", "failure": "refused"}])
    assert times == MADDY_ATTEMPTS
    m = result.messages
    assert m.outcome[0] == Outcome.EXPIRED and m.final_s[0] == 66 * HOUR
    assert m.status_text(0) == "4.4.1"


def test_maddy_engines_agree():
    """DES and fast engine agree message by message on maddy through refusals, timeouts and 451s."""
    des, quick = both(outage_scenario({"preset": "maddy"}))
    assert_same(des, quick)
    assert outcomes(des) == {Outcome.DELIVERED, Outcome.EXPIRED}


# ================================================================================================
# Postal
# ================================================================================================
# §8.2: the wait after the n-th failure is 300 s x 1.3^(n-1) (attempts counts the earlier tries). 18 tries at
# 0 and the running sums; the 18th failure's wait, 300 x 1.3^17, brings the next pick-up to
# 300 x (1.3^18 - 1) / 0.3 = 1000 (1.3^18 - 1) = 111455.4 s = 30:57:35, where the message is hard-failed.
POSTAL_WAITS = [300.0 * 1.3 ** a for a in range(18)]
POSTAL_ATTEMPTS = attempt_times(POSTAL_WAITS[:17])
POSTAL_GIVE_UP = 1000.0 * (1.3 ** 18 - 1)
POSTAL_ROW = ["0:00:00", "0:05:00", "0:11:30", "0:19:57", "0:30:56", "0:45:13", "1:03:47", "1:27:55", "1:59:17",
              "2:40:04", "3:33:06", "4:42:02", "6:11:38", "8:08:08", "10:39:34", "13:56:26", "18:12:22", "23:45:04"]


def hms(t):
    """h:mm:ss of a time, rounded to the second as the §10 table writes it (0:45:12.6 -> 0:45:13)."""
    return format_hms(float(round(t)))


def test_postal_worked_example_row():
    """Postal §10 row: 18 tries, hard-failed at the next pick-up 30:57:35 without a try, last status, no warning."""
    trace = trace_schedule(get_preset("postal").sender())
    assert len(trace.attempts_s) == 18
    assert trace.attempts_s == pytest.approx(POSTAL_ATTEMPTS, abs=1e-6)
    assert [hms(t) for t in trace.attempts_s] == POSTAL_ROW
    assert trace.give_up_s == pytest.approx(POSTAL_GIVE_UP, abs=1e-6)
    assert hms(trace.give_up_s) == "30:57:35"
    assert trace.attempts_s[-1] < trace.give_up_s          # no attempt at the hard fail
    assert trace.status == "4.4.1"
    assert trace.warnings_s == []


def test_postal_cli_json_matches_the_row(capsys):
    """`mtasim schedule postal --json` prints the §10 row (no jitter)."""
    out = cli_schedule(capsys, "postal")
    assert out["attempts_s"] == pytest.approx(POSTAL_ATTEMPTS, abs=1e-6)
    assert out["give_up_s"] == pytest.approx(POSTAL_GIVE_UP, abs=1e-6)
    assert out["status"] == "4.4.1"
    assert out["delay_warnings_s"] == []


def test_postal_attempts_override():
    """default_maximum_delivery_attempts 3: tries at 0, 300, 690 s; hard-failed at 690 + 507 = 1197 s."""
    trace = trace_schedule(preset_sender(preset="postal", default_maximum_delivery_attempts=3))
    assert trace.attempts_s == pytest.approx([0.0, 300.0, 690.0])
    assert trace.give_up_s == pytest.approx(1197.0)


def test_postal_one_attempt_fails_at_the_next_pick_up():
    """default_maximum_delivery_attempts 1: one try, hard-failed 5 min later when picked up again."""
    trace = trace_schedule(preset_sender(preset="postal", default_maximum_delivery_attempts=1))
    assert trace.attempts_s == [0.0]
    assert trace.give_up_s == 300.0


@pytest.mark.parametrize("value", [0, 1.5])
def test_postal_attempts_range(value):
    """default_maximum_delivery_attempts must be a whole number >= 1 (0 would fail before the first try)."""
    with pytest.raises(ConfigError, match=r"sender\.default_maximum_delivery_attempts: expected a whole number >= 1"):
        preset_sender(preset="postal", default_maximum_delivery_attempts=value)


def test_postal_engine_delivers_after_outage():
    """Refused until 2 h: tries up to 1:59:17 fail, the 10th at 1000 (1.3^9 - 1) s = 2:40:04 delivers."""
    result, times = run_one({"preset": "postal"}, [{"start": 0, "end": "2h", "failure": "refused"}])
    assert times == pytest.approx(POSTAL_ATTEMPTS[:10], abs=1e-6)
    m = result.messages
    assert m.outcome[0] == Outcome.DELIVERED
    assert m.final_s[0] == pytest.approx(1000.0 * (1.3 ** 9 - 1), abs=1e-6)
    assert hms(m.final_s[0]) == "2:40:04"


def test_postal_engine_hard_fails_without_a_try():
    """Through the engine, refused for 2 days: 18 tries, expired at 30:57:35 with no 19th attempt, 4.4.1."""
    result, times = run_one({"preset": "postal"}, [{"start": 0, "end": "2d", "failure": "refused"}])
    assert len(times) == 18
    m = result.messages
    assert m.outcome[0] == Outcome.EXPIRED and int(m.attempts[0]) == 18
    assert m.final_s[0] == pytest.approx(POSTAL_GIVE_UP, abs=1e-6)
    assert m.status_text(0) == "4.4.1"


def test_postal_engines_agree():
    """DES and fast engine agree message by message on postal through refusals, timeouts and 451s."""
    des, quick = both(outage_scenario({"preset": "postal", "default_maximum_delivery_attempts": 12}))
    assert_same(des, quick)
    assert outcomes(des) == {Outcome.DELIVERED, Outcome.EXPIRED}


# ================================================================================================
def test_presets_listed(capsys):
    """`mtasim presets` lists haraka, maddy and postal with their native parameter names."""
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name, params in [("haraka", ["maxTempFailures", "temp_fail_intervals"]), ("maddy", ["max_tries"]),
                         ("postal", ["default_maximum_delivery_attempts"])]:
        assert name in lines
        for param in params:
            assert any(line.split()[:1] == [param] for line in lines), param

"""The exim preset reproduces its worked examples and boundaries, and refuses bad rules and values.

docs/mta-retry-facts.md §2 (retry rules, retry_update(), the ultimate address timeout, 5.0.0), the §10 rows
"Exim, Debian -q30m" and "Exim, continuous queue runner", and the Exim 4.96 run in §12
(``F,60s,10s; G,300s,20s,1.5`` with ``-q5s``). The default rule has no H set, so there is no jitter: the
default draw is the rows' nominal case and the CLI (whose draws come from the seed) prints the same times.
Every expected time is worked out by hand here.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from conftest import HOUR, MIN, run_one
from helpers import Q30_ROW, assert_same, both, hm

import mtasim
from mtasim import ConfigError, Outcome, get_preset, trace_schedule
from mtasim.cli import main
from mtasim.durations import format_hms
from mtasim.presets import PresetValueError
from mtasim.presets.exim import (
    EximSchedule,
    RetryRule,
    RetryRuleError,
    parse_retry_rules,
)
from mtasim.schedules import SCHEDULE_KINDS

DAY = 86400.0
REPLY_451 = "451 4.3.0 Mail server temporarily unavailable"
BASE = {"name": "t", "messages": {"count": 1}, "recipients": [{"domain": "r.example"}]}
DEFAULT_RULES = parse_retry_rules("F,2h,15m; G,16h,1h,1.5; F,4d,6h")


def preset_sender(**sender):
    """The Sender a scenario with ``sender: {preset: exim, <native parameters>}`` produces."""
    data = copy.deepcopy(BASE)
    data["sender"] = {"preset": "exim", **sender}
    return mtasim.scenario_from_dict(data).sender


def custom_sender(sender):
    data = copy.deepcopy(BASE)
    data["sender"] = sender
    return mtasim.scenario_from_dict(data).sender


def cli_schedule(capsys, *args):
    """`mtasim schedule exim ... --json` parsed."""
    assert main(["schedule", "exim", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def outage_scenario(sender, seed=5):
    """60 messages over 6 h to a domain refusing for 30 h, one timing out for 20 h, one answering 451 for 5 d."""
    return mtasim.scenario_from_dict({
        "name": "outage", "seed": seed, "sender": sender,
        "messages": {"count": 60, "arrival": {"kind": "uniform", "start": 0, "end": "6h"}},
        "recipients": [
            {"domain": "down.example", "outages": [{"start": "1h", "end": "31h", "failure": "refused"}]},
            {"domain": "slow.example", "outages": [{"start": 0, "end": "20h", "failure": "timeout"}]},
            {"domain": "busy.example", "outages": [{"start": 0, "end": "5d", "failure": REPLY_451}]},
        ],
    })


# ================================================================================================
# §10, "Exim, continuous queue runner": every 15 min to 2:00 and 2:15 (2:00 is not past 2 h), then G from
# 2:15: 1 h -> 3:15; 1.5 h -> 4:45; 2.25 h -> 7:00; 3.375 h -> 10:22:30; 5.0625 h -> 15:26:15 (age < 16 h);
# 7.59375 h = 27,337.5 s, which Exim's retry.c computes in whole seconds (int arithmetic on time_t): 27,337 s
# -> 23:01:52 (past 16 h from here: F,6h) ... 95:01:52, then 1 s past 96:00 ("older than 4 d" is 96:00:01).
CONTINUOUS_ROW = ([hm(0, 15 * k) for k in range(10)]                           # 0:00 .. 2:15
                  + [hm(3, 15), hm(4, 45), hm(7), hm(10, 22, 30), hm(15, 26, 15), hm(23, 1, 52)]
                  + [hm(23, 1, 52) + 6 * HOUR * k for k in range(1, 13)]     # 29:01:52 .. 95:01:52
                  + [hm(96, 0, 1)])
#: The same rules in exact (fractional) time, as the schedule computes them on its own and as a custom
#: sender (which keeps exact time) runs them: 23:01:52.5 ... 95:01:52.5.
CONTINUOUS_ROW_EXACT = CONTINUOUS_ROW[:15] + [t + 0.5 for t in CONTINUOUS_ROW[15:28]] + CONTINUOUS_ROW[28:]


def test_debian_q30m_worked_example_row():
    """§10 Debian -q30m: 25 attempts 0:00 ... 94:30, 96:30; give-up at 96:30 with 5.0.0; first warning 28:30."""
    trace = trace_schedule(get_preset("exim").sender())
    assert len(trace.attempts_s) == 25
    assert trace.attempts_s == Q30_ROW
    assert [format_hms(t) for t in trace.attempts_s][-4:] == ["82:30:00", "88:30:00", "94:30:00", "96:30:00"]
    assert trace.give_up_s == hm(96, 30)
    assert trace.status == "5.0.0"
    assert trace.warnings_s == [hm(28, 30), hm(52, 30), hm(76, 30)]   # first real attempts after 24/48/72 h


def test_continuous_queue_runner_worked_example_row():
    """§10 continuous runner (queue_interval 0): 29 attempts to 95:01:52.5, then just after 96:00 (96:00:01)."""
    trace = trace_schedule(preset_sender(queue_interval=0))
    assert len(trace.attempts_s) == 29
    assert trace.attempts_s == CONTINUOUS_ROW
    assert format_hms(trace.attempts_s[15]) == "23:01:52"
    assert trace.give_up_s == hm(96, 0, 1) and format_hms(trace.give_up_s) == "96:00:01"
    assert trace.status == "5.0.0"
    assert trace.warnings_s == [hm(29, 1, 52), hm(53, 1, 52), hm(77, 1, 52)]


def test_status_is_5_0_0_whatever_the_deferral():
    """Exim's bounce always says 5.0.0: a 451 4.3.0 outage gives the same times and status 5.0.0."""
    trace = trace_schedule(get_preset("exim").sender(), failure=REPLY_451)
    assert trace.attempts_s == Q30_ROW
    assert trace.status == "5.0.0"
    assert get_preset("exim").sender().expiry_reply == "retry timeout exceeded"


def test_cli_json_matches_the_debian_row(capsys):
    """`mtasim schedule exim --json` prints the §10 -q30m row (no H rule, so no jitter)."""
    out = cli_schedule(capsys)
    assert out["attempts_s"] == Q30_ROW
    assert out["give_up_s"] == hm(96, 30)
    assert out["status"] == "5.0.0"
    assert out["delay_warnings_s"] == [hm(28, 30), hm(52, 30), hm(76, 30)]


def test_cli_json_continuous_runner(capsys):
    """`--set queue_interval=0` prints the §10 continuous-runner row."""
    out = cli_schedule(capsys, "--set", "queue_interval=0")
    assert out["attempts_s"] == CONTINUOUS_ROW
    assert out["give_up_s"] == hm(96, 0, 1)


# ================================================================================================
# §12, the compressed Exim 4.96 run
# ================================================================================================
def test_compressed_run_with_q5s():
    """§12: F every 10 s while age <= 60 s (60 is not past 60), then G gaps 20, 30, 45, 67.5 s on -q5s runs;
    the next gap (101.25 s) is past 300 s, pulled back to 301 s, tried at the 305 s run, then 5.0.0."""
    sender = preset_sender(retry_rules="* * F,60s,10s; G,300s,20s,1.5", queue_interval="5s", delay_warning="60s")
    trace = trace_schedule(sender)
    # 60 -> 70 (F); 70: lastgap min(10, 10) < 20 -> 90; 90: 20 * 1.5 = 30 -> 120; 120: 45 -> 165;
    # 165: 67.5 -> due 232.5, run 235; 235: min(67.5, 70) * 1.5 = 101.25 -> 336.25 > 301 -> 301 -> run 305.
    assert trace.attempts_s == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 90.0, 120.0, 165.0, 235.0, 305.0]
    assert trace.give_up_s == 305.0
    assert trace.status == "5.0.0"
    # delay_warning 60 s repeats every 60 s, at most one per attempt: 60 (>= 60), 120 (>= 120), 235 (>= 180);
    # the 305 s attempt ends the message
    assert trace.warnings_s == [60.0, 120.0, 235.0]


def test_compressed_rule_continuous_gaps_grow_by_half():
    """The §12 rule without a queue runner: G gaps 20, 30, 45, then 67 s (Exim's retry.c computes the
    gap in whole seconds: int(45 * 1.5)), then the final try at 301 s."""
    sender = preset_sender(retry_rules="F,60s,10s; G,300s,20s,1.5", queue_interval=0, delay_warning=0)
    trace = trace_schedule(sender)
    assert trace.attempts_s == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 90.0, 120.0, 165.0, 232.0, 301.0]
    assert np.diff(trace.attempts_s[7:12]).tolist() == [20.0, 30.0, 45.0, 67.0]
    assert trace.give_up_s == 301.0
    assert trace.warnings_s == []


# ================================================================================================
# The retry_update() arithmetic, directly
# ================================================================================================
def test_f_set_applies_at_exactly_its_cutoff_and_g_one_second_later():
    """Cutoff 2 h: a failure at age exactly 2 h still uses F (15 min); 1 s later G starts at its initial 1 h."""
    s = EximSchedule(DEFAULT_RULES)
    assert s.wait_after_history(9, 2 * HOUR, 1.0, True, 15 * MIN, 15 * MIN) == 15 * MIN
    assert s.wait_after_history(9, 2 * HOUR + 1, 1.0, True, 15 * MIN, 15 * MIN + 1) == 1 * HOUR


def test_g_uses_the_smaller_of_planned_and_actual_gap():
    """G: lastgap = min(planned, actual): planned 135 min, actual 150 -> 135 x 1.5 = 202.5 min (and swapped)."""
    s = EximSchedule(DEFAULT_RULES)
    assert s.wait_after_history(5, hm(7, 30), 1.0, True, 135 * MIN, 150 * MIN) == 202.5 * MIN
    assert s.wait_after_history(5, hm(7, 30), 1.0, True, 150 * MIN, 135 * MIN) == 202.5 * MIN


def test_g_first_failure_starts_at_initial():
    """A new record has planned = actual = 0, so a G set's first gap is its initial value."""
    s = EximSchedule(parse_retry_rules("G,1d,10m,2"))
    assert s.wait_after_history(1, 0.0, 1.0, True, math.nan, math.nan) == 10 * MIN


def test_h_draws_from_the_upper_half():
    """H,1d,1h,2 with lastgap 2 h: ng = 4 h; gap = 1 h + 1.5 h + u * 1.5 h (u = 1: 4 h; u = 0.5: 3.25 h);
    with lastgap 20 min, ng = 40 min <= 1 h, so the gap is 1 h whatever u."""
    s = EximSchedule(parse_retry_rules("H,1d,1h,2"))
    assert s.uses_random
    assert s.wait_after_history(3, HOUR, 1.0, False, 2 * HOUR, 2 * HOUR) == 4 * HOUR
    assert s.wait_after_history(3, HOUR, 0.5, False, 2 * HOUR, 2 * HOUR) == 3.25 * HOUR
    assert s.wait_after_history(3, HOUR, 0.3, False, 20 * MIN, 20 * MIN) == HOUR
    assert not EximSchedule(DEFAULT_RULES).uses_random


def test_retry_interval_max_caps_every_gap():
    """G,4d,1h,3 with retry_interval_max 2h, continuous: 0, 1 h, then 3 h capped to 2 h: 3 h, 5 h, ... 95 h,
    then 97 h is past 96 h + 1 s, so the final try is at 96:00:01 (50 attempts)."""
    trace = trace_schedule(preset_sender(retry_rules="G,4d,1h,3", retry_interval_max="2h", queue_interval=0))
    expected = [0.0, HOUR] + [(3 + 2 * k) * HOUR for k in range(47)] + [hm(96, 0, 1)]
    assert trace.attempts_s == expected and len(expected) == 50
    assert trace.give_up_s == hm(96, 0, 1)


def test_attempt_at_exactly_the_final_cutoff_is_not_the_last():
    """F,4d,6h on -q30m: the attempt at 96:00 (age exactly 4 d) is not older than 4 d, so it is followed by the
    forced one at 96:30 (18 attempts); with a continuous runner by one at 96:00:01."""
    trace = trace_schedule(preset_sender(retry_rules="F,4d,6h"))
    assert trace.attempts_s == [6 * HOUR * k for k in range(17)] + [hm(96, 30)]
    assert trace.give_up_s == hm(96, 30)
    trace = trace_schedule(preset_sender(retry_rules="F,4d,6h", queue_interval=0))
    assert trace.attempts_s[-2:] == [96 * HOUR, hm(96, 0, 1)]


def test_no_parameter_sets_fail_at_the_first_error():
    """An empty rule (or just '* *') means no retries: the first temporary error fails the address, 5.0.0."""
    for rules in ("", "* *"):
        trace = trace_schedule(preset_sender(retry_rules=rules))
        assert trace.attempts_s == [0.0] and trace.give_up_s == 0.0 and trace.status == "5.0.0"


def test_wait_after_without_history_assumes_retries_on_time():
    """Without history, wait_after takes every earlier retry as made exactly when due: replaying it from
    arrival gives the continuous-runner row."""
    s = EximSchedule(DEFAULT_RULES)
    t, times = 0.0, []
    for k in range(1, 40):
        times.append(t)
        wait = s.wait_after(k, t, 1.0, True)
        if wait is None:
            break
        t += wait
    assert times == CONTINUOUS_ROW_EXACT


VECTOR_SCHEDULES = [EximSchedule(DEFAULT_RULES),
                    EximSchedule(parse_retry_rules("F,60s,10s; G,300s,20s,1.5")),
                    EximSchedule(parse_retry_rules("F,1h,10m; H,2d,30m,2; F,4d,6h"), 7 * HOUR),
                    EximSchedule(parse_retry_rules("G,16h,1h,1.5; F,2h,15m")),     # cutoffs not increasing
                    EximSchedule(())]


@pytest.mark.parametrize("schedule", VECTOR_SCHEDULES, ids=lambda s: s.describe())
def test_vectorised_waits_are_the_scalar_waits(schedule):
    """waits_history()/waits() are wait_after_history()/wait_after() element by element (None <-> NaN), bit
    for bit, with NaN histories at first failures and ages on and around the cutoffs."""
    rng = np.random.default_rng(3)
    n = 400
    k = rng.integers(1, 40, n)
    age = np.concatenate([rng.uniform(0, 5 * DAY, 300),
                          np.repeat([0.0, 60.0, 61.0, 7200.0, 7201.0, 57600.0, 345600.0, 345601.0, 300.0, 301.0],
                                    10)])
    u = rng.uniform(1e-9, 1, n)
    conn = rng.random(n) < 0.5
    prev_wait = np.where(k == 1, np.nan, rng.uniform(1, 30000, n))
    prev_gap = np.where(k == 1, np.nan, prev_wait + rng.choice([0.0, 1800.0, -0.5], n))
    vec = schedule.waits_history(k, age, u, conn, prev_wait, prev_gap)
    for i in range(n):
        w = schedule.wait_after_history(int(k[i]), float(age[i]), float(u[i]), bool(conn[i]),
                                        float(prev_wait[i]), float(prev_gap[i]))
        assert (w is None and math.isnan(vec[i])) or w == vec[i]
    plain = schedule.waits(k, age, u, conn)
    for i in range(n):
        w = schedule.wait_after(int(k[i]), float(age[i]), float(u[i]), bool(conn[i]))
        assert (w is None and math.isnan(plain[i])) or w == plain[i]


# ================================================================================================
# Parameters in Exim's own names
# ================================================================================================
def test_delay_warning_list_then_its_last_gap_repeats():
    """delay_warning 4h:8h:24h on -q30m: warnings due at 4, 8, 24 h, then every 16 h (40, 56, 72, 88 h), one per
    real failed attempt: 5:00, 11:00, 28:30, 40:30, 58:30, 76:30, 88:30."""
    trace = trace_schedule(preset_sender(delay_warning="4h:8h:24h"))
    assert trace.warnings_s == [hm(5), hm(11), hm(28, 30), hm(40, 30), hm(58, 30), hm(76, 30), hm(88, 30)]
    # 4h, 8h: then every 4 h, which outpaces the 6 h attempts: every attempt from 11:00 to 94:30 warns
    trace = trace_schedule(preset_sender(delay_warning=["4h", "8h"]))
    expected = [hm(5), hm(11)] + [hm(16, 30) + k * 6 * 3600 for k in range(14)]
    assert trace.warnings_s == expected


def test_delay_warning_at_exactly_its_time_counts():
    """delay_warning 2h: the failed attempt at exactly 2:00 sends it (at or after)."""
    assert trace_schedule(preset_sender(delay_warning="2h")).warnings_s[:2] == [hm(2), hm(5)]


def test_delay_warning_zero_is_off():
    """delay_warning 0 (or an empty string): no warnings."""
    assert trace_schedule(preset_sender(delay_warning=0)).warnings_s == []
    assert trace_schedule(preset_sender(delay_warning="")).warnings_s == []


def test_queue_run_phase_shifts_the_runs():
    """queue_run_phase 10m on -q30m: runs at 0:10, 0:40, ...: 0:00 (arrival), 0:40 (due 0:15), 1:10, 1:40,
    2:10 (due 1:55; at 2:10 the age is past 2 h: G, min(15, 30) < 1 h -> 1 h) and 3:10."""
    trace = trace_schedule(preset_sender(queue_run_phase="10m"))
    assert trace.attempts_s[:6] == [0.0, 40 * MIN, 70 * MIN, 100 * MIN, 130 * MIN, 190 * MIN]


@pytest.mark.parametrize("rules, message", [
    ("F,2h,15m; G,16h,1h; F,4d,6h", 'rule 2 "G,16h,1h" at character 9: expected a multiplier >= 1'),
    ("F,2h,15m; G,16h,1h,0.5", 'rule 2 "G,16h,1h,0.5" at character 10: expected a multiplier >= 1, got "0.5"'),
    ("X,2h,15m", 'rule 1 "X,2h,15m" at character 1: expected F, G or H, got "X"'),
    ("F,0s,15m", 'rule 1 "F,0s,15m" at character 3: expected a cutoff time > 0 such as 2h or 4d, got "0s"'),
    ("F,2h,1.5h", 'rule 1 "F,2h,1.5h" at character 6: expected an interval > 0 such as 15m, got "1.5h"'),
    ("F,2h", 'rule 1 "F,2h" at character 5: expected an interval > 0 such as 15m'),
    ("F,2h,15m,3", 'rule 1 "F,2h,15m,3" at character 9: expected ";" or the end of the rules, got ",3"'),
    ("F,2h,15m;; F,4d,6h", 'rule 2 "" at character 1: expected F, G or H'),
    ("H,2d,30m;x", 'rule 1 "H,2d,30m" at character 9: expected a multiplier >= 1'),
    ("a.example * F,1h,1m", 'at character 1: only the pattern "*" is modelled'),
    ("* refused_A F,1h,1m", 'at character 3: only the error "*" is modelled'),
    ("* * senders=x@y F,1h,1m", "at character 5: senders= is not modelled"),
])
def test_bad_rules_are_refused_with_rule_and_position(rules, message):
    """A rule Exim would refuse is a ConfigError naming retry_rules, the rule and the character in it."""
    with pytest.raises(ConfigError) as err:
        preset_sender(retry_rules=rules)
    assert err.value.path == "sender.retry_rules"
    assert message in err.value.expected


def test_rule_syntax_accepted_as_exim_writes_it():
    """Exim's syntax: lower-case letters, spaces after commas, 1h30m, bare seconds, a trailing ';', and
    multipliers kept to 3 decimals (x1000)."""
    assert parse_retry_rules("f, 1h30m, 90; g,2d,1h,1.2345;") == (
        RetryRule("F", 5400.0, 90.0), RetryRule("G", 172800.0, 3600.0, 1.234))


def test_bad_rule_through_cli_names_rule_and_character(capsys):
    """The CLI reports the brief's example in one line on stderr, exit status 2."""
    assert main(["schedule", "exim", "--set", "retry_rules=F,2h,15m; G,16h,1h; F,4d,6h"]) == 2
    err = capsys.readouterr().err
    assert 'retry_rules: rule 2 "G,16h,1h" at character 9: expected a multiplier >= 1' in err


def test_bad_rule_through_python_api_is_a_preset_value_error():
    """Preset.sender() with an unparsed bad rule raises PresetValueError blaming retry_rules."""
    with pytest.raises(PresetValueError) as err:
        get_preset("exim").sender({"retry_rules": "F,2h"})
    assert err.value.param == "retry_rules"
    with pytest.raises(RetryRuleError):
        parse_retry_rules(5)


@pytest.mark.parametrize("key, value, message", [
    ("retry_interval_max", "25h",
     r"sender\.retry_interval_max: expected a duration >= 1s and <= 1d \(the MTA's own range\)"),
    ("queue_interval", -5, r"sender\.queue_interval: expected a duration >= 0"),
    ("delay_warning", ":".join(f"{h}h" for h in range(1, 12)), r"sender\.delay_warning: expected at most 10 times"),
    ("delay_warning", "8h:4h", r"sender\.delay_warning: expected increasing times such as 4h:8h:24h"),
])
def test_out_of_range_values_are_refused(key, value, message):
    """Out-of-range native values are ConfigErrors naming the key and Exim's range."""
    with pytest.raises(ConfigError, match=message):
        preset_sender(**{key: value})


# ================================================================================================
# A custom sender naming the schedule kind
# ================================================================================================
def test_custom_sender_schedule_kind_exim():
    """{kind: exim, rules: ..., retry_interval_max: ...} is registered for custom senders; with a continuous
    sender, last-attempt and expiry 4d1s it gives the continuous-runner row."""
    assert SCHEDULE_KINDS["exim"] is EximSchedule
    sender = custom_sender({"schedule": {"kind": "exim", "rules": "* * F,2h,15m; G,16h,1h,1.5; F,4d,6h"},
                            "expiry": "4d1s"})
    assert sender.schedule == EximSchedule(DEFAULT_RULES)
    trace = trace_schedule(sender)
    assert trace.attempts_s == CONTINUOUS_ROW_EXACT


def test_custom_sender_schedule_kind_exim_ends_past_the_final_cutoff():
    """The schedule itself has no attempt after the final one: with a longer expiry the message still
    gives up at 96:00:01 (the schedule returns no wait once the age is past 4 d)."""
    sender = custom_sender({"schedule": {"kind": "exim", "rules": "F,2h,15m; G,16h,1h,1.5; F,4d,6h",
                                         "retry_interval_max": "12h"}, "expiry": "10d"})
    trace = trace_schedule(sender)
    assert trace.attempts_s == CONTINUOUS_ROW_EXACT and trace.give_up_s == hm(96, 0, 1)


@pytest.mark.parametrize("schedule, path, message", [
    ({"kind": "exim", "rules": "G,1h,10m,0.9"}, "sender.schedule.rules",
     'rule 1 "G,1h,10m,0.9" at character 10: expected a multiplier >= 1, got "0.9"'),
    ({"kind": "exim", "rules": "F,1h,1m", "retry_interval_max": "2d"}, "sender.schedule.retry_interval_max",
     "cannot be set higher"),
    ({"kind": "exim"}, "sender.schedule.rules", "missing required key 'rules'"),
])
def test_custom_sender_schedule_kind_exim_refuses_bad_values(schedule, path, message):
    """Bad rules or a cap above 24 h in {kind: exim} are ConfigErrors at the schedule's key."""
    with pytest.raises(ConfigError) as err:
        custom_sender({"schedule": schedule, "expiry": "4d"})
    assert err.value.path == path and message in err.value.expected


# ================================================================================================
# Through the engines
# ================================================================================================
def test_engine_delivers_at_the_first_run_after_the_outage():
    """Refused for 10 h: attempts 0:00 ... 7:30 fail (the -q30m row), the 11:00 run delivers."""
    result, times = run_one({"preset": "exim"}, [{"start": 0, "end": "10h", "failure": "refused"}])
    assert times == Q30_ROW[:10]
    assert result.messages.outcome[0] == Outcome.DELIVERED
    assert result.messages.final_s[0] == hm(11)


def test_engine_expires_at_96_30_with_5_0_0_and_one_warning():
    """Refused for 5 d: 25 attempts, expired at 96:30 with 5.0.0, the delay warning at 28:30."""
    result, times = run_one({"preset": "exim"}, [{"start": 0, "end": "5d", "failure": "refused"}])
    assert times == Q30_ROW
    assert result.messages.outcome[0] == Outcome.EXPIRED
    assert result.messages.final_s[0] == hm(96, 30)
    assert result.messages.status_text(0) == "5.0.0"
    assert result.messages.warned_s[0] == hm(28, 30)


def test_engines_agree_default():
    """DES and fast engine agree message by message on exim (-q30m) through refusals, timeouts and 451s
    (per-message records: shared host records are host-level state, DES only)."""
    assert_same(*both(outage_scenario({"preset": "exim", "host_retry_records": 0})))


def test_engines_agree_continuous_with_h_rule_and_phase():
    """Both engines agree with a jittered H rule, a continuous runner, and with a phased -q7m runner."""
    rules = "F,1h,10m; H,2d,30m,2; F,4d,6h"
    assert_same(*both(outage_scenario({"preset": "exim", "retry_rules": rules, "queue_interval": 0,
                                       "delay_warning": "4h:8h", "host_retry_records": 0}, seed=11)))
    assert_same(*both(outage_scenario({"preset": "exim", "queue_interval": "7m", "queue_run_phase": "3m",
                                       "retry_interval_max": "3h", "host_retry_records": 0}, seed=12)))


def test_engines_agree_custom_kind():
    """Both engines agree on a custom sender naming {kind: exim} with a queue runner."""
    sender = {"schedule": {"kind": "exim", "rules": "F,1h,5m; G,3d,15m,2"}, "expiry": "3d1s",
              "queue_run": "10m", "delay_warning": "2h", "delay_warning_at": "next-failure"}
    assert_same(*both(outage_scenario(sender, seed=13)))


def test_engine_sends_every_repeated_warning():
    """In a run, Exim's 24 h warnings repeat at the real attempts after 24, 48 and 72 h: three warnings
    (28:30, 52:30, 76:30); warned_s keeps the first and the summary counts all three."""
    result, _ = run_one({"preset": "exim"}, [{"start": 0, "end": "5d", "failure": "refused"}])
    assert result.messages.warned_s[0] == hm(28, 30)
    assert result.warnings[1].tolist() == [hm(28, 30), hm(52, 30), hm(76, 30)]
    assert result.summary()["delay_warnings"] == 3


def test_exim_listed_by_presets(capsys):
    """`mtasim presets` lists exim with its retry_rules default and queue_interval 30m."""
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "exim" in out.splitlines()
    assert "F,2h,15m; G,16h,1h,1.5; F,4d,6h" in out
    assert any(line.split()[:2] == ["queue_interval", "30m"] for line in out.splitlines())


def test_expiry_window_is_the_final_cutoff():
    """For curves and tuning, Exim's expiry window is its rules' final cutoff: 1 d cuts the rules to
    F,2h,15m; G,16h,1h,1.5; F,23h59m59s,6h (give-up one clock second later), 10 d stretches the last set;
    the schedule changes with the window, so curves use explicit runs."""
    from mtasim.presets.exim import parse_retry_rules, rules_with_final_cutoff
    rules = parse_retry_rules("F,2h,15m; G,16h,1h,1.5; F,4d,6h")
    assert [str(r) for r in rules_with_final_cutoff(rules, 86400)] == ["F,2h,15m", "G,16h,1h,1.5", "F,23h59m59s,6h"]
    assert [str(r) for r in rules_with_final_cutoff(rules, 10 * 86400)] == ["F,2h,15m", "G,16h,1h,1.5",
                                                                            "F,9d23h59m59s,6h"]
    sender = get_preset("exim").sender()
    assert sender.with_expiry(86400).expiry_s == 86400 and sender.expiry_shapes_schedule(86400)
    from mtasim.curve import expiry_curve
    sc = mtasim.scenario_from_dict({"sender": {"preset": "exim"}, "messages": {"count": 3},
                                    "recipients": [{"domain": "a", "outages": [{"start": 0, "end": "30h"}]}]})
    curve = expiry_curve(sc, [86400.0, 2 * 86400.0])
    assert curve.method == "explicit" and [p.delivered for p in curve.points] == [0, 3]

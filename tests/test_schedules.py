"""Retry schedules: wait_after of each kind by hand, and reading schedules from a scenario."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest

import mtasim
from mtasim import ConfigError
from mtasim.schedules import (
    SCHEDULE_KINDS,
    AgeBasedSchedule,
    ByFailureSchedule,
    ExponentialSchedule,
    FixedSchedule,
    HistorySchedule,
    ListSchedule,
    Schedule,
    VectorSchedule,
)

MIN, HOUR = 60.0, 3600.0

BASE = {
    "name": "t",
    "sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "10h"},
    "messages": {"count": 1},
    "recipients": [{"domain": "r.example"}],
}


def read_schedule(schedule):
    """The schedule object a scenario with ``sender.schedule = schedule`` produces."""
    data = copy.deepcopy(BASE)
    data["sender"]["schedule"] = schedule
    return mtasim.scenario_from_dict(data).sender.schedule


# -- fixed ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("failures", [1, 2, 7, 1000])
@pytest.mark.parametrize("connection_failure", [False, True])
def test_fixed_waits_the_interval_after_every_failure(failures, connection_failure):
    """fixed: the wait is the interval, whatever the failure count, age, draw or failure kind."""
    s = FixedSchedule(10 * MIN)
    assert s.wait_after(failures, 5 * HOUR, 0.3, connection_failure) == 10 * MIN
    assert not s.uses_random


# -- exponential ----------------------------------------------------------------------------------
def test_exponential_doubles_up_to_the_cap():
    """exponential: min(first * factor**(k-1), max) after the k-th failure."""
    s = ExponentialSchedule(5 * MIN, 2.0, 1 * HOUR)
    waits = [s.wait_after(k, 0.0, 1.0, False) for k in range(1, 8)]
    assert waits == pytest.approx([5 * MIN, 10 * MIN, 20 * MIN, 40 * MIN, 1 * HOUR, 1 * HOUR, 1 * HOUR])


def test_exponential_other_factor():
    """exponential with factor 3: 1m, 3m, 9m, 27m, then the 30m cap."""
    s = ExponentialSchedule(1 * MIN, 3.0, 30 * MIN)
    waits = [s.wait_after(k, 0.0, 1.0, False) for k in range(1, 6)]
    assert waits == pytest.approx([1 * MIN, 3 * MIN, 9 * MIN, 27 * MIN, 30 * MIN])


def test_exponential_cap_reached_exactly():
    """A base wait equal to the cap is the cap (300 * 2**4 = 4800 = max)."""
    s = ExponentialSchedule(300.0, 2.0, 4800.0)
    assert s.wait_after(5, 0.0, 1.0, False) == pytest.approx(4800.0)
    assert s.wait_after(6, 0.0, 1.0, False) == pytest.approx(4800.0)


def test_exponential_factor_one_is_constant():
    """factor 1 keeps the first wait for ever."""
    s = ExponentialSchedule(7 * MIN, 1.0)
    assert s.wait_after(1, 0.0, 1.0, False) == pytest.approx(7 * MIN)
    assert s.wait_after(10**6, 0.0, 1.0, False) == pytest.approx(7 * MIN)


@pytest.mark.parametrize("failures", [100, 2000, 10**6, 10**12])
def test_exponential_huge_failure_count_gives_the_cap(failures):
    """A huge failure count gives the cap, without overflowing factor**(k-1)."""
    s = ExponentialSchedule(5 * MIN, 2.0, 1 * HOUR)
    assert s.wait_after(failures, 0.0, 1.0, False) == 1 * HOUR


@pytest.mark.parametrize("failures", [2000, 10**6])
def test_exponential_uncapped_huge_failure_count_does_not_overflow(failures):
    """Without a cap, a huge failure count gives an infinite wait rather than an OverflowError."""
    s = ExponentialSchedule(5 * MIN, 2.0)
    assert s.wait_after(failures, 0.0, 1.0, False) == math.inf


def test_exponential_without_jitter_ignores_the_draw():
    """jitter none: the draw u does not change the wait, and the engines need not draw."""
    s = ExponentialSchedule(5 * MIN, 2.0, 1 * HOUR)
    assert not s.uses_random
    assert s.wait_after(2, 0.0, 0.01, False) == pytest.approx(10 * MIN)


U_VALUES = [1e-12, 0.001, 0.25, 0.5, 0.75, 0.999999, 1.0]


@pytest.mark.parametrize("u", U_VALUES)
def test_exponential_full_jitter(u):
    """jitter full: wait = base * u, which lies in (0, base] for u in (0, 1]."""
    s = ExponentialSchedule(5 * MIN, 2.0, 1 * HOUR, jitter="full")
    assert s.uses_random
    base = 20 * MIN                                  # third failure: 5m * 2**2
    wait = s.wait_after(3, 0.0, u, False)
    assert wait == pytest.approx(base * u)
    assert 0.0 < wait <= base


@pytest.mark.parametrize("u", U_VALUES)
def test_exponential_equal_jitter(u):
    """jitter equal: wait = base * (1 + u) / 2, which lies in (base/2, base] for u in (0, 1]."""
    s = ExponentialSchedule(5 * MIN, 2.0, 1 * HOUR, jitter="equal")
    assert s.uses_random
    base = 1 * HOUR                                  # capped
    wait = s.wait_after(9, 0.0, u, False)
    assert wait == pytest.approx(base * (0.5 + 0.5 * u))
    assert base / 2 < wait <= base


def test_jitter_with_u_one_is_the_nominal_wait():
    """u = 1 (the nominal draw) gives the un-jittered wait for both jitter kinds."""
    for jitter in ("full", "equal"):
        s = ExponentialSchedule(5 * MIN, 2.0, 1 * HOUR, jitter=jitter)
        assert s.wait_after(2, 0.0, 1.0, False) == pytest.approx(10 * MIN)


# -- list -----------------------------------------------------------------------------------------
def test_list_then_repeat():
    """list: the k-th wait is the k-th item; past the end the last item repeats."""
    s = ListSchedule((1 * MIN, 5 * MIN, 15 * MIN), "repeat")
    waits = [s.wait_after(k, 0.0, 1.0, False) for k in range(1, 7)]
    assert waits == [1 * MIN, 5 * MIN, 15 * MIN, 15 * MIN, 15 * MIN, 15 * MIN]
    assert s.wait_after(10**6, 0.0, 1.0, False) == 15 * MIN


def test_list_then_stop():
    """list then stop: None (give up) after the failure past the last item."""
    s = ListSchedule((1 * MIN, 5 * MIN), "stop")
    assert s.wait_after(1, 0.0, 1.0, False) == 1 * MIN
    assert s.wait_after(2, 0.0, 1.0, False) == 5 * MIN
    assert s.wait_after(3, 0.0, 1.0, False) is None
    assert s.wait_after(50, 0.0, 1.0, False) is None


# -- age-based ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("age", "wait"),
    [(0.0, 300.0), (100.0, 300.0), (300.0, 300.0), (1200.0, 1200.0), (4000.0, 4000.0), (4800.0, 4000.0),
     (5 * 86400.0, 4000.0)],
)
def test_age_based_clamps_the_age(age, wait):
    """age-based: wait = the message's age clamped to [min, max] (Postfix's qmgr)."""
    s = AgeBasedSchedule(300.0, 4000.0)
    assert s.wait_after(3, age, 1.0, False) == wait


# -- by-failure -----------------------------------------------------------------------------------
def test_by_failure_picks_the_schedule_by_failure_kind():
    """by-failure: connection failures use the connection schedule, 4xx replies the reply schedule."""
    s = ByFailureSchedule(connection=ListSchedule((1 * MIN, 5 * MIN), "repeat"), reply=FixedSchedule(15 * MIN))
    assert s.wait_after(1, 0.0, 1.0, True) == 1 * MIN
    assert s.wait_after(2, 0.0, 1.0, True) == 5 * MIN
    assert s.wait_after(1, 0.0, 1.0, False) == 15 * MIN
    assert s.wait_after(2, 0.0, 1.0, False) == 15 * MIN


def test_by_failure_uses_random_if_either_part_does():
    """by-failure needs a draw when one of its parts is jittered."""
    fixed = FixedSchedule(1 * MIN)
    jittered = ExponentialSchedule(1 * MIN, 2.0, jitter="full")
    assert not ByFailureSchedule(fixed, fixed).uses_random
    assert ByFailureSchedule(fixed, jittered).uses_random
    assert ByFailureSchedule(jittered, fixed).uses_random
    assert ByFailureSchedule(fixed, jittered).wait_after(1, 0.0, 0.5, False) == pytest.approx(30.0)


@pytest.mark.parametrize(
    "schedule",
    [FixedSchedule(60.0), ExponentialSchedule(60.0), ListSchedule((60.0,)), AgeBasedSchedule(60.0, 120.0),
     ByFailureSchedule(FixedSchedule(60.0), FixedSchedule(120.0))],
)
def test_every_kind_follows_the_protocol(schedule):
    """Every kind is a Schedule with a kind name and a one-line description."""
    assert isinstance(schedule, Schedule)
    text = schedule.describe()
    assert text and "\n" not in text


def test_every_kind_derives_its_scalar_wait_from_its_vectorised_rule():
    """Each kind writes its rule once, as ``waits`` (and ``waits_history``); the scalar ``wait_after``
    (and ``wait_after_history``) are inherited from the mixin, so a hand-kept scalar twin cannot come back."""
    import mtasim.presets  # noqa: F401  (registers the MTA-specific kinds)

    assert {"fixed", "exponential", "exim", "kumomta", "timetable"} <= set(SCHEDULE_KINDS)
    for kind, cls in SCHEDULE_KINDS.items():
        assert issubclass(cls, VectorSchedule), kind
        assert "wait_after" not in vars(cls), f"{kind}: {cls.__name__} defines its own wait_after"
        assert "wait_after_history" not in vars(cls), f"{kind}: {cls.__name__} defines its own wait_after_history"
        assert cls.waits is not VectorSchedule.waits, f"{kind}: {cls.__name__} has no waits"
        if hasattr(cls, "waits_history"):
            assert issubclass(cls, HistorySchedule) and cls.waits_history is not HistorySchedule.waits_history, kind
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, kind


# -- reading from a scenario ----------------------------------------------------------------------
def test_read_fixed():
    """{kind: fixed, interval: 10m} reads as FixedSchedule(600 s)."""
    assert read_schedule({"kind": "fixed", "interval": "10m"}) == FixedSchedule(10 * MIN)


def test_read_exponential_all_keys():
    """exponential reads first, factor, max and jitter."""
    s = read_schedule({"kind": "exponential", "first": "5m", "factor": 3, "max": "2h", "jitter": "equal"})
    assert s == ExponentialSchedule(5 * MIN, 3.0, 2 * HOUR, "equal")


def test_read_exponential_defaults():
    """exponential defaults: factor 2, no cap, no jitter."""
    assert read_schedule({"kind": "exponential", "first": "5m"}) == ExponentialSchedule(5 * MIN, 2.0, math.inf, "none")


def test_read_list_and_age_based_and_by_failure():
    """list, age-based and by-failure read their own keys (by-failure nests two schedules)."""
    assert read_schedule({"kind": "list", "intervals": ["1m", "5m"], "then": "stop"}) == \
        ListSchedule((1 * MIN, 5 * MIN), "stop")
    assert read_schedule({"kind": "list", "intervals": ["1m"]}) == ListSchedule((1 * MIN,), "repeat")
    assert read_schedule({"kind": "age-based", "min": "300s", "max": "4000s"}) == AgeBasedSchedule(300.0, 4000.0)
    s = read_schedule({"kind": "by-failure", "connection": {"kind": "fixed", "interval": "1m"},
                       "reply": {"kind": "fixed", "interval": "15m"}})
    assert s == ByFailureSchedule(FixedSchedule(1 * MIN), FixedSchedule(15 * MIN))


def test_unknown_kind_names_the_path_and_suggests():
    """An unknown kind is a ConfigError naming sender.schedule.kind and the closest kind."""
    with pytest.raises(ConfigError, match=r"sender\.schedule\.kind") as info:
        read_schedule({"kind": "exponental", "first": "5m"})
    assert "did you mean 'exponential'" in str(info.value)
    assert info.value.path == "sender.schedule.kind"


def test_unknown_key_names_the_path_and_suggests():
    """An unknown key in a schedule is a ConfigError naming its path and the closest known key."""
    with pytest.raises(ConfigError, match=r"sender\.schedule\.factr: unknown key 'factr'; did you mean 'factor'\?"):
        read_schedule({"kind": "exponential", "first": "5m", "factr": 3})


def test_unknown_key_in_nested_schedule():
    """A typo inside a by-failure part names the nested path."""
    with pytest.raises(ConfigError, match=r"sender\.schedule\.reply\.intervals: .*did you mean 'interval'"):
        read_schedule({"kind": "by-failure", "connection": {"kind": "fixed", "interval": "1m"},
                       "reply": {"kind": "fixed", "interval": "15m", "intervals": "1m"}})


def test_key_of_another_kind_is_refused():
    """A key that belongs to another kind (interval on exponential) is an unknown key."""
    with pytest.raises(ConfigError, match=r"sender\.schedule\.interval: unknown key"):
        read_schedule({"kind": "exponential", "first": "5m", "interval": "1h"})


@pytest.mark.parametrize(
    ("schedule", "path", "text"),
    [
        ({"kind": "exponential", "first": "1h", "max": "5m"}, "sender.schedule.max", "max >= first"),
        ({"kind": "exponential", "first": "5m", "factor": 0.5}, "sender.schedule.factor", ">= 1"),
        ({"kind": "exponential", "first": "5m", "jitter": "ful"}, "sender.schedule.jitter", "did you mean 'full'"),
        ({"kind": "age-based", "min": "1h", "max": "5m"}, "sender.schedule.max", "max >= min"),
        ({"kind": "list", "intervals": []}, "sender.schedule.intervals", "at least one"),
        ({"kind": "list", "intervals": ["5m"], "then": "again"}, "sender.schedule.then", "repeat, stop"),
        ({"kind": "fixed"}, "sender.schedule.interval", "missing required key"),
        ({"kind": "fixed", "interval": "0s"}, "sender.schedule.interval", "> 0"),
        ({"interval": "1h"}, "sender.schedule.kind", "missing required key"),
        ("1h", "sender.schedule", "expected a schedule"),
    ],
)
def test_bad_schedules_name_their_key(schedule, path, text):
    """Bad values are ConfigErrors naming the key path and what was expected."""
    with pytest.raises(ConfigError) as info:
        read_schedule(schedule)
    assert info.value.path == path
    assert text in str(info.value)

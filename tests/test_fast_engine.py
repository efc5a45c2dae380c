"""The fast engine gives the DES's per-message results exactly (README, Semantics, rule 8), on generated and shipped
scenarios, and its vectorised rules are the scalar rules applied element-wise."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SCENARIOS
from helpers import SETTINGS, assert_same, both, scenarios
from hypothesis import given, settings
from hypothesis import strategies as st

import mtasim
from mtasim.engine import EngineUnavailableError, des_only_features, fast
from mtasim.rng import uniform, uniform_array
from mtasim.schedules import (AgeBasedSchedule, ByFailureSchedule, ExponentialSchedule, FixedSchedule,
                              ListSchedule)
from mtasim.sender import Sender


@SETTINGS
@given(scenarios())
def test_engines_agree_on_generated_scenarios(data):
    """Any generated scenario (every schedule kind and give-up rule, queue runners, warnings, horizons,
    replies, refusals, timeouts, bounces, jitter): DES and fast engine agree message by message."""
    des, quick = both(mtasim.scenario_from_dict(data))
    assert (des.engine, quick.engine) == ("des", "fast")
    assert_same(des, quick)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from(["last-attempt", "at-deadline", "next-wait"]),
       st.integers(1, 30), st.floats(0.2, 2.5))
def test_engines_agree_with_random_outages_over_many_domains(seed, give_up, domains, sigma):
    """Lognormal random outages over many domains with jittered retries: identical in both engines."""
    sc = mtasim.scenario_from_dict({
        "seed": seed,
        "sender": {"schedule": {"kind": "exponential", "first": "5m", "max": "2h", "jitter": "full"},
                   "expiry": "2d", "give_up": give_up, "queue_run": "5m", "delay_warning": "3h",
                   "delay_warning_at": "next-failure"},
        "messages": {"count": 60, "arrival": {"kind": "uniform", "start": 0, "end": "6h"}},
        "recipients": [{"domain": "p.example", "domains": domains,
                        "random_outage": {"start": {"kind": "uniform", "min": 0, "max": "4h"},
                                          "duration": {"kind": "lognormal", "median": "2h", "sigma": sigma},
                                          "failure": "timeout"}},
                       {"domain": "q.example", "share": 0.5}],
    })
    assert_same(*both(sc))


FAST_OK = [p for p in SCENARIOS if not des_only_features(mtasim.load_scenario(p))]


@pytest.mark.parametrize("path", FAST_OK, ids=lambda p: p.stem)
def test_engines_agree_on_shipped_scenarios(path):
    """Every shipped scenario the fast engine accepts gives the same per-message results in both engines."""
    assert_same(*both(mtasim.load_scenario(path)))


@pytest.mark.parametrize("path", [p for p in SCENARIOS if p not in FAST_OK], ids=lambda p: p.stem)
def test_fast_engine_refuses_host_level_state(path):
    """A shipped scenario with host-level state runs on the DES under auto, and --engine fast names why not."""
    sc = mtasim.load_scenario(path)
    assert mtasim.simulate(sc).engine == "des"
    with pytest.raises(EngineUnavailableError, match="fast engine cannot run this scenario"):
        mtasim.simulate(sc, engine="fast")


def test_chunks_do_not_change_results(monkeypatch):
    """Processing messages in chunks (memory bound) gives the same results as one chunk."""
    sc = mtasim.load_scenario(SCENARIOS[0])
    whole = mtasim.simulate(sc, engine="fast", attempts=True)
    monkeypatch.setattr(fast, "CHUNK", 97)
    assert_same(whole, mtasim.simulate(sc, engine="fast", attempts=True))


def test_counter_draws_are_the_same_scalar_and_vectorised():
    """uniform(key, id, attempt) equals uniform_array at the same (id, attempt) and lies in (0, 1]."""
    ids = np.arange(0, 5000, 7)
    attempts = (ids % 13) + 1
    vec = uniform_array(123456789, ids, attempts)
    assert [uniform(123456789, int(i), int(k)) for i, k in zip(ids, attempts)] == vec.tolist()
    assert vec.min() > 0 and vec.max() <= 1


SCHEDULES = [
    FixedSchedule(600.0),
    ExponentialSchedule(300.0, 2.0, 3600.0),
    ExponentialSchedule(60.0, 1.5, 7200.0, "full"),
    ExponentialSchedule(60.0, 3.0, float("inf"), "equal"),
    ListSchedule((60.0, 300.0, 900.0), "repeat"),
    ListSchedule((60.0, 300.0), "stop"),
    AgeBasedSchedule(300.0, 4000.0),
    ByFailureSchedule(ListSchedule((60.0, 60.0, 600.0)), FixedSchedule(900.0)),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.describe())
def test_vectorised_waits_equal_scalar_waits(schedule):
    """Schedule.waits is wait_after element by element (None <-> NaN), bit for bit."""
    rng = np.random.default_rng(1)
    k = rng.integers(1, 2000, 500)
    age = rng.uniform(0, 5e5, 500)
    u = rng.uniform(1e-9, 1, 500)
    conn = rng.random(500) < 0.5
    vec = schedule.waits(k, age, u, conn)
    for i in range(500):
        w = schedule.wait_after(int(k[i]), float(age[i]), float(u[i]), bool(conn[i]))
        assert (np.isnan(vec[i]) if w is None else vec[i] == w), (i, w, vec[i])


@pytest.mark.parametrize("give_up", ["last-attempt", "at-deadline", "next-wait", "attempts"])
@pytest.mark.parametrize("queue_run", [0.0, 300.0])
def test_vectorised_give_up_equals_scalar(give_up, queue_run):
    """Sender.after_failures is after_failure element by element, including exact expiry boundaries."""
    sender = Sender(ExponentialSchedule(300.0, 2.0, 3600.0, "full"), give_up=give_up,
                    expiry_s=None if give_up == "attempts" else 7200.0,
                    max_attempts=5 if give_up == "attempts" else None,
                    queue_run_s=queue_run, queue_run_phase_s=17.0, queue_run_tolerance_s=1.0)
    rng = np.random.default_rng(2)
    n = 2000
    arrival = rng.uniform(0, 3600, n)
    now = arrival + np.where(rng.random(n) < 0.2, 7200.0, rng.uniform(0, 9000, n))   # some exactly at expiry
    k = rng.integers(1, 8, n)
    u = rng.uniform(1e-9, 1, n)
    attempt, give, due, _ = sender.after_failures(k, arrival, now, u, np.zeros(n, dtype=bool))
    for i in range(n):
        step = sender.after_failure(int(k[i]), float(arrival[i]), float(now[i]), float(u[i]), False)
        assert (np.isnan(attempt[i]) if step.attempt_s is None else attempt[i] == step.attempt_s), i
        assert (np.isnan(give[i]) if step.give_up_s is None else give[i] == step.give_up_s), i

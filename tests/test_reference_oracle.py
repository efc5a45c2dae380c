"""The DES and the fast engine give, message by message and attempt by attempt, the results of the
reference engine (:mod:`mtasim.engine.reference`): the plainly written per-message oracle, driven by a
heap in the documented order (time; then connections ending, give-up timers, attempts; then the preset's
queue order). This includes who is held back by host-level state when many messages try at the same
moment, on each of the DES's code paths.

The reference is always run through an instrumented runner (:func:`reference`), so every comparison
proves the oracle itself ran, and not an engine aliased to it. Every shipped scenario runs whole (each
takes well under 10 s on the reference, so none is shortened).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SCENARIOS
from helpers import assert_same, minutes, recipients, scenarios, workloads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mtasim
import mtasim.engine.des as des
from mtasim.engine import des_only_features, engine_runner
from mtasim.engine.reference import one_by_one

def _no_reference_calendar(*args, **kwargs):
    raise AssertionError("the DES ran a destination on the reference's MessageCalendar")


#: The DES's thresholds as shipped and forced to its other code paths. As shipped, destinations with host
#: state and fewer than ``_OWN_QUEUE`` messages run on the reference's own per-message calendar
#: (``mtasim.engine.reference.MessageCalendar``), so there the comparison is partly the oracle against
#: itself; "own calendar each" puts every such destination on the DES's own calendar (and fails if the
#: reference's calendar is used at all), "one shared calendar" puts all of them on the reference's, and
#: "chunks of 7" runs messages without host state in calendars of 7 messages.
DES_PATHS = {"as shipped": {},
             "own calendar each": {"_OWN_QUEUE": 1, "_OWN_QUEUE_RATE_LIMITED": 1,
                                   "MessageCalendar": _no_reference_calendar},
             "one shared calendar": {"_OWN_QUEUE": 10**9}, "chunks of 7": {"_CHUNK": 7}}

#: Presets with host-level state.
HOST_PRESETS = ["postfix", "sendmail", "exim", "exchange-server", "opensmtpd"]


def reference(sc):
    """Run ``sc`` on the reference engine through a runner that counts its calls; check it ran once."""
    run_reference = engine_runner("reference")
    calls = []

    def counted(*args):
        calls.append(args)
        return run_reference(*args)

    result = mtasim.simulate(sc, engine="reference", attempts=True, runner=counted)
    assert len(calls) == 1, f"expected the reference engine to run once, it ran {len(calls)} times"
    assert result.engine == "reference"
    return result


def first_difference(expected, got) -> str:
    """The first message whose attempts differ, with both engines' attempt times (for the report)."""
    ea, ga = expected.attempts, got.attempts
    for i in range(len(expected.messages)):
        x, y = ea.for_message(i), ga.for_message(i)
        if len(x) != len(y) or not np.allclose(x, y, rtol=0, atol=1e-9) or \
                expected.messages.outcome[i] != got.messages.outcome[i] or \
                not np.array_equal(ea.result[ea.message_id == i], ga.result[ga.message_id == i]):
            return (f"message {i} (arrival {expected.messages.arrival_s[i]!r}, recipient "
                    f"{expected.messages.recipient[i]}): reference attempts {x.tolist()} "
                    f"results {ea.result[ea.message_id == i].tolist()} outcome {expected.messages.outcome[i]}; "
                    f"{got.engine} attempts {y.tolist()} results {ga.result[ga.message_id == i].tolist()} "
                    f"outcome {got.messages.outcome[i]}")
    return "attempts agree; see the assertion"


def assert_equals_reference(expected, got, what):
    try:
        assert_same(expected, got)
    except AssertionError as e:
        raise AssertionError(f"{what}: {e}; {first_difference(expected, got)}") from e


def assert_engines_equal_the_reference(sc):
    """The DES on each of its code paths, and the fast engine where it can run, equal the reference."""
    expected = reference(sc)
    # Destinations whose attempts wait in line for connection slots, or share greylist triplets, run on the
    # reference's per-message calendar on every DES path (reference.one_by_one): "own calendar each" would
    # forbid it. There the independent check is benchmarks/baselines/des_capacity.py (SimPy resources).
    stepped = any(one_by_one(sc.sender, r) for r in sc.recipients)
    for name, values in DES_PATHS.items():
        if stepped and "MessageCalendar" in values:
            values = {k: v for k, v in values.items() if k != "MessageCalendar"}
        with pytest.MonkeyPatch.context() as mp:
            for k, v in values.items():
                mp.setattr(des, k, v)
            got = mtasim.simulate(sc, engine="des", attempts=True)
        assert got.engine == "des"
        assert_equals_reference(expected, got, f"DES path '{name}'")
    if not des_only_features(sc):
        got = mtasim.simulate(sc, engine="fast", attempts=True)
        assert got.engine == "fast"
        assert_equals_reference(expected, got, "fast engine")
    return expected


def host_state_scenario(preset, failure, seed, horizon=None, at_once=False):
    data = {"seed": seed, "sender": {"preset": preset},
            "messages": ({"count": 150, "arrival": {"kind": "at", "time": "1h"}} if at_once else
                         {"count": 300, "arrival": {"kind": "uniform", "start": 0, "end": "12h"}}),
            "recipients": [{"domain": "a", "share": 2, "outages": [{"start": "1h", "end": "20h", "failure": failure}]},
                           {"domain": "b", "outages": [{"start": 0, "end": "3h", "failure": failure}]}]}
    if horizon:
        data["horizon"] = horizon
    return mtasim.scenario_from_dict(data)


def test_the_reference_is_its_own_engine():
    """The reference's run function is neither the DES's nor the fast engine's, so a refactor aliasing them
    (which would make every comparison here vacuous) fails."""
    ref = engine_runner("reference")
    assert ref is not engine_runner("des")
    assert ref is not engine_runner("fast")
    assert ref.__module__ == "mtasim.engine.reference"


def test_the_instrumented_runner_is_the_one_that_runs():
    """``runner=`` replaces the engine's run function: a runner that records nothing leaves no attempts, so
    what :func:`reference` compares against comes from the run function it counted."""
    sc = host_state_scenario("postfix", "refused", seed=7, at_once=True)
    calls = []

    def idle(sender, domains, horizon, seed, arrivals, recipient_of, recorder):
        calls.append(len(arrivals))
        return horizon

    result = mtasim.simulate(sc, engine="reference", attempts=True, runner=idle)
    assert calls == [len(result.messages)] and result.total_attempts == 0
    assert reference(sc).total_attempts > 0


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_engines_equal_the_reference_on_shipped_scenarios(path):
    """Every shipped scenario, whole: identical per-message results, attempt tables and warnings."""
    assert_engines_equal_the_reference(mtasim.load_scenario(path))


@pytest.mark.parametrize("horizon", [None, "9h"], ids=["no-horizon", "horizon-9h"])
@pytest.mark.parametrize("at_once", [False, True], ids=["spread", "burst"])
@pytest.mark.parametrize("failure", ["refused", "timeout"])
@pytest.mark.parametrize("preset", HOST_PRESETS)
def test_engines_equal_the_reference_with_host_state(preset, failure, at_once, horizon):
    """Host-level state, with messages spread out or all arriving at once (a burst: who connects and who is
    held back depends on the order of simultaneous events), with and without a horizon."""
    sc = host_state_scenario(preset, failure, seed=7, horizon=horizon, at_once=at_once)
    assert des_only_features(sc), "expected a scenario with host-level state"
    assert_engines_equal_the_reference(sc)


#: Presets with host-level state, with the settings that change how it acts.
HOST_SENDERS = [{"preset": "postfix"}, {"preset": "postfix", "minimal_backoff_time": "2m"},
                {"preset": "sendmail"}, {"preset": "sendmail", "HostStatusDirectory": ""},
                {"preset": "exim"}, {"preset": "exchange-server"}, {"preset": "opensmtpd"}]


@st.composite
def host_state_scenarios(draw):
    """Generated workloads and recipients (refusals, timeouts, 4xx, bounces; 1-3 domains) under a preset with
    host-level state, at most 60 messages; often a burst or arrivals on whole minutes, so that many events
    share a moment and their order decides who connects and who is held back."""
    kind = draw(st.sampled_from(["generated", "burst", "on-the-minute"]))
    if kind == "generated":
        messages = draw(workloads())                       # at most about 40 messages
    elif kind == "burst":
        messages = {"count": draw(st.integers(2, 60)), "arrival": {"kind": "at", "time": draw(minutes(0, 6 * 60))}}
    else:                               # whole minutes, with repeats: they meet scans and each other
        times = draw(st.lists(st.integers(0, 8 * 60), min_size=2, max_size=60))
        messages = {"arrival": {"kind": "times", "times": [f"{m}m" for m in times]}}
    data = {"seed": draw(st.integers(0, 2**32)), "sender": dict(draw(st.sampled_from(HOST_SENDERS))),
            "messages": messages, "recipients": draw(recipients())}
    if draw(st.booleans()):
        data["horizon"] = draw(minutes(30, 72 * 60))
    return data


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(host_state_scenarios())
def test_engines_equal_the_reference_on_generated_host_state_scenarios(data):
    """Message by message, attempt by attempt, warning by warning: the DES on each code path equals the
    reference under every host-level state, with simultaneous events, timeouts and horizons."""
    assert_engines_equal_the_reference(mtasim.scenario_from_dict(data))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_engines_equal_the_reference_on_generated_scenarios(data):
    """Any generated scenario without a preset (every schedule kind and give-up rule, queue runners,
    warnings, horizons, replies, refusals, timeouts, bounces, jitter): the DES and the fast engine equal
    the reference."""
    assert_engines_equal_the_reference(mtasim.scenario_from_dict(data))

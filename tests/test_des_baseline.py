"""The DES runs every message from one SimPy process in SimPy's own event order, so it gives exactly the
per-message results of the straightforward model (one SimPy process per message) kept as the benchmark
baseline, including who is held back by host-level state when many messages try at the same moment."""

from __future__ import annotations

import sys

import pytest
from conftest import ROOT, SCENARIOS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fast_engine import assert_same
from test_properties import SETTINGS, minutes, recipients, workloads

import mtasim
import mtasim.engine.des as des

sys.path.insert(0, str(ROOT / "benchmarks" / "baselines"))
import des_per_message  # noqa: E402


def with_baseline(sc):
    current, des.run_des = des.run_des, des_per_message.run_des
    try:
        return mtasim.simulate(sc, engine="des", attempts=True)
    finally:
        des.run_des = current


#: The DES's thresholds, as shipped and forced to its other code paths: every destination batched
#: (however few its messages), every moment run with array operations (however few its events), quiet
#: stretches cut short and messages without host state run in tiny chunks.
DES_PATHS = {"as shipped": {}, "batched": {"_OWN_ENGINE": 1},
             "batched, arrays, short stretches, chunks": {"_OWN_ENGINE": 1, "_SMALL": 0, "_STRETCH_ROWS": 8,
                                                          "_CHUNK": 7}}


def assert_every_path_equals_the_baseline(sc):
    expected = with_baseline(sc)
    for name, values in DES_PATHS.items():
        saved = {k: getattr(des, k) for k in values}
        try:
            for k, v in values.items():
                setattr(des, k, v)
            assert_same(expected, mtasim.simulate(sc, engine="des", attempts=True))
        except AssertionError as e:
            raise AssertionError(f"DES path '{name}': {e}") from e
        finally:
            for k, v in saved.items():
                setattr(des, k, v)


def host_state_scenario(preset, failure, seed, horizon=None, at_once=False):
    data = {"seed": seed, "sender": {"preset": preset},
            "messages": ({"count": 150, "arrival": {"kind": "at", "time": "1h"}} if at_once else
                         {"count": 300, "arrival": {"kind": "uniform", "start": 0, "end": "12h"}}),
            "recipients": [{"domain": "a", "share": 2, "outages": [{"start": "1h", "end": "20h", "failure": failure}]},
                           {"domain": "b", "outages": [{"start": 0, "end": "3h", "failure": failure}]}]}
    if horizon:
        data["horizon"] = horizon
    return mtasim.scenario_from_dict(data)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_des_equals_the_per_message_baseline_on_shipped_scenarios(path):
    """Every shipped scenario: identical per-message results and attempt tables."""
    sc = mtasim.load_scenario(path)
    assert_same(with_baseline(sc), mtasim.simulate(sc, engine="des", attempts=True))


@pytest.mark.parametrize("preset", ["postfix", "sendmail", "exim", "exchange-server", "opensmtpd"])
@pytest.mark.parametrize("failure", ["refused", "timeout"])
@pytest.mark.parametrize("at_once", [False, True])
def test_des_equals_the_baseline_with_host_state(preset, failure, at_once):
    """Host-level state, with messages spread out or all arriving at once (a burst: who connects and who is
    held back depends on the order of simultaneous events), with and without a horizon."""
    for horizon in (None, "9h"):
        assert_every_path_equals_the_baseline(host_state_scenario(preset, failure, seed=7, horizon=horizon,
                                                                  at_once=at_once))


#: Presets with host-level state, with the settings that change how it acts.
HOST_SENDERS = [{"preset": "postfix"}, {"preset": "postfix", "minimal_backoff_time": "2m"},
                {"preset": "sendmail"}, {"preset": "sendmail", "HostStatusDirectory": ""},
                {"preset": "exim"}, {"preset": "exchange-server"}, {"preset": "opensmtpd"}]


@st.composite
def host_state_scenarios(draw, crowded=False):
    """Generated workloads and recipients (refusals, timeouts, 4xx, bounces; 1-3 domains) under a
    preset with host-level state; often a burst or arrivals on the queue runner's own clock, so that many
    events share a moment and their order decides who connects and who is held back. ``crowded``: hundreds
    of messages, so that moments are crowded and quiet stretches long."""
    kind = draw(st.sampled_from(["uniform" if crowded else "generated", "burst", "on-the-minute"]))
    if kind == "generated":
        messages = draw(workloads())
    elif kind == "uniform":
        messages = {"count": draw(st.integers(50, 400)),
                    "arrival": {"kind": "uniform", "start": 0, "end": draw(st.sampled_from(["2h", "12h", "2d"]))}}
    elif kind == "burst":
        count = st.integers(20, 300) if crowded else st.integers(2, 60)
        messages = {"count": draw(count), "arrival": {"kind": "at", "time": draw(minutes(0, 6 * 60))}}
    else:                               # whole minutes, with repeats: they meet scans and each other
        times = draw(st.lists(st.integers(0, 8 * 60), min_size=20 if crowded else 2, max_size=200 if crowded else 60))
        messages = {"arrival": {"kind": "times", "times": [f"{m}m" for m in times]}}
    data = {"seed": draw(st.integers(0, 2**32)), "sender": dict(draw(st.sampled_from(HOST_SENDERS))),
            "messages": messages, "recipients": draw(recipients())}
    if draw(st.booleans()):
        data["horizon"] = draw(minutes(30, 72 * 60))
    return data


@SETTINGS
@given(host_state_scenarios())
def test_des_equals_the_baseline_on_generated_host_state_scenarios(data):
    """Message by message, attempt by attempt, warning by warning: the batched DES and the per-message
    SimPy model agree under every host-level state, with simultaneous events, timeouts and horizons, on
    each of the DES's code paths."""
    assert_every_path_equals_the_baseline(mtasim.scenario_from_dict(data))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(host_state_scenarios(crowded=True))
def test_des_equals_the_baseline_on_crowded_host_state_scenarios(data):
    """The same with hundreds of messages: crowded moments (run with array operations) and long quiet
    stretches (advanced wholesale, then ranked)."""
    assert_every_path_equals_the_baseline(mtasim.scenario_from_dict(data))

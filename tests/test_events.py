"""The DES's event bookkeeping (mtasim.engine.events): the arrival process's events land where SimPy's
arithmetic puts them, and pending events come out by clock time, exactly."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mtasim.engine.events import ArrivalProcess, PendingEvents


def replay(arrivals, stop=math.inf):
    """The arrival process as the per-message model runs it: clock += (arrival - clock) whenever an
    arrival is later than the clock; each such event starts the messages up to the next one."""
    clock, times, lo = 0.0, [0.0], [0]
    for i, t in enumerate(arrivals):
        if t >= stop:
            break
        if t > clock:
            clock = clock + max(0.0, t - clock)
            times.append(clock)
            lo.append(i)
    return times, lo


def test_arrival_events_by_hand():
    """Two messages at 0 start with the first event; 5 s and the two at 1 h make one event each."""
    source = ArrivalProcess(np.array([0.0, 0.0, 5.0, 3600.0, 3600.0]), math.inf)
    assert source.time.tolist() == [0.0, 5.0, 3600.0]
    assert source.lo.tolist() == [0, 2, 3]
    assert source.by_time.tolist() == [-math.inf, 0.0, 5.0]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1e7), st.floats(0, 1e-300), st.sampled_from([0.0, 0.1, 0.2, 0.3, 1e16])),
                max_size=40), st.sampled_from([math.inf, 0.25, 3600.0]))
def test_arrival_events_are_simpys(arrivals, stop):
    """Any sorted arrivals, with repeats and values whose differences round: the same events as a replay."""
    arrivals = np.sort(np.array(arrivals, dtype=np.float64))
    times, lo = replay(arrivals.tolist(), stop)
    source = ArrivalProcess(arrivals, stop)
    assert source.time.tolist() == times
    assert source.lo.tolist() == lo


def test_rounding_moves_the_clock_off_the_arrival():
    """From a clock at 1.0, the wait to 1e16 + 2 rounds: the clock lands on 1e16, where SimPy's sum lands."""
    arrivals = np.array([1.0, 1e16 + 2.0, 1e16 + 4.0])
    times, lo = replay(arrivals.tolist())
    source = ArrivalProcess(arrivals, math.inf)
    assert times[2] == 1e16 and source.time.tolist() == times and source.lo.tolist() == lo


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from([0.0, 1.0, 2.5, 2.5, 7.0, 300.0]), min_size=1, max_size=6),
                min_size=1, max_size=8), st.sampled_from([0.5, 2.5, 7.0, 1000.0]))
def test_pending_events_come_out_by_time(runs, bound):
    """Runs and lone events: everything before a bound, then exactly the events of the earliest time."""
    pending, times, next_id = PendingEvents(), {}, 0
    for run in runs:
        ids = np.arange(next_id, next_id + len(run))
        next_id += len(run)
        times.update(zip(ids.tolist(), run))
        if len(run) == 1:
            pending.push_one(int(ids[0]), run[0])
        else:
            pending.push(ids, np.array(run))
    early = pending.pop_before(bound)
    assert sorted(early.tolist()) == sorted(i for i, t in times.items() if t < bound)
    left = {i: t for i, t in times.items() if t >= bound}
    if left:
        first = min(left.values())
        assert pending.first_time() == first
        assert sorted(pending.pop_at(first).tolist()) == sorted(i for i, t in left.items() if t == first)
    else:
        assert pending.first_time() == math.inf


def test_unordered_pending_events_all_come_out_at_once():
    """Without host state nothing needs ordering: runs stay unsorted and one pop takes every event."""
    pending = PendingEvents(ordered=False)
    pending.push(np.array([4, 2, 9]), np.array([30.0, 10.0, 20.0]))
    pending.push_one(7, 5.0)
    assert pending.first_time() == 5.0
    assert sorted(pending.pop_before(math.inf).tolist()) == [2, 4, 7, 9]
    assert pending.first_time() == math.inf

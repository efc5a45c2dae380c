"""The DES's calendar bookkeeping (mtasim.engine.events): pending events come out by time, exactly."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mtasim.engine.events import PendingEvents


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

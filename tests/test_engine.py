"""The DES engine end to end: hand-computed outage outcomes, shipped scenarios, workload draws, golden summaries."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import HOUR, MIN, ROOT, SCENARIOS

import mtasim
from mtasim import Outcome

GOLDEN = ROOT / "tests" / "golden"
GOLDEN_KEYS = ("messages", "delivered", "expired", "bounced", "queued", "attempts", "delay_warnings", "connections")
OUTAGE_START_S, OUTAGE_END_S = 2 * HOUR, 32 * HOUR


def _run(stem: str):
    return mtasim.simulate(mtasim.load_scenario(ROOT / "scenarios" / f"{stem}.yaml"), attempts=True)


@pytest.fixture(scope="module")
def exo():
    return _run("exchange-online-30h-outage")


@pytest.fixture(scope="module")
def exchange_server():
    return _run("exchange-server-30h-outage")


# -- Exchange Online vs Exchange Server on the same 30 h outage ------------------------------------
def test_exo_scenario_is_the_one_computed_by_hand(exo):
    """The hand computation below assumes a 24 h at-deadline expiry and one 451 outage [2 h, 32 h)."""
    sender = exo.scenario.sender
    assert (sender.give_up.name, sender.expiry_s) == ("at-deadline", 24 * HOUR), \
        f"expected at-deadline with 24 h expiry, saw {sender.give_up} with {sender.expiry_s} s"
    (outage,) = exo.scenario.recipients[0].outages
    assert (outage.start_s, outage.end_s) == (OUTAGE_START_S, OUTAGE_END_S), \
        f"expected outage [7200, 115200), saw [{outage.start_s}, {outage.end_s})"


def test_exo_arrivals_before_outage_deliver_on_first_attempt(exo):
    """Under EXO a message arriving before 2 h is delivered by its first attempt, at its arrival."""
    m = exo.messages
    sel = m.arrival_s < OUTAGE_START_S
    assert sel.any(), "expected some arrivals before the outage"
    bad = np.flatnonzero(sel & ~((m.outcome == Outcome.DELIVERED) & (m.attempts == 1) & (m.final_s == m.arrival_s)))
    assert bad.size == 0, (f"expected delivered with 1 attempt at arrival; message {bad[0]}: outcome "
                           f"{Outcome(m.outcome[bad[0]]).label}, attempts {m.attempts[bad[0]]}, "
                           f"arrival {m.arrival_s[bad[0]]}, final {m.final_s[bad[0]]}")


def test_exo_arrivals_2h_to_8h_expire_at_exactly_arrival_plus_24h(exo):
    """Under EXO a message arriving in [2 h, 8 h) cannot reach the outage end before its deadline: 4.4.7 at arrival + 24 h."""
    m = exo.messages
    ids = np.flatnonzero((m.arrival_s >= 2 * HOUR) & (m.arrival_s < 8 * HOUR))
    assert ids.size > 0, "expected some arrivals in [2 h, 8 h)"
    for i in ids:
        assert m.outcome[i] == Outcome.EXPIRED, \
            f"message {i} (arrival {m.arrival_s[i]:.1f} s): expected expired, saw {Outcome(m.outcome[i]).label}"
        assert m.status_text(i) == "4.4.7", f"message {i}: expected status 4.4.7, saw {m.status_text(i)!r}"
        assert m.final_s[i] == m.arrival_s[i] + 24 * HOUR, \
            f"message {i}: expected final_s {m.arrival_s[i] + 24 * HOUR!r}, saw {m.final_s[i]!r}"
        times = exo.attempts.for_message(i)
        assert times.max() < m.arrival_s[i] + 24 * HOUR, \
            f"message {i}: expected no attempt at/after the deadline, saw one at {times.max()!r}"


def test_exo_arrivals_after_9h_delivered_after_outage_end(exo):
    """Under EXO a message arriving after 9 h is delivered at or after 32 h, before its deadline."""
    m = exo.messages
    ids = np.flatnonzero(m.arrival_s >= 9 * HOUR)
    assert ids.size > 0, "expected some arrivals after 9 h"
    for i in ids:
        assert m.outcome[i] == Outcome.DELIVERED, \
            f"message {i} (arrival {m.arrival_s[i]:.1f} s): expected delivered, saw {Outcome(m.outcome[i]).label}"
        assert OUTAGE_END_S <= m.final_s[i] < m.arrival_s[i] + 24 * HOUR, \
            f"message {i}: expected final_s in [{OUTAGE_END_S}, {m.arrival_s[i] + 24 * HOUR}), saw {m.final_s[i]}"


def test_exchange_server_delivers_every_message_shortly_after_the_outage(exchange_server):
    """Exchange Server (48 h) delivers all mail; mail caught by the outage within one 15 min retry of its end."""
    m = exchange_server.messages
    counts = exchange_server.counts()
    assert counts["delivered"] == len(m), f"expected all {len(m)} delivered, saw {counts}"
    caught = m.arrival_s >= OUTAGE_START_S
    late = m.final_s[caught]
    assert late.min() >= OUTAGE_END_S and late.max() < OUTAGE_END_S + 15 * MIN, \
        f"expected caught messages delivered in [32 h, 32 h 15 m), saw [{late.min()}, {late.max()}]"
    early = ~caught
    assert np.array_equal(m.final_s[early], m.arrival_s[early]), \
        "expected messages arriving before 2 h delivered at arrival"


def test_exchange_server_warns_at_exactly_arrival_plus_4h(exchange_server):
    """Exchange Server sends one delay DSN at exactly arrival + 4 h to every message undelivered at that age, none to others."""
    m = exchange_server.messages
    undelivered_at_4h = m.final_s > m.arrival_s + 4 * HOUR
    expected = np.where(undelivered_at_4h, m.arrival_s + 4 * HOUR, np.nan)
    assert undelivered_at_4h.sum() == np.count_nonzero(m.arrival_s >= OUTAGE_START_S), \
        "expected exactly the messages arriving during the outage to be undelivered at 4 h"
    bad = np.flatnonzero(~((m.warned_s == expected) | (np.isnan(m.warned_s) & np.isnan(expected))))
    assert bad.size == 0, (f"{bad.size} messages warned wrongly; message {bad[0]}: expected warned_s "
                           f"{expected[bad[0]]!r}, saw {m.warned_s[bad[0]]!r}")


def test_exo_and_exchange_server_see_the_same_workload(exo, exchange_server):
    """Both 30 h outage scenarios draw the same arrivals (same seed), so they differ by sender only."""
    assert np.array_equal(exo.messages.arrival_s, exchange_server.messages.arrival_s), \
        "expected identical arrival times in both scenarios"
    exo_expired = exo.messages.outcome == Outcome.EXPIRED
    assert exo_expired.any() and np.all(exchange_server.messages.outcome[exo_expired] == Outcome.DELIVERED), \
        "expected every message EXO expires to be delivered by Exchange Server"


# -- shipped scenarios ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_runs_conserves_and_is_deterministic(path):
    """Every shipped scenario loads, runs, conserves messages and gives identical results twice."""
    sc = mtasim.load_scenario(path)
    first, second = mtasim.simulate(sc, attempts=True), mtasim.simulate(sc, attempts=True)
    counts = first.counts()
    assert sum(counts.values()) == len(first.messages), \
        f"expected outcomes to sum to {len(first.messages)} messages, saw {counts}"
    assert first.summary() == second.summary(), \
        f"expected identical summaries, saw {first.summary()} vs {second.summary()}"
    for name in ("arrival_s", "recipient", "outcome", "status", "final_s", "attempts", "warned_s"):
        a, b = getattr(first.messages, name), getattr(second.messages, name)
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), f"expected identical {name} arrays in two runs"
    assert first.messages.statuses == second.messages.statuses, "expected identical status tables"
    for name in ("message_id", "attempt", "time_s", "result", "reply"):
        assert np.array_equal(getattr(first.attempts, name), getattr(second.attempts, name)), \
            f"expected identical attempt {name} columns in two runs"


# -- workload ----------------------------------------------------------------------------------------
def _two_domains(seed: int, count: int = 4000):
    return mtasim.scenario_from_dict({
        "seed": seed,
        "sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "1d"},
        "messages": {"count": count, "arrival": {"kind": "uniform", "start": 0, "end": "1h"}},
        "recipients": [{"domain": "a.example", "share": 3}, {"domain": "b.example", "share": 1}],
    })


def test_shares_split_messages_in_proportion():
    """With shares 3:1 about 75 % of 4000 messages go to the first domain (within 0.03)."""
    for seed in (1, 2, 3):
        result = mtasim.simulate(_two_domains(seed))
        fraction = float(np.mean(result.messages.recipient == 0))
        assert abs(fraction - 0.75) < 0.03, f"seed {seed}: expected ~0.75 to the first domain, saw {fraction:.4f}"
        assert set(np.unique(result.messages.recipient).tolist()) == {0, 1}, "expected both domains used"


def test_shares_assignment_depends_only_on_seed():
    """The same seed assigns every message to the same domain; another seed gives another assignment."""
    a = mtasim.simulate(_two_domains(5)).messages.recipient
    b = mtasim.simulate(_two_domains(5)).messages.recipient
    c = mtasim.simulate(_two_domains(6)).messages.recipient
    assert np.array_equal(a, b), f"expected identical assignment for seed 5, {np.count_nonzero(a != b)} differ"
    assert not np.array_equal(a, c), "expected seeds 5 and 6 to assign differently"


def _poisson(seed: int, rate: str = "600/h", start: str = "2h", end: str = "12h"):
    return mtasim.scenario_from_dict({
        "seed": seed,
        "sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "1d"},
        "messages": {"arrival": {"kind": "poisson", "rate": rate, "start": start, "end": end}},
        "recipients": [{"domain": "r.example"}],
    })


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_poisson_count_near_rate_times_duration(seed):
    """Poisson arrivals at 600/h over 10 h number 6000 +- 5 standard deviations (sqrt 6000 ~ 77)."""
    n = len(mtasim.simulate(_poisson(seed)).messages)
    assert abs(n - 6000) <= 5 * 6000 ** 0.5, f"seed {seed}: expected about 6000 arrivals, saw {n}"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_poisson_arrivals_sorted_within_window(seed):
    """Poisson arrival times are sorted and lie in [start, end)."""
    arrivals = mtasim.simulate(_poisson(seed)).messages.arrival_s
    assert np.all(np.diff(arrivals) >= 0), "expected arrival times in non-decreasing order"
    assert arrivals.min() >= 2 * HOUR and arrivals.max() < 12 * HOUR, \
        f"expected arrivals in [7200, 43200), saw [{arrivals.min()}, {arrivals.max()}]"


def test_uniform_arrivals_sorted_within_window():
    """Uniform arrival times are sorted, lie in [start, end) and there are exactly `count` of them."""
    arrivals = mtasim.simulate(_two_domains(1, count=3000)).messages.arrival_s
    assert len(arrivals) == 3000, f"expected 3000 arrivals, saw {len(arrivals)}"
    assert np.all(np.diff(arrivals) >= 0), "expected arrival times in non-decreasing order"
    assert arrivals.min() >= 0 and arrivals.max() < HOUR, \
        f"expected arrivals in [0, 3600), saw [{arrivals.min()}, {arrivals.max()}]"


def test_times_arrival_gives_exactly_those_times():
    """A `times` arrival list gives exactly those arrival times (in time order), one message each."""
    given = ["1h", 0, "90s", "1h", "2h30m", 7200.5]
    expected = sorted([3600.0, 0.0, 90.0, 3600.0, 9000.0, 7200.5])
    sc = mtasim.scenario_from_dict({
        "sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "1d"},
        "messages": {"arrival": {"kind": "times", "times": given}},
        "recipients": [{"domain": "r.example"}],
    })
    result = mtasim.simulate(sc, attempts=True)
    seen = result.messages.arrival_s.tolist()
    assert seen == expected, f"expected arrival times {expected}, saw {seen}"
    firsts = [result.attempts.for_message(i)[0] for i in range(len(seen))]
    assert firsts == expected, f"expected first attempts at {expected}, saw {firsts}"


# -- golden summaries -------------------------------------------------------------------------------
def test_every_shipped_scenario_has_a_golden_summary():
    """Each scenarios/*.yaml has tests/golden/<stem>.json (make it with tests/golden/regenerate.py)."""
    missing = [p.stem for p in SCENARIOS if not (GOLDEN / f"{p.stem}.json").exists()]
    assert not missing, f"expected a golden summary for every scenario, missing: {missing}"


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_summary_matches_golden(path):
    """A shipped scenario's summary counts equal the stored golden ones (regenerate only on intended change)."""
    golden_file = GOLDEN / f"{path.stem}.json"
    assert golden_file.exists(), f"expected {golden_file}; run tests/golden/regenerate.py"
    expected = json.loads(golden_file.read_text(encoding="utf-8"))
    summary = mtasim.simulate(mtasim.load_scenario(path)).summary()
    seen = {k: summary[k] for k in GOLDEN_KEYS}
    assert seen == expected, f"expected golden summary {expected}, saw {seen}"

"""Direction tests for deterministic schedules: a longer expiry never delivers fewer, a longer outage never more.

Without host-level state every message's attempts are fixed by its schedule and the outage alone; the
expiry only cuts that sequence short, and extending an outage only turns later successes into failures.
So both directions hold message by message, not just in the counts, and both are checked.
"""

from __future__ import annotations

import numpy as np
import pytest

import mtasim
from mtasim import Outcome

HOUR = 3600.0
MESSAGES = {"count": 300, "arrival": {"kind": "uniform", "start": 0, "end": "24h"}}
OUTAGE_START = "6h"
OUTAGE_END = "30h"
FAILURES = ["451 4.3.0 try later", "refused", "timeout"]
FAILURE_IDS = ["451", "refused", "timeout"]

#: Deterministic custom schedules (no jitter), with and without a queue runner.
SCHEDULES = {
    "fixed-30m": {"schedule": {"kind": "fixed", "interval": "30m"}},
    "fixed-1h-queue-5m": {"schedule": {"kind": "fixed", "interval": "1h"}, "queue_run": "5m",
                          "queue_run_phase": "73s"},
    "list-repeat": {"schedule": {"kind": "list", "intervals": ["5m", "15m", "30m", "1h", "2h"]}},
    "list-stop": {"schedule": {"kind": "list", "intervals": ["5m", "30m", "1h", "2h", "4h", "8h", "8h"],
                               "then": "stop"}},
    "age-based": {"schedule": {"kind": "age-based", "min": "5m", "max": "67m"}, "queue_run": "5m"},
    "exponential": {"schedule": {"kind": "exponential", "first": "5m", "factor": 2, "max": "2h"}},
    "exponential-x1.5": {"schedule": {"kind": "exponential", "first": "10m", "factor": 1.5, "max": "3h"},
                         "queue_run": "15m"},
}
EXPIRY_RULES = ["last-attempt", "at-deadline", "next-wait"]
EXPIRY_LADDER = ["4h", "12h", "20h", "24h", "30h", "36h", "2d", "3d"]
ATTEMPT_LADDER = [1, 2, 5, 10, 20, 40, 80]

#: Presets with the native name of their expiry and a ladder inside the preset's allowed range.
PRESET_LADDERS = {
    "postfix": ("maximal_queue_lifetime", ["0s", "4h", "12h", "1d", "30h", "36h", "2d", "5d"]),
    "exchange-server": ("MessageExpirationTimeout", ["4h", "12h", "1d", "30h", "36h", "2d", "3d"]),
    "exchange-online": ("MessageExpiration", ["12h", "15h", "18h", "21h", "24h"]),
}
#: A fixed expiry per rule for the outage ladder (long enough that outage length decides).
OUTAGE_ENDS = ["7h", "12h", "18h", "24h", "30h", "36h", "48h", "60h"]


def _scenario(sender: dict, failure: str, outage_end: str = OUTAGE_END):
    return mtasim.scenario_from_dict({
        "name": "monotonicity",
        "seed": 42,
        "sender": sender,
        "messages": MESSAGES,
        "recipients": [{"domain": "r.example",
                        "outages": [{"start": OUTAGE_START, "end": outage_end, "failure": failure}]}],
    })


def _delivered(sender: dict, failure: str, outage_end: str = OUTAGE_END) -> np.ndarray:
    result = mtasim.simulate(_scenario(sender, failure, outage_end))
    counts = result.counts()
    assert sum(counts.values()) == len(result.messages), f"expected conservation, saw {counts}"
    return result.messages.outcome == Outcome.DELIVERED


def _check_ladder(ladder: list, runs: list[np.ndarray], what: str, direction: str) -> None:
    """``direction`` 'up': delivered never falls along the ladder; 'down': never rises."""
    counts = [int(d.sum()) for d in runs]
    for (lo, d_lo), (hi, d_hi) in zip(zip(ladder, runs), zip(ladder[1:], runs[1:])):
        n_lo, n_hi = int(d_lo.sum()), int(d_hi.sum())
        if direction == "up":
            assert n_hi >= n_lo, (f"expected {what} {hi} to deliver >= {n_lo} (as {what} {lo}), saw {n_hi}; "
                                  f"ladder {dict(zip(ladder, counts))}")
            lost = np.flatnonzero(d_lo & ~d_hi)
            assert lost.size == 0, (f"expected every message delivered with {what} {lo} also delivered with "
                                    f"{what} {hi}; {lost.size} are not, e.g. message {lost[0]}")
        else:
            assert n_hi <= n_lo, (f"expected {what} {hi} to deliver <= {n_lo} (as {what} {lo}), saw {n_hi}; "
                                  f"ladder {dict(zip(ladder, counts))}")
            gained = np.flatnonzero(d_hi & ~d_lo)
            assert gained.size == 0, (f"expected every message delivered with {what} {hi} also delivered with "
                                      f"{what} {lo}; {gained.size} are not, e.g. message {gained[0]}")
    assert counts[0] != counts[-1], f"expected the ladder to change delivery at all, saw {counts} (test too weak)"


# -- a longer expiry never delivers fewer ----------------------------------------------------------
@pytest.mark.parametrize("failure", FAILURES, ids=FAILURE_IDS)
@pytest.mark.parametrize("rule", EXPIRY_RULES)
@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_longer_expiry_never_delivers_fewer(schedule, rule, failure):
    """For a deterministic schedule and each give-up rule, a longer expiry never delivers fewer messages."""
    ladder = EXPIRY_LADDER
    runs = [_delivered({**SCHEDULES[schedule], "give_up": rule, "expiry": e}, failure) for e in ladder]
    _check_ladder(ladder, runs, "expiry", "up")


@pytest.mark.parametrize("failure", FAILURES, ids=FAILURE_IDS)
@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_more_attempts_never_deliver_fewer(schedule, failure):
    """With give_up: attempts, a larger max_attempts never delivers fewer messages."""
    ladder = ATTEMPT_LADDER
    runs = [_delivered({**SCHEDULES[schedule], "give_up": "attempts", "max_attempts": n}, failure) for n in ladder]
    _check_ladder(ladder, runs, "max_attempts", "up")


@pytest.mark.parametrize("failure", FAILURES, ids=FAILURE_IDS)
@pytest.mark.parametrize("preset", list(PRESET_LADDERS))
def test_preset_longer_expiry_never_delivers_fewer(preset, failure):
    """For the postfix, exchange-server and exchange-online presets a longer expiry never delivers fewer."""
    param, ladder = PRESET_LADDERS[preset]
    runs = [_delivered({"preset": preset, param: e}, failure) for e in ladder]
    _check_ladder(ladder, runs, param, "up")


# -- a longer outage never delivers more ------------------------------------------------------------
@pytest.mark.parametrize("failure", FAILURES, ids=FAILURE_IDS)
@pytest.mark.parametrize("rule", EXPIRY_RULES + ["attempts"])
@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_longer_outage_never_delivers_more(schedule, rule, failure):
    """For a deterministic schedule and each give-up rule, an outage ending later (same start) never delivers more."""
    limit = {"max_attempts": 12} if rule == "attempts" else {"expiry": "30h"}
    sender = {**SCHEDULES[schedule], "give_up": rule, **limit}
    runs = [_delivered(sender, failure, end) for end in OUTAGE_ENDS]
    _check_ladder(OUTAGE_ENDS, runs, "outage end", "down")


@pytest.mark.parametrize("failure", FAILURES, ids=FAILURE_IDS)
@pytest.mark.parametrize("preset", list(PRESET_LADDERS))
def test_preset_longer_outage_never_delivers_more(preset, failure):
    """For the postfix, exchange-server and exchange-online presets a longer outage never delivers more."""
    param, ladder = PRESET_LADDERS[preset]
    sender = {"preset": preset, param: ladder[len(ladder) // 2]}
    runs = [_delivered(sender, failure, end) for end in OUTAGE_ENDS]
    _check_ladder(OUTAGE_ENDS, runs, "outage end", "down")

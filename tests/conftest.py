"""Shared helpers: build small scenarios from dicts, run them, and read one message's attempt times."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

import mtasim

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))

HOUR = 3600.0
MIN = 60.0

BASE = {
    "name": "test",
    "seed": 1,
    "sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "10h"},
    "messages": {"count": 1, "arrival": {"kind": "at", "time": 0}},
    "recipients": [{"domain": "r.example", "outages": []}],
}


def scenario(sender=None, outages=None, messages=None, **top):
    """A one-recipient scenario: ``sender`` replaces BASE's sender, ``outages`` the recipient's outages."""
    data = copy.deepcopy(BASE)
    if sender is not None:
        data["sender"] = sender
    if outages is not None:
        data["recipients"][0]["outages"] = outages
    if messages is not None:
        data["messages"] = messages
    data.update(top)
    return mtasim.scenario_from_dict(data)


def run_one(sender=None, outages=None, arrival=0, **top):
    """Simulate one message arriving at ``arrival`` (seconds); return (result, attempt times)."""
    sc = scenario(sender, outages, {"count": 1, "arrival": {"kind": "at", "time": arrival}}, **top)
    result = mtasim.simulate(sc, attempts=True)
    return result, result.attempts.for_message(0).tolist()


@pytest.fixture
def scenario_dir(tmp_path):
    return tmp_path

"""Outcome tables per hour, day or week of the final time, and per recipient entry (mtasim.tables)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

import mtasim
from mtasim.cli import main
from mtasim.results import Outcome
from mtasim.tables import (
    clock_start,
    format_period_table,
    format_recipient_table,
    period_table,
    recipient_table,
    run_tables_text,
)

from conftest import HOUR, ROOT, scenario

D, E, B, Q = (int(o) for o in (Outcome.DELIVERED, Outcome.EXPIRED, Outcome.BOUNCED, Outcome.QUEUED))
NAN = math.nan
FRIDAY_18H = datetime(2026, 11, 27, 18, 0, tzinfo=timezone.utc)

#: Three messages at 0 h, 1 h and 20 h into an outage from 0.5 h to 40 h; 1 h retries, expiry 10 h at the
#: deadline. By hand: message 0 is delivered at once (0 h, day 1); message 1 expires at 1 h + 10 h = 11 h
#: (day 1); message 2 expires at 20 h + 10 h = 30 h (day 2).
THREE = {
    "sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "10h", "give_up": "at-deadline"},
    "outages": [{"start": "30m", "end": "40h", "failure": "refused"}],
    "messages": {"arrival": {"kind": "times", "times": [0, "1h", "20h"]}},
}


def test_messages_finishing_on_two_days_are_counted_on_their_day():
    """A message counts on the day of its final time: day 1 is [0, 24 h), day 2 [24 h, 48 h)."""
    final = np.array([1 * HOUR, 25 * HOUR, 47.9 * HOUR, 23.99 * HOUR, NAN])
    outcome = np.array([D, D, E, B, Q])
    t = period_table(final, outcome)
    assert t.unit == "day"
    assert t.labels == ["day 1", "day 2"]
    assert t.counts == {"delivered": [1, 1], "expired": [0, 1], "bounced": [1, 0]}, t.counts
    assert t.queued == 1


def test_days_on_the_wall_clock_are_calendar_days_of_the_start():
    """With start Friday 18:00, 5 h later is still Friday, 6 h later is Saturday 00:00, 30 h later Sunday."""
    t = period_table(np.array([5 * HOUR, 6 * HOUR, 30 * HOUR]), np.array([D, E, D]), FRIDAY_18H)
    assert t.labels == ["Fri 2026-11-27", "Sat 2026-11-28", "Sun 2026-11-29"]
    assert t.counts["delivered"] == [1, 0, 1] and t.counts["expired"] == [0, 1, 0]


def test_days_follow_the_start_offset_not_utc():
    """Start 23:30 at +01:00: 30 min later is local midnight, so the message is on the next local day."""
    start = datetime(2026, 11, 27, 23, 30, tzinfo=timezone(timedelta(hours=1)))
    t = period_table(np.array([1 * 60.0, 30 * 60.0, 25 * HOUR]), np.array([D, D, D]), start)
    assert t.labels == ["Fri 2026-11-27", "Sat 2026-11-28", "Sun 2026-11-29"]
    assert t.counts["delivered"] == [1, 1, 1]


def test_short_runs_get_hours_and_long_ones_weeks():
    """Everything within a day: one row per hour; beyond 62 days: one row per Monday-first week."""
    hours = period_table(np.array([10.0, 3599.0, 3600.0]), np.array([D, D, E]))
    assert hours.unit == "hour" and hours.labels == ["hour 1", "hour 2"]
    assert hours.counts["delivered"] == [2, 0] and hours.counts["expired"] == [0, 1]
    on_clock = period_table(np.array([10.0, 3600.0]), np.array([D, D]), FRIDAY_18H)
    assert on_clock.labels == ["Fri 2026-11-27 18:00", "Fri 2026-11-27 19:00"]
    weeks = period_table(np.array([0.0, 2 * 86400.0, 3 * 86400.0, 70 * 86400.0]), np.array([D, D, D, E]),
                         FRIDAY_18H)       # Friday, Sunday, Monday (a new week), ten weeks on
    assert weeks.unit == "week"
    assert weeks.labels[:2] == ["week of Mon 2026-11-23", "week of Mon 2026-11-30"] and len(weeks.labels) == 11
    assert weeks.counts["delivered"][:2] == [2, 1] and weeks.counts["expired"][-1] == 1


def test_hand_computed_run_per_day():
    """The THREE scenario: day 1 has one delivery (0 h) and one expiry (11 h), day 2 one expiry (30 h)."""
    result = mtasim.simulate(scenario(**THREE))
    m = result.messages
    assert m.final_s.tolist() == [0.0, 11 * HOUR, 30 * HOUR]
    t = period_table(m.final_s, m.outcome, clock_start(result.scenario))
    assert t.labels == ["day 1", "day 2"]
    assert t.counts == {"delivered": [1, 0], "expired": [1, 1], "bounced": [0, 0]}


def test_start_in_the_scenario_puts_the_table_on_the_wall_clock():
    """start: Friday 18:00 -> 0 h is Friday, 11 h Saturday 05:00, 30 h Sunday 00:00; without start: None."""
    assert clock_start(scenario(**THREE)) is None
    sc = scenario(**THREE, start="2026-11-27T18:00:00Z")
    assert clock_start(sc) == FRIDAY_18H
    m = mtasim.simulate(sc).messages
    t = period_table(m.final_s, m.outcome, clock_start(sc))
    assert t.labels == ["Fri 2026-11-27", "Sat 2026-11-28", "Sun 2026-11-29"]
    assert t.counts["delivered"] == [1, 0, 0] and t.counts["expired"] == [0, 1, 1]


@pytest.mark.parametrize("name", ["exchange-online-30h-outage", "custom-exponential-36h"])
def test_counts_add_up_to_the_summary(name):
    """Each column of the per-period table and of the per-recipient table sums to the summary's count."""
    result = mtasim.simulate(mtasim.load_scenario(ROOT / "scenarios" / f"{name}.yaml"))
    s, m = result.summary(), result.messages
    t = period_table(m.final_s, m.outcome)
    assert t.totals() == {k: s[k] for k in ("delivered", "expired", "bounced")}, (t.totals(), s)
    assert t.queued == s["queued"]
    rows = recipient_table(m.recipient, m.recipients, m.outcome)
    for key in ("delivered", "expired", "bounced", "queued"):
        assert sum(getattr(r, key) for r in rows) == s[key]
    assert sum(r.messages for r in rows) == s["messages"]


def test_recipient_table_groups_the_domains_of_one_entry():
    """``b.example#0001`` and ``#0002`` are one entry (2 domains); entries keep their first-seen order."""
    rows = recipient_table(np.array([0, 1, 2, 2, 0]), ["a.example", "b.example#0001", "b.example#0002"],
                           np.array([D, E, D, Q, B]))
    assert [(r.recipient, r.domains, r.delivered, r.expired, r.bounced, r.queued) for r in rows] == [
        ("a.example", 1, 1, 0, 1, 0), ("b.example", 2, 1, 1, 0, 1)]
    text = format_recipient_table(rows).splitlines()
    assert text[0].split() == ["recipient", "delivered", "expired", "bounced", "queued", "total"]
    assert text[2].split() == ["b.example", "(2", "domains)", "1", "1", "0", "1", "3"]


def test_format_period_table_has_a_total_row_and_the_queued_line():
    """A 16-wide label column, then each outcome right-aligned in 10 after a space; a total row; the
    queued mail on a line of its own."""
    t = period_table(np.array([HOUR, 25 * HOUR, NAN]), np.array([D, E, Q]))
    assert format_period_table(t).splitlines() == [
        "finished per day  delivered    expired    bounced",
        "day 1                     1          0          0",
        "day 2                     0          1          0",
        "total                     1          1          0",
        "still queued at the end: 1",
    ]


def test_run_prints_the_per_day_table(tmp_path, capsys):
    """`mtasim run` prints the per-day table after the summary (THREE with start: Fri, Sat, Sun)."""
    import yaml

    path = tmp_path / "three.yaml"
    path.write_text(yaml.safe_dump({
        "name": "three", "seed": 1, "start": "2026-11-27T18:00:00Z", "sender": THREE["sender"],
        "messages": THREE["messages"],
        "recipients": [{"domain": "r.example", "outages": THREE["outages"]}]}), encoding="utf-8")
    assert main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    assert ("finished per day  delivered    expired    bounced\n"
            "Fri 2026-11-27            1          0          0\n"
            "Sat 2026-11-28            0          1          0\n"
            "Sun 2026-11-29            0          1          0\n"
            "total                     1          2          0\n") in out, out
    assert "recipient " not in out          # one recipient: no per-recipient table


def test_run_tables_text_adds_the_recipient_table_only_for_several_entries():
    """One entry (two domains of it): the per-day table only; two entries: the per-recipient table after it."""
    from types import SimpleNamespace

    final, outcome = np.array([HOUR, 2 * HOUR]), np.array([D, E])
    one = SimpleNamespace(final_s=final, outcome=outcome, recipient=np.array([0, 1]),
                          recipients=["a.example#0001", "a.example#0002"])
    assert "recipient" not in run_tables_text(one, None)
    two = SimpleNamespace(final_s=final, outcome=outcome, recipient=np.array([0, 1]),
                          recipients=["a.example", "b.example"])
    text = run_tables_text(two, None).split("\n\n")
    assert len(text) == 2 and text[0].startswith("finished per hour")
    assert [line.split() for line in text[1].splitlines()[1:]] == [
        ["a.example", "1", "0", "0", "0", "1"], ["b.example", "0", "1", "0", "0", "1"]]

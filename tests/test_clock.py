"""Whole-second clocks (README, Semantics 11; docs/queue-order-and-clocks.md): Postfix, Exim and Sendmail
truncate arrival, failure and due times to the second of the wall clock before any arithmetic, and the
scenario's ``start`` says where the wall clock's seconds begin. Expected times computed by hand."""

from __future__ import annotations

import mtasim

REFUSED_FOR_A_DAY = [{"domain": "r.example", "outages": [{"start": 0, "end": "1d", "failure": "refused"}]}]


def attempts(sender, arrival_s, start="2026-11-30T00:00:00Z", engine="auto"):
    sc = mtasim.scenario_from_dict({"seed": 1, "start": start, "sender": sender,
                                    "messages": {"arrival": {"kind": "times", "times": [arrival_s]}},
                                    "recipients": REFUSED_FOR_A_DAY})
    return mtasim.simulate(sc, engine=engine, attempts=True).attempts.for_message(0).tolist()


POSTFIX = {"preset": "postfix", "default_destination_concurrency_failed_cohort_limit": 0}


def test_postfix_retries_at_the_scan_its_whole_second_due_time_reaches():
    """Arrival and first failure at 1.7 s: Postfix reads second 1, so the wait is clamp(0, 300, 4000) = 300 s,
    due at second 301, taken by the scan at 300 s (due <= scan + 1). Exact arithmetic would say due
    301.7 s, which only the 600 s scan takes."""
    assert attempts(POSTFIX, 1.7)[:2] == [1.7, 300.0]


def test_postfix_seconds_begin_where_the_start_says():
    """The same message with ``start`` half a second into its second: the wall clock reads 2.2 s at the
    attempt, second 2 of the wall clock begins at 1.5 s of the run, so due = 1.5 + 300 = 301.5 s: the
    300 s scan is one second and a half early (301.5 - 1 > 300), the 600 s scan takes it."""
    assert attempts(POSTFIX, 1.7, start="2026-11-30T00:00:00.5Z")[:2] == [1.7, 600.0]


def test_every_engine_keeps_the_same_clock():
    for engine in ("fast", "des", "reference"):
        assert attempts(POSTFIX, 1.7, start="2026-11-30T00:00:00.5Z", engine=engine)[:3] == [1.7, 600.0, 1200.0]


def test_exact_time_senders_ignore_where_seconds_begin():
    """Exchange Server keeps exact times: the start's fraction changes nothing."""
    sender = {"preset": "exchange-server", "destination_retry_queue": 0}
    assert attempts(sender, 1.7) == attempts(sender, 1.7, start="2026-11-30T00:00:00.5Z")

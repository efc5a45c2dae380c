"""The queue over time (mtasim.queue_view): queue.csv, the summary's queue fields, qshape, the queue and
burst plots. Known answers worked out by hand, then the CLI paths and the counts adding up."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from types import SimpleNamespace

import numpy as np
import pytest

import mtasim
from mtasim.cli import main
from mtasim.queue_view import (
    QSHAPE_HEADINGS,
    QUEUE_COLUMNS,
    QueueViewError,
    auto_interval,
    drain_time,
    expired_after_recovery_mask,
    parse_moment,
    peak_queue,
    qshape_bucket,
    qshape_text,
    queue_series,
    queue_summary,
    recovery_time,
)
from mtasim.recipients import Outage, Recipient, parse_reply
from mtasim.results import AttemptTable, MessageTable, Outcome, SimulationResult

from conftest import HOUR, MIN, ROOT

D, E, Q = Outcome.DELIVERED, Outcome.EXPIRED, Outcome.QUEUED
START = datetime(2026, 1, 1, tzinfo=timezone.utc)        # a Thursday


def make_result(arrival, final, outcome, recipient=None, *, entries=None, domains=None, names=None,
                attempts=None, total_attempts=None, horizon_s=None):
    """A SimulationResult built from given per-message records (no engine)."""
    n = len(arrival)
    entries = entries or [Recipient("r.example")]
    domains = domains or list(entries)
    names = names or [d.domain for d in domains]
    messages = MessageTable(
        recipient=np.asarray(recipient if recipient is not None else [0] * n, dtype=np.int32),
        arrival_s=np.asarray(arrival, dtype=float), outcome=np.asarray(outcome, dtype=np.int8),
        status=np.zeros(n, np.int32), final_s=np.asarray(final, dtype=float), attempts=np.ones(n, np.int32),
        warned_s=np.full(n, np.nan), statuses=["2.0.0"], recipients=names, decisive_age_s=np.full(n, np.nan),
        recovery_lag_s=np.full(n, np.nan))
    table = None
    if attempts is not None:
        ids, times = (np.asarray(x) for x in zip(*attempts))
        table = AttemptTable(ids.astype(np.int64), np.ones(len(ids), np.int32), times.astype(float),
                             np.zeros(len(ids), np.int8), np.zeros(len(ids), np.int32), ["250"])
    total = total_attempts if total_attempts is not None else (len(attempts) if attempts else n)
    scenario = SimpleNamespace(name="hand", recipients=tuple(entries), start=START)
    return SimulationResult(scenario, 0, "hand", messages, table, total, horizon_s, domains=domains)


# Five messages to one domain, worked out by hand (interval 10 s; horizon 50 s leaves #4 queued):
#   #0 arrives 0, delivered at 0 (never waits)   #1 arrives 5, delivered 25   #2 arrives 10, expires 40
#   #3 arrives 12, delivered 30                  #4 arrives 20, still queued at the horizon
HAND = dict(arrival=[0, 5, 10, 12, 20], final=[0, 25, 40, 30, np.nan], outcome=[D, D, E, D, Q], horizon_s=50.0)
HAND_ATTEMPTS = [(0, 0), (1, 5), (1, 15), (1, 25), (2, 10), (2, 20), (2, 30), (3, 12), (3, 22), (3, 30),
                 (4, 20), (4, 35), (4, 45)]


# -- queue.csv's numbers -----------------------------------------------------------------------------------
def test_queued_per_interval_by_hand():
    """Queued at 0,10,..,50 s is 0,2,4,2,1,1 (arrived <= t < final); events counted in [t, t+10)."""
    s = queue_series(make_result(**HAND, attempts=HAND_ATTEMPTS), 10.0)
    assert s.destinations == ["r.example", "*"]
    assert s.times_s.tolist() == [0, 10, 20, 30, 40, 50]
    assert s.queued[0].tolist() == [0, 2, 4, 2, 1, 1]
    assert s.deliveries[0].tolist() == [1, 0, 1, 1, 0, 0]      # at 0, 25, 30 (30 opens the 4th interval)
    assert s.expired[0].tolist() == [0, 0, 0, 0, 1, 0]         # at 40
    assert s.attempts[0].tolist() == [2, 3, 4, 3, 1, 0]        # 0 5 | 10 12 15 | 20 20 22 25 | 30 30 35 | 45
    for name in ("queued", "deliveries", "expired", "attempts"):
        assert getattr(s, name)[1].tolist() == getattr(s, name)[0].tolist()    # one entry: * is the same


def test_attempts_column_empty_unless_every_attempt_was_recorded():
    """A sampled attempt table (fewer rows than attempts made) gives no attempt counts, not wrong ones."""
    sampled = make_result(**HAND, attempts=HAND_ATTEMPTS[:4], total_attempts=13)
    s = queue_series(sampled, 10.0)
    assert s.attempts is None
    out = []
    s.write_csv(SimpleNamespace(write=out.append))
    rows = list(csv.reader("".join(out).splitlines()))
    assert rows[0] == list(QUEUE_COLUMNS)
    assert rows[3] == ["20", "r.example", "4", "", "1", "0"]


def test_groups_follow_the_scenario_entries():
    """An entry with domains: 2 is one row group; the total block * adds up the groups."""
    entries = [Recipient("a.example", domains=2), Recipient("b.example")]
    domains = [Recipient("a.example#0"), Recipient("a.example#1"), Recipient("b.example")]
    r = make_result([0, 0, 0, 10], [30, 15, 25, 12], [D, D, E, D], [0, 1, 2, 2], entries=entries,
                    domains=domains)
    s = queue_series(r, 10.0)
    assert s.destinations == ["a.example", "b.example", "*"]
    assert s.queued.tolist() == [[2, 2, 1, 0], [1, 2, 1, 0], [3, 4, 2, 0]]
    assert s.deliveries.tolist() == [[0, 1, 0, 1], [0, 1, 0, 0], [0, 2, 0, 1]]
    assert s.expired.tolist() == [[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0]]


@pytest.mark.parametrize("end_s, expected", [(0, 300), (3 * 86400, 300), (599_999, 300), (600_000, 600),
                                             (30 * 86400, 1800), (10 * 365 * 86400, 2 * 86400)])
def test_automatic_interval(end_s, expected):
    """5 min while 2,000 intervals cover the run (up to 6.94 days), then the next coarser step."""
    assert auto_interval(end_s) == expected
    assert end_s // expected + 1 <= 2000


def test_chosen_interval_with_too_many_rows_is_refused():
    with pytest.raises(QueueViewError, match=r"--queue-interval 1s: .*expected at most 100,000"):
        queue_series(make_result([0], [1e6], [D]), 1.0)


# -- summary fields ----------------------------------------------------------------------------------------
def test_peak_is_exact_and_first():
    """Queue after each moment: 0 (t=0: in and out), 1, 2, 3, 4 (t=20), 3, 2, 1: peak 4 at 20 s."""
    assert peak_queue(np.array(HAND["arrival"], float), np.array(HAND["final"], float)) == (4, 20.0)
    # the peak between two interval starts is still found: one message waiting [3 s, 4 s)
    assert peak_queue(np.array([3.0]), np.array([4.0])) == (1, 3.0)
    # equal peaks: the first; a message finishing as another arrives does not count twice
    assert peak_queue(np.array([0.0, 10.0, 20.0]), np.array([10.0, 15.0, 30.0])) == (1, 0.0)
    assert peak_queue(np.array([0.0, 1.0]), np.array([0.0, 1.0])) == (0, None)


def ten_message_scenario():
    """10 messages every 30 min from 0 to 4:30; retries every hour, expiry 3 h at the deadline (no attempt
    at or after it); the recipient down [0, 5 h)."""
    return mtasim.scenario_from_dict({
        "name": "ten", "seed": 1,
        "sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "3h", "give_up": "at-deadline"},
        "messages": {"arrival": {"kind": "times", "times": [f"{30 * k}m" for k in range(10)]}},
        "recipients": [{"domain": "r.example", "outages": [{"start": 0, "end": "5h"}]}],
    })


def test_ten_messages_by_hand():
    """Message k arrives at k*30 min and is tried at a, a+1h, a+2h until the 5 h end of the outage:
    k=0..5 expire at a+3h (3:00 .. 5:30), k=6..9 are delivered at their first try at or after 5:00.
    k=4 expires at exactly 5:00 (the outage is half-open: the domain is up) and k=5 at 5:30: two
    expired after recovery. Waiting at 5:00: k=5, 7, 9; the last delivered of them (k=7, 9) at 5:30,
    so the queue drained 30 min after the recovery. Peak: 6 from 2:30 (k=0..5) until k=6 arrives as k=0
    expires."""
    for engine in ("fast", "des", "reference"):
        r = mtasim.simulate(ten_message_scenario(), engine=engine)
        m = r.messages
        assert m.outcome.tolist() == [E] * 6 + [D] * 4, engine
        assert (m.final_s / HOUR).tolist() == [3, 3.5, 4, 4.5, 5, 5.5, 5, 5.5, 5, 5.5], engine
        assert expired_after_recovery_mask(r).tolist() == [False] * 4 + [True, True] + [False] * 4
        assert recovery_time(r) == 5 * HOUR
        assert drain_time(r) == 30 * MIN
        s = r.summary()
        assert (s["peak_queue"], s["peak_queue_s"]) == (6, 2.5 * HOUR)
        assert (s["recovery_s"], s["drain_time_s"], s["expired_after_recovery"]) == (5 * HOUR, 30 * MIN, 2)


def test_expired_after_recovery_edges():
    """Expiry at a window's start is inside it; at its end, outside (and after it); before any window of
    its own domain, not after a recovery; another domain's recovery does not count; between two windows,
    after the first."""
    def outage(a, b):
        return Outage(a, b, parse_reply("451 4.3.0 down"))
    domains = [Recipient("a", outages=(outage(10, 20), outage(30, 40))), Recipient("b", outages=(outage(0, 5),))]
    finals = [10, 20, 5, 25, 35, 40, 3, 5]
    r = make_result([0] * 8, finals, [E] * 7 + [D], [0, 0, 0, 0, 0, 0, 1, 0], entries=domains)
    assert expired_after_recovery_mask(r).tolist() == [False, True, False, True, False, True, False, False]


def test_no_outage_no_recovery():
    r = make_result([0, 1], [0, 1], [D, D])
    assert queue_summary(r) == {"peak_queue": 0, "peak_queue_s": None, "recovery_s": None, "drain_time_s": None,
                                "expired_after_recovery": 0}


def test_recovery_is_the_last_outage_end_with_mail_waiting():
    """Domain b's later outage (ends 100 s) held nothing back: the recovery is a's end at 40 s; the
    drain runs to the last delivery of the mail waiting then (b's message at 70 s counts too)."""
    def outage(a, b):
        return Outage(a, b, parse_reply("451 4.3.0 down"))
    domains = [Recipient("a", outages=(outage(10, 40),)), Recipient("b", outages=(outage(80, 100),))]
    r = make_result([15, 20, 30, 50], [45, 60, 70, 50], [D, D, D, D], [0, 0, 1, 1], entries=domains)
    assert recovery_time(r) == 40.0
    assert drain_time(r) == 30.0


# -- qshape -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("minutes, heading", [
    (0, "5"), (4.999, "5"), (5, "10"), (9.999, "10"), (10, "20"), (19.99, "20"), (20, "40"), (40, "80"),
    (80, "160"), (160, "320"), (320, "640"), (639.9, "640"), (640, "1280"), (1279.99, "1280"), (1280, "1280+"),
    (100_000, "1280+")])
def test_qshape_buckets(minutes, heading):
    """qshape.pl: column L holds ages in [L/2, L) minutes; 5 min exactly is in column 10."""
    assert QSHAPE_HEADINGS[int(qshape_bucket(minutes * 60.0))] == heading


def test_qshape_text_of_the_ten_messages():
    """At 4:00 the queue holds k=3..8 (k=2 expired at 4:00; k=8 arrived at 4:00), aged 150, 120, 90,
    60, 30 and 0 min: one in 5, one in 40, one in 80, three in 160. Widths as qshape.pl's results():
    each column max(len(total), len(heading)) + 1, at least 3; the domain column 80 minus those (39)."""
    r = mtasim.simulate(ten_message_scenario())
    expected = (" " * 39 + "  T  5 10 20 40 80 160 320 640 1280 1280+\n"
                + "TOTAL".rjust(39) + "  6  1  0  0  1  1   3   0   0    0     0\n"
                + "r.example".rjust(39) + "  6  1  0  0  1  1   3   0   0    0     0\n")
    assert qshape_text(r, 4 * HOUR) == expected


def test_qshape_order_widths_and_long_names():
    """Rows by total, then shorter name first; 100 messages 7 min old widen the T and 10 columns to 4
    (domain column 80 - 43 = 37); a name longer than the domain column keeps its tail after a '+'."""
    long = "a-very-long-subdomain.of-a-recipient.example"     # 44 characters
    names = ["bb.example", "a.example", "c.example", long]
    recipient = [0, 0, 1, 1] + [2] * 3 + [3] * 93
    r = make_result([0] * 100, [np.nan] * 100, [Q] * 100, recipient, entries=[Recipient(n) for n in names])
    lines = qshape_text(r, 7 * MIN).splitlines()
    assert lines[0] == " " * 37 + "   T  5  10 20 40 80 160 320 640 1280 1280+"
    assert [line[:37].strip() for line in lines[1:]] == ["TOTAL", "+" + long[-36:], "c.example", "a.example",
                                                         "bb.example"]
    assert lines[1] == "TOTAL".rjust(37) + " 100  0 100  0  0  0   0   0   0    0     0"
    assert lines[2] == "+" + long[-36:] + "  93  0  93  0  0  0   0   0   0    0     0"


def test_qshape_of_an_empty_queue():
    r = make_result([0], [0], [D])
    assert qshape_text(r, 10.0).splitlines()[1] == "TOTAL".rjust(39) + "  0  0  0  0  0  0   0   0   0    0     0"


@pytest.mark.parametrize("text, seconds", [
    ("30h", 30 * HOUR), ("0", 0.0), ("90", 90.0), ("1d6h", 30 * HOUR),
    ("2026-01-02T06:00:00Z", 30 * HOUR), ("2026-01-02T06:00:00", 30 * HOUR), ("2026-01-02T07:00:00+01:00", 30 * HOUR),
    ("Sat 06:00", 54 * HOUR), ("Thu 00:00", 0.0), ("Wednesday 23:00", 6 * 24 * HOUR + 23 * HOUR)])
def test_moments(text, seconds):
    """Durations since the start, ISO timestamps (no zone: the start's, here UTC) and the first
    weekday-and-time at or after the start (Thursday 2026-01-01 00:00 UTC)."""
    assert parse_moment(text, START) == seconds


def test_moment_without_a_zone_is_on_the_starts_clock():
    from datetime import timedelta
    paris = datetime(2026, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    assert parse_moment("2026-01-01T18:00:00", paris) == 9 * HOUR
    assert parse_moment("2026-01-01T18:00:00Z", paris) == 10 * HOUR
    assert parse_moment("Fri 08:00", paris) == 23 * HOUR


@pytest.mark.parametrize("text, message", [("2025-12-31T23:00:00Z", "before the scenario's start"),
                                           ("-5h", "before the scenario's start"),
                                           ("soon", "expected a duration since the start"),
                                           ("Sat 25:00", "expected a duration since the start")])
def test_bad_moments(text, message):
    with pytest.raises(QueueViewError, match=message):
        parse_moment(text, START)


# -- the command line ---------------------------------------------------------------------------------------
TEN_YAML = """\
name: ten
seed: 1
sender: {schedule: {kind: fixed, interval: 1h}, expiry: 3h, give_up: at-deadline}
messages: {arrival: {kind: times, times: [0m, 30m, 60m, 90m, 120m, 150m, 180m, 210m, 240m, 270m]}}
recipients: [{domain: r.example, outages: [{start: 0, end: 5h}]}]
"""


@pytest.fixture
def ten(tmp_path):
    path = tmp_path / "ten.yaml"
    path.write_text(TEN_YAML, encoding="utf-8")
    return path


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_run_writes_queue_csv(capsys, ten, tmp_path):
    """queue.csv: the header, one block per entry then *, 5-min intervals by default; attempts empty
    without --attempts and counted with it; deliveries and expiries add up to the summary's counts."""
    for flag, out in (((), tmp_path / "a"), (("--attempts",), tmp_path / "b")):
        code, stdout, err = run_cli(capsys, "run", ten, "--out", out, *flag)
        assert code == 0, err
        assert "queue.csv" in stdout.splitlines()[-1]
        rows = read_rows(out / "queue.csv")
        assert rows[0] == ["time_s", "destination", "queued", "attempts", "deliveries", "expired"]
        body = [dict(zip(rows[0], r)) for r in rows[1:]]
        assert [r["destination"] for r in body] == ["r.example"] * 67 + ["*"] * 67    # 0 .. 5:30 every 5 min
        assert [float(r["time_s"]) for r in body[:3]] == [0, 300, 600]
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        total = [r for r in body if r["destination"] == "*"]
        assert sum(int(r["deliveries"]) for r in total) == summary["delivered"] == 4
        assert sum(int(r["expired"]) for r in total) == summary["expired"] == 6
        assert max(int(r["queued"]) for r in total) == summary["peak_queue"] == 6
        if flag:
            assert sum(int(r["attempts"]) for r in total) == summary["attempts"] == 28
        else:
            assert {r["attempts"] for r in body} == {""}


def test_queue_interval_option(capsys, ten, tmp_path):
    code, _, err = run_cli(capsys, "run", ten, "--out", tmp_path / "o", "--queue-interval", "1h")
    assert code == 0, err
    rows = read_rows(tmp_path / "o" / "queue.csv")[1:]
    assert [(r[0], r[1], r[2]) for r in rows[:6]] == [("0", "r.example", "1"), ("3600", "r.example", "3"),
                                                      ("7200", "r.example", "5"), ("10800", "r.example", "6"),
                                                      ("14400", "r.example", "6"), ("18000", "r.example", "3")]
    assert len(rows) == 12


@pytest.mark.parametrize("argv, expected", [
    (["--queue-interval", "abc"], "--queue-interval: expected a duration"),
    (["--queue-interval", "0"], "--queue-interval: expected a duration > 0"),
    (["--queue-interval", "1s"], None),                                       # fine: 19,801 intervals
    (["--qshape", "tomorrow"], "--qshape: expected a duration since the start"),
    (["--qshape", "2025-12-31T00:00:00Z"], "--qshape: 2025-12-31T00:00:00Z is before the scenario's start"),
    (["--qshape=-1h"], "--qshape: -1h is before the scenario's start"),
])
def test_bad_options_one_line_nothing_written(capsys, ten, tmp_path, argv, expected):
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "run", ten, "--out", out, *argv)
    if expected is None:
        assert code == 0, err
        return
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("mtasim: ") and expected in err, err
    assert "Traceback" not in err and stdout == ""
    assert not out.exists()


def test_queue_interval_needs_out(capsys, ten):
    code, _, err = run_cli(capsys, "run", ten, "--queue-interval", "1h")
    assert code == 2 and "--queue-interval" in err and "--out" in err


def test_qshape_printed_and_written(capsys, ten, tmp_path):
    """--qshape prints the table after the summary and writes the same table as qshape.txt."""
    code, stdout, err = run_cli(capsys, "run", ten, "--out", tmp_path / "o", "--qshape", "Thu 04:00")
    assert code == 0, err
    table = (tmp_path / "o" / "qshape.txt").read_text(encoding="utf-8")
    assert table.splitlines()[1] == "TOTAL".rjust(39) + "  6  1  0  0  1  1   3   0   0    0     0"
    assert "queue at 4:00:00, Thu 2026-01-01 04:00:00 +0000" in stdout
    assert table in stdout
    assert stdout.index("queue             peak 6 at 2:30:00") < stdout.index(table)


def test_run_json_has_the_queue_fields(capsys, ten):
    code, stdout, err = run_cli(capsys, "run", ten, "--json")
    assert code == 0, err
    s = json.loads(stdout)
    assert {k: s[k] for k in ("peak_queue", "peak_queue_s", "recovery_s", "drain_time_s",
                              "expired_after_recovery", "start")} == \
        {"peak_queue": 6, "peak_queue_s": 9000.0, "recovery_s": 18000.0, "drain_time_s": 1800.0,
         "expired_after_recovery": 2, "start": "2026-01-01T00:00:00+00:00"}


def test_summary_line(capsys, ten):
    code, stdout, _ = run_cli(capsys, "run", ten)
    assert code == 0
    assert ("queue             peak 6 at 2:30:00  recovery 5:00:00, drained 0:30:00 later  "
            "expired after recovery 2") in stdout.splitlines()


def test_plot_queue_and_burst(capsys, ten, tmp_path):
    """plot queue and plot burst read a run's folder and write PNG (and SVG)."""
    out = tmp_path / "o"
    assert run_cli(capsys, "run", ten, "--out", out, "--attempts")[0] == 0
    for kind, name in (("queue", "queue.png"), ("burst", "burst.png"), ("queue", "queue.svg")):
        code, stdout, err = run_cli(capsys, "plot", kind, out, "--out", out / name)
        assert code == 0, err
        assert stdout == f"wrote {out / name}\n"
    assert (out / "queue.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "burst.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (out / "queue.svg").read_bytes()[:500]


def test_plot_burst_without_attempts(capsys, ten, tmp_path):
    """Without attempts.csv: one line saying to run with --attempts, exit 2, no figure."""
    out = tmp_path / "o"
    assert run_cli(capsys, "run", ten, "--out", out)[0] == 0
    code, stdout, err = run_cli(capsys, "plot", "burst", out, "--out", out / "burst.png")
    assert code == 2
    assert err.count("\n") == 1 and "attempts.csv: no such file" in err and "--attempts" in err, err
    assert not (out / "burst.png").exists()


def test_queue_figure_draws_the_file(capsys, ten, tmp_path, monkeypatch):
    """The queue plot's total line is queue.csv's * block; the exact peak is marked."""
    from mtasim import plots
    figures = []
    original = plots.save_figure
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: (figures.append(fig), original(fig, path))[1])
    out = tmp_path / "o"
    assert run_cli(capsys, "run", ten, "--out", out, "--queue-interval", "30m")[0] == 0
    assert run_cli(capsys, "plot", "queue", out, "--out", out / "q.png")[0] == 0
    ax = figures[-1].axes[0]                    # the run saved its timeline first
    stairs = [p for p in ax.patches if type(p).__name__ == "StepPatch"]
    assert stairs[0].get_data().values.tolist() == [1, 2, 3, 4, 5, 6, 6, 6, 6, 6, 3, 0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "peak: 6 messages at 2:30:00 (exact)" in legend and "outage at r.example" in legend


# -- counts add up, and the vectorised answers equal plain per-message ones ---------------------------------
@pytest.fixture(scope="module")
def exchange_online():
    sc = mtasim.load_scenario(ROOT / "scenarios" / "exchange-online-30h-outage.yaml")
    return mtasim.simulate(sc, attempts=True)


def test_counts_add_up(exchange_online):
    r = exchange_online
    s = queue_series(r)
    total = s.destinations.index("*")
    assert s.deliveries[total].sum() == r.messages.count(D)
    assert s.expired[total].sum() == r.messages.count(E)
    assert s.attempts[total].sum() == r.total_attempts
    # queued changes by arrivals minus finishes between interval starts
    m = r.messages
    for k in (0, 100, 287, 300, len(s.times_s) - 1):
        t = s.times_s[k]
        assert s.queued[total, k] == np.count_nonzero((m.arrival_s <= t) & ~(m.final_s <= t))


def test_vectorised_answers_equal_plain_ones(exchange_online):
    """Peak, recovery, drain and the drain's victims, each computed message by message."""
    r = exchange_online
    m = r.messages
    moments = np.unique(np.concatenate([m.arrival_s, m.final_s]))
    levels = [np.count_nonzero((m.arrival_s <= t) & ~(m.final_s <= t)) for t in moments]
    k = int(np.argmax(levels))
    s = r.summary()
    assert (s["peak_queue"], s["peak_queue_s"]) == (levels[k], moments[k])
    victims = []
    for i in range(len(m)):
        if m.outcome[i] != E:
            continue
        domain, t = r.domains[m.recipient[i]], m.final_s[i]
        if domain.outage_at(t) is None and any(o.end_s <= t for o in domain.outages):
            victims.append(i)
    assert np.flatnonzero(expired_after_recovery_mask(r)).tolist() == victims
    assert s["expired_after_recovery"] == len(victims) > 0
    end = max(o.end_s for d in r.domains for o in d.outages)
    waiting = [i for i in range(len(m)) if m.arrival_s[i] <= end < m.final_s[i]]
    assert s["recovery_s"] == end
    assert s["drain_time_s"] == max(m.final_s[i] for i in waiting if m.outcome[i] == D) - end


def test_a_million_messages_add_up():
    """queue.csv, the summary fields and qshape over 10^6 messages (vectorised; speed is not timed here)."""
    rng = np.random.default_rng(0)
    n = 1_000_000
    arrival = np.sort(rng.uniform(0, 86400, n))
    final = arrival + rng.exponential(3600, n)
    outcome = np.where(rng.random(n) < 0.9, D, E)
    entries = [Recipient("a.example", domains=1000)]
    domains = [Recipient(f"a.example#{k}", outages=(Outage(0, 3600 * (1 + k % 5), parse_reply("451 4.3.0 x")),))
               for k in range(1000)]
    r = make_result(arrival, final, outcome, rng.integers(0, 1000, n), entries=entries, domains=domains)
    s = queue_series(r)
    summary = queue_summary(r)
    qshape_text(r, 43200.0)
    assert s.deliveries[-1].sum() == np.count_nonzero(outcome == D)
    assert summary["peak_queue"] > 0

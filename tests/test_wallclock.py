"""Wall-clock time and clear words in what a mail admin reads (issue 11, items 3, 4 and 9): ISO 8601 columns
in messages.csv and attempts.csv, weekday and time in the run summary and in ``validate``, timestamps in
arrival windows, the summary's non-delivery reports / delay notices / connections, and ``to_pandas()``."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pandas as pd          # the test extra installs it (to_pandas needs the optional pandas extra)
import pytest
from conftest import HOUR, scenario

import mtasim
from mtasim.cli import main
from mtasim.notices import notices

#: Friday 18:00 in a +01:00 zone; a fixed 1 h retry, given up exactly at arrival + 24 h (at-deadline), into
#: a refusing server until Monday 08:00. Message 0 arrives at 1 h, message 1 at a timestamp 2 h in.
WEEKEND = """\
name: weekend wall clock
start: 2026-11-27T18:00:00+01:00
sender: {schedule: {kind: fixed, interval: 1h}, expiry: 24h, give_up: at-deadline}
messages:
  arrival: {kind: times, times: [1h, 2026-11-27T20:00:00+01:00]}
recipients:
  - domain: partner.example
    outages:
      - {start: 2026-11-27T18:00:00+01:00, end: 2026-11-30T08:00:00+01:00, failure: refused}
"""

#: Postfix with compressed timings (tests/test_hosts.py): 10 messages at t = 0 to a server refusing until
#: 3 s. The first three connections are refused and mark the destination dead (1/5 + 1/3 + 1/2 >= 1), so
#: the other 7 passes at t = 0 are held back without a connection; at the 5 s scan all 10 are delivered.
POSTFIX_FAST = {"preset": "postfix", "queue_run_delay": "5s", "minimal_backoff_time": "5s",
                "maximal_backoff_time": "40s", "maximal_queue_lifetime": "300s"}


@pytest.fixture
def weekend(tmp_path):
    path = tmp_path / "weekend.yaml"
    path.write_text(WEEKEND, encoding="utf-8")
    return path


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# -- messages.csv and attempts.csv -----------------------------------------------------------------------
def test_messages_csv_has_arrival_and_final_on_the_start_clock(capsys, weekend, tmp_path):
    """start 2026-11-27T18:00:00+01:00 and an arrival at 3600 s: arrival 19:00 the same Friday; at-deadline
    24 h later, final is Saturday 19:00; the timestamp arrival (20:00) is 7200 s and expires Saturday 20:00."""
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "run", weekend, "--out", out, "--attempts")
    assert code == 0, err
    m = rows(out / "messages.csv")
    assert [(r["arrival_s"], r["arrival"], r["outcome"], r["final_s"], r["final"], r["warned"]) for r in m] == [
        ("3600", "2026-11-27T19:00:00+01:00", "expired", "90000", "2026-11-28T19:00:00+01:00", ""),
        ("7200", "2026-11-27T20:00:00+01:00", "expired", "93600", "2026-11-28T20:00:00+01:00", ""),
    ]


def test_attempts_csv_has_the_time_of_each_attempt(capsys, weekend, tmp_path):
    """Hourly attempts from the arrival, none at the deadline: 24 per message, message 0's first at Friday
    19:00 and its last at Saturday 18:00 (+01:00)."""
    out = tmp_path / "out"
    assert run_cli(capsys, "run", weekend, "--out", out, "--attempts")[0] == 0
    a = [r for r in rows(out / "attempts.csv") if r["message_id"] == "0"]
    assert len(a) == 24
    assert (a[0]["time_s"], a[0]["time"]) == ("3600", "2026-11-27T19:00:00+01:00")
    assert (a[-1]["time_s"], a[-1]["time"]) == ("86400", "2026-11-28T18:00:00+01:00")


def test_wall_clock_cells_keep_milliseconds_and_leave_missing_times_empty():
    """A fraction of a second is kept to the millisecond; NaN (queued, never warned) is an empty cell."""
    from datetime import datetime
    from mtasim.durations import format_wall_clock
    start = datetime.fromisoformat("2026-11-27T18:00:00+01:00")
    assert format_wall_clock(start, 3600.25) == "2026-11-27T19:00:00.250+01:00"
    assert format_wall_clock(start, 86400 * 3 + 0.0004) == "2026-11-30T18:00:00+01:00"
    assert format_wall_clock(start, float("nan")) == ""


@pytest.mark.parametrize("start", ["2026-11-27T18:00:00+01:00", "2026-11-27T18:00:00.1236+01:00",
                                   "1900-01-01T00:00:00.25+00:00", "8999-01-01T00:00:00-05:30"])
def test_wall_clock_columns_agree_with_datetime_arithmetic(start):
    """The vectorised column equals start + timedelta, written by datetime.isoformat to the millisecond
    (whole seconds without '.000'), for random times, whole seconds and NaN."""
    from datetime import datetime, timedelta
    import numpy as np
    from mtasim.durations import format_wall_clock_array
    clock = datetime.fromisoformat(start)
    seconds = np.concatenate([np.random.default_rng(1).uniform(0, 1e8, 2000), np.arange(0.0, 2000.0),
                              [np.nan, 0.0004, 0.0015]])

    def one(x: float) -> str:
        if x != x:
            return ""
        text = (clock + timedelta(milliseconds=round(x * 1000))).isoformat(timespec="milliseconds")
        return text.replace(".000", "", 1)

    assert format_wall_clock_array(clock, seconds) == [one(x) for x in seconds]


# -- the run summary ---------------------------------------------------------------------------------------
def test_summary_json_has_the_first_and_last_expiry(capsys, weekend, tmp_path):
    """summary.json: the expiries at 90000 s and 93600 s, as seconds and on the start's clock."""
    out = tmp_path / "out"
    assert run_cli(capsys, "run", weekend, "--out", out)[0] == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert (s["first_expiry_s"], s["first_expiry"]) == (90000.0, "2026-11-28T19:00:00+01:00")
    assert (s["last_expiry_s"], s["last_expiry"]) == (93600.0, "2026-11-28T20:00:00+01:00")


def test_printed_summary_shows_weekday_and_time_of_outage_and_expiries(capsys, weekend):
    """With start: set, the outage and the first and last expiry carry weekday, date, time and offset."""
    code, out, err = run_cli(capsys, "run", weekend)
    assert code == 0, err
    lines = out.splitlines()
    assert ("outage            partner.example: 0:00:00, Fri 2026-11-27 18:00:00 +0100 to "
            "62:00:00, Mon 2026-11-30 08:00:00 +0100") in lines
    assert "first expiry      25:00:00, Sat 2026-11-28 19:00:00 +0100" in lines
    assert "last expiry       26:00:00, Sat 2026-11-28 20:00:00 +0100" in lines


def test_printed_summary_without_start_counts_from_the_start_only(capsys, tmp_path):
    """Without start: the default clock is not shown as if it were a date the user chose."""
    path = tmp_path / "nostart.yaml"
    path.write_text(WEEKEND.replace("start: 2026-11-27T18:00:00+01:00\n", "").replace(
        "2026-11-27T20:00:00+01:00", "2h").replace("2026-11-27T18:00:00+01:00", "0s").replace(
        "2026-11-30T08:00:00+01:00", "62h"), encoding="utf-8")
    code, out, err = run_cli(capsys, "run", path)
    assert code == 0, err
    lines = out.splitlines()
    assert "outage            partner.example: 0:00:00 to 62:00:00" in lines
    assert "first expiry      25:00:00" in lines and "last expiry       26:00:00" in lines


def test_connections_and_held_back_passes_add_up_to_the_attempts(capsys):
    """The compressed Postfix burst: 20 attempts, of which 7 were held back (no connection), 13 connected."""
    sc = scenario(POSTFIX_FAST, [{"start": 0, "end": "3s", "failure": "refused"}], {"count": 10})
    for engine in ("des", "reference"):
        for attempts in (True, False):          # counted apart whether or not attempts are recorded
            s = mtasim.simulate(sc, engine=engine, attempts=attempts).summary()
            assert (s["attempts"], s["connections"], s["held_back"], s["delivered"]) == (20, 13, 7, 10), \
                (engine, attempts, s)
            assert s["connections"] + s["held_back"] == s["attempts"]


def test_printed_summary_says_how_many_passes_made_no_connection():
    from mtasim.cli import format_summary
    sc = scenario(POSTFIX_FAST, [{"start": 0, "end": "3s", "failure": "refused"}], {"count": 10})
    lines = format_summary(mtasim.simulate(sc).summary()).splitlines()
    assert "attempts              20 (2.00 per message)" in lines
    assert "connections           13 (the other 7 passes were held back by host state)" in lines


def test_non_delivery_reports_are_expired_plus_bounced_and_match_the_notices():
    """Four messages, none deliverable: those sent to bad.example bounce (550) at once, the others expire
    at 24 h after a delay warning at 4 h. Every one gets a non-delivery report; a delay notice goes out per
    warning; the notices mtasim writes are exactly those."""
    sc = mtasim.scenario_from_dict({
        "name": "reports", "seed": 3,
        "sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "24h", "give_up": "at-deadline",
                   "delay_warning": "4h"},
        "messages": {"count": 4},
        "recipients": [
            {"domain": "bad.example", "share": 1,
             "outages": [{"start": 0, "end": "48h", "failure": "550 5.1.1 no such user"}]},
            {"domain": "partner.example", "share": 1,
             "outages": [{"start": 0, "end": "48h", "failure": "refused"}]}]})
    result = mtasim.simulate(sc, attempts=True)
    s = result.summary()
    assert s["expired"] > 0 and s["bounced"] > 0, s
    assert s["non_delivery_reports"] == s["expired"] + s["bounced"] == 4
    assert s["delay_notices"] == s["delay_warnings"] == s["expired"]
    kinds = Counter("failed" if n.action == "failed" else "delayed" for n in notices(result))
    assert kinds == {"failed": 4, "delayed": s["expired"]}
    assert s["connections"] == s["attempts"] and s["held_back"] == 0


def test_the_default_scenario_prints_its_words(capsys, tmp_path, monkeypatch):
    """The README scenario: 527 expired and nothing bounced make 527 non-delivery reports; no host state, so
    every one of the 43,641 attempts is a connection."""
    from conftest import ROOT
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "run", ROOT / "scenarios" / "exchange-online-30h-outage.yaml")
    assert code == 0
    lines = out.splitlines()
    assert "non-delivery reports  527 (expired + bounced)" in lines
    assert "connections           43,641 (every attempt tried to connect)" in lines
    assert "delay notices         0" in lines


# -- validate --------------------------------------------------------------------------------------------
def test_validate_shows_arrivals_outages_and_expiries_on_the_wall_clock(capsys, weekend):
    code, out, err = run_cli(capsys, "validate", weekend)
    assert code == 0, err
    lines = [line.strip() for line in out.splitlines()]
    assert "start: Fri 2026-11-27 18:00:00 +0100" in lines
    assert "arrivals: 1:00:00, Fri 2026-11-27 19:00:00 +0100 to 2:00:00, Fri 2026-11-27 20:00:00 +0100" in lines
    assert ("outage at partner.example: 0:00:00, Fri 2026-11-27 18:00:00 +0100 to "
            "62:00:00, Mon 2026-11-30 08:00:00 +0100") in lines
    assert ("mail never delivered expires at arrival + 1d: the first at 25:00:00, Sat 2026-11-28 19:00:00 +0100, "
            "the last at 26:00:00, Sat 2026-11-28 20:00:00 +0100") in lines


def test_validate_without_start_adds_no_wall_clock(capsys, tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text("sender: {preset: postfix}\nmessages: {count: 1}\nrecipients: [{domain: a.example}]\n",
                    encoding="utf-8")
    code, out, _ = run_cli(capsys, "validate", path)
    assert code == 0
    assert "start:" not in out and "arrivals:" not in out


# -- arrival windows accept timestamps -------------------------------------------------------------------
def test_arrival_windows_accept_timestamps_alike_durations():
    """A uniform window given as timestamps (one with, one without a zone: read on the start's clock) draws
    the same arrivals as the same window in durations."""
    base = {"start": "2026-11-27T18:00:00+01:00", "seed": 4, "sender": {"preset": "postfix"},
            "recipients": [{"domain": "a.example"}]}
    by_time = mtasim.scenario_from_dict({**base, "messages": {"count": 50, "arrival": {
        "kind": "uniform", "start": "2026-11-27T19:00:00+01:00", "end": "2026-11-28T18:00:00"}}})
    by_duration = mtasim.scenario_from_dict({**base, "messages": {"count": 50, "arrival": {
        "kind": "uniform", "start": "1h", "end": "24h"}}})
    assert (by_time.workload.start_s, by_time.workload.end_s) == (1 * HOUR, 24 * HOUR)
    assert by_time.workload.arrivals(4).tolist() == by_duration.workload.arrivals(4).tolist()
    at = mtasim.scenario_from_dict({**base, "messages": {"count": 2, "arrival": {
        "kind": "at", "time": "2026-11-27T21:30:00+01:00"}}})
    assert at.workload.start_s == 3.5 * HOUR


@pytest.mark.parametrize("arrival, key, expected", [
    ({"kind": "uniform", "start": "2026-11-26T18:00:00+01:00", "end": "24h"}, "messages.arrival.start",
     "expected a time at or after the scenario's start (2026-11-27T18:00:00+01:00), got "
     "2026-11-26T18:00:00+01:00, 1d before it"),
    ({"kind": "uniform", "start": "2026-11-28T00:00:00+01:00", "end": "2026-11-27T23:00:00+01:00"},
     "messages.arrival.end", "expected end after start (6h)"),
    ({"kind": "times", "times": ["2026-11-31T00:00:00Z"]}, "messages.arrival.times[0]",
     "expected an ISO 8601 timestamp such as 2026-11-27T18:00:00+01:00, got '2026-11-31T00:00:00Z'"),
    ({"kind": "at", "time": "2026-11-27T18:00:00+01:00"}, None, None),
])
def test_bad_arrival_timestamps_are_one_line_naming_the_key(capsys, tmp_path, arrival, key, expected):
    """A timestamp before the start, an end before the start, a date that does not exist: exit 2, one line
    naming the file and key. (An arrival exactly at the start is fine.)"""
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps({"start": "2026-11-27T18:00:00+01:00", "sender": {"preset": "postfix"},
                                "messages": {"count": 1, "arrival": arrival},
                                "recipients": [{"domain": "a.example"}]}), encoding="utf-8")
    code, out, err = run_cli(capsys, "validate", path)
    if key is None:
        assert code == 0 and err == ""
        return
    assert code == 2 and out == ""
    assert err == f"mtasim: {path}: {key}: {expected}\n"


# -- pandas ----------------------------------------------------------------------------------------------
def test_to_pandas_has_the_wall_clock_columns_as_timestamps(weekend):
    result = mtasim.simulate(mtasim.load_scenario(weekend), attempts=True)
    m = result.messages.to_pandas()
    assert list(m["arrival"]) == [pd.Timestamp("2026-11-27T19:00:00+01:00"), pd.Timestamp("2026-11-27T20:00:00+01:00")]
    assert list(m["final"]) == [pd.Timestamp("2026-11-28T19:00:00+01:00"), pd.Timestamp("2026-11-28T20:00:00+01:00")]
    assert m["final"].dt.day_name().tolist() == ["Saturday", "Saturday"]
    assert m["warned"].isna().all() and list(m["outcome"]) == ["expired", "expired"]
    assert list(m.columns[:8]) == ["id", "recipient", "arrival_s", "outcome", "status", "final_s", "attempts",
                                   "warned_s"]
    a = result.attempts.to_pandas()
    assert len(a) == 48 and set(a["result"]) == {"refused"}
    first = a[a["message_id"] == 0].iloc[0]
    assert first["time"] == pd.Timestamp("2026-11-27T19:00:00+01:00") and first["attempt"] == 1


def test_to_pandas_leaves_queued_final_as_nat():
    """A message still queued at the horizon has no final time: NaT, as final_s is NaN."""
    sc = scenario(None, [{"start": 0, "end": "48h", "failure": "refused"}], {"count": 1}, horizon="2h")
    m = mtasim.simulate(sc).messages.to_pandas()
    assert list(m["outcome"]) == ["queued"] and m["final"].isna().all()
    assert m["arrival"].iloc[0] == pd.Timestamp("2026-01-01T00:00:00Z")


def test_to_pandas_without_pandas_says_how_to_install_it(monkeypatch):
    """Without pandas, one clear ImportError naming the extra (pandas is optional)."""
    import sys
    monkeypatch.setitem(sys.modules, "pandas", None)
    result = mtasim.simulate(scenario(None, None, {"count": 1}))
    with pytest.raises(ImportError, match=r"to_pandas\(\) needs pandas: pip install 'mtasim\[pandas\]'"):
        result.messages.to_pandas()


# -- the timeline's date axis ----------------------------------------------------------------------------
def test_timeline_has_the_wall_clock_on_top_when_start_is_set(weekend):
    """Hours since the start below; above, the start's clock: x = 0 is Fri 18:00, x = 62 h Mon 08:00."""
    from mtasim.plots import timeline_figure, with_wall_clock
    from mtasim.tables import clock_start
    result = mtasim.simulate(mtasim.load_scenario(weekend), attempts=True)
    fig = with_wall_clock(timeline_figure(result), clock_start(result.scenario))
    top = [ax for ax in fig.axes[0].child_axes if ax.get_xlabel().startswith("wall clock")]
    assert len(top) == 1 and top[0].get_xlabel() == "wall clock (UTC+01:00)"
    label = top[0].xaxis.get_major_formatter()
    assert (label(0.0, 0), label(62.0, 0)) == ("Fri 18:00", "Mon 08:00")
    assert fig.axes[0].get_xlabel() == "time since scenario start (hours)"


def _wall_clock_axes(fig) -> list:
    return [ax for ax in fig.axes[0].child_axes if ax.get_xlabel().startswith("wall clock")]


def test_plot_timeline_and_queue_of_a_folder_use_the_start_clock_only_when_start_is_set(capsys, weekend, tmp_path):
    """`mtasim plot` reads summary.json's setup.start (null when the file sets no start:): the weekend run's
    timeline and queue get the wall clock on top, the same run without start: does not."""
    from mtasim.plotcmd import build_figure
    plain = tmp_path / "plain.yaml"
    plain.write_text("\n".join(line for line in WEEKEND.splitlines() if not line.startswith("start:")) + "\n",
                     encoding="utf-8")
    for path, out, expected in ((weekend, tmp_path / "with", ["Fri 18:00"]), (plain, tmp_path / "without", [])):
        assert run_cli(capsys, "run", path, "--out", out, "--attempts")[0] == 0
        for kind in ("timeline", "queue"):
            top = _wall_clock_axes(build_figure(kind, [out]))
            assert [ax.xaxis.get_major_formatter()(0.0, 0) for ax in top] == expected, (kind, path.name)


def test_the_schema_takes_timestamps_in_arrival_windows_as_the_loader_does():
    """`mtasim schema` describes arrival times as durations or timestamps; a word is refused by both."""
    import jsonschema
    from mtasim.schema import scenario_schema
    validator = jsonschema.Draft202012Validator(scenario_schema())
    data = {"start": "2026-11-27T18:00:00+01:00", "sender": {"preset": "postfix"},
            "messages": {"count": 5, "arrival": {"kind": "uniform", "start": "2026-11-27T19:00:00+01:00",
                                                 "end": "2026-11-28T18:00:00"}},
            "recipients": [{"domain": "a.example"}]}
    assert list(validator.iter_errors(data)) == []
    assert mtasim.scenario_from_dict(data).workload.end_s == 24 * HOUR
    data["messages"]["arrival"]["end"] = "tomorrow"
    assert list(validator.iter_errors(data))
    with pytest.raises(mtasim.ConfigError) as error:
        mtasim.scenario_from_dict(data)
    assert str(error.value).endswith("messages.arrival.end: expected a duration since the start such as 1h30m or "
                                     "an ISO 8601 timestamp such as 2026-11-27T18:00:00+01:00, got 'tomorrow'")

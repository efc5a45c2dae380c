"""Several MX hosts per domain (README "MX hosts"): one attempt walks the hosts in preference order within
the sender's limits, and a backup MX accepts and relays later on its own schedule (mtasim.engine.mx).

Known answers are computed by hand from the documented semantics; every scenario runs on every engine that
can run it, which must agree message by message (the MX columns included)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mtasim
from mtasim.cli import main
from mtasim.engine import des_only_features
from mtasim.recipients import AttemptResult
from mtasim.results import Outcome

from helpers import SETTINGS, assert_same, refused_in_one_line, senders, workloads

MIN = 60.0
HOUR = 3600.0
HOURLY = {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "5d"}
#: A backup whose queue is tried every hour on the hour: its retries are easy to compute by hand.
HOURLY_BACKUP = {"schedule": {"kind": "fixed", "interval": "1h"}, "queue_run": "1h", "expiry": "5d"}
WEEKEND = [{"start": "18h", "end": "80h", "failure": "refused"}]       # Friday 18:00 .. Monday 08:00


def scenario(mx, *, sender=None, times=("1h",), seed=3, **recipient):
    return mtasim.scenario_from_dict({
        "name": "mx test", "seed": seed, "sender": sender or HOURLY,
        "messages": {"arrival": {"kind": "times", "times": list(times)}},
        "recipients": [{"domain": "office.example", "mx": mx, **recipient}]}, "mx.yaml")


def host(name, preference, outages=(), **more):
    return {"host": name, "preference": preference, **({"outages": list(outages)} if outages else {}), **more}


def assert_same_mx(a, b):
    assert_same(a, b)
    ma, mb = a.messages, b.messages
    assert [ma.via_text(i) for i in range(len(ma))] == [mb.via_text(i) for i in range(len(mb))], "via differs"
    assert np.array_equal(ma.relay_outcome, mb.relay_outcome), "relay outcomes differ"
    x, y = ma.relayed_s, mb.relayed_s
    assert np.array_equal(np.isnan(x), np.isnan(y)) and np.allclose(x[~np.isnan(x)], y[~np.isnan(y)], rtol=0,
                                                                     atol=1e-9), "relayed_s differs"


def run_all(sc):
    """``sc`` on every engine that can run it; they agree message by message; the sender's outcomes add up,
    and every message a backup accepted has a relay outcome (the others none)."""
    engines = ["des", "reference"] + ([] if des_only_features(sc) else ["fast"])
    results = [mtasim.simulate(sc, engine=e, attempts=True) for e in engines]
    for other in results[1:]:
        assert_same_mx(results[0], other)
    r = results[0]
    m = r.messages
    assert sum(m.count(o) for o in Outcome) == len(m)
    backups = {h.host for d in r.domains for h in d.mx if h.is_backup}
    via_backup = np.array([m.via_text(i) in backups for i in range(len(m))], dtype=bool)
    assert np.array_equal(via_backup, m.relay_outcome >= 0)
    assert (m.outcome[via_backup] == Outcome.DELIVERED).all()
    return r


def vias(result):
    m = result.messages
    return [m.via_text(i) for i in range(len(m))]


# -- one attempt walks the list -------------------------------------------------------------------------
def test_primary_refused_and_backup_up_deliver_through_the_backup_at_the_first_attempt():
    r = run_all(scenario([host("mx1.office.example", 10, WEEKEND),
                          host("backup.isp.example", 20, backup=HOURLY_BACKUP)], times=("10h", "20h", "79h")))
    m = r.messages
    assert (m.outcome == Outcome.DELIVERED).all() and (m.attempts == 1).all()
    assert np.array_equal(m.final_s, m.arrival_s)
    assert vias(r) == ["mx1.office.example", "backup.isp.example", "backup.isp.example"]
    assert [m.relay_text(i) for i in range(3)] == ["", "delivered", "delivered"]
    assert r.attempts.replies[r.attempts.reply[1]] == "250 2.0.0 OK (accepted by backup MX backup.isp.example)"
    assert r.attempts.result[1] == AttemptResult.DELIVERED


@pytest.mark.parametrize("timeout, second", [(None, 30.0), ("45s", 45.0)])
def test_a_timed_out_primary_costs_the_connect_timeout_then_the_backup_accepts(timeout, second):
    extra = {"connect_timeout": timeout} if timeout else {}
    r = run_all(scenario([host("mx1.office.example", 10, [{"start": 0, "end": "10h", "failure": "timeout"}]),
                          host("backup.isp.example", 20, backup=HOURLY_BACKUP)], times=("1h",), **extra))
    m = r.messages
    assert m.outcome[0] == Outcome.DELIVERED and m.attempts[0] == 1
    assert m.final_s[0] == HOUR + second
    assert vias(r) == ["backup.isp.example"]
    # the backup tries mx1 at once, which times out too; each try ends after the timeout, so the wait of an
    # hour is due just past the next hourly run: tries at 3:00, 5:00, 7:00, 9:00 (all timed out), 11:00 delivers
    assert m.relay_text(0) == "delivered" and m.relayed_s[0] == 11 * HOUR


def test_a_second_primary_after_a_timed_out_first_delivers_with_no_relay():
    r = run_all(scenario([host("mx1.office.example", 10, [{"start": 0, "end": "10h", "failure": "timeout"}]),
                          host("mx2.office.example", 20)]))
    m = r.messages
    assert m.final_s[0] == HOUR + 30 and vias(r) == ["mx2.office.example"] and m.relay_text(0) == ""
    assert r.attempts.replies[r.attempts.reply[0]] == "250 2.0.0 OK"


def test_when_every_host_fails_the_attempt_reports_the_last_and_lasts_every_timeout():
    """mx1 and mx2 time out (30 s each), mx3 refuses: the attempt is 'refused' (the last host's failure,
    status 4.4.1) and ends 60 s after it started; the next is due an hour after that."""
    down = [{"start": 0, "end": "3h", "failure": "timeout"}]
    r = run_all(scenario([host("mx1.office.example", 10, down), host("mx2.office.example", 10, down),
                          host("mx3.office.example", 20, [{"start": 0, "end": "3h", "failure": "refused"}])],
                         times=("0s",)))
    a = r.attempts
    assert a.result[0] == AttemptResult.REFUSED and a.replies[a.reply[0]] == "connect: Connection refused"
    assert a.time_s.tolist() == [0, HOUR + 60, 2 * HOUR + 120, 3 * HOUR + 180]
    assert r.messages.final_s[0] == 3 * HOUR + 180 and vias(r) == ["mx1.office.example"]


def test_a_host_that_answers_ends_the_attempt_even_with_a_4xx():
    """A modelling choice (README): mx1 answering 451 ends the attempt, although mx2 is up."""
    r = run_all(scenario([host("mx1.office.example", 10, [{"start": 0, "end": "2h30m", "failure": "451 4.3.0 busy"}]),
                          host("mx2.office.example", 20)], times=("0s",)))
    assert r.attempts.time_s.tolist() == [0, HOUR, 2 * HOUR, 3 * HOUR]
    assert vias(r) == ["mx1.office.example"]


def test_equal_preferences_keep_the_listed_order():
    r = run_all(scenario([host("b.office.example", 10), host("a.office.example", 10)]))
    assert vias(r) == ["b.office.example"]
    r = run_all(scenario([host("a.office.example", 10), host("b.office.example", 5)]))
    assert vias(r) == ["b.office.example"]                           # the lower preference value first


SIX = [host(f"mx{k}.office.example", k, [{"start": 0, "end": "100h", "failure": "refused"}]) for k in range(1, 6)] \
    + [host("mx6.office.example", 6)]


@pytest.mark.parametrize("sender, reached", [
    ({"preset": "postfix"}, False),                                 # smtp_mx_address_limit 5
    ({"preset": "postfix", "smtp_mx_address_limit": 6}, True),
    ({"preset": "postfix", "smtp_mx_address_limit": 0}, True),      # 0: no limit (postconf(5))
    ({"preset": "postfix", "smtp_mx_session_limit": 1}, False),     # refused connections are no sessions
    ({**HOURLY, "mx_limit": 5}, False),
    (HOURLY, True),                                                 # a custom sender tries every host
    ({"preset": "exchange-server"}, True),
    ({"preset": "exim"}, True),
])
def test_the_senders_mx_address_limit_cuts_the_list(sender, reached):
    """Six hosts, the first five refusing for 100 h: the sixth is reached only when the limit allows six."""
    r = run_all(scenario(SIX, sender=sender, times=("1h",)))
    m = r.messages
    if reached:
        assert m.attempts[0] == 1 and m.final_s[0] == HOUR and vias(r) == ["mx6.office.example"]
    else:
        assert m.final_s[0] >= 100 * HOUR and vias(r) == ["mx1.office.example"]
        assert r.attempts.result[0] == AttemptResult.REFUSED


def test_postfix_preset_has_its_mx_limits_in_its_own_names():
    sender = mtasim.get_preset("postfix").sender()
    assert (sender.mx_limit, sender.mx_session_limit) == (5, 2)
    assert main(["schedule", "postfix", "--set", "smtp_mx_address_limit=3", "--until", "1h"]) == 0


# -- the backup's relay leg -----------------------------------------------------------------------------
WEEKEND_TIMES = ("20h", "40h", "55h30m", "56h", "60h", "79h30m")


@pytest.mark.parametrize("lifetime, outcomes, relayed_h", [
    # every message accepted at once; the backup retries hourly on the hour and mx1 is back at 80:00 (a
    # message accepted at 79:30 is next due at 80:30, so its run is 81:00)
    ("5d", ["delivered"] * 6, [80, 80, 80, 80, 80, 81]),
    # 1 d: a message accepted at 20:00 fails its 44:00 try at age 24 h and bounces there (40:00 -> 64:00);
    # 55:30's first try at or past its 24 h is 80:00, when mx1 is back: delivered
    ("1d", ["expired", "expired", "delivered", "delivered", "delivered", "delivered"],
     [None, None, 80, 80, 80, 81]),
])
def test_a_weekend_outage_with_a_backup_mx(lifetime, outcomes, relayed_h):
    backup = {**HOURLY_BACKUP, "expiry": lifetime}
    r = run_all(scenario([host("mx1.office.example", 10, WEEKEND), host("backup.isp.example", 20, backup=backup)],
                         times=WEEKEND_TIMES))
    m = r.messages
    assert (m.outcome == Outcome.DELIVERED).all() and np.array_equal(m.final_s, m.arrival_s)
    assert set(vias(r)) == {"backup.isp.example"}
    assert [m.relay_text(i) for i in range(len(m))] == outcomes
    assert [None if np.isnan(x) else x / HOUR for x in m.relayed_s] == relayed_h
    s = r.summary()
    assert (s["accepted_by_backup"], s["relayed"], s["expired_at_backup"]) == (6, outcomes.count("delivered"),
                                                                               outcomes.count("expired"))


def test_a_postfix_backup_relays_at_its_first_retry_after_monday_0800():
    """Postfix's wait is the age clamped to 4000 s, scans every 300 s: every message is relayed after 80:00
    and at most 4000 s + 300 s later (its first retry due after the recovery)."""
    times = [f"{h}h" for h in range(18, 80, 3)]
    r = run_all(scenario([host("mx1.office.example", 10, WEEKEND),
                          host("backup.isp.example", 20, backup={"preset": "postfix"})], times=times))
    m = r.messages
    assert (m.relay_outcome == Outcome.DELIVERED).all()
    assert (m.relayed_s >= 80 * HOUR).all() and (m.relayed_s <= 80 * HOUR + 4000 + 300).all()


def test_the_backup_relays_only_to_the_primaries_more_preferred_than_itself():
    """mx2 (preference 30) is up all along, but the backup (20) relays only to mx1 (10), down until 5h."""
    r = run_all(scenario([host("mx1.office.example", 10, [{"start": 0, "end": "5h", "failure": "refused"}]),
                          host("backup.isp.example", 20, backup=HOURLY_BACKUP), host("mx2.office.example", 30)]))
    m = r.messages
    assert vias(r) == ["backup.isp.example"] and m.relayed_s[0] == 5 * HOUR


def test_summary_has_the_backup_fields_only_with_a_backup():
    plain = mtasim.simulate(scenario([host("mx1.office.example", 10), host("mx2.office.example", 20)])).summary()
    assert "accepted_by_backup" not in plain
    with_backup = mtasim.simulate(scenario([host("mx1.office.example", 10, WEEKEND),
                                            host("b.isp.example", 20, backup=HOURLY_BACKUP)], times=("20h",)))
    assert with_backup.summary()["accepted_by_backup"] == 1


def test_messages_csv_has_the_mx_columns_after_the_section_5_ones(tmp_path, capsys):
    """The MX columns follow the contract's columns (the wall-clock columns come last, tests/test_wallclock.py)."""
    sc = scenario([host("mx1.office.example", 10, WEEKEND), host("backup.isp.example", 20, backup=HOURLY_BACKUP)],
                  times=("10h", "20h"))
    mtasim.simulate(sc).write(tmp_path)
    with open(tmp_path / "messages.csv", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][:11] == ["id", "recipient", "arrival_s", "outcome", "status", "final_s", "attempts", "warned_s",
                            "via", "relayed_s", "relay_outcome"]
    assert rows[1][8:11] == ["mx1.office.example", "", ""]
    assert rows[2][8:11] == ["backup.isp.example", "288000", "delivered"]
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert (summary["accepted_by_backup"], summary["relayed"], summary["expired_at_backup"]) == (1, 1, 0)


# -- outage sources on hosts ----------------------------------------------------------------------------
def test_hosts_take_weekly_windows_and_random_outages_drawn_per_domain():
    sc = scenario([host("mx1.office.example", 10, weekly="Fri 18:00 for 62h",
                        random_outage={"start": "1h", "duration": {"kind": "uniform", "min": "1h", "max": "3h"}}),
                   host("mx2.office.example", 20, random_outage={"start": 0, "duration": "2h", "failure": "timeout"})],
                  times=[f"{k}h" for k in range(0, 96, 5)], domains=3)
    r = run_all(sc)
    spans = {d.domain: [(o.start_s, o.end_s) for o in d.mx[0].outages] for d in r.domains}
    assert len(spans) == 3 and len({tuple(v) for v in spans.values()}) == 3     # each domain its own draws


def test_an_mx_entry_shifts_no_other_entrys_draws():
    random = {"domain": "r.example", "random_outage": {"start": 0, "duration": {"kind": "exponential", "mean": "2h"}}}
    base = {"name": "x", "seed": 9, "sender": HOURLY, "messages": {"count": 5}}
    alone = mtasim.simulate(mtasim.scenario_from_dict({**base, "recipients": [random]}))
    mx = {"domain": "m.example", "mx": [host("mx1.m.example", 1, random_outage={"start": 0, "duration": "1h"})]}
    both = mtasim.simulate(mtasim.scenario_from_dict({**base, "recipients": [mx, random]}))
    assert both.domains[1].outages == alone.domains[0].outages


# -- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mx, expected", [
    ([{"host": "mx1.r.example"}], "recipients[0].mx[0].preference: missing required key 'preference'"),
    ([host("mx1.r.example", 10), {"host": "mx2.r.example"}], "recipients[0].mx[1].preference: missing required key"),
    ([host("mx1..r.example", 10)], "recipients[0].mx[0].host: expected a host name"),
    ([host("-mx1.r.example", 10)], "recipients[0].mx[0].host: expected a host name"),
    ([host("mx 1.r.example", 10)], "recipients[0].mx[0].host: expected a host name"),
    ([host("mx1.r.example", 10), host("mx1.r.example", 20)], "host mx1.r.example is listed twice"),
    ([], "recipients[0].mx: expected at least one MX host"),
    ([host("mx1.r.example", 70000)], "recipients[0].mx[0].preference: expected a whole number >= 0 and <= 65535"),
    ([{"host": "mx1.r.example", "prefernce": 10}], "unknown key 'prefernce'; did you mean 'preference'?"),
    ([host("b.isp.example", 10, backup={"preset": "postfix"})], "expected at least one primary host"),
    ([host("mx1.r.example", 20), host("b.isp.example", 10, backup={"preset": "postfix"})],
     "recipients[0].mx[1].backup: expected a primary host with a preference below 10"),
    ([host("mx1.r.example", 10), host("b.isp.example", 20, backup={"preset": "postfx"})],
     "recipients[0].mx[1].backup.preset: unknown preset 'postfx'; did you mean 'postfix'?"),
    ([host("mx1.r.example", 10, [{"start": "1h", "end": "0h"}])], "recipients[0].mx[0].outages[0].end"),
])
def test_bad_mx_lists_give_one_line_and_exit_2(tmp_path, capsys, mx, expected):
    data = {"name": "bad", "sender": {"preset": "postfix"}, "messages": {"count": 3},
            "recipients": [{"domain": "r.example", "mx": mx}]}
    assert expected in refused_in_one_line(tmp_path, capsys, data)


def test_outages_on_a_recipient_that_lists_mx_are_refused():
    with pytest.raises(mtasim.ConfigError, match=r"recipients\[0\]\.outages: expected outages on the MX hosts"):
        scenario([host("mx1.r.example", 10)], outages=WEEKEND)


# -- engines agree on random MX scenarios -----------------------------------------------------------------
HOST_FAILURES = ("refused", "timeout", "timeout", "refused", "451 4.3.0 x", "550 5.1.1 y")


@st.composite
def mx_hosts(draw):
    hosts, names = [], draw(st.integers(1, 5))
    for k in range(names):
        outages, t = [], draw(st.integers(0, 6 * 60))
        for _ in range(draw(st.sampled_from([0, 1, 1, 2]))):
            length = draw(st.integers(1, 30 * 60))
            outages.append({"start": f"{t}m", "end": f"{t + length}m", "failure": draw(st.sampled_from(HOST_FAILURES))})
            t += length + draw(st.integers(0, 6 * 60))
        hosts.append(host(f"mx{k}.r.example", draw(st.integers(0, 3)) * 10, outages, **draw(host_rules())))
    if draw(st.booleans()):                 # a backup, less preferred than some primary
        backup = {"schedule": {"kind": "fixed", "interval": f"{draw(st.integers(5, 120))}m"},
                  "expiry": f"{draw(st.integers(1, 72))}h"}
        if draw(st.booleans()):
            backup["queue_run"] = f"{draw(st.integers(1, 30))}m"
        hosts.append(host("backup.isp.example", 35, draw(st.sampled_from([[], [{"start": "2h", "end": "4h",
                                                                                  "failure": "refused"}]])),
                          backup=backup, **draw(host_rules())))
    return hosts


@st.composite
def host_rules(draw):
    """A host's own rules while up: none (most often), greylisting, random deferrals, or both."""
    rules = {}
    kind = draw(st.sampled_from(["none", "none", "greylist", "tempfail", "both"]))
    if kind in ("greylist", "both"):
        delay = draw(st.integers(0, 90))
        rules["greylist"] = {"delay": f"{delay}m", "window": f"{delay + draw(st.integers(1, 600))}m"}
    if kind in ("tempfail", "both"):
        rules["tempfail"] = {"p": draw(st.sampled_from([0.2, 0.5, 1.0]))}
    return rules


@SETTINGS
@given(data=st.data())
def test_engines_agree_on_random_mx_scenarios(data):
    sender = data.draw(senders())
    if data.draw(st.booleans()):
        sender["mx_limit"] = data.draw(st.integers(1, 4))
    recipients = [{"domain": f"r{j}.example", "mx": data.draw(mx_hosts()),
                   **data.draw(st.sampled_from([{}, {}, {"unknown_user": 0.1, "mailbox_full": 0.1},
                                                {"transaction_time": {"kind": "fixed", "value": "20s"}}]))}
                  for j in range(data.draw(st.integers(1, 2)))]
    if data.draw(st.booleans()):
        recipients.append({"domain": "plain.example", "outages": [{"start": "1h", "end": "9h", "failure": "timeout"}]})
    sc = mtasim.scenario_from_dict({"name": "generated", "seed": data.draw(st.integers(0, 2**32)), "sender": sender,
                                    "messages": data.draw(workloads()), "recipients": recipients})
    run_all(sc)


@pytest.mark.parametrize("preset", ["postfix", "exim", "sendmail", "exchange-server", "opensmtpd"])
def test_des_agrees_with_the_reference_with_host_state_and_mx_hosts(preset):
    """Host-level state learns the attempt's fate: a backup's acceptance is a working connection; only an
    attempt every host refused or timed out counts as a site failure."""
    down = [{"start": "2h", "end": "20h", "failure": "refused"}]
    sc = scenario([host("mx1.office.example", 10, down), host("mx2.office.example", 20,
                                                              [{"start": "4h", "end": "12h", "failure": "timeout"}]),
                   host("backup.isp.example", 30, [{"start": "6h", "end": "9h", "failure": "refused"}],
                        backup={"preset": preset})],
                  sender={"preset": preset}, times=[f"{k * 7}m" for k in range(200)])
    assert des_only_features(sc)
    run_all(sc)


def test_curve_outage_series_lengthens_the_primarys_outage():
    from mtasim.curve import with_outage_duration
    sc = scenario([host("backup.isp.example", 20, backup=HOURLY_BACKUP), host("mx1.office.example", 10, WEEKEND)])
    longer = with_outage_duration(sc, 100 * HOUR)
    primary = next(h for h in longer.recipients[0].mx if h.host == "mx1.office.example")
    assert (primary.outages[0].start_s, primary.outages[0].end_s) == (18 * HOUR, 118 * HOUR)


@pytest.mark.parametrize("sender, via_backup", [
    ({"preset": "postfix"}, True),                                  # smtp_mx_session_limit 2: the 451 passes it on
    ({"preset": "postfix", "smtp_mx_session_limit": 1}, False),     # one session: the primary's 451 is final
    ({"preset": "postfix", "smtp_mx_session_limit": 0}, True),      # 0: no limit
    ({"preset": "exim"}, False),                                    # the first host that answers ends it
    (HOURLY, False),
])
def test_postfix_passes_a_deferred_message_on_to_the_next_mx(sender, via_backup):
    """The primary answers 451 (up, but deferring) from 0 to 10 h; a backup accepts. Postfix keeps the
    recipient a non-final server deferred and tries the backup in the same delivery (smtp_trouble.c)."""
    mx = [host("mx1.office.example", 10, [{"start": 0, "end": "10h", "failure": "451 4.3.0 try later"}]),
          host("backup.isp.example", 20, backup=HOURLY_BACKUP)]
    r = run_all(scenario(mx, sender=sender, times=("1h",)))
    m = r.messages
    if via_backup:
        assert m.attempts[0] == 1 and m.final_s[0] == HOUR and vias(r) == ["backup.isp.example"]
    else:
        assert m.attempts[0] > 1 and m.final_s[0] >= 10 * HOUR and vias(r) == ["mx1.office.example"]


def test_outages_csv_lists_each_mx_hosts_windows_with_its_name(tmp_path):
    sc = scenario([host("mx1.office.example", 10, WEEKEND), host("backup.isp.example", 20, backup=HOURLY_BACKUP)])
    mtasim.simulate(sc).write(tmp_path)
    with open(tmp_path / "outages.csv", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows == [["recipient", "start_s", "end_s", "failure", "host"],
                    ["office.example", "64800", "288000", "connect: Connection refused", "mx1.office.example"]]


def test_plot_mx_counts_where_each_message_went(tmp_path, capsys):
    """Six messages during the weekend outage: all accepted by the backup at once (the sender's delivery),
    in the mailbox when the backup relays them at 80 h (five) and 81 h (the one accepted at 79:30)."""
    from mtasim.plotcmd import build_figure
    sc = scenario([host("mx1.office.example", 10, WEEKEND), host("backup.isp.example", 20, backup=HOURLY_BACKUP)],
                  times=WEEKEND_TIMES)
    mtasim.simulate(sc).write(tmp_path)
    ax = build_figure("mx", [tmp_path]).axes[0]
    lines = {line.get_label().rsplit(" (", 1)[0]: line for line in ax.get_lines()}
    mailbox = lines["in the recipient's mailbox"]
    assert mailbox.get_label().endswith("(6)") and lines["of which accepted by the backup MX"].get_label().endswith("(6)")
    assert np.allclose(mailbox.get_xdata()[1:-1], [80, 80, 80, 80, 80, 81])
    assert [p.get_label() for p in ax.get_legend().get_patches()] == ["outage at mx1.office.example"]
    assert main(["plot", "mx", str(tmp_path), "--out", str(tmp_path / "mx.png")]) == 0
    assert (tmp_path / "mx.png").stat().st_size > 10_000


def test_plot_mx_on_a_run_without_mx_hosts_is_refused_in_one_line(tmp_path, capsys):
    sc = mtasim.scenario_from_dict({"name": "plain", "sender": HOURLY, "messages": {"count": 3},
                                    "recipients": [{"domain": "r.example"}]}, "plain.yaml")
    mtasim.simulate(sc).write(tmp_path)
    capsys.readouterr()
    assert main(["plot", "mx", str(tmp_path), "--out", str(tmp_path / "mx.png")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "plot mx needs a run whose recipients list mx hosts" in err
    assert not (tmp_path / "mx.png").exists()


# -- each host answers by its own rules while up ------------------------------------------------------------
POSTGREY = {"behaviour": "postgrey"}                  # 450 on a triplet's first attempt, passes after 300 s
ALWAYS_451 = {"tempfail": {"p": 1.0, "replies": "451 4.3.0 mx busy"}}


@pytest.mark.parametrize("sender, attempts, final, accepted_by", [
    # Postfix (smtp_mx_session_limit 2): mx1's greylisting 450 passes the recipient on to mx2, which does not
    # greylist: delivered at the first attempt (the classic way a secondary MX defeats greylisting)
    ({"preset": "postfix"}, 1, 0.0, "mx2.office.example"),
    # one session per attempt: mx1's 450 is the answer; Exchange Server retries after 15 min and mx1 passes
    ({"preset": "exchange-server"}, 2, 15 * MIN, "mx1.office.example"),
    (HOURLY, 2, HOUR, "mx1.office.example"),
])
def test_a_greylisting_primary_and_a_plain_secondary(sender, attempts, final, accepted_by):
    mx = [host("mx1.office.example", 10, **POSTGREY), host("mx2.office.example", 20)]
    r = run_all(scenario(mx, sender=sender, times=("1h",)))
    m = r.messages
    assert m.outcome[0] == Outcome.DELIVERED and m.attempts[0] == attempts
    assert m.final_s[0] == pytest.approx(HOUR + final) and vias(r) == [accepted_by]


def test_each_host_keeps_its_own_greylist_triplets():
    """mx1 is refused until 10 min, so the first attempt (at 1 min) meets mx2's greylisting; the retry at
    16 min reaches mx1, which has never seen the triplet: deferred again (separate databases); the third
    attempt, 15 min later, passes mx1. Shared triplets would have passed at 16 min."""
    mx = [host("mx1.office.example", 10, [{"start": 0, "end": "10m", "failure": "refused"}], **POSTGREY),
          host("mx2.office.example", 20, **POSTGREY)]
    r = run_all(scenario(mx, sender={"preset": "exchange-server"}, times=("1m",)))
    m, a = r.messages, r.attempts
    assert m.attempts[0] == 3 and m.final_s[0] == pytest.approx(31 * MIN) and vias(r) == ["mx1.office.example"]
    texts = [a.replies[k] for k in a.reply]
    assert [a.result[k] for k in range(len(a))] == [AttemptResult.DEFERRED] * 2 + [AttemptResult.DELIVERED]
    assert all("Greylisted" in t for t in texts[:2])


def test_a_deferral_after_a_timed_out_host_lasts_the_timeout():
    """mx1 times out (30 s) all day; mx2 greylists. The first attempt's 450 comes 30 s after it started; the
    retry is due 15 min after that failure, spends 30 s on mx1 again and passes mx2 (15.5 min after the triplet
    was first seen): delivered 30 s + 15 min + 30 s after arrival."""
    mx = [host("mx1.office.example", 10, [{"start": 0, "end": "2d", "failure": "timeout"}]),
          host("mx2.office.example", 20, **POSTGREY)]
    r = run_all(scenario(mx, sender={"preset": "exchange-server"}, times=("1h",)))
    m = r.messages
    assert m.attempts[0] == 2 and m.final_s[0] == pytest.approx(HOUR + 30 + 15 * MIN + 30)
    assert vias(r) == ["mx2.office.example"]


@pytest.mark.parametrize("sender, outcome, text", [
    # Postfix: mx1's 451 passes the message on to mx2, whose 451 ends the attempt (two sessions)
    ({"preset": "postfix"}, Outcome.EXPIRED, "451 4.3.0 mx2 busy"),
    ({"preset": "exim"}, Outcome.EXPIRED, "451 4.3.0 mx busy"),
])
def test_hosts_that_always_defer_answer_with_their_own_replies(sender, outcome, text):
    mx = [host("mx1.office.example", 10, **ALWAYS_451),
          host("mx2.office.example", 20, tempfail={"p": 1.0, "replies": "451 4.3.0 mx2 busy"})]
    r = run_all(scenario(mx, sender=sender, times=("1h",)))
    a = r.attempts
    assert r.messages.outcome[0] == outcome
    assert {a.replies[k] for k in a.reply} == {text}


def test_random_deferrals_are_drawn_per_host():
    """Two hosts that each defer half their attempts: Postfix's attempt fails only when both defer, so about
    a quarter of first attempts fail (each host its own draw), not a half (one shared draw)."""
    half = {"tempfail": {"p": 0.5}}
    mx = [host("mx1.office.example", 10, **half), host("mx2.office.example", 20, **half)]
    r = run_all(scenario(mx, sender={"preset": "postfix"}, times=[f"{k}s" for k in range(2000)]))
    first_failed = np.mean(r.messages.attempts > 1)
    assert 0.21 < first_failed < 0.29
    assert set(vias(r)) == {"mx1.office.example", "mx2.office.example"}


def test_a_greylisting_backup_mx():
    """mx1 is down all morning; the backup greylists: Exim's first attempt (at 1 h) is deferred by it, its
    retry at the next hourly attempt passes, and the backup relays after mx1 is back at 12 h."""
    mx = [host("mx1.office.example", 10, [{"start": 0, "end": "12h", "failure": "refused"}]),
          host("backup.isp.example", 20, backup=HOURLY_BACKUP, **POSTGREY)]
    r = run_all(scenario(mx, sender=HOURLY, times=("1h",)))
    m = r.messages
    assert m.attempts[0] == 2 and m.final_s[0] == 2 * HOUR and vias(r) == ["backup.isp.example"]
    assert m.relay_outcome[0] == Outcome.DELIVERED and m.relayed_s[0] == 12 * HOUR


def test_a_backup_relays_past_its_primarys_greylisting():
    """A primary whitelists its own backup MX: the relay leg meets mx1's outage only, so the backup's hourly
    queue delivers at 12 h, when mx1 is back, although mx1 greylists everyone else."""
    mx = [host("mx1.office.example", 10, [{"start": 0, "end": "12h", "failure": "refused"}], **POSTGREY),
          host("backup.isp.example", 20, backup=HOURLY_BACKUP)]
    r = run_all(scenario(mx, sender=HOURLY, times=("1h",)))
    m = r.messages
    assert vias(r) == ["backup.isp.example"] and m.final_s[0] == HOUR
    assert m.relay_outcome[0] == Outcome.DELIVERED and m.relayed_s[0] == 12 * HOUR


def test_unknown_users_bounce_at_a_primary_but_a_backup_accepts_them():
    """The fate of an address is the domain's: every primary answers 550 5.1.1 for it; a backup MX accepts
    mail for any address (and its relay leg meets only the primaries' outages)."""
    down = [{"start": "2h", "end": "3h", "failure": "refused"}]
    mx = [host("mx1.office.example", 10, down), host("backup.isp.example", 20, backup=HOURLY_BACKUP)]
    r = run_all(scenario(mx, sender=HOURLY, times=("1h", "2h30m"), unknown_user=1.0))
    m = r.messages
    assert list(m.outcome) == [Outcome.BOUNCED, Outcome.DELIVERED]
    assert vias(r) == ["", "backup.isp.example"]


def test_host_rules_with_capacity_run_the_per_message_steps_and_agree():
    """Connection slots, transaction times and a greylisting primary: the DES runs the destination on the
    reference's per-message steps (a deferral may pass the message on); every engine agrees."""
    from mtasim.engine.lines import runs_in_stretches
    from mtasim.engine.mx import resolve_domains
    mx = [host("mx1.office.example", 10, **POSTGREY), host("mx2.office.example", 20, **ALWAYS_451)]
    sc = scenario(mx, sender={"preset": "postfix"}, times=[f"{k}s" for k in range(300)],
                  transaction_time={"kind": "fixed", "value": "2s"})
    domain = resolve_domains(list(sc.recipients), sc.sender)[0]
    assert not runs_in_stretches(sc.sender, domain, False)
    r = run_all(sc)
    assert r.messages.count(Outcome.DELIVERED) == 300


@pytest.mark.parametrize("entry, expected", [
    ({"mx": [host("mx1.office.example", 10, behaviour="gmail")]},
     "mx[0].behaviour: expected a behaviour of one host (postgrey, spamd, flaky, m365-inbound); gmail is a "
     "rate_limit, which belongs to the domain"),
    ({"mx": [host("mx1.office.example", 10, greylist={"delay": "5m", "window": "4h", "addresses": 10})]},
     "mx[0].greylist.addresses: expected addresses on a recipient without mx"),
    ({"mx": [host("mx1.office.example", 10)], "greylist": {"delay": "5m", "window": "4h"}},
     "recipients[0].greylist: expected greylist on the MX hosts that answer so (mx[].greylist)"),
    ({"mx": [host("mx1.office.example", 10)], "behaviour": "spamd"},
     "recipients[0].behaviour: expected behaviour: spamd on the MX hosts that answer so (mx[].behaviour)"),
    ({"mx": [host("mx1.office.example", 10, tempfail={"p": 1.5})]}, "mx[0].tempfail.p"),
    ({"mx": [host("mx1.office.example", 10, behaviour="postgrey", greylist={"delay": "1x"})]},
     "mx[0].greylist.delay"),
])
def test_bad_host_behaviour_gives_one_line_and_exit_2(tmp_path, capsys, entry, expected):
    data = {"name": "bad", "sender": HOURLY, "messages": {"arrival": {"kind": "times", "times": ["1h"]}},
            "recipients": [{"domain": "office.example", **entry}]}
    assert expected in refused_in_one_line(tmp_path, capsys, data)

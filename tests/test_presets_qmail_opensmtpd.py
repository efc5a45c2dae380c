"""The qmail and opensmtpd presets reproduce their worked examples and boundaries, and refuse bad values.

qmail: docs/mta-retry-facts.md §4 and its §10 row (remote: attempts at (20k)^2 s, 40 of them, bounce at 169:00).
OpenSMTPD: §5, its §10 row (400 s * k^2, 30 attempts, expiry by timer at exactly 96:00, warning at 2:46:40)
and the 6.8.0p2 run in §12. Neither MTA has jitter, so the default draw is the row's nominal case and the
CLI (whose draws come from the seed) prints the same times. Every expected time is worked out by hand here.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from conftest import HOUR, run_one
from helpers import assert_same, both

import mtasim
from mtasim import ConfigError, Outcome, get_preset, trace_schedule
from mtasim.cli import main
from mtasim.durations import format_hms
from mtasim.presets import PresetValueError
from mtasim.presets.opensmtpd import OpenSMTPDSchedule
from mtasim.presets.qmail import QmailSchedule

DAY = 86400.0
REPLY_451 = "451 4.3.0 Mail server temporarily unavailable"
BASE = {"name": "t", "messages": {"count": 1}, "recipients": [{"domain": "r.example"}]}


def preset_sender(**sender):
    """The Sender a scenario with ``sender: {preset: ..., <native parameters>}`` produces."""
    data = copy.deepcopy(BASE)
    data["sender"] = sender
    return mtasim.scenario_from_dict(data).sender


def cli_schedule(capsys, *args):
    """`mtasim schedule ... --json` parsed."""
    assert main(["schedule", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def outage_scenario(sender, seed=5):
    """60 messages over 6 h to a domain refusing for 30 h and one answering 451 for 4 days."""
    return mtasim.scenario_from_dict({
        "name": "outage", "seed": seed, "sender": sender,
        "messages": {"count": 60, "arrival": {"kind": "uniform", "start": 0, "end": "6h"}},
        "recipients": [
            {"domain": "down.example", "outages": [{"start": "1h", "end": "31h", "failure": "refused"}]},
            {"domain": "slow.example", "outages": [{"start": 0, "end": "20h", "failure": "timeout"}]},
            {"domain": "busy.example", "outages": [{"start": 0, "end": "4d", "failure": REPLY_451}]},
        ],
    })


# ================================================================================================
# qmail
# ================================================================================================
# §10: "(20k)^2 s: 0:00, 0:06:40, 0:26:40, 1:00, ..., 160:26:40, 169:00", 40 attempts; 780^2 = 608400 s
# = 169:00 is the first pass older than 604800 s.
QMAIL_ATTEMPTS = [float((20 * k) ** 2) for k in range(40)]
QMAIL_ROW = ["0:00:00", "0:06:40", "0:26:40", "1:00:00", "1:46:40", "2:46:40", "4:00:00", "5:26:40", "7:06:40",
             "9:00:00", "11:06:40", "13:26:40", "16:00:00", "18:46:40", "21:46:40", "25:00:00", "28:26:40",
             "32:06:40", "36:00:00", "40:06:40", "44:26:40", "49:00:00", "53:46:40", "58:46:40", "64:00:00",
             "69:26:40", "75:06:40", "81:00:00", "87:06:40", "93:26:40", "100:00:00", "106:46:40", "113:46:40",
             "121:00:00", "128:26:40", "136:06:40", "144:00:00", "152:06:40", "160:26:40", "169:00:00"]


def test_qmail_worked_example_row():
    """qmail §10 row: 40 attempts at (20k)^2 s, the last at 169:00:00, bounce there, last status, no warning."""
    trace = trace_schedule(get_preset("qmail").sender())
    assert len(trace.attempts_s) == 40
    assert trace.attempts_s == QMAIL_ATTEMPTS
    assert [format_hms(t) for t in trace.attempts_s] == QMAIL_ROW
    assert trace.give_up_s == 608400.0 and format_hms(trace.give_up_s) == "169:00:00"
    assert trace.status == "4.4.1"            # refused connections: the last deferral's status
    assert trace.warnings_s == []


def test_qmail_cli_json_matches_the_row(capsys):
    """`mtasim schedule qmail --json` prints the §10 row (qmail has no jitter)."""
    out = cli_schedule(capsys, "qmail")
    assert out["attempts_s"] == QMAIL_ATTEMPTS
    assert out["give_up_s"] == 608400.0
    assert out["status"] == "4.4.1"
    assert out["delay_warnings_s"] == []


def test_qmail_4xx_reply_keeps_its_status():
    """A 451 4.3.0 outage gives the same times and the bounce reports 4.3.0 (the last deferral)."""
    trace = trace_schedule(get_preset("qmail").sender(), failure=REPLY_451)
    assert trace.attempts_s == QMAIL_ATTEMPTS
    assert trace.status == "4.3.0"


def test_qmail_draw_is_ignored():
    """No jitter: a draw of 0.5 gives the same attempts as the nominal draw."""
    sender = get_preset("qmail").sender()
    assert trace_schedule(sender, draw=lambda k: 0.5).attempts_s == QMAIL_ATTEMPTS


def test_qmail_queuelifetime_override():
    """queuelifetime 1d: the first pass older than 86400 s is 300^2 = 90000 s (25:00:00), the 16th."""
    trace = trace_schedule(preset_sender(preset="qmail", queuelifetime="1d"))
    assert trace.attempts_s == [float((20 * k) ** 2) for k in range(16)]
    assert trace.give_up_s == 90000.0


def test_qmail_pass_at_exactly_the_lifetime_is_not_dying():
    """queuelifetime 360000 s: the pass at 600^2 = 360000 s is not older (strict >), so one more at 620^2."""
    trace = trace_schedule(preset_sender(preset="qmail", queuelifetime=360000))
    assert trace.attempts_s == [float((20 * k) ** 2) for k in range(32)]
    assert trace.give_up_s == 384400.0 and format_hms(trace.give_up_s) == "106:46:40"


def test_qmail_pass_one_second_past_the_lifetime_is_dying():
    """queuelifetime 359999 s: the pass at 360000 s is older by 1 s, so it is the last (100:00:00)."""
    trace = trace_schedule(preset_sender(preset="qmail", queuelifetime=359999))
    assert trace.attempts_s == [float((20 * k) ** 2) for k in range(31)]
    assert trace.give_up_s == 360000.0


def test_qmail_lifetime_zero_still_retries_once():
    """queuelifetime 0: the pass at arrival is not older than 0 s (0 > 0 is false); the one at 400 s is."""
    trace = trace_schedule(preset_sender(preset="qmail", queuelifetime=0))
    assert trace.attempts_s == [0.0, 400.0]
    assert trace.give_up_s == 400.0


def test_qmail_fractional_lifetime_refused():
    """queuelifetime must be whole seconds (qmail reads an integer): 1.5 s is refused, naming the key."""
    with pytest.raises(ConfigError, match=r"sender\.queuelifetime: expected a whole number of seconds"):
        preset_sender(preset="qmail", queuelifetime=1.5)


def test_qmail_negative_lifetime_refused():
    """A negative queuelifetime is refused, naming the key."""
    with pytest.raises(ConfigError, match=r"sender\.queuelifetime"):
        preset_sender(preset="qmail", queuelifetime=-5)


def test_qmail_engine_delivers_after_outage_with_fractional_arrival():
    """Arrival at 1234.56 s, refused until 10 h: tries at arrival + (20k)^2, delivered at + 200^2 = 40000 s."""
    arrival = 1234.56
    result, times = run_one({"preset": "qmail"}, [{"start": 0, "end": "10h", "failure": "refused"}],
                            arrival=arrival)
    # 36000 - 1234.56 = 34765.44 s of outage left: the first (20k)^2 at or past it is k = 10.
    assert times == pytest.approx([arrival + (20 * k) ** 2 for k in range(11)], abs=1e-6)
    assert result.messages.outcome[0] == Outcome.DELIVERED
    assert result.messages.final_s[0] == pytest.approx(arrival + 40000.0, abs=1e-6)


def test_qmail_engine_expires_at_169h():
    """Through the engine, a recipient refusing for 8 days: 40 attempts, expired at 169:00 with 4.4.1."""
    result, times = run_one({"preset": "qmail"}, [{"start": 0, "end": "8d", "failure": "refused"}])
    assert times == pytest.approx(QMAIL_ATTEMPTS)
    assert result.messages.outcome[0] == Outcome.EXPIRED
    assert result.messages.final_s[0] == pytest.approx(608400.0)
    assert result.messages.status_text(0) == "4.4.1"


def test_qmail_engines_agree():
    """DES and fast engine agree message by message on qmail through refusals, timeouts and 451s."""
    assert_same(*both(outage_scenario({"preset": "qmail", "queuelifetime": "2d"})))


def test_qmail_gap_timeout_anchors_the_next_retry_at_the_attempt_end():
    """Known gap (shared Schedule protocol): qmail takes the age at the pass START (0 s -> next at 400 s); the
    simulator passes the age at the END of a 30 s timed-out attempt (floor(sqrt(30)) = 5 -> (5 + 20)^2 = 625 s)."""
    trace = trace_schedule(get_preset("qmail").sender(), failure="timeout", until_s=3000)
    assert trace.attempts_s == [0.0, 625.0, 2025.0]      # qmail itself: 0, 400, 1600 (+ the timeouts)


def test_qmail_schedule_wait_is_anchored_at_arrival():
    """nextretry: a failure at age 500 s is due at (22 + 20)^2 = 1764 s, i.e. a wait of 1264 s."""
    assert QmailSchedule(20).wait_after(2, 500.0, 1.0, True) == 1764.0 - 500.0


def test_qmail_schedule_local_skip_from_yaml():
    """A custom sender may name {kind: qmail, skip: 10} (the local channel): tries at (10k)^2 s."""
    data = copy.deepcopy(BASE)
    data["sender"] = {"schedule": {"kind": "qmail", "skip": 10}, "expiry": "1h"}
    sender = mtasim.scenario_from_dict(data).sender
    assert sender.schedule == QmailSchedule(10)
    # 0, 100, 400, 900, 1600, 2500, 3600: the try at exactly 1 h is the last (last-attempt, age >= 1 h).
    assert trace_schedule(sender).attempts_s == [float((10 * k) ** 2) for k in range(7)]


@pytest.mark.parametrize("schedule", [QmailSchedule(20), OpenSMTPDSchedule(400.0), OpenSMTPDSchedule(10.0)],
                         ids=lambda s: s.describe())
def test_vectorised_waits_are_the_scalar_waits(schedule):
    """waits() is wait_after() element by element, bit for bit, including ages a rounding step off a second."""
    rng = np.random.default_rng(7)
    k = rng.integers(1, 60, 400)
    age = np.concatenate([rng.uniform(0, 7 * DAY, 300), (20.0 * rng.integers(0, 40, 100)) ** 2 - 1e-10])
    vec = schedule.waits(k, age, 1.0, np.zeros(400, dtype=bool))
    assert [schedule.wait_after(int(k[i]), float(age[i]), 1.0, False) for i in range(400)] == vec.tolist()
    assert np.all(vec > 0)


def test_qmail_listed_by_presets(capsys):
    """`mtasim presets` lists qmail with queuelifetime and its native default 604800."""
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "qmail" in out.splitlines()
    assert any(line.split()[:2] == ["queuelifetime", "604800"] for line in out.splitlines())


# ================================================================================================
# OpenSMTPD
# ================================================================================================
# §10: 400 k^2 s for k = 0..29 (the last at 93:26:40); the next would be 400 * 30^2 = 360000 s > 345600 s, so
# the envelope expires at exactly 96:00:00 without an attempt. Warning: the failure at 400 * 5^2 = 10000 s
# (2:46:40) is the one whose next try, 400 * 6^2 = 14400 s = 4:00, reaches the 4 h mark.
OPENSMTPD_ATTEMPTS = [400.0 * k * k for k in range(30)]


def test_opensmtpd_worked_example_row():
    """OpenSMTPD §10 row: 30 attempts at 400 k^2 s, expiry at exactly 96:00:00, 5.4.7, warning at 2:46:40."""
    trace = trace_schedule(get_preset("opensmtpd").sender())
    assert len(trace.attempts_s) == 30
    assert trace.attempts_s == OPENSMTPD_ATTEMPTS
    assert trace.attempts_s == QMAIL_ATTEMPTS[:30]          # "identical to qmail remote up to 93:26:40"
    assert format_hms(trace.attempts_s[-1]) == "93:26:40"
    assert trace.give_up_s == 4 * DAY and format_hms(trace.give_up_s) == "96:00:00"
    assert trace.status == "5.4.7"
    assert trace.warnings_s == [10000.0] and format_hms(trace.warnings_s[0]) == "2:46:40"


def test_opensmtpd_cli_json_matches_the_row(capsys):
    """`mtasim schedule opensmtpd --json` prints the §10 row (no jitter)."""
    out = cli_schedule(capsys, "opensmtpd")
    assert out["attempts_s"] == OPENSMTPD_ATTEMPTS
    assert out["give_up_s"] == 345600.0
    assert out["status"] == "5.4.7"
    assert out["delay_warnings_s"] == [10000.0]


def test_opensmtpd_version_6_8_expires_with_4_4_7(capsys):
    """version 6.8 (a YAML number through --set) reports 4.4.7 on expiry, as the 6.8.0p2 run showed."""
    out = cli_schedule(capsys, "opensmtpd", "--set", "version=6.8")
    assert out["status"] == "4.4.7"
    assert out["attempts_s"] == OPENSMTPD_ATTEMPTS


@pytest.mark.parametrize("version, status", [("7.8", "5.4.7"), ("7.0", "5.4.7"), ("7.8.0p1", "5.4.7"),
                                             ("6.8.0p2", "4.4.7"), ("6.6", "4.4.7"), (7, "5.4.7")])
def test_opensmtpd_version_picks_the_status(version, status):
    """The major version picks the expiry status: 7.x 5.4.7, 6.x 4.4.7."""
    assert preset_sender(preset="opensmtpd", version=version).expiry_status == status


@pytest.mark.parametrize("version", ["5.4", "8.0", "seven", "7.x", True])
def test_opensmtpd_unknown_version_refused(version):
    """A version outside 6.x-7.x (or not a version) is refused, naming the key and the range."""
    with pytest.raises(ConfigError, match=r"sender\.version: expected an OpenSMTPD version 6\.x or 7\.x"):
        preset_sender(preset="opensmtpd", version=version)


def test_opensmtpd_short_ttl_as_in_the_6_8_run():
    """queue_ttl 600s, bounce_warn_interval 60s (§12): tries at 0 and 400 s, expiry at 600 s, warning at 0."""
    trace = trace_schedule(preset_sender(preset="opensmtpd", queue_ttl="600s", bounce_warn_interval="60s"))
    assert trace.attempts_s == [0.0, 400.0]       # the next try, 1600 s, is past the ttl
    assert trace.give_up_s == 600.0               # a timer: no attempt at 600 s
    assert trace.warnings_s == [0.0]              # the first failure's next try (400 s) is past 60 s


def test_opensmtpd_try_due_exactly_at_ttl_is_not_made():
    """queue_ttl 360000 s = 400 * 30^2: the expiry wins over the try due at that instant (expire <= now)."""
    trace = trace_schedule(preset_sender(preset="opensmtpd", queue_ttl=360000))
    assert trace.attempts_s == OPENSMTPD_ATTEMPTS
    assert trace.give_up_s == 360000.0


def test_opensmtpd_ttl_one_second_later_allows_that_try():
    """queue_ttl 360001 s: the try at 100:00:00 is made; the envelope then expires at 360001 s."""
    trace = trace_schedule(preset_sender(preset="opensmtpd", queue_ttl=360001))
    assert trace.attempts_s == OPENSMTPD_ATTEMPTS + [360000.0]
    assert trace.give_up_s == 360001.0


def test_opensmtpd_warning_mark_reached_exactly_counts():
    """bounce_warn_interval 4h: the next try at exactly 4:00 counts (nexttry >= mark): warning at 2:46:40."""
    trace = trace_schedule(preset_sender(preset="opensmtpd", bounce_warn_interval="4h"))
    assert trace.warnings_s == [10000.0]


def test_opensmtpd_warning_mark_one_second_later_moves_to_the_next_failure():
    """bounce_warn_interval 4h + 1 s: 4:00 no longer reaches it; the 4:00 failure (next 5:26:40) warns."""
    trace = trace_schedule(preset_sender(preset="opensmtpd", bounce_warn_interval=4 * HOUR + 1))
    assert trace.warnings_s == [14400.0]


def test_opensmtpd_late_failure_skips_past_steps():
    """scheduler_next: a first failure ending at 500 s skips step 1 (400 s, past) and is due at 1600 s."""
    assert OpenSMTPDSchedule(400.0).wait_after(1, 500.0, 1.0, True) == 1100.0
    assert OpenSMTPDSchedule(400.0).wait_after(1, 30.0, 1.0, True) == 370.0   # a 30 s timeout: still 400 s


def test_opensmtpd_due_time_equal_to_now_steps_on():
    """scheduler_next steps while the due time is <= now: a failure at exactly 1600 s with retry 2 is due at 3600 s."""
    assert OpenSMTPDSchedule(400.0).wait_after(2, 1600.0, 1.0, False) == 2000.0


@pytest.mark.parametrize("key, value", [("queue_ttl", "0.5s"), ("queue_ttl", "24856d"),
                                        ("bounce_warn_interval", "0.5s"), ("bounce_warn_interval", 2147483648)])
def test_opensmtpd_out_of_range_refused(key, value):
    """queue ttl and bounce warn-interval take 1 s .. INT_MAX s (delaytonum()); outside is refused with that range."""
    with pytest.raises(ConfigError, match=rf"sender\.{key}: expected a duration >= 1s and <= 24855d3h14m7s "
                                          r"\(the MTA's own range\)"):
        preset_sender(preset="opensmtpd", **{key: value})


@pytest.mark.parametrize("key", ["queue_ttl", "bounce_warn_interval"])
def test_opensmtpd_zero_refused(key):
    """A zero queue ttl or bounce warn-interval is refused (delaytonum() wants at least 1), naming the key."""
    with pytest.raises(ConfigError, match=rf"sender\.{key}: expected a duration > 0"):
        preset_sender(preset="opensmtpd", **{key: 0})


def test_opensmtpd_engine_delivers_after_outage_and_warns():
    """Refused until 5 h: tries at 400 k^2 up to k = 7 (19600 s, 5:26:40), delivered; warned at 2:46:40."""
    result, times = run_one({"preset": "opensmtpd"}, [{"start": 0, "end": "5h", "failure": "refused"}])
    assert times == [400.0 * k * k for k in range(8)]
    m = result.messages
    assert m.outcome[0] == Outcome.DELIVERED and m.final_s[0] == 19600.0
    assert m.warned_s[0] == 10000.0


def test_opensmtpd_engine_expires_at_ttl():
    """Through the engine, a recipient refusing for 5 days: 30 tries, expired at exactly 96:00 with 5.4.7."""
    result, times = run_one({"preset": "opensmtpd"}, [{"start": 0, "end": "5d", "failure": "refused"}])
    assert times == OPENSMTPD_ATTEMPTS
    m = result.messages
    assert m.outcome[0] == Outcome.EXPIRED and m.final_s[0] == 4 * DAY
    assert m.status_text(0) == "5.4.7"


def test_opensmtpd_gap_no_warning_at_the_failure_before_the_expiry():
    """Known gap (shared Sender/engines): ttl 600 s, warn-interval 500 s; OpenSMTPD warns at the 400 s failure
    (its next try, 1600 s, passes the mark) and expires at 600 s; the simulator sends warnings only at failures
    that do not end the message, and the 400 s failure ends it (at-deadline, at 600 s), so none is sent."""
    trace = trace_schedule(preset_sender(preset="opensmtpd", queue_ttl="600s", bounce_warn_interval="500s"))
    assert trace.attempts_s == [0.0, 400.0] and trace.give_up_s == 600.0
    assert trace.warnings_s == []                        # OpenSMTPD itself: [400.0]


def test_opensmtpd_python_api_checks_the_version():
    """Preset.sender() with a version given directly (not through YAML) is checked too: '9.1' is refused."""
    assert get_preset("opensmtpd").sender({"version": 6.8}).expiry_status == "4.4.7"
    with pytest.raises(PresetValueError, match="expected an OpenSMTPD version 6.x or 7.x"):
        get_preset("opensmtpd").sender({"version": "9.1"})


@pytest.mark.parametrize("version", ["7.8", "6.8"])
def test_opensmtpd_engines_agree(version):
    """DES and fast engine agree message by message on opensmtpd (ttl 2d) through refusals, timeouts and 451s
    (route disabling off: it is host-level state, DES only)."""
    sc = outage_scenario({"preset": "opensmtpd", "queue_ttl": "2d", "version": version, "route_disable": 0})
    des, quick = both(sc)
    assert_same(des, quick)
    expired = des.messages.outcome == Outcome.EXPIRED
    assert expired.any()
    assert {des.messages.status_text(i) for i in np.flatnonzero(expired)} == \
        {"5.4.7" if version == "7.8" else "4.4.7"}


def test_opensmtpd_schedule_from_yaml():
    """A custom sender may name {kind: opensmtpd, base: 10s} (OpenSMTPD's MDA base): tries at 10 k^2 s."""
    data = copy.deepcopy(BASE)
    data["sender"] = {"schedule": {"kind": "opensmtpd", "base": "10s"}, "expiry": "90s", "give_up": "at-deadline"}
    sender = mtasim.scenario_from_dict(data).sender
    assert sender.schedule == OpenSMTPDSchedule(10.0)
    assert trace_schedule(sender).attempts_s == [0.0, 10.0, 40.0]
    assert math.isclose(trace_schedule(sender).give_up_s, 90.0)


def test_opensmtpd_several_warn_intervals():
    """`bounce warn-interval 1h, 6h, 2d`: a notice at each failure whose next try (400 s x k^2) passes a
    mark: 26:40 (next 1:00), 5:26:40 (next 7:06:40), 44:26:40 (next 49:00)."""
    sender = mtasim.scenario_from_dict({"sender": {"preset": "opensmtpd", "bounce_warn_interval": "1h, 6h, 2d"},
                                        "messages": {"count": 1}, "recipients": [{"domain": "a"}]}).sender
    assert trace_schedule(sender).warnings_s == [1600.0, 19600.0, 160000.0]
    with pytest.raises(ConfigError, match="ascending"):
        mtasim.scenario_from_dict({"sender": {"preset": "opensmtpd", "bounce_warn_interval": "6h, 1h"},
                                   "messages": {"count": 1}, "recipients": [{"domain": "a"}]})

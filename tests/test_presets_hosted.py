"""Hosted senders and commercial MTAs (src/mtasim/presets/hosted.py) reproduce the reference by hand.

Facts: docs/provider-and-recipient-facts.md A.3, A.5-A.8 (and docs/mta-retry-facts.md §2/§10 for
SpamExperts, whose cadence is Exim's default rule). None of these presets has jitter or a queue runner,
so every trace uses the default draw and the CLI gives the same times. Every expected list below is built
from the published waits, never copied from a run.
"""

from __future__ import annotations

import copy
import json
from itertools import accumulate

import numpy as np
import pytest
from conftest import HOUR, MIN, run_one
from helpers import assert_same, both

import mtasim
from mtasim import ConfigError, Outcome, get_preset, trace_schedule
from mtasim.cli import main
from mtasim.durations import format_hms
from mtasim.presets.exchange import EXO_RETRY_INTERVALS
from mtasim.presets.hosted import TimetableSchedule, spamexperts_ages

DAY = 86400.0
REPLY_451 = "451 4.3.0 Mail server temporarily unavailable"

BASE = {"name": "t", "messages": {"count": 1}, "recipients": [{"domain": "r.example"}]}


def preset_sender(**sender):
    """The Sender a scenario with ``sender: {preset: ..., <native parameters>}`` produces."""
    data = copy.deepcopy(BASE)
    data["sender"] = sender
    return mtasim.scenario_from_dict(data).sender


def at(waits):
    """Attempt times from the waits between them, the first attempt at 0."""
    return list(accumulate(waits, initial=0.0))


def minutes(values):
    return [v * MIN for v in values]


# -- hand-derived default schedules (attempt times, give-up, status for refused connections, warnings) ---------
# SparkPost A.5: waits 20 min doubling: +20, 60, 140, 300, 620, 1260, 2540 min; the next (5100 min) is past
# 72 h (4320 min), so the message fails at 72:00.
SPARKPOST = minutes(at([20 * 2 ** k for k in range(7)]))
# SendGrid (estimate): 15 min doubling capped at 4 h: 0, 15, 45, 105, 225, 465, then +240 while < 4320 min:
# 465 + 240 k < 4320 -> k <= 16.
SENDGRID = minutes([0, 15, 45, 105, 225, 465] + [465 + 240 * k for k in range(1, 17)])
# Mailgun A.5: +10, 15, 30, 60, 120, 240 min -> 0, 10, 25, 55, 115, 235, 475; the next (715) is past 480 min.
MAILGUN = minutes(at([10, 15, 30, 60, 120, 240]))
# Momentum A.6: retry_interval 1200 s doubling: same times as SparkPost; 42:20 is the first retry past 24 h.
MOMENTUM = SPARKPOST
# MailerQ A.6: 600,600,1800,1800,3600,3600,7200 s, the last repeating: 0, 10, 20, 50, 80, 140, 200, 320 min,
# then +120 min while < 1440: 320 + 120 k < 1440 -> k <= 9 (23:20); the next pick-up is 25:20.
MAILERQ = minutes([0, 10, 20, 50, 80, 140, 200, 320] + [320 + 120 * k for k in range(1, 10)])
# Mimecast A.7: waits 1, 5, 9, 15, 30 min, 9 x 1 h, 6 x 4 h, 9 x 8 h. Attempts 0, 1, 6, 15, 30, 60 min,
# 2 h..10 h, 14 h..34 h, 42 h..90 h (attempt 28); attempt 29 would be at 98 h > 96 h: the 96 h window binds.
MIMECAST = (minutes([0, 1, 6, 15, 30, 60]) + [h * HOUR for h in range(2, 11)] + [h * HOUR for h in range(14, 35, 4)]
            + [h * HOUR for h in range(42, 91, 8)])
# SpamExperts = Exim F,2h,15m; G,16h,1h,1.5; F,4d,6h from arrival (docs/mta-retry-facts.md §10, continuous row):
# 0..2:00 every 15 min; 2:15; G gaps 1 h, 1.5 h, 2.25 h, 3.375 h, 5.0625 h, 7.59375 h; then every 6 h while
# < 96 h (23:01:52.5 + 6 h k, k <= 12); the final attempt pulled back to the 96 h cutoff.
_G = at([1 * HOUR, 1.5 * HOUR, 2.25 * HOUR, 3.375 * HOUR, 5.0625 * HOUR, 7.59375 * HOUR])
SPAMEXPERTS = (minutes(range(0, 121, 15)) + [135 * MIN + g for g in _G]
               + [135 * MIN + _G[-1] + 6 * HOUR * k for k in range(1, 13)] + [96 * HOUR])
# SocketLabs A.7: hourly for up to four days: 0..95 h.
SOCKETLABS = [h * HOUR for h in range(96)]
# EveryCloud A.7: 0, 1, 2, 3 min; every 10 min while the last attempt is < 24 h (3 + 10 k, k <= 144: 1443 min
# = 24:03 follows 23:53); then every 45 min while < 48 h: 1443 + 45 k < 2880 -> k <= 31.
EVERYCLOUD = minutes([0, 1, 2, 3] + [3 + 10 * k for k in range(1, 145)] + [1443 + 45 * k for k in range(1, 32)])
# Exchange Online before 2019: exchange-online's waits 15, 15, 15, 20, 25, 30, 40, 50, then 60 min, 48 h:
# 0, 15, 30, 45, 65, 90, 120, 160, 210, 270 min, then 270 + 60 k < 2880 -> k <= 43.
EXCHANGE_ONLINE_2019 = minutes([0, 15, 30, 45, 65, 90, 120, 160, 210, 270] + [270 + 60 * k for k in range(1, 44)])

EXPECTED = {
    # name: (attempt times, give-up time, status for refused connections, delay warnings)
    "sparkpost": (SPARKPOST, 72 * HOUR, "5.4.7", []),
    "sendgrid": (SENDGRID, 72 * HOUR, "4.4.1", []),
    "mailgun": (MAILGUN, 8 * HOUR, "5.4.7", []),
    "momentum": (MOMENTUM, 42 * HOUR + 20 * MIN, "5.4.7", []),
    "mailerq": (MAILERQ, 25 * HOUR + 20 * MIN, "5.4.7", []),
    "mimecast": (MIMECAST, 96 * HOUR, "5.4.7", [HOUR]),
    "spamexperts": (SPAMEXPERTS, 96 * HOUR, "5.0.0", []),
    "socketlabs": (SOCKETLABS, 96 * HOUR, "4.4.1", []),
    "everycloud": (EVERYCLOUD, 48 * HOUR, "4.4.7", [4 * HOUR]),
    "exchange-online-2019": (EXCHANGE_ONLINE_2019, 48 * HOUR, "4.4.7", []),
}
HOSTED = list(EXPECTED)


# -- every preset: trace, CLI, engine ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", HOSTED)
def test_default_schedule_by_hand(name):
    """Each hosted preset's attempt times, give-up time, status and warnings are the hand-derived ones."""
    attempts, give_up, status, warnings = EXPECTED[name]
    trace = trace_schedule(get_preset(name).sender())
    assert len(trace.attempts_s) == len(attempts)
    assert trace.attempts_s == pytest.approx(attempts, abs=1e-9)
    assert trace.give_up_s == pytest.approx(give_up)
    assert trace.status == status
    assert trace.warnings_s == pytest.approx(warnings)


@pytest.mark.parametrize("name", HOSTED)
def test_cli_schedule_json_matches(name, capsys):
    """`mtasim schedule NAME --json` prints the same hand-derived schedule (no preset here has jitter)."""
    attempts, give_up, status, warnings = EXPECTED[name]
    assert main(["schedule", name, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["preset"] == name
    assert out["attempts_s"] == pytest.approx(attempts, abs=1e-9)
    assert out["give_up_s"] == pytest.approx(give_up)
    assert out["status"] == status
    assert out["delay_warnings_s"] == pytest.approx(warnings)


@pytest.mark.parametrize("name", HOSTED)
def test_engine_expires_on_the_hand_schedule(name):
    """Through the engine, a recipient refusing for 10 days sees the same attempts and the same expiry."""
    attempts, give_up, status, warnings = EXPECTED[name]
    result, times = run_one({"preset": name}, [{"start": 0, "end": "10d", "failure": "refused"}])
    assert times == pytest.approx(attempts, abs=1e-9)
    m = result.messages
    assert m.outcome[0] == Outcome.EXPIRED
    assert m.final_s[0] == pytest.approx(give_up)
    assert m.status_text(0) == status
    if warnings:
        assert m.warned_s[0] == pytest.approx(warnings[0])
    else:
        assert np.isnan(m.warned_s[0])


@pytest.mark.parametrize("name", HOSTED)
def test_engines_agree(name):
    """DES and fast engine give identical per-message results for the preset through outages of both kinds."""
    sc = mtasim.scenario_from_dict({
        "name": f"{name} agreement", "seed": 11,
        "sender": {"preset": name},
        "messages": {"count": 60, "arrival": {"kind": "uniform", "start": 0, "end": "12h"}},
        "recipients": [
            {"domain": "down.example", "outages": [{"start": "1h", "end": "30h", "failure": "refused"}]},
            {"domain": "busy.example", "outages": [{"start": "3h", "end": "9h", "failure": REPLY_451}]},
            {"domain": "gone.example", "outages": [{"start": 0, "end": "70d", "failure": "timeout"}]},
        ],
    })
    des, fast = both(sc)
    assert (des.engine, fast.engine) == ("des", "fast")
    assert_same(des, fast)
    outcomes = set(des.messages.outcome.tolist())
    assert {Outcome.DELIVERED, Outcome.EXPIRED} <= outcomes


def test_presets_lists_each_with_its_confidence(capsys):
    """`mtasim presets` lists every hosted preset with its confidence line; --json carries the same text."""
    assert main(["presets"]) == 0
    text = capsys.readouterr().out
    assert main(["presets", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    for name in HOSTED:
        preset = get_preset(name)
        assert f"{name}\n  {preset.summary}\n  confidence: {preset.confidence};" in text
        assert listed[name]["confidence"] == preset.confidence
        assert "[vendor]" in preset.confidence or "[3rd]" in preset.confidence
        assert 30 <= preset.order <= 49
    names = list(listed)
    assert names.index("exchange-online") < names.index("exchange-online-2019") < names.index("sendgrid")


def test_confidence_names_the_estimates():
    """The confidence of each preset says which parts are estimated or our reading."""
    assert "estimate" in get_preset("sendgrid").confidence
    assert "unconfirmed" in get_preset("mailerq").confidence
    assert "60 d" in get_preset("spamexperts").confidence
    for name in HOSTED:
        text = get_preset(name).confidence
        assert "estimate" in text or "reading" in text or "unconfirmed" in text or "derived" in text


# -- SparkPost --------------------------------------------------------------------------------------------------
def test_sparkpost_derived_retry_times():
    """SparkPost A.5: retries at +20, 60, 140, 300, 620, 1260, 2540 min (last 42:20), none after 72 h."""
    trace = trace_schedule(get_preset("sparkpost").sender())
    assert trace.attempts_s[1:] == pytest.approx(minutes([20, 60, 140, 300, 620, 1260, 2540]))
    assert format_hms(trace.attempts_s[-1]) == "42:20:00"
    assert format_hms(trace.give_up_s) == "72:00:00"


def test_sparkpost_no_attempt_at_the_deadline():
    """at-deadline: with expiry exactly 42:20 the 42:20 attempt is not made; one second more and it is."""
    trace = trace_schedule(preset_sender(preset="sparkpost", expiry="42h20m"))
    assert trace.attempts_s == pytest.approx(SPARKPOST[:7])
    assert trace.give_up_s == pytest.approx(2540 * MIN)
    trace = trace_schedule(preset_sender(preset="sparkpost", expiry=2540 * MIN + 1))
    assert trace.attempts_s == pytest.approx(SPARKPOST)
    assert trace.give_up_s == pytest.approx(2540 * MIN + 1)


def test_sparkpost_status_is_5_4_7_for_a_451_outage():
    """SparkPost's bounce is 554 5.4.7 message timeout whatever the last 4xx was."""
    trace = trace_schedule(get_preset("sparkpost").sender(), failure=REPLY_451)
    assert trace.status == "5.4.7"
    assert get_preset("sparkpost").sender().expiry_reply.startswith("554 5.4.7 [internal] message timeout")


def test_sparkpost_expiry_what_if_range():
    """expiry is a what-if with the simulator's range: 31 d is refused, the error says so."""
    with pytest.raises(ConfigError, match=r"sender\.expiry: expected a duration >= 1m and <= 30d \(simulator range: "
                                          r"SparkPost publishes no setting for it\), got '31d'"):
        preset_sender(preset="sparkpost", expiry="31d")


# -- SendGrid ---------------------------------------------------------------------------------------------------
def test_sendgrid_keeps_the_last_deferral_status():
    """SendGrid converts the deferral to a Block: the status is the last deferral's (4.3.0 for a 451)."""
    trace = trace_schedule(get_preset("sendgrid").sender(), failure=REPLY_451)
    assert trace.status == "4.3.0"
    assert trace.attempts_s == pytest.approx(SENDGRID)


def test_sendgrid_estimate_overrides():
    """first_retry 5m, max_retry_interval 1h: waits 5, 10, 20, 40, 60, 60 ... min."""
    trace = trace_schedule(preset_sender(preset="sendgrid", first_retry="5m", max_retry_interval="1h"),
                           until_s=5 * HOUR)
    assert trace.attempts_s == pytest.approx(minutes([0, 5, 15, 35, 75, 135, 195, 255]))


def test_sendgrid_cap_below_first_retry_refused():
    """max_retry_interval below first_retry is refused, naming max_retry_interval."""
    with pytest.raises(ConfigError, match=r"sender\.max_retry_interval: expected max_retry_interval >= first_retry"):
        preset_sender(preset="sendgrid", first_retry="1h", max_retry_interval="30m")


# -- Mailgun ----------------------------------------------------------------------------------------------------
def test_mailgun_derived_list_and_expiry_at_480_min():
    """Mailgun A.5: attempts +0, 10, 25, 55, 115, 235, 475 min; dropped at 480 min, not at the 7th failure."""
    trace = trace_schedule(get_preset("mailgun").sender())
    assert trace.attempts_s == pytest.approx(minutes([0, 10, 25, 55, 115, 235, 475]))
    assert trace.give_up_s == pytest.approx(480 * MIN)
    assert trace.give_up_s > trace.attempts_s[-1]
    assert "Too old" in get_preset("mailgun").sender().expiry_reply


def test_mailgun_expiry_what_if_repeats_4h():
    """expiry 12h (a what-if): past the published list the 4 h wait repeats: 11:55, then give-up at 12:00."""
    trace = trace_schedule(preset_sender(preset="mailgun", expiry="12h"))
    assert trace.attempts_s == pytest.approx(minutes([0, 10, 25, 55, 115, 235, 475, 715]))
    assert trace.give_up_s == pytest.approx(12 * HOUR)


def test_mailgun_zero_expiry_refused():
    """expiry 0 is refused."""
    with pytest.raises(ConfigError, match=r"sender\.expiry: expected a duration > 0"):
        preset_sender(preset="mailgun", expiry=0)


# -- Momentum ---------------------------------------------------------------------------------------------------
def test_momentum_expired_message_still_attempted_once():
    """Momentum: the 42:20 retry is past message_expiration (24 h) but is still made; its failure ends it."""
    trace = trace_schedule(get_preset("momentum").sender())
    assert trace.attempts_s[-1] == pytest.approx(42 * HOUR + 20 * MIN)
    assert trace.attempts_s[-2] < DAY < trace.attempts_s[-1]
    assert trace.give_up_s == pytest.approx(trace.attempts_s[-1])


def test_momentum_never_attempt_expired_messages():
    """never_attempt_expired_messages true: the 42:20 retry is not made; the message fails then, 7 attempts."""
    for value in (True, "true", "TRUE"):
        sender = preset_sender(preset="momentum", never_attempt_expired_messages=value)
        trace = trace_schedule(sender)
        assert trace.attempts_s == pytest.approx(MOMENTUM[:7])
        assert trace.give_up_s == pytest.approx(42 * HOUR + 20 * MIN)
        assert sender.expiry_reply == "Delivery not attempted (message expired)"
    assert preset_sender(preset="momentum", never_attempt_expired_messages="false").give_up.name == "last-attempt"


def test_momentum_switch_refuses_other_values():
    """never_attempt_expired_messages accepts only true or false."""
    with pytest.raises(ConfigError,
                       match=r"sender\.never_attempt_expired_messages: expected true or false, got 'yes'"):
        preset_sender(preset="momentum", never_attempt_expired_messages="yes")


def test_momentum_shipped_one_week_expiration():
    """message_expiration 604800 (shipped ecelerity.conf): 0..85:00, then the 170:20 retry past 168 h ends it."""
    trace = trace_schedule(preset_sender(preset="momentum", message_expiration=604800))
    expected = minutes(at([20 * 2 ** k for k in range(9)]))     # ... 2540, 5100, 10220 min
    assert trace.attempts_s == pytest.approx(expected)
    assert format_hms(trace.attempts_s[-1]) == "170:20:00"
    assert trace.give_up_s == pytest.approx(10220 * MIN)


def test_momentum_age_equal_to_expiration_ends_it():
    """last-attempt is >=: a failure at exactly message_expiration (21:00) ends the message; 1 s more does not."""
    trace = trace_schedule(preset_sender(preset="momentum", message_expiration=75600))
    assert trace.attempts_s == pytest.approx(MOMENTUM[:7])
    assert trace.give_up_s == pytest.approx(21 * HOUR)
    trace = trace_schedule(preset_sender(preset="momentum", message_expiration=75601))
    assert trace.attempts_s == pytest.approx(MOMENTUM)


def test_momentum_retry_interval_override():
    """retry_interval 600: waits 10, 20, 40, 80 ... min."""
    trace = trace_schedule(preset_sender(preset="momentum", retry_interval=600), until_s=3 * HOUR)
    assert trace.attempts_s == pytest.approx(minutes([0, 10, 30, 70, 150]))


def test_momentum_retry_interval_zero_refused():
    """retry_interval 0 is refused."""
    with pytest.raises(ConfigError, match=r"sender\.retry_interval: expected a duration > 0"):
        preset_sender(preset="momentum", retry_interval=0)


# -- MailerQ ----------------------------------------------------------------------------------------------------
def test_mailerq_gives_up_at_next_pick_up_without_attempt():
    """MailerQ: last attempt 23:20; the 25:20 pick-up is past max-delivertime and fails without an attempt."""
    trace = trace_schedule(get_preset("mailerq").sender())
    assert format_hms(trace.attempts_s[-1]) == "23:20:00"
    assert trace.give_up_s == pytest.approx(25 * HOUR + 20 * MIN)
    assert len(trace.attempts_s) == 17


def test_mailerq_max_attempts_binds_first():
    """max-attempts 10 (another doc page's default): the 10th failure, at 9:20, ends the message."""
    trace = trace_schedule(preset_sender(preset="mailerq", **{"max-attempts": 10}))
    assert trace.attempts_s == pytest.approx(MAILERQ[:10])
    assert format_hms(trace.attempts_s[-1]) == "9:20:00"
    assert trace.give_up_s == pytest.approx(9 * HOUR + 20 * MIN)


def test_mailerq_retry_interval_in_its_own_syntax():
    """retry-interval "300,900" (MailerQ's comma list of seconds): waits 5, 15, then 15 min repeating."""
    for value in ("300,900", [300, "15m"]):
        trace = trace_schedule(preset_sender(preset="mailerq", **{"retry-interval": value}), until_s=HOUR)
        assert trace.attempts_s == pytest.approx(minutes([0, 5, 20, 35, 50]))


def test_mailerq_deadline_boundary():
    """before-attempt: an attempt due at exactly max-delivertime (23:20) is not made; at 1 s less it is."""
    trace = trace_schedule(preset_sender(preset="mailerq", **{"max-delivertime": 84000}))
    assert trace.attempts_s == pytest.approx(MAILERQ[:16])
    assert trace.give_up_s == pytest.approx(84000)
    trace = trace_schedule(preset_sender(preset="mailerq", **{"max-delivertime": 84001}))
    assert trace.attempts_s == pytest.approx(MAILERQ)


@pytest.mark.parametrize("key, value, message", [
    ("retry-interval", "600,abc", r"sender\.retry-interval: expected a duration"),
    ("retry-interval", "600,0", r"sender\.retry-interval: expected a duration > 0"),
    ("max-attempts", -1, r"sender\.max-attempts: expected a whole number >= 0"),
    ("max-delivertime", "-5", r"sender\.max-delivertime: expected a duration >= 0"),
])
def test_mailerq_bad_values_refused(key, value, message):
    """Bad MailerQ values are refused, naming the MailerQ key."""
    with pytest.raises(ConfigError, match=message):
        preset_sender(preset="mailerq", **{key: value})


def test_mailerq_presets_shows_its_list():
    """The preset listing shows retry-interval in MailerQ's own comma syntax."""
    param = next(p for p in get_preset("mailerq").params if p.name == "retry-interval")
    assert param.show() == "600,600,1800,1800,3600,3600,7200"


# -- Mimecast ---------------------------------------------------------------------------------------------------
def test_mimecast_96h_binds_before_30_attempts():
    """Mimecast: attempt 28 at 90 h, attempt 29 would be 98 h > 96 h: expiry at 96:00 after 28 attempts."""
    trace = trace_schedule(get_preset("mimecast").sender())
    assert len(trace.attempts_s) == 28          # fewer than the 30-attempt limit
    assert trace.attempts_s[-1] == pytest.approx(90 * HOUR)
    assert trace.attempts_s[-1] + 8 * HOUR > 96 * HOUR
    assert trace.give_up_s == pytest.approx(96 * HOUR)


def test_mimecast_30_attempts_bind_past_106h():
    """With expiry 107 h the 30th attempt (106:00) is made and its failure ends the message; at 106 h it is not."""
    trace = trace_schedule(preset_sender(preset="mimecast", expiry="107h"))
    assert len(trace.attempts_s) == 30
    assert trace.attempts_s[-2:] == pytest.approx([98 * HOUR, 106 * HOUR])
    assert trace.give_up_s == pytest.approx(106 * HOUR)
    trace = trace_schedule(preset_sender(preset="mimecast", expiry="106h"))
    assert len(trace.attempts_s) == 29
    assert trace.give_up_s == pytest.approx(106 * HOUR)


def test_mimecast_attempts_policy():
    """Delivery Attempts Before Bounce 20: the 20th attempt (30:00) ends it; 0 means the account default 30."""
    trace = trace_schedule(preset_sender(preset="mimecast", delivery_attempts_before_bounce=20))
    assert trace.attempts_s == pytest.approx(MIMECAST[:20])
    assert trace.give_up_s == pytest.approx(30 * HOUR)
    assert trace_schedule(preset_sender(preset="mimecast", delivery_attempts_before_bounce=0)).attempts_s == \
        pytest.approx(MIMECAST)


def test_mimecast_warning_after_six_attempts_through_engine():
    """Mimecast's delay warning goes at the 6th failure (1:00); a 3 h outage then delivers at 3:00."""
    result, times = run_one({"preset": "mimecast"}, [{"start": 0, "end": "3h", "failure": REPLY_451}])
    assert times == pytest.approx(minutes([0, 1, 6, 15, 30, 60, 120, 180]))
    m = result.messages
    assert m.outcome[0] == Outcome.DELIVERED
    assert m.warned_s[0] == pytest.approx(HOUR)
    assert m.final_s[0] == pytest.approx(3 * HOUR)


def test_mimecast_attempts_range():
    """delivery_attempts_before_bounce above 1000 is refused with its range."""
    with pytest.raises(ConfigError, match=r"sender\.delivery_attempts_before_bounce: expected a whole number >= 0 "
                                          r"and <= 1000"):
        preset_sender(preset="mimecast", delivery_attempts_before_bounce=1001)


# -- SpamExperts ------------------------------------------------------------------------------------------------
def test_spamexperts_is_the_exim_continuous_row():
    """SpamExperts = §10 'Exim, continuous queue runner': 29 attempts; the final one at the 96 h cutoff."""
    trace = trace_schedule(get_preset("spamexperts").sender())
    shown = [format_hms(t) for t in trace.attempts_s]
    assert shown[:16] == ["0:00:00", "0:15:00", "0:30:00", "0:45:00", "1:00:00", "1:15:00", "1:30:00", "1:45:00",
                          "2:00:00", "2:15:00", "3:15:00", "4:45:00", "7:00:00", "10:22:30", "15:26:15",
                          "23:01:52.5"]
    assert shown[-3:] == ["89:01:52.5", "95:01:52.5", "96:00:00"]
    assert len(shown) == 29
    assert np.diff(trace.attempts_s[15:-1]) == pytest.approx([6 * HOUR] * 12)
    assert format_hms(trace.give_up_s) == "96:00:00"


def test_spamexperts_resellers_growth_from_15_min():
    """growth_start 15m (the resellers' reading): after 2:15 the gaps are 22.5, 33.75, 50.625 min."""
    trace = trace_schedule(preset_sender(preset="spamexperts", growth_start="15m"), until_s=5 * HOUR)
    expected = minutes(range(0, 121, 15)) + [135 * MIN + g for g in at([22.5 * MIN, 33.75 * MIN, 50.625 * MIN])]
    assert trace.attempts_s == pytest.approx(expected)


def test_spamexperts_expiry_override_pulls_the_last_attempt_back():
    """expiry 2d: 6-hourly retries to 47:01:52.5, then a last attempt at 48:00 (21 attempts)."""
    trace = trace_schedule(preset_sender(preset="spamexperts", expiry="2d"))
    assert trace.attempts_s == pytest.approx(SPAMEXPERTS[:20] + [48 * HOUR])
    assert format_hms(trace.attempts_s[-2]) == "47:01:52.5"
    assert trace.give_up_s == pytest.approx(48 * HOUR)


def test_spamexperts_timeouts_keep_the_timetable():
    """Timed-out attempts (30 s each) keep the slot times; the last one ends at 96:00:30, the give-up."""
    trace = trace_schedule(get_preset("spamexperts").sender(), failure="timeout")
    assert trace.attempts_s == pytest.approx(SPAMEXPERTS)
    assert trace.give_up_s == pytest.approx(96 * HOUR + 30)


def test_spamexperts_expiry_range():
    """expiry above the vendor's current 60 d is refused with the simulator's range."""
    with pytest.raises(ConfigError, match=r"sender\.expiry: expected a duration >= 15m and <= 60d \(simulator range, "
                                          r"up to the vendor's current 60 d\)"):
        preset_sender(preset="spamexperts", expiry="61d")


def test_spamexperts_ages_exact_cutoffs():
    """Exim picks F while the failing time is <= 2 h: the attempt at exactly 2:00 still waits 15 min."""
    ages = spamexperts_ages(HOUR, 4 * DAY)
    assert ages[8] == 2 * HOUR and ages[9] == 2 * HOUR + 15 * MIN
    assert ages[14] == pytest.approx(55575.0) and ages[14] <= 16 * HOUR     # 15:26:15 is still in G
    assert ages[15] - ages[14] == pytest.approx(7.59375 * HOUR)


# -- SocketLabs -------------------------------------------------------------------------------------------------
def test_socketlabs_hourly_and_last_status():
    """SocketLabs: hourly for four days, failing at 96:00 with the last error response (4.3.0 for a 451)."""
    trace = trace_schedule(get_preset("socketlabs").sender(), failure=REPLY_451)
    assert trace.attempts_s == pytest.approx(SOCKETLABS)
    assert trace.status == "4.3.0"


def test_socketlabs_retry_interval_override():
    """retry_interval 30m: 192 attempts, 0:00 .. 95:30, give-up 96:00."""
    trace = trace_schedule(preset_sender(preset="socketlabs", retry_interval="30m"))
    assert trace.attempts_s == pytest.approx([k * 30 * MIN for k in range(192)])
    assert trace.give_up_s == pytest.approx(96 * HOUR)


# -- EveryCloud -------------------------------------------------------------------------------------------------
def test_everycloud_phase_boundary_at_24h():
    """EveryCloud: 23:53 (< 24 h) is followed 10 min later by 24:03, then 45 min gaps: 24:48."""
    shown = [format_hms(t) for t in trace_schedule(get_preset("everycloud").sender()).attempts_s]
    i = shown.index("23:53:00")
    assert shown[i:i + 3] == ["23:53:00", "24:03:00", "24:48:00"]
    assert shown[:5] == ["0:00:00", "0:01:00", "0:02:00", "0:03:00", "0:13:00"]
    assert shown[-1] == "47:18:00"


def test_everycloud_expiry_override():
    """expiry 24h: last attempt 23:53, the 24:03 slot is past it: give-up at exactly 24:00, 4 + 143 attempts."""
    trace = trace_schedule(preset_sender(preset="everycloud", expiry="24h"))
    assert trace.attempts_s == pytest.approx(EVERYCLOUD[:147])
    assert trace.give_up_s == pytest.approx(DAY)
    assert trace.warnings_s == pytest.approx([4 * HOUR])


def test_everycloud_notice_at_4h_through_engine():
    """A 6 h outage: the delay notice goes at exactly 4:00; delivery at the first slot after 6 h, 6:03."""
    result, _ = run_one({"preset": "everycloud"}, [{"start": 0, "end": "6h", "failure": "refused"}])
    m = result.messages
    assert m.warned_s[0] == pytest.approx(4 * HOUR)
    assert m.final_s[0] == pytest.approx(6 * HOUR + 3 * MIN)
    assert m.outcome[0] == Outcome.DELIVERED


# -- Exchange Online before 2019 --------------------------------------------------------------------------------
def test_exchange_online_2019_shares_the_exo_cadence():
    """exchange-online-2019 uses exchange-online's interval tuple; at 24 h it matches exchange-online exactly."""
    sender = get_preset("exchange-online-2019").sender()
    assert sender.schedule.intervals_s is EXO_RETRY_INTERVALS
    short = trace_schedule(preset_sender(preset="exchange-online-2019", MessageExpiration="1.00:00:00"))
    assert short == trace_schedule(get_preset("exchange-online").sender())


def test_exchange_online_2019_range_and_alias():
    """MessageExpiration above 48 h is refused; the on-prem name is accepted as an alias."""
    with pytest.raises(ConfigError, match=r"sender\.MessageExpiration: expected a duration >= 12h and <= 2d"):
        preset_sender(preset="exchange-online-2019", MessageExpiration="2.00:00:01")
    sender = preset_sender(preset="exchange-online-2019", MessageExpirationTimeout="1.12:00:00")
    assert trace_schedule(sender).give_up_s == pytest.approx(36 * HOUR)


def test_generic_parameter_of_another_preset_refused():
    """A hosted what-if key given to a preset that lacks it is refused, naming the presets that have it."""
    with pytest.raises(ConfigError, match=r"sender\.growth_start: unknown key 'growth_start'; that is a parameter "
                                          r"of preset spamexperts"):
        preset_sender(preset="mailgun", growth_start="1h")


# -- the timetable schedule kind --------------------------------------------------------------------------------
def test_timetable_kind_in_a_custom_sender():
    """A custom sender can name kind: timetable; past the listed ages it repeats then_every."""
    data = copy.deepcopy(BASE)
    data["sender"] = {"schedule": {"kind": "timetable", "at": [0, "10m", "1h"], "then_every": "2h"},
                      "expiry": "6h", "give_up": "at-deadline"}
    trace = trace_schedule(mtasim.scenario_from_dict(data).sender)
    assert trace.attempts_s == pytest.approx([0, 10 * MIN, HOUR, 3 * HOUR, 5 * HOUR])
    assert trace.give_up_s == pytest.approx(6 * HOUR)


def test_timetable_without_then_every_stops():
    """Without then_every the message gives up at its failure in the last slot."""
    trace = trace_schedule(mtasim.Sender(TimetableSchedule((0.0, 600.0)), give_up="at-deadline", expiry_s=DAY))
    assert trace.attempts_s == [0.0, 600.0]
    assert trace.give_up_s == 600.0


def test_timetable_refuses_unordered_ages():
    """Ages that do not increase are refused, naming the item."""
    data = copy.deepcopy(BASE)
    data["sender"] = {"schedule": {"kind": "timetable", "at": [0, "1h", "30m"]}, "expiry": "6h"}
    with pytest.raises(ConfigError, match=r"sender\.schedule\.at\[2\]: expected an age later than the one before it"):
        mtasim.scenario_from_dict(data)


def test_timetable_vectorised_waits_equal_scalar_waits():
    """TimetableSchedule.waits is wait_after element by element (None <-> NaN), bit for bit, near slots too."""
    for schedule in (TimetableSchedule(spamexperts_ages(HOUR, 4 * DAY)),
                     TimetableSchedule((0.0, 60.0, 120.0, 180.0, 780.0), 2700.0)):
        rng = np.random.default_rng(3)
        slots = np.asarray(schedule.ages_s)
        age = np.concatenate([rng.uniform(0, 5e5, 400), slots, slots + 1e-9, slots - 1e-9, slots + 30.0])
        vec = schedule.waits(np.ones(len(age), dtype=int), age, 1.0, np.zeros(len(age), dtype=bool))
        for i in range(len(age)):
            w = schedule.wait_after(1, float(age[i]), 1.0, False)
            assert (np.isnan(vec[i]) if w is None else vec[i] == w), (i, age[i], w, vec[i])
            if w is not None:
                assert w > 1e-7

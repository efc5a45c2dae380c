"""Presets reproduce the worked examples of the reference sheets, and refuse bad native parameters.

Postfix: docs/mta-retry-facts.md §1 and the §10 worked-example table. Exchange Server / Edge:
docs/provider-and-recipient-facts.md A.2. Exchange Online: A.3. All expected times are computed by hand below.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from conftest import HOUR, MIN, run_one

import mtasim
from mtasim import ConfigError, Outcome, get_preset, trace_schedule
from mtasim.durations import format_hms

DAY = 86400.0
REPLY_451 = "451 4.3.0 Mail server temporarily unavailable"

BASE = {
    "name": "t",
    "messages": {"count": 1},
    "recipients": [{"domain": "r.example"}],
}


def preset_sender(**sender):
    """The Sender a scenario with ``sender: {preset: ..., <native parameters>}`` produces."""
    data = copy.deepcopy(BASE)
    data["sender"] = sender
    return mtasim.scenario_from_dict(data).sender


# -- Postfix ----------------------------------------------------------------------------------------
# Hand derivation (§1 formula, scans every 300 s from arrival, 1 s tolerance):
#   t=0 wait 300 -> 5m; 5m wait 300 -> 10m; 10m wait 600 -> 20m; 20m -> 40m; 40m -> 1h20m;
#   1h20m (4800 s) wait 4000 -> due 8800 s -> scan 9000 s = 2h30m; from then age > 4000 s, wait 4000 ->
#   due t + 4000 -> scan t + 4200 (1h10m). Give-up: first attempt with 9000 + 4200 k >= 432000 -> k = 101.
POSTFIX_ATTEMPTS = [0, 5 * MIN, 10 * MIN, 20 * MIN, 40 * MIN, 80 * MIN] + [150 * MIN + 70 * MIN * k for k in range(102)]


def test_postfix_worked_example_row():
    """Postfix §10 row: 108 attempts 0:00, 0:05, 0:10, 0:20, 0:40, 1:20, 2:30, then every 1:10 to 120:20."""
    trace = trace_schedule(get_preset("postfix").sender())
    assert len(trace.attempts_s) == 108
    assert trace.attempts_s == pytest.approx(POSTFIX_ATTEMPTS)
    assert [format_hms(t) for t in trace.attempts_s[:8]] == [
        "0:00:00", "0:05:00", "0:10:00", "0:20:00", "0:40:00", "1:20:00", "2:30:00", "3:40:00"]
    assert np.diff(trace.attempts_s[6:]) == pytest.approx([70 * MIN] * 101)


def test_postfix_gives_up_at_120_20_with_last_deferral_status():
    """Postfix gives up at the first failed pass at or after 5 d: 120:20:00 (433200 s), status = last 4.x.x."""
    trace = trace_schedule(get_preset("postfix").sender())
    assert trace.give_up_s == pytest.approx(120 * HOUR + 20 * MIN)
    assert trace.give_up_s == pytest.approx(433200.0)
    assert format_hms(trace.give_up_s) == "120:20:00"
    assert trace.attempts_s[-1] == pytest.approx(trace.give_up_s)
    assert trace.status == "4.4.1"          # refused connections
    assert trace.warnings_s == []            # delay_warning_time is off by default


def test_postfix_status_for_4xx_reply_is_that_reply():
    """Postfix keeps the last deferral's status: a 451 4.3.0 outage ends with 4.3.0, same times."""
    trace = trace_schedule(get_preset("postfix").sender(), failure=REPLY_451)
    assert trace.status == "4.3.0"
    assert trace.attempts_s == pytest.approx(POSTFIX_ATTEMPTS)


def test_postfix_engine_matches_the_worked_example():
    """The engine, with a recipient refusing for 6 days, makes the same 108 attempts and expires at 120:20."""
    result, times = run_one({"preset": "postfix"}, [{"start": 0, "end": "6d", "failure": "refused"}])
    assert times == pytest.approx(POSTFIX_ATTEMPTS)
    m = result.messages
    assert m.outcome[0] == Outcome.EXPIRED
    assert m.final_s[0] == pytest.approx(433200.0)
    assert m.status_text(0) == "4.4.1"


def test_postfix_continuous_scanning_row():
    """Postfix §10 continuous scanning: 113 attempts, ..., 1:20, 2:26:40, then every 1:06:40, give-up 120:13:20."""
    sender = dataclasses.replace(get_preset("postfix").sender(), queue_run_s=0.0)
    trace = trace_schedule(sender)
    # 1h20m (4800 s) + 4000 = 8800 s (2:26:40), then + 4000 s; 8800 + 4000 k >= 432000 -> k = 106.
    expected = [0, 5 * MIN, 10 * MIN, 20 * MIN, 40 * MIN, 80 * MIN] + [8800 + 4000 * k for k in range(107)]
    assert len(trace.attempts_s) == 113
    assert trace.attempts_s == pytest.approx(expected)
    assert format_hms(trace.attempts_s[6]) == "2:26:40"
    assert trace.give_up_s == pytest.approx(120 * HOUR + 13 * MIN + 20)
    assert format_hms(trace.give_up_s) == "120:13:20"


def test_postfix_lifetime_zero_tries_once():
    """maximal_queue_lifetime 0 (try once only): one attempt, then expired at once."""
    sender = preset_sender(preset="postfix", maximal_queue_lifetime=0)
    trace = trace_schedule(sender)
    assert trace.attempts_s == [0.0]
    assert trace.give_up_s == 0.0
    result, times = run_one({"preset": "postfix", "maximal_queue_lifetime": 0}, [{"start": 0, "end": "1d"}])
    assert times == [0.0]
    assert result.messages.outcome[0] == Outcome.EXPIRED
    assert result.messages.final_s[0] == 0.0
    assert result.messages.status_text(0) == "4.3.0"


def test_postfix_lifetime_override():
    """maximal_queue_lifetime 1d: give-up at the first pass at or after 24h, 9000 + 4200*19 = 24:40:00."""
    trace = trace_schedule(preset_sender(preset="postfix", maximal_queue_lifetime="1d"))
    assert trace.give_up_s == pytest.approx(24 * HOUR + 40 * MIN)
    assert len(trace.attempts_s) == 6 + 20


def test_postfix_backoff_overrides():
    """minimal/maximal_backoff_time change the clamp: min 10m, max 30m, scans every 10m."""
    sender = preset_sender(preset="postfix", minimal_backoff_time="10m", maximal_backoff_time="30m",
                           queue_run_delay="10m")
    trace = trace_schedule(sender, until_s=3 * HOUR)
    # 0 -> 10m; 10m -> 20m; 20m wait 20m -> 40m; 40m wait 30m (cap) -> 70m; then +30m
    assert trace.attempts_s == pytest.approx([0, 10 * MIN, 20 * MIN, 40 * MIN, 70 * MIN, 100 * MIN, 130 * MIN,
                                              160 * MIN])


def test_postfix_delay_warning_at_first_failure_after_warning_time():
    """delay_warning_time 4h: one warning at the first failed pass at or after 4h - 1 s, i.e. 4:50:00."""
    trace = trace_schedule(preset_sender(preset="postfix", delay_warning_time="4h"))
    assert trace.warnings_s == pytest.approx([4 * HOUR + 50 * MIN])


def test_postfix_delay_warning_tolerance_one_second():
    """delay warning tolerance: a failure 1 s before the warning time (3:40:00 vs 3:40:01) sends it."""
    trace = trace_schedule(preset_sender(preset="postfix", delay_warning_time=3 * HOUR + 40 * MIN + 1))
    assert trace.warnings_s == pytest.approx([3 * HOUR + 40 * MIN])


def test_postfix_delay_warning_through_engine():
    """Postfix through the engine: warned_s is the 4:50 failure; the message then delivers at 6:00."""
    result, times = run_one({"preset": "postfix", "delay_warning_time": "4h"}, [{"start": 0, "end": "5h"}])
    assert result.messages.warned_s[0] == pytest.approx(4 * HOUR + 50 * MIN)
    assert result.messages.final_s[0] == pytest.approx(6 * HOUR)
    assert result.messages.outcome[0] == Outcome.DELIVERED


def test_postfix_backoff_max_below_min_refused():
    """maximal_backoff_time < minimal_backoff_time is refused, naming maximal_backoff_time."""
    with pytest.raises(ConfigError, match=r"sender\.maximal_backoff_time: expected maximal_backoff_time >= "
                                          r"minimal_backoff_time"):
        preset_sender(preset="postfix", minimal_backoff_time="10m", maximal_backoff_time="5m")


def test_postfix_lifetime_above_100_days_refused():
    """maximal_queue_lifetime above Postfix's 100 d limit is refused with the range."""
    with pytest.raises(ConfigError, match=r"sender\.maximal_queue_lifetime: .*<= 100d"):
        preset_sender(preset="postfix", maximal_queue_lifetime="101d")


def test_postfix_typo_suggests_the_parameter():
    """A typo'd native parameter suggests the closest one."""
    with pytest.raises(ConfigError, match=r"sender\.maximal_queue_lifetme: unknown key 'maximal_queue_lifetme'; "
                                          r"did you mean 'maximal_queue_lifetime'\?"):
        preset_sender(preset="postfix", maximal_queue_lifetme="1d")


def test_exchange_parameter_given_to_postfix_names_its_preset():
    """An Exchange parameter given to postfix is refused, naming the presets it belongs to."""
    with pytest.raises(ConfigError, match=r"sender\.MessageExpirationTimeout: unknown key.*exchange-server"):
        preset_sender(preset="postfix", MessageExpirationTimeout="1d")


def test_generic_key_next_to_preset_refused():
    """A generic sender key (expiry) next to a preset is an unknown key."""
    with pytest.raises(ConfigError, match=r"sender\.expiry: unknown key 'expiry'"):
        preset_sender(preset="postfix", expiry="1d")


# -- Exchange Server (Mailbox transport) ---------------------------------------------------------------
# A.2 ladder for connection failures: 4 glitch retries 1 min apart, 6 transient retries 5 min apart,
# then every 10 min; expiry at exactly 48 h with no attempt at or after it; delay DSN at 4 h.
# Attempts 0,1,2,3,4 | 9,14,19,24,29,34 | 44, 54, ... < 2880 min: 34 + 10 k < 2880 -> k <= 284.
EXCHANGE_SERVER_ATTEMPTS = ([m * MIN for m in (0, 1, 2, 3, 4)] + [m * MIN for m in (9, 14, 19, 24, 29, 34)]
                            + [(34 + 10 * k) * MIN for k in range(1, 285)])


def test_exchange_server_ladder():
    """Exchange Server: 0-4 min, then 9..34 min every 5 min, then every 10 min; gives up at 48:00:00, 4.4.7."""
    trace = trace_schedule(get_preset("exchange-server").sender())
    assert trace.attempts_s == pytest.approx(EXCHANGE_SERVER_ATTEMPTS)
    assert len(trace.attempts_s) == 5 + 6 + 284
    assert trace.give_up_s == pytest.approx(48 * HOUR)
    assert format_hms(trace.give_up_s) == "48:00:00"
    assert trace.attempts_s[-1] < 48 * HOUR
    assert trace.status == "4.4.7"
    assert trace.warnings_s == pytest.approx([4 * HOUR])


def test_exchange_server_engine_matches_and_warns_at_4h():
    """Through the engine: same ladder; a 10 h refusal delivers at 10:04 (34 + 10*57 min), warned at 4:00."""
    result, times = run_one({"preset": "exchange-server"}, [{"start": 0, "end": "10h", "failure": "refused"}])
    expected = [t for t in EXCHANGE_SERVER_ATTEMPTS if t <= 604 * MIN]
    assert times == pytest.approx(expected)
    m = result.messages
    assert m.outcome[0] == Outcome.DELIVERED
    assert m.final_s[0] == pytest.approx(10 * HOUR + 4 * MIN)
    assert m.warned_s[0] == pytest.approx(4 * HOUR)


def test_exchange_server_engine_expires_at_48h_with_4_4_7():
    """Through the engine: a recipient down for 3 days expires the message at exactly 48 h with 4.4.7."""
    result, times = run_one({"preset": "exchange-server"}, [{"start": 0, "end": "3d", "failure": "refused"}])
    assert times == pytest.approx(EXCHANGE_SERVER_ATTEMPTS)
    m = result.messages
    assert m.outcome[0] == Outcome.EXPIRED
    assert m.final_s[0] == pytest.approx(48 * HOUR)
    assert m.status_text(0) == "4.4.7"


def test_exchange_server_4xx_reply_uses_message_retry_interval():
    """Exchange Server: a 4xx reply waits MessageRetryInterval (15 min) each time; 48 h -> 192 attempts."""
    trace = trace_schedule(get_preset("exchange-server").sender(), failure=REPLY_451)
    assert trace.attempts_s == pytest.approx([15 * MIN * k for k in range(192)])
    assert trace.give_up_s == pytest.approx(48 * HOUR)
    assert trace.status == "4.4.7"


def test_exchange_server_timespan_parameters():
    """Exchange parameters accept TimeSpan syntax: MessageExpirationTimeout 1.00:00:00 = 24 h."""
    sender = preset_sender(preset="exchange-server", MessageExpirationTimeout="1.00:00:00",
                           DelayNotificationTimeout="02:00:00")
    trace = trace_schedule(sender)
    assert trace.give_up_s == pytest.approx(24 * HOUR)
    assert len(trace.attempts_s) == 5 + 6 + 140      # 34 + 10 k < 1440 -> k <= 140
    assert trace.warnings_s == pytest.approx([2 * HOUR])


def test_exchange_server_no_transient_retries():
    """TransientFailureRetryCount 0 goes from the glitch retries straight to the 10 min interval."""
    trace = trace_schedule(preset_sender(preset="exchange-server", TransientFailureRetryCount=0), until_s=1 * HOUR)
    assert trace.attempts_s == pytest.approx([m * MIN for m in (0, 1, 2, 3, 4, 14, 24, 34, 44, 54)])


def test_exchange_server_expiry_range():
    """MessageExpirationTimeout above 90 days is refused with the MTA's range."""
    with pytest.raises(ConfigError, match=r"sender\.MessageExpirationTimeout: .*<= 90d"):
        preset_sender(preset="exchange-server", MessageExpirationTimeout="91.00:00:00")


def test_postfix_parameter_given_to_exchange_server_names_postfix():
    """A postfix parameter given to exchange-server is refused with a message naming postfix."""
    with pytest.raises(ConfigError, match=r"sender\.maximal_queue_lifetime: unknown key 'maximal_queue_lifetime'; "
                                          r"that is a parameter of preset postfix"):
        preset_sender(preset="exchange-server", maximal_queue_lifetime="1d")


# -- Exchange Edge ------------------------------------------------------------------------------------
def test_exchange_edge_ladder():
    """Exchange Edge: 4 x 1 min, then 6 x 10 min, then every 30 min; gives up at 48 h, warning at 4 h."""
    trace = trace_schedule(get_preset("exchange-edge").sender())
    # 0..4 | 14, 24, 34, 44, 54, 64 | 94, 124, ... : 64 + 30 k < 2880 -> k <= 93
    expected = ([m * MIN for m in (0, 1, 2, 3, 4)] + [m * MIN for m in (14, 24, 34, 44, 54, 64)]
                + [(64 + 30 * k) * MIN for k in range(1, 94)])
    assert trace.attempts_s == pytest.approx(expected)
    assert trace.give_up_s == pytest.approx(48 * HOUR)
    assert trace.status == "4.4.7"
    assert trace.warnings_s == pytest.approx([4 * HOUR])


# -- Exchange Online ----------------------------------------------------------------------------------
def test_exchange_online_gives_up_at_24h():
    """Exchange Online: expiry at exactly 24:00:00 with 4.4.7, no attempt at or after it."""
    trace = trace_schedule(get_preset("exchange-online").sender())
    assert trace.give_up_s == pytest.approx(24 * HOUR)
    assert format_hms(trace.give_up_s) == "24:00:00"
    assert trace.status == "4.4.7"
    assert trace.attempts_s[-1] < 24 * HOUR
    assert trace.warnings_s == []                # delay DSN timing undocumented for EXO


def test_exchange_online_retry_cadence():
    """Exchange Online: first retries 15 min apart, growing (never shrinking) to a 60 min cap."""
    trace = trace_schedule(get_preset("exchange-online").sender())
    gaps = np.diff(trace.attempts_s)
    assert trace.attempts_s[:4] == pytest.approx([0, 15 * MIN, 30 * MIN, 45 * MIN])
    assert np.all(np.diff(gaps) >= 0)
    assert gaps.max() == pytest.approx(60 * MIN)
    assert gaps[-1] == pytest.approx(60 * MIN)
    assert 25 <= len(trace.attempts_s) <= 30      # A.3: "roughly 25-30 attempts" in 24 h


def test_exchange_online_engine_expires_at_24h():
    """Through the engine, a 2-day 451 outage expires the message at exactly 24 h with 4.4.7."""
    result, times = run_one({"preset": "exchange-online"}, [{"start": 0, "end": "2d"}])
    # The preset's documented estimate: waits 15, 15, 15, 20, 25, 30, 40, 50, then 60 min for ever;
    # 270 + 60 k < 1440 min -> k <= 19.
    expected = [m * MIN for m in (0, 15, 30, 45, 65, 90, 120, 160, 210, 270)] + \
        [(270 + 60 * k) * MIN for k in range(1, 20)]
    assert times == pytest.approx(expected)
    m = result.messages
    assert m.outcome[0] == Outcome.EXPIRED
    assert m.final_s[0] == pytest.approx(24 * HOUR)
    assert m.status_text(0) == "4.4.7"


def test_exchange_online_message_expiration_12h_accepted():
    """MessageExpiration 12:00:00 (the tenant minimum) is accepted: give-up at 12 h."""
    sender = preset_sender(preset="exchange-online", MessageExpiration="12:00:00")
    assert sender.expiry_s == pytest.approx(12 * HOUR)
    assert trace_schedule(sender).give_up_s == pytest.approx(12 * HOUR)


def test_exchange_online_message_expiration_36h_refused():
    """MessageExpiration 1.12:00:00 (36 h) is outside the tenant range 12 h - 24 h: refused, naming both."""
    with pytest.raises(ConfigError, match=r"sender\.MessageExpiration: expected a duration >= 12h and <= 1d"):
        preset_sender(preset="exchange-online", MessageExpiration="1.12:00:00")


def test_exchange_online_message_expiration_below_12h_refused():
    """MessageExpiration 11:59:59 is below the tenant range: refused."""
    with pytest.raises(ConfigError, match=r"sender\.MessageExpiration: .*>= 12h"):
        preset_sender(preset="exchange-online", MessageExpiration="11:59:59")


def test_exchange_online_alias_accepted():
    """The on-prem name MessageExpirationTimeout is accepted as an alias of MessageExpiration."""
    sender = preset_sender(preset="exchange-online", MessageExpirationTimeout="18:00:00")
    assert sender.expiry_s == pytest.approx(18 * HOUR)


def test_exchange_online_alias_and_name_together_refused():
    """Giving both MessageExpiration and its alias is refused."""
    with pytest.raises(ConfigError, match="give only one of"):
        preset_sender(preset="exchange-online", MessageExpiration="18:00:00", MessageExpirationTimeout="20:00:00")


# -- preset names ------------------------------------------------------------------------------------
def test_unknown_preset_suggests_the_closest():
    """An unknown preset 'postfx' is a ConfigError at sender.preset suggesting 'postfix'."""
    with pytest.raises(ConfigError, match=r"sender\.preset: unknown preset 'postfx'; did you mean 'postfix'\?"):
        preset_sender(preset="postfx")


def test_get_preset_unknown_name():
    """get_preset with an unknown name raises a KeyError whose text suggests the closest name."""
    with pytest.raises(KeyError, match="did you mean 'postfix'"):
        get_preset("postfx")


def test_every_preset_builds_and_gives_up():
    """Every registered preset builds a sender from its defaults, and a never-answering recipient ends."""
    assert {"postfix", "exchange-server", "exchange-edge", "exchange-online"} <= set(mtasim.PRESETS)
    for name, preset in mtasim.PRESETS.items():
        sender = preset.sender()
        assert sender.preset == name
        trace = trace_schedule(sender)
        assert trace.give_up_s is not None
        assert trace.attempts_s[0] == 0.0
        assert np.all(np.diff(trace.attempts_s) > 0)

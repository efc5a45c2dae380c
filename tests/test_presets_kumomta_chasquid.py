"""KumoMTA and chasquid presets reproduce the worked examples and refuse bad native parameters.

KumoMTA: docs/mta-retry-facts.md §7 and the §10 row (9 attempts, expired at 85:00 with 551 5.4.7).
chasquid: §8.3 and the §10 row (63 attempts, no attempt at 20:16). Both add random jitter; the §10 rows
assume its nominal value 0, which is the draw u = 0.5 for KumoMTA (jitter = trunc(m(1 - u) - m/2)) and
u = 1 for chasquid (jitter = 60 s (1 - u)), the trace's default. Expected times are computed by hand.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from conftest import HOUR, MIN, run_one
from helpers import assert_same, both

import mtasim
from mtasim import ConfigError, Outcome, get_preset, trace_schedule
from mtasim.cli import main
from mtasim.durations import format_hms
from mtasim.presets.chasquid import ChasquidSchedule
from mtasim.presets.kumomta import KumoMTASchedule, humantime

DAY = 86400.0
REPLY_451 = "451 4.3.0 Mail server temporarily unavailable"


def nominal(k):
    """The KumoMTA draw giving zero jitter: r = 1 - u = 0.5 -> trunc(60*0.5 - 30) = 0."""
    return 0.5


def preset_sender(**sender):
    """The Sender a scenario with ``sender: {preset: ..., <native parameters>}`` produces."""
    data = {"name": "t", "messages": {"count": 1}, "recipients": [{"domain": "r.example"}],
            "sender": copy.deepcopy(sender)}
    return mtasim.scenario_from_dict(data).sender


def cli_schedule(capsys, *argv):
    assert main(["schedule", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def engines_scenario(sender, outages, count=60, end="6h", seed=5):
    return mtasim.scenario_from_dict({
        "name": "engines", "seed": seed, "sender": sender,
        "messages": {"count": count, "arrival": {"kind": "uniform", "start": 0, "end": end}},
        "recipients": [{"domain": "down.example", "outages": outages}, {"domain": "up.example", "share": 0.3}],
    })


def vectorised_matches_scalar(schedule):
    rng = np.random.default_rng(7)
    k = rng.integers(1, 40, 2000)
    age = np.concatenate([rng.uniform(0, 2000, 1000), rng.choice([59.999, 60.0, 300.0, 600.0, 0.0], 1000)])
    u = np.concatenate([rng.uniform(1e-9, 1, 1990), [0.5, 1.0, 0.25, 1e-9, 0.75, 0.5, 1.0, 0.5, 0.3, 0.9]])
    vec = schedule.waits(k, age, u, np.zeros(len(k), dtype=bool))
    scalar = [schedule.wait_after(int(k[i]), float(age[i]), float(u[i]), False) for i in range(len(k))]
    assert vec.tolist() == scalar


# == KumoMTA ==========================================================================================
# §10: waits 20 min * 2**n for n = 0, 1, ... (no cap): attempts at 0, 20, 60, 140, 300, 620, 1260, 2540,
# 5100 min (= 85:00). After the 85:00 failure the next wait is 20 * 2**8 = 5120 min (85:20), due age
# 10220 min > 7 d = 10080 min, so the message expires at once, at 85:00.
KUMO_MINUTES = [0, 20, 60, 140, 300, 620, 1260, 2540, 5100]


def test_kumomta_worked_example_row():
    """KumoMTA §10 with nominal jitter: 9 attempts 0:00 ... 85:00, expired at 85:00 with 5.4.7, no warnings."""
    trace = trace_schedule(get_preset("kumomta").sender(), draw=nominal)
    assert len(trace.attempts_s) == 9
    assert trace.attempts_s == pytest.approx([m * MIN for m in KUMO_MINUTES])
    assert [format_hms(t) for t in trace.attempts_s] == [
        "0:00:00", "0:20:00", "1:00:00", "2:20:00", "5:00:00", "10:20:00", "21:00:00", "42:20:00", "85:00:00"]
    assert trace.give_up_s == pytest.approx(85 * HOUR)
    assert trace.status == "5.4.7"
    assert trace.warnings_s == []


def test_kumomta_expiry_reply_and_humantime():
    """The Expiration record reads 551 5.4.7 ... max_age=7days; max_age is written in humantime's style."""
    reply = get_preset("kumomta").sender().expiry_reply
    assert reply == "551 5.4.7 Next delivery time would be … after creation, which exceeds max_age=7days"
    assert humantime(604800) == "7days"
    assert humantime(170 * HOUR + 20 * MIN) == "7days 2h 20m"     # the §10 due age: 85:00 + 85:20
    assert humantime(DAY) == "1day"
    assert humantime(0) == "0s"
    assert humantime(90) == "1m 30s"
    assert humantime(31_557_600 + 2 * 2_630_016) == "1year 2months"


def test_kumomta_next_wait_boundary_is_strict():
    """Expire only when age + delay > max_age: a due age equal to max_age (170:20) is still scheduled."""
    # max_age 170:20 = the due age after the 85:00 failure: kept; one second less: expired at 85:00.
    keep = trace_schedule(preset_sender(preset="kumomta", max_age=170 * HOUR + 20 * MIN), draw=nominal)
    assert keep.attempts_s == pytest.approx([m * MIN for m in KUMO_MINUTES + [10220]])
    assert keep.give_up_s == pytest.approx(10220 * MIN)          # next wait 20 * 2**9 min is far beyond
    cut = trace_schedule(preset_sender(preset="kumomta", max_age=170 * HOUR + 20 * MIN - 1), draw=nominal)
    assert cut.attempts_s == pytest.approx([m * MIN for m in KUMO_MINUTES])
    assert cut.give_up_s == pytest.approx(85 * HOUR)


def test_kumomta_jitter_extremes():
    """u = 1 (r = 0) gives jitter trunc(-30) = -30 s on every wait; u = 0.25 gives +15 s; u -> 0 gives +29 s."""
    early = trace_schedule(get_preset("kumomta").sender(), draw=lambda k: 1.0)
    assert early.attempts_s == pytest.approx([m * MIN - 30 * i for i, m in enumerate(KUMO_MINUTES)])
    assert early.give_up_s == pytest.approx(5100 * MIN - 240)
    late = trace_schedule(get_preset("kumomta").sender(), draw=lambda k: 0.25, until_s=3 * HOUR)
    assert late.attempts_s == pytest.approx([m * MIN + 15 * i for i, m in enumerate(KUMO_MINUTES[:4])])
    schedule = get_preset("kumomta").sender().schedule
    assert schedule.wait_after(1, 0.0, 1e-9, False) == 1200 + 29


def test_kumomta_jitter_magnitude_follows_retry_interval():
    """retry_interval 2m: m = 120/20 = 6 s, so u = 1 shortens each wait by 3 s: waits 117, 237, 477 s."""
    trace = trace_schedule(preset_sender(preset="kumomta", retry_interval="2m"), draw=lambda k: 1.0, until_s=900)
    assert trace.attempts_s == pytest.approx([0, 117, 354, 831])


def test_kumomta_max_retry_interval_caps_and_boundary():
    """max_retry_interval 1h caps the waits at 60 min; a try whose due age is exactly max_age still happens."""
    # waits 20, 40, then 60 min: 0, 0:20, 1:00, 2:00, ...; the 167:00 failure is due at 168:00 = 7 d (not >),
    # so 168:00 is tried too, and its failure (due 169:00) expires it: 2 + 168 attempts.
    trace = trace_schedule(preset_sender(preset="kumomta", max_retry_interval="1h"), draw=nominal)
    assert trace.attempts_s == pytest.approx([0, 20 * MIN] + [HOUR * k for k in range(1, 169)])
    assert trace.give_up_s == pytest.approx(7 * DAY)


def test_kumomta_timer_wheel_tick_when_modelled():
    """timerwheel_tick_interval: a due message is tried at the first tick (phase + k * tick) at or after due."""
    # +15 s jitter (u = 0.25): due 20:15 -> tick 21:00; 21:00 + 40:15 = 61:15 -> 62:00; 62:00 + 80:15 = 142:15
    # -> 143:00. Ticks at :30 (queue_run_phase 30s): 20:15 -> 20:30; 20:30 + 40:15 = 60:45 -> 61:30;
    # 61:30 + 80:15 = 141:45 -> 142:30.
    sender = preset_sender(preset="kumomta", timerwheel_tick_interval="60s")
    trace = trace_schedule(sender, draw=lambda k: 0.25, until_s=3 * HOUR)
    assert trace.attempts_s == pytest.approx([0, 1260, 3720, 8580])
    shifted = preset_sender(preset="kumomta", timerwheel_tick_interval="60s", queue_run_phase="30s")
    trace = trace_schedule(shifted, draw=lambda k: 0.25, until_s=3 * HOUR)
    assert trace.attempts_s == pytest.approx([0, 1230, 3690, 8550])


def test_kumomta_tick_does_not_move_nominal_row():
    """Nominal due times are whole minutes, so 60 s ticks aligned with arrival leave the §10 row unchanged."""
    trace = trace_schedule(preset_sender(preset="kumomta", timerwheel_tick_interval="1m"), draw=nominal)
    assert trace.attempts_s == pytest.approx([m * MIN for m in KUMO_MINUTES])
    assert trace.give_up_s == pytest.approx(85 * HOUR)


def test_kumomta_cli_waits_stay_in_the_jitter_band(capsys):
    """`mtasim schedule kumomta` draws seeded jitter: each wait is 20 min * 2**n plus a whole -30..+29 s."""
    out = cli_schedule(capsys, "kumomta")
    waits = np.diff(out["attempts_s"])
    offsets = waits - np.array([1200.0 * 2 ** n for n in range(len(waits))])
    assert np.all((offsets >= -30) & (offsets <= 29)) and np.all(offsets == np.round(offsets))
    assert out["give_up_s"] == out["attempts_s"][-1]
    assert out["status"] == "5.4.7"
    assert out["delay_warnings_s"] == []


def test_kumomta_retry_interval_zero_refused():
    """retry_interval 0 is refused with the range."""
    with pytest.raises(ConfigError, match=r"sender\.retry_interval: expected a duration >= 1s"):
        preset_sender(preset="kumomta", retry_interval=0)


def test_kumomta_schedule_kind_in_a_custom_sender():
    """`schedule: {kind: kumomta, retry_interval: 10m, max_retry_interval: 1h}` names the registered kind."""
    sc = mtasim.scenario_from_dict({
        "name": "t", "messages": {"count": 1}, "recipients": [{"domain": "r.example"}],
        "sender": {"schedule": {"kind": "kumomta", "retry_interval": "10m", "max_retry_interval": "1h"},
                   "expiry": "2d", "give_up": "next-wait"}})
    assert sc.sender.schedule == KumoMTASchedule(600.0, 3600.0)
    assert KumoMTASchedule(1200.0).max_retry_interval_s == math.inf


def test_kumomta_vectorised_waits_equal_scalar_waits():
    """KumoMTASchedule.waits is wait_after element by element, bit for bit (capped and uncapped)."""
    vectorised_matches_scalar(KumoMTASchedule(1200.0))
    vectorised_matches_scalar(KumoMTASchedule(120.0, 3600.0))


def test_kumomta_engines_agree():
    """DES and fast engine agree message by message for KumoMTA (jittered), with and without the tick."""
    outages = [{"start": 0, "end": "30h", "failure": "timeout"}, {"start": "30h", "end": "3d", "failure": REPLY_451}]
    for extra in ({}, {"timerwheel_tick_interval": "1m", "queue_run_phase": "17s"}):
        des, quick = both(engines_scenario({"preset": "kumomta", "max_age": "2d", **extra}, outages))
        assert set(des.messages.outcome) >= {Outcome.EXPIRED, Outcome.DELIVERED}
        assert_same(des, quick)


# == chasquid =========================================================================================
# §10: waits by age at the failure: 0:00 (age 0 < 1m) -> 1 min; 0:01 (age 60, not < 60) -> 5 min; 0:06
# (< 10m) -> 10 min; 0:16 and later -> 20 min. 0:16 + 20 k < 20:00 -> k <= 59 (19:56); the round due at 20:16
# finds age >= 20 h and gives up without attempting: 3 + 60 = 63 attempts.
CHASQUID_ATTEMPTS = [0.0, 60.0, 360.0] + [960.0 + 1200.0 * k for k in range(60)]


def test_chasquid_worked_example_row():
    """chasquid §10 with nominal jitter (u = 1): 63 attempts to 19:56, gives up at 20:16 with 4.0.0, no warnings."""
    trace = trace_schedule(get_preset("chasquid").sender())
    assert len(trace.attempts_s) == 63
    assert trace.attempts_s == pytest.approx(CHASQUID_ATTEMPTS)
    assert [format_hms(t) for t in trace.attempts_s[:5]] == ["0:00:00", "0:01:00", "0:06:00", "0:16:00", "0:36:00"]
    assert format_hms(trace.attempts_s[-1]) == "19:56:00"
    assert trace.give_up_s == pytest.approx(20 * HOUR + 16 * MIN)
    assert trace.status == "4.0.0"
    assert trace.warnings_s == []


def test_chasquid_age_buckets_are_strict():
    """nextDelay: age < 1m -> 1m, < 5m -> 5m, < 10m -> 10m, else 20m (an age equal to a bound takes the next)."""
    s = ChasquidSchedule()
    cases = [(0.0, 60), (59.999, 60), (60.0, 300), (299.999, 300), (300.0, 600), (599.999, 600), (600.0, 1200),
             (1e6, 1200)]
    assert [s.wait_after(1, age, 1.0, False) for age, _ in cases] == [float(w) for _, w in cases]
    assert s.wait_after(1, 0.0, 0.5, False) == 90.0


def test_chasquid_jitter_shifts_buckets():
    """u = 0.5 adds 30 s: 0 -> 1:30 (age 90: 5 min) -> 7:00 (age 420: 10 min) -> 17:30 -> +20:30 ..."""
    trace = trace_schedule(get_preset("chasquid").sender(), draw=lambda k: 0.5, until_s=40 * MIN)
    assert trace.attempts_s == pytest.approx([0, 90, 420, 1050, 2280])


def test_chasquid_before_attempt_boundary():
    """No round at or after give_up_send_after: a round exactly at the deadline (19:56) gives up without attempting."""
    # give_up_send_after 19:56 -> 62 attempts, give-up at 19:56; 19:56:01 -> 19:56 is attempted, give-up 20:16.
    exact = trace_schedule(preset_sender(preset="chasquid", give_up_send_after=1196 * MIN))
    assert exact.attempts_s == pytest.approx(CHASQUID_ATTEMPTS[:-1])
    assert exact.give_up_s == pytest.approx(1196 * MIN)
    later = trace_schedule(preset_sender(preset="chasquid", give_up_send_after=1196 * MIN + 1))
    assert later.attempts_s == pytest.approx(CHASQUID_ATTEMPTS)
    assert later.give_up_s == pytest.approx(1216 * MIN)


def test_chasquid_give_up_override():
    """give_up_send_after 1h: tries 0:00, 0:01, 0:06, 0:16, 0:36, 0:56; the 1:16 round gives up."""
    trace = trace_schedule(preset_sender(preset="chasquid", give_up_send_after="1h"))
    assert trace.attempts_s == pytest.approx([0, 60, 360, 960, 2160, 3360])
    assert trace.give_up_s == pytest.approx(4560.0)


def test_chasquid_engine_gives_up_without_attempting():
    """Through the engine (seeded jitter): no attempt at or after 20 h, expired at a round time >= 20 h, 4.0.0."""
    result, times = run_one({"preset": "chasquid"}, [{"start": 0, "end": "2d", "failure": "refused"}])
    m = result.messages
    assert m.outcome[0] == Outcome.EXPIRED and m.status_text(0) == "4.0.0"
    assert max(times) < 20 * HOUR <= m.final_s[0] < max(times) + 21 * MIN


def test_chasquid_cli_waits_stay_in_the_jitter_band(capsys):
    """`mtasim schedule chasquid`: each wait is its age bucket's wait plus 0..60 s; nothing at or after 20 h."""
    out = cli_schedule(capsys, "chasquid")
    t = np.array(out["attempts_s"])
    s = ChasquidSchedule()
    buckets = np.array([s.wait_after(1, age, 1.0, False) for age in t[:-1]])
    extra = np.diff(t) - buckets
    assert np.all((extra >= 0) & (extra < 60))
    assert t[-1] < 20 * HOUR <= out["give_up_s"]
    assert out["status"] == "4.0.0"


def test_chasquid_give_up_zero_refused():
    """give_up_send_after 0 (chasquid would make no attempt at all) is refused with the range."""
    with pytest.raises(ConfigError, match=r"sender\.give_up_send_after: expected a duration >= 1s"):
        preset_sender(preset="chasquid", give_up_send_after=0)


def test_chasquid_schedule_kind_has_no_keys():
    """`schedule: {kind: chasquid}` is the hard-coded schedule; any key is refused."""
    base = {"name": "t", "messages": {"count": 1}, "recipients": [{"domain": "r.example"}]}
    sc = mtasim.scenario_from_dict({**base, "sender": {"schedule": {"kind": "chasquid"}, "expiry": "1h"}})
    assert sc.sender.schedule == ChasquidSchedule()
    with pytest.raises(ConfigError, match=r"sender\.schedule\.interval: unknown key"):
        mtasim.scenario_from_dict({**base, "sender": {"schedule": {"kind": "chasquid", "interval": "1m"},
                                                      "expiry": "1h"}})


def test_chasquid_vectorised_waits_equal_scalar_waits():
    """ChasquidSchedule.waits is wait_after element by element, bit for bit, including the bucket bounds."""
    vectorised_matches_scalar(ChasquidSchedule())


def test_chasquid_engines_agree():
    """DES and fast engine agree message by message for chasquid (jittered waits, before-attempt give-up)."""
    sc = engines_scenario({"preset": "chasquid", "give_up_send_after": "8h"},
                          [{"start": "20m", "end": "9h", "failure": "timeout"},
                           {"start": "9h", "end": "13h", "failure": REPLY_451}])
    des, quick = both(sc)
    assert set(des.messages.outcome) >= {Outcome.EXPIRED, Outcome.DELIVERED}
    assert_same(des, quick)

"""Delivery-vs-expiry curves: hand-computed step functions, single-run == explicit, series, intervals, CLI."""

from __future__ import annotations

import csv
import itertools
import json
import math
import re

import numpy as np
import pytest
from conftest import HOUR, MIN, scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mtasim
from mtasim import ConfigError
from mtasim.cli import main
from mtasim.curve import confidence_interval, expiry_curve, series_scenarios

# -- a hand-computable scenario -------------------------------------------------------------------------
# Fixed 1 h retries, one outage [0, 10h): a message arriving at a < 10h fails at a, a+1h, ... while the
# attempt is inside the outage, i.e. n(a) = ceil((10h - a) / 1h) times, and the next attempt (age n*1h)
# delivers. Arrivals at or after 10h deliver at once (n = 0).
OUTAGE_END = 10 * HOUR
ARRIVALS = [0, 30 * MIN, HOUR, 2.5 * HOUR, 4 * HOUR, 7.25 * HOUR, 9.5 * HOUR, 10 * HOUR - 1, 10 * HOUR, 12 * HOUR]
EXPIRIES = [1, 30 * MIN, HOUR, HOUR + 1, 2 * HOUR, 3 * HOUR, 5 * HOUR, 8 * HOUR, 9 * HOUR, 9 * HOUR + 1,
            10 * HOUR - 1, 10 * HOUR, 10 * HOUR + 1, 12 * HOUR]


def failures(a: float) -> int:
    return math.ceil((OUTAGE_END - a) / HOUR) if a < OUTAGE_END else 0


def delivers_by_hand(rule: str, a: float, expiry: float) -> bool:
    """The give-up rules of README, Semantics, rule 4 applied to the attempts listed above."""
    n = failures(a)
    if n == 0:
        return True                                   # the first attempt is always made and delivers
    if rule == "last-attempt":                        # every failure age (0 .. (n-1)h) must be < E
        return (n - 1) * HOUR < expiry
    if rule == "at-deadline":                         # the delivering attempt (age n h) must be made
        return n * HOUR < expiry
    assert rule == "next-wait"                        # every due age (1h .. n h) must be <= E
    return n * HOUR <= expiry


def hand_scenario(rule: str, expiry: str = "12h", **sender_extra):
    sender = {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": expiry, "give_up": rule, **sender_extra}
    return scenario(sender, [{"start": 0, "end": "10h"}],
                    {"arrival": {"kind": "times", "times": ARRIVALS}})


def counts_by_point(curve):
    return {(p.series, p.expiry_s): (p.delivered, p.expired, p.bounced, p.queued, p.messages) for p in curve.points}


# -- (1) the step function ------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["single-run", "explicit"])
@pytest.mark.parametrize("rule", ["last-attempt", "at-deadline", "next-wait"])
def test_curve_is_the_hand_computed_step_function(rule, method):
    """Delivered at E = number of messages whose give-up rule lets them reach the delivering attempt."""
    curve = expiry_curve(hand_scenario(rule), EXPIRIES, method=method)
    assert [p.expiry_s for p in curve.points] == sorted(EXPIRIES)
    for p in curve.points:
        expected = sum(delivers_by_hand(rule, a, p.expiry_s) for a in ARRIVALS)
        assert p.delivered == expected, f"{rule}/{method} E={p.expiry_s:g}s: expected {expected} delivered, got {p.delivered}"
        assert p.expired == len(ARRIVALS) - expected, f"E={p.expiry_s:g}: expected {len(ARRIVALS) - expected} expired, got {p.expired}"
        assert (p.bounced, p.queued, p.messages) == (0, 0, len(ARRIVALS)), f"E={p.expiry_s:g}: got {p}"
        assert p.fraction == pytest.approx(expected / len(ARRIVALS)), f"E={p.expiry_s:g}: fraction {p.fraction}"


def test_hand_step_function_boundaries_spelled_out():
    """Messages at 0 and 30m (10 failures each): last-attempt needs E > 9h, at-deadline E > 10h, next-wait E >= 10h."""
    sc = {rule: hand_scenario(rule) for rule in ("last-attempt", "at-deadline", "next-wait")}
    n = len(ARRIVALS)
    # message at 0: failures at 0..9h, delivering attempt at 10h; at 30m: failures at 30m..9h30m, delivery
    # at 10h30m -- both: last failure age 9h, delivering attempt (and last due) age 10h. All others need less.
    expected = {
        ("last-attempt", 9 * HOUR): n - 2, ("last-attempt", 9 * HOUR + 1): n,
        ("at-deadline", 10 * HOUR): n - 2, ("at-deadline", 10 * HOUR + 1): n,
        ("next-wait", 10 * HOUR - 1): n - 2, ("next-wait", 10 * HOUR): n,
    }
    for (rule, e), want in expected.items():
        got = expiry_curve(sc[rule], [e]).points[0].delivered
        assert got == want, f"{rule} at E={e:g}s: expected {want} delivered, got {got}"


# -- (2) single-run == explicit ------------------------------------------------------------------------
def assert_methods_agree(sc, expiries, replications=1, series=None):
    single = expiry_curve(sc, expiries, method="single-run", replications=replications, series=series)
    explicit = expiry_curve(sc, expiries, method="explicit", replications=replications, series=series)
    a, b = counts_by_point(single), counts_by_point(explicit)
    assert a.keys() == b.keys()
    diff = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    assert not diff, f"(delivered, expired, bounced, queued, messages) single-run vs explicit differ at {diff}"


DETERMINISTIC = {
    "last-attempt": {"sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "12h"}},
    "at-deadline": {"sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "12h",
                                "give_up": "at-deadline"}},
    "next-wait": {"sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "12h",
                              "give_up": "next-wait"}},
    "queue-run-last-attempt": {"sender": {"schedule": {"kind": "exponential", "first": "5m", "factor": 2,
                                                        "max": "1h"},
                                           "expiry": "12h", "queue_run": "5m", "queue_run_phase": "2m"}},
    "queue-run-at-deadline": {"sender": {"schedule": {"kind": "fixed", "interval": "25m"}, "expiry": "12h",
                                          "give_up": "at-deadline", "queue_run": "10m"}},
    "queue-run-next-wait": {"sender": {"schedule": {"kind": "exponential", "first": "5m", "factor": 2,
                                                     "max": "1h"},
                                        "expiry": "12h", "give_up": "next-wait", "queue_run": "15m"}},
    "bounce-last-attempt": {"sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "12h"},
                                "bounce": True},
    "bounce-at-deadline": {"sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "12h",
                                       "give_up": "at-deadline"}, "bounce": True},
    "bounce-next-wait": {"sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "12h",
                                     "give_up": "next-wait"}, "bounce": True},
    "timeout-last-attempt": {"sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "12h"},
                                 "failure": "timeout"},
    "timeout-at-deadline": {"sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "12h",
                                        "give_up": "at-deadline"}, "failure": "timeout"},
    "timeout-next-wait": {"sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "12h",
                                      "give_up": "next-wait"}, "failure": "timeout"},
}
DETERMINISTIC_EXPIRIES = [30, 30 * MIN, HOUR, HOUR + 30, 2 * HOUR, 3 * HOUR + 1, 4 * HOUR, 6 * HOUR, 7 * HOUR,
                          8 * HOUR - 1, 9 * HOUR, 10 * HOUR, 11 * HOUR + 30, 14 * HOUR, 2 * 86400]


@pytest.mark.parametrize("name", list(DETERMINISTIC))
def test_single_run_equals_explicit_deterministic(name):
    """For deterministic scenarios one long run gives exactly the counts of one run per expiry."""
    spec = DETERMINISTIC[name]
    failure = spec.get("failure", "451 4.3.0 Try again later")
    outages = [{"start": "1h", "end": "8h", "failure": failure}]
    if spec.get("bounce"):
        outages = [{"start": 0, "end": "3h", "failure": "451 4.3.0 later"},
                   {"start": "3h", "end": "5h", "failure": "550 5.1.1 No such user"},
                   {"start": "5h", "end": "9h", "failure": "421 4.4.2 busy"}]
    times = [i * 17 * MIN for i in range(40)]           # 0 .. 11h03m, every 17 min: many phases
    sc = scenario(spec["sender"], outages, {"arrival": {"kind": "times", "times": times}})
    assert_methods_agree(sc, DETERMINISTIC_EXPIRIES)
    if spec.get("bounce"):
        last = expiry_curve(sc, [2 * 86400]).points[0]
        assert last.bounced > 0, f"expected some bounces in the 5xx scenario, got {last}"


RANDOM_BASE = {
    "name": "random", "seed": 11,
    "messages": {"arrival": {"kind": "poisson", "rate": "40/h", "start": 0, "end": "6h"}},
}


def random_scenario(give_up, schedule=None, recipients=None, messages=None, queue_run=None, seed=11):
    sender = {"schedule": schedule or {"kind": "exponential", "first": "5m", "factor": 2, "max": "2h",
                                       "jitter": "full"},
              "expiry": "3d", "give_up": give_up}
    if queue_run:
        sender["queue_run"] = queue_run
    data = {"name": "random", "seed": seed, "sender": sender,
            "messages": messages or RANDOM_BASE["messages"],
            "recipients": recipients or [{"domain": "r.example", "outages": [{"start": "1h", "end": "9h"}]}]}
    return mtasim.scenario_from_dict(data)


LOGNORMAL_RECIPIENTS = [{"domain": "p.example", "domains": 50,
                         "random_outage": {"start": {"kind": "uniform", "min": 0, "max": "6h"},
                                           "duration": {"kind": "lognormal", "median": "2h", "sigma": 1.2}}}]
RANDOM_EXPIRIES = [HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 18 * HOUR, 86400, 2 * 86400]


@pytest.mark.parametrize("rule", ["last-attempt", "at-deadline", "next-wait"])
def test_single_run_equals_explicit_jitter_poisson(rule):
    """Exponential full-jitter retries, poisson arrivals, 3 replications: identical counts either way."""
    assert_methods_agree(random_scenario(rule), RANDOM_EXPIRIES, replications=3)


@pytest.mark.parametrize("rule", ["last-attempt", "at-deadline", "next-wait"])
def test_single_run_equals_explicit_lognormal_random_outages(rule):
    """Lognormal random outages over 50 domains, 3 replications: identical counts either way."""
    sc = random_scenario(rule, recipients=LOGNORMAL_RECIPIENTS,
                         messages={"count": 150, "arrival": {"kind": "uniform", "start": 0, "end": "6h"}})
    assert_methods_agree(sc, RANDOM_EXPIRIES, replications=3)


@pytest.mark.parametrize("rule", ["last-attempt", "at-deadline", "next-wait"])
def test_single_run_equals_explicit_fixed_schedule_uniform_arrivals(rule):
    """Fixed 15 min retries with uniform (fractional) arrivals and whole-hour expiries: attempt ages land on E."""
    sc = random_scenario(rule, schedule={"kind": "fixed", "interval": "15m"},
                         messages={"count": 400, "arrival": {"kind": "uniform", "start": 0, "end": "12h"}},
                         recipients=[{"domain": "r.example", "outages": [{"start": "2h", "end": "20h"}]}])
    assert_methods_agree(sc, [h * HOUR for h in (1, 2, 4, 6, 8, 12, 18, 24)], replications=3)


@st.composite
def small_scenarios(draw):
    rule = draw(st.sampled_from(["last-attempt", "at-deadline", "next-wait"]))
    kind = draw(st.sampled_from(["fixed", "exponential"]))
    if kind == "fixed":
        schedule = {"kind": "fixed", "interval": draw(st.sampled_from([600, 1800, 3600, 5400]))}
    else:
        schedule = {"kind": "exponential", "first": draw(st.sampled_from([60, 300, 900])),
                    "factor": draw(st.sampled_from([1.5, 2, 3])), "max": draw(st.sampled_from([1800, 3600, 7200])),
                    "jitter": draw(st.sampled_from(["none", "full", "equal"]))}
    sender = {"schedule": schedule, "expiry": "4d", "give_up": rule}
    if draw(st.booleans()):
        sender["queue_run"] = draw(st.sampled_from([300, 900, 1800]))
        sender["queue_run_phase"] = draw(st.sampled_from([0, 60, 200]))
    outages, t = [], 0.0
    for _ in range(draw(st.integers(1, 3))):
        start = t + draw(st.integers(0, 6)) * 1800
        end = start + draw(st.integers(1, 20)) * 1800
        failure = draw(st.sampled_from(["451 4.3.0 later", "refused", "timeout", "550 5.1.1 no"]))
        outages.append({"start": start, "end": end, "failure": failure})
        t = end
    times = draw(st.lists(st.one_of(st.integers(0, 12 * 3600), st.floats(0, 12 * 3600)), min_size=1, max_size=12))
    # whole multiples of 5 min hit the attempt and due ages of the fixed schedules exactly
    expiries = draw(st.lists(st.one_of(st.integers(1, 480).map(lambda k: k * 300.0),
                                       st.floats(1, 40 * 3600)), min_size=1, max_size=5))
    data = {"name": "h", "seed": draw(st.integers(0, 1000)), "sender": sender,
            "messages": {"arrival": {"kind": "times", "times": times}},
            "recipients": [{"domain": "r.example", "outages": outages}]}
    return mtasim.scenario_from_dict(data), expiries


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_scenarios())
def test_single_run_equals_explicit_property(case):
    """Property: over generated small scenarios the single-run curve equals the explicit one at every E."""
    sc, expiries = case
    assert_methods_agree(sc, expiries)


# -- (3) monotonicity -----------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", ["last-attempt", "at-deadline", "next-wait"])
def test_curve_never_decreases_with_expiry(rule):
    """Delivered (and the fraction) never decrease as the expiry window grows, per series."""
    sc = random_scenario(rule, recipients=LOGNORMAL_RECIPIENTS,
                         messages={"count": 200, "arrival": {"kind": "uniform", "start": 0, "end": "6h"}})
    expiries = [k * 1800.0 for k in range(1, 97)]
    for method in ("single-run", "explicit") if rule == "last-attempt" else ("single-run",):
        curve = expiry_curve(sc, expiries, replications=2, method=method,
                             series="outage=2h,12h" if method == "single-run" else None)
        for label, pts in curve.series().items():
            for before, after in itertools.pairwise(pts):
                assert after.delivered >= before.delivered, (
                    f"{label}/{method}: delivered fell from {before.delivered} at {before.expiry_s:g}s "
                    f"to {after.delivered} at {after.expiry_s:g}s")
                assert after.fraction >= before.fraction - 1e-12, f"{label}: fraction fell at {after.expiry_s:g}s"


# -- (4) series ------------------------------------------------------------------------------------------
def test_series_preset_labels():
    """--series preset=a,b gives one series per preset, labelled by the preset name, in that order."""
    sc = scenario(outages=[{"start": 0, "end": "3h"}], messages={"count": 5})
    curve = expiry_curve(sc, [HOUR, 86400], series="preset=postfix,exchange-online")
    assert list(curve.series()) == ["postfix", "exchange-online"], f"got labels {list(curve.series())}"
    assert curve.series_kind == "preset", f"expected kind preset, got {curve.series_kind}"
    _kind, scs = series_scenarios(sc, "preset=postfix,exchange-online")
    assert [s.sender.preset for s in scs.values()] == ["postfix", "exchange-online"], \
        f"expected the presets applied, got {[s.sender.preset for s in scs.values()]}"


def test_series_outage_lengthens_first_outage():
    """outage=D sets outages[0].end to start + D; the curve is the hand answer for each length."""
    sc = scenario(outages=[{"start": "2h", "end": "4h"}, {"start": "20h", "end": "21h"}],
                  messages={"count": 3, "arrival": {"kind": "at", "time": "2h"}})
    kind, scs = series_scenarios(sc, "outage=3h,6h")
    assert kind == "outage" and list(scs) == ["outage=3h", "outage=6h"], f"got {kind}, {list(scs)}"
    for label, d in (("outage=3h", 3 * HOUR), ("outage=6h", 6 * HOUR)):
        o = scs[label].recipients[0].outages
        assert (o[0].start_s, o[0].end_s) == (2 * HOUR, 2 * HOUR + d), \
            f"{label}: expected outages[0] = [2h, {2 + d / HOUR:g}h), got [{o[0].start_s}, {o[0].end_s})"
        assert (o[1].start_s, o[1].end_s) == (20 * HOUR, 21 * HOUR), f"{label}: outages[1] changed to {o[1]}"
    # messages at 2h with 1 h retries fail at 2h, 3h, ... until 2h + D: last failure age D - 1h (last-attempt)
    expiries = [2 * HOUR, 2 * HOUR + 1, 5 * HOUR, 5 * HOUR + 1]
    curve = expiry_curve(sc, expiries, series="outage=3h,6h")
    got = {label: [p.delivered for p in pts] for label, pts in curve.series().items()}
    assert got == {"outage=3h": [0, 3, 3, 3], "outage=6h": [0, 0, 0, 3]}, f"expected hand answer, got {got}"


def test_series_outage_fixes_random_outage_duration():
    """outage=D on a random outage fixes its duration to D (start still drawn)."""
    sc = random_scenario("last-attempt", recipients=LOGNORMAL_RECIPIENTS)
    _, scs = series_scenarios(sc, "outage=90m")
    dist = scs["outage=90m"].recipients[0].random_outage.duration
    assert (dist.kind, dist.a) == ("fixed", 5400.0), f"expected a fixed 5400 s duration, got {dist}"


def test_series_outage_without_outages_is_config_error():
    """--series outage=... on a scenario whose recipients have no outage is a ConfigError."""
    sc = scenario(messages={"count": 2})
    with pytest.raises(ConfigError, match="no recipient has an outage"):
        expiry_curve(sc, [HOUR], series="outage=2h")


@pytest.mark.parametrize("spec", ["colour=red", "preset=", "preset=postfx", "outage=abc", "outage", "outage=-1h"])
def test_bad_series_is_config_error(spec):
    """A --series spec that is not preset=NAME,... or outage=DURATION,... is a ConfigError."""
    sc = scenario(outages=[{"start": 0, "end": "3h"}], messages={"count": 2})
    with pytest.raises(ConfigError):
        expiry_curve(sc, [HOUR], series=spec)


def test_give_up_attempts_is_refused():
    """An expiry curve of a sender that gives up after N attempts is a ConfigError."""
    sc = scenario({"schedule": {"kind": "fixed", "interval": "1h"}, "give_up": "attempts", "max_attempts": 3},
                  messages={"count": 2})
    with pytest.raises(ConfigError, match="give_up"):
        expiry_curve(sc, [HOUR])


# -- (5) confidence intervals ----------------------------------------------------------------------------
@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (8, 10), (10, 10), (1, 1), (499, 1000)])
def test_wilson_interval_one_replication(k, n):
    """One replication: the Wilson score interval, which contains k/n and lies within [0, 1]."""
    frac, low, high = confidence_interval(np.array([k]), np.array([n]))
    assert frac == pytest.approx(k / n), f"expected fraction {k / n}, got {frac}"
    assert 0.0 <= low <= frac <= high <= 1.0, f"expected 0 <= {low} <= {frac} <= {high} <= 1"
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert low == pytest.approx(max(0.0, centre - half), abs=1e-12), f"expected low {centre - half}, got {low}"
    assert high == pytest.approx(min(1.0, centre + half), abs=1e-12), f"expected high {centre + half}, got {high}"


def test_wilson_interval_known_value():
    """Wilson 95 % for 8/10 is about [0.490, 0.943] (textbook value)."""
    _, low, high = confidence_interval(np.array([8]), np.array([10]))
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943), f"expected (0.490, 0.943), got ({low:.4f}, {high:.4f})"


def test_t_interval_several_replications():
    """Several replications: mean of per-replication fractions +- t(0.975, r-1) * s / sqrt(r), clipped to [0, 1]."""
    frac, low, high = confidence_interval(np.array([5, 6, 7]), np.array([10, 10, 10]))
    # fractions 0.5, 0.6, 0.7: mean 0.6, s = 0.1, t(0.975, 2) = 4.303
    half = 4.303 * 0.1 / math.sqrt(3)
    assert frac == pytest.approx(0.6), f"expected 0.6, got {frac}"
    assert (low, high) == (pytest.approx(0.6 - half, abs=1e-9), pytest.approx(0.6 + half, abs=1e-9)), \
        f"expected ({0.6 - half:.4f}, {0.6 + half:.4f}), got ({low:.4f}, {high:.4f})"
    frac, low, high = confidence_interval(np.array([5, 7, 9]), np.array([10, 10, 10]))
    assert (frac, high) == (pytest.approx(0.7), 1.0), f"expected mean 0.7 and high clipped to 1, got {frac}, {high}"
    assert low == pytest.approx(0.7 - 4.303 * 0.2 / math.sqrt(3)), f"got low {low}"
    frac, low, high = confidence_interval(np.array([4, 4]), np.array([8, 8]))
    assert (frac, low, high) == (0.5, 0.5, 0.5), f"identical replications: expected a zero-width interval, got {(frac, low, high)}"


def test_curve_points_carry_t_interval_with_replications():
    """A curve over several replications reports the mean fraction inside [ci_low, ci_high] within [0, 1]."""
    curve = expiry_curve(random_scenario("last-attempt"), [3 * HOUR, 86400], replications=4)
    for p in curve.points:
        assert 0 <= p.ci_low <= p.fraction <= p.ci_high <= 1, f"interval out of order at {p}"


# -- (6) CLI ---------------------------------------------------------------------------------------------
HAND_YAML = """\
name: hand
seed: 1
sender: {schedule: {kind: fixed, interval: 1h}, expiry: 12h, give_up: last-attempt}
messages: {arrival: {kind: times, times: [0, 1h, 2h, 3h, 4h, 5h, 6h, 7h, 8h, 9h]}}
recipients:
  - domain: r.example
    outages: [{start: 0h, end: 10h}]
"""


@pytest.fixture
def hand_file(tmp_path):
    path = tmp_path / "hand.yaml"
    path.write_text(HAND_YAML, encoding="utf-8")
    return path


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
CURVE_HEADER = ["series", "expiry_s", "delivered", "expired", "bounced", "queued", "messages", "fraction",
                "ci_low", "ci_high"]


def test_cli_curve_writes_csv_json_png(capsys, hand_file, tmp_path):
    """`mtasim curve` writes curve.csv (plain numbers, hand-checked counts), curve.json and curve.png."""
    out = tmp_path / "out"
    code, _stdout, err = run_cli(capsys, "curve", hand_file, "--expiry", "1h..10h/1h", "--out", out)
    assert code == 0, f"expected exit 0, got {code}: {err}"
    with open(out / "curve.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == CURVE_HEADER, f"expected header {CURVE_HEADER}, got {rows[0]}"
    assert len(rows) == 11, f"expected 10 points + header, got {len(rows)} rows"
    for row in rows[1:]:
        assert len(row) == len(CURVE_HEADER), f"row {row} has {len(row)} cells"
        for cell in row[1:]:
            assert NUMBER.match(cell), f"expected a plain number, got {cell!r} in {row}"
        assert "np." not in ",".join(row), f"numpy repr leaked into {row}"
    # message at k h has last failure age (9-k) h: delivered at E = j h is #{k : 9 - k < j} = j
    delivered = {float(r[1]): int(r[2]) for r in rows[1:]}
    expected = {h * HOUR: h for h in range(1, 11)}
    assert delivered == expected, f"expected {expected}, got {delivered}"
    meta = json.loads((out / "curve.json").read_text())
    assert meta["points"] == 10 and meta["replications"] == 1, f"unexpected curve.json {meta}"
    png = (out / "curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "curve.png is not a PNG"


def test_cli_curve_series_csv_labels(capsys, hand_file, tmp_path):
    """With --series outage=..., curve.csv has one block of rows per series label."""
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "curve", hand_file, "--expiry", "1h,5h,12h", "--series", "outage=2h,8h",
                           "--replications", "2", "--out", out)
    assert code == 0, f"expected exit 0, got {code}: {err}"
    with open(out / "curve.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["series"] for r in rows] == ["outage=2h"] * 3 + ["outage=8h"] * 3, f"got {[r['series'] for r in rows]}"
    for r in rows:
        for key in CURVE_HEADER[1:]:
            assert NUMBER.match(r[key]), f"expected a plain number in {key}, got {r[key]!r}"


@pytest.mark.parametrize("expiry", ["5h..1h/1h", "1h..5h/0", "1h..5h/0h", "garbage", "1h,,x", "1h..5h/-1h"])
def test_cli_curve_bad_expiry_exit_2(capsys, hand_file, tmp_path, expiry):
    """A bad --expiry range ends with exit 2 and one 'mtasim: ' line on stderr."""
    code, _, err = run_cli(capsys, "curve", hand_file, f"--expiry={expiry}", "--out", tmp_path / "out")
    assert code == 2, f"expected exit 2 for --expiry {expiry!r}, got {code}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mtasim: "), f"expected one 'mtasim: ' line, got {err!r}"
    assert "--expiry" in lines[0], f"expected the option named in {lines[0]!r}"
    assert not (tmp_path / "out" / "curve.csv").exists(), "curve.csv written despite the error"


@pytest.mark.parametrize("series", ["colour=red", "preset=postfx", "outage=abc", "outage=2h"])
def test_cli_curve_bad_series_exit_2(capsys, tmp_path, series):
    """A bad --series (unknown kind, unknown preset, bad duration, outage on an outage-free scenario) exits 2."""
    path = tmp_path / "plain.yaml"
    path.write_text(HAND_YAML.replace("outages: [{start: 0h, end: 10h}]", "outages: []"), encoding="utf-8")
    code, _, err = run_cli(capsys, "curve", path, "--expiry", "1h,2h", "--series", series, "--out", tmp_path / "o")
    assert code == 2, f"expected exit 2 for --series {series!r}, got {code}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mtasim: "), f"expected one 'mtasim: ' line, got {err!r}"
    assert not (tmp_path / "o" / "curve.csv").exists(), "curve.csv written despite the error"


@pytest.mark.parametrize("preset", [name for name, p in mtasim.PRESETS.items()
                                    if not p.sender().give_up.counts_attempts])
def test_every_preset_curve_single_run_equals_explicit(preset):
    """For every expiry-based preset, the one-run curve (where valid) equals one run per window, on 40 messages
    through a 451 outage with the preset's own schedule."""
    sc = mtasim.scenario_from_dict({
        "seed": 4, "sender": {"preset": preset},
        "messages": {"count": 40, "arrival": {"kind": "uniform", "start": 0, "end": "12h"}},
        "recipients": [{"domain": "p.example", "outages": [{"start": "1h", "end": "30h", "failure": "451 4.3.0 x"}]}],
    })
    expiries = [h * 3600.0 for h in (6, 12, 20, 24, 30, 36, 48)]
    explicit = expiry_curve(sc, expiries, method="explicit")
    auto = expiry_curve(sc, expiries)
    assert [(p.delivered, p.expired) for p in auto.points] == [(p.delivered, p.expired) for p in explicit.points]


# -- (7) each series' own window, the default range, workers ----------------------------------------------
@pytest.mark.parametrize("rule", ["last-attempt", "at-deadline", "next-wait"])
def test_curve_evaluates_each_series_at_its_own_window(rule):
    """Curve.windows holds the series at its sender's own expiry (5h, off the grid of 1h and 2h): by hand
    the arrivals failing n = 3, 1, 1, 0, 0 times deliver under 5h (n = 10, 10, 9, 8, 6 do not), 5 of 10."""
    curve = expiry_curve(hand_scenario(rule, expiry="5h"), [HOUR, 2 * HOUR])
    own = curve.windows["test"]
    assert (own.expiry_s, own.delivered, own.messages) == (5 * HOUR, 5, 10), f"{rule}: expected 5 of 10 at 5h, got {own}"
    assert own.delivered == sum(delivers_by_hand(rule, a, 5 * HOUR) for a in ARRIVALS), "hand oracle disagrees"
    assert [p.expiry_s for p in curve.points] == [HOUR, 2 * HOUR], "the own window is not added to the grid"


def test_default_range_reaches_past_every_series_window():
    """Hourly 1h..96h by default; with Postfix (5d = 120h) among the series, hourly to a day past it (144h)."""
    from mtasim.curve import default_expiries

    sc = hand_scenario("last-attempt")                       # its own window: 12h
    assert default_expiries(sc) == [h * HOUR for h in range(1, 97)], "expected 1h..96h/1h"
    grid = default_expiries(sc, "preset=exchange-online,postfix")
    assert grid == [h * HOUR for h in range(1, 145)], f"expected 1h..144h/1h, got {grid[0]}..{grid[-1]} ({len(grid)})"
    curve = expiry_curve(sc, None, series="preset=exchange-online,exchange-server,postfix")
    assert {k: w.expiry_s / HOUR for k, w in curve.windows.items()} == \
        {"exchange-online": 24, "exchange-server": 48, "postfix": 120}, f"unexpected windows {curve.windows}"
    assert max(p.expiry_s for p in curve.points) >= 120 * HOUR, "the default range leaves out Postfix's window"


def test_cli_curve_own_window_in_table_and_json(capsys, hand_file, tmp_path):
    """With the scenario's expiry 5h, the table shows 5h and 50.00% (messages at k h deliver iff 9 - k < 5)
    and curve.json records that point; `plot curve` reads it back."""
    path = tmp_path / "five.yaml"
    path.write_text(HAND_YAML.replace("expiry: 12h", "expiry: 5h"), encoding="utf-8")
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "curve", path, "--expiry", "1h..3h/1h", "--out", out)
    assert code == 0, f"expected exit 0, got {code}: {err}"
    row = next(line.split() for line in stdout.splitlines() if line.startswith("hand "))
    assert row[-2:] == ["5h", "50.00%"], f"expected the own window 5h at 50.00% in {row}"
    meta = json.loads((out / "curve.json").read_text())
    own = meta["windows"]["hand"]
    assert (own["expiry_s"], own["delivered"], own["fraction"]) == (5 * HOUR, 5, 0.5), f"unexpected {own}"
    code, _, err = run_cli(capsys, "plot", "curve", out, "--out", tmp_path / "again.png")
    assert code == 0, f"plot curve failed: {err}"


def test_cli_plot_curve_bad_windows_exit_2(capsys, hand_file, tmp_path):
    """A curve.json whose windows name no series of curve.csv, or hold no number, is refused in one line."""
    out = tmp_path / "out"
    assert run_cli(capsys, "curve", hand_file, "--expiry", "1h,2h", "--out", out)[0] == 0
    meta = json.loads((out / "curve.json").read_text())
    for windows in ({"nope": {"expiry_s": 3600, "fraction": 0.5}}, {"hand": {"expiry_s": "1h", "fraction": 0.5}},
                    {"hand": {"expiry_s": 3600, "fraction": 2}}, ["hand"]):
        (out / "curve.json").write_text(json.dumps({**meta, "windows": windows}))
        code, _, err = run_cli(capsys, "plot", "curve", out, "--out", tmp_path / "c.png")
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "curve.json: windows" in lines[0], \
            f"expected exit 2 and one line naming curve.json's windows for {windows}, got {code}: {err!r}"
        assert not (tmp_path / "c.png").exists(), "a figure was written despite the error"


def test_cli_curve_workers_give_the_same_curve(capsys, hand_file, tmp_path):
    """Same seed, same result across worker counts: --workers 2 writes the curve.csv and windows of --workers 1
    (explicit runs, two series, two replications: 52 jobs spread over the pool)."""
    texts = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        code, _, err = run_cli(capsys, "curve", hand_file, "--expiry", "1h..12h/1h", "--series", "outage=6h,10h",
                               "--replications", "2", "--method", "explicit", "--workers", workers, "--out", out)
        assert code == 0, f"--workers {workers}: expected exit 0, got {code}: {err}"
        texts.append(((out / "curve.csv").read_text(), json.loads((out / "curve.json").read_text())["windows"]))
    assert texts[0] == texts[1], "--workers 2 gave another curve than --workers 1"
    assert texts[0][0].count("\n") == 1 + 2 * 12, "expected a header and 12 rows per series"


def test_curve_progress_bar_counts_runs(capsys):
    """progress=True draws a bar on stderr counting every run: 2 replications x 3 windows (2 on the grid and
    the own 12h window) of explicit runs."""
    expiry_curve(hand_scenario("last-attempt"), [HOUR, 2 * HOUR], replications=2, method="explicit", progress=True)
    err = capsys.readouterr().err
    assert "curve" in err and "6/6" in err, f"expected a bar reaching 6/6 runs on stderr, got {err!r}"


def test_cli_curve_workers_carry_preset_senders(capsys, hand_file, tmp_path):
    """Preset senders hold closures pickle cannot carry; the jobs carry the scenario's data instead, so
    --workers 2 works for Exim (explicit: its window shapes its retry rules) and gives --workers 1's curve."""
    texts = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        code, _, err = run_cli(capsys, "curve", hand_file, "--expiry", "4h,8h", "--series", "preset=exim,postfix",
                               "--workers", workers, "--out", out)
        assert code == 0, f"--workers {workers}: expected exit 0, got {code}: {err}"
        texts.append((out / "curve.csv").read_text())
    assert texts[0] == texts[1], "--workers 2 gave another curve than --workers 1"


@pytest.mark.parametrize("data", [
    {"seed": 3, "sender": {"preset": "postfix"},            # host-level state: Postfix's dead destination
     "messages": {"count": 60, "arrival": {"kind": "uniform", "start": 0, "end": "10h"}},
     "recipients": [{"domain": "p.example", "outages": [{"start": "2h", "end": "20h", "failure": "refused"}]}]},
    {"seed": 5, "horizon": "3d", "sender": {"preset": "exchange-server"},          # a horizon
     "messages": {"count": 40, "arrival": {"kind": "uniform", "start": 0, "end": "12h"}},
     "recipients": [{"domain": "p.example", "outages": [{"start": "1h", "end": "30h", "failure": "451 4.3.0 x"}]}]},
])
def test_auto_explicit_runs_reuse_the_longest_run_exactly(data):
    """Where each window is its own run, auto takes the longest run's counts for the windows under which
    every message got through alike; the counts equal one run per window (method explicit), with two
    replications, at every window and at the series' own window."""
    sc = mtasim.scenario_from_dict(data)
    expiries = [h * HOUR for h in range(2, 74, 4)]
    auto = expiry_curve(sc, expiries, replications=2)
    explicit = expiry_curve(sc, expiries, replications=2, method="explicit")
    assert auto.method == "explicit", f"expected explicit runs for this scenario, got {auto.method}"
    assert counts_by_point(auto) == counts_by_point(explicit), "reusing the longest run changed a count"
    assert auto.windows == explicit.windows, "the own window differs"
    assert auto.points[-1].delivered == auto.points[-1].messages, "expected the long windows to deliver everything"

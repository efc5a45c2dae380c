"""Tuning: the shortest expiry for a target fraction (hand answers, agreement with the curve) and the
schedule Pareto front (hand-made points, a hand-checkable fixed family, the CLI)."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import HOUR, scenario

import mtasim
from mtasim import ConfigError
from mtasim.cli import main
from mtasim.curve import expiry_curve
from mtasim.tune import pareto_front, tune_expiry, tune_schedule

# Fixed 1 h retries, outage [0, 10h), messages at 0, 1h, ..., 9h. The message at k h fails at k h, ...,
# 9h (10 - k failures, the last at age (9 - k) h) and its delivering attempt is at 10h (age (10 - k) h).
TIMES = [k * HOUR for k in range(10)]


def hand(rule="last-attempt"):
    return scenario({"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "1d", "give_up": rule},
                    [{"start": 0, "end": "10h"}], {"arrival": {"kind": "times", "times": TIMES}})


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- (1) hand answers --------------------------------------------------------------------------------------
# last-attempt: delivered under E iff (9 - k) h < E -> the whole-second window for message k is (9 - k) h + 1 s
# at-deadline:  delivered under E iff (10 - k) h < E -> (10 - k) h + 1 s
# next-wait:    delivered under E iff (10 - k) h <= E -> (10 - k) h
# target 1.0 needs the worst message (k = 0); target 0.5 the 5th smallest window (k = 5).
HAND_ANSWERS = [
    ("last-attempt", 1.0, 9 * HOUR + 1),
    ("last-attempt", 0.5, 4 * HOUR + 1),
    ("last-attempt", 0.1, 1),                 # k = 9 never fails: any window >= 1 s
    ("last-attempt", 0.15, HOUR + 1),         # 2 of 10 needed: k = 9 and k = 8 (last failure age 1h)
    ("at-deadline", 1.0, 10 * HOUR + 1),
    ("at-deadline", 0.5, 5 * HOUR + 1),
    ("at-deadline", 0.1, HOUR + 1),
    ("next-wait", 1.0, 10 * HOUR),
    ("next-wait", 0.5, 5 * HOUR),
    ("next-wait", 0.1, HOUR),
]


@pytest.mark.parametrize("rule,target,expected", HAND_ANSWERS)
def test_tune_expiry_hand_answers(rule, target, expected):
    """tune_expiry returns the shortest whole-second window computed by hand for each give-up rule."""
    a = tune_expiry(hand(rule), target)
    assert a.expiry_s == expected, f"{rule} target {target}: expected {expected:g} s, got {a.expiry_s}"
    assert a.messages == 10 and a.give_up == rule, f"unexpected answer {a}"
    assert a.fraction >= target, f"{rule} target {target}: fraction at the answer {a.fraction} < target"


@pytest.mark.parametrize("rule,target,expected", HAND_ANSWERS)
def test_tune_expiry_hand_answer_is_tight(rule, target, expected):
    """The hand answer E delivers >= target when run with expiry E, and E - 1 s delivers less."""
    sc = hand(rule)
    for e, ok in ((expected, True), (expected - 1, False)):
        if e <= 0:
            continue
        run = mtasim.simulate(mtasim.scenario_from_dict({**sc.data, "sender": {**sc.data["sender"], "expiry": e}}))
        frac = run.counts()["delivered"] / 10
        assert (frac >= target) == ok, f"{rule} target {target}: expiry {e:g} s delivered {frac}, " \
                                       f"expected {'>=' if ok else '<'} target"


@pytest.mark.parametrize("target", [0, 1.5, -1, 1.0000001])
def test_target_outside_unit_interval_is_config_error(target):
    """A target outside (0, 1] is a ConfigError."""
    with pytest.raises(ConfigError, match="target"):
        tune_expiry(hand(), target)


def test_give_up_attempts_and_horizon_refused():
    """give_up: attempts has no expiry to tune; a horizon cuts runs short: both ConfigErrors."""
    attempts = scenario({"schedule": {"kind": "fixed", "interval": "1h"}, "give_up": "attempts", "max_attempts": 3})
    with pytest.raises(ConfigError, match="give_up"):
        tune_expiry(attempts, 0.5)
    with pytest.raises(ConfigError, match="horizon"):
        tune_expiry(scenario(horizon="2d"), 0.5)


def test_unreachable_target_gives_none():
    """With max_expiry shorter than the hand answer the answer is None; the reachable fraction is reported."""
    a = tune_expiry(hand(), 1.0, max_expiry_s=5 * HOUR)
    assert a.expiry_s is None, f"expected no answer within 5h, got {a.expiry_s}"
    # under E = 5h, messages with last failure age (9 - k) h < 5h deliver: k = 5..9
    assert a.fraction == pytest.approx(0.5), f"expected 0.5 delivered at the longest window, got {a.fraction}"
    exact = tune_expiry(hand(), 1.0, max_expiry_s=9 * HOUR)          # 9h itself lets k = 0 expire
    assert exact.expiry_s is None, f"expected None with max 9h (answer 9h + 1 s), got {exact.expiry_s}"
    edge = tune_expiry(hand(), 1.0, max_expiry_s=9 * HOUR + 1)
    assert edge.expiry_s == 9 * HOUR + 1, f"expected 32401 s with max 9h + 1 s, got {edge.expiry_s}"


HAND_YAML = """\
name: hand
seed: 1
sender: {schedule: {kind: fixed, interval: 1h}, expiry: 1d, give_up: last-attempt}
messages: {arrival: {kind: times, times: [0h, 1h, 2h, 3h, 4h, 5h, 6h, 7h, 8h, 9h]}}
recipients:
  - domain: r.example
    outages: [{start: 0h, end: 10h}]
"""


@pytest.fixture
def hand_file(tmp_path):
    path = tmp_path / "hand.yaml"
    path.write_text(HAND_YAML, encoding="utf-8")
    return path


def test_cli_tune_expiry_answer(capsys, hand_file):
    """`tune expiry --target 1` prints 9:00:01 (the hand answer); --json gives expiry_s 32401."""
    code, out, err = run_cli(capsys, "tune", "expiry", hand_file, "--target", "1")
    assert code == 0, f"expected exit 0, got {code}: {err}"
    assert "9:00:01" in out, f"expected 9:00:01 in {out!r}"
    code, out, err = run_cli(capsys, "tune", "expiry", hand_file, "--target", "0.5", "--json")
    assert code == 0, f"expected exit 0, got {code}: {err}"
    data = json.loads(out)
    assert data["expiry_s"] == 4 * HOUR + 1, f"expected 14401 s for 50 %, got {data['expiry_s']}"


@pytest.mark.parametrize("target", ["0", "1.5", "-1"])
def test_cli_tune_expiry_bad_target_exit_2(capsys, hand_file, target):
    """A --target outside (0, 1] exits 2 with one 'mtasim: ' line naming --target."""
    code, _out, err = run_cli(capsys, "tune", "expiry", hand_file, f"--target={target}")
    assert code == 2, f"expected exit 2 for --target {target}, got {code}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mtasim: "), f"expected one 'mtasim: ' line, got {err!r}"
    assert "--target" in lines[0], f"expected --target named in {lines[0]!r}"


def test_cli_tune_expiry_target_not_a_number_exit_2(capsys, hand_file):
    """A --target that is not a number is refused by the argument parser with status 2."""
    with pytest.raises(SystemExit) as exc:
        main(["tune", "expiry", str(hand_file), "--target", "half"])
    capsys.readouterr()
    assert exc.value.code == 2, f"expected exit 2, got {exc.value.code}"


def test_cli_tune_expiry_unreachable_exit_0(capsys, hand_file):
    """An unreachable target is an answer, not an error: exit 0 and a line saying no window delivers it."""
    code, out, err = run_cli(capsys, "tune", "expiry", hand_file, "--target", "1", "--max-expiry", "5h")
    assert code == 0, f"expected exit 0, got {code}: {err}"
    assert "no expiry window up to 5h" in out, f"expected 'no expiry window up to 5h' in {out!r}"
    assert "50.000%" in out, f"expected the reachable 50.000% in {out!r}"
    code, out, err = run_cli(capsys, "tune", "expiry", hand_file, "--target", "1", "--max-expiry", "5h", "--json")
    assert code == 0 and json.loads(out)["expiry_s"] is None, f"expected expiry_s null, got {out!r}"


# -- (2) agreement with the curve ------------------------------------------------------------------------
def pooled_fraction(sc, e, replications):
    p = expiry_curve(sc, [e], replications=replications).points[0]
    return p.delivered / p.messages


LOGNORMAL = {
    "name": "lognormal", "seed": 5,
    "sender": {"schedule": {"kind": "exponential", "first": "5m", "factor": 2, "max": "1h"}, "expiry": "5d"},
    "messages": {"count": 300, "arrival": {"kind": "uniform", "start": 0, "end": "1h"}},
    "recipients": [{"domain": "p.example", "domains": 50,
                    "random_outage": {"start": 0, "duration": {"kind": "lognormal", "median": "1h", "sigma": 1.5}}}],
}


def lognormal(rule="last-attempt", **sender):
    data = json.loads(json.dumps(LOGNORMAL))
    data["sender"].update({"give_up": rule, **sender})
    return mtasim.scenario_from_dict(data)


@pytest.mark.parametrize("rule", ["last-attempt", "at-deadline", "next-wait"])
@pytest.mark.parametrize("target", [0.5, 0.9, 0.99, 1.0])
def test_tune_expiry_agrees_with_curve(rule, target):
    """On lognormal random outages over 50 domains: the curve at the answer reaches the target, 1 s less does not."""
    sc = lognormal(rule)
    a = tune_expiry(sc, target)
    assert a.expiry_s is not None, f"{rule} {target}: expected a reachable target, got {a}"
    at = pooled_fraction(sc, a.expiry_s, 1)
    assert at >= target, f"{rule} {target}: curve at answer {a.expiry_s:g} s is {at} < target"
    if a.expiry_s > 1:
        before = pooled_fraction(sc, a.expiry_s - 1, 1)
        assert before < target, f"{rule} {target}: curve at {a.expiry_s - 1:g} s already {before} >= target"
    assert a.fraction == pytest.approx(at), f"answer's fraction {a.fraction} != curve's {at}"
    assert a.ci_low_s is None or a.ci_low_s <= a.expiry_s, f"interval low {a.ci_low_s} above answer {a.expiry_s}"
    assert a.ci_high_s is None or a.ci_high_s >= a.expiry_s, f"interval high {a.ci_high_s} below answer {a.expiry_s}"


@pytest.mark.parametrize("target", [0.8, 0.999])
def test_tune_expiry_agrees_with_curve_replications(target):
    """Over 3 replications (same message count each) the pooled curve crosses the target exactly at the answer."""
    sc = lognormal()
    a = tune_expiry(sc, target, replications=3)
    assert a.messages == 900, f"expected 900 messages pooled, got {a.messages}"
    at, before = pooled_fraction(sc, a.expiry_s, 3), pooled_fraction(sc, a.expiry_s - 1, 3)
    assert at >= target > before, f"target {target}: expected curve({a.expiry_s:g}) = {at} >= target > " \
                                  f"curve({a.expiry_s - 1:g}) = {before}"


@pytest.mark.parametrize("rule", ["at-deadline", "next-wait", "last-attempt"])
def test_tune_expiry_agrees_with_explicit_run(rule):
    """The answer, run as the scenario's own expiry, delivers the target; one second less does not."""
    sc = mtasim.scenario_from_dict({
        "name": "u", "seed": 2,
        "sender": {"schedule": {"kind": "fixed", "interval": "15m"}, "expiry": "3d", "give_up": rule},
        "messages": {"count": 400, "arrival": {"kind": "uniform", "start": 0, "end": "12h"}},
        "recipients": [{"domain": "r.example", "outages": [{"start": "2h", "end": "20h"}]}]})
    for target in (0.5, 0.75, 1.0):
        a = tune_expiry(sc, target)
        for e, ok in ((a.expiry_s, True), (a.expiry_s - 1, False)):
            run = mtasim.simulate(mtasim.scenario_from_dict({**sc.data, "sender": {**sc.data["sender"], "expiry": e}}))
            frac = run.counts()["delivered"] / 400
            assert (frac >= target) == ok, f"{rule} target {target}: answer {a.expiry_s:g} s; a run with " \
                                           f"expiry {e:g} s delivers {frac}, expected {'>=' if ok else '<'} target"


# -- (3) Pareto front and schedule tuning ---------------------------------------------------------------
def test_pareto_front_hand_made_points():
    """A point is on the front iff no other is at least as good on both and better on one."""
    points = [(1, 5), (2, 3), (3, 3), (2, 4), (4, 1), (5, 1), (0.5, 9), (6, 0.5)]
    expected = [True, True, False, False, True, False, True, True]
    got = pareto_front(points)
    assert got == expected, f"expected {expected}, got {got}"


def test_pareto_front_ties_and_single():
    """Identical points do not dominate each other; a single point is on the front."""
    assert pareto_front([(1, 1), (1, 1)]) == [True, True], "identical points must both stay on the front"
    assert pareto_front([(3, 3)]) == [True], "a lone point is on the front"
    assert pareto_front([(1, 2), (1, 3)]) == [True, False], "equal cost, worse lag is dominated"
    assert pareto_front([]) == [], "no points, no front"


# Outage [0, 2h20m), 4 messages at 0, expiry 1d:
#   every 10m: attempts 0, 10m, ..., 140m -> 15 attempts, delivered at 2h20m, lag 0
#   every 30m: attempts 0, 30m, ..., 150m ->  6 attempts, delivered at 2h30m, lag 10m
#   every 1h:  attempts 0, 1h, 2h, 3h     ->  4 attempts, delivered at 3h,    lag 40m
# No schedule is beaten on both: all three are on the front. With 90m added (0, 90m, 180m: 3 attempts,
# lag 40m) "every 1h" is dominated.
FAMILY_HAND = {600.0: (15.0, 0.0), 1800.0: (6.0, 600.0), 3600.0: (4.0, 2400.0), 5400.0: (3.0, 2400.0)}


def family_scenario():
    return scenario({"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "1d"},
                    [{"start": 0, "end": "2h20m"}], {"count": 4, "arrival": {"kind": "at", "time": 0}})


def test_tune_schedule_fixed_family_hand_answer():
    """Mean attempts and p95 recovery lag per fixed interval match the hand count; the front is right."""
    cands = tune_schedule(family_scenario(), "fixed", grid={"interval": (600.0, 1800.0, 3600.0)})
    got = {c.params["interval_s"]: (c.mean_attempts, c.recovery_lag_p95_s) for c in cands}
    expected = {k: v for k, v in FAMILY_HAND.items() if k != 5400.0}
    assert got == expected, f"expected (attempts, lag) {expected}, got {got}"
    assert all(c.on_front for c in cands), f"expected all three on the front, got {[(c.label, c.on_front) for c in cands]}"
    assert [c.label for c in cands] == ["every 1h", "every 30m", "every 10m"], \
        f"expected sorted by mean attempts, got {[c.label for c in cands]}"
    assert all(c.fraction_delivered == 1.0 for c in cands), "expected every message delivered"


def test_tune_schedule_dominated_candidate_off_front():
    """Adding every 90m (3 attempts, lag 40m) pushes every 1h (4 attempts, lag 40m) off the front."""
    cands = tune_schedule(family_scenario(), "fixed", grid={"interval": (600.0, 1800.0, 3600.0, 5400.0)})
    got = {c.params["interval_s"]: (c.mean_attempts, c.recovery_lag_p95_s, c.on_front) for c in cands}
    expected = {k: (a, lag, k != 3600.0) for k, (a, lag) in FAMILY_HAND.items()}
    assert got == expected, f"expected {expected}, got {got}"


FAMILY_YAML = """\
name: family
seed: 1
sender: {schedule: {kind: fixed, interval: 1h}, expiry: 1d}
messages: {count: 4, arrival: {kind: at, time: 0h}}
recipients:
  - domain: r.example
    outages: [{start: 0h, end: 2h20m}]
"""


@pytest.fixture
def family_file(tmp_path):
    path = tmp_path / "family.yaml"
    path.write_text(FAMILY_YAML, encoding="utf-8")
    return path


def test_cli_tune_schedule_recommends_and_writes(capsys, family_file, tmp_path):
    """`tune schedule --family fixed --interval 10m,30m,1h --max-recovery-lag 30m` recommends every 30m
    (the cheapest with lag <= 30m) and writes pareto.csv, pareto.json, pareto.png."""
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "tune", "schedule", family_file, "--family", "fixed", "--interval",
                                "10m,30m,1h", "--max-recovery-lag", "30m", "--out", out)
    assert code == 0, f"expected exit 0, got {code}: {err}"
    assert "3 fixed schedules, 3 on the Pareto front" in stdout, f"unexpected summary in {stdout!r}"
    assert "cheapest schedule with p95 recovery lag <= 30m: every 30m" in stdout, \
        f"expected the recommendation 'every 30m' in {stdout!r}"
    with open(out / "pareto.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    got = {float(r["interval_s"]): (float(r["mean_attempts"]), float(r["recovery_lag_p95_s"]), r["on_front"])
           for r in rows}
    expected = {600.0: (15.0, 0.0, "true"), 1800.0: (6.0, 600.0, "true"), 3600.0: (4.0, 2400.0, "true")}
    assert got == expected, f"expected pareto.csv rows {expected}, got {got}"
    meta = json.loads((out / "pareto.json").read_text())
    assert meta["family"] == "fixed" and meta["max_recovery_lag_s"] == 1800, f"unexpected pareto.json {meta}"
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "pareto.png is not a PNG"


def test_cli_tune_schedule_no_schedule_within_lag(capsys, family_file):
    """When no front schedule (30m: lag 10m, 1h: lag 40m) is within --max-recovery-lag 5m, the CLI says so, exit 0."""
    code, stdout, err = run_cli(capsys, "tune", "schedule", family_file, "--family", "fixed", "--interval",
                                "30m,1h", "--max-recovery-lag", "5m")
    assert code == 0, f"expected exit 0, got {code}: {err}"
    assert "no schedule of this grid keeps the p95 recovery lag within 5m" in stdout, f"got {stdout!r}"


@pytest.mark.parametrize("argv", [
    ["--family", "fixed", "--factor", "2"],
    ["--family", "fixed", "--first", "5m"],
    ["--family", "exponential", "--interval", "10m"],
    ["--family", "linear"],
    ["--family", "fixed", "--interval", "10m,soon"],
    ["--family", "exponential", "--factor", "0.5"],
])
def test_cli_tune_schedule_bad_options_exit_2(capsys, family_file, argv):
    """A parameter of another family, an unknown family or a bad value exits 2 with one 'mtasim: ' line."""
    code, _stdout, err = run_cli(capsys, "tune", "schedule", family_file, *argv)
    assert code == 2, f"expected exit 2 for {argv}, got {code}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mtasim: "), f"expected one 'mtasim: ' line, got {err!r}"


# -- (4) recovery lag at a chosen percentile; alike schedules listed once ------------------------------------
# Fixed retries, outage [0, 2h20m), one message at 0 and 19 at 20m (lags by hand):
#   every 1h:  at 0: 0, 1h, 2h, 3h (4 attempts, lag 40m); at 20m: 20m, 1h20m, 2h20m (3 attempts, lag 0)
#   every 30m: at 0: 0 .. 2h30m (6, lag 10m);             at 20m: 20m, 50m .. 2h20m (5, lag 0)
#   every 10m: at 0: 0 .. 2h20m (15, lag 0);              at 20m: 20m .. 2h20m (13, lag 0)
# numpy's p95 of 19 zeros and one L is 0.05 L: 2m for every 1h, 30 s for every 30m; the max is L.
LAG_HAND = {3600.0: (3.05, 120.0, 2400.0), 1800.0: (5.05, 30.0, 600.0), 600.0: (13.1, 0.0, 0.0)}


def lag_scenario():
    return scenario({"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "1d"},
                    [{"start": 0, "end": "2h20m"}],
                    {"arrival": {"kind": "times", "times": [0.0] + [20 * 60.0] * 19}})


def test_tune_schedule_lag_percentiles_hand_answer():
    """p95 and max recovery lag per fixed interval match the hand count; the candidates say which they use."""
    cands = tune_schedule(lag_scenario(), "fixed", grid={"interval": tuple(LAG_HAND)}, lag_percentile=100)
    got = {c.params["interval_s"]: (round(c.mean_attempts, 9), round(c.recovery_lag_p95_s, 6), c.recovery_lag_max_s)
           for c in cands}
    assert got == LAG_HAND, f"expected (attempts, p95, max) {LAG_HAND}, got {got}"
    assert [c.recovery_lag_s for c in cands] == [2400.0, 600.0, 0.0], \
        f"expected the max lag as recovery_lag_s at percentile 100, got {[c.recovery_lag_s for c in cands]}"


@pytest.mark.parametrize("percentile,expected", [("95", "every 1h"), ("100", "every 30m")])
def test_cli_tune_schedule_lag_percentile_recommendation(capsys, tmp_path, percentile, expected):
    """Within 15m at p95 the cheapest is every 1h (p95 2m, max 40m); at 100 (all delivered mail) it is
    every 30m, whose slowest message waits 10m."""
    path = tmp_path / "lag.yaml"
    path.write_text("""\
name: lag
seed: 1
sender: {schedule: {kind: fixed, interval: 1h}, expiry: 1d}
messages: {arrival: {kind: times, times: [0h, 20m, 20m, 20m, 20m, 20m, 20m, 20m, 20m, 20m, 20m, 20m, 20m, 20m,
           20m, 20m, 20m, 20m, 20m, 20m]}}
recipients:
  - domain: r.example
    outages: [{start: 0h, end: 2h20m}]
""", encoding="utf-8")
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "tune", "schedule", path, "--family", "fixed", "--interval", "10m,30m,1h",
                                "--max-recovery-lag", "15m", "--lag-percentile", percentile, "--out", out)
    assert code == 0, f"expected exit 0, got {code}: {err}"
    name = "max" if percentile == "100" else "p95"
    assert f"cheapest schedule with {name} recovery lag <= 15m: {expected} " in stdout, \
        f"expected the recommendation {expected!r} at {name} in {stdout!r}"
    chosen = [line for line in stdout.splitlines() if line.startswith(expected)]
    lag = {"every 1h": "0:02:00", "every 30m": "0:10:00"}[expected]
    assert chosen and chosen[0].split()[3] == lag, f"expected {expected}'s {name} lag {lag} in {chosen}"
    meta = json.loads((out / "pareto.json").read_text())
    assert meta["lag_percentile"] == int(percentile), f"expected lag_percentile {percentile} in {meta}"
    with open(out / "pareto.csv", newline="", encoding="utf-8") as f:
        rows = {r["label"]: r for r in csv.DictReader(f)}
    assert float(rows["every 1h"]["recovery_lag_max_s"]) == 2400.0, f"expected max lag 40m in {rows['every 1h']}"
    # p99 of 19 zeros and one 10m: position 0.99 x 19 = 18.81 between the last zero and 10m -> 0.81 x 10m
    assert float(rows["every 30m"]["recovery_lag_p99_s"]) == pytest.approx(0.81 * 600.0), \
        f"expected p99 lag 0.81 x 10m (numpy's interpolation) in {rows['every 30m']}"


def test_tune_schedule_lists_alike_schedules_once():
    """30m x1.5, x2 and x3 capped at 30m wait 30m after every failure: one candidate, labelled
    '30m x1.5/x2/x3 max 30m'; under a 1h cap x2 (30m, 1h, 1h ...) and x3 (30m, 1h capped ...) are alike,
    x1.5 (30m, 45m, 1h ...) is not."""
    cands = tune_schedule(family_scenario(), "exponential",
                          grid={"first": (1800.0,), "factor": (1.5, 2.0, 3.0), "max": (1800.0, 3600.0)})
    labels = sorted(c.label for c in cands)
    assert labels == ["30m x1.5 max 1h", "30m x1.5/x2/x3 max 30m", "30m x2/x3 max 1h"], \
        f"expected three distinct schedules, got {labels}"
    merged = next(c for c in cands if c.label == "30m x1.5/x2/x3 max 30m")
    assert merged.params == {"first_s": 1800.0, "factor": 1.5, "max_s": 1800.0}, \
        f"expected the first member's parameters, got {merged.params}"
    # Outage [0, 2h20m), 4 messages at 0: every 30m -> attempts 0 .. 2h30m (6), lag 10m.
    assert (merged.mean_attempts, merged.recovery_lag_p95_s) == (6.0, 600.0), f"unexpected {merged}"


@pytest.mark.parametrize("value", ["90", "max", "99.5"])
def test_cli_tune_schedule_bad_lag_percentile_usage_error(capsys, family_file, value):
    """--lag-percentile other than 95, 99 or 100 is a usage error: exit 2, one line naming the option."""
    with pytest.raises(SystemExit) as exc:
        main(["tune", "schedule", str(family_file), "--family", "fixed", "--lag-percentile", value])
    err = capsys.readouterr().err
    assert exc.value.code == 2, f"expected exit 2 for --lag-percentile {value}, got {exc.value.code}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--lag-percentile" in lines[0] and "95, 99, 100" in lines[0], \
        f"expected one line naming --lag-percentile and its choices, got {err!r}"


def test_cli_tune_schedule_workers_carry_preset_senders(capsys, tmp_path):
    """A preset sender (Exim: closures pickle cannot carry) is tuned over two workers with the serial answer."""
    path = tmp_path / "exim.yaml"
    path.write_text(FAMILY_YAML.replace("{schedule: {kind: fixed, interval: 1h}, expiry: 1d}", "{preset: exim}"),
                    encoding="utf-8")
    outputs = []
    for workers in ("1", "2"):
        code, stdout, err = run_cli(capsys, "tune", "schedule", path, "--family", "fixed", "--interval", "30m,1h",
                                    "--workers", workers)
        assert code == 0, f"--workers {workers}: expected exit 0, got {code}: {err}"
        outputs.append(stdout)
    assert outputs[0] == outputs[1], f"--workers 2 printed another front:\n{outputs[0]}\n{outputs[1]}"

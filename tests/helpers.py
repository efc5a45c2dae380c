"""What several test modules share: comparing two runs message by message, running a scenario on both
engines, and the hypothesis settings and strategies that generate scenarios as the dicts a YAML file would
give (read them with ``mtasim.scenario_from_dict``). Test modules import these from here, never from each
other."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import mtasim
from mtasim.durations import parse_duration

HOUR = 3600.0
MIN = 60.0

__all__ = ["assert_same", "run_every_engine", "refused_in_one_line", "key_paths", "both", "SETTINGS", "minutes", "seconds",
           "schedules", "senders", "recipients",
           "workloads", "scenarios", "FAILURES", "OUTAGE_FAILURES", "GIVE_UPS"]


# -- comparing runs ---------------------------------------------------------------------------------
def assert_same(a, b):
    """Per-message outcome, status, attempts, warnings and times agree (times within 1e-9 s)."""
    ma, mb = a.messages, b.messages
    assert np.array_equal(ma.outcome, mb.outcome), "outcomes differ"
    assert np.array_equal(ma.attempts, mb.attempts), "attempt counts differ"
    assert [ma.status_text(i) for i in range(len(ma))] == [mb.status_text(i) for i in range(len(mb))]
    for name in ("arrival_s", "final_s", "warned_s", "decisive_age_s", "recovery_lag_s"):
        x, y = getattr(ma, name), getattr(mb, name)
        assert np.array_equal(np.isnan(x), np.isnan(y)), f"{name}: NaN pattern differs"
        ok = ~np.isnan(x)
        assert np.allclose(x[ok], y[ok], rtol=0, atol=1e-9), f"{name} differs"
    assert a.total_attempts == b.total_attempts
    ta, tb = a.attempts, b.attempts
    assert np.array_equal(ta.message_id, tb.message_id) and np.array_equal(ta.attempt, tb.attempt)
    assert np.allclose(ta.time_s, tb.time_s, rtol=0, atol=1e-9)
    assert np.array_equal(ta.result, tb.result)
    assert [ta.replies[i] for i in ta.reply] == [tb.replies[i] for i in tb.reply]
    for x, y in zip(a.warnings, b.warnings):                 # every delay warning, not only the first
        assert np.allclose(x, y, rtol=0, atol=1e-9), "delay warnings differ"


def run_every_engine(sc):
    """Run ``sc`` on every engine that can run it (the DES, the reference engine, and the fast engine unless
    something couples messages), recording every attempt: they must agree message by message, and the
    outcomes must add up to the messages. Returns the DES's result."""
    from mtasim.engine import des_only_features
    from mtasim.results import Outcome
    engines = ["des", "reference"] + ([] if des_only_features(sc) else ["fast"])
    results = [mtasim.simulate(sc, engine=e, attempts=True) for e in engines]
    for other in results[1:]:
        assert_same(results[0], other)
    m = results[0].messages
    assert sum(m.count(o) for o in Outcome) == len(m)
    return results[0]


def refused_in_one_line(tmp_path, capsys, data: dict) -> str:
    """Write ``data`` as a scenario and ``mtasim run`` it with ``--out``: it must be refused with exit 2, one
    line on stderr naming the file, no traceback and nothing written. Returns that line."""
    import yaml
    from mtasim.cli import main
    path, out = tmp_path / "bad.yaml", tmp_path / "out"
    path.write_text(yaml.safe_dump(data))
    code = main(["run", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert str(path) in err and not out.exists()
    return err


def key_paths(value, prefix=()):
    """Every key path of a scenario dict (the empty path first): ``("sender", "schedule", "kind")``,
    ``("recipients", 0, "domain")``, ... (the fuzzers mutate the value at one of them)."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from key_paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from key_paths(v, prefix + (i,))


def both(sc, seed=None):
    """Run ``sc`` (with ``seed``, if given) on the DES and on the fast engine, recording every attempt:
    returns (des result, fast result)."""
    return (mtasim.simulate(sc, seed, engine="des", attempts=True),
            mtasim.simulate(sc, seed, engine="fast", attempts=True))


# -- hypothesis settings and strategies -------------------------------------------------------------
FAILURES = ("451 4.3.0 x", "550 5.1.1 y", "refused", "timeout")
#: Outage failures as drawn: 4xx replies and connection failures twice as likely as a 5xx (which ends retries).
OUTAGE_FAILURES = FAILURES + ("451 4.3.0 x", "refused", "timeout")
GIVE_UPS = ("last-attempt", "at-deadline", "next-wait", "before-attempt", "attempts")
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def minutes(lo: int, hi: int):
    """A duration of lo..hi whole minutes, written as seconds (a number) or as text ("90m")."""
    return st.integers(lo, hi).flatmap(lambda m: st.sampled_from([m * 60, f"{m}m"]))


def seconds(d) -> float:
    return parse_duration(d, allow_zero=True)


@st.composite
def schedules(draw):
    kind = draw(st.sampled_from(["fixed", "exponential", "exponential-jitter", "list-repeat", "list-stop",
                                 "age-based"]))
    if kind == "fixed":
        return {"kind": "fixed", "interval": draw(minutes(5, 180))}
    if kind.startswith("exponential"):
        first = draw(st.integers(5, 60))
        sched = {"kind": "exponential", "first": f"{first}m",
                 "factor": draw(st.sampled_from([1, 1.5, 2, 3])),
                 "max": f"{first * draw(st.integers(1, 16))}m"}
        if kind == "exponential-jitter":
            sched["jitter"] = draw(st.sampled_from(["full", "equal"]))
        elif draw(st.booleans()):
            sched["jitter"] = "none"
        return sched
    if kind.startswith("list"):
        sched = {"kind": "list", "intervals": draw(st.lists(minutes(5, 240), min_size=1, max_size=4))}
        if kind == "list-stop":
            sched["then"] = "stop"
        elif draw(st.booleans()):
            sched["then"] = "repeat"
        return sched
    low = draw(st.integers(5, 30))
    return {"kind": "age-based", "min": f"{low}m", "max": f"{draw(st.integers(low, 120))}m"}


@st.composite
def senders(draw, give_up=None):
    sender = {"schedule": draw(schedules())}
    rule = give_up or draw(st.sampled_from(GIVE_UPS))
    if rule != "last-attempt" or draw(st.booleans()):      # last-attempt is the default: sometimes implicit
        sender["give_up"] = rule
    if rule == "attempts":
        sender["max_attempts"] = draw(st.integers(1, 15))
        if draw(st.booleans()):
            sender["attempts_give_up_at"] = draw(st.sampled_from(["failure", "next-attempt"]))
    else:
        sender["expiry"] = draw(minutes(0 if rule == "last-attempt" else 1, 48 * 60))
    if draw(st.booleans()):
        period = draw(st.integers(1, 60))
        sender["queue_run"] = f"{period}m"
        if draw(st.booleans()):
            sender["queue_run_phase"] = draw(st.integers(0, period * 60))
    if draw(st.booleans()):
        sender["delay_warning"] = draw(minutes(5, 12 * 60))
        if draw(st.integers(0, 3)) == 0:           # sometimes several ages, and a repeat gap
            first = seconds(sender["delay_warning"])
            sender["delay_warning"] = [first, first + draw(st.integers(1, 600)) * 60]
            if draw(st.booleans()):
                sender["delay_warning_repeat"] = f"{draw(st.integers(1, 600))}m"
        if draw(st.booleans()):
            sender["delay_warning_at"] = draw(st.sampled_from(["age", "next-failure", "next-due"]))
    return sender


@st.composite
def recipients(draw):
    out = []
    for i in range(draw(st.integers(1, 3))):
        # Outages as (gap, length) steps from an early start, so they tend to cover the arrivals;
        # a zero gap makes two outages adjacent (end == next start), which is allowed.
        outages, t = [], draw(st.integers(0, 4 * 60))
        for _ in range(draw(st.sampled_from([1, 1, 2, 3, 0]))):
            length = draw(st.integers(1, 40 * 60))
            outages.append({"start": f"{t}m", "end": f"{t + length}m", "failure": draw(st.sampled_from(OUTAGE_FAILURES))})
            t += length + draw(st.integers(0, 10 * 60))
        r = {"domain": f"r{i}.example", "outages": outages}
        if draw(st.booleans()):
            r["share"] = draw(st.one_of(st.integers(1, 5), st.floats(0.1, 5.0)))
        out.append(r)
    return out


@st.composite
def workloads(draw):
    kind = draw(st.sampled_from(["at", "times", "uniform", "poisson"]))
    if kind == "at":
        n = draw(st.integers(1, 40))
        if draw(st.booleans()):
            return {"count": n}
        return {"count": n, "arrival": {"kind": "at", "time": draw(minutes(0, 12 * 60))}}
    if kind == "times":
        times = draw(st.lists(st.one_of(minutes(0, 24 * 60), st.floats(0, 86400.0)), min_size=1, max_size=40))
        messages = {"arrival": {"kind": "times", "times": times}}
        if draw(st.booleans()):
            messages["count"] = len(times)
        return messages
    start = draw(st.integers(0, 12 * 60))
    length = draw(st.integers(1, 24 * 60))
    window = {"start": f"{start}m", "end": f"{start + length}m"}
    if kind == "uniform":
        return {"count": draw(st.integers(1, 40)), "arrival": {"kind": "uniform", **window}}
    expected = draw(st.integers(1, 40))            # rate "k/Lm" over a window of L minutes: about k messages
    return {"arrival": {"kind": "poisson", "rate": f"{expected}/{length}m", **window}}


@st.composite
def scenarios(draw, give_up=None):
    data = {
        "name": "generated",
        "seed": draw(st.integers(0, 2**32)),
        "sender": draw(senders(give_up)),
        "messages": draw(workloads()),
        "recipients": draw(recipients()),
    }
    if draw(st.booleans()):
        data["horizon"] = draw(minutes(30, 72 * 60))
    return data


def hm(h, m=0, s=0.0):
    """Hours, minutes and seconds as seconds."""
    return h * HOUR + m * MIN + s


# §10, "Exim, Debian -q30m": F,2h,15m due every 15 min but the runs are every 30 min: 0:00 ... 2:00 (at 2:00
# the age is exactly 2 h, not past the cutoff, so F: due 2:15, run 2:30). 2:30: G, lastgap = min(15, 30) =
# 15 min < 1 h, so 1 h: 3:30. 3:30: 60 -> 90 min: 5:00. 5:00: 90 -> 135: due 7:15, run 7:30. 7:30:
# min(135, 150) = 135 -> 202.5: due 10:52:30, run 11:00. 11:00: min(202.5, 210) -> 303.75: due 16:03:45,
# run 16:30. 16:30 is past 16 h: F,6h: 22:30, 28:30, ... 94:30; next 100:30 is past 96 h, pulled back to
# the ultimate address timeout: the run at 96:00 (age exactly 4 d, not greater) skips it, 96:30 tries.
Q30_ROW = ([hm(0, 30 * k) for k in range(6)]                                   # 0:00 .. 2:30
           + [hm(3, 30), hm(5), hm(7, 30), hm(11), hm(16, 30)]
           + [hm(16, 30) + 6 * HOUR * k for k in range(1, 14)]                 # 22:30 .. 94:30
           + [hm(96, 30)])


# -- bad input through the command line ---------------------------------------------------------------
def write_bad(tmp_path, text, name="bad-scenario.yaml"):
    """Write ``text`` (a scenario, usually a bad one) to ``tmp_path/name``; return the path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def one_error_line(capsys, argv, code=2):
    """Run the CLI in-process expecting bad input (exit ``code``); return its single stderr line."""
    from mtasim.cli import main

    got = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert got == code, (got, out, err)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mtasim: ")
    return lines[0]


def assert_nothing_written(out_dir):
    assert not out_dir.exists() or not any(out_dir.iterdir()), sorted(p.name for p in out_dir.iterdir())

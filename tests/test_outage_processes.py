"""Outages that recur (issue 13, item 1): alternating renewal processes per domain, weekly maintenance
windows, timestamps as window bounds, 5xx outages, and how they combine into the windows engines see.

Known answers are computed by hand in the comments; statistical checks use a tolerance of 4 binomial
standard deviations."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest
import yaml
from helpers import assert_same

import mtasim
from mtasim import ConfigError
from mtasim.cli import main
from mtasim.engine import des_only_features, simulate
from mtasim.recipients import realize_recipients
from mtasim.recipients.processes import MAX_WINDOWS
from mtasim.results import Outcome
from mtasim.scenario import latest_arrival_s, message_life_bound_s

H = 3600.0
D = 86400.0
W = 7 * D

SENDER = "sender: {schedule: {kind: fixed, interval: 30m}, expiry: 3h, give_up: at-deadline}\n"


def from_yaml(text: str, sender: str = "") -> mtasim.Scenario:
    """The scenario of an indented YAML text (``sender``: an unindented line put before it)."""
    return mtasim.scenario_from_dict(yaml.safe_load(sender + textwrap.dedent(text)))


def windows(sc: mtasim.Scenario, seed: int | None = None) -> list[list[tuple[float, float, str]]]:
    """Each concrete domain's windows as (start, end, reply text)."""
    domains, _ = realize_recipients(sc.recipients, sc.seed if seed is None else seed, sc.outage_until_s)
    return [[(o.start_s, o.end_s, o.reply.text) for o in d.outages] for d in domains]


def spans(sc: mtasim.Scenario) -> list[tuple[float, float]]:
    """The one domain's windows as (start, end) in hours."""
    (only,) = windows(sc)
    return [(s / H, e / H) for s, e, _ in only]


# -- alternating renewal process: exact windows ------------------------------------------------------
def test_fixed_up_and_down_give_the_windows_computed_by_hand():
    """Up 10h, down 2h from t = 0 (starting up), horizon 2d: outages at 10h, 22h, 34h, 46h, each 2h; the
    last starts before the horizon and is kept whole."""
    sc = from_yaml("""
        horizon: 2d
        sender: {preset: postfix}
        messages: {count: 1}
        recipients:
          - domain: a.example
            outage_process: {up: 10h, down: {kind: fixed, value: 2h}, failure: refused}
    """)
    assert sc.outage_until_s == 2 * D
    assert spans(sc) == [(10, 12), (22, 24), (34, 36), (46, 48)]
    assert windows(sc)[0][0][2] == "connect: Connection refused"


def test_a_process_starting_down_begins_with_an_outage_at_zero():
    """start: down with up 10h, down 2h: [0, 2h), [12h, 14h), [24h, 26h), [36h, 38h) before 2d."""
    sc = from_yaml("""
        horizon: 2d
        sender: {preset: postfix}
        messages: {count: 1}
        recipients:
          - domain: a.example
            outage_process: {up: 10h, down: 2h, start: down}
    """)
    assert spans(sc) == [(0, 2), (12, 14), (24, 26), (36, 38)]
    assert windows(sc)[0][0][2] == "451 4.3.0 Mail server temporarily unavailable"


def test_every_domain_of_an_entry_draws_its_own_process():
    """50 domains with exponential up times: each domain's windows differ, and none overlap."""
    sc = from_yaml("""
        horizon: 20d
        sender: {preset: postfix}
        messages: {count: 1}
        recipients:
          - domain: a.example
            domains: 50
            outage_process: {up: {kind: exponential, mean: 2d}, down: {kind: uniform, min: 10m, max: 3h}}
    """)
    per_domain = windows(sc)
    assert len(per_domain) == 50
    firsts = {w[0][0] for w in per_domain if w}
    assert len(firsts) == sum(1 for w in per_domain if w) > 40
    for w in per_domain:
        assert all(e1 <= s2 for (_, e1, _), (s2, _, _) in zip(w, w[1:]))
        assert all(10 * 60 <= e - s <= 3 * H for s, e, _ in w)


def test_empirical_draws_only_listed_values():
    """Up times from {1h, 3h, 7h}, down times from {10m, 20m}: every gap and length is one of them, and
    every listed value occurs (1,000 domains over 30 days)."""
    sc = from_yaml("""
        horizon: 30d
        sender: {preset: postfix}
        messages: {count: 1}
        recipients:
          - domain: a.example
            domains: 1000
            outage_process:
              up: {kind: empirical, values: [1h, 3h, 7h]}
              down: {kind: empirical, values: [10m, 1200]}
    """)
    ups, downs = set(), set()
    for w in windows(sc):
        ups.add(w[0][0])
        ups.update(s2 - e1 for (_, e1, _), (s2, _, _) in zip(w, w[1:]))
        downs.update(e - s for s, e, _ in w)
    assert ups == {H, 3 * H, 7 * H}
    assert downs == {600.0, 1200.0}


def test_random_outage_takes_the_new_kinds_too():
    """random_outage's duration may be empirical or exponential (one Distribution for both uses)."""
    sc = from_yaml("""
        sender: {preset: postfix}
        messages: {count: 1}
        recipients:
          - domain: a.example
            domains: 200
            random_outage: {start: {kind: exponential, mean: 1h}, duration: {kind: empirical, values: [1h, 2h]}}
    """)
    lengths = {round(e - s, 6) for w in windows(sc) for s, e, _ in w}      # start + length - start: rounding
    assert lengths == {H, 2 * H}


@pytest.mark.parametrize("p", [0.05, 0.3])
def test_a_seeded_mixture_gives_about_p_long_outages(p):
    """Down 1h, or with probability p a long mode of exactly 1d: the fraction of 1d outages among N is p
    within 4 binomial standard deviations, sqrt(p(1 - p) / N)."""
    sc = from_yaml(f"""
        seed: 5
        horizon: 60d
        sender: {{preset: postfix}}
        messages: {{count: 1}}
        recipients:
          - domain: a.example
            domains: 400
            outage_process:
              up: {{kind: exponential, mean: 12h}}
              down: 1h
              long: {{p: {p}, duration: {{kind: fixed, value: 1d}}}}
    """)
    lengths = np.round([e - s for w in windows(sc) for s, e, _ in w], 6)    # end - start: rounding steps
    assert set(np.unique(lengths)) == {H, D}
    n = len(lengths)
    assert n > 10_000
    fraction = float(np.mean(lengths == D))
    assert abs(fraction - p) < 4 * math.sqrt(p * (1 - p) / n), (fraction, p, n)


def test_mixture_with_p_zero_and_one():
    """p = 0: no long outage; p = 1: every outage is long."""
    text = """
        horizon: 10d
        sender: {preset: postfix}
        messages: {count: 1}
        recipients:
          - domain: a.example
            domains: 20
            outage_process: {up: 12h, down: 1h, long: {p: P, duration: 5h}}
    """
    assert {e - s for w in windows(from_yaml(text.replace("P", "0"))) for s, e, _ in w} == {H}
    assert {e - s for w in windows(from_yaml(text.replace("P", "1"))) for s, e, _ in w} == {5 * H}


# -- determinism ----------------------------------------------------------------------------------------
PROCESS_YAML = """
    seed: 9
    sender: {preset: exchange-online}
    messages: {count: 3000, arrival: {kind: uniform, start: 0h, end: 4d}}
    recipients:
      - domain: partner.example
        domains: 40
        outage_process:
          up: {kind: exponential, mean: 1d}
          down: {kind: lognormal, median: 1h, sigma: 1.5}
          long: {p: 0.05, duration: {kind: lognormal, median: 2d, sigma: 0.5}}
          failure: refused
        weekly: "Sun 02:00 for 6h"
      - domain: other.example
        share: 0.5
        domains: 10
        random_outage: {start: {kind: uniform, min: 0h, max: 2d}, duration: {kind: lognormal, median: 3h, sigma: 1}}
"""


def test_same_seed_same_windows_and_a_longer_bound_only_adds_later_ones():
    """Windows depend on the seed only; drawn to a later bound, every earlier window is unchanged."""
    sc = from_yaml(PROCESS_YAML)
    first, again = windows(sc), windows(sc)
    assert first == again
    assert windows(sc, seed=10) != first
    until = sc.outage_until_s
    longer, _ = realize_recipients(sc.recipients, sc.seed, until + 30 * D)
    assert sum(len(d.outages) for d in longer) > sum(len(w) for w in first)
    for short, long in zip(first, longer):          # before the bound (a later window may cut one's end)
        assert ([(s, min(e, until), r) for s, e, r in short]
                == [(o.start_s, min(o.end_s, until), o.reply.text) for o in long.outages if o.start_s < until])


def test_a_process_does_not_shift_the_random_outage_draws():
    """The second entry's random outages are the draws they were without the first entry's process."""
    with_process = windows(from_yaml(PROCESS_YAML))[40:]
    data = yaml.safe_load(textwrap.dedent(PROCESS_YAML))
    del data["recipients"][0]["outage_process"], data["recipients"][0]["weekly"]
    without = windows(mtasim.scenario_from_dict(data))[40:]
    assert with_process == without
    assert all(len(w) == 1 for w in without)


def test_fast_des_and_reference_engines_agree_message_by_message():
    """A process with a long mode, weekly windows and random outages: identical per-message results and
    attempts on the fast engine, the DES and the reference engine; conservation holds."""
    sc = from_yaml(PROCESS_YAML)
    assert not des_only_features(sc)
    fast = simulate(sc, engine="fast", attempts=True)
    des = simulate(sc, engine="des", attempts=True)
    ref = simulate(sc, engine="reference", attempts=True)
    assert (fast.engine, des.engine, ref.engine) == ("fast", "des", "reference")
    assert_same(fast, des)
    assert_same(fast, ref)
    assert fast.domains[0].outages == des.domains[0].outages
    m = fast.messages
    counts = [int(np.sum(m.outcome == o)) for o in (Outcome.DELIVERED, Outcome.EXPIRED, Outcome.BOUNCED,
                                                     Outcome.QUEUED)]
    assert sum(counts) == len(m) > 0
    assert counts[1] > 0 and counts[0] > 0       # the outages matter: some mail expires, most is delivered


def test_curve_single_run_equals_explicit_runs_with_a_process():
    """A longer expiry draws windows further, yet the single-run curve equals explicit runs: the earlier
    windows do not change with the bound."""
    from mtasim.curve import expiry_curve
    sc = from_yaml("""
        seed: 4
        sender: {schedule: {kind: exponential, first: 10m, factor: 2, max: 2h}, expiry: 1d}
        messages: {count: 400, arrival: {kind: uniform, start: 0h, end: 2d}}
        recipients:
          - domain: p.example
            domains: 30
            outage_process: {up: {kind: exponential, mean: 1d}, down: {kind: lognormal, median: 3h, sigma: 1.2}}
    """)
    expiries = [2 * H, 6 * H, 12 * H, D, 2 * D]
    single = expiry_curve(sc, expiries, method="single-run")
    explicit = expiry_curve(sc, expiries, method="explicit")
    assert [(p.delivered, p.expired) for p in single.points] == [(p.delivered, p.expired) for p in explicit.points]
    assert single.points[0].delivered < single.points[-1].delivered


# -- a message must or must not survive an outage of the process -----------------------------------
def test_messages_survive_or_not_an_outage_of_a_fixed_process():
    """Up 2h, down 3h (451): outages [2h, 5h), [7h, 10h). Retries every 30 min, at-deadline 3h.
    Arriving at 2h: tried 2h ... 4h30, expires at 5h, just as the outage ends. At 3h: tried at 5h (age
    2h), delivered. At 5h: delivered at once (outages are half-open). At 7h: expires at 10h."""
    sc = from_yaml("""
        messages: {arrival: {kind: times, times: [2h, 3h, 5h, 7h]}}
        recipients:
          - domain: a.example
            outage_process: {up: 2h, down: 3h}
    """, SENDER)
    for engine in ("fast", "des", "reference"):
        m = simulate(sc, engine=engine).messages
        assert [int(o) for o in m.outcome] == [Outcome.EXPIRED, Outcome.DELIVERED, Outcome.DELIVERED,
                                               Outcome.EXPIRED], engine
        assert list(m.final_s / H) == [5.0, 5.0, 5.0, 10.0], engine
        assert list(m.attempts) == [6, 5, 1, 6], engine


# -- weekly maintenance windows ---------------------------------------------------------------------
WEEKLY = """
    start: START
    horizon: 3w
    sender: {preset: postfix}
    messages: {count: 1}
    recipients:
      - domain: a.example
        weekly: WEEKLY
"""


def weekly(start: str, when: str) -> mtasim.Scenario:
    return from_yaml(WEEKLY.replace("START", start).replace("WEEKLY", when))


def test_weekly_window_from_a_friday_start():
    """Start Friday 2026-01-02 00:00 UTC; Sunday 02:00 is 2d2h = 50h later: [50h, 56h), then every 168h."""
    assert spans(weekly("2026-01-02T00:00:00Z", '"Sun 02:00 for 6h"')) == [(50, 56), (218, 224), (386, 392)]


def test_weekly_window_in_a_plus_one_hour_zone():
    """Start Friday 2026-11-27 18:00 +01:00 (Black Friday); Sunday 02:00 on that clock is 32h later."""
    assert spans(weekly("2026-11-27T18:00:00+01:00", '"Sunday 02:00 for 6h"')) == [(32, 38), (200, 206),
                                                                                  (368, 374)]


def test_weekly_window_under_way_at_the_start_is_cut_to_zero():
    """Start Sunday 04:00 UTC: the 02:00-08:00 window is under way, [0, 4h); then 166h, 334h, and 502h
    (before the 3w = 504h horizon)."""
    assert spans(weekly("2026-01-04T04:00:00Z", '"Sun 02:00 for 6h"')) == [(0, 4), (166, 172), (334, 340),
                                                                          (502, 508)]


def test_weekly_list_with_its_own_failure():
    """Two windows a week, one refusing connections; overlapping weeklies: the first listed wins."""
    sc = weekly("2026-01-02T00:00:00Z",
                '["Sat 00:00 for 2h", {window: "Sat 01:00 for 2h", failure: refused}]')
    (only,) = windows(sc)
    assert [(s / H, e / H, r) for s, e, r in only[:2]] == [
        (24, 26, "451 4.3.0 Mail server temporarily unavailable"), (26, 27, "connect: Connection refused")]
    assert len(only) == 6


# -- combining windows ----------------------------------------------------------------------------
def test_overlapping_windows_merge_the_explicit_outage_wins():
    """Explicit [49h, 51h) 550, weekly Sun 02:00 for 6h = [50h, 56h) refused, process up 53h, down 5h =
    [53h, 58h) 451 (and [111h, 116h)): [49h, 51h) 550, [51h, 56h) refused, [56h, 58h) 451."""
    sc = from_yaml("""
        start: 2026-01-02T00:00:00Z
        horizon: 5d
        sender: {preset: postfix}
        messages: {count: 1}
        recipients:
          - domain: a.example
            outages: [{start: 49h, end: 51h, failure: "550 5.1.1 gone"}]
            weekly: {window: "Sun 02:00 for 6h", failure: refused}
            outage_process: {up: 53h, down: 5h}
    """)
    (only,) = windows(sc)
    assert [(s / H, e / H, r) for s, e, r in only] == [
        (49, 51, "550 5.1.1 gone"), (51, 56, "connect: Connection refused"),
        (56, 58, "451 4.3.0 Mail server temporarily unavailable"),
        (111, 116, "451 4.3.0 Mail server temporarily unavailable")]


def test_touching_windows_with_the_same_reply_become_one():
    """Explicit [10h, 12h) and a process outage [12h, 14h), both 451: one window [10h, 14h)."""
    sc = from_yaml("""
        horizon: 1d
        sender: {preset: postfix}
        messages: {count: 1}
        recipients:
          - domain: a.example
            outages: [{start: 10h, end: 12h}]
            outage_process: {up: 12h, down: 2h}
    """)
    assert spans(sc) == [(10, 14)]


# -- timestamps ---------------------------------------------------------------------------------------
def test_timestamps_resolve_against_the_scenario_start():
    """Start 2026-11-27 18:00 +01:00: 20:00 +01:00 is 2h; 2026-11-28 00:00 UTC is 01:00 +01:00, 7h; a
    timestamp without a zone is on the start's clock (21:00 -> 3h); a date is midnight there (6h)."""
    sc = from_yaml("""
        start: 2026-11-27T18:00:00+01:00
        sender: {preset: postfix}
        messages: {count: 1}
        recipients:
          - domain: a.example
            outages:
              - {start: "2026-11-27T20:00:00+01:00", end: 2026-11-27T20:30:00+01:00}
              - {start: "2026-11-27T21:00:00", end: 2026-11-28}
              - {start: 2026-11-28T00:00:00Z, end: 8h}
    """)
    assert [(o.start_s / H, o.end_s / H) for o in sc.recipients[0].outages] == [(2, 2.5), (3, 6), (7, 8)]


# -- 5xx outages: false hard bounces ---------------------------------------------------------------
def test_a_5xx_outage_bounces_mail_in_it_and_delivers_mail_outside():
    """Gmail, 15 Dec 2020 (docs/provider-and-recipient-facts.md B.5): 550 5.1.1 for existing users during
    [1h, 3h). Mail arriving in it bounces at its first attempt with 5.1.1; before and after: delivered."""
    sc = from_yaml("""
        messages: {arrival: {kind: times, times: [0h, 1h, 2h59m, 3h]}}
        recipients:
          - domain: gmail.example
            outages:
              - {start: 1h, end: 3h, failure: "550 5.1.1 The email account that you tried to reach does not exist"}
    """, SENDER)
    for engine in ("fast", "des"):
        m = simulate(sc, engine=engine).messages
        assert [int(o) for o in m.outcome] == [Outcome.DELIVERED, Outcome.BOUNCED, Outcome.BOUNCED,
                                               Outcome.DELIVERED], engine
        assert [m.status_text(i) for i in range(4)] == ["2.0.0", "5.1.1", "5.1.1", "2.0.0"]
        assert list(m.attempts) == [1, 1, 1, 1]


def test_a_5xx_process_bounces_only_during_its_outages():
    """A process answering 550 5.1.1: exactly the messages arriving inside one of its windows bounce."""
    sc = from_yaml("""
        seed: 2
        sender: {preset: exchange-online}
        messages: {count: 2000, arrival: {kind: uniform, start: 0h, end: 10d}}
        recipients:
          - domain: gmail.example
            domains: 5
            outage_process: {up: {kind: exponential, mean: 1d}, down: {kind: lognormal, median: 2h, sigma: 1},
                             failure: "550 5.1.1 does not exist"}
    """)
    r = simulate(sc, engine="fast")
    m = r.messages
    inside = np.array([r.domains[m.recipient[i]].outage_at(m.arrival_s[i]) is not None for i in range(len(m))])
    assert 0 < inside.sum() < len(m)
    assert np.array_equal(m.outcome == Outcome.BOUNCED, inside)
    assert np.all(m.outcome[~inside] == Outcome.DELIVERED)


# -- the bound --------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["postfix", "exim", "sendmail", "exchange-server", "kumomta", "haraka",
                                    "qmail", "chasquid"])
@pytest.mark.parametrize("failure", ["refused", "timeout", "451 4.3.0 x"])
def test_without_a_horizon_every_attempt_comes_before_the_bound(preset, failure):
    """A domain down from t = 0 for 30 days (start: down): every message is tried until it gives up, and
    no attempt is at or after the bound the windows are drawn to, so no message would find the domain up
    past the drawn windows. The bound is generous, not absurd: within two days of the last attempt."""
    sc = mtasim.scenario_from_dict({
        "seed": 3, "sender": {"preset": preset},
        "messages": {"count": 60, "arrival": {"kind": "uniform", "start": 0, "end": "1d"}},
        "recipients": [{"domain": "a.example", "connect_timeout": "2m",
                        "outage_process": {"up": "1m", "down": "30d", "start": "down", "failure": failure}}]})
    until = sc.outage_until_s
    assert until == latest_arrival_s(sc.workload) + message_life_bound_s(sc.sender, 120.0)
    r = simulate(sc, engine="des", attempts=True)
    assert until - 2 * D < r.attempts.time_s.max() < until
    assert not np.any(r.messages.outcome == Outcome.DELIVERED)


def test_the_bound_is_the_horizon_when_there_is_one():
    sc = from_yaml("""
        horizon: 36h
        sender: {preset: postfix}
        messages: {count: 1}
        recipients: [{domain: a.example, weekly: "Mon 00:00 for 1h"}]
    """)
    assert sc.outage_until_s == 36 * H


def test_no_bound_is_computed_without_recurring_outages():
    sc = from_yaml("""
        sender: {preset: postfix}
        messages: {count: 1}
        recipients: [{domain: a.example, outages: [{start: 1h, end: 2h}]}]
    """)
    assert sc.outage_until_s is None


def test_realize_without_the_bound_is_refused():
    sc = from_yaml(PROCESS_YAML)
    with pytest.raises(ValueError, match="until_s"):
        realize_recipients(sc.recipients, 1)


def test_drawing_past_the_cap_is_refused_while_drawing():
    """Heavy tails defeat the estimate; the draw counts as it goes and stops at the cap, naming the key."""
    sc = from_yaml(PROCESS_YAML)
    process = sc.recipients[0].process
    with pytest.raises(ConfigError, match=r"recipients\[0\]\.outage_process: expected at most"):
        process.draw(np.random.default_rng(1), 40, sc.outage_until_s, cap=100)


def test_a_refusing_process_turns_on_postfix_host_state():
    sc = from_yaml("""
        sender: {preset: postfix}
        messages: {count: 10}
        recipients: [{domain: a.example, outage_process: {up: 1d, down: 1h, failure: refused}}]
    """)
    assert des_only_features(sc)


# -- bad input: one line, exit 2, from run and from validate ---------------------------------------------
BASE = "sender: {preset: postfix}\nmessages: {count: 2}\n"


def recipient(body: str, extra: str = "") -> str:
    return BASE + extra + "recipients:\n  - domain: a.example\n" + textwrap.indent(textwrap.dedent(body), "    ")


BAD = [
    ("negative-up", recipient("outage_process: {up: -1h, down: 1h}"),
     ["recipients[0].outage_process.up", ">= 0", "-1h"]),
    ("zero-down", recipient("outage_process: {up: 1d, down: 0}"),
     ["recipients[0].outage_process.down", "> 0"]),
    ("zero-exponential-mean", recipient("outage_process: {up: {kind: exponential, mean: 0s}, down: 1h}"),
     ["recipients[0].outage_process.up.mean", "> 0"]),
    ("zero-in-empirical", recipient("outage_process: {up: 1d, down: {kind: empirical, values: [1h, 0]}}"),
     ["recipients[0].outage_process.down.values[1]", "> 0"]),
    ("empty-empirical", recipient("outage_process: {up: 1d, down: {kind: empirical, values: []}}"),
     ["recipients[0].outage_process.down.values", "at least one value"]),
    ("p-above-one", recipient("outage_process: {up: 1d, down: 1h, long: {p: 1.5, duration: 2d}}"),
     ["recipients[0].outage_process.long.p", "<= 1", "1.5"]),
    ("p-negative", recipient("outage_process: {up: 1d, down: 1h, long: {p: -0.1, duration: 2d}}"),
     ["recipients[0].outage_process.long.p", ">= 0"]),
    ("p-nan", recipient("outage_process: {up: 1d, down: 1h, long: {p: .nan, duration: 2d}}"),
     ["recipients[0].outage_process.long.p", "nan"]),
    ("sigma-nan", recipient("outage_process: {up: 1d, down: {kind: lognormal, median: 1h, sigma: .nan}}"),
     ["recipients[0].outage_process.down.sigma", "nan"]),
    ("long-without-duration", recipient("outage_process: {up: 1d, down: 1h, long: {p: 0.1}}"),
     ["recipients[0].outage_process.long.duration", "missing required key"]),
    ("unknown-kind", recipient("outage_process: {up: {kind: weibull, mean: 1d}, down: 1h}"),
     ["recipients[0].outage_process.up.kind", "expected one of", "weibull"]),
    ("bad-start-state", recipient("outage_process: {up: 1d, down: 1h, start: sideways}"),
     ["recipients[0].outage_process.start", "up, down"]),
    ("bad-failure", recipient("outage_process: {up: 1d, down: 1h, failure: 250 ok}"),
     ["recipients[0].outage_process.failure", "4xx or 5xx"]),
    ("unknown-process-key", recipient("outage_process: {up: 1d, dwon: 1h}"),
     ["recipients[0].outage_process.dwon", "'down'"]),
    ("unknown-long-key", recipient("outage_process: {up: 1d, down: 1h, long: {p: 0.1, duration: 1d, mean: 1}}"),
     ["recipients[0].outage_process.long.mean", "unknown key"]),
    ("unknown-distribution-key", recipient("outage_process: {up: {kind: exponential, maen: 1d}, down: 1h}"),
     ["recipients[0].outage_process.up.maen", "'mean'"]),
    ("misspelt-process", recipient("outage_proces: {up: 1d, down: 1h}"),
     ["recipients[0].outage_proces", "'outage_process'"]),
    ("weekly-unparsable", recipient('weekly: "Sunday at 2 for 6h"'),
     ["recipients[0].weekly", "Sun 02:00", "Sunday at 2"]),
    ("weekly-no-duration", recipient('weekly: "Sun 02:00"'),
     ["recipients[0].weekly", "Sun 02:00 for 6h"]),
    ("weekly-bad-hour", recipient('weekly: ["Sat 01:00 for 1h", "Sun 25:00 for 1h"]'),
     ["recipients[0].weekly[1]", "00:00 to 23:59:59"]),
    ("weekly-zero-length", recipient('weekly: "Sun 02:00 for 0h"'),
     ["recipients[0].weekly", "> 0"]),
    ("weekly-longer-than-a-week", recipient('weekly: "Sun 02:00 for 8d"'),
     ["recipients[0].weekly", "at most 1w"]),
    ("weekly-unknown-key", recipient('weekly: {windw: "Sun 02:00 for 1h"}'),
     ["recipients[0].weekly.windw", "'window'"]),
    ("weekly-not-text", recipient("weekly: 7"),
     ["recipients[0].weekly", "expected text"]),
    ("timestamp-before-start", recipient('outages: [{start: "2026-11-27T08:00:00+01:00", end: 5h}]',
                                         extra="start: 2026-11-27T09:00:00+01:00\n"),
     ["recipients[0].outages[0].start", "at or after the scenario's start", "1h before it"]),
    ("timestamp-end-before-start", recipient('outages: [{start: 2h, end: "2026-01-01T01:00:00Z"}]'),
     ["recipients[0].outages[0].end", "after start"]),
    ("timestamp-unparsable", recipient('outages: [{start: "2026-13-01T00:00:00Z", end: 5h}]'),
     ["recipients[0].outages[0].start", "ISO 8601", "2026-13-01"]),
    ("too-many-windows", recipient("domains: 1000000\noutage_process: {up: 1m, down: 1m}", extra="horizon: 30d\n"),
     ["recipients[0].outage_process", f"at most {MAX_WINDOWS:,} outage windows", "about 21,601,000,000"]),
    ("too-many-weekly-windows", recipient("domains: 1000000\nweekly: Sun 02:00 for 1h", extra="horizon: 20w\n"),
     ["recipients[0].weekly", "about 20,000,000", "1,000,000 domains x about 20 windows each until 140d"]),
    ("unbounded-life-needs-a-horizon",
     "sender: {schedule: {kind: exponential, first: 1h, factor: 2}, give_up: attempts, max_attempts: 40}\n"
     "messages: {count: 2}\nrecipients: [{domain: a.example, outage_process: {up: 1d, down: 1h}}]\n",
     ["horizon", "expected a horizon", "1000d"]),
]


@pytest.mark.parametrize("text, expected", [(t, e) for _, t, e in BAD], ids=[i for i, _, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, text, expected):
    """`run` and `validate` both exit 2 with the same single line naming the file and the key path."""
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    lines = []
    for command in ("run", "validate"):
        code = main([command, str(path)] + (["--out", str(tmp_path / "out")] if command == "run" else []))
        out, err = capsys.readouterr()
        assert code == 2, (code, out, err)
        assert "Traceback" not in err and len(err.splitlines()) == 1, err
        lines.append(err.strip())
    assert lines[0] == lines[1]
    assert lines[0].startswith("mtasim: ") and "bad.yaml" in lines[0]
    for part in expected:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"
    assert not (tmp_path / "out").exists()


def test_the_good_scenarios_of_this_module_validate(capsys, tmp_path):
    """The bad inputs above fail for the stated reason: the same file with the fault removed is accepted."""
    path = tmp_path / "good.yaml"
    path.write_text(recipient("outage_process: {up: 1d, down: {kind: empirical, values: [1h, 2h]}, "
                              "long: {p: 0.5, duration: 2d}, start: down, failure: refused}\n"
                              'weekly: ["Sun 02:00 for 6h", {window: "Wed 23:00 for 1h", failure: timeout}]\n'
                              'outages: [{start: "2026-01-01T01:00:00Z", end: 5h}]'), encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "outage process: up 1d, down one of 1h, 2h (or with p 0.5 2d), starting down" in out
    assert "weekly Sun 02:00 for 6h" in out

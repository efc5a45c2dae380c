"""Host-level state (mtasim.hosts): destinations remembered across messages, DES only."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import scenario
from helpers import Q30_ROW
from hypothesis import given, settings
from hypothesis import strategies as st

import mtasim
from mtasim import Outcome
from mtasim.engine import EngineUnavailableError, des_only_features
from mtasim.recipients import DELIVERED_REPLY, AttemptResult, failure_reply

#: Postfix with the compressed timings of the real runs in docs/mta-retry-facts.md §12.
POSTFIX_FAST = {"preset": "postfix", "queue_run_delay": "5s", "minimal_backoff_time": "5s",
                "maximal_backoff_time": "40s", "maximal_queue_lifetime": "300s"}


def burst(sender, failure, count=10, end="60s"):
    sc = scenario(sender, [{"start": 0, "end": end, "failure": failure}], {"count": count})
    return mtasim.simulate(sc, attempts=True)


def results_at(result, t):
    a = result.attempts
    return sorted(int(r) for r, x in zip(a.result, a.time_s) if x == t)


def test_postfix_burst_to_a_refusing_destination_marks_it_dead():
    """10 messages at t = 0 to a refusing destination: each failure adds 1/window to the failed cohort
    before the window shrinks (qmgr_queue_throttle(): the first failure takes 5 to 3, the overshoot
    guard, then 3 to 2), so 1/5 + 1/3 + 1/2 >= 1: 3 connect and are refused, then the destination is
    dead for minimal_backoff_time (5 s) and the other 7 are deferred without a connection ("delivery temporarily suspended")."""
    result = burst(POSTFIX_FAST, "refused")
    assert result.engine == "des"
    assert results_at(result, 0.0) == [AttemptResult.REFUSED] * 3 + [AttemptResult.SUSPENDED] * 7
    a = result.attempts
    suspended = [a.replies[k] for k, r in zip(a.reply, a.result) if r == AttemptResult.SUSPENDED]
    assert suspended and all(s.startswith("delivery temporarily suspended: connect") for s in suspended)
    # the suspended messages keep their own schedule: all 10 are due again at the 5 s scan
    assert len(results_at(result, 5.0)) == 10


def test_postfix_dead_destination_counts_only_real_connections():
    """The outage ends at 60 s; every message is delivered, and the real connections are fewer than the
    passes (suspended passes made none)."""
    result = burst(POSTFIX_FAST, "refused")
    m, a = result.messages, result.attempts
    assert np.all(m.outcome == Outcome.DELIVERED)
    real = np.count_nonzero(a.result != AttemptResult.SUSPENDED)
    assert real < len(a) and np.count_nonzero(a.result == AttemptResult.SUSPENDED) > 0


def test_postfix_4xx_at_rcpt_never_marks_the_destination_dead():
    """A 451 at RCPT defers only that recipient: the same burst under 451 is never suspended, and the fast
    engine may run it (the dead-destination state cannot act)."""
    result = burst(POSTFIX_FAST, "451 4.3.0 try later")
    assert not np.any(result.attempts.result == AttemptResult.SUSPENDED)
    assert result.engine == "fast" and not des_only_features(result.scenario)


def test_postfix_single_message_never_trips_the_dead_destination():
    """One message retried on its own: its failures are far apart, the destination queue empties in
    between, so it never becomes dead (every pass connects)."""
    result = burst(POSTFIX_FAST, "refused", count=1)
    assert not np.any(result.attempts.result == AttemptResult.SUSPENDED)


def test_postfix_cohort_limit_zero_turns_the_state_off():
    """default_destination_concurrency_failed_cohort_limit = 0: no dead destination, the fast engine runs."""
    result = burst({**POSTFIX_FAST, "default_destination_concurrency_failed_cohort_limit": 0}, "refused")
    assert result.engine == "fast" and not np.any(result.attempts.result == AttemptResult.SUSPENDED)


def test_fast_engine_names_the_host_state_it_cannot_run():
    """--engine fast on a Postfix scenario with refused connections is refused naming the feature."""
    sc = scenario(POSTFIX_FAST, [{"start": 0, "end": "60s", "failure": "refused"}], {"count": 3})
    with pytest.raises(EngineUnavailableError, match="dead-destination"):
        mtasim.simulate(sc, engine="fast")


def test_curve_with_host_state_falls_back_to_explicit_runs():
    """With host-level state one run cannot answer every window: the curve runs each point."""
    from mtasim.curve import expiry_curve
    sc = scenario(POSTFIX_FAST, [{"start": 0, "end": "10m", "failure": "refused"}],
                  {"count": 20, "arrival": {"kind": "uniform", "start": 0, "end": "2m"}})
    curve = expiry_curve(sc, [60.0, 300.0, 900.0])
    assert curve.method == "explicit"
    assert [p.delivered for p in curve.points] == sorted(p.delivered for p in curve.points)
    assert curve.points[-1].delivered == 20


def test_tune_expiry_with_host_state_bisects_to_a_tight_answer():
    """tune expiry on a host-state scenario bisects over whole seconds: the answer delivers the target, one
    second less does not."""
    from dataclasses import replace

    from mtasim.tune import tune_expiry
    sc = scenario(POSTFIX_FAST, [{"start": 0, "end": "10m", "failure": "refused"}],
                  {"count": 20, "arrival": {"kind": "uniform", "start": 0, "end": "2m"}})
    answer = tune_expiry(sc, 1.0, max_expiry_s=3600.0)
    assert answer.method == "bisection" and answer.expiry_s is not None

    def delivered(expiry_s):
        run = replace(sc, sender=replace(sc.sender, expiry_s=expiry_s))
        return mtasim.simulate(run).messages.count(Outcome.DELIVERED)

    assert delivered(answer.expiry_s) == 20 and delivered(answer.expiry_s - 1) < 20


def test_opensmtpd_route_disabled_for_15_seconds_after_a_refusal():
    """OpenSMTPD: the first refusal disables the route for 15 s; an envelope dispatched 10 s later is deferred
    without connecting (suspended) and uses up its retry step (its next try is at 400 s x 2^2 = 1600 s after
    its arrival, not 400 s); one dispatched 20 s later connects."""
    sc = scenario({"preset": "opensmtpd"}, [{"start": 0, "end": "1h", "failure": "refused"}],
                  {"arrival": {"kind": "times", "times": [0, 10, 20]}})
    result = mtasim.simulate(sc, attempts=True)
    a = result.attempts
    first = {int(i): (float(t), int(r)) for i, k, t, r in zip(a.message_id, a.attempt, a.time_s, a.result) if k == 1}
    assert first == {0: (0.0, AttemptResult.REFUSED), 1: (10.0, AttemptResult.SUSPENDED),
                     2: (20.0, AttemptResult.REFUSED)}
    assert a.for_message(1).tolist()[:2] == [10.0, 410.0]        # 400 s after arrival: the 1st retry step


EXIM_FAST = {"preset": "exim", "retry_rules": "F,60s,10s; G,300s,20s,1.5", "queue_interval": "5s",
             "delay_warning": 0}
#: The §12 compressed run for one message alone (tests/test_presets_exim.py): its real attempts.
EXIM_ALONE = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 90.0, 120.0, 165.0, 235.0, 305.0]


def test_exim_messages_sharing_a_refusing_host_share_one_retry_record():
    """§12: refused connections are keyed per host, so the three messages (arrivals 0, 25, 50 s) follow one
    schedule: the real connections, whichever message makes them, are at the times of a message alone;
    the message arriving at 25 s meets "retry time not reached" at every pass and never connects; when the
    record passes the 300 s cutoff (the failed 305 s attempt) all three fail at 305 s with 5.0.0. The queue
    runs take messages in arrival order (``queue_run_in_order``), so the oldest makes each connection."""
    sc = scenario({**EXIM_FAST, "queue_run_in_order": 1}, [{"start": 0, "end": "1h", "failure": "refused"}],
                  {"arrival": {"kind": "times", "times": [0, 25, 50]}})
    result = mtasim.simulate(sc, attempts=True)
    a, m = result.attempts, result.messages
    real = a.result != AttemptResult.SUSPENDED
    assert sorted(set(a.time_s[real].tolist())) == EXIM_ALONE
    assert not np.any(real & (a.message_id == 1)), "the message arriving at 25 s should never connect"
    assert m.final_s.tolist() == [305.0, 305.0, 305.0]
    assert [m.status_text(i) for i in range(3)] == ["5.0.0"] * 3
    skipped = [a.replies[x] for x, k in zip(a.reply, real) if not k]
    assert skipped and all(r.startswith(("retry time not reached", "all hosts have been failing")) for r in skipped)


def test_exim_single_message_with_host_record_matches_the_worked_example():
    """One message alone: the shared record is its own, so the DES run gives the §10 Debian -q30m row."""
    sc = scenario({"preset": "exim"}, [{"start": 0, "end": "10d", "failure": "refused"}])
    result = mtasim.simulate(sc, attempts=True)
    assert result.engine == "des"
    assert result.attempts.for_message(0).tolist() == list(Q30_ROW)
    assert result.messages.final_s[0] == 96.5 * 3600


def test_exchange_destination_queue_retries_for_all_its_messages():
    """Exchange Server: the refused destination's queue goes into Retry and climbs the ladder once for all
    its mail (failures at 0, 1, 2, 3, 4 min (glitch), 9, 14, 19, 24, 29 (transient)); mail arriving at 2,
    3.5, 7 and 20 min joins the wait; the outage ends at 30 min and the queue's try at 34 min delivers
    every message at once."""
    sc = scenario({"preset": "exchange-server"}, [{"start": 0, "end": "30m", "failure": "refused"}],
                  {"arrival": {"kind": "times", "times": [0, "2m", "3m30s", "7m", "20m"]}})
    result = mtasim.simulate(sc, attempts=True)
    a, m = result.attempts, result.messages
    real = a.result != AttemptResult.SUSPENDED
    assert sorted(set((a.time_s[real] / 60).tolist())) == [0, 1, 2, 3, 4, 9, 14, 19, 24, 29, 34]
    assert m.final_s.tolist() == [34 * 60.0] * 5 and np.all(m.outcome == Outcome.DELIVERED)


def test_exchange_without_the_queue_each_message_climbs_its_own_ladder():
    """destination_retry_queue 0: the message arriving at 7 min has its own ladder (7, 8, 9, 10, 11, 16,
    21, 26 refused) and is delivered at 31 min, not 34."""
    sc = scenario({"preset": "exchange-server", "destination_retry_queue": 0},
                  [{"start": 0, "end": "30m", "failure": "refused"}],
                  {"arrival": {"kind": "times", "times": [0, "7m"]}})
    result = mtasim.simulate(sc, attempts=True)
    assert result.engine == "fast"
    assert (result.attempts.for_message(1) / 60).tolist() == [7, 8, 9, 10, 11, 16, 21, 26, 31]
    assert result.messages.final_s[1] == 31 * 60.0


POSTFIX_12 = {**POSTFIX_FAST, "delay_warning_time": "60s"}


def test_postfix_compressed_run_of_section_12_with_a_75_second_451_outage():
    """§12 Postfix timings (5 s scans, 5..40 s back-off): a message at 0 s is tried at 0, 5, 10, 20, 40 and
    delivered at the 80 s scan (due 40 + 40); one at 30 s at 30, 35, 40, 50, 70 and delivered at 110 s. A 451
    at RCPT never suspends; no warning (no failure reaches 60 s of age)."""
    sc = scenario(POSTFIX_12, [{"start": 0, "end": "75s", "failure": "451 4.3.0 try later"}],
                  {"arrival": {"kind": "times", "times": [0, 30]}})
    result = mtasim.simulate(sc, attempts=True)
    assert result.attempts.for_message(0).tolist() == [0, 5, 10, 20, 40, 80]
    assert result.attempts.for_message(1).tolist() == [30, 35, 40, 50, 70, 110]
    assert result.messages.final_s.tolist() == [80.0, 110.0]
    assert result.summary()["delay_warnings"] == 0


def test_postfix_compressed_expiry_and_one_warning():
    """§12: a 451 outage longer than the 300 s lifetime: tries at 0, 5, 10, 20, 40, then every 40 s; one
    warning at the first failure at least 60 s old (80 s); expired after the failed 320 s try (the first at
    or past 300 s) with the last deferral's status 4.3.0."""
    sc = scenario(POSTFIX_12, [{"start": 0, "end": "10m", "failure": "451 4.3.0 try later"}])
    result = mtasim.simulate(sc, attempts=True)
    assert result.attempts.for_message(0).tolist() == [0, 5, 10, 20, 40] + [40 + 40 * k for k in range(1, 8)]
    m = result.messages
    assert (m.warned_s[0], m.final_s[0], m.status_text(0)) == (80.0, 320.0, "4.3.0")
    assert result.summary()["delay_warnings"] == 1


# -- the quiet() contract the batched DES relies on ------------------------------------------------
HOST_PRESETS = [{"preset": "postfix"}, {"preset": "sendmail"}, {"preset": "sendmail", "HostStatusDirectory": ""},
                {"preset": "opensmtpd"}, {"preset": "exim"}, {"preset": "exchange-server"}]
REPLIES = {"refused": failure_reply("refused", 30.0), "timeout": failure_reply("timeout", 30.0),
           "451": failure_reply("451 4.3.0 busy", 30.0), "delivered": DELIVERED_REPLY}


def host_sender(sender):
    return mtasim.scenario_from_dict({"sender": sender, "messages": {"count": 1},
                                      "recipients": [{"domain": "a"}]}).sender


def host_policy(sender):
    return host_sender(sender).host_policy


@pytest.mark.parametrize("sender", HOST_PRESETS, ids=lambda s: "-".join(str(v) or "none" for v in s.values()))
@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 0.5, 5.0, 15.0, 20.0, 60.0, 299.0, 301.0, 900.0, 1800.0, 7200.0]),
                          st.sampled_from(sorted(REPLIES)), st.floats(0, 7200), st.sampled_from([1, 1, 6])),
                min_size=1, max_size=30))
def test_a_quiet_state_decides_every_attempt_before_until_alike_without_changing(sender, events):
    """Whenever ``quiet()`` says (decision, until), an attempt before ``until`` is held back with exactly
    that deferral (or connects, for None), and neither that nor, when it connects, a reply other than a
    connection failure changes what the state says: what lets the DES advance such attempts together.
    Events come alone or several at one moment (a scan), which is what trips the states."""
    state, t = host_policy(sender).new_state(host_sender(sender)), 0.0
    for gap, kind, age, count in events:
        t += gap
        reply, arrival = REPLIES[kind], t - age
        for _ in range(count):
            quiet = state.quiet()
            if quiet is not None and t < quiet[1]:
                decision, until = quiet
                probe = copy.deepcopy(state)
                assert probe.before_attempt(t, arrival) == decision, "a quiet state decided otherwise"
                if decision is None and not reply.result.is_connection_failure:
                    probe.after_attempt(t, reply)
                assert probe.quiet() == quiet, "a quiet state changed"
            held = state.before_attempt(t, arrival)     # then the real sequence goes on
            if held is None:
                state.after_attempt(t, reply)

"""Messages per second of the engines against two baselines, all measured in one process.

* **Per-message SimPy baseline** (baselines/des_per_message.py): one SimPy process per message running the
  reference steps — the yardstick for the DES.
* **Plain NumPy loop** (baselines/numpy_postfix.py): only Postfix's schedule arithmetic, attempt-synchronous
  — the yardstick for the fast engine (reported as fast time / loop time; target <= 1.5).

A Postfix-preset sender (24 h lifetime) mails one destination with 16 outage windows over four days (half
refusing connections, half answering 451); messages arrive uniformly over the first three days. The same
scenario is run without host-level state (every engine) and with Postfix's dead-destination state (the DES
and the per-message baseline only); a third scenario spreads host-state mail over 2,000 small destinations.
Each number is the median of ``--repeat`` runs (the baseline: of ``--baseline-repeat``). Results are
checked: the DES against the fast engine and the NumPy loop (per message), and against the reference
engine on the first ``--check`` messages' scenario. Ratios are the claim; absolute numbers depend on the machine.

* **Capacity case** (issue 13; the DES only): a custom sender (fixed 10 min retries, 24 h expiry,
  ``last-attempt``) with ``concurrency: 20`` mails one domain that answers 451 from 2 h to 8 h, limits
  the rate with a token bucket and takes a lognormal time per attempt; messages arrive uniformly over three
  days. Its yardstick is baselines/des_capacity.py, the straightforward SimPy model written from the same
  contract (one process per message, a ``PriorityResource`` of 20 slots): checked against the DES message
  by message (outcome, attempts, final time within 1e-6 s) on ``--check`` messages, as given and with a
  4 h expiry. The destination's capacity grows with the size (:func:`capacity_case`), so every size puts the
  same load per message; a size above ``--baseline-max`` is compared with the baseline at ``--baseline-max``
  messages (per message; the baseline's own cost per message grows with the size, so this understates).

    .venv/bin/python benchmarks/engines.py [--sizes 100000,1000000] [--baseline-max 100000] [--memory N]
                                           [--cases postfix,capacity]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import mtasim
from mtasim.engine.fast import run_fast
from mtasim.recipients import realize_recipients
from mtasim.results import Outcome, Recorder
from mtasim.workload import Workload, assign_recipients

sys.path.insert(0, str(Path(__file__).resolve().parent / "baselines"))
import des_capacity  # noqa: E402
import numpy_postfix  # noqa: E402
from des_per_message import run_des_per_message  # noqa: E402


def scenario(messages: int, host_state: bool = False, destinations: int = 1) -> mtasim.Scenario:
    outages = [{"start": f"{5 * k + 1}h", "end": f"{5 * k + 1 + (k % 4 + 1)}h",
                "failure": "451 4.3.0 try later" if k % 2 else "refused"} for k in range(16)]
    recipient = {"domain": "d.example", "outages": outages}
    if destinations > 1:
        recipient["domains"] = destinations
    return mtasim.scenario_from_dict({
        "name": f"postfix, 16 outages, {messages:,} messages",
        "seed": 1,
        # Postfix's dead-destination state couples messages (DES only); off unless host_state is asked for
        "sender": {"preset": "postfix", "maximal_queue_lifetime": "1d", "queue_run_phase": "37s",
                   "default_destination_concurrency_failed_cohort_limit": 1 if host_state else 0},
        "messages": {"count": messages, "arrival": {"kind": "uniform", "start": 0, "end": "3d"}},
        "recipients": [recipient],
    })


#: The capacity case at 10**6 messages; smaller and larger sizes scale the destination's capacity with them.
CAPACITY_FULL = 10**6
CAPACITY_DAYS = 3


def capacity_case(messages: int) -> dict:
    """The capacity case's parameters for ``messages`` messages, as des_capacity.run's keywords. At 10**6:
    20 slots, lognormal attempts of median 2 s (sigma 0.5; about 8.8 attempts/s at most, against 3.9
    arrivals/s), a bucket of 200 tokens refilled at 21,600/h (so the backlog of the 6 h outage drains at
    what the bucket allows, with the slots full and 421s among the attempts). At other sizes the rate,
    burst and 1 / median scale with the size (the 20 slots and the times do not), so the load per message
    (queueing, throttling, 1.30 attempts per message) stays the same from about 20,000 messages up; below,
    the median nears the 10 min retry interval (1.56 attempts per message at 10,000, 2.5 at 5,000)."""
    k = messages / CAPACITY_FULL
    return dict(concurrency=20, interval_s=600.0, expiry_s=86400.0, outage_start_s=2 * 3600.0,
                outage_end_s=8 * 3600.0, rate_per_s=21600 * k / 3600, burst=max(1, round(200 * k)),
                median_s=2.0 / k, sigma=0.5, seed=1)


def capacity_arrivals(messages: int) -> np.ndarray:
    """The case's arrival times (the scenario's ``{kind: uniform, start: 0, end: 3d}`` draw)."""
    return Workload("uniform", messages, 0.0, CAPACITY_DAYS * 86400.0).arrivals(capacity_case(messages)["seed"])


def capacity_scenario(messages: int, expiry_s: float | None = None) -> mtasim.Scenario:
    """The capacity case as an mtasim scenario, with another ``expiry_s`` if given."""
    c = capacity_case(messages)
    return mtasim.scenario_from_dict({
        "name": f"concurrency 20, token bucket, lognormal attempts, {messages:,} messages",
        "seed": c["seed"],
        "sender": {"schedule": {"kind": "fixed", "interval": c["interval_s"]},
                   "expiry": c["expiry_s"] if expiry_s is None else expiry_s, "give_up": "last-attempt",
                   "concurrency": c["concurrency"]},
        "messages": {"count": messages, "arrival": {"kind": "uniform", "start": 0, "end": f"{CAPACITY_DAYS}d"}},
        "recipients": [{
            "domain": "d.example",
            "outages": [{"start": c["outage_start_s"], "end": c["outage_end_s"], "failure": "451 4.3.0 down"}],
            "rate_limit": {"rate": f"{c['rate_per_s']!r}/s", "burst": c["burst"],     # parses back exactly
                           "reply": "421 4.7.0 Try again later, closing connection"},
            "transaction_time": {"kind": "lognormal", "median": c["median_s"], "sigma": c["sigma"]},
        }],
    })


def same_as_capacity(result, baseline) -> bool:
    """The DES and des_capacity agree per message: outcome, attempt count, final time within 1e-6 s."""
    outcome, final, attempts = baseline
    m = result.messages
    return (np.array_equal(m.outcome, outcome) and np.array_equal(m.attempts, attempts)
            and np.allclose(m.final_s, final, rtol=0, atol=1e-6))


def check_capacity(messages: int) -> str:
    """Compare the DES with des_capacity on the case at ``messages`` (as given and with a 4 h expiry)."""
    for expiry_s in (None, 4 * 3600.0):
        sc = capacity_scenario(messages, expiry_s)
        assert np.array_equal(sc.workload.arrivals(sc.seed), capacity_arrivals(messages)), "arrivals differ"
        case = dict(capacity_case(messages), **({} if expiry_s is None else {"expiry_s": expiry_s}))
        result = mtasim.simulate(sc, engine="des")
        baseline = des_capacity.run(capacity_arrivals(messages), **case)
        if not same_as_capacity(result, baseline):
            m, (outcome, final, attempts) = result.messages, baseline
            bad = np.flatnonzero((m.outcome != outcome) | (m.attempts != attempts)
                                 | ~np.isclose(m.final_s, final, rtol=0, atol=1e-6))
            i = int(bad[0])
            raise AssertionError(
                f"the DES and des_capacity disagree on {len(bad):,} of {messages:,} messages (expiry "
                f"{case['expiry_s']:g} s); first: message {i}, DES {Outcome(int(m.outcome[i])).label} at "
                f"{m.final_s[i]!r} after {m.attempts[i]} attempts, baseline "
                f"{'delivered' if outcome[i] == des_capacity.DELIVERED else 'expired'} at {final[i]!r} "
                f"after {attempts[i]} attempts")
    return f"checked against the DES on {messages:,} messages (24 h and 4 h expiry)"


def median_time(fn, repeat: int):
    """Median wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def engine_only(sc: mtasim.Scenario):
    """The fast engine's run on prepared inputs (what the NumPy loop is also given)."""
    arrivals = sc.workload.arrivals(sc.seed)
    domains, first = realize_recipients(sc.recipients, sc.seed, sc.outage_until_s)
    recipient_of = assign_recipients([r.share for r in sc.recipients], [r.domains for r in sc.recipients], first,
                                     len(arrivals), sc.seed)

    def run():
        recorder = Recorder(arrivals, recipient_of, [d.domain for d in domains])
        run_fast(sc.sender, domains, sc.horizon_s, sc.seed, arrivals, recipient_of, recorder)
        return recorder
    return run


def same(a, b) -> bool:
    """Identical per-message outcomes, statuses, attempt counts, final times and warnings."""
    ma, mb = a.messages, b.messages
    return (np.array_equal(ma.outcome, mb.outcome) and np.array_equal(ma.attempts, mb.attempts)
            and np.allclose(ma.final_s, mb.final_s, rtol=0, atol=1e-9, equal_nan=True)
            and np.allclose(ma.warned_s, mb.warned_s, rtol=0, atol=1e-9, equal_nan=True)
            and [ma.status_text(i) for i in range(len(ma))] == [mb.status_text(i) for i in range(len(mb))])


def same_as_loop(recorder: Recorder, loop) -> bool:
    outcome, final, attempts = loop
    mine = np.select([recorder.outcome == Outcome.DELIVERED, recorder.outcome == Outcome.EXPIRED],
                     [numpy_postfix.DELIVERED, numpy_postfix.EXPIRED], numpy_postfix.QUEUED)
    return (np.array_equal(mine, outcome) and np.array_equal(recorder.attempts, attempts)
            and np.allclose(recorder.final_s, final, rtol=0, atol=1e-9, equal_nan=True))


def peak_rss_mb(messages: int) -> float:
    """Peak resident memory of a fresh process running the fast engine on ``messages`` messages."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); import engines, mtasim, "
            f"resource; mtasim.simulate(engines.scenario({messages}), engine='fast'); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def capacity_rows(args) -> None:
    """The capacity case's rows: DES and des_capacity messages/s, and their ratio per message."""
    sizes = [int(x) for x in args.sizes.split(",")]
    note = check_capacity(min(max(sizes), args.check))
    baseline: dict[int, tuple[float, float]] = {}    # size -> (seconds, attempts per message)
    for n in sizes:
        b = min(n, args.baseline_max)
        if b not in baseline:
            seconds, (_, _, attempts) = median_time(
                lambda: des_capacity.run(capacity_arrivals(b), **capacity_case(b)), args.baseline_repeat)
            baseline[b] = seconds, float(attempts.mean())
        base_s, base_attempts = baseline[b]
        row = f"{f'C=20, token bucket, lognormal, {n:,}':<44}{b / base_s:>11,.0f}"
        at = "" if b == n else f" at {b:,}"
        sc = capacity_scenario(n)
        des_s, des = median_time(lambda: mtasim.simulate(sc, engine="des"), args.repeat)
        ratio = (n / des_s) / (b / base_s)
        print(row + f"{n / des_s:>12,.0f}{'-':>12}{'-':>12}{ratio:>13.1f}x{'-':>16}   "
                    f"({des.total_attempts / n:.2f} attempts/message; baseline{at}: {base_attempts:.2f})",
              flush=True)
    print(f"capacity case {note}; baseline per message at its own size, DES/baseline per message")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--baseline-max", type=int, default=100000, help="largest size also run on the baseline")
    parser.add_argument("--repeat", type=int, default=5, help="runs per engine measurement (median)")
    parser.add_argument("--baseline-repeat", type=int, default=3)
    parser.add_argument("--check", type=int, default=20000, help="messages compared with the reference engine "
                        "(capacity case: with des_capacity)")
    parser.add_argument("--memory", type=int, default=0, help="also measure peak RSS at this many messages")
    parser.add_argument("--cases", default="postfix,capacity", help="postfix (three scenarios), capacity")
    args = parser.parse_args()
    cases = args.cases.split(",")
    print(f"messages/s, median of {args.repeat} (baseline: of {args.baseline_repeat})")
    print(f"{'scenario':<44}{'baseline':>11}{'DES':>12}{'fast':>12}{'NumPy loop':>12}"
          f"{'DES/baseline':>14}{'fast/loop time':>16}")
    postfix = (("Postfix, 16 outages", False, 1), ("+ dead-destination state (DES only)", True, 1),
               ("+ dead-destination, 2,000 destinations", True, 2000))
    for label, host_state, destinations in postfix if "postfix" in cases else ():
        for n in (int(x) for x in args.sizes.split(",")):
            sc = scenario(n, host_state, destinations)
            check = scenario(min(n, args.check), host_state, destinations)
            assert same(mtasim.simulate(check, engine="reference"), mtasim.simulate(check, engine="des")), \
                "the DES and the reference engine disagree"
            des_s, des = median_time(lambda: mtasim.simulate(sc, engine="des"), args.repeat)
            row = f"{label + f', {n:,}':<44}"
            base_s = None
            if n <= args.baseline_max:
                base_s, _ = median_time(lambda: mtasim.simulate(sc, engine="des", runner=run_des_per_message),
                                        args.baseline_repeat)
            row += f"{n / base_s if base_s else 0:>11,.0f}" if base_s else f"{'-':>11}"
            row += f"{n / des_s:>12,.0f}"
            if host_state:
                row += f"{'-':>12}{'-':>12}"
            else:
                fast_s, recorder = median_time(engine_only(sc), args.repeat)
                inputs = numpy_postfix.from_scenario(sc)
                loop_s, loop = median_time(lambda: numpy_postfix.run(**inputs), args.repeat)
                assert same(des, mtasim.simulate(sc, engine="fast")), "the engines disagree"
                assert same_as_loop(recorder, loop), "the fast engine and the NumPy loop disagree"
                row += f"{n / fast_s:>12,.0f}{n / loop_s:>12,.0f}"
            row += f"{des_s and base_s and base_s / des_s or 0:>13.1f}x" if base_s else f"{'-':>14}"
            row += f"{fast_s / loop_s:>15.2f}x" if not host_state else f"{'-':>16}"
            print(row + f"   ({des.total_attempts / n:.1f} attempts/message)", flush=True)
    if "capacity" in cases:
        capacity_rows(args)
    if args.memory:
        mb = peak_rss_mb(args.memory)
        print(f"peak RSS, fast engine, {args.memory:,} messages: {mb:,.0f} MB "
              f"({mb * 2**20 / args.memory:.0f} bytes/message)")


if __name__ == "__main__":
    main()

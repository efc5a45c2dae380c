"""Messages per second of the per-message SimPy baseline, the DES and the fast engine, measured in one process.

A Postfix-preset sender (24 h lifetime) mails one destination with 16 outage windows over four days (half
refusing connections, half answering 451); messages arrive uniformly over the first three days. The same
scenario is run twice: without host-level state (every engine can run it) and with Postfix's
dead-destination state (the DES and the baseline only: messages are coupled). Ratios are the claim;
absolute numbers depend on the machine. Every DES result is checked against the baseline's.

    .venv/bin/python benchmarks/engines.py [--sizes 100000,1000000] [--baseline-max 1000000] [--memory N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

import mtasim

HOUR = 3600


def scenario(messages: int, host_state: bool = False) -> mtasim.Scenario:
    outages = [{"start": f"{5 * k + 1}h", "end": f"{5 * k + 1 + (k % 4 + 1)}h",
                "failure": "451 4.3.0 try later" if k % 2 else "refused"} for k in range(16)]
    return mtasim.scenario_from_dict({
        "name": f"postfix, 16 outages, {messages:,} messages",
        "seed": 1,
        # Postfix's dead-destination state couples messages (DES only); off unless host_state is asked for
        "sender": {"preset": "postfix", "maximal_queue_lifetime": "1d", "queue_run_phase": "37s",
                   "default_destination_concurrency_failed_cohort_limit": 1 if host_state else 0},
        "messages": {"count": messages, "arrival": {"kind": "uniform", "start": 0, "end": "3d"}},
        "recipients": [{"domain": "d.example", "outages": outages}],
    })


def timed(sc: mtasim.Scenario, engine: str, repeat: int = 1):
    """Messages per second (best of ``repeat``; the first run also pays for page faults) and the result."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = mtasim.simulate(sc, engine=engine)
        best = min(best, time.perf_counter() - start)
    return len(result.messages) / best, result


def with_baseline(sc: mtasim.Scenario):
    """Messages per second of baselines/des_per_message.py (one SimPy process per message) on ``sc``."""
    import mtasim.engine.des as des

    sys.path.insert(0, str(__file__.rsplit("/", 1)[0] + "/baselines"))
    import des_per_message

    current, des.run_des = des.run_des, des_per_message.run_des
    try:
        return timed(sc, "des")
    finally:
        des.run_des = current


def same(a, b) -> bool:
    """Identical per-message outcomes, statuses, attempt counts, final times and warnings (the tests also
    compare every attempt)."""
    ma, mb = a.messages, b.messages
    return (np.array_equal(ma.outcome, mb.outcome) and np.array_equal(ma.attempts, mb.attempts)
            and np.allclose(ma.final_s, mb.final_s, rtol=0, atol=1e-9, equal_nan=True)
            and np.allclose(ma.warned_s, mb.warned_s, rtol=0, atol=1e-9, equal_nan=True)
            and np.array(ma.statuses + [""])[ma.status].tolist() == np.array(mb.statuses + [""])[mb.status].tolist())


def peak_rss_mb(messages: int) -> float:
    """Peak resident memory of a fresh process running the fast engine on ``messages`` messages."""
    code = (f"import sys; sys.path.insert(0, {str(__file__.rsplit('/', 1)[0])!r}); import engines, mtasim, resource; "
            f"mtasim.simulate(engines.scenario({messages}), engine='fast'); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--baseline-max", type=int, default=1000000, help="largest size also run on the baseline")
    parser.add_argument("--memory", type=int, default=0, help="also measure peak RSS at this many messages")
    args = parser.parse_args()
    print("messages/s        baseline          DES         fast    DES/baseline   fast/DES   fast/baseline")
    for host_state in (False, True):
        print("Postfix, 16 outages" + (", dead-destination state (DES only)" if host_state else ""))
        for n in (int(x) for x in args.sizes.split(",")):
            sc = scenario(n, host_state)
            des_rate, des = timed(sc, "des", repeat=2)
            line = f"{n:>10,}  "
            if n <= args.baseline_max:
                base_rate, base = with_baseline(sc)
                assert same(base, des), "the DES and the baseline disagree"
                line += f"{base_rate:>12,.0f} {des_rate:>12,.0f}"
            else:
                base_rate = None
                line += f"{'-':>12} {des_rate:>12,.0f}"
            if not host_state:
                fast_rate, fast = timed(sc, "fast", repeat=3)
                assert same(des, fast), "the engines disagree"
                line += f" {fast_rate:>12,.0f}"
            else:
                line += f" {'-':>12}"
            line += f"   {des_rate / base_rate:10.1f} x" if base_rate else f"   {'-':>12}"
            if not host_state:
                line += f" {fast_rate / des_rate:9.1f} x"
                line += f" {fast_rate / base_rate:11.1f} x" if base_rate else ""
            line += f"   ({des.total_attempts / n:.1f} attempts/message)"
            print(line, flush=True)
    if args.memory:
        mb = peak_rss_mb(args.memory)
        print(f"peak RSS, fast engine, {args.memory:,} messages: {mb:,.0f} MB "
              f"({mb * 2**20 / args.memory:.0f} bytes/message)")


if __name__ == "__main__":
    main()

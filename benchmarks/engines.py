"""Messages per second of the DES and the fast engine on the same scenario, measured in one process.

A Postfix-preset sender (24 h lifetime) mails one destination with 16 outage windows over four days;
messages arrive uniformly over the first three days. The ratio fast/DES is the claim; absolute numbers
depend on the machine. The same scenario with Postfix's dead-destination state (host-level, DES only)
is timed on the DES alone.

    .venv/bin/python benchmarks/engines.py [--sizes 100000,1000000] [--des-max 100000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

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


def rate(sc: mtasim.Scenario, engine: str, repeat: int = 3) -> tuple[float, float]:
    """Best of ``repeat`` runs (the first also pays for page faults of fresh arrays)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = mtasim.simulate(sc, engine=engine)
        best = min(best, time.perf_counter() - start)
    return len(result.messages) / best, result.total_attempts / len(result.messages)


def baseline_rate(sc: mtasim.Scenario) -> float:
    """Messages per second of baselines/des_per_message.py (one SimPy process per message) on ``sc``."""
    import mtasim.engine.des as des

    sys.path.insert(0, str(__file__.rsplit("/", 1)[0] + "/baselines"))
    import des_per_message

    current, des.run_des = des.run_des, des_per_message.run_des
    try:
        start = time.perf_counter()
        result = mtasim.simulate(sc, engine="des")
        return len(result.messages) / (time.perf_counter() - start)
    finally:
        des.run_des = current


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
    parser.add_argument("--des-max", type=int, default=100000, help="largest size also run on the DES")
    parser.add_argument("--memory", type=int, default=0, help="also measure peak RSS at this many messages")
    args = parser.parse_args()
    for n in (int(x) for x in args.sizes.split(",")):
        sc = scenario(n)
        fast_rate, attempts = rate(sc, "fast")
        line = f"{n:>10,} messages ({attempts:.1f} attempts each): fast {fast_rate:>12,.0f} msg/s"
        if n <= args.des_max:
            des_rate, _ = rate(sc, "des", repeat=1)
            line += f"   DES {des_rate:>9,.0f} msg/s   fast/DES {fast_rate / des_rate:6.1f} x"
        print(line, flush=True)
    n = min(args.des_max, 100000)
    sc = scenario(n, host_state=True)
    des_rate, attempts = rate(sc, "des", repeat=1)
    base_rate = baseline_rate(sc)
    result = mtasim.simulate(sc, attempts=True)
    suspended = int((result.attempts.result == 5).sum())
    print(f"{n:>10,} messages with Postfix's dead-destination state (DES only): DES {des_rate:>9,.0f} msg/s, "
          f"per-message SimPy baseline {base_rate:>9,.0f} msg/s, DES/baseline {des_rate / base_rate:4.2f} x; "
          f"{suspended:,} of {len(result.attempts):,} passes suspended (no connection)")
    if args.memory:
        mb = peak_rss_mb(args.memory)
        print(f"peak RSS, fast engine, {args.memory:,} messages: {mb:,.0f} MB ({mb * 2**20 / args.memory:.0f} bytes/message)")


if __name__ == "__main__":
    main()

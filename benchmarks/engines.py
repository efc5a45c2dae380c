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

    .venv/bin/python benchmarks/engines.py [--sizes 100000,1000000] [--baseline-max 100000] [--memory N]
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
from mtasim.workload import assign_recipients

sys.path.insert(0, str(Path(__file__).resolve().parent / "baselines"))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--baseline-max", type=int, default=100000, help="largest size also run on the baseline")
    parser.add_argument("--repeat", type=int, default=5, help="runs per engine measurement (median)")
    parser.add_argument("--baseline-repeat", type=int, default=3)
    parser.add_argument("--check", type=int, default=20000, help="messages compared with the reference engine")
    parser.add_argument("--memory", type=int, default=0, help="also measure peak RSS at this many messages")
    args = parser.parse_args()
    print(f"messages/s, median of {args.repeat} (baseline: of {args.baseline_repeat})")
    print(f"{'scenario':<44}{'baseline':>11}{'DES':>12}{'fast':>12}{'NumPy loop':>12}"
          f"{'DES/baseline':>14}{'fast/loop time':>16}")
    for label, host_state, destinations in (("Postfix, 16 outages", False, 1),
                                            ("+ dead-destination state (DES only)", True, 1),
                                            ("+ dead-destination, 2,000 destinations", True, 2000)):
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
    if args.memory:
        mb = peak_rss_mb(args.memory)
        print(f"peak RSS, fast engine, {args.memory:,} messages: {mb:,.0f} MB "
              f"({mb * 2**20 / args.memory:.0f} bytes/message)")


if __name__ == "__main__":
    main()

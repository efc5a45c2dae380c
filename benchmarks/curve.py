"""How much does a 100-point delivery-vs-expiry curve cost compared with one simulation?

The curve reads every point off one run with the longest window (see mtasim.curve); the explicit method
runs once per point. Both are timed here, in the same process, against a single run of the same
scenario, and reported as ratios (machine speed cancels out):

    .venv/bin/python benchmarks/curve.py [SCENARIO] [--points 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import mtasim
from mtasim.curve import expiry_curve

ROOT = Path(__file__).resolve().parent.parent


def median_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "exchange-online-30h-outage.yaml"))
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explicit-points", type=int, default=10,
                        help="points for the explicit baseline (its cost is linear; scaled to --points)")
    args = parser.parse_args()

    scenario = mtasim.load_scenario(args.scenario)
    hour = 3600.0
    expiries = [hour * (1 + i * 95 / (args.points - 1)) for i in range(args.points)]
    explicit = expiries[:: max(1, args.points // args.explicit_points)][: args.explicit_points]

    one_run = median_of(args.repeat, lambda: mtasim.simulate(scenario))
    single = median_of(args.repeat, lambda: expiry_curve(scenario, expiries, method="single-run"))
    per_point = median_of(3, lambda: expiry_curve(scenario, explicit, method="explicit")) / len(explicit)

    print(f"scenario: {scenario.name} ({scenario.workload.describe()})")
    print(f"one run:                          {one_run * 1000:9.1f} ms")
    print(f"{args.points}-point curve, single run:     {single * 1000:9.1f} ms   "
          f"= {single / one_run:5.2f} x one run")
    print(f"{args.points}-point curve, explicit (est.): {per_point * args.points * 1000:9.1f} ms   "
          f"= {per_point * args.points / one_run:5.2f} x one run "
          f"(measured on {len(explicit)} points)")


if __name__ == "__main__":
    main()

"""Tuning: the shortest expiry window that delivers a target fraction, and the schedule Pareto front.

``tune_expiry`` reads the answer off one long run per replication (the decisive ages of
:mod:`mtasim.curve`): the fraction delivered under a window E is the share of messages whose decisive
age passes E, so the shortest window reaching the target is an order statistic of those ages.

``tune_schedule`` runs a family of schedules (same sender otherwise, same seeds: common random numbers)
and keeps the ones no other beats on both cost (mean attempts per message) and speed of recovery (the
p95, p99 or maximum of delivery time minus the end of the outage that held the message back). Grid
points whose schedules wait alike after every failure (``30m x1.5 max 30m`` and ``30m x3 max 30m``) are
one schedule, run and listed once under a merged label (``30m x1.5/x3 max 30m``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .config import ConfigError
from .curve import confidence_interval, portable, rebuilt, replication_seed
from .durations import format_duration
from .engine import des_only_features, simulate
from .results import Outcome
from .scenario import Scenario
from .schedules import ExponentialSchedule, FixedSchedule, Schedule
from .sender import trace_schedule

__all__ = ["ExpiryAnswer", "tune_expiry", "Candidate", "tune_schedule", "pareto_front", "FAMILIES",
           "LAG_PERCENTILES", "distinct_schedules", "lag_name"]

#: The longest window tried by default: past RFC 5321's "4-5 days" with room to spare.
DEFAULT_MAX_EXPIRY_S = 30 * 86400.0


@dataclass(frozen=True)
class ExpiryAnswer:
    target: float
    expiry_s: float | None          # None: not reachable within max_expiry_s
    ci_low_s: float | None
    ci_high_s: float | None
    fraction: float                 # delivered at expiry_s (pooled)
    fraction_ci: tuple[float, float]
    messages: int
    replications: int
    max_expiry_s: float
    give_up: str
    #: "single-run" (read off one run per replication) or "bisection" (host-level state: runs per probe)
    method: str = "single-run"


def tune_expiry(scenario: Scenario, target: float, *, replications: int = 1,
                max_expiry_s: float = DEFAULT_MAX_EXPIRY_S, engine: str = "auto") -> ExpiryAnswer:
    """Shortest whole-second window E delivering at least ``target`` of the messages, with a 95 % interval
    (order statistics for one replication; a bootstrap over replications otherwise)."""
    if not 0 < target <= 1:
        raise ConfigError("--target", "", f"expected a fraction in (0, 1] (1 = every message), got {target}")
    sender = scenario.sender
    if sender.give_up.counts_attempts:
        raise ConfigError(scenario.source, "sender.give_up", "expected an expiry-based give-up rule; "
                          "'attempts' has no expiry window to tune")
    if scenario.horizon_s is not None:
        raise ConfigError(scenario.source, "horizon", "expected no horizon when tuning the expiry (a horizon "
                          "cuts the runs short of the windows being compared)")
    if des_only_features(scenario) or sender.expiry_shapes_schedule(max_expiry_s):
        return _bisect_expiry(scenario, target, replications, max_expiry_s, engine)
    longest = replace(scenario, sender=sender.with_expiry(max_expiry_s))
    per_rep: list[np.ndarray] = []
    sizes: list[int] = []
    for r in range(replications):
        m = simulate(longest, replication_seed(scenario.seed, r), engine=engine).messages
        ages = np.where(m.outcome == Outcome.DELIVERED, m.decisive_age_s, np.inf)
        per_rep.append(np.maximum(sender.give_up.window_needed(ages), 1.0))   # under 1 s means nothing
        sizes.append(len(m))
    needed = np.concatenate(per_rep)     # per message: the shortest window under which it is delivered
    n = len(needed)
    best = _quantile_window(needed, target)
    if replications == 1:
        low, high = _order_statistic_ci(needed, target)
    else:
        low, high = _bootstrap_ci(per_rep, target)
    fraction_at = best if best is not None else max_expiry_s
    delivered = np.array([np.count_nonzero(w <= fraction_at) for w in per_rep])
    fraction, f_low, f_high = confidence_interval(delivered, np.array(sizes))
    return ExpiryAnswer(target, best, low, high, fraction, (f_low, f_high), n, replications, max_expiry_s,
                        str(sender.give_up))


def _bisect_expiry(scenario: Scenario, target: float, replications: int, max_expiry_s: float,
                   engine: str) -> ExpiryAnswer:
    """With host-level state one run cannot answer for every window (messages affect each other), so the
    window is found by bisection over whole seconds, each probe a set of runs (no interval is given)."""

    def delivered_at(expiry_s: float) -> tuple[np.ndarray, np.ndarray]:
        run = replace(scenario, sender=scenario.sender.with_expiry(expiry_s))
        results = [simulate(run, replication_seed(scenario.seed, r), engine=engine) for r in range(replications)]
        return (np.array([r.messages.count(Outcome.DELIVERED) for r in results]),
                np.array([len(r.messages) for r in results]))

    def reaches(expiry_s: float) -> bool:
        d, n = delivered_at(expiry_s)
        return d.sum() >= target * n.sum() - 1e-9

    best = None
    if reaches(max_expiry_s):
        low, high = 0.0, float(math.ceil(max_expiry_s))
        while high - low > 1:
            mid = math.floor((low + high) / 2)
            low, high = (low, mid) if reaches(mid) else (mid, high)
        best = high
    d, n = delivered_at(best if best is not None else max_expiry_s)
    fraction, f_low, f_high = confidence_interval(d, n)
    return ExpiryAnswer(target, best, None, None, fraction, (f_low, f_high), int(n.sum()), replications,
                        max_expiry_s, str(scenario.sender.give_up), "bisection")




def _quantile_window(needed: np.ndarray, target: float) -> float | None:
    k = math.ceil(target * len(needed) - 1e-9)
    if k == 0:
        return 1.0
    value = float(np.partition(needed, k - 1)[k - 1])
    return None if math.isinf(value) else value


def _order_statistic_ci(needed: np.ndarray, target: float) -> tuple[float | None, float | None]:
    n = len(needed)
    half = 1.959963984540054 * math.sqrt(n * target * (1 - target))
    lo_k = max(1, math.floor(n * target - half))
    hi_k = min(n, math.ceil(n * target + half))
    ordered = np.sort(needed)
    low, high = float(ordered[lo_k - 1]), float(ordered[hi_k - 1])
    return (None if math.isinf(low) else low), (None if math.isinf(high) else high)


def _bootstrap_ci(per_rep: list[np.ndarray], target: float, resamples: int = 400
                  ) -> tuple[float | None, float | None]:
    rng = np.random.default_rng(0)      # fixed: the interval is part of the answer, not a new draw
    answers = []
    for _ in range(resamples):
        pick = rng.integers(0, len(per_rep), len(per_rep))
        w = _quantile_window(np.concatenate([per_rep[i] for i in pick]), target)
        answers.append(math.inf if w is None else w)
    low, high = np.percentile(answers, [2.5, 97.5])
    return (None if math.isinf(low) else float(low)), (None if math.isinf(high) else float(high))


# ------------------------------------------------------------------------------------------------
#: Recovery-lag percentiles a schedule can be judged on (100: the slowest delivered message).
LAG_PERCENTILES = (95, 99, 100)


@dataclass(frozen=True)
class Candidate:
    label: str
    schedule: Schedule
    params: dict[str, float]
    mean_attempts: float
    recovery_lag_p95_s: float
    fraction_delivered: float
    on_front: bool = False
    recovery_lag_p99_s: float = math.nan
    recovery_lag_max_s: float = math.nan
    #: The percentile the front was chosen on (one of LAG_PERCENTILES).
    lag_percentile: int = 95

    @property
    def recovery_lag_s(self) -> float:
        """The recovery lag at the percentile the front was chosen on."""
        return lag_at(self, self.lag_percentile)


def lag_name(percentile: int) -> str:
    """``p95``, ``p99``, or ``max`` for 100: how tables and figures name the lag of a percentile."""
    return "max" if percentile == 100 else f"p{percentile}"


def lag_at(candidate: Candidate, percentile: int) -> float:
    """A candidate's recovery lag at one of LAG_PERCENTILES."""
    return {95: candidate.recovery_lag_p95_s, 99: candidate.recovery_lag_p99_s,
            100: candidate.recovery_lag_max_s}[percentile]


#: Default grids per family (seconds, factors); overridable from the CLI.
FAMILIES: dict[str, dict[str, tuple[float, ...]]] = {
    "exponential": {"first": (60.0, 300.0, 600.0, 900.0, 1800.0), "factor": (1.5, 2.0, 3.0),
                    "max": (900.0, 1800.0, 3600.0, 7200.0, 14400.0)},
    "fixed": {"interval": (60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0)},
}


def family_schedules(family: str, grid: dict[str, tuple[float, ...]] | None = None
                     ) -> list[tuple[str, Schedule, dict[str, float]]]:
    if family not in FAMILIES:
        raise ConfigError("--family", "", f"expected one of {', '.join(FAMILIES)}, got {family!r}")
    axes = dict(FAMILIES[family])
    axes.update(grid or {})
    out = []
    if family == "fixed":
        for interval in axes["interval"]:
            out.append((f"every {format_duration(interval)}", FixedSchedule(interval), {"interval_s": interval}))
        return out
    for first, factor, cap in itertools.product(axes["first"], axes["factor"], axes["max"]):
        if cap < first:
            continue
        out.append((_exponential_label([first], [factor], [cap]), ExponentialSchedule(first, factor, cap),
                    {"first_s": first, "factor": factor, "max_s": cap}))
    return out


def _exponential_label(firsts: list[float], factors: list[float], caps: list[float]) -> str:
    """``30m x2 max 1h``; several values of a parameter are joined by '/' (``30m x1.5/x2 max 30m``)."""
    def join(values: list[float], fmt) -> str:
        return "/".join(fmt(v) for v in dict.fromkeys(values))
    return (f"{join(firsts, format_duration)} {join(factors, lambda f: f'x{f:g}')} "
            f"max {join(caps, format_duration)}")


def distinct_schedules(scenario: Scenario, options: list[tuple[str, Schedule, dict[str, float]]]
                       ) -> list[tuple[str, Schedule, dict[str, float]]]:
    """The grid with schedules that wait alike merged, in grid order: one entry per group, with the first
    member's schedule and parameters and a label merging the members' values.

    Two schedules are alike when their waits after the 1st, 2nd, ... failure agree (a refused connection
    and a 4xx reply alike) as far as any schedule of the grid can go before the scenario's sender gives up
    (and one failure further), with the same jitter: then every message is tried at the same moments.
    """
    reach = 1 + _most_attempts(scenario, [s for _, s, _ in options])
    failures = np.arange(1, reach + 1)
    ages = np.zeros(reach)
    groups: dict[Any, list[int]] = {}
    for k, (_, schedule, _) in enumerate(options):
        waits = [np.round(schedule.waits(failures, ages, 1.0, np.full(reach, flag)), 6) for flag in (True, False)]
        key = (getattr(schedule, "jitter", None), type(schedule).__name__,
               tuple(np.nan_to_num(np.concatenate(waits), nan=-1.0, posinf=-2.0).tolist()))
        groups.setdefault(key, []).append(k)
    out = []
    for members in sorted(groups.values()):
        label, schedule, params = options[members[0]]
        if len(members) > 1:
            if "first_s" in params:
                label = _exponential_label(*([options[m][2][name] for m in members]
                                             for name in ("first_s", "factor", "max_s")))
            else:
                label = " / ".join(options[m][0] for m in members)
        out.append((label, schedule, params))
    return out


def _most_attempts(scenario: Scenario, schedules: list[Schedule], cap: int = 100_000) -> int:
    """How many attempts any of the schedules can make before the sender gives up: waits summed up to the
    expiry (an upper bound: queue runs only delay attempts), or traced when the give-up counts attempts."""
    sender = scenario.sender
    if not schedules:
        return 0
    if sender.expiry_s is None or sender.give_up.counts_attempts:
        return max(len(trace_schedule(replace(sender, schedule=s), max_attempts=cap).attempts_s) for s in schedules)
    least = min(max(getattr(s, "min_wait_s", 0.0), 1.0) for s in schedules)
    k = np.arange(1, min(cap, math.ceil(sender.expiry_s / least) + 2) + 1)
    most = 0
    for schedule in schedules:
        waits = schedule.waits(k, np.zeros(len(k)), 1.0, np.ones(len(k), dtype=bool))
        made = np.cumsum(np.nan_to_num(waits, nan=math.inf)) <= sender.expiry_s
        most = max(most, int(np.count_nonzero(made)) + 1)      # the first attempt, then one per wait in time
    return most


def evaluate_schedule(scenario: Scenario, schedule: Schedule, replications: int, engine: str = "auto"
                      ) -> tuple[float, dict[int, float], float]:
    """(mean attempts per message, recovery lag at each of LAG_PERCENTILES, fraction delivered), pooled
    over replications. The lags are over delivered messages that an outage held back; what was never
    delivered shows in the fraction."""
    run = replace(scenario, sender=replace(scenario.sender, schedule=schedule))
    attempts = messages = delivered = 0
    lags = []
    for r in range(replications):
        m = simulate(run, replication_seed(scenario.seed, r), engine=engine).messages
        attempts += int(m.attempts.sum())
        messages += len(m)
        delivered += m.count(Outcome.DELIVERED)
        lags.append(m.recovery_lag_s[~np.isnan(m.recovery_lag_s)])
    lag = np.concatenate(lags)
    at = {q: (float(np.percentile(lag, q)) if len(lag) else 0.0) for q in LAG_PERCENTILES}
    return attempts / max(messages, 1), at, delivered / max(messages, 1)


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """True for each point that no other point beats on both coordinates (both minimised)."""
    flags = []
    for i, (a, b) in enumerate(points):
        dominated = any((c <= a and d <= b) and (c < a or d < b) for j, (c, d) in enumerate(points) if j != i)
        flags.append(not dominated)
    return flags


def tune_schedule(scenario: Scenario, family: str = "exponential", *, replications: int = 1,
                  grid: dict[str, tuple[float, ...]] | None = None, engine: str = "auto",
                  map_fn: Any = map, min_delivered: float | None = None,
                  lag_percentile: int = 95) -> list[Candidate]:
    """Evaluate every distinct schedule of the family; mark the Pareto front of mean attempts against the
    recovery lag at ``lag_percentile`` (95, 99 or 100); sorted by mean attempts.

    Schedules delivering less than ``min_delivered`` (a fraction) are kept out of the front: a schedule
    that gives up on more mail would otherwise look cheap.
    """
    if lag_percentile not in LAG_PERCENTILES:
        raise ConfigError("--lag-percentile", "", f"expected one of {', '.join(map(str, LAG_PERCENTILES))}, "
                          f"got {lag_percentile!r}")
    options = distinct_schedules(scenario, family_schedules(family, grid))
    shipped = portable(scenario)
    results = list(map_fn(_evaluate_job, [(shipped, s, replications, engine) for _, s, _ in options]))
    eligible = [min_delivered is None or frac >= min_delivered - 1e-12 for _, _, frac in results]
    front = pareto_front([(a, lags[lag_percentile]) if ok else (math.inf, math.inf)
                          for (a, lags, _), ok in zip(results, eligible)])
    front = [flag and ok for flag, ok in zip(front, eligible)]
    candidates = [Candidate(label, schedule, params, a, lags[95], frac, flag, lags[99], lags[100], lag_percentile)
                  for (label, schedule, params), (a, lags, frac), flag in zip(options, results, front)]
    return sorted(candidates, key=lambda c: (c.mean_attempts, c.recovery_lag_s))


def _evaluate_job(job: tuple[tuple[Any, ...], Schedule, int, str]) -> tuple[float, dict[int, float], float]:
    shipped, schedule, replications, engine = job
    return evaluate_schedule(rebuilt(shipped), schedule, replications, engine)

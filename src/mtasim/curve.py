"""Delivery-vs-expiry curves: the fraction of messages delivered for each expiry window.

A whole curve costs about one simulation. The schedule of every MTA modelled here does not depend on
the expiry, so one run with the longest window tells, for each message, the *decisive age* that its
give-up rule compares with the expiry (recorded by the engine, see ``Recorder.finish``):

* ``last-attempt`` — the age at the last failure before the final attempt: the message survives a
  window E iff that age < E (failure ages only grow, so every earlier failure passed too);
* ``at-deadline`` — the age of the final attempt: no attempt is made at or after E, so it happens iff
  its age < E;
* ``next-wait`` — the largest (next due − arrival) over its failures: it survives iff that is <= E.

A message that delivers (or bounces) in the long run does the same under E iff it survives E;
otherwise it expires; a message that expired under the longest window expires under every shorter one.
Where this does not hold (a horizon cuts the run short, ``method="explicit"``) each point is its own run;
``auto`` still takes the longest window's counts for the windows under which that run would repeat
itself exactly (every message delivered or bounced, each decisive age passing them).

Each series is also evaluated at its sender's own window (``Curve.windows``), so a figure can mark
where the configured MTA stands; :func:`default_expiries` reaches past the longest such window. The
runs are independent jobs given to ``map_fn`` (a process pool's map spreads them over workers) and put
back in job order: the same seed gives the same curve whatever the number of workers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .config import ConfigError
from .durations import parse_duration
from .engine import des_only_features, simulate
from .inputs import limits_enabled, set_limits
from .presets import UnknownPresetError, get_preset
from .results import Outcome
from .scenario import Scenario, scenario_from_dict, with_overrides

__all__ = ["shortest_windows", "LEVELS", "CurvePoint", "Curve", "expiry_curve", "replication_seed",
           "confidence_interval", "series_scenarios",
           "with_outage_duration", "default_expiries", "CURVE_METHODS"]

CURVE_METHODS = ("auto", "single-run", "explicit")
#: The default range: hourly windows from 1 h to 96 h, or to a day past the longest series' own window.
DEFAULT_STEP_S = 3600.0
DEFAULT_MIN_END_S = 96 * 3600.0


def replication_seed(base_seed: int, replication: int) -> int:
    """Replication r uses seed ``base + r`` at every grid point (common random numbers): any row can be
    reproduced with ``mtasim run --seed``."""
    return int(base_seed) + int(replication)


@dataclass(frozen=True)
class CurvePoint:
    series: str
    expiry_s: float
    messages: int
    delivered: int
    expired: int
    bounced: int
    queued: int
    fraction: float
    ci_low: float
    ci_high: float


@dataclass
class Curve:
    scenario: str
    points: list[CurvePoint]
    method: str
    replications: int
    series_kind: str
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    #: Each series at its sender's own (configured) expiry window.
    windows: dict[str, CurvePoint] = field(default_factory=dict)

    def series(self) -> dict[str, list[CurvePoint]]:
        out: dict[str, list[CurvePoint]] = {}
        for p in self.points:
            out.setdefault(p.series, []).append(p)
        return out

    def window_data(self) -> dict[str, dict[str, float]]:
        """Each series at its own window, as :func:`mtasim.plots.curve_figure` takes them."""
        return {label: {"expiry_s": p.expiry_s, "fraction": p.fraction} for label, p in self.windows.items()}

    def figure_data(self) -> dict[str, dict[str, list[float]]]:
        """The series as :func:`mtasim.plots.curve_figure` takes them."""
        return {label: {"expiry_s": [p.expiry_s for p in pts], "fraction": [p.fraction for p in pts],
                        "ci_low": [p.ci_low for p in pts], "ci_high": [p.ci_high for p in pts]}
                for label, pts in self.series().items()}


def confidence_interval(delivered: np.ndarray, messages: np.ndarray) -> tuple[float, float, float]:
    """Fraction delivered and its 95 % interval.

    One replication: Wilson's score interval on the message count. Several: the mean of the
    per-replication fractions with a Student t interval, since messages of one replication share an
    outage and are not independent.
    """
    delivered = np.asarray(delivered, dtype=float)
    messages = np.asarray(messages, dtype=float)
    if len(delivered) == 1:
        n, k = messages[0], delivered[0]
        if n == 0:
            return 0.0, 0.0, 1.0
        p, z = k / n, 1.959963984540054
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return p, max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))
    fractions = np.divide(delivered, messages, out=np.zeros_like(delivered), where=messages > 0)
    mean = float(fractions.mean())
    half = _t975(len(fractions) - 1) * float(fractions.std(ddof=1)) / math.sqrt(len(fractions))
    return mean, max(0.0, mean - half), min(1.0, mean + half)


_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def _t975(df: int) -> float:
    return _T975[df - 1] if df <= len(_T975) else 1.959963984540054 + 2.4 / df


def default_expiries(scenario: Scenario, series: str | None = None) -> list[float]:
    """Hourly windows from 1 h to 96 h, or to a day past the longest own window of the series (whole hours,
    so Postfix's 5 d gives 1 h .. 144 h): every series' configured window lies inside the range."""
    _, scenarios = series_scenarios(scenario, series)
    longest = max((sc.sender.expiry_s or 0.0 for sc in scenarios.values()), default=0.0)
    end = max(DEFAULT_MIN_END_S, (math.ceil(longest / DEFAULT_STEP_S - 1e-3) + 24) * DEFAULT_STEP_S)
    return [DEFAULT_STEP_S * k for k in range(1, int(end / DEFAULT_STEP_S) + 1)]


def series_scenarios(scenario: Scenario, spec: str | None) -> tuple[str, dict[str, Scenario]]:
    """``preset=a,b`` or ``outage=6h,24h`` -> (kind, {label: scenario}); None -> the scenario itself.

    ``outage=D`` makes every recipient's first outage last D from its start (or fixes the duration of a
    random outage).
    """
    if not spec:
        return "scenario", {scenario.name: scenario}
    kind, sep, values = spec.partition("=")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or kind not in ("preset", "outage") or not items:
        raise ConfigError("--series", "", f"expected preset=NAME,NAME,... or outage=DURATION,..., got {spec!r}")
    out: dict[str, Scenario] = {}
    for item in items:
        if kind == "preset":
            try:
                get_preset(item)
            except UnknownPresetError as exc:
                raise ConfigError("--series", "", str(exc)) from None
            out[item] = with_overrides(scenario, {"sender": {"preset": item}}, what=f"--series {item}")
        else:
            try:
                duration = parse_duration(item)
            except ValueError as exc:
                raise ConfigError("--series", "", f"outage={item}: {exc}") from None
            out[f"outage={item}"] = with_outage_duration(scenario, duration, item)
    return kind, out


def with_outage_duration(scenario: Scenario, duration_s: float, label: str = "") -> Scenario:
    """The scenario with every recipient's first outage lasting ``duration_s`` from its start (or its
    random outage's duration fixed to it)."""
    label = label or f"{duration_s:g}s"
    overrides: dict[str, Any] = {}
    for j, entry in enumerate(scenario.recipients):
        if entry.random_outage is not None:
            overrides[f"recipients[{j}].random_outage.duration"] = duration_s
        elif entry.outages:
            overrides[f"recipients[{j}].outages[0].end"] = entry.outages[0].start_s + duration_s
        elif any(h.outages for h in entry.mx):          # MX hosts: the most preferred host with an outage
            host = next(h for h in entry.mx if h.outages)
            listed = [h.get("host") for h in scenario.data["recipients"][j]["mx"]]
            overrides[f"recipients[{j}].mx[{listed.index(host.host)}].outages[0].end"] = \
                host.outages[0].start_s + duration_s
    if not overrides:
        raise ConfigError(scenario.source, "recipients", f"--series outage={label}: no recipient has an outage "
                          "to lengthen")
    return with_overrides(scenario, overrides, what=f"--series outage={label}")


def expiry_curve(scenario: Scenario, expiries_s: list[float] | None = None, *, series: str | None = None,
                 replications: int = 1, method: str = "auto", engine: str = "auto", map_fn: Any = map,
                 progress: bool | None = False) -> Curve:
    """Fraction delivered at each expiry window (None: :func:`default_expiries`), per series, pooled over
    replications; and each series at its own window.

    ``map_fn`` runs the jobs (``map``, or a process pool's map); ``progress`` shows a bar on stderr (None:
    when it is a terminal). Where each window is its own run, ``auto`` runs the longest window first: the
    windows under which that run's messages all get through alike (nothing expires, nothing is left
    queued) would repeat it exactly, so they take its counts; ``explicit`` runs every window.
    """
    if method not in CURVE_METHODS:
        raise ValueError(f"method must be one of {', '.join(CURVE_METHODS)}")
    if replications < 1:
        raise ValueError("replications must be >= 1")
    if expiries_s is None:
        expiries_s = default_expiries(scenario, series)
    expiries = sorted(set(float(e) for e in expiries_s))
    if not expiries:
        raise ValueError("expected at least one expiry window")
    kind, scenarios = series_scenarios(scenario, series)
    started = time.perf_counter()
    plans: list[_Plan] = []
    for label, sc in scenarios.items():
        if sc.sender.give_up.counts_attempts:
            raise ConfigError(sc.source, "sender.give_up", "expected an expiry-based give-up rule for an expiry "
                              "curve; 'attempts' counts attempts, not age")
        own = sc.sender.expiry_s
        windows = sorted(set(expiries) | ({float(own)} if own else set()))
        # One run answers every window only if messages do not affect each other (no host-level state:
        # a shorter expiry removes messages that would have marked a destination dead) and nothing is cut
        # short by a horizon.
        shaped = any(sc.sender.expiry_shapes_schedule(w) for w in windows)
        valid = sc.horizon_s is None and not des_only_features(sc) and not shaped
        single = method == "single-run" or (method == "auto" and valid)
        if method == "single-run" and not valid:
            raise ValueError("the single-run method needs a scenario without a horizon or host-level state, "
                             "whose schedule does not depend on the expiry")
        plans.append(_Plan(label, sc, windows, single, reuse=method == "auto" and not shaped,
                           counts=np.zeros((replications, len(windows), 5), dtype=np.int64)))
    total = sum(replications * (1 if p.single else len(p.windows)) for p in plans)
    bar = _progress(total, progress)
    try:
        # First the single runs and each explicit series' longest window, then the windows those leave open.
        first = [(p, r, None if p.single else len(p.windows) - 1) for p in plans for r in range(replications)]
        rest: list[tuple[_Plan, int, int | None]] = []
        for (plan, r, e), answer in zip(first, _run(map_fn, first, engine, bar)):
            if e is None:
                plan.counts[r] = answer
                continue
            row, same_from = answer
            same_from = same_from if plan.reuse else e
            plan.counts[r, same_from:] = row
            rest += [(plan, r, k) for k in range(same_from)]
            if bar is not None:
                bar.update(e - same_from)          # windows answered by the longest run
        for (plan, r, e), (row, _) in zip(rest, _run(map_fn, rest, engine, bar)):
            plan.counts[r, e] = row
    finally:
        if bar is not None:
            bar.close()
    points: list[CurvePoint] = []
    at_own: dict[str, CurvePoint] = {}
    for plan in plans:
        for e_index, expiry in enumerate(plan.windows):
            c = plan.counts[:, e_index, :]     # replications x (messages, delivered, expired, bounced, queued)
            fraction, low, high = confidence_interval(c[:, 1], c[:, 0])
            sums = c.sum(axis=0)
            point = CurvePoint(plan.label, expiry, int(sums[0]), int(sums[1]), int(sums[2]), int(sums[3]),
                               int(sums[4]), float(fraction), float(low), float(high))
            if expiry in expiries:
                points.append(point)
            if expiry == plan.scenario.sender.expiry_s:
                at_own[plan.label] = point
    used = {"single-run" if p.single else "explicit" for p in plans}
    return Curve(scenario.name, points, "+".join(sorted(used)), replications, kind,
                 time.perf_counter() - started, windows=at_own)


@dataclass
class _Plan:
    """One series of a curve: its windows (the grid and its own), how they are run, their counts."""
    label: str
    scenario: Scenario
    windows: list[float]
    single: bool
    reuse: bool                   # explicit runs may take the longest run's counts where it would repeat
    counts: np.ndarray            # replications x windows x (messages, delivered, expired, bounced, queued)
    shipped: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        self.shipped = portable(self.scenario)


def _run(map_fn: Any, jobs: list[tuple[_Plan, int, int | None]], engine: str, bar: Any) -> list[Any]:
    """The jobs' answers in job order, the bar advanced by one per job."""
    answers = []
    for answer in map_fn(_curve_job, [(p.shipped, p.windows, r, engine, e) for p, r, e in jobs]):
        answers.append(answer)
        if bar is not None:
            bar.update(1)
    return answers


def _progress(total: int, enabled: bool | None) -> Any:
    from .outputs import progress_bar
    return progress_bar(total, unit="run", desc="curve", enabled=enabled)


def portable(scenario: Scenario) -> tuple[Any, ...]:
    """The scenario as a job for a worker process carries it: its data and source (a preset's sender holds
    closures that pickle cannot carry), rebuilt by :func:`rebuilt`; the object itself when it has no data."""
    if scenario.data is None:
        return (scenario, None, None, limits_enabled())
    return (None, scenario.data, scenario.source, limits_enabled())


def rebuilt(shipped: tuple[Any, ...]) -> Scenario:
    """The scenario :func:`portable` packed, under the work limits of the process that packed it."""
    scenario, data, source, limits = shipped
    if scenario is not None:
        return scenario
    was = limits_enabled()
    set_limits(limits)
    try:
        return scenario_from_dict(data, source)
    finally:
        set_limits(was)


def _curve_job(job: tuple[tuple[Any, ...], list[float], int, str, int | None]) -> Any:
    """One run: all windows read off one long run (``e`` None: counts per window), or window ``e`` run on
    its own: (its counts, the first window index from which a run would repeat this one exactly)."""
    shipped, windows, r, engine, e = job
    sc = rebuilt(shipped)
    if e is None:
        return _single_run_counts(sc, windows, r, engine)
    run = replace(sc, sender=sc.sender.with_expiry(windows[e]))
    m = simulate(run, replication_seed(sc.seed, r), engine=engine).messages
    counts = np.array([len(m)] + [m.count(o) for o in (Outcome.DELIVERED, Outcome.EXPIRED, Outcome.BOUNCED,
                                                       Outcome.QUEUED)], dtype=np.int64)
    return counts, _repeats_from(sc, m, windows, e)


def _repeats_from(sc: Scenario, m: Any, windows: list[float], e: int) -> int:
    """The first window index from which a run equals this one (window ``e``). The expiry enters a run only
    through give-up decisions; when every message was delivered or bounced, a window that each message's
    decisive age survives makes every decision alike, so the run repeats itself."""
    if not np.isin(m.outcome, (Outcome.DELIVERED, Outcome.BOUNCED)).all():
        return e
    grid = np.asarray(windows[: e + 1])
    through = np.asarray(sc.sender.give_up.survives(m.decisive_age_s[:, None], grid[None, :])).all(axis=0)
    return int(np.argmax(through)) if through.any() else e


def _single_run_counts(sc: Scenario, expiries: list[float], r: int, engine: str) -> np.ndarray:
    """(messages, delivered, expired, bounced, queued) per window, from one run with the longest."""
    longest = replace(sc, sender=sc.sender.with_expiry(expiries[-1]))
    grid = np.asarray(expiries)
    out = np.zeros((len(expiries), 5), dtype=np.int64)
    m = simulate(longest, replication_seed(sc.seed, r), engine=engine).messages
    decisive = m.decisive_age_s
    finished = np.isin(m.outcome, (Outcome.DELIVERED, Outcome.BOUNCED))
    through = sc.sender.give_up.survives(decisive[finished, None], grid[None, :])
    delivered_mask = (m.outcome[finished] == Outcome.DELIVERED)[:, None]
    delivered = np.count_nonzero(through & delivered_mask, axis=0)
    bounced = np.count_nonzero(through & ~delivered_mask, axis=0)
    n = len(m)
    out[:, 0] = n
    out[:, 1] = delivered
    out[:, 3] = bounced
    out[:, 2] = n - delivered - bounced
    return out


#: The delivered fractions whose shortest window `mtasim curve` and `mtasim report` show.
LEVELS = (0.5, 0.9, 0.99, 1.0)


def shortest_windows(expiry_s: np.ndarray, fraction: np.ndarray, levels: Sequence[float] = LEVELS
                     ) -> list[float | None]:
    """For each level, the shortest expiry window whose delivered fraction reaches it (None: none does);
    as ``mtasim curve`` prints them and ``mtasim report`` shows them (a level is reached within 1e-12)."""
    order = np.argsort(expiry_s, kind="stable")
    e, f = np.asarray(expiry_s)[order], np.asarray(fraction)[order]
    out: list[float | None] = []
    for level in levels:
        hit = np.flatnonzero(f >= level - 1e-12)
        out.append(float(e[hit[0]]) if len(hit) else None)
    return out

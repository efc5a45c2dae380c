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
Where this does not hold (a horizon cuts the run short, ``method="explicit"``) each point is its own run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .config import ConfigError
from .durations import parse_duration
from .engine import des_only_features, simulate
from .presets import UnknownPresetError, get_preset
from .results import Outcome
from .scenario import Scenario, with_overrides

__all__ = ["CurvePoint", "Curve", "expiry_curve", "replication_seed", "confidence_interval", "series_scenarios",
           "with_outage_duration", "CURVE_METHODS"]

CURVE_METHODS = ("auto", "single-run", "explicit")


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

    def series(self) -> dict[str, list[CurvePoint]]:
        out: dict[str, list[CurvePoint]] = {}
        for p in self.points:
            out.setdefault(p.series, []).append(p)
        return out

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


def expiry_curve(scenario: Scenario, expiries_s: list[float], *, series: str | None = None,
                 replications: int = 1, method: str = "auto", engine: str = "auto") -> Curve:
    """Fraction delivered at each expiry window, per series, pooled over replications."""
    if method not in CURVE_METHODS:
        raise ValueError(f"method must be one of {', '.join(CURVE_METHODS)}")
    if replications < 1:
        raise ValueError("replications must be >= 1")
    expiries = sorted(set(float(e) for e in expiries_s))
    if not expiries:
        raise ValueError("expected at least one expiry window")
    kind, scenarios = series_scenarios(scenario, series)
    started = time.perf_counter()
    points: list[CurvePoint] = []
    used = set()
    for label, sc in scenarios.items():
        if sc.sender.give_up.counts_attempts:
            raise ConfigError(sc.source, "sender.give_up", "expected an expiry-based give-up rule for an expiry "
                              "curve; 'attempts' counts attempts, not age")
        # One run answers every window only if messages do not affect each other (no host-level state:
        # a shorter expiry removes messages that would have marked a destination dead) and nothing is cut
        # short by a horizon.
        valid = (sc.horizon_s is None and not des_only_features(sc)
                 and not sc.sender.expiry_shapes_schedule(expiries[-1]))
        single = method == "single-run" or (method == "auto" and valid)
        if method == "single-run" and not valid:
            raise ValueError("the single-run method needs a scenario without a horizon or host-level state, "
                             "whose schedule does not depend on the expiry")
        counts = (_single_run_counts if single else _explicit_counts)(sc, expiries, replications, engine)
        used.add("single-run" if single else "explicit")
        for e_index, expiry in enumerate(expiries):
            c = counts[:, e_index, :]          # replications x (messages, delivered, expired, bounced, queued)
            fraction, low, high = confidence_interval(c[:, 1], c[:, 0])
            total = c.sum(axis=0)
            points.append(CurvePoint(label, expiry, int(total[0]), int(total[1]), int(total[2]), int(total[3]),
                                     int(total[4]), float(fraction), float(low), float(high)))
    return Curve(scenario.name, points, "+".join(sorted(used)), replications, kind,
                 time.perf_counter() - started)


def _single_run_counts(sc: Scenario, expiries: list[float], replications: int, engine: str) -> np.ndarray:
    longest = replace(sc, sender=sc.sender.with_expiry(expiries[-1]))
    grid = np.asarray(expiries)
    out = np.zeros((replications, len(expiries), 5), dtype=np.int64)
    for r in range(replications):
        m = simulate(longest, replication_seed(sc.seed, r), engine=engine).messages
        decisive = m.decisive_age_s
        finished = np.isin(m.outcome, (Outcome.DELIVERED, Outcome.BOUNCED))
        through = sc.sender.give_up.survives(decisive[finished, None], grid[None, :])
        delivered_mask = (m.outcome[finished] == Outcome.DELIVERED)[:, None]
        delivered = np.count_nonzero(through & delivered_mask, axis=0)
        bounced = np.count_nonzero(through & ~delivered_mask, axis=0)
        n = len(m)
        out[r, :, 0] = n
        out[r, :, 1] = delivered
        out[r, :, 3] = bounced
        out[r, :, 2] = n - delivered - bounced
    return out


def _explicit_counts(sc: Scenario, expiries: list[float], replications: int, engine: str) -> np.ndarray:
    out = np.zeros((replications, len(expiries), 5), dtype=np.int64)
    for r in range(replications):
        for e_index, expiry in enumerate(expiries):
            run = replace(sc, sender=sc.sender.with_expiry(expiry))
            counts = simulate(run, replication_seed(sc.seed, r), engine=engine).counts()
            out[r, e_index] = (sum(counts.values()), counts["delivered"], counts["expired"], counts["bounced"],
                               counts["queued"])
    return out

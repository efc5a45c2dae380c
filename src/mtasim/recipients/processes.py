"""Outages that recur: an alternating renewal process per domain, and weekly maintenance windows.

Engines only ever see a domain's sorted, disjoint windows, so both end as concrete windows: drawn (or
repeated) per run from t = 0 up to a bound (``Scenario.outage_until_s``: the horizon, or the latest
arrival plus a bound on a message's life) and merged with the recipient's other outages by
:func:`combine_windows`, at each instant the reply of the first source in a fixed precedence that is down
then.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from ..config import ConfigError, Node
from ..durations import DurationError, format_duration, next_weekday_time, parse_duration, parse_weekday_time
from .outages import DEFAULT_FAILURE, Distribution, Outage, distribution_from_node, failure_from_node
from .replies import Reply, failure_reply

__all__ = ["OutageProcess", "WeeklyWindow", "combine_windows", "outage_process_from_node", "weekly_from_node",
           "MAX_WINDOWS", "WEEK_S"]

WEEK_S = 7 * 86400.0
#: A run drawing more windows than this is refused. Each window becomes an Outage object and a cell of the
#: engines' outage table, built in Python: measured on this project's machine, 4.8 million windows (10^5
#: domains) took 16 s and about 1 GB in ``simulate``, so 10^7 windows take over half a minute and 2-3 GB
#: before the first message is tried.
MAX_WINDOWS = 10_000_000
#: Rounds of up/down draws per block for n domains: arrays of at most 2^16 values. Depends on n only, so a
#: domain's k-th outage is the same draw whatever the bound (a longer bound only adds later outages).
_BLOCK_VALUES = 1 << 16


@dataclass(frozen=True)
class OutageProcess:
    """An alternating renewal process per domain: up for a drawn time, down for a drawn time, and again.
    With probability ``long_p`` a down time is drawn from ``long`` instead: a rare multi-day mode in a
    mixture (repair times are lognormal with a heavy tail, docs/provider-and-recipient-facts.md B.5)."""

    up: Distribution
    down: Distribution
    reply: Reply
    long_p: float = 0.0
    long: Distribution | None = None
    #: True: a domain starts down (its first outage begins at t = 0), else up.
    starts_down: bool = False
    #: (file, key path) of the process in the scenario, for errors found when drawing.
    where: tuple[str, str] = field(default=("<scenario>", ""), compare=False, repr=False)

    def expected_windows(self, until_s: float) -> float:
        """Expected outages of one domain in ``[0, until_s)``: the renewal rate times the length (plus the
        one under way), an estimate made before drawing. It underestimates heavy tails (a lognormal's mean
        is pulled up by rare long draws); :meth:`draw` counts as it goes, too."""
        long_mean = self.long.mean if self.long is not None else 0.0
        cycle = self.up.mean + (1.0 - self.long_p) * self.down.mean + self.long_p * long_mean
        return until_s / cycle + 1.0

    def draw(self, rng: np.random.Generator, n: int, until_s: float, cap: float = MAX_WINDOWS
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The outages of ``n`` domains that start before ``until_s``: (starts, ends, outages per domain),
        domain by domain, each domain's in time order.

        Draws in blocks of rounds, each round one up time and one down time per domain (then, with a
        ``long`` mode, one uniform and one long time per domain), so that a domain's k-th outage is the same
        draw whatever ``until_s`` is. An outage may end past ``until_s``; zero-length ones are dropped.
        Refuses (ConfigError) once more than ``cap`` outages are drawn."""
        rounds = max(1, min(1024, _BLOCK_VALUES // max(n, 1)))
        t = np.zeros(n)                              # where each domain's next round begins
        starts, ends, keep = [], [], []
        drawn = 0
        while n and (t < until_s).any():
            up = self.up.draw(rng, rounds * n).reshape(rounds, n)
            down = self.down.draw(rng, rounds * n).reshape(rounds, n)
            if self.long is not None:
                is_long = rng.random(rounds * n).reshape(rounds, n) < self.long_p
                down = np.where(is_long, self.long.draw(rng, rounds * n).reshape(rounds, n), down)
            # the boundaries in time order: t, then the end of each up and each down period (or down, up)
            steps = np.empty((2 * rounds, n))
            steps[0::2], steps[1::2] = (down, up) if self.starts_down else (up, down)
            bounds = np.vstack((t, t + np.cumsum(steps, axis=0)))
            first = 0 if self.starts_down else 1
            s, e = bounds[first:first + 2 * rounds:2], bounds[first + 1:first + 2 * rounds + 1:2]
            ok = (s < until_s) & (e > s)
            drawn += int(ok.sum())
            if drawn > cap:
                raise ConfigError(*self.where, f"expected at most {MAX_WINDOWS:,} outage windows in a run; "
                                  f"drawing {n:,} domains' outages until {format_duration(until_s)} passed that "
                                  f"(a longer up time, fewer domains, or a shorter horizon)")
            starts.append(s)
            ends.append(e)
            keep.append(ok)
            t = bounds[-1]
        if not starts:
            return np.zeros(0), np.zeros(0), np.zeros(n, dtype=np.int64)
        ok_t = np.vstack(keep).T                      # domain-major: each domain's outages in time order
        return np.vstack(starts).T[ok_t], np.vstack(ends).T[ok_t], ok_t.sum(axis=1)

    def describe(self) -> str:
        text = (f"outage process: up {self.up.describe()}, down {self.down.describe()}"
                + (f" (or with p {self.long_p:g} {self.long.describe()})" if self.long is not None else "")
                + (", starting down" if self.starts_down else ""))
        return f"{text}, {self.reply.text}"


@dataclass(frozen=True)
class WeeklyWindow:
    """Down every week at the same weekday and time of day on the scenario start's wall clock (its UTC
    offset: a week is 7 x 24 h, with no daylight-saving shift) for ``duration_s``."""

    #: Seconds from t = 0 to the first start at or after it.
    first_s: float
    duration_s: float
    reply: Reply
    #: As written (``Sun 02:00 for 6h``), for descriptions.
    text: str = ""

    def windows(self, until_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Every window starting before ``until_s`` (one under way at t = 0 is cut to start at 0)."""
        count = max(0, math.ceil((until_s - self.first_s) / WEEK_S))
        starts = self.first_s + WEEK_S * np.arange(-1, count)       # k * week: no sum of rounding steps
        ends = starts + self.duration_s
        live = ends > 0
        return np.maximum(starts[live], 0.0), ends[live]

    def describe(self) -> str:
        return f"weekly {self.text}, {self.reply.text}"


def combine_windows(sources: list[tuple[np.ndarray, np.ndarray, np.ndarray]], replies: list[Reply]
                    ) -> tuple[Outage, ...]:
    """One domain's sorted, disjoint windows from ``sources`` given in precedence order, each a sorted,
    disjoint (starts, ends, reply index into ``replies``): at each instant the reply is that of the first
    source down then; pieces that touch with the same reply become one window."""
    live = [src for src in sources if len(src[0])]
    if not live:
        return ()
    if len(live) == 1:
        s, e, r = live[0]
    else:
        points = np.unique(np.concatenate([x for src in live for x in src[:2]]))
        left, right = points[:-1], points[1:]
        r = np.full(len(left), -1)
        for starts, ends, reply in live:                 # each elementary piece: the first source down then
            i = np.searchsorted(starts, left, side="right") - 1
            j = np.maximum(i, 0)
            hit = (i >= 0) & (left < ends[j]) & (r < 0)
            r[hit] = reply[j[hit]]
        down = r >= 0
        s, e, r = left[down], right[down], r[down]
    new = np.ones(len(s), dtype=bool)
    new[1:] = (s[1:] != e[:-1]) | (r[1:] != r[:-1])
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, len(s) - 1)
    return tuple(Outage(float(a), float(b), replies[int(k)]) for a, b, k in zip(s[first], e[last], r[first]))


_START_STATES = ("up", "down")


def outage_process_from_node(node: Node | None, timeout_s: float) -> OutageProcess | None:
    """``outage_process: {up, down, long: {p, duration}, failure, start: up|down}``."""
    if node is None:
        return None
    node.require_mapping("an outage process such as {up: {kind: exponential, mean: 7d}, "
                         "down: {kind: lognormal, median: 1h, sigma: 1.5}}")
    up = distribution_from_node(node.get("up"), allow_zero=False)
    down = distribution_from_node(node.get("down"), allow_zero=False)
    long_p, long = 0.0, None
    long_node = node.get("long", None)
    if long_node is not None:
        long_node.require_mapping("a long mode such as {p: 0.01, duration: {kind: lognormal, median: 2d, "
                                  "sigma: 0.5}}")
        long_p = long_node.number("p", minimum=0.0, maximum=1.0)
        long = distribution_from_node(long_node.get("duration"), allow_zero=False)
        long_node.finish()
    reply = failure_from_node(node, timeout_s)
    starts_down = node.choice("start", _START_STATES, "up") == "down"
    node.finish()
    return OutageProcess(up, down, reply, long_p, long, starts_down, (node.source, node.path))


def weekly_from_node(node: Node | None, timeout_s: float, scenario_start: datetime) -> tuple[WeeklyWindow, ...]:
    """``weekly``: ``"Sun 02:00 for 6h"``, ``{window: "Sun 02:00 for 6h", failure: refused}``, or a list
    of these; the weekday and time are read on ``scenario_start``'s wall clock."""
    if node is None:
        return ()
    items = node.elements("a list") if isinstance(node.value, list) else [node]
    if not items:
        raise node.error("expected at least one weekly window such as \"Sun 02:00 for 6h\"")
    return tuple(_weekly_window(item, timeout_s, scenario_start) for item in items)


def _weekly_window(item: Node, timeout_s: float, scenario_start: datetime) -> WeeklyWindow:
    if isinstance(item.value, dict):
        text_node = item.get("window")
        reply = failure_from_node(item, timeout_s)
        item.finish()
    else:
        text_node, reply = item, failure_reply(DEFAULT_FAILURE, timeout_s)
    text = text_node.as_text()
    parts = _FOR.split(text, maxsplit=1)
    try:
        if len(parts) != 2:
            raise DurationError(f"expected a weekly window such as \"Sun 02:00 for 6h\", got {text!r}")
        weekday, time_of_day = parse_weekday_time(parts[0])
        duration = parse_duration(parts[1].strip())
    except DurationError as exc:
        raise text_node.error(str(exc)) from None
    if duration > WEEK_S:
        raise text_node.error(f"expected a weekly window of at most 1w, got {text!r}")
    first = next_weekday_time(scenario_start, weekday, time_of_day)
    return WeeklyWindow(first, duration, reply, f"{parts[0].strip()} for {parts[1].strip()}")


_FOR = re.compile(r"\s+for\s+")

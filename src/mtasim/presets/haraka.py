"""Haraka outbound. Facts: docs/mta-retry-facts.md §6, §9, §10."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import Node
from ..durations import MAX_DURATION_S, format_duration
from ..schedules import ListSchedule
from ..sender import Sender
from . import Param, Preset, PresetValueError

#: ``maxTempFailures`` default (outbound/config.js).
MAX_TEMP_FAILURES = 13
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
#: What JavaScript's Number() reads as a plain decimal (hex, "Infinity" and the like are refused here).
_JS_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def default_intervals(max_temp_failures: int) -> tuple[float, ...]:
    """``set_old_defaults()``: 2**(i+5) s for i = 1 .. maxTempFailures-1 (64 s, 128 s, ... 131072 s)."""
    return tuple(2.0 ** (i + 5) for i in range(1, max_temp_failures))


def _js_number(text: str) -> float:
    if text == "":
        return 0.0                       # Number("") is 0 in JavaScript
    return float(text) if _JS_NUMBER.match(text) else math.nan


#: The most intervals a temp_fail_intervals list may expand to (mtasim's bound, not Haraka's).
_MAX_INTERVALS = 100_000


def parse_temp_fail_intervals(text: str) -> tuple[float, ...]:
    """Haraka's ``set_temp_fail_intervals()``: ``"1m, 5m*2, 1h*3"`` -> (60, 300, 300, 3600, 3600, 3600);
    ``"none"`` -> () (bounce at the first temporary failure). Whitespace is dropped and case ignored;
    each element is ``<number><s|m|h|d>[*<integer count>]`` and must come to >= 5 s.

    Raises ValueError with Haraka's own message. (Haraka logs it and falls back to the maxTempFailures
    defaults; the simulator refuses the value instead, so that a typo cannot go unnoticed.)
    """
    def error(i: int, message: str) -> ValueError:
        return ValueError(f"temp_fail_intervals syntax error parsing element {i}: {message}")

    spec = re.sub(r"\s+", "", text).lower()
    if not spec:
        raise error(0, "nothing specified")
    if spec == "none":
        return ()
    times: list[float] = []
    for i, element in enumerate(spec.split(",")):
        parts = element.split("*")
        if len(parts) > 2:
            raise error(i, "too many *")
        count = _js_number(parts[1]) if len(parts) == 2 else 1.0
        if math.isnan(count) or not count.is_integer():
            raise error(i, "multiplier is not an integer")
        span = parts[0]
        if len(span) < 2:
            raise error(i, "invalid time span")
        number = _js_number(span[:-1])
        if math.isnan(number):
            raise error(i, "invalid number or symbol")
        if span[-1] not in _UNITS:
            raise error(i, "invalid time span symbol")
        seconds = number * _UNITS[span[-1]]
        if seconds < 5:
            raise error(i, "delay time too small, should be >=5 seconds")
        if not math.isfinite(seconds) or seconds > MAX_DURATION_S:
            raise error(i, f"delay time too large, should be at most {MAX_DURATION_S / 86400:,.0f}d")
        if len(times) + max(count, 0) > _MAX_INTERVALS:     # beyond Haraka's syntax: a bound on the list
            raise error(i, f"multiplier too large: at most {_MAX_INTERVALS:,} intervals in all")
        times.extend([seconds] * max(int(count), 0))
    if not times:
        raise error(0, "unexpected parsing result")
    return tuple(times)


@dataclass(frozen=True)
class _IntervalsParam(Param):
    """``temp_fail_intervals``: a text list in Haraka's own syntax (or absent: derived from maxTempFailures)."""

    kind: str = "intervals"

    def read(self, node: Node) -> Any:
        if not isinstance(node.value, str):
            raise node.error(f"expected text such as \"1m, 5m*2, 1h*3\" or \"none\", got {node.value!r}")
        try:
            return parse_temp_fail_intervals(node.value)
        except ValueError as exc:
            raise node.error(str(exc)) from None

    def show(self, value: Any = None) -> str:
        if value is None:
            return self.native
        return "none" if not value else ", ".join(format_duration(s) for s in value)


def _haraka(v: Mapping[str, Any]) -> Sender:
    """Haraka outbound: after the n-th temporary failure wait ``temp_fail_intervals[n-1]`` from that
    failure; the failure after the last interval bounces the message (``num_failures >
    temp_fail_intervals.length``). Without ``temp_fail_intervals`` the list is ``2**(i+5)`` s for i = 1 ..
    maxTempFailures-1, so with the default 13 the 13th failure bounces (72:48:00 after arrival when every
    attempt fails at once); ``temp_fail_intervals`` takes precedence over maxTempFailures when both are
    given, and ``none`` bounces at the first temporary failure. No jitter, no queue runner (one in-memory
    timer per message). Before bouncing, each recipient's DSN status has its leading 4 made a 5 (``4.4.1``
    -> ``5.4.1``) and the reason is "Too many failures (<last error>)". No delay warnings in core.

    Sources: docs/mta-retry-facts.md §6 (haraka/Haraka ``outbound/config.js`` ``set_temp_fail_intervals()`` and
    its syntax checks; ``outbound/hmail.js`` ``temp_fail()``, ``convert_temp_failed_to_bounce()``,
    ``deferred_respond()``; ``docs/Outbound.md``; ``config/outbound.ini``) and the §10 worked example.

    Not modelled: a ``deferred``-hook plugin replacing the wait or dropping the message; SIGHUP flushing
    the temp-fail queue; plugins generally (core has no host-level cache and no delay warnings; plugins
    were not checked). The simulator refuses a malformed ``temp_fail_intervals`` where Haraka logs an
    error and falls back to the maxTempFailures defaults.
    """
    intervals = v["temp_fail_intervals"]
    if isinstance(intervals, str):                     # given to Preset.sender() directly, unparsed
        try:
            intervals = parse_temp_fail_intervals(intervals)
        except ValueError as exc:
            raise PresetValueError("temp_fail_intervals", str(exc)) from None
    if intervals is None:
        intervals = default_intervals(int(v["maxTempFailures"]))
    return Sender(
        schedule=ListSchedule(tuple(intervals), "stop"),
        give_up="attempts",
        max_attempts=len(intervals) + 1,
        attempts_give_up_at="failure",
        expiry_status="last-permanent",
        expiry_reply="Too many failures",
        preset="haraka",
    )


HARAKA = Preset(
    name="haraka",
    summary="Haraka outbound: waits 2^(i+5) s (64 s, 128 s, ... 36.4 h) from each failure; the 13th "
            "failure bounces with the last 4.x.x made 5.x.x",
    sources="docs/mta-retry-facts.md §6, §9, §10 (outbound/config.js set_temp_fail_intervals(), outbound/hmail.js "
            "temp_fail())",
    params=(
        Param("maxTempFailures", MAX_TEMP_FAILURES, "outbound.ini: the failure that bounces the message; waits "
              "are 2^(i+5) s for i = 1 .. maxTempFailures-1 (Haraka has no upper limit; the simulator's is 100)",
              kind="count", minimum=1, maximum=100),
        _IntervalsParam("temp_fail_intervals", None, "outbound.ini: waits such as \"1m, 5m*2, 1h*3\" (each >= 5 s) "
                        "or \"none\"; takes precedence over maxTempFailures", native="unset"),
    ),
    build=_haraka,
    confidence="sourced (outbound/config.js, outbound/hmail.js); plugins not checked",
    order=15,
)

PRESETS = (HARAKA,)

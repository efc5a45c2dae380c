"""Parameter grids: the ``sweep:`` section of a scenario and value ranges such as ``12h..72h/12h``.

Values stay as the user wrote them (``"12h"``, ``postfix``) so that they are validated by the same
code as the scenario file when a grid point is applied; ranges expand to seconds.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from .config import Node
from .durations import DurationError, parse_duration

__all__ = ["SweepSpec", "parse_range", "sweep_from_node", "numeric_value"]

_RANGE = re.compile(r"^\s*([^.][^/]*?)\s*\.\.\s*([^/]+?)\s*/\s*(.+?)\s*$")
MAX_GRID_POINTS = 100_000


def parse_range(text: str) -> list[float]:
    """``start..end/step`` (durations or numbers, end included) -> values in seconds (or plain numbers)."""
    match = _RANGE.match(text)
    if not match:
        raise ValueError(f"expected a list or a range start..end/step such as 12h..72h/12h, got {text!r}")
    try:
        start = parse_duration(match.group(1), allow_zero=True)
        end = parse_duration(match.group(2), allow_zero=True)
        step = parse_duration(match.group(3))
    except DurationError as exc:
        raise ValueError(f"range {text!r}: {exc}") from None
    if end < start:
        raise ValueError(f"range {text!r} is reversed: expected end >= start")
    count = int((end - start) / step + 1e-9) + 1
    if count > MAX_GRID_POINTS:
        raise ValueError(f"range {text!r} has {count:,} values; expected at most {MAX_GRID_POINTS:,}")
    return [start + i * step for i in range(count)]


def numeric_value(value: Any) -> Any:
    """A grid value as a number when it reads as a duration or number (seconds), else unchanged."""
    if isinstance(value, bool):
        return value
    try:
        return parse_duration(value, allow_zero=True)
    except (DurationError, TypeError):
        return value


_UNIT_OR_TIMESPAN = re.compile(r"\d\s*[wdhms]\b|\d[wdhms]|\d:\d")


def _is_duration_text(value: Any) -> bool:
    """A value written with a unit (``12h``, ``1h30m``) or as a TimeSpan is a duration."""
    return isinstance(value, str) and bool(_UNIT_OR_TIMESPAN.search(value))


@dataclass(frozen=True)
class SweepSpec:
    """Grid axes (key path -> values) and the number of replications per grid point."""

    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    replications: int = 1

    @property
    def duration_paths(self) -> list[str]:
        """Axes whose values are durations (written as seconds in sweep.csv, plotted in hours)."""
        return [path for path, values in self.axes if any(_is_duration_text(v) for v in values)
                or path in self.range_paths]

    #: Axes given as a range of durations (their values are already seconds).
    range_paths: tuple[str, ...] = ()

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.axes]

    def points(self) -> list[dict[str, Any]]:
        """Every combination, the first axis varying slowest."""
        values = [vals for _, vals in self.axes]
        return [dict(zip(self.paths, combo)) for combo in itertools.product(*values)]

    def size(self) -> int:
        n = 1
        for _, vals in self.axes:
            n *= len(vals)
        return n


def sweep_from_node(node: Node) -> SweepSpec:
    node.require_mapping("a sweep such as {sender.expiry: 12h..72h/12h, replications: 10}")
    replications = 1
    axes: list[tuple[str, tuple[Any, ...]]] = []
    range_paths: list[str] = []
    for key, child in node.items():
        if key == "replications":
            replications = int(child.as_number(integer=True, minimum=1, maximum=100_000))
            continue
        if isinstance(child.value, list):
            if not child.value:
                raise child.error("expected at least one value")
            values = tuple(child.value)
        elif isinstance(child.value, str) and ".." in child.value:
            try:
                values = tuple(parse_range(child.value))
            except ValueError as exc:
                raise child.error(str(exc)) from None
            if _is_duration_text(child.value):
                range_paths.append(key)
        else:
            values = (child.value,)
        axes.append((key, values))
    if not axes:
        raise node.error("expected at least one parameter path to sweep, e.g. sender.expiry: [12h, 24h]")
    spec = SweepSpec(tuple(axes), replications, tuple(range_paths))
    if spec.size() * replications > 10_000_000:
        raise node.error(f"expected at most 10,000,000 runs, this sweep asks for {spec.size() * replications:,}")
    return spec

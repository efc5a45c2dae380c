"""Parse and format durations.

Scenario files speak in human units (``300s``, ``5m``, ``1h30m``, ``2d``, ``1w``); Exchange parameters
speak .NET TimeSpan (``1.00:00:00``, ``00:15:00``). Everything inside the simulator is float seconds.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from decimal import Decimal

import numpy as np

__all__ = ["DurationError", "MAX_DURATION_S", "parse_duration", "format_hms", "format_duration", "parse_weekday_time",
           "next_weekday_time", "format_wall_clock", "format_wall_clock_array"]

_UNIT_S = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_HUMAN = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([wdhms])")
_HUMAN_WHOLE = re.compile(r"^(?:\s*(?:\d+(?:\.\d+)?|\.\d+)\s*[wdhms])+\s*$")
# .NET TimeSpan "[d.]hh:mm[:ss[.fffffff]]"
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?$")


#: The longest duration accepted anywhere (100 years): nothing the simulator models lasts longer, and dates
#: counted from a scenario's start stay within the calendar.
MAX_DURATION_S = 36525 * 86400.0


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text):,} characters)"


class DurationError(ValueError):
    """A duration that cannot be parsed or is out of range; the message says what was expected."""


def parse_duration(value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` in seconds.

    Accepts a non-negative number (seconds), a string of ``<number><unit>`` groups with units w, d, h,
    m, s (``1h30m``), a plain number string, or a TimeSpan (``1.00:00:00``). Negative values are always
    errors; zero is an error unless ``allow_zero`` (a zero expiry or interval is usually a typo).
    """
    if isinstance(value, bool):
        raise DurationError(f"expected a duration such as 30m or 1h30m, got {_short(value)}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value.strip())
    else:
        raise DurationError(f"expected a duration such as 30m or 1h30m, got {_short(value)}")
    if math.isnan(seconds) or math.isinf(seconds):
        raise DurationError(f"expected a finite duration, got {_short(value)}")
    if seconds > MAX_DURATION_S:
        raise DurationError(f"expected a duration of at most 100 years ({MAX_DURATION_S / 86400:,.0f}d), "
                            f"got {_short(value)}")
    if seconds < 0:
        raise DurationError(f"expected a duration >= 0, got {_short(value)}")
    if seconds == 0 and not allow_zero:
        raise DurationError(f"expected a duration > 0, got {_short(value)}")
    return seconds


def _parse_text(text: str) -> float:
    if text.startswith("-"):
        raise DurationError(f"expected a duration >= 0, got {_short(text)}")
    try:
        return float(text)
    except ValueError:
        pass
    if _HUMAN_WHOLE.match(text):
        return sum(float(n) * _UNIT_S[u] for n, u in _HUMAN.findall(text))
    match = _TIMESPAN.match(text)
    if match:
        days, hours, minutes, secs, frac = match.groups()
        if int(hours) > 23 or int(minutes) > 59 or (secs is not None and int(secs) > 59):
            raise DurationError(f"expected a TimeSpan d.hh:mm:ss with hh < 24, mm, ss < 60, got {_short(text)}")
        total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(secs or 0)
        return total + (float("0." + frac) if frac else 0.0)
    raise DurationError(
        f"expected a duration such as 300s, 5m, 1h30m, 2d, 1w, a number of seconds, "
        f"or a TimeSpan such as 1.00:00:00, got {_short(text)}"
    )


def format_hms(seconds: float) -> str:
    """``h:mm:ss`` (hours unbounded, milliseconds kept when present), the notation of the reference tables."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    sign = "-" if seconds < 0 else ""
    millis = round(abs(seconds) * 1000)
    whole, frac_ms = divmod(millis, 1000)
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    text = f"{sign}{h}:{m:02d}:{s:02d}"
    if frac_ms:
        text += f".{frac_ms:03d}".rstrip("0")
    return text


def format_duration(seconds: float) -> str:
    """Compact human form (``1d2h``, ``30m``, ``45s``) that :func:`parse_duration` reads back exactly."""
    if seconds == 0:
        return "0s"
    parts = []
    rest = float(seconds)
    for unit in ("d", "h", "m"):
        n = int(rest // _UNIT_S[unit])
        if n:
            parts.append(f"{n}{unit}")
            rest -= n * _UNIT_S[unit]
    if rest > 0 or not parts:
        parts.append(f"{_positional(rest)}s")
    text = "".join(parts)
    if parse_duration(text, allow_zero=True) != float(seconds):
        return f"{_positional(float(seconds))}s"   # the split lost a bit: plain seconds are exact
    return text


def _positional(x: float) -> str:
    """The shortest decimal that reads back as ``x``, never in exponent notation."""
    text = format(Decimal(repr(x)), "f")
    return text[:-2] if text.endswith(".0") else text


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_TIME = re.compile(r"^\s*([A-Za-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")


def parse_weekday_time(text: str) -> tuple[int, float]:
    """``"Sun 02:00"`` -> (6, 7200.0): the weekday (Monday 0, as ``datetime.weekday``) and the seconds
    after midnight. Full day names (``Sunday``) are accepted. Raises DurationError naming the form."""
    match = _WEEKDAY_TIME.match(str(text))
    day = match.group(1).lower() if match else ""
    if not match or day not in _WEEKDAYS:
        raise DurationError(f"expected a weekday and a time such as \"Sun 02:00\", got {_short(text)}")
    hours, minutes, seconds = int(match.group(2)), int(match.group(3)), int(match.group(4) or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise DurationError(f"expected a time of day from 00:00 to 23:59:59, got {_short(text)}")
    return _WEEKDAYS.index(day), hours * 3600.0 + minutes * 60.0 + seconds


def next_weekday_time(start, weekday: int, time_of_day_s: float) -> float:
    """Seconds from ``start`` (an aware datetime) to the first ``weekday time_of_day`` at or after it,
    read on ``start``'s own wall clock (its time zone)."""
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    days = (weekday - start.weekday()) % 7
    offset = days * 86400.0 + time_of_day_s - (start - midnight).total_seconds()
    return offset if offset >= 0 else offset + 7 * 86400.0


def parse_wall_clock(text: object) -> datetime:
    """An ISO 8601 date and time as written in summary.json (``2026-11-27T00:00:00Z``), as an aware
    datetime (UTC when it names no zone). Raises ValueError."""
    when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def format_wall_clock(start: datetime, seconds: float) -> str:
    """ISO 8601 time ``seconds`` after ``start``, on ``start``'s clock (its UTC offset), to the millisecond
    (``2026-11-27T19:00:00+01:00``, ``...T19:00:00.250+01:00``); '' for NaN. What a person reads next to
    the seconds since the start: the CSV columns ``arrival``, ``final``, ``time``."""
    return format_wall_clock_array(start, np.array([seconds], dtype=np.float64))[0]


def format_wall_clock_array(start: datetime, seconds: np.ndarray) -> list[str]:
    """:func:`format_wall_clock` of many times at once, for CSV columns of millions of rows (NumPy's
    datetime64: a few times faster than datetime one by one). The offset is ``start``'s: a start read from
    a file has a fixed UTC offset."""
    seconds = np.asarray(seconds, dtype=np.float64)
    ms = np.round(seconds * 1000.0)
    known = ~np.isnan(ms)
    out = np.full(len(seconds), "", dtype=object)
    if not known.any():
        return out.tolist()
    local = np.datetime64(start.replace(tzinfo=None), "ms") + ms[known].astype(np.int64).astype("timedelta64[ms]")
    offset = datetime(2000, 1, 1, tzinfo=start.tzinfo).isoformat()[19:] if start.tzinfo is not None else ""
    whole = local.astype(np.int64) % 1000 == 0     # whole seconds are written without a fraction
    text = np.empty(len(local), dtype=object)
    text[whole] = np.datetime_as_string(local[whole], unit="s")
    text[~whole] = np.datetime_as_string(local[~whole], unit="ms")
    out[known] = text + offset
    return out.tolist()

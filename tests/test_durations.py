"""parse_duration, format_hms and format_duration (README, Scenario files: durations with units, plain seconds,
TimeSpan)."""

from __future__ import annotations

import math

import pytest

from mtasim.durations import DurationError, format_duration, format_hms, parse_duration

S, MIN, HOUR, DAY, WEEK = 1.0, 60.0, 3600.0, 86400.0, 604800.0


# -- human units ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("300s", 300 * S),
        ("5m", 5 * MIN),
        ("1h30m", 1 * HOUR + 30 * MIN),
        ("2d", 2 * DAY),
        ("1w", 1 * WEEK),
        ("1d2h3m4s", 1 * DAY + 2 * HOUR + 3 * MIN + 4 * S),
        ("1.5h", 1 * HOUR + 30 * MIN),
        (".5m", 30 * S),
        ("1h 30m", 1 * HOUR + 30 * MIN),
        ("  45m  ", 45 * MIN),
    ],
)
def test_unit_strings(text, seconds):
    """A string of <number><unit> groups (w, d, h, m, s) is the sum of its groups in seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("value", "seconds"), [(90, 90.0), (1.5, 1.5), (86400, DAY)])
def test_plain_numbers_are_seconds(value, seconds):
    """A plain int or float is a number of seconds."""
    result = parse_duration(value)
    assert result == pytest.approx(seconds)
    assert isinstance(result, float)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("2.5", 2.5), (" 600 ", 600.0)])
def test_numeric_strings_are_seconds(text, seconds):
    """A numeric string without a unit is a number of seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


# -- Exchange TimeSpan ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1.00:00:00", 1 * DAY),
        ("00:15:00", 15 * MIN),
        ("2.12:30:00", 2 * DAY + 12 * HOUR + 30 * MIN),
        ("12:00:00", 12 * HOUR),
        ("00:00:05", 5 * S),
        ("00:15", 15 * MIN),
        ("00:00:01.5", 1.5 * S),
    ],
)
def test_timespan(text, seconds):
    """A .NET TimeSpan [d.]hh:mm[:ss[.fff]] is days, hours, minutes and seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["00:60:00", "24:00:00", "00:00:60", "1.00:60:00"])
def test_timespan_out_of_range_fields_refused(text):
    """A TimeSpan field out of range (hh >= 24, mm or ss >= 60) is an error, not a wrap-around."""
    with pytest.raises(DurationError, match="TimeSpan"):
        parse_duration(text)


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [-5, -0.5, "-5m", "-300", "-1.00:00:00"])
def test_negative_refused(value):
    """Negative durations are always errors."""
    with pytest.raises(DurationError, match=">= 0"):
        parse_duration(value)


@pytest.mark.parametrize("value", [-5, "-5m"])
def test_negative_refused_even_with_allow_zero(value):
    """allow_zero does not let negative values through."""
    with pytest.raises(DurationError):
        parse_duration(value, allow_zero=True)


@pytest.mark.parametrize("value", [0, 0.0, "0", "0s", "0m", "00:00:00"])
def test_zero_refused_by_default(value):
    """Zero is an error unless allow_zero (a zero interval or expiry is usually a typo)."""
    with pytest.raises(DurationError, match="> 0"):
        parse_duration(value)


@pytest.mark.parametrize("value", [0, "0s", "0", "00:00:00"])
def test_zero_allowed_with_allow_zero(value):
    """With allow_zero, zero is 0.0 seconds."""
    assert parse_duration(value, allow_zero=True) == 0.0


@pytest.mark.parametrize("value", ["garbage", "1x", "5 minutes", "", "h", "1h30", "m5", "1:2:3:4"])
def test_garbage_refused(value):
    """Text that is not a number, unit groups or a TimeSpan is an error that shows an example."""
    with pytest.raises(DurationError, match="expected a duration such as"):
        parse_duration(value)


@pytest.mark.parametrize("value", [True, False, None, [5], {"h": 1}])
def test_non_scalars_and_bool_refused(value):
    """bool (though an int subtype), None and containers are not durations."""
    with pytest.raises(DurationError):
        parse_duration(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, "nan", "inf"])
def test_non_finite_refused(value):
    """NaN and infinity are not durations."""
    with pytest.raises(DurationError):
        parse_duration(value)


def test_duration_error_is_value_error():
    """DurationError is a ValueError so generic handlers catch it."""
    assert issubclass(DurationError, ValueError)


# -- format_hms -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0:00:00"),
        (5 * MIN, "0:05:00"),
        (2 * HOUR + 30 * MIN, "2:30:00"),
        (120 * HOUR + 20 * MIN, "120:20:00"),
        (120 * HOUR + 13 * MIN + 20 * S, "120:13:20"),
        (23 * HOUR + 1 * MIN + 52.5 * S, "23:01:52.5"),
        (1.25, "0:00:01.25"),
    ],
)
def test_format_hms(seconds, text):
    """h:mm:ss with unbounded hours, the notation of the reference tables; fractions kept."""
    assert format_hms(seconds) == text


def test_format_hms_nan_is_dash():
    """An absent time (NaN) shows as '-'."""
    assert format_hms(math.nan) == "-"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5.9996, "0:00:06"),
        (3599.9999, "1:00:00"),
        (5.0001, "0:00:05"),
    ],
)
def test_format_hms_rounds_fraction_to_milliseconds(seconds, text):
    """A fraction that rounds to a whole second carries into the seconds (no '0:00:051.' or '0:00:05.')."""
    assert format_hms(seconds) == text


# -- format_duration ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (30 * MIN, "30m"), (1 * DAY + 2 * HOUR, "1d2h"), (1 * WEEK, "7d"),
     (1 * HOUR + 1 * S, "1h1s")],
)
def test_format_duration_examples(seconds, text):
    """Compact form with units d, h, m, s, omitting zero groups."""
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    "seconds",
    [1, 45, 300, 5400, 86400, 93784, 2 * DAY + 12 * HOUR + 30 * MIN, 433200, 604800, 0.5, 90061.5,
     86400.1, 1234567.891],
)
def test_format_duration_round_trips(seconds):
    """parse_duration(format_duration(x)) == x."""
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_duration_zero_round_trips_with_allow_zero():
    """Zero formats as '0s', which parses back to 0 when zero is allowed."""
    assert parse_duration(format_duration(0), allow_zero=True) == 0.0


@pytest.mark.parametrize("seconds", [1.23456789, 3600.123456789, 1e-7])
def test_format_duration_round_trips_exactly_for_any_fraction(seconds):
    """The docstring promises an exact read-back, also for fractions with many digits or tiny values."""
    assert parse_duration(format_duration(seconds)) == seconds

"""Log timestamps to UTC epoch seconds: syslog's RFC 3164 stamp (no year, local time), ISO 8601 /
RFC 5424 stamps (rsyslog's high-precision format), Exim's ``YYYY-MM-DD HH:MM:SS[.mmm] [+ZZZZ]``, and
the ``M/d/yyyy h:mm:ss AM`` of PowerShell's Export-Csv (en-US culture).

RFC 3164 lines carry no year. Given ``--year``, the first line is in that year; otherwise the year is
the one that puts the file's first line at or before the file's modification time (a log is written
before it is last modified), and the replay says so. Within a file a month going backwards
(December -> January) starts the next year.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["parse_zone", "SyslogClock", "iso_epoch", "exim_epoch", "us_epoch", "MONTHS"]

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?$")


def parse_zone(text: str) -> tzinfo:
    """``--tz``: an IANA zone (Europe/Berlin), UTC, or an offset (+01:00, -0500)."""
    if text.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    m = _OFFSET.match(text.strip())
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
        return timezone(-delta if m.group(1) == "-" else delta)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"expected a time zone such as UTC, Europe/Berlin or +01:00, got {text!r}") from None


class SyslogClock:
    """RFC 3164 ``Mmm dd hh:mm:ss`` of one file -> epoch seconds, the year fixed or inferred (above)."""

    def __init__(self, path: str, year: int | None, zone: tzinfo):
        self.zone = zone
        self.year = year
        self.inferred = year is None
        self._mtime = datetime.fromtimestamp(os.stat(path).st_mtime, zone) if year is None else None
        self._last_month = 0

    def epoch(self, month: int, day: int, hms: str) -> float:
        if self.year is None:
            m = self._mtime
            assert m is not None
            self.year = m.year if (month, day) <= (m.month, m.day) else m.year - 1
        elif month < self._last_month:
            self.year += 1                          # December -> January
        self._last_month = month
        h, mi, s = hms.split(":")
        sec = float(s)
        when = datetime(self.year, month, day, int(h), int(mi), int(sec), tzinfo=self.zone)
        return when.timestamp() + (sec - int(sec))


def iso_epoch(text: str, zone: tzinfo) -> float:
    """ISO 8601 (``2026-11-27T05:44:40.123456+01:00``, ``...Z``, a space for the T); no zone: ``zone``."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=zone)).timestamp()


def exim_epoch(date: str, time: str, offset: str | None, zone: tzinfo) -> float:
    """Exim's main log stamp: local time unless log_timezone added ``+ZZZZ``; milliseconds optional
    (log_selector +millisec)."""
    when = datetime.fromisoformat(f"{date}T{time}{offset or ''}")
    return (when if when.tzinfo else when.replace(tzinfo=zone)).timestamp()


def us_epoch(text: str, zone: tzinfo) -> float:
    """``11/27/2026 5:44:40 AM`` (Export-Csv in the en-US culture), local time."""
    when = datetime.strptime(text.strip(), "%m/%d/%Y %I:%M:%S %p")
    return when.replace(tzinfo=zone).timestamp()

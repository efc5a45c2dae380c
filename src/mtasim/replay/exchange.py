"""Exchange's message tracking log -> events.

Two forms (learn.microsoft.com, "Message tracking in Exchange Server" and "Get-MessageTrackingLog"):

* the log files themselves: ``#Software``, ``#Version``, ``#Log-type``, ``#Date`` and ``#Fields:
  date-time,client-ip,...`` header lines, then CSV rows in those fields, times in UTC (ISO 8601);
* ``Get-MessageTrackingLog | Export-Csv``: an optional ``#TYPE ...`` line, then a header row of the
  cmdlet's property names (``Timestamp``, ``EventId``, ``Source``, ``MessageId``, ``Recipients``,
  ``RecipientStatus``, ``Reference``, ...), times in the server's local time (``--tz``) as ISO 8601 or
  ``11/27/2026 5:44:40 AM``. Export-Csv writes a list as ``System.String[]``: recipients must have been
  joined, e.g. ``Select-Object *,@{n='Recipients';e={$_.Recipients -join ';'}}``.

Events: RECEIVE (arrival), SEND (delivered), DEFER (a failed attempt; the recipient status holds the
last error, ``[{LED=...};...]``: Winsock 10061 a refused and 10060 a timed-out connection, else the
reply), FAIL (a 5xx reply, or with ``4.4.7`` / ``QUEUE.Expired`` given up), DSN (a notification; its
``reference`` is the original message). Other events (DELIVER to a local mailbox, RESOLVE, EXPAND,
AGENTINFO, ...) are skipped.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import tzinfo

from ..recipients import AttemptResult
from .events import Event, Kind
from .source import LogError, read_lines
from .timestamps import iso_epoch, us_epoch

__all__ = ["parse_exchange", "EXPECTED"]

EXPECTED = ("an Exchange message tracking log: a '#Fields: date-time,...,event-id,...' header (or the "
            "Timestamp,EventId,... header row of Get-MessageTrackingLog | Export-Csv) and CSV rows")

#: the log file's field names -> Get-MessageTrackingLog's property names
_NAMES = {"date-time": "Timestamp", "event-id": "EventId", "source": "Source", "message-id": "MessageId",
          "recipient-address": "Recipients", "recipient-status": "RecipientStatus", "reference": "Reference",
          "server-hostname": "ServerHostname", "server-ip": "ServerIp"}
_LED = re.compile(r"\{LED=(?P<led>[^}]*)\}")
_STATUS = re.compile(r"\b(?P<status>[245]\.\d{1,3}\.\d{1,3})\b")


def parse_exchange(path: str, year: int | None, zone: tzinfo, seen: list[int]) -> Iterator[Event]:
    """The events of one tracking log or Export-Csv file; ``seen[0]`` counts the rows read."""
    columns: dict[str, int] | None = None
    native = True
    lines = read_lines(path)
    numbers: list[int] = []

    def texts() -> Iterator[str]:
        for n, text in lines:
            numbers.append(n)
            yield text

    for row in csv.reader(texts()):
        number = numbers[-1]
        if not row or not any(row):
            continue
        first = row[0]
        if first.startswith("#Fields:"):
            names = [first.removeprefix("#Fields:").strip()] + row[1:]
            columns = {_NAMES.get(n.strip(), n.strip()): i for i, n in enumerate(names)}
            native = True
            continue
        if first.startswith("#"):
            continue
        if columns is None:
            if "Timestamp" in row and "EventId" in row:
                columns, native = {n: i for i, n in enumerate(row)}, False
                continue
            raise LogError(path, f"expected {EXPECTED}", number)
        if "Timestamp" not in columns or "EventId" not in columns:
            raise LogError(path, f"expected {EXPECTED}: the header has no date-time or event-id field", number)
        get = lambda name: row[columns[name]].strip() if name in columns and columns[name] < len(row) else ""  # noqa: E731
        stamp = get("Timestamp")
        try:
            t = iso_epoch(stamp, zone) if native or "-" in stamp else us_epoch(stamp, zone)
        except ValueError:
            raise LogError(path, f"expected a date and time such as 2026-11-27T05:44:40.123Z, got {stamp!r}",
                           number) from None
        seen[0] += 1
        yield from _events(t, get, path, number)


def _events(t: float, get, path: str, number: int) -> Iterator[Event]:
    event, key = get("EventId").upper(), get("MessageId")
    if event == "RECEIVE":
        yield Event(t, key, Kind.ARRIVAL)
        return
    if event == "DSN":
        if get("Reference"):
            yield Event(t, get("Reference"), Kind.NOTICE, reply=key)
        return
    if event not in ("SEND", "DEFER", "FAIL") or get("Source").upper() != "SMTP":
        return
    recipients = [r.strip().lower() for r in get("Recipients").split(";") if r.strip()]
    if recipients == ["system.string[]"]:
        raise LogError(path, "expected recipient addresses, got System.String[]: join them before Export-Csv, "
                       "e.g. Select-Object *,@{n='Recipients';e={$_.Recipients -join ';'}}", number)
    status = get("RecipientStatus")
    parts = status.split(";") if not status.startswith("[") else []
    host = get("ServerHostname")
    relay = f"{host}[{get('ServerIp')}]" if host else ""
    for j, rcpt in enumerate(recipients):
        reply = parts[j] if len(parts) == len(recipients) else status
        if event == "SEND":
            yield Event(t, key, Kind.ATTEMPT, rcpt, AttemptResult.DELIVERED, relay, reply, _status(reply, "2.0.0"))
        elif event == "DEFER":
            led = _LED.search(reply)
            text = led.group("led") if led else reply
            if "error code: 10061" in text:
                yield Event(t, key, Kind.ATTEMPT, rcpt, AttemptResult.REFUSED, relay, "connect: Connection refused",
                            "4.4.1")
            elif "error code: 10060" in text:
                yield Event(t, key, Kind.ATTEMPT, rcpt, AttemptResult.TIMEOUT, relay,
                            "connect: Connection timed out", "4.4.1")
            else:
                yield Event(t, key, Kind.ATTEMPT, rcpt, AttemptResult.DEFERRED, relay, text, _status(text, "4.0.0"))
        elif "4.4.7" in reply or "expired" in reply.lower():
            yield Event(t, key, Kind.EXPIRED, rcpt, status=_status(reply, "4.4.7"), reply=reply)
        else:
            yield Event(t, key, Kind.ATTEMPT, rcpt, AttemptResult.REJECTED, relay, reply, _status(reply, "5.0.0"))


def _status(reply: str, fallback: str) -> str:
    m = _STATUS.search(reply)
    return m.group("status") if m else fallback

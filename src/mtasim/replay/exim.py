"""Exim's main log -> events.

Line forms (Exim 4.9x, Exim/exim on GitHub; the spec's chapter "Log files", section "Log line flags"):

* the stamp ``2026-11-27 05:44:40`` in local time, ``.123`` with log_selector +millisec, `` +0100``
  with log_timezone, then ``[pid]`` with +pid (src/src/log.c);
* ``ID <= sender ...``: arrival (src/src/receive.c); ``ID <= <> R=ORIGID ...`` is a notification Exim
  made about ORIGID (a delay warning, or after the failure the bounce);
* ``ID => rcpt [<orig>] R=router T=transport H=host [ip] ... C="250 ..."``, ``->`` for a further
  address of the same delivery: delivered (src/src/deliver.c ``delivery_log()``);
* ``ID == rcpt R=... T=... defer (errno)[ H=host [ip]]: message`` (``deferral_log()``): 111 connection
  refused, 110 timed out, -44 a 4xx reply (ERRNO_RCPT4XX, src/src/macros.h), ``retry time not reached``
  (ERRNO_HRETRY -54 and the routing-level -51/-53): a pass without a connection;
* ``ID ** rcpt ...: message`` (``failure_log()``): a 5xx reply, or given up: ``retry timeout exceeded``
  (src/src/retry.c) or ``all hosts for 'domain' have been failing for a long time``;
* ``ID Completed``: the message is gone.

Deliveries without a host (``=>`` without ``H=`` through a non-smtp transport: local mailboxes, pipes,
files) are skipped, as are lines without a message id (queue runs, daemon start).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import tzinfo

from ..recipients import AttemptResult
from .events import Event, Kind
from .source import LogError, read_lines
from .timestamps import exim_epoch

__all__ = ["parse_exim", "EXPECTED"]

EXPECTED = ("Exim main log lines such as '2026-11-27 05:44:40 1xWolE-0002bI-00 == user@partner.example "
            "R=dnslookup T=remote_smtp defer (111): Connection refused'")

_LINE = re.compile(r"^(?P<date>\d{4}-\d\d-\d\d) (?P<time>\d\d:\d\d:\d\d(?:\.\d{3})?)(?: (?P<tz>[+-]\d{4}))?"
                   r"(?: \[\d+\])? (?P<id>[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}) (?P<rest>.*)$")
_FLAGGED = re.compile(r"^(?P<flag><=|=>|->|\*>|==|\*\*) (?P<addr>\S+)(?P<tail>.*)$")
_DEFER = re.compile(r"defer \((?P<errno>-?\d+)\)(?P<host> H=\S+ \[[^\]]*\])?:? ?(?P<msg>.*)$")
_REMOTE_REPLY = re.compile(r"SMTP error from remote mail server after [^:]*(?::<[^>]*>)?: (?P<reply>.*)$")
_FIELD = re.compile(r" (?P<key>[RTH])=(?P<value>\S+)")
_STATUS = re.compile(r"^[245]\d\d[ -](?P<status>[245]\.\d{1,3}\.\d{1,3})\b")


def _status(reply: str, fallback: str) -> str:
    m = _STATUS.match(reply)
    return m.group("status") if m else fallback


def parse_exim(path: str, year: int | None, zone: tzinfo, seen: list[int]) -> Iterator[Event]:
    """The events of one main log file; ``seen[0]`` counts the lines with an Exim stamp and message id."""
    for number, line in read_lines(path):
        m = _LINE.match(line)
        if not m:
            continue
        try:
            t = exim_epoch(m.group("date"), m.group("time"), m.group("tz"), zone)
        except ValueError:
            raise LogError(path, f"expected a valid date and time, got {line[:40]!r}", number) from None
        seen[0] += 1
        yield from _events(t, m.group("id"), m.group("rest"))


def _events(t: float, mid: str, rest: str) -> Iterator[Event]:
    if rest == "Completed":
        yield Event(t, mid, Kind.REMOVED)
        return
    f = _FLAGGED.match(rest)
    if not f:
        return
    flag, addr, tail = f.group("flag"), f.group("addr").lower().rstrip(":"), f.group("tail")
    fields = {k: v for k, v in _FIELD.findall(tail)}
    if flag == "<=":
        if addr == "<>" and "R" in fields:
            yield Event(t, fields["R"], Kind.NOTICE, reply=mid)    # a notification about message R
        else:
            yield Event(t, mid, Kind.ARRIVAL)
        return
    smtp = "H" in fields or "smtp" in fields.get("T", "smtp")
    if flag in ("=>", "->"):
        if "H" in fields:
            c = re.search(r' C="(?P<reply>(?:[^"\\]|\\.)*)"', tail)
            h = re.search(r" H=(\S+ \[[^\]]*\])", tail)
            reply = c.group("reply") if c else "250 OK"
            yield Event(t, mid, Kind.ATTEMPT, addr, AttemptResult.DELIVERED, h.group(1) if h else "",
                        reply, _status(reply, "2.0.0"))
        return
    if flag == "==":
        d = _DEFER.search(tail)
        if not smtp or not d:
            return
        errno, message = int(d.group("errno")), d.group("msg")
        host = (d.group("host") or "").removeprefix(" H=")
        if "retry time not reached" in message:
            yield Event(t, mid, Kind.ATTEMPT, addr, AttemptResult.SUSPENDED, "", message, "4.4.1")
        elif errno == 111:
            yield Event(t, mid, Kind.ATTEMPT, addr, AttemptResult.REFUSED, host, "connect: Connection refused",
                        "4.4.1")
        elif errno == 110:
            yield Event(t, mid, Kind.ATTEMPT, addr, AttemptResult.TIMEOUT, host,
                        "connect: Connection timed out", "4.4.1")
        else:
            r = _REMOTE_REPLY.search(message)
            reply = r.group("reply") if r else message
            yield Event(t, mid, Kind.ATTEMPT, addr, AttemptResult.DEFERRED, host, reply, _status(reply, "4.0.0"))
        return
    if flag == "**":
        message = tail.split(": ", 1)[1] if ": " in tail else tail.strip()
        if "retry timeout exceeded" in message:
            yield Event(t, mid, Kind.EXPIRED, addr, status="5.0.0", reply=message)
        elif "have been failing for a long time" in message:
            yield Event(t, mid, Kind.ATTEMPT, addr, AttemptResult.SUSPENDED, "", message, "4.4.1")
            yield Event(t, mid, Kind.EXPIRED, addr, status="5.0.0", reply=message)
        elif smtp:
            r = _REMOTE_REPLY.search(message)
            reply = r.group("reply") if r else message
            h = re.search(r" H=(\S+ \[[^\]]*\])", tail)
            yield Event(t, mid, Kind.ATTEMPT, addr, AttemptResult.REJECTED, h.group(1) if h else "", reply,
                        _status(reply, "5.0.0"))

"""Postfix's syslog lines -> events.

Line forms (Postfix 3.x sources, vdukhovni/postfix on GitHub):

* the stamp: syslog's RFC 3164 ``Nov 27 05:44:40 host`` or, from rsyslog, an ISO 8601 / RFC 5424 stamp
  (``2026-11-27T05:44:40.123+01:00 host``, ``<22>1 2026-11-27T05:44:40Z host postfix/smtp 123 - -``);
* arrival: ``QID: client=host[ip]`` (smtpd/smtpd.c), ``QID: uid=N from=<...>`` (pickup/pickup.c),
  ``QID: message-id=<...>`` (cleanup/cleanup_message.c), whichever comes first;
* a delivery pass: ``QID: to=<...>, [orig_to=<...>,] relay=..., [conn_use=N,] delay=..., delays=a/b/c/d,
  dsn=X.Y.Z, status=sent|deferred|bounced (reason)`` (global/log_adhoc.c); the reason is
  ``connect to host[ip]:25: Connection refused`` / ``Connection timed out`` (smtp/smtp_connect.c),
  ``host host[ip] said: 451 ... (in reply to RCPT TO command)`` or ``conversation with host[ip] timed
  out while ...`` / ``lost connection with ...`` (smtp/smtp_proto.c, smtp_trouble.c), and ``delivery
  temporarily suspended: ...`` for a pass held back because the destination is dead, relay=none
  (qmgr/qmgr_deliver.c, written by the error(8)/retry agent): no connection;
* ``QID: from=<...>, status=expired, returned to sender`` (qmgr/qmgr_active.c): given up;
* ``QID: sender delay notification: NEWQID`` (bounce/bounce_warn_service.c): the delay warning;
* ``QID: removed`` (qmgr/qmgr_active.c).

Deliveries by local(8), virtual(8), pipe(8) and lmtp(8), and relay=local/virtual, are not to a remote
destination and are skipped; lines of other programs are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import tzinfo

from ..recipients import AttemptResult
from .events import Event, Kind
from .source import LogError, read_lines
from .timestamps import MONTHS, SyslogClock, iso_epoch

__all__ = ["parse_postfix", "EXPECTED", "classify_reason"]

EXPECTED = ("Postfix syslog lines such as 'Nov 27 05:44:40 mail postfix/smtp[2001]: 4A2B3C4D5E: "
            "to=<user@partner.example>, relay=..., delay=..., dsn=4.4.1, status=deferred (...)'")

_RFC3164 = re.compile(r"^(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d(?:\.\d+)?) "
                      r"(?P<host>\S+) (?P<prog>[^\s\[:]+)(?:\[\d+\])?: (?P<msg>.*)$")
_ISO = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) "
                  r"(?P<host>\S+) (?P<prog>[^\s\[:]+)(?:\[\d+\])?: (?P<msg>.*)$")
_RFC5424 = re.compile(r"^<\d{1,3}>1 (?P<ts>\S+) (?P<host>\S+) (?P<prog>\S+) \S+ \S+ "
                      r"(?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?(?P<msg>.*)$")
_QID = re.compile(r"^(?P<qid>[0-9A-Za-z]{5,20}): (?P<rest>.*)$")
_TO = re.compile(r"^to=<(?P<to>[^>]*)>, (?:orig_to=<[^>]*>, )?relay=(?P<relay>[^,]*), (?:conn_use=\d+, )?"
                 r"delay=[\d.]+, delays=(?P<delays>[\d./]+), dsn=(?P<dsn>\d\.\d{1,3}\.\d{1,3}), "
                 r"status=(?P<status>\w+) \((?P<reason>.*)\)$")
_SAID = re.compile(r"host \S+ said: (?P<reply>[245]\d\d[ -].*?)(?: \(in reply to [^)]*\))?$")
_LOCAL_AGENTS = ("local", "virtual", "pipe", "lmtp")
_SUSPENDED = "delivery temporarily suspended: "


def classify_reason(status: str, reason: str) -> tuple[AttemptResult, str]:
    """``(result, reply)`` of one ``to=`` line from its status and the text in parentheses."""
    if status == "sent":
        return AttemptResult.DELIVERED, reason
    said = _SAID.search(reason)
    if status == "bounced":
        return AttemptResult.REJECTED, said.group("reply") if said else reason
    if reason.startswith(_SUSPENDED):
        return AttemptResult.SUSPENDED, reason
    if reason.startswith("connect to ") and reason.endswith("Connection refused"):
        return AttemptResult.REFUSED, "connect: Connection refused"
    if reason.startswith("connect to ") and "timed out" in reason:
        return AttemptResult.TIMEOUT, "connect: Connection timed out"
    if said:
        return AttemptResult.DEFERRED, said.group("reply")
    return AttemptResult.DEFERRED, reason


def parse_postfix(path: str, year: int | None, zone: tzinfo, seen: list[int]) -> Iterator[Event]:
    """The events of one file, in its own order; ``seen[0]`` counts the Postfix lines recognised, ``seen[1]``
    those with an RFC 3164 stamp (no year)."""
    clock = SyslogClock(path, year, zone)
    for number, line in read_lines(path):
        m = _RFC3164.match(line)
        try:
            if m and m.group("mon") in MONTHS:
                t = clock.epoch(MONTHS[m.group("mon")], int(m.group("day")), m.group("hms"))
            else:
                m = _ISO.match(line) or _RFC5424.match(line)
                if not m:
                    continue
                t = iso_epoch(m.group("ts").replace(" ", "T"), zone)
        except ValueError:
            raise LogError(path, f"expected a valid date and time, got {line[:40]!r}", number) from None
        prog = m.group("prog")
        if not prog.startswith("postfix") or "/" not in prog:
            continue
        seen[0] += 1
        seen[1] += "mon" in m.groupdict()
        q = _QID.match(m.group("msg"))
        if not q:
            continue
        event = _event(t, q.group("qid"), prog.rsplit("/", 1)[1], q.group("rest"))
        if event is not None:
            yield event


def _event(t: float, qid: str, agent: str, rest: str) -> Event | None:
    if rest.startswith("to=<"):
        m = _TO.match(rest)
        if not m or agent in _LOCAL_AGENTS or m.group("relay") in ("local", "virtual"):
            return None
        result, reply = classify_reason(m.group("status"), m.group("reason"))
        if m.group("status") not in ("sent", "deferred", "bounced"):
            return None
        delays = [float(x) for x in m.group("delays").split("/")]
        # log_adhoc.c: the line is written when the pass ends; c (connection set-up) and d
        # (transmission) are the pass's own time, so it began that much earlier
        start = t - (delays[2] + delays[3] if len(delays) == 4 and result != AttemptResult.SUSPENDED else 0.0)
        return Event(start, qid, Kind.ATTEMPT, m.group("to").lower(), result, m.group("relay"), reply,
                     m.group("dsn"))
    if rest.startswith(("message-id=", "client=", "uid=")):
        return Event(t, qid, Kind.ARRIVAL)
    if rest.startswith("from=<") and rest.endswith("status=expired, returned to sender"):
        return Event(t, qid, Kind.EXPIRED)
    if rest.startswith(("sender delay notification:", "sender non-delivery notification:")):
        return Event(t, qid, Kind.NOTICE, reply=rest.rsplit(" ", 1)[-1])
    if rest == "removed":
        return Event(t, qid, Kind.REMOVED)
    return None

"""Sendmail and Exchange log lines, compared with what the real programs write.

Each expected line below is written from the program's own source or documentation, named next to it:

* Sendmail 8.17 (sendmail/deliver.c ``logdelivery()``: the order ``to=, delay=, xdelay=, mailer=, pri=,
  relay=, dsn=, reply=, stat=``; ``giveresponse()`` with libsm/strexit.c ``sm_sysexmsg()`` for
  "450 4.0.0 Deferred", "550 5.1.1 User unknown", "554 5.0.0 Service unavailable"; sendmail/err.c
  ``sm_errstring()`` for "Connection refused by HOST" and "Connection timed out with HOST"; usersmtp.c
  ``smtprcptstat()`` for the reply kept in ``q_rstatus``; RELEASE_NOTES 8.16.1 "Log the actual reply of a
  server when an SMTP delivery problem occurs in a reply= field"; collect.c and queue.c ``readqf()`` for
  pri = size + 30000 per recipient + 90000 per queue run; savemail.c ``returntosender()`` for
  ``QID: NEWQID: DSN: ...``; envelope.c ``dropenvelope()`` for "Cannot send message for 5 days").
* Exchange message tracking log (learn.microsoft.com "Message tracking in Exchange Server": the header
  lines, the 30 fields in order, the date-time and schema-version formats, event ids, the reference of a
  DSN event, ``<GUID@ServerFQDN>`` message ids); recipient-status ``[{LED=...};{MSG=};{FQDN=...};{IP=...};
  {LRT=M/D/YYYY h:mm:ss AM}]`` as Get-MessageTrackingLog shows it for Exchange 2016.
"""

from __future__ import annotations

import csv
import re

import mtasim
from mtasim.logformats import EXCHANGE_FIELDS
from mtasim.notices import log_lines

START = "2026-11-30T09:00:00Z"


def _lines(preset, failure, params=None, outage="25m", times=(0,)):
    sc = mtasim.scenario_from_dict({
        "start": START, "reporting_mta": "mta.example.org",
        "sender": {"preset": preset, **(params or {})},
        "messages": {"arrival": {"kind": "times", "times": list(times)}},
        "recipients": [{"domain": "p.example", "outages": [{"start": 0, "end": outage, "failure": failure}]}],
    })
    return list(log_lines(mtasim.simulate(sc, attempts=True)))


# -- Sendmail -------------------------------------------------------------------------------------
_HEAD = "Nov 30 {t} mta sm-mta[20000]: kAU90000010000: to=<user0@p.example>, "


def test_sendmail_refused_connection_line():
    """A refused connection: relay= host and [address] (CurHostAddr is set by makeconnection()), dsn=4.0.0
    from "450 4.0.0 Deferred", stat=Deferred: Connection refused by HOST., no reply= (no server reply);
    pri grows by WkTimeFact 90000 per queue run."""
    lines = _lines("sendmail", "refused", {"Timeout.hoststatus": "0"})
    assert lines[2] == _HEAD.format(t="09:10:00") + (
        "delay=00:10:00, xdelay=00:00:00, mailer=esmtp, pri=122048, relay=p.example. [192.0.2.1], dsn=4.0.0, "
        "stat=Deferred: Connection refused by p.example.")
    assert lines[-1] == _HEAD.format(t="09:30:00") + (
        "delay=00:30:00, xdelay=00:00:00, mailer=esmtp, pri=302048, relay=p.example. [192.0.2.1], dsn=2.0.0, "
        "stat=Sent (OK)")


def test_sendmail_timed_out_connection_line():
    """A connect time-out: "Connection timed out with HOST." (err.c: strerror(ETIMEDOUT) + " with "), the
    30 s attempt in xdelay."""
    lines = _lines("sendmail", "timeout", {"Timeout.hoststatus": "0"})
    assert lines[1] == _HEAD.format(t="09:00:30") + (
        "delay=00:00:30, xdelay=00:00:30, mailer=esmtp, pri=32048, relay=p.example. [192.0.2.1], dsn=4.0.0, "
        "stat=Deferred: Connection timed out with p.example.")


def test_sendmail_4xx_reply_line_has_reply_field():
    """A 451 at RCPT: dsn= the reply's enhanced code, reply= the server's reply (8.16.1+), stat=Deferred: and
    the reply."""
    lines = _lines("sendmail", "451 4.3.0 Mail server temporarily unavailable")
    assert lines[1] == _HEAD.format(t="09:00:00") + (
        "delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=32048, relay=p.example. [192.0.2.1], dsn=4.3.0, "
        "reply=451 4.3.0 Mail server temporarily unavailable, "
        "stat=Deferred: 451 4.3.0 Mail server temporarily unavailable")


def test_sendmail_550_is_user_unknown_and_other_5xx_service_unavailable():
    """A 550 to RCPT is EX_NOUSER: stat=User unknown, and the bounce's line `QID: NEWQID: DSN: User unknown`;
    a 554 is EX_UNAVAILABLE: stat=Service unavailable."""
    reply = "550 5.1.1 <user0@p.example>: Recipient address rejected: User unknown in local recipient table"
    lines = _lines("sendmail", reply, outage="1h")
    assert lines[1] == _HEAD.format(t="09:00:00") + (
        "delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=32048, relay=p.example. [192.0.2.1], dsn=5.1.1, "
        f"reply={reply}, stat=User unknown")
    assert lines[2] == "Nov 30 09:00:00 mta sm-mta[20000]: kAU90000010000: kAU90001040000: DSN: User unknown"
    lines = _lines("sendmail", "554 5.7.1 Service unavailable; client host blocked", outage="1h")
    assert lines[1].endswith(", dsn=5.7.1, reply=554 5.7.1 Service unavailable; client host blocked, "
                             "stat=Service unavailable")


def test_sendmail_default_expiry_line():
    """Timeout.queuereturn 5d: the bounce is logged `QID: NEWQID: DSN: Cannot send message for 5 days`
    (envelope.c, pintvl(5 days, false)); the 4 h warning `... DSN: Warning: could not send message for past
    4 hours`."""
    lines = _lines("sendmail", "refused", {"Timeout.hoststatus": "0"}, outage="6d")
    assert re.fullmatch(r"Dec  5 09:00:00 mta sm-mta\[20000\]: kAU90000010000: \w{14}: DSN: "
                        r"Cannot send message for 5 days", lines[-1]), lines[-1]
    warnings = [line for line in lines if "Warning:" in line]
    assert len(warnings) == 1 and re.fullmatch(
        r"Nov 30 13:00:00 mta sm-mta\[20000\]: kAU90000010000: \w{14}: DSN: "
        r"Warning: could not send message for past 4 hours", warnings[0]), warnings


# -- Exchange -------------------------------------------------------------------------------------
#: The fields, in order, as learn.microsoft.com "Message tracking in Exchange Server" lists them.
DOCUMENTED_FIELDS = [
    "date-time", "client-ip", "client-hostname", "server-ip", "server-hostname", "source-context",
    "connector-id", "source", "event-id", "internal-message-id", "message-id", "network-message-id",
    "recipient-address", "recipient-status", "total-bytes", "recipient-count", "related-recipient-address",
    "reference", "message-subject", "sender-address", "return-path", "message-info", "directionality",
    "tenant-id", "original-client-ip", "original-server-ip", "custom-data", "transport-traffic-type", "log-id",
    "schema-version"]


def _exchange_rows():
    lines = _lines("exchange-online", "451 4.3.0 busy", {"MessageExpiration": "12h"}, outage="20h")
    return lines, list(csv.DictReader(lines[5:], fieldnames=DOCUMENTED_FIELDS))


def test_exchange_header_and_fields_follow_the_documentation():
    """#Software, #Version (15.0x.nnnn.nnn), #Log-type, #Date (UTC, milliseconds), #Fields: the documented
    30 names in the documented order."""
    lines, _ = _exchange_rows()
    assert EXCHANGE_FIELDS == DOCUMENTED_FIELDS
    assert lines[0] == "#Software: Microsoft Exchange Server"
    assert re.fullmatch(r"#Version: 15\.0\d\.\d{4}\.\d{3}", lines[1])
    assert lines[2] == "#Log-type: Message Tracking Log"
    assert lines[3] == "#Date: 2026-11-30T09:00:00.000Z"
    assert lines[4] == "#Fields: " + ",".join(DOCUMENTED_FIELDS)


def test_exchange_events_statuses_and_ids():
    """RECEIVE, a DEFER per failed attempt with the LED and its LRT, FAIL with `550 4.4.7 QUEUE.Expired;
    message expired` at 12 h, then DSN whose message-id is <32 hex digits@server> and whose reference is the
    original message's Message-Id."""
    _, rows = _exchange_rows()
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["date-time"]) for r in rows)
    assert all(re.fullmatch(r"15\.0\d\.\d{4}\.\d{3}", r["schema-version"]) for r in rows)
    assert [r["event-id"] for r in rows[:2]] == ["RECEIVE", "DEFER"]
    assert rows[1]["recipient-status"] == \
        "[{LED=451 4.3.0 busy};{MSG=};{FQDN=p.example};{IP=192.0.2.1};{LRT=11/30/2026 9:00:00 AM}]"
    assert rows[2]["recipient-status"].endswith("{LRT=11/30/2026 9:15:00 AM}]")
    fail, dsn = rows[-2], rows[-1]
    assert (fail["event-id"], fail["date-time"]) == ("FAIL", "2026-11-30T21:00:00.000Z")
    assert fail["recipient-status"] == "550 4.4.7 QUEUE.Expired; message expired"
    assert (dsn["event-id"], dsn["source"]) == ("DSN", "DSN")
    assert re.fullmatch(r"<[0-9a-f]{32}@mta\.example\.org>", dsn["message-id"])
    assert dsn["reference"] == rows[0]["message-id"]

"""`mtasim replay` on logs written by hand from each program's documented line forms, with noise: other
daemons' lines, local deliveries, several recipients per message, a message that arrived before the log
starts, rotated and gzip'd files given out of order, a year boundary. Every expected number below is
worked out by hand from the lines (times in seconds since the log's first event)."""

from __future__ import annotations

import csv
import gzip
import json
import os
from datetime import datetime, timedelta, timezone

import pytest

from mtasim.cli import main

# Postfix 3.x syslog lines: postfix/src/pickup/pickup.c (uid= from=), cleanup/cleanup_message.c
# (message-id=), smtpd/smtpd.c (client=), global/opened.c (queue active), global/log_adhoc.c (to=, relay=,
# delay=, delays=a/b/c/d, dsn=, status=), smtp/smtp_connect.c (connect to ...: Connection refused / timed
# out), smtp/smtp_proto.c (host ... said: ... (in reply to RCPT TO command)), qmgr/qmgr_deliver.c
# (delivery temporarily suspended:, from the error(8) agent), qmgr/qmgr_active.c (status=expired,
# returned to sender; removed), bounce/bounce_warn_service.c (sender delay notification).
POSTFIX_EARLY = """\
Nov 27 20:59:59 mail postfix/pickup[900]: AAAA11111: uid=1000 from=<alice@example.org>
Nov 27 20:59:59 mail postfix/cleanup[901]: AAAA11111: message-id=<m1@example.org>
Nov 27 21:00:00 mail postfix/qmgr[1000]: AAAA11111: from=<alice@example.org>, size=1234, nrcpt=1 (queue active)
Nov 27 21:00:00 mail postfix/smtp[2001]: AAAA11111: to=<bob@partner.example>, relay=mx.partner.example[192.0.2.10]:25, delay=1.1, delays=0.1/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4XYZ)
Nov 27 21:00:00 mail postfix/qmgr[1000]: AAAA11111: removed
Nov 27 21:05:00 mail CRON[999]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)
Nov 27 21:10:00 mail postfix/smtpd[1500]: connect from client.example.org[198.51.100.7]
Nov 27 21:10:01 mail dovecot: imap-login: Login: user=<carol>, method=PLAIN, rip=198.51.100.7
Nov 27 21:10:02 mail postfix/smtpd[1500]: FFFF66666: client=client.example.org[198.51.100.7]
Nov 27 21:10:02 mail postfix/cleanup[901]: FFFF66666: message-id=<m6@example.org>
Nov 27 21:10:02 mail postfix/local[2100]: FFFF66666: to=<carol@example.org>, relay=local, delay=0.3, delays=0.1/0/0/0.2, dsn=2.0.0, status=sent (delivered to mailbox)
Nov 27 21:10:02 mail postfix/qmgr[1000]: FFFF66666: removed
Nov 27 22:00:00 mail postfix/smtpd[1500]: BBBB22222: client=client.example.org[198.51.100.7]
Nov 27 22:00:00 mail postfix/cleanup[901]: BBBB22222: message-id=<m2@example.org>
Nov 27 22:00:01 mail postfix/smtp[2002]: BBBB22222: to=<dave@other.example>, relay=mx.other.example[198.51.100.20]:25, delay=1, delays=0.5/0/0.2/0.3, dsn=2.0.0, status=sent (250 2.0.0 OK)
Nov 27 22:00:01 mail postfix/smtp[2003]: BBBB22222: to=<bob@partner.example>, relay=none, delay=1, delays=0.5/0/0.5/0, dsn=4.4.1, status=deferred (connect to mx.partner.example[192.0.2.10]:25: Connection refused)
Nov 27 22:10:00 mail postfix/qmgr[1000]: CCCC33333: from=<alice@example.org>, size=999, nrcpt=1 (queue active)
Nov 27 22:10:00 mail postfix/smtp[2004]: CCCC33333: to=<erin@partner.example>, relay=none, delay=90000, delays=90000/0/0/0, dsn=4.4.1, status=deferred (connect to mx.partner.example[192.0.2.10]:25: Connection refused)
Nov 27 23:00:00 mail postfix/smtp[2003]: BBBB22222: to=<bob@partner.example>, relay=mx.partner.example[192.0.2.10]:25, delay=3600, delays=3599/0/0/1, dsn=4.3.0, status=deferred (host mx.partner.example[192.0.2.10] said: 421 4.3.0 Service not available, closing transmission channel (in reply to RCPT TO command))
Nov 27 23:30:00 mail postfix/error[3001]: BBBB22222: to=<bob@partner.example>, relay=none, delay=5400, delays=5400/0/0/0, dsn=4.3.0, status=deferred (delivery temporarily suspended: host mx.partner.example[192.0.2.10] said: 421 4.3.0 Service not available)
"""
POSTFIX_LATE = """\
Nov 28 00:30:30 mail postfix/smtp[2003]: BBBB22222: to=<bob@partner.example>, relay=none, delay=9030, delays=9000/0/30/0, dsn=4.4.1, status=deferred (connect to mx.partner.example[192.0.2.10]:25: Connection timed out)
Nov 28 01:00:00 mail postfix/bounce[4001]: CCCC33333: sender delay notification: DDDD44444
Nov 28 01:00:01 mail postfix/smtp[2005]: DDDD44444: to=<alice@isp.example>, relay=mx.isp.example[198.51.100.30]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK)
Nov 28 01:30:00 mail postfix/smtp[2004]: CCCC33333: to=<erin@partner.example>, relay=none, delay=100000, delays=100000/0/0/0, dsn=4.4.1, status=deferred (connect to mx.partner.example[192.0.2.10]:25: Connection refused)
Nov 28 01:30:00 mail postfix/qmgr[1000]: CCCC33333: from=<alice@example.org>, status=expired, returned to sender
Nov 28 01:30:00 mail postfix/bounce[4001]: CCCC33333: sender non-delivery notification: EEEE55555
Nov 28 01:30:00 mail postfix/qmgr[1000]: CCCC33333: removed
Nov 28 02:00:00 mail postfix/smtp[2003]: BBBB22222: to=<bob@partner.example>, relay=mx.partner.example[192.0.2.10]:25, delay=14400, delays=14399/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 5ABC)
Nov 28 02:00:00 mail postfix/qmgr[1000]: BBBB22222: removed
"""


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _replay(tmp_path, capsys, mta, files, *extra) -> tuple[dict, list, list, list, str]:
    out = tmp_path / "out"
    assert main(["replay", mta, *map(str, files), "--out", str(out), *extra]) == 0
    printed = capsys.readouterr().out
    return (json.loads((out / "summary.json").read_text()), _rows(out / "messages.csv"),
            _rows(out / "attempts.csv"), _rows(out / "outages.csv"), printed)


def _check_postfix(summary, messages, attempts, outages):
    """The answers worked out by hand for POSTFIX_EARLY + POSTFIX_LATE (t0 = Nov 27 20:59:59)."""
    assert summary["start"] == "2026-11-27T20:59:59Z"
    assert (summary["messages"], summary["delivered"], summary["expired"], summary["bounced"]) == (4, 3, 1, 0)
    assert summary["arrival_unknown"] == 1 and summary["delay_warnings"] == 1 and summary["destinations"] == 2
    # A; B to bob and to dave (one queue file, two recipients); C (arrived before the log); carol is local
    got = [(m["recipient"], m["arrival_s"], m["outcome"], m["status"], m["final_s"], m["attempts"], m["warned_s"])
           for m in messages]
    assert got == [("partner.example", "0", "delivered", "2.0.0", "0", "1", ""),
                   ("partner.example", "3601", "delivered", "2.0.0", "18000", "5", ""),
                   ("other.example", "3601", "delivered", "2.0.0", "3601.5", "1", ""),
                   ("partner.example", "", "expired", "4.4.1", "16201", "2", "14401")]
    # a pass starts delays= c + d before its line: 22:00:01 - 0.5 s; the timed-out one 30 s before 00:30:30
    bob = [(a["time_s"], a["result"], a["reply"]) for a in attempts if a["message_id"] == "1"]
    assert bob == [("3601.5", "refused", "connect: Connection refused"),
                   ("7200", "deferred", "421 4.3.0 Service not available, closing transmission channel"),
                   ("9001", "suspended", "delivery temporarily suspended: host mx.partner.example[192.0.2.10] "
                                         "said: 421 4.3.0 Service not available"),
                   ("12601", "timeout", "connect: Connection timed out"),
                   ("18000", "delivered", "250 2.0.0 Ok: queued as 5ABC")]
    # the outage: after A's delivery (0), by bob's refusal (3601.5); after erin's last refusal (16201), by
    # bob's delivery (18000); the held-back pass probes nothing and does not count
    (o,) = outages
    assert (o["recipient"], o["start_after_s"], o["start_by_s"], o["end_after_s"], o["end_by_s"]) == \
        ("partner.example", "0", "3601.5", "16201", "18000")
    assert o["failure"] == "refused"
    assert o["failures"] == ("refused x3; 421 4.3.0 Service not available, closing transmission channel x1; "
                             "timeout x1")
    # the scenario's window: whole seconds near the middle of each bracket: 1801 and 17101
    assert (o["start_s"], o["end_s"]) == ("1801", "17101")


def test_postfix_hand_written_log(tmp_path, capsys):
    """Postfix's documented line forms with other daemons' lines, a local delivery, two recipients in one
    queue file and a message that arrived before the log: each message and the outage as worked out by
    hand; the message whose arrival is missing is kept, with no arrival and no prediction; the delay
    notification's own delivery (to a remote sender) is not taken for mail."""
    log = tmp_path / "mail.log"
    log.write_text(POSTFIX_EARLY + POSTFIX_LATE, encoding="utf-8")
    summary, messages, attempts, outages, printed = _replay(tmp_path, capsys, "postfix", [log], "--year", "2026")
    _check_postfix(summary, messages, attempts, outages)
    # compared: A and bob (their destination had an outage, their arrival is known); not dave, not erin
    assert summary["prediction"]["compared"] == 2
    comparison = _rows(tmp_path / "out" / "comparison.csv")
    assert [c["agrees"] for c in comparison] == ["yes", "no", "", ""]     # bob's hand-made passes follow no schedule
    assert "1 arrived before the log" in printed
    scenario = (tmp_path / "out" / "scenario.yaml").read_text()
    assert "0, 3601" in scenario and "{start: 1801, end: 5701, failure: \"refused\"}" in scenario


def test_postfix_rotated_gzip_files_out_of_order(tmp_path, capsys):
    """The same lines split into maillog.1.gz (older) and maillog, given newest first: the same answers."""
    (tmp_path / "maillog").write_text(POSTFIX_LATE, encoding="utf-8")
    with gzip.open(tmp_path / "maillog.1.gz", "wt", encoding="utf-8") as f:
        f.write(POSTFIX_EARLY)
    summary, messages, attempts, outages, _ = _replay(tmp_path, capsys, "postfix",
                                                      [tmp_path / "maillog", tmp_path / "maillog.1.gz"],
                                                      "--year", "2026")
    _check_postfix(summary, messages, attempts, outages)


def test_postfix_lines_interleaved_across_files_and_out_of_order(tmp_path, capsys):
    """Every other line in each of two files (two syslog daemons' copies, say), and one file's lines
    shuffled (a seeded shuffle): merged by time, and nothing depends on the order lines come in."""
    import random

    lines = (POSTFIX_EARLY + POSTFIX_LATE).splitlines(keepends=True)
    odd, even = lines[1::2], lines[0::2]
    random.Random(7).shuffle(odd)
    (tmp_path / "a.log").write_text("".join(odd), encoding="utf-8")
    with gzip.open(tmp_path / "b.log.gz", "wt", encoding="utf-8") as f:
        f.write("".join(even))
    summary, messages, attempts, outages, _ = _replay(tmp_path, capsys, "postfix",
                                                      [tmp_path / "a.log", tmp_path / "b.log.gz"], "--year", "2026")
    _check_postfix(summary, messages, attempts, outages)


def test_postfix_iso_and_rfc5424_stamps(tmp_path, capsys):
    """rsyslog's high-precision ISO stamps and RFC 5424 lines (``<22>1 TIME HOST APP PROCID MSGID SD MSG``,
    the program in APP-NAME) read the same as the RFC 3164 ones; the offset is honoured; no year is
    guessed."""
    def iso(line: str, k: int) -> str:
        stamp, rest = line[:15], line[16:]
        when = datetime.strptime("2026 " + stamp, "%Y %b %d %H:%M:%S").replace(tzinfo=timezone.utc)
        host, prog, msg = rest.split(" ", 2)
        if k % 2:                               # RFC 5424, in UTC
            app, _, pid = prog.rstrip(":").rstrip("]").partition("[")
            return f"<22>1 {when:%Y-%m-%dT%H:%M:%S}.000000Z {host} {app} {pid or '-'} - - {msg}"
        local = when.astimezone(timezone(timedelta(hours=1)))
        return f"{local.isoformat()} {host} {prog} {msg}"
    lines = (POSTFIX_EARLY + POSTFIX_LATE).splitlines()
    log = tmp_path / "mail.log"
    log.write_text("\n".join(iso(line, k) for k, line in enumerate(lines)) + "\n", encoding="utf-8")
    summary, messages, attempts, outages, printed = _replay(tmp_path, capsys, "postfix", [log])
    _check_postfix(summary, messages, attempts, outages)
    assert "modification time" not in printed              # every stamp had its year


def test_postfix_year_from_modification_time_and_new_year(tmp_path, capsys):
    """Without --year the year is the one that puts the first line before the file's modification time; a
    log running from Dec 31 into Jan 1 moves to the next year at the turn."""
    text = (POSTFIX_EARLY + POSTFIX_LATE).replace("Nov 27", "Dec 31").replace("Nov 28", "Jan  1")
    log = tmp_path / "mail.log"
    log.write_text(text, encoding="utf-8")
    modified = datetime(2027, 1, 2, tzinfo=timezone.utc).timestamp()
    os.utime(log, (modified, modified))
    summary, messages, attempts, outages, printed = _replay(tmp_path, capsys, "postfix", [log])
    assert summary["start"] == "2026-12-31T20:59:59Z"
    _check_postfix({**summary, "start": "2026-11-27T20:59:59Z"}, messages, attempts, outages)
    assert "modification time" in printed


# Exim 4.9x main log (the spec's chapter "Log files": "Log line flags" <= => -> == **, "Completed";
# src/src/deliver.c delivery_log(), deferral_log(), failure_log(); src/src/retry.c "retry timeout exceeded";
# src/src/transports/smtp.c "H=host [ip] Connection refused"; log_selector +millisec adds ".mmm").
EXIM = """\
2026-11-27 21:00:00 1vAbCd-000123-Ab <= alice@example.org H=client.example.org [198.51.100.7] P=esmtp S=1234 id=m1@example.org
2026-11-27 21:00:01 1vAbCd-000123-Ab => bob@partner.example R=dnslookup T=remote_smtp H=mx.partner.example [192.0.2.10] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C="250 2.0.0 Ok: queued as 4XYZ"
2026-11-27 21:00:01 1vAbCd-000123-Ab Completed
2026-11-27 21:30:00 Start queue run: pid=555
2026-11-27 21:30:00 End queue run: pid=555
2026-11-27 22:00:00.123 1vAbCe-000124-Ab <= alice@example.org H=client.example.org [198.51.100.7] P=esmtp S=2345 id=m2@example.org
2026-11-27 22:00:00.500 1vAbCe-000124-Ab => carol <carol@example.org> R=local_user T=mail_spool
2026-11-27 22:00:01.000 1vAbCe-000124-Ab H=mx.partner.example [192.0.2.10] Connection refused
2026-11-27 22:00:01.000 1vAbCe-000124-Ab == bob@partner.example R=dnslookup T=remote_smtp defer (111): Connection refused
2026-11-27 23:00:00 1vAbCe-000124-Ab == bob@partner.example R=dnslookup T=remote_smtp defer (-44) H=mx.partner.example [192.0.2.10]: SMTP error from remote mail server after RCPT TO:<bob@partner.example>: 451 4.3.0 Try again later
2026-11-27 23:30:00 1vAbCe-000124-Ab == bob@partner.example R=dnslookup T=remote_smtp defer (-54): retry time not reached for any host for 'partner.example'
2026-11-27 22:10:00 1vAAAA-000001-Ab == erin@partner.example R=dnslookup T=remote_smtp defer (111): Connection refused
2026-11-28 01:00:00 1vWarn-000200-Ab <= <> R=1vAAAA-000001-Ab U=Debian-exim P=local S=1800
2026-11-28 01:00:01 1vWarn-000200-Ab => alice@isp.example R=dnslookup T=remote_smtp H=mx.isp.example [198.51.100.30] C="250 OK"
2026-11-28 01:30:00 1vAAAA-000001-Ab ** erin@partner.example: retry timeout exceeded
2026-11-28 01:30:00 1vBnce-000201-Ab <= <> R=1vAAAA-000001-Ab U=Debian-exim P=local S=1500
2026-11-28 01:30:00 1vAAAA-000001-Ab Completed
2026-11-28 02:00:00 1vAbCe-000124-Ab => bob@partner.example R=dnslookup T=remote_smtp H=mx.partner.example [192.0.2.10] C="250 OK"
2026-11-28 02:00:00 1vAbCe-000124-Ab Completed
2026-11-28 03:00:00 1vRej0-000300-Ab <= alice@example.org H=client.example.org [198.51.100.7] P=esmtp S=999 id=m3@example.org
2026-11-28 03:00:01 1vRej0-000300-Ab ** frank@partner.example R=dnslookup T=remote_smtp H=mx.partner.example [192.0.2.10]: SMTP error from remote mail server after RCPT TO:<frank@partner.example>: 550 5.1.1 User unknown
2026-11-28 03:00:01 1vRej0-000300-Ab Completed
"""


def test_exim_hand_written_log(tmp_path, capsys):
    """Exim's flags with and without milliseconds, a local delivery, queue-run lines, a message that arrived
    before the log, its delay warning and its bounce (``<= <> R=id``, not messages of their own, nor is the
    warning's delivery), a 5xx."""
    log = tmp_path / "mainlog"
    log.write_text(EXIM, encoding="utf-8")
    summary, messages, attempts, outages, _ = _replay(tmp_path, capsys, "exim", [log])
    assert summary["start"] == "2026-11-27T21:00:00Z"
    assert (summary["messages"], summary["delivered"], summary["expired"], summary["bounced"]) == (4, 2, 1, 1)
    got = [(m["arrival_s"], m["outcome"], m["status"], m["final_s"], m["attempts"], m["warned_s"]) for m in messages]
    assert got == [("0", "delivered", "2.0.0", "1", "1", ""),
                   ("3600.123", "delivered", "2.0.0", "18000", "4", ""),
                   ("", "expired", "5.0.0", "16200", "1", "14400"),
                   ("21600", "bounced", "5.1.1", "21601", "1", "")]
    bob = [(a["time_s"], a["result"], a["reply"]) for a in attempts if a["message_id"] == "1"]
    assert bob == [("3601", "refused", "connect: Connection refused"),
                   ("7200", "deferred", "451 4.3.0 Try again later"),
                   ("9000", "suspended", "retry time not reached for any host for 'partner.example'"),
                   ("18000", "delivered", "250 OK")]
    (o,) = outages
    assert (o["start_after_s"], o["start_by_s"], o["end_after_s"], o["end_by_s"]) == ("1", "3601", "7200", "18000")
    assert o["failures"] == "refused x2; 451 4.3.0 Try again later x1"


# Exchange message tracking log (learn.microsoft.com, "Message tracking in Exchange Server": the header
# lines and fields; event ids RECEIVE, DEFER, SEND, FAIL, DSN; the recipient status of a DEFER is the last
# error, [{LED=...};{MSG=};{FQDN=...};{IP=...};{LRT=...}]).
FIELDS = ("date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,connector-id,source,"
          "event-id,internal-message-id,message-id,network-message-id,recipient-address,recipient-status,"
          "total-bytes,recipient-count,related-recipient-address,reference,message-subject,sender-address,"
          "return-path,message-info,directionality,tenant-id,original-client-ip,original-server-ip,custom-data,"
          "transport-traffic-type,log-id,schema-version").split(",")
REFUSED = ("[{LED=441 4.4.1 Error encountered while communicating with primary target IP address: \"Failed to "
           "connect. Winsock error code: 10061, Win32 error code: 10061.\" Attempted failover to alternate host, but "
           "that did not succeed.};{MSG=};{FQDN=partner.example};{IP=192.0.2.10};{LRT=}]")
EXCHANGE_EVENTS = [   # time, event, source, message id, recipients, status, reference
    ("2026-11-27T21:00:00.000Z", "RECEIVE", "SMTP", "<m1@example.org>", "bob@partner.example", "", ""),
    ("2026-11-27T21:00:01.000Z", "SEND", "SMTP", "<m1@example.org>", "bob@partner.example", "250 2.0.0 OK", ""),
    ("2026-11-27T22:00:00.000Z", "RECEIVE", "SMTP", "<m2@example.org>", "bob@partner.example;carol@example.org",
     "", ""),
    ("2026-11-27T22:00:00.500Z", "DELIVER", "STOREDRIVER", "<m2@example.org>", "carol@example.org", "", ""),
    ("2026-11-27T22:00:01.000Z", "DEFER", "SMTP", "<m2@example.org>", "bob@partner.example", REFUSED, ""),
    ("2026-11-27T23:00:00.000Z", "DEFER", "SMTP", "<m2@example.org>", "bob@partner.example",
     "[{LED=451 4.3.0 Try again later};{MSG=};{FQDN=partner.example};{IP=192.0.2.10};{LRT=}]", ""),
    ("2026-11-28T01:00:00.000Z", "DSN", "DSN", "<dsn1@example.org>", "alice@example.org", "", "<m2@example.org>"),
    ("2026-11-28T02:00:00.000Z", "FAIL", "SMTP", "<m2@example.org>", "bob@partner.example",
     "550 4.4.7 QUEUE.Expired; message expired", ""),
    ("2026-11-28T02:00:00.000Z", "DSN", "DSN", "<dsn2@example.org>", "alice@example.org", "", "<m2@example.org>"),
    ("2026-11-28T03:00:00.000Z", "SEND", "SMTP", "<m3@example.org>", "frank@partner.example", "250 2.0.0 OK", ""),
]


def _exchange_rows():
    for t, event, source, mid, rcpts, status, ref in EXCHANGE_EVENTS:
        row = dict.fromkeys(FIELDS, "")
        row.update({"date-time": t, "event-id": event, "source": source, "message-id": mid,
                    "recipient-address": rcpts, "recipient-status": status, "reference": ref,
                    "sender-address": "alice@example.org"})
        yield row


def _check_exchange(summary, messages, outages):
    assert summary["start"] == "2026-11-27T21:00:00Z"
    got = [(m["arrival_s"], m["outcome"], m["status"], m["final_s"], m["attempts"], m["warned_s"]) for m in messages]
    # m3 arrived before the log (no RECEIVE): kept, its arrival unknown; the NDR after the FAIL is no warning
    assert got == [("0", "delivered", "2.0.0", "1", "1", ""),
                   ("3600", "expired", "4.4.7", "18000", "2", "14400"),
                   ("", "delivered", "2.0.0", "21600", "1", "")]
    (o,) = outages
    assert (o["start_after_s"], o["start_by_s"], o["end_after_s"], o["end_by_s"]) == ("1", "3601", "7200", "21600")


def test_exchange_tracking_log(tmp_path, capsys):
    """A message tracking log with its header lines: multi-recipient RECEIVE, a local DELIVER (skipped), a
    refused connection (Winsock 10061), a 4xx, the delay DSN, the expiry (FAIL 4.4.7) and its NDR."""
    log = tmp_path / "MSGTRK2026112721-1.LOG"
    with open(log, "w", newline="", encoding="utf-8-sig") as f:
        f.write("#Software: Microsoft Exchange Server\r\n#Version: 15.02.1544.004\r\n"
                "#Log-type: Message Tracking Log\r\n#Date: 2026-11-27T21:00:00.000Z\r\n")
        f.write("#Fields: " + ",".join(FIELDS) + "\r\n")
        w = csv.DictWriter(f, FIELDS)
        w.writerows(_exchange_rows())
    summary, messages, _, outages, _ = _replay(tmp_path, capsys, "exchange", [log])
    _check_exchange(summary, messages, outages)


def test_exchange_export_csv(tmp_path, capsys):
    """``Get-MessageTrackingLog | Export-Csv`` output: #TYPE line, the cmdlet's property names, en-US local
    times (--tz=-05:00), recipients joined with ';'."""
    names = {"date-time": "Timestamp", "event-id": "EventId", "source": "Source", "message-id": "MessageId",
             "recipient-address": "Recipients", "recipient-status": "RecipientStatus", "reference": "Reference",
             "sender-address": "Sender"}
    log = tmp_path / "tracking.csv"
    with open(log, "w", newline="", encoding="utf-8") as f:
        f.write("#TYPE Microsoft.Exchange.Management.TransportLogSearchTasks.MessageTrackingEvent\n")
        w = csv.writer(f, quoting=csv.QUOTE_ALL)
        w.writerow(["RunspaceId", *names.values()])
        for row in _exchange_rows():
            when = datetime.fromisoformat(row["date-time"].replace("Z", "+00:00"))
            local = when.astimezone(timezone(timedelta(hours=-5)))
            row["date-time"] = f"{local.month}/{local.day}/{local.year} {local.strftime('%I:%M:%S %p').lstrip('0')}"
            w.writerow(["5b7e-runspace", *(row[k] for k in names)])
    summary, messages, _, outages, _ = _replay(tmp_path, capsys, "exchange", [log], "--tz=-05:00")
    _check_exchange(summary, messages, outages)


@pytest.mark.parametrize("mta", ["postfix", "exim"])
def test_what_if_preset_table(tmp_path, capsys, mta):
    """--what-if preset=A,B prints one row per variant under the log's own counts."""
    log = tmp_path / "mail.log"
    log.write_text(POSTFIX_EARLY + POSTFIX_LATE if mta == "postfix" else EXIM, encoding="utf-8")
    *_, printed = _replay(tmp_path, capsys, mta, [log], "--year", "2026", "--what-if",
                          "preset=exchange-online,exchange-server")
    lines = printed.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("variant"))
    assert lines[header + 1].split()[0] == "log"
    assert [line.split()[0] for line in lines[header + 2:header + 4]] == ["preset=exchange-online",
                                                                         "preset=exchange-server"]


def test_a_large_log_is_streamed(tmp_path):
    """A 3 MB log of mostly other daemons' lines is read line by line: the memory it takes to replay stays
    far below the file's size (a reader that loaded the file whole would hold all of it at once)."""
    import tracemalloc

    from mtasim.replay import read_logs
    log = tmp_path / "syslog"
    noise = "Nov 27 21:30:00 mail dovecot: imap(carol)<4242><abcdefgh>: Disconnected: Logged out in=123 out=4567\n"
    with open(log, "w", encoding="utf-8") as f:
        f.write(POSTFIX_EARLY)
        f.write(noise * 30_000)
        f.write(POSTFIX_LATE)
    assert log.stat().st_size > 3_000_000
    tracemalloc.start()
    rec, _ = read_logs("postfix", [str(log)], 2026)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(rec.messages) == 4 and rec.events == 23         # as counted by hand for the other tests
    assert peak < 300_000, f"peak {peak:,} bytes"


def test_log_starting_and_ending_inside_the_outage(tmp_path, capsys):
    """The first pass of the log fails and so does the last: the outage's start and end are not observed,
    reported as such (no bracket), and the scenario's window runs from its start to its horizon, the log's
    end (seconds after t0 = 22:00:00: the refusal at 0.5, the 421's pass began at 3599 (its line at 3600 less
    delays= c + d), the horizon the next whole second, 3600; the windows split at 1800 between the kinds)."""
    log = tmp_path / "mail.log"
    log.write_text(
        "Nov 27 22:00:00 mail postfix/cleanup[901]: BBBB22222: message-id=<m2@example.org>\n"
        "Nov 27 22:00:01 mail postfix/smtp[2003]: BBBB22222: to=<bob@partner.example>, relay=none, delay=1, "
        "delays=0.5/0/0.5/0, dsn=4.4.1, status=deferred (connect to mx.partner.example[192.0.2.10]:25: "
        "Connection refused)\n"
        "Nov 27 23:00:00 mail postfix/smtp[2003]: BBBB22222: to=<bob@partner.example>, "
        "relay=mx.partner.example[192.0.2.10]:25, delay=3600, delays=3599/0/0/1, dsn=4.3.0, status=deferred "
        "(host mx.partner.example[192.0.2.10] said: 421 4.3.0 Service not available (in reply to RCPT TO "
        "command))\n", encoding="utf-8")
    summary, messages, _, outages, printed = _replay(tmp_path, capsys, "postfix", [log], "--year", "2026")
    (o,) = outages
    assert (o["start_after_s"], o["start_by_s"], o["end_after_s"], o["end_by_s"]) == ("", "0.5", "3599", "")
    assert (o["start_s"], o["end_s"]) == ("0", "3600")
    assert "began before the log (first failure 2026-11-27T22:00:00Z)" in printed
    assert "ended after 2026-11-27T22:59:59Z (the log ends in it)" in printed
    assert [(m["outcome"], m["final_s"]) for m in messages] == [("queued", "")]
    scenario = (tmp_path / "out" / "scenario.yaml").read_text()
    assert "horizon: 3600" in scenario
    assert '{start: 0, end: 1800, failure: "refused"}' in scenario
    assert '{start: 1800, end: 3600, failure: "421 4.3.0 Service not available"}' in scenario


def test_plot_timeline_and_report_read_a_replay(tmp_path, capsys):
    """A replay folder is a results folder: `plot timeline` draws it, `report` writes its page (here every
    arrival is in the log: report reads arrival_s as a number, and leaves a blank one refused)."""
    log = tmp_path / "mail.log"
    lines = (POSTFIX_EARLY + POSTFIX_LATE).splitlines(keepends=True)
    log.write_text("".join(x for x in lines if "CCCC33333" not in x and "DDDD44444" not in x), encoding="utf-8")
    _replay(tmp_path, capsys, "postfix", [log], "--year", "2026")
    out = tmp_path / "out"
    assert main(["plot", "timeline", str(out), "--out", str(tmp_path / "timeline.png")]) == 0
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["report", str(out), "--out", str(tmp_path / "report.html")]) == 0
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "replay of mail.log (postfix)" in page and "partner.example" in page

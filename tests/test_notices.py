"""Delivery status notifications (RFC 3464) and preset-style logs, read off a run's records."""

from __future__ import annotations

import csv as _csv
import email
import re
from datetime import datetime as _dt
from email.utils import parsedate_to_datetime

import pytest
from conftest import scenario

import mtasim
from mtasim.cli import main
from mtasim.notices import log_lines, notices, report_message

START = "2026-11-30T09:00:00Z"


def exchange_run():
    """Exchange Server (48 h, DSN at 4 h, 15 min retries for 4xx): message 0 at 0 recovers at 6 h,
    message 1 at 6 h 40 min meets a second outage to 60 h and expires at 54 h 40 min."""
    sc = mtasim.scenario_from_dict({
        "start": START, "reporting_mta": "exch.example.org",
        "sender": {"preset": "exchange-server"},
        "messages": {"arrival": {"kind": "times", "times": [0, "6h40m"]}},
        "recipients": [{"domain": "p.example", "outages": [
            {"start": 0, "end": "6h", "failure": "451 4.3.0 busy"},
            {"start": "6h30m", "end": "60h", "failure": "451 4.7.1 greylisted"}]}],
    })
    return mtasim.simulate(sc, attempts=True)


def parse(result, notice):
    msg = email.message_from_string(report_message(result, notice))
    human, status, headers = msg.get_payload()
    assert msg.get_content_type() == "multipart/report" and msg.get_param("report-type") == "delivery-status"
    assert status.get_content_type() == "message/delivery-status"
    assert headers.get_content_type() == "text/rfc822-headers"
    assert msg["To"] and msg["Message-ID"] and msg["Date"]
    per_message, per_recipient = status.get_payload()
    return msg, per_message, per_recipient


def test_delay_and_failure_notices_parse_with_the_email_package():
    """A delayed DSN at arrival + 4 h for both messages and a failed DSN at 54 h 40 min for the second, with the
    RFC 3464 fields, dates from the scenario start, the last reply as the diagnostic."""
    result = exchange_run()
    found = {(n.message_id, n.action): n for n in notices(result)}
    assert set(found) == {(0, "delayed"), (1, "delayed"), (1, "failed")}

    msg, per_message, rcpt = parse(result, found[(0, "delayed")])
    assert per_message["Reporting-MTA"] == "dns;exch.example.org"          # Exchange writes no space
    assert msg["From"] == "Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.org>"
    assert msg["Subject"] == "Delivery delayed: Message 0"
    assert parsedate_to_datetime(per_message["Arrival-Date"]).isoformat() == "2026-11-30T09:00:00+00:00"
    assert parsedate_to_datetime(msg["Date"]).isoformat() == "2026-11-30T13:00:00+00:00"       # + 4 h
    assert (rcpt["Final-Recipient"], rcpt["Action"], rcpt["Status"]) == ("rfc822;user0@p.example", "delayed",
                                                                         "4.3.0")
    assert rcpt["Diagnostic-Code"] == "smtp;451 4.3.0 busy"
    assert parsedate_to_datetime(rcpt["Last-Attempt-Date"]).isoformat() == "2026-11-30T13:00:00+00:00"
    assert parsedate_to_datetime(rcpt["Will-Retry-Until"]).isoformat() == "2026-12-02T09:00:00+00:00"

    msg, _, rcpt = parse(result, found[(1, "failed")])
    assert (rcpt["Action"], rcpt["Status"]) == ("failed", "4.4.7")
    # the NDR's diagnostic is the expiry, as in the FAIL event of the tracking log
    assert rcpt["Diagnostic-Code"] == "smtp;550 4.4.7 QUEUE.Expired; message expired"
    assert msg["Subject"] == "Undeliverable: Message 1"
    human = msg.get_payload()[0].get_payload()
    assert "Delivery has failed to these recipients or groups" in human
    # learn.microsoft.com "Fix NDR error 550 4.4.7 in Exchange Online": user text and diagnostic line
    assert ("The server has tried to deliver this message, without success, and has stopped trying. Try "
            "sending this message again. If the problem continues, contact your help desk.") in human
    assert "\nuser1@p.example\n#550 4.4.7 QUEUE.Expired; message expired ##\n" in human
    assert rcpt["Will-Retry-Until"] is None                        # only in delayed DSNs (RFC 3464 §2.3.9)
    last = parsedate_to_datetime(rcpt["Last-Attempt-Date"])
    assert last.isoformat() == "2026-12-02T15:25:00+00:00"         # 6:40 + 47:45, the last 15 min step before 54:40


def test_postfix_log_lines(tmp_path):
    """Postfix style: one smtp line per attempt with status=deferred/sent and the reply, and
    `status=expired, returned to sender` at the give-up, in time order."""
    sc = mtasim.scenario_from_dict({
        "start": START, "sender": {"preset": "postfix", "maximal_queue_lifetime": "1h"},
        "messages": {"count": 1},
        "recipients": [{"domain": "p.example", "outages": [{"start": 0, "end": "5h", "failure": "refused"}]}],
    })
    lines = [line for line in log_lines(mtasim.simulate(sc, attempts=True)) if "postfix/smtp" in line
             or "status=expired" in line]
    # attempts at 0, 5, 10, 20, 40 min and 1:20 (first scan at/after age 1 h), then expiry at 1:20
    assert len(lines) == 7
    assert all("relay=none" in line and "status=deferred (connect to p.example[192.0.2.1]:25: Connection refused)"
               in line for line in lines[:6])
    assert lines[0].startswith("Nov 30 09:00:00") and lines[5].startswith("Nov 30 10:20:00")
    assert lines[6].startswith("Nov 30 10:20:00") and lines[6].endswith("status=expired, returned to sender")


def test_cli_writes_dsn_and_log(tmp_path, capsys):
    """`run --dsn DIR --log FILE` writes one .eml per notice and the log, and says so."""
    path = tmp_path / "s.yaml"
    path.write_text("sender: {preset: exchange-server}\nmessages: {count: 3}\n"
                    "recipients: [{domain: p.example, outages: [{start: 0, end: 3d}]}]\n")
    assert main(["run", str(path), "--dsn", str(tmp_path / "dsn"), "--log", str(tmp_path / "run.log")]) == 0
    out = capsys.readouterr().out
    assert "wrote 6 notices" in out                      # 3 delayed at 4 h + 3 failed at 48 h
    assert len(list((tmp_path / "dsn").glob("*-delayed.eml"))) == 3
    assert len(list((tmp_path / "dsn").glob("*-failed.eml"))) == 3
    log = (tmp_path / "run.log").read_text()
    assert log.startswith("#Software: Microsoft Exchange Server\n")       # the message tracking log
    assert log.count(",FAIL,") == 3 and log.count(",DSN,") == 6


@pytest.mark.parametrize("start", ["30.11.2026", "tomorrow", 12])
def test_bad_start_is_a_config_error(start):
    """`start` must be an ISO 8601 date and time."""
    with pytest.raises(mtasim.ConfigError, match="start: expected an ISO 8601"):
        scenario(start=start)


# ------------------------------------------------------------------------------------------------
# Each program's own log and notices, checked against the real formats (sources named per test)
# ------------------------------------------------------------------------------------------------
def _run(preset, failure, params=None, outage="3h", times=(0,), engine=None):
    sc = mtasim.scenario_from_dict({
        "start": START, "reporting_mta": "mta.example.org",
        "sender": {"preset": preset, **(params or {})},
        "messages": {"arrival": {"kind": "times", "times": list(times)}},
        "recipients": [{"domain": "p.example", "outages": [{"start": 0, "end": outage, "failure": failure}]}],
    })
    return mtasim.simulate(sc, attempts=True, **({"engine": engine} if engine else {}))


def _notices(result):
    out = {}
    for n in notices(result):
        msg = email.message_from_string(report_message(result, n))
        parts = msg.get_payload()
        assert msg.get_content_type() == "multipart/report"
        assert [p.get_content_type() for p in parts] == ["text/plain", "message/delivery-status",
                                                           "text/rfc822-headers"]
        assert msg["To"] and msg["Message-ID"] and msg["Date"]
        assert "Message-ID: <msg" in parts[2].get_payload()            # the returned headers
        assert len(parts[0].get_payload().strip().splitlines()) >= 5     # the program's own human text
        out[(n.message_id, n.action)] = (msg, parts[1].get_payload()[1])
    return out


# postfix/src/global/log_adhoc.c: "%s: to=<%s>, relay=%s, delay=..., delays=a/b/c/d, dsn=%s, status=%s (%s)"
POSTFIX_DELIVERY = re.compile(
    r"^(?P<mon>\w{3}) (?P<day>[ \d]\d) (?P<time>\d\d:\d\d:\d\d) (?P<host>\S+) "
    r"postfix/(?P<prog>smtp|retry)\[\d+\]: (?P<qid>[0-9A-F]{10}): to=<(?P<rcpt>[^>]+)>, relay=(?P<relay>\S+), "
    r"delay=(?P<delay>[\d.]+), delays=(?P<a>[\d.]+)/(?P<b>[\d.]+)/(?P<c>[\d.]+)/(?P<d>[\d.]+), "
    r"dsn=(?P<dsn>\d\.\d{1,3}\.\d{1,3}), status=(?P<status>sent|deferred|bounced) \((?P<reason>.*)\)$")
POSTFIX_QMGR = re.compile(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ postfix/qmgr\[\d+\]: [0-9A-F]{10}: "
                          r"(from=<[^>]*>, (size=\d+, nrcpt=1 \(queue active\)|status=expired, returned to sender)"
                          r"|removed)$")
# postfix/src/bounce/bounce_notify_service.c, bounce_warn_service.c
POSTFIX_BOUNCE = re.compile(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ postfix/bounce\[\d+\]: [0-9A-F]{10}: "
                            r"sender (non-delivery|delay) notification: [0-9A-F]{10}$")


def test_postfix_log_follows_log_adhoc_and_notices_agree():
    """Postfix with its dead-destination state: refused connections from postfix/smtp with relay=none and
    dsn=4.4.1, passes held back from postfix/retry as "delivery temporarily suspended: connect to ...",
    the delay and non-delivery notification lines, expiry and removal; delays add up to delay; the
    notices' Status equals the log's dsn of the same message."""
    result = _run("postfix", "refused", {"maximal_queue_lifetime": "2h", "delay_warning_time": "1h"},
                  outage="5h", times=list(range(20)), engine="des")
    lines = list(log_lines(result))
    dsn_of: dict[str, str] = {}
    seen = set()
    stamps = []
    for line in lines:
        stamps.append(_dt.strptime("2026 " + line[:15], "%Y %b %d %H:%M:%S"))
        m = POSTFIX_DELIVERY.match(line)
        if m is None:
            assert POSTFIX_QMGR.match(line) or POSTFIX_BOUNCE.match(line) or "postfix/cleanup" in line, line
            continue
        parts = [float(m[x]) for x in "abcd"]
        assert abs(sum(parts) - float(m["delay"])) <= 1.0
        assert (m["relay"], m["dsn"], m["status"]) == ("none", "4.4.1", "deferred")
        if m["prog"] == "smtp":
            assert m["reason"] == "connect to p.example[192.0.2.1]:25: Connection refused"
        else:
            assert m["reason"] == "delivery temporarily suspended: connect to p.example[192.0.2.1]:25: Connection refused"
        seen.add(m["prog"])
        dsn_of[m["rcpt"]] = m["dsn"]
    assert stamps == sorted(stamps)
    assert seen == {"smtp", "retry"}
    assert sum("status=expired, returned to sender" in line for line in lines) == 20
    assert sum("sender non-delivery notification" in line for line in lines) == 20
    assert sum("sender delay notification" in line for line in lines) == 20
    assert sum(line.endswith(": removed") for line in lines) == 20
    found = _notices(result)
    for (i, action), (msg, rcpt) in found.items():
        assert rcpt["Status"] == dsn_of[f"user{i}@p.example"] == "4.4.1"
        # bounce_templates.c
        assert msg["Subject"] == ("Undelivered Mail Returned to Sender" if action == "failed"
                                  else "Delayed Mail (still being retried)")
        assert msg["From"] == "MAILER-DAEMON@mta.example.org (Mail Delivery System)"
        assert rcpt["Diagnostic-Code"].startswith("X-Postfix; ")


def test_postfix_sent_line_and_delays():
    """A 4xx then a delivery: `host ... said: 451 ... (in reply to RCPT TO command)` and
    `status=sent (250 2.0.0 OK)`, relay host[ip]:25, delay in log_adhoc.c's format_tv() form."""
    lines = list(log_lines(_run("postfix", "451 4.3.0 busy", outage="10m")))
    smtp = [POSTFIX_DELIVERY.match(line) for line in lines if "postfix/smtp" in line]
    assert all(smtp)
    assert smtp[0]["reason"] == "host p.example[192.0.2.1] said: 451 4.3.0 busy (in reply to RCPT TO command)"
    assert (smtp[0]["relay"], smtp[0]["dsn"]) == ("p.example[192.0.2.1]:25", "4.3.0")
    assert (smtp[-1]["status"], smtp[-1]["reason"], smtp[-1]["dsn"]) == ("sent", "250 2.0.0 OK", "2.0.0")
    assert smtp[-1]["delay"] == "600" and lines[-1].endswith(": removed")


def test_format_tv_matches_postfix():
    """postfix/src/util/format_tv.c with 2 significant digits and at most 2 decimals."""
    from mtasim.logformats import format_tv
    assert [format_tv(x) for x in (0, 0.36, 0.004, 1.234, 12.34, 3600, 4800.7)] == \
        ["0", "0.36", "0", "1.2", "12", "3600", "4801"]


# Exim 4.96 deliver.c deferral_log(): "== addr R=router T=transport defer (errno)[: strerror][ H=..]: message"
EXIM_LINE = re.compile(r"^(?P<date>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (?P<id>[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}) "
                       r"(?P<rest>.*)$")
EXIM_DEFER = re.compile(r"^== (?P<rcpt>\S+) R=dnslookup T=remote_smtp defer \((?P<errno>-?\d+)\)(?P<tail>.*)$")


def test_exim_log_follows_deliver_c():
    """Exim: `<=` arrival, `H=host [ip] Connection refused` + `defer (111): Connection refused`, `defer (-44)
    H=...: SMTP error from remote mail server after RCPT TO:<...>: 451 ...`, `=> ... C="250 ..."`, `Completed`;
    an expiry `** addr: retry timeout exceeded` (retry.c) and the bounce's `<= <> R=id`."""
    result = _run("exim", "451 4.3.0 busy", {"retry_rules": "F,2h,15m"}, outage="5h")
    lines = list(log_lines(result))
    parsed = [EXIM_LINE.match(line) for line in lines]
    assert all(parsed)
    stamps = [p["date"] for p in parsed]
    assert stamps == sorted(stamps)
    rest = [p["rest"] for p in parsed]
    assert rest[0].startswith("<= sender@example.org ")
    defers = [EXIM_DEFER.match(r) for r in rest if r.startswith("==")]
    assert defers and all(d and d["errno"] == "-44" for d in defers)
    assert defers[0]["tail"] == (" H=p.example [192.0.2.1]: SMTP error from remote mail server after "
                                 "RCPT TO:<user0@p.example>: 451 4.3.0 busy")
    assert "** user0@p.example: retry timeout exceeded" in rest
    assert rest[-1] == "Completed" and rest[-2].startswith("<= <> R=" + parsed[0]["id"])
    found = _notices(result)
    msg, rcpt = found[(0, "failed")]
    assert msg["Subject"] == "Mail delivery failed: returning message to sender"
    assert rcpt["Status"] == result.messages.status_text(0)

    refused = [EXIM_LINE.match(line)["rest"] for line in log_lines(_run("exim", "refused", outage="1h"))]
    assert "H=p.example [192.0.2.1] Connection refused" in refused
    assert "== user0@p.example R=dnslookup T=remote_smtp defer (111): Connection refused" in refused
    assert refused[-2].startswith('=> user0@p.example R=dnslookup T=remote_smtp H=p.example [192.0.2.1] C="250')


def test_exim_host_record_holds_back_with_minus_54():
    """Exim's per-host retry record (DES): a second message meets `retry time not reached for any host for
    'p.example'` with defer (-54) (transports/smtp.c, macros.h ERRNO_HRETRY)."""
    lines = list(log_lines(_run("exim", "refused", outage="2h", times=[0, 60], engine="des")))
    assert any(line.endswith("R=dnslookup T=remote_smtp defer (-54): retry time not reached for any host "
                             "for 'p.example'") for line in lines)


# sendmail/deliver.c logdelivery()
SENDMAIL_TO = re.compile(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ sm-mta\[\d+\]: (?P<qid>\w{14}): to=<(?P<rcpt>[^>]+)>, "
                         r"delay=(?P<delay>(\d+\+)?\d\d:\d\d:\d\d), xdelay=\d\d:\d\d:\d\d, mailer=esmtp, "
                         r"pri=\d+, relay=(?P<relay>[^,]+), dsn=(?P<dsn>\d\.\d\.\d), stat=(?P<stat>.*)$")


def test_sendmail_log_and_dsn_line():
    """Sendmail: `stat=Deferred: Connection refused by host.` with dsn=4.0.0, the warning and the
    `QID: NEWQID: DSN: Cannot send message for 2 hours` lines (savemail.c), and notices whose Status
    equals the logged dsn (delayed) or the expiry status (failed)."""
    result = _run("sendmail", "refused", {"Timeout.queuereturn": "2h", "Timeout.queuewarn": "1h"}, outage="5h")
    lines = list(log_lines(result))
    to = [SENDMAIL_TO.match(line) for line in lines if ": to=<" in line]
    assert to and all(to)
    assert all(m["stat"] == "Deferred: Connection refused by p.example." and m["dsn"] == "4.0.0" for m in to)
    assert re.search(r"sm-mta\[\d+\]: \w{14}: \w{14}: DSN: Warning: could not send message for past 1 hour$", "\n".join(lines), re.M)
    assert re.search(r": \w{14}: \w{14}: DSN: Cannot send message for 2 hours$", lines[-1])
    found = _notices(result)
    msg, rcpt = found[(0, "delayed")]
    assert msg["Subject"] == "Warning: could not send message for past 1 hour"
    assert rcpt["Status"] == to[-1]["dsn"]
    msg, rcpt = found[(0, "failed")]
    assert msg["Subject"] == "Returned mail: see transcript for details"
    assert msg["From"] == "Mail Delivery Subsystem <MAILER-DAEMON@mta.example.org>"
    assert rcpt["Status"] == "4.4.7"


def test_exchange_message_tracking_log():
    """Exchange Online: the message tracking log's header lines and 30 fields (learn.microsoft.com "Message
    tracking", Exchange 2013-2019 field list), RECEIVE, DEFER (recipient-status with the LED), FAIL with
    `550 4.4.7 QUEUE.Expired; message expired` and DSN; the NDR's Status and Diagnostic-Code agree."""
    from mtasim.logformats import EXCHANGE_FIELDS
    result = _run("exchange-online", "451 4.3.0 busy", {"MessageExpiration": "12h"}, outage="20h")
    lines = list(log_lines(result))
    assert lines[:3] == ["#Software: Microsoft Exchange Server", "#Version: 15.02.1544.004",
                         "#Log-type: Message Tracking Log"]
    assert lines[3] == "#Date: 2026-11-30T09:00:00.000Z"
    assert lines[4] == "#Fields: " + ",".join(EXCHANGE_FIELDS) and len(EXCHANGE_FIELDS) == 30
    rows = list(_csv.DictReader(lines[5:], fieldnames=EXCHANGE_FIELDS))
    assert all(len(r) == 30 and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", r["date-time"]) for r in rows)
    assert [r["date-time"] for r in rows] == sorted(r["date-time"] for r in rows)
    events = [r["event-id"] for r in rows]
    assert events[0] == "RECEIVE" and events[-2:] == ["FAIL", "DSN"] and set(events[1:-2]) == {"DEFER"}
    assert rows[1]["recipient-status"].startswith("[{LED=451 4.3.0 busy};")
    assert rows[-2]["recipient-status"] == "550 4.4.7 QUEUE.Expired; message expired"
    assert rows[-2]["date-time"] == "2026-11-30T21:00:00.000Z"
    (msg, rcpt), = [v for k, v in _notices(result).items() if k[1] == "failed"]
    assert rcpt["Status"] == "4.4.7" and rcpt["Diagnostic-Code"] == "smtp;550 4.4.7 QUEUE.Expired; message expired"
    assert msg["Message-ID"] == rows[-1]["message-id"]
    assert "Mail Delivery System" not in msg["From"] and msg["Subject"].startswith("Undeliverable: ")


def test_delayed_notice_carries_last_deferral_status_when_held_back():
    """Exchange Server with its queue in Retry (DES): the delay DSN's Status is the last deferral's (4.4.1,
    a refused connection), not 4.0.0, and the failed NDR is 4.4.7."""
    result = _run("exchange-server", "refused", outage="3d", times=[0, 30, 60], engine="des")
    for (i, action), (msg, rcpt) in _notices(result).items():
        assert rcpt["Status"] == ("4.4.1" if action.startswith("delayed") else "4.4.7")

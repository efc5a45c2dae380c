"""Delivery status notifications (RFC 3464) and preset-style logs, read off a run's records."""

from __future__ import annotations

import email
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
    human, status = msg.get_payload()
    assert msg.get_content_type() == "multipart/report" and msg.get_param("report-type") == "delivery-status"
    assert status.get_content_type() == "message/delivery-status"
    per_message, per_recipient = status.get_payload()
    return msg, per_message, per_recipient


def test_delay_and_failure_notices_parse_with_the_email_package():
    """A delayed DSN at arrival + 4 h for both messages and a failed DSN at 54 h 40 min for the second, with the
    RFC 3464 fields, dates from the scenario start, the last reply as the diagnostic."""
    result = exchange_run()
    found = {(n.message_id, n.action): n for n in notices(result)}
    assert set(found) == {(0, "delayed"), (1, "delayed"), (1, "failed")}

    msg, per_message, rcpt = parse(result, found[(0, "delayed")])
    assert per_message["Reporting-MTA"] == "dns; exch.example.org"
    assert parsedate_to_datetime(per_message["Arrival-Date"]).isoformat() == "2026-11-30T09:00:00+00:00"
    assert parsedate_to_datetime(msg["Date"]).isoformat() == "2026-11-30T13:00:00+00:00"       # + 4 h
    assert (rcpt["Final-Recipient"], rcpt["Action"], rcpt["Status"]) == ("rfc822; user0@p.example", "delayed",
                                                                         "4.3.0")
    assert rcpt["Diagnostic-Code"] == "smtp; 451 4.3.0 busy"
    assert parsedate_to_datetime(rcpt["Last-Attempt-Date"]).isoformat() == "2026-11-30T13:00:00+00:00"
    assert parsedate_to_datetime(rcpt["Will-Retry-Until"]).isoformat() == "2026-12-02T09:00:00+00:00"

    _, _, rcpt = parse(result, found[(1, "failed")])
    assert (rcpt["Action"], rcpt["Status"]) == ("failed", "4.4.7")
    assert rcpt["Diagnostic-Code"] == "smtp; 451 4.7.1 greylisted"
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
    lines = list(log_lines(mtasim.simulate(sc, attempts=True)))
    # attempts at 0, 5, 10, 20, 40 min and 1:20 (first scan at/after age 1 h), then expiry at 1:20
    assert len(lines) == 7
    assert all("postfix/smtp" in line and "status=deferred (connect to p.example" in line for line in lines[:6])
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
    assert (tmp_path / "run.log").read_text().count("result=expired") == 3


@pytest.mark.parametrize("start", ["30.11.2026", "tomorrow", 12])
def test_bad_start_is_a_config_error(start):
    """`start` must be an ISO 8601 date and time."""
    with pytest.raises(mtasim.ConfigError, match="start: expected an ISO 8601"):
        scenario(start=start)

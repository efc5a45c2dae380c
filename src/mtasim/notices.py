"""What the sender tells people: RFC 3464 delivery status notifications and MTA-style log lines.

Both are read off a finished run's records (per-message table and attempt table), so they cost nothing
during simulation and agree with messages.csv by construction. Dates are the scenario's ``start`` plus
simulated seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import numpy as np

from .recipients import AttemptResult
from .results import Outcome, SimulationResult, atomic_write

__all__ = ["Notice", "notices", "write_dsn", "log_lines", "write_log", "recipient_address"]


def recipient_address(message_id: int, domain: str) -> str:
    """The simulated recipient of a message: one mailbox per message at its domain."""
    return f"user{message_id}@{domain.split('#')[0]}"


@dataclass(frozen=True)
class Notice:
    """One DSN: ``delayed`` (a delay warning; ``delayed-N`` when a message gets several) or ``failed``
    (expired or bounced)."""

    message_id: int
    action: str
    time_s: float
    text: str


def _date(start: datetime, seconds: float) -> str:
    return format_datetime(start + timedelta(seconds=float(seconds)))


def _attempt_index(result: SimulationResult) -> tuple[np.ndarray, np.ndarray]:
    """Start offset of each message's rows in the attempt table (sorted by message, then attempt)."""
    a = result.attempts
    ids = np.arange(len(result.messages))
    return np.searchsorted(a.message_id, ids, side="left"), np.searchsorted(a.message_id, ids, side="right")


def notices(result: SimulationResult) -> Iterator[Notice]:
    """Every DSN of the run, message by message: a delayed notice for each delay warning, a failed one for
    each message that expired or bounced."""
    if result.attempts is None:
        raise ValueError("notices need every attempt: simulate with attempts=True")
    sc, m, a = result.scenario, result.messages, result.attempts
    sender = sc.sender
    lo, hi = _attempt_index(result)
    warn_ids, warn_times = result.warnings
    w_lo = np.searchsorted(warn_ids, np.arange(len(m)), side="left")
    w_hi = np.searchsorted(warn_ids, np.arange(len(m)), side="right")
    for i in range(len(m)):
        outcome = Outcome(int(m.outcome[i]))
        warnings = warn_times[w_lo[i]:w_hi[i]]
        if not len(warnings) and outcome not in (Outcome.EXPIRED, Outcome.BOUNCED):
            continue
        rows = slice(lo[i], hi[i])
        times, replies, results = a.time_s[rows], a.reply[rows], a.result[rows]
        domain = m.recipients[m.recipient[i]]
        common = {
            "arrival": _date(sc.start, m.arrival_s[i]),
            "recipient": recipient_address(i, domain),
            "domain": domain.split("#")[0],
        }
        for number, warned_s in enumerate(warnings, 1):
            before = np.flatnonzero(times <= warned_s)
            last = before[-1] if len(before) else None
            status = _status_of(a.replies[replies[last]], results[last]) if last is not None else "4.0.0"
            until = None
            if sender.expiry_s is not None and not sender.give_up.counts_attempts:
                until = _date(sc.start, m.arrival_s[i] + sender.expiry_s)
            yield Notice(i, "delayed" if len(warnings) == 1 else f"delayed-{number}", float(warned_s), _dsn(
                sc.reporting_mta, common, "delayed", status,
                a.replies[replies[last]] if last is not None else "",
                _date(sc.start, times[last]) if last is not None else None, until))
        if outcome in (Outcome.EXPIRED, Outcome.BOUNCED):
            last = len(times) - 1
            reply = a.replies[replies[last]] if last >= 0 else ""     # the last reply seen (RFC 3464 §2.3.6)
            yield Notice(i, "failed", float(m.final_s[i]), _dsn(
                sc.reporting_mta, common, "failed", m.status_text(i), reply,
                _date(sc.start, times[last]) if last >= 0 else None, None))


def _status_of(reply: str, result: int) -> str:
    parts = reply.split()
    if len(parts) > 1 and parts[1][:1] in "45" and parts[1].count(".") == 2:
        return parts[1]
    return "4.4.1" if AttemptResult(int(result)).is_connection_failure else "4.0.0"


def _dsn(reporting_mta: str, common: dict[str, str], action: str, status: str, diagnostic: str,
         last_attempt: str | None, will_retry_until: str | None) -> str:
    """The ``message/delivery-status`` body: per-message fields, a blank line, per-recipient fields."""
    lines = [f"Reporting-MTA: dns; {reporting_mta}", f"Arrival-Date: {common['arrival']}", "",
             f"Final-Recipient: rfc822; {common['recipient']}", f"Action: {action}", f"Status: {status}",
             f"Remote-MTA: dns; {common['domain']}"]
    if diagnostic:
        lines.append(f"Diagnostic-Code: smtp; {diagnostic}")
    if last_attempt:
        lines.append(f"Last-Attempt-Date: {last_attempt}")
    if will_retry_until:
        lines.append(f"Will-Retry-Until: {will_retry_until}")
    return "\n".join(lines) + "\n"


def report_message(result: SimulationResult, notice: Notice) -> str:
    """A whole RFC 3462 ``multipart/report`` message carrying the notice, as a mail client would get it."""
    sc = result.scenario
    boundary = f"mtasim-{notice.message_id}-{notice.action}"
    delayed = notice.action.startswith("delayed")
    subject = "Delayed Mail (still being retried)" if delayed else "Undelivered Mail Returned to Sender"
    human = ("Your message could not be delivered yet; the mail system will keep trying."
             if delayed else "Your message could not be delivered.")
    return "\n".join([
        f"From: Mail Delivery System <MAILER-DAEMON@{sc.reporting_mta}>",
        f"Date: {_date(sc.start, notice.time_s)}",
        f"Subject: {subject}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        human,
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        notice.text,
        f"--{boundary}--",
        "",
    ])


def write_dsn(result: SimulationResult, out_dir: str | Path) -> int:
    """Write one ``<id>-<action>.eml`` per notice into ``out_dir``; returns how many."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for notice in notices(result):
        text = report_message(result, notice)
        atomic_write(out / f"{notice.message_id:07d}-{notice.action}.eml", lambda f, t=text: f.write(t))
        count += 1
    return count


# ------------------------------------------------------------------------------------------------
_SYSLOG = "%b %d %H:%M:%S"


def _queue_id(message_id: int) -> str:
    return f"{0x4A0000000 + message_id * 7919:X}"[-10:]


def log_lines(result: SimulationResult) -> Iterator[str]:
    """The run as the preset's own log lines, in time order: Postfix's ``status=deferred (...)`` /
    ``status=expired, returned to sender`` for postfix, Exim-style ``==``/``=>``/``**`` lines for exim,
    and a generic key=value line for every other sender."""
    if result.attempts is None:
        raise ValueError("a log needs every attempt: simulate with attempts=True")
    sc, m, a = result.scenario, result.messages, result.attempts
    style = {"postfix": _postfix_line, "exim": _exim_line}.get(sc.sender.preset or "", _generic_line)
    events: list[tuple[float, int, int, str]] = []      # (time, order, message, line)
    for j in range(len(a)):
        i = int(a.message_id[j])
        res = AttemptResult(int(a.result[j]))
        reply = a.replies[a.reply[j]]
        events.append((float(a.time_s[j]), 0, i, style(sc, m, i, float(a.time_s[j]), res, reply, int(a.attempt[j]))))
    for i in np.flatnonzero(m.outcome == Outcome.EXPIRED):
        events.append((float(m.final_s[i]), 1, int(i), style(sc, m, int(i), float(m.final_s[i]), None,
                                                            sc.sender.expiry_reply, 0)))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    for _, _, _, line in events:
        yield line


def _postfix_line(sc, m, i, t, result, reply, attempt) -> str:
    when = (sc.start + timedelta(seconds=t)).strftime(_SYSLOG)
    host = sc.reporting_mta.split(".")[0]
    qid = _queue_id(i)
    domain = m.recipients[m.recipient[i]].split("#")[0]
    rcpt = recipient_address(i, domain)
    if result is None:
        return f"{when} {host} postfix/qmgr[1000]: {qid}: from=<sender@{sc.reporting_mta}>, status=expired, returned to sender"
    delay = t - m.arrival_s[i]
    relay = f"{domain}[192.0.2.1]:25"
    if result == AttemptResult.DELIVERED:
        detail = f"status=sent ({reply})"
    elif result in (AttemptResult.REFUSED, AttemptResult.TIMEOUT):
        relay = "none"
        what = "Connection refused" if result == AttemptResult.REFUSED else "Connection timed out"
        detail = f"status=deferred (connect to {domain}[192.0.2.1]:25: {what})"
    elif result == AttemptResult.REJECTED:
        detail = f"status=bounced (host {domain}[192.0.2.1] said: {reply} (in reply to RCPT TO command))"
    else:
        detail = f"status=deferred (host {domain}[192.0.2.1] said: {reply} (in reply to RCPT TO command))"
    dsn = _status_of(reply, int(result)) if result != AttemptResult.DELIVERED else "2.0.0"
    return (f"{when} {host} postfix/smtp[2000]: {qid}: to=<{rcpt}>, relay={relay}, delay={delay:.0f}, "
            f"dsn={dsn}, {detail}")


def _exim_line(sc, m, i, t, result, reply, attempt) -> str:
    when = (sc.start + timedelta(seconds=t)).strftime("%Y-%m-%d %H:%M:%S")
    mid = f"1v{i:06X}-000000-MS"
    domain = m.recipients[m.recipient[i]].split("#")[0]
    rcpt = recipient_address(i, domain)
    if result is None:
        return f"{when} {mid} ** {rcpt}: retry timeout exceeded"
    if result == AttemptResult.DELIVERED:
        return f"{when} {mid} => {rcpt} R=dnslookup T=remote_smtp H={domain} [192.0.2.1] C=\"{reply}\""
    if result == AttemptResult.REJECTED:
        return (f"{when} {mid} ** {rcpt} R=dnslookup T=remote_smtp H={domain} [192.0.2.1]: SMTP error from "
                f"remote mail server after RCPT TO:<{rcpt}>: {reply}")
    if result in (AttemptResult.REFUSED, AttemptResult.TIMEOUT):
        what = "Connection refused" if result == AttemptResult.REFUSED else "Connection timed out"
        return f"{when} {mid} {domain} [192.0.2.1] {what}\n{when} {mid} == {rcpt} R=dnslookup T=remote_smtp defer (111): {what}"
    return (f"{when} {mid} == {rcpt} R=dnslookup T=remote_smtp defer (-44) H={domain} [192.0.2.1]: SMTP error "
            f"from remote mail server after RCPT TO:<{rcpt}>: {reply}")


def _generic_line(sc, m, i, t, result, reply, attempt) -> str:
    when = (sc.start + timedelta(seconds=t)).isoformat().replace("+00:00", "Z")
    domain = m.recipients[m.recipient[i]].split("#")[0]
    rcpt = recipient_address(i, domain)
    if result is None:
        return f"{when} msg={i} to=<{rcpt}> result=expired status={m.status_text(i)} reply=\"{reply}\""
    return f"{when} msg={i} to=<{rcpt}> attempt={attempt} result={result.label} reply=\"{reply}\""


def write_log(result: SimulationResult, path: str | Path) -> int:
    """Write the run's log lines to ``path`` (atomically); returns the number of lines."""
    lines = list(log_lines(result))
    atomic_write(Path(path), lambda f: f.write("\n".join(lines) + ("\n" if lines else "")))
    return len(lines)

"""What the sender tells people: RFC 3464 delivery status notifications and the MTA's own log.

Both are read off a finished run's records (per-message table and attempt table), so they cost nothing
during simulation and agree with messages.csv by construction. Dates are the scenario's ``start`` plus
simulated seconds.

Each preset family writes its own notice, with the From, Subject, human text and field layout of the
real program (sources named at each writer):

* Postfix: bounce(8)'s built-in templates (postfix/src/bounce/bounce_templates.c: "Undelivered Mail
  Returned to Sender", "Delayed Mail (still being retried)", the "This is the mail system at host ..."
  text) and bounce_notify_util.c (``X-Postfix-Queue-ID``, ``X-Postfix-Sender``, ``Original-Recipient``,
  ``Diagnostic-Code: smtp; ...`` or ``X-Postfix; ...``, ``Will-Retry-Until`` in delay notices only,
  ``Content-Description: Undelivered Message Headers`` with ``text/rfc822-headers``).
* Exim 4.96: src/src/deliver.c (``Mail delivery failed: returning message to sender``, ``Warning: message
  ID delayed N hours``, "This message was created automatically by mail delivery software.",
  ``print_dsn_addr_action()``: ``Action``, ``Final-Recipient: rfc822;``, ``Status``; a delay warning's
  status is always 4.0.0 there, a failure's 5.0.0).
* Sendmail 8.17: sendmail/savemail.c ``returntosender()``/``errbody()`` ("Returned mail: see transcript
  for details", "Warning: could not send message for past 4 hours", "Mail Delivery Subsystem", the
  ``RFC822;``/``DNS;``/``SMTP;`` field types).
* Exchange Server / Exchange Online NDRs (learn.microsoft.com "Non-delivery reports in Exchange Online"
  and "DSNs and NDRs in Exchange Server"): ``From: Microsoft Outlook
  <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@domain>``, ``Undeliverable:`` / ``Delivery delayed:``
  subjects, "Delivery has failed to these recipients or groups", "Diagnostic information for
  administrators"; an expiry NDR's user text and its ``#550 4.4.7 QUEUE.Expired; message expired ##``
  line as learn.microsoft.com "Fix NDR error 550 4.4.7 in Exchange Online" shows them, a remote 5xx as
  ``Remote Server returned '550 5.1.1 ...'``, a delay DSN's ``Remote Server returned '400 4.4.7 Message
  delayed'``; fields written ``dns;host`` / ``rfc822;addr`` / ``smtp;reply``.

Status and Diagnostic-Code agree with the log line for the same message: a failed notice carries the
message's final status (messages.csv), a delayed one the status of the last deferral before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from . import logformats as lf
from .logformats import Story, deferral_status, family, log_lines, recipient_address, stories
from .recipients import AttemptResult
from .results import Outcome, SimulationResult, atomic_write

__all__ = ["Notice", "notices", "write_dsn", "log_lines", "write_log", "recipient_address", "report_message"]

EXCHANGE_SYSTEM_MAILBOX = "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e"
#: The user information of an expiry NDR (learn.microsoft.com "Fix NDR error 550 4.4.7 in Exchange Online",
#: "User information section"); its diagnostic line is ``#550 4.4.7 QUEUE.Expired; message expired ##``.
EXCHANGE_EXPIRED_TEXT = ("The server has tried to deliver this message, without success, and has stopped trying. "
                         "Try sending this message again. If the problem continues, contact your help desk.")
#: What a delay DSN's diagnostic section quotes (the 400 4.4.7 of Exchange's delay notification; see
#: docs/provider-and-recipient-facts.md A.2).
EXCHANGE_DELAYED = "400 4.4.7 Message delayed"


@dataclass(frozen=True)
class Notice:
    """One DSN: ``delayed`` (a delay warning; ``delayed-N`` when a message gets several) or ``failed``
    (expired or bounced). ``text`` is the ``message/delivery-status`` body, ``message`` the whole
    ``multipart/report`` message."""

    message_id: int
    action: str
    time_s: float
    text: str
    status: str = ""
    message: str = ""


def _date(start: datetime, seconds: float) -> str:
    return format_datetime(start + timedelta(seconds=float(seconds)))


def notices(result: SimulationResult) -> Iterator[Notice]:
    """Every DSN of the run, message by message: a delayed notice for each delay warning, a failed one for
    each message that expired or bounced."""
    if result.attempts is None:
        raise ValueError("notices need every attempt: simulate with attempts=True")
    m = result.messages
    warned = set(int(i) for i in result.warnings[0])
    ends = {int(i) for i in range(len(m)) if m.outcome[i] in (Outcome.EXPIRED, Outcome.BOUNCED)}
    for s in stories(result, only=warned | ends):
        for number, warned_s in enumerate(s.warnings, 1):
            action = "delayed" if len(s.warnings) == 1 else f"delayed-{number}"
            yield _notice(result, s, action, number, warned_s)
        if s.outcome in (Outcome.EXPIRED, Outcome.BOUNCED):
            yield _notice(result, s, "failed", 0, s.final_s)


# ------------------------------------------------------------------------------------------------
def _notice(result: SimulationResult, s: Story, action: str, number: int, when_s: float) -> Notice:
    sc = result.scenario
    fam = family(sc.sender.preset)
    delayed = number > 0
    k = s.last_before(when_s) if delayed else (len(s.times) - 1 if s.times else None)
    if delayed:
        status = deferral_status(s.results[k], s.replies[k]) if k is not None else "4.0.0"
        if fam == "exim":
            status = "4.0.0"            # deliver.c: print_dsn_addr_action(f, addr, US"delayed", US"4.0.0")
        elif fam == "sendmail" and k is not None:
            status = lf.sendmail_stat(s, k)[1]     # the dsn= of the logged deferral (4.0.0 for a refused connection)
    else:
        status = s.status
    ctx = _Context(sc, s, fam, delayed, number, k, status, when_s)
    body = {"postfix": _postfix_dsn, "exim": _exim_dsn, "sendmail": _sendmail_dsn,
            "exchange": _exchange_dsn}.get(fam, _generic_dsn)(ctx)
    return Notice(s.id, action, float(when_s), body, status, _report(ctx, body))


@dataclass
class _Context:
    sc: Any
    s: Story
    fam: str
    delayed: bool
    number: int
    k: int | None                 # the attempt the notice reports (None: no attempt yet)
    status: str
    when_s: float

    @property
    def reply(self) -> str:
        return self.s.replies[self.k] if self.k is not None else ""

    @property
    def result(self) -> AttemptResult | None:
        return self.s.results[self.k] if self.k is not None else None

    def date(self, seconds: float) -> str:
        return _date(self.sc.start, seconds)

    def smtp_reply(self) -> str | None:
        """The remote SMTP reply behind the reported attempt (None: no reply, a connection failure)."""
        if self.k is None:
            return None
        res, reply = self.result, self.reply
        if res == AttemptResult.SUSPENDED:
            reply = lf.split_suspended(reply)[1]
            return None if reply.startswith("connect:") else reply
        return None if res is not None and res.is_connection_failure else reply

    def will_retry_until(self) -> str | None:
        sender = self.sc.sender
        if sender.expiry_s is not None and not sender.give_up.counts_attempts:
            return self.date(self.s.arrival_s + sender.expiry_s)
        return None


# ------------------------------------------------------------------------------------------------
# The delivery-status bodies
# ------------------------------------------------------------------------------------------------
def _postfix_dsn(c: _Context) -> str:
    """bounce_notify_util.c bounce_header_dsn() and bounce_recipient_dsn()."""
    sender = lf.sender_address(c.sc)
    lines = [f"Reporting-MTA: dns; {c.sc.reporting_mta}", f"X-Postfix-Queue-ID: {lf.postfix_queue_id(c.s.id)}",
             f"X-Postfix-Sender: rfc822; {sender}", f"Arrival-Date: {c.date(c.s.arrival_s)}", "",
             f"Final-Recipient: rfc822; {c.s.recipient}", f"Original-Recipient: rfc822;{c.s.recipient}",
             f"Action: {'delayed' if c.delayed else 'failed'}", f"Status: {c.status}"]
    reply = c.smtp_reply()
    if reply is not None:
        lines += [f"Remote-MTA: dns; {c.s.domain}", f"Diagnostic-Code: smtp; {reply}"]
    elif c.k is not None:
        lines.append(f"Diagnostic-Code: X-Postfix; {lf.postfix_reason(c.s, c.k)}")
    if c.delayed and c.will_retry_until():
        lines.append(f"Will-Retry-Until: {c.will_retry_until()}")
    return "\n".join(lines) + "\n"


def _exim_dsn(c: _Context) -> str:
    """deliver.c: Reporting-MTA, then print_dsn_addr_action(), Remote-MTA and print_dsn_diagnostic_code()
    for an address with a host reply."""
    lines = [f"Reporting-MTA: dns; {c.sc.reporting_mta}", "",
             f"Action: {'delayed' if c.delayed else 'failed'}", f"Final-Recipient: rfc822;{c.s.recipient}",
             f"Status: {c.status}"]
    reply = c.smtp_reply()
    if reply is not None:
        lines += [f"Remote-MTA: dns; {c.s.domain}", f"Diagnostic-Code: smtp; {reply}"]
    return "\n".join(lines) + "\n"


def _sendmail_dsn(c: _Context) -> str:
    """savemail.c errbody(): the per-message and per-recipient DSN fields."""
    lines = [f"Reporting-MTA: dns; {c.sc.reporting_mta}", "Received-From-MTA: DNS; localhost",
             f"Arrival-Date: {c.date(c.s.arrival_s)}", "",
             f"Final-Recipient: RFC822; {c.s.recipient}", f"Action: {'delayed' if c.delayed else 'failed'}",
             f"Status: {c.status}"]
    if c.k is not None:
        reply = c.smtp_reply()
        lines.append(f"Remote-MTA: DNS; {c.s.domain}")
        if reply is not None:
            lines.append(f"Diagnostic-Code: SMTP; {reply}")
        lines.append(f"Last-Attempt-Date: {c.date(c.s.times[c.k])}")
    if c.delayed and c.will_retry_until():
        lines.append(f"Will-Retry-Until: {c.will_retry_until()}")
    return "\n".join(lines) + "\n"


def _exchange_reply(c: _Context) -> str:
    """What Exchange reports as the remote answer: the expiry NDR text, or the last deferral's LED."""
    if not c.delayed and c.s.outcome == Outcome.EXPIRED:
        return c.sc.sender.expiry_reply                 # "550 4.4.7 QUEUE.Expired; message expired"
    if c.k is None:
        return ""
    status = lf.exchange_status(c.s, c.k)
    return status[len("[{LED="):status.index("};{MSG=")]


def _exchange_dsn(c: _Context) -> str:
    lines = [f"Reporting-MTA: dns;{c.sc.reporting_mta}", f"Received-From-MTA: dns;{c.sc.reporting_mta}",
             f"Arrival-Date: {c.date(c.s.arrival_s)}", "",
             f"Final-Recipient: rfc822;{c.s.recipient}", f"Action: {'delayed' if c.delayed else 'failed'}",
             f"Status: {c.status}"]
    reply = _exchange_reply(c)
    if reply:
        lines.append(f"Diagnostic-Code: smtp;{reply}")
    if c.k is not None:
        lines.append(f"Last-Attempt-Date: {c.date(c.s.times[c.k])}")
    if c.delayed and c.will_retry_until():
        lines.append(f"Will-Retry-Until: {c.will_retry_until()}")
    lines.append(f"X-Display-Name: {c.s.recipient}")
    return "\n".join(lines) + "\n"


def _generic_dsn(c: _Context) -> str:
    lines = [f"Reporting-MTA: dns; {c.sc.reporting_mta}", f"Arrival-Date: {c.date(c.s.arrival_s)}", "",
             f"Final-Recipient: rfc822; {c.s.recipient}", f"Action: {'delayed' if c.delayed else 'failed'}",
             f"Status: {c.status}", f"Remote-MTA: dns; {c.s.domain}"]
    if c.reply:
        lines.append(f"Diagnostic-Code: smtp; {c.reply}")
    if c.k is not None:
        lines.append(f"Last-Attempt-Date: {c.date(c.s.times[c.k])}")
    if c.delayed and c.will_retry_until():
        lines.append(f"Will-Retry-Until: {c.will_retry_until()}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# The whole report: headers, the human text, the status, the returned headers
# ------------------------------------------------------------------------------------------------
def _hours(seconds: float) -> str:
    hours = int(seconds // 3600)
    return f"{hours} hour(s)"


def _human(c: _Context) -> str:
    sc, s = c.sc, c.s
    host = sc.reporting_mta
    subject = f"Message {s.id}"
    if c.fam == "postfix":
        # bounce_templates.c def_bounce_failure_body / def_bounce_delay_body, then the diagnostic log
        # (bounce_notify_util.c bounce_diagnostic_log(): "<rcpt>: reason")
        reason = lf.postfix_reason(s, c.k) if c.k is not None else "delivery temporarily suspended"
        if c.delayed:
            warn_h = int((sc.sender.delay_warning_s or 14400) // 3600)
            days = int((sc.sender.expiry_s or 5 * 86400) // 86400)
            text = [f"This is the mail system at host {host}.", "",
                    "####################################################################",
                    "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #",
                    "####################################################################", "",
                    f"Your message could not be delivered for more than {warn_h} hour(s).",
                    f"It will be retried until it is {days} day(s) old."]
        else:
            text = [f"This is the mail system at host {host}.", "",
                    "I'm sorry to have to inform you that your message could not",
                    "be delivered to one or more recipients. It's attached below."]
        text += ["", "For further assistance, please send mail to postmaster.", "",
                 "If you do so, please include this problem report. You can",
                 "delete your own text from the attached returned message.", "",
                 "                   The mail system", "", f"<{s.recipient}>: {reason}"]
        return "\n".join(text)
    if c.fam == "exim":
        mid = lf.exim_ids(sc, s)[0]
        if c.delayed:
            age = c.when_s - s.arrival_s
            delay = f"{int(age // 60)} minutes" if age < 7200 else f"{int(age // 3600)} hours"
            errno, message, _ = lf.exim_error(s, c.k) if c.k is not None else (0, "", False)
            reason = message or (lf._STRERROR.get(errno, "") if errno else "")
            return "\n".join([
                "This message was created automatically by mail delivery software.",
                "A message that you sent has not yet been delivered to one or more of its",
                f"recipients after more than {delay} on the queue on {host}.", "",
                f"The message identifier is:     {mid}",
                f"The subject of the message is: {subject}",
                f"The date of the message is:    {c.date(s.arrival_s)}", "",
                "The address to which the message has not yet been delivered is:", "",
                f"  {s.recipient}", f"    Delay reason: {reason}", "",
                "No action is required on your part. Delivery attempts will continue for",
                "some time, and this warning may be repeated at intervals if the message",
                "remains undelivered. Eventually the mail delivery software will give up,",
                "and when that happens, the message will be returned to you."])
        reason = sc.sender.expiry_reply if s.outcome == Outcome.EXPIRED else (
            f"host {s.domain} [{lf.PARTNER_IP}]\n    SMTP error from remote mail server after "
            f"RCPT TO:<{s.recipient}>:\n    {c.reply}")
        return "\n".join([
            "This message was created automatically by mail delivery software.", "",
            "A message that you sent could not be delivered to one or more of its",
            "recipients. This is a permanent error. The following address(es) failed:", "",
            f"  {s.recipient}", f"    {reason}"])
    if c.fam == "sendmail":
        stat = lf.sendmail_stat(s, c.k)[2] if c.k is not None else "Deferred"
        head = [f"The original message was received at {c.date(s.arrival_s)}", "from localhost [127.0.0.1]", ""]
        if c.delayed:
            from .presets.sendmail import pintvl
            return "\n".join([
                "**********************************************",
                "**      THIS IS A WARNING MESSAGE ONLY      **",
                "**  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **",
                "**********************************************", ""] + head + [
                "   ----- Transcript of session follows -----",
                f"<{s.recipient}>... {stat}",
                f"Warning: message still undelivered after {pintvl(sc.sender.delay_warning_s or 14400)}",
                f"Will keep trying until message is {pintvl(sc.sender.expiry_s or 5 * 86400)} old"])
        final = sc.sender.expiry_reply if s.outcome == Outcome.EXPIRED else stat
        return "\n".join(head + [
            "   ----- The following addresses had permanent fatal errors -----", f"<{s.recipient}>",
            f"    (reason: {c.smtp_reply() or stat})", "",
            "   ----- Transcript of session follows -----", f"<{s.recipient}>... {stat}",
            f"Message could not be delivered for {final.removeprefix('Cannot send message for ')}"
            if s.outcome == Outcome.EXPIRED else final,
            "Message will be deleted from queue"])
    if c.fam == "exchange":
        if c.delayed:
            left = max(0.0, s.arrival_s + (sc.sender.expiry_s or 0) - c.when_s)
            d, rem = divmod(int(left), 86400)
            return "\n".join([
                "Delivery is delayed to these recipients or groups:", "", s.recipient, "",
                f"Subject: {subject}", "",
                "This message hasn't been delivered yet. Delivery will continue to be attempted.", "",
                f"The server will keep trying to deliver this message for the next {d} days, {rem // 3600} hours "
                f"and {rem % 3600 // 60} minutes. You'll be notified if the message can't be delivered by that time.",
                "", "Diagnostic information for administrators:", "", f"Generating server: {host}", "",
                s.recipient, f"Remote Server returned '{EXCHANGE_DELAYED}'", "", "Original message headers:", "",
                _original_headers(c)])
        if s.outcome == Outcome.EXPIRED:        # Exchange's own verdict, written as "#<reply> ##"
            user, diagnostic = EXCHANGE_EXPIRED_TEXT, f"#{_exchange_reply(c)} ##"
        else:                                   # the remote server's 5xx, quoted
            user, diagnostic = ("The recipient's email system rejected the message.",
                                f"Remote Server returned '{_exchange_reply(c)}'")
        return "\n".join([
            "Delivery has failed to these recipients or groups:", "", s.recipient, user,
            "", "", "Diagnostic information for administrators:", "", f"Generating server: {host}", "",
            s.recipient, diagnostic, "", "Original message headers:", "",
            _original_headers(c)])
    if c.delayed:
        return "Your message could not be delivered yet; the mail system will keep trying."
    return "Your message could not be delivered."


def _headers(c: _Context) -> list[str]:
    """From, To, Subject, Message-ID of the notice itself, per program."""
    sc, s = c.sc, c.s
    host, sender = sc.reporting_mta, lf.sender_address(sc)
    subject = f"Message {s.id}"
    stamp = (sc.start + timedelta(seconds=c.when_s)).strftime("%Y%m%d%H%M%S")
    if c.fam == "postfix":
        newid = lf.postfix_queue_id(10**7 + lf.notice_id(s.id, c.number))
        return [f"From: MAILER-DAEMON@{host} (Mail Delivery System)",
                f"Subject: {'Delayed Mail (still being retried)' if c.delayed else 'Undelivered Mail Returned to Sender'}",
                f"To: {sender}", "Auto-Submitted: auto-replied", f"Message-Id: <{stamp}.{newid}@{host}>"]
    if c.fam == "exim":
        mid, bounce, warns = lf.exim_ids(sc, s)
        if c.delayed:
            age = c.when_s - s.arrival_s
            delay = f"{int(age // 60)} minutes" if age < 7200 else f"{int(age // 3600)} hours"
            return ["Auto-Submitted: auto-replied", f"From: Mail Delivery System <Mailer-Daemon@{host}>",
                    f"To: {sender}", f"Subject: Warning: message {mid} delayed {delay}",
                    f"Message-Id: <E{warns[c.number - 1]}@{host}>"]
        return [f"X-Failed-Recipients: {s.recipient}", "Auto-Submitted: auto-replied",
                f"From: Mail Delivery System <Mailer-Daemon@{host}>", f"To: {sender}",
                "Subject: Mail delivery failed: returning message to sender", f"Message-Id: <E{bounce}@{host}>"]
    if c.fam == "sendmail":
        qid, bounce, warns = lf.sendmail_ids(sc, s)
        newid = warns[c.number - 1] if c.delayed else bounce
        from .presets.sendmail import pintvl
        subj = (f"Warning: could not send message for past {pintvl(sc.sender.delay_warning_s or 14400)}"
                if c.delayed else "Returned mail: see transcript for details")
        return [f"From: Mail Delivery Subsystem <MAILER-DAEMON@{host}>", f"To: <{sender}>",
                f"Message-Id: <{stamp}.{newid}@{host}>", f"Subject: {subj}", "Auto-Submitted: auto-generated (failure)"]
    if c.fam == "exchange":
        domain = lf.org_domain(host)
        return [f"From: Microsoft Outlook <{EXCHANGE_SYSTEM_MAILBOX}@{domain}>", f"To: <{sender}>",
                f"Subject: {'Delivery delayed:' if c.delayed else 'Undeliverable:'} {subject}",
                f"Message-ID: {lf.exchange_notice_message_id(sc, s, c.number)}",
                f"In-Reply-To: {lf.original_message_id(sc, s.id)}",
                f"References: {lf.original_message_id(sc, s.id)}", "Auto-Submitted: auto-replied",
                "X-MS-Exchange-Message-Is-Ndr:"]
    return [f"From: Mail Delivery System <MAILER-DAEMON@{host}>", f"To: <{sender}>",
            f"Subject: Delivery Status Notification ({'Delay' if c.delayed else 'Failure'})",
            f"Message-ID: <{stamp}.dsn{lf.notice_id(s.id, c.number)}@{host}>", "Auto-Submitted: auto-replied"]


def _original_headers(c: _Context) -> str:
    sender = lf.sender_address(c.sc)
    return "\n".join([f"Return-Path: <{sender}>", f"From: <{sender}>", f"To: <{c.s.recipient}>",
                      f"Subject: Message {c.s.id}", f"Date: {c.date(c.s.arrival_s)}",
                      f"Message-ID: {lf.original_message_id(c.sc, c.s.id)}", "MIME-Version: 1.0"])


def _report(c: _Context, body: str) -> str:
    """A whole RFC 3462 ``multipart/report`` message carrying the notice, as a mail client would get it."""
    boundary = f"{lf.notice_id(c.s.id, c.number)}.{int(c.sc.start.timestamp())}/{c.sc.reporting_mta}"
    postfix = c.fam == "postfix"
    return "\n".join(_headers(c) + [
        f"Date: {c.date(c.when_s)}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a MIME-encapsulated message." if postfix else "",
        "",
        f"--{boundary}",
        *(["Content-Description: Notification"] if postfix else []),
        "Content-Type: text/plain; charset=us-ascii",
        "",
        _human(c),
        "",
        f"--{boundary}",
        *(["Content-Description: Delivery report"] if postfix else []),
        "Content-Type: message/delivery-status",
        "",
        body,
        f"--{boundary}",
        *(["Content-Description: Undelivered Message Headers"] if postfix else []),
        "Content-Type: text/rfc822-headers",
        "",
        _original_headers(c),
        "",
        f"--{boundary}--",
        "",
    ])


def report_message(result: SimulationResult, notice: Notice) -> str:
    """The whole ``multipart/report`` message of a notice."""
    if notice.message:
        return notice.message
    for n in notices(result):
        if (n.message_id, n.action) == (notice.message_id, notice.action):
            return n.message
    raise ValueError(f"no notice {notice.action} for message {notice.message_id}")


def write_dsn(result: SimulationResult, out_dir: str | Path) -> int:
    """Write one ``<id>-<action>.eml`` per notice into ``out_dir``; returns how many."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for notice in notices(result):
        text = notice.message
        atomic_write(out / f"{notice.message_id:07d}-{notice.action}.eml", lambda f, t=text: f.write(t))
        count += 1
    return count


def write_log(result: SimulationResult, path: str | Path) -> int:
    """Write the run's log lines to ``path`` (atomically); returns the number of lines."""
    lines = list(log_lines(result))
    atomic_write(Path(path), lambda f: f.write("\n".join(lines) + ("\n" if lines else "")))
    return len(lines)

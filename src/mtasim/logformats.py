"""Mail logs in each MTA's own format, read off a finished run's records (``run --log FILE``).

Each family writes, line for line, what the real program logs for the same event; the source of each
format is named next to the code that writes it:

* Postfix 3.x syslog lines (postfix/src/global/log_adhoc.c for ``to=<...>, relay=..., delay=...,
  delays=a/b/c/d, dsn=..., status=...``; util/format_tv.c for the delay numbers; global/opened.c for
  ``from=<...>, size=N, nrcpt=1 (queue active)``; smtp/smtp_connect.c for ``connect to host[ip]:25: ...``;
  smtp/smtp_proto.c for ``host ... said: ... (in reply to RCPT TO command)``; qmgr/qmgr_deliver.c and
  qmgr/qmgr_message.c for ``delivery temporarily suspended: `` deferrals handed to the retry(8) agent
  (error/error.c, relay=none); qmgr/qmgr_active.c for ``status=expired, returned to sender`` and
  ``removed``; bounce/bounce_notify_service.c and bounce/bounce_warn_service.c for the ``sender
  non-delivery notification`` / ``sender delay notification`` lines).
* Exim 4.96 main log with the default log_selector (src/src/deliver.c ``delivery_log()``,
  ``deferral_log()``, ``failure_log()`` and the ``Completed`` line; src/src/transports/smtp.c
  ``write_logs()`` for ``H=host [ip] Connection refused`` and the ``retry time not reached for any host
  for 'domain'`` message with ERRNO_HRETRY (-54); src/src/macros.h for the defer codes (-44
  ERRNO_RCPT4XX); src/src/retry.c for ``** addr: retry timeout exceeded``; src/src/receive.c for the
  ``<= <> R=...`` line of a bounce or warning).
* Sendmail 8.17 syslog lines (sendmail/deliver.c ``logdelivery()``: ``to=, delay=, xdelay=, mailer=,
  pri=, relay=, dsn=, reply=, stat=``, the stat text from ``giveresponse()`` with libsm/strexit.c and
  sendmail/err.c, see ``sendmail_stat()``; sendmail/savemail.c ``returntosender()`` for ``QID: NEWQID:
  DSN: ...``; sendmail/envelope.c ``dropenvelope()`` for "Cannot send message for 5 days" and the warning
  text).
* Exchange Server / Exchange Online message tracking log (learn.microsoft.com "Message tracking in
  Exchange Server": the ``#Software``/``#Version``/``#Log-type``/``#Date``/``#Fields`` header and the
  30 CSV fields of Exchange 2013-2019; event ids RECEIVE, DEFER, SEND, FAIL, DSN; a DEFER's
  recipient-status ``[{LED=...};{MSG=};{FQDN=...};{IP=...};{LRT=...}]`` as Get-MessageTrackingLog shows
  it). A pass that Exchange's queue in Retry held back writes no event (the queue waits; no message is
  handed to SMTP).

Every other preset gets ``key=value`` lines.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np

from .recipients import AttemptResult, parse_reply
from .results import Outcome, SimulationResult

__all__ = ["family", "Story", "stories", "deferral_status", "split_suspended", "log_lines",
           "PARTNER_IP", "format_tv", "postfix_queue_id", "exim_message_id", "sendmail_queue_id",
           "original_message_id", "sender_address", "org_domain", "notice_id", "EXCHANGE_FIELDS"]

#: The partner's address in logs and notices: TEST-NET-1 (RFC 5737), one host per domain.
PARTNER_IP = "192.0.2.1"

_EXCHANGE = ("exchange-server", "exchange-edge", "exchange-online", "exchange-online-2019")


def family(preset: str | None) -> str:
    """Which program's formats a preset writes: postfix, exim, sendmail, exchange or generic."""
    if preset in ("postfix", "exim", "sendmail"):
        return preset
    if preset in _EXCHANGE:
        return "exchange"
    return "generic"


# ------------------------------------------------------------------------------------------------
# Statuses: the same DSN status the engines recorded, read back off an attempt's reply text
# ------------------------------------------------------------------------------------------------
#: The prefixes mtasim.hosts puts before a cached failure on a pass it held back.
_SUSPENDED_PREFIXES = ("delivery temporarily suspended: ", "route disabled: ",
                       "all hosts have been failing for a long time: ", "retry time not reached: ",
                       "queue in Retry: ")


def split_suspended(reply: str) -> tuple[str, str]:
    """``(prefix, cause)`` of a held-back pass's reply (mtasim.hosts.suspended_reply)."""
    for prefix in _SUSPENDED_PREFIXES:
        if reply.startswith(prefix):
            return prefix, reply[len(prefix):]
    return "", reply


def _cause_status(cause: str) -> str:
    if cause.startswith("connect:"):
        return "4.4.1"                                  # mtasim.recipients.replies.failure_reply
    try:
        return parse_reply(cause).status
    except ValueError:
        return "4.0.0"


def deferral_status(result: AttemptResult, reply: str) -> str:
    """The DSN status of one attempt, as the engines recorded it (Reply.status)."""
    if result == AttemptResult.DELIVERED:
        return "2.0.0"
    if result.is_connection_failure:
        return "4.4.1"
    if result == AttemptResult.SUSPENDED:
        return _cause_status(split_suspended(reply)[1])
    return _cause_status(reply)


# ------------------------------------------------------------------------------------------------
# One message's history
# ------------------------------------------------------------------------------------------------
@dataclass
class Story:
    """What happened to one message: its attempts (time, result, reply), warnings and end."""

    id: int
    arrival_s: float
    domain: str
    recipient: str
    times: list[float]
    results: list[AttemptResult]
    replies: list[str]
    warnings: list[float]
    outcome: Outcome
    final_s: float
    status: str
    connect_timeout_s: float = 30.0
    extra: dict = field(default_factory=dict)

    def last_before(self, t: float) -> int | None:
        """Index of the last attempt at or before ``t`` (None: none yet)."""
        idx = [k for k, s in enumerate(self.times) if s <= t]
        return idx[-1] if idx else None

    def duration(self, k: int) -> float:
        """How long attempt ``k`` lasted: a timed-out connection its connect timeout, else 0."""
        return self.connect_timeout_s if self.results[k] == AttemptResult.TIMEOUT else 0.0


def stories(result: SimulationResult, only: set[int] | None = None) -> Iterator[Story]:
    """Each message's story, in message order (``only``: just these messages)."""
    if result.attempts is None:
        raise ValueError("a log needs every attempt: simulate with attempts=True")
    m, a = result.messages, result.attempts
    ids = np.arange(len(m))
    lo, hi = np.searchsorted(a.message_id, ids, "left"), np.searchsorted(a.message_id, ids, "right")
    warn_ids, warn_times = result.warnings
    w_lo, w_hi = np.searchsorted(warn_ids, ids, "left"), np.searchsorted(warn_ids, ids, "right")
    for i in range(len(m)):
        if only is not None and i not in only:
            continue
        domain = m.recipients[m.recipient[i]].split("#")[0]
        rows = slice(lo[i], hi[i])
        timeout = 30.0
        if result.domains and int(m.recipient[i]) < len(result.domains):
            timeout = float(getattr(result.domains[int(m.recipient[i])], "connect_timeout_s", 30.0))
        yield Story(i, float(m.arrival_s[i]), domain, recipient_address(i, domain),
                    [float(t) for t in a.time_s[rows]], [AttemptResult(int(r)) for r in a.result[rows]],
                    [a.replies[int(r)] for r in a.reply[rows]], [float(t) for t in warn_times[w_lo[i]:w_hi[i]]],
                    Outcome(int(m.outcome[i])), float(m.final_s[i]), m.status_text(i), timeout)


def recipient_address(message_id: int, domain: str) -> str:
    """The simulated recipient of a message: one mailbox per message at its domain."""
    return f"user{message_id}@{domain.split('#')[0]}"


# ------------------------------------------------------------------------------------------------
# Names and identifiers (deterministic: the same run writes the same log)
# ------------------------------------------------------------------------------------------------
def org_domain(reporting_mta: str) -> str:
    """The sender's mail domain: the reporting host's name without its first label."""
    labels = reporting_mta.split(".")
    return ".".join(labels[1:]) if len(labels) > 2 else reporting_mta


def sender_address(sc) -> str:
    return f"sender@{org_domain(sc.reporting_mta)}"


def original_message_id(sc, i: int) -> str:
    return f"<msg{i}.{int(sc.start.timestamp())}@{org_domain(sc.reporting_mta)}>"


def notice_id(i: int, k: int) -> int:
    """A number for the k-th notification about message i (k = 0: the failure, 1.. the warnings)."""
    return (i + 1) * 64 + k


def postfix_queue_id(n: int) -> str:
    """A Postfix short queue id (10 upper-case hex digits, postfix/src/global/mail_queue.c)."""
    return f"{0x4A00000000 + n * 7919:X}"[-10:]


_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(n: int, width: int) -> str:
    out = ""
    for _ in range(width):
        n, r = divmod(n, 62)
        out = _B62[r] + out
    return out


def exim_message_id(epoch_s: int, pid: int, fraction: int = 0) -> str:
    """An Exim 4.96 message id: base-62 time (6), pid (6), sub-second fraction (2)
    (src/src/receive.c, "XXXXXX-YYYYYY-ZZ" before 4.97's longer ids)."""
    return f"{_base62(epoch_s, 6)}-{_base62(pid, 6)}-{_base62(fraction, 2)}"


_QIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"     # sendmail/queue.c QueueIdChars


def sendmail_queue_id(when: datetime, seq: int, pid: int) -> str:
    """A Sendmail queue id: year, month, day, hour, minute, second and a sequence in QueueIdChars, then
    the pid in six digits (sendmail/queue.c ``assign_queueid()``)."""
    chars = [_QIC[when.year % 60], _QIC[when.month - 1], _QIC[when.day], _QIC[when.hour], _QIC[when.minute],
             _QIC[when.second], _QIC[(seq // 60) % 60], _QIC[seq % 60]]
    return "".join(chars) + f"{pid % 1000000:06d}"


def format_tv(seconds: float, sig_dig: int = 2, max_dig: int = 2) -> str:
    """Postfix's ``format_tv()`` (postfix/src/util/format_tv.c) with log_adhoc.c's 2 significant digits
    and delay_logging_resolution_limit = 2: ``3600``, ``0.36``, ``0``."""
    million = 1_000_000
    total = int(round(max(0.0, seconds) * million))
    sec, usec = divmod(total, million)
    pow10 = [1, 10, 100, 1000, 10000, 100000, 1000000]
    ures, wid = million // pow10[max_dig], pow10[sig_dig]
    if ures < million:
        if sec > 0:
            n = 1
            while sec >= n and n <= wid // 10:
                n *= 10
            ures = (million // wid) * n
        else:
            while usec >= wid * ures:
                ures *= 10
    if ures > 1:
        usec += ures // 2
        if usec >= million:
            sec, usec = sec + 1, usec - million
    out = str(sec)
    if usec >= ures:
        out += "."
        rem, n = usec, million // 10
        while rem >= ures and n > 0:
            out += "0123456789"[rem // n]
            rem %= n
            n //= 10
    return out


def _size(i: int) -> int:
    return 2048 + (i * 7919) % 30000


# ------------------------------------------------------------------------------------------------
def log_lines(result: SimulationResult) -> Iterator[str]:
    """The run as the preset's own log, in time order (see the module docstring for the sources)."""
    sc = result.scenario
    fam = family(sc.sender.preset)
    writer = {"postfix": _postfix, "exim": _exim, "sendmail": _sendmail, "exchange": _exchange}.get(fam, _generic)
    events: list[tuple[float, int, int, str]] = []
    for story in stories(result):
        last = -np.inf
        for seq, (t, line) in enumerate(writer(sc, story)):
            last = max(last, t)                    # a message's lines never go back in time
            events.append((last, story.id, seq, line))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    if fam == "exchange":
        yield from _exchange_header(sc)
    for t, _, _, line in events:
        yield _stamp(sc, fam, t, line)


def _stamp(sc, fam: str, t: float, line: str) -> str:
    when = sc.start + timedelta(seconds=t)
    if fam in ("postfix", "sendmail"):
        # syslog (RFC 3164): "Mmm dd hh:mm:ss host", the day padded with a space
        return f"{when:%b} {when.day:>2} {when:%H:%M:%S} {sc.reporting_mta.split('.')[0]} {line}"
    if fam == "exim":
        return f"{when:%Y-%m-%d %H:%M:%S} {line}"           # Exim's log_time_zone-less main log stamp
    return line.replace("\0TIME\0", _iso(when))


def _iso(when: datetime) -> str:
    utc = when.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


# ------------------------------------------------------------------------------------------------
# Postfix
# ------------------------------------------------------------------------------------------------
def _postfix_reason(domain: str, result: AttemptResult, reply: str) -> tuple[str, str]:
    """``(relay, reason)`` of one deferral or bounce as the smtp(8) client writes it."""
    host = f"{domain}[{PARTNER_IP}]"
    if result.is_connection_failure:
        what = "Connection refused" if result == AttemptResult.REFUSED else "Connection timed out"
        return "none", f"connect to {host}:25: {what}"          # smtp_connect.c: dsb_simple(why, "4.4.1", ...)
    if result == AttemptResult.SUSPENDED:
        _, cause = split_suspended(reply)
        if cause.startswith("connect:"):
            inner = f"connect to {host}:25:{cause[len('connect:'):]}"
        else:
            inner = f"host {host} said: {cause} (in reply to RCPT TO command)"
        return "none", f"delivery temporarily suspended: {inner}"   # qmgr_deliver.c SUSPENDED prefix
    return f"{host}:25", f"host {host} said: {reply} (in reply to RCPT TO command)"


def postfix_reason(story: Story, k: int) -> str:
    return _postfix_reason(story.domain, story.results[k], story.replies[k])[1]


def _postfix(sc, s: Story) -> Iterator[tuple[float, str]]:
    qid = postfix_queue_id(s.id)
    sender = sender_address(sc)
    yield s.arrival_s, f"postfix/cleanup[{1100 + s.id % 40}]: {qid}: message-id={original_message_id(sc, s.id)}"
    warnings = list(s.warnings)
    for k, t in enumerate(s.times):
        res, reply = s.results[k], s.replies[k]
        # every pass brings the message into the active queue (qmgr_message.c -> opened.c)
        yield t, f"postfix/qmgr[1000]: {qid}: from=<{sender}>, size={_size(s.id)}, nrcpt=1 (queue active)"
        conn = s.duration(k)
        done = t + conn
        delay = done - s.arrival_s
        # log_adhoc.c: pdelay before the active queue, adelay in it, sdelay connection set-up, xdelay transfer
        delays = "/".join(format_tv(x) for x in (t - s.arrival_s, 0.0, conn, 0.0))
        agent = f"postfix/smtp[{2000 + s.id % 50}]"
        if res == AttemptResult.DELIVERED:
            yield done, (f"{agent}: {qid}: to=<{s.recipient}>, relay={s.domain}[{PARTNER_IP}]:25, "
                         f"delay={format_tv(delay)}, delays={delays}, dsn=2.0.0, status=sent ({reply})")
            yield done, f"postfix/qmgr[1000]: {qid}: removed"
            continue
        relay, reason = _postfix_reason(s.domain, res, reply)
        if res == AttemptResult.SUSPENDED:
            agent = f"postfix/retry[{3000 + s.id % 20}]"          # master.cf: retry unix ... error
        status = "bounced" if res == AttemptResult.REJECTED else "deferred"
        yield done, (f"{agent}: {qid}: to=<{s.recipient}>, relay={relay}, delay={format_tv(delay)}, "
                     f"delays={delays}, dsn={deferral_status(res, reply)}, status={status} ({reason})")
        while warnings and warnings[0] <= done + 1e-9 and (k + 1 == len(s.times) or warnings[0] < s.times[k + 1]):
            n = len(s.warnings) - len(warnings) + 1
            warnings.pop(0)
            yield done, (f"postfix/bounce[{4000 + s.id % 10}]: {qid}: sender delay notification: "
                         f"{postfix_queue_id(10**7 + notice_id(s.id, n))}")
        if res == AttemptResult.REJECTED:
            yield done, (f"postfix/bounce[{4000 + s.id % 10}]: {qid}: sender non-delivery notification: "
                         f"{postfix_queue_id(10**7 + notice_id(s.id, 0))}")
            yield done, f"postfix/qmgr[1000]: {qid}: removed"
    for w in warnings:                                  # warnings without a pass (not expected)
        yield w, (f"postfix/bounce[{4000 + s.id % 10}]: {qid}: sender delay notification: "
                  f"{postfix_queue_id(10**7 + notice_id(s.id, len(s.warnings)))}")
    if s.outcome == Outcome.EXPIRED:
        yield s.final_s, f"postfix/qmgr[1000]: {qid}: from=<{sender}>, status=expired, returned to sender"
        yield s.final_s, (f"postfix/bounce[{4000 + s.id % 10}]: {qid}: sender non-delivery notification: "
                          f"{postfix_queue_id(10**7 + notice_id(s.id, 0))}")
        yield s.final_s, f"postfix/qmgr[1000]: {qid}: removed"


# ------------------------------------------------------------------------------------------------
# Exim 4.96
# ------------------------------------------------------------------------------------------------
def exim_ids(sc, s: Story) -> tuple[str, str, list[str]]:
    """(message id, bounce id, warning ids) of a story."""
    base = int(sc.start.timestamp())
    mid = exim_message_id(base + int(s.arrival_s), 10000 + s.id)
    bounce = exim_message_id(base + int(s.final_s if s.final_s == s.final_s else s.arrival_s), 500000 + s.id * 8)
    warns = [exim_message_id(base + int(w), 500000 + s.id * 8 + n) for n, w in enumerate(s.warnings, 1)]
    return mid, bounce, warns


def exim_error(s: Story, k: int) -> tuple[int, str, bool]:
    """(basic_errno, message, host used) of a deferral as deferral_log() writes it."""
    res, reply = s.results[k], s.replies[k]
    if res == AttemptResult.REFUSED:
        return 111, "", False                           # ECONNREFUSED; strerror follows
    if res == AttemptResult.TIMEOUT:
        return 110, "", False                           # ETIMEDOUT (set_errno: ERRNO_CONNECTTIMEOUT -> ETIMEDOUT)
    if res == AttemptResult.SUSPENDED:
        prefix, _ = split_suspended(reply)
        if prefix.startswith("all hosts"):
            return -54, (f"all hosts for '{s.domain}' have been failing for a long time "
                         "(and retry time not reached)"), False
        return -54, f"retry time not reached for any host for '{s.domain}'", False
    return -44, f"SMTP error from remote mail server after RCPT TO:<{s.recipient}>: {reply}", True


_STRERROR = {111: "Connection refused", 110: "Connection timed out"}


def _exim(sc, s: Story) -> Iterator[tuple[float, str]]:
    mid, bounce, warns = exim_ids(sc, s)
    host = f"H={s.domain} [{PARTNER_IP}]"
    yield s.arrival_s, (f"{mid} <= {sender_address(sc)} U=sender P=local S={_size(s.id)} "
                        f"id={original_message_id(sc, s.id)[1:-1]}")
    warnings = list(enumerate(s.warnings))
    failed_here = False
    for k, t in enumerate(s.times):
        res, reply = s.results[k], s.replies[k]
        done = t + s.duration(k)
        if res == AttemptResult.DELIVERED:
            yield done, f'{mid} => {s.recipient} R=dnslookup T=remote_smtp {host} C="{reply}"'
            yield done, f"{mid} Completed"
            continue
        if res == AttemptResult.REJECTED:
            yield done, (f"{mid} ** {s.recipient} R=dnslookup T=remote_smtp {host}: SMTP error from remote mail "
                         f"server after RCPT TO:<{s.recipient}>: {reply}")
            yield done, f"{mid} <= <> R={mid} U=Debian-exim P=local S={_size(s.id) // 2 + 1500}"
            yield done, f"{mid} Completed"
            continue
        errno, message, used = exim_error(s, k)
        if errno > 0:
            yield done, f"{mid} {host} {_STRERROR[errno]}"             # smtp.c write_logs()
            yield done, f"{mid} == {s.recipient} R=dnslookup T=remote_smtp defer ({errno}): {_STRERROR[errno]}"
        elif errno == -54 and message.startswith("all hosts") and k == len(s.times) - 1 \
                and s.outcome == Outcome.EXPIRED:
            yield done, f"{mid} ** {s.recipient} R=dnslookup T=remote_smtp: {message}"   # failure_log()
            failed_here = True
        else:
            yield done, (f"{mid} == {s.recipient} R=dnslookup T=remote_smtp defer ({errno})"
                         f"{' ' + host if used else ''}: {message}")
        while warnings and warnings[0][1] <= done + 1e-9 and (k + 1 == len(s.times) or warnings[0][1] < s.times[k + 1]):
            n, w = warnings.pop(0)
            yield done, f"{warns[n]} <= <> R={mid} U=Debian-exim P=local S={_size(s.id) // 2 + 1800}"
    for n, w in warnings:
        yield w, f"{warns[n]} <= <> R={mid} U=Debian-exim P=local S={_size(s.id) // 2 + 1800}"
    if s.outcome == Outcome.EXPIRED:
        if not failed_here:
            yield s.final_s, f"{mid} ** {s.recipient}: retry timeout exceeded"        # retry.c
        yield s.final_s, f"{bounce} <= <> R={mid} U=Debian-exim P=local S={_size(s.id) // 2 + 1500}"
        yield s.final_s, f"{mid} Completed"


# ------------------------------------------------------------------------------------------------
# Sendmail 8.17
# ------------------------------------------------------------------------------------------------
def sendmail_delay(seconds: float) -> str:
    """``pintvl(delay, TRUE)`` (sendmail/convtime.c): ``HH:MM:SS``, ``D+HH:MM:SS`` past a day."""
    s = int(max(0.0, seconds))
    days, s = divmod(s, 86400)
    text = f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{days}+{text}" if days else text


def sendmail_ids(sc, s: Story) -> tuple[str, str, list[str]]:
    arrive = sc.start + timedelta(seconds=s.arrival_s)
    qid = sendmail_queue_id(arrive, s.id, 10000 + s.id)
    end = sc.start + timedelta(seconds=s.final_s if s.final_s == s.final_s else s.arrival_s)
    bounce = sendmail_queue_id(end, s.id + 1, 40000 + s.id)
    warns = [sendmail_queue_id(sc.start + timedelta(seconds=w), s.id + 1 + n, 50000 + s.id)
             for n, w in enumerate(s.warnings, 1)]
    return qid, bounce, warns


def _sendmail_cause(s: Story, k: int) -> tuple[AttemptResult, str]:
    """The attempt's result and reply; a pass the host-status cache (mci) skipped reports the cached failure."""
    res, reply = s.results[k], s.replies[k]
    if res != AttemptResult.SUSPENDED:
        return res, reply
    _, cause = split_suspended(reply)
    if cause.startswith("connect:"):
        return (AttemptResult.TIMEOUT if "timed out" in cause else AttemptResult.REFUSED), cause
    return AttemptResult.DEFERRED, cause


def sendmail_stat(s: Story, k: int) -> tuple[str, str, str]:
    """(relay, dsn, stat) of one attempt as logdelivery() writes it (sendmail/deliver.c).

    relay= is the host and, after ``makeconnection()`` or a cached ``mci_get()`` set CurHostAddr, its
    address in brackets, for refused connections too. stat= is giveresponse()'s text after the status
    codes: a temporary failure is libsm/strexit.c's "450 4.0.0 Deferred" plus ": " and the error
    (sendmail/err.c ``sm_errstring()``: "Connection refused by HOST", "Connection timed out with HOST")
    or the server's reply; a 550/551/553 to RCPT is EX_NOUSER, "User unknown", any other 5xx EX_UNAVAILABLE,
    "Service unavailable" (sendmail/usersmtp.c ``smtprcptstat()``); dsn= is the reply's enhanced code, or
    the 4.0.0 of "Deferred" when there is none (a connection that failed).
    """
    res, cause = _sendmail_cause(s, k)
    relay = f"{s.domain}. [{PARTNER_IP}]"
    if res == AttemptResult.DELIVERED:
        text = cause.split(" ", 1)[1] if " " in cause else cause
        if text[:1].isdigit() and text.count(".") >= 2 and " " in text:
            text = text.split(" ", 1)[1]                # drop the enhanced code: "Sent (OK)"
        return relay, "2.0.0", f"Sent ({text})"
    if res == AttemptResult.REFUSED:
        return relay, "4.0.0", f"Deferred: Connection refused by {s.domain}."
    if res == AttemptResult.TIMEOUT:
        return relay, "4.0.0", f"Deferred: Connection timed out with {s.domain}."
    status = deferral_status(AttemptResult.DEFERRED, cause)
    if res == AttemptResult.REJECTED:
        return relay, status, "User unknown" if cause[:3] in ("550", "551", "553") else "Service unavailable"
    return relay, status, f"Deferred: {cause}"


def sendmail_reply(s: Story, k: int) -> str:
    """The ``reply=`` field (Sendmail 8.16.1 and later, sendmail/deliver.c ``logdelivery()``): the server's
    own reply to RCPT (``q_rstatus``), logged for a failure the server answered; "" when there is none (a
    delivery, a refused or timed-out connection)."""
    res, cause = _sendmail_cause(s, k)
    if res in (AttemptResult.DEFERRED, AttemptResult.REJECTED) and cause[:1] in ("4", "5"):
        return cause
    return ""


def _sendmail(sc, s: Story) -> Iterator[tuple[float, str]]:
    qid, bounce, warns = sendmail_ids(sc, s)
    pid = f"sm-mta[{10000 + s.id}]"
    size = _size(s.id)
    yield s.arrival_s, (f"{pid}: {qid}: from=<{sender_address(sc)}>, size={size}, class=0, nrcpts=1, "
                        f"msgid={original_message_id(sc, s.id)}, proto=ESMTP, daemon=MTA, relay=localhost [127.0.0.1]")
    warnings = list(enumerate(s.warnings))
    for k, t in enumerate(s.times):
        done = t + s.duration(k)
        relay, dsn, stat = sendmail_stat(s, k)
        reply = sendmail_reply(s, k)
        # pri: e_msgpriority = size + WkRecipFact (30000) per recipient (collect.c), + WkTimeFact (90000)
        # each time a queue run reads the queue file (queue.c readqf())
        pri = size + 30000 + 90000 * k
        yield done, (f"sm-mta[{20000 + s.id % 100}]: {qid}: to=<{s.recipient}>, "
                     f"delay={sendmail_delay(done - s.arrival_s)}, xdelay={sendmail_delay(done - t)}, "
                     f"mailer=esmtp, pri={pri}, relay={relay}, dsn={dsn}, "
                     + (f"reply={reply}, " if reply else "") + f"stat={stat}")
        if s.results[k] == AttemptResult.REJECTED:
            yield done, f"sm-mta[{20000 + s.id % 100}]: {qid}: {bounce}: DSN: {stat}"
        while warnings and warnings[0][1] <= done + 1e-9 and (k + 1 == len(s.times) or warnings[0][1] < s.times[k + 1]):
            n, w = warnings.pop(0)
            yield done, (f"sm-mta[{20000 + s.id % 100}]: {qid}: {warns[n]}: DSN: "
                         f"Warning: could not send message for past {_sendmail_warn_text(sc)}")
    for n, w in warnings:
        yield w, (f"sm-mta[{20000 + s.id % 100}]: {qid}: {warns[n]}: DSN: "
                  f"Warning: could not send message for past {_sendmail_warn_text(sc)}")
    if s.outcome == Outcome.EXPIRED:
        yield s.final_s, f"sm-mta[{20000 + s.id % 100}]: {qid}: {bounce}: DSN: {sc.sender.expiry_reply}"


def _sendmail_warn_text(sc) -> str:
    from .presets.sendmail import pintvl
    return pintvl(sc.sender.delay_warning_s or 4 * 3600)


# ------------------------------------------------------------------------------------------------
# Exchange message tracking log
# ------------------------------------------------------------------------------------------------
EXCHANGE_FIELDS = ("date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,connector-id,"
                   "source,event-id,internal-message-id,message-id,network-message-id,recipient-address,"
                   "recipient-status,total-bytes,recipient-count,related-recipient-address,reference,"
                   "message-subject,sender-address,return-path,message-info,directionality,tenant-id,"
                   "original-client-ip,original-server-ip,custom-data,transport-traffic-type,log-id,"
                   "schema-version").split(",")
_EXCHANGE_VERSION = "15.02.1544.004"


def _exchange_header(sc) -> Iterator[str]:
    yield "#Software: Microsoft Exchange Server"
    yield f"#Version: {_EXCHANGE_VERSION}"
    yield "#Log-type: Message Tracking Log"
    yield f"#Date: {_iso(sc.start)}"
    yield "#Fields: " + ",".join(EXCHANGE_FIELDS)


def exchange_lrt(when: datetime) -> str:
    """A recipient-status's ``LRT`` (last retry time) as Exchange writes it: ``12/22/2020 2:28:06 AM``."""
    hour = when.hour % 12 or 12
    return f"{when.month}/{when.day}/{when.year} {hour}:{when.minute:02d}:{when.second:02d} " \
           f"{'AM' if when.hour < 12 else 'PM'}"


def exchange_status(s: Story, k: int, when: datetime | None = None) -> str:
    """The recipient-status of a DEFER event: the last error (LED), the target and, given ``when``, the last
    retry time, as Exchange writes it (``[{LED=...};{MSG=};{FQDN=host};{IP=ip};{LRT=...}]``, the form
    Get-MessageTrackingLog and Get-Queue show)."""
    res, reply = s.results[k], s.replies[k]
    if res == AttemptResult.SUSPENDED:
        _, reply = split_suspended(reply)
        res = AttemptResult.REFUSED if reply.startswith("connect:") else AttemptResult.DEFERRED
    if res.is_connection_failure:
        code = 10061 if res == AttemptResult.REFUSED else 10060          # WSAECONNREFUSED / WSAETIMEDOUT
        led = (f"441 4.4.1 Error encountered while communicating with primary target IP address: \"Failed to "
               f"connect. Winsock error code: {code}, Win32 error code: {code}.\" Attempted failover to alternate "
               f"host, but that did not succeed. Either there are no alternate hosts, or delivery failed to all "
               f"alternate hosts. The last endpoint attempted was {PARTNER_IP}:25")
    else:
        led = reply
    lrt = exchange_lrt(when) if when is not None else ""
    return f"[{{LED={led}}};{{MSG=}};{{FQDN={s.domain}}};{{IP={PARTNER_IP}}};{{LRT={lrt}}}]"


def _exchange_row(sc, s: Story, event: str, source: str, status: str = "", reference: str = "",
                  related: str = "", message_id: str | None = None, recipient: str | None = None) -> str:
    host = sc.reporting_mta.split(".")[0].upper()
    ns = uuid.uuid5(uuid.NAMESPACE_DNS, f"{sc.reporting_mta}/{int(sc.start.timestamp())}")
    row = {f: "" for f in EXCHANGE_FIELDS}
    row.update({
        "date-time": "\0TIME\0", "server-hostname": host, "server-ip": "198.51.100.10",
        "source": source, "event-id": event, "internal-message-id": str(100000 + s.id),
        "message-id": message_id or original_message_id(sc, s.id),
        "network-message-id": str(uuid.uuid5(ns, f"msg{s.id}")),
        "recipient-address": recipient or s.recipient, "recipient-status": status,
        "total-bytes": str(_size(s.id)), "recipient-count": "1", "related-recipient-address": related,
        "reference": reference, "message-subject": f"Message {s.id}", "sender-address": sender_address(sc),
        "return-path": sender_address(sc), "directionality": "Originating", "transport-traffic-type": "Email",
        "log-id": str(uuid.uuid5(ns, f"log{s.id}{event}{status}")), "schema-version": _EXCHANGE_VERSION,
    })
    if source == "SMTP" and event in ("SEND", "DEFER", "FAIL"):
        row["connector-id"] = "Internet Send Connector"
        row["server-ip"], row["server-hostname"] = PARTNER_IP, s.domain
    if event == "RECEIVE":
        row["client-ip"], row["client-hostname"] = "198.51.100.7", f"client.{org_domain(sc.reporting_mta)}"
        row["connector-id"] = f"{host}\\Default {host}"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([row[f] for f in EXCHANGE_FIELDS])
    return buf.getvalue()


def exchange_notice_message_id(sc, s: Story, k: int) -> str:
    """The Message-Id Exchange gives a notice it creates: ``<GUID@ServerFQDN>``, the GUID as 32 hex digits
    (learn.microsoft.com "Message tracking in Exchange Server", field message-id)."""
    return f"<{uuid.uuid5(uuid.NAMESPACE_DNS, f'{sc.reporting_mta}/{s.id}/{k}').hex}@{sc.reporting_mta}>"


def _exchange(sc, s: Story) -> Iterator[tuple[float, str]]:
    yield s.arrival_s, _exchange_row(sc, s, "RECEIVE", "SMTP")
    warnings = list(enumerate(s.warnings, 1))
    sender = sender_address(sc)
    for k, t in enumerate(s.times):
        res = s.results[k]
        done = t + s.duration(k)
        if res == AttemptResult.DELIVERED:
            yield done, _exchange_row(sc, s, "SEND", "SMTP", s.replies[k])
        elif res == AttemptResult.REJECTED:
            yield done, _exchange_row(sc, s, "FAIL", "SMTP", s.replies[k])
            yield done, _exchange_row(sc, s, "DSN", "DSN", reference=original_message_id(sc, s.id),
                                      message_id=exchange_notice_message_id(sc, s, 0), recipient=sender)
        elif res != AttemptResult.SUSPENDED:             # a queue in Retry hands no message to SMTP
            when = sc.start + timedelta(seconds=int(t))        # the retry's start, in whole seconds
            yield done, _exchange_row(sc, s, "DEFER", "SMTP", exchange_status(s, k, when))
        while warnings and warnings[0][1] <= done + 1e-9 and (k + 1 == len(s.times) or warnings[0][1] < s.times[k + 1]):
            n, w = warnings.pop(0)
            yield w, _exchange_row(sc, s, "DSN", "DSN", reference=original_message_id(sc, s.id),
                                   message_id=exchange_notice_message_id(sc, s, n), recipient=sender)
    for n, w in warnings:
        yield w, _exchange_row(sc, s, "DSN", "DSN", reference=original_message_id(sc, s.id),
                               message_id=exchange_notice_message_id(sc, s, n), recipient=sender)
    if s.outcome == Outcome.EXPIRED:
        yield s.final_s, _exchange_row(sc, s, "FAIL", "SMTP", sc.sender.expiry_reply)
        yield s.final_s, _exchange_row(sc, s, "DSN", "DSN", reference=original_message_id(sc, s.id),
                                       message_id=exchange_notice_message_id(sc, s, 0), recipient=sender)


# ------------------------------------------------------------------------------------------------
def _generic(sc, s: Story) -> Iterator[tuple[float, str]]:
    for k, t in enumerate(s.times):
        yield t, (f"\0TIME\0 msg={s.id} to=<{s.recipient}> attempt={k + 1} result={s.results[k].label} "
                  f"reply=\"{s.replies[k]}\"")
    if s.outcome == Outcome.EXPIRED:
        yield s.final_s, (f"\0TIME\0 msg={s.id} to=<{s.recipient}> result=expired status={s.status} "
                          f"reply=\"{sc.sender.expiry_reply}\"")

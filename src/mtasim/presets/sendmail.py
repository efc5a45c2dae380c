"""Sendmail 8.17 (queue runs; Debian packaging defaults). Facts: docs/mta-retry-facts.md §3, §10, §12."""

from __future__ import annotations

from collections.abc import Mapping

from ..hosts import SendmailHostStatus
from ..schedules import AgeBasedSchedule, FixedSchedule
from ..sender import Sender
from . import DAY, HOUR, MINUTE, QUEUE_RUN_PHASE, Param, Preset


def pintvl(seconds: float) -> str:
    """Sendmail's ``pintvl(intvl, false)`` (sendmail/convtime.c): ``5 days``, ``1 week, 2 hours``."""
    intvl = int(seconds)
    if intvl == 0:
        return "zero seconds"
    se, intvl = intvl % 60, intvl // 60
    mi, intvl = intvl % 60, intvl // 60
    hr, intvl = intvl % 24, intvl // 24
    dy, wk = intvl % 7, intvl // 7
    parts = [f"{n} {unit}{'' if n == 1 else 's'}"
             for n, unit in ((wk, "week"), (dy, "day"), (hr, "hour"), (mi, "minute"), (se, "second")) if n > 0]
    return ", ".join(parts)


# ------------------------------------------------------------------------------------------------
def _sendmail(v: Mapping[str, float]) -> Sender:
    """Sendmail: every queue run (``-q<QueueInterval>``) processes every job that is not "too young",
    so a deferred message is retried at the first run at least ``MinQueueAge`` after its last attempt
    (0: the next run). With ``MaxQueueAge`` > 0 (8.15+) a job is too young while
    ``now - last_try < min(last_try - ctime, MaxQueueAge)``, so the wait is the message's age at its last
    attempt, capped at ``MaxQueueAge`` (MinQueueAge is then not consulted). The last attempt is stamped
    when the attempt ends (``e_dtime`` after ``deliver()``).

    Give-up: ``dropenvelope()`` runs after every processing of the job; once
    ``now >= ctime + Timeout.queuereturn`` every undelivered recipient fails with ``Status: 4.4.7``,
    "Cannot send message for 5 days" (the pass that finds the message expired still made its attempt).
    Delay warning: once, at the first processing where ``now >= ctime + Timeout.queuewarn`` that does not
    bounce the message (0 = no warnings). Queue runs are aligned to ``queue_run_phase`` (real daemons
    start their timer whenever they start).

    Host-level state (DES only): the MCI host-status cache (mtasim.hosts.SendmailHostStatus). Within one
    queue run a failed host is skipped for the other messages of that run, and with
    ``HostStatusDirectory`` (Debian sets ``/var/lib/sendmail/host_status``) a failure is reused across
    runs for ``Timeout.hoststatus`` (30 min), so a dead host is really contacted only about every third
    10-minute run. Skipped passes are attempts with result ``suspended``; every pass counts, which is what
    the §10 row counts (721 passes). A skipped pass still ends in ``dropenvelope()``, so the expiry and
    warning times are the same either way. Also not modelled:
    per-precedence timeout classes (urgent/non-urgent), Deliver-By (RFC 2852, 5.4.7), and
    ``Timeout.queuereturn=now`` (bounce without any attempt; 0 here still makes the first attempt).

    Sources: docs/mta-retry-facts.md §3 (deepin-community/sendmail, Debian packaging of 8.17.1.9:
    ``sendmail/queue.c`` ``gatherq()`` (the ``K`` record, MinQueueAge/MaxQueueAge), ``sendmail/envelope.c``
    ``dropenvelope()``, ``sendmail/deliver.c`` ``sendenvelope()`` (``e_dtime``), ``sendmail/conf.c``
    ``setdefaults()``, ``cf/m4/proto.m4`` (queuewarn 4h), Debian ``debian/local/sendmail.in``
    (``QUEUE_INTERVAL=10m``)); the §10 worked example; the run of Sendmail 8.17.1.9 in §12.
    """
    max_age = v["MaxQueueAge"]
    schedule = AgeBasedSchedule(0.0, max_age) if max_age > 0 else FixedSchedule(v["MinQueueAge"])
    return Sender(
        schedule=schedule,
        give_up="last-attempt",
        expiry_s=v["Timeout.queuereturn"],
        queue_run_s=v["QueueInterval"],
        queue_run_phase_s=v["queue_run_phase"],
        delay_warning_s=v["Timeout.queuewarn"] or None,
        delay_warning_at="next-failure",
        expiry_status="4.4.7",
        expiry_reply=f"Cannot send message for {pintvl(v['Timeout.queuereturn'])}",
        preset="sendmail",
        host_policy=SendmailHostStatus(hoststatus_s=v["Timeout.hoststatus"],
                                       persistent=bool(v["HostStatusDirectory"]))
        if v["Timeout.hoststatus"] > 0 else None,
        queue_order="fewest-tries",
        whole_seconds=True,
    )


SENDMAIL = Preset(
    name="sendmail",
    summary="Sendmail (Debian): every job retried at each 10 min queue run; 4.4.7 after 5 d; warning at 4 h",
    sources="docs/mta-retry-facts.md §3, §10, §12 (sendmail/queue.c gatherq, sendmail/envelope.c dropenvelope, "
            "Debian debian/local/sendmail.in)",
    params=(
        Param("QueueInterval", 10 * MINUTE, "interval between queue runs (sendmail -q10m; Debian QUEUE_INTERVAL)",
              minimum=1.0, zero_allowed=True, aliases=("QUEUE_INTERVAL",), native="10m"),
        Param("MinQueueAge", 0.0, "a run skips a job attempted less than this long ago", zero_allowed=True,
              native="0"),
        Param("MaxQueueAge", 0.0, "when > 0: wait = the message's age at its last attempt, capped here "
              "(MinQueueAge is then ignored)", zero_allowed=True, native="0"),
        Param("Timeout.queuereturn", 5 * DAY, "age at which the message bounces with 4.4.7 (0: after the first "
              "attempt)", zero_allowed=True, aliases=("Timeout.queuereturn.normal",), native="5d"),
        Param("Timeout.queuewarn", 4 * HOUR, "age of the one delay warning (0 = none, the binary's default)",
              zero_allowed=True, aliases=("Timeout.queuewarn.normal",), native="4h"),
        Param("Timeout.hoststatus", 30 * MINUTE, "how long a host's failure is reused with HostStatusDirectory "
              "(0 = no host-status cache at all; lets the fast engine run)", zero_allowed=True, native="30m"),
        Param("HostStatusDirectory", "/var/lib/sendmail/host_status", "where host status persists across queue "
              "runs (Debian's value); empty = only within one run (the binary's default)", kind="text"),
        QUEUE_RUN_PHASE,
    ),
    build=_sendmail,
    confidence=("per-message rules sourced (queue.c, envelope.c) and confirmed by running 8.17.1.9 (§12); "
                "QueueInterval 10m, queuewarn 4h and HostStatusDirectory are the Debian/m4 defaults; the "
                "host-status cache is modelled per destination (which run reconnects is derived)"),
    order=12,
)

PRESETS = (SENDMAIL,)

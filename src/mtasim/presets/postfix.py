"""Postfix (qmgr). Facts: docs/mta-retry-facts.md §1, §10, §12."""

from __future__ import annotations

from collections.abc import Mapping

from ..connection_reuse import ConnectionReuse
from ..durations import format_duration
from ..hosts import PostfixDeadDestination
from ..schedules import AgeBasedSchedule
from ..sender import Sender
from . import DAY, QUEUE_RUN_PHASE, Param, Preset, PresetValueError, Switch


# ------------------------------------------------------------------------------------------------
def _postfix(v: Mapping[str, float]) -> Sender:
    """Postfix qmgr: wait = clamp(age, minimal_backoff_time, maximal_backoff_time), retried at the first
    deferred-queue scan at or after (due - 1 s); expiry checked after a failed pass whose age >=
    maximal_queue_lifetime; one delay warning at the first deferral at or after (warning time - 1 s);
    the bounce keeps the last deferral's status.

    Sources: docs/mta-retry-facts.md §1 (postfix/src/qmgr/qmgr_active.c ``qmgr_active_done_3_generic``,
    ``qmgr_active_feed``, ``qmgr_active_done_25_generic``; global/mail_params.h defaults) and the runs of
    Postfix 3.7.11 in §12.

    Host-level state: the dead destination (``default_destination_concurrency_failed_cohort_limit``,
    mtasim.hosts.PostfixDeadDestination): after about three site-level failures in one burst the
    destination is skipped for minimal_backoff_time and the rest are deferred without a connection
    ("delivery temporarily suspended"). It needs the DES; set the limit to 0 for the fast engine.

    MX hosts: one attempt tries at most ``smtp_mx_address_limit`` (5) hosts in preference order and opens
    at most ``smtp_mx_session_limit`` (2) sessions (postfix/src/global/mail_params.h ``DEF_SMTP_MXADDR_LIMIT``,
    ``DEF_SMTP_MXSESS_LIMIT``; postfix/src/smtp/smtp_connect.c); docs/mta-retry-facts.md §13.
    """
    if v["maximal_backoff_time"] < v["minimal_backoff_time"]:
        raise PresetValueError("maximal_backoff_time", "expected maximal_backoff_time >= minimal_backoff_time "
                                f"({format_duration(v['minimal_backoff_time'])})")
    warning = v["delay_warning_time"] or None
    return Sender(
        schedule=AgeBasedSchedule(v["minimal_backoff_time"], v["maximal_backoff_time"]),
        give_up="last-attempt",
        expiry_s=v["maximal_queue_lifetime"],
        queue_run_s=v["queue_run_delay"],
        queue_run_phase_s=v["queue_run_phase"],
        queue_run_tolerance_s=1.0,
        delay_warning_s=warning,
        delay_warning_at="next-failure",
        delay_warning_tolerance_s=1.0,
        expiry_status="last",
        expiry_reply="status=expired, returned to sender",
        preset="postfix",
        host_policy=PostfixDeadDestination(
            dead_for_s=v["minimal_backoff_time"],
            cohort_limit=v["default_destination_concurrency_failed_cohort_limit"],
            initial_window=int(v["initial_destination_concurrency"]),
            negative_feedback=int(v["default_destination_concurrency_negative_feedback"]),
        ) if v["default_destination_concurrency_failed_cohort_limit"] > 0 else None,
        whole_seconds=True,
        concurrency=int(v["default_destination_concurrency_limit"]),
        mx_limit=int(v["smtp_mx_address_limit"]) or None,            # 0: no limit (postconf(5))
        mx_session_limit=int(v["smtp_mx_session_limit"]) or None,    # 0: no limit
        # postfix/src/smtp/smtp.h THIS_SESSION_IS_EXPIRED: used past the time limit, or reused count times
        connection_reuse=ConnectionReuse(max_messages=int(v["smtp_connection_reuse_count_limit"]) + 1
                                         if v["smtp_connection_reuse_count_limit"] else None,
                                         max_age_s=v["smtp_connection_reuse_time_limit"], after_deferral=True)
        if v["smtp_connection_cache_on_demand"] else None,
    )


POSTFIX = Preset(
    name="postfix",
    summary="Postfix qmgr: age-based back-off 300 s..4000 s, scans every 300 s, 5 d lifetime",
    sources="docs/mta-retry-facts.md §1, §10, §12 (postfix/src/qmgr/qmgr_active.c, global/mail_params.h)",
    params=(
        Param("minimal_backoff_time", 300.0, "lower bound of the wait; the wait is the message's age",
              native="300s"),
        Param("maximal_backoff_time", 4000.0, "upper bound of the wait", native="4000s"),
        Param("queue_run_delay", 300.0, "interval between deferred-queue scans", native="300s"),
        Param("maximal_queue_lifetime", 5 * DAY, "give-up age (0 = try once only)", zero_allowed=True,
              maximum=100 * DAY, native="5d"),
        Param("delay_warning_time", 0.0, "age of the one delay warning (0 = off)", zero_allowed=True,
              native="0h"),
        Param("default_destination_concurrency_failed_cohort_limit", 1, "failed pseudo-cohorts before a "
              "destination is marked dead for minimal_backoff_time (0 = never; host-level, DES only)",
              kind="count", maximum=1000),
        Param("default_destination_concurrency_limit", 20, "deliveries to one destination at once (matters "
              "when recipients have a transaction_time; DES only)", kind="count", minimum=1, maximum=100000),
        Param("initial_destination_concurrency", 5, "starting concurrency window of a destination",
              kind="count", minimum=1, maximum=1000),
        Param("default_destination_concurrency_negative_feedback", 1, "window decrease per failure",
              kind="count", maximum=1000),
        Param("smtp_mx_address_limit", 5, "MX host addresses tried per delivery, in preference order "
              "(0 = no limit; one address per listed host here)", kind="count", maximum=100000),
        Param("smtp_mx_session_limit", 2, "SMTP sessions per delivery (0 = no limit): a host that defers "
              "(an outage's 4xx) passes the message to the next MX while fewer have answered",
              kind="count", maximum=100000),
        Switch("smtp_connection_cache_on_demand", 1.0, "reuse a connection for the next delivery to a "
               "destination with mail waiting (no: a connection per delivery; matters with a recipient "
               "connection_setup; DES only)", words=("yes", "no"), native="yes"),
        Param("smtp_connection_reuse_time_limit", 300.0, "a cached connection is not used again once this "
              "long after it was opened", minimum=1.0, native="300s"),
        Param("smtp_connection_reuse_count_limit", 0, "times a connection may be reused (0 = no limit; N: "
              "used up to N+1 times)", kind="count", maximum=10**9),
        QUEUE_RUN_PHASE,
    ),
    build=_postfix,
    order=10,
)

PRESETS = (POSTFIX,)



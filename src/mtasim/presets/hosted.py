"""Hosted senders and commercial MTAs: the ESPs SendGrid, SparkPost and Mailgun; the commercial MTAs
Momentum and MailerQ; the hosted gateways Mimecast, SpamExperts, SocketLabs and EveryCloud; and the
pre-2019 48 h Exchange Online. Facts: docs/provider-and-recipient-facts.md A.3, A.5-A.8.

Most of these services publish a window and a cadence but no settings a customer can change. Where a
service has documented parameter names (Momentum, MailerQ, Exchange) the preset uses them, in the
service's own units; otherwise it takes generic, clearly named what-if parameters (``expiry``,
``first_retry``, ...) whose range is the simulator's, and the error message says so.

Host-level state is not modelled by any preset here: SparkPost's adaptive delivery ("Sending IP
temporarily suspended"), SendGrid's preemptive deferrals, Momentum's per-domain queues and MailerQ's
flood patterns and throttles, SpamExperts's (Exim's) per-host retry records and its 4-day
valid-recipient cache, and every service's connection limits couple messages to one another; each preset
gives one message's schedule as if it were the only one for its destination.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..config import Node
from ..durations import format_duration, format_hms
from ..schedules import (
    ExponentialSchedule,
    FixedSchedule,
    ListSchedule,
    VectorSchedule,
    register_schedule,
)
from ..sender import AGE_TOLERANCE_S, Sender
from . import DAY, HOUR, MINUTE, Param, Preset, PresetValueError, Switch
from .exchange import exchange_online_sender

#: Where ``mtasim presets`` lists each preset (hosted senders use 30-49).
_ORDER = {"exchange-online-2019": 30, "sendgrid": 31, "sparkpost": 32, "mailgun": 33, "momentum": 36,
          "mailerq": 37, "mimecast": 40, "spamexperts": 41, "socketlabs": 42, "everycloud": 43}


# ------------------------------------------------------------------------------------------------
# Parameter kinds this module needs beyond a duration or a count
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Param(Param):
    """A duration or count whose allowed range the error message attributes correctly: most hosted
    services publish no setting, so their range is the simulator's, not the service's."""

    range_note: str = "the MTA's own range"

    def read(self, node: Node) -> float:
        if self.kind == "count":
            return node.as_number(integer=True, minimum=self.minimum, maximum=self.maximum)
        value = node.as_duration(allow_zero=self.zero_allowed)
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            high = "" if self.maximum is None else f" and <= {format_duration(self.maximum)}"
            raise node.error(f"expected a duration >= {format_duration(self.minimum)}{high} "
                             f"({self.range_note}), got {node.value!r}")
        return value


def _what_if(name: str, default: float, meaning: str, service: str, *, minimum: float,
             maximum: float | None, native: str = "") -> _Param:
    return _Param(name, default, meaning, minimum=minimum, maximum=maximum, native=native,
                  range_note=f"simulator range: {service} publishes no setting for it")


@dataclass(frozen=True)
class _SecondsList(Param):
    """A comma-separated list of seconds as MailerQ writes it (``600,600,1800``), or a YAML list of
    durations; every item must be > 0. The value is a tuple of seconds."""

    kind: str = "list"

    def read(self, node: Node) -> tuple[float, ...]:  # type: ignore[override]
        value = node.value
        if isinstance(value, str):
            items = [Node(part.strip(), node.source, node.path) for part in value.split(",")]
        elif isinstance(value, list):
            items = node.elements("a list of seconds such as 600,600,1800")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            items = [node]
        else:
            raise node.error(f"expected a comma-separated list of seconds such as 600,600,1800, got {value!r}")
        if not items:
            raise node.error("expected at least one interval")
        return tuple(item.as_duration() for item in items)

    def show(self, value: Any = None) -> str:
        value = self.default if value is None else value
        return ",".join(f"{v:g}" for v in value)


# ------------------------------------------------------------------------------------------------
# A schedule the existing kinds cannot express: attempts at fixed ages after arrival
# ------------------------------------------------------------------------------------------------
@register_schedule
@dataclass(frozen=True)
class TimetableSchedule(VectorSchedule):
    """Attempts at fixed ages after arrival: after a failure at age ``a`` the message is due at the first
    listed age later than ``a`` (ages within 1e-6 s of ``a`` count as ``a``: a slot just tried is not
    due again); past the last listed age, every ``then_every`` after it, or no further attempt.

    Anchored at arrival, so an attempt that ends late (a 30 s connect time-out) is followed by the next
    slot of the timetable, not by a full interval.
    """

    ages_s: tuple[float, ...]
    then_every_s: float | None = None
    kind: ClassVar[str] = "timetable"
    uses_random: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not self.ages_s:
            raise ValueError("a timetable needs at least one age")
        if self.ages_s[0] < 0 or any(b <= a for a, b in zip(self.ages_s, self.ages_s[1:])):
            raise ValueError("timetable ages must be >= 0 and strictly increasing")
        if self.then_every_s is not None and not self.then_every_s > 0:
            raise ValueError("then_every must be > 0")

    @classmethod
    def from_node(cls, node: Node) -> TimetableSchedule:
        at = node.get("at")
        items = at.elements("a list of ages after arrival such as [0, 15m, 30m, 1h]")
        if not items:
            raise at.error("expected at least one age")
        ages = [item.as_duration(allow_zero=True) for item in items]
        for i in range(1, len(ages)):
            if ages[i] <= ages[i - 1]:
                raise items[i].error(f"expected an age later than the one before it "
                                     f"({format_duration(ages[i - 1])}), got {items[i].value!r}")
        every_node = node.get("then_every", None)
        every = every_node.as_duration() if every_node is not None else None
        return cls(tuple(ages), every)

    def waits(self, failures, age_s, u, connection_failure) -> np.ndarray:
        age = np.asarray(age_s, dtype=np.float64)
        x = age + AGE_TOLERANCE_S
        table = np.asarray(self.ages_s, dtype=np.float64)
        i = np.searchsorted(table, x, side="right")
        inside = i < len(table)
        due = np.where(inside, table[np.minimum(i, len(table) - 1)], np.nan)
        if self.then_every_s is not None:
            last = table[-1]
            k = np.floor((x - last) / self.then_every_s) + 1.0
            due = np.where(inside, due, last + k * self.then_every_s)
        return due - age

    def describe(self) -> str:
        shown = [format_hms(a) for a in self.ages_s]
        if len(shown) > 8:
            shown = shown[:5] + ["..."] + shown[-2:]
        then = "then stop" if self.then_every_s is None else f"then every {format_duration(self.then_every_s)}"
        return f"timetable at ages {', '.join(shown)} ({len(self.ages_s)} slots), {then}"


# ------------------------------------------------------------------------------------------------
# SendGrid
# ------------------------------------------------------------------------------------------------
def _sendgrid(v: Mapping[str, float]) -> Sender:
    """SendGrid (Twilio): deferred mail is retried "for up to 72 hours"; then "the event becomes an
    expired event" and the deferral is converted to a Block (a record, not a suppression).

    The window is vendor-documented; the cadence is not published at all. We assume an exponential
    back-off from 15 min, doubling, capped at 4 h (an estimate: it only shapes latency after recovery
    and the attempt count). Expiry at exactly 72:00 with no later attempt (the window is "up to 72
    hours"); the status is the last deferral's, since SendGrid reports the expiry as that deferral
    turned into a Block, not with an SMTP code of its own (our reading).

    Sources: docs/provider-and-recipient-facts.md A.5 (SendGrid row: twilio.com/docs/sendgrid/ui/sending-email/
    deferrals, /glossary/throttling, support.sendgrid.com 360041316874) and A.8. Preemptive (internal)
    deferrals and IP-level throttles are host-level behaviour, not modelled.
    """
    _check_cap(v, "max_retry_interval", "first_retry")
    return Sender(
        schedule=ExponentialSchedule(v["first_retry"], 2.0, v["max_retry_interval"]),
        give_up="at-deadline",
        expiry_s=v["expiry"],
        expiry_status="last",
        expiry_reply="expired event after 72 h; the deferral is converted to a Block",
        preset="sendgrid",
    )


def _check_cap(v: Mapping[str, float], cap: str, first: str) -> None:
    if v[cap] < v[first]:
        raise PresetValueError(cap, f"expected {cap} >= {first} ({format_duration(v[first])})")


SENDGRID = Preset(
    name="sendgrid",
    summary="SendGrid: 72 h, then an 'expired' event; cadence unpublished (estimate: 15 min doubling to 4 h)",
    sources="docs/provider-and-recipient-facts.md A.5, A.8 (twilio.com/docs/sendgrid deferrals and throttling pages)",
    params=(
        _what_if("expiry", 72 * HOUR, "retry window, then an expired event (SendGrid: 72 h)", "SendGrid",
                 minimum=MINUTE, maximum=30 * DAY, native="72h"),
        _what_if("first_retry", 15 * MINUTE, "first wait; then doubling (estimate: cadence unpublished)",
                 "SendGrid", minimum=1.0, maximum=DAY, native="15m"),
        _what_if("max_retry_interval", 4 * HOUR, "cap of the doubling wait (estimate)", "SendGrid",
                 minimum=1.0, maximum=DAY, native="4h"),
    ),
    build=_sendgrid,
    confidence="72 h window sourced [vendor]; cadence unpublished: 15 min doubling capped at 4 h is an estimate; "
               "expiry at exactly 72:00 and the last deferral's status are our reading",
    order=_ORDER["sendgrid"],
)


# ------------------------------------------------------------------------------------------------
# SparkPost
# ------------------------------------------------------------------------------------------------
def _sparkpost(v: Mapping[str, float]) -> Sender:
    """SparkPost: "on the first failure the message is ... retried 20 minutes later", then 40, 80,
    160 min, doubling "until the message is delivered, or the message expiration timeout is reached";
    "the message expiration setting is 72 hours, ... the maximum amount of time a given message can be
    attempted before it will automatically fail", logged as a bounce
    ``554 5.4.7 [internal] message timeout (last transfail: <last 4xx>)``.

    Attempts (derived, A.5): 0:00, 0:20, 1:00, 2:20, 5:00, 10:20, 21:00, 42:20; the next would be 85:00,
    past 72 h, so the message fails at exactly 72:00 without a further attempt (``at-deadline``: the
    failure is tied to the expiration time; SparkPost's "up to 6 retries over 72 hours" is consistent).
    SparkPost runs Momentum, whose default would still attempt an expired message once (see
    ``momentum``); SparkPost's own text says 72 h is the most a message "can be attempted", so that final
    attempt is not modelled. The customer cannot change any of this: ``expiry`` is a what-if.

    Sources: docs/provider-and-recipient-facts.md A.5 (support.sparkpost.com/docs/faq/how-are-messages-retried,
    /understanding-delays-bounces) and A.8. Adaptive delivery's internal deferrals ("Sending IP temporarily
    suspended") are host-level behaviour, not modelled.
    """
    return Sender(
        schedule=ExponentialSchedule(20 * MINUTE, 2.0),
        give_up="at-deadline",
        expiry_s=v["expiry"],
        expiry_status="5.4.7",
        expiry_reply="554 5.4.7 [internal] message timeout (last transfail: ...)",
        preset="sparkpost",
    )


SPARKPOST = Preset(
    name="sparkpost",
    summary="SparkPost: retries 20 min doubling (0:20, 1:00, 2:20, ... 42:20), fails at 72 h with 554 5.4.7",
    sources="docs/provider-and-recipient-facts.md A.5, A.8 (support.sparkpost.com FAQ: how are messages retried; "
            "understanding delays and bounces)",
    params=(
        _what_if("expiry", 72 * HOUR, "message expiration (SparkPost: 72 h, not customer-settable)", "SparkPost",
                 minimum=MINUTE, maximum=30 * DAY, native="72h"),
    ),
    build=_sparkpost,
    confidence="72 h, 20 min doubling and 554 5.4.7 message timeout sourced [vendor]; failing at exactly 72:00 "
               "with no later attempt is our reading of the vendor text",
    order=_ORDER["sparkpost"],
)


# ------------------------------------------------------------------------------------------------
# Mailgun
# ------------------------------------------------------------------------------------------------
#: Waits after the 1st..6th temporary failure (help.mailgun.com "Will Mailgun retry my failed messages").
MAILGUN_WAITS = (10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 4 * HOUR)


def _mailgun(v: Mapping[str, float]) -> Sender:
    """Mailgun: after the 1st temporary failure the message is retried 10 min later, then after 15 min,
    30 min, 1 h, 2 h and 4 h, "for a maximum of 8 hours ... or [until it] reaches the retry expiration";
    then it is dropped as a permanent failure "Too old" (internal code 602).

    Attempts (derived, A.5): +0, 10, 25, 55, 115, 235, 475 min; expiry at 480 min (7 attempts).
    Give-up rule ``at-deadline``: the text names two limits, the listed schedule and the 8 h "retry
    expiration", and the failure it reports, "Too old", is an age: the message is dropped when it turns
    8 h old (8:00), not when the list runs out (7:55), and nothing is attempted at or after 8:00. Past
    the list the last wait (4 h) repeats, an estimate that only matters if ``expiry`` is raised above
    8 h. Status 5.4.7 is our mapping of "Too old" (A.1: expiry is a permanent x.4.7); Mailgun publishes
    no enhanced code for it.

    Sources: docs/provider-and-recipient-facts.md A.5 (help.mailgun.com/hc/en-us/articles/28956111811355) and
    A.8. No host-level behaviour is modelled.
    """
    return Sender(
        schedule=ListSchedule(MAILGUN_WAITS, "repeat"),
        give_up="at-deadline",
        expiry_s=v["expiry"],
        expiry_status="5.4.7",
        expiry_reply="Too old (Mailgun code 602): dropped, permanent failure",
        preset="mailgun",
    )


MAILGUN = Preset(
    name="mailgun",
    summary="Mailgun: retries after 10, 15, 30, 60, 120, 240 min (0:10 ... 7:55), drops as 'Too old' at 8 h",
    sources="docs/provider-and-recipient-facts.md A.5, A.8 (help.mailgun.com 'Will Mailgun retry my failed messages')",
    params=(
        _what_if("expiry", 8 * HOUR, "retry expiration, then 'Too old' (Mailgun: 8 h)", "Mailgun",
                 minimum=MINUTE, maximum=30 * DAY, native="8h"),
    ),
    build=_mailgun,
    confidence="waits 10-240 min and the 8 h expiration sourced [vendor]; dropping at exactly 8:00 is derived; "
               "status 5.4.7 for 'Too old' (602) is our mapping; the 4 h repeat past the list is an estimate",
    order=_ORDER["mailgun"],
)


# ------------------------------------------------------------------------------------------------
# Momentum (Ecelerity)
# ------------------------------------------------------------------------------------------------
def _momentum(v: Mapping[str, float]) -> Sender:
    """Momentum (Ecelerity): "on the first failure the message is retried Retry_Interval seconds later.
    On the second failure, twice that ..." until delivered or Message_Expiration is reached;
    retry_interval 1200 s, message_expiration 86400 s built in (the shipped ecelerity.conf sets 604800).
    With never_attempt_expired_messages false (the default) Momentum "always attempt[s] delivery of a
    message when it gets to the front of the queue, regardless of whether or not it should have expired"
    (by message_expiration or the "auto" max_retries derived from it), so the first retry at or past the
    expiration is still made and fails the message (``last-attempt``); set true, that retry is not made:
    "Delivery not attempted (message expired)" (``before-attempt``).

    Defaults: attempts 0:00, 0:20, 1:00, 2:20, 5:00, 10:20, 21:00, 42:20; the 42:20 one is past 24 h and
    ends the message (derived). Status 5.4.7 with SparkPost's bounce text (SparkPost runs Momentum); the
    stock Momentum text was not found (unconfirmed).

    Sources: docs/provider-and-recipient-facts.md A.6 (support.sparkpost.com/momentum/3/3-reference/
    3-reference-conf-ref-retry-interval, ...-max-retries; momentum/4/config/ref-message-expiration,
    ref-never-attempt-expired-messages). Not modelled: max_retries as a number and max_retry_interval
    (no default published), per-binding/domain scopes, and Momentum's per-domain queues (host-level).
    """
    never = bool(v["never_attempt_expired_messages"])
    return Sender(
        schedule=ExponentialSchedule(v["retry_interval"], 2.0),
        give_up="before-attempt" if never else "last-attempt",
        expiry_s=v["message_expiration"],
        expiry_status="5.4.7",
        expiry_reply=("Delivery not attempted (message expired)" if never
                      else "554 5.4.7 [internal] message timeout (last transfail: ...)"),
        preset="momentum",
    )


MOMENTUM = Preset(
    name="momentum",
    summary="Momentum: retry_interval 1200 s doubling, message_expiration 24 h; an expired message is tried once",
    sources="docs/provider-and-recipient-facts.md A.6 (support.sparkpost.com Momentum reference: retry_interval, "
            "max_retries, message_expiration, never_attempt_expired_messages)",
    params=(
        _Param("retry_interval", 1200.0, "base retry period, doubled after each failure", minimum=1.0,
               native="1200", range_note="a positive number of seconds"),
        _Param("message_expiration", DAY, "message lifetime (built-in 86400; the shipped ecelerity.conf "
               "sets 604800)", minimum=1.0, native="86400", range_note="a positive number of seconds"),
        Switch("never_attempt_expired_messages", 0.0, "true: fail an expired message when it reaches the "
                "queue head, without attempting it", native="false"),
    ),
    build=_momentum,
    confidence="retry_interval 1200 s doubling, message_expiration 86400 s and the final attempt of an expired "
               "message sourced [vendor]; the expiry status 5.4.7 is SparkPost's text, unconfirmed for Momentum",
    order=_ORDER["momentum"],
)


# ------------------------------------------------------------------------------------------------
# MailerQ
# ------------------------------------------------------------------------------------------------
def _mailerq(v: Mapping[str, Any]) -> Sender:
    """MailerQ: after a soft failure the message is published back to the outbox and retried after the
    next delay of ``retry-interval`` (a comma-separated list of seconds; past its end the last delay
    repeats); it gives up ``max-delivertime`` seconds after the first attempt, or after ``max-attempts``
    attempts in all (0 = unlimited, "you should normally set [it] to 0").

    The values ``600,600,1800,1800,3600,3600,7200``, ``86400`` and ``0`` are the vendor's documented
    config example; whether they are the built-in defaults is unconfirmed (the 4.3 page calls the list
    "the default value" but its prose says the intervals end at three hours, while the list ends at
    7200 s: we follow the list; the "Delivery Throttling" page gives max-attempts default 10).
    Give-up rule ``before-attempt`` (our reading, unconfirmed): a message whose delay ends past
    max-delivertime is failed when it is next picked up, without an attempt ("if you do not want an email
    to be delivered after a certain time ..."). max-attempts N > 0 ends the message at its N-th failure;
    the two limits are both modelled (the count as the end of the schedule). Status 5.4.7 (estimate).

    Defaults: attempts 0:00, 0:10, 0:20, 0:50, 1:20, 2:20, 3:20, 5:20, then every 2 h to 23:20; the next
    pick-up, 25:20, is past 24 h: failed then without an attempt (derived).

    Sources: docs/provider-and-recipient-facts.md A.6 (CopernicaMarketingSoftware/Documentation
    ``Mailerq/5.3/other-configuration.md``; read here in ``Mailerq/4.3/other-configuration.md`` and the
    Delivery Throttling page). Not modelled: flood patterns, domain/IP throttles (host-level) and the
    per-message JSON overrides ``maxdelivertime``/``maxattempts``/``retries``.
    """
    waits = tuple(v["retry-interval"])
    attempts = int(v["max-attempts"])
    if attempts > 0:
        waits = (waits + (waits[-1],) * attempts)[:attempts - 1]
        schedule = ListSchedule(waits, "stop")
    else:
        schedule = ListSchedule(waits, "repeat")
    return Sender(
        schedule=schedule,
        give_up="before-attempt",
        expiry_s=v["max-delivertime"],
        expiry_status="5.4.7",
        expiry_reply="max-delivertime / max-attempts reached: delivery failed",
        preset="mailerq",
    )


MAILERQ = Preset(
    name="mailerq",
    summary="MailerQ: retry-interval 600,600,1800,1800,3600,3600,7200 s (last repeats), max-delivertime 86400 s",
    sources="docs/provider-and-recipient-facts.md A.6 (CopernicaMarketingSoftware/Documentation Mailerq "
            "other-configuration.md)",
    params=(
        _Param("max-delivertime", DAY, "seconds to keep trying after the first attempt", minimum=1.0,
               native="86400", range_note="a positive number of seconds"),
        _Param("max-attempts", 0, "attempts in all before giving up (0 = unlimited)", kind="count", minimum=0,
               native="0"),
        _SecondsList("retry-interval", (600.0, 600.0, 1800.0, 1800.0, 3600.0, 3600.0, 7200.0),  # type: ignore
                     "delays between attempts, in seconds; the last repeats"),
    ),
    build=_mailerq,
    confidence="config values from a [vendor] config example, unconfirmed as built-in defaults (another page: "
               "max-attempts 10); failing at the next pick-up past max-delivertime and the 5.4.7 status are "
               "our reading",
    order=_ORDER["mailerq"],
)


# ------------------------------------------------------------------------------------------------
# Mimecast
# ------------------------------------------------------------------------------------------------
#: Waits before delivery attempts 2..30 (Mimecast "Delivery Queue" table, "Time Interval" column).
MIMECAST_WAITS = ((MINUTE, 5 * MINUTE, 9 * MINUTE, 15 * MINUTE, 30 * MINUTE) + (HOUR,) * 9
                  + (4 * HOUR,) * 6 + (8 * HOUR,) * 9)
MIMECAST_ATTEMPTS = 30


def _mimecast(v: Mapping[str, float]) -> Sender:
    """Mimecast: "up to four days (96 hours) or 30 retry attempts by default"; attempt 1 immediate, then
    waits of 1, 5, 9, 15, 30 min, 1 h (attempts 7-15), 4 h (16-21) and 8 h (22-30).

    Which limit binds, by hand: attempts at 0, 0:01, 0:06, 0:15, 0:30, 1:00, then hourly to 10:00
    (attempt 15), every 4 h to 34:00 (attempt 21), every 8 h: 42:00 ... 90:00 (attempt 28); attempt 29
    would be at 98:00, past 96 h, and attempt 30 at 106:00. So with the defaults the 96 h window binds
    and the message expires at exactly 96:00 after 28 attempts (``at-deadline``: "up to 96 hours"; no
    attempt at or after it). The 30-attempt limit is modelled too, as the end of the schedule (the
    message gives up at its 30th failure): it binds only if ``expiry`` is raised past 106 h or
    ``delivery_attempts_before_bounce`` lowered (the customer policy "Delivery Failure Retry Count" ->
    "Delivery Attempts Before Bounce"; 0 = the policy does not apply, i.e. 30; past 30 we repeat 8 h).
    So no rule combining both limits is needed from the Sender.

    The vendor table's "Total Time in Queue" column (14-30 h, 38-106 h) does not add up with its own
    intervals (attempt 21 is at 34 h, 22 at 42 h); we follow the intervals, which reach 106 h as the
    column's end does. A delivery warning goes to the sender after "six attempts or one hour": at the
    6th failure, 1:00 (``next-failure`` at 1 h, 1 s tolerance against rounding). The final status is a
    hard bounce; its code is not published: 5.4.7 (estimate).

    Sources: docs/provider-and-recipient-facts.md A.7 (mimecastsupport.zendesk.com 34000735764115 "Message
    Tracking: Monitoring Delivery Queue") and A.8; warning: community.mimecast.com DOC-1349 and DOC-1362
    (vendor, not in the reference sheet); policy: mimecastsupport.zendesk.com 34000527409939. No
    host-level behaviour is modelled.
    """
    attempts = int(v["delivery_attempts_before_bounce"]) or MIMECAST_ATTEMPTS
    waits = (MIMECAST_WAITS + (8 * HOUR,) * attempts)[:attempts - 1]
    return Sender(
        schedule=ListSchedule(waits, "stop"),
        give_up="at-deadline",
        expiry_s=v["expiry"],
        delay_warning_s=HOUR,
        delay_warning_at="next-failure",
        delay_warning_tolerance_s=1.0,
        expiry_status="5.4.7",
        expiry_reply="delivery timed out (96 hours or 30 attempts): hard bounce",
        preset="mimecast",
    )


MIMECAST = Preset(
    name="mimecast",
    summary="Mimecast: 0, +1, +5, +9, +15, +30 min, then 1 h, 4 h, 8 h waits; 96 h or 30 attempts (96 h binds)",
    sources="docs/provider-and-recipient-facts.md A.7, A.8 (mimecastsupport.zendesk.com Delivery Queue article; "
            "community.mimecast.com DOC-1349)",
    params=(
        _what_if("expiry", 96 * HOUR, "retry window (Mimecast: 96 h; changed only by Mimecast Support)",
                 "Mimecast", minimum=MINUTE, maximum=30 * DAY, native="96h"),
        _Param("delivery_attempts_before_bounce", MIMECAST_ATTEMPTS, "attempts in all (policy 'Delivery "
               "Attempts Before Bounce'; 0 = account default, 30)", kind="count", minimum=0, maximum=1000),
    ),
    build=_mimecast,
    confidence="cadence table, 96 h / 30 attempts and the 1 h warning sourced [vendor]; 96 h binds with the "
               "defaults (derived); expiry at exactly 96:00 is our reading; status 5.4.7 estimated",
    order=_ORDER["mimecast"],
)


# ------------------------------------------------------------------------------------------------
# SpamExperts (SolarWinds / N-able)
# ------------------------------------------------------------------------------------------------
def spamexperts_ages(growth_start_s: float, expiry_s: float) -> tuple[float, ...]:
    """Attempt ages of a message whose every attempt fails at once, from Exim's rule
    ``F,2h,15m; G,16h,<growth_start>,1.5; F,<expiry>,6h`` (docs/mta-retry-facts.md §2) counted from the first
    failure at arrival: a set applies while the time since the first failure is <= its cutoff; G's gap
    is the growth start when the previous (planned) gap is shorter, else 1.5 times it; gaps are capped at
    24 h (retry_interval_max); a retry due past the final cutoff is pulled back to it and made there.
    """
    ages = [0.0]
    t, gap = 0.0, 0.0
    while True:
        if t <= 2 * HOUR:
            gap = 15 * MINUTE
        elif t <= 16 * HOUR:
            gap = growth_start_s if gap < growth_start_s else gap * 1.5
        else:
            gap = 6 * HOUR
        gap = min(gap, DAY)
        t += gap
        if t >= expiry_s:
            if expiry_s > ages[-1]:
                ages.append(expiry_s)
            return tuple(ages)
        ages.append(t)


def _spamexperts(v: Mapping[str, float]) -> Sender:
    """SpamExperts (SolarWinds, now N-able) filtering-gateway delivery queue: every 15 min for the first
    2 h, then intervals growing by 1.5 up to 16 h after the first failure, then every 6 h; a bounce
    "after 4 days" (resellers' pages, [3rd]).

    That is Exim's default retry rule ``F,2h,15m; G,16h,1h,1.5; F,4d,6h`` (docs/mta-retry-facts.md §2), so we
    read it with Exim's semantics, the first failure being the message's arrival: the attempt times are
    those of the §10 row "Exim, continuous queue runner": 0:00, 0:15, ... 2:00, 2:15, 3:15, 4:45, 7:00,
    10:22:30, 15:26:15, 23:01:52.5, then every 6 h to 95:01:52.5, and a final attempt at the cutoff.
    Exim makes it "just after 96:00" (the message must be strictly older than 4 d); we make it at 96:00
    exactly (``last-attempt``: it fails and the message bounces at 96:00), status 5.0.0 as Exim's bounce.
    The attempt ages are a timetable anchored at arrival (an attempt that ends late is followed by the
    next slot), an approximation of Exim's ``now + gap``.

    Unconfirmed: the growth start (resellers: "starting at 15 minutes ... 22.5 minutes, then 34"; the
    vendor's current page: "starting at 1 hour", as Exim; we use 1 h, ``growth_start`` changes it) and the
    window: the vendor's current page says the bounce comes after 60 days, not 4; 4 d is the reference
    sheet's value and the default here, ``expiry`` changes it ("can be overridden via the Software API").

    Sources: docs/provider-and-recipient-facts.md A.7 (support.openprovider.eu 216644328;
    dashboard.webhostingmagic.com knowledgebase 390), docs/mta-retry-facts.md §2 and §10; vendor page
    documentation.n-able.com/spamexperts/userguide .../incoming/message-queueing.htm (not in the
    reference sheet). Not modelled: Exim's per-host retry records shared by all messages to a host and
    SpamExperts's 4-day valid-recipient cache (host-level), frozen bounces.
    """
    return Sender(
        schedule=TimetableSchedule(spamexperts_ages(v["growth_start"], v["expiry"])),
        give_up="last-attempt",
        expiry_s=v["expiry"],
        expiry_status="5.0.0",
        expiry_reply="retry timeout exceeded: bounce to the sender",
        preset="spamexperts",
    )


SPAMEXPERTS = Preset(
    name="spamexperts",
    summary="SpamExperts: 15 min for 2 h, then x1.5 from 1 h to 16 h, then 6 h; bounce after 4 d (Exim's rule)",
    sources="docs/provider-and-recipient-facts.md A.7 (SpamExperts resellers' help pages); "
            "docs/mta-retry-facts.md §2, §10",
    params=(
        _Param("expiry", 4 * DAY, "bounce after (reference: 4 d; the vendor's current page: 60 d)",
               minimum=15 * MINUTE, maximum=60 * DAY, native="4d",
               range_note="simulator range, up to the vendor's current 60 d"),
        _what_if("growth_start", HOUR, "first interval of the x1.5 phase (vendor: 1 h; resellers: 15 min)",
                 "SpamExperts", minimum=MINUTE, maximum=16 * HOUR, native="1h"),
    ),
    build=_spamexperts,
    confidence="[3rd] cadence and 4 d window (resellers); the vendor's current page says growth from 1 h and "
               "a 60 d window; Exim rule semantics, final attempt at the cutoff and status 5.0.0 are our reading",
    order=_ORDER["spamexperts"],
    expiry_values=lambda v, expiry_s: {**v, "expiry": expiry_s},        # the timetable runs up to the expiry
)


# ------------------------------------------------------------------------------------------------
# SocketLabs
# ------------------------------------------------------------------------------------------------
def _socketlabs(v: Mapping[str, float]) -> Sender:
    """SocketLabs: a deferred message is retried "at least once per hour for up to four days"; then "this
    final status and the last encountered error response" are logged as a failed message.

    We retry exactly hourly (the slowest cadence the text allows) and fail the message at exactly
    96:00 with no attempt at or after it (``at-deadline``, "up to four days"), keeping the last
    deferral's status (vendor: the last error response is what is logged). Attempts 0:00, 1:00, ...
    95:00 (96 attempts, derived). Accounts can have "customized delivery retry settings": the
    parameters here are what-ifs in generic names (SocketLabs documents none).

    Sources: docs/provider-and-recipient-facts.md A.7 (help.socketlabs.com/docs/temporary-failure-retry-rate).
    No host-level behaviour is modelled.
    """
    return Sender(
        schedule=FixedSchedule(v["retry_interval"]),
        give_up="at-deadline",
        expiry_s=v["expiry"],
        expiry_status="last",
        expiry_reply="failed: maximum delivery retry period exhausted (last error response logged)",
        preset="socketlabs",
    )


SOCKETLABS = Preset(
    name="socketlabs",
    summary="SocketLabs: retries at least hourly (modelled: every hour) for up to 4 days",
    sources="docs/provider-and-recipient-facts.md A.7 (help.socketlabs.com temporary-failure-retry-rate)",
    params=(
        _what_if("expiry", 4 * DAY, "retry period (SocketLabs: up to four days)", "SocketLabs",
                 minimum=MINUTE, maximum=30 * DAY, native="4d"),
        _what_if("retry_interval", HOUR, "wait between attempts (SocketLabs: at least hourly)", "SocketLabs",
                 minimum=1.0, maximum=DAY, native="1h"),
    ),
    build=_socketlabs,
    confidence="4 days, at least hourly and the last error response as final status sourced [vendor]; exactly "
               "hourly and expiry at exactly 96:00 are our reading",
    order=_ORDER["socketlabs"],
)


# ------------------------------------------------------------------------------------------------
# EveryCloud
# ------------------------------------------------------------------------------------------------
def everycloud_ages() -> tuple[float, ...]:
    """0, 1, 2, 3 min, then every 10 min while the last attempt is younger than 24 h (the attempt at
    23:53 is followed by one at 24:03); the 45 min phase continues from there (``then_every``)."""
    ages = [0.0, MINUTE, 2 * MINUTE, 3 * MINUTE]
    while ages[-1] < DAY:
        ages.append(ages[-1] + 10 * MINUTE)
    return tuple(ages)


def _everycloud(v: Mapping[str, float]) -> Sender:
    """EveryCloud filtering (inbound spool): a 48 h spooling period; "3 quick retries 1 min apart", about
    every 10 min for the first 24 h and about every 45 min for the second; a delay notice after 4 h; on
    expiry ``550 4.4.7 QUEUE.Expired``.

    Slots (our reading of the "~"): 0:00, 0:01, 0:02, 0:03, then every 10 min (0:13, 0:23, ...) up to
    the first attempt at or past 24 h, 24:03, then every 45 min (24:48, ... 47:18). The next, 48:03, is
    past the spooling period: the message expires at exactly 48:00 without it (``at-deadline``, as the
    Exchange-style NDR suggests), 179 attempts (derived). The delay notice goes out at exactly 4:00
    (``age``). The cadence is a timetable anchored at arrival (a late attempt is followed by the next
    slot), which suits "approximately every 10 / 45 min".

    Sources: docs/provider-and-recipient-facts.md A.7 (support.everycloud.com/support/solutions/articles/
    4000041760 "Spooling period, email retry rate, deferred email"). No host-level behaviour is modelled.
    """
    return Sender(
        schedule=TimetableSchedule(everycloud_ages(), 45 * MINUTE),
        give_up="at-deadline",
        expiry_s=v["expiry"],
        delay_warning_s=4 * HOUR,
        delay_warning_at="age",
        expiry_status="4.4.7",
        expiry_reply="550 4.4.7 QUEUE.Expired",
        preset="everycloud",
    )


EVERYCLOUD = Preset(
    name="everycloud",
    summary="EveryCloud spool: 3 x 1 min, ~10 min for 24 h, ~45 min to 48 h; notice at 4 h; 550 4.4.7 QUEUE.Expired",
    sources="docs/provider-and-recipient-facts.md A.7 (support.everycloud.com spooling period and retry rate article)",
    params=(
        _what_if("expiry", 48 * HOUR, "spooling period (EveryCloud: 48 h)", "EveryCloud",
                 minimum=MINUTE, maximum=30 * DAY, native="48h"),
    ),
    build=_everycloud,
    confidence="48 h, 3 x 1 min, ~10 min / ~45 min, the 4 h notice and 550 4.4.7 QUEUE.Expired sourced "
               "[vendor]; exact slot times and expiry at exactly 48:00 are our reading",
    order=_ORDER["everycloud"],
)


# ------------------------------------------------------------------------------------------------
# Exchange Online before 2019 (48 h)
# ------------------------------------------------------------------------------------------------
def _exchange_online_2019(v: Mapping[str, float]) -> Sender:
    """Exchange Online as it was until March-June 2019: a 48 h message expiration (cut to 24 h under
    MC173908), otherwise as ``exchange-online``: retries at <= 15 min growing to a 60 min cap (the steps
    in between are that preset's estimate, ``EXO_RETRY_INTERVALS``, shared here), expiry at exactly the
    expiration with ``550 4.4.7 QUEUE.Expired; message expired``, no delay DSN (undocumented).

    Attempts (derived): 0:00, 0:15, 0:30, 0:45, 1:05, 1:30, 2:00, 2:40, 3:30, 4:30, then hourly to
    47:30; expiry at 48:00 (53 attempts). The 2019-era texts differ on the cadence ("every 15 minutes",
    "every 5 minutes on average": A.3, superseded); the preset keeps today's shape.

    Sources: docs/provider-and-recipient-facts.md A.3 (48 h before 2019: [3rd] lonesync.com, doc-fix PR
    MicrosoftDocs/OfficeDocs-Exchange#1097, issue OfficeDocs-o365seccomp#742; cadence: EOP queued,
    deferred and bounced messages FAQ) and A.8. No host-level behaviour is modelled.
    """
    return exchange_online_sender(v["MessageExpiration"], "exchange-online-2019")


EXCHANGE_ONLINE_2019 = Preset(
    name="exchange-online-2019",
    summary="Exchange Online before 2019: 15 min retries growing to 60 min, 48 h expiry",
    sources="docs/provider-and-recipient-facts.md A.3, A.8 (48 h until MC173908, 2019; cadence as exchange-online)",
    params=(
        _Param("MessageExpiration", 2 * DAY, "maximum time in queue (48 h before 2019; not tenant-settable then)",
               minimum=12 * HOUR, maximum=2 * DAY, aliases=("MessageExpirationTimeout",), native="2.00:00:00",
               range_note="simulator range: today's tenant minimum 12 h up to the old 48 h"),
    ),
    build=_exchange_online_2019,
    confidence="48 h expiry before 2019 from third-party and doc-fix sources [3rd]; retry steps between 15 and "
               "60 min estimated (shared with exchange-online)",
    order=_ORDER["exchange-online-2019"],
)


PRESETS = (EXCHANGE_ONLINE_2019, SENDGRID, SPARKPOST, MAILGUN, MOMENTUM, MAILERQ, MIMECAST, SPAMEXPERTS,
           SOCKETLABS, EVERYCLOUD)

"""Microsoft Exchange: Exchange Server (Mailbox transport), Exchange Edge Transport and Exchange Online.
Facts: docs/provider-and-recipient-facts.md A.2 and A.3."""

from __future__ import annotations

from collections.abc import Mapping

from ..hosts import ExchangeRetryQueue
from ..schedules import ByFailureSchedule, FixedSchedule, ListSchedule
from ..sender import Sender
from . import DAY, Param, Preset

# ------------------------------------------------------------------------------------------------
_EXCHANGE_EXPIRED = "550 4.4.7 QUEUE.Expired; message expired"


def _exchange_ladder(v: Mapping[str, float]) -> ByFailureSchedule:
    """Connection failures climb the glitch -> transient -> outbound-connection-failure ladder; a 4xx
    reply on a working connection waits MessageRetryInterval (our reading; the docs do not say which
    timer applies to replies)."""
    rungs = ([v["QueueGlitchRetryInterval"]] * int(v["QueueGlitchRetryCount"])
             + [v["TransientFailureRetryInterval"]] * int(v["TransientFailureRetryCount"])
             + [v["OutboundConnectionFailureRetryInterval"]])
    return ByFailureSchedule(connection=ListSchedule(tuple(rungs), "repeat"),
                             reply=FixedSchedule(v["MessageRetryInterval"]))


def _exchange_server(v: Mapping[str, float], name: str) -> Sender:
    """Exchange Server 2013-2019 transport: the retry ladder per destination, expiry at exactly
    MessageExpirationTimeout with no final attempt, one delay DSN at DelayNotificationTimeout,
    NDR ``550 4.4.7 QUEUE.Expired; message expired``.

    Host-level state (DES only, ``destination_retry_queue``, mtasim.hosts.ExchangeRetryQueue): a failed
    connection puts the destination's queue into Retry; the queue climbs the ladder for all its mail and
    delivers every waiting message when it connects. Which timer applies to a 4xx reply is not documented:
    we use MessageRetryInterval, message by message.

    Sources: docs/provider-and-recipient-facts.md A.2 (learn.microsoft.com "Message retry, resubmit, and
    expiration intervals"; Set-TransportService reference) and A.3 for the NDR text.
    """
    ladder = _exchange_ladder(v)
    return Sender(
        schedule=ladder,
        host_policy=ExchangeRetryQueue(ladder.connection) if v["destination_retry_queue"] else None,
        give_up="at-deadline",
        expiry_s=v["MessageExpirationTimeout"],
        delay_warning_s=v["DelayNotificationTimeout"],
        delay_warning_at="age",
        expiry_status="4.4.7",
        expiry_reply=_EXCHANGE_EXPIRED,
        preset=name,
        concurrency=int(v["MaxPerDomainOutboundConnections"]),
    )


def _timespan(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def _exchange_params(transient_interval: float, outbound_interval: float) -> tuple[Param, ...]:
    return (
        Param("MessageExpirationTimeout", 2 * DAY, "maximum time in queue, then NDR 4.4.7",
              minimum=5.0, maximum=90 * DAY, native="2.00:00:00"),
        Param("QueueGlitchRetryCount", 4, "immediate reconnects after a connection problem", kind="count",
              maximum=15),
        Param("QueueGlitchRetryInterval", 60.0, "spacing of the glitch retries", native="00:01:00"),
        Param("TransientFailureRetryCount", 6, "further connection attempts after the glitch retries",
              kind="count", maximum=15),
        Param("TransientFailureRetryInterval", transient_interval, "spacing of the transient retries",
              minimum=1.0, maximum=12 * 3600.0, native=_timespan(transient_interval)),
        Param("OutboundConnectionFailureRetryInterval", outbound_interval,
              "spacing of every later connection attempt", minimum=1.0, maximum=20 * DAY,
              native=_timespan(outbound_interval)),
        Param("MessageRetryInterval", 900.0, "retry spacing of a message that got a 4xx reply",
              minimum=1.0, maximum=DAY, native="00:15:00"),
        Param("destination_retry_queue", 1, "simulator: 1 = connection failures put the destination's queue "
              "into Retry, shared by its messages (DES only); 0 = each message climbs the ladder alone",
              kind="count", maximum=1),
        Param("DelayNotificationTimeout", 4 * 3600.0, "age of the delay DSN", minimum=1.0, maximum=30 * DAY,
              native="04:00:00"),
        Param("MaxPerDomainOutboundConnections", 20, "connections to one destination at once (matters when "
              "recipients have a transaction_time; DES only)", kind="count", minimum=1, maximum=100000),
    )


EXCHANGE_SERVER = Preset(
    name="exchange-server",
    summary="Exchange Server (Mailbox transport): 4x1 min, 6x5 min, then every 10 min; 48 h; DSN at 4 h",
    sources="docs/provider-and-recipient-facts.md A.2 (learn.microsoft.com message-intervals, Set-TransportService)",
    params=_exchange_params(300.0, 600.0),
    build=lambda v: _exchange_server(v, "exchange-server"),
    order=20,
)

EXCHANGE_EDGE = Preset(
    name="exchange-edge",
    summary="Exchange Edge Transport: 4x1 min, 6x10 min, then every 30 min; 48 h; DSN at 4 h",
    sources="docs/provider-and-recipient-facts.md A.2 (Edge column of the defaults table)",
    params=_exchange_params(600.0, 1800.0),
    build=lambda v: _exchange_server(v, "exchange-edge"),
    order=21,
)


# ------------------------------------------------------------------------------------------------
# Exchange Online
# ------------------------------------------------------------------------------------------------
#: "First few retries at <= 15 min; over the next ~6 retries the interval grows to a 60 min cap."
#: The exact steps are not published: three 15 min waits, then 20, 25, 30, 40, 50 and 60 min (estimate).
EXO_RETRY_INTERVALS = (900.0, 900.0, 900.0, 1200.0, 1500.0, 1800.0, 2400.0, 3000.0, 3600.0)


def _exchange_online(v: Mapping[str, float]) -> Sender:
    """Exchange Online as a sender: 24 h MessageExpiration (tenant range 12 h-24 h), expiry at exactly
    that age with ``550 4.4.7 QUEUE.Expired; message expired``; retries at <= 15 min growing to a 60 min
    cap over about six retries (the steps in between are our estimate). No delay DSN: its timing in
    Exchange Online is undocumented.

    Sources: docs/provider-and-recipient-facts.md A.3 (Set-TransportConfig MessageExpiration; EOP queued,
    deferred and bounced messages FAQ; fix-error-code-550-4-4-7-in-exchange-online).
    """
    return exchange_online_sender(v["MessageExpiration"], "exchange-online")


def exchange_online_sender(expiry_s: float, name: str) -> Sender:
    """Exchange Online's sender with a given MessageExpiration (shared with exchange-online-2019)."""
    return Sender(
        schedule=ListSchedule(EXO_RETRY_INTERVALS, "repeat"),
        give_up="at-deadline",
        expiry_s=expiry_s,
        expiry_status="4.4.7",
        expiry_reply=_EXCHANGE_EXPIRED,
        preset=name,
    )


EXCHANGE_ONLINE = Preset(
    name="exchange-online",
    summary="Exchange Online: 15 min retries growing to 60 min, 24 h expiry (tenant range 12-24 h)",
    sources="docs/provider-and-recipient-facts.md A.3 (Set-TransportConfig, EOP queued/deferred FAQ, "
            "550 4.4.7 article)",
    params=(
        Param("MessageExpiration", DAY, "maximum time in queue (tenant-configurable 12 h - 24 h)",
              minimum=12 * 3600.0, maximum=DAY, aliases=("MessageExpirationTimeout",), native="1.00:00:00"),
    ),
    build=_exchange_online,
    confidence="expiry sourced; retry steps between 15 and 60 min estimated",
    order=22,
)

PRESETS = (EXCHANGE_SERVER, EXCHANGE_EDGE, EXCHANGE_ONLINE)



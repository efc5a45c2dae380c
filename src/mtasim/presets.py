"""Named real MTA configurations, in each MTA's own parameter names and units.

A preset is one self-contained entry: its parameters (name, default, allowed range, meaning) and a
``build`` function that turns their values into a generic :class:`~mtasim.sender.Sender`. Adding a preset
means adding one entry to :data:`PRESETS`; nothing else needs to know about it. Facts and sources are in
``shared/reference/`` (mta-retry-facts.md, provider-and-recipient-facts.md), cited per preset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import Node, closest
from .durations import format_duration
from .schedules import AgeBasedSchedule, ByFailureSchedule, FixedSchedule, ListSchedule
from .sender import Sender

__all__ = ["Param", "Preset", "PRESETS", "get_preset", "sender_from_preset_node"]

DAY = 86400.0


@dataclass(frozen=True)
class Param:
    """One native parameter: a duration (seconds) or a count, with the MTA's own allowed range."""

    name: str
    default: float
    meaning: str
    kind: str = "duration"          # "duration" or "count"
    minimum: float = 0.0
    maximum: float | None = None
    zero_allowed: bool = False
    aliases: tuple[str, ...] = ()
    #: The default as the MTA's own documentation writes it (``4000s``, ``2.00:00:00``).
    native: str = ""

    def read(self, node: Node) -> float:
        if self.kind == "count":
            value = node.as_number(integer=True, minimum=self.minimum, maximum=self.maximum)
        else:
            value = node.as_duration(allow_zero=self.zero_allowed)
            low_ok = value >= self.minimum
            high_ok = self.maximum is None or value <= self.maximum
            if not (low_ok and high_ok):
                high = "" if self.maximum is None else f" and <= {format_duration(self.maximum)}"
                raise node.error(f"expected a duration >= {format_duration(self.minimum)}{high} "
                                 f"(the MTA's own range), got {node.value!r}")
        return value

    def show(self, value: float | None = None) -> str:
        if value is None and self.native:
            return self.native
        value = self.default if value is None else value
        return str(int(value)) if self.kind == "count" else format_duration(value)


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    sources: str
    params: tuple[Param, ...]
    build: Callable[[Mapping[str, float]], Sender]
    confidence: str = "sourced"
    notes: tuple[str, ...] = field(default=())

    def param_names(self) -> list[str]:
        return [p.name for p in self.params] + [a for p in self.params for a in p.aliases]

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def sender(self, overrides: Mapping[str, float] | None = None) -> Sender:
        values = self.defaults()
        values.update(overrides or {})
        return self.build(values)


# ------------------------------------------------------------------------------------------------
# Postfix
# ------------------------------------------------------------------------------------------------
def _postfix(v: Mapping[str, float]) -> Sender:
    """Postfix qmgr: wait = clamp(age, minimal_backoff_time, maximal_backoff_time), retried at the first
    deferred-queue scan at or after (due - 1 s); expiry checked after a failed pass whose age >=
    maximal_queue_lifetime; one delay warning at the first deferral at or after (warning time - 1 s);
    the bounce keeps the last deferral's status.

    Sources: mta-retry-facts.md §1 (postfix/src/qmgr/qmgr_active.c ``qmgr_active_done_3_generic``,
    ``qmgr_active_feed``, ``qmgr_active_done_25_generic``; global/mail_params.h defaults) and the runs of
    Postfix 3.7.11 in §12.
    """
    if v["maximal_backoff_time"] < v["minimal_backoff_time"]:
        raise _PresetValueError("maximal_backoff_time", "expected maximal_backoff_time >= minimal_backoff_time "
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
    )


_PHASE = Param("queue_run_phase", 0.0, "simulator: time of the first queue scan after t = 0 (real phase is "
               "arbitrary)", zero_allowed=True)

POSTFIX = Preset(
    name="postfix",
    summary="Postfix qmgr: age-based back-off 300 s..4000 s, scans every 300 s, 5 d lifetime",
    sources="mta-retry-facts.md §1, §10, §12 (postfix/src/qmgr/qmgr_active.c, global/mail_params.h)",
    params=(
        Param("minimal_backoff_time", 300.0, "lower bound of the wait; the wait is the message's age",
              native="300s"),
        Param("maximal_backoff_time", 4000.0, "upper bound of the wait", native="4000s"),
        Param("queue_run_delay", 300.0, "interval between deferred-queue scans", native="300s"),
        Param("maximal_queue_lifetime", 5 * DAY, "give-up age (0 = try once only)", zero_allowed=True,
              maximum=100 * DAY, native="5d"),
        Param("delay_warning_time", 0.0, "age of the one delay warning (0 = off)", zero_allowed=True,
              native="0h"),
        _PHASE,
    ),
    build=_postfix,
)


# ------------------------------------------------------------------------------------------------
# Exchange Server (on-premises) and Exchange Edge
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

    Sources: provider-and-recipient-facts.md A.2 (learn.microsoft.com "Message retry, resubmit, and
    expiration intervals"; Set-TransportService reference) and A.3 for the NDR text.
    """
    return Sender(
        schedule=_exchange_ladder(v),
        give_up="at-deadline",
        expiry_s=v["MessageExpirationTimeout"],
        delay_warning_s=v["DelayNotificationTimeout"],
        delay_warning_at="age",
        expiry_status="4.4.7",
        expiry_reply=_EXCHANGE_EXPIRED,
        preset=name,
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
        Param("DelayNotificationTimeout", 4 * 3600.0, "age of the delay DSN", minimum=1.0, maximum=30 * DAY,
              native="04:00:00"),
    )


EXCHANGE_SERVER = Preset(
    name="exchange-server",
    summary="Exchange Server (Mailbox transport): 4x1 min, 6x5 min, then every 10 min; 48 h; DSN at 4 h",
    sources="provider-and-recipient-facts.md A.2 (learn.microsoft.com message-intervals, Set-TransportService)",
    params=_exchange_params(300.0, 600.0),
    build=lambda v: _exchange_server(v, "exchange-server"),
)

EXCHANGE_EDGE = Preset(
    name="exchange-edge",
    summary="Exchange Edge Transport: 4x1 min, 6x10 min, then every 30 min; 48 h; DSN at 4 h",
    sources="provider-and-recipient-facts.md A.2 (Edge column of the defaults table)",
    params=_exchange_params(600.0, 1800.0),
    build=lambda v: _exchange_server(v, "exchange-edge"),
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

    Sources: provider-and-recipient-facts.md A.3 (Set-TransportConfig MessageExpiration; EOP queued,
    deferred and bounced messages FAQ; fix-error-code-550-4-4-7-in-exchange-online).
    """
    return Sender(
        schedule=ListSchedule(EXO_RETRY_INTERVALS, "repeat"),
        give_up="at-deadline",
        expiry_s=v["MessageExpiration"],
        expiry_status="4.4.7",
        expiry_reply=_EXCHANGE_EXPIRED,
        preset="exchange-online",
    )


EXCHANGE_ONLINE = Preset(
    name="exchange-online",
    summary="Exchange Online: 15 min retries growing to 60 min, 24 h expiry (tenant range 12-24 h)",
    sources="provider-and-recipient-facts.md A.3 (Set-TransportConfig, EOP queued/deferred FAQ, 550 4.4.7 article)",
    params=(
        Param("MessageExpiration", DAY, "maximum time in queue (tenant-configurable 12 h - 24 h)",
              minimum=12 * 3600.0, maximum=DAY, aliases=("MessageExpirationTimeout",), native="1.00:00:00"),
    ),
    build=_exchange_online,
    confidence="expiry sourced; retry steps between 15 and 60 min estimated",
)


PRESETS: dict[str, Preset] = {p.name: p for p in (POSTFIX, EXCHANGE_SERVER, EXCHANGE_EDGE, EXCHANGE_ONLINE)}


class _PresetValueError(ValueError):
    """A combination of values a preset refuses; carries the parameter to blame."""

    def __init__(self, param: str, expected: str):
        super().__init__(expected)
        self.param = param


class UnknownPresetError(KeyError):
    def __init__(self, name: str):
        guess = closest(name, PRESETS)
        tip = f"; did you mean '{guess}'?" if guess else ""
        self.message = f"unknown preset '{name}'{tip} (known: {', '.join(PRESETS)})"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownPresetError(name) from None


def _owner_hint(preset: Preset) -> Callable[[str], str | None]:
    def hint(key: str) -> str | None:
        owners = [p.name for p in PRESETS.values() if p is not preset and key in p.param_names()]
        if owners:
            return f"that is a parameter of preset {', '.join(owners)}, not of {preset.name}"
        guess = closest(key, preset.param_names())
        return f"did you mean '{guess}'?" if guess else f"{preset.name} takes: {', '.join(preset.param_names())}"
    return hint


def sender_from_preset_node(node: Node) -> Sender:
    """Read ``sender: {preset: NAME, <native parameters>}``."""
    name_node = node.get("preset")
    try:
        preset = get_preset(name_node.as_text())
    except UnknownPresetError as exc:
        raise name_node.error(str(exc)) from None
    values: dict[str, Any] = {}
    for param in preset.params:
        given = [k for k in (param.name, *param.aliases) if node.has(k)]
        if len(given) > 1:
            raise node.error(f"give only one of {' and '.join(given)}", given[1])
        if given:
            values[param.name] = param.read(node.child(given[0]))
    node.finish(hint=_owner_hint(preset))
    try:
        return preset.sender(values)
    except _PresetValueError as exc:
        raise node.error(str(exc), exc.param) from None

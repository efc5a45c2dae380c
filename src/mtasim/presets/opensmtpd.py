"""OpenSMTPD (``smtpd``), relay delivery. Facts: docs/mta-retry-facts.md §5, §9, §10, §12."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from ..config import Node
from ..durations import format_duration
from ..hosts import OpenSMTPDRouteDisable
from ..schedules import VectorSchedule, register_schedule
from ..sender import AGE_TOLERANCE_S, Sender
from . import DAY, HOUR, Param, Preset, PresetValueError

#: ``BACKOFF_TRANSFER`` in scheduler_ramqueue.c: the base of relay (MTA) envelopes. MDA delivery uses 10 s.
BACKOFF_TRANSFER_S = 400.0
#: ``delaytonum()`` in parse.y: 1 .. INT_MAX / unit, i.e. at most INT_MAX seconds.
INT_MAX_S = 2147483647.0
#: Enhanced status of the expiry bounce by major version: 6.8.0p2 was seen sending 4.4.7 (§12); the 7.8
#: source sets ESC_STATUS_PERMFAIL + ESC_DELIVERY_TIME_EXPIRED, i.e. 5.4.7 (§5).
EXPIRY_STATUS_BY_MAJOR = {6: "4.4.7", 7: "5.4.7"}


@register_schedule
@dataclass(frozen=True)
class OpenSMTPDSchedule(VectorSchedule):
    """OpenSMTPD's ``scheduler_next()``: due at ``ctime + base * step**2``, where ``step`` is the smallest
    integer >= the envelope's retry count (failures so far) that puts the due time in the future.

    With attempts on time the k-th retry falls at ``base * k**2`` after arrival (relay: 400 s * k**2, the
    same as qmail's remote schedule); a failure that ends late skips the steps already in the past.
    """

    base_s: float = BACKOFF_TRANSFER_S
    kind: ClassVar[str] = "opensmtpd"
    uses_random: ClassVar[bool] = False

    @classmethod
    def from_node(cls, node: Node) -> OpenSMTPDSchedule:
        return cls(node.duration("base", BACKOFF_TRANSFER_S))

    def waits(self, failures, age_s, u, connection_failure) -> np.ndarray:
        age = np.asarray(age_s, dtype=np.float64)
        base = self.base_s
        # scheduler_next() steps while ctime + base*step^2 <= now; ages within the age tolerance of a due
        # time count as equal to it (attempt times are sums of waits).
        now = age + AGE_TOLERANCE_S
        step = np.floor(np.sqrt(now / base)) + 1.0          # smallest step with base*step^2 > now ...
        step = np.where(base * (step - 1.0) * (step - 1.0) > now, step - 1.0, step)
        step = np.where(base * step * step <= now, step + 1.0, step)   # ... whatever sqrt rounded to
        step = np.maximum(step, np.asarray(failures, dtype=np.float64))
        return base * step * step - age

    def describe(self) -> str:
        return (f"opensmtpd: due at arrival + {format_duration(self.base_s)} x step^2, step >= the failure "
                f"count, in the future")


# ------------------------------------------------------------------------------------------------
_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:p\d+)?$")


def version_major(value: Any) -> int:
    """The major release of ``"7.8"`` (also 7.8 as a YAML number, or ``"6.8.0p2"``); ValueError unless 6 or 7."""
    text = str(value).strip() if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
    match = _VERSION.match(text)
    if not match or int(match.group(1)) not in EXPIRY_STATUS_BY_MAJOR:
        raise ValueError(f"expected an OpenSMTPD version 6.x or 7.x such as \"7.8\" or \"6.8.0p2\" (6.x expires "
                         f"with 4.4.7, 7.x with 5.4.7), got {value!r}")
    return int(match.group(1))


def _read_version(node: Node) -> str:
    try:
        version_major(node.value)
    except ValueError as exc:
        raise node.error(str(exc)) from None
    return str(node.value).strip()


@dataclass(frozen=True)
class _VersionParam(Param):
    """A parameter whose value is a version string rather than a duration or a count."""

    kind: str = "version"

    def read(self, node: Node) -> Any:
        return _read_version(node)

    def show(self, value: Any = None) -> str:
        return self.native if value is None else str(value)


@dataclass(frozen=True)
class _WarnIntervalsParam(Param):
    """smtpd.conf ``bounce warn-interval``: up to 4 delays, written ``1h, 6h, 2d`` (or a YAML list);
    the value is an ascending tuple of seconds."""

    kind: str = "warn-intervals"

    def read(self, node: Node) -> Any:
        items = node.value if isinstance(node.value, list) else str(node.value).split(",")
        values = []
        for item in items:
            child = Node(item.strip() if isinstance(item, str) else item, node.source, node.path)
            values.append(Param.read(replace(self, kind="duration"), child))
        if not 1 <= len(values) <= 4:
            raise node.error(f"expected 1 to 4 delays (smtpd.conf takes up to 4), got {len(values)}")
        if any(b <= a for a, b in zip(values, values[1:])):
            raise node.error(f"expected delays in ascending order, got {node.value!r}")
        return tuple(values)

    def show(self, value: Any = None) -> str:
        if value is None:
            return self.native
        return ", ".join(format_duration(x) for x in value)


def _opensmtpd(v: Mapping[str, Any]) -> Sender:
    """OpenSMTPD relay delivery: after each temporary failure the envelope's retry count goes up by one
    and it is due at ``ctime + 400 s * step**2`` (step = the smallest integer >= the retry count that lies
    in the future), so attempts fall at 400 s * k**2 after arrival: 0, 6m40s, 26m40s, 1h, ... No jitter,
    no queue runner (the scheduler wakes at the earliest next try or expiry).

    Expiry: a timer at exactly ``ctime + queue ttl`` (4 d), checked before anything due at that instant is
    dispatched, so there is no final attempt (``at-deadline``); the bounce says "Envelope expired" with
    ``Status: 5.4.7`` in 7.x (ESC_STATUS_PERMFAIL + ESC_DELIVERY_TIME_EXPIRED) and ``4.4.7`` in 6.8
    (observed with 6.8.0p2, §12): ``version`` picks it. Delay warning (``bounce warn-interval``, 4 h): sent
    at a failure whose next try is at or past ``ctime + W`` (``si.nexttry >= timestamp``), i.e. at the
    last failure before the mark (2:46:40 with the defaults: its next try is 4:00).

    Sources: docs/mta-retry-facts.md §5 (OpenSMTPD/OpenSMTPD ``usr.sbin/smtpd/scheduler_ramqueue.c``
    ``scheduler_backoff()``, ``scheduler_next()``, ``rq_queue_schedule()`` (``expire <= currtime`` first);
    ``queue.c`` (``evp.retry++``; ``IMSG_SCHED_ENVELOPE_EXPIRE``); ``scheduler.c`` (warning test);
    ``parse.y`` ``delaytonum()`` for the ranges; ``smtpd.h`` ``SMTPD_QUEUE_EXPIRY``), the §10 worked example
    and the OpenSMTPD 6.8.0p2 run in §12 (schedule counted from arrival, expiry by timer without an
    attempt, warning when the next retry passes the mark, 4.4.7 in that version).

    Unconfirmed: which 7.x release first sends 5.4.7 (the 7.8 source does; every 7.x is assumed to).
    Host-level state (DES only, mtasim.hosts.OpenSMTPDRouteDisable): a route whose connection fails is
    disabled for 15 s * penalty^2, up to 1 h, and envelopes dispatched meanwhile are deferred without
    connecting (``suspended``) but still use up a retry step.
    Not modelled: ``mta max-deferred`` hosts rescheduling their deferred envelopes on a later success;
    a warning
    due at the very failure after which the envelope can only expire (the simulator sends warnings only
    at failures that do not end the message).
    """
    try:
        major = version_major(v["version"])
    except ValueError as exc:
        raise PresetValueError("version", str(exc)) from None
    return Sender(
        schedule=OpenSMTPDSchedule(BACKOFF_TRANSFER_S),
        give_up="at-deadline",
        expiry_s=v["queue_ttl"],
        delay_warning_s=_intervals(v["bounce_warn_interval"])[0],
        delay_warning_later_s=_intervals(v["bounce_warn_interval"])[1:],
        delay_warning_at="next-due",
        expiry_status=EXPIRY_STATUS_BY_MAJOR[major],
        expiry_reply="Envelope expired",
        preset="opensmtpd",
        host_policy=OpenSMTPDRouteDisable(base_s=v["route_disable"]) if v["route_disable"] > 0 else None,
    )


OPENSMTPD = Preset(
    name="opensmtpd",
    summary="OpenSMTPD relay: retries at 400 s x k^2 after arrival; expires at exactly queue ttl 4 d "
            "(5.4.7 in 7.x, 4.4.7 in 6.8); warning when the next try passes 4 h",
    sources="docs/mta-retry-facts.md §5, §9, §10, §12 (usr.sbin/smtpd/scheduler_ramqueue.c, queue.c, scheduler.c, "
            "parse.y; 6.8.0p2 run)",
    params=(
        Param("queue_ttl", 4 * DAY, "smtpd.conf `queue ttl`: the envelope expires at exactly this age, "
              "without a final attempt", minimum=1.0, maximum=INT_MAX_S, native="4d"),
        _WarnIntervalsParam("bounce_warn_interval", (4 * HOUR,), "smtpd.conf `bounce warn-interval`, up to 4 "
                            "delays (`1h, 6h, 2d`): a delay notice at the failure whose next try falls at or "
                            "past each", minimum=1.0, maximum=INT_MAX_S, native="4h"),
        Param("route_disable", 15.0, "simulator: base of the route disable after a failed connection, "
              "15 s x penalty^2 (compiled in: DELAY_ROUTE_BASE; 0 = not modelled, lets the fast engine run)",
              zero_allowed=True, native="15s"),
        _VersionParam("version", "7.8", "OpenSMTPD release: 7.x reports 5.4.7 on expiry, 6.x 4.4.7",
                      native="7.8"),
    ),
    build=_opensmtpd,
    confidence="schedule, ttl and warning timing sourced (7.8 source) and confirmed by a 6.8 run; status by "
               "version sourced for 7.8 and observed for 6.8, other 7.x releases assumed like 7.8",
    order=14,
)

PRESETS = (OPENSMTPD,)


def _intervals(value: Any) -> tuple[float, ...]:
    """``bounce_warn_interval`` as given to Preset.sender() directly may be one number."""
    return tuple(value) if isinstance(value, (tuple, list)) else (float(value),)

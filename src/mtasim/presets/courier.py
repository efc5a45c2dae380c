"""Courier-MTA (courierd). Facts: docs/mta-retry-facts.md §8.1, §10, §11."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..config import Node
from ..durations import format_duration
from ..schedules import VectorSchedule, register_schedule
from ..sender import Sender
from . import DAY, HOUR, MINUTE, Param, Preset

#: ``1L << retrymaxdelta`` on a 64-bit long: larger shifts are undefined in C.
MAX_RETRYMAXDELTA = 62


@register_schedule
@dataclass(frozen=True)
class CourierSchedule(VectorSchedule):
    """courierd's retry rule (``msgq::done()``): after the n-th completed attempt (n from 1, counting the
    one just finished), wait ``retryalpha`` if n is not a multiple of ``retrybeta``, otherwise
    ``retrygamma * 2**min(n // retrybeta, retrymaxdelta)``. With the defaults: bursts of 3 attempts
    5 min apart separated by 30, 60, then 120 min (the code's first long wait is gamma*2, not the
    doc's gamma*1)."""

    alpha_s: float
    beta: int
    gamma_s: float
    maxdelta: int
    kind: ClassVar[str] = "courier"
    uses_random: ClassVar[bool] = False

    @classmethod
    def from_node(cls, node: Node) -> CourierSchedule:
        return cls(node.duration("retryalpha", 5 * MINUTE),
                   node.number("retrybeta", 3, integer=True, minimum=1),
                   node.duration("retrygamma", 15 * MINUTE),
                   node.number("retrymaxdelta", 3, integer=True, minimum=0, maximum=MAX_RETRYMAXDELTA))

    def waits(self, failures, age_s, u, connection_failure) -> np.ndarray:
        n = np.asarray(failures, dtype=np.int64)
        powers = np.array([2.0 ** e for e in range(self.maxdelta + 1)])
        long_wait = self.gamma_s * powers[np.minimum(n // self.beta, self.maxdelta)]
        return np.where(n % self.beta != 0, self.alpha_s, long_wait)

    def describe(self) -> str:
        return (f"Courier bursts: {self.beta} attempts {format_duration(self.alpha_s)} apart, then "
                f"{format_duration(self.gamma_s)} x 2**min(n/{self.beta}, {self.maxdelta})")


# ------------------------------------------------------------------------------------------------
def _courier(v: Mapping[str, float]) -> Sender:
    """Courier: waits follow :class:`CourierSchedule` from each attempt's completion (courierd keeps the
    schedule in memory, no periodic queue run). ``queuetime`` and ``warntime`` are written into the
    control file at submission as absolute times; after each completed attempt, if
    ``now >= submission + queuetime`` the remaining recipients get a failure DSN (``Action: failed``,
    ``Status: 5.0.0``), otherwise if ``now >= submission + warntime`` and no warning was sent yet, one
    delayed DSN (``Action: delayed``, ``Status: 4.0.0``). warntime 0 marks the warning as already sent
    (no warning).

    Derived from the code, not the doc: the first long wait is retrygamma*2 (30 min), because n/beta is
    already 1 after three attempts; courier.sgml and a comment in courierd.C say retrygamma*1. Not run.

    Left out: after a delayed DSN courierd reschedules when the DSN module completes, and that
    completion counts one more than the attempts made (``completedcnt`` = 1 + completed attempts), so
    the wait after the warned attempt uses n + 1. It only differs when the warned attempt is the last of
    a burst (not with the defaults: the 4:00 attempt is the 10th, and 10 and 11 both give retryalpha).
    Host-level state (esmtp per-host backoff) was not examined and is not modelled.

    Sources: docs/mta-retry-facts.md §8.1 (svarshavchik/courier ``courier/courier/cdmsgq3.C``
    ``msgq::done()``, ``courier/courier/submit2.C``, ``courier/courier/libs/comreadtime.c`` and
    ``comconfig.c`` (defaults), ``courier/courier/module.dsn/dsn.C``; ``courier/courier/doc/courier.sgml``),
    §10 worked example, §11 (doc/code disagreement).
    """
    return Sender(
        schedule=CourierSchedule(v["retryalpha"], int(v["retrybeta"]), v["retrygamma"], int(v["retrymaxdelta"])),
        give_up="last-attempt",
        expiry_s=v["queuetime"],
        delay_warning_s=v["warntime"] or None,
        delay_warning_at="next-failure",
        expiry_status="5.0.0",
        expiry_reply="UNDELIVERABLE MAIL: failure DSN (Action: failed, Status: 5.0.0) after queuetime",
        preset="courier",
    )


COURIER = Preset(
    name="courier",
    summary="Courier: bursts of 3 tries 5 min apart, then waits of 30/60/120 min; 5.0.0 after 7 d; warning at 4 h",
    sources="docs/mta-retry-facts.md §8.1, §10 (courier/courier/cdmsgq3.C msgq::done, libs/comreadtime.c, submit2.C)",
    params=(
        Param("retryalpha", 5 * MINUTE, "wait between the attempts of a burst", minimum=1.0, zero_allowed=True,
              native="5m"),
        Param("retrybeta", 3, "attempts per burst", kind="count", minimum=1),
        Param("retrygamma", 15 * MINUTE, "base of the wait after a burst (times 2**min(bursts, retrymaxdelta))",
              minimum=1.0, zero_allowed=True, native="15m"),
        Param("retrymaxdelta", 3, "cap on the doubling exponent", kind="count", minimum=0,
              maximum=MAX_RETRYMAXDELTA),
        Param("queuetime", 7 * DAY, "age after which the first completed attempt bounces the message (5.0.0)",
              zero_allowed=True, native="1w"),
        Param("warntime", 4 * HOUR, "age after which the next failed attempt sends the delayed DSN (0 = none)",
              zero_allowed=True, native="4h"),
    ),
    build=_courier,
    confidence=("derived from the code (cdmsgq3.C msgq::done): the doc's first long wait (retrygamma*1) differs "
                "from the code's (retrygamma*2); not confirmed by running Courier"),
    order=17,
)

PRESETS = (COURIER,)

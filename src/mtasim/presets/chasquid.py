"""chasquid (Go). Facts: docs/mta-retry-facts.md §8.3, §10."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..config import Node
from ..schedules import VectorSchedule, register_schedule
from ..sender import Sender
from . import HOUR, Param, Preset

#: ``nextDelay()``: (age below which, wait) pairs, then 20 min.
AGE_BUCKETS_S = ((60.0, 60.0), (300.0, 300.0), (600.0, 600.0))
LAST_WAIT_S = 1200.0
#: ``rand.N(60 * time.Second)``: uniform in [0, 60 s).
JITTER_S = 60.0


@register_schedule
@dataclass(frozen=True)
class ChasquidSchedule(VectorSchedule):
    """chasquid's ``nextDelay()``: the wait depends on the message's age when the round ends: 1 min if
    younger than 1 min, 5 min if younger than 5 min, 10 min if younger than 10 min, otherwise 20 min;
    plus a random 0-60 s (``rand.N(60 s)``, here ``60 s * (1 - u)``, so u = 1 adds nothing: the nominal
    times). No keys: chasquid hard-codes it."""

    kind: ClassVar[str] = "chasquid"
    uses_random: ClassVar[bool] = True

    @classmethod
    def from_node(cls, node: Node) -> ChasquidSchedule:
        return cls()

    def waits(self, failures, age_s, u, connection_failure) -> np.ndarray:
        age = np.asarray(age_s, dtype=np.float64)
        base = np.full(len(age), LAST_WAIT_S)
        for below_s, wait_s in reversed(AGE_BUCKETS_S):
            base = np.where(age < below_s, wait_s, base)
        return base + JITTER_S * (1.0 - np.asarray(u, dtype=np.float64))

    def describe(self) -> str:
        return "chasquid: 1m/5m/10m while younger than 1m/5m/10m, then 20m; plus 0-60s random"


# ------------------------------------------------------------------------------------------------
def _chasquid(v: Mapping[str, float]) -> Sender:
    """chasquid: each message has its own send loop (no queue run): attempt, then sleep
    :class:`ChasquidSchedule`'s wait, then attempt again while ``time.Since(created) < give_up_send_after``.
    The check runs before each round, after the sleep, so there is no attempt at or after the deadline:
    the message gives up at the first round time at or after it, without attempting, and the pending
    recipients get a DSN (``Action: failed``, ``Status: 4.0.0``). No delay warnings (a TODO in the code).
    No host-level state was found (none to leave out).

    Not modelled: ``give_up_send_after`` <= 0 (chasquid would then make no attempt at all; here the
    first attempt is always made, so the minimum is 1 s).

    Sources: docs/mta-retry-facts.md §8.3 (albertito/chasquid ``internal/queue/queue.go`` ``SendLoop()``,
    ``nextDelay()``; ``internal/config/config.go`` (default 20h); ``internal/queue/dsn.go``;
    ``docs/man/chasquid.conf.5.md``) and the §10 worked example.
    """
    return Sender(
        schedule=ChasquidSchedule(),
        give_up="before-attempt",
        expiry_s=v["give_up_send_after"],
        expiry_status="4.0.0",
        expiry_reply="Mail delivery failed: returning message to sender (Action: failed, Status: 4.0.0)",
        preset="chasquid",
    )


CHASQUID = Preset(
    name="chasquid",
    summary="chasquid: waits of 1/5/10 min while young, then 20 min, each plus 0-60 s; gives up at 20 h (4.0.0)",
    sources="docs/mta-retry-facts.md §8.3, §10 (internal/queue/queue.go SendLoop, nextDelay; "
            "internal/config/config.go)",
    params=(
        Param("give_up_send_after", 20 * HOUR, "no attempt once the message is this old; DSN 4.0.0",
              minimum=1.0, zero_allowed=True, native="20h"),
    ),
    build=_chasquid,
    confidence="sourced (queue.go); not confirmed by running chasquid",
    order=19,
)

PRESETS = (CHASQUID,)

"""maddy ``target.queue``. Facts: docs/mta-retry-facts.md §8.4, §9, §10, §11."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..config import Node
from ..durations import format_duration
from ..schedules import VectorSchedule, integer_table, register_schedule
from ..sender import Sender
from . import MINUTE, Param, Preset

#: ``initialRetryTime`` and ``retryTimeScale`` in NewQueue(): constants, not configuration.
INITIAL_RETRY_S = 15 * MINUTE
RETRY_TIME_SCALE = 1.25
#: Largest max_tries whose waits fit Go's time.Duration: the last wait is 15 min x int(1.25**(max_tries-2))
#: in nanoseconds, which overflows int64 once the exponent passes 72 (derived).
MAX_TRIES_LIMIT = 74


@register_schedule
@dataclass(frozen=True)
class MaddySchedule(VectorSchedule):
    """maddy's retry delay: ``first * int(scale**(n-1))`` after the n-th failure, measured from it.

    The power is truncated to an integer *before* multiplying (Go ``time.Duration(math.Pow(...))``), so
    with the defaults the waits are 15, 15, 15, 15, 30, 45, 45, 60, 75, 105, ... min, not a smooth curve.
    """

    first_s: float = INITIAL_RETRY_S
    scale: float = RETRY_TIME_SCALE
    kind: ClassVar[str] = "maddy"
    uses_random: ClassVar[bool] = False

    @classmethod
    def from_node(cls, node: Node) -> MaddySchedule:
        return cls(node.duration("first", INITIAL_RETRY_S), node.number("scale", RETRY_TIME_SCALE, minimum=1.0))

    def factor(self, exponent: int) -> float:
        """``int(scale**exponent)`` as a float (infinite once the power overflows)."""
        try:
            power = self.scale ** exponent
        except OverflowError:
            return math.inf
        return float(int(power)) if math.isfinite(power) else math.inf

    def waits(self, failures, age_s, u, connection_failure) -> np.ndarray:
        # Python's float power (not np.power), once per exponent present.
        return self.first_s * integer_table(self.factor, np.asarray(failures, dtype=np.int64) - 1)

    def describe(self) -> str:
        return f"maddy: {format_duration(self.first_s)} x int({self.scale:g}^(n-1)) after the n-th failure"


# ------------------------------------------------------------------------------------------------
def _maddy(v: Mapping[str, float]) -> Sender:
    """maddy ``target.queue``: after the n-th failed try of a recipient, retry ``15 min x
    int(1.25**(n-1))`` later (15, 15, 15, 15, 30, 45, 45, 60, 75, 105, 135, 165, 210, 270, 330, 420, 525,
    660, 825 min), as the CODE computes it; the failure of the try for which ``TriesCount + 1 ==
    max_tries`` is made permanent, so with the default 20 the 20th failure ends the message (66:00:00
    after arrival when every try fails at once). The DSN (sent only when a ``bounce {}`` block is
    configured) gives each failed recipient ``Action: failed`` and ``Status:`` = the enhanced code of its
    last error, unchanged (``last``). No jitter; the time wheel fires at the due time.

    Sources: docs/mta-retry-facts.md §8.4 and §10 (foxcpp/maddy ``internal/target/queue/queue.go``:
    ``NewQueue()`` constants ``initialRetryTime`` 15 min and ``retryTimeScale`` 1.25, ``Init()``
    ``max_tries`` 20, ``tryDelivery()`` for the delay and the ``TriesCount+1 == maxTries`` test,
    ``emitDSN()`` for ``Status: rcptErr.EnhancedCode``; read by us in the code, since §11 lists the
    status as not examined).

    Code vs docs: ``docs/reference/targets/queue.md`` describes ``15 min x 1.2^(n-1)`` (18, 21, 25 ...
    min); the preset follows the code, and the truncation is our reading of it. Range: maddy accepts any
    integer max_tries, but 0 or less never equals ``TriesCount+1`` (the message would retry for ever) and
    above 74 the wait overflows Go's ``time.Duration`` (derived), so the simulator takes 1..74.
    Not modelled: host-level state in ``target.remote`` (not examined); the 10 s ``postInitDelay`` after a
    restart; several recipients (the delay uses the smallest tries count of the message's recipients).
    """
    return Sender(
        schedule=MaddySchedule(INITIAL_RETRY_S, RETRY_TIME_SCALE),
        give_up="attempts",
        max_attempts=int(v["max_tries"]),
        attempts_give_up_at="failure",
        expiry_status="last",
        expiry_reply="not delivered, permanent error",
        preset="maddy",
    )


MADDY = Preset(
    name="maddy",
    summary="maddy target.queue: waits 15 min x int(1.25^(n-1)) (code, not docs); the 20th failure is "
            "final; status = the last error's",
    sources="docs/mta-retry-facts.md §8.4, §9, §10 (internal/target/queue/queue.go tryDelivery(), emitDSN())",
    params=(
        Param("max_tries", 20, "target.queue: the try whose failure is final", kind="count", minimum=1,
              maximum=MAX_TRIES_LIMIT),
    ),
    build=_maddy,
    confidence="from the code (queue.go), which disagrees with the docs (1.2, smooth); truncation to an "
               "integer and the max_tries limit 74 derived; not confirmed by running maddy",
    order=19,
)

PRESETS = (MADDY,)

"""KumoMTA (kumod scheduled queues). Facts: docs/mta-retry-facts.md §7, §10."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..config import Node
from ..durations import format_duration
from ..schedules import ExponentialSchedule, VectorSchedule, register_schedule
from ..sender import Sender
from . import DAY, MINUTE, QUEUE_RUN_PHASE, Param, Preset

#: KumoMTA caps the jitter magnitude at one minute.
JITTER_CAP_S = 60.0


@register_schedule
@dataclass(frozen=True)
class KumoMTASchedule(VectorSchedule):
    """KumoMTA's back-off: after a failure with ``n`` earlier failures the message waits
    ``min(retry_interval * 2**n, max_retry_interval) + jitter`` with
    ``jitter = trunc(r*m - m/2)``, ``m = min(retry_interval/20, 60 s)`` and ``r`` uniform in [0, 1)
    (``rand::random::<f32>()``; here ``r = 1 - u``, so the nominal draw u = 0.5 gives no jitter and
    u = 1 gives -m/2). The jitter is truncated to whole seconds (``jitter as i64``), so with the
    defaults it is -30..+29 s. A wait the jitter makes negative is due at once (clamped to 0).
    """

    retry_interval_s: float
    max_retry_interval_s: float = math.inf
    kind: ClassVar[str] = "kumomta"
    uses_random: ClassVar[bool] = True
    #: The draw that gives no jitter (the worked example's nominal value): trunc(m(1 - u) - m/2) = 0.
    nominal_u: ClassVar[float] = 0.5

    @classmethod
    def from_node(cls, node: Node) -> KumoMTASchedule:
        return cls(node.duration("retry_interval", 20 * MINUTE), node.duration("max_retry_interval", math.inf))

    @property
    def jitter_magnitude_s(self) -> float:
        return min(self.retry_interval_s / 20.0, JITTER_CAP_S)

    @property
    def _base(self) -> ExponentialSchedule:
        # Python's float power through the shared (tested) exponential arithmetic, in both engines.
        return ExponentialSchedule(self.retry_interval_s, 2.0, self.max_retry_interval_s)

    def waits(self, failures, age_s, u, connection_failure) -> np.ndarray:
        m = self.jitter_magnitude_s
        jitter = np.trunc(m * (1.0 - np.asarray(u, dtype=np.float64)) - m / 2.0)
        base = self._base.base_waits(failures)
        return np.maximum(base + jitter, 0.0)

    def describe(self) -> str:
        cap = "no cap" if math.isinf(self.max_retry_interval_s) else f"max {format_duration(self.max_retry_interval_s)}"
        half = self.jitter_magnitude_s / 2.0
        return (f"KumoMTA back-off: {format_duration(self.retry_interval_s)} doubling per failure ({cap}), "
                f"jitter +-{format_duration(half)}")


def humantime(seconds: float) -> str:
    """Rust ``humantime::format_duration`` (as kumod writes max_age): ``7days``, ``7days 2h 20m``."""
    secs = int(seconds)
    millis = round((seconds - secs) * 1000)
    if secs == 0 and millis == 0:
        return "0s"
    years, ydays = divmod(secs, 31_557_600)        # 365.25 d
    months, mdays = divmod(ydays, 2_630_016)       # 30.44 d
    days, day_secs = divmod(mdays, 86_400)
    items = [(years, "year", True), (months, "month", True), (days, "day", True),
             (day_secs // 3600, "h", False), (day_secs % 3600 // 60, "m", False), (day_secs % 60, "s", False),
             (millis, "ms", False)]
    return " ".join(f"{n}{name}{'s' if plural and n > 1 else ''}" for n, name, plural in items if n > 0)


# ------------------------------------------------------------------------------------------------
def _kumomta(v: Mapping[str, float]) -> Sender:
    """KumoMTA: the k-th transient failure (n = k - 1 earlier ones) waits
    ``min(retry_interval * 2**n, max_retry_interval)`` plus jitter of magnitude
    ``min(retry_interval/20, 60 s)`` (±30 s with the defaults); see :class:`KumoMTASchedule`.

    Give-up is checked at each transient failure, ahead of time: if ``age + delay > max_age`` (strictly)
    the message is expired at once instead of being scheduled, logged as an ``Expiration`` record
    ``551 5.4.7 Next delivery time would be <age+delay> after creation, which exceeds max_age=<max_age>``.
    KumoMTA sends no DSN or delay warning by itself (``generate_rfc3464_message`` is opt-in).

    Timer wheel: a due message moves to the ready queue at the next tick of its queue's timer wheel
    (default tick ``retry_interval/20`` clamped to 1 s..60 s, i.e. 60 s), so real attempts can be up to a
    tick late. By default this is NOT modelled (attempts exactly at their due time, the §10 row's
    nominal times); set ``timerwheel_tick_interval`` (e.g. 60s) to attempt at the first tick
    ``queue_run_phase + k*tick`` at or after the due time. The tick never changes the expiry decision,
    which uses the due time at the failure.

    Not modelled: per-message ``expires`` (``message:set_scheduling``), the re-insertion expiry check in
    ``requeue_message_internal`` (paths other than a transient failure), and the host-level behaviour of
    the egress path (every queued message failing when no MX host connects;
    ``consecutive_connection_failures_before_delay`` bulk-delaying the ready queue with 451 4.4.1).

    Sources: docs/mta-retry-facts.md §7 (KumoCorp/kumomta ``crates/kumod/src/queue/config.rs``
    ``QueueConfig::delay_for_attempt()``, ``default_retry_interval()``, ``default_max_age()``;
    ``crates/kumod/src/queue/queue.rs`` ``increment_attempts_and_update_delay()``;
    ``docs/reference/kumo/make_queue_config/{retry_interval,max_retry_interval,max_age,
    timerwheel_tick_interval}.md``) and the §10 worked example.
    """
    cap = v["max_retry_interval"] or math.inf
    max_age = v["max_age"]
    return Sender(
        schedule=KumoMTASchedule(v["retry_interval"], cap),
        give_up="next-wait",
        expiry_s=max_age,
        queue_run_s=v["timerwheel_tick_interval"],
        queue_run_phase_s=v["queue_run_phase"],
        expiry_status="5.4.7",
        expiry_reply=(f"551 5.4.7 Next delivery time would be … after creation, "
                      f"which exceeds max_age={humantime(max_age)}"),
        preset="kumomta",
    )


KUMOMTA = Preset(
    name="kumomta",
    summary="KumoMTA: 20 min doubling per failure (no cap) ±30 s jitter; expires when the next try would pass 7 d",
    sources="docs/mta-retry-facts.md §7, §10 (crates/kumod/src/queue/config.rs, crates/kumod/src/queue/queue.rs)",
    params=(
        Param("retry_interval", 20 * MINUTE, "first wait; doubles after each further failure; sets the jitter "
              "magnitude min(retry_interval/20, 60 s)", minimum=1.0, zero_allowed=True, native="20 minutes"),
        Param("max_retry_interval", 0.0, "cap on the wait (0 = none, KumoMTA's default)", zero_allowed=True,
              native="none"),
        Param("max_age", 7 * DAY, "expire at a failure whose next due time would be older than this",
              zero_allowed=True, native="7 days"),
        Param("timerwheel_tick_interval", 0.0, "simulator: attempt at the first timer-wheel tick at or after "
              "the due time (0 = not modelled, attempts exactly when due; KumoMTA ticks every "
              "retry_interval/20 clamped to 1s..1m)", zero_allowed=True, native="0 (not modelled)"),
        QUEUE_RUN_PHASE,
    ),
    build=_kumomta,
    confidence=("sourced (queue.rs, config.rs); the timer-wheel tick (up to 60 s late) is not modelled unless "
                "timerwheel_tick_interval is set; no DSNs or delay warnings (KumoMTA has none built in)"),
    order=16,
)

PRESETS = (KUMOMTA,)

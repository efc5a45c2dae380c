"""Postal (postalserver/postal). Facts: docs/mta-retry-facts.md §8.2, §9, §10."""

from __future__ import annotations

from collections.abc import Mapping

from ..schedules import ExponentialSchedule
from ..sender import Sender
from . import MINUTE, Param, Preset

#: ``calculate_retry_time(attempts, 5.minutes)``: (1.3 ** attempts) * 5 min; hard-coded.
INITIAL_PERIOD_S = 5 * MINUTE
RETRY_FACTOR = 1.3


def _postal(v: Mapping[str, float]) -> Sender:
    """Postal: a soft failure sets ``retry_after = now + 1.3**attempts x 5 min``, where ``attempts`` counts
    the earlier tries (0 for the first), then increments it; a queued message picked up with ``attempts >=
    default_maximum_delivery_attempts`` (18) is hard-failed *without* another try: "Maximum number of
    delivery attempts (18) has been reached." With every try failing at once: 18 tries, the last at
    23:45:04, and the hard fail at the next pick-up, 30:57:35 after arrival. No jitter, no delay warnings.

    Status on giving up: Postal records a ``HardFail`` delivery with that text and no enhanced status code
    (outgoing mail: the recipient goes on the suppression list; incoming: a bounce message). The last
    ``SoftFail`` record holds the remote's last reply, so we report the last deferral's status (``last``)
    rather than invent a code.

    Sources: docs/mta-retry-facts.md §8.2 and §10 (postalserver/postal ``app/models/concerns/has_locking.rb``
    ``retry_later``, ``calculate_retry_time``; ``lib/postal/config_schema.rb``
    ``default_maximum_delivery_attempts`` 18; ``app/lib/message_dequeuer/single_message_processor.rb``
    ``check_delivery_attempts``; ``app/lib/worker/process.rb``).

    Not modelled: the 5 s worker poll (a message is taken when ``retry_after < now``, so every retry
    is up to about 5 s later than modelled; the §10 row assumes exact times); a remote 4xx text
    containing "N seconds" or "N minutes", which makes the wait N s + 10 s (``smtp_sender.rb``); host-level
    state (none found in Postal).
    """
    attempts = int(v["default_maximum_delivery_attempts"])
    return Sender(
        schedule=ExponentialSchedule(INITIAL_PERIOD_S, RETRY_FACTOR),
        give_up="attempts",
        max_attempts=attempts,
        attempts_give_up_at="next-attempt",
        expiry_status="last",
        expiry_reply=f"Maximum number of delivery attempts ({attempts}) has been reached.",
        preset="postal",
    )


POSTAL = Preset(
    name="postal",
    summary="Postal: waits 5 min x 1.3^n from each failure; hard-failed without a try when picked up "
            "after 18 attempts (30:57:35)",
    sources="docs/mta-retry-facts.md §8.2, §9, §10 (app/models/concerns/has_locking.rb, "
            "app/lib/message_dequeuer/single_message_processor.rb, lib/postal/config_schema.rb)",
    params=(
        Param("default_maximum_delivery_attempts", 18, "postal.yml `postal.default_maximum_delivery_attempts`: "
              "attempts after which the message is hard-failed at its next pick-up", kind="count", minimum=1),
    ),
    build=_postal,
    confidence="schedule and give-up sourced (has_locking.rb, single_message_processor.rb); status on giving up "
               "is our choice (HardFail has no enhanced code); the 5 s poll is not modelled",
    order=18,
)

PRESETS = (POSTAL,)

"""qmail (netqmail / notqmail ``qmail-send``), remote delivery. Facts: docs/mta-retry-facts.md
§4, §9, §10."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..config import Node
from ..schedules import VectorSchedule, register_schedule
from ..sender import AGE_TOLERANCE_S, Sender
from . import DAY, Param, Preset, PresetValueError

#: qmail-send's ``chanskip[]``: 10 for the local channel, 20 for the remote one (fixed at compile time).
REMOTE_SKIP = 20
#: The text qmail-send appends when a dying pass is deferred (``del_dochan()``).
QMAIL_DYING = "I'm not going to try again; this message has been in the queue too long."


def _floor_sqrt_whole_seconds(age_s: np.ndarray) -> np.ndarray:
    """qmail's ``squareroot(recent - birth)``: the integer square root of the age in whole seconds.

    qmail's clock counts whole seconds, and floor(sqrt(x)) = isqrt(floor(x)); an age within the
    simulator's age tolerance below a whole second counts as that second (attempt times are sums of
    waits, so 1600 s can arrive as 1599.9999999998 s). Exact for every age below 2**52 s.
    """
    whole = np.maximum(np.floor(np.asarray(age_s, dtype=np.float64) + AGE_TOLERANCE_S), 0.0)
    root = np.floor(np.sqrt(whole))
    root = np.where(root * root > whole, root - 1.0, root)
    return np.where((root + 1.0) * (root + 1.0) <= whole, root + 1.0, root)


@register_schedule
@dataclass(frozen=True)
class QmailSchedule(VectorSchedule):
    """qmail-send's ``nextretry()``: due at ``birth + (floor(sqrt(age)) + skip)**2``, anchored at arrival.

    With attempts on time the k-th retry falls at ``(skip * k)**2`` s after arrival (remote: 0, 6m40s,
    26m40s, 1h, ...). The wait does not depend on the failure count, only on the age.
    """

    skip: int = REMOTE_SKIP
    kind: ClassVar[str] = "qmail"
    uses_random: ClassVar[bool] = False

    @classmethod
    def from_node(cls, node: Node) -> QmailSchedule:
        return cls(node.number("skip", REMOTE_SKIP, integer=True, minimum=1))

    def waits(self, failures, age_s, u, connection_failure) -> np.ndarray:
        age = np.asarray(age_s, dtype=np.float64)
        root = _floor_sqrt_whole_seconds(age) + float(self.skip)
        return root * root - age

    def describe(self) -> str:
        return f"qmail: due at arrival + (floor(sqrt(age)) + {self.skip})^2 s"


# ------------------------------------------------------------------------------------------------
def _qmail(v: Mapping[str, float]) -> Sender:
    """qmail-send, remote channel: a pass at age ``a`` sets the next retry to ``birth + (floor(sqrt(a)) +
    20)**2`` (no jitter, no queue runner: qmail-send sleeps until the earliest due job); a pass that
    starts when ``now > birth + queuelifetime`` is *dying*: its delivery is still attempted, and a
    deferral is turned into a permanent failure ("I'm not going to try again; this message has been in
    the queue too long.") and bounced. No delay warnings.

    Strictness: qmail's test is ``recent > birth + lifetime`` on a clock of whole seconds, so "older than
    the lifetime" is "age >= lifetime + 1 s". The preset therefore gives the generic ``last-attempt`` rule
    (age >= expiry) ``expiry = queuelifetime + 1 s``: a pass at exactly the lifetime is not dying, the
    next one is. ``queuelifetime`` must be whole seconds for this to be exact (qmail reads it as an
    integer). ``mtasim schedule qmail`` therefore shows the expiry as 7d1s.

    Status on giving up: qmail's bounce is its own plain-text format (QSBMF), not a DSN, so it carries no
    enhanced status code of its own. It quotes the last deferral's reason (qmail-remote's texts end in
    codes such as ``(#4.4.1)``, or the remote's ``451 4.3.0 ...``) followed by the "not going to try
    again" line. We report that last deferral's status (``last``) rather than invent a 4.4.7 or 5.x.x.

    Sources: docs/mta-retry-facts.md §4 (notqmail/notqmail ``qmail-send.c`` ``nextretry()``, ``squareroot()``,
    ``pass_dochan()`` where ``retry`` and ``flagdying = (recent > birth + lifetime)`` are set at the pass
    start, ``del_dochan()``, ``injectbounce()``; identical in icculus/netqmail; ``qmail-send.9``,
    ``qmail-control.9``) and the §10 worked example (40 attempts at (20k)^2 s, bounce at 169:00).

    Not modelled: qmail computes the next retry and the dying flag from the age at the *start* of the
    pass, the simulator from the age at the end of the failed attempt (the same for refused connections
    and 4xx replies, which take no time; a timed-out connection that crosses a perfect square of seconds
    can move the next retry one step later); the 1 s ``SLEEP_FUZZ`` after a due time; the host-level
    connect-timeout cache ``tcpto`` (an IP with 2 recent connect timeouts is skipped for 64-97 min);
    ``bouncelifetime`` (a patch, not netqmail); the local channel (``chanskip`` 10: use a custom sender
    with ``schedule: {kind: qmail, skip: 10}``).
    """
    lifetime = v["queuelifetime"]
    if not float(lifetime).is_integer():
        raise PresetValueError("queuelifetime", "expected a whole number of seconds (qmail reads "
                               f"control/queuelifetime as an integer), got {lifetime!r}")
    return Sender(
        schedule=QmailSchedule(REMOTE_SKIP),
        give_up="last-attempt",
        expiry_s=lifetime + 1.0,
        expiry_status="last",
        expiry_reply=QMAIL_DYING,
        preset="qmail",
    )


QMAIL = Preset(
    name="qmail",
    summary="qmail-send (remote): retries at (20k)^2 s after arrival (0, 6m40s, 26m40s, 1h, ...); "
            "one last try once older than queuelifetime 7 d",
    sources="docs/mta-retry-facts.md §4, §9, §10 (notqmail qmail-send.c nextretry(), pass_dochan(); qmail-send.9)",
    params=(
        Param("queuelifetime", 7 * DAY, "control/queuelifetime, whole seconds: a pass that starts when the "
              "message is older than this is its last", zero_allowed=True, native="604800"),
    ),
    build=_qmail,
    confidence="schedule, lifetime and the strict > dying test sourced (qmail-send.c); status on giving up is "
               "our choice (qmail's text bounce has no enhanced code): the last deferral's",
    order=13,
)

PRESETS = (QMAIL,)

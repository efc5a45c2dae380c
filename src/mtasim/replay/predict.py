"""The simulator's prediction for a replayed incident, message by message, against the log.

Each incident's scenario is run once (its seed changes nothing: arrivals and outages are given). The
scenario's message ids follow arrival order, as the incident's messages do. A pass counts as the log
would show it: Exchange writes no event for a pass its queue in Retry held back (mtasim.logformats),
so for the exchange family held-back passes are not counted.

A message agrees when the outcome and the number of logged passes are the same and the final times
(delivery or give-up) differ by at most ``FINAL_TOLERANCE_S``.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from ..engine import simulate
from ..recipients import AttemptResult
from ..results import Outcome, SimulationResult
from ..scenario import scenario_from_dict
from .incident import Incident
from .reconstruct import Message

__all__ = ["FINAL_TOLERANCE_S", "Predicted", "Comparison", "run_incident", "predicted", "compare"]

#: Final times within this are the same event: the log's whole seconds, a timed-out connection's length.
FINAL_TOLERANCE_S = 60.0


@dataclass(frozen=True)
class Predicted:
    outcome: Outcome
    attempts: int
    final_s: float | None          # epoch seconds


@dataclass(frozen=True)
class Comparison:
    message: Message
    predicted: Predicted | None    # None: not simulated (arrival unknown, or no outage at the destination)

    @property
    def agrees(self) -> bool | None:
        if self.predicted is None:
            return None
        m, p = self.message, self.predicted
        if m.outcome != p.outcome or logged_count(m) != p.attempts:
            return False
        if m.final_s is None or p.final_s is None:
            return m.final_s is None and p.final_s is None
        return abs(m.final_s - p.final_s) <= FINAL_TOLERANCE_S


def logged_count(m: Message) -> int:
    return len(m.attempts)


def run_incident(incident: Incident) -> SimulationResult:
    """Simulate the incident's scenario with every attempt recorded."""
    return simulate(scenario_from_dict(incident.data, f"<replay of {incident.domain}>"), attempts=True)


def predicted(result: SimulationResult, t0: float, family: str) -> list[Predicted]:
    """Per scenario message: outcome, passes the log would show, final time (epoch)."""
    m, a = result.messages, result.attempts
    assert a is not None
    shown = a.result != AttemptResult.SUSPENDED if family == "exchange" else np.ones(len(a), dtype=bool)
    counts = np.bincount(a.message_id[shown], minlength=len(m))
    out = []
    for i in range(len(m)):
        final = float(m.final_s[i])
        out.append(Predicted(Outcome(int(m.outcome[i])), int(counts[i]), None if final != final else t0 + final))
    return out


def compare(messages: list[Message], prediction: dict[int, Predicted]) -> list[Comparison]:
    """One comparison per log message (``prediction``: by the message's index in ``messages``)."""
    return [Comparison(msg, prediction.get(i)) for i, msg in enumerate(messages)]

"""Engines turn a scenario into per-message records. ``simulate`` picks one and prepares the inputs.

Arrivals and recipient assignment are drawn here, once, so every engine sees the same workload.
"""

from __future__ import annotations

from ..recipients import realize_recipients
from ..results import Recorder, SimulationResult
from ..scenario import Scenario
from ..workload import assign_recipients

__all__ = ["simulate", "ENGINES"]

ENGINES = ("auto", "des", "fast")


class EngineUnavailableError(ValueError):
    """The requested engine cannot run this scenario; the message says why."""


def simulate(scenario: Scenario, seed: int | None = None, *, engine: str = "auto",
             attempts: bool | int = False) -> SimulationResult:
    """Run ``scenario`` and return its per-message records.

    ``seed`` overrides the scenario's seed. ``attempts`` records the attempts of every message (True),
    of every n-th message (an int n, e.g. for plots of huge runs), or of none (False).
    """
    from .des import run_des

    if engine not in ENGINES:
        raise EngineUnavailableError(f"unknown engine '{engine}' (expected one of {', '.join(ENGINES)})")
    if engine == "fast":
        raise EngineUnavailableError("the fast engine is not built yet; use --engine des or auto")
    seed = scenario.seed if seed is None else int(seed)
    arrivals = scenario.workload.arrivals(seed)
    entries = scenario.recipients
    domains, first_domain = realize_recipients(entries, seed)
    recipient_of = assign_recipients([r.share for r in entries], [r.domains for r in entries], first_domain,
                                     len(arrivals), seed)
    every = 1 if attempts is True else int(attempts or 0)
    recorder = Recorder(arrivals, recipient_of, [r.domain for r in domains], every)
    horizon = run_des(scenario.sender, domains, scenario.horizon_s, seed, arrivals, recipient_of, recorder)
    return SimulationResult(scenario, seed, "des", recorder.messages(), recorder.attempt_table(),
                            recorder.total_attempts, horizon, domains=domains)
